"""Price facts: ``catalog/data/prices/*.toml`` merged with an optional user file (same structure).

Every price is a :class:`PriceFact` with a value, a unit, a ``source`` (URL or document) and a ``date`` (YYYY-MM).
A fact nobody could source is simply absent (``None``), and the cost model reports it as unknown.

``load_prices(override_path)`` is the only reader of these files. The shipped files are four tables that share one
namespace, so a user file may contain any of their top-level sections::

    [exchange.usd_to_cny]            # general.toml
    [electricity] / [electricity.regions.<id>]   # default_region (USD plans), default_region_cny (CNY plans)
    [pue] [depreciation_years] [ops_fraction_of_capex_per_year]
    [gpus.<gpu-id>.new|used|china]   # gpus.toml
    [classes.<node-class>...] [networks.<network>...]   # nodes.toml
    [[offers]]                       # cloud.toml

Tables are merged key by key over the shipped data; a fact (a table with a ``value``) is replaced whole, so a new
value always comes with its own source and date; a user ``[[offers]]`` entry replaces the shipped offer with the same
(provider, gpu, instance, tier, term) and is appended otherwise.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from gpuplan.errors import InvalidInputError, MalformedFileError, UnknownNameError, closest
from gpuplan.records import Record, record

MAX_PRICES_FILE_BYTES = 2**20
PRICE_FILES = ("general.toml", "gpus.toml", "nodes.toml", "cloud.toml")
TOP_LEVEL_KEYS = (
    "exchange", "electricity", "pue", "depreciation_years", "ops_fraction_of_capex_per_year",
    "gpus", "classes", "networks", "offers",
)
UNITS = (
    "USD", "CNY", "USD/kWh", "CNY/kWh", "CNY/USD", "ratio", "fraction", "years", "W",
    "USD/GPU-hour", "CNY/GPU-hour", "U",
)
QUALITIES = ("primary", "secondary")
GPU_PRICE_KINDS = ("new", "used", "china")
CLOUD_TERMS = ("on-demand", "reserved-1y")
_DATE_RE = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


# Frozen dataclasses (gpuplan.records), not pydantic: `gpuplan plan` starts without pydantic (issue 16). _build
# checks every value of a price file before these are made.
@record
class PriceFact(Record):
    """One sourced number: ``value`` in ``unit``, published or observed in ``date`` (YYYY-MM) at ``source``."""

    value: float
    unit: str
    date: str
    source: str
    note: str | None = None
    quality: str = "primary"


@record
class GpuPrices(Record):
    """Purchase prices of one GPU: new (USD), used (USD), street price in China (CNY); ``None`` = not sourced."""

    new: PriceFact | None = None
    used: PriceFact | None = None
    china: PriceFact | None = None


@record
class NodeClass(Record):
    """A server class without GPUs: base cost (absolute or as a fraction of the GPUs' cost) and non-GPU watts."""

    id: str
    max_gpus: int
    description: str = ""
    base: PriceFact | None = None
    base_fraction_of_gpu_cost: PriceFact | None = None
    base_watts: PriceFact | None = None
    rack_units: PriceFact | None = None
    #: True for complete machines priced as one (DGX Spark, a Mac): the "GPU" price is the whole system's.
    included_in_gpu_price: bool = False


@record
class NetworkPrice(Record):
    """Scale-out network cost: per node, or per GPU rail (one port per GPU); ``None`` = not sourced."""

    id: str
    description: str = ""
    per_node: PriceFact | None = None
    per_gpu_rail: PriceFact | None = None
    #: True when the network comes with the GPUs' price (a CloudMatrix supernode share): no network capex of its own.
    included_in_gpu_price: bool = False


@record(kw_only=True)
class CloudOffer(Record):
    """A rentable GPU: price per GPU-hour (USD or CNY) of one provider's instance type."""

    provider: str
    gpu: str
    instance: str
    gpus_per_instance: int = 1
    region: str | None = None
    tier: str | None = None
    term: str = "on-demand"
    price: PriceFact

    _BOUNDS = {"instance": {"maxLength": 1000}, "region": {"maxLength": 1000}, "tier": {"maxLength": 1000}}


@record
class PriceBook(Record):
    """All price facts after merging the user's file; money conversions go through :meth:`to_usd`."""

    usd_to_cny: PriceFact | None = None
    electricity: dict[str, PriceFact] = field(default_factory=dict)
    default_electricity_region: str | None = None
    default_electricity_region_cny: str | None = None
    pue: PriceFact | None = None
    depreciation_years: PriceFact | None = None
    ops_fraction_of_capex_per_year: PriceFact | None = None
    gpus: dict[str, GpuPrices] = field(default_factory=dict)
    node_classes: dict[str, NodeClass] = field(default_factory=dict)
    networks: dict[str, NetworkPrice] = field(default_factory=dict)
    cloud_offers: tuple[CloudOffer, ...] = ()
    override_path: str | None = None

    def to_usd(self, fact: PriceFact | None) -> float | None:
        """A money fact in USD: USD values as is; CNY values / (CNY per USD); ``None`` when the rate is unknown.

        Per-unit facts convert the same way (CNY/kWh → USD/kWh, CNY/GPU-hour → USD/GPU-hour).
        """
        if fact is None:
            return None
        if fact.unit.startswith("USD"):
            return fact.value
        if fact.unit.startswith("CNY"):
            if self.usd_to_cny is None or self.usd_to_cny.value <= 0:
                return None
            return fact.value / self.usd_to_cny.value
        return fact.value

    def offers_for(self, gpu_id: str, provider: str | None = None, term: str = "on-demand") -> tuple[CloudOffer, ...]:
        """Cloud offers of one GPU (optionally one provider) and term, in file order."""
        return tuple(
            o for o in self.cloud_offers
            if o.gpu == gpu_id and o.term == term and (provider is None or o.provider == provider)
        )

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o.provider for o in self.cloud_offers))

    def node_class(self, class_id: str) -> NodeClass:
        try:
            return self.node_classes[class_id]
        except KeyError:
            raise UnknownNameError("cost.unknown_node_class", given=class_id,
                                   allowed=", ".join(self.node_classes)) from None

    def network(self, network_id: str) -> NetworkPrice:
        try:
            return self.networks[network_id]
        except KeyError:
            raise UnknownNameError("cost.unknown_network", given=network_id,
                                   allowed=", ".join(self.networks)) from None


