"""Defects a new user hit walking the README (issue #16 QA pass), each pinned by a test that failed before its fix.

* Moore Threads' MTT S4000 has no engine in engines.toml: ``size``/``estimate``/``fit`` printed vLLM numbers (or an
  empty table) for hardware no catalog engine runs on, and ``plan`` blamed the weight format. Now: one sentence, and
  the plan's rejection names the engine/vendor mismatch.
* ``--preset personal --gpu jetson-orin-nano-8gb`` (the command ``fit`` prints as "Next:") planned nothing and named
  no reason: the preset's GPU classes dropped the GPU the user named.
* ``--preset personal`` on a reasoning model planned 500 output tokens and then warned that 2,500 tokens is short,
  telling the user to pass the 6,000 that the README says is the model's default.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gpuplan.api import ApiSettings, create_app
from gpuplan.cli.main import build_app

runner = CliRunner()


def run(*args):
    return runner.invoke(build_app(list(args)), list(args))


def one_sentence(res, *needles):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0, res.output
    for needle in needles:
        assert needle in res.output, res.output


@pytest.mark.parametrize("cmd", [
    ("size", "qwen3-8b", "--gpu", "mtt-s4000"),
    ("size", "qwen3-8b", "--gpu", "mtt-s4000", "--engine", "vllm"),
    ("estimate", "qwen3-8b", "--gpu", "mtt-s4000", "--input-tokens", "100", "--output-tokens", "100"),
    ("fit", "--gpu", "mtt-s4000"),
    ("fit", "--gpu", "mtt-s4000", "--json"),
])
def test_a_vendor_without_an_engine_is_refused_not_sized_as_vllm(cmd):
    one_sentence(run(*cmd), "No serving engine", "mtt-s4000", "moorethreads", "nvidia")


def test_the_refusal_in_chinese_and_over_the_api():
    one_sentence(run("--lang", "zh", "size", "qwen3-8b", "--gpu", "mtt-s4000"), "没有能在 mtt-s4000")
    client = TestClient(create_app(ApiSettings()), base_url="http://127.0.0.1")
    res = client.post("/api/v1/size", json={"model": "qwen3-8b", "gpu": "mtt-s4000"})
    assert res.status_code == 422, res.text
    assert "No serving engine" in res.text


def test_plan_on_a_vendor_without_an_engine_says_so():
    res = run("plan", "qwen3-8b", "--users", "2", "--gpu", "mtt-s4000", "--json")
    assert res.exit_code == 0, res.output
    reasons = {r["reason"] for r in json.loads(res.stdout)["rejections"]}
    assert reasons == {"engine_vendor"}, reasons  # was: format_vendor ("weight format not supported")


def test_fit_without_ram_names_no_host():
    res = run("fit", "--gpu", "rtx-4090", "--family", "deepseek")
    assert res.exit_code == 0, res.output
    assert "host bandwidth from —" not in res.output
    assert "kept for the system" not in res.output  # no --ram: no system RAM went into the table


@pytest.mark.parametrize(("gpu", "family"), [("jetson-orin-nano-8gb", "deepseek"), ("apple-m4-max", "deepseek"),
                                           ("apple-m1", "deepseek"), ("ascend-310p-48gb", "qwen")])
def test_the_fit_next_command_plans_what_fit_showed(gpu, family):
    """fit's "Next:" planned nothing for a Jetson (preset classes), a Mac (fit sized bf16 for vLLM, which does not
    run on Apple: plan then rejected every candidate) and an Ascend 310P (bf16, which it lacks)."""
    res = run("fit", "--gpu", gpu, "--family", family)
    assert res.exit_code == 0, res.output
    nxt = " ".join(res.output.split("Next: gpuplan ", 1)[1].split()).split(" && ")[0].split()
    nxt[nxt.index("-o") + 1] = "/dev/null/x.yaml"
    argv = [a for i, a in enumerate(nxt) if a != "-o" and (i == 0 or nxt[i - 1] != "-o")] + ["--json"]
    res = run(*argv)
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert plan["candidates"], plan["rejections"]
    from gpuplan.catalog import get_gpu

    assert plan["candidates"][0]["gpu"] == get_gpu(gpu).id
    assert plan["candidates"][0]["weight_format"] == nxt[nxt.index("--weights") + 1]


def test_an_explicit_gpu_outside_the_presets_classes_is_planned():
    res = run("plan", "qwen3-8b", "--preset", "personal", "--gpu", "a100-80gb", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["candidates"]


def test_a_preset_keeps_a_reasoning_models_output_length():
    res = run("plan", "deepseek-r1-distill-qwen-7b", "--preset", "personal", "--gpu", "rtx-4090", "--json")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert plan["workload"]["output_tokens"] == 6000
    assert not any("short for" in a for a in plan["assumptions"]), plan["assumptions"]
    res = run("plan", "qwen3-8b", "--preset", "personal", "--gpu", "rtx-4090", "--json")
    assert json.loads(res.stdout)["workload"]["output_tokens"] == 500  # a chat model keeps the preset's length
    res = run("plan", "qwen3-8b", "--preset", "enterprise", "--json", "--top", "1")
    assert json.loads(res.stdout)["workload"]["output_tokens"] == 1000


def test_a_planned_ktransformers_candidate_is_not_rendered_as_plain_sglang(tmp_path):
    """``plan --engine ktransformers`` wrote engine_args {}; render then wrote ``sglang.launch_server`` with no context,
    memory or sequence limit and no --kt-* flag: not what the plan sized. Now the launch targets refuse in one
    sentence (the report still renders), and no partial output folder is left."""
    plan_file = tmp_path / "kt.yaml"
    res = run("plan", "qwen3-8b", "--users", "1", "--gpu", "rtx-4090", "--engine", "ktransformers", "--max-gpus", "1",
              "-o", str(plan_file))
    assert res.exit_code == 0, res.output
    assert "KTransformers candidates: gpuplan renders their report only" in " ".join(res.output.split())
    for target in ("engine", "all", "k8s"):
        out = tmp_path / f"deploy-{target}"
        one_sentence(run("render", str(plan_file), "--target", target, "--out", str(out)), "KTransformers", "--kt-")
        assert not out.exists()
    one_sentence(run("--lang", "zh", "render", str(plan_file), "--out", str(tmp_path / "zh")), "KTransformers")
    res = run("render", str(plan_file), "--target", "report", "--out", str(tmp_path / "report"))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report" / "REPORT.md").is_file()


def test_ascend_310p_serves_a_bf16_release_as_fp16_and_the_launch_says_so():
    """The Ascend 310P has no BF16 (gpus.csv: FP16 and INT8 rates only; vllm-ascend's 310P tutorial passes
    ``--dtype float16`` in every serving command). Plans said "weights bf16" and launched with vLLM's default dtype,
    which keeps the release's bf16. Now the plan's weights are fp16 and vLLM's own parser reads ``--dtype half`` back
    from the rendered script; a 910B plan keeps bf16."""
    from gpuplan.plan import PlanRequest, search
    from test_engine_parsers import _argv, _vllm_parser

    plan = search(PlanRequest(model="qwen3-8b", users=2, gpus=("ascend-310p-48gb",), max_nodes=1))
    assert plan.candidates and {c.weight_format for c in plan.candidates} == {"fp16"}, plan.rejections
    args = _vllm_parser().parse_args(_argv(plan, 0)[2:])
    assert args.dtype == "half"
    assert args.max_model_len == plan.candidates[0].max_model_len
    plan = search(PlanRequest(model="qwen3-8b", users=2, gpus=("ascend-910b",), max_nodes=1))
    assert {c.weight_format for c in plan.candidates} == {"bf16"}
    assert _vllm_parser().parse_args(_argv(plan, 0)[2:]).dtype == "auto"


def test_print_table_keeps_headers_first_column_and_words_whole():
    """At 140 columns in Chinese the plan's last header printed as "每百万输出 t" (cut), ids folded inside a word
    ("8×h200-sx" / "m"), and once the frame was dropped the first column lost a cell ("10*" printed as "10" over "*",
    "服务器" as "服务" over "器"): rich measures a collapsed-padding table without its edge padding but draws it."""
    import io

    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    from gpuplan.cli.common import print_table

    for width in range(44, 100):
        con = Console(width=width, file=io.StringIO())
        table = Table(title="x")
        table.add_column("类别")
        table.add_column("#", justify="right")
        table.add_column("item")
        table.add_column("每百万输出 token（¥）", justify="right")
        table.add_row("服务器", "10*", "a long description of the server with many words in it", "¥1.49")
        table.add_row("GPU", "2", "8×h200-sxm (2n)", "¥12,345.67")
        print_table(con, table)
        out = con.file.getvalue()
        lines = out.splitlines()
        assert all(cell_len(line) <= width for line in lines), out
        for whole in ("10*", "服务器", "8×h200-sxm", "¥1.49", "¥12,345.67", "每百万输出", "token（¥）", "description"):
            assert any(whole in line for line in lines), (width, whole, out)


@pytest.mark.parametrize("width", [140, 200])
def test_chinese_plan_at_140_columns_cuts_nothing(width):
    args = ("--lang", "zh", "plan", "deepseek-v3", "--users", "200", "--input-tokens", "2000", "--output-tokens", "1000",
            "--tpot-ms", "100", "--budget-cny", "5000000")
    plan = json.loads(runner.invoke(build_app(), [*args, "--json"]).stdout)
    res = runner.invoke(build_app(), list(args), env={"COLUMNS": str(width)})
    assert res.exit_code == 0, res.output
    from rich.cells import cell_len

    assert all(cell_len(line) <= width for line in res.stdout.splitlines())
    assert "token（¥）" in res.stdout  # the last header, whole
    for c in plan["candidates"]:
        assert f"{c['gpu_count']}×{c['gpu']}" in res.stdout
        assert f"¥{c['cost']['capex']:,.0f}" in res.stdout
    assert "服务器" in res.stdout  # the bill of materials' first column, whole


@pytest.mark.parametrize("cmd", [
    ("size", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "12"),
    ("estimate", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "12", "--input-tokens", "100", "--output-tokens", "10"),
    ("estimate", "qwen3-8b", "--gpu", "h100", "--gpus", "8", "--tp", "4", "--dp", "1", "--input-tokens", "100",
     "--output-tokens", "10"),
])
def test_a_layout_that_leaves_gpus_idle_is_one_sentence(cmd):
    """``size deepseek-r1 --gpus 12`` printed a TP 8 deployment "on 12 × h200-sxm" (four GPUs idle, not said)."""
    one_sentence(run(*cmd), "does not match the layout", "GPUs")


def test_the_default_layout_uses_every_gpu_and_splits_the_kv_heads():
    """Qwen2.5-7B (28 attention heads, 4 KV heads) on 8 GPUs was estimated at TP 7: one GPU idle and a TP size vLLM
    cannot load (QKVParallelLinear, vllm/model_executor/layers/linear.py: divide(tp_size, total_num_kv_heads) when TP
    is at least the KV heads, else divide(total_num_kv_heads, tp_size); divide() asserts an exact division).
    Now TP 4 with two replicas; a size the user gives is kept, and DP fills the rest."""
    from gpuplan.catalog import get_model

    est = json.loads(run("estimate", "qwen2.5-7b", "--gpu", "l40s", "--gpus", "8", "--input-tokens", "100",
                         "--output-tokens", "10", "--json").stdout)["deployment"]
    assert (est["tensor_parallel_size"], est["data_parallel_size"]) == (4, 2)
    arch = get_model("qwen2.5-7b").arch
    assert arch.num_attention_heads % 4 == 0 and arch.num_kv_heads % 4 == 0
    est = json.loads(run("estimate", "qwen3-8b", "--gpu", "h100", "--gpus", "8", "--tp", "2", "--input-tokens", "100",
                         "--output-tokens", "10", "--json").stdout)["deployment"]
    assert (est["tensor_parallel_size"], est["data_parallel_size"]) == (2, 4)
    one_sentence(run("--lang", "zh", "size", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "12"), "并行布局")
    client = TestClient(create_app(ApiSettings()), base_url="http://127.0.0.1")
    res = client.post("/api/v1/size", json={"model": "deepseek-r1", "gpu": "h200-sxm", "gpus": 12})
    assert res.status_code == 400 and "does not match the layout" in res.text, res.text
    res = client.post("/api/v1/estimate", json={"model": "qwen2.5-7b", "gpu": "l40s", "gpus": 8, "input_tokens": 100,
                                                "output_tokens": 10})
    assert res.status_code == 200, res.text
    assert res.json()["deployment"]["tensor_parallel_size"] == 4


def test_plan_context_beyond_the_model_names_the_flags_plan_has():
    """``plan deepseek-r1 --input-tokens 200000`` said "Context of 206000 tokens ... Use --context 131072 or less":
    plan has no --context, and the 6,000 output tokens were the model's default, not something the user typed."""
    res = run("plan", "deepseek-r1", "--users", "10", "--input-tokens", "200000")
    one_sentence(res, "200,000 prompt + 6,000 output", "131,072", "--input-tokens", "--output-tokens")
    assert "--context" not in res.output
    one_sentence(run("--lang", "zh", "plan", "deepseek-r1", "--input-tokens", "200000"), "最大上下文")


