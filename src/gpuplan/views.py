"""JSON views and request builders shared by the edges (CLI, REST API, web page), so both print the same objects.

Nothing here prints or reads files; the CLI and the API call these and render the result their own way.
"""

from __future__ import annotations

from typing import Any

from gpuplan.i18n import t


def format_label(model, weight_format: str | None, short: bool = False) -> str:
    """The weight format as a user reads it: a release that keeps its experts in another format says so
    (gpt-oss: "bf16 + mxfp4 experts", 12.8 GiB, not the 39 GiB a plain "bf16" suggests)."""
    fmt = weight_format or "—"
    experts = model.checkpoint.expert_weight_format if model is not None else None
    if experts and weight_format == (model.checkpoint.weight_format or "bf16"):
        return t("labels.mixed_format_short" if short else "labels.mixed_format", fmt=fmt, experts=experts)
    return fmt


def engine_for_gpu(engine: str | None, gpu_id: str | None) -> str:
    """The engine a size/estimate runs on: the one asked for, checked against the GPU's vendor (vLLM on an Ascend NPU
    or an Apple GPU is refused, not estimated), or when none is asked the first engine that runs on that vendor."""
    from gpuplan.catalog import get_gpu
    from gpuplan.errors import InvalidInputError, UnsupportedError
    from gpuplan.memory.engines import engines_for_vendor

    if gpu_id is None:
        return engine or "vllm"
    gpu = get_gpu(gpu_id)
    allowed = engines_for_vendor(gpu.vendor)
    if not allowed:
        # Fail closed: a vendor no catalog engine runs on (Moore Threads' MUSA) has no memory rule or speed to borrow.
        raise UnsupportedError("qa.no_engine_for_vendor", gpu=gpu.id, vendor=gpu.vendor, vendors=_engine_vendors())
    if not engine:
        return allowed[0]
    if allowed and engine not in allowed:
        raise InvalidInputError("engine_choice.wrong_vendor", engine=engine, gpu=gpu.id, vendor=gpu.vendor,
                                allowed=", ".join(allowed), default=allowed[0])
    return engine


def _engine_vendors() -> str:
    """'amd, apple, cpu, huawei, nvidia': the vendors some catalog engine runs on (engines.toml ``vendors``)."""
    from gpuplan.memory.engines import engines_data

    return ", ".join(sorted({v for facts in engines_data().values() if isinstance(facts, dict)
                             for v in facts.get("vendors", ())}))


def model_summary(m) -> dict:
    """The JSON contract of ``models --json`` (extend, never rename)."""
    from gpuplan.catalog.models import default_output_tokens, is_reasoning_model

    a = m.arch
    return {
        "id": m.id,
        "name": m.display_name,
        "family": m.family,
        "series": m.series,
        "release_date": m.release_date,
        "reasoning": is_reasoning_model(m),
        "default_output_tokens": default_output_tokens(m),
        "aliases": list(m.aliases),
        "model_type": a.model_type,
        "params_total": a.params_total,
        "params_active": a.params_active,
        "params_mtp": a.params_mtp,
        "params_total_official": m.params_total_official,
        "params_active_official": m.params_active_official,
        "context_length": m.max_context_tokens,
        "attention": a.attention_kind,
        "moe": a.is_moe,
        "weight_format": m.checkpoint.weight_format,
        "expert_weight_format": m.checkpoint.expert_weight_format,
        "checkpoint_bytes": m.checkpoint.bytes,
        "config_source": m.config_source,
    }


def gpu_summary(g) -> dict:
    """The JSON contract of ``gpus --json`` (extend, never rename)."""
    return {
        "id": g.id,
        "name": g.name,
        "vendor": g.vendor,
        "class": g.gpu_class,
        "architecture": g.architecture,
        "compute_capability": g.compute_capability,
        "memory_bytes": g.memory_bytes,
        "memory_basis": g.memory_basis,
        "memory_bandwidth_bytes_per_s": g.memory_bandwidth_bytes_per_s,
        "dense_fp32_flops_per_s": g.dense_fp32_flops_per_s,
        "dense_bf16_flops_per_s": g.dense_16bit_flops_per_s,
        "dense_fp8_flops_per_s": g.dense_fp8_flops_per_s,
        "dense_int8_ops_per_s": g.dense_int8_ops_per_s,
        "dense_fp4_flops_per_s": g.dense_fp4_flops_per_s,
        "tdp_watts": g.tdp_watts,
        "interconnect": g.interconnect,
        "interconnect_bytes_per_s": g.interconnect_bytes_per_s,
        "launch_year": g.launch_year,
        "china_available": g.china_available,
        "aliases": list(g.aliases),
        "sources": list(g.sources),
    }


