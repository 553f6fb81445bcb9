"""Shared pieces of the renderers: the file record, the facts derived once from a plan, documented defaults.

Everything a renderer adds beyond the plan's ``engine_args`` (ports, image tags, paths, probe timings) is a
named default here, with the reason or source next to it, so an operator can see what was assumed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from gpuplan.artifacts.ascend import ascend_resource, vllm_ascend_image
from gpuplan.catalog.gpus import GpuSpec, get_gpu
from gpuplan.errors import InvalidInputError
from gpuplan.i18n import t
from gpuplan.planfile import Candidate, PlanFile
from gpuplan.units import GB, GIB, MIB


@dataclass(frozen=True)
class RenderedFile:
    """One generated file: a relative path, its text, and its kind (shell, yaml, json, dockerfile, markdown, ...)."""

    path: str
    content: str
    kind: str


# --- documented defaults (not from the plan) -------------------------------------------------------------------

#: Default listening ports, as each engine documents them (ecosystem.md §1: vLLM 8000, SGLang 30000,
#: llama-server 8080, Ollama 11434, trtllm-serve 8000). KTransformers' current path is SGLang's server.
ENGINE_PORTS = {"vllm": 8000, "sglang": 30000, "llama.cpp": 8080, "ollama": 11434, "trtllm": 8000,
                "ktransformers": 30000, "vllm-ascend": 8000}

#: Container images. Tags follow the engine versions recorded in shared/reference/ecosystem.md (vllm 0.33.0,
#: sglang 0.5.23); operators pin their own registry mirror by editing one line.
ENGINE_IMAGES = {
    "vllm": "vllm/vllm-openai:v0.33.0",
    "sglang": "lmsysorg/sglang:v0.5.23",
    "ktransformers": "lmsysorg/sglang:v0.5.23",
    "llama.cpp": "ghcr.io/ggml-org/llama.cpp:server-cuda",
    "ollama": "ollama/ollama:latest",
    "trtllm": "nvcr.io/nvidia/tensorrt-llm/release:latest",
    # vLLM-Ascend on the CANN toolkit image: engines.toml [vllm_ascend].image, with its source (one place)
    "vllm-ascend": vllm_ascend_image(),
}
#: AMD Instinct (CDNA) images: the CUDA images above cannot drive a ROCm GPU. AMD's ROCm documentation, "vLLM
#: inference and serving on ROCm" and "SGLang inference and serving on ROCm"
#: (rocm.docs.amd.com/projects/ai-ecosystem/en/latest/inference/{vllm,sglang}.html, read 2026-12-05): "docker pull
#: rocm/vllm:rocm7.14.0_cdna_ubuntu24.04_py3.14_pytorch_2.11.0_vllm_0.23.0" and "docker pull
#: rocm/sgl-dev:v0.5.13.post1-ubuntu24.04-py3.14-rocm7.14". Older engine versions than the CUDA pins (vLLM 0.23,
#: SGLang 0.5.13); every flag gpuplan writes exists in both. Radeon (RDNA) cards need other images: not pinned yet.
ROCM_INSTINCT_IMAGES = {
    "vllm": "rocm/vllm:rocm7.14.0_cdna_ubuntu24.04_py3.14_pytorch_2.11.0_vllm_0.23.0",
    "sglang": "rocm/sgl-dev:v0.5.13.post1-ubuntu24.04-py3.14-rocm7.14",
}

#: Engine binaries that are not on PATH inside their official image: llama.cpp's server image puts the binary at
#: /app/llama-server and sets it as ENTRYPOINT (ggml-org/llama.cpp .devops/cuda.Dockerfile at 00d69466401f).
CONTAINER_BINARIES = {"llama.cpp": "/app/llama-server"}
#: The launch scripts read the binary from this variable (default: the name on PATH); the Dockerfile sets it.
BINARY_ENV = {"llama.cpp": "LLAMA_SERVER"}

#: Where the model cache lives inside containers (Hugging Face's HF_HOME convention) and GGUF files for llama.cpp.
MODEL_CACHE_PATH = "/models"

#: Read bandwidth assumed when sizing the startupProbe to weight-load time: 1 GB/s per node from the model-cache
#: volume (a conservative network-volume figure; NVMe is faster). Load time = checkpoint bytes on the node / this,
#: times a safety factor of 2, plus a fixed 600 s for engine warm-up (CUDA graph capture, kernel JIT).
ASSUMED_LOAD_BYTES_PER_S = 1 * GB
LOAD_SAFETY_FACTOR = 2.0
WARMUP_S = 600.0
STARTUP_PERIOD_S = 10

#: /dev/shm size: vLLM's k8s doc uses 2Gi for one GPU; multi-GPU examples use 15–20Gi (ecosystem.md §2).
SHM_BYTES_SINGLE_GPU = 2 * GIB
SHM_BYTES_MULTI_GPU = 16 * GIB

#: Kubernetes resource name of one accelerator per vendor (ecosystem.md §2 "Resource names").
GPU_RESOURCE_NAMES = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "huawei": "huawei.com/Ascend910",
                      "intel": "intel.com/gpu"}

DEEPSEEK_NATIVE_FP8_FORMATS = ("fp8-block",)


@dataclass(frozen=True)
class RenderContext:
    """Facts derived once from a plan and shared by every renderer."""

    plan: PlanFile
    cand: Candidate
    gpu: GpuSpec | None
    name: str
    served_model_name: str

    @property
    def model_id(self) -> str:
        return self.plan.model.id

    @property
    def engine(self) -> str:
        return self.cand.engine

    @property
    def port(self) -> int:
        return ENGINE_PORTS.get(self.cand.engine, 8000)

    @property
    def image(self) -> str:
        if self.cand.engine == "vllm-ascend" and self.gpu is not None:
            return vllm_ascend_image(self.gpu.architecture)  # the Atlas 300I (310P) image differs from the 910B's
        if self.vendor == "amd" and self.gpu is not None and self.gpu.gpu_class == "datacenter":
            return ROCM_INSTINCT_IMAGES.get(self.cand.engine, ENGINE_IMAGES.get(self.cand.engine, "python:3.11-slim"))
        return ENGINE_IMAGES.get(self.cand.engine, "python:3.11-slim")

    @property
    def vendor(self) -> str:
        return self.gpu.vendor if self.gpu else "nvidia"

    @property
    def gpu_resource(self) -> str:
        if self.vendor == "huawei":
            return ascend_resource(self.gpu.architecture if self.gpu else None)
        return GPU_RESOURCE_NAMES.get(self.vendor, "nvidia.com/gpu")

    @property
    def multi_node(self) -> bool:
        return self.cand.nodes > 1

    @property
    def gpus_per_node(self) -> int:
        return max(1, self.cand.gpus_per_node if self.cand.nodes > 1 else self.cand.gpu_count)

    @property
    def is_training(self) -> bool:
        return self.plan.task != "serve"

    @property
    def is_deepseek_native(self) -> bool:
        """DeepSeek V3/R1-family checkpoints: native FP8 block weights and custom code paths."""
        low = self.model_id.lower()
        return "deepseek" in low and "distill" not in low

    @property
    def checkpoint_bytes(self) -> int | None:
        return self.plan.model.checkpoint_bytes


@cache
def _no_alias_dumper() -> type:
    """A YAML dumper without anchors/aliases: repeated label maps are written out in full (kubectl-friendly,
    diff-friendly). Built on first use: the planner imports this module, and only renderers write YAML."""
    import yaml

    class NoAliasDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True

    return NoAliasDumper


def yaml_dump(obj: object) -> str:
    """Block-style YAML, keys in insertion order, no anchors, unicode kept."""
    import yaml

    return yaml.dump(obj, Dumper=_no_alias_dumper(), sort_keys=False, allow_unicode=True, width=200)


def slug(text: str) -> str:
    """A DNS-1123 label from free text: lower case, [a-z0-9-], at most 40 characters, no leading/trailing '-'."""
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    out = re.sub(r"-{2,}", "-", out)[:40].strip("-")
    return out or "model"


def make_context(plan: PlanFile, candidate: int = 0) -> RenderContext:
    """The context for candidate ``candidate`` of ``plan`` (0 = the chosen one)."""
    if not plan.candidates:
        raise InvalidInputError("planfile.no_candidates")
    if not 0 <= candidate < len(plan.candidates):
        raise InvalidInputError("render.bad_candidate", given=candidate, allowed=f"0..{len(plan.candidates) - 1}")
    from gpuplan.artifacts.quoting import check_plan_values

    check_plan_values(plan)
    cand = plan.candidates[candidate]
    from gpuplan.artifacts.consistency import check_candidate

    check_candidate(cand)  # a hand edit that makes fields and flags disagree is one sentence, not a wrong launch
    # An unknown GPU is refused with close names: its vendor decides the image, device plugin and resource name.
    gpu: GpuSpec | None = get_gpu(cand.gpu)
    base = plan.model.id.split("/")[-1]
    return RenderContext(plan=plan, cand=cand, gpu=gpu, name=slug(base), served_model_name=base)


def header_lines(ctx: RenderContext, what: str) -> list[str]:
    """The opening comment of every file: the plan it realizes and its assumptions (without comment markers)."""
    c = ctx.cand
    layout = t("render.hdr_layout", tp=c.tensor_parallel_size, pp=c.pipeline_parallel_size,
               dp=c.data_parallel_size, ep=c.expert_parallel_size)
    lines = [
        t("render.hdr_generated", what=what),
        t("render.hdr_plan", model=ctx.model_id, task=ctx.plan.task, created=ctx.plan.created or "—",
          version=ctx.plan.gpuplan_version or "—"),
        t("render.hdr_hardware", nodes=c.nodes, per_node=ctx.gpus_per_node, gpu=c.gpu_name or c.gpu,
          total=c.gpu_count),
        t("render.hdr_engine", engine=c.engine, weights=c.weight_format, kv=c.kv_dtype, layout=layout),
    ]
    if c.max_model_len or c.max_num_seqs:
        lines.append(t("render.hdr_limits", max_len=c.max_model_len or "—", max_seqs=c.max_num_seqs or "—",
                       util=c.gpu_memory_utilization if c.gpu_memory_utilization is not None else "—"))
    lines.append(t("render.hdr_memory", per_gpu=f"{c.memory.per_gpu_total_bytes / GIB:.1f}",
                   capacity=f"{c.memory.capacity_bytes / GIB:.1f}"))
    for note in ctx.plan.assumptions[:6]:
        lines.append(t("render.hdr_assumption", text=note))
    lines.append(t("render.hdr_regen"))
    from gpuplan.artifacts.quoting import html_comment_text

    # One line each, and safe inside '#' comments and '<!-- -->' (README/report Markdown) alike.
    return [html_comment_text(line) for line in lines]


def hash_header(ctx: RenderContext, what: str) -> str:
    """The header as '#' comments (shell, YAML, Dockerfile, Modelfile, hostfile)."""
    return "".join(f"# {line}\n" for line in header_lines(ctx, what))


def load_time_s(ctx: RenderContext) -> float:
    """Weight-load time budget: checkpoint bytes per node / ASSUMED_LOAD_BYTES_PER_S × LOAD_SAFETY_FACTOR + WARMUP_S.

    Checkpoint bytes per node = checkpoint bytes / nodes (each node loads its shard); falls back to the plan's
    per-GPU weight bytes × GPUs per node when the checkpoint size is unknown.
    """
    c = ctx.cand
    total = ctx.checkpoint_bytes
    per_node = total / c.nodes if total else c.memory.weights_bytes * ctx.gpus_per_node
    return per_node / ASSUMED_LOAD_BYTES_PER_S * LOAD_SAFETY_FACTOR + WARMUP_S


def startup_failure_threshold(ctx: RenderContext) -> int:
    """startupProbe failureThreshold = ceil(load_time_s / STARTUP_PERIOD_S)."""
    return max(30, math.ceil(load_time_s(ctx) / STARTUP_PERIOD_S))


def shm_bytes(ctx: RenderContext) -> int:
    return SHM_BYTES_SINGLE_GPU if ctx.gpus_per_node == 1 else SHM_BYTES_MULTI_GPU


def quantity_gi(num_bytes: int) -> str:
    """Kubernetes binary quantity, rounded up to whole GiB ('16Gi')."""
    return f"{max(1, math.ceil(num_bytes / GIB))}Gi"


def gpu_memory_label_mib(ctx: RenderContext) -> int | None:
    """GFD's ``nvidia.com/gpu.memory`` is in MiB (ecosystem.md §2): the plan's GPU capacity in MiB, rounded down."""
    cap = ctx.cand.memory.capacity_bytes
    return cap // MIB if cap else None
