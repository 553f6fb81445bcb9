"""Frozen value objects without pydantic: the base of the core's specs, catalog rows and memory answers.

``gpuplan size`` must start in ≤ 0.15 s of CPU (issue 16); importing pydantic and building a dozen models costs about
a third of that. The core's value objects are therefore ``@dataclass(frozen=True)`` classes deriving from
:class:`Record`, which adds what their callers used from pydantic:

* ``model_dump(mode="python" | "json", include=…, exclude=…)`` — the same dictionaries pydantic produced (fields in
  declaration order, nested records and pydantic models dumped, tuples as lists in JSON mode), so ``--json``, the
  REST API and plan files are unchanged;
* ``model_copy(update=…)`` — ``dataclasses.replace``, which checks the new values too;
* ``model_fields`` — the field names (``planbounds.check_model_fields`` walks them);
* the checks pydantic's ``Field(ge=…)`` and ``Literal`` did, declared per class in ``_BOUNDS`` (JSON Schema keywords)
  and ``_CHOICES``, run by ``check_record`` from ``__post_init__``; a value out of bounds is one sentence
  (``InvalidInputError``: the field, the value, what is allowed). Integers given for float fields become floats and
  lists for tuple fields tuples, as pydantic converted them.

Pydantic models elsewhere (plan files, API bodies) hold these classes as fields: pydantic validates their field types
from the annotations, then calls ``__post_init__``, whose ``InvalidInputError`` (a ``ValueError``) it reports as a
validation error carrying the sentence. ``__get_pydantic_json_schema__`` writes ``_BOUNDS`` into the JSON Schema, so
the OpenAPI document still states them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gpuplan.errors import InvalidInputError


class _FieldNames:
    """``cls.model_fields``: the dataclass fields by name, in declaration order (as pydantic's mapping)."""

    def __get__(self, obj: object, cls: type) -> dict[str, dataclasses.Field]:
        plan = _plan(cls)
        return plan.fields


class _Plan:
    """What ``check_record`` does for one class, worked out once from its fields, ``_BOUNDS`` and ``_CHOICES``."""

    __slots__ = ("fields", "names", "floats", "tuples", "bounds", "choices")

    def __init__(self, cls: type) -> None:
        fields = dataclasses.fields(cls)
        self.fields = {f.name: f for f in fields}
        self.names = tuple(self.fields)
        kinds = {f.name: str(f.type).replace(" ", "") for f in fields}
        self.floats = tuple(n for n, k in kinds.items() if k in ("float", "float|None"))
        self.tuples = tuple(n for n, k in kinds.items() if k.startswith("tuple["))
        self.bounds = tuple((name, kw.get("minimum"), kw.get("exclusiveMinimum"), kw.get("maximum"),
                             kw.get("exclusiveMaximum"), kw.get("maxLength"))
                            for name, kw in getattr(cls, "_BOUNDS", {}).items())
        self.choices = tuple(getattr(cls, "_CHOICES", {}).items())


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _Plan(cls)
    return plan


def _number(value: float) -> str | int:
    """A bound or a given number as a sentence shows it: 1000000.0 → 1000000, 0.05 → 0.05, 1e+30 stays short."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    return value


def _range_key(ge, gt, le, lt) -> str:
    """``records.range_<low>_<high>``: the sentence for the bounds a field has (``ge``/``gt`` × ``le``/``lt``)."""
    low = "ge" if ge is not None else "gt" if gt is not None else ""
    high = "le" if le is not None else "lt" if lt is not None else ""
    return "records.range_" + "_".join(p for p in (low, high) if p)


def check_record(obj: Record) -> None:
    """Convert and check ``obj``'s fields as pydantic did; ``InvalidInputError`` names the first bad one."""
    plan = _plan(type(obj))
    for name in plan.floats:
        value = getattr(obj, name)
        if type(value) is int:
            object.__setattr__(obj, name, float(value))
    for name in plan.tuples:
        value = getattr(obj, name)
        if isinstance(value, list):
            object.__setattr__(obj, name, tuple(value))
    for name, ge, gt, le, lt, max_length in plan.bounds:
        value = getattr(obj, name)
        if value is None:
            continue
        if max_length is not None:
            if not isinstance(value, str):
                raise InvalidInputError("records.not_text", cls=type(obj).__name__, field=name, given=repr(value))
            if len(value) > max_length:
                raise InvalidInputError("records.too_long", cls=type(obj).__name__, field=name, given=len(value),
                                        allowed=max_length)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError("records.not_a_number", cls=type(obj).__name__, field=name, given=repr(value))
        if ((ge is not None and not value >= ge) or (gt is not None and not value > gt)
                or (le is not None and not value <= le) or (lt is not None and not value < lt)):
            low, high = (ge if ge is not None else gt), (le if le is not None else lt)
            raise InvalidInputError(_range_key(ge, gt, le, lt), cls=type(obj).__name__, field=name,
                                    given=_number(value), low=None if low is None else _number(low),
                                    high=None if high is None else _number(high))
    for name, allowed in plan.choices:
        value = getattr(obj, name)
        if value not in allowed:
            raise InvalidInputError("records.bad_choice", cls=type(obj).__name__, field=name, given=repr(value),
                                    allowed=", ".join(allowed))


def _dump(value: Any, json_mode: bool) -> Any:
    if isinstance(value, str | int | float) or value is None:
        return value
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json" if json_mode else "python")
    if isinstance(value, tuple):
        items = [_dump(v, json_mode) for v in value]
        return items if json_mode else tuple(items)
    if isinstance(value, list):
        return [_dump(v, json_mode) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v, json_mode) for k, v in value.items()}
    if json_mode and isinstance(value, set | frozenset):
        return [_dump(v, json_mode) for v in value]
    return value


class Record:
    """Mixin for ``@dataclass(frozen=True)`` value objects: pydantic's ``model_dump`` / ``model_copy`` /
    ``model_fields`` for the callers that used them (see the module docstring). Subclasses call ``check_record(self)``
    from ``__post_init__`` (or rely on the one here)."""

    __slots__ = ()

    model_fields = _FieldNames()

    def __post_init__(self) -> None:
        check_record(self)

    def model_dump(self, *, mode: str = "python", include: set[str] | None = None,
                   exclude: set[str] | None = None) -> dict[str, Any]:
        json_mode = mode == "json"
        out = {}
        for name in _plan(type(self)).names:
            if (include is not None and name not in include) or (exclude is not None and name in exclude):
                continue
            out[name] = _dump(getattr(self, name), json_mode)
        return out

    def model_copy(self, *, update: dict[str, Any] | None = None):
        return dataclasses.replace(self, **(update or {}))

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        """The JSON Schema pydantic derives from the field types, plus ``_BOUNDS`` (as ``Field(ge=…)`` wrote them)."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        props = target.get("properties", {})
        for name, keywords in getattr(cls, "_BOUNDS", {}).items():
            prop = props.get(name)
            if prop is None:
                continue
            for branch in prop.get("anyOf") or [prop]:
                if branch.get("type") in ("integer", "number", "string"):
                    branch.update(keywords)
        return schema
