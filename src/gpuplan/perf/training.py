"""Training time: tokens/s from model FLOPs and a fitted MFU, plus a communication check (DESIGN §6).

* Model FLOPs per token (no recomputation counted, the MFU convention of PaLM, Chowdhery et al. 2022, App. B):
  full fine-tune / pre-train 6 · N_active + 3 · attention forward; LoRA/QLoRA 4 · N_active + 3 · attention forward
  (the frozen base needs no weight gradients: forward 2N + input gradients 2N; Hu et al. 2021 report the saving).
  Attention forward per token at sequence s (causal): attention FLOPs per context token · s / 2.
* tokens/s = GPUs · peak16 · MFU / FLOPs per token; MFU is fitted per (framework, architecture).
* Communication per step per GPU: ZeRO-3/FSDP all-gathers parameters twice (forward, backward) and reduce-scatters
  gradients: 3 · Φ · 2 B · (n−1)/n; ZeRO-0/1/2 all-reduce gradients: 2 · Φ · 2 B · (n−1)/n (Rajbhandari et al. 2020,
  "ZeRO", §7). LoRA moves only adapter gradients (and, under ZeRO-3, the frozen parameters). Compute and communication
  overlap: the step takes the longer of the two, and the job is ``comm_bound`` when communication is longer.
  Each GPU moves the gradients (and gathers) of the parameters it holds: ÷ TP · PP, routed experts ÷ EP · PP.
* Pipeline parallelism adds the 1F1B bubble: compute time ÷ (1 − (p − 1)/(m + p − 1)).
"""

from __future__ import annotations

import math

from gpuplan.catalog import get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import UnsupportedError
from gpuplan.memory.training import lora_trainable_params
from gpuplan.perf.calibration import Calibration, CalibrationSet, load_calibration
from gpuplan.perf.serving import INTERNODE_BYTES_PER_S, PCIE4_X16_BYTES_PER_S
from gpuplan.perf.step import pipeline_bubble_fraction
from gpuplan.perf.tables import model_table
from gpuplan.records import Record, record
from gpuplan.spec import Deployment, TrainingJob
from gpuplan.units import SECONDS_PER_HOUR

GRAD_BYTES = 2  # bf16 gradients and gathered parameters on the wire
SECONDS_PER_DAY = 86400.0


@record
class TrainingEstimate(Record):
    """Speed of a training job. ``days_to_train`` / ``gpu_hours`` are None without ``tokens_to_train``."""

    tokens_per_s: float
    tokens_per_s_per_gpu: float
    step_s: float
    compute_s: float
    comm_s: float
    mfu_fraction: float
    flops_per_token: float
    days_to_train: float | None
    gpu_hours: float | None
    comm_bound: bool
    link_bytes_per_s: float
    calibration: str
    uncertainty_fraction: float


def training_flops_per_token(entry: ModelEntry, task: str, sequence_length: int) -> float:
    """Model FLOPs per trained token (module docstring): (6 or 4) · N_active + 3 · attention forward at s/2."""
    tab = model_table(entry.id, "bf16", "bf16")
    matmul = tab.gemm_flops_per_token + tab.expert_flops_per_token  # = 2 · N_active (matmul part)
    factor = 2.0 if task in ("lora", "qlora") else 3.0               # × forward: 4N vs 6N
    attention = 3.0 * tab.attention_flops_per_context_token * sequence_length / 2
    return factor * matmul + attention


def held_params(entry: ModelEntry, dep: Deployment | None) -> float:
    """Parameters one GPU holds (and so all-reduces or gathers the gradients of): non-expert weights ÷ (TP · PP),
    routed experts ÷ (EP · PP) with expert parallelism (each rank owns whole experts), else ÷ (TP · PP)."""
    arch = entry.arch
    if dep is None:
        return float(arch.params_total)
    tp, pp, ep = dep.tensor_parallel_size, dep.pipeline_parallel_size, dep.expert_parallel_size
    routed = arch.params_routed_experts
    return (arch.params_total - routed) / (tp * pp) + routed / ((ep if ep > 1 else tp) * pp)


