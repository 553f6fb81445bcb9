"""Bounds for every field of a plan file (DESIGN §11: plan files are untrusted input).

Plan files travel between teams and become shell scripts that operators run as root, so each value is checked for
what it is before anything uses it:

* text: at most ``MAX_TEXT_CHARS`` characters and no control characters (no newline can break out of a comment
  line or a YAML scalar);
* numbers: finite, at most ``MAX_NUMBER`` in size, not negative when the name carries a unit (``_bytes``, ``_s``,
  ``_usd``, ...); counts of GPUs, nodes and parallel ranks at least 1 and at most ``MAX_COUNT``;
* the model id and any repository field: a Hugging Face id or a plain path (letters, digits, ``._-/~+``, not
  starting with ``-``); file, tag and revision fields: relative path words;
* nested models (a checkpoint reference, a bill of materials) by the same rules, recursively;
* ``engine_args``: keys are engine flags (``-x``, ``--name``) or snake_case settings; values are booleans, bounded
  numbers, plain words (``SAFE_VALUE_RE``, not starting with ``-``), short lists of those, or small JSON-like maps of
  those; flags that take a number (``NUMERIC_FLAGS``) must have one.

The rules are keyed by type and by field name, so a field added later gets sensible bounds without an edit here.
"""

from __future__ import annotations

import math
import re
from typing import Any

from gpuplan.errors import InvalidInputError

MAX_TEXT_CHARS = 2000
MAX_ITEMS = 1000
#: Larger than any byte count, token count or dollar amount a plan can hold (1e18 B = 1 EB).
MAX_NUMBER = 10**18
#: GPUs, nodes and parallel ranks of one deployment.
MAX_COUNT = 1_000_000
#: Fields counted in GPUs, nodes or ranks: at least 1.
COUNT_FIELDS = frozenset({
    "gpu_count", "nodes", "gpus_per_node", "tensor_parallel_size", "pipeline_parallel_size",
    "data_parallel_size", "expert_parallel_size",
})
#: Numbers that cannot be negative, by unit in the name (STYLE habit 1): bytes, seconds, tokens, rates, money in
#: USD, fractions, watts, counts. Other numbers (a score, a difference) only need to be finite and bounded.
NONNEG_SUFFIXES = ("_bytes", "_s", "_tokens", "_per_s", "_fraction", "_usd", "_watts", "_count", "_size", "_len",
                   "_seqs", "_users", "_months", "_years", "_hours", "_per_hour", "_per_year", "_per_token")
NONNEG_PREFIXES = ("num_", "params_", "max_", "min_")
NONNEG_NAMES = frozenset({"bytes", "years", "count", "quantity", "users"})

HF_ID_RE = re.compile(r"^[A-Za-z0-9_.~/][A-Za-z0-9._/~+-]{0,255}$")
FLAG_RE = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SETTING_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
#: Plain words an engine flag may take: names, numbers, paths, comma lists, key=value, JSON-free.
SAFE_VALUE_RE = re.compile(r"^[A-Za-z0-9_.,:/=+@%~-]{0,512}$")
#: Engine settings (non-flag keys) with a narrower range than a generic number.
SETTING_RANGES = {"zero_stage": (0, 3), "micro_batch_size": (1, 65536)}
#: Engine flags whose value is a number (vLLM, SGLang, llama.cpp spellings the planner writes): a word there is refused.
NUMERIC_FLAGS = frozenset({
    "--max-model-len", "--max-num-seqs", "--max-num-batched-tokens", "--block-size", "--gpu-memory-utilization",
    "--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp", "--data-parallel-size", "-dp",
    "--data-parallel-size-local", "--tp-size", "--pp-size", "--dp-size", "--ep-size", "--context-length",
    "--mem-fraction-static", "--max-running-requests", "--ctx-size", "-c", "--parallel", "-np", "--n-gpu-layers",
    "--gpu-layers", "-ngl", "--n-cpu-moe", "--batch-size", "-b", "--ubatch-size", "-ub", "--threads", "-t",
    "--nnodes", "--port", "--master-port",
})
#: Bounds of the numeric engine flags: counts and lengths ≥ 1 (a hand-edited '--max-model-len -5' reached the launch),
#: memory fractions in (0, 1], layer counts ≥ 0, ports 1..65535.
_COUNT_FLAGS = ("--max-model-len", "--max-num-seqs", "--max-num-batched-tokens", "--block-size",
                "--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp", "--data-parallel-size", "-dp",
                "--data-parallel-size-local", "--tp-size", "--pp-size", "--dp-size", "--ep-size", "--context-length",
                "--max-running-requests", "--ctx-size", "-c", "--parallel", "-np", "--batch-size", "-b",
                "--ubatch-size", "-ub", "--threads", "-t", "--nnodes")
