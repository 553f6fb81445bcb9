"""``gpuplan bench``: load-test a live OpenAI-compatible endpoint and compare with a plan's prediction."""

from __future__ import annotations

from pathlib import Path

import typer

from gpuplan.i18n import t

MAX_CONCURRENCY = 100_000
MAX_RATE_PER_S = 1e6
APIS = ("chat", "completions")


def register(app: typer.Typer) -> None:
    @app.command("bench", help=t("bench.help"))
    def bench_cmd(
        url: str = typer.Option(..., "--url", help=t("bench.opt_url")),
        model: str = typer.Option(..., "--model", help=t("bench.opt_model")),
        api: str = typer.Option("chat", "--api", help=t("bench.opt_api")),
        concurrency: str = typer.Option(None, "--concurrency", help=t("bench.opt_concurrency")),
        rate: float = typer.Option(None, "--rate", help=t("bench.opt_rate")),
        input_tokens: int = typer.Option(256, "--input-tokens", help=t("bench.opt_input_tokens")),
        output_tokens: int = typer.Option(128, "--output-tokens", help=t("bench.opt_output_tokens")),
        dataset: Path = typer.Option(None, "--dataset", help=t("bench.opt_dataset")),
        requests: int = typer.Option(None, "--requests", help=t("bench.opt_requests")),
        duration: float = typer.Option(None, "--duration", help=t("bench.opt_duration")),
        plan: Path = typer.Option(None, "--plan", help=t("bench.opt_plan")),
        out: Path = typer.Option(None, "--out", help=t("bench.opt_out")),
        seed: int = typer.Option(0, "--seed", help=t("bench.opt_seed")),
        timeout: float = typer.Option(60.0, "--timeout", help=t("bench.opt_timeout")),
        ignore_eos: bool = typer.Option(False, "--ignore-eos", help=t("bench.opt_ignore_eos")),
        slo_ttft_ms: float = typer.Option(None, "--slo-ttft-ms", help=t("bench.opt_slo_ttft_ms")),
        slo_tpot_ms: float = typer.Option(None, "--slo-tpot-ms", help=t("bench.opt_slo_tpot_ms")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_bench)(url, model, api, concurrency, rate, input_tokens, output_tokens, dataset, requests, duration,
                      plan, out, seed, timeout, ignore_eos, slo_ttft_ms, slo_tpot_ms, as_json)


def parse_concurrency(text: str | None) -> tuple[int, ...]:
    """'1,4,16' → (1, 4, 16); each from 1 to MAX_CONCURRENCY."""
    from gpuplan.errors import InvalidInputError

    if text is None:
        return ()
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        levels = ()
    if not levels or any(not 1 <= c <= MAX_CONCURRENCY for c in levels):
        raise InvalidInputError("bench.bad_concurrency", given=text, max=MAX_CONCURRENCY)
    return levels


def _check_range(option: str, value: float | None, low: float, high: float, allowed: str) -> None:
    from gpuplan.errors import InvalidInputError

    if value is not None and not low <= value <= high:
        raise InvalidInputError("bench.bad_positive", option=option, given=value, allowed=allowed)


def build_config(url, model, api, concurrency, rate, input_tokens, output_tokens, dataset, requests, duration, seed,
                 timeout, ignore_eos, slo):
    """Validate the options and return the BenchConfig (one sentence per bad option)."""
    from gpuplan.bench.client import normalize_base_url
    from gpuplan.bench.models import BenchConfig
    from gpuplan.errors import InvalidInputError

    normalize_base_url(url)
    if api not in APIS:
        raise InvalidInputError("bench.bad_api", given=api, allowed=", ".join(APIS))
    levels = parse_concurrency(concurrency)
    if rate is not None and levels:
        raise InvalidInputError("bench.rate_and_concurrency", rate=rate, given=concurrency)
    if rate is not None and not 0 < rate <= MAX_RATE_PER_S:
        raise InvalidInputError("bench.bad_rate", given=rate, max=MAX_RATE_PER_S)
    _check_range("--input-tokens", input_tokens, 1, 10_000_000, "1 to 10000000")
    _check_range("--output-tokens", output_tokens, 1, 1_000_000, "1 to 1000000")
    _check_range("--requests", requests, 1, 100_000_000, "1 to 100000000")
    _check_range("--duration", duration, 0.001, 7 * 86_400, "0.001 to 604800 s")
    _check_range("--timeout", timeout, 0.001, 86_400, "0.001 to 86400 s")
    if rate is None and not levels:
        levels = (1,)
    return BenchConfig(
        url=url, model=model, api=api, concurrency_levels=levels, rate_per_s=rate, input_tokens=input_tokens,
        output_tokens=output_tokens, dataset=str(dataset) if dataset else None, num_requests=requests,
        duration_s=duration, seed=seed, stall_timeout_s=timeout, ignore_eos=ignore_eos, slo=slo,
    )


def _slo(plan_slo, slo_ttft_ms, slo_tpot_ms):
    from gpuplan.bench.models import SloTarget
    from gpuplan.units import MS

    _check_range("--slo-ttft-ms", slo_ttft_ms, 1e-3, 1e9, "more than 0")
    _check_range("--slo-tpot-ms", slo_tpot_ms, 1e-3, 1e9, "more than 0")
    base = plan_slo or SloTarget()
    return SloTarget(
        ttft_s=slo_ttft_ms * MS if slo_ttft_ms is not None else base.ttft_s,
        tpot_s=slo_tpot_ms * MS if slo_tpot_ms is not None else base.tpot_s,
    )


def _bench(url, model, api, concurrency, rate, input_tokens, output_tokens, dataset, requests, duration, plan, out,
           seed, timeout, ignore_eos, slo_ttft_ms, slo_tpot_ms, as_json) -> None:
    import asyncio

    from gpuplan.bench.prediction import load_prediction
    from gpuplan.bench.runner import BenchRunner, default_num_requests
    from gpuplan.bench.workload import load_dataset, synthetic_requests
    from gpuplan.cli.common import console, fail, print_json

    prediction, plan_slo = load_prediction(plan) if plan else (None, None)
    config = build_config(url, model, api, concurrency, rate, input_tokens, output_tokens, dataset, requests,
                          duration, seed, timeout, ignore_eos, _slo(plan_slo, slo_ttft_ms, slo_tpot_ms))
    if dataset:
        specs = load_dataset(dataset, output_tokens)
    else:
        count = requests or default_num_requests(max(config.concurrency_levels or (4,)))
        specs = synthetic_requests(min(count, 10_000), input_tokens, output_tokens, seed)
    sink = _open_sink(out) if out else None
    err = console()
    err.stderr = True
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=as_json)
    labels = [t("bench.label_concurrency", value=c) for c in config.concurrency_levels]
    if config.rate_per_s is not None:
        labels.append(t("bench.label_rate", value=config.rate_per_s))
    state: dict = {}

    def on_level(index: int, total: int | None) -> None:
        state["task"] = progress.add_task(t("bench.progress", index=index + 1, label=labels[index]), total=total)

    def on_record(_record) -> None:
        progress.advance(state["task"])

    runner = BenchRunner(config, specs, prediction=prediction, sink=sink, on_record=on_record, on_level=on_level)
    if runner.endpoint.is_loopback or not _proxy_configured():
        from gpuplan.bench.client import check_reachable

        try:
            asyncio.run(check_reachable(url))  # a dead endpoint fails now, not after every request
        except Exception:
            if sink:
                sink.close()
            raise
    try:
        with progress:
            report = asyncio.run(runner.run())
    except KeyboardInterrupt:
        if sink:
            sink.close()
        fail(t("bench.interrupted", path=out) if out else t("bench.interrupted_no_out"), code=130)
    finally:
        if sink:
            sink.close()
    if as_json:
        print_json(report)
    else:
        render_table(report)
        if sink:
            err.print(t("bench.saved", path=out, requests_path=sink.requests_path))
    if not any(level.requests_completed for level in report.results):
        kinds: dict[str, int] = {}
        for level in report.results:
            for kind, n in level.error_kinds.items():
                kinds[kind] = kinds.get(kind, 0) + n
        fail(t("bench.all_failed", errors=sum(kinds.values()), kinds=_kinds_text(kinds), url=url, model=model), code=1)


