"""Seconds: roofline step time, communication, serving and training estimates, calibration (DESIGN §6)."""

from gpuplan.perf.calibration import Calibration, CalibrationParams, CalibrationSet, load_calibration
from gpuplan.perf.serving import ServingEstimate, estimate_serving
from gpuplan.perf.training import TrainingEstimate, estimate_training

__all__ = [
    "Calibration", "CalibrationParams", "CalibrationSet", "ServingEstimate", "TrainingEstimate",
    "estimate_serving", "estimate_training", "load_calibration",
]
