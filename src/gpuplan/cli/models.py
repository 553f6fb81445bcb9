"""``gpuplan models``: the model catalog."""

from __future__ import annotations

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("models", help=t("models.help"))
    def models_cmd(
        family: str = typer.Option(None, "--family", help=t("models.opt_family")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.catalog import list_models
        from gpuplan.cli.common import console, fail, print_json
        from gpuplan.units import fmt_params
        from gpuplan.views import format_label, model_summary

        rows = list_models()
        if family:
            fams = sorted({m.family for m in rows})
            rows = tuple(m for m in rows if m.family.lower() == family.lower())
            if not rows:
                fail(t("models.unknown_family", given=family, allowed=", ".join(fams)))
        if as_json:
            print_json([model_summary(m) for m in rows])
            return
        from rich.table import Table

        table = Table(title=t("models.title", count=len(rows)))
        for col in ("col_id", "col_family", "col_total", "col_active", "col_context", "col_format", "col_aliases"):
            table.add_column(t(f"models.{col}"), justify="right" if col in ("col_total", "col_active", "col_context") else "left",
                             no_wrap=col == "col_id")
        for m in rows:
            a = m.arch
            table.add_row(
                m.id, m.family, fmt_params(a.params_total), fmt_params(a.params_active),
                f"{m.max_context_tokens:,}" if m.max_context_tokens else "—",
                format_label(m, m.checkpoint.weight_format),
                ", ".join(m.aliases[:2]),
            )
        from gpuplan.cli.common import print_table

        print_table(console(), table)


