"""Target ``report``: a Markdown account of the plan for the people who approve and operate it.

Compatibility facts (shared/reference/ecosystem.md §6, from the CUDA Toolkit release notes table 3 and
developer.nvidia.com/cuda-gpus): CUDA 12.x needs driver ≥ 525.60.13, 12.9 ≥ 575.51.03; vLLM wheels are built with
CUDA 12.9 and need compute capability ≥ 7.5; TRT-LLM's DeepSeek guide needs driver ≥ 575; FP8 tensor-core compute
needs CC ≥ 8.9; BF16 needs CC ≥ 8.0; DeepSeek's FlashMLA/DeepGEMM fast paths need SM90/SM100.
NCCL variables are NCCL's own (docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuplan.artifacts.checkpoint_text import checkpoint_sentence, lower_quality_sentence, quality_sentence
from gpuplan.artifacts.common import RenderContext, RenderedFile, header_lines
from gpuplan.artifacts.engines import gguf_path
from gpuplan.i18n import t
from gpuplan.units import GIB, fmt_money, fmt_seconds


@dataclass(frozen=True)
class Requirement:
    """A compatibility requirement: what, the floor, what this plan's GPU has (None = unknown), and the source."""

    what: str
    floor: str
    have: str
    ok: bool | None
    source: str


#: Minimum NVIDIA driver per engine image (CUDA version the engine ships with → toolkit driver table).
DRIVER_FLOORS = {
    "vllm": ("575.51.03", "vLLM wheels are built with CUDA 12.9 (docs/getting_started/installation/gpu.cuda.inc.md); "
                          "CUDA 12.9 GA needs ≥ 575.51.03 (CUDA Toolkit release notes, table 3)"),
    "trtllm": ("575", "TensorRT-LLM DeepSeek-R1 deployment guide: driver ≥ 575"),
}
CUDA12_DRIVER_FLOOR = ("525.60.13", "CUDA 12.0 GA needs ≥ 525.60.13 (CUDA Toolkit release notes, table 3)")


def requirements(ctx: RenderContext) -> list[Requirement]:
    cc = ctx.gpu.compute_capability if ctx.gpu else None
    have_cc = f"{cc:.1f}" if cc is not None else "—"
    out: list[Requirement] = []
    floor, src = DRIVER_FLOORS.get(ctx.engine, CUDA12_DRIVER_FLOOR)
    if ctx.vendor == "nvidia":
        out.append(Requirement(t("render.rq_driver"), f"≥ {floor}", "—", None, src))

    def need(what: str, minimum: float, source: str) -> None:
        ok = None if cc is None else cc >= minimum
        out.append(Requirement(what, f"≥ {minimum:.1f}", have_cc, ok, source))

    if ctx.vendor == "nvidia":
        if ctx.engine == "vllm":
            need(t("render.rq_cc_vllm"), 7.5, "vLLM GPU installation docs: compute capability ≥ 7.5")
        fmt = ctx.cand.weight_format.lower()
        if fmt.startswith("fp8") or ctx.cand.kv_dtype.startswith("fp8"):
            need(t("render.rq_cc_fp8"), 8.9, "vLLM FP8 docs: FP8 computation on CC ≥ 8.9")
        if fmt in ("bf16",) or ctx.is_training:
            need(t("render.rq_cc_bf16"), 8.0, "FlashAttention-2 README: bf16 requires Ampere or newer")
        if ctx.is_deepseek_native and fmt.startswith("fp8"):
            need(t("render.rq_cc_mla"), 9.0, "deepseek-ai/FlashMLA and DeepGEMM READMEs: SM90/SM100")
    return out


def nccl_env(ctx: RenderContext) -> list[tuple[str, str, str]]:
    """(variable, value, why) for the plan's fabric; values in <> are site-specific."""
    c = ctx.cand
    rows: list[tuple[str, str, str]] = []
    if c.gpu_count <= 1:
        return rows
    if ctx.gpu is not None and ctx.gpu.gpu_class == "consumer":
        rows.append(("NCCL_P2P_DISABLE", "1", t("render.nccl_p2p")))
    if c.nodes > 1:
        rows += [
            ("NCCL_SOCKET_IFNAME", "<nic>", t("render.nccl_ifname")),
            ("GLOO_SOCKET_IFNAME", "<nic>", t("render.nccl_gloo")),
            ("NCCL_IB_HCA", "<mlx5_0,mlx5_1,...>", t("render.nccl_ib_hca")),
            ("NCCL_IB_GID_INDEX", "3", t("render.nccl_gid")),
            ("NCCL_DEBUG", "INFO", t("render.nccl_debug")),
        ]
    return rows