def test_the_gpu_price_market_is_worded_in_the_language():
    """The bill of materials said "new 价格，按每张 GPU" under --lang zh: the --market value, untranslated."""
    res = run("--lang", "zh", "plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "--market", "new", "--top", "1")
    assert res.exit_code == 0, res.output
    assert "新卡价格，按每张 GPU" in res.output and "new 价格" not in res.output
    res = run("--lang", "en", "plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "--market", "china", "--top", "1")
    assert "China street price, per GPU" in res.output


def test_a_mac_plan_renders_no_containers(tmp_path):
    """A Mac plan rendered a CUDA llama.cpp image, a compose file reserving an NVIDIA GPU and a Deployment asking for
    nvidia.com/gpu: none of them can reach an Apple GPU. Now --target all writes the native launch, monitoring and
    report, the README says to run it on the Mac, and naming a container target is one sentence."""
    plan_file = tmp_path / "mac.yaml"
    res = run("plan", "deepseek-r1-distill-qwen-14b", "--preset", "personal", "--gpu", "apple-m4-max",
              "-o", str(plan_file))
    assert res.exit_code == 0, res.output
    out = tmp_path / "deploy"
    res = run("render", str(plan_file), "--target", "all", "--out", str(out))
    assert res.exit_code == 0, res.output
    written = {p.relative_to(out).parts[0] for p in out.rglob("*") if p.is_file()}
    assert "engine" in written and not written & {"docker", "k8s"}, written
    readme = (out / "README.md").read_text()
    assert "docker compose" not in readme and "kubectl" not in readme and "engine/serve.sh" in readme
    for target in ("k8s", "docker", "compose", "engine,k8s"):
        one_sentence(run("render", str(plan_file), "--target", target, "--out", str(tmp_path / target)), "Metal")
    one_sentence(run("--lang", "zh", "render", str(plan_file), "--target", "k8s", "--out", str(tmp_path / "zh")),
                 "Metal")


def test_an_ascend_310p_plan_deploys_the_310p_image_and_resource(tmp_path):
    """A 310P plan's Deployment asked the device plugin for huawei.com/Ascend910 (it names a 310P
    huawei.com/Ascend310P: Ascend/ascend-for-volcano internal/vnpu/vnpuutil/type.go) and ran the 910B image
    (vllm-ascend's 310P tutorial uses the -310p tag); a 910B plan keeps both."""
    import yaml

    for gpu, image_tail, resource in (("ascend-310p-48gb", "-310p", "huawei.com/Ascend310P"),
                                      ("ascend-910b", "v0.23.0", "huawei.com/Ascend910")):
        plan_file = tmp_path / f"{gpu}.yaml"
        res = run("plan", "qwen3-8b", "--users", "2", "--gpu", gpu, "--gpus", "1", "-o", str(plan_file))
        assert res.exit_code == 0, res.output
        out = tmp_path / f"deploy-{gpu}"
        res = run("render", str(plan_file), "--target", "k8s,docker", "--out", str(out))
        assert res.exit_code == 0, res.output
        dep = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].endswith(image_tail), container["image"]
        assert container["resources"]["limits"] == {resource: "1"}
        assert f"FROM {container['image']}" in (out / "docker" / "Dockerfile").read_text()


def test_bench_examples_point_at_the_engine_port_not_gpuplan_serve():
    """bench's --url help and its bad-URL sentence said http://127.0.0.1:8000, gpuplan serve's own port (the README
    was fixed to 8001 for the same reason)."""
    for lang, needle in (("en", "http://127.0.0.1:8001/v1"), ("zh", "http://127.0.0.1:8001/v1")):
        one_sentence(run("--lang", lang, "bench", "--url", "ftp://x", "--model", "m"), needle)
    res = run("bench", "--help")
    assert "127.0.0.1:8000 " not in res.output and "8001" in res.output


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda c: c.update(tensor_parallel_size=3), "TP × PP × DP"),
    (lambda c: c.update(gpu_count=7), "gpu_count is 7"),
    (lambda c: c["engine_args"].update({"--max-model-len": 123}), "--max-model-len"),
    (lambda c: c["engine_args"].update({"--max-model-len": -5}), "between 1 and"),
    (lambda c: c["engine_args"].update({"--gpu-memory-utilization": 7}), "between 0.01 and 1"),
    (lambda c: c.update(gpu="h999"), "Unknown GPU 'h999'"),
])
def test_a_hand_edited_plan_that_no_longer_describes_one_deployment_is_not_rendered(tmp_path, edit, needle):
    """These edits rendered without a word: a launch of TP 4 on a plan that says TP 3, Kubernetes asking for 7 GPUs
    for a 4-GPU layout, '--max-model-len -5', a GPU the catalog does not know (rendered as NVIDIA)."""
    import yaml

    plan_file = tmp_path / "plan.yaml"
    res = run("plan", "qwen3-8b", "--users", "20", "--gpu", "l40s", "--gpus", "4", "-o", str(plan_file))
    assert res.exit_code == 0, res.output
    assert run("render", str(plan_file), "--out", str(tmp_path / "ok")).exit_code == 0
    data = yaml.safe_load(plan_file.read_text())
    edit(data["candidates"][0])
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    one_sentence(run("render", str(plan_file), "--out", str(tmp_path / "deploy")), needle)
    assert not (tmp_path / "deploy").exists()


