"""``gpuplan inspect MODEL_OR_PATH``: architecture summary and parameter breakdown."""

from __future__ import annotations

from pathlib import Path

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("inspect", help=t("inspect.help"))
    def inspect_cmd(
        model: str = typer.Argument(..., help=t("inspect.arg_model")),
        offline: bool = typer.Option(False, "--offline", help=t("inspect.opt_offline")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_inspect)(model, offline, as_json)


def resolve_model_ref(ref: str, offline: bool = False):
    """A catalog entry, or a (config-derived) entry from a local path / Hub id through the importers.

    Returns (entry_or_None, arch, checkpoint_info_or_None, display_id).
    """
    from gpuplan.catalog import ModelArch, get_model
    from gpuplan.errors import UnknownNameError

    path = Path(ref).expanduser()
    if not path.exists():
        try:
            entry = get_model(ref)
            return entry, entry.arch, None, entry.id
        except UnknownNameError:
            if "/" not in ref or ref.count("/") != 1:
                raise
    from gpuplan.importers import import_model

    info = import_model(ref, offline=offline)
    if info.config is None or "hidden_size" not in info.config:
        from gpuplan.errors import UnsupportedError

        raise UnsupportedError("inspect.no_config", given=ref)
    arch = ModelArch.from_config(info.config)
    return None, arch, info, ref


def _inspect(ref: str, offline: bool, as_json: bool) -> None:
    from gpuplan.cli.common import console, print_json
    from gpuplan.units import fmt_bytes, fmt_params

    entry, arch, info, display_id = resolve_model_ref(ref, offline)
    data = inspect_summary(entry, arch, info, display_id)
    if as_json:
        print_json(data)
        return
    from rich.table import Table

    con = console()
    con.print(f"[bold]{display_id}[/bold]  ({arch.model_type})")
    summary = Table(show_header=False, box=None)
    summary.add_column()
    summary.add_column()
    summary.add_row(t("inspect.total"), f"{fmt_params(arch.params_total)}  ({arch.params_total:,})")
    summary.add_row(t("inspect.active"), f"{fmt_params(arch.params_active)}  ({arch.params_active:,})")
    if entry is not None and entry.params_total_official:
        summary.add_row(t("inspect.official"), f"{fmt_params(entry.params_total_official)} / "
                        f"{fmt_params(entry.params_active_official)}")
    if arch.num_mtp_layers:
        summary.add_row(t("inspect.mtp"), t("inspect.mtp_value", n=arch.num_mtp_layers, params=fmt_params(arch.params_mtp)))
    summary.add_row(t("inspect.layers"), str(arch.num_layers))
    summary.add_row(t("inspect.hidden"), str(arch.hidden_size))
    att = arch.attention[0]
    if att.kind == "mla":
        att_text = t("inspect.att_mla", heads=att.num_heads, kv_lora=att.kv_lora_rank, rope=att.qk_rope_head_dim)
    elif att.kind == "dsv4":
        att_text = t("inspect.att_dsv4", heads=att.num_heads, head_dim=att.head_dim)
    else:
        att_text = t("inspect.att_gqa", heads=att.num_heads, kv=att.num_kv_heads, head_dim=att.head_dim)
    summary.add_row(t("inspect.attention"), att_text)
    if arch.is_moe:
        m = arch.mlp[arch.moe_layers[0]]
        summary.add_row(t("inspect.moe"), t("inspect.moe_value", experts=m.num_experts, k=m.top_k,
                                               shared=m.num_shared_experts, layers=len(arch.moe_layers)))
    ctx = data.get("context_length")
    summary.add_row(t("inspect.context"), f"{ctx:,}" if ctx else "—")
    if data.get("checkpoint_bytes"):
        bpw = f", {data['bits_per_weight']} bits/weight" if data.get("bits_per_weight") else ""
        summary.add_row(t("inspect.checkpoint"), f"{fmt_bytes(data['checkpoint_bytes'])} ({data.get('weight_format') or '—'}{bpw})")
    if data.get("catalog_matches"):
        summary.add_row(t("inspect.matches"), ", ".join(data["catalog_matches"]))
    con.print(summary)
    table = Table(title=t("inspect.breakdown"))
    table.add_column(t("inspect.col_component"))
    table.add_column(t("inspect.col_params"), justify="right")
    table.add_column("%", justify="right")
    for comp, n in data["params_by_component"].items():
        if n:
            table.add_row(t(f"inspect.comp_{comp}"), f"{n:,}", f"{100 * n / arch.params_total:.2f}")
    con.print(table)
    if arch.num_mtp_layers:
        con.print(t("inspect.mtp_note"))


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


_SIGNATURE_FIELDS = ("hidden_size", "num_layers", "vocab_size")


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
