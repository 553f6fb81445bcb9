"""``gpuplan estimate`` for prefill/decode disaggregation (``--prefill-nodes/--decode-nodes``) and the load sweep
(``--sweep``): the options live on the estimate command; the work is here."""

from __future__ import annotations

from gpuplan.i18n import t


def estimate_pd_or_sweep(o: dict) -> None:
    """--prefill-nodes/--decode-nodes → the PD model (with --sweep: its sweep); --sweep alone → the aggregated sweep."""
    if o["prefill_nodes"] is not None or o["decode_nodes"] is not None:
        _estimate_pd(o)
    else:
        _sweep_aggregated(o)



def _estimate_pd(o: dict) -> None:
    """--prefill-nodes/--decode-nodes: the PD model of perf.disagg (SGLang, DP-attention, EP over each pool)."""
    from gpuplan.catalog import get_model
    from gpuplan.cli.common import fail, print_json
    from gpuplan.perf.disagg import DisaggDeployment, estimate_disaggregated

    if o["prefill_nodes"] is None or o["decode_nodes"] is None:
        fail(t("disagg.nodes_pair", prefill=o["prefill_nodes"] or "—", decode=o["decode_nodes"] or "—"))
    engine = o["engine"] if o["engine"] not in (None, "vllm") else "sglang"  # PD is modeled for SGLang
    entry = get_model(o["model"])
    from gpuplan.views import check_request_context

    check_request_context(entry, o["input_tokens"], o["output_tokens"])
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
    con.print(t("estimate_pd.band", percent=f"{est.uncertainty_fraction * 100:.0f}"))
    if est.decode_batch_per_gpu > est.max_decode_batch_per_gpu:
        # --decode-batch is taken as given; say when the KV cache cannot hold it (the figures assume it anyway)
        con.print(t("qa.pd_batch_over_capacity", batch=est.decode_batch_per_gpu, cap=est.max_decode_batch_per_gpu,
                    context=f"{o['input_tokens'] + o['output_tokens']:,}"))
    for key in est.assumptions:
        con.print("· " + t(key))


def _sweep_aggregated(o: dict) -> None:
    from gpuplan.catalog import get_model
    from gpuplan.cli.calibrate import user_calibration_path
    from gpuplan.perf import load_calibration
    from gpuplan.perf.sweep import sweep_aggregated
    from gpuplan.spec import ENGINES, Deployment, Workload, check_choice
    from gpuplan.views import check_request_context, engine_for_gpu, layout_for_gpus

    if o["engine"] is not None:
        check_choice(o["engine"], ENGINES, "engine")
    engine = engine_for_gpu(o["engine"], o["gpu"])
    entry = get_model(o["model"])
    check_request_context(entry, o["input_tokens"], o["output_tokens"])
    tp, dp = layout_for_gpus(entry.arch, o["gpus"], o["tp"], o["pp"], o["dp"], o["dp_attention"])
    dep = Deployment(gpu_id=o["gpu"], gpu_count=o["gpus"], engine=engine, weight_format=o["weights"],
                     kv_dtype=o["kv_dtype"], tensor_parallel_size=tp, pipeline_parallel_size=o["pp"],
                     expert_parallel_size=o["ep"], data_parallel_size=dp,
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
