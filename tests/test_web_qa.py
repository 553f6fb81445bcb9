"""Page defects found by the new-user QA pass (issue #16), in headless Chromium at 1440×900 and 390×844.

* The bill of materials kept each rule on one line: at 1440 px the "sized by" column ran past the card, cut behind a
  horizontal scroll bar (the issue's "hidden horizontal scroll").
* The page's "7B on my own GPU" example plans what ``gpuplan plan`` plans for the same request (the page and the CLI
  build the request with the same code, views.build_request).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.cli.main import build_app
from test_web_browser import ARTIFACTS, LAPTOP, PHONE, _open, _page, _wait_for, base_url, browser  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("viewport", "lang"), [(LAPTOP, "en"), (LAPTOP, "zh"), (PHONE, "zh")])
def test_bill_of_materials_wraps_inside_its_card(browser, base_url, viewport, lang):  # noqa: F811
    context, page, errors = _page(browser, viewport, lang)
    _open(page, base_url, lang)
    page.click("[data-example=personal]")
    _wait_for(page, "state.plan && state.plan.candidates.length && !state.busy", timeout=120_000)
    page.wait_for_selector("#bom table tbody tr")
    wrap = page.evaluate("(() => { const w = document.querySelector('#bom'); return [w.scrollWidth, w.clientWidth]; })()")
    assert wrap[0] <= wrap[1] + 1, f"bill of materials {wrap[0]}px wide in a {wrap[1]}px card"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
    page.locator("#bom").screenshot(path=str(ARTIFACTS / f"bom-{viewport['width']}-{lang}.png"))
    assert not errors, errors
    context.close()


def test_page_and_cli_plan_the_same_for_the_same_request(browser, base_url):  # noqa: F811
    context, page, errors = _page(browser, LAPTOP, "en")
    _open(page, base_url, "en")
    page.click("[data-example=personal]")
    _wait_for(page, "state.plan && state.plan.candidates.length && !state.busy", timeout=120_000)
    req = page.evaluate("state.request")
    shown = page.evaluate("state.plan.candidates.map(c => [c.gpu_count, c.gpu, c.engine, c.weight_format, "
                          "c.tensor_parallel_size, c.max_model_len, c.engine_args])")
    argv = ["plan", req["model"], "--preset", req["preset"], "--users", str(req["users"]), "--input-tokens",
            str(req["input_tokens"]), "--output-tokens", str(req["output_tokens"]), "--objective", req["objective"],
            "--json"]
    res = CliRunner().invoke(build_app(argv), argv)
    assert res.exit_code == 0, res.output
    cli = [[c["gpu_count"], c["gpu"], c["engine"], c["weight_format"], c["tensor_parallel_size"], c["max_model_len"],
            c["engine_args"]] for c in json.loads(res.stdout)["candidates"]]
    assert shown == cli
    assert req["output_tokens"] == 6000  # the reasoning model's own default, as the CLI's preset now keeps it
    assert not errors, errors
    context.close()


def test_a_mac_plan_offers_no_kubernetes_download(browser, base_url):  # noqa: F811
    """render writes no Kubernetes files for Apple GPUs; the page's "Kubernetes manifests" button then answered
    with an error sentence. It is hidden for a Mac candidate, and the all-files zip still downloads."""
    context, page, errors = _page(browser, LAPTOP, "en")
    _open(page, base_url, "en")
    page.click("[data-example=personal]")
    _wait_for(page, "state.plan && state.plan.candidates.length && !state.busy", timeout=120_000)
    assert page.locator("#dl-k8s").is_visible()  # an NVIDIA candidate
    page.select_option("#gpu-select", "apple-m4-max")
    page.select_option("#quality", "4bit")  # llama.cpp's GGUF files: what a Mac runs
    page.click("#run-plan")
    _wait_for(page, "state.plan && state.plan.candidates.length && !state.busy && "
                    "state.plan.candidates[0].gpu === 'apple-m4-max'", timeout=120_000)
    assert page.locator("#dl-k8s").is_hidden()
    with page.expect_download() as info:
        page.click("#dl-all")
    assert info.value.suggested_filename.endswith(".zip")
    assert not errors, errors
    context.close()


def test_the_speed_chart_of_a_disaggregated_candidate_still_draws(base_url):  # noqa: F811
    """The page asks /estimate with a candidate's own layout; a prefill/decode candidate sends one pool's TP 8 · DP 8
    with gpu_count 16. The idle-GPU check (for layouts gpuplan chooses) must not refuse a layout the caller gives."""
    import httpx

    body = {"model": "deepseek-r1", "gpu": "h200-sxm", "gpus": 16, "nodes": 2, "engine": "sglang",
            "weights": "fp8-block", "tensor_parallel_size": 8, "pipeline_parallel_size": 1, "data_parallel_size": 8,
            "expert_parallel_size": 8, "dp_attention": True, "input_tokens": 2000, "output_tokens": 6000,
            "sweep": [1, 8]}
    res = httpx.post(f"{base_url}/api/v1/estimate", json=body, timeout=120)
    assert res.status_code == 200, res.text
    body = {"model": "deepseek-r1", "gpu": "h200-sxm", "gpus": 12, "input_tokens": 2000, "output_tokens": 100}
    res = httpx.post(f"{base_url}/api/v1/estimate", json=body, timeout=120)
    assert res.status_code == 400 and "does not match the layout" in res.text  # gpuplan's own default layout
