"""REST API (FastAPI's test client): the same JSON as the CLI's --json, the same sentences as the CLI's errors with a
4xx status, both languages, and the server's limits (body size, search space, time, parallel jobs, token)."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import sys
import threading
import time
import zipfile

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gpuplan.api import ApiSettings, create_app, services
from gpuplan.api.jobs import BusyError, JobRunner, JobTimeoutError
from gpuplan.api.lang import accept_language
from gpuplan.cli.main import build_app
from gpuplan.i18n import catalog, placeholders, set_language, t
from gpuplan.planfile import PlanFile

runner = CliRunner()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ApiSettings(request_time_limit_s=120))) as c:
        yield c


def cli_json(*args):
    res = runner.invoke(build_app(), [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def cli_error(*args) -> str:
    res = runner.invoke(build_app(), list(args))
    assert res.exit_code == 2, res.output
    return res.stderr.strip()


@pytest.fixture(scope="module")
def r1_plan(client):
    res = client.post("/api/v1/plan", json={"model": "deepseek-r1", "users": 100, "ttft_ms": 3000, "tpot_ms": 100})
    assert res.status_code == 200, res.text
    return res.json()


# --- same JSON as the CLI ----------------------------------------------------------------------------------------


def test_models_and_gpus_equal_cli_json(client):
    assert client.get("/api/v1/models").json() == cli_json("models")
    assert client.get("/api/v1/models", params={"family": "deepseek"}).json() == cli_json("models", "--family", "deepseek")
    assert client.get("/api/v1/gpus").json() == cli_json("gpus")
    assert client.get("/api/v1/gpus", params={"vendor": "nvidia", "china": True}).json() == \
        cli_json("gpus", "--vendor", "nvidia", "--china")


def test_model_detail_equals_inspect_json(client):
    assert client.get("/api/v1/models/deepseek-ai/DeepSeek-V3").json() == cli_json("inspect", "deepseek-v3")
    assert client.get("/api/v1/gpus/h200-sxm").json() in cli_json("gpus")


def test_model_search_ranks_exact_alias_first(client):
    ids = [m["id"] for m in client.get("/api/v1/models", params={"q": "DeepSeek-R1"}).json()]
    assert ids[0] == "deepseek-ai/DeepSeek-R1"
    assert all("r1" in i.lower() for i in ids)


@pytest.mark.parametrize("flags", [
    ("deepseek-v3", "--gpu", "h200-sxm", "--gpus", "8", "--context", "8192", "--concurrency", "16"),
    ("deepseek-r1-distill-qwen-32b", "--weights", "awq-int4", "--context", "4096"),
    ("qwen3-32b", "--gpu", "a100-80gb-sxm", "--gpus", "4", "--task", "lora"),
])
def test_size_equals_cli_json(client, flags):
    body = {"model": flags[0]}
    names = {"--gpu": "gpu", "--gpus": "gpus", "--context": "context", "--concurrency": "concurrency",
             "--weights": "weights", "--task": "task"}
    for flag, value in zip(flags[1::2], flags[2::2], strict=True):
        body[names[flag]] = int(value) if value.isdigit() else value
    res = client.post("/api/v1/size", json=body)
    assert res.status_code == 200, res.text
    assert res.json() == cli_json("size", *flags)


def test_size_mla_kv_bytes_per_token(client):
    # DeepSeek-V3 MLA cache: 61 layers × (kv_lora_rank 512 + qk_rope_head_dim 64) × 2 bytes = 70,272 B/token in BF16,
    # from https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json (exact integer arithmetic).
    res = client.post("/api/v1/size", json={"model": "deepseek-v3", "kv_dtype": "bf16"})
    assert res.json()["kv_cache_bytes_per_token"] == 61 * (512 + 64) * 2


def test_estimate_equals_cli_json_plus_sweep(client):
    flags = ["deepseek-r1-distill-qwen-32b", "--gpu", "h100-sxm", "--gpus", "2", "--input-tokens", "2000",
             "--output-tokens", "500", "--concurrency", "8"]
    body = {"model": flags[0], "gpu": "h100-sxm", "gpus": 2, "input_tokens": 2000, "output_tokens": 500,
            "concurrency": 8, "sweep": [1, 8, 32]}
    res = client.post("/api/v1/estimate", json=body)
    assert res.status_code == 200, res.text
    data = res.json()
    sweep = data.pop("sweep")
    cli = cli_json("estimate", *flags)
    assert data == cli | {"deployment": data["deployment"]}  # the API also states nodes (default 1)
    assert {k: v for k, v in data["deployment"].items()} == cli["deployment"]
    # The sweep point at the asked concurrency is the same computation as the main estimate.
    at8 = next(p for p in sweep if p["concurrency"] == 8)
    assert at8["output_tokens_per_s"] == pytest.approx(cli["output_tokens_per_s"], rel=1e-12)
    assert [p["concurrency"] for p in sweep] == [1, 8, 32]


def test_plan_equals_cli_json(client, r1_plan):
    cli = cli_json("plan", "deepseek-r1", "--users", "100", "--ttft-ms", "3000", "--tpot-ms", "100")
    api = copy.deepcopy(r1_plan)
    for plan in (cli, api):
        plan.pop("search")
        plan.pop("created")
    assert api == cli


def test_plan_candidate_throughput_matches_estimate_sweep(client, r1_plan):
    """The page's throughput curve goes through the plan's own number at the plan's user count."""
    c = r1_plan["candidates"][0]
    body = {"model": r1_plan["model"]["id"], "gpu": c["gpu"], "gpus": c["gpu_count"], "nodes": c["nodes"],
            "engine": c["engine"], "weights": c["weight_format"], "kv_dtype": c["kv_dtype"],
            "tensor_parallel_size": c["tensor_parallel_size"], "pipeline_parallel_size": c["pipeline_parallel_size"],
            "data_parallel_size": c["data_parallel_size"], "expert_parallel_size": c["expert_parallel_size"],
            "dp_attention": c["enable_dp_attention"], "input_tokens": r1_plan["workload"]["input_tokens"],
            "output_tokens": r1_plan["workload"]["output_tokens"], "sweep": [100]}
    res = client.post("/api/v1/estimate", json=body)
    assert res.status_code == 200, res.text
    point = res.json()["sweep"][0]
    assert point["output_tokens_per_s"] == pytest.approx(c["perf"]["output_tokens_per_s"], rel=1e-9)


