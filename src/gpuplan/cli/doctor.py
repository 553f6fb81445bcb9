"""``gpuplan doctor``: GPUs, driver, links, host; verdicts against a model or a plan."""

from __future__ import annotations

from pathlib import Path

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("doctor", help=t("doctor.help"))
    def doctor_cmd(
        model: str = typer.Option(None, "--model", help=t("doctor.opt_model")),
        plan: Path = typer.Option(None, "--plan", help=t("doctor.opt_plan")),
        engine: str = typer.Option(None, "--engine", help=t("doctor.opt_engine")),
        disk_path: Path = typer.Option(None, "--disk-path", help=t("doctor.opt_disk_path")),
        recording: Path = typer.Option(None, "--recording", hidden=True, help=t("doctor.opt_recording")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_doctor)(model, plan, engine, disk_path, recording, as_json)


def _doctor(model, plan, engine, disk_path, recording, as_json) -> None:
    from gpuplan.cli.common import print_json
    from gpuplan.probe import default_backend, doctor_report, probe_host

    report = doctor_report(default_backend(recording), probe_host(disk_path), model=model, plan=plan, engine=engine)
    if as_json:
        print_json(report)
    else:
        render(report)


def _gib(num_bytes: int | None) -> str:
    return "—" if num_bytes is None else f"{num_bytes / 2**30:.1f}"


def _flag(value: bool | None) -> str:
    return t("doctor.unknown") if value is None else t("doctor.yes") if value else t("doctor.no")


def render(report) -> None:
    """Host table, GPU table, verdicts — the same DoctorReport that --json prints."""
    from rich.table import Table

    from gpuplan.cli.common import console

    con = console()
    h = report.host
    host = Table(title=t("doctor.title_host"), show_header=False)
    host.add_column()
    host.add_column()
    host.add_row(t("doctor.row_os"), f"{h.os} ({h.machine}), {h.hostname}")
    host.add_row(t("doctor.row_cpu"), h.cpu_model or "—")
    host.add_row(t("doctor.row_cores"), f"{h.cpu_physical_cores or '—'} / {h.cpu_logical_cores or '—'}")
    host.add_row(t("doctor.row_flags"), " ".join(h.cpu_flags) or "—")
    host.add_row(t("doctor.row_ram"), f"{_gib(h.memory_total_bytes)} / {_gib(h.memory_available_bytes)}")
    host.add_row(t("doctor.row_disk"), f"{_gib(h.disk_free_bytes)} / {_gib(h.disk_total_bytes)} ({h.disk_path})")
    host.add_row(t("doctor.row_driver"), f"{report.driver_version or '—'} / {report.cuda_driver_version or '—'}")
    con.print(host)
    if report.gpus:
        gpus = Table(title=t("doctor.title_gpus", count=len(report.gpus), backend=report.backend))
        for col in ("col_index", "col_name", "col_catalog", "col_memory", "col_cc", "col_temp", "col_ecc", "col_pcie",
                    "col_nvlink"):
            gpus.add_column(t(f"doctor.{col}"))
        for g in report.gpus:
            pcie = (f"{g.pcie_link_gen_current or '?'}×{g.pcie_link_width_current or '?'} "
                    f"({g.pcie_link_gen_max or '?'}×{g.pcie_link_width_max or '?'})")
            gpus.add_row(str(g.index), g.name, g.catalog_id or "—", _gib(g.memory_total_bytes),
                         g.compute_capability or "—", "—" if g.temperature_c is None else f"{g.temperature_c:.0f}",
                         _flag(g.ecc_enabled), pcie, "—" if g.nvlink_active_links is None else str(g.nvlink_active_links))
        con.print(gpus)
    if report.verdicts:
        verdicts = Table(title=t("doctor.title_verdicts", target=report.target or report.host.hostname))
        for col in ("col_level", "col_check", "col_message"):
            verdicts.add_column(t(f"doctor.{col}"))
        from rich.text import Text

        styles = {"ok": "green", "warn": "yellow", "fail": "red", "info": "cyan"}
        for v in report.verdicts:
            verdicts.add_row(Text(t(f"doctor.level_{v.level}"), style=styles[v.level]), v.check, v.message)
        con.print(verdicts)
