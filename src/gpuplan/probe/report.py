"""Assemble the doctor report: host, GPUs (mapped to the catalog), and verdicts against a model or a plan."""

from __future__ import annotations

from pathlib import Path

from gpuplan.catalog import get_model
from gpuplan.i18n import t
from gpuplan.probe.gpus import GpuBackend, NoGpuError, gpu_reports
from gpuplan.probe.models import DoctorReport, GpuReport, HostReport, Recording, Verdict
from gpuplan.probe.verdicts import _v, cuda_text, model_verdicts


def doctor_report(backend: GpuBackend, host: HostReport, *, model: str | None = None,
                  plan: str | Path | None = None, engine: str | None = None) -> DoctorReport:
    """Probe the GPUs through ``backend`` and judge them against ``model`` or the plan file's chosen candidate."""
    gpu_error = None
    try:
        recording = backend.read()
    except NoGpuError as exc:
        recording, gpu_error = Recording(backend=backend.name), str(exc)
    gpus = gpu_reports(recording)
    verdicts: list[Verdict] = []
    if not gpus:
        verdicts.append(_v("info", "gpu", "no_gpu", reason=gpu_error or t("doctor.no_devices")))
    verdicts += _health_verdicts(gpus)
    target = None
    if plan is not None:
        target, extra = _plan_verdicts(plan, gpus, host, recording, engine)
        verdicts += extra
    elif model is not None:
        entry = get_model(model)
        target = entry.id
        verdicts += model_verdicts(entry, gpus, host, driver_version=recording.driver_version,
                                   engine=engine or "vllm")
    return DoctorReport(
        host=host, backend=recording.backend, driver_version=recording.driver_version,
        cuda_driver_version=cuda_text(recording.cuda_driver_version), gpus=tuple(gpus), gpu_error=gpu_error,
        target=target, verdicts=tuple(verdicts),
    )


def _health_verdicts(gpus: list[GpuReport]) -> list[Verdict]:
    """Links running below their maximum (a GPU in a narrower or older slot) and GPUs the catalog does not know."""
    out = []
    for g in gpus:
        if g.catalog_id is None:
            out.append(_v("warn", "catalog", "gpu_not_in_catalog", index=g.index, gpu=g.name))
        if g.pcie_link_width_max and g.pcie_link_width_current and g.pcie_link_width_current < g.pcie_link_width_max:
            out.append(_v("warn", "pcie", "pcie_narrow", index=g.index, gpu=g.name, current=g.pcie_link_width_current,
                          max=g.pcie_link_width_max))
    return out


def _plan_verdicts(plan_path, gpus, host, recording, engine) -> tuple[str, list[Verdict]]:
    from gpuplan.planfile import PlanFile

    plan = PlanFile.load(plan_path)
    chosen = plan.chosen
    entry = get_model(plan.model.id)
    out = model_verdicts(entry, gpus, host, driver_version=recording.driver_version,
                         engine=engine or chosen.engine, weight_format=chosen.weight_format)
    found_ids = sorted({g.catalog_id or g.name for g in gpus})
    matching = [g for g in gpus if g.catalog_id == chosen.gpu]
    if gpus and not matching:
        out.append(_v("fail", "plan", "plan_gpu_mismatch", plan_gpu=chosen.gpu, found=", ".join(found_ids)))
    elif gpus and len(matching) < chosen.gpus_per_node:
        out.append(_v("warn", "plan", "plan_gpu_count", plan_gpu=chosen.gpu, need=chosen.gpus_per_node,
                      found=len(matching)))
    elif gpus:
        out.append(_v("ok", "plan", "plan_gpu_ok", plan_gpu=chosen.gpu, found=len(matching)))
    return f"{plan.model.id} ({plan_path})", out