FLAG_RANGES: dict[str, tuple[float, float]] = {
    **{flag: (1, 10**9) for flag in _COUNT_FLAGS},
    "--gpu-memory-utilization": (0.01, 1.0), "--mem-fraction-static": (0.01, 1.0),
    "--n-gpu-layers": (0, 10**6), "--gpu-layers": (0, 10**6), "-ngl": (0, 10**6), "--n-cpu-moe": (0, 10**6),
    "--port": (1, 65535), "--master-port": (1, 65535),
}
#: Fields that name a catalog entry or a choice (they reach file paths and commands): one plain word each.
WORD_FIELDS = frozenset({"gpu", "engine", "weight_format", "kv_dtype", "offload", "checkpoint_format", "task",
                         "objective", "currency"})
WORD_RE = re.compile(r"^[A-Za-z0-9_.:+-]{1,128}$")
#: Fields naming a repository (checked as a model id) and fields naming a file, tag or revision inside one
#: (relative path words: no spaces, quotes, '$', no leading '-', no '..').
REPO_FIELDS = frozenset({"repo", "repository", "hf_repo"})
PATH_FIELDS = frozenset({"file", "hf_tag", "revision", "method", "quantization", "gguf_file"})
PATH_RE = re.compile(r"^[A-Za-z0-9_.:+@/-]{0,300}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def clean_text(text: str) -> bool:
    """True when ``text`` has no control character or line separator."""
    return _CONTROL_RE.search(text) is None


def check_text(field: str, value: str, limit: int = MAX_TEXT_CHARS) -> None:
    if len(value) > limit or not clean_text(value):
        raise InvalidInputError("safety.bad_text", field=field, limit=limit)


def check_number(field: str, value: int | float, low: float | None = None, high: float | None = None) -> None:
    """Finite, within [low, high] (defaults from the field name: counts ≥ 1, unit names ≥ 0, else ± MAX_NUMBER)."""
    if low is None:
        if field in COUNT_FIELDS:
            low = 1
        elif field.endswith(NONNEG_SUFFIXES) or field.startswith(NONNEG_PREFIXES) or field in NONNEG_NAMES:
            low = 0
        else:
            low = -MAX_NUMBER
    if high is None:
        high = MAX_COUNT if field in COUNT_FIELDS else MAX_NUMBER
    ok = math.isfinite(value) if isinstance(value, float) else True
    if not ok or not low <= value <= high:
        shown = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"a {len(str(value))}-digit number"
        raise InvalidInputError("safety.bad_number", field=field, given=shown, low=f"{low:g}", high=f"{high:g}")


def check_model_id(value: str) -> None:
    if not HF_ID_RE.match(value) or ".." in value.split("/"):
        if value.startswith((".", "/", "~")) and ".." not in value.split("/"):
            # a local directory whose name a launch cannot carry (a space, a quote): re-planning would not help
            raise InvalidInputError("qa.bad_local_model_path", given=_short(value))
        raise InvalidInputError("safety.bad_model_id", given=_short(value))


def _short(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = _CONTROL_RE.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_engine_value(field: str, value: Any, depth: int = 0) -> None:
    """One engine argument value: bool, bounded number, plain word, short list, or small map of those."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        check_number(field, value, low=-MAX_NUMBER)
        return
    if isinstance(value, str):
        if not SAFE_VALUE_RE.match(value) or value.startswith("-"):  # '-x' would be read as another flag
            raise InvalidInputError("safety.bad_value", field=field, given=_short(value),
                                    allowed="letters, digits and . , : / = + @ % ~ - (no spaces, quotes or $)")
        return
    if depth < 3 and isinstance(value, list | tuple) and len(value) <= 64:
        for item in value:
            check_engine_value(field, item, depth + 1)
        return
    if depth < 3 and isinstance(value, dict) and len(value) <= 64:
        for key, item in value.items():
            if not isinstance(key, str) or not SAFE_VALUE_RE.match(key):
                raise InvalidInputError("safety.bad_value", field=field, given=_short(key), allowed="plain words")
            check_engine_value(f"{field}.{key}", item, depth + 1)
        return
    raise InvalidInputError("safety.bad_value", field=field, given=_short(value),
                            allowed="a boolean, a number, a plain word, or a short list or map of those")


def check_engine_args(args: dict[str, Any]) -> None:
    if len(args) > 256:
        raise InvalidInputError("safety.bad_value", field="engine_args", given=f"{len(args)} entries",
                                allowed="at most 256")
    for key, value in args.items():
        if not isinstance(key, str) or not (FLAG_RE.match(key) or SETTING_RE.match(key)):
            raise InvalidInputError("safety.bad_flag", given=_short(key))
        if key in NUMERIC_FLAGS and not (isinstance(value, int | float) and not isinstance(value, bool)):
            raise InvalidInputError("safety.bad_value", field=key, given=_short(value), allowed="a number")
        if key in FLAG_RANGES:
            check_number(key, value, *FLAG_RANGES[key])
        if key in SETTING_RANGES:
            low, high = SETTING_RANGES[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInputError("safety.bad_value", field=key, given=_short(value),
                                        allowed=f"a whole number {low}..{high}")
            check_number(key, value, low, high)
        check_engine_value(key, value)


def check_value(field: str, value: Any, depth: int = 0) -> None:
    """Generic bounds by type: text, numbers, items of tuples/lists/maps, and the fields of nested models."""
    if value is None or isinstance(value, bool):
        return
    if hasattr(type(value), "model_fields"):
        if depth > 8:
            raise InvalidInputError("safety.bad_value", field=field, given="nesting", allowed="at most 8 levels")
        check_model_fields(value, depth + 1)
        return
    if isinstance(value, int | float):
        check_number(field, value)
    elif isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, list | tuple | dict):
        if len(value) > MAX_ITEMS or depth > 12:
            raise InvalidInputError("safety.bad_value", field=field, given=f"{len(value)} items",
                                    allowed=f"at most {MAX_ITEMS}")
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in items:
            if key is not None:
                check_text(field, str(key), 200)
            check_value(field, item, depth + 1)


def check_model_fields(model: Any, depth: int = 0) -> None:
    """Check every field of a record (or pydantic model) and of those nested in it (``PlanFile.from_text``, the
    renderer and the API's plan bodies call this; models added later, such as a checkpoint reference, are covered by
    the same rules)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == "engine_args" and isinstance(value, dict):
            check_engine_args(value)
        elif isinstance(value, str) and (name in REPO_FIELDS or (name == "id" and type(model).__name__ == "PlanModel")):
            check_model_id(value)
        elif name in PATH_FIELDS and isinstance(value, str):
            if not PATH_RE.match(value) or value.startswith("-") or ".." in value.split("/"):
                raise InvalidInputError("safety.bad_value", field=name, given=_short(value),
                                        allowed="a relative path of letters, digits and _ . : + @ / -")
        elif name in WORD_FIELDS and isinstance(value, str):
            if not WORD_RE.match(value):
                raise InvalidInputError("safety.bad_value", field=name, given=_short(value),
                                        allowed="one word of letters, digits and _ . : + -")
        else:
            check_value(name, value, depth)
