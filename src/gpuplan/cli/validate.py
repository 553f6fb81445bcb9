"""``gpuplan validate --dataset FILE``: the model's error on measured data, per metric, with the worst rows.

A report, not a gate: exit 0 whatever the error; exit 2 only for bad input (unreadable or malformed dataset).
"""

from __future__ import annotations

from pathlib import Path

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("validate", help=t("validate.help"))
    def validate_cmd(
        dataset: list[Path] = typer.Option(..., "--dataset", help=t("validate.opt_dataset")),
        worst: int = typer.Option(10, "--worst", min=0, max=1000, help=t("validate.opt_worst")),
        calibration: Path = typer.Option(None, "--calibration", help=t("estimate.opt_calibration")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_validate)(dataset, worst, calibration, as_json)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _validate(datasets: list[Path], worst: int, calibration: Path | None, as_json: bool) -> None:
    from gpuplan.cli.common import print_json
    from gpuplan.perf import load_calibration
    from gpuplan.perf.validation import load_dataset, validate_rows

    rows = [r for p in datasets for r in load_dataset(p)]
    cal = load_calibration(str(calibration) if calibration else None)
    report = validate_rows(rows, cal, worst=worst)
    if as_json:
        data = report.model_dump(mode="json", exclude={"rows"})
        print_json(data)
        return
    _render(report)


def _render(report) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console

    con = console()
    table = Table(title=t("validate.title", datasets=", ".join(report.datasets), predicted=report.rows_predicted,
                          total=report.rows_total, coverage=f"{report.coverage_fraction * 100:.0f}"))
    for col in ("col_metric", "col_rows", "col_predicted", "col_median", "col_p90"):
        table.add_column(t("validate." + col), justify="left" if col == "col_metric" else "right")
    for metric, s in report.by_metric.items():
        table.add_row(metric, str(s.rows), str(s.predicted), _pct(s.median_ape_fraction), _pct(s.p90_ape_fraction))
    table.add_section()
    table.add_row(t("validate.row_all"), str(report.rows_total), str(report.rows_predicted),
                  _pct(report.median_ape_fraction), _pct(report.p90_ape_fraction))
    for key, s in (("row_fitted", report.fitted), ("row_heldout", report.heldout),
                   ("row_heldout_speed", report.heldout_speed)):
        table.add_row(t("validate." + key), str(s.rows), str(s.predicted), _pct(s.median_ape_fraction),
                      _pct(s.p90_ape_fraction))
    from gpuplan.cli.common import print_table

    print_table(con, table)
    con.print(t("validate.heldout_rule", rule=report.heldout_rule))
    _render_groups(con, report)
    _render_measured(con, report)
    if report.worst:
        wt = Table(title=t("validate.worst_title"))
        for col in ("col_id", "col_metric", "col_model", "col_gpu", "col_engine", "col_measured", "col_prediction",
                    "col_error", "col_heldout"):
            wt.add_column(t("validate." + col))
        for r in report.worst:
            wt.add_row(r.id, r.metric, r.model.split("/")[-1], r.gpu or "—", r.engine, f"{r.measured:.4g}",
                       f"{r.predicted:.4g}" if r.predicted is not None else "—", _pct(r.ape_fraction),
                       "✓" if r.heldout else "")
        con.print(wt)
    if report.unpredicted:
        ut = Table(title=t("validate.unpredicted_title"))
        for col in ("col_id", "col_metric", "col_reason"):
            ut.add_column(t("validate." + col))
        for r in report.unpredicted:
            ut.add_row(r.id, r.metric, r.reason or "")
        con.print(ut)


def _render_groups(con, report) -> None:
    """Speed and latency rows per engine and version, and per model family (all rows and held-out rows)."""
    from rich.table import Table

    if report.by_engine:
        et = Table(title=t("speedmodel.validate_by_engine"))
        for col in ("col_group", "col_rows", "col_predicted", "col_median", "col_p90"):
            et.add_column(t(("speedmodel." if col == "col_group" else "validate.") + col),
                          justify="left" if col == "col_group" else "right")
        for key, s in report.by_engine.items():
            et.add_row(key, str(s.rows), str(s.predicted), _pct(s.median_ape_fraction), _pct(s.p90_ape_fraction))
        con.print(et)
    if report.by_family:
        ft = Table(title=t("speedmodel.validate_by_family"))
        for key in ("col_group", "col_rows", "col_median", "col_heldout_rows", "col_heldout_median"):
            ft.add_column(t("speedmodel." + key if key not in ("col_rows", "col_median") else "validate." + key),
                          justify="left" if key == "col_group" else "right")
        for fam in dict.fromkeys([*report.by_family, *report.heldout_by_family]):
            s = report.by_family.get(fam)
            h = report.heldout_by_family.get(fam)
            ft.add_row(fam, str(s.predicted) if s else "—", _pct(s.median_ape_fraction) if s else "—",
                       str(h.predicted) if h else "—", _pct(h.median_ape_fraction) if h else "—")
        con.print(ft)


def _render_measured(con, report) -> None:
    """gpuplan and AIConfigurator side by side on the rows AIConfigurator covers (gpuplan[measured])."""
    from rich.table import Table

    m = report.measured
    if m is None:
        return
    con.print(t("speedmodel.measured_summary", rows=m.rows, gpuplan=_pct(m.gpuplan_median_ape_fraction),
                aic=_pct(m.aic_median_ape_fraction), gpuplan_held=_pct(m.gpuplan_heldout_median_ape_fraction),
                aic_held=_pct(m.aic_heldout_median_ape_fraction)))
    covered = [r for r in report.rows if r.aic_predicted is not None]
    if not covered:
        return
    mt = Table(title=t("speedmodel.measured_title"))
    for key in ("validate.col_id", "validate.col_metric", "validate.col_model", "validate.col_gpu",
                "validate.col_engine", "validate.col_measured", "speedmodel.col_gpuplan", "speedmodel.col_aic"):
        mt.add_column(t(key))
    for r in covered:
        mt.add_row(r.id, r.metric, r.model.split("/")[-1], r.gpu or "—", r.engine, f"{r.measured:.4g}",
                   f"{r.predicted:.4g} ({_pct(r.ape_fraction)})" if r.predicted is not None else "—",
                   f"{r.aic_predicted:.4g} ({_pct(r.aic_ape_fraction)})")
    con.print(mt)
