"""Every candidate of every plan renders to a command the engine's own parser reads back as the plan's numbers.

Issue 11: a plan is a promise. Scenarios cover a 4090 with 7B/32B distills, 70B on a 4090, team 32B on L40S/H100,
DeepSeek-V3/R1 on 8×H200 and 2×8 H20, V3 over several nodes, MI300X, R1 with 4-bit allowed, R1's 1.58-bit GGUF on
a unified-memory machine, and self-quantized formats. (70B with RAM offload is a ``fit`` row: see the last test.) Each candidate is
rendered (``gpuplan render --target engine``) and its command is parsed by

* SGLang's ``sglang.srt.server_args.prepare_server_args`` (``pip install --no-deps sglang`` + small packages, .ci/run),
* vLLM's ``make_arg_parser`` (``pip install --no-deps vllm`` + small packages, VLLM_TARGET_DEVICE=cpu),
* llama-server's option list (tests/data/engine_flags/llama-server.txt, cited there).

Tests skip with the reason when a parser is not installed; CI installs both.
"""

from __future__ import annotations

import os
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from gpuplan.artifacts import render_plan
from gpuplan.artifacts.engine_argv import EngineConfig, engine_flags
from gpuplan.catalog import get_model
from gpuplan.catalog.checkpoints import (
    CheckpointRef,
    checkpoint_for,
    list_checkpoints,
    quality_allowed,
    quality_tier,
    quantize_step_checkpoint,
)
from gpuplan.memory.inference import _whole_weights
from gpuplan.memory.weights import model_tensor_bytes
from gpuplan.plan import PlanRequest, search
from gpuplan.planfile import PlanFile

LLAMA_FLAGS_FILE = Path(__file__).parent / "data" / "engine_flags" / "llama-server.txt"

SCENARIOS = {
    "4090-r1-7b": PlanRequest(model="deepseek-r1-distill-qwen-7b", users=1, gpus=("rtx-4090",), max_gpus=1,
                              quality="4bit", top=6),
    "4090-r1-32b": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=1, gpus=("rtx-4090",), max_gpus=1,
                               quality="4bit", top=6),
    "4090-r1-70b": PlanRequest(model="deepseek-r1-distill-llama-70b", users=1, gpus=("rtx-4090",), max_gpus=2,
                               quality="4bit", top=6),
    "team-32b-l40s": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=50, gpus=("l40s",), max_nodes=1,
                                 ttft_s=2.0, tpot_s=0.05, quality="8bit", top=6),
    "team-32b-h100-any": PlanRequest(model="deepseek-r1-distill-qwen-32b", users=20, gpus=("h100-sxm",),
                                     max_nodes=1, quality="any", top=6),
    "v3-8xh200": PlanRequest(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, tpot_s=0.1,
                             gpus=("h200-sxm",), max_nodes=1, top=6),
    "r1-8xh200": PlanRequest(model="deepseek-r1", users=100, gpus=("h200-sxm",), max_nodes=1, top=6),
    "v3-2x8xh20": PlanRequest(model="deepseek-v3", users=100, gpus=("h20",), max_nodes=2, top=6),
    "r1-2x8xh20": PlanRequest(model="deepseek-r1", users=64, gpus=("h20",), max_nodes=2, top=6),
    "v3-multinode-h100": PlanRequest(model="deepseek-v3", users=64, gpus=("h100-sxm",), max_nodes=4, top=6),
    "r1-mi300x": PlanRequest(model="deepseek-r1", users=64, gpus=("mi300x",), max_nodes=1, top=6),
    "7b-self-quantized": PlanRequest(model="deepseek-r1-distill-qwen-7b", users=4, gpus=("rtx-4090",), max_gpus=1,
                                     quality="4bit", self_quantize=True, weight_formats=("awq-int4", "gguf-q6_k"),
                                     top=6),
    "r1-any-unified": PlanRequest(model="deepseek-r1", users=1, classes=("unified",), quality="any", top=6),
    "r1-4bit": PlanRequest(model="deepseek-r1", users=64, gpus=("h200-sxm", "a100-sxm4-80gb"), max_nodes=2,
                           quality="4bit", top=8),
    # A BF16 release on a GPU without BF16 (Turing, compute capability 7.5): cast to FP16 at load (--dtype half).
    "t4-bf16-cast": PlanRequest(model="qwen3-8b", users=2, gpus=("t4",), max_gpus=4, top=4),
}


