"""One source of truth for engine flags: a candidate's engine configuration → each engine's argv (STYLE §12).

The planner stores ``engine_flags(config)`` in the candidate (``engine_args``) and ``render`` writes those flags
verbatim after ``model_args(config)``; nothing else spells an engine flag for a plan. Flag names and spellings are the
engines' own, checked in the tests by the engines' own parsers (SGLang ``prepare_server_args``, vLLM's
``make_arg_parser``) and by llama-server's option list:

* vLLM (``vllm serve``): ``--tensor-parallel-size``, ``--pipeline-parallel-size``, ``--data-parallel-size``,
  ``--enable-expert-parallel``, ``--max-model-len``, ``--gpu-memory-utilization``, ``--max-num-seqs``,
  ``--max-num-batched-tokens``, ``--block-size``, ``--kv-cache-dtype``, ``--quantization``, ``--revision``.
* SGLang (``python3 -m sglang.launch_server``): ``--tp-size``, ``--pp-size``, ``--dp-size`` (data-parallel replicas,
  or attention-DP ranks with ``--enable-dp-attention``), ``--ep-size``, ``--context-length``,
  ``--mem-fraction-static``, ``--max-running-requests``, ``--kv-cache-dtype`` (``fp8_e4m3``: SGLang has no bare
  ``fp8``), ``--quantization``, ``--revision``. SGLang 0.5.23 (the pinned image) marks ``--enable-dp-attention``
  deprecated in favour of ``--attn-dp-size N`` (removal announced after 2026-12-31, server_args.py); both parse to
  the same attention-DP width, and the rendered ``--dp-size N --enable-dp-attention`` is what its parser reads back
  as ``dp_size``/``enable_dp_attention`` — switch when the pinned image moves past the removal.
* llama.cpp (``llama-server``): ``-hf repo:tag`` (or ``-m path``), ``--ctx-size`` (shared by ``--parallel`` slots,
  tools/server/README.md), ``--parallel``, ``--n-gpu-layers``, ``--n-cpu-moe`` (MoE experts of the first N layers in
  host RAM), ``--split-mode layer`` over several GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuplan.catalog.checkpoints import CheckpointRef

#: Engines whose flags this module spells (TensorRT-LLM and vLLM-Ascend are still spelled by the planner).
ARGV_ENGINES = ("vllm", "sglang", "llama.cpp", "ollama")
#: llama.cpp: "offload all layers" (any number above the layer count does; README examples use 99/999).
ALL_LAYERS = 999
#: SGLang KV dtype spelling for FP8 (server_args choices: auto, fp8_e5m2, fp8_e4m3, bf16).
SGLANG_KV_FP8 = "fp8_e4m3"


@dataclass(frozen=True)
class EngineConfig:
    """What an engine must be told to realize a candidate (numbers as the memory model assumed them)."""

    engine: str
    checkpoint: CheckpointRef | None
    weight_format: str
    kv_dtype: str = "auto"
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    expert_parallel_size: int = 1
    enable_dp_attention: bool = False
    context_tokens: int = 4096
    max_seqs: int = 1
    memory_fraction: float | None = None
    max_num_batched_tokens: int | None = None
    block_size: int | None = None
    offload: str = "none"  # none | experts | layers
    gpu_layers: int | None = None
    cpu_moe_layers: int | None = None


def engine_flags(cfg: EngineConfig) -> dict[str, object]:
    """The flags (``True`` = a switch) in the engine's own spelling, in a stable order."""
    builder = {"vllm": _vllm, "sglang": _sglang, "llama.cpp": _llama, "ollama": _llama}.get(cfg.engine)
    return builder(cfg) if builder else {}


def _quantization(cfg: EngineConfig) -> str | None:
    return cfg.checkpoint.quantization if cfg.checkpoint is not None else None


def _vllm(cfg: EngineConfig) -> dict[str, object]:
    args: dict[str, object] = {
        "--tensor-parallel-size": cfg.tensor_parallel_size,
        "--pipeline-parallel-size": cfg.pipeline_parallel_size,
        "--max-model-len": cfg.context_tokens,
    }
    if cfg.memory_fraction is not None:
        args["--gpu-memory-utilization"] = cfg.memory_fraction
    args["--max-num-seqs"] = cfg.max_seqs
    if cfg.max_num_batched_tokens is not None:
        args["--max-num-batched-tokens"] = cfg.max_num_batched_tokens
    if cfg.block_size is not None:
        args["--block-size"] = cfg.block_size
    if cfg.kv_dtype.startswith("fp8"):
        args["--kv-cache-dtype"] = cfg.kv_dtype
    if cfg.data_parallel_size > 1:
        args["--data-parallel-size"] = cfg.data_parallel_size
    if cfg.expert_parallel_size > 1:
        args["--enable-expert-parallel"] = True
    return {**args, **_checkpoint_args(cfg)}


