"""What an importer returns: the checkpoint's tensors and bytes, exactly as its files declare them.

Frozen dataclasses (not pydantic) because a DeepSeek-V3 safetensors checkpoint has ~91,000 tensors and these objects
are built once per tensor; ``CheckpointInfo.to_dict`` / ``from_dict`` give the JSON form (Hub cache, ``--json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["local-dir", "gguf", "hub"]


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor as stored: name, storage dtype, logical shape, element count, stored bytes.

    ``dtype`` is the safetensors dtype string ("BF16", "F8_E4M3", "U8", ...) or the GGML type name ("Q4_K", "F16").
    ``shape`` is in row-major (PyTorch/numpy) order for both formats: GGUF stores dimensions fastest-first
    (``ne[0]`` first), so the GGUF importer reverses them. ``num_elements`` is the product of ``shape`` (the logical
    element count even for block-quantized GGML types); ``num_bytes`` is what the tensor occupies in the file.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    num_elements: int
    num_bytes: int


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """A model's config and its exact checkpoint bytes, read from headers only (weights are never loaded).

    ``config`` is the upstream ``config.json`` as parsed JSON; for GGUF it is rebuilt from the ``<arch>.*`` metadata
    with Hugging Face field names. ``total_bytes`` sums tensor data bytes (no headers, no padding); ``file_bytes`` is
    the on-disk size of the weight files (None when unknown, e.g. from the Hub). ``notes`` are rendered sentences.
    """

    source: Source
    ref: str
    config: dict[str, Any] | None
    tensors: tuple[TensorInfo, ...]
    total_bytes: int
    total_params: int
    bytes_by_dtype: dict[str, int]
    file_bytes: int | None = None
    gguf_file_type: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def params_by_dtype(self) -> dict[str, int]:
        """Elements per storage dtype, largest first."""
        out: dict[str, int] = {}
        for tensor in self.tensors:
            out[tensor.dtype] = out.get(tensor.dtype, 0) + tensor.num_elements
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def num_layers(self) -> int | None:
        """``num_hidden_layers`` of the config (or its ``text_config``); None when unknown."""
        if not self.config:
            return None
        value = self.config.get("num_hidden_layers")
        text = self.config.get("text_config")
        if value is None and isinstance(text, dict):
            value = text.get("num_hidden_layers")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def params_by_component(self) -> dict[str, int]:
        """Elements per model component (names of ``gpuplan.catalog.arch.COMPONENTS``, plus "other")."""
        from gpuplan.importers.components import sums_by_component

        return sums_by_component(self.tensors, self.num_layers)[0]

    @property
    def bytes_by_component(self) -> dict[str, int]:
        """Stored bytes per model component: what offloading experts or sharding by component moves."""
        from gpuplan.importers.components import sums_by_component

        return sums_by_component(self.tensors, self.num_layers)[1]

    @property
    def weight_format(self) -> str | None:
        """The storage format as a gpuplan format id ("bf16", "fp8-block", "gguf-q4_k_m", ...); None if undecided."""
        from gpuplan.importers.formats import weight_format_of

        return weight_format_of(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tensors as ``[name, dtype, shape, num_elements, num_bytes]`` rows to stay compact)."""
        return {
            "source": self.source,
            "ref": self.ref,
            "config": self.config,
            "tensors": [[t.name, t.dtype, list(t.shape), t.num_elements, t.num_bytes] for t in self.tensors],
            "total_bytes": self.total_bytes,
            "total_params": self.total_params,
            "bytes_by_dtype": dict(self.bytes_by_dtype),
            "file_bytes": self.file_bytes,
            "gguf_file_type": self.gguf_file_type,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointInfo:
        """Inverse of :meth:`to_dict` (raises KeyError/TypeError/ValueError on a damaged dict)."""
        tensors = tuple(
            TensorInfo(str(n), str(d), tuple(int(x) for x in s), int(e), int(b)) for n, d, s, e, b in data["tensors"]
        )
        return build_info(
            source=data["source"], ref=str(data["ref"]), config=data.get("config"), tensors=tensors,
            file_bytes=data.get("file_bytes"), gguf_file_type=data.get("gguf_file_type"),
            notes=tuple(str(x) for x in data.get("notes", ())),
        )


def build_info(
    *,
    source: Source,
    ref: str,
    config: dict[str, Any] | None,
    tensors: Iterable[TensorInfo],
    file_bytes: int | None = None,
    gguf_file_type: str | None = None,
    notes: Iterable[str] = (),
) -> CheckpointInfo:
    """Assemble a CheckpointInfo, summing bytes and elements once: total = Σ tensor bytes, by dtype largest first."""
    items = tuple(tensors)
    by_dtype: dict[str, int] = {}
    for tensor in items:
        by_dtype[tensor.dtype] = by_dtype.get(tensor.dtype, 0) + tensor.num_bytes
    return CheckpointInfo(
        source=source,
        ref=ref,
        config=config,
        tensors=items,
        total_bytes=sum(t.num_bytes for t in items),
        total_params=sum(t.num_elements for t in items),
        bytes_by_dtype=dict(sorted(by_dtype.items(), key=lambda kv: (-kv[1], kv[0]))),
        file_bytes=file_bytes,
        gguf_file_type=gguf_file_type,
        notes=tuple(dict.fromkeys(notes)),
    )
