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
        gpus: int = typer.Option(None, "--gpus", min=1, max=4096, help=t("capacity.opt_gpus")),
        max_nodes: int = typer.Option(None, "--max-nodes", min=1, max=64, help=t("plan.opt_max_nodes")),
        budget_usd: float = typer.Option(None, "--budget-usd", min=1, help=t("plan.opt_budget_usd")),
        budget_cny: float = typer.Option(None, "--budget-cny", min=1, help=t("plan.opt_budget_cny")),
        objective: str = typer.Option(None, "--objective", help=t("plan.opt_objective")),
        engine: list[str] = typer.Option(None, "--engine", help=t("plan.opt_engine")),
        weights: list[str] = typer.Option(None, "--weights", help=t("plan.opt_weights")),
        quality: str = typer.Option(None, "--quality", help=t("checkpoint.opt_quality")),
        self_quantize: bool = typer.Option(False, "--self-quantize", help=t("checkpoint.opt_self_quantize")),
        task: str = typer.Option(None, "--task", help=t("plan.opt_task")),
        train_tokens: str = typer.Option(None, "--train-tokens", help=t("ux.opt_train_tokens")),
        epochs: float = typer.Option(1.0, "--epochs", min=0.01, max=1000, help=t("ux.opt_epochs")),
        preset: str = typer.Option(None, "--preset", help=t("plan.opt_preset")),
        years: float = typer.Option(3, "--years", min=0.1, max=20, help=t("plan.opt_years")),
        top: int = typer.Option(10, "--top", min=1, max=200, help=t("plan.opt_top")),
        output: str = typer.Option(None, "-o", "--output", help=t("plan.opt_output_file")),
        calibration: Path = typer.Option(None, "--calibration", help=t("plan.opt_calibration")),
        currency: str = typer.Option(None, "--currency", help=t("money.opt_currency"), metavar="USD|CNY"),
        utilization: float = typer.Option(None, "--utilization", help=t("money.opt_utilization")),
        market: str = typer.Option(None, "--market", help=t("money.opt_market"), metavar="new|used|china"),
        electricity: str = typer.Option(None, "--electricity", help=t("money.opt_electricity"), metavar="REGION"),
        have: list[str] = typer.Option(None, "--have", help=t("owned.opt_have")),
        exhaustive: bool = typer.Option(False, "--exhaustive", help=t("prune.opt_exhaustive")),
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

    if isinstance(opts.get("output"), str) and not opts["output"].strip():
        from gpuplan.errors import InvalidInputError

        raise InvalidInputError("safety.empty_option", option="-o", allowed=t("qa.allowed_path"))  # was ignored
    req = build_request(opts)
    user_cal = user_calibration_path(opts.get("calibration"))
    plan = search(req, calibration=load_calibration(user_cal) if user_cal else None)
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


def _money(usd: float | None, currency: str, shown: float | None = None, cost_currency: str | None = None) -> str:
    """An amount in the plan's currency: the candidate's own converted amount when it was priced in that currency
    (``shown``), else the USD amount converted at the catalog's dated rate (plan files from before issue 12)."""
    from gpuplan.units import fmt_money

    if cost_currency == currency:
        return fmt_money(shown, currency)
    if usd is None:
        return "—"
    if currency == "CNY":
        from gpuplan.cost import money
        from gpuplan.plan.search import default_prices

        return fmt_money(money(usd, "CNY", default_prices()), "CNY")
    return fmt_money(usd, "USD")


def _cost_cells(c, currency: str) -> tuple[str, str, str]:
    """capex, TCO and cost per million output tokens of a candidate, in the plan's currency."""
    k = c.cost
    cur = k.currency if k.priced is not None else None  # plan files from before issue 12 have USD fields only
    return (_money(k.capex_usd, currency, k.capex, cur), _money(k.tco_usd, currency, k.tco, cur),
            _money(k.usd_per_million_output_tokens, currency, k.per_million_output_tokens, cur))


def _unit(unit: str) -> str:
    """A BOM unit in the user's language (sockets → 路); unknown units as given."""
    key = f"money.unit_{unit}"
    text = t(key)
    return unit if text == key else text


