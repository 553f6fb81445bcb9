"""Plan search: the only layer that composes memory, perf and cost (DESIGN §8)."""

from gpuplan.plan.search import OBJECTIVES, PRESETS, PlanRequest, search

__all__ = ["OBJECTIVES", "PRESETS", "PlanRequest", "search"]