def layout_sentences(ctx: RenderContext) -> list[str]:
    """What the layout asks of the links: inside a node (NVLink/xGMI peer-to-peer, PCIe P2P limits, consumer cards
    without P2P, DP-only replicas) and between nodes (InfiniBand/RoCE). Link rates are the catalog's per-GPU figures."""
    c, gpu = ctx.cand, ctx.gpu
    if c.gpu_count <= 1:
        return [t("layout.single_gpu")]
    out: list[str] = []
    n = ctx.gpus_per_node
    link = gpu.interconnect if gpu else "pcie"
    rate = gpu.interconnect_bytes_per_s if gpu else None
    gbps = f"{rate / 1e9:,.0f}" if rate else "—"
    if n > 1:
        if c.tensor_parallel_size == 1 and c.pipeline_parallel_size == 1 and c.engine not in ("llama.cpp", "ollama"):
            out.append(t("layout.intra_dp_only", n=n))
        elif link.startswith("nvlink"):
            out.append(t("layout.intra_nvlink", n=n, link=link.replace("nvlink", "NVLink "), gbps=gbps))
        elif link == "xgmi":
            out.append(t("layout.intra_xgmi", n=n, gbps=gbps))
        elif gpu is not None and gpu.gpu_class == "consumer":
            out.append(t("layout.intra_pcie_consumer", n=n, gen=gpu.pcie_gen or "—"))
        else:
            out.append(t("layout.intra_pcie", n=n, gen=(gpu.pcie_gen if gpu else None) or "—", gbps=gbps))
    if c.nodes > 1:
        out.append(t("layout.multi_node", nodes=c.nodes))
    return out


def _cell(text: object) -> str:
    """A Markdown table cell from plan data (untrusted): pipes escaped, line breaks and HTML brackets removed."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ") \
        .replace("<", "‹").replace(">", "›")


def _amount(cost, usd: float | None, shown: float | None, currency: str) -> float | None:
    """An amount in the plan's currency: the candidate's converted field when it was priced in that currency, the
    USD field for USD plans, else the USD field converted with the candidate's dated rate (``None`` if none)."""
    if cost.currency == currency and cost.priced is not None:  # priced by gpuplan ≥ issue 12: converted fields
        return shown
    if usd is None or currency == "USD":
        return usd
    return usd * cost.exchange_rate.cny_per_usd if cost.exchange_rate else None