@pytest.mark.parametrize(("gpu", "fmt"), [("t4", "fp16"), ("ascend-310p-48gb", "fp16"), ("h100", "bf16")])
def test_size_and_estimate_name_the_format_plan_uses(gpu, fmt):
    """On a GPU without BF16, plan casts a BF16 release to FP16 (--dtype half) while size and estimate said
    "weights bf16" for the same model and GPU; now all three name the same format (bytes are equal either way)."""
    size = json.loads(run("size", "qwen3-8b", "--gpu", gpu, "--json").stdout)
    est = json.loads(run("estimate", "qwen3-8b", "--gpu", gpu, "--gpus", "2", "--input-tokens", "100",
                         "--output-tokens", "10", "--json").stdout)
    plan = json.loads(run("plan", "qwen3-8b", "--users", "1", "--gpu", gpu, "--json").stdout)
    assert size["weight_format"] == fmt
    assert size["kv_dtype"] == fmt  # the engines' 'auto' cache follows the model dtype: FP16 weights, FP16 KV
    assert est["deployment"]["weight_format"] == (fmt if fmt == "fp16" else "native")  # "native": the release
    assert {c["weight_format"] for c in plan["candidates"]} == {fmt}
    assert {c["kv_dtype"] for c in plan["candidates"]} == {fmt}
    client = TestClient(create_app(ApiSettings()), base_url="http://127.0.0.1")
    assert client.post("/api/v1/size", json={"model": "qwen3-8b", "gpu": gpu}).json()["weight_format"] == fmt
    assert run("size", "qwen3-8b", "--gpu", gpu, "--weights", "bf16", "--json").exit_code == 0  # asked for: kept