def test_cost_equals_cli_json(client, r1_plan, tmp_path):
    path = tmp_path / "plan.yaml"
    PlanFile.model_validate(r1_plan).dump(path)
    cli = cli_json("cost", str(path), "--currency", "CNY", "--years", "5")
    res = client.post("/api/v1/cost", json={"plan": r1_plan, "currency": "CNY", "years": 5})
    assert res.status_code == 200, res.text
    assert res.json() == cli


def test_plan_file_round_trips(client, r1_plan):
    res = client.post("/api/v1/plan/file", json={"plan": r1_plan})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/yaml")
    assert "attachment" in res.headers["content-disposition"]
    assert PlanFile.from_text(res.text).model_dump(mode="json") == r1_plan


def test_render_json_and_zip(client, r1_plan):
    from gpuplan.artifacts import render_plan

    expected = render_plan(PlanFile.model_validate(r1_plan), ["k8s"])
    res = client.post("/api/v1/render", json={"plan": r1_plan, "targets": ["k8s"]})
    assert res.status_code == 200, res.text
    files = res.json()["files"]
    assert [(f["path"], f["content"]) for f in files] == [(f.path, f.content) for f in expected]
    res = client.post("/api/v1/render.zip", json={"plan": r1_plan, "targets": ["k8s"]})
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(res.content))
    assert sorted(n.split("/", 1)[1] for n in archive.namelist()) == sorted(f.path for f in expected)


