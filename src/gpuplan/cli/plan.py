"""``gpuplan plan``: search deployments, rank them, explain rejections, write a plan file; ``plan show``."""

from __future__ import annotations

from pathlib import Path

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("plan", help=t("plan.help"), context_settings={"allow_interspersed_args": True})
    def plan_cmd(
        model: str = typer.Argument(..., help=t("plan.arg_model")),
        plan_file: str = typer.Argument(None, hidden=True),
        users: int = typer.Option(None, "--users", min=1, help=t("plan.opt_users")),
        rate: float = typer.Option(None, "--rate", min=0.0001, help=t("plan.opt_rate")),
        input_tokens: int = typer.Option(None, "--input-tokens", min=1, help=t("plan.opt_input")),
        output_tokens: int = typer.Option(None, "--output-tokens", min=1, help=t("plan.opt_output")),
        ttft_ms: float = typer.Option(None, "--ttft-ms", min=1, help=t("plan.opt_ttft")),
        tpot_ms: float = typer.Option(None, "--tpot-ms", min=0.1, help=t("plan.opt_tpot")),
        gpu: list[str] = typer.Option(None, "--gpu", help=t("plan.opt_gpu")),
        exclude_gpu: list[str] = typer.Option(None, "--exclude-gpu", help=t("plan.opt_exclude")),
        china_only: bool = typer.Option(False, "--china-only", help=t("plan.opt_china")),
        max_gpus: int = typer.Option(None, "--max-gpus", min=1, help=t("plan.opt_max_gpus")),
        max_nodes: int = typer.Option(None, "--max-nodes", min=1, max=64, help=t("plan.opt_max_nodes")),
        budget_usd: float = typer.Option(None, "--budget-usd", min=1, help=t("plan.opt_budget_usd")),
        budget_cny: float = typer.Option(None, "--budget-cny", min=1, help=t("plan.opt_budget_cny")),
        objective: str = typer.Option(None, "--objective", help=t("plan.opt_objective")),
        engine: list[str] = typer.Option(None, "--engine", help=t("plan.opt_engine")),
        weights: list[str] = typer.Option(None, "--weights", help=t("plan.opt_weights")),
        task: str = typer.Option(None, "--task", help=t("plan.opt_task")),
        train_tokens: str = typer.Option(None, "--train-tokens", help=t("ux.opt_train_tokens")),
        epochs: float = typer.Option(1.0, "--epochs", min=0.01, max=1000, help=t("ux.opt_epochs")),
        preset: str = typer.Option(None, "--preset", help=t("plan.opt_preset")),
        years: float = typer.Option(3, "--years", min=0.1, max=20, help=t("plan.opt_years")),
        top: int = typer.Option(10, "--top", min=1, max=200, help=t("plan.opt_top")),
        output: str = typer.Option(None, "-o", "--output", help=t("plan.opt_output_file")),
        calibration: Path = typer.Option(None, "--calibration", help=t("plan.opt_calibration")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        if model == "show":
            guard(_show)(plan_file, as_json)
            return
        guard(_plan)(locals())


def _plan(opts: dict) -> None:
    from gpuplan.cli.calibrate import user_calibration_path
    from gpuplan.cli.common import print_json
    from gpuplan.perf import load_calibration
    from gpuplan.plan import search
    from gpuplan.views import build_request

    req = build_request(opts)
    currency = "CNY" if opts.get("budget_cny") else "USD"
    user_cal = user_calibration_path(opts.get("calibration"))
    plan = search(req, calibration=load_calibration(user_cal) if user_cal else None).model_copy(
        update={"currency": currency})
    if opts.get("output"):
        plan.dump(opts["output"])
    if opts.get("as_json"):
        print_json(plan)
        return
    print_plan(plan)
    if opts.get("output"):
        from gpuplan.cli.common import console

        console().print(t("plan.written", path=opts["output"]))


def _show(path: str | None, as_json: bool) -> None:
    from gpuplan.cli.common import fail, print_json
    from gpuplan.planfile import PlanFile

    if not path:
        fail(t("plan.show_needs_file"))
    plan = PlanFile.load(Path(path))
    if as_json:
        print_json(plan)
        return
    print_plan(plan)


def _money(usd: float | None, currency: str, digits: int = 0) -> str:
    """Money in the plan's currency; ``digits`` decimals (cost per million tokens is often under one unit)."""
    if usd is None:
        return "—"
    if currency == "CNY":
        from gpuplan.cost import money
        from gpuplan.plan.search import default_prices

        value = money(usd, "CNY", default_prices())
        return f"¥{value:,.{digits}f}" if value is not None else "—"
    return f"${usd:,.{digits}f}"


def print_plan(plan) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console
    from gpuplan.units import fmt_gib
    from gpuplan.views import fmt_count

    con = console()
    con.print(t("plan.header", model=plan.model.id, task=plan.task, objective=plan.objective))
    if not plan.candidates:
        con.print(t("plan.none"))
    elif plan.task != "serve":
        table = Table(title=t("plan.table_title", n=len(plan.candidates)))
        for col in ("rank", "hardware", "engine", "format", "train_setup", "memory", "train_tps", "train_days", "capex", "tco"):
            table.add_column(t(f"plan.col_{col}"), justify="left" if col in ("hardware", "engine", "format", "train_setup") else "right")
        for i, c in enumerate(plan.candidates, 1):
            p = c.perf
            table.add_row(
                str(i), f"{c.gpu_count}×{c.gpu}" + (f" ({c.nodes}n)" if c.nodes > 1 else ""), c.engine, c.weight_format,
                f"ZeRO-{c.engine_args.get('zero_stage', 0)} · {c.engine_args.get('recompute', '')}",
                f"{fmt_gib(c.memory.per_gpu_total_bytes)}/{fmt_gib(c.memory.capacity_bytes, 0)}",
                f"{p.train_tokens_per_s:,.0f}" if p.train_tokens_per_s else "—",
                f"{p.train_days:,.1f}" if p.train_days else "—",
                _money(c.cost.capex_usd, plan.currency), _money(c.cost.tco_usd, plan.currency),
            )
        from gpuplan.cli.common import print_table

        print_table(con, table)
        tokens = plan.training.tokens_to_train if plan.training else None
        con.print(t("ux.train_total", tokens=fmt_count(tokens)) if tokens else t("ux.train_tokens_hint"))
    else:
        table = Table(title=t("plan.table_title", n=len(plan.candidates)))
        for col in ("rank", "hardware", "engine", "format", "layout", "memory", "ttft", "tpot", "throughput", "capex",
                    "tco", "per_mtok"):
            table.add_column(t(f"plan.col_{col}"), justify="left" if col in ("hardware", "engine", "format", "layout") else "right")
        for i, c in enumerate(plan.candidates, 1):
            layout = f"TP{c.tensor_parallel_size}"
            if c.pipeline_parallel_size > 1:
                layout += f"·PP{c.pipeline_parallel_size}"
            if c.data_parallel_size > 1:
                layout += f"·DP{c.data_parallel_size}" + ("a" if c.enable_dp_attention else "")
            if c.expert_parallel_size > 1:
                layout += f"·EP{c.expert_parallel_size}"
            p = c.perf
            table.add_row(
                str(i) + ("*" if (i - 1) in plan.pareto else ""), f"{c.gpu_count}×{c.gpu}" + (f" ({c.nodes}n)" if c.nodes > 1 else ""),
                c.engine, c.weight_format, layout,
                f"{fmt_gib(c.memory.per_gpu_total_bytes)}/{fmt_gib(c.memory.capacity_bytes, 0)}",
                f"{p.ttft_s * 1000:,.0f} ms" if p.ttft_s is not None else "—",
                f"{p.tpot_s * 1000:,.1f} ms" if p.tpot_s is not None else "—",
                f"{p.output_tokens_per_s:,.0f}" if p.output_tokens_per_s else (f"{p.train_tokens_per_s:,.0f}" if p.train_tokens_per_s else "—"),
                _money(c.cost.capex_usd, plan.currency), _money(c.cost.tco_usd, plan.currency),
                _money(c.cost.usd_per_million_output_tokens, plan.currency, 2) if c.cost.usd_per_million_output_tokens is not None else "—",
            )
        from gpuplan.cli.common import print_table

        print_table(con, table)
        best = plan.candidates[0]
        if best.perf.bottleneck:
            con.print(t("plan.why", bottleneck=t("plan.bottleneck_" + best.perf.bottleneck) if best.perf.bottleneck in _BOTTLENECKS else best.perf.bottleneck))
        con.print(t("plan.pareto_note"))
    if plan.rejections:
        rt = Table(title=t("plan.rejections_title"))
        rt.add_column(t("plan.col_reason"))
        rt.add_column(t("plan.col_count"), justify="right")
        rt.add_column(t("plan.col_nearest"))
        for r in plan.rejections:
            rt.add_row(t(f"plan.reason_{r.reason}"), str(r.count), r.nearest or "")
        from gpuplan.cli.common import print_table

        print_table(con, rt)
    for a in plan.assumptions:
        con.print("  · " + a)
    if plan.search:
        con.print(t("plan.searched", n=int(plan.search.get("candidates_considered", 0)),
                    s=f"{plan.search.get('seconds', 0):.2f}"))


_BOTTLENECKS = ("memory_bandwidth", "compute", "communication", "overhead", "host_bandwidth", "kv_capacity")