@cache
def planned(name: str) -> PlanFile:
    return search(SCENARIOS[name])


def _candidates():
    for name in SCENARIOS:
        plan = planned(name)
        for i in range(len(plan.candidates)):
            yield name, i


CANDIDATES = list(_candidates())


def _one(plan: PlanFile, i: int) -> PlanFile:
    return plan.model_copy(update={"candidates": (plan.candidates[i],), "lower_quality": None})


def _argv(plan: PlanFile, i: int) -> list[str]:
    """The engine command of candidate i as the launch script runs it (leader node: rank 0)."""
    files = {f.path: f.content for f in render_plan(_one(plan, i), ["engine"])}
    text = files.get("engine/serve.sh") or files["engine/serve-node.sh"]
    body = text[text.index("\nexec ") + 6:]
    toks = [t for t in shlex.split(body.replace("\\\n", " ")) if t != "$@"]
    out = []
    for tok in toks:
        tok = re.sub(r"\$\(\([^)]*\)\)", "0", tok)  # shell arithmetic on the node rank (rank 0)
        tok = re.sub(r"\$\{?\w*RANK\w*\}?", "0", tok)
        tok = re.sub(r"\$\{?\w+\}?", "10.0.0.1", tok)
        out.append(tok)
    return out


def test_scenarios_plan_something():
    """At least ten scenarios, each with candidates (a scenario with none would test nothing)."""
    assert len(SCENARIOS) >= 10
    empty = [name for name in SCENARIOS if not planned(name).candidates]
    assert not empty, empty
    assert len(CANDIDATES) >= 40


# --- checkpoints ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,i", CANDIDATES)
def test_candidate_loads_a_real_checkpoint_of_its_format(name, i):
    plan = planned(name)
    c = plan.candidates[i]
    ref = c.checkpoint
    assert ref is not None and ref.weight_format == c.weight_format
    assert quality_allowed(c.quality, plan.quality)
    model = get_model(plan.model.id)
    if ref.provided_by == "quantize-step":
        assert SCENARIOS[name].self_quantize and checkpoint_for(model, c.weight_format, c.engine) is None
        assert ref == quantize_step_checkpoint(model, c.weight_format, c.engine)
        return
    assert ref == checkpoint_for(model, c.weight_format, c.engine)
    if ref.provided_by in ("release", "online"):
        assert ref.repo == plan.model.id
    else:
        listed = [x for x in list_checkpoints() if x.repo == ref.repo and x.weight_format == c.weight_format]
        assert listed and all(x.confirmed for x in listed)
    if c.weight_format.startswith("gguf-"):
        assert ref.hf_tag or ref.file
    if ref.provided_by == "online":  # FP8 quantized at load time, or the release cast to the other 16-bit type
        assert c.engine in ("vllm", "sglang")
        assert (ref.quantization == "fp8") != (ref.dtype in ("half", "bfloat16") and c.weight_format in ("fp16", "bf16"))


WITH_BYTES = [(n, i) for n, i in CANDIDATES if planned(n).candidates[i].checkpoint.bytes
              and planned(n).candidates[i].checkpoint.provided_by != "online"]


def test_published_bytes_are_exercised():
    """The release bytes of V3/R1/distills and Unsloth's GGUF sizes appear among the candidates."""
    assert len(WITH_BYTES) >= 10
    assert {planned(n).candidates[i].checkpoint.provided_by for n, i in WITH_BYTES} >= {"release", "community"}


@pytest.mark.parametrize("name,i", WITH_BYTES)
def test_checkpoint_bytes_match_planned_weights(name, i):
    """Published checkpoint bytes vs the planner's weights (±3%): the whole model, and per GPU when every tensor is
    sharded (TP/PP without attention-DP). DeepSeek-V3's release includes its MTP layer (~2.2%), which engines do not
    load for plain decoding."""
    plan = planned(name)
    c = plan.candidates[i]
    model = get_model(plan.model.id)
    model_tensor_bytes(model, c.weight_format)
    whole = _whole_weights(model.id, c.weight_format)[0]
    assert abs(whole - c.checkpoint.bytes) / c.checkpoint.bytes <= 0.03
    if not c.enable_dp_attention and c.expert_parallel_size == 1:
        shards = c.tensor_parallel_size * c.pipeline_parallel_size
        per_gpu = c.checkpoint.bytes / shards
        assert abs(c.memory.weights_bytes - per_gpu) / per_gpu <= 0.03, (c.memory.weights_bytes, per_gpu)


