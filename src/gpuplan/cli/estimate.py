"""``gpuplan estimate``: serving speed of a model on a deployment — TTFT, TPOT, throughput, the bottleneck, a band."""

from __future__ import annotations

from pathlib import Path

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("estimate", help=t("estimate.help"))
    def estimate_cmd(
        model: str = typer.Argument(..., help=t("estimate.arg_model")),
        gpu: str = typer.Option(..., "--gpu", help=t("estimate.opt_gpu")),
        gpus: int = typer.Option(1, "--gpus", min=1, max=4096, help=t("estimate.opt_gpus")),
        tp: int = typer.Option(None, "--tensor-parallel-size", "--tp", min=1, help=t("estimate.opt_tp")),
        pp: int = typer.Option(1, "--pipeline-parallel-size", "--pp", min=1, help=t("estimate.opt_pp")),
        ep: int = typer.Option(1, "--expert-parallel-size", "--ep", min=1, help=t("estimate.opt_ep")),
        dp: int = typer.Option(None, "--data-parallel-size", "--dp", min=1, help=t("estimate.opt_dp")),
        dp_attention: bool = typer.Option(False, "--dp-attention", help=t("estimate.opt_dp_attention")),
        engine: str | None = typer.Option(None, "--engine", help=t("estimate.opt_engine")),
        weights: str = typer.Option("native", "--weights", help=t("estimate.opt_weights")),
        kv_dtype: str = typer.Option("auto", "--kv-dtype", help=t("estimate.opt_kv_dtype")),
        input_tokens: int = typer.Option(..., "--input-tokens", min=1, help=t("estimate.opt_input")),
        output_tokens: int = typer.Option(..., "--output-tokens", min=1, help=t("estimate.opt_output")),
        concurrency: int = typer.Option(None, "--concurrency", min=1, help=t("estimate.opt_concurrency")),
        rate: float = typer.Option(None, "--rate", min=0.0001, help=t("estimate.opt_rate")),
        prefix_hit: float = typer.Option(0.0, "--prefix-cache-hit", min=0.0, max=0.99, help=t("estimate.opt_prefix_hit")),
        speculative: int = typer.Option(0, "--speculative-tokens", min=0, max=16, help=t("estimate.opt_speculative")),
        accept: float = typer.Option(None, "--acceptance", min=0.0, max=1.0, help=t("estimate.opt_accept")),
        offload: str = typer.Option("none", "--offload", help=t("estimate.opt_offload")),
        host: str = typer.Option(None, "--host", help=t("estimate.opt_host")),
        gpu_layers: int = typer.Option(None, "--gpu-layers", "-ngl", min=0, help=t("estimate.opt_gpu_layers")),
        n_cpu_moe: int = typer.Option(None, "--n-cpu-moe", min=0, help=t("speedmodel.opt_n_cpu_moe")),
        measured: bool = typer.Option(False, "--measured", help=t("speedmodel.opt_measured")),
        calibration: Path = typer.Option(None, "--calibration", help=t("estimate.opt_calibration")),
        percentiles: bool = typer.Option(False, "--percentiles", help=t("estimate.opt_percentiles")),
        prefill_nodes: int = typer.Option(None, "--prefill-nodes", min=1, max=256, help=t("estimate_pd.opt_prefill_nodes")),
        decode_nodes: int = typer.Option(None, "--decode-nodes", min=1, max=256, help=t("estimate_pd.opt_decode_nodes")),
        gpus_per_node: int = typer.Option(8, "--gpus-per-node", min=1, max=64, help=t("estimate_pd.opt_gpus_per_node")),
        decode_batch: int = typer.Option(None, "--decode-batch", min=1, max=4096, help=t("estimate_pd.opt_decode_batch")),
        prefill_chunk: int = typer.Option(16384, "--prefill-tokens-per-gpu", min=256, max=1_000_000,
                                          help=t("estimate_pd.opt_prefill_chunk")),
        sweep: bool = typer.Option(False, "--sweep", help=t("estimate_pd.opt_sweep")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        if prefill_nodes is not None or decode_nodes is not None or sweep:
            from gpuplan.cli.estimate_pd import estimate_pd_or_sweep

            guard(estimate_pd_or_sweep)(locals())
            return
        guard(_estimate)(model, gpu, gpus, tp, pp, ep, dp, dp_attention, engine, weights, kv_dtype, input_tokens,
                         output_tokens, concurrency, rate, prefix_hit, speculative, accept, offload, host,
                         gpu_layers, calibration, percentiles, as_json, n_cpu_moe, measured)


def _estimate(model, gpu, gpus, tp, pp, ep, dp, dp_attention, engine, weights, kv_dtype, input_tokens, output_tokens,
              concurrency, rate, prefix_hit, speculative, accept, offload, host, gpu_layers, calibration,
              percentiles, as_json, n_cpu_moe=None, measured=False) -> None:
    from gpuplan.catalog import get_model
    from gpuplan.cli.common import fail, print_json
    from gpuplan.perf import estimate_serving, load_calibration
    from gpuplan.spec import ENGINES, Deployment, Workload, check_choice
    from gpuplan.views import (
        bottleneck_sentence,
        check_request_context,
        engine_for_gpu,
        kv_for_weights,
        layout_for_gpus,
        weights_for_gpu,
    )

    if concurrency is not None and rate is not None:
        fail(t("estimate.both_load"))
    from gpuplan.perf.engine_version import parse_engine_spec

    engine, engine_version = parse_engine_spec(engine, ENGINES) if engine else (None, None)
    engine = engine_for_gpu(engine, gpu)
    if n_cpu_moe is not None and offload == "none":
        offload = "experts"  # llama.cpp --n-cpu-moe N: the routed experts of the first N MoE layers on the CPU
    check_choice(offload, ("none", "experts", "layers"), "offload")
    entry = get_model(model)
    check_request_context(entry, input_tokens, output_tokens)
    tp, dp = layout_for_gpus(entry.arch, gpus, tp, pp, dp, dp_attention)
    weights = weights_for_gpu(entry, weights, gpu, engine)
    kv_dtype = kv_for_weights(kv_dtype, weights)
    from gpuplan.cli.calibrate import user_calibration_path

    cal = load_calibration(user_calibration_path(calibration))
    dep = Deployment(gpu_id=gpu, gpu_count=gpus, engine=engine, engine_version=engine_version, weight_format=weights, kv_dtype=kv_dtype,
                     tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=ep,
                     data_parallel_size=dp, enable_dp_attention=dp_attention, offload=offload, host_id=host,
                     gpu_layers=gpu_layers, cpu_moe_layers=n_cpu_moe)
    load = {"rate_per_s": rate} if rate is not None else {"concurrency": concurrency or 1}
    wl = Workload(input_tokens=input_tokens, output_tokens=output_tokens, prefix_cache_hit_fraction=prefix_hit,
                  **load)
    est = estimate_serving(entry, dep, wl, cal, speculative_tokens=speculative,
                           speculative_acceptance_fraction=accept)
    sim = None
    if percentiles:
        from gpuplan.perf.simulate import simulate_serving

        sim = simulate_serving(entry, dep, wl, cal, speculative_tokens=speculative,
                               speculative_acceptance_fraction=accept)
    sentence = bottleneck_sentence(est)
    aic = _measured_step(entry, dep, wl, est) if measured else None
    if as_json:
        data = est.model_dump(mode="json")
        data["bottleneck_sentence"] = sentence
        data["model"] = entry.id
        data["deployment"] = dep.model_dump(mode="json")
        data["workload"] = wl.model_dump(mode="json")
        if sim is not None:
            data["percentiles"] = sim.model_dump(mode="json")
        if aic is not None:
            data["measured_decode_step_s"] = aic.value
            data["measured_reason"] = aic.reason
        print_json(data)
        return
    _render(entry, dep, wl, est, sentence, sim)
    if aic is not None:
        from gpuplan.cli.common import console
        from gpuplan.units import fmt_seconds

        if aic.value is not None:
            console().print(t("speedmodel.measured_step", aic=fmt_seconds(aic.value), ours=fmt_seconds(est.decode_step_s)))
        else:
            console().print(t("speedmodel.measured_none", reason=aic.reason or ""))


def _render(entry, dep, wl, est, sentence, sim) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console
    from gpuplan.units import fmt_seconds

    con = console()
    u = est.uncertainty_fraction
    load = (t("estimate.load_rate", rate=f"{wl.rate_per_s:g}") if wl.rate_per_s
            else t("estimate.load_concurrency", n=wl.concurrency))
    table = Table(title=t("estimate.title", model=entry.display_name, gpus=dep.gpu_count, gpu=dep.gpu_id,
                          engine=dep.engine, fmt=est.weight_format, inp=wl.input_tokens, out=wl.output_tokens,
                          load=load))
    table.add_column(t("estimate.col_metric"))
    table.add_column(t("estimate.col_value"), justify="right")
    table.add_column(t("estimate.col_band"), justify="right")

    def sec(key: str, v: float | None) -> None:
        band = "—" if v is None else f"{fmt_seconds(v * (1 - u))} – {fmt_seconds(v * (1 + u))}"
        table.add_row(t(key), fmt_seconds(v), band)

    def rate_row(key: str, unit: str, v: float | None, digits: int = 1) -> None:
        if v is None:
            table.add_row(t(key), "—", "—")
            return
        lo, hi = v / (1 + u), v / max(1 - u, 0.05)
        table.add_row(t(key), t(unit, value=f"{v:,.{digits}f}"), f"{lo:,.{digits}f} – {hi:,.{digits}f}")

    sec("estimate.row_ttft", est.ttft_s)
    sec("estimate.row_tpot", est.tpot_s)
    sec("estimate.row_e2e", est.e2e_s)
    rate_row("estimate.row_decode", "estimate.unit_tok_s", est.decode_tokens_per_s)
    rate_row("estimate.row_prefill", "estimate.unit_tok_s", est.prefill_tokens_per_s, 0)
    rate_row("estimate.row_output", "estimate.unit_tok_s", est.output_tokens_per_s, 0)
    rate_row("estimate.row_input", "estimate.unit_tok_s", est.input_tokens_per_s, 0)
    rate_row("estimate.row_rps", "estimate.unit_req_s", est.requests_per_s, 2)
    table.add_row(t("estimate.row_concurrency"), f"{est.concurrency:,.1f}", "")
    table.add_row(t("estimate.row_max_concurrency"), "—" if est.max_concurrency is None else str(est.max_concurrency),
                  "")
    from gpuplan.cli.common import print_table

    print_table(con, table)
    con.print(_breakdown(est))
    con.print(t("estimate.why", sentence=sentence))
    if est.saturated and est.requests_per_s:
        con.print(t("perf.saturated", max_rps=f"{est.requests_per_s:.2f}"))
    con.print(t("estimate.calibration", id=est.calibration, percent=f"{u * 100:.0f}"))
    con.print(t("speedmodel.calibration_rows", rows=est.calibration_rows,
                versions=", ".join(est.calibration_versions) or t("speedmodel.versions_none")))
    for key in est.assumptions:
        con.print("· " + t(key))
    if sim is not None:
        pt = Table(title=t("estimate.percentiles_title", n=sim.num_requests))
        for col in ("col_percentile", "col_ttft", "col_tpot", "col_e2e"):
            pt.add_column(t("estimate." + col), justify="right")
        for p, row in zip(sim.percentiles, sim.rows, strict=True):
            pt.add_row(f"P{p:g}", fmt_seconds(row.ttft_s), fmt_seconds(row.tpot_s), fmt_seconds(row.e2e_s))
        con.print(pt)


def _breakdown(est):
    """The decode step by operator: time, what bounds it, share of the step."""
    from rich.table import Table

    from gpuplan.units import fmt_seconds

    table = Table(title=t("speedmodel.breakdown_title", step=fmt_seconds(est.decode_step_s)))
    table.add_column(t("speedmodel.col_operator"))
    table.add_column(t("speedmodel.col_time"), justify="right")
    table.add_column(t("speedmodel.col_bound"))
    table.add_column(t("speedmodel.col_share"), justify="right")
    for op in est.decode_step_operations:
        table.add_row(t("speedmodel.op_" + op.name), fmt_seconds(op.time_s), t("speedmodel.bound_" + op.bound),
                      f"{op.share_fraction * 100:.1f}%")
    return table


def _measured_step(entry, dep, wl, est):
    """AIConfigurator's decode step for this deployment (gpuplan[measured]); a sentence when it is not installed."""
    from gpuplan.cli.common import fail
    from gpuplan.perf.measured import measured_available, measured_decode_step

    if not measured_available():
        fail(t("speedmodel.measured_missing"))
    return measured_decode_step(entry.id, dep.gpu_id, dep.engine, dep.tensor_parallel_size, round(est.concurrency),
                                wl.input_tokens, wl.output_tokens)