# ---------------------------------------------------------------- reading and merging raw TOML


@cache
def _shipped_raw() -> dict[str, Any]:
    folder = resources.files("gpuplan.catalog") / "data" / "prices"
    merged: dict[str, Any] = {}
    for name in PRICE_FILES:
        with (folder / name).open("rb") as handle:
            data = tomllib.load(handle)
        _merge_into(merged, data)
    return merged


@cache
def _shipped_book() -> PriceBook:
    """The shipped prices alone, parsed and validated once per process (PriceBook is frozen)."""
    merged: dict[str, Any] = {}
    _merge_into(merged, _shipped_raw())
    return _build(merged, "catalog/data/prices")


def _read_user_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidInputError("cost.prices_missing", path=str(path))
    if path.stat().st_size > MAX_PRICES_FILE_BYTES:
        raise MalformedFileError("cost.prices_too_big", path=str(path), limit_kib=MAX_PRICES_FILE_BYTES // 1024)
    from gpuplan.safeio import load_toml, read_bytes

    text = read_bytes(path, MAX_PRICES_FILE_BYTES).decode("utf-8", errors="replace")  # regular file, bounded
    try:
        return load_toml(text, str(path))  # nesting bounded
    except tomllib.TOMLDecodeError as exc:
        raise MalformedFileError("cost.prices_not_toml", path=str(path), detail=str(exc)) from None


def _offer_key(offer: Mapping[str, Any]) -> tuple:
    return (offer.get("provider"), offer.get("gpu"), offer.get("instance"), offer.get("tier"),
            offer.get("term", "on-demand"))


def _merge_into(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Deep-merge ``extra`` into ``base``: tables key by key, facts (tables with a ``value``) whole, ``offers`` by
    offer identity."""
    for key, value in extra.items():
        if key == "offers" and isinstance(value, list):
            offers = list(base.get("offers", []))
            index = {_offer_key(o): i for i, o in enumerate(offers) if isinstance(o, Mapping)}
            for offer in value:
                k = _offer_key(offer) if isinstance(offer, Mapping) else None
                if k is not None and k in index:
                    offers[index[k]] = offer
                else:
                    offers.append(offer)
            base["offers"] = offers
        elif isinstance(value, Mapping) and "value" in value:
            base[key] = dict(value)  # a fact is replaced whole: a new value never inherits the old source
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge_into(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = {}
            _merge_into(base[key], value)
        else:
            base[key] = value


# ---------------------------------------------------------------- validation: one sentence per problem


def _fail(path: str, field: str, detail: str) -> MalformedFileError:
    return MalformedFileError("cost.prices_invalid", path=path, field=field, detail=detail)


def _fact(raw: Any, where: str, src: str) -> PriceFact:
    if not isinstance(raw, Mapping):
        raise _fail(src, where, "expected a table with value, unit, date, source")
    missing = [k for k in ("value", "unit", "date", "source") if k not in raw]
    if missing:
        raise _fail(src, where, "missing " + ", ".join(missing))
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _fail(src, f"{where}.value", f"{value!r} is not a finite number >= 0")
    unit = raw["unit"]
    if unit not in UNITS:
        raise _fail(src, f"{where}.unit", f"{unit!r} is not one of {', '.join(UNITS)}")
    date = str(raw["date"])
    if not _DATE_RE.match(date):
        raise _fail(src, f"{where}.date", f"{date!r} is not YYYY-MM")
    source = str(raw["source"]).strip()
    if not source:
        raise _fail(src, f"{where}.source", "empty source")
    note = raw.get("note")
    quality = raw.get("quality", "primary")
    if quality not in QUALITIES:
        raise _fail(src, f"{where}.quality", f"{quality!r} is not one of {', '.join(QUALITIES)}")
    return PriceFact(value=float(value), unit=unit, date=date, source=source,
                     note=None if note is None else str(note), quality=quality)


def _optional_fact(raw: Mapping[str, Any], key: str, where: str, src: str) -> PriceFact | None:
    return _fact(raw[key], f"{where}.{key}" if where else key, src) if key in raw else None


def _expect_units(fact: PriceFact | None, allowed: tuple[str, ...], where: str, src: str) -> PriceFact | None:
    if fact is not None and fact.unit not in allowed:
        raise _fail(src, f"{where}.unit", f"{fact.unit!r} here must be one of {', '.join(allowed)}")
    return fact


def _check_id(value: str, where: str, src: str) -> str:
    if not _ID_RE.match(value):
        raise _fail(src, where, f"{value!r} is not an id (lowercase letters, digits, '-', '.', '_')")
    return value


def _table(raw: Mapping[str, Any], key: str, src: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise _fail(src, key, "expected a table")
    return value


def _build(raw: Mapping[str, Any], src: str) -> PriceBook:
    unknown = [k for k in raw if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise InvalidInputError("cost.prices_unknown_key", path=src, given=unknown[0],
                                suggestions=", ".join(closest(unknown[0], TOP_LEVEL_KEYS)) or "—",
                                allowed=", ".join(TOP_LEVEL_KEYS))
    exchange = _table(raw, "exchange", src)
    usd_to_cny = _expect_units(_optional_fact(exchange, "usd_to_cny", "exchange", src), ("CNY/USD",), "exchange.usd_to_cny", src)
    if usd_to_cny is not None and usd_to_cny.value <= 0:
        raise _fail(src, "exchange.usd_to_cny.value", "the rate must be > 0")

    elec_raw = _table(raw, "electricity", src)
    regions_raw = _table(elec_raw, "regions", src)
    electricity = {
        _check_id(k, f"electricity.regions.{k}", src):
            _expect_units(_fact(v, f"electricity.regions.{k}", src), ("USD/kWh", "CNY/kWh"), f"electricity.regions.{k}", src)
        for k, v in regions_raw.items()
    }
    default_region = elec_raw.get("default_region")
    if default_region is not None and default_region not in electricity:
        raise _fail(src, "electricity.default_region", f"{default_region!r} is not one of {', '.join(electricity) or '(none)'}")
    default_region_cny = elec_raw.get("default_region_cny")
    if default_region_cny is not None and default_region_cny not in electricity:
        raise _fail(src, "electricity.default_region_cny",
                    f"{default_region_cny!r} is not one of {', '.join(electricity) or '(none)'}")

    pue = _expect_units(_optional_fact(raw, "pue", "", src), ("ratio",), "pue", src)
    if pue is not None and not 1.0 <= pue.value <= 3.0:
        raise _fail(src, "pue.value", f"{pue.value} is outside 1.0-3.0")
    depreciation = _expect_units(_optional_fact(raw, "depreciation_years", "", src), ("years",), "depreciation_years", src)
    if depreciation is not None and not 0 < depreciation.value <= 30:
        raise _fail(src, "depreciation_years.value", f"{depreciation.value} is outside (0, 30]")
    ops = _expect_units(_optional_fact(raw, "ops_fraction_of_capex_per_year", "", src), ("fraction",),
                        "ops_fraction_of_capex_per_year", src)
    if ops is not None and ops.value > 1:
        raise _fail(src, "ops_fraction_of_capex_per_year.value", f"{ops.value} is above 1")

    gpus: dict[str, GpuPrices] = {}
    for gid, entry in _table(raw, "gpus", src).items():
        where = f"gpus.{_check_id(gid, f'gpus.{gid}', src)}"
        if not isinstance(entry, Mapping):
            raise _fail(src, where, "expected a table")
        extra = [k for k in entry if k not in GPU_PRICE_KINDS]
        if extra:
            raise _fail(src, f"{where}.{extra[0]}", f"unknown price kind; allowed: {', '.join(GPU_PRICE_KINDS)}")
        gpus[gid] = GpuPrices(
            new=_expect_units(_optional_fact(entry, "new", where, src), ("USD", "CNY"), f"{where}.new", src),
            used=_expect_units(_optional_fact(entry, "used", where, src), ("USD", "CNY"), f"{where}.used", src),
            china=_expect_units(_optional_fact(entry, "china", where, src), ("CNY", "USD"), f"{where}.china", src),
        )

    classes: dict[str, NodeClass] = {}
    for cid, entry in _table(raw, "classes", src).items():
        where = f"classes.{_check_id(cid, f'classes.{cid}', src)}"
        if not isinstance(entry, Mapping):
            raise _fail(src, where, "expected a table")
        max_gpus = entry.get("max_gpus")
        if isinstance(max_gpus, bool) or not isinstance(max_gpus, int) or not 1 <= max_gpus <= 64:
            raise _fail(src, f"{where}.max_gpus", f"{max_gpus!r} is not an integer 1-64")
        whole = entry.get("included_in_gpu_price", False)
        if not isinstance(whole, bool):
            raise _fail(src, f"{where}.included_in_gpu_price", f"{whole!r} is not true or false")
        classes[cid] = NodeClass(
            id=cid, max_gpus=max_gpus, description=str(entry.get("description", "")), included_in_gpu_price=whole,
            base=_expect_units(_optional_fact(entry, "base", where, src), ("USD", "CNY"), f"{where}.base", src),
            base_fraction_of_gpu_cost=_expect_units(_optional_fact(entry, "base_fraction_of_gpu_cost", where, src),
                                                    ("fraction",), f"{where}.base_fraction_of_gpu_cost", src),
            base_watts=_expect_units(_optional_fact(entry, "base_watts", where, src), ("W",), f"{where}.base_watts", src),
            rack_units=_expect_units(_optional_fact(entry, "rack_units", where, src), ("U",), f"{where}.rack_units", src),
        )

    networks: dict[str, NetworkPrice] = {}
    for nid, entry in _table(raw, "networks", src).items():
        where = f"networks.{_check_id(nid, f'networks.{nid}', src)}"
        if not isinstance(entry, Mapping):
            raise _fail(src, where, "expected a table")
        included = entry.get("included_in_gpu_price", False)
        if not isinstance(included, bool):
            raise _fail(src, f"{where}.included_in_gpu_price", f"{included!r} is not true or false")
        networks[nid] = NetworkPrice(
            id=nid, description=str(entry.get("description", "")), included_in_gpu_price=included,
            per_node=_expect_units(_optional_fact(entry, "per_node", where, src), ("USD", "CNY"), f"{where}.per_node", src),
            per_gpu_rail=_expect_units(_optional_fact(entry, "per_gpu_rail", where, src), ("USD", "CNY"),
                                       f"{where}.per_gpu_rail", src),
        )

    offers_raw = raw.get("offers", [])
    if not isinstance(offers_raw, list):
        raise _fail(src, "offers", "expected [[offers]] tables")
    offers: list[CloudOffer] = []
    for i, entry in enumerate(offers_raw):
        where = f"offers[{i}]"
        if not isinstance(entry, Mapping):
            raise _fail(src, where, "expected a table")
        for key in ("provider", "gpu", "instance"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise _fail(src, f"{where}.{key}", "missing or empty")
        gpi = entry.get("gpus_per_instance", 1)
        if isinstance(gpi, bool) or not isinstance(gpi, int) or not 1 <= gpi <= 72:
            raise _fail(src, f"{where}.gpus_per_instance", f"{gpi!r} is not an integer 1-72")
        term = entry.get("term", "on-demand")
        if term not in CLOUD_TERMS:
            raise _fail(src, f"{where}.term", f"{term!r} is not one of {', '.join(CLOUD_TERMS)}")
        price = _expect_units(_fact(entry, where, src), ("USD/GPU-hour", "CNY/GPU-hour"), where, src)
        offers.append(CloudOffer(
            provider=_check_id(entry["provider"], f"{where}.provider", src),
            gpu=_check_id(entry["gpu"], f"{where}.gpu", src),
            instance=entry["instance"], gpus_per_instance=gpi, region=entry.get("region"),
            tier=entry.get("tier"), term=term, price=price,
        ))

    return PriceBook(
        usd_to_cny=usd_to_cny, electricity=electricity, default_electricity_region=default_region,
        default_electricity_region_cny=default_region_cny,
        pue=pue, depreciation_years=depreciation, ops_fraction_of_capex_per_year=ops,
        gpus=gpus, node_classes=classes, networks=networks, cloud_offers=tuple(offers),
    )


def load_prices(override_path: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> PriceBook:
    """The shipped price book, with a user TOML file and then in-memory ``overrides`` (from CLI flags) merged over it.

    Both use the structure of the shipped files. Any problem is one sentence naming the file, the field and what is
    allowed (``MalformedFileError`` / ``InvalidInputError``).
    """
    if override_path is None and not overrides:
        return _shipped_book()
    merged: dict[str, Any] = {}
    _merge_into(merged, _shipped_raw())
    src = "catalog/data/prices"
    if override_path is not None:
        path = Path(override_path)
        _merge_into(merged, _read_user_file(path))
        src = str(path)
    if overrides:
        _merge_into(merged, overrides)
        src = f"{src} + command-line flags"
    book = _build(merged, src)
    if override_path is not None:
        book = book.model_copy(update={"override_path": str(override_path)})
    return book
