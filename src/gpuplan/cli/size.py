"""``gpuplan size``: memory of serving or fine-tuning a model, per GPU, with the binding term."""

from __future__ import annotations

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("size", help=t("size.help"))
    def size_cmd(
        model: str = typer.Argument(..., help=t("size.arg_model")),
        weights: str = typer.Option("native", "--weights", help=t("size.opt_weights")),
        kv_dtype: str = typer.Option("auto", "--kv-dtype", help=t("size.opt_kv_dtype")),
        context: int = typer.Option(None, "--context", min=1, max=10_000_000, help=t("size.opt_context")),
        concurrency: int = typer.Option(1, "--concurrency", min=1, max=1_000_000, help=t("size.opt_concurrency")),
        gpu: str = typer.Option(None, "--gpu", help=t("size.opt_gpu")),
        gpus: int = typer.Option(1, "--gpus", min=1, max=4096, help=t("size.opt_gpus")),
        tp: int = typer.Option(None, "--tensor-parallel-size", "--tp", min=1, help=t("size.opt_tp")),
        pp: int = typer.Option(1, "--pipeline-parallel-size", "--pp", min=1, help=t("size.opt_pp")),
        ep: int = typer.Option(1, "--expert-parallel-size", "--ep", min=1, help=t("size.opt_ep")),
        dp_attention: bool = typer.Option(False, "--dp-attention", help=t("size.opt_dp_attention")),
        engine: str | None = typer.Option(None, "--engine", help=t("size.opt_engine")),
        util: float = typer.Option(None, "--gpu-memory-utilization", min=0.05, max=1.0, help=t("size.opt_util")),
        task: str = typer.Option("serve", "--task", help=t("size.opt_task")),
        zero: int = typer.Option(0, "--zero", min=0, max=3, help=t("size.opt_zero")),
        offload: str = typer.Option("none", "--offload", help=t("size.opt_offload")),
        seq_len: int = typer.Option(4096, "--seq-len", min=16, help=t("size.opt_seq_len")),
        micro_batch: int = typer.Option(1, "--micro-batch-size", min=1, help=t("size.opt_micro_batch")),
        lora_rank: int = typer.Option(16, "--lora-rank", min=1, help=t("size.opt_lora_rank")),
        recompute: str = typer.Option("auto", "--recompute", "--gradient-checkpointing", help=t("ux.opt_recompute")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_size)(model, weights, kv_dtype, context, concurrency, gpu, gpus, tp, pp, ep, dp_attention, engine, util,
                     task, zero, offload, seq_len, micro_batch, lora_rank, as_json, recompute)


def _size(model, weights, kv_dtype, context, concurrency, gpu, gpus, tp, pp, ep, dp_attention, engine, util, task,
          zero, offload, seq_len, micro_batch, lora_rank, as_json, recompute="auto") -> None:
    from gpuplan.catalog import get_model
    from gpuplan.cli.common import print_json
    from gpuplan.spec import TASKS, Deployment, TrainingJob, check_choice
    from gpuplan.views import engine_for_gpu, kv_for_weights, layout_for_gpus, weights_for_gpu

    check_choice(task, TASKS, t("size.what_task"))
    engine = engine_for_gpu(engine, gpu)
    check_choice(offload, ("none", "cpu", "nvme", "experts", "layers"), t("size.what_offload"))
    entry = get_model(model)
    arch = entry.arch
    if task != "serve":
        if gpu is None:
            from gpuplan.errors import InvalidInputError

            raise InvalidInputError("size.training_needs_gpu")
        from gpuplan.views import size_training_auto

        job = TrainingJob(task=task, sequence_length=seq_len, micro_batch_size=micro_batch, zero_stage=zero,
                          offload="none" if offload in ("none", "experts", "layers") else offload, lora_rank=lora_rank)
        res = size_training_auto(entry, job, gpu_id=gpu, gpu_count=gpus, tp=tp or 1,
                                 base_format=None if weights == "native" else weights, recompute=recompute)
        if as_json:
            print_json(res)
            return
        _print_training(res)
        return
    ctx = context or min(entry.max_context_tokens or 4096, 4096)
    if gpu is None:
        from gpuplan.memory import size_model_only

        res = size_model_only(entry, weights, kv_dtype, engine, ctx, concurrency)
    else:
        from gpuplan.memory import size_inference

        weights = weights_for_gpu(entry, weights, gpu, engine)
        kv_dtype = kv_for_weights(kv_dtype, weights)
        tp_eff, _ = layout_for_gpus(arch, gpus, tp, pp, None, dp_attention)  # DP replicas: the same per-GPU memory
        dep = Deployment(
            gpu_id=gpu, gpu_count=gpus, engine=engine, weight_format=weights, kv_dtype=kv_dtype,
            tensor_parallel_size=tp_eff, pipeline_parallel_size=pp, expert_parallel_size=ep,
            data_parallel_size=max(1, gpus // (tp_eff * pp)) if dp_attention else 1,
            enable_dp_attention=dp_attention, gpu_memory_utilization=util,
            offload="experts" if offload == "experts" else ("layers" if offload == "layers" else "none"),
        )
        res = size_inference(entry, dep, context_tokens=ctx, concurrency=concurrency)
    if as_json:
        print_json(res)
        return
    _print_inference(entry, res)


def _bar(fraction: float, width: int = 24) -> str:
    fraction = max(0.0, min(1.0, fraction))
    full = int(round(fraction * width))
    return "█" * full + "·" * (width - full)


def _print_inference(entry, res) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console
    from gpuplan.units import fmt_bytes, fmt_gib
    from gpuplan.views import format_label

    con = console()
    con.print(t("size.header", model=entry.id, fmt=format_label(entry, res.weight_format), kv=res.kv_dtype, engine=res.engine))
    con.print(t("size.whole", weights=fmt_bytes(res.weights_bytes), kv=f"{res.kv_cache_bytes_per_token:,}",
                ctx=f"{res.context_tokens:,}"))
    if res.per_gpu is None:
        return
    g = res.per_gpu
    table = Table(title=t("size.table_title", gpu=res.gpu, n=res.gpu_count))
    table.add_column(t("size.col_component"))
    table.add_column(t("size.col_gib"), justify="right")
    table.add_column(t("size.col_share"))
    rows = [("weights", g.weights_bytes), ("kv_cache", g.kv_cache_bytes), ("activations", g.activation_bytes),
            ("overhead", g.overhead_bytes)]
    for key, val in rows:
        table.add_row(t(f"size.row_{key}"), fmt_gib(val, 2), _bar(val / g.capacity_bytes))
    table.add_row(t("size.row_total"), fmt_gib(g.total_bytes, 2), _bar(g.total_bytes / g.capacity_bytes))
    table.add_row(t("size.row_budget"), fmt_gib(g.budget_bytes, 2), _bar(g.budget_bytes / g.capacity_bytes))
    table.add_row(t("size.row_capacity"), fmt_gib(g.capacity_bytes, 2), "")
    from gpuplan.cli.common import print_table

    print_table(con, table)
    if res.binding == "weights":
        con.print(t("size.verdict_weights", weights=fmt_gib(g.weights_bytes), budget=fmt_gib(g.budget_bytes)))
    elif res.fits:
        con.print(t("size.verdict_fits", n=res.max_concurrency, ctx=f"{res.context_tokens:,}",
                    pool=fmt_gib(g.kv_pool_bytes), seq=fmt_bytes(res.kv_cache_bytes_per_sequence_per_gpu),
                    asked=res.concurrency))
    else:
        con.print(t("size.verdict_kv", n=res.max_concurrency, ctx=f"{res.context_tokens:,}", asked=res.concurrency,
                    pool=fmt_gib(g.kv_pool_bytes), seq=fmt_bytes(res.kv_cache_bytes_per_sequence_per_gpu)))
    if res.max_context_tokens:
        con.print(t("size.max_context", ctx=f"{res.max_context_tokens:,}", n=res.concurrency))
    args = ", ".join(f"{k}={v}" for k, v in res.engine_args.items())
    con.print(t("size.engine_args", args=args))
    for key in res.assumptions:
        con.print("  · " + t(key))


def _print_training(res) -> None:
    from rich.table import Table

    from gpuplan.cli.common import console
    from gpuplan.units import fmt_gib

    con = console()
    table = Table(title=t("size.train_title", task=res.task, gpu=res.gpu, n=res.gpu_count))
    table.add_column(t("size.col_component"))
    table.add_column(t("size.col_gib"), justify="right")
    table.add_column(t("size.col_share"))
    for key in ("weights", "gradients", "optimizer", "activation", "logits", "overhead"):
        val = getattr(res, f"{key}_bytes")
        table.add_row(t(f"size.trow_{key}"), fmt_gib(val, 2), _bar(val / res.capacity_bytes))
    table.add_row(t("size.row_total"), fmt_gib(res.total_bytes, 2), _bar(res.total_bytes / res.capacity_bytes))
    table.add_row(t("size.row_capacity"), fmt_gib(res.capacity_bytes, 2), "")
    from gpuplan.cli.common import print_table

    print_table(con, table)
    if res.host_bytes:
        con.print(t("size.host", host=fmt_gib(res.host_bytes)))
    binding = t(f"size.trow_{res.binding.rstrip('s') if res.binding == 'activations' else res.binding}")
    nofit_key = {"lora": "ux.train_nofit_lora", "qlora": "ux.train_nofit_qlora"}.get(res.task, "ux.train_nofit_full")
    con.print(t("size.train_fits") if res.fits else t(nofit_key, binding=binding))
    con.print(t("ux.recompute_used", mode=res.recompute))
    for key in res.assumptions:
        con.print("  · " + t(key))