def test_listed_checkpoints_are_well_formed():
    rows = list_checkpoints()
    assert rows
    for row in rows:
        get_model(row.model)
        assert row.source and row.date
        assert row.provided_by in ("official", "community")
        if row.weight_format.startswith("gguf-"):
            assert row.hf_tag, row


def test_no_checkpoint_means_not_offered():
    """DeepSeek-V3 has no BF16 release and no confirmed BF16 conversion; FP16-released Llama-2 gets no bf16 twin."""
    v3 = get_model("deepseek-v3")
    assert checkpoint_for(v3, "bf16", "vllm") is None
    assert checkpoint_for(v3, "fp8-block", "sglang").provided_by == "release"
    distill = get_model("deepseek-r1-distill-qwen-32b")
    online = checkpoint_for(distill, "fp8", "sglang")
    assert online.provided_by == "online" and online.quantization == "fp8"
    assert checkpoint_for(distill, "fp8", "llama.cpp") is None


def test_quality_tiers():
    assert quality_tier("fp8-block", "fp8-block") == "released"
    assert quality_tier("bf16", "bf16") == "released"
    assert quality_tier("fp8", "bf16") == "8bit"
    assert quality_tier("gguf-q8_0", "bf16") == "8bit"
    assert quality_tier("awq-int4", "fp8-block") == "4bit"
    assert quality_tier("gguf-q4_k_m", "bf16") == "4bit"
    assert quality_tier("gguf-ud-iq1_s", "fp8-block") == "any"
    assert quality_tier("gguf-q2_k", "bf16") == "any"


# --- the "done when" ----------------------------------------------------------------------------------

def test_deepseek_v3_keeps_the_released_fp8_by_default():
    """gpuplan plan deepseek-v3 --users 200 --input-tokens 2000 --output-tokens 1000 --tpot-ms 100."""
    plan = search(PlanRequest(model="deepseek-v3", users=200, input_tokens=2000, output_tokens=1000, tpot_s=0.1))
    assert plan.candidates
    assert {c.weight_format for c in plan.candidates} == {"fp8-block"}
    assert all(c.checkpoint.provided_by == "release" and c.checkpoint.quantization is None for c in plan.candidates)
    if plan.lower_quality is not None:  # a cheaper AWQ option is shown, not chosen
        assert plan.lower_quality.quality in ("8bit", "4bit", "any")


def test_nothing_at_released_quality_shows_the_lower_option():
    """A100 cannot run DeepSeek's FP8 (CC 8.0 < 8.9): the released precision has no candidate; AWQ would."""
    from gpuplan.artifacts.checkpoint_text import lower_quality_sentence
    from gpuplan.i18n import set_language

    plan = search(PlanRequest(model="deepseek-r1", users=16, gpus=("a100-sxm4-80gb",), max_nodes=2))
    assert not plan.candidates
    assert plan.lower_quality is not None and plan.lower_quality.weight_format == "awq-int4"
    set_language("en")
    assert "--quality 4bit" in lower_quality_sentence(plan)


def test_bad_quality_is_one_sentence():
    from gpuplan.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="released, 8bit, 4bit, any"):
        search(PlanRequest(model="deepseek-v3", users=1, quality="best"))


# --- engine_argv ----------------------------------------------------------------------------------------------

def _ref(**kw) -> CheckpointRef:
    return CheckpointRef(**{"repo": "org/model", "weight_format": "bf16", **kw})


def test_sglang_data_parallel_without_dp_attention_gets_dp_size():
    flags = engine_flags(EngineConfig(engine="sglang", checkpoint=_ref(), weight_format="bf16",
                                      tensor_parallel_size=1, data_parallel_size=2, max_seqs=10,
                                      memory_fraction=0.88))
    assert flags["--dp-size"] == 2 and "--enable-dp-attention" not in flags
    vllm = engine_flags(EngineConfig(engine="vllm", checkpoint=_ref(quantization="fp8", weight_format="fp8"),
                                     weight_format="fp8", data_parallel_size=2))
    assert vllm["--data-parallel-size"] == 2 and vllm["--quantization"] == "fp8"