def inspect_summary(entry, arch, info, display_id: str) -> dict:
    """The JSON contract of ``inspect --json``: id, params_total, params_active, params_by_component (extend only)."""
    data = {
        "id": display_id,
        "model_type": arch.model_type,
        "params_total": arch.params_total,
        "params_active": arch.params_active,
        "params_mtp": arch.params_mtp,
        "params_by_component": arch.params_by_component,
        "params_router_bias": arch.params_router_bias,
        "params_embedding_copies_in_mtp": arch.params_embedding_copies_in_mtp,
        "num_layers": arch.num_layers,
        "hidden_size": arch.hidden_size,
        "vocab_size": arch.vocab_size,
        "attention": arch.attention_kind,
        "num_attention_heads": arch.num_attention_heads,
        "num_kv_heads": arch.num_kv_heads,
        "num_experts": arch.num_experts,
        "experts_per_token": arch.experts_per_token,
        "num_mtp_layers": arch.num_mtp_layers,
        "context_length": arch.max_position_embeddings,
        "checkpoint_bytes": None,
        "weight_format": None,
    }
    if entry is not None:
        data.update(
            context_length=entry.max_context_tokens,
            params_total_official=entry.params_total_official,
            params_active_official=entry.params_active_official,
            checkpoint_bytes=entry.checkpoint.bytes,
            weight_format=entry.checkpoint.weight_format,
            config_source=entry.config_source,
        )
    if info is not None:
        data.update(
            source=info.source,
            checkpoint_bytes=info.total_bytes,
            checkpoint_params=info.total_params,
            bytes_by_dtype=dict(info.bytes_by_dtype),
            bytes_by_component=dict(info.bytes_by_component),
            weight_format=info.weight_format,
            bits_per_weight=round(8 * info.total_bytes / info.total_params, 3) if info.total_params else None,
            gguf_file_type=info.gguf_file_type,
            catalog_matches=[m.id for m in catalog_matches(arch)],
        )
    return data


def catalog_matches(arch) -> list:
    """Catalog entries with the same architecture (V3, R1 and V3-0324 share one: all are listed)."""
    from gpuplan.catalog import list_models

    family = {"kimi_k2": "deepseek_v3"}
    want = (family.get(arch.model_type, arch.model_type), arch.hidden_size, arch.num_layers, arch.vocab_size,
            arch.num_attention_heads, arch.num_kv_heads, arch.num_experts, arch.experts_per_token,
            arch.params_total)
    out = []
    for m in list_models():
        a = m.arch
        got = (family.get(a.model_type, a.model_type), a.hidden_size, a.num_layers, a.vocab_size,
               a.num_attention_heads, a.num_kv_heads, a.num_experts, a.experts_per_token, a.params_total)
        if got == want:
            out.append(m)
    return out


