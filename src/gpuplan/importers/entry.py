"""Any model everywhere: a local directory, a ``.gguf`` file or a Hugging Face id as a catalog-like ``ModelEntry``.

The CLI and the API install :func:`resolve_entry` as the catalog's resolver (``catalog.set_model_resolver``), so
``size``, ``estimate``, ``plan``, ``fit``, ``render`` and the REST API accept what ``gpuplan inspect`` reads, read the
same way (headers only; nothing executed). Hub ids are read from the gpuplan cache when offline (HF_HUB_OFFLINE) and
fetched once otherwise; a Hub failure for a name that is not in the catalog ends in one sentence with the closest
catalog names.
"""

from __future__ import annotations

from pathlib import Path

from gpuplan.catalog.models import Checkpoint, ModelEntry, suggest_models
from gpuplan.errors import GpuplanError, OfflineError, UnknownNameError, UnsupportedError

# config.json torch_dtype → format id, for a directory that holds a config but no weights yet.
_TORCH_DTYPE_FORMAT = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def resolve_entry(ref: str, *, hub_offline: bool = False) -> ModelEntry | None:
    """The entry for ``ref`` when it is an existing path or a Hub repo id; None for anything else (the catalog then
    says 'unknown model, did you mean …'). ``hub_offline``: Hub ids only from the gpuplan cache (the API server never
    makes outbound requests on a client's behalf)."""
    from gpuplan.importers import import_model
    from gpuplan.importers.hub import looks_like_repo_id

    is_path = Path(ref).expanduser().exists()
    if not is_path and not looks_like_repo_id(ref):
        return None
    try:
        info = import_model(ref, offline=hub_offline)
    except (OfflineError, UnknownNameError) as exc:
        if is_path:
            raise
        near = suggest_models(ref)
        if not near:  # no "Did you mean: —?"
            raise UnknownNameError("ux.unknown_or_hub_no_match", given=ref, reason=str(exc)) from None
        raise UnknownNameError("anymodel.unknown_or_hub", given=ref, reason=str(exc),
                               suggestions=", ".join(near)) from None
    return entry_from_info(info, ref)


def entry_from_info(info, ref: str) -> ModelEntry:
    """A ModelEntry from an importer's CheckpointInfo: the config as read, the stored format, the exact bytes."""
    config = info.config
    if not config or not (config.get("hidden_size") or (config.get("text_config") or {}).get("hidden_size")):
        raise UnsupportedError("inspect.no_config", given=ref)
    fmt = info.weight_format or _TORCH_DTYPE_FORMAT.get(str(config.get("torch_dtype", "")).lower())
    if fmt is None:
        raise UnsupportedError("anymodel.no_format", given=ref)
    from gpuplan.memory.quant import get_format

    try:
        get_format(fmt)
    except GpuplanError:
        raise UnsupportedError("anymodel.no_format", given=ref) from None
    return ModelEntry(
        kept_16bit_modules=_kept_16bit_modules(info, fmt),
        id=ref, name=Path(ref).name if info.source != "hub" else ref.split("/")[-1], family="imported", config=config,
        config_source=f"read from {ref} ({info.source})",
        checkpoint=Checkpoint(weight_format=fmt, bytes=info.total_bytes or None,
                              bytes_source=f"tensor headers of {ref}" if info.total_bytes else None),
        notes="; ".join(info.notes) or None,
    )


def install(*, hub_offline: bool = False) -> None:
    """Install :func:`resolve_entry` as the catalog's resolver (the edges call this once at start-up)."""
    from functools import partial

    from gpuplan.catalog.models import set_model_resolver

    set_model_resolver(partial(resolve_entry, hub_offline=hub_offline))


_SIXTEEN_BIT = {"BF16", "F16", "F32"}


def _kept_16bit_modules(info, fmt: str) -> list[str]:
    """Modules whose ``.weight`` matrix the safetensors headers show in 16/32 bits while the checkpoint's format is a
    quantized one: the dtype map read from the files themselves (a mixed FP8 checkpoint's BF16 attention, say)."""
    if fmt in ("bf16", "fp16", "fp32") or fmt.startswith("gguf-") or info.source == "gguf":
        return []
    return sorted(t.name.removesuffix(".weight") for t in info.tensors
                  if t.name.endswith(".weight") and len(t.shape) >= 2 and t.dtype in _SIXTEEN_BIT)
