"""The cost model: capex, opex, TCO, cloud for the same service, break-even, $/M tokens, training cost.

Money is USD inside; :func:`money` converts for presentation only. Every result lists the assumptions it made and
the price facts it could not find (``unknowns``) as i18n notes, so the edges render them in the user's language.
"""

from __future__ import annotations

import math
import re
from dataclasses import field

from gpuplan.catalog.prices import CLOUD_TERMS, CloudOffer, PriceBook, PriceFact
from gpuplan.cost import formulas as f
from gpuplan.errors import InvalidInputError, UnknownNameError
from gpuplan.i18n import t
from gpuplan.records import Record, record
from gpuplan.units import HOURS_PER_YEAR, SECONDS_PER_HOUR

CURRENCIES = ("USD", "CNY")
PURCHASE_KINDS = ("new", "used", "china")
#: When the asked purchase market has no price, these are tried next (a new price in the other market), never "used".
_PURCHASE_FALLBACK = {"new": ("china",), "china": ("new",), "used": ()}
_NVLINK_MODULE_RE = re.compile(r"^nvlink\d+$")  # gpus.csv interconnect of NVIDIA SXM modules (not "nvlink-bridge")
#: AMD Instinct OAM modules: eight on a Universal Baseboard, Infinity Fabric between them (not HGX, no NVSwitch);
#: MI300A (an APU socket) and MI210 (a PCIe card with an xGMI bridge) are not OAM modules.
_AMD_OAM_IDS = ("mi250x", "mi300x", "mi325x", "mi355x")
#: Huawei Ascend NPU modules joined by HCCS in Atlas 800-class servers; the 910C is priced per CloudMatrix 384 share.
_ASCEND_MODULE_CLASSES = {"ascend-910b": "ascend-hccs-8npu", "ascend-910c": "cloudmatrix-384"}
#: Server classes whose multi-node default is one 400G rail per GPU (the way 8-GPU baseboards are cabled).
_RAIL_NETWORK_CLASSES = ("hgx-8gpu", "oam-ubb-8gpu")


# Frozen dataclasses (gpuplan.records), not pydantic: `gpuplan plan` starts without pydantic (issue 16).
@record
class Note(Record):
    """A sentence for the user, kept as an i18n key and parameters; :meth:`text` renders it."""

    key: str
    params: dict[str, str | float | int] = field(default_factory=dict)

    def text(self, lang: str | None = None) -> str:
        return t(self.key, lang=lang, **self.params)


@record
class CostInputs(Record):
    """What to price: the hardware, how hard it runs, how long, and the traffic it serves."""

    gpu_id: str
    gpu_class: str | None = None
    gpu_count: int = 1
    nodes: int = 1
    node_class: str | None = None
    network: str | None = None
    gpu_tdp_watts: float | None = None
    load_fraction: float = 0.7
    years: float = 3.0
    output_tokens_per_s: float | None = None
    input_tokens_per_s: float | None = None
    utilization_fraction: float = 0.5
    prefix_cache_hit_fraction: float = 0.0
    cloud_provider: str | None = None
    cloud_term: str = "on-demand"
    currency: str = "USD"
    electricity_region: str | None = None
    purchase: str = "new"
    #: How many of the ``gpu_count`` GPUs the user already owns (``--have``): they, their servers and their network
    #: ports carry no capex; power and operations are counted for the whole deployment.
    owned_gpus: int = 0

    @property
    def gpus_per_node(self) -> int:
        return math.ceil(self.gpu_count / self.nodes)

    @property
    def bought_gpus(self) -> int:
        return self.gpu_count - self.owned_gpus

    @property
    def bought_nodes(self) -> int:
        """Servers to buy: those holding a bought GPU (a server counts as owned only when all its GPUs are)."""
        return math.ceil(self.bought_gpus / self.gpus_per_node)


@record
class MonthPoint(Record):
    """Cumulative spend after ``month`` months: owning (capex up front + opex) vs renting."""

    month: int
    own_usd: float | None
    rent_usd: float | None


