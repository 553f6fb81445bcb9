"""``gpuplan calibrate``: fit your own efficiencies from ``gpuplan bench`` results; estimate and plan use them."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gpuplan.i18n import t

USER_CALIBRATION = Path("~/.config/gpuplan/calibration.toml")
MAX_RESULTS_BYTES = 16 * 2**20


def user_calibration_path(explicit: Path | None = None) -> str | None:
    """The calibration file estimate/plan use: --calibration, else ~/.config/gpuplan/calibration.toml if present."""
    if explicit is not None:
        return str(explicit)
    path = USER_CALIBRATION.expanduser()
    return str(path) if path.is_file() else None


def register(app: typer.Typer) -> None:
    @app.command("calibrate", help=t("calibrate.help"))
    def calibrate_cmd(
        results: list[Path] = typer.Argument(..., help=t("calibrate.arg_results")),
        plan: Path = typer.Option(None, "--plan", help=t("calibrate.opt_plan")),
        model: str = typer.Option(None, "--model", help=t("calibrate.opt_model")),
        gpu: str = typer.Option(None, "--gpu", help=t("calibrate.opt_gpu")),
        gpus: int = typer.Option(1, "--gpus", min=1, help=t("size.opt_gpus")),
        engine: str = typer.Option("vllm", "--engine", help=t("size.opt_engine")),
        weights: str = typer.Option("native", "--weights", help=t("size.opt_weights")),
        tp: int = typer.Option(None, "--tensor-parallel-size", "--tp", min=1, help=t("size.opt_tp")),
        out: Path = typer.Option(None, "--out", help=t("calibrate.opt_out")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_calibrate)(results, plan, model, gpu, gpus, engine, weights, tp, out, as_json)


def _load_report(path: Path):
    from pydantic import ValidationError

    from gpuplan.bench.models import BenchReport
    from gpuplan.errors import MalformedFileError
    from gpuplan.safeio import load_json, read_text

    if not path.exists():
        raise MalformedFileError("calibrate.missing", path=str(path))
    text = read_text(path, MAX_RESULTS_BYTES)  # a regular file within the bound, UTF-8
    try:
        return BenchReport.model_validate(load_json(text, str(path)))
    except (json.JSONDecodeError, ValidationError):
        raise MalformedFileError("calibrate.not_results", path=str(path)) from None


def _deployment(reports, plan_path, model, gpu, gpus, engine, weights, tp):
    """From the plan (given, or the one bench compared against), else from the flags."""
    from gpuplan.catalog import get_model
    from gpuplan.errors import InvalidInputError
    from gpuplan.planfile import PlanFile
    from gpuplan.spec import Deployment

    if plan_path is None:
        for r in reports:
            if r.prediction and r.prediction.plan_path and Path(r.prediction.plan_path).is_file():
                plan_path = Path(r.prediction.plan_path)
                break
    if plan_path is not None:
        plan = PlanFile.load(plan_path)
        c = plan.chosen
        dep = Deployment(gpu_id=c.gpu, gpu_count=c.gpu_count, nodes=c.nodes, engine=c.engine,
                         weight_format=c.weight_format, kv_dtype=c.kv_dtype, tensor_parallel_size=c.tensor_parallel_size,
                         pipeline_parallel_size=c.pipeline_parallel_size, expert_parallel_size=c.expert_parallel_size,
                         data_parallel_size=c.data_parallel_size if c.enable_dp_attention else 1,
                         enable_dp_attention=c.enable_dp_attention)
        return get_model(plan.model.id), dep, c.data_parallel_size if not c.enable_dp_attention else 1
    if not model or not gpu:
        raise InvalidInputError("calibrate.needs_deployment")
    entry = get_model(model)
    if tp is None:
        tp = gpus if entry.arch.num_attention_heads % gpus == 0 else 1
    return entry, Deployment(gpu_id=gpu, gpu_count=gpus, engine=engine, weight_format=weights,
                             tensor_parallel_size=tp), 1


def _observations(reports, paths, replicas: int):
    from gpuplan.perf.user_fit import Observation

    out = []
    for report, path in zip(reports, paths, strict=True):
        cfg = report.config
        for i, lvl in enumerate(report.results):
            if not lvl.requests_completed:
                continue
            inp = round(lvl.input_tokens_total / lvl.requests_completed) if lvl.input_tokens_total else cfg.input_tokens
            outp = round(lvl.output_tokens_total / lvl.requests_completed) if lvl.output_tokens_total else cfg.output_tokens
            conc = lvl.concurrency
            out.append(Observation(
                label=f"{path.name}#{i}" + (f" c={conc}" if conc else f" r={lvl.rate_per_s}"),
                concurrency=max(1, round(conc / replicas)) if conc else None,
                rate_per_s=(lvl.rate_per_s / replicas) if lvl.rate_per_s else None,
                input_tokens=max(1, inp), output_tokens=max(1, outp),
                ttft_s=lvl.ttft_s.p50, tpot_s=lvl.tpot_s.p50,
                output_tokens_per_s=(lvl.output_tokens_per_s / replicas) if lvl.output_tokens_per_s else None,
            ))
    return out


def _calibrate(results, plan_path, model, gpu, gpus, engine, weights, tp, out, as_json) -> None:
    import tomllib

    from gpuplan.cli.common import console, print_json
    from gpuplan.errors import MalformedFileError
    from gpuplan.perf import load_calibration
    from gpuplan.perf.user_fit import fit_user_calibration, user_calibration_toml

    reports = [_load_report(p) for p in results]
    entry, dep, replicas = _deployment(reports, plan_path, model, gpu, gpus, engine, weights, tp)
    observations = _observations(reports, results, replicas)
    target = (out or USER_CALIBRATION).expanduser()
    existing = None
    if target.exists():
        from gpuplan.safeio import load_toml, read_text

        try:
            existing = load_toml(read_text(target, MAX_RESULTS_BYTES), str(target))
        except tomllib.TOMLDecodeError:
            raise MalformedFileError("perf.bad_calibration", path=str(target), reason="not TOML") from None
    # Fit on the shipped parameters (not on an older user fit of the same pair).
    fit = fit_user_calibration(entry, dep, observations, load_calibration())
    text = user_calibration_toml(fit, [f"{p.name}" for p in results], existing,
                                 note=f"{entry.id} on {dep.gpu_count}x{dep.gpu_id} ({dep.engine}, {dep.weight_format})")
    from gpuplan.safeio import atomic_write

    if out is None:  # the default location's folder is created on first use; a folder given with --out must exist
        target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, text)
    load_calibration.cache_clear()
    if as_json:
        print_json({"path": str(target), **fit.model_dump(mode="json")})
        return
    from rich.table import Table

    con = console()
    table = Table(title=t("calibrate.title", model=entry.id, gpu=dep.gpu_id, n=dep.gpu_count, engine=dep.engine))
    for col in ("level", "metric", "measured", "before", "after"):
        table.add_column(t(f"calibrate.col_{col}"), justify="left" if col in ("level", "metric") else "right")

    def fmt(metric, v):
        if v is None:
            return "—"
        return f"{v:,.1f}" if metric == "output_tokens_per_s" else f"{v * 1000:,.1f} ms"

    for r in fit.rows:
        table.add_row(r.label, r.metric, fmt(r.metric, r.measured), fmt(r.metric, r.before), fmt(r.metric, r.after))
    from gpuplan.cli.common import print_table

    print_table(con, table)

    def pct(v):
        return f"{v * 100:.1f}%" if v is not None else "—"

    con.print(t("calibrate.summary", before=pct(fit.median_ape_before_fraction), after=pct(fit.median_ape_after_fraction)))
    con.print(t("calibrate.params", params=", ".join(f"{k}={v:g}" for k, v in fit.params.items()),
                key=f"{fit.engine}/{fit.architecture_key}"))
    con.print(t("calibrate.written", path=str(target)))