def _checkpoint_args(cfg: EngineConfig) -> dict[str, object]:
    """The flags vLLM and SGLang share for what they load: the quantization method and the pinned revision."""
    args: dict[str, object] = {}
    quant = _quantization(cfg)
    if quant:
        args["--quantization"] = quant
    if cfg.checkpoint is not None and cfg.checkpoint.dtype:
        args["--dtype"] = cfg.checkpoint.dtype
    if cfg.checkpoint is not None and cfg.checkpoint.revision:
        args["--revision"] = cfg.checkpoint.revision
    return args


def _sglang(cfg: EngineConfig) -> dict[str, object]:
    args: dict[str, object] = {"--tp-size": cfg.tensor_parallel_size, "--context-length": cfg.context_tokens}
    if cfg.memory_fraction is not None:
        args["--mem-fraction-static"] = cfg.memory_fraction
    args["--max-running-requests"] = cfg.max_seqs
    if cfg.pipeline_parallel_size > 1:
        args["--pp-size"] = cfg.pipeline_parallel_size
    if cfg.data_parallel_size > 1:
        # Without DP-attention, --dp-size runs that many full replicas (each with --tp-size GPUs) behind SGLang's
        # built-in data-parallel controller; with it, attention is split over dp ranks inside the TP group.
        args["--dp-size"] = cfg.data_parallel_size
        if cfg.enable_dp_attention:
            args["--enable-dp-attention"] = True
    if cfg.expert_parallel_size > 1:
        args["--ep-size"] = cfg.expert_parallel_size
    if cfg.kv_dtype.startswith("fp8"):
        args["--kv-cache-dtype"] = SGLANG_KV_FP8
    return {**args, **_checkpoint_args(cfg)}


def _llama(cfg: EngineConfig) -> dict[str, object]:
    args: dict[str, object] = {}
    ref = cfg.checkpoint
    if ref is not None and ref.provided_by == "quantize-step" and ref.file:
        args["-m"] = ref.file  # written by the rendered quantization step (engine/quantize.sh)
    elif ref is not None and ref.hf_tag:
        args["-hf"] = f"{ref.repo}:{ref.hf_tag}"
    elif ref is not None and ref.file:
        args["-hf"] = ref.repo
        args["--hf-file"] = ref.file
    args["--ctx-size"] = cfg.context_tokens * cfg.max_seqs
    args["--parallel"] = cfg.max_seqs
    layers = ALL_LAYERS if cfg.offload != "layers" or cfg.gpu_layers is None else cfg.gpu_layers
    args["--n-gpu-layers"] = layers
    if cfg.offload == "experts":
        # MoE experts in host RAM: --n-cpu-moe N keeps the experts of the first N layers on the CPU (llama.cpp
        # common/arg.cpp); without a count, all of them (--cpu-moe).
        if cfg.cpu_moe_layers is not None:
            args["--n-cpu-moe"] = cfg.cpu_moe_layers
        else:
            args["--cpu-moe"] = True
    if cfg.pipeline_parallel_size > 1:
        args["--split-mode"] = "layer"
    return args


def model_args(engine: str, checkpoint: CheckpointRef | None, release_repo: str) -> list[str]:
    """The tokens naming the weights: vLLM's positional model, SGLang's ``--model-path`` (the checkpoint's
    repository, else the release). llama.cpp names its GGUF inside ``engine_flags`` (``-hf``)."""
    repo = checkpoint.repo if checkpoint is not None else release_repo
    if engine == "vllm":
        return [repo]
    if engine in ("sglang", "ktransformers"):
        return ["--model-path", repo]
    if engine == "trtllm":
        return [repo]
    return []


def ollama_model_ref(checkpoint: CheckpointRef | None) -> str | None:
    """Ollama pulls a GGUF from the Hub by name ``hf.co/<repo>:<quant tag>`` (Ollama docs, "Use Ollama with any GGUF
    model on Hugging Face Hub"); None when the checkpoint names no tag (the Modelfile then points at a local file)."""
    if checkpoint is not None and checkpoint.hf_tag:
        return f"hf.co/{checkpoint.repo}:{checkpoint.hf_tag}"
    if checkpoint is not None and checkpoint.provided_by == "quantize-step" and checkpoint.file:
        return checkpoint.file
    return None