@record(kw_only=True)
class CostResult(Record):
    """The money of one deployment (USD; ``None`` = unknown, see ``unknowns``)."""

    gpu_id: str
    gpu_count: int
    nodes: int
    node_class: str
    network: str
    years: float
    currency: str
    capex_gpus_usd: float | None
    capex_nodes_usd: float | None
    capex_network_usd: float | None
    capex_usd: float | None
    it_power_watts: float | None
    facility_power_watts: float | None
    power_usd_per_year: float | None
    ops_usd_per_year: float | None
    opex_usd_per_year: float | None
    tco_usd: float | None
    cloud_provider: str | None
    cloud_instance: str | None
    cloud_gpus_per_instance: int | None = None
    cloud_usd_per_hour: float | None
    cloud_usd_total: float | None
    break_even_months: float | None
    owned_usd_per_year: float | None
    output_tokens_per_year: float | None
    input_tokens_per_year: float | None
    input_cost_share: float | None
    usd_per_million_output_tokens: float | None
    usd_per_million_input_tokens: float | None
    cloud_usd_per_million_output_tokens: float | None
    cloud_usd_per_million_input_tokens: float | None
    monthly: tuple[MonthPoint, ...]
    assumptions: tuple[Note, ...]
    unknowns: tuple[Note, ...]
    sources: tuple[str, ...]
    utilization_fraction: float = 0.5
    purchase: str = "new"
    gpu_price_kind: str | None = None
    electricity_region: str | None = None
    usd_to_cny: float | None = None
    usd_to_cny_date: str | None = None
    usd_to_cny_source: str | None = None
    missing: tuple[str, ...] = ()
    owned_gpus: int = 0
    owned_nodes: int = 0
    #: What the owned GPUs, servers and ports would cost to buy (not in capex; the basis of operations cost).
    owned_value_usd: float | None = None

    @property
    def priced(self) -> bool:
        """True when the capex is known (GPUs, servers and network all priced): only such a result may pass a
        budget or rank by cost."""
        return self.capex_usd is not None


@record
class TrainingCostResult(Record):
    """Time and money to train N tokens at a measured or predicted rate, owning vs renting."""

    tokens: float
    train_tokens_per_s: float
    seconds: float
    gpu_hours: float
    own_usd: float | None
    rent_usd: float | None
    cloud_provider: str | None
    assumptions: tuple[Note, ...]
    unknowns: tuple[Note, ...]


def money(usd: float | None, currency: str, prices: PriceBook) -> float | None:
    """Present a USD amount in ``currency``: USD as is, CNY = USD × (CNY per USD); ``None`` if unknown."""
    if usd is None:
        return None
    if currency == "USD":
        return usd
    if currency == "CNY":
        if prices.usd_to_cny is None:
            return None
        return usd * prices.usd_to_cny.value
    raise InvalidInputError("cost.bad_currency", given=currency, allowed=", ".join(CURRENCIES))


_ZERO_WATTS = PriceFact(value=0.0, unit="W", date="2026-12", source="the system's own power figure (gpus.csv tdp_watts)")


