"""A release whose experts use another format is labelled so wherever its format is shown.

gpt-oss's config.json (https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json) declares
``"quant_method": "mxfp4"`` with ``modules_to_not_convert`` = attention, router, embeddings and lm_head: the experts are
MXFP4, the rest BF16. Sizing already uses that map (12.8 GiB for the 20B); the label said "bf16", which reads as 39 GiB.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gpuplan.catalog import get_model
from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language
from gpuplan.views import format_label

runner = CliRunner()


def run(*args):
    res = runner.invoke(build_app(list(args)), list(args), env={"COLUMNS": "140"})
    assert res.exit_code == 0, res.output
    return res.stdout


def test_mixed_release_is_labelled_with_its_expert_format():
    model = get_model("gpt-oss-20b")
    assert format_label(model, "bf16") == "bf16 + mxfp4 experts"
    assert format_label(model, "bf16", short=True) == "bf16+mxfp4"
    assert format_label(model, "gguf-q4_k_m") == "gguf-q4_k_m"  # another checkpoint: its own format only
    assert format_label(get_model("deepseek-v3"), "fp8-block") == "fp8-block"
    set_language("zh")
    assert format_label(model, "bf16") == "bf16（专家 mxfp4）"


def test_commands_show_the_mixed_label():
    assert "weights bf16 + mxfp4 experts" in run("size", "gpt-oss-20b", "--gpu", "rtx-4090")
    assert "bf16 + mxfp4 experts" in run("models", "--family", "gpt-oss")
    fit_rows = json.loads(run("fit", "--gpu", "rtx-4090", "--ram", "64GiB", "--json"))["models"]
    # 12.8 GiB of 24 GiB: fit offers the release itself
    assert any(r["model"] == "openai/gpt-oss-20b" and r["weight_format"] == "bf16" for r in fit_rows)
    assert "bf16+mxfp4" in run("fit", "--gpu", "rtx-4090", "--ram", "64GiB")
    plan = json.loads(run("plan", "gpt-oss-120b", "--users", "20", "--tpot-ms", "200", "--top", "3", "--json"))
    shown = run("plan", "gpt-oss-120b", "--users", "20", "--tpot-ms", "200", "--top", "3")
    for c in plan["candidates"]:
        assert (("bf16+mxfp4" if c["weight_format"] == "bf16" else c["weight_format"]) in shown)


def test_unpriced_candidates_rank_fewest_gpus_first_and_the_table_stays_a_table():
    # Ascend 910B3: no sourced card or server price (catalog/data/prices: searched, not found). With every price
    # unknown the ranking must not read "more hardware first" (it broke the tie by throughput: 16 NPUs above 2).
    args = ("plan", "deepseek-r1-distill-qwen-32b", "--users", "20", "--input-tokens", "2000", "--output-tokens", "500",
            "--gpu", "ascend-910b3", "--top", "5")
    plan = json.loads(run(*args, "--json"))
    counts = [c["gpu_count"] for c in plan["candidates"]]
    assert all(c["cost"]["priced"] is False for c in plan["candidates"])
    assert counts == sorted(counts) and len(set(counts)) > 1
    shown = run(*args)
    assert "Hardware" in shown and "  Hardware: " not in shown  # a table at 140 columns, not one card per row
    assert "#1, #2, #3: price unknown: missing GPU price, server price\n" in shown
    assert "#4, #5: price unknown: missing GPU price, server price, network price" in shown  # two nodes: a fabric


def test_plan_show_of_an_imported_model_whose_directory_is_gone(tmp_path):
    # The label looks the model up; a plan file of a local directory must still print once the directory is gone.
    import os
    import shutil
    import subprocess
    import sys

    from gpuplan.catalog import get_model

    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(get_model("qwen3-8b").config), encoding="utf-8")
    plan_path = tmp_path / "plan.yaml"
    run("plan", str(model_dir), "--users", "2", "--gpu", "l40s", "--top", "1", "-o", str(plan_path))
    shutil.rmtree(model_dir)
    # a new process, as a user would run it later (this one still remembers the imported model)
    res = subprocess.run([sys.executable, "-m", "gpuplan", "plan", "show", str(plan_path)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "COLUMNS": "140", "GPUPLAN_LANG": "en"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1×l40s" in res.stdout
