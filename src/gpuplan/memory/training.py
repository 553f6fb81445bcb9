"""Fine-tuning and training memory per GPU (DESIGN §5): the *sum* of weights, gradients, optimizer states,
activations and logits — never a max of components (accelerate's estimate.py mistake).

* Mixed-precision Adam: 16 B/param = bf16 weights 2 + bf16 grads 2 + fp32 master 4 + fp32 m 4 + fp32 v 4
  (ZeRO paper, Rajbhandari et al. 2020, §3.1: "2Ψ + 2Ψ + KΨ with K = 12"). 8-bit Adam (bitsandbytes) keeps m and v
  in 1 byte each: 2 + 2 + 4 + 2 = 10 B/param.
* ZeRO-1 shards optimizer states over data-parallel ranks, ZeRO-2 also gradients, ZeRO-3/FSDP also weights.
  CPU offload moves optimizer states (and ZeRO-3 weights) to host RAM.
* LoRA: frozen base in its format (NF4 for QLoRA) + r·(d_in + d_out) trainable parameters per adapted matrix, each with
  16 B of weight, gradient and Adam state.
* Activations (Korthikanti et al. 2022, re-derived for SwiGLU, GQA/MLA, MoE and flash attention), bytes per token per
  layer in 16-bit, no recomputation: attention 8·H + 6·kv_dim (inputs, Q, K, V with and without RoPE, output),
  MLP 2·H + 8·I (input, gate, up, SiLU(gate), product; GELU MLPs 2·H + 4·I), norms 4·H (2·H for GPT-J's parallel
  block); MoE MLP counts top_k experts + shared experts.
  Full recomputation keeps only each layer's input (2·H) plus one layer's working set; selective keeps a fitted
  fraction (torchtitan Llama-3.1-8B FSDP, see SELECTIVE_FRACTION). Tensor/sequence parallelism divides by TP.
* Logits: bf16 logits + fp32 copy for the loss: 6·V bytes per token.
"""

from __future__ import annotations

import math

from gpuplan.catalog import GpuSpec, get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import InvalidInputError
from gpuplan.memory.weights import model_weight_bytes
from gpuplan.records import Record, record
from gpuplan.spec import TrainingJob

BYTES_PER_PARAM_ADAM_MIXED = 16
OPTIMIZER_BYTES = {"adamw": 12, "adamw8bit": 6, "sgd": 4}  # fp32 master + states
# Fitted: torchtitan Llama-3.1-8B, FSDP on 8×H100 96GB, local batch 2, seq 8192, selective AC, peak 82.4 GiB
# (shared/calibration M214). The non-recompute formula over-predicts that peak; the fraction of per-layer activations
# kept under torchtitan's selective (op-level) checkpointing that reproduces it is 0.629.
SELECTIVE_FRACTION = 0.629
LORA_MATRICES = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up",
                 "down": "ffn_down"}


@record(slots=True, kw_only=True)
class TrainingMemory(Record):
    """The answer of ``gpuplan size --task lora|qlora|full``."""

    model_id: str
    task: str
    gpu: str
    gpu_count: int
    params_total: int
    params_trainable: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    logits_bytes: int
    overhead_bytes: int
    total_bytes: int
    capacity_bytes: int
    host_bytes: int
    fits: bool
    binding: str
    recompute: str = "selective"  # the activation recomputation these bytes assume (TrainingJob.recompute)
    assumptions: tuple[str, ...] = ()


def activation_bytes_per_token_per_layer(entry: ModelEntry, layer: int = -1) -> int:
    """16-bit activations saved for backward, one token, one layer, no recomputation, flash attention."""
    arch = entry.arch
    H = arch.hidden_size
    att = arch.attention[layer]
    mlp = arch.mlp[layer]
    if att.kind == "mla":
        kv_dim = att.num_heads * ((att.qk_nope_head_dim or 0) + (att.qk_rope_head_dim or 0) + (att.v_head_dim or 0)) // 2
    else:
        kv_dim = att.num_kv_heads * att.head_dim
    attention = 2 * (4 * H + 3 * kv_dim)
    inter = (mlp.top_k * mlp.expert_intermediate_size + mlp.shared_intermediate_size) if mlp.is_moe else mlp.intermediate_size
    # SwiGLU keeps four I-wide tensors for backward (gate, up, SiLU(gate), product); GELU keeps two (fc_in, GELU out)
    mlp_b = 2 * H + (8 if mlp.gated else 4) * inter
    norms = 2 * H if arch.parallel_attn_mlp else 4 * H  # GPT-J: one LayerNorm feeds attention and MLP in parallel
    return attention + mlp_b + norms