def print_bom(con, plan, index: int = 0) -> None:
    """The bill of materials of one candidate as a table (kind, item, quantity, unit price, total, rule)."""
    from rich.table import Table

    c = plan.candidates[index]
    if not c.bill_of_materials:
        return
    cur = c.cost.currency
    table = Table(title=t("money.bom_title", rank=index + 1, hardware=f"{c.gpu_count}×{c.gpu}"))
    for col in ("kind", "item", "qty", "unit_price", "total", "rule"):
        table.add_column(t(f"money.col_{col}"), justify="right" if col in ("qty", "unit_price", "total") else "left",
                         overflow="fold")
    from gpuplan.units import fmt_money

    for item in c.bill_of_materials:
        if item.included_in:
            unit_price = total = t("money.included", item=t(f"money.kind_{item.included_in}"))
        else:
            unit_price, total = fmt_money(item.unit_price, cur), fmt_money(item.total, cur)
        unit = "" if item.unit == "pcs" else " " + _unit(item.unit)
        table.add_row(t(f"money.kind_{item.kind}"), item.description, f"{item.quantity:,g}{unit}", unit_price, total,
                      item.rule)
    from gpuplan.cli.common import print_table

    print_table(con, table)
    for note in c.notes:
        con.print("  ! " + note, markup=False, highlight=False)


def _used_of(memory) -> str:
    """'126.8/192 GiB': used of capacity per GPU, one unit for both so the plan table fits 140 columns."""
    from gpuplan.units import GIB

    if memory.per_gpu_total_bytes is None or memory.capacity_bytes is None:
        return "—"
    return f"{memory.per_gpu_total_bytes / GIB:,.1f}/{memory.capacity_bytes / GIB:,.0f} GiB"


def print_plan(plan) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console
    from gpuplan.errors import GpuplanError
    from gpuplan.memory.weights import entry
    from gpuplan.views import fmt_count, format_label

    con = console()
    objective = t("capacity.ranked", objective=plan.objective) if plan.capacity is not None else plan.objective
    con.print(t("plan.header", model=plan.model.id, task=plan.task, objective=objective))
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
                _used_of(c.memory),
                f"{p.train_tokens_per_s:,.0f}" if p.train_tokens_per_s else "—",
                f"{p.train_days:,.1f}" if p.train_days else "—",
                *_cost_cells(c, plan.currency)[:2],
            )
        from gpuplan.cli.common import print_table

        print_table(con, table)
        tokens = plan.training.tokens_to_train if plan.training else None
        con.print(t("ux.train_total", tokens=fmt_count(tokens)) if tokens else t("ux.train_tokens_hint"))
    else:
        table = Table(title=t("plan.table_title", n=len(plan.candidates)))
        for col in ("rank", "hardware", "engine", "format", "layout", "memory", "ttft", "tpot", "throughput", "capex",
                    "tco", "per_mtok"):
            title = t("money.col_per_mtok", sign="¥" if plan.currency == "CNY" else "$") if col == "per_mtok" \
                else t(f"plan.col_{col}")
            table.add_column(title, justify="left" if col in ("hardware", "engine", "format", "layout") else "right")
            if col == "layout" and plan.capacity is not None:
                table.add_column(t("capacity.col_users"), justify="right")
        unpriced_started = False
        unpriced_rows: dict[str, list[str]] = {}  # "price unknown: missing …" → the ranks it applies to
        try:
            model_entry = entry(plan.model.id)
        except GpuplanError:  # a plan file of a model imported in another process: plain format ids
            model_entry = None
        for i, c in enumerate(plan.candidates, 1):
            if c.cost.priced is False and not unpriced_started and plan.objective != "throughput":
                unpriced_started = True
                table.add_section()
                table.add_row("", t("labels.unpriced_mark"))
            layout = f"TP{c.tensor_parallel_size}"
            if c.disaggregation is not None:
                d = c.disaggregation
                layout = f"{d.label} EP{d.prefill_expert_parallel_size}/EP{d.decode_expert_parallel_size}"
                if d.speculative_tokens:
                    layout += f" MTP{d.speculative_tokens}"
            if c.pipeline_parallel_size > 1 and c.disaggregation is None:
                layout += f"·PP{c.pipeline_parallel_size}"
            if c.data_parallel_size > 1 and c.disaggregation is None:
                layout += f"·DP{c.data_parallel_size}" + ("a" if c.enable_dp_attention else "")
            if c.expert_parallel_size > 1 and c.disaggregation is None:
                layout += f"·EP{c.expert_parallel_size}"
            p = c.perf
            users = [f"{c.capacity_users or 0:,}"] if plan.capacity is not None else []
            table.add_row(
                str(i) + ("*" if (i - 1) in plan.pareto else ""), f"{c.gpu_count}×{c.gpu}" + (f" ({c.nodes}n)" if c.nodes > 1 else ""),
                c.engine, format_label(model_entry, c.weight_format, short=True), layout, *users,
                _used_of(c.memory),
                f"{p.ttft_s * 1000:,.0f} ms" if p.ttft_s is not None else "—",
                f"{p.tpot_s * 1000:,.1f} ms" if p.tpot_s is not None else "—",
                f"{p.output_tokens_per_s:,.0f}" if p.output_tokens_per_s else (f"{p.train_tokens_per_s:,.0f}" if p.train_tokens_per_s else "—"),
                *(_cost_cells(c, plan.currency) if c.cost.priced is not False else ("—", "—", "—")),
            )
            if c.cost.priced is False:  # what is missing goes under the table: in a cell it widened the table past 140
                missing = t("money.unpriced_row", missing=", ".join(t(f"money.missing_{m}") for m in c.cost.missing)
                            or t("money.missing_gpu"))
                unpriced_rows.setdefault(missing, []).append(str(i))
        from gpuplan.cli.common import print_table

        print_table(con, table)
        if unpriced_started:
            con.print(t("money.unpriced_title"))
        for missing, ranks in unpriced_rows.items():
            con.print(f"  #{', #'.join(ranks)}: {missing}", markup=False, highlight=False)
        print_bom(con, plan, 0)
        best = plan.candidates[0]
        if best.perf.bottleneck:
            con.print(t("plan.why", bottleneck=t("plan.bottleneck_" + best.perf.bottleneck) if best.perf.bottleneck in _BOTTLENECKS else best.perf.bottleneck))
        con.print(t("plan.pareto_note"))
        if plan.capacity is not None:
            _print_capacity(plan)
        for line in checkpoint_lines(plan, best):
            con.print(line)
    lower_quality_sentence = _lower_quality_line(plan)
    if lower_quality_sentence:
        con.print(lower_quality_sentence)
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


