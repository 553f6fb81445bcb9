"""``gpuplan cost PLAN_FILE``: TCO table, own vs rent, and a terminal chart of cumulative cost."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from gpuplan.i18n import t

OWN_MARK, RENT_MARK, BOTH_MARK = "●", "○", "◆"


def register(app: typer.Typer) -> None:
    @app.command("cost", help=t("cost.help"))
    def cost_cmd(
        plan_file: Path = typer.Argument(..., help=t("cost.arg_plan"), metavar="PLAN_FILE"),
        years: float = typer.Option(3.0, "--years", help=t("cost.opt_years")),
        currency: str = typer.Option(None, "--currency", help=t("money.opt_currency_cost"), metavar="USD|CNY"),
        prices_file: Path = typer.Option(None, "--prices", help=t("cost.opt_prices"), metavar="FILE"),
        provider: str = typer.Option(None, "--provider", help=t("cost.opt_provider")),
        term: str = typer.Option("on-demand", "--term", help=t("cost.opt_term"), metavar="on-demand|reserved-1y"),
        electricity: str = typer.Option(None, "--electricity", help=t("cost.opt_electricity"), metavar="REGION"),
        usd_per_kwh: float = typer.Option(None, "--usd-per-kwh", help=t("cost.opt_usd_per_kwh")),
        cny_per_kwh: float = typer.Option(None, "--cny-per-kwh", help=t("cost.opt_cny_per_kwh")),
        pue: float = typer.Option(None, "--pue", help=t("cost.opt_pue")),
        ops_fraction: float = typer.Option(None, "--ops-fraction", help=t("cost.opt_ops_fraction")),
        gpu_price_usd: float = typer.Option(None, "--gpu-price-usd", help=t("cost.opt_gpu_price")),
        used: bool = typer.Option(False, "--used", help=t("cost.opt_used")),
        gpu_tdp_watts: float = typer.Option(None, "--gpu-tdp-watts", help=t("cost.opt_gpu_tdp")),
        load: float = typer.Option(0.7, "--load", help=t("cost.opt_load")),
        utilization: float = typer.Option(None, "--utilization", help=t("money.opt_utilization_cost")),
        market: str = typer.Option(None, "--market", help=t("money.opt_market"), metavar="new|used|china"),
        node_class: str = typer.Option(None, "--node-class", help=t("cost.opt_node_class")),
        network: str = typer.Option(None, "--network", help=t("cost.opt_network")),
        candidate: int = typer.Option(0, "--candidate", help=t("cost.opt_candidate")),
        have: list[str] = typer.Option(None, "--have", help=t("money2.opt_have_cost")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        options = dict(
            years=years, currency=currency.upper() if currency else None, market=market, prices_file=prices_file, provider=provider, term=term,
            electricity=electricity, usd_per_kwh=usd_per_kwh, cny_per_kwh=cny_per_kwh, pue=pue,
            ops_fraction=ops_fraction, gpu_price_usd=gpu_price_usd, used=used, gpu_tdp_watts=gpu_tdp_watts, load=load,
            utilization=utilization, node_class=node_class, network=network, candidate=candidate,
            have=have or [],
        )
        guard(_cost)(plan_file, options, as_json)


def _cost(plan_file: Path, o: dict[str, Any], as_json: bool) -> None:
    from gpuplan.views import refuse_empty

    refuse_empty(o, {"network": ("--network", "a network id from the price catalog"),
                     "node_class": ("--node-class", "a node class from the price catalog"),
                     "provider": ("--provider", "a cloud provider from the price catalog"),
                     "electricity": ("--electricity", "a region from the price catalog"),
                     "term": ("--term", "on-demand, reserved-1y")})
    from datetime import UTC, datetime

    from gpuplan.catalog.prices import load_prices
    from gpuplan.cli.common import console, print_json
    from gpuplan.errors import InvalidInputError
    from gpuplan.planfile import PlanFile
    from gpuplan.views import cost_of_plan_candidate, flag_overrides, money_view, training_cost_of_plan

    plan = PlanFile.load(plan_file)
    count = len(plan.candidates)
    if not 0 <= o["candidate"] < max(count, 1) or count == 0:
        raise InvalidInputError("cost.no_candidate", path=str(plan_file), given=o["candidate"], count=count,
                                last=max(count - 1, 0))
    c = plan.candidates[o["candidate"]]
    overrides = flag_overrides(c.gpu, o, datetime.now(UTC).strftime("%Y-%m"))
    prices = load_prices(o["prices_file"], overrides)
    inputs, result = cost_of_plan_candidate(plan, c, o, prices)
    if as_json:
        data = result.model_dump(mode="json")
        training = training_cost_of_plan(plan, c, inputs, prices)
        data["training"] = None if training is None else training.model_dump(mode="json")
        data["assumptions_text"] = [n.text() for n in result.assumptions]
        data["unknowns_text"] = [n.text() for n in result.unknowns]
        data["usd_to_cny"] = prices.usd_to_cny.value if prices.usd_to_cny else None
        data["cost"] = money_view(result)
        print_json(data)
        return
    training = training_cost_of_plan(plan, c, inputs, prices)
    out = console()
    out.print(cost_table(result, prices))
    out.print()
    if training is not None:
        out.print(training_table(training, result.currency, prices))
        out.print()
    for line in cumulative_chart(result, prices):
        out.print(line, markup=False, highlight=False)
    out.print()
    for title_key, notes in (("cost.assumptions_title", result.assumptions), ("cost.unknowns_title", result.unknowns)):
        if notes:
            out.print(t(title_key) + ":", markup=False)
            for note in notes:
                out.print("  - " + note.text(), markup=False, highlight=False)
    if prices.override_path:
        out.print(t("cost.prices_override", path=prices.override_path), markup=False)
    out.print(t("cost.sources_title") + ":", markup=False)
    for source in result.sources:
        out.print("  - " + source, markup=False, highlight=False)


def training_table(training, currency: str, prices):
    """Time, GPU-hours and cost to train the plan's tokens, own (depreciated share) vs rent."""
    from rich.table import Table

    from gpuplan.units import fmt_seconds

    table = Table(title=t("cost.training_title", tokens=f"{training.tokens:.3g}"))
    table.add_column(t("cost.col_item"))
    table.add_column(t("cost.col_value"), justify="right")
    table.add_row(t("cost.row_train_time"), fmt_seconds(training.seconds))
    table.add_row(t("cost.row_gpu_hours"), f"{training.gpu_hours:,.0f}")
    table.add_row(t("cost.row_train_own"), fmt_money(training.own_usd, currency, prices))
    table.add_row(t("cost.row_train_rent", provider=training.cloud_provider or t("cost.unknown")),
                  fmt_money(training.rent_usd, currency, prices))
    return table