def cost_section(p, c) -> list[str]:
    """REPORT.md money: capex, opex, TCO, renting the same GPUs, cost per token at the stated utilization, the
    exchange rate used, what is unknown, and the bill of materials — all in the plan's currency."""
    cost, cur = c.cost, p.currency if p.currency in ("USD", "CNY") else "USD"

    def m(usd: float | None, shown: float | None) -> str:
        return fmt_money(_amount(cost, usd, shown, cur), cur)

    util = f"{cost.utilization_fraction * 100:.0f}%" if cost.utilization_fraction is not None else "—"
    cloud = _cell(cost.cloud_provider or "—")
    if cost.cloud_instance:
        cloud += f", {_cell(cost.cloud_instance)}"
    L = [f"## {t('render.rp_cost', currency=cur)}", "",
         f"| {t('render.rp_item')} | {cur} |", "| --- | ---: |",
         f"| capex | {m(cost.capex_usd, cost.capex)} |",
         f"| opex / {t('render.rp_year')} | {m(cost.opex_usd_per_year, cost.opex_per_year)} |",
         f"| TCO ({cost.years:g} {t('render.rp_years')}) | {m(cost.tco_usd, cost.tco)} |",
         f"| {t('render.rp_cloud')} ({cloud}) / h | {m(cost.cloud_usd_per_hour, cost.cloud_per_hour)} |",
         f"| {t('money.rp_per_m_output', util=util)} | "
         f"{m(cost.usd_per_million_output_tokens, cost.per_million_output_tokens)} |",
         f"| {t('money.rp_per_m_input', util=util)} | "
         f"{m(cost.usd_per_million_input_tokens, cost.per_million_input_tokens)} |", ""]
    if cost.cloud_gpus_per_instance and cost.cloud_gpus_per_instance > 1 and c.gpu_count % cost.cloud_gpus_per_instance:
        rented = -(-c.gpu_count // cost.cloud_gpus_per_instance) * cost.cloud_gpus_per_instance
        L += [t("money.note_whole_instances", provider=cloud, per_instance=cost.cloud_gpus_per_instance,
                rented=rented, count=c.gpu_count), ""]
    if cost.exchange_rate is not None:
        r = cost.exchange_rate
        L += [t("money.exchange_line", currency=cur, rate=f"{r.cny_per_usd:g}", date=_cell(r.date),
                source=_cell(r.source)), ""]
    if cost.priced is False:
        missing = ", ".join(t(f"money.missing_{x}") for x in cost.missing if x in ("gpu", "server", "network"))
        L += [t("money.unpriced_row", missing=missing or t("money.missing_gpu")), ""]
    if cost.unknowns:
        L += [t("render.rp_unknowns", items=", ".join(_cell(u) for u in cost.unknowns)), ""]
    if c.bill_of_materials:
        L += [f"### {t('money.bom_title', rank=1, hardware=f'{c.gpu_count}×{_cell(c.gpu)}')}", "",
              "| " + " | ".join(t(f"money.col_{k}") for k in ("kind", "item", "qty", "unit_price", "total", "rule"))
              + " |", "| --- | --- | ---: | ---: | ---: | --- |"]
        bom_cur = cost.currency
        for item in c.bill_of_materials:
            if item.included_in:
                unit_price = total = t("money.included", item=t(f"money.kind_{_cell(item.included_in)}"))
            else:
                unit_price, total = fmt_money(item.unit_price, bom_cur), fmt_money(item.total, bom_cur)
            unit_text = t(f"money.unit_{item.unit}")
            unit = "" if item.unit == "pcs" else " " + _cell(item.unit if unit_text.startswith("money.") else unit_text)
            L.append(f"| {t('money.kind_' + item.kind) if item.kind.isidentifier() else _cell(item.kind)} | "
                     f"{_cell(item.description)} | {item.quantity:,g}{unit} | {unit_price} | {total} | "
                     f"{_cell(item.rule)} |")
        L.append("")
    return L


def report_files(ctx: RenderContext) -> list[RenderedFile]:
    p, c = ctx.plan, ctx.cand
    m, perf = c.memory, c.perf
    L: list[str] = [f"<!-- {line} -->" for line in header_lines(ctx, t("render.what_report"))]
    L += ["", f"# {t('render.rp_title', model=ctx.model_id)}", ""]
    L += [f"## {t('render.rp_hardware')}", "",
          f"| {t('render.rp_item')} | {t('render.rp_value')} |", "| --- | --- |",
          f"| GPU | {c.gpu_name or c.gpu} × {c.gpu_count} ({c.nodes} × {ctx.gpus_per_node}) |",
          f"| {t('render.rp_gpu_memory')} | {m.capacity_bytes / GIB:.1f} GiB |",
          f"| {t('render.rp_engine')} | {c.engine} |",
          f"| {t('render.rp_formats')} | {c.weight_format} / KV {c.kv_dtype} |",
          f"| TP × PP × DP × EP | {c.tensor_parallel_size} × {c.pipeline_parallel_size} × "
          f"{c.data_parallel_size} × {c.expert_parallel_size} |", ""]
    if c.disaggregation is not None:
        d = c.disaggregation
        L[-1:-1] = [f"| {t('render_pd.rp_row')} | {t('render_pd.rp_value', layout=d.label, pn=d.prefill_nodes, dn=d.decode_nodes, gpn=d.gpus_per_node, pep=d.prefill_expert_parallel_size, dep=d.decode_expert_parallel_size, b=d.decode_batch_per_gpu, chunk=d.prefill_tokens_per_gpu)} |"]
    if c.capacity_users is not None:
        L[-1:-1] = [f"| {t('render_pd.rp_capacity')} | {c.capacity_users:,} |"]
    L += [f"## {t('layout.rp_checkpoint')}", ""]
    if c.checkpoint is not None:
        L.append(f"- {_cell(checkpoint_sentence(c.checkpoint))}")
        if c.checkpoint.source:
            when = f", {c.checkpoint.date}" if c.checkpoint.date else ""
            L.append(f"  ({_cell(c.checkpoint.source + when)})")
    elif c.engine in ("llama.cpp", "ollama"):
        L.append(f"- {_cell(t('layout.rp_no_checkpoint_gguf', path=gguf_path(ctx)))}")
    else:
        L.append(f"- {_cell(t('layout.rp_no_checkpoint', repo=ctx.model_id))}")
    if c.quality is not None:
        L.append(f"- {_cell(quality_sentence(p, c))}")
    lower = lower_quality_sentence(p)
    if lower:
        L.append(f"- {_cell(t('layout.rp_lower_quality', quality=p.quality, text=lower))}")
    L.append("")
    L += [f"## {t('render.rp_memory')}", "", f"| {t('render.rp_item')} | GiB |", "| --- | ---: |"]
    for key, val in (("render.rp_weights", m.weights_bytes), ("render.rp_kv", m.kv_cache_bytes),
                     ("render.rp_activations", m.activation_bytes), ("render.rp_overhead", m.overhead_bytes),
                     ("render.rp_total", m.per_gpu_total_bytes), ("render.rp_capacity", m.capacity_bytes)):
        L.append(f"| {t(key)} | {val / GIB:.2f} |")
    L.append("")
    L += [f"## {t('render.rp_perf')}", ""]
    if ctx.is_training:
        L.append(f"- {t('render.rp_train_tps')}: {perf.train_tokens_per_s or '—'}")
        L.append(f"- {t('render.rp_train_days')}: {perf.train_days or '—'}")
    else:
        L.append(f"- TTFT: {fmt_seconds(perf.ttft_s)} (SLO {fmt_seconds(p.slo.ttft_s)})")
        L.append(f"- TPOT/ITL: {fmt_seconds(perf.tpot_s)} (SLO {fmt_seconds(p.slo.tpot_s)})")
        tps = perf.output_tokens_per_s
        L.append(f"- {t('render.rp_throughput')}: {f'{tps:,.0f}' if tps else '—'} tok/s")
        L.append(f"- {t('render.rp_concurrency')}: {m.max_concurrency if m.max_concurrency is not None else '—'}")
        if perf.uncertainty_fraction is not None:
            L.append(f"- {t('render.rp_uncertainty', pct=f'{perf.uncertainty_fraction * 100:.0f}')}")
    L.append("")
    L += cost_section(p, c)
    L += [f"## {t('render.rp_compat')}", "", f"| {t('render.rp_req')} | {t('render.rp_floor')} | "
          f"{t('render.rp_have')} | | {t('render.rp_source')} |", "| --- | --- | --- | --- | --- |"]
    for r in requirements(ctx):
        mark = "?" if r.ok is None else ("✔" if r.ok else "✘")
        L.append(f"| {r.what} | {r.floor} | {r.have} | {mark} | {r.source} |")
    L.append("")
    L += [f"## {t('render.rp_network')}", ""]
    L += layout_sentences(ctx)
    rows = nccl_env(ctx)
    if rows:
        L += ["", "| variable | value | |", "| --- | --- | --- |"]
        L += [f"| `{k}` | `{v}` | {why} |" for k, v, why in rows]
    L.append("")
    L += [f"## {t('render.rp_ops')}", ""]
    for key in ("render.ops_backup", "render.ops_encrypt", "render.ops_drill", "render.ops_rollback",
                "render.ops_alerts", "render.ops_bench"):
        L.append(f"- [ ] {t(key, name=ctx.name)}")
    L.append("")
    if c.notes or p.assumptions:
        L += [f"## {t('render.rp_assumptions')}", ""] + [f"- {a}" for a in (*p.assumptions, *c.notes)] + [""]
    return [RenderedFile("REPORT.md", "\n".join(L), "markdown")]
