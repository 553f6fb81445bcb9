"""Money (DESIGN §7): capex, opex, TCO, cloud cost for the same service, break-even, cost per million tokens,
training cost. Pure functions over price facts from :mod:`gpuplan.catalog.prices`; USD inside."""

from gpuplan.cost.model import (
    CostInputs,
    CostResult,
    MonthPoint,
    Note,
    TrainingCostResult,
    cost_of,
    default_network,
    default_node_class,
    money,
    training_cost,
)
from gpuplan.cost.summary import to_cost_summary

__all__ = [
    "CostInputs", "CostResult", "MonthPoint", "Note", "TrainingCostResult", "cost_of", "default_network",
    "default_node_class", "money", "to_cost_summary", "training_cost",
]
