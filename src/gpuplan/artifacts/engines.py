"""Engine launch commands with exactly the flags the plan assumed, spelled as each engine spells them.

The plan's ``engine_args`` (written by the memory model, keyed in the engine's own spelling) is the source. What
is added here is listed in ``ADDED_FLAGS_DOC``: model reference, host/port, served name, metrics switches,
``--trust-remote-code`` for DeepSeek V3-family checkpoints, and the engine's multi-node rendezvous flags.
Two corrections are applied and stated in the file header:

* DeepSeek's native FP8 block checkpoints get no ``--quantization`` ("The official DeepSeek V3 is already in FP8
  format, so you should not run it with any quantization arguments", SGLang docs/basic_usage/deepseek_v3.md; vLLM
  reads ``quantization_config`` from config.json).
* SGLang has no bare ``fp8`` KV dtype (choices auto/fp8_e5m2/fp8_e4m3/bf16, sglang server_args); ``fp8`` → ``fp8_e4m3``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gpuplan.artifacts.common import DEEPSEEK_NATIVE_FP8_FORMATS, MODEL_CACHE_PATH, RenderContext
from gpuplan.artifacts.engine_argv import model_args
from gpuplan.errors import InvalidInputError, UnsupportedError
from gpuplan.i18n import t

SERVING_ENGINES = ("vllm", "sglang", "llama.cpp", "ollama", "ktransformers", "trtllm", "vllm-ascend")

#: SGLang's multi-node rendezvous port used in its LWS example (`--dist-init-addr $(LWS_LEADER_ADDRESS):20000`,
#: sglang docs/references/multi_node_inference_k8s_lws.md).
SGLANG_DIST_PORT = 20000
#: vLLM mp-backend master port default (vllm/config/parallel.py `--master-port` default 29501).
VLLM_MASTER_PORT = 29501

QUANTIZATION_FLAGS = ("--quantization", "-q")
KV_DTYPE_FLAGS = ("--kv-cache-dtype",)


@dataclass(frozen=True)
class Rendezvous:
    """How one process finds the others: node count, this node's rank, the leader's address (shell or k8s syntax)."""

    nnodes: int
    node_rank: str
    leader_addr: str
    headless: bool | None = None  # None: decided at run time by the script (rank > 0)
    dp_start_rank: str | None = None  # vLLM multi-node data parallel: this node's first DP rank (shell arithmetic)


@dataclass(frozen=True)
class EngineLaunch:
    """An engine invocation: argv tokens, environment, and notes on what was corrected."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    config_files: dict[str, str] = field(default_factory=dict)


def _fmt_value(value: object) -> str:
    """Engine CLI spelling of a value: JSON for dicts, comma-joined lists, shortest float repr."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, list | tuple):
        return ",".join(_fmt_value(v) for v in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def plan_flags(ctx: RenderContext) -> tuple[list[tuple[str, object]], list[str], dict[str, object]]:
    """(flags as (name, value), correction notes, non-flag keys) from the plan's engine_args."""
    c = ctx.cand
    flags: list[tuple[str, object]] = []
    notes: list[str] = []
    extra: dict[str, object] = {}
    for key, value in c.engine_args.items():
        if not key.startswith("-"):
            extra[key] = value
            continue
        if key in QUANTIZATION_FLAGS and c.weight_format in DEEPSEEK_NATIVE_FP8_FORMATS:
            notes.append(t("render.note_dropped_quant", flag=f"{key} {value}"))
            continue
        if key in KV_DTYPE_FLAGS and c.engine in ("sglang", "ktransformers") and value == "fp8":
            notes.append(t("render.note_kv_fp8", given=value, used="fp8_e4m3"))
            value = "fp8_e4m3"
        if value is None or value is False:
            continue
        flags.append((key, value))
    return flags, notes, extra


def _tokens(flags: list[tuple[str, object]]) -> list[str]:
    out: list[str] = []
    for key, value in flags:
        out.append(key)
        if value is not True:
            out.append(_fmt_value(value))
    return out


def gguf_path(ctx: RenderContext) -> str:
    """Default GGUF location for llama.cpp/Ollama when the plan names no file: /models/<repo>-<FORMAT>.gguf."""
    fmt = ctx.cand.weight_format.upper().removeprefix("GGUF-")
    return f"{MODEL_CACHE_PATH}/{ctx.served_model_name}-{fmt}.gguf"


