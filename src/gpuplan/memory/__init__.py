"""Bytes: weights by format, KV cache, engine budgets, training memory (DESIGN §5)."""

from gpuplan.memory.inference import InferenceMemory, PerGpuMemory, size_inference, size_model_only
from gpuplan.memory.kv import kv_cache_bytes_per_token, resolve_kv_dtype
from gpuplan.memory.training import TrainingMemory, size_training

__all__ = [
    "InferenceMemory", "PerGpuMemory", "TrainingMemory", "kv_cache_bytes_per_token", "resolve_kv_dtype",
    "size_inference", "size_model_only", "size_training",
]