def test_validate_equals_cli_json(client):
    from pathlib import Path

    dataset = Path(__file__).parent / "data" / "calibration" / "extra-normalized.csv"
    cli = cli_json("validate", "--dataset", str(dataset))
    res = client.post("/api/v1/validate", json={"dataset_csv": dataset.read_text(encoding="utf-8")})
    assert res.status_code == 200, res.text
    api = res.json()
    # The dataset's name: the CLI reports the file path, the API the word "request".
    assert api.pop("datasets") == ["request"] and len(cli.pop("datasets")) == 1
    for report in (api, cli):
        for row in report["worst"] + report["unpredicted"]:
            row.pop("dataset")
    assert api == cli
    bad = client.post("/api/v1/validate", json={"dataset_csv": "a,b\n1,2\n"})
    assert bad.status_code == 400 and bad.json()["detail"]


# --- errors: 4xx with the CLI's sentence, both languages --------------------------------------------------------


def test_unknown_model_same_sentence_as_cli(client):
    sentence = cli_error("size", "deepseek-r9")
    res = client.post("/api/v1/size", json={"model": "deepseek-r9"})
    assert res.status_code == 404
    assert res.json() == {"detail": sentence}


def test_unknown_model_in_chinese(client):
    set_language("zh")
    sentence = cli_error("--lang", "zh", "plan", "deepseek-r9", "--users", "10")
    set_language("en")
    for kwargs in ({"params": {"lang": "zh"}}, {"headers": {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}}):
        res = client.post("/api/v1/plan", json={"model": "deepseek-r9", "users": 10}, **kwargs)
        assert res.status_code == 404
        assert res.json()["detail"] == sentence


@pytest.mark.parametrize("body, field", [
    ({"model": "deepseek-r1", "users": 10, "max_gpus": 65}, "max_gpus"),
    ({"model": "deepseek-r1", "users": 10, "max_nodes": 9}, "max_nodes"),
    ({"model": "deepseek-r1", "users": 0}, "users"),
    ({"model": "deepseek-r1", "usres": 10}, "usres"),
    ({"users": 10}, "model"),
    ({"model": "deepseek-r1", "gpu": ["h20"] * 33}, "gpu"),
])
def test_plan_limits_are_422_sentences(client, body, field):
    for lang in ("en", "zh"):
        res = client.post("/api/v1/plan", json=body, params={"lang": lang})
        assert res.status_code == 422
        detail = res.json()["detail"]
        assert isinstance(detail, str) and f"'{field}'" in detail and "\n" not in detail
    assert "64" in client.post("/api/v1/plan", json={"model": "x", "max_gpus": 65}).json()["detail"]


def test_bad_choice_is_400_with_allowed_values(client):
    res = client.post("/api/v1/plan", json={"model": "deepseek-r1", "users": 10, "objective": "cheapest"})
    assert res.status_code == 400
    assert "cheapest" in res.json()["detail"] and "tco" in res.json()["detail"]


def test_invalid_json_and_wrong_types(client):
    res = client.post("/api/v1/size", content=b"{not json", headers={"content-type": "application/json"})
    assert res.status_code == 422 and "JSON" in res.json()["detail"]
    res = client.post("/api/v1/size", json=["a"])
    assert res.status_code == 422
    res = client.post("/api/v1/size", json={"model": "deepseek-r1", "gpus": "eight"})
    assert res.status_code == 422 and "'gpus'" in res.json()["detail"]


def test_not_found_and_method_sentences(client):
    res = client.get("/api/v1/nothing-here")
    assert res.status_code == 404 and "/api/v1/nothing-here" in res.json()["detail"]
    res = client.get("/api/v1/plan")
    assert res.status_code == 405 and res.json()["detail"]


