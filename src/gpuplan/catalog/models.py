"""The model catalog: one JSON file per family under ``catalog/data/models/`` (upstream config.json field names).

Each entry carries its sources; derived values (parameter counts, KV bytes) come from :class:`ModelArch`.
"""

from __future__ import annotations

import json
import re
from dataclasses import field
from functools import cache, cached_property
from importlib import resources
from typing import Any

from gpuplan.catalog.arch import ModelArch
from gpuplan.errors import UnknownNameError
from gpuplan.records import Record, check_record, record


@record(slots=True, kw_only=True)
class Checkpoint(Record):
    """How the published checkpoint stores its weights."""

    weight_format: str | None = None
    expert_weight_format: str | None = None
    bytes: int | None = None
    bytes_source: str | None = None


# No slots: ``arch`` is a cached_property (kept in the instance __dict__).
@record(kw_only=True)
class ModelEntry(Record):
    """One catalog model: the upstream config plus the facts around it, each with its source.

    A frozen dataclass (gpuplan.records: ``gpuplan size`` starts without pydantic); ``checkpoint`` may be given as a
    mapping of Checkpoint's fields."""

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
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    notes: str | None = None
    #: Modules an imported checkpoint keeps in 16 bits beyond what its config lists (gpuplan.importers.entry).
    kept_16bit_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.checkpoint, dict):
            object.__setattr__(self, "checkpoint", Checkpoint(**self.checkpoint))
        check_record(self)

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
            fields = {k: v for k, v in raw.items() if k in ModelEntry.model_fields}  # a key without a field: ignored
            out.append(ModelEntry(**{**fields, "family": raw.get("family", family)}))
    return tuple(out)


@cache
def _index() -> dict[str, ModelEntry]:
    idx: dict[str, ModelEntry] = {}
    for m in list_models():
        for key in (m.id, m.id.split("/")[-1], *m.aliases):
            idx.setdefault(key.lower(), m)
    return idx


# Chinese vendor and model-family names as users type them → the Latin family token the catalog ids use.
CHINESE_NAMES = {"深度求索": "deepseek", "通义千问": "qwen", "千问": "qwen", "通义": "qwen", "智谱": "glm",
                 "月之暗面": "kimi", "羊驼": "llama", "米斯特拉尔": "mistral"}
_SIZE_RE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z])")

# Models registered at run time (a local directory, a .gguf file or a Hub id read by the importers at the edge).
_USER_MODELS: dict[str, ModelEntry] = {}
# The edge installs a resolver (path / Hub id → ModelEntry); the core itself never reads files or the network.
_RESOLVER: list = []


def register_model(entry: ModelEntry) -> ModelEntry:
    """Make an imported model resolvable by its id (``get_model``) for the rest of the process."""
    _USER_MODELS[entry.id.strip().lower()] = entry
    return entry


def set_model_resolver(resolver) -> None:
    """Install ``resolver(ref) -> ModelEntry | None`` tried by ``get_model`` for refs the catalog does not know
    (the CLI and API install the importers' one: local directories, .gguf files, Hugging Face ids)."""
    _RESOLVER[:] = [resolver] if resolver else []


def normalize_model_name(ref: str) -> str:
    """Lower case; Chinese family names to their Latin token; spaces and underscores to '-' ("深度求索 R1" → "deepseek-r1")."""
    text = ref.strip().lower()
    for zh, latin in CHINESE_NAMES.items():
        text = text.replace(zh, f" {latin} ")
    text = re.sub(r"[\s_]+", "-", text.strip())
    return re.sub(r"-{2,}", "-", text).strip("-")


def get_model(ref: str, *, resolve: bool = True) -> ModelEntry:
    """A model by HF id (any case), its repo name or an alias, typed with spaces or Chinese family names too;
    else (``resolve``) a registered or resolvable imported model; 'did you mean …' otherwise."""
    key = ref.strip().lower()
    hit = (_USER_MODELS.get(key) if resolve else None) or _index().get(key) or _index().get(normalize_model_name(ref))
    if hit is not None:
        return hit
    for resolver in _RESOLVER if resolve else ():
        found = resolver(ref)
        if found is not None:
            return register_model(found)
    near = suggest_models(ref)
    if not near:
        # Nothing close: a path that does not exist reads as one ("./dir", "x.gguf"), else no suggestion at all.
        looks_like_path = ref.startswith((".", "/", "~")) or ref.endswith((".gguf", ".json", ".safetensors"))
        raise UnknownNameError("ux.no_such_path" if looks_like_path else "ux.unknown_model_no_match", given=ref)
    raise UnknownNameError("catalog.unknown_model", given=ref, suggestions=", ".join(near))


def suggest_models(given: str, n: int = 3) -> list[str]:
    """Catalog ids closest to ``given``: a size token ("7b") must match when one is given, then the most shared name
    tokens, then string similarity of the repo names ("deepseek-ai/DeepSeek-7B" → deepseek-llm-7b, not V3/R1)."""
    import difflib

    name = normalize_model_name(given.split("/")[-1] if "/" in given else given)
    org = normalize_model_name(given.split("/")[0]) if "/" in given else ""
    sizes = set(_SIZE_RE.findall(name))
    tokens = {tok for tok in re.split(r"[-.]", name) if tok}
    scored = []
    for m in list_models():
        best = None
        for cand in (m.id, *m.aliases):
            cname = normalize_model_name(cand.split("/")[-1])
            csizes = set(_SIZE_RE.findall(cname))
            ctokens = {tok for tok in re.split(r"[-.]", cname) if tok}
            score = (
                bool(sizes) and sizes <= csizes,
                len(tokens & ctokens) + (1 if org and m.id.lower().startswith(org + "/") else 0),
                difflib.SequenceMatcher(None, name, cname).ratio(),
            )
            best = score if best is None or score > best else best
        if best is not None and (best[0] or best[1] or best[2] >= 0.5):
            scored.append((best, m.id))
    scored.sort(key=lambda item: item[0], reverse=True)
    return [mid for _, mid in scored[:n]]


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
