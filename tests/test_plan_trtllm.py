"""TensorRT-LLM in the planner: selectable, one-node layouts, and trtllm-serve flags spelled as its docs spell them.

Flag set: TensorRT-LLM docs ``commands/trtllm-serve`` (0.18–1.3), recorded in shared/reference/ecosystem.md §1.7:
--backend, --tp_size, --pp_size, --ep_size, --max_batch_size, --max_num_tokens, --max_seq_len,
--kv_cache_free_gpu_memory_fraction, --trust_remote_code, --host, --port, --config; YAML keys enable_attention_dp and
kv_cache_config.
"""

from __future__ import annotations

import shlex

import yaml

from gpuplan.artifacts import render_plan
from gpuplan.plan import PlanRequest, search

TRTLLM_SERVE_FLAGS = {"--backend", "--tp_size", "--pp_size", "--ep_size", "--max_batch_size", "--max_num_tokens",
                      "--max_seq_len", "--kv_cache_free_gpu_memory_fraction", "--trust_remote_code", "--host",
                      "--port", "--config"}
TRTLLM_YAML_KEYS = {"enable_attention_dp", "kv_cache_config"}


def test_plan_selects_trtllm_and_renders_its_flags():
    plan = search(PlanRequest(model="deepseek-r1", gpus=("h200-sxm",), engines=("trtllm",), users=32, top=3))
    assert plan.candidates and all(c.engine == "trtllm" for c in plan.candidates)
    best = plan.chosen
    assert best.nodes == 1  # rendered for one node only
    args = best.engine_args
    assert args["--tp_size"] == best.tensor_parallel_size and args["--max_batch_size"] == 32
    assert args["--max_seq_len"] == plan.workload.input_tokens + plan.workload.output_tokens
    files = {f.path: f.content for f in render_plan(plan, ["engine"])}
    script = files["engine/serve.sh"]
    argv = shlex.split(script.split("exec ", 1)[1].replace("\\\n", " "))
    assert argv[0] == "trtllm-serve"
    flags = {tok for tok in argv if tok.startswith("--")}
    assert flags <= TRTLLM_SERVE_FLAGS, flags - TRTLLM_SERVE_FLAGS
    if "engine/trtllm-config.yml" in files:
        cfg = yaml.safe_load(files["engine/trtllm-config.yml"].split("\n", 1)[1])
        assert set(cfg) <= TRTLLM_YAML_KEYS


def test_trtllm_is_in_the_default_engines_for_nvidia_datacenter():
    plan = search(PlanRequest(model="qwen3-32b", gpus=("h100-sxm",), users=8, max_nodes=1, top=50))
    assert "trtllm" in {c.engine for c in plan.candidates}


def test_trtllm_is_never_planned_off_nvidia():
    plan = search(PlanRequest(model="qwen3-32b", gpus=("mi300x",), users=8, max_nodes=1, top=50))
    assert plan.candidates and "trtllm" not in {c.engine for c in plan.candidates}