def default_node_class(gpu_id: str, gpus_per_node: int, gpu_class: str | None = None) -> str:
    """The server class assumed when the plan names none.

    NVIDIA SXM modules (ids containing ``-sxm``, or an ``nvlinkN`` interconnect in gpus.csv: H20, B200, B300, GB200,
    A800 ...) → ``hgx-8gpu`` at any count (an SXM module only runs on such a baseboard, never in a desktop); AMD
    Instinct OAM modules (MI250X, MI300X, MI325X, MI355X) → ``oam-ubb-8gpu`` (AMD's 8-GPU OAM/UBB platform, its own
    class and label: no NVSwitch; its price data say what is assumed); Ascend 910B →
    ``ascend-hccs-8npu`` (Atlas 800-class), 910C → ``cloudmatrix-384`` (its price is a supernode share that includes
    the servers); unified-memory and embedded machines (Macs, DGX Spark, Jetson) → ``whole-system`` (their price is
    the machine's); one consumer or workstation card → ``workstation-1gpu``, two → ``workstation-2gpu``; otherwise
    (data-center PCIe cards, which need server airflow, or several cards) PCIe servers with 4 or 8 slots by GPUs per
    node.
    """
    if gpu_id in _AMD_OAM_IDS:
        return "oam-ubb-8gpu"
    if gpu_id in _ASCEND_MODULE_CLASSES:
        return _ASCEND_MODULE_CLASSES[gpu_id]
    if "-sxm" in gpu_id or _is_nvidia_sxm_module(gpu_id):
        return "hgx-8gpu"
    if gpu_class in ("unified", "embedded") and gpus_per_node <= 1:
        return "whole-system"
    if gpus_per_node <= 1 and gpu_class != "datacenter":
        return "workstation-1gpu"
    if gpus_per_node == 2 and gpu_class in ("consumer", "workstation"):
        return "workstation-2gpu"
    return "pcie-server-4gpu" if gpus_per_node <= 4 else "pcie-server-8gpu"


def _is_nvidia_sxm_module(gpu_id: str) -> bool:
    """True for an NVIDIA module on an NVLink baseboard: gpus.csv gives it an ``nvlinkN`` interconnect (H20, B200,
    B300, GB200, A800 SXM, V100 SXM2 ...), while PCIe cards say ``pcie`` or ``nvlink-bridge``. Unknown ids: False."""
    from gpuplan.catalog import get_gpu
    from gpuplan.errors import GpuplanError

    try:
        gpu = get_gpu(gpu_id)
    except GpuplanError:
        return False
    return gpu.vendor == "nvidia" and bool(_NVLINK_MODULE_RE.match(gpu.interconnect or ""))


def default_network(node_class: str, nodes: int) -> str:
    """The scale-out network assumed when the plan names none: none for one node, InfiniBand NDR (one 400G rail per
    GPU) for 8-GPU baseboard servers (HGX, AMD OAM/UBB), the supernode's own optical bus for CloudMatrix shares,
    100 GbE otherwise."""
    if nodes <= 1:
        return "none"
    if node_class in _RAIL_NETWORK_CLASSES:
        return "ib-ndr-400g"
    if node_class == "cloudmatrix-384":
        return "cloudmatrix-ub"
    return "ethernet-100g"


