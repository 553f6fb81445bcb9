#!/usr/bin/env python
"""Fit gpuplan's step-time efficiencies and overheads on published measurements; write calibration.toml.

Usage:
    python scripts/fit_calibration.py [DATASET.csv ...] [--out src/gpuplan/catalog/data/calibration.toml]
    python scripts/fit_calibration.py --engines vllm-ascend    # refit these engines, keep the others' entries

Default datasets: ../shared/calibration/public-normalized.csv, ../shared/calibration/public-2-normalized.csv,
tests/data/calibration/extra-normalized.csv and tests/data/calibration/gpustack-normalized.csv (GPUStack
performance-lab rows, written by scripts/import_gpustack_lab.py with a quote per row in gpustack-sources.md).
Rows chosen by ``gpuplan.perf.validation.is_heldout`` (every fourth id) are never read by the fit; report them
with ``gpuplan validate``.

Method: per engine, the parameters are
  * per (engine, architecture): mem_efficiency_fraction, compute_efficiency_fraction;
  * per engine: layer_overhead_s, seq_overhead_s, compute_half_m_tokens, a memory and a compute factor per weight
    format (the most common 16-bit / native format of the engine's rows is the reference, 1.0; an FP8 format on an
    architecture without FP8 units gets its own per-architecture factor: another kernel runs it), mfu_fraction
    (training engines);
and are fitted by coordinate descent on a log grid (an engine after the engine it falls back to, whose fitted
parameters are in every prediction as gpuplan.perf.calibration resolves them at run time), minimizing
Σ (log predicted − log measured)² over the engine's fitted rows plus a weak prior (0.02 · Σ log² (θ / θ_default)) that keeps parameters no row constrains at their
defaults. Each parameter records the rows whose prediction moves when it moves (``fitted_on``); an entry's
``uncertainty_fraction`` is the 90th-percentile error of its own rows (at least 0.1).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gpuplan.catalog import get_gpu  # noqa: E402
from gpuplan.errors import GpuplanError  # noqa: E402
from gpuplan.perf.calibration import (  # noqa: E402
    ENGINE_FALLBACK,
    EXPERTS_KEY_SUFFIX,
    Calibration,
    CalibrationParams,
    calibration_key,
)
from gpuplan.perf.engine_version import version_key  # noqa: E402
from gpuplan.perf.predict import find_model, predict_value  # noqa: E402
from gpuplan.perf.validation import HELDOUT_RULE, is_heldout, load_dataset, percentile  # noqa: E402

DEFAULT_DATASETS = (ROOT.parent / "shared" / "calibration" / "public-normalized.csv",
                    ROOT.parent / "shared" / "calibration" / "public-2-normalized.csv",
                    ROOT / "tests" / "data" / "calibration" / "extra-normalized.csv",
                    # (the vLLM-Ascend 910B rows are public-2's N076-N081 and gpustack's G117-G126; no second copy)
                    ROOT / "tests" / "data" / "calibration" / "gpustack-normalized.csv")
OUT = ROOT / "src" / "gpuplan" / "catalog" / "data" / "calibration.toml"
SPEED_METRICS = ("decode_tokens_per_s", "prefill_tokens_per_s", "output_tokens_per_s", "ttft_s", "itl_s",
                 "train_tokens_per_s_per_gpu", "mfu_fraction")
PRIOR_WEIGHT = 0.02
MIN_FIT_OUTPUT_TOKENS = 16
MIN_CELL_ROWS = 5
MAX_FIT_BURST = 900
GROUP_BY_CLASS = "--by-architecture-only" not in sys.argv

# Priors (not fitted): typical values, used where no row constrains a parameter. Sources for the orders of magnitude:
# STREAM-like achievable HBM/GDDR bandwidth 70–90% of peak; cuBLAS large-GEMM efficiency 60–80% of dense peak;
# CUDA kernel launch ≈ 5 µs (NVIDIA CUDA C++ Best Practices Guide, "kernel launch overhead");
# NCCL all-reduce latency ≈ 10 µs per step on NVLink (nccl-tests small-message results).
DEFAULTS = {
    "mem_efficiency_fraction": 0.75, "compute_efficiency_fraction": 0.6, "compute_half_m_tokens": 16.0,
    "step_overhead_s": 3e-4, "layer_overhead_s": 1e-5, "seq_overhead_s": 1e-5, "allreduce_latency_s": 1e-5,
    "prefill_chunk_tokens": 8192.0, "mfu_fraction": 0.4, "uncertainty_fraction": 0.35,
    # STREAM on multi-socket DDR5 servers reaches ~60–80% of peak; AVX-512 GEMM kernels ~40% of FMA peak.
    "host_mem_efficiency_fraction": 0.6, "host_compute_efficiency_fraction": 0.4,
    # Inter-node small-message latency per ring step: InfiniBand RDMA a few µs plus NCCL proxy/network hops.
    "internode_latency_s": 2e-5,
}
# Engine facts that are not fitted (with their source).
ENGINE_FIXED = {
    # llama.cpp processes a prompt in micro-batches of n_ubatch = 512 tokens (common/arg.cpp --ubatch-size default).
    "llama.cpp": {"prefill_chunk_tokens": 512.0},
    # TensorRT-LLM: max_num_tokens default 8192 per iteration (trtllm-serve / LLM API BuildConfig defaults).
    # Its DSA kernels are its own: per-query key counts (0), as every engine whose kernel is not known to pad.
    "trtllm": {"prefill_chunk_tokens": 8192.0, "sparse_prefill_full_topk": 0.0, "sparse_attention_min_num_heads": 0.0},
    # vLLM prefills DeepSeek-V3.2 with FlashMLA's flash_mla_sparse_fwd over full-width top-k index tensors (invalid
    # entries -1, computed and masked: FlashMLA README): k key slots per query (CalibrationParams docstring).
    # Its FlashMLA-sparse backend pads the query heads of a GPU to 64 on Hopper (CalibrationParams docstring).
    "vllm": {"sparse_prefill_full_topk": 1.0, "sparse_attention_min_num_heads": 64.0},
    # SGLang's rows name --nsa-prefill-backend fa3 (FlashAttention-3 over per-query lengths); it falls back to vLLM
    # for unset parameters, so its own value is stated.
    "sglang": {"sparse_prefill_full_topk": 0.0, "sparse_attention_min_num_heads": 0.0},
    "vllm-ascend": {"sparse_prefill_full_topk": 0.0, "sparse_attention_min_num_heads": 0.0},
}
# M½ at most one MMA tile (16 rows: mma.m16n8k16, NVIDIA PTX ISA): a batch-1 GEMM costs at most a 16-row tile, so
# decode of a 4-bit or INT8 model stays memory-bound where it is (issue 13: a 4.3 ms compute floor hid 4-bit speed-ups).
# seq_overhead_s at most 50 µs per sequence per step: SGLang's overlap ("zero-overhead") scheduler and vLLM V1's
# async scheduling run the CPU work of the next batch while the GPU computes, so little per-sequence cost is exposed;
# a larger value only absorbs what bursts of hundreds of prompts do at admission.
BOUNDS = {"mem_efficiency_fraction": (0.2, 0.98), "compute_efficiency_fraction": (0.05, 0.95),
          "compute_half_m_tokens": (0.25, 16.0), "host_mem_efficiency_fraction": (0.05, 0.95),
          "host_compute_efficiency_fraction": (0.02, 0.95), "layer_overhead_s": (1e-7, 2e-4), "seq_overhead_s": (1e-7, 5e-5),
          "step_overhead_s": (1e-5, 5e-3), "allreduce_latency_s": (1e-7, 1e-4), "internode_latency_s": (1e-6, 2e-4), "mfu_fraction": (0.05, 0.8), "fmt": (0.3, 1.2),
          "family": (0.1, 1.5)}
# vLLM-Ascend 0.9.1 on the 910B (graph mode, ACLGraph, is its default for Qwen: docs.vllm.ai/projects/ascend/en/v0.9.1
# user_guide/feature_guide/graph_mode.html) still spends far more per layer per step than a CUDA-graph GPU: GPUStack's
# Qwen3-30B-A3B on 2 x 910B at 4 concurrent requests has a median ITL of 120.56 ms (qwen3-30b-a3b/910b.md L322-L341;
# public-2 N079: 122.7 ms), 2.5 ms for each of its 48 layers, where the weights an ITL step reads take a few ms in all.
# The CUDA-derived ceilings (200 µs per layer, 100 µs per all-reduce hop) held all three of the cell's parameters at a
# bound (layer overhead, all-reduce latency and memory efficiency): a mis-specified cell, not a fit. Ascend's ceilings
# are wider by the factor the rows show.
ENGINE_BOUNDS = {"vllm-ascend": {"layer_overhead_s": (1e-7, 5e-3), "allreduce_latency_s": (1e-7, 1e-3)}}
# Weights through Marlin kernels (vLLM's awq_marlin / gptq_marlin, and FP8 Marlin for FP8 on Ampere) stream at close to
# the 16-bit kernels' bandwidth: "near-optimal ~4x speedup" over FP16 "for batch sizes up to 16-32" (Frantar et al.,
# MARLIN, arXiv:2408.11743, abstract); FP8 Marlin "improves performance up to 2x in memory-bound scenarios"
# (github.com/vllm-project/vllm/pull/5975). A memory factor far below 1 for them would say the kernel wastes bandwidth;
# rows slow for another reason would otherwise set it (DeepSeek-R1 AWQ on 8 H100s at batch 1, public-2 N049: overheads
# and all-reduces; Qwen3-235B FP8 on A100 at 100-500 prompts: the dequantizing GEMMs' compute, which the format's
# compute factor carries), and every dense estimate in that format would lose its speed-up at batch 1.
MARLIN_4BIT_FORMATS = ("awq-int4", "gptq-int4")
MARLIN_MIN_MEM_FACTOR = 0.8
# ... and no faster than the 16-bit kernels' bandwidth: FP8 Marlin halves the bytes, "up to 2x" (PR 5975), so its
# factor relative to the 16-bit reference is at most 1 (an inherited W8A8 factor above 1 would promise more than 2x).
MARLIN_MAX_MEM_FACTOR = 1.0
FACTOR_TABLES = ("format_mem_factors", "format_compute_factors", "family_mem_factors", "family_compute_factors")
# FP8 checkpoints on a GPU without FP8 tensor cores run another kernel: "Turing/Ampere GPUs are supported for W8A16
# (weight-only FP8) utilizing Marlin kernels" (docs.vllm.ai/en/stable/features/quantization/fp8/). Their format factor
# is fitted per architecture there, apart from the W8A8 kernels of Hopper/Ada that the engine-wide factor describes.
FP8_FORMATS = ("fp8", "fp8-block")
GRID = [0.1, 0.3, 0.5, 0.7, 0.85, 0.93, 1.0, 1.07, 1.15, 1.3, 1.5, 2.0, 3.0, 10.0]


def _group_key(gpu) -> str:
    """The calibration key a row is fitted under: architecture/class (ampere/consumer) or architecture alone."""
    return calibration_key(gpu.architecture, gpu.gpu_class) if GROUP_BY_CLASS else gpu.architecture.lower()


def _params(engine_p: dict, arch_p: dict, *base: dict) -> Calibration:
    """The parameters a row is predicted with, merged as gpuplan.perf.calibration resolves them at run time: the
    fallback engine's entries (``base``: engine-wide, then the architecture's) under the engine's own, factor tables
    merged key by key (an architecture's or the engine's own factors add to the fallback's, never hide them)."""
    merged: dict = dict(DEFAULTS)
    for layer in (*base, engine_p, arch_p):
        for k, v in layer.items():
            merged[k] = {**merged[k], **v} if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return Calibration(id="fit", params=CalibrationParams(**merged), exact=True)


def _predict(row, engine_p: dict, arch_p: dict, *base: dict) -> float | None:
    try:
        return predict_value(row, _params(engine_p, arch_p, *base))
    except (GpuplanError, ZeroDivisionError, ValueError, OverflowError):
        return None


class EngineFit:
    """The parameters of one engine: shared ones and per-architecture ones."""

    def __init__(self, engine: str, rows: list, fallback: EngineFit | None = None) -> None:
        self.engine = engine
        self.rows = rows
        # The engine gpuplan falls back to for what this one's entries leave unset (ENGINE_FALLBACK), fitted first:
        # its parameters are in every prediction here, as they are at run time (a family factor of vLLM's that
        # SGLang inherits moves SGLang's rows, so SGLang is fitted with it in place).
        self.fallback = fallback
        self.arch_of = {r.id: _group_key(get_gpu(r.gpu)) for r in rows}
        self.shared: dict = dict(ENGINE_FIXED.get(engine, {}))
        self.per_arch: dict[str, dict] = {a: {} for a in sorted(set(self.arch_of.values()))}
        fmts = defaultdict(int)
        for r in rows:
            fmts[r.weight_format] += 1
        ref = max(sorted(fmts), key=lambda f: (f in ("bf16", "fp16", "gguf-f16"), fmts[f]))
        self.formats = [f for f in sorted(fmts) if f != ref]
        self.reference_format = ref
        # Model families: the most common is the reference (1.0); each other family with MIN_CELL_ROWS rows gets
        # its own memory/compute factor (the model-family key of a calibration cell).
        self.family_of = {r.id: _family(r.model) for r in rows}
        fams: dict[str, int] = defaultdict(int)
        for r in rows:
            fams[self.family_of[r.id]] += 1
        self.reference_family = max(sorted(fams), key=lambda f: fams[f]) if fams else ""
        self.families = [f for f in sorted(fams) if f != self.reference_family and fams[f] >= MIN_CELL_ROWS]
        self.moe_of = {r.id: find_model(r.model).arch.num_experts > 0 for r in rows}
        self.weight_only_fp8 = sorted({(self.arch_of[r.id], r.weight_format) for r in rows
                                       if r.weight_format in FP8_FORMATS and not r.host
                                       and not get_gpu(r.gpu).peak_flops_per_s("fp8")})

    def predict(self, row) -> float | None:
        arch = self.arch_of[row.id]
        fb = self.fallback
        base = (fb.shared, fb.per_arch.get(arch, {})) if fb else ()
        return _predict(row, self.shared, self.per_arch[arch], *base)

    def loss(self, rows=None) -> float:
        total = 0.0
        for r in rows if rows is not None else self.rows:
            p = self.predict(r)
            total += 25.0 if p is None or p <= 0 else (math.log(p) - math.log(r.value)) ** 2
        return total

    def slots(self) -> list[tuple[str, str | None, str | None]]:
        """(name, arch or None, format or None) of every fitted parameter."""
        out = []
        metrics = {r.metric for r in self.rows}
        training = metrics & {"train_tokens_per_s_per_gpu", "mfu_fraction"}
        if training:
            return [("mfu_fraction", None, None)]
        for arch in self.per_arch:
            # Hybrid rows (a host column) constrain the host's efficiencies, not the GPU's: the GPU side of such a
            # step keeps the fallback engine's fit (two unknowns, one kind of row, would be unidentifiable).
            am = {r.metric for r in self.rows if self.arch_of[r.id] == arch and not r.host}
            if am & {"decode_tokens_per_s", "output_tokens_per_s", "itl_s"}:
                out.append(("mem_efficiency_fraction", arch, None))
            if am & {"prefill_tokens_per_s", "output_tokens_per_s", "ttft_s"}:
                out.append(("compute_efficiency_fraction", arch, None))
        if any(not r.host for r in self.rows):
            out += [("layer_overhead_s", None, None), ("compute_half_m_tokens", None, None)]
        if any(r.host for r in self.rows):
            hm = {r.metric for r in self.rows if r.host}
            if hm & {"decode_tokens_per_s", "output_tokens_per_s", "itl_s"}:
                out.append(("host_mem_efficiency_fraction", None, None))
            if hm & {"prefill_tokens_per_s", "ttft_s"}:
                out.append(("host_compute_efficiency_fraction", None, None))
        if "output_tokens_per_s" in metrics:
            out.append(("seq_overhead_s", None, None))
        if any(r.gpu_count > 1 for r in self.rows):
            out.append(("allreduce_latency_s", None, None))
        if any(r.gpu_count > 8 for r in self.rows):
            out.append(("internode_latency_s", None, None))
        for arch, fmt in self.weight_only_fp8:
            for key in (fmt, fmt + EXPERTS_KEY_SUFFIX):
                am = {r.metric for r in self.relevant_rows(("format_mem_factors", arch, key))}
                if am & {"decode_tokens_per_s", "output_tokens_per_s", "itl_s"}:
                    out.append(("format_mem_factors", arch, key))
                if am & {"prefill_tokens_per_s", "output_tokens_per_s", "ttft_s"}:
                    out.append(("format_compute_factors", arch, key))
        for f in self.formats:
            out.append(("format_mem_factors", None, f))
            if "prefill_tokens_per_s" in metrics:
                out.append(("format_compute_factors", None, f))
        for fam in self.families:
            fm = {r.metric for r in self.rows if self.family_of[r.id] == fam}
            if fm & {"decode_tokens_per_s", "output_tokens_per_s", "itl_s"}:
                out.append(("family_mem_factors", None, fam))
            if fm & {"prefill_tokens_per_s", "output_tokens_per_s", "ttft_s"}:
                out.append(("family_compute_factors", None, fam))
        return out

    def get(self, slot) -> float:
        name, arch, fmt = slot
        if fmt and arch:
            return self.per_arch[arch].get(name, {}).get(fmt, self.shared.get(name, {}).get(fmt, 1.0))
        if fmt:
            return self.shared.get(name, {}).get(fmt, 1.0)
        table = self.per_arch[arch] if arch else self.shared
        return table.get(name, DEFAULTS[name])

    def set(self, slot, value: float) -> None:
        name, arch, fmt = slot
        if fmt and arch:
            self.per_arch[arch][name] = {**self.per_arch[arch].get(name, {}), fmt: value}
            return
        if fmt:
            self.shared[name] = {**self.shared.get(name, {}), fmt: value}
            return
        (self.per_arch[arch] if arch else self.shared)[name] = value

    def relevant_rows(self, slot) -> list:
        name, arch, key = slot
        if name.startswith("family_"):
            return [r for r in self.rows if self.family_of[r.id] == key]
        if key and key.endswith(EXPERTS_KEY_SUFFIX):  # the routed experts' factor: MoE rows of that format
            fmt = key.removesuffix(EXPERTS_KEY_SUFFIX)
            return [r for r in self.rows if self.arch_of[r.id] == arch and r.weight_format == fmt
                    and self.moe_of[r.id]]
        return [r for r in self.rows if (arch is None or self.arch_of[r.id] == arch)
                and (key is None or r.weight_format == key)
                and not (key and arch is None and (self.arch_of[r.id], key) in self.weight_only_fp8)]

    def objective(self, slot) -> float:
        name, _, fmt = slot
        v = self.get(slot)
        prior = 1.0 if fmt else DEFAULTS[name]
        return self.loss(self.relevant_rows(slot)) + PRIOR_WEIGHT * math.log(v / prior) ** 2

    def fit(self, sweeps: int = 6) -> None:
        slots = self.slots()
        for sweep in range(sweeps):
            scale = 1.0 / (1 + sweep)
            for slot in slots:
                key = "family" if slot[0].startswith("family_") else "fmt" if slot[2] else slot[0]
                lo, hi = ENGINE_BOUNDS.get(self.engine, {}).get(key, BOUNDS[key])
                # (the routed experts' grouped GEMMs of an FP8 MoE on Ampere run fused Marlin MoE: no floor there)
                if slot[0] == "format_mem_factors" and (slot[2] in MARLIN_4BIT_FORMATS
                                                        or (slot[1], slot[2]) in self.weight_only_fp8):
                    lo = max(lo, MARLIN_MIN_MEM_FACTOR)
                if self._weight_only_dense(slot):
                    hi = min(hi, MARLIN_MAX_MEM_FACTOR)
                    self.set(slot, min(hi, max(lo, self.get(slot))))
                best_v, best_l = self.get(slot), self.objective(slot)
                base = best_v
                for g in GRID:
                    v = min(hi, max(lo, base * g ** scale))
                    self.set(slot, v)
                    loss = self.objective(slot)
                    if loss < best_l - 1e-12:
                        best_v, best_l = v, loss
                self.set(slot, best_v)

    def _weight_only_dense(self, slot) -> bool:
        """The dense-linear memory factor of an FP8 format on an architecture without FP8 units (FP8 Marlin)."""
        name, arch, fmt = slot
        return name == "format_mem_factors" and arch is not None and (arch, fmt) in self.weight_only_fp8

    def drop_unconstrained(self) -> None:
        """Parameters no row moves keep their defaults (the prior pulled them, nothing else did) — except an FP8
        Marlin dense factor, which stays written (at most MARLIN_MAX_MEM_FACTOR) rather than inherit the engine's W8A8
        factor: another kernel."""
        for slot in self.slots():
            if not self.fitted_on(slot) and not self._weight_only_dense(slot):
                name, arch, fmt = slot
                table = self.per_arch[arch] if arch else self.shared
                if fmt:
                    table.get(name, {}).pop(fmt, None)  # (an architecture's table when arch is set)
                    if not table.get(name):
                        table.pop(name, None)
                else:
                    table.pop(name, None)

    def fitted_on(self, slot) -> list[str]:
        """Rows whose prediction changes by > 0.1% when the parameter moves by 10%."""
        v = self.get(slot)
        rows = self.relevant_rows(slot)
        before = {r.id: self.predict(r) for r in rows}
        name, arch, fmt = slot
        table = self.per_arch[arch] if arch else self.shared
        saved = {k: (dict(x) if isinstance(x, dict) else x) for k, x in table.items()}
        self.set(slot, v * 1.1)
        moved = [r.id for r in rows if before[r.id] and self.predict(r)
                 and abs(self.predict(r) / before[r.id] - 1) > 1e-3]
        table.clear()
        table.update(saved)  # as it was, a parameter left at its prior included (absent stays absent)
        return sorted(moved)

    def apes(self, arch: str | None = None) -> list[float]:
        out = []
        for r in self.rows:
            if arch and self.arch_of[r.id] != arch:
                continue
            p = self.predict(r)
            if p:
                out.append(abs(p - r.value) / r.value)
        return out


def _family(model_ref: str) -> str:
    try:
        return find_model(model_ref).family or "unknown"
    except GpuplanError:
        return "unknown"


def _version_series(version: str | None) -> int | None:
    """The major version a row was measured on (TensorRT-LLM 0.17's C++ engines vs 1.x's PyTorch backend)."""
    key = version_key(version) if version else ()
    return key[0] if key else None


def _main_version_series(engine: str, rows: list) -> list:
    """Rows of the engine's main major version (and rows stating none); a major version with fewer than
    MIN_CELL_ROWS rows is too thin for a cell of its own and is validated, never fitted (an estimate asking for it
    gets the widened band of a version outside the calibration's range)."""
    counts: dict[int, int] = defaultdict(int)
    for r in rows:
        series = _version_series(r.engine_version)
        if series is not None:
            counts[series] += 1
    if len(counts) <= 1:
        return rows
    main = max(sorted(counts), key=lambda k: counts[k])
    kept = []
    for r in rows:
        series = _version_series(r.engine_version)
        if series is None or series == main or counts[series] >= MIN_CELL_ROWS:
            kept.append(r)
        else:
            print(f"skip {r.id}: {engine} {r.engine_version} has {counts[series]} rows (< {MIN_CELL_ROWS})",
                  file=sys.stderr)
    return kept


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) >= 1e-3 else f"{v:.4e}"
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' for x in v) + "]"
    return str(v)