def test_llamacpp_names_the_gguf_and_offload():
    ref = _ref(repo="unsloth/DeepSeek-R1-GGUF", weight_format="gguf-ud-iq1_s", hf_tag="UD-IQ1_S")
    flags = engine_flags(EngineConfig(engine="llama.cpp", checkpoint=ref, weight_format="gguf-ud-iq1_s",
                                      context_tokens=4096, max_seqs=1, offload="experts", cpu_moe_layers=40))
    assert flags["-hf"] == "unsloth/DeepSeek-R1-GGUF:UD-IQ1_S" and flags["--n-cpu-moe"] == 40
    layers = engine_flags(EngineConfig(engine="llama.cpp", checkpoint=ref, weight_format="gguf-q4_k_m",
                                       offload="layers", gpu_layers=30))
    assert layers["--n-gpu-layers"] == 30


# --- the engines' own parsers ---------------------------------------------------------------------------------

@cache
def _sglang_parse():
    pytest.importorskip("sglang.srt.server_args", reason="sglang not installed (.ci/run installs it with --no-deps)")
    from sglang.srt.server_args import prepare_server_args

    return prepare_server_args


@cache
def _vllm_parser():
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")  # vLLM's platform detection: argument parsing only
    pytest.importorskip("vllm.entrypoints.common.cli_args",
                        reason="vllm not installed (.ci/run installs it with --no-deps)")
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


SGLANG = [(n, i) for n, i in CANDIDATES if planned(n).candidates[i].engine == "sglang"]
VLLM = [(n, i) for n, i in CANDIDATES if planned(n).candidates[i].engine == "vllm"]
LLAMA = [(n, i) for n, i in CANDIDATES if planned(n).candidates[i].engine == "llama.cpp"]


def test_every_engine_is_exercised():
    assert SGLANG and VLLM and LLAMA


@pytest.mark.parametrize("name,i", SGLANG)
def test_sglang_parser_reads_the_plan(name, i):
    prepare = _sglang_parse()
    plan = planned(name)
    c = plan.candidates[i]
    argv = _argv(plan, i)
    assert argv[:3] == ["python3", "-m", "sglang.launch_server"]
    args = prepare(argv[3:])
    assert args.model_path == c.checkpoint.repo
    assert args.tp_size == c.tensor_parallel_size
    assert args.dp_size == c.data_parallel_size
    assert bool(args.enable_dp_attention) == c.enable_dp_attention
    assert args.context_length == c.max_model_len
    assert args.quantization == c.checkpoint.quantization
    assert args.dtype == (c.checkpoint.dtype or "auto")
    assert args.mem_fraction_static == c.gpu_memory_utilization
    assert args.max_running_requests == c.max_num_seqs
    assert args.pp_size == c.pipeline_parallel_size
    if c.expert_parallel_size > 1:
        assert args.ep_size == c.expert_parallel_size
    if c.nodes > 1:
        assert args.nnodes == c.nodes


@pytest.mark.parametrize("name,i", VLLM)
def test_vllm_parser_reads_the_plan(name, i):
    parser = _vllm_parser()
    plan = planned(name)
    c = plan.candidates[i]
    argv = _argv(plan, i)
    assert argv[:2] == ["vllm", "serve"]
    args = parser.parse_args(argv[2:])
    assert args.model_tag == c.checkpoint.repo
    assert args.tensor_parallel_size == c.tensor_parallel_size
    assert args.pipeline_parallel_size == c.pipeline_parallel_size
    assert args.data_parallel_size == c.data_parallel_size
    assert args.max_model_len == c.max_model_len
    assert args.gpu_memory_utilization == c.gpu_memory_utilization
    assert args.max_num_seqs == c.max_num_seqs
    assert args.quantization == c.checkpoint.quantization
    assert args.dtype == (c.checkpoint.dtype or "auto")
    if c.kv_dtype.startswith("fp8"):
        assert args.kv_cache_dtype == c.kv_dtype


def _llama_options() -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for line in LLAMA_FLAGS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            names = set(line.split())
            for n in names:
                groups[n] = names
    return groups


@pytest.mark.parametrize("name,i", LLAMA)
def test_llamacpp_flags_exist_and_name_the_gguf(name, i):
    options = _llama_options()
    plan = planned(name)
    c = plan.candidates[i]
    argv = _argv(plan, i)
    flags = [t for t in argv[1:] if t.startswith("-") and not t.lstrip("-").isdigit()]
    unknown = [f for f in flags if f not in options]
    assert not unknown, unknown
    if c.checkpoint.provided_by == "quantize-step":
        assert argv[argv.index("-m") + 1] == c.checkpoint.file
    else:
        assert argv[argv.index("-hf") + 1] == f"{c.checkpoint.repo}:{c.checkpoint.hf_tag}"
    assert int(argv[argv.index("--parallel") + 1]) == c.max_num_seqs
    assert int(argv[argv.index("--ctx-size") + 1]) == c.max_model_len * c.max_num_seqs