def _check_inputs(x: CostInputs, prices: PriceBook) -> None:
    def bad(field: str, given: object, allowed: str) -> InvalidInputError:
        return InvalidInputError("cost.bad_value", field=field, given=given, allowed=allowed)

    if not 1 <= x.gpu_count <= 100_000:
        raise bad("gpu_count", x.gpu_count, "1-100000")
    if not 1 <= x.nodes <= x.gpu_count:
        raise bad("nodes", x.nodes, f"1-{x.gpu_count}")
    if not 0 < x.years <= 30:
        raise bad("years", x.years, "more than 0, at most 30")  # "0-30" read as if 0 were allowed
    for name in ("load_fraction", "utilization_fraction"):
        value = getattr(x, name)
        if not 0 <= value <= 1:
            raise bad(name, value, "0-1")
    if not 0 <= x.owned_gpus <= x.gpu_count:
        raise bad("owned_gpus", x.owned_gpus, f"0-{x.gpu_count}")
    if not 0 <= x.prefix_cache_hit_fraction < 1:
        raise bad("prefix_cache_hit_fraction", x.prefix_cache_hit_fraction, "0-0.99")
    for name in ("gpu_tdp_watts", "output_tokens_per_s", "input_tokens_per_s"):
        value = getattr(x, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise bad(name, value, ">= 0")
    if x.currency not in CURRENCIES:
        raise InvalidInputError("cost.bad_currency", given=x.currency, allowed=", ".join(CURRENCIES))
    if x.cloud_term not in CLOUD_TERMS:
        raise bad("cloud_term", x.cloud_term, ", ".join(CLOUD_TERMS))
    if x.purchase not in PURCHASE_KINDS:
        raise bad("purchase", x.purchase, ", ".join(PURCHASE_KINDS))
    if x.cloud_provider is not None and x.cloud_provider not in prices.providers:
        raise UnknownNameError("cost.unknown_provider", given=x.cloud_provider,
                               allowed=", ".join(prices.providers))
    if x.electricity_region is not None and x.electricity_region not in prices.electricity:
        raise UnknownNameError("cost.unknown_region", given=x.electricity_region,
                               allowed=", ".join(prices.electricity))


def _cheapest_offer(prices: PriceBook, x: CostInputs) -> tuple[CloudOffer | None, float | None]:
    """The offer with the lowest cost for ``gpu_count`` GPUs (whole instances), with that cost per hour in USD."""
    best: tuple[CloudOffer | None, float | None] = (None, None)
    for offer in prices.offers_for(x.gpu_id, x.cloud_provider, x.cloud_term):
        rate = prices.to_usd(offer.price)
        per_hour = f.cloud_usd_per_hour(rate, offer.gpus_per_instance, x.gpu_count)
        if per_hour is not None and (best[1] is None or per_hour < best[1]):
            best = (offer, per_hour)
    return best


def cost_of(inputs: CostInputs, prices: PriceBook, *, monthly: bool = True) -> CostResult:
    """Price one deployment. Formulas in :mod:`gpuplan.cost.formulas`; every missing fact lands in ``unknowns``.

    ``monthly=False`` leaves the month-by-month series empty: the planner ranks thousands of hardware shapes by their
    price and shows no series for them (it was half the time of a price)."""
    x = inputs
    _check_inputs(x, prices)
    assumptions: list[Note] = []
    unknowns: list[Note] = []
    sources: list[str] = []

    def use(fact):
        if fact is not None:
            sources.append(f"{fact.source} ({fact.date})")
        return fact

    # --- capex
    node_class_id = x.node_class or default_node_class(x.gpu_id, x.gpus_per_node, x.gpu_class)
    if x.node_class is None:
        assumptions.append(Note(key="cost.note_node_class", params={"node_class": node_class_id}))
    node_class = prices.node_class(node_class_id)
    if x.gpus_per_node > node_class.max_gpus:
        raise InvalidInputError("cost.too_many_gpus_per_node", node_class=node_class_id,
                                given=x.gpus_per_node, allowed=node_class.max_gpus)
    network_id = x.network or default_network(node_class_id, x.nodes)
    if x.network is None and x.nodes > 1:
        assumptions.append(Note(key="cost.note_network", params={"network": network_id}))
    network = prices.network(network_id)

    gpu_kind, gpu_fact = gpu_price_fact(prices, x.gpu_id, x.purchase)
    use(gpu_fact)
    gpu_usd = prices.to_usd(gpu_fact)
    missing: list[str] = []
    # value = the whole deployment bought new; capex = the share not owned (``--have``)
    value_gpus = f.gpus_capex_usd(gpu_usd, x.gpu_count)
    capex_gpus = f.bought_share_usd(value_gpus, x.bought_gpus, x.gpu_count)
    if capex_gpus is None:
        missing.append("gpu")
        unknowns.append(Note(key=f"cost.unknown_gpu_price_{x.purchase}" if x.purchase != "china"
                             else "money.unknown_gpu_price_china", params={"gpu": x.gpu_id}))
    elif gpu_usd is not None and gpu_kind != x.purchase and x.bought_gpus:
        assumptions.append(Note(key="money.note_price_fallback", params={
            "gpu": x.gpu_id, "wanted": x.purchase, "used": gpu_kind}))

    base_usd = 0.0 if node_class.included_in_gpu_price else prices.to_usd(use(node_class.base))
    fraction = use(node_class.base_fraction_of_gpu_cost)
    value_nodes = f.nodes_capex_usd(base_usd, fraction.value if fraction else None, value_gpus, x.nodes)
    capex_nodes = (f.bought_share_usd(value_nodes, x.bought_nodes, x.nodes) if base_usd is not None
                   else f.bought_share_usd(value_nodes, x.bought_gpus, x.gpu_count))  # fraction of the GPUs' cost
    if capex_nodes is None and base_usd is None and fraction is None:
        missing.append("server")
        unknowns.append(Note(key="cost.unknown_node_price", params={"node_class": node_class_id}))
    if fraction is not None and base_usd is None and x.bought_gpus:
        assumptions.append(Note(key="cost.note_node_fraction", params={"fraction_pct": round(fraction.value * 100)}))
    if node_class_id.startswith("hgx") and x.gpus_per_node < 4:
        assumptions.append(Note(key="money.note_partial_hgx", params={"count": x.gpus_per_node}))
    if node_class_id == "cloudmatrix-384" and x.bought_gpus:
        assumptions.append(Note(key="money2.note_supernode_share", params={"count": x.gpu_count}))

    per_node_usd = 0.0 if network.included_in_gpu_price else prices.to_usd(use(network.per_node))
    value_network = f.network_capex_usd(network_id, per_node_usd, prices.to_usd(use(network.per_gpu_rail)),
                                        x.nodes, x.gpu_count)
    capex_network = (f.bought_share_usd(value_network, x.bought_nodes, x.nodes) if per_node_usd is not None
                     else f.bought_share_usd(value_network, x.bought_gpus, x.gpu_count))  # one rail per GPU
    if capex_network is None:
        missing.append("network")
        unknowns.append(Note(key="cost.unknown_network_price", params={"network": network_id}))
    capex = f.sum_known(capex_gpus, capex_nodes, capex_network)
    value = f.sum_known(value_gpus, value_nodes, value_network)
    owned_nodes = x.nodes - x.bought_nodes
    if x.owned_gpus:
        assumptions.append(Note(key="money2.note_owned", params={
            "owned": x.owned_gpus, "count": x.gpu_count, "gpu": x.gpu_id, "owned_nodes": owned_nodes,
            "nodes": x.nodes}))

    # --- opex
    base_watts = use(node_class.base_watts)
    if node_class.included_in_gpu_price and base_watts is None:
        base_watts = _ZERO_WATTS  # the system's stated power (its "TDP") covers the whole machine
    if x.gpu_tdp_watts is None:
        unknowns.append(Note(key="cost.unknown_tdp", params={"gpu": x.gpu_id}))
    if base_watts is None:
        unknowns.append(Note(key="cost.unknown_node_watts", params={"node_class": node_class_id}))
    it_watts = f.it_power_watts(x.gpu_tdp_watts, x.load_fraction, x.gpu_count,
                                base_watts.value if base_watts else None, x.nodes)
    pue = use(prices.pue)
    if pue is None:
        unknowns.append(Note(key="cost.unknown_pue"))
    facility_watts = f.facility_power_watts(it_watts, pue.value if pue else None)
    region = x.electricity_region or default_region(prices, x.currency)
    elec = use(prices.electricity.get(region)) if region else None
    usd_per_kwh = prices.to_usd(elec)
    if usd_per_kwh is None:
        unknowns.append(Note(key="cost.unknown_electricity", params={"region": region or "—"}))
    power_usd = f.energy_usd_per_year(facility_watts, usd_per_kwh)
    assumptions.append(Note(key="cost.note_power", params={
        "load_pct": round(x.load_fraction * 100), "pue": pue.value if pue else "—", "region": region or "—"}))

    ops_fact = use(prices.ops_fraction_of_capex_per_year)
    if ops_fact is None:
        ops_usd = None
        unknowns.append(Note(key="cost.unknown_ops"))
        opex = power_usd  # electricity only, said in `unknowns`
    else:
        ops_usd = f.ops_usd_per_year(value, ops_fact.value)  # the hardware run, owned or bought
        opex = f.sum_known(power_usd, ops_usd)
    tco = f.tco_usd(capex, opex, x.years)

    # --- renting the same GPUs
    offer, rent_per_hour = _cheapest_offer(prices, x)
    if offer is None:
        if x.cloud_provider is None:
            unknowns.append(Note(key="cost.unknown_cloud", params={"gpu": x.gpu_id}))
        else:
            unknowns.append(Note(key="cost.unknown_cloud_provider",
                                 params={"gpu": x.gpu_id, "provider": x.cloud_provider}))
    else:
        use(offer.price)
        assumptions.append(Note(key="cost.note_cloud", params={
            "provider": offer.provider, "instance": offer.instance, "term": offer.term}))
        rented = math.ceil(x.gpu_count / offer.gpus_per_instance) * offer.gpus_per_instance
        if rented != x.gpu_count:
            assumptions.append(Note(key="money.note_whole_instances", params={
                "provider": offer.provider, "per_instance": offer.gpus_per_instance, "rented": rented,
                "count": x.gpu_count}))
    cloud_total = f.cloud_usd_total(rent_per_hour, x.years)
    break_even = f.break_even_months(capex, opex, rent_per_hour)

    # --- unit prices
    depreciation = use(prices.depreciation_years)
    owned_year = f.owned_usd_per_year(capex, depreciation.value if depreciation else None, opex)
    out_year = f.tokens_per_year(x.output_tokens_per_s, x.utilization_fraction)
    in_year = f.tokens_per_year(x.input_tokens_per_s, x.utilization_fraction)
    share_in = f.input_cost_share(x.input_tokens_per_s, x.output_tokens_per_s, x.prefix_cache_hit_fraction)
    share_out = None if share_in is None else 1.0 - share_in
    if x.output_tokens_per_s is None:
        unknowns.append(Note(key="cost.unknown_throughput"))
    else:
        assumptions.append(Note(key="cost.note_tokens", params={
            "util_pct": round(x.utilization_fraction * 100),
            "hit_pct": round(x.prefix_cache_hit_fraction * 100),
            "years": f"{depreciation.value:g}" if depreciation else "—"}))
    rent_year = None if rent_per_hour is None else rent_per_hour * HOURS_PER_YEAR
    assumptions.append(Note(key="cost.note_always_on", params={"years": f"{x.years:g}"}))

    series = _monthly_series(capex, opex, rent_per_hour, x.years) if monthly else ()
    return CostResult(
        gpu_id=x.gpu_id, gpu_count=x.gpu_count, nodes=x.nodes, node_class=node_class_id, network=network_id,
        years=x.years, currency=x.currency,
        capex_gpus_usd=capex_gpus, capex_nodes_usd=capex_nodes, capex_network_usd=capex_network, capex_usd=capex,
        it_power_watts=it_watts, facility_power_watts=facility_watts, power_usd_per_year=power_usd,
        ops_usd_per_year=ops_usd, opex_usd_per_year=opex, tco_usd=tco,
        cloud_provider=offer.provider if offer else None, cloud_instance=offer.instance if offer else None,
        cloud_usd_per_hour=rent_per_hour, cloud_usd_total=cloud_total, break_even_months=break_even,
        owned_usd_per_year=owned_year, output_tokens_per_year=out_year, input_tokens_per_year=in_year,
        input_cost_share=share_in,
        usd_per_million_output_tokens=f.usd_per_million_tokens(owned_year, share_out, out_year),
        usd_per_million_input_tokens=f.usd_per_million_tokens(owned_year, share_in, in_year),
        cloud_usd_per_million_output_tokens=f.usd_per_million_tokens(rent_year, share_out, out_year),
        cloud_usd_per_million_input_tokens=f.usd_per_million_tokens(rent_year, share_in, in_year),
        monthly=series, assumptions=tuple(assumptions), unknowns=tuple(unknowns),
        sources=tuple(dict.fromkeys(sources)),
        utilization_fraction=x.utilization_fraction, purchase=x.purchase, gpu_price_kind=gpu_kind,
        electricity_region=region, cloud_gpus_per_instance=offer.gpus_per_instance if offer else None,
        usd_to_cny=prices.usd_to_cny.value if prices.usd_to_cny else None,
        usd_to_cny_date=prices.usd_to_cny.date if prices.usd_to_cny else None,
        usd_to_cny_source=prices.usd_to_cny.source if prices.usd_to_cny else None,
        missing=tuple(missing), owned_gpus=x.owned_gpus, owned_nodes=owned_nodes,
        owned_value_usd=None if value is None or capex is None else value - capex,
    )


def gpu_price_fact(prices: PriceBook, gpu_id: str, purchase: str):
    """(kind used, fact) for a GPU's purchase price: the asked kind, else a new price in the other market
    (``new`` ↔ ``china``); ``(None, None)`` when none is sourced. Used prices never stand in for new ones."""
    entry = prices.gpus.get(gpu_id)
    if entry is None:
        return None, None
    for kind in (purchase, *_PURCHASE_FALLBACK.get(purchase, ())):
        fact = getattr(entry, kind)
        if fact is not None and prices.to_usd(fact) is not None:
            return kind, fact
    return None, None


def default_region(prices: PriceBook, currency: str) -> str | None:
    """The electricity region when the user names none: the CNY default (a Chinese tariff) for CNY plans, else the
    book's default."""
    if currency == "CNY" and prices.default_electricity_region_cny:
        return prices.default_electricity_region_cny
    return prices.default_electricity_region


def _monthly_series(capex: float | None, opex: float | None, rent_per_hour: float | None,
                    years: float) -> tuple[MonthPoint, ...]:
    """Cumulative spend at months 0..ceil(12·years): own = capex + opex/12·m, rent = rent/h · 730 · m."""
    months = math.ceil(years * f.MONTHS_PER_YEAR)
    points = []
    for m in range(months + 1):
        own = None if capex is None or opex is None else capex + opex / f.MONTHS_PER_YEAR * m
        rent = None if rent_per_hour is None else rent_per_hour * f.HOURS_PER_MONTH * m
        points.append(MonthPoint(month=m, own_usd=own, rent_usd=rent))
    return tuple(points)


def training_cost(inputs: CostInputs, tokens: float, train_tokens_per_s: float,
                  prices: PriceBook) -> TrainingCostResult:
    """Time and cost to train ``tokens`` at ``train_tokens_per_s`` (whole deployment), own vs rent.

    time = tokens / rate; GPU-hours = time_h × GPUs. Own = (capex / depreciation years + opex per year) × time in
    years — the hardware's amortized share, not its full price; rent = cloud USD/h × time_h.
    """
    if not math.isfinite(tokens) or tokens <= 0:
        raise InvalidInputError("cost.bad_value", field="tokens", given=tokens, allowed="> 0")
    if not math.isfinite(train_tokens_per_s) or train_tokens_per_s <= 0:
        raise InvalidInputError("cost.bad_value", field="train_tokens_per_s", given=train_tokens_per_s,
                                allowed="> 0")
    result = cost_of(inputs, prices)
    seconds = tokens / train_tokens_per_s
    hours = seconds / SECONDS_PER_HOUR
    own = None if result.owned_usd_per_year is None else result.owned_usd_per_year * hours / HOURS_PER_YEAR
    rent = None if result.cloud_usd_per_hour is None else result.cloud_usd_per_hour * hours
    notes = tuple(n for n in result.assumptions if n.key != "cost.note_tokens")
    unknowns = tuple(n for n in result.unknowns if n.key != "cost.unknown_throughput")
    return TrainingCostResult(
        tokens=tokens, train_tokens_per_s=train_tokens_per_s, seconds=seconds, gpu_hours=hours * inputs.gpu_count,
        own_usd=own, rent_usd=rent, cloud_provider=result.cloud_provider,
        assumptions=notes + (Note(key="cost.note_training"),), unknowns=unknowns,
    )
