"""Checkpoints and quality (DESIGN §4): which artifact provides a model in a weight format, and what the format costs.

A plan only promises what can be loaded. For a catalog model and a weight format the provider is, in this order:

1. the **release** itself, when the format is the released one (DeepSeek-V3/R1: FP8 with 128×128 block scales; most
   others: BF16/FP16). No ``--quantization`` flag: the engines read ``quantization_config`` from the config
   ("The official DeepSeek V3 is already in FP8 format, so you should not run it with any quantization arguments",
   SGLang docs/basic_usage/deepseek_v3.md);
2. a **listed artifact** (``data/checkpoints.toml``): an official or community AWQ/GPTQ repository or a GGUF file,
   each with the source where it was seen; entries not confirmed by a source are never offered;
3. **online FP8** from a 16-bit release: vLLM and SGLang quantize the weights at load time with
   ``--quantization fp8`` (vLLM docs features/quantization/fp8 "dynamic quantization"; SGLang server_args); and the
   **other 16-bit type** of a BF16/FP16 release, cast at load time with ``--dtype half|bfloat16`` (vLLM engine args
   ``--dtype``; its error on a GPU below compute capability 8.0: "Bfloat16 is only supported on GPUs with compute
   capability of at least 8.0 ... You can use float16 instead by explicitly setting the `dtype` flag in CLI, for
   example: --dtype=half"; SGLang server_args ``--dtype``): how a BF16 model runs on a T4, V100 or RTX 2080 Ti;
4. only when the user allows self-quantized formats: a **quantization step** the render writes (``quantize.sh``):
   AWQ W4A16 with llm-compressor (compressed-tensors output, read by vLLM and SGLang) or GGUF with llama.cpp's
   ``convert_hf_to_gguf.py`` + ``llama-quantize``, from a 16-bit release.

Anything else has no checkpoint and is not offered. Quality tiers order the formats by what they keep of the
released weights: ``released`` ⊂ ``8bit`` ⊂ ``4bit`` ⊂ ``any``.
"""

from __future__ import annotations

from functools import cache
from typing import Literal, get_args

from gpuplan.catalog.datafiles import shipped_toml
from gpuplan.catalog.models import ModelEntry
from gpuplan.records import Record, record

QUALITY_LEVELS = ("released", "8bit", "4bit", "any")
SIXTEEN_BIT = ("bf16", "fp16")
#: Engines that load the listed GGUF files.
GGUF_ENGINES = ("llama.cpp", "ollama", "ktransformers")
#: Engines that read an AWQ/GPTQ repository's quantization_config themselves (vLLM and SGLang quantization docs);
#: TensorRT-LLM and vLLM-Ascend want their own quantized formats (ModelOpt, msModelSlim), so none is offered there.
QUANTIZED_REPO_ENGINES = ("vllm", "sglang")
#: Engines that quantize a 16-bit release to FP8 at load time (``--quantization fp8``).
ONLINE_FP8_ENGINES = ("vllm", "sglang")
#: Engines that cast a 16-bit release to the other 16-bit type at load time (``--dtype``), and their spelling.
DTYPE_CAST_ENGINES = ("vllm", "sglang", "vllm-ascend")  # vLLM-Ascend keeps vLLM's EngineArgs (--dtype)
DTYPE_FLAG = {"fp16": "half", "bf16": "bfloat16"}
#: GGUF base types by quality tier (llama.cpp ggml types: 8-bit and F16 keep 8+ bits; K/IQ types from 4 to 6 bits).
_GGUF_8BIT = ("F16", "BF16", "Q8_0")
_GGUF_4BIT_PREFIXES = ("Q6_K", "Q5_", "Q4_", "IQ4_")

Provider = Literal["release", "official", "community", "online", "quantize-step"]
#: Where a rendered quantization step writes its output (the containers' model cache, artifacts.common).
QUANTIZED_DIR = "/models"