def test_body_limit_413(client):
    big = {"model": "deepseek-r1", "padding": "x" * (70 * 1024)}
    res = client.post("/api/v1/size", json=big)
    assert res.status_code == 413
    sent = int(res.request.headers["content-length"])
    assert sent > 64 * 1024
    assert res.json()["detail"] == t("api.body_too_large", given=sent, allowed=64 * 1024)

    def chunks():
        for _ in range(80):
            yield b"x" * 1024

    res = client.post("/api/v1/size", content=chunks(), headers={"content-type": "application/json"})
    assert res.status_code == 413


def test_unexpected_failure_is_a_422_sentence(monkeypatch):
    from gpuplan.api import services

    def boom(req):
        raise ZeroDivisionError("x")

    monkeypatch.setattr(services, "size", boom)
    with TestClient(create_app()) as c:
        res = c.post("/api/v1/size", json={"model": "deepseek-r1"})
    assert res.status_code == 422
    assert res.json()["detail"] == t("api.internal", detail="ZeroDivisionError")


# --- limits: time and parallel jobs ------------------------------------------------------------------------------


def test_plan_past_time_budget_is_503(monkeypatch):
    # The plan itself takes longer than the budget however fast the planner gets (a repeated plan answers from the
    # planner's memo in well under 1 ms, which made a real plan pass this budget once).
    real_plan = services.plan

    def slow_plan(body):
        time.sleep(0.3)
        return real_plan(body)

    monkeypatch.setattr(services, "plan", slow_plan)
    with TestClient(create_app(ApiSettings(request_time_limit_s=0.001))) as c:
        res = c.post("/api/v1/plan", json={"model": "deepseek-r1", "users": 100})
    assert res.status_code == 503
    assert res.json()["detail"] == t("api.timeout", allowed="0.001")
    assert res.headers["retry-after"]


def test_job_runner_refuses_past_parallel_limit():
    release = threading.Event()
    jobs = JobRunner(max_parallel_jobs=1, time_limit_s=5, queue_wait_s=0.05)

    async def scenario():
        first = asyncio.create_task(jobs.run(lambda: release.wait(5), "en"))
        await asyncio.sleep(0.05)
        with pytest.raises(BusyError):
            await jobs.run(lambda: 1, "en")
        release.set()
        assert await first is True
        assert await jobs.run(lambda: 2, "en") == 2

    asyncio.run(scenario())
    jobs.shutdown()


def test_job_runner_time_limit_and_language():
    from gpuplan.i18n import get_language

    jobs = JobRunner(max_parallel_jobs=1, time_limit_s=0.05)
    stop = threading.Event()

    async def scenario():
        assert await jobs.run(get_language, "zh") == "zh"
        with pytest.raises(JobTimeoutError):
            await jobs.run(lambda: stop.wait(2), "en")

    asyncio.run(scenario())
    stop.set()
    jobs.shutdown()


# --- token ------------------------------------------------------------------------------------------------------


def test_token_required_everywhere():
    with TestClient(create_app(ApiSettings(token="s3cret"))) as c:
        for path in ("/", "/static/app.js", "/api/v1/models", "/docs", "/openapi.json"):
            res = c.get(path)
            assert res.status_code == 401, path
            assert res.json()["detail"] == t("api.token_required")
        assert c.get("/api/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/v1/models", headers={"X-Gpuplan-Token": "s3cret"}).status_code == 200
        assert c.get("/api/v1/health", params={"lang": "zh"}).json()["detail"] == t("api.token_required", lang="zh")
        page = c.get("/", params={"token": "s3cret"})
        assert page.status_code == 200 and "httponly" in page.headers["set-cookie"].lower()
        # The cookie the page got lets its own requests through.
        assert c.get("/api/v1/models").status_code == 200


# --- page, messages, language ----------------------------------------------------------------------------------