def _print_capacity(plan) -> None:
    """Capacity mode: the most users of the chosen candidate, and each disaggregated candidate's pools."""
    from gpuplan.cli.common import console
    from gpuplan.units import fmt_seconds

    con = console()
    cap = plan.capacity
    best = plan.candidates[0]
    hardware = f"{best.gpu_count}×{best.gpu}" + (f" ({best.nodes}n)" if best.nodes > 1 else "")
    layout = t("capacity.aggregated") if cap.layout == "aggregated" else cap.layout
    con.print(t("capacity.result", users=f"{cap.users:,}", hardware=hardware, engine=best.engine,
                fmt=best.weight_format, layout=layout, limit=t("capacity.limit_" + cap.limit),
                tps=f"{cap.output_tokens_per_s or 0:,.0f}"))
    for i, c in enumerate(plan.candidates, 1):
        d = c.disaggregation
        if d is None:
            continue
        con.print(t("capacity.pd_line", rank=i, layout=d.label, pn=d.prefill_nodes, dn=d.decode_nodes,
                    gpn=d.gpus_per_node, pep=d.prefill_expert_parallel_size, dep=d.decode_expert_parallel_size,
                    ptok=f"{d.prefill_tokens_per_gpu:,}", pnode=f"{d.prefill_tokens_per_s_per_node:,.0f}",
                    kv=fmt_seconds(d.kv_transfer_s), b=d.decode_batch_per_gpu,
                    dnode=f"{d.decode_tokens_per_s_per_node:,.0f}", pool=t("disagg.pool_" + d.bottleneck_pool)))


_BOTTLENECKS = ("memory_bandwidth", "compute", "communication", "overhead", "host_bandwidth", "kv_capacity")


def checkpoint_lines(plan, c) -> list[str]:
    """What the first candidate loads and what its format costs in quality (sentences, current language)."""
    from gpuplan.artifacts.checkpoint_text import checkpoint_sentence, quality_sentence

    out = []
    if c.checkpoint is not None:
        out.append(checkpoint_sentence(c.checkpoint))
    if c.quality is not None:
        out.append(quality_sentence(plan, c))
    return out


def _lower_quality_line(plan) -> str | None:
    from gpuplan.artifacts.checkpoint_text import lower_quality_sentence

    return lower_quality_sentence(plan)
