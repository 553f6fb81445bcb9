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
  (``maxLength`` with an optional ``minLength`` for text) and ``_CHOICES`` (``None`` among them for an optional
  ``Literal``), run by ``check_record`` from ``__post_init__``; a value out of bounds is one sentence
  (``InvalidInputError``: the field, the value, what is allowed). Integers given for float fields (and as values of
  ``dict[str, float]`` fields) become floats, whole floats for int fields ints and lists for tuple fields tuples, as
  pydantic converted them.

What users send is still validated by pydantic: the API's bodies (pydantic models) hold these classes as fields, and
a plan file, itself a record, is read through a ``TypeAdapter`` (``PlanFile.model_validate``). pydantic validates the
field types from the annotations, then calls ``__post_init__``, whose ``InvalidInputError`` (a ``ValueError``) it
reports as a validation error carrying the sentence. ``__get_pydantic_json_schema__`` writes ``_BOUNDS`` into the JSON
Schema, so the OpenAPI document still states them; :func:`pydantic_adapter` builds a class's schema once.

Declare a record with :func:`record` (``@dataclass(frozen=True)`` whose ``__repr__``, ``__eq__`` and ``__hash__`` are
Record's own) and give it ``Record`` as a base.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from typing import Any, dataclass_transform

from gpuplan.errors import InvalidInputError


class _FieldNames:
    """``cls.model_fields``: the dataclass fields by name, in declaration order (as pydantic's mapping)."""

    def __get__(self, obj: object, cls: type) -> dict[str, dataclasses.Field]:
        plan = _plan(cls)
        return plan.fields


class _Plan:
    """What ``check_record`` does for one class, worked out once from its fields, ``_BOUNDS`` and ``_CHOICES``.

    The numeric bounds become closed intervals (an exclusive float bound moves to the next float, which is exact for
    ints and floats alike), read with one attrgetter: a value in range costs one comparison (the planner builds
    thousands of these objects per search)."""

    __slots__ = ("fields", "names", "has_dict", "floats", "tuples", "numbers", "get_numbers", "texts", "choices",
                 "ints", "get_ints", "float_dicts", "compared", "get_compared", "get_hashed")

    def __init__(self, cls: type) -> None:
        fields = dataclasses.fields(cls)
        self.fields = {f.name: f for f in fields}
        self.names = tuple(self.fields)
        self.compared = tuple(f.name for f in fields if f.compare)
        self.get_compared = _getter(self.compared)
        self.get_hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
        self.has_dict = "__slots__" not in cls.__dict__  # a slots dataclass declares its own; the mixin's is empty
        kinds = {f.name: str(f.type).replace(" ", "") for f in fields}
        self.floats = tuple(n for n, k in kinds.items() if k in ("float", "float|None"))
        self.tuples = tuple(n for n, k in kinds.items() if k.startswith("tuple["))
        self.ints = tuple(n for n, k in kinds.items() if k in ("int", "int|None"))
        self.get_ints = _getter(self.ints)
        self.float_dicts = tuple(n for n, k in kinds.items() if k in ("dict[str,float]", "dict[str,float]|None"))
        bounds = getattr(cls, "_BOUNDS", {})
        self.numbers = tuple((name, *_closed(kw), kw) for name, kw in bounds.items() if "maxLength" not in kw)
        self.get_numbers = _getter(tuple(n[0] for n in self.numbers))
        self.texts = tuple((name, kw.get("minLength", 0), kw["maxLength"]) for name, kw in bounds.items()
                           if "maxLength" in kw)
        self.choices = tuple(getattr(cls, "_CHOICES", {}).items())


def _getter(names: tuple[str, ...]):
    """A function of an object returning the tuple of its ``names`` attributes (one C call for several)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        return lambda obj, name=names[0]: (getattr(obj, name),)
    return lambda obj: ()


def _closed(keywords: dict[str, float]) -> tuple[float, float]:
    low, high = -math.inf, math.inf
    if "minimum" in keywords:
        low = keywords["minimum"]
    elif "exclusiveMinimum" in keywords:
        low = math.nextafter(keywords["exclusiveMinimum"], math.inf)
    if "maximum" in keywords:
        high = keywords["maximum"]
    elif "exclusiveMaximum" in keywords:
        high = math.nextafter(keywords["exclusiveMaximum"], -math.inf)
    return low, high


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
    if float in map(type, plan.get_ints(obj)):  # 459.0 for an int field is 459, as pydantic took it
        for name in plan.ints:
            value = getattr(obj, name)
            if type(value) is float:
                if not value.is_integer():
                    raise InvalidInputError("records.not_an_integer", cls=type(obj).__name__, field=name,
                                            given=repr(value))
                object.__setattr__(obj, name, int(value))
    for name in plan.float_dicts:
        value = getattr(obj, name)
        if value and int in map(type, value.values()):  # {"x": 3} for dict[str, float] is {"x": 3.0}
            object.__setattr__(obj, name, {k: float(v) if type(v) is int else v for k, v in value.items()})
    for value, (name, low, high, keywords) in zip(plan.get_numbers(obj), plan.numbers, strict=True):
        if value is None or ((type(value) is int or type(value) is float) and low <= value <= high):
            continue
        _refuse_number(obj, name, value, keywords)
    for name, min_length, max_length in plan.texts:
        value = getattr(obj, name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInputError("records.not_text", cls=type(obj).__name__, field=name, given=repr(value))
        if len(value) > max_length:
            raise InvalidInputError("records.too_long", cls=type(obj).__name__, field=name, given=len(value),
                                    allowed=max_length)
        if len(value) < min_length:
            raise InvalidInputError("records.too_short", cls=type(obj).__name__, field=name, given=len(value),
                                    allowed=min_length)
    for name, allowed in plan.choices:
        value = getattr(obj, name)
        if value not in allowed:  # None is allowed where the choices list it (an optional Literal)
            raise InvalidInputError("records.bad_choice", cls=type(obj).__name__, field=name, given=repr(value),
                                    allowed=", ".join(a for a in allowed if a is not None))


def _refuse_number(obj: Record, name: str, value: object, keywords: dict[str, float]) -> None:
    """The sentence for a bounded field whose value is not a number in its bounds (NaN included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError("records.not_a_number", cls=type(obj).__name__, field=name, given=repr(value))
    ge, gt = keywords.get("minimum"), keywords.get("exclusiveMinimum")
    le, lt = keywords.get("maximum"), keywords.get("exclusiveMaximum")
    low, high = (ge if ge is not None else gt), (le if le is not None else lt)
    raise InvalidInputError(_range_key(ge, gt, le, lt), cls=type(obj).__name__, field=name, given=_number(value),
                            low=None if low is None else _number(low), high=None if high is None else _number(high))


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


_ADAPTERS: dict[type, Any] = {}


def pydantic_adapter(cls: type) -> Any:
    """pydantic's ``TypeAdapter`` for a record class, built once. Its core schema is kept on the class, where pydantic
    reuses it in every model and adapter that holds the class (as it does a BaseModel's) instead of generating the
    dataclass's schema anew each time: the API's bodies and responses that hold a plan cost its start-up 25 ms."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
        cls.__pydantic_core_schema__ = adapter.core_schema  # type: ignore[attr-defined]
    return adapter


@dataclass_transform(frozen_default=True)
def record(cls: type | None = None, /, *, slots: bool = False, kw_only: bool = False):
    """``@dataclass(frozen=True)`` for a :class:`Record`, without the ``__repr__``, ``__eq__`` and ``__hash__`` that
    ``dataclasses`` compiles (``exec``) anew for every class: Record's own serve them all, with the same results
    (``Name(field=value, ...)``; equal when of the same class with equal fields; the hash of the fields). Building the
    about 50 classes a ``gpuplan plan`` process imports costs a third less (issue 16: start-up within 0.3 s)."""
    def wrap(c: type) -> type:
        return dataclasses.dataclass(c, frozen=True, eq=False, repr=False, slots=slots, kw_only=kw_only)

    return wrap if cls is None else wrap(cls)


class Record:
    """Mixin for frozen dataclass value objects (declared with :func:`record`): pydantic's ``model_dump`` /
    ``model_copy`` / ``model_fields`` for the callers that used them (see the module docstring), and the dataclass
    ``__repr__`` / ``__eq__`` / ``__hash__``. Subclasses call ``check_record(self)`` from ``__post_init__`` (or rely
    on the one here)."""

    __slots__ = ()

    model_fields = _FieldNames()

    # pydantic gives a dataclass without a config of its own the config of the model holding it: inside an API body
    # that forbids unknown keys, a plan (PlanBody.plan) would have refused keys it ignored as a pydantic model. Its own
    # config keeps the rule of every record (unknown keys ignored: a plan from a newer gpuplan still loads) and one
    # JSON Schema for input and output.
    __pydantic_config__ = {"extra": "ignore"}

    def __post_init__(self) -> None:
        check_record(self)

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in _plan(type(self)).names)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        get = _plan(type(self)).get_compared
        return get(self) == get(other)

    def __hash__(self) -> int:
        return hash(_plan(type(self)).get_hashed(self))

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
        """A copy with ``update`` applied, converted and checked as on construction (``dataclasses.replace`` without
        its per-field ``__init__`` call, which costs more: the planner copies workloads per estimate)."""
        cls = type(self)
        plan = _plan(cls)
        state = {name: getattr(self, name) for name in plan.names}
        if update:
            unknown = update.keys() - state.keys()
            if unknown:
                raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
            state.update(update)
        new = object.__new__(cls)
        if plan.has_dict:
            new.__dict__.update(state)
        else:
            for name, value in state.items():
                object.__setattr__(new, name, value)
        new.__post_init__()
        return new

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