def fmt_money(amount_usd: float | None, currency: str, prices) -> str:
    """An amount in the display currency: '$1,234,567', '¥8,765,432', '$0.432'; 'unknown' when not known."""
    from gpuplan.cost import money
    from gpuplan.units import fmt_money as fmt

    value = money(amount_usd, currency, prices)
    if value is None:
        return t("cost.unknown")
    return fmt(value, currency)


def cost_table(result, prices):
    """The TCO table: rows of capex, opex, totals and unit prices; own and rent side by side."""
    from rich.table import Table

    cur = result.currency

    def m(v: float | None) -> str:
        return fmt_money(v, cur, prices)

    table = Table(title=t("cost.title", count=result.gpu_count, gpu=result.gpu_id, nodes=result.nodes,
                          node_class=result.node_class, years=f"{result.years:g}", currency=cur))
    table.add_column(t("cost.col_item"))
    table.add_column(t("cost.col_own"), justify="right")
    table.add_column(t("cost.col_rent", provider=result.cloud_provider or t("cost.unknown")), justify="right")
    if result.break_even_months is not None:
        break_even = t("cost.months", months=f"{result.break_even_months:.1f}")
    elif None in (result.capex_usd, result.opex_usd_per_year, result.cloud_usd_per_hour):
        break_even = t("cost.unknown")
    else:
        break_even = t("cost.never")
    watts = "—" if result.facility_power_watts is None else f"{result.facility_power_watts:,.0f}"
    owned = ((t("money2.row_owned"), t("money2.owned_cell", owned=result.owned_gpus, count=result.gpu_count,
                                       owned_nodes=result.owned_nodes, nodes=result.nodes), ""),
             (t("money2.row_owned_value"), m(result.owned_value_usd), "")) if result.owned_gpus else ()
    rows = (
        *owned,
        (t("cost.row_capex"), m(result.capex_usd), ""),
        (t("cost.row_capex_gpus"), m(result.capex_gpus_usd), ""),
        (t("cost.row_capex_nodes"), m(result.capex_nodes_usd), ""),
        (t("cost.row_capex_network"), m(result.capex_network_usd), ""),
        (t("cost.row_power_watts"), watts, ""),
        (t("cost.row_power"), m(result.power_usd_per_year), ""),
        (t("cost.row_ops"), m(result.ops_usd_per_year), ""),
        (t("cost.row_opex"), m(result.opex_usd_per_year), m(None if result.cloud_usd_per_hour is None
                                                              else result.cloud_usd_per_hour * 8760)),
        (t("cost.row_per_hour"), "", m(result.cloud_usd_per_hour)),
        (t("cost.row_tco", years=f"{result.years:g}"), m(result.tco_usd), m(result.cloud_usd_total)),
        (t("cost.row_break_even"), break_even, ""),
        (t("cost.row_per_m_output"), m(result.usd_per_million_output_tokens),
         m(result.cloud_usd_per_million_output_tokens)),
        (t("cost.row_per_m_input"), m(result.usd_per_million_input_tokens),
         m(result.cloud_usd_per_million_input_tokens)),
    )
    for row in rows:
        table.add_row(*row)
    return table


