"""gpuplan render: flags exactly as the plan assumed, per-engine spelling, headers, errors, snapshots, CLI."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gpuplan.artifacts import TARGETS, RenderedFile, render_plan
from gpuplan.errors import InvalidInputError, UnsupportedError
from gpuplan.planfile import PlanFile

DATA = Path(__file__).parent / "data" / "plans"
SNAPSHOTS = Path(__file__).parent / "snapshots"
PLANS = sorted(DATA.glob("*.yaml"))



def load(name: str) -> PlanFile:
    return PlanFile.load(DATA / name)


def files_of(plan: PlanFile, targets=("all",)) -> dict[str, str]:
    return {f.path: f.content for f in render_plan(plan, list(targets))}


def script_tokens(text: str) -> list[str]:
    """The tokens of the 'exec ...' command of a rendered launch script."""
    body = text[text.index("\nexec ") + 6:]
    return shlex.split(body.replace("\\\n", " "))


def with_candidate(plan: PlanFile, **update) -> PlanFile:
    return plan.model_copy(update={"candidates": (plan.chosen.model_copy(update=update),)})


# --- flags -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["8xh20-vllm-r1-distill-llama-70b.yaml", "2x8xh20-sglang-deepseek-v3.yaml",
                                  "single-4090-llamacpp-r1-distill-qwen-32b.yaml"])
def test_every_planned_flag_is_passed_verbatim(name):
    plan = load(name)
    files = files_of(plan, ["engine"])
    script = files.get("engine/serve.sh") or files["engine/serve-node.sh"]
    toks = script_tokens(script)
    for key, value in plan.chosen.engine_args.items():
        i = toks.index(key)
        if value is not True:
            assert toks[i + 1] == str(value), key


def test_memory_model_flags_match_candidate_fields():
    """--max-model-len / --gpu-memory-utilization / --max-num-seqs / -tp are the candidate's own numbers."""
    plan = load("8xh20-vllm-r1-distill-llama-70b.yaml")
    c = plan.chosen
    toks = script_tokens(files_of(plan, ["engine"])["engine/serve.sh"])
    assert toks[:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"]
    assert toks[toks.index("--max-model-len") + 1] == str(c.max_model_len)
    assert float(toks[toks.index("--gpu-memory-utilization") + 1]) == c.gpu_memory_utilization
    assert toks[toks.index("--max-num-seqs") + 1] == str(c.max_num_seqs)
    assert toks[toks.index("--tensor-parallel-size") + 1] == str(c.tensor_parallel_size)
    assert "--quantization" not in toks and "--trust-remote-code" not in toks  # a Llama distill needs neither


def test_deepseek_native_fp8_gets_no_quantization_flag():
    """SGLang docs/basic_usage/deepseek_v3.md: no '--quantization fp8' for the official FP8 checkpoint."""
    files = files_of(load("2x8xh20-vllm-deepseek-v3.yaml"), ["engine"])
    script = files["engine/serve-node.sh"]
    toks = script_tokens(script)
    assert "--quantization" not in toks
    assert "dropped '--quantization fp8'" in script
    assert "--trust-remote-code" in toks


def test_vllm_multinode_flags():
    """vLLM mp-backend multi-node: --nnodes/--node-rank/--master-addr, --headless on ranks > 0 (ecosystem.md §1.1)."""
    plan = load("2x8xh20-vllm-deepseek-v3.yaml")
    files = files_of(plan, ["engine", "k8s"])
    toks = script_tokens(files["engine/serve-node.sh"])
    assert toks[toks.index("--nnodes") + 1] == "2"
    assert toks[toks.index("--node-rank") + 1] == "$NODE_RANK"
    assert 'if [ "$NODE_RANK" -gt 0 ]; then set -- --headless "$@"; fi' in files["engine/serve-node.sh"]
    lws = yaml.safe_load(files["k8s/leaderworkerset.yaml"])
    t = lws["spec"]["leaderWorkerTemplate"]
    leader = t["leaderTemplate"]["spec"]["containers"][0]["args"]
    worker = t["workerTemplate"]["spec"]["containers"][0]["args"]
    assert t["size"] == plan.chosen.nodes
    assert "--headless" not in leader and "--headless" in worker
    assert worker[worker.index("--node-rank") + 1] == "$(LWS_WORKER_INDEX)"
    assert worker[worker.index("--master-addr") + 1] == "$(LWS_LEADER_ADDRESS)"


def test_sglang_multinode_flags_and_metrics():
    """SGLang: --nnodes/--node-rank/--dist-init-addr host:port; --enable-metrics (off by default)."""
    files = files_of(load("2x8xh20-sglang-deepseek-v3.yaml"), ["k8s"])
    lws = yaml.safe_load(files["k8s/leaderworkerset.yaml"])
    args = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["args"]
    assert args[args.index("--dist-init-addr") + 1] == "$(LWS_LEADER_ADDRESS):20000"
    assert args[args.index("--nnodes") + 1] == "2"
    assert "--enable-metrics" in args and "--tp-size" in args


def test_sglang_kv_fp8_spelled_as_sglang_spells_it():
    """SGLang --kv-cache-dtype has fp8_e4m3/fp8_e5m2 but no bare fp8 (sglang server_args; ecosystem.md §1.2)."""
    plan = load("2x8xh20-sglang-deepseek-v3.yaml")
    plan = with_candidate(plan, engine_args={**plan.chosen.engine_args, "--kv-cache-dtype": "fp8"})
    toks = script_tokens(files_of(plan, ["engine"])["engine/serve-node.sh"])
    assert toks[toks.index("--kv-cache-dtype") + 1] == "fp8_e4m3"


def test_ollama_matches_llamacpp_plan():
    """llama-server splits --ctx-size across --parallel slots (tools/server/README.md), so Ollama's per-request
    num_ctx = 8192 / 2 = 4096 with OLLAMA_NUM_PARALLEL=2; num_gpu is layers (ollama-python#603)."""
    files = files_of(load("single-4090-llamacpp-r1-distill-qwen-32b.yaml"), ["engine"])
    modelfile = files["engine/ollama/Modelfile"]
    assert "PARAMETER num_ctx 4096" in modelfile and "PARAMETER num_gpu 999" in modelfile
    assert "export OLLAMA_NUM_PARALLEL=2" in files["engine/ollama/run.sh"]
    toks = script_tokens(files["engine/serve.sh"])
    assert toks[0] == "${LLAMA_SERVER:-llama-server}" and "--metrics" in toks
    assert toks[toks.index("-m") + 1] == "/models/DeepSeek-R1-Distill-Qwen-32B-Q4_K_M.gguf"


def test_llama_server_binary_inside_its_image(tmp_path):
    """llama.cpp's server image has the binary at /app/llama-server, not on PATH (.devops/cuda.Dockerfile)."""
    files = files_of(load("single-4090-llamacpp-r1-distill-qwen-32b.yaml"), ["engine", "docker", "k8s"])
    assert "ENV LLAMA_SERVER=/app/llama-server" in files["docker/Dockerfile"]
    dep = yaml.safe_load(files["k8s/deployment.yaml"])
    assert dep["spec"]["template"]["spec"]["containers"][0]["command"] == ["/app/llama-server"]
    args = run_script_with_stub(files["engine/serve.sh"], tmp_path, {})
    assert args[args.index("--ctx-size") + 1] == "8192" and args[args.index("--parallel") + 1] == "2"


def test_trtllm_and_ktransformers_render():
    plan = load("8xh20-vllm-r1-distill-llama-70b.yaml")
    trt = with_candidate(plan, engine="trtllm", engine_args={
        "--tp_size": 8, "--max_batch_size": 64, "--max_seq_len": 32768,
        "--kv_cache_free_gpu_memory_fraction": 0.9, "kv_cache_config": {"dtype": "fp8"}})
    files = files_of(trt, ["engine"])
    toks = script_tokens(files["engine/serve.sh"])
    assert toks[:2] == ["trtllm-serve", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"]
    assert toks[toks.index("--tp_size") + 1] == "8"
    assert toks[toks.index("--config") + 1] == "trtllm-config.yml"
    assert yaml.safe_load(files["engine/trtllm-config.yml"]) == {"kv_cache_config": {"dtype": "fp8"}}
    v3 = load("2x8xh20-sglang-deepseek-v3.yaml")
    kt = v3.model_copy(update={"candidates": (v3.chosen.model_copy(update={
        "engine": "ktransformers", "nodes": 1, "gpu_count": 1, "gpus_per_node": 1,
        "engine_args": {"--kt-method": "AMXINT4", "--kt-cpuinfer": 60, "--kt-num-gpu-experts": 1,
                        "--attention-backend": "triton"}}),)})
    toks = script_tokens(files_of(kt, ["engine"])["engine/serve.sh"])
    assert toks[:3] == ["python3", "-m", "sglang.launch_server"]
    assert toks[toks.index("--kt-method") + 1] == "AMXINT4"


def test_non_flag_engine_arg_is_an_error():
    plan = with_candidate(load("8xh20-vllm-r1-distill-llama-70b.yaml"), engine_args={"max_model_len": 4096})
    with pytest.raises(InvalidInputError, match="max_model_len"):
        render_plan(plan, ["engine"])


def test_unknown_engine_and_targets():
    plan = load("8xh20-vllm-r1-distill-llama-70b.yaml")
    with pytest.raises(UnsupportedError, match="transformers"):
        render_plan(with_candidate(plan, engine="transformers"), ["engine"])
    with pytest.raises(InvalidInputError, match="Allowed: engine"):
        render_plan(plan, ["kubernetes"])
    with pytest.raises(InvalidInputError, match="deepspeed"):
        render_plan(plan, ["deepspeed"])
    with pytest.raises(InvalidInputError, match="multiple"):
        qlora = load("qlora-qwen2.5-32b-l40s.yaml")
        two = with_candidate(qlora, gpu_count=2, data_parallel_size=2)  # 15 is not a multiple of 1 x 2 GPUs
        render_plan(two.model_copy(update={"training": qlora.training.model_copy(
            update={"global_batch_size": 15})}), ["deepspeed"])
    assert set(TARGETS) >= {"engine", "docker", "compose", "k8s", "prometheus", "grafana", "report", "deepspeed",
                            "llamafactory", "all"}


def test_llamafactory_qlora_config():
    files = files_of(load("qlora-qwen2.5-32b-l40s.yaml"), ["llamafactory"])
    cfg = yaml.safe_load(files["training/llamafactory.yaml"])
    assert cfg["finetuning_type"] == "lora" and cfg["quantization_bit"] == 4 and cfg["quantization_method"] == "bnb"
    assert cfg["lora_rank"] == 16 and cfg["cutoff_len"] == 4096 and cfg["template"] == "qwen"
    assert cfg["per_device_train_batch_size"] * cfg["gradient_accumulation_steps"] == 16
    assert "deepspeed" not in cfg  # one GPU, ZeRO 0


# --- every file opens with the plan statement -------------------------------------------------------------------

@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_every_file_states_its_plan(path):
    plan = PlanFile.load(path)
    for f in render_plan(plan, ["all"]):
        if f.kind in ("json", "deepspeed"):
            # JSON has no comments: dashboards carry it in 'description', README.md states it for all.
            if f.kind == "json":
                assert plan.model.id in json.loads(f.content)["description"]
            continue
        head = f.content.splitlines()[:3]
        text = "\n".join(head)
        assert head[0].startswith(("#", "<!--")), f.path
        assert "gpuplan render" in text, f.path


# --- snapshots --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_snapshots(path):
    """Rendered files equal tests/snapshots/<plan>/; GPUPLAN_UPDATE_SNAPSHOTS=1 rewrites them."""
    files: tuple[RenderedFile, ...] = render_plan(PlanFile.load(path), ["all"])
    root = SNAPSHOTS / path.stem
    if os.environ.get("GPUPLAN_UPDATE_SNAPSHOTS") == "1":
        shutil.rmtree(root, ignore_errors=True)
        for f in files:
            target = root / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.content, encoding="utf-8")
    expected = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert sorted(f.path for f in files) == expected
    for f in files:
        assert f.content == (root / f.path).read_text(encoding="utf-8"), f.path


# --- CLI --------------------------------------------------------------------------------------------------------

def test_cli_render_writes_files(tmp_path):
    from gpuplan.cli.main import build_app

    out = tmp_path / "deploy"
    result = CliRunner().invoke(build_app(), ["render", str(DATA / "8xh20-vllm-r1-distill-llama-70b.yaml"),
                                              "--target", "all", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["files"]
    assert {Path(r["path"]).relative_to(out).as_posix() for r in listed} >= {
        "engine/serve.sh", "docker/Dockerfile", "docker/docker-compose.yml", "k8s/deployment.yaml",
        "k8s/hpa.yaml", "monitoring/prometheus-rules.yml", "monitoring/grafana-dashboard.json", "REPORT.md"}
    assert os.access(out / "engine" / "serve.sh", os.X_OK)


def test_cli_render_bad_target_is_one_sentence(tmp_path):
    from gpuplan.cli.main import build_app

    result = CliRunner().invoke(build_app(), ["render", str(DATA / "qlora-qwen2.5-32b-l40s.yaml"),
                                              "--target", "engine", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Targets for this plan: deepspeed" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("gpu", "resource"), [("mi300x", "amd.com/gpu"), ("ascend-910b", "huawei.com/Ascend910")])
def test_other_vendors_use_their_resource_names(gpu, resource):
    """AMD and Ascend device-plugin resource names (ecosystem.md §2); no NVIDIA GFD affinity for them."""
    plan = with_candidate(load("8xh20-vllm-r1-distill-llama-70b.yaml"), gpu=gpu)
    files = files_of(plan, ["k8s", "compose"])
    dep = yaml.safe_load(files["k8s/deployment.yaml"])
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {resource: "8"}
    assert pod["tolerations"][0]["key"] == resource
    assert "nvidia.com/gpu.product" not in files["k8s/deployment.yaml"]
    service = yaml.safe_load(files["docker/docker-compose.yml"])["services"]["engine"]
    assert "deploy" not in service and service["devices"]


def run_script_with_stub(script: str, tmp_path: Path, env: dict[str, str]) -> list[str]:
    """Run a rendered launch script with the engine binary replaced by a stub that prints its argv as JSON."""
    import subprocess
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name in ("vllm", "python3", "llama-server", "trtllm-serve"):
        stub = bindir / name
        stub.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
        stub.chmod(0o755)
    path = tmp_path / "serve.sh"
    path.write_text(script)
    proc = subprocess.run(["bash", str(path)], capture_output=True, text=True,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_multinode_scripts_expand_rank_and_leader(tmp_path):
    vllm = files_of(load("2x8xh20-vllm-deepseek-v3.yaml"), ["engine"])["engine/serve-node.sh"]
    args = run_script_with_stub(vllm, tmp_path, {"NODE_RANK": "1", "LEADER_ADDR": "10.0.0.1"})
    assert args[args.index("--node-rank") + 1] == "1" and args[args.index("--master-addr") + 1] == "10.0.0.1"
    assert args[-1] == "--headless"
    args = run_script_with_stub(vllm, tmp_path, {"NODE_RANK": "0", "LEADER_ADDR": "10.0.0.1"})
    assert "--headless" not in args
    sgl = files_of(load("2x8xh20-sglang-deepseek-v3.yaml"), ["engine"])["engine/serve-node.sh"]
    args = run_script_with_stub(sgl, tmp_path, {"NODE_RANK": "1", "LEADER_ADDR": "10.0.0.1"})
    assert args[args.index("--dist-init-addr") + 1] == "10.0.0.1:20000"
    assert args[args.index("--node-rank") + 1] == "1"


def test_vllm_multinode_data_parallel(tmp_path):
    """DP 16 over 2 nodes (recipes multi_node_dep): 8 local DP ranks, node 1 starts at rank 8, headless."""
    plan = load("2x8xh20-vllm-deepseek-v3.yaml")
    plan = with_candidate(plan, tensor_parallel_size=1, pipeline_parallel_size=1, data_parallel_size=16,
                          engine_args={"--data-parallel-size": 16, "--enable-expert-parallel": True,
                                       "--max-model-len": 32768, "--gpu-memory-utilization": 0.9})
    files = files_of(plan, ["engine", "k8s"])
    args = run_script_with_stub(files["engine/serve-node.sh"], tmp_path, {"NODE_RANK": "1", "LEADER_ADDR": "h0"})
    assert args[args.index("--data-parallel-size-local") + 1] == "8"
    assert args[args.index("--data-parallel-start-rank") + 1] == "8"
    assert args[args.index("--data-parallel-address") + 1] == "h0"
    assert "--nnodes" not in args and args[-1] == "--headless"
    lws = yaml.safe_load(files["k8s/leaderworkerset.yaml"])
    worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
    assert worker["command"] == ["/bin/bash"] and "$((LWS_WORKER_INDEX * 8))" in worker["args"][1]