def test_self_quantized_candidates_render_their_quantization_step():
    """--self-quantize: the AWQ/GGUF the 7B has no published checkpoint for is made by engine/quantize.sh, whose
    output path is what the launch command loads; the embedded Python is valid; shellcheck when installed."""
    import ast
    import shutil
    import subprocess

    plan = planned("7b-self-quantized")
    made = [i for i, c in enumerate(plan.candidates) if c.checkpoint.provided_by == "quantize-step"]
    assert {plan.candidates[i].weight_format for i in made} == {"awq-int4", "gguf-q6_k"}
    for i in made:
        c = plan.candidates[i]
        files = {f.path: f.content for f in render_plan(_one(plan, i), ["engine"])}
        script = files["engine/quantize.sh"]
        target = c.checkpoint.file if c.weight_format.startswith("gguf-") else c.checkpoint.repo
        assert shlex.quote(target) in script and target in " ".join(_argv(plan, i))
        if "<<'PY'" in script:
            ast.parse(script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0])
        if shutil.which("shellcheck"):
            proc = subprocess.run(["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout
    assert not search(SCENARIOS["7b-self-quantized"].model_copy(update={"self_quantize": False})).candidates


def test_fit_rows_carry_launch_flags_the_engines_accept():
    """fit on one RTX 4090 with 64 GiB RAM (issue 11: 70B with RAM offload): the llama.cpp rows name their GGUF and
    offload (-ngl N for layers, --cpu-moe for MoE experts) with llama-server's own option names; the vLLM rows parse
    with vLLM's parser back to the row's numbers."""
    from gpuplan.plan.fit import fit_machine

    rows = fit_machine("rtx-4090", ram_bytes=64 * 2**30)
    options = _llama_options()
    hybrid = [r for r in rows if r.placement == "hybrid"]
    assert any(r.model == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B" for r in hybrid)
    for r in hybrid:
        assert set(r.engine_args) <= set(options), r.engine_args
        assert r.engine_args["-hf"] == f"{r.checkpoint.repo}:{r.checkpoint.hf_tag}"
        assert "--cpu-moe" in r.engine_args or 0 < r.engine_args["--n-gpu-layers"] < 999
    parser = _vllm_parser()
    for r in (r for r in rows if r.engine == "vllm"):
        argv = [r.checkpoint.repo] + [tok for k, v in r.engine_args.items() for tok in ((k,) if v is True else (k, str(v)))]
        args = parser.parse_args(argv)
        assert args.model_tag == r.checkpoint.repo and args.max_num_seqs == 1
        assert args.quantization == r.checkpoint.quantization


def test_every_catalog_model_has_its_release_checkpoint():
    from gpuplan.catalog import list_models
    from gpuplan.catalog.checkpoints import release_checkpoint

    for model in list_models():
        ref = release_checkpoint(model)
        assert ref.repo == model.id and ref.provided_by == "release" and ref.quantization is None


def test_a_bf16_release_runs_cast_to_fp16_only_where_bf16_cannot():
    # vLLM on a GPU below compute capability 8.0: "Bfloat16 is only supported on GPUs with compute capability of at
    # least 8.0 ... You can use float16 instead by explicitly setting the `dtype` flag in CLI, for example:
    # --dtype=half" (vllm/platforms/cuda.py). The cast keeps 16 bits per weight: same memory, quality tier "released".
    t4 = planned("t4-bf16-cast")
    assert t4.candidates and all(c.weight_format == "fp16" and c.checkpoint.dtype == "half"
                                 and c.checkpoint.provided_by == "online" and c.checkpoint.repo == "Qwen/Qwen3-8B"
                                 for c in t4.candidates if c.engine in ("vllm", "sglang"))
    assert any("--dtype" in _argv(t4, i) for i in range(len(t4.candidates)))
    # On a GPU with BF16 the release is loaded as released: no cast candidate doubles the search.
    l40s = search(PlanRequest(model="qwen3-8b", users=2, gpus=("l40s",), max_gpus=2, top=10))
    assert l40s.candidates and not [c for c in l40s.candidates if c.weight_format == "fp16"]
