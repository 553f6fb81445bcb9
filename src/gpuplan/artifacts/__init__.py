"""Deployment artifacts from a plan (DESIGN §9): pure text, no disk.

``render_plan(plan, targets)`` returns ``RenderedFile``s; the CLI writes them, the web API zips them.
Targets: engine, docker, compose, k8s, prometheus, grafana, report, deepspeed, llamafactory, all.
Serving targets apply to serving plans, deepspeed/llamafactory to training plans; ``all`` picks what fits the
plan, and naming a target that does not fit is an error that says which targets do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gpuplan.errors import InvalidInputError

if TYPE_CHECKING:
    from gpuplan.artifacts.common import RenderContext, RenderedFile
    from gpuplan.planfile import PlanFile

TARGETS = ("engine", "docker", "compose", "k8s", "prometheus", "grafana", "report", "deepspeed", "llamafactory",
           "all")
SERVING_TARGETS = ("engine", "docker", "compose", "k8s", "prometheus", "grafana", "report")
TRAINING_TARGETS = ("deepspeed", "llamafactory", "k8s", "prometheus", "grafana", "report")
# A prefill/decode-disaggregated candidate: per-role scripts and per-pool Kubernetes objects (artifacts.disagg); one
# Dockerfile/compose host cannot hold two multi-GPU pools, so those targets do not apply.
DISAGG_TARGETS = ("engine", "k8s", "prometheus", "grafana", "report")
# Containers cannot reach an Apple GPU (Docker Desktop and Kubernetes nodes on macOS run Linux VMs without Metal):
# a Mac runs llama.cpp natively, so the container targets are not written for Apple hardware.
CONTAINER_TARGETS = ("docker", "compose", "k8s")

__all__ = ["TARGETS", "RenderedFile", "render_plan", "parse_targets"]


def __getattr__(name: str):
    """``RenderedFile`` on first use: the planner imports ``artifacts.engine_argv`` (and so this package) for the engine
    flags of every candidate, and needs none of the renderers' machinery (issue 16: `gpuplan plan` start-up)."""
    if name in ("RenderedFile", "RenderContext"):
        from gpuplan.artifacts import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _renderers(training: bool, disaggregated: bool = False) -> dict[str, Callable[[RenderContext], list[RenderedFile]]]:
    from gpuplan.artifacts import k8s, monitoring, report, serving
    from gpuplan.artifacts import training as tr

    if disaggregated:
        from gpuplan.artifacts import disagg

        return {"engine": disagg.engine_files, "k8s": disagg.k8s_files, "prometheus": monitoring.prometheus_files,
                "grafana": monitoring.grafana_files, "report": report.report_files}
    if training:
        return {"deepspeed": tr.deepspeed_files, "llamafactory": tr.llamafactory_files,
                "k8s": tr.training_k8s_files, "prometheus": monitoring.prometheus_files,
                "grafana": monitoring.grafana_files, "report": report.report_files}
    return {"engine": serving.engine_files, "docker": serving.dockerfile, "compose": serving.compose,
            "k8s": k8s.k8s_files, "prometheus": monitoring.prometheus_files, "grafana": monitoring.grafana_files,
            "report": report.report_files}


def is_local_model(model_id: str) -> bool:
    """A plan of a model directory or file on this host (./dir, /abs/dir, ~/dir, model.gguf), not a Hub id
    (owner/name) that an engine downloads wherever it runs."""
    return model_id.startswith((".", "/", "~")) or "/" not in model_id or model_id.endswith(".gguf")


def parse_targets(text: str | Sequence[str]) -> tuple[str, ...]:
    """'engine,k8s' or ['engine', 'k8s'] → ('engine', 'k8s'); unknown names raise with the allowed list."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in TARGETS:
            raise InvalidInputError("render.bad_target", given=name, allowed=", ".join(TARGETS))
        if name not in out:
            out.append(name)
    if not out:
        raise InvalidInputError("render.bad_target", given=str(text), allowed=", ".join(TARGETS))
    return tuple(out)


def render_plan(plan: PlanFile, targets: Sequence[str], candidate: int = 0) -> tuple[RenderedFile, ...]:
    """Every file of ``targets`` for candidate ``candidate`` (0 = chosen) of ``plan``, in a stable order."""
    from gpuplan.artifacts.common import make_context

    ctx = make_context(plan, candidate)
    wanted = parse_targets(targets)
    training = ctx.is_training
    disaggregated = ctx.cand.disaggregation is not None
    available = TRAINING_TARGETS if training else DISAGG_TARGETS if disaggregated else SERVING_TARGETS
    if ctx.vendor == "apple":
        available = tuple(name for name in available if name not in CONTAINER_TARGETS)
        asked = [name for name in wanted if name in CONTAINER_TARGETS]
        if asked:
            raise InvalidInputError("qa.no_containers_on_apple", given=", ".join(asked), gpu=ctx.cand.gpu,
                                    allowed=", ".join(available))
    if is_local_model(ctx.model_id):
        # A model directory or GGUF file on this host is not inside a container or pod: the launch would look for
        # './my-model-dir' in the image. The native launch runs it here; containers need it published first.
        available = tuple(name for name in available if name not in CONTAINER_TARGETS)
        asked = [name for name in wanted if name in CONTAINER_TARGETS]
        if asked:
            raise InvalidInputError("qa.no_containers_for_local_model", given=", ".join(asked), model=ctx.model_id,
                                    allowed=", ".join(available))
    if "all" in wanted:
        wanted = available
    for name in wanted:
        if name not in available:
            raise InvalidInputError("render.target_not_for_task", given=name, task=plan.task,
                                    allowed=", ".join(available))
    renderers = _renderers(training, disaggregated)
    files: list[RenderedFile] = []
    for name in wanted:
        files.extend(renderers[name](ctx))
    files.append(_readme(ctx, files))
    return tuple(files)


def _readme(ctx: RenderContext, files: list[RenderedFile]) -> RenderedFile:
    """README.md of the output folder: the plan statement (for JSON files, which cannot carry comments) + the list."""
    from gpuplan.artifacts.common import RenderedFile, header_lines
    from gpuplan.i18n import t

    lines = [f"<!-- {line} -->" for line in header_lines(ctx, "README.md")]
    lines += ["", f"# {t('render.readme_title', model=ctx.model_id)}", "", t("render.readme_json"), ""]
    lines += [f"- `{f.path}` ({f.kind})" for f in files]
    lines += ["", f"## {t('render.readme_start')}", ""]
    if ctx.is_training:
        steps = t("render.readme_steps_training")
    elif ctx.vendor == "apple":
        steps = t("qa.readme_steps_apple")
    elif is_local_model(ctx.model_id) and not ctx.multi_node:
        steps = t("qa.readme_steps_local")  # no container files were written for a model on this host
    else:
        steps = t("render.readme_steps_multinode" if ctx.multi_node else "render.readme_steps_single")
    lines += [steps]
    return RenderedFile("README.md", "\n".join(lines) + "\n", "markdown")