def default_tp(heads: int, gpus: int, pp: int = 1, dp: int = 1, kv_heads: int | None = None) -> int:
    """Tensor parallel size over the GPUs left after PP and DP: the largest that divides the attention heads and that
    the KV heads split into or replicate over (vLLM: TP divides the KV heads or they divide TP): a 28-head model with
    4 KV heads on 8 GPUs gets TP 4 (two replicas), not TP 7 (one GPU idle, KV heads 7 cannot split)."""
    room = max(1, gpus // max(1, pp * dp))
    # A size above the head count cannot divide it: start there, so a huge --gpus cannot spin for ages.
    want = max(1, min(room, max(1, heads)))
    while want > 1 and (heads % want or (kv_heads and kv_heads % want and want % kv_heads)):
        want -= 1
    return want


def check_request_context(entry, input_tokens: int, output_tokens: int) -> None:
    """A request longer than the model's context is one sentence naming the flags that set it (--input-tokens and
    --output-tokens: estimate and plan have no --context); the PD model estimated such requests without a word."""
    from gpuplan.errors import InvalidInputError

    limit = entry.max_context_tokens
    if limit and input_tokens + output_tokens > limit:
        raise InvalidInputError("qa.plan_context_too_long", given=f"{input_tokens + output_tokens:,}",
                                allowed=f"{limit:,}", input=f"{input_tokens:,}", output=f"{output_tokens:,}",
                                model=entry.id)


def weights_for_gpu(entry, weights: str, gpu_id: str | None, engine: str) -> str:
    """The weight format a size/estimate runs: the one asked for, else the release, cast to FP16 on a GPU without
    BF16 (T4, V100, Ascend 310P) as ``plan`` does, so both commands name and size the same format."""
    if weights != "native" or gpu_id is None or (entry.checkpoint.weight_format or "bf16") != "bf16":
        return weights  # (the release's format as catalog.checkpoints.native_format_of reads it, without importing it)
    from gpuplan.catalog import get_gpu
    from gpuplan.memory.engines import gpu_has_bf16  # light: `size` must not load the planner

    if gpu_has_bf16(get_gpu(gpu_id)):
        return weights
    from gpuplan.catalog.checkpoints import DTYPE_CAST_ENGINES

    return "fp16" if engine in DTYPE_CAST_ENGINES else weights


def kv_for_weights(kv_dtype: str, weights: str) -> str:
    """'auto' with FP16 weights is an FP16 cache (the engines' auto follows the model dtype), as plan labels it."""
    return "fp16" if kv_dtype == "auto" and weights == "fp16" else kv_dtype


def layout_for_gpus(arch, gpus: int, tp: int | None, pp: int, dp: int | None, dp_attention: bool) -> tuple[int, int]:
    """(tp, dp) for ``size``/``estimate`` on ``gpus`` GPUs: TP as given or the default, DP as given or the replicas that
    fill the GPUs (attention DP stays inside the TP group). A layout that leaves GPUs idle, or asks for more than there
    are, is one sentence: the numbers of a TP 8 deployment shown "on 12 GPUs" are not what 12 GPUs do."""
    from gpuplan.errors import InvalidInputError

    if tp and arch.num_attention_heads % tp:
        return tp, dp or 1  # the sizing refuses it with the valid sizes, a more useful sentence than the GPU count
    tp = tp or default_tp(arch.num_attention_heads, gpus, pp, 1 if dp_attention or dp is None else dp,
                          arch.num_kv_heads)
    if dp is None:
        dp = 1 if dp_attention else max(1, gpus // max(1, tp * pp))
    used = tp * pp * (1 if dp_attention else dp)
    if used != gpus:
        raise InvalidInputError("qa.gpus_idle", gpus=gpus, tp=tp, pp=pp, dp=1 if dp_attention else dp, used=used,
                                heads=arch.num_attention_heads)
    return tp, dp


def bottleneck_sentence(est) -> str:
    """The bottleneck in words, e.g. 'decode is memory-bound: 83% of the step reads weights.'"""
    if est.bottleneck == "kv_capacity":
        return t("perf.bottleneck_kv_capacity", cap=est.max_concurrency, want=int(est.requested_concurrency or 0))
    return t("perf.bottleneck_" + est.bottleneck_term, percent=f"{est.bottleneck_fraction * 100:.0f}")


def refuse_empty(opts: dict, names: dict[str, tuple[str, str]]) -> None:
    """An option given as '' (or spaces) is an error naming the choices, not a silent default."""
    from gpuplan.errors import InvalidInputError

    for name, (flag, allowed) in names.items():
        value = opts.get(name)
        if isinstance(value, str) and not value.strip():
            raise InvalidInputError("safety.empty_option", option=flag, allowed=allowed)


def build_request(opts: dict):
    """CLI/API options → PlanRequest: preset first, explicit flags over it; ms → s and CNY → USD once, here."""
    from gpuplan.errors import InvalidInputError
    from gpuplan.plan import OBJECTIVES, PRESETS, PlanRequest
    from gpuplan.spec import ENGINES, TASKS, TRAINING_ENGINES, TrainingJob, check_choice

    refuse_empty(opts, {"preset": ("--preset", ", ".join(PRESETS)), "task": ("--task", ", ".join(TASKS)),
                         "objective": ("--objective", ", ".join(OBJECTIVES))})
    from gpuplan.perf.engine_version import parse_engine_spec

    # ENGINE or ENGINE==VERSION (one parser for estimate, plan and the API); the version reaches every estimate.
    engine_specs = [parse_engine_spec(engine, ENGINES + TRAINING_ENGINES) for engine in opts.get("engine") or ()]
    for engine, _ in engine_specs:
        check_choice(engine, ENGINES + TRAINING_ENGINES, "--engine")
    for weights in opts.get("weights") or ():
        from gpuplan.memory.quant import get_format

        get_format(weights)  # an unknown format is an error with suggestions, not an empty plan
    if opts.get("users") and opts.get("rate"):  # CLI and API alike: the rate used to win without a word
        raise InvalidInputError("qa.plan_users_and_rate", users=opts["users"], rate=opts["rate"])
    base: dict = {}
    preset = opts.get("preset")
    if preset:
        if preset not in PRESETS:
            raise InvalidInputError("plan.bad_preset", given=preset, allowed=", ".join(PRESETS))
        base = dict(PRESETS[preset])
    task = opts.get("task") or base.get("task", "serve")
    check_choice(task, TASKS, t("size.what_task"))
    _refuse_other_task_options(opts, task)
    budget_usd = opts.get("budget_usd")
    if opts.get("budget_cny"):
        from gpuplan.plan.search import default_prices

        rate = default_prices().usd_to_cny
        if rate is None:
            raise InvalidInputError("plan.no_exchange_rate")
        budget_usd = opts["budget_cny"] / rate.value
    currency = display_currency(opts)
    if opts.get("market") and opts["market"] not in ("new", "used", "china"):
        raise InvalidInputError("money.bad_market", given=opts["market"], allowed="new, used, china")
    utilization = opts.get("utilization")
    if utilization is not None and not 0 < utilization <= 1:
        raise InvalidInputError("money.bad_utilization", given=utilization)
    req = {
        "model": opts["model"], "task": task,
        "users": opts.get("users") or base.get("users"),
        "rate_per_s": opts.get("rate"),
        "input_tokens": opts.get("input_tokens") or base.get("input_tokens", 2000),
        # A preset's chat-length output never cuts a reasoning model's thinking short (its own default is longer).
        "output_tokens": opts.get("output_tokens") or max(base.get("output_tokens") or 0, _default_output(opts["model"])),
        "ttft_s": opts["ttft_ms"] / 1000 if opts.get("ttft_ms") else base.get("ttft_s"),
        "tpot_s": opts["tpot_ms"] / 1000 if opts.get("tpot_ms") else base.get("tpot_s"),
        "gpus": tuple(opts.get("gpu") or ()), "exclude_gpus": tuple(opts.get("exclude_gpu") or ()),
        # GPUs named with --gpu are planned whatever their class: a preset's classes narrow only the full catalog.
        "classes": () if opts.get("gpu") else tuple(base.get("classes", ())), "china_only": bool(opts.get("china_only")),
        "max_gpus": opts.get("max_gpus") or base.get("max_gpus", 64),
        "max_nodes": opts.get("max_nodes") or base.get("max_nodes", 4),
        "budget_usd": budget_usd, "objective": opts.get("objective") or base.get("objective", "tco"),
        "engines": tuple(e for e, _ in engine_specs), "engine_versions": {e: v for e, v in engine_specs if v},
        "weight_formats": tuple(opts.get("weights") or ()),
        "quality": opts.get("quality") or base.get("quality", "released"),
        "self_quantize": bool(opts.get("self_quantize")), "exhaustive": bool(opts.get("exhaustive")),
        "years": opts.get("years") or 3, "top": opts.get("top") or 10,
        "currency": currency, "market": opts.get("market"),
        "utilization_fraction": utilization if utilization is not None else 0.5,
        "electricity_region": opts.get("electricity"),
        "have": tuple(opts.get("have") or ()),
        "gpu_count": opts.get("gpus"),
    }
    if task != "serve":
        dataset = parse_token_count(opts.get("train_tokens"))
        epochs = float(opts.get("epochs") or 1.0)
        req["training"] = TrainingJob(task="full" if task == "pretrain" else task,
                                      tokens_to_train=dataset * epochs if dataset else None)
    return PlanRequest(**req)


# Options that only one kind of plan reads: a serving plan is sized for users, a request rate, prompt and answer
# lengths and latency targets; a training plan for a data set (its sequence length is the training job's own).
_SERVING_ONLY = (("users", "--users"), ("rate", "--rate"), ("input_tokens", "--input-tokens"),
                 ("output_tokens", "--output-tokens"), ("ttft_ms", "--ttft-ms"), ("tpot_ms", "--tpot-ms"))
_TRAINING_ONLY = (("train_tokens", "--train-tokens"),)


def _refuse_other_task_options(opts: dict, task: str) -> None:
    """One sentence for an option the plan's task does not read (``plan --task lora --users 20`` used to plan the
    fine-tuning and drop the users without a word)."""
    from gpuplan.errors import InvalidInputError

    if task == "serve":
        given = [flag for key, flag in _TRAINING_ONLY if opts.get(key) not in (None, "")]
        if given:
            raise InvalidInputError("taskopts.training_option_on_serve", options=", ".join(given))
        return
    given = [flag for key, flag in _SERVING_ONLY if opts.get(key) is not None]
    if given:
        raise InvalidInputError("taskopts.serving_option_on_training", options=", ".join(given), task=task)


def _default_output(model_ref: str) -> int:
    """Per-model default output length (reasoning models think for thousands of tokens before answering)."""
    from gpuplan.catalog import get_model
    from gpuplan.catalog.models import CHAT_OUTPUT_TOKENS, default_output_tokens
    from gpuplan.errors import GpuplanError

    try:
        return default_output_tokens(get_model(model_ref))
    except GpuplanError:
        return CHAT_OUTPUT_TOKENS  # the search names the unknown model in its own sentence


_TOKEN_SUFFIXES = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


def parse_token_count(value) -> float | None:
    """'14.8T' → 1.48e13, '500M' → 5e8, 2e9 → 2e9; None/'' → None; anything else: one sentence."""
    from gpuplan.errors import InvalidInputError

    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().upper().replace(",", "").replace("_", "")
        suffix = text[-1:] if text[-1:] in _TOKEN_SUFFIXES else ""
        try:
            number = float(text[: len(text) - len(suffix)]) * _TOKEN_SUFFIXES[suffix]
        except ValueError:
            raise InvalidInputError("ux.bad_token_count", given=value) from None
    if not (0 < number < 1e16):
        raise InvalidInputError("ux.bad_token_count", given=value)
    return number


def fmt_count(value: float | None) -> str:
    """1.48e13 → '14.8T', 2e9 → '2B' (token counts)."""
    if value is None:
        return "—"
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


def display_currency(opts: dict) -> str:
    """The plan's currency: ``currency`` when given, else the budget's (CNY for ``budget_cny``, USD for
    ``budget_usd``), else CNY when the language is Chinese, else USD."""
    from gpuplan.errors import InvalidInputError
    from gpuplan.i18n import get_language

    given = opts.get("currency")
    if given:
        cur = str(given).upper()
        if cur not in ("USD", "CNY"):
            raise InvalidInputError("money.bad_currency", given=given, allowed="USD, CNY")
        return cur
    if opts.get("budget_cny"):
        return "CNY"
    if opts.get("budget_usd"):
        return "USD"
    return "CNY" if get_language() == "zh" else "USD"


def flag_overrides(gpu_id: str, o: dict[str, Any], month: str) -> dict[str, Any]:
    """Price-file-shaped overrides from command-line flags (source 'command line', dated this month)."""

    def fact(value: float, unit: str) -> dict[str, Any]:
        return {"value": value, "unit": unit, "date": month, "source": "command line"}

    out: dict[str, Any] = {}
    if o.get("usd_per_kwh") is not None:
        out["electricity"] = {"default_region": "command-line", "default_region_cny": "command-line", "regions": {"command-line": fact(o["usd_per_kwh"], "USD/kWh")}}
    elif o.get("cny_per_kwh") is not None:
        out["electricity"] = {"default_region": "command-line", "default_region_cny": "command-line", "regions": {"command-line": fact(o["cny_per_kwh"], "CNY/kWh")}}
    if o.get("pue") is not None:
        out["pue"] = fact(o["pue"], "ratio")
    if o.get("ops_fraction") is not None:
        out["ops_fraction_of_capex_per_year"] = fact(o["ops_fraction"], "fraction")
    if o.get("gpu_price_usd") is not None:
        out["gpus"] = {gpu_id: {"used" if o.get("used") else "new": fact(o["gpu_price_usd"], "USD")}}
    return out


def cost_inputs_for_plan(plan, c, o: dict[str, Any]):
    """CostInputs for one plan candidate from ``cost`` options (CLI flags or API fields), defaulting to what the plan
    itself was priced with, so ``gpuplan cost plan.yaml`` agrees with the plan: its currency, purchase market,
    utilization and electricity region (another ``--currency`` shows the same money converted; ``--market`` and
    ``--electricity`` change what is priced)."""
    from gpuplan.cost import CostInputs
    from gpuplan.errors import InvalidInputError

    k = c.cost
    currency = (o.get("currency") or plan.currency or "USD").upper()
    if currency not in ("USD", "CNY"):
        raise InvalidInputError("money.bad_currency", given=o.get("currency"), allowed="USD, CNY")
    if o.get("used"):
        purchase = "used"
    elif o.get("market"):
        purchase = o["market"]
    elif k.purchase in ("new", "china"):
        purchase = k.purchase  # the plan's own market: a currency is only how the same money is shown
    else:
        purchase = "china" if currency == "CNY" else "new"
    utilization = o.get("utilization")
    if utilization is None:
        utilization = k.utilization_fraction if k.utilization_fraction is not None else 0.5
    if not 0 < utilization <= 1:
        raise InvalidInputError("money.bad_utilization", given=utilization)
    region = o.get("electricity") or k.electricity_region
    if o.get("usd_per_kwh") is not None or o.get("cny_per_kwh") is not None:
        region = None  # the flag's tariff is the book's default region
    return CostInputs(
        gpu_id=c.gpu, gpu_class=gpu_class(c.gpu), gpu_count=c.gpu_count, nodes=c.nodes,
        node_class=o.get("node_class"), network=o.get("network"),
        gpu_tdp_watts=o.get("gpu_tdp_watts") or gpu_tdp_watts(c.gpu), load_fraction=o.get("load", 0.7),
        years=o.get("years", 3.0), output_tokens_per_s=c.perf.output_tokens_per_s,
        input_tokens_per_s=c.perf.input_tokens_per_s, utilization_fraction=utilization,
        prefix_cache_hit_fraction=plan.workload.prefix_cache_hit_fraction, cloud_provider=o.get("provider"),
        cloud_term=o.get("term", "on-demand"), currency=currency, electricity_region=region, purchase=purchase,
    )


def owned_of_candidate(plan, c, have) -> tuple[int, tuple]:
    """How many of candidate ``c``'s GPUs are owned, from ``--have`` (plan's parser and meaning) or else the plan's
    own ``--have``; with the sentences that say what was assumed (none of its type, unused types, more than needed)."""
    from gpuplan.cost import Note
    from gpuplan.plan.owned import parse_have

    notes: list = []
    if have:
        owned = parse_have(tuple(have))
    elif plan.owned and isinstance(plan.owned.get("owned"), list) and plan.owned["owned"]:
        items = tuple(f"{o.get('count')}x{o.get('gpu')}" if isinstance(o, dict) else str(o)
                      for o in plan.owned["owned"])
        owned = parse_have(items)  # a hand-edited plan file is checked like the flag
        notes.append(Note(key="money2.note_owned_from_plan", params={"have": ",".join(items)}))
    else:
        return 0, ()
    mine = sum(o.count for o in owned if o.gpu.id == c.gpu)
    unused = ", ".join(f"{o.count}×{o.gpu.id}" for o in owned if o.gpu.id != c.gpu)
    if not mine:
        notes.append(Note(key="money2.owned_none_of_type", params={
            "have": ", ".join(f"{o.count}×{o.gpu.id}" for o in owned), "gpu": c.gpu}))
    elif unused:
        notes.append(Note(key="money2.owned_unused", params={"unused": unused}))
    if mine > c.gpu_count:
        notes.append(Note(key="money2.owned_more_than_needed", params={"have": mine, "gpu": c.gpu,
                                                                        "count": c.gpu_count}))
    return min(mine, c.gpu_count), tuple(notes)


def cost_of_plan_candidate(plan, c, o: dict[str, Any], prices):
    """``gpuplan cost`` of one candidate (CLI and API alike): (CostInputs, CostResult), owned GPUs without capex."""
    from gpuplan.cost import cost_of

    owned_gpus, notes = owned_of_candidate(plan, c, o.get("have"))
    inputs = cost_inputs_for_plan(plan, c, o).model_copy(update={"owned_gpus": owned_gpus})
    result = cost_of(inputs, prices)
    if notes:
        result = result.model_copy(update={"assumptions": tuple(result.assumptions) + notes})
    return inputs, result


def money_view(result) -> dict[str, Any]:
    """The amounts of a CostResult in its own currency, with the dated rate (added beside the ``*_usd`` fields)."""
    from gpuplan.cost.summary import in_currency, to_cost_summary

    s = to_cost_summary(result)
    keys = ("currency", "capex", "opex_per_year", "tco", "cloud_per_hour", "cloud_total", "per_million_output_tokens",
            "per_million_input_tokens", "priced", "missing", "purchase", "utilization_fraction", "electricity_region")
    out = {k: getattr(s, k) for k in keys}
    out["missing"] = list(s.missing)
    out["exchange_rate"] = s.exchange_rate.model_dump() if s.exchange_rate else None
    out["owned_gpus"], out["owned_nodes"] = result.owned_gpus, result.owned_nodes
    out["owned_value"] = in_currency(result.owned_value_usd, result.currency, result.usd_to_cny)
    return out


def gpu_class(gpu_id: str) -> str | None:
    """The catalog class of a GPU (consumer, workstation, datacenter, ...); ``None`` when unknown."""
    from gpuplan.errors import GpuplanError

    try:
        from gpuplan.catalog import get_gpu

        return get_gpu(gpu_id).gpu_class
    except (GpuplanError, OSError):
        return None


def gpu_tdp_watts(gpu_id: str) -> float | None:
    """TDP from the GPU catalog; ``None`` when the catalog does not know the GPU (the cost then says unknown)."""
    from gpuplan.errors import GpuplanError

    try:
        from gpuplan.catalog import get_gpu

        return get_gpu(gpu_id).tdp_watts
    except (GpuplanError, OSError):
        return None


def training_cost_of_plan(plan, candidate, inputs, prices):
    """Training time and cost when the plan is a training job with tokens to train and a predicted rate."""
    from gpuplan.cost import training_cost

    tokens = plan.training.tokens_to_train if plan.training else None
    rate = candidate.perf.train_tokens_per_s
    if not tokens or not rate:
        return None
    return training_cost(inputs, tokens, rate, prices)


RECOMPUTE_CHOICES = ("auto", "none", "selective", "full")


def size_training_auto(entry, job, *, gpu_id: str, gpu_count: int, tp: int, base_format: str | None,
                       recompute: str = "auto"):
    """Training memory as ``size`` and the API report it. ``recompute='auto'`` is the planner's rule
    (plan/search.py): selective recomputation first, full when that does not fit — so size and plan agree."""
    from gpuplan.memory import size_training
    from gpuplan.spec import check_choice

    check_choice(recompute, RECOMPUTE_CHOICES, "--recompute")
    job = job.model_copy(update={"recompute": "selective" if recompute == "auto" else recompute})
    res = size_training(entry, job, gpu_id=gpu_id, gpu_count=gpu_count, tp=tp, base_format=base_format)
    if recompute == "auto" and not res.fits:
        job = job.model_copy(update={"recompute": "full"})
        res = size_training(entry, job, gpu_id=gpu_id, gpu_count=gpu_count, tp=tp, base_format=base_format)
    return res


def default_host_for_ram(ram_bytes: int | None) -> str:
    """The host memory class ``fit`` assumes for a RAM size: a desktop up to 192 GiB, a workstation up to 512 GiB,
    a server beyond."""
    if ram_bytes is None or ram_bytes <= 192 * 2**30:
        return "desktop-ddr5-2ch"
    if ram_bytes <= 512 * 2**30:
        return "workstation-ddr5-8ch"
    return "server-ddr5-12ch"


def fit_summary(gpu_id: str, count: int, ram_bytes: int | None, host_id: str | None, family: str | None,
                context: int, models: tuple[str, ...] = (), quality: str = "4bit") -> dict[str, Any]:
    """The JSON contract of ``fit --json`` (CLI and ``POST /api/v1/fit``)."""
    from gpuplan.catalog import get_host
    from gpuplan.plan.fit import fit_machine

    engine_for_gpu(None, gpu_id)  # a GPU no catalog engine runs on is one sentence, not an empty list (CLI and API)
    host = get_host(host_id) if host_id else (get_host(default_host_for_ram(ram_bytes)) if ram_bytes else None)
    rows = fit_machine(gpu_id, count, ram_bytes, host, family, context, models=models, quality=quality)
    return {"gpu": gpu_id, "gpu_count": count, "ram_bytes": ram_bytes, "host": host.id if host else None,
            "models": [r.model_dump(mode="json") for r in rows]}
