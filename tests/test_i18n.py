"""Both message catalogs have the same keys and the same placeholders."""

from gpuplan.i18n import catalog, placeholders, t


def test_same_keys():
    en, zh = catalog("en"), catalog("zh")
    assert sorted(set(en) - set(zh)) == []
    assert sorted(set(zh) - set(en)) == []


def test_same_placeholders():
    en, zh = catalog("en"), catalog("zh")
    bad = [k for k in en if k in zh and placeholders(en[k]) != placeholders(zh[k])]
    assert bad == []


def test_render_both():
    assert "deepseek" in t("catalog.unknown_model", lang="en", given="deepseek", suggestions="x")
    assert "未知模型" in t("catalog.unknown_model", lang="zh", given="deepseek", suggestions="x")
