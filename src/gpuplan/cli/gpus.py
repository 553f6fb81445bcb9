"""``gpuplan gpus``: the accelerator catalog."""

from __future__ import annotations

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("gpus", help=t("gpus.help"))
    def gpus_cmd(
        vendor: str = typer.Option(None, "--vendor", help=t("gpus.opt_vendor")),
        china: bool = typer.Option(False, "--china", help=t("gpus.opt_china")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.catalog import list_gpus
        from gpuplan.cli.common import console, fail, print_json
        from gpuplan.units import fmt_flops, fmt_gib, fmt_rate_bytes
        from gpuplan.views import gpu_summary

        rows = list_gpus()
        if vendor:
            vendors = sorted({g.vendor for g in rows})
            rows = tuple(g for g in rows if g.vendor == vendor.lower())
            if not rows:
                fail(t("gpus.unknown_vendor", given=vendor, allowed=", ".join(vendors)))
        if china:
            rows = tuple(g for g in rows if g.china_available)
        if as_json:
            print_json([gpu_summary(g) for g in rows])
            return
        from rich.table import Table

        table = Table(title=t("gpus.title", count=len(rows)))
        cols = ("col_id", "col_name", "col_class", "col_memory", "col_bandwidth", "col_bf16", "col_fp8", "col_tdp",
                "col_link", "col_china")
        for col in cols:
            table.add_column(t(f"gpus.{col}"), justify="left" if col in ("col_id", "col_name", "col_class", "col_link") else "right",
                             no_wrap=col in ("col_id", "col_name"))
        for g in rows:
            table.add_row(
                g.id, g.name, t(f"gpus.class_{g.gpu_class}"), fmt_gib(g.memory_bytes), fmt_rate_bytes(g.memory_bandwidth_bytes_per_s),
                # no BF16 rate published (T4, V100, Ascend 310P, Apple): the 16-bit column shows the FP16 rate, marked
                fmt_flops(g.dense_16bit_flops_per_s) + ("†" if g.dense_bf16_flops_per_s is None and
                                                       g.dense_16bit_flops_per_s else ""),
                fmt_flops(g.dense_fp8_flops_per_s),
                f"{g.tdp_watts:.0f}" if g.tdp_watts else "—", g.interconnect,
                t("gpus.yes") if g.china_available else "",
            )
        from gpuplan.cli.common import print_table

        print_table(console(), table)
        console().print(t("gpus.footer"))
        if any(g.dense_bf16_flops_per_s is None and g.dense_16bit_flops_per_s for g in rows):
            console().print(t("qa.gpus_fp16_mark"))
        from gpuplan.memory.engines import engines_for_vendor

        orphans = sorted({g.vendor for g in rows if not engines_for_vendor(g.vendor)})
        if orphans:
            console().print(t("qa.gpus_no_engine", vendors=", ".join(orphans)))