def test_page_is_self_contained(client):
    res = client.get("/")
    assert res.status_code == 200 and "text/html" in res.headers["content-type"]
    assert "default-src 'self'" in res.headers["content-security-policy"]
    for name in ("index.html", "app.js", "app.css"):
        text = client.get(f"/static/{name}").text if name != "index.html" else res.text
        # No CDN: the page loads nothing from another host (the only URL is the SVG namespace identifier).
        assert "https://" not in text and "//cdn" not in text, name
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name


def test_messages_both_languages(client):
    en = client.get("/api/v1/messages", params={"lang": "en"}).json()["messages"]
    zh = client.get("/api/v1/messages", headers={"Accept-Language": "zh-CN"}).json()["messages"]
    assert en.keys() == zh.keys()
    assert en["web.run"] == catalog("en")["web.run"] and zh["web.run"] == catalog("zh")["web.run"]
    assert "plan.reason_weights" in en
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key


def test_every_web_text_used_by_the_page_exists():
    import re
    from importlib.resources import files

    static = files("gpuplan.web") / "static"
    used = set()
    for name in ("index.html", "app.js"):
        text = (static / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'"(web\.[a-z0-9_]+)"', text))
    assert len(used) > 50, "the page takes its texts from the catalog"
    from gpuplan.catalog import list_gpus

    used |= {f"web.class_{g.gpu_class}" for g in list_gpus()}  # GPU groups: t(`web.class_${cls}`)
    missing = sorted(k for k in used if k not in catalog("en") or k not in catalog("zh"))
    assert not missing, missing


@pytest.mark.parametrize("header, expected", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("fr-FR,zh;q=0.5", "zh"),
    ("en;q=0.1,zh;q=0.9", "zh"), ("fr", None), ("", None), ("zh;q=0", None),
])
def test_accept_language(header, expected):
    assert accept_language(header) == expected


def test_openapi_lists_every_cli_mirror(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/models", "/api/v1/gpus", "/api/v1/size", "/api/v1/estimate", "/api/v1/plan",
                 "/api/v1/cost", "/api/v1/render", "/api/v1/validate"):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_docs_work_offline(client):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle serves Swagger UI's files locally")
    html = client.get("/docs").text
    assert "https://" not in html and "/docs-assets/swagger-ui-bundle.js" in html
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200


_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


def test_api_reads_only_its_own_data(client, r1_plan, tmp_path):
    """Every file the server opens while answering is inside the gpuplan package or the Python installation:
    a plan, an estimate, a cost, a rendered zip and a validation touch no user file and write nothing."""
    global _OPENED
    import gpuplan

    sys.addaudithook(_audit)
    allowed = [os.path.dirname(gpuplan.__file__), sys.prefix, sys.base_prefix, sys.exec_prefix]
    c = r1_plan["candidates"][0]
    _OPENED = []
    try:
        assert client.post("/api/v1/plan", json={"model": "deepseek-r1-distill-qwen-7b", "users": 4}).status_code == 200
        assert client.post("/api/v1/estimate", json={"model": "deepseek-r1", "gpu": c["gpu"], "gpus": c["gpu_count"],
                                                     "engine": c["engine"], "weights": c["weight_format"],
                                                     "sweep": [1, 4]}).status_code == 200
        assert client.post("/api/v1/cost", json={"plan": r1_plan}).status_code == 200
        assert client.post("/api/v1/render.zip", json={"plan": r1_plan, "targets": ["all"]}).status_code == 200
        assert client.post("/api/v1/size", json={"model": "deepseek-v3", "gpu": "h20", "gpus": 8}).status_code == 200
        opened = list(_OPENED)
        probe = tmp_path / "probe.txt"
        probe.write_text("x")  # the hook sees opens: this one must be recorded
        assert str(probe) in _OPENED
    finally:
        _OPENED = None
    outside = [p for p in opened if not any(os.path.abspath(p).startswith(a) for a in allowed)]
    assert not outside, outside