def _interpolate(points: list[tuple[int, float]], month: float) -> float:
    """Linear interpolation of a cumulative series at a fractional month."""
    lo = min(int(math.floor(month)), points[-1][0])
    hi = min(lo + 1, points[-1][0])
    v_lo, v_hi = points[lo][1], points[hi][1]
    return v_lo + (v_hi - v_lo) * (month - lo)


def cumulative_chart(result, prices, width: int = 60, height: int = 12) -> list[str]:
    """Cumulative cost own vs rent as text lines: a y axis in the display currency, months along x.

    Each column samples both series at its month; a cell holds ● (own), ○ (rent) or ◆ (both land on it).
    """
    cur = result.currency
    own = [(p.month, p.own_usd) for p in result.monthly]
    rent = [(p.month, p.rent_usd) for p in result.monthly]
    if not own or any(v is None for _, v in own) or any(v is None for _, v in rent):
        return [t("cost.chart_no_data")]
    last_month = own[-1][0]
    y_max = max(max(v for _, v in own), max(v for _, v in rent)) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for col in range(width):
        month = last_month * col / (width - 1) if width > 1 else 0
        for series, mark in ((own, OWN_MARK), (rent, RENT_MARK)):
            value = _interpolate(series, month)
            row = height - 1 - round(value / y_max * (height - 1))
            cell = grid[row][col]
            grid[row][col] = mark if cell in (" ", mark) else BOTH_MARK
    labels = {0: fmt_money(y_max, cur, prices), height // 2: fmt_money(y_max / 2, cur, prices),
              height - 1: fmt_money(0.0, cur, prices)}
    pad = max(len(s) for s in labels.values())
    lines = [t("cost.chart_title", currency=cur)]
    for i, row in enumerate(grid):
        lines.append(f"{labels.get(i, ''):>{pad}} ┤" + "".join(row))
    lines.append(" " * pad + " └" + "─" * width)
    axis_end = f"{last_month} {t('cost.chart_months')}"
    lines.append(" " * (pad + 2) + "0" + axis_end.rjust(width - 1))
    return lines
