"""What the user chooses (DESIGN §4): engine, parallel layout, formats, workload, SLO, task.

Pydantic v2 models: one schema serves the Python API, ``--json``, the REST API and plan files. Values are in base
units (seconds, bytes, tokens); the edges convert once (``--tpot-ms`` → ``tpot_s``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gpuplan.errors import InvalidInputError

ENGINES = ("vllm", "sglang", "llama.cpp", "ollama", "ktransformers", "trtllm", "transformers", "vllm-ascend", "mindie")
TRAINING_ENGINES = ("deepspeed", "fsdp", "megatron")
TASKS = ("serve", "lora", "qlora", "full", "pretrain")
KV_DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla", "q8_0", "q4_0")

Engine = Literal["vllm", "sglang", "llama.cpp", "ollama", "ktransformers", "trtllm", "transformers", "vllm-ascend", "mindie"]
Task = Literal["serve", "lora", "qlora", "full", "pretrain"]


class Deployment(BaseModel):
    """Hardware × layout × engine × formats: everything the memory and speed models need to know."""

    model_config = ConfigDict(frozen=True)

    gpu_id: str
    gpu_count: int = Field(1, ge=1, le=4096)
    nodes: int = Field(1, ge=1, le=512)
    engine: str = "vllm"
    engine_version: str | None = Field(None, max_length=64)  # "0.5.6" from --engine sglang==0.5.6 (perf.engine_version)
    weight_format: str = "native"
    kv_dtype: str = "auto"
    tensor_parallel_size: int = Field(1, ge=1, le=1024)
    pipeline_parallel_size: int = Field(1, ge=1, le=256)
    data_parallel_size: int = Field(1, ge=1, le=4096)
    expert_parallel_size: int = Field(1, ge=1, le=4096)
    enable_dp_attention: bool = False
    gpu_memory_utilization: float | None = Field(None, gt=0.05, le=1.0)
    max_num_seqs: int | None = Field(None, ge=1, le=1_000_000)
    max_num_batched_tokens: int | None = Field(None, ge=1, le=10_000_000)
    host_memory_bytes: int | None = Field(None, ge=0)
    host_id: str | None = None
    offload: Literal["none", "experts", "layers"] = "none"
    gpu_layers: int | None = Field(None, ge=0, le=10_000)
    cpu_moe_layers: int | None = Field(None, ge=0, le=10_000)

    @property
    def gpus_per_node(self) -> int:
        return max(1, self.gpu_count // self.nodes)

    @property
    def model_parallel_size(self) -> int:
        """GPUs one model replica spans."""
        return self.tensor_parallel_size * self.pipeline_parallel_size


class Workload(BaseModel):
    """The traffic: concurrency or arrival rate, token counts, prefix-cache hits."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(1024, ge=1, le=10_000_000)
    output_tokens: int = Field(256, ge=1, le=1_000_000)
    concurrency: int | None = Field(None, ge=1, le=1_000_000)
    rate_per_s: float | None = Field(None, gt=0, le=1e6)
    prefix_cache_hit_fraction: float = Field(0.0, ge=0.0, lt=1.0)

    @property
    def context_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Slo(BaseModel):
    """Latency targets at a percentile (None = no target)."""

    model_config = ConfigDict(frozen=True)

    ttft_s: float | None = Field(None, gt=0)
    tpot_s: float | None = Field(None, gt=0)
    percentile: float = Field(50.0, gt=0, lt=100)


class TrainingJob(BaseModel):
    """A fine-tuning or pre-training job."""

    model_config = ConfigDict(frozen=True)

    task: Task = "lora"
    sequence_length: int = Field(4096, ge=16, le=10_000_000)
    micro_batch_size: int = Field(1, ge=1, le=4096)
    global_batch_size: int | None = Field(None, ge=1)
    zero_stage: int = Field(0, ge=0, le=3)
    offload: Literal["none", "cpu", "nvme"] = "none"
    lora_rank: int = Field(16, ge=1, le=4096)
    lora_targets: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")
    recompute: Literal["none", "selective", "full"] = "selective"
    optimizer: Literal["adamw", "adamw8bit", "sgd"] = "adamw"
    flash_attention: bool = True
    tokens_to_train: float | None = Field(None, gt=0)
    engine: str = "deepspeed"


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed``; else one sentence naming the choices."""
    if value not in allowed:
        raise InvalidInputError("spec.bad_choice", what=what, given=value, allowed=", ".join(allowed))
    return value
