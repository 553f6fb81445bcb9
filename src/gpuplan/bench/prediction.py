"""The plan's prediction for ``bench --plan plan.yaml``: the chosen candidate's ``perf`` and the plan's SLO."""

from __future__ import annotations

from pathlib import Path

from gpuplan.bench.models import Prediction, SloTarget
from gpuplan.planfile import PlanFile


def load_prediction(path: str | Path) -> tuple[Prediction, SloTarget]:
    """Read ``plan.yaml`` (``gpuplan.planfile.PlanFile``): candidates[0].perf → Prediction; plan.slo → SloTarget."""
    plan = PlanFile.load(path)
    chosen = plan.chosen
    perf = chosen.perf
    concurrency = perf.concurrency or plan.workload.concurrency
    prediction = Prediction(
        plan_path=str(path), candidate=f"{chosen.gpu_count}x {chosen.gpu} {chosen.engine} {chosen.weight_format}",
        concurrency=concurrency, ttft_s=perf.ttft_s, tpot_s=perf.tpot_s, output_tokens_per_s=perf.output_tokens_per_s,
    )
    return prediction, SloTarget(ttft_s=plan.slo.ttft_s, tpot_s=plan.slo.tpot_s)
