"""The plan file's money block (:class:`gpuplan.planfile.CostSummary`) from a :class:`CostResult`."""

from __future__ import annotations

from gpuplan.cost.model import CostResult
from gpuplan.planfile import CostSummary, ExchangeRate


def in_currency(usd: float | None, currency: str, usd_to_cny: float | None) -> float | None:
    """A USD amount in ``currency`` (USD as is; CNY = USD × CNY per USD); ``None`` when unknown or no rate."""
    if usd is None:
        return None
    if currency == "USD":
        return usd
    if usd_to_cny is None:
        return None
    return usd * usd_to_cny


def to_cost_summary(result: CostResult, lang: str | None = None) -> CostSummary:
    """Copy the headline numbers into the plan file, in USD and in the result's currency (with the dated rate);
    unknowns become sentences in ``lang``."""
    cur, rate = result.currency, result.usd_to_cny

    def conv(usd: float | None) -> float | None:
        return in_currency(usd, cur, rate)

    exchange = None
    if rate is not None and result.usd_to_cny_date and result.usd_to_cny_source:
        exchange = ExchangeRate(cny_per_usd=rate, date=result.usd_to_cny_date, source=result.usd_to_cny_source)
    return CostSummary(
        capex_usd=result.capex_usd,
        opex_usd_per_year=result.opex_usd_per_year,
        tco_usd=result.tco_usd,
        years=result.years,
        cloud_usd_per_hour=result.cloud_usd_per_hour,
        cloud_provider=result.cloud_provider,
        cloud_usd_total=result.cloud_usd_total,
        usd_per_million_output_tokens=result.usd_per_million_output_tokens,
        usd_per_million_input_tokens=result.usd_per_million_input_tokens,
        break_even_months=result.break_even_months,
        unknowns=tuple(note.text(lang) for note in result.unknowns),
        currency=cur,
        capex=conv(result.capex_usd),
        opex_per_year=conv(result.opex_usd_per_year),
        tco=conv(result.tco_usd),
        cloud_per_hour=conv(result.cloud_usd_per_hour),
        cloud_total=conv(result.cloud_usd_total),
        per_million_output_tokens=conv(result.usd_per_million_output_tokens),
        per_million_input_tokens=conv(result.usd_per_million_input_tokens),
        exchange_rate=exchange,
        priced=result.priced,
        missing=result.missing,
        purchase=result.gpu_price_kind or result.purchase,
        utilization_fraction=result.utilization_fraction,
        electricity_region=result.electricity_region,
        cloud_instance=result.cloud_instance,
        cloud_gpus_per_instance=result.cloud_gpus_per_instance,
    )
