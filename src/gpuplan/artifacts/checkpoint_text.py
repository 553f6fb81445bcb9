"""Sentences about a candidate's checkpoint and weight quality, shared by ``plan``/``plan show``, the API and REPORT.md."""

from __future__ import annotations

from gpuplan.i18n import t


def checkpoint_sentence(ref) -> str:
    """'Loads <repo>[:file] (<who provides it>)[, --quantization m][, N GiB published]'."""
    from gpuplan.units import GIB

    where = f" ({ref.hf_tag})" if ref.hf_tag else (f" / {ref.file}" if ref.file else "")
    if ref.revision:
        where += f" @ {ref.revision[:12]}"
    provided = t("checkpoint.provided_cast") if ref.dtype else t(f"checkpoint.provided_{ref.provided_by}")
    quant = t("checkpoint.line_quant", method=ref.quantization) if ref.quantization else (
        t("checkpoint.line_dtype", dtype=ref.dtype) if ref.dtype else "")
    return t("checkpoint.line", repo=ref.repo, file=where, provided=provided, quant=quant,
             bytes=t("checkpoint.line_bytes", gib=f"{ref.bytes / GIB:,.1f}") if ref.bytes else "")


def quality_note_text(plan, c) -> str:
    from gpuplan.catalog.checkpoints import quality_note

    native = plan.model.checkpoint_format or "bf16"
    return t("checkpoint.q_" + quality_note(c.weight_format, native).note)


def quality_sentence(plan, c) -> str:
    return t("checkpoint.quality_line", tier=c.quality, note=quality_note_text(plan, c))


def lower_quality_sentence(plan) -> str | None:
    """The cheaper lower-quality option, or — when nothing fits at the allowed quality — the best one that would."""
    alt = getattr(plan, "lower_quality", None)
    if alt is None:
        return None
    cand = f"{alt.gpu_count}×{alt.gpu} {alt.engine} {alt.weight_format}"
    key = "checkpoint.nothing_at_quality" if not plan.candidates else "checkpoint.cheaper_lower"
    return t(key, quality=plan.quality, cand=cand, tier=alt.quality or "any", note=quality_note_text(plan, alt))
