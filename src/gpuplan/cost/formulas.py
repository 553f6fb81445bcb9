"""The cost formulas, one per function, in USD, watts, hours and tokens (DESIGN §7).

Each function returns ``None`` when an input it needs is unknown (``None``); callers list what was missing.
"""

from __future__ import annotations

import math

from gpuplan.units import HOURS_PER_YEAR, KILO, MEGA, SECONDS_PER_HOUR

MONTHS_PER_YEAR = 12
HOURS_PER_MONTH = HOURS_PER_YEAR / MONTHS_PER_YEAR  # 730 h: a service that runs all the time


def it_power_watts(gpu_tdp_watts: float | None, load_fraction: float, gpu_count: int,
                   node_base_watts: float | None, nodes: int) -> float | None:
    """Average IT power: ``TDP × load × GPUs + node base W × nodes``.

    ``load_fraction`` is the average GPU draw as a share of TDP; the node base (CPUs, RAM, fans, NICs, NVSwitch) is
    counted at its stated value. Facility overhead is applied separately by :func:`facility_power_watts`.
    """
    if gpu_tdp_watts is None or node_base_watts is None:
        return None
    return gpu_tdp_watts * load_fraction * gpu_count + node_base_watts * nodes


def facility_power_watts(it_watts: float | None, pue: float | None) -> float | None:
    """Power drawn from the grid: ``IT watts × PUE`` (PUE = total facility power / IT power, Uptime Institute)."""
    if it_watts is None or pue is None:
        return None
    return it_watts * pue


def energy_usd_per_year(facility_watts: float | None, usd_per_kwh: float | None) -> float | None:
    """Electricity cost of running all year: ``W / 1000 × 8760 h × USD/kWh``."""
    if facility_watts is None or usd_per_kwh is None:
        return None
    return facility_watts / KILO * HOURS_PER_YEAR * usd_per_kwh


def gpus_capex_usd(gpu_price_usd: float | None, gpu_count: int) -> float | None:
    """Purchase price of the GPUs: ``unit price × GPUs``."""
    return None if gpu_price_usd is None else gpu_price_usd * gpu_count


def nodes_capex_usd(base_usd: float | None, base_fraction_of_gpu_cost: float | None,
                    gpus_usd: float | None, nodes: int) -> float | None:
    """Servers without GPUs: ``base price × nodes`` or, when the class is priced relative to its GPUs,
    ``fraction × GPU cost`` (Epoch AI: an 8-GPU H100 server costs ~38% more than its GPUs)."""
    if base_usd is not None:
        return base_usd * nodes
    if base_fraction_of_gpu_cost is not None and gpus_usd is not None:
        return base_fraction_of_gpu_cost * gpus_usd
    return None


def network_capex_usd(network_id: str, per_node_usd: float | None, per_gpu_rail_usd: float | None,
                      nodes: int, gpu_count: int) -> float | None:
    """Scale-out network: 0 for a single node or network 'none'; else ``per node × nodes`` or
    ``per GPU rail × GPUs`` (rail-optimized fabrics give every GPU its own port)."""
    if network_id == "none" or nodes <= 1:
        return 0.0
    if per_node_usd is not None:
        return per_node_usd * nodes
    if per_gpu_rail_usd is not None:
        return per_gpu_rail_usd * gpu_count
    return None


def bought_share_usd(value_usd: float | None, bought: int, total: int) -> float | None:
    """Capex of the part not already owned: ``value × bought / total`` (GPUs, servers or ports counted alike);
    exactly 0 when nothing is bought, even if the price is unknown (owned hardware costs nothing to buy)."""
    if bought <= 0:
        return 0.0
    if value_usd is None:
        return None
    return value_usd * bought / total


def sum_known(*parts: float | None) -> float | None:
    """Sum when every part is known, else ``None`` (an unknown part makes the total unknown)."""
    if any(p is None for p in parts):
        return None
    return float(sum(parts))  # type: ignore[arg-type]


