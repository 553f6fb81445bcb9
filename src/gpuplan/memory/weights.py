"""Bytes of every weight tensor of a catalog model in a chosen format (cached per model × format).

The per-tensor choice (which tensors stay 16-bit, GGUF mixes) is :mod:`gpuplan.memory.quant`'s; this module only
resolves the model's native format ("native" = as the checkpoint ships, e.g. DeepSeek-V3's FP8 with 128×128 block
scales, gpt-oss's MXFP4 experts) and caches the result for the planner's hot loop.
"""

from __future__ import annotations

from functools import lru_cache

from gpuplan.catalog.arch import TensorSpec
from gpuplan.catalog.models import ModelEntry, get_model
from gpuplan.memory.quant import get_format, tensor_bytes


def native_format(model: ModelEntry) -> str:
    """The format the published checkpoint uses (bf16 when the catalog does not say)."""
    return model.checkpoint.weight_format or "bf16"


def resolve_format(model: ModelEntry, weight_format: str) -> str:
    fmt = native_format(model) if weight_format in ("native", "auto", "") else weight_format
    get_format(fmt)  # raises a clear error for an unknown id
    return fmt


_ENTRIES: dict[str, ModelEntry] = {}
# Caches elsewhere keyed by model id register their ``cache_clear`` here; they are cleared when an id is re-used for a
# different entry (an imported model sized twice with different configs).
CACHE_CLEARERS: list = []


def entry(model_id: str) -> ModelEntry:
    """The entry last sized under this id (catalog models and imported ones alike)."""
    return _ENTRIES.get(model_id) or get_model(model_id)


def model_tensor_bytes(model: ModelEntry, weight_format: str) -> tuple[tuple[TensorSpec, int], ...]:
    """(tensor, bytes) for every main-model tensor (MTP excluded: engines load it only for speculative decoding)."""
    if _ENTRIES.get(model.id) is not model:
        if model.id in _ENTRIES:
            _cached.cache_clear()
            _total.cache_clear()
            for clear in CACHE_CLEARERS:
                clear()
        _ENTRIES[model.id] = model
    return _cached(model.id, resolve_format(model, weight_format))


def model_weight_bytes(model: ModelEntry, weight_format: str) -> int:
    """Σ of :func:`model_tensor_bytes`: the main model's weights in ``weight_format``, summed once per (model,
    format) (a training plan sizes ~1,500 candidates of one model)."""
    model_tensor_bytes(model, weight_format)  # registers the entry (and clears the memos when it was re-imported)
    return _total(model.id, resolve_format(model, weight_format))


@lru_cache(maxsize=512)
def _total(model_id: str, fmt: str) -> int:
    return sum(n for _, n in _cached(model_id, fmt))


@lru_cache(maxsize=512)
def _cached(model_id: str, fmt: str) -> tuple[tuple[TensorSpec, int], ...]:
    model = entry(model_id)
    arch = model.arch
    tensors = arch.tensors()
    expert_fmt = model.checkpoint.expert_weight_format if fmt == native_format(model) else None
    rows = tensor_bytes(tensors, fmt, n_layers=arch.num_layers, n_experts=arch.num_experts or None)
    if fmt == native_format(model):
        rows = _apply_checkpoint_dtype_map(model, rows)
    if expert_fmt and expert_fmt != fmt:
        expert_rows = {r.tensor.name: r for r in tensor_bytes(
            [t for t in tensors if t.component == "routed_experts"], expert_fmt,
            n_layers=arch.num_layers, n_experts=arch.num_experts or None)}
        rows = tuple(expert_rows.get(r.tensor.name, r) for r in rows)
    return tuple((r.tensor, int(r.num_bytes)) for r in rows)


def _apply_checkpoint_dtype_map(model: ModelEntry, rows):
    """The checkpoint's own format keeps the modules its quantization_config names in 16 bits, and those an imported
    checkpoint's tensor headers show in 16 bits (``kept_16bit_modules``, :mod:`gpuplan.importers.entry`); other
    formats are what the user would produce and follow the format's rule (:mod:`gpuplan.memory.dtype_map`)."""
    from dataclasses import replace

    from gpuplan.memory.dtype_map import hf_module_name, kept_bytes, module_is_kept, unquantized_modules

    entries = unquantized_modules(model.config) + tuple(getattr(model, "kept_16bit_modules", None) or ())
    if not entries:
        return rows
    out = []
    for r in rows:
        module = hf_module_name(r.tensor)
        if module is not None and r.type_name != "bf16" and module_is_kept(module, entries):
            n = kept_bytes(r.tensor)
            r = replace(r, type_name="bf16", num_bytes=n, bits_per_element=16.0)
        out.append(r)
    return tuple(out)