def _proxy_configured() -> bool:
    """An HTTP proxy in the environment may be the only way to the endpoint: then no direct connection check."""
    import os

    return any(os.environ.get(v) for v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                                           "all_proxy"))


def _open_sink(out: Path):
    from gpuplan.bench.runner import ResultSink
    from gpuplan.errors import InvalidInputError

    try:
        return ResultSink(out)
    except OSError as exc:
        raise InvalidInputError("bench.out_unwritable", path=str(out), detail=exc.strerror or str(exc)) from None


def _kinds_text(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "—"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1e3:.1f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_table(report) -> None:
    """The human view of a BenchReport: one row per level, then the plan's prediction."""
    from rich.table import Table

    from gpuplan.cli.common import console

    con = console()
    table = Table(title=t("bench.title", model=report.config.model, url=report.config.url))
    for col in ("col_level", "col_ok", "col_errors", "col_ttft", "col_itl", "col_tpot", "col_e2e", "col_out_tps",
                "col_goodput"):
        table.add_column(t(f"bench.{col}"), justify="left" if col == "col_level" else "right")
    for level in report.results:
        label = (t("bench.label_concurrency", value=level.concurrency) if level.mode == "concurrency"
                 else t("bench.label_rate", value=level.rate_per_s))
        ttft = level.ttft_s
        table.add_row(label, str(level.requests_completed), str(level.errors),
                      f"{_ms(ttft.p50)} / {_ms(ttft.p90)} / {_ms(ttft.p99)}", _ms(level.itl_s.p50),
                      _ms(level.tpot_s.p50), _num(level.e2e_s.p50, 2), _num(level.output_tokens_per_s),
                      _num(level.goodput_requests_per_s, 2))
    pred = report.prediction
    if pred is not None:
        table.add_row(t("bench.plan_row"), "", "", _ms(pred.ttft_s), "", _ms(pred.tpot_s), "",
                      _num(pred.output_tokens_per_s), "")
    from gpuplan.cli.common import print_table

    print_table(con, table)
    if pred is not None:
        con.print(t("bench.plan_note", plan=pred.plan_path, candidate=pred.candidate,
                    concurrency=pred.concurrency if pred.concurrency is not None else "—"))
    sources = sorted({level.tokens_source for level in report.results})
    con.print(t("bench.tokens_note", source=", ".join(sources)))
    kinds: dict[str, int] = {}
    for level in report.results:
        for kind, n in level.error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
    if kinds:
        con.print(t("bench.errors_note", kinds=_kinds_text(kinds)))
