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
        gpus: int = typer.Option(1, "--gpus", min=1, help=t("estimate.opt_gpus")),
        tp: int = typer.Option(None, "--tensor-parallel-size", "--tp", min=1, help=t("estimate.opt_tp")),
        pp: int = typer.Option(1, "--pipeline-parallel-size", "--pp", min=1, help=t("estimate.opt_pp")),
        ep: int = typer.Option(1, "--expert-parallel-size", "--ep", min=1, help=t("estimate.opt_ep")),
        dp: int = typer.Option(1, "--data-parallel-size", "--dp", min=1, help=t("estimate.opt_dp")),
        dp_attention: bool = typer.Option(False, "--dp-attention", help=t("estimate.opt_dp_attention")),
        engine: str = typer.Option("vllm", "--engine", help=t("estimate.opt_engine")),
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

        if prefill_nodes is not None or decode_nodes is not None:
            guard(_estimate_pd)(locals())
            return
        if sweep:
            guard(_sweep_aggregated)(locals())
            return
        guard(_estimate)(model, gpu, gpus, tp, pp, ep, dp, dp_attention, engine, weights, kv_dtype, input_tokens,
                         output_tokens, concurrency, rate, prefix_hit, speculative, accept, offload, host,
                         gpu_layers, calibration, percentiles, as_json)


def _estimate(model, gpu, gpus, tp, pp, ep, dp, dp_attention, engine, weights, kv_dtype, input_tokens, output_tokens,
              concurrency, rate, prefix_hit, speculative, accept, offload, host, gpu_layers, calibration,
              percentiles, as_json) -> None:
    from gpuplan.catalog import get_model
    from gpuplan.cli.common import fail, print_json
    from gpuplan.perf import estimate_serving, load_calibration
    from gpuplan.spec import ENGINES, Deployment, Workload, check_choice
    from gpuplan.views import bottleneck_sentence, default_tp

    if concurrency is not None and rate is not None:
        fail(t("estimate.both_load"))
    check_choice(engine, ENGINES, "engine")
    check_choice(offload, ("none", "experts", "layers"), "offload")
    entry = get_model(model)
    if tp is None:
        tp = default_tp(entry.arch.num_attention_heads, gpus, pp, 1 if dp_attention else dp)
    from gpuplan.cli.calibrate import user_calibration_path

    cal = load_calibration(user_calibration_path(calibration))
    dep = Deployment(gpu_id=gpu, gpu_count=gpus, engine=engine, weight_format=weights, kv_dtype=kv_dtype,
                     tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=ep,
                     data_parallel_size=dp, enable_dp_attention=dp_attention, offload=offload, host_id=host,
                     gpu_layers=gpu_layers)
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
    if as_json:
        data = est.model_dump(mode="json")
        data["bottleneck_sentence"] = sentence
        data["model"] = entry.id
        data["deployment"] = dep.model_dump(mode="json")
        data["workload"] = wl.model_dump(mode="json")
        if sim is not None:
            data["percentiles"] = sim.model_dump(mode="json")
        print_json(data)
        return
    _render(entry, dep, wl, est, sentence, sim)


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
    con.print(table)
    con.print(t("estimate.why", sentence=sentence))
    if est.saturated and est.requests_per_s:
        con.print(t("perf.saturated", max_rps=f"{est.requests_per_s:.2f}"))
    con.print(t("estimate.calibration", id=est.calibration, percent=f"{u * 100:.0f}"))
    for key in est.assumptions:
        con.print("· " + t(key))
    if sim is not None:
        pt = Table(title=t("estimate.percentiles_title", n=sim.num_requests))
        for col in ("col_percentile", "col_ttft", "col_tpot", "col_e2e"):
            pt.add_column(t("estimate." + col), justify="right")
        for p, row in zip(sim.percentiles, sim.rows, strict=True):
            pt.add_row(f"P{p:g}", fmt_seconds(row.ttft_s), fmt_seconds(row.tpot_s), fmt_seconds(row.e2e_s))
        con.print(pt)


# ------------------------------------------------------------------------ disaggregated (xPyD) and the sweep


def _estimate_pd(o: dict) -> None:
    """--prefill-nodes/--decode-nodes: the PD model of perf.disagg (SGLang, DP-attention, EP over each pool)."""
    from gpuplan.catalog import get_model
    from gpuplan.cli.common import fail, print_json
    from gpuplan.perf.disagg import DisaggDeployment, estimate_disaggregated

    if o["prefill_nodes"] is None or o["decode_nodes"] is None:
        fail(t("disagg.nodes_pair", prefill=o["prefill_nodes"] or "—", decode=o["decode_nodes"] or "—"))
    engine = o["engine"] if o["engine"] != "vllm" else "sglang"  # the estimate default; PD is modeled for SGLang
    entry = get_model(o["model"])
    dd = DisaggDeployment(gpu_id=o["gpu"], gpus_per_node=o["gpus_per_node"], prefill_nodes=o["prefill_nodes"],
                          decode_nodes=o["decode_nodes"], engine=engine, weight_format=o["weights"],
                          kv_dtype=o["kv_dtype"], prefill_tokens_per_gpu=o["prefill_chunk"],
                          decode_batch_per_gpu=o["decode_batch"], speculative_tokens=o["speculative"],
                          acceptance_fraction=o["accept"])
    if o["sweep"]:
        from gpuplan.perf.sweep import sweep_disaggregated

        sw = sweep_disaggregated(entry, dd, input_tokens=o["input_tokens"], output_tokens=o["output_tokens"],
                                 prefix_cache_hit_fraction=o["prefix_hit"])
        _print_sweep(entry, sw, o["as_json"])
        return
    est = estimate_disaggregated(entry, dd, input_tokens=o["input_tokens"], output_tokens=o["output_tokens"],
                                 prefix_cache_hit_fraction=o["prefix_hit"])
    if o["as_json"]:
        data = est.model_dump(mode="json")
        data["model"] = entry.id
        data["deployment"] = dd.model_dump(mode="json")
        print_json(data)
        return
    _render_pd(entry, dd, est, o)


