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
            entry = get_model(ref, resolve=False)  # non-catalog refs go through the importers below, with bytes
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
    from gpuplan.views import inspect_summary

    entry, arch, info, display_id = resolve_model_ref(ref, offline)
    data = inspect_summary(entry, arch, info, display_id)
    if as_json:
        print_json(data)
        return
    from rich.table import Table
    from rich.text import Text

    con = console()
    con.print(Text.assemble((str(display_id), "bold"), f"  ({arch.model_type})"))
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
    from gpuplan.cli.common import print_table

    print_table(con, summary)
    table = Table(title=t("inspect.breakdown"))
    table.add_column(t("inspect.col_component"))
    table.add_column(t("inspect.col_params"), justify="right")
    table.add_column("%", justify="right")
    for comp, n in data["params_by_component"].items():
        if n:
            table.add_row(t(f"inspect.comp_{comp}"), f"{n:,}", f"{100 * n / arch.params_total:.2f}")
    from gpuplan.cli.common import print_table

    print_table(con, table)
    if arch.num_mtp_layers:
        con.print(t("inspect.mtp_note"))




