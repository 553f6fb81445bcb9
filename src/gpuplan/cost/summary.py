"""The plan file's money block (:class:`gpuplan.planfile.CostSummary`) from a :class:`CostResult`."""

from __future__ import annotations

from gpuplan.cost.model import CostResult
from gpuplan.planfile import CostSummary


def to_cost_summary(result: CostResult, lang: str | None = None) -> CostSummary:
    """Copy the headline numbers (USD) into the plan file; unknowns become sentences in ``lang``."""
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
    )