def lora_trainable_params(entry: ModelEntry, rank: int, targets: tuple[str, ...]) -> int:
    """r·(d_in + d_out) per adapted matrix (PEFT LoraConfig target_modules); experts are not adapted."""
    dims = _lora_dims(entry.arch)
    return rank * sum(dims.get(name, 0) for name in {LORA_MATRICES[t] for t in targets if t in LORA_MATRICES})


_LORA_DIMS: dict[int, tuple[object, dict[str, int]]] = {}


def _lora_dims(arch) -> dict[str, int]:
    """Σ (d_in + d_out) of the layers' 2-D tensors per matrix name ("q_proj" → …), once per architecture: a training
    plan sizes ~1,500 candidates of one model, and walking its tensors each time was most of the search. Keyed by the
    architecture object (kept alive beside its figures, so the id is never reused for another one)."""
    hit = _LORA_DIMS.get(id(arch))
    if hit is not None and hit[0] is arch:
        return hit[1]
    dims: dict[str, int] = {}
    for t in arch.tensors():
        if t.layer is not None and len(t.shape) == 2:
            base = t.name.rsplit(".", 1)[-1]
            dims[base] = dims.get(base, 0) + t.shape[0] + t.shape[1]
    if len(_LORA_DIMS) >= 256:  # imported models add architectures: keep the memo bounded
        _LORA_DIMS.clear()
    _LORA_DIMS[id(arch)] = (arch, dims)
    return dims


def size_training(entry: ModelEntry, job: TrainingJob, *, gpu_id: str, gpu_count: int = 1, tp: int = 1,
                  base_format: str | None = None, gpu: GpuSpec | None = None) -> TrainingMemory:
    arch = entry.arch
    gpu = gpu or get_gpu(gpu_id)
    dp = max(1, gpu_count // tp)
    if gpu_count % tp:
        raise InvalidInputError("memory.layout_gpus", tp=tp, pp=1, gpus=gpu_count)
    N = arch.params_total
    opt_b = OPTIMIZER_BYTES[job.optimizer]
    assumptions = ["memory.assume_training"]
    host = 0
    if job.task in ("lora", "qlora"):
        fmt = base_format or ("nf4" if job.task == "qlora" else "bf16")
        base = model_weight_bytes(entry, fmt)
        trainable = lora_trainable_params(entry, job.lora_rank, job.lora_targets)
        weights = math.ceil(base / tp) + trainable * 2
        grads = trainable * 2
        optimizer = trainable * opt_b
        if job.zero_stage >= 3:
            weights = math.ceil(base / (tp * dp)) + trainable * 2
    else:
        trainable = N
        weights = 2 * N // tp
        grads = 2 * N // tp
        optimizer = opt_b * N // tp
        if job.zero_stage >= 1:
            optimizer //= dp
        if job.zero_stage >= 2:
            grads //= dp
        if job.zero_stage >= 3:
            weights //= dp
        if job.offload != "none":
            host += optimizer * dp
            optimizer = 0
            if job.zero_stage >= 3:
                host += weights * dp
                weights = 0
    tokens = job.sequence_length * job.micro_batch_size
    per_layer = activation_bytes_per_token_per_layer(entry)
    L = arch.num_layers
    if job.recompute == "full":
        act = tokens * (2 * arch.hidden_size * L + per_layer)
    elif job.recompute == "selective":
        act = tokens * per_layer * L * SELECTIVE_FRACTION
    else:
        act = tokens * per_layer * L
    act = math.ceil(act / tp)
    logits = tokens * arch.vocab_size * 6 // tp
    overhead = 1 * 2**30  # CUDA context, NCCL and allocator slack; assumption, stated
    total = weights + grads + optimizer + act + logits + overhead
    cap = gpu.memory_bytes
    fits = total <= cap
    parts = {"weights": weights, "optimizer": optimizer, "activations": act, "logits": logits, "gradients": grads}
    binding = "fits" if fits else max(parts, key=lambda k: parts[k])
    return TrainingMemory(
        model_id=entry.id, task=job.task, gpu=gpu.id, gpu_count=gpu_count, params_total=N, params_trainable=trainable,
        weights_bytes=weights, gradients_bytes=grads, optimizer_bytes=optimizer, activation_bytes=act,
        logits_bytes=logits, overhead_bytes=overhead, total_bytes=total, capacity_bytes=cap, host_bytes=host,
        fits=fits, binding=binding, recompute=job.recompute, assumptions=tuple(assumptions),
    )