# Frozen dataclasses (gpuplan.records), not pydantic: `gpuplan plan` starts without pydantic (issue 16). A plan
# file's checkpoint is still checked on loading (planfile validates the annotations, then _BOUNDS and _CHOICES).
@record
class CheckpointRef(Record):
    """The artifact a candidate loads: repository (and GGUF file/tag), revision, the flag the engine needs."""

    repo: str
    weight_format: str
    file: str | None = None
    hf_tag: str | None = None
    revision: str | None = None
    method: str | None = None
    quantization: str | None = None
    #: ``--dtype`` the engine is started with when it casts a 16-bit release to the other 16-bit type.
    dtype: Literal["half", "bfloat16"] | None = None
    bytes: int | None = None
    provided_by: Provider = "release"
    source: str | None = None
    date: str | None = None

    _BOUNDS = {
        "repo": {"minLength": 1, "maxLength": 200}, "weight_format": {"minLength": 1, "maxLength": 40},
        "file": {"maxLength": 300}, "hf_tag": {"maxLength": 40}, "revision": {"maxLength": 64},
        "method": {"maxLength": 40}, "quantization": {"maxLength": 40}, "bytes": {"minimum": 0},
        "source": {"maxLength": 8000}, "date": {"maxLength": 20},
    }
    _CHOICES = {"dtype": ("half", "bfloat16", None), "provided_by": get_args(Provider)}


@record(kw_only=True)
class ListedCheckpoint(CheckpointRef):
    """One row of ``checkpoints.toml``."""

    model: str
    confirmed: bool = False


@record
class QualityNote(Record):
    """What a format is known to cost in quality (i18n key of the sentence, and its source; '' = unknown)."""

    tier: str
    note: str
    source: str = ""


@cache
def list_checkpoints() -> tuple[ListedCheckpoint, ...]:
    """Every listed artifact, confirmed or not, in file order."""
    rows = shipped_toml("checkpoints.toml").get("checkpoint", [])
    out = []
    for row in rows:
        clean = {k: (v if v not in ("", 0) else None) for k, v in row.items()}
        clean.setdefault("confirmed", False)
        clean["confirmed"] = bool(row.get("confirmed", False))
        out.append(ListedCheckpoint(**clean))
    return tuple(out)


@cache
def _listed_index() -> dict[tuple[str, str], ListedCheckpoint]:
    idx: dict[tuple[str, str], ListedCheckpoint] = {}
    for c in list_checkpoints():
        if c.confirmed:
            idx.setdefault((c.model.lower(), c.weight_format), c)
    return idx


def native_format_of(model: ModelEntry) -> str:
    return model.checkpoint.weight_format or "bf16"


def release_checkpoint(model: ModelEntry) -> CheckpointRef:
    """The model's own release: its repository, in its released format, no quantization flag."""
    fmt = native_format_of(model)
    return CheckpointRef(repo=model.id, weight_format=fmt, method=None if fmt in SIXTEEN_BIT else fmt,
                         bytes=model.checkpoint.bytes, provided_by="release",
                         source=model.checkpoint.bytes_source or model.config_source)


def checkpoint_for(model: ModelEntry, weight_format: str, engine: str) -> CheckpointRef | None:
    """The artifact that provides ``model`` in ``weight_format`` for ``engine``; None when none exists."""
    native = native_format_of(model)
    if weight_format == native:
        return release_checkpoint(model)
    listed = _listed_index().get((model.id.lower(), weight_format))
    if listed is not None:
        if weight_format.startswith("gguf-"):
            ok = engine in GGUF_ENGINES
        else:
            ok = engine in QUANTIZED_REPO_ENGINES
        if not ok:
            return None  # fail closed: no evidence this engine loads this kind of artifact
        return CheckpointRef(**listed.model_dump(exclude={"model", "confirmed"}))
    if weight_format == "fp8" and native in SIXTEEN_BIT and engine in ONLINE_FP8_ENGINES:
        return CheckpointRef(repo=model.id, weight_format="fp8", method=native, quantization="fp8",
                             bytes=model.checkpoint.bytes, provided_by="online",
                             source="vLLM docs features/quantization/fp8 (dynamic FP8 at load time); SGLang "
                                    "server_args --quantization fp8")
    if weight_format in SIXTEEN_BIT and native in SIXTEEN_BIT and engine in DTYPE_CAST_ENGINES:
        return CheckpointRef(repo=model.id, weight_format=weight_format, method=native,
                             dtype=DTYPE_FLAG[weight_format], bytes=model.checkpoint.bytes, provided_by="online",
                             source="vLLM engine args --dtype (cast at load time; 'Bfloat16 is only supported on "
                                    "GPUs with compute capability of at least 8.0 ... --dtype=half'); SGLang "
                                    "server_args --dtype")
    return None


