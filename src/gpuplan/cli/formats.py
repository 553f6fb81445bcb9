"""``gpuplan formats``: the weight formats gpuplan models (bits per weight, compute path, engines, GPUs)."""

from __future__ import annotations

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("formats", help=t("formats.help"))
    def formats_cmd(as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json"))) -> None:
        from gpuplan.cli.common import console, print_json
        from gpuplan.memory.quant import list_formats

        rows = list_formats()
        if as_json:
            print_json([{"id": f.id, "name": f.name, "bits_per_weight": round(f.bits_per_weight, 4),
                         "compute_path": f.compute_path, "engines": list(f.engines),
                         "min_compute_capability": f.min_compute_capability, "vendors": list(f.vendors),
                         "kept_16bit_components": list(f.kept_16bit_components), "source": f.source} for f in rows])
            return
        from rich.table import Table

        table = Table(title=t("formats.title", n=len(rows)))
        for col in ("id", "bits", "path", "engines", "cc"):
            table.add_column(t(f"formats.col_{col}"), no_wrap=col == "id")
        for f in rows:
            table.add_row(f.id, f"{f.bits_per_weight:.3f}", f.compute_path, ", ".join(f.engines),
                          f"≥ {f.min_compute_capability}" if f.min_compute_capability else "")
        from gpuplan.cli.common import print_table

        print_table(console(), table)