def communication_bytes_per_step(entry: ModelEntry, job: TrainingJob, num_gpus: int,
                                 dep: Deployment | None = None) -> float:
    """Bytes one GPU sends per optimizer step (module docstring); 0 on one GPU. With ``dep``, only the parameters
    that GPU holds under its TP/PP/EP layout are counted (``held_params``)."""
    if num_gpus <= 1:
        return 0.0
    ring = (num_gpus - 1) / num_gpus
    share = held_params(entry, dep) / entry.arch.params_total
    params = entry.arch.params_total * share
    trainable = params if job.task in ("full", "pretrain") else lora_trainable_params(entry, job.lora_rank,
                                                                                        job.lora_targets) * share
    grads = 2 * trainable * GRAD_BYTES * ring if job.zero_stage < 3 else trainable * GRAD_BYTES * ring
    gathers = 2 * params * GRAD_BYTES * ring if job.zero_stage == 3 else 0.0
    return grads + gathers


def estimate_training(entry: ModelEntry, dep: Deployment, job: TrainingJob,
                      calibration: Calibration | CalibrationSet | None = None, *,
                      internode_bytes_per_s: float | None = None) -> TrainingEstimate:
    """Tokens/s, step time, MFU, time to train and GPU-hours of ``job`` on ``dep`` (module docstring)."""
    gpu = get_gpu(dep.gpu_id)
    peak = gpu.dense_16bit_flops_per_s
    if not peak:
        raise UnsupportedError("perf.no_flops", gpu=gpu.id)
    if isinstance(calibration, Calibration):
        cal = calibration
    else:
        cset = calibration if isinstance(calibration, CalibrationSet) else load_calibration()
        cal = cset.resolve(job.engine, gpu.architecture, gpu.gpu_class)
    mfu = cal.params.mfu_fraction
    n = dep.gpu_count
    fpt = training_flops_per_token(entry, job.task, job.sequence_length)
    tps_gpu = peak * mfu / fpt
    global_tokens = (job.global_batch_size or job.micro_batch_size * n) * job.sequence_length
    compute_s = global_tokens / (tps_gpu * n)
    pp = dep.pipeline_parallel_size
    if pp > 1:
        # 1F1B pipeline: (p − 1)/(m + p − 1) of the step idles, m = micro-batches per data-parallel rank.
        dp = max(1, n // (pp * dep.tensor_parallel_size))
        micro = max(1, (job.global_batch_size or job.micro_batch_size * dp) // (job.micro_batch_size * dp))
        compute_s /= 1.0 - pipeline_bubble_fraction(pp, micro)
    link = gpu.interconnect_bytes_per_s or PCIE4_X16_BYTES_PER_S
    if dep.nodes > 1:
        link = min(link, internode_bytes_per_s or INTERNODE_BYTES_PER_S)
    comm_s = communication_bytes_per_step(entry, job, n, dep) / link
    step_s = max(compute_s, comm_s)
    tps = global_tokens / step_s
    days = hours = None
    if job.tokens_to_train:
        seconds = job.tokens_to_train / tps
        days = seconds / SECONDS_PER_DAY
        hours = seconds * n / SECONDS_PER_HOUR
    unc = cal.params.uncertainty_fraction * (1.0 if cal.exact else 1.5)
    return TrainingEstimate(
        tokens_per_s=tps, tokens_per_s_per_gpu=tps / n, step_s=step_s, compute_s=compute_s, comm_s=comm_s,
        mfu_fraction=mfu * compute_s / step_s, flops_per_token=fpt, days_to_train=days, gpu_hours=hours,
        comm_bound=comm_s > compute_s, link_bytes_per_s=link, calibration=cal.id,
        uncertainty_fraction=min(unc, 0.9) if math.isfinite(unc) else 0.9,
    )