def quantize_step_checkpoint(model: ModelEntry, weight_format: str, engine: str) -> CheckpointRef | None:
    """The artifact a rendered quantization step would produce from a 16-bit release, or None when gpuplan has no
    step for this format/engine (DeepSeek's FP8 releases would first need a BF16 conversion: not offered)."""
    native = native_format_of(model)
    if native not in SIXTEEN_BIT:
        return None
    name = model.id.split("/")[-1]
    if weight_format == "awq-int4" and engine in ("vllm", "sglang"):
        return CheckpointRef(repo=f"{QUANTIZED_DIR}/{name}-W4A16", weight_format=weight_format,
                             method="compressed-tensors", provided_by="quantize-step",
                             source="llm-compressor oneshot + AWQModifier(scheme='W4A16_ASYM', targets=['Linear'], "
                                    "ignore=['lm_head']) (docs.vllm.ai/projects/llm-compressor, oneshot guide)")
    ftype = (_format_rows().get(weight_format, {}).get("gguf_ftype") or "")
    if (weight_format.startswith("gguf-") and not weight_format.startswith("gguf-ud-") and ftype
            and engine in ("llama.cpp", "ollama")):
        return CheckpointRef(repo=model.id, weight_format=weight_format, file=f"{QUANTIZED_DIR}/{name}-{ftype}.gguf",
                             method="gguf", provided_by="quantize-step",
                             source="llama.cpp convert_hf_to_gguf.py --outtype bf16, then llama-quantize <in> <out> "
                                    f"{ftype} (tools/quantize/README.md)")
    return None


@cache
def _format_rows() -> dict:
    return shipped_toml("formats.toml")


def quality_tier(weight_format: str, native: str) -> str:
    """``released`` when the format keeps the released precision (or more), else ``8bit``, ``4bit`` or ``any``."""
    if weight_format == native:
        return "released"
    row = _format_rows().get(weight_format, {})
    native_row = _format_rows().get(native, {})
    bits = row.get("weight_bits")
    native_bits = native_row.get("weight_bits")
    if bits is not None and native_bits is not None and bits >= native_bits:
        return "released"
    ftype = (row.get("gguf_ftype") or "").upper()
    if ftype:
        if weight_format.startswith("gguf-ud-"):
            return "any"  # dynamic low-bit mixes (most MoE weights at 1.5-2.5 bits)
        if ftype in _GGUF_8BIT:
            return "8bit"
        if ftype.startswith(_GGUF_4BIT_PREFIXES):
            return "4bit"
        return "any"
    if bits is None:
        return "any"
    if bits >= 8:
        return "8bit"
    if bits >= 4:
        return "4bit"
    return "any"


def quality_allowed(tier: str, allowed: str) -> bool:
    """Whether a format of ``tier`` may be chosen when the user allows ``allowed``."""
    return QUALITY_LEVELS.index(tier) <= QUALITY_LEVELS.index(allowed)


def quality_note(weight_format: str, native: str) -> QualityNote:
    """The known quality cost of a format vs the release (``released`` formats cost nothing by definition)."""
    tier = quality_tier(weight_format, native)
    if tier == "released":
        return QualityNote(tier=tier, note="released")
    row = shipped_toml("checkpoints.toml").get("quality", {}).get(weight_format)
    if not row:
        return QualityNote(tier=tier, note="unknown")
    return QualityNote(tier=tier, note=row.get("note", "unknown"), source=row.get("source", ""))