def ops_usd_per_year(capex_usd: float | None, ops_fraction: float | None) -> float | None:
    """Operations (staff, support, space): ``capex × fraction per year``."""
    if capex_usd is None or ops_fraction is None:
        return None
    return capex_usd * ops_fraction


def tco_usd(capex_usd: float | None, opex_usd_per_year: float | None, years: float) -> float | None:
    """Total cost of ownership over N years: ``capex + opex × N`` (no resale value counted)."""
    if capex_usd is None or opex_usd_per_year is None:
        return None
    return capex_usd + opex_usd_per_year * years


def cloud_usd_per_hour(usd_per_gpu_hour: float | None, gpus_per_instance: int, gpu_count: int) -> float | None:
    """Renting the same GPUs: whole instances, ``ceil(GPUs / GPUs per instance) × GPUs per instance × rate``."""
    if usd_per_gpu_hour is None:
        return None
    instances = math.ceil(gpu_count / gpus_per_instance)
    return instances * gpus_per_instance * usd_per_gpu_hour


def cloud_usd_total(usd_per_hour: float | None, years: float) -> float | None:
    """Renting for the same service, always on: ``USD/h × 8760 h × years``."""
    return None if usd_per_hour is None else usd_per_hour * HOURS_PER_YEAR * years


def break_even_months(capex_usd: float | None, opex_usd_per_year: float | None,
                      rent_usd_per_hour: float | None) -> float | None:
    """Month where owning catches up with renting: ``capex / (rent per month − opex per month)``.

    Owning costs ``capex + opex/12 · m`` after m months, renting ``rent/h · 730 · m``. ``None`` when unknown or
    when renting is never more expensive per month (owning never breaks even).
    """
    if capex_usd is None or opex_usd_per_year is None or rent_usd_per_hour is None:
        return None
    saving_per_month = rent_usd_per_hour * HOURS_PER_MONTH - opex_usd_per_year / MONTHS_PER_YEAR
    if saving_per_month <= 0:
        return None
    return capex_usd / saving_per_month


def owned_usd_per_year(capex_usd: float | None, depreciation_years: float | None,
                       opex_usd_per_year: float | None) -> float | None:
    """Yearly cost of owning for unit prices: straight-line depreciation ``capex / years`` + opex."""
    if capex_usd is None or depreciation_years is None or opex_usd_per_year is None:
        return None
    return capex_usd / depreciation_years + opex_usd_per_year


def tokens_per_year(tokens_per_s: float | None, utilization_fraction: float) -> float | None:
    """Tokens served in a year: ``tokens/s × utilization × 8760 × 3600`` (utilization = busy share of the year)."""
    if tokens_per_s is None:
        return None
    return tokens_per_s * utilization_fraction * HOURS_PER_YEAR * SECONDS_PER_HOUR


def input_cost_share(input_tokens_per_s: float | None, output_tokens_per_s: float | None,
                     prefix_cache_hit_fraction: float) -> float | None:
    """Share of cost charged to input tokens, by compute per token.

    Rule: each uncached input token and each output token costs the same compute, about 2·N_active FLOPs (Kaplan
    et al. 2020, https://arxiv.org/abs/2001.08361); input tokens served from the prefix cache cost nothing. So
    ``share_in = in·(1−hit) / (in·(1−hit) + out)``. This ignores that decode is memory-bound (it under-charges
    output on GPUs that wait on memory) and attention's growth with context.
    """
    if output_tokens_per_s is None:
        return None
    effective_in = (input_tokens_per_s or 0.0) * (1.0 - prefix_cache_hit_fraction)
    total = effective_in + output_tokens_per_s
    if total <= 0:
        return None
    return effective_in / total


def usd_per_million_tokens(usd_per_year: float | None, share: float | None,
                           tokens_in_year: float | None) -> float | None:
    """``USD/year × share / (tokens/year / 10^6)``; ``None`` when unknown or no tokens."""
    if usd_per_year is None or share is None or not tokens_in_year:
        return None
    return usd_per_year * share / (tokens_in_year / MEGA)
