"""What the user chooses (DESIGN §4): engine, parallel layout, formats, workload, SLO, task.

Frozen dataclasses (:class:`gpuplan.records.Record`, not pydantic: ``gpuplan size`` starts without pydantic, issue 16):
one shape serves the Python API, ``--json``, the REST API (whose pydantic bodies hold them as fields) and plan files.
Bounds are checked on construction (``_BOUNDS``: JSON Schema keywords, ``_CHOICES``); a value out of them is one
sentence. Values are in base units (seconds, bytes, tokens); the edges convert once (``--tpot-ms`` → ``tpot_s``).
"""

from __future__ import annotations

from typing import Literal

from gpuplan.errors import InvalidInputError
from gpuplan.records import Record, record

ENGINES = ("vllm", "sglang", "llama.cpp", "ollama", "ktransformers", "trtllm", "transformers", "vllm-ascend", "mindie")
TRAINING_ENGINES = ("deepspeed", "fsdp", "megatron")
TASKS = ("serve", "lora", "qlora", "full", "pretrain")
KV_DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla", "q8_0", "q4_0")

Engine = Literal["vllm", "sglang", "llama.cpp", "ollama", "ktransformers", "trtllm", "transformers", "vllm-ascend", "mindie"]
Task = Literal["serve", "lora", "qlora", "full", "pretrain"]


def _between(low: float, high: float) -> dict[str, float]:
    return {"minimum": low, "maximum": high}


# No slots on Deployment and Workload: the planner's memo keys read their __dict__ (plan.search._spec_key).
@record
class Deployment(Record):
    """Hardware × layout × engine × formats: everything the memory and speed models need to know."""

    gpu_id: str
    gpu_count: int = 1
    nodes: int = 1
    engine: str = "vllm"
    engine_version: str | None = None  # "0.5.6" from --engine sglang==0.5.6 (perf.engine_version)
    weight_format: str = "native"
    kv_dtype: str = "auto"
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    expert_parallel_size: int = 1
    enable_dp_attention: bool = False
    gpu_memory_utilization: float | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    host_memory_bytes: int | None = None
    host_id: str | None = None
    offload: Literal["none", "experts", "layers"] = "none"
    gpu_layers: int | None = None
    cpu_moe_layers: int | None = None

    _BOUNDS = {
        "gpu_count": _between(1, 4096), "nodes": _between(1, 512), "engine_version": {"maxLength": 64},
        "tensor_parallel_size": _between(1, 1024), "pipeline_parallel_size": _between(1, 256),
        "data_parallel_size": _between(1, 4096), "expert_parallel_size": _between(1, 4096),
        "gpu_memory_utilization": {"exclusiveMinimum": 0.05, "maximum": 1.0},
        "max_num_seqs": _between(1, 1_000_000), "max_num_batched_tokens": _between(1, 10_000_000),
        "host_memory_bytes": {"minimum": 0}, "gpu_layers": _between(0, 10_000), "cpu_moe_layers": _between(0, 10_000),
    }
    _CHOICES = {"offload": ("none", "experts", "layers")}

    @property
    def gpus_per_node(self) -> int:
        return max(1, self.gpu_count // self.nodes)

    @property
    def model_parallel_size(self) -> int:
        """GPUs one model replica spans."""
        return self.tensor_parallel_size * self.pipeline_parallel_size


@record
class Workload(Record):
    """The traffic: concurrency or arrival rate, token counts, prefix-cache hits."""

    input_tokens: int = 1024
    output_tokens: int = 256
    concurrency: int | None = None
    rate_per_s: float | None = None
    prefix_cache_hit_fraction: float = 0.0

    _BOUNDS = {
        "input_tokens": _between(1, 10_000_000), "output_tokens": _between(1, 1_000_000),
        "concurrency": _between(1, 1_000_000), "rate_per_s": {"exclusiveMinimum": 0, "maximum": 1e6},
        "prefix_cache_hit_fraction": {"minimum": 0.0, "exclusiveMaximum": 1.0},
    }

    @property
    def context_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@record(slots=True)
class Slo(Record):
    """Latency targets at a percentile (None = no target)."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    percentile: float = 50.0

    _BOUNDS = {"ttft_s": {"exclusiveMinimum": 0}, "tpot_s": {"exclusiveMinimum": 0},
               "percentile": {"exclusiveMinimum": 0, "exclusiveMaximum": 100}}


@record(slots=True)
class TrainingJob(Record):
    """A fine-tuning or pre-training job."""

    task: Task = "lora"
    sequence_length: int = 4096
    micro_batch_size: int = 1
    global_batch_size: int | None = None
    zero_stage: int = 0
    offload: Literal["none", "cpu", "nvme"] = "none"
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")
    recompute: Literal["none", "selective", "full"] = "selective"
    optimizer: Literal["adamw", "adamw8bit", "sgd"] = "adamw"
    flash_attention: bool = True
    tokens_to_train: float | None = None
    engine: str = "deepspeed"

    _BOUNDS = {
        "sequence_length": _between(16, 10_000_000), "micro_batch_size": _between(1, 4096),
        "global_batch_size": {"minimum": 1}, "zero_stage": _between(0, 3), "lora_rank": _between(1, 4096),
        "tokens_to_train": {"exclusiveMinimum": 0},
    }
    _CHOICES = {"task": TASKS, "offload": ("none", "cpu", "nvme"), "recompute": ("none", "selective", "full"),
                "optimizer": ("adamw", "adamw8bit", "sgd")}


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed``; else one sentence naming the choices."""
    if value not in allowed:
        raise InvalidInputError("spec.bad_choice", what=what, given=value, allowed=", ".join(allowed))
    return value
