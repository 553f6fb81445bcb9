"""The model catalog: one JSON file per family under ``catalog/data/models/`` (upstream config.json field names).

Each entry carries its sources; derived values (parameter counts, KV bytes) come from :class:`ModelArch`.
"""

from __future__ import annotations

import json
from functools import cache, cached_property
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gpuplan.catalog.arch import ModelArch
from gpuplan.errors import UnknownNameError, closest


class Checkpoint(BaseModel):
    """How the published checkpoint stores its weights."""

    model_config = ConfigDict(frozen=True, extra="allow")

    weight_format: str | None = None
    expert_weight_format: str | None = None
    bytes: int | None = None
    bytes_source: str | None = None


class ModelEntry(BaseModel):
    """One catalog model: the upstream config plus the facts around it, each with its source."""

    model_config = ConfigDict(frozen=True, extra="allow", ignored_types=(cached_property,))

    id: str
    aliases: tuple[str, ...] = ()
    name: str | None = None
    series: str | None = None
    family: str = ""
    release_date: str | None = None
    config: dict[str, Any]
    config_source: str | None = None
    config_confidence: str | None = None
    params_total_official: float | None = None
    params_active_official: float | None = None
    params_source: str | None = None
    context_length: int | None = None
    context_source: str | None = None
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    notes: str | None = None

    @cached_property
    def arch(self) -> ModelArch:
        return ModelArch.from_config(self.config)

    @property
    def display_name(self) -> str:
        return self.name or self.id.split("/")[-1]

    @property
    def max_context_tokens(self) -> int | None:
        """The official context length, else the config's max_position_embeddings."""
        return self.context_length or self.arch.max_position_embeddings


@cache
def list_models() -> tuple[ModelEntry, ...]:
    """All catalog models, in file order (families sorted by file name)."""
    out: list[ModelEntry] = []
    folder = resources.files("gpuplan.catalog") / "data" / "models"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".json"):
            continue
        data = json.loads(item.read_text(encoding="utf-8"))
        family = data.get("family") or item.name[:-5]
        for raw in data.get("models", []):
            out.append(ModelEntry(family=raw.get("family", family), **{k: v for k, v in raw.items() if k != "family"}))
    return tuple(out)


@cache
def _index() -> dict[str, ModelEntry]:
    idx: dict[str, ModelEntry] = {}
    for m in list_models():
        for key in (m.id, m.id.split("/")[-1], *m.aliases):
            idx.setdefault(key.lower(), m)
    return idx


def get_model(ref: str) -> ModelEntry:
    """A model by HF id (any case), its repo name, or an alias; 'did you mean …' otherwise."""
    hit = _index().get(ref.strip().lower())
    if hit is None:
        names = [m.id for m in list_models()] + [a for m in list_models() for a in m.aliases]
        near = closest(ref, names)
        if not near:
            # Nothing close: a path that does not exist reads as one ("./dir", "x.gguf"), else no suggestion at all.
            looks_like_path = ref.startswith((".", "/", "~")) or ref.endswith((".gguf", ".json", ".safetensors"))
            raise UnknownNameError("ux.no_such_path" if looks_like_path else "ux.unknown_model_no_match", given=ref)
        raise UnknownNameError(
            "catalog.unknown_model", given=ref, suggestions=", ".join(near)
        )
    return hit


# Reasoning models think before they answer. DeepSeek-R1's model card sets "the maximum generation length to 32,768
# tokens" for its evaluations (https://huggingface.co/deepseek-ai/DeepSeek-R1#usage-recommendations), and R1's
# thinking on everyday prompts typically runs 4–8k tokens (DeepSeek-R1 paper, arXiv:2501.12948, Fig. 3: the average
# response length on AIME climbs past 8k during RL); plans default to the middle of that range and warn below it.
REASONING_SERIES = ("DeepSeek-R1", "DeepSeek-R1-Distill", "QwQ")
REASONING_OUTPUT_TOKENS = 6000
REASONING_OUTPUT_TOKENS_MIN = 4000
CHAT_OUTPUT_TOKENS = 500


def is_reasoning_model(entry: ModelEntry) -> bool:
    """A model that writes a long chain of thought before its answer (R1, its distills, QwQ, *-Thinking)."""
    name = f"{entry.series or ''} {entry.display_name}"
    return (entry.series or "") in REASONING_SERIES or "QwQ" in name or "Thinking" in name


def default_output_tokens(entry: ModelEntry) -> int:
    """Output tokens a plan assumes when the user gives none: longer for reasoning models."""
    return REASONING_OUTPUT_TOKENS if is_reasoning_model(entry) else CHAT_OUTPUT_TOKENS
