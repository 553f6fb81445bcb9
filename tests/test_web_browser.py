"""The page in a real headless Chromium (Debian ``chromium`` driven by Playwright): a new user goes from
"DeepSeek-R1 for 100 users" to a downloaded plan file and Kubernetes manifests, in English and Chinese, on a laptop
(1366×768) and a phone (390×844) viewport. Screenshots land in ``test-artifacts/web/``.
"""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from gpuplan.i18n import t

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

if CHROMIUM is None:
    pytest.skip("no chromium binary (apt-get install chromium) - the browser tests need a real Chromium",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(token: str | None = None):
    import uvicorn

    from gpuplan.api import ApiSettings, create_app

    port = _free_port()
    # A generous time budget: the machine running the tests may be slow; the limit itself is tested in test_api.
    app = create_app(ApiSettings(request_time_limit_s=120, max_parallel_jobs=2, token=token))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def base_url():
    url, server, thread = _serve()
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def token_url():
    url, server, thread = _serve(token="tok-123")
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser, viewport, lang: str):
    context = browser.new_context(viewport=viewport, accept_downloads=True, locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, errors


def _open(page, base_url: str, lang: str) -> None:
    page.goto(f"{base_url}/?lang={lang}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def _plan_r1_for_100_users(page) -> None:
    """What a new user does: type the model, set 100 users, press the button."""
    page.fill("#model-search", "DeepSeek-R1")
    page.fill("#users", "100")
    page.click("#run-plan")
    page.wait_for_selector("#candidates tbody tr", timeout=120_000)
    page.wait_for_selector("#perf-chart svg path[data-series=throughput]", timeout=60_000)
    page.wait_for_selector("#cost-chart svg path[data-series=own]", timeout=60_000)


def _check_charts_and_tables(page) -> None:
    assert page.locator("#mem-chart svg rect[data-part=weights]").count() == 1
    assert page.locator("#mem-chart svg rect[data-part=kv]").count() == 1
    # The throughput line has one vertex per swept concurrency (at least 1, 2, 4, ..., 100).
    d = page.get_attribute("#perf-chart svg path[data-series=throughput]", "d")
    assert d is not None and d.count("L") >= 5
    assert page.locator("#perf-chart svg path[data-series=tpot]").count() == 1
    cost_d = page.get_attribute("#cost-chart svg path[data-series=own]", "d")
    assert cost_d is not None and cost_d.count("L") >= 12  # at least a year of months
    rows = page.locator("#candidates tbody tr").count()
    assert 1 <= rows <= 10
    assert page.locator("#rejections tbody tr").count() >= 1
    assert "deepseek" not in page.inner_text("#summary").lower() or "DeepSeek-R1" in page.inner_text("#summary")


def _no_horizontal_overflow(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"page is {scroll}px wide on a {width}px screen"


def test_new_user_plans_r1_for_100_users_and_downloads(browser, base_url):
    context, page, errors = _page(browser, LAPTOP, "en")
    _open(page, base_url, "en")
    assert page.inner_text("#run-plan") == t("web.run", lang="en")
    _plan_r1_for_100_users(page)
    _check_charts_and_tables(page)
    page.screenshot(path=str(ARTIFACTS / "laptop-en-plan.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#dl-plan")
    plan_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert "schema_version: 1" in plan_text and "deepseek-ai/DeepSeek-R1" in plan_text
    with page.expect_download() as info:
        page.click("#dl-k8s")
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    names = archive.namelist()
    assert any(n.endswith("/k8s/kustomization.yaml") or n.endswith("k8s/deployment.yaml") or "leaderworkerset" in n
               for n in names), names
    # Choosing another candidate redraws the summary and charts for it.
    if page.locator("#candidates tbody tr").count() > 1:
        page.click("#candidates tbody tr:nth-child(2)")
        page.wait_for_selector("#candidates tbody tr.selected:nth-child(2)")
        page.wait_for_selector("#perf-chart svg path[data-series=throughput]", timeout=60_000)
    assert not errors, errors
    context.close()


def test_switch_to_chinese_and_back(browser, base_url):
    context, page, errors = _page(browser, LAPTOP, "en")
    _open(page, base_url, "en")
    _plan_r1_for_100_users(page)
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang=zh-CN]")
    assert page.inner_text("#run-plan") == t("web.run", lang="zh")
    assert page.inner_text("#candidates thead th:nth-child(2)") == t("plan.col_hardware", lang="zh")
    page.wait_for_selector("#perf-chart svg path[data-series=throughput]", timeout=60_000)
    page.wait_for_selector("#cost-chart svg path[data-series=own]", timeout=60_000)
    page.wait_for_selector("#run-plan:not([disabled])", timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "laptop-zh-plan.png"), full_page=True)
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang=en]")
    assert page.inner_text("#run-plan") == t("web.run", lang="en")
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_phone_layout(browser, base_url, lang):
    context, page, errors = _page(browser, PHONE, lang)
    _open(page, base_url, lang)
    assert page.inner_text("#run-plan") == t("web.run", lang=lang)
    _no_horizontal_overflow(page, PHONE["width"])
    if lang == "zh":  # a Chinese user budgets in yuan: money shows in CNY everywhere
        page.select_option("#currency", "CNY")
    _plan_r1_for_100_users(page)
    _check_charts_and_tables(page)
    _no_horizontal_overflow(page, PHONE["width"])
    sign = "¥" if lang == "zh" else "$"
    assert sign in page.inner_text("#candidates") and sign in page.inner_text("#summary")
    assert sign in page.inner_text("#cost-chart")
    # Charts fit the phone's width.
    for chart in ("#mem-chart svg", "#perf-chart svg", "#cost-chart svg"):
        box = page.locator(chart).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    page.screenshot(path=str(ARTIFACTS / f"phone-{lang}-plan.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_error_sentence_shown(browser, base_url):
    context, page, errors = _page(browser, LAPTOP, "en")
    _open(page, base_url, "en")
    page.fill("#model-search", "no-such-model-xyz")
    page.click("#run-plan")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "no-such-model-xyz" in page.inner_text("#error")
    page.screenshot(path=str(ARTIFACTS / "laptop-en-error.png"))
    context.close()


def test_api_docs_render_offline(browser, base_url):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle serves Swagger UI's files locally")
    context, page, errors = _page(browser, LAPTOP, "en")
    external: list[str] = []
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith(base_url) else None)
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 8
    page.screenshot(path=str(ARTIFACTS / "laptop-docs.png"))
    assert not external, external
    context.close()


def test_no_candidate_explains_rejections(browser, base_url):
    """An impossible target still answers: no plan, and the grouped reasons with the nearest miss."""
    context, page, errors = _page(browser, LAPTOP, "en")
    _open(page, base_url, "en")
    page.fill("#model-search", "DeepSeek-R1")
    page.fill("#users", "100")
    page.fill("#max-gpus", "1")  # DeepSeek-R1's 671B parameters on one GPU, 1 ms per token: nothing qualifies
    page.fill("#tpot-ms", "1")
    page.click("#run-plan")
    page.wait_for_selector("#rejections tbody tr", timeout=120_000)
    assert page.inner_text("#summary h2") == t("web.no_candidate", lang="en")
    text = page.inner_text("#rejections")
    assert t("plan.reason_weights", lang="en") in text and "1×" in text  # the nearest miss names a 1-GPU option
    assert page.locator("#dl-plan").is_hidden() and page.locator(".charts").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "laptop-en-no-candidate.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_page_works_behind_a_token(browser, token_url):
    """Listening beyond localhost needs a token: opened once as /?token=…, the page's own requests carry it."""
    context, page, errors = _page(browser, PHONE, "en")
    response = page.goto(f"{token_url}/")
    assert response is not None and response.status == 401
    page.goto(f"{token_url}/?token=tok-123&lang=en")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.click("[data-example=personal]")
    page.wait_for_selector("#candidates tbody tr", timeout=120_000)
    page.wait_for_selector("#cost-chart svg path[data-series=own]", timeout=60_000)
    with page.expect_download() as info:
        page.click("#dl-plan")
    assert "schema_version: 1" in Path(info.value.path()).read_text(encoding="utf-8")
    context.close()