def _has_any(flags: list[tuple[str, object]], names: tuple[str, ...]) -> bool:
    return any(k in names for k, _ in flags)


def launch(ctx: RenderContext, rdv: Rendezvous | None = None) -> EngineLaunch:
    """The engine command for this plan (one node; ``rdv`` adds the engine's multi-node flags)."""
    engine = ctx.engine
    if engine not in SERVING_ENGINES:
        raise UnsupportedError("render.unsupported_engine", given=engine, allowed=", ".join(SERVING_ENGINES))
    if engine == "ktransformers" and not any(str(k).startswith("--kt-") for k in ctx.cand.engine_args):
        # Fail closed: KTransformers runs inside SGLang with its own --kt-* flags (expert weights converted for the
        # CPU kernels, CPU threads per NUMA node, experts kept on the GPU) that the planner does not write yet; a plain
        # SGLang launch would ignore the plan's context, memory and sequence limits and its CPU/GPU split. A plan
        # whose engine_args carry the --kt-* flags (written by hand) is launched with them.
        raise UnsupportedError("qa.no_ktransformers_render")
    flags, notes, extra = plan_flags(ctx)
    if extra and engine != "trtllm":
        raise InvalidInputError("render.bad_engine_arg", given=", ".join(sorted(extra)), engine=engine)
    # vLLM-Ascend is vLLM with the Ascend platform plugin: the same `vllm serve` CLI (artifacts/ascend.py).
    builder = {"vllm": _vllm, "vllm-ascend": _vllm, "sglang": _sglang, "ktransformers": _sglang, "llama.cpp": _llama,
               "ollama": _llama, "trtllm": _trtllm}[engine]
    return builder(ctx, flags, tuple(notes), extra, rdv)