def test_a_small_machines_power_is_not_printed_as_zero():
    """A 25 W Jetson's bill of materials said "0.0 kW per node at TDP; PSU/PDU ≥ 0.0 kW"."""
    res = run("plan", "deepseek-r1-distill-qwen-1.5b", "--preset", "personal", "--gpu", "jetson-orin-nano-8gb",
              "--json")
    bom = {i["kind"]: i for i in json.loads(res.stdout)["candidates"][0]["bill_of_materials"]}
    assert bom["power"]["description"].startswith("0.025 kW per node"), bom["power"]
    assert "0.0 kW" not in bom["power"]["description"] and "0.025 kW" in bom["cooling"]["rule"]
    assert bom["power"]["quantity"] == 0.025


def test_one_user_is_worded_in_the_singular():
    """plan --preset personal said "Workload: 1 concurrent users" (the page was fixed for "with 1 users")."""
    res = run("plan", "qwen3-8b", "--users", "1", "--gpu", "rtx-4090", "--json")
    first = json.loads(res.stdout)["assumptions"][0]
    assert first.startswith("Workload: 1 user,") and "users" not in first
    res = run("plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "--json")
    assert json.loads(res.stdout)["assumptions"][0].startswith("Workload: 2 concurrent users")


@pytest.mark.parametrize("extra", [(), ("--prefill-nodes", "1", "--decode-nodes", "1"), ("--sweep",)])
def test_estimate_context_beyond_the_model_names_its_own_flags(extra):
    """estimate said "Use --context 131072 or less" (estimate has no --context); the PD model (--prefill-nodes) and
    the sweep estimated a 200,100-token request on a 131,072-token model without a word."""
    gpus = () if extra[:1] == ("--prefill-nodes",) else ("--gpus", "8")
    res = run("estimate", "deepseek-r1", "--gpu", "h200-sxm", *gpus, "--input-tokens", "200000", "--output-tokens",
              "100", *extra)
    one_sentence(res, "200,000 prompt + 100 output", "--input-tokens")
    assert "--context" not in res.output


def test_estimate_context_over_the_api():
    client = TestClient(create_app(ApiSettings()), base_url="http://127.0.0.1")
    res = client.post("/api/v1/estimate", json={"model": "deepseek-r1", "gpu": "h200-sxm", "gpus": 8,
                                                "input_tokens": 200000, "output_tokens": 100})
    assert res.status_code == 400 and "131,072" in res.text, res.text


def test_a_pd_decode_batch_above_kv_capacity_is_flagged():
    """The README's day-6 example prints "Decode batch per GPU (max that fits) 128 (120)" and estimates at 128
    without saying that 128 does not fit; now a warning says so (and how to get the largest that fits)."""
    args = ("estimate", "deepseek-r1", "--gpu", "h800-sxm", "--prefill-nodes", "4", "--decode-nodes", "18",
            "--decode-batch", "128", "--speculative-tokens", "1", "--kv-dtype", "bf16", "--input-tokens", "4383",
            "--output-tokens", "1211", "--prefix-cache-hit", "0.563")
    est = json.loads(run(*args, "--json").stdout)
    assert est["decode_batch_per_gpu"] > est["max_decode_batch_per_gpu"]
    res = run(*args)
    assert res.exit_code == 0 and f"--decode-batch {est['max_decode_batch_per_gpu']} or less" in res.output
    res = run(*args[:7], *args[9:])  # without --decode-batch: the largest that fits, no warning
    assert res.exit_code == 0 and "Warning: --decode-batch" not in res.output


@pytest.mark.parametrize(("cmd", "needles"), [
    (("plan", "qwen3-8b", "--users", "5", "--rate", "5"), ("--users 5", "--rate 5", "not both")),
    (("plan", "qwen3-8b", "--users", "5", "--gpu", "h100", "--exclude-gpu", "h100"), ("No GPU is left",)),
    (("plan", "qwen3-8b", "--users", "5", "--gpu", "h100", "--china-only"), ("No GPU is left", "--china-only")),
])
def test_plan_options_that_cancel_out_are_one_sentence(cmd, needles):
    """--users with --rate planned for the rate without a word; --gpu h100 --exclude-gpu h100 (or --china-only)
    printed "No deployment meets the request. The rejections below…" with no rejection below."""
    one_sentence(run(*cmd), *needles)


def test_cost_years_zero_names_a_range_that_excludes_it(tmp_path):
    """cost --years 0 said "allowed: 0-30"."""
    plan_file = tmp_path / "p.yaml"
    assert run("plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "-o", str(plan_file)).exit_code == 0
    res = run("cost", str(plan_file), "--years", "0")
    one_sentence(res, "more than 0")
    assert "0-30" not in res.output


@pytest.mark.parametrize(("cmd", "needle"), [
    (("--gpu", "rtx-4090", "--gpus", "16"), "--gpus 16 cannot be planned on rtx-4090"),
    (("--gpu", "apple-m4-max", "--gpus", "2"), "--gpus 2 cannot be planned on apple-m4-max"),
    (("--gpu", "h100", "--max-gpus", "2", "--gpus", "8"), "--max-gpus (2)"),
])
def test_a_gpu_count_no_machine_shape_gives_is_one_sentence(cmd, needle):
    """--gpus 16 of RTX 4090 and --max-gpus 2 --gpus 8 printed "No deployment meets the request" and "Searched 0
    candidates" with no reason; --gpus 2 on a Mac was planned as one Mac."""
    one_sentence(run("plan", "qwen3-8b", "--users", "5", *cmd), needle)


def test_server_classes_are_named_in_chinese():
    """Under --lang zh the bill of materials named the server class in English ("workstation-1gpu: Desktop
    workstation with one GPU"); English keeps the price data's own description."""
    from gpuplan.catalog.prices import load_prices
    from gpuplan.i18n import catalog

    for class_id, node in load_prices().node_classes.items():  # every class named in both, English = the data's
        key = "qa.node_" + class_id.replace("-", "_")
        assert key in catalog("zh") and catalog("en")[key] == node.description, class_id
    res = run("--lang", "zh", "plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "--top", "1", "--json")
    server = next(i for i in json.loads(res.stdout)["candidates"][0]["bill_of_materials"] if i["kind"] == "server")
    assert server["description"] == "workstation-1gpu: 单 GPU 台式工作站"
    res = run("--lang", "en", "plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "--top", "1", "--json")
    server = next(i for i in json.loads(res.stdout)["candidates"][0]["bill_of_materials"] if i["kind"] == "server")
    assert server["description"] == "workstation-1gpu: Desktop workstation with one GPU"


def test_host_messages_list_the_host_classes():
    """'--host nohost' said "Did you mean: —?" and a missing --host said "(see hosts.csv)", a file a user of the
    installed tool does not see; both sentences now list the host classes (kept equal to hosts.csv here)."""
    from gpuplan.catalog import list_hosts
    from gpuplan.i18n import catalog

    ids = ", ".join(h.id for h in list_hosts())
    for lang in ("en", "zh"):
        assert ids in catalog(lang)["catalog.unknown_host"] and ids in catalog(lang)["perf.offload_needs_host"]
    args = ("estimate", "deepseek-v3", "--gpu", "rtx-4090", "--engine", "ktransformers", "--weights", "gguf-q4_k_m",
            "--offload", "experts", "--input-tokens", "1000", "--output-tokens", "300")
    res = run(*args, "--host", "nohost")
    one_sentence(res, "server-ddr5-8ch-2s")
    assert "Did you mean: —" not in res.output
    one_sentence(run(*args), "--host with one of desktop-ddr4-2ch")


def test_serve_on_a_taken_port_is_one_sentence():
    """serve printed "gpuplan is serving on http://127.0.0.1:PORT/" and then uvicorn's "[Errno 98] … address already
    in use" when the port was taken (a second serve, or an engine started on 8000)."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run("serve", "--port", str(port))
    one_sentence(res, f"127.0.0.1:{port}", f"--port {port + 1}")
    assert "serving on" not in res.output


def test_gpus_marks_fp16_rates_and_vendors_without_an_engine():
    """The gpus table showed a T4's FP16 rate under "BF16 TFLOP/s" (it has no BF16) and listed the MTT S4000 with
    nothing to say that no engine runs on it."""
    res = runner.invoke(build_app(["gpus"]), ["gpus", "--vendor", "nvidia"], env={"COLUMNS": "400"})
    t4 = next(line for line in res.stdout.splitlines() if line.startswith("│ t4 "))
    assert "65.0†" in t4, t4
    h100 = next(line for line in res.stdout.splitlines() if "h100-sxm " in line)
    assert "†" not in h100
    assert "† FP16 rate" in res.stdout
    res = run("gpus", "--vendor", "moorethreads")
    assert res.exit_code == 0 and "No serving engine in the catalog runs on moorethreads" in res.output


def test_a_huge_owned_count_is_named_as_a_count():
    """--have 100000xh100 said "Unknown GPU '100000xh100'. Did you mean: h100?" (a count of five or more digits was
    read as part of the GPU id); it is now the too-many sentence."""
    res = run("plan", "qwen3-8b", "--have", "100000xh100")
    one_sentence(res, "100000")
    assert "Unknown GPU" not in res.output


def test_an_empty_output_path_is_refused_not_ignored():
    """plan -o '' printed the plan and wrote nothing, without a word."""
    one_sentence(run("plan", "qwen3-8b", "--users", "2", "--gpu", "rtx-4090", "-o", ""), "-o")


def test_a_jetson_is_not_told_about_metal_as_a_fact():
    """size on a Jetson said "the GPU may use about 75% of system RAM (Metal's recommendedMaxWorkingSetSize)": a Metal
    limit stated as the Jetson's. The share is still applied there (memory/inference.py), now said to be assumed."""
    res = run("size", "qwen3-8b", "--gpu", "jetson-agx-orin-64gb")
    assert res.exit_code == 0
    note = next(line for line in res.output.splitlines() if "Unified memory" in line)
    assert "on Apple" in note and "assumed, not measured" in " ".join(res.output.split())


def test_a_mac_is_not_told_about_a_cuda_context():
    """size on a Mac (llama.cpp on Metal) listed "Overhead (CUDA context, reserved)" and "512 MiB CUDA context"."""
    res = run("size", "qwen3-8b", "--gpu", "apple-m4-max")
    assert res.exit_code == 0 and "CUDA context" not in res.output and "Metal" in res.output


def test_fit_over_the_api_refuses_a_vendor_without_an_engine():
    """POST /api/v1/fit with the MTT S4000 answered 200 with an empty model list (the CLI already refused)."""
    client = TestClient(create_app(ApiSettings()), base_url="http://127.0.0.1")
    res = client.post("/api/v1/fit", json={"gpu": "mtt-s4000"})
    assert res.status_code == 422 and "No serving engine" in res.text, res.text


def test_users_and_rate_together_over_the_api():
    client = TestClient(create_app(ApiSettings()), base_url="http://127.0.0.1")
    res = client.post("/api/v1/plan", json={"model": "qwen3-8b", "users": 5, "rate": 3})
    assert res.status_code == 400 and "not both" in res.text, res.text


@pytest.mark.parametrize("cmd", [
    ("estimate", "qwen3-8b", "--gpu", "h100", "--input-tokens", "10", "--output-tokens", "10", "--calibration", "\x00"),
    ("plan", "qwen3-8b", "--users", "1", "--calibration", "a\x00b"),
    ("cost", "\x00"), ("render", "\x00"), ("calibrate", "\x00"), ("validate", "--dataset", "\x00"),
    ("bench", "--url", "http://127.0.0.1:9/v1", "--model", "m", "--out", "\x00"),
])
def test_a_nul_byte_in_any_path_option_is_a_usage_error(cmd):
    """Every Path-typed option crashed with "ValueError: embedded null byte" (typer's TyperPath stats the value and
    catches only OSError); found by tests/test_properties.py's slow estimate/fit property."""
    res = run(*cmd)
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), repr(res.exception)
    assert "NUL byte" in res.output and "Traceback" not in res.output


def test_a_local_model_plan_renders_no_containers(tmp_path, monkeypatch):
    """A plan of ./my-model-dir rendered `vllm serve ./my-model-dir` into a Deployment and a Dockerfile: a path on the
    planning host that no pod or image holds. --target all now writes the native launch, monitoring and report."""
    from test_readme import make_user_files

    monkeypatch.chdir(tmp_path)
    make_user_files(tmp_path)
    assert run("plan", "./my-model-dir", "--users", "2", "--gpu", "l40s", "-o", "local.yaml").exit_code == 0
    res = run("render", "local.yaml", "--target", "all", "--out", "deploy")
    assert res.exit_code == 0, res.output
    written = {p.relative_to(tmp_path / "deploy").parts[0] for p in (tmp_path / "deploy").rglob("*") if p.is_file()}
    assert "engine" in written and not written & {"docker", "k8s"}, written
    assert "kubectl" not in (tmp_path / "deploy" / "README.md").read_text()
    one_sentence(run("render", "local.yaml", "--target", "k8s", "--out", "k8s-out"), "./my-model-dir", "Hub")


def test_a_local_model_path_with_a_space_says_to_rename_it(tmp_path, monkeypatch):
    """render of a plan of './bad dir' said "Re-create the plan with 'gpuplan plan'", which writes the same path."""
    from test_readme import make_user_files

    monkeypatch.chdir(tmp_path)
    make_user_files(tmp_path)
    (tmp_path / "my-model-dir").rename(tmp_path / "bad dir")
    assert run("plan", "./bad dir", "--users", "2", "--gpu", "l40s", "-o", "bad.yaml").exit_code == 0
    res = run("render", "bad.yaml", "--out", "deploy")
    one_sentence(res, "Rename the directory")


def test_an_amd_instinct_plan_runs_a_rocm_image(tmp_path):
    """An 8×MI300X plan (the README's DeepSeek-V3 pick) rendered lmsysorg/sglang / vllm/vllm-openai: CUDA builds that
    cannot drive a ROCm GPU. Instinct plans now use AMD's ROCm images (sourced in artifacts/common.py); NVIDIA keeps
    the CUDA ones."""
    import yaml

    for gpu, engine, prefix in (("mi300x", "sglang", "rocm/sgl-dev:"), ("mi300x", "vllm", "rocm/vllm:"),
                                ("h100", "vllm", "vllm/vllm-openai:")):
        plan_file = tmp_path / f"{gpu}-{engine}.yaml"
        res = run("plan", "qwen3-8b", "--users", "2", "--gpu", gpu, "--gpus", "1", "--engine", engine,
                  "-o", str(plan_file))
        assert res.exit_code == 0, res.output
        out = tmp_path / f"deploy-{gpu}-{engine}"
        assert run("render", str(plan_file), "--target", "k8s,docker", "--out", str(out)).exit_code == 0
        image = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())["spec"]["template"]["spec"][
            "containers"][0]["image"]
        assert image.startswith(prefix), image
        assert f"FROM {image}" in (out / "docker" / "Dockerfile").read_text()