def write_toml(fits: list[EngineFit], sources: list[str], out: Path) -> None:
    lines = [
        "# gpuplan step-time calibration: fitted efficiencies and overheads per (engine, GPU architecture).",
        "# Written by scripts/fit_calibration.py — do not edit by hand; re-run the script instead.",
        "# Parameters are described in src/gpuplan/perf/calibration.py (CalibrationParams); fitted_on lists, per",
        "# parameter, the measured rows it was fitted on (ids in the datasets below, sources in their *-sources /",
        "# measured-public files). Held-out rows are never fitted on.",
        "schema_version = 1",
        f'heldout_rule = "{HELDOUT_RULE}"',
        "datasets = " + _fmt_value(sources),
        "",
        "# Priors, not fitted: used where no measured row constrains a parameter (see the script's DEFAULTS).",
        "[defaults]",
    ]
    lines += [f"{k} = {_fmt_value(v)}" for k, v in DEFAULTS.items()]
    for fit in fits:
        slots = fit.slots()
        shared_slots = [s for s in slots if s[1] is None]
        apes = fit.apes()
        unc = max(0.1, percentile(apes, 90) or 0.35)
        versions = sorted({r.engine_version for r in fit.rows if r.engine_version})
        lines += ["", "[[entry]]", f'engine = "{fit.engine}"', 'architecture = "*"',
                  f'note = "reference weight format {fit.reference_format}, reference family {fit.reference_family}; '
                  f'{len(fit.rows)} fitted rows"']
        if versions:
            lines.append("versions = " + _fmt_value(versions))
        for k, v in fit.shared.items():
            if not isinstance(v, dict):
                lines.append(f"{k} = {_fmt_value(float(v))}")
        lines.append(f"uncertainty_fraction = {_fmt_value(round(unc, 3))}")
        for name in ("format_mem_factors", "format_compute_factors", "family_mem_factors", "family_compute_factors"):
            if fit.shared.get(name):
                inner = ", ".join(f'"{f}" = {_fmt_value(round(v, 4))}' for f, v in sorted(fit.shared[name].items()))
                lines.append(f"{name} = {{ {inner} }}")
        fo = defaultdict(set)
        for s in shared_slots:
            fo[s[0]].update(fit.fitted_on(s))
        fo = {k: v for k, v in fo.items() if v}
        lines.append("[entry.fitted_on]")
        lines += [f"{k} = {_fmt_value(sorted(v))}" for k, v in sorted(fo.items())]
        for arch, params in sorted(fit.per_arch.items()):
            if not params:
                continue
            arch_apes = fit.apes(arch)
            # Fewer than 3 rows say little about the spread: use the engine's band then.
            unc_a = max(0.1, percentile(arch_apes, 90) or unc) if len(arch_apes) >= 3 else max(unc, 0.1)
            lines += ["", "[[entry]]", f'engine = "{fit.engine}"', f'architecture = "{arch}"']
            lines += [f"{k} = {_fmt_value(float(v))}" for k, v in sorted(params.items()) if not isinstance(v, dict)]
            for name in FACTOR_TABLES:
                if params.get(name):
                    merged = {**fit.shared.get(name, {}), **params[name]}
                    inner = ", ".join(f'"{f}" = {_fmt_value(round(v, 4))}' for f, v in sorted(merged.items()))
                    lines.append(f"{name} = {{ {inner} }}")
            lines.append(f"uncertainty_fraction = {_fmt_value(round(unc_a, 3))}")
            lines.append("[entry.fitted_on]")
            fo_a: dict[str, set] = defaultdict(set)
            for s in slots:
                if s[1] == arch:
                    fo_a[s[0]].update(fit.fitted_on(s))
            lines += [f"{k} = {_fmt_value(sorted(v))}" for k, v in fo_a.items() if v]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _entry_engine(block: str) -> str:
    for line in block.splitlines():
        if line.startswith("engine = "):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def _entries_of(text: str, exclude: set[str]) -> list[str]:
    """The ``[[entry]]`` blocks of a calibration file (each ending with its blank line), minus excluded engines'."""
    blocks = ["[[entry]]" + b for b in text.split("\n[[entry]]")[1:]]
    blocks = [b if b.endswith("\n") else b + "\n" for b in blocks]
    return [b for b in blocks if _entry_engine(b) not in exclude]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--engines", nargs="+", metavar="ENGINE",
                    help="refit only these engines; every other engine's entries are kept as they are in --out")
    ap.add_argument("--by-architecture-only", action="store_true",
                    help="fit one entry per architecture instead of per architecture/class")
    args = ap.parse_args(argv)
    paths = [p for p in (args.datasets or DEFAULT_DATASETS) if p.exists()]
    rows = [r for p in paths for r in load_dataset(p)]
    # Serving rows generating fewer than MIN_FIT_OUTPUT_TOKENS per request measure a burst's admission (tokenizing,
    # scheduling and prefilling 1000 prompts at once), which the step model does not describe; they are validated,
    # never fitted on. Likewise bursts of MAX_FIT_BURST or more prompts sent at once (GPUStack's 1000-prompt ShareGPT
    # runs): their throughput includes the admission ramp of the whole burst (SGLang admits conservatively), which
    # fitted as a per-sequence step cost would slow every steady-state estimate (280 µs per sequence per step).
    train = [r for r in rows if not is_heldout(r.id) and r.metric in SPEED_METRICS and r.gpu
             and not (r.task == "serving" and r.output_tokens is not None and r.output_tokens < MIN_FIT_OUTPUT_TOKENS)
             and not (r.task == "serving" and (r.batch or "").isdigit() and int(r.batch) >= MAX_FIT_BURST)]
    by_engine: dict[str, list] = defaultdict(list)
    for r in train:
        try:
            get_gpu(r.gpu)
        except GpuplanError:
            continue
        if _predict(r, ENGINE_FIXED.get(r.engine, {}), {}) is None:
            print(f"skip {r.id}: not predictable", file=sys.stderr)
            continue
        by_engine[r.engine].append(r)
    for engine in sorted(by_engine):
        by_engine[engine] = _main_version_series(engine, by_engine[engine])
    fits = []
    done: dict[str, EngineFit] = {}
    # Fallback engines first (vLLM before SGLang, trtllm and vLLM-Ascend; llama.cpp before KTransformers); in the
    # vLLM <-> SGLang cycle the engine with more rows goes first.
    order = sorted(by_engine, key=lambda e: (ENGINE_FALLBACK.get(e) in by_engine, -len(by_engine[e]), e))
    for engine in order:
        fit = EngineFit(engine, by_engine[engine], done.get(ENGINE_FALLBACK.get(engine, "")))
        done[engine] = fit
        before = fit.loss()
        fit.fit()
        fit.drop_unconstrained()
        apes = fit.apes()
        print(f"{engine}: {len(fit.rows)} rows, loss {before:.3f} → {fit.loss():.3f}, "
              f"median APE {percentile(apes, 50):.3f}, p90 {percentile(apes, 90):.3f}", file=sys.stderr)
        fits.append(fit)
    fits.sort(key=lambda f: f.engine)
    names = []
    for p in paths:
        # Paths independent of the checkout's directory name: in-repo files relative to the repo, shared ones to its
        # parent (the file must not change when a worktree has another name).
        try:
            names.append(str(p.resolve().relative_to(ROOT)))
        except ValueError:
            try:
                names.append(str(p.resolve().relative_to(ROOT.parent)))
            except ValueError:
                names.append(p.name)
    if args.engines:
        kept = _entries_of(args.out.read_text(encoding="utf-8"), exclude=set(args.engines))
        write_toml([f for f in fits if f.engine in args.engines], names, args.out)
        fresh = args.out.read_text(encoding="utf-8")
        head, _, _ = fresh.partition("\n[[entry]]")
        blocks = sorted(kept + _entries_of(fresh, exclude=set()), key=lambda b: _entry_engine(b))
        args.out.write_text(head + "".join("\n" + b for b in blocks), encoding="utf-8")
    else:
        write_toml(fits, names, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