def _vllm(ctx, flags, notes, extra, rdv) -> EngineLaunch:
    argv = ["vllm", "serve", *model_args("vllm", ctx.cand.checkpoint, ctx.model_id), "--host", "0.0.0.0",
            "--port", str(ctx.port),
            "--served-model-name", ctx.served_model_name]
    if ctx.is_deepseek_native and not _has_any(flags, ("--trust-remote-code",)):
        argv.append("--trust-remote-code")
    argv += _tokens(flags)
    if rdv is not None and rdv.nnodes > 1:
        if vllm_dp_size(ctx) > 1:
            # Multi-node data parallel (recipes command-synthesis multi_node_dep): DP ranks per node, the leader's
            # address, and this node's first DP rank; non-leader nodes run headless.
            argv += ["--data-parallel-size-local", str(vllm_dp_size(ctx) // rdv.nnodes),
                     "--data-parallel-address", rdv.leader_addr,
                     "--data-parallel-start-rank", rdv.dp_start_rank or "0"]
        else:
            # vLLM mp-backend multi-node (vllm/config/parallel.py; recipes multi_node_tp/_tp_pp).
            argv += ["--nnodes", str(rdv.nnodes), "--node-rank", rdv.node_rank, "--master-addr", rdv.leader_addr,
                     "--master-port", str(VLLM_MASTER_PORT)]
        if rdv.headless:
            argv.append("--headless")
    return EngineLaunch(tuple(argv), notes=notes)


def vllm_dp_size(ctx: RenderContext) -> int:
    """The data-parallel size vLLM was told (engine_args), else the candidate's."""
    value = ctx.cand.engine_args.get("--data-parallel-size", ctx.cand.engine_args.get("-dp"))
    return int(value) if value is not None else ctx.cand.data_parallel_size


def vllm_dp_local(ctx: RenderContext) -> int:
    return max(1, vllm_dp_size(ctx) // max(1, ctx.cand.nodes))


def _sglang(ctx, flags, notes, extra, rdv) -> EngineLaunch:
    argv = ["python3", "-m", "sglang.launch_server", *model_args("sglang", ctx.cand.checkpoint, ctx.model_id),
            "--host", "0.0.0.0",
            "--port", str(ctx.port), "--served-model-name", ctx.served_model_name]
    if ctx.is_deepseek_native and not _has_any(flags, ("--trust-remote-code",)):
        argv.append("--trust-remote-code")
    if not _has_any(flags, ("--enable-metrics",)):
        argv.append("--enable-metrics")  # off by default; the alert rules read sglang:* metrics
    argv += _tokens(flags)
    if rdv is not None and rdv.nnodes > 1:
        argv += ["--nnodes", str(rdv.nnodes), "--node-rank", rdv.node_rank,
                 "--dist-init-addr", f"{rdv.leader_addr}:{SGLANG_DIST_PORT}"]
    return EngineLaunch(tuple(argv), notes=notes)


def _llama(ctx, flags, notes, extra, rdv) -> EngineLaunch:
    if rdv is not None and rdv.nnodes > 1:
        raise UnsupportedError("render.no_multinode", engine=ctx.engine)
    argv = ["llama-server"]
    if not _has_any(flags, ("-m", "--model", "-hf", "-hfr", "--hf-repo")):
        argv += ["-m", gguf_path(ctx)]
    argv += ["--host", "0.0.0.0", "--port", str(ctx.port), "--alias", ctx.served_model_name]
    if not _has_any(flags, ("--metrics",)):
        argv.append("--metrics")  # /metrics is off by default (tools/server/README.md)
    argv += _tokens(flags)
    return EngineLaunch(tuple(argv), notes=notes)


def _trtllm(ctx, flags, notes, extra, rdv) -> EngineLaunch:
    if rdv is not None and rdv.nnodes > 1:
        raise UnsupportedError("render.no_multinode", engine=ctx.engine)
    argv = ["trtllm-serve", *model_args("trtllm", ctx.cand.checkpoint, ctx.model_id), "--host", "0.0.0.0",
            "--port", str(ctx.port)]
    if ctx.is_deepseek_native and not _has_any(flags, ("--trust_remote_code",)):
        argv.append("--trust_remote_code")
    argv += _tokens(flags)
    files: dict[str, str] = {}
    if extra:
        import yaml

        files["trtllm-config.yml"] = yaml.safe_dump(extra, sort_keys=True)
        argv += ["--config", "trtllm-config.yml"]  # renamed from --extra_llm_api_options in 1.2 (ecosystem.md §1.7)
    return EngineLaunch(tuple(argv), notes=notes, config_files=files)


def shell_join(argv: tuple[str, ...] | list[str], keep_vars: bool = False) -> str:
    """argv as a shell line, one flag per continuation line; ``keep_vars`` leaves "$VAR" tokens expandable."""
    from gpuplan.artifacts.quoting import shell_word

    parts = [shell_word(tok, keep_vars) for tok in argv]
    lines: list[str] = []
    current: list[str] = []
    for tok in parts:
        if tok.startswith("-") and current:
            lines.append(" ".join(current))
            current = []
        current.append(tok)
    if current:
        lines.append(" ".join(current))
    return " \\\n  ".join(lines)


# --- Ollama (a llama.cpp flavour) -----------------------------------------------------------------------------

def _flag_value(flags: list[tuple[str, object]], *names: str) -> object | None:
    for key, value in flags:
        if key in names:
            return value
    return None


@dataclass(frozen=True)
class OllamaSetup:
    """Modelfile parameters and server environment equivalent to the llama.cpp flags the plan assumed."""

    num_ctx: int | None
    num_gpu: int | None
    num_parallel: int | None
    kv_cache_type: str | None


def ollama_setup(ctx: RenderContext) -> OllamaSetup:
    """Map llama-server flags to Ollama: per-request context = --ctx-size / --parallel (llama-server splits the
    context across slots, tools/server/README.md); ``num_gpu`` = offloaded layers, not GPU count
    (ollama/ollama-python#603); OLLAMA_NUM_PARALLEL = slots; OLLAMA_KV_CACHE_TYPE = -ctk (envconfig/config.go)."""
    flags, _, _ = plan_flags(ctx)
    ctx_size = _flag_value(flags, "-c", "--ctx-size")
    parallel = _flag_value(flags, "-np", "--parallel")
    ngl = _flag_value(flags, "-ngl", "--gpu-layers", "--n-gpu-layers")
    kv = _flag_value(flags, "-ctk", "--cache-type-k")
    num_parallel = int(parallel) if parallel is not None else None
    num_ctx = None
    if ctx_size is not None:
        num_ctx = int(ctx_size) // (num_parallel or 1)
    return OllamaSetup(num_ctx=num_ctx, num_gpu=int(ngl) if ngl is not None else None, num_parallel=num_parallel,
                       kv_cache_type=str(kv) if kv is not None else None)