def _render_pd(entry, dd, est, o) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console
    from gpuplan.units import fmt_seconds

    con = console()
    table = Table(title=t("disagg.title", layout=est.layout, model=entry.display_name, gpu=dd.gpu_id,
                          pn=dd.prefill_nodes, dn=dd.decode_nodes, gpn=dd.gpus_per_node, pep=est.prefill.gpus,
                          dep=est.decode.gpus, inp=o["input_tokens"], out=o["output_tokens"]))
    table.add_column(t("estimate.col_metric"))
    table.add_column(t("estimate.col_value"), justify="right")
    table.add_row(t("estimate.row_ttft"), fmt_seconds(est.ttft_s))
    table.add_row(t("estimate.row_tpot"), fmt_seconds(est.tpot_s))
    table.add_row(t("disagg.row_prefill_node"), f"{est.prefill.tokens_per_s_per_node:,.0f}")
    table.add_row(t("disagg.row_decode_node"), f"{est.decode.tokens_per_s_per_node:,.0f}")
    table.add_row(t("disagg.row_decode_batch"), f"{est.decode_batch_per_gpu} ({est.max_decode_batch_per_gpu})")
    table.add_row(t("disagg.row_kv_transfer"), fmt_seconds(est.kv_transfer_s))
    table.add_row(t("estimate.row_output"), t("estimate.unit_tok_s", value=f"{est.output_tokens_per_s:,.0f}"))
    table.add_row(t("estimate.row_input"), t("estimate.unit_tok_s", value=f"{est.input_tokens_per_s:,.0f}"))
    table.add_row(t("estimate.row_concurrency"), f"{est.concurrency:,}")
    table.add_row(t("disagg.row_bottleneck"), t("disagg.pool_" + est.bottleneck_pool))
    con.print(table)
    con.print(t("disagg.bound", p=fmt_seconds(est.prefill.step_s), pb=t("estimate_pd.bound_" + est.prefill.bound),
                d=fmt_seconds(est.decode.step_s), db=t("estimate_pd.bound_" + est.decode.bound)))
    for key in est.assumptions:
        con.print("· " + t(key))


def _sweep_aggregated(o: dict) -> None:
    from gpuplan.catalog import get_model
    from gpuplan.cli.calibrate import user_calibration_path
    from gpuplan.perf import load_calibration
    from gpuplan.perf.sweep import sweep_aggregated
    from gpuplan.spec import ENGINES, Deployment, Workload, check_choice
    from gpuplan.views import default_tp

    check_choice(o["engine"], ENGINES, "engine")
    entry = get_model(o["model"])
    tp = o["tp"] or default_tp(entry.arch.num_attention_heads, o["gpus"], o["pp"],
                               1 if o["dp_attention"] else o["dp"])
    dep = Deployment(gpu_id=o["gpu"], gpu_count=o["gpus"], engine=o["engine"], weight_format=o["weights"],
                     kv_dtype=o["kv_dtype"], tensor_parallel_size=tp, pipeline_parallel_size=o["pp"],
                     expert_parallel_size=o["ep"], data_parallel_size=o["dp"],
                     enable_dp_attention=o["dp_attention"], offload=o["offload"], host_id=o["host"],
                     gpu_layers=o["gpu_layers"])
    wl = Workload(input_tokens=o["input_tokens"], output_tokens=o["output_tokens"],
                  prefix_cache_hit_fraction=o["prefix_hit"])
    sw = sweep_aggregated(entry, dep, wl, load_calibration(user_calibration_path(o["calibration"])),
                          speculative_tokens=o["speculative"], speculative_acceptance_fraction=o["accept"])
    _print_sweep(entry, sw, o["as_json"])


def _print_sweep(entry, sw, as_json: bool) -> None:
    from gpuplan.cli.common import console, print_json
    from gpuplan.units import fmt_seconds

    if as_json:
        data = sw.model_dump(mode="json")
        data["model"] = entry.id
        print_json(data)
        return
    from rich.table import Table

    table = Table(title=t("estimate_pd.sweep_title", model=entry.display_name, gpus=sw.gpus, layout=sw.layout))
    for col in ("col_concurrency", "col_ttft", "col_tpot", "col_per_user", "col_per_gpu", "col_total"):
        table.add_column(t("estimate_pd." + col), justify="right")
    for p in sw.points:
        table.add_row(f"{p.concurrency:,}" + (" *" if p.on_frontier else ""), fmt_seconds(p.ttft_s),
                      fmt_seconds(p.tpot_s), f"{p.tokens_per_s_per_user or 0:,.1f}",
                      f"{p.output_tokens_per_s_per_gpu or 0:,.0f}", f"{p.output_tokens_per_s or 0:,.0f}")
    con = console()
    con.print(table)
    con.print(t("estimate_pd.sweep_note"))
