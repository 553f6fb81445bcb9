"""``gpuplan fit``: which catalog models run on this machine, in which format, how long a context, how fast."""

from __future__ import annotations

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("fit", help=t("fit.help"))
    def fit_cmd(
        gpu: str = typer.Option(..., "--gpu", help=t("fit.opt_gpu")),
        ram: str = typer.Option(None, "--ram", help=t("fit.opt_ram")),
        host: str = typer.Option(None, "--host", help=t("fit.opt_host")),
        family: str = typer.Option(None, "--family", help=t("models.opt_family")),
        context: int = typer.Option(4096, "--context", min=1, help=t("fit.opt_context")),
        task: str = typer.Option("serve", "--task", help=t("size.opt_task")),
        quality: str = typer.Option("4bit", "--quality", help=t("checkpoint.opt_quality")),
        model: list[str] = typer.Option(None, "--model", help=t("anymodel.opt_fit_model")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_fit)(gpu, ram, host, family, context, task, as_json, tuple(model or ()), quality)


def _fit(gpu_arg, ram, host_id, family, context, task, as_json, models=(), quality="4bit") -> None:
    from gpuplan.catalog import get_host
    from gpuplan.cli.common import console, fail, print_json
    from gpuplan.plan.fit import HOST_RESERVE_BYTES, fit_machine
    from gpuplan.units import fmt_gib, parse_size_bytes

    if task != "serve":
        fail(t("fit.serve_only"))
    gpu_id, _, count_text = gpu_arg.partition(":")
    try:
        count = int(count_text) if count_text else 1
    except ValueError:
        fail(t("fit.bad_gpu_count", given=gpu_arg))
    if count < 1 or count > 64:
        fail(t("fit.bad_gpu_count", given=gpu_arg))
    from gpuplan.views import engine_for_gpu

    engine_for_gpu(None, gpu_id)  # an unknown GPU, or one no catalog engine runs on, is one sentence, not an empty table
    ram_bytes = None
    if ram:
        ram_bytes = parse_size_bytes(ram)
        if not ram_bytes or ram_bytes < 2**30:
            fail(t("fit.bad_ram", given=ram))
    if as_json:
        from gpuplan.views import fit_summary

        print_json(fit_summary(gpu_id, count, ram_bytes, host_id, family, context, models=models, quality=quality))
        return
    from gpuplan.memory.weights import entry
    from gpuplan.views import default_host_for_ram, format_label

    host = get_host(host_id) if host_id else (get_host(default_host_for_ram(ram_bytes)) if ram_bytes else None)
    rows = fit_machine(gpu_id, count, ram_bytes, host, family, context, models=models, quality=quality)
    from rich.table import Table

    con = console()
    title = t("fit.title", gpu=gpu_id, n=count, ram=fmt_gib(ram_bytes, 0)) if ram_bytes else \
        t("ux.fit_title_no_ram", gpu=gpu_id, n=count)
    table = Table(title=title)
    for col in ("model", "format", "placement", "weights", "host", "context", "speed"):
        table.add_column(t(f"fit.col_{col}"), justify="right" if col in ("weights", "host", "context", "speed") else "left")
    for r in rows:
        table.add_row(
            r.model.split("/")[-1], format_label(entry(r.model), r.weight_format, short=True).removeprefix("gguf-"), t(f"fit.place_{r.placement}"), fmt_gib(r.weights_bytes),
            fmt_gib(r.host_bytes) if r.host_bytes else "", f"{r.max_context_tokens:,}" if r.max_context_tokens else "—",
            (f"≤{r.decode_tokens_per_s_bound:,.0f} tok/s " if r.decode_tokens_per_s_bound else "") + t(f"fit.speed_{r.speed_class}"),
        )
    from gpuplan.cli.common import print_table

    print_table(con, table)
    if host:
        con.print(t("fit.notes", reserve=fmt_gib(HOST_RESERVE_BYTES, 0), host=host.name))
    else:
        con.print(t("qa.fit_notes_gpu_only"))  # no --ram: no host RAM or host bandwidth went into the table
    if not rows:
        con.print(t("qa.fit_nothing", gpu=gpu_id, n=count))
    if rows:
        best = next((r for r in rows if r.placement == "gpu" and r.speed_class in ("fast", "usable")), rows[0])
        con.print(t("ux.fit_next", model=best.model, fmt=best.weight_format, gpu=gpu_id, n=count))
