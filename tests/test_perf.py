"""The performance model: formulas on hand-worked cases, monotonicity, Little's law, MoE touch, golden rows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gpuplan.catalog import get_model
from gpuplan.errors import GpuplanError, InvalidInputError
from gpuplan.perf import CalibrationParams, estimate_serving, estimate_training, load_calibration
from gpuplan.perf.calibration import Calibration
from gpuplan.perf.step import (
    Hardware,
    all_to_all_s,
    decode_step,
    expected_experts_touched,
    gemm_efficiency_fraction,
    pipeline_bubble_fraction,
    ring_allreduce_s,
    step_time,
)
from gpuplan.perf.tables import ModelTable, model_table
from gpuplan.spec import Deployment, TrainingJob, Workload

# ----------------------------------------------------------------------------- formulas, hand-worked


def test_expert_touch_formula_hand_worked():
    # DeepSeek-V3: E = 256 routed experts, k = 8 (config.json n_routed_experts / num_experts_per_tok).
    # T = 1: exactly k experts. T = 64: 256 · (1 − (248/256)^64); ln(0.96875) = −0.031749, × 64 = −2.03193,
    # e^−2.03193 = 0.13109, so 256 · 0.86891 = 222.44.
    assert expected_experts_touched(256, 8, 1) == pytest.approx(8.0, rel=1e-12)
    assert expected_experts_touched(256, 8, 64) == pytest.approx(222.44, abs=0.01)
    assert expected_experts_touched(256, 8, 0) == 0.0
    assert expected_experts_touched(256, 8, 10_000) == pytest.approx(256.0, rel=1e-9)


def test_ring_allreduce_hand_worked():
    # 2(n−1)/n · M / bw + 2(n−1)·α with n = 8, M = 8e6 B, bw = 1e11 B/s, α = 5e-6 s:
    # 14/8 · 8e-5 = 1.4e-4 s, plus 14 · 5e-6 = 7e-5 s → 2.1e-4 s.
    assert ring_allreduce_s(8e6, 8, 1e11, 5e-6) == pytest.approx(2.1e-4, rel=1e-12)
    assert ring_allreduce_s(8e6, 1, 1e11, 5e-6) == 0.0


def test_all_to_all_and_bubble_hand_worked():
    # (n−1)/n · B / bw + (n−1)·α: n = 4, B = 4e6, bw = 1e10, α = 1e-5 → 3e-4 + 3e-5.
    assert all_to_all_s(4e6, 4, 1e10, 1e-5) == pytest.approx(3.3e-4, rel=1e-12)
    # GPipe bubble (p − 1)/(m + p − 1): p = 4, m = 12 → 3/15.
    assert pipeline_bubble_fraction(4, 12) == pytest.approx(0.2)
    assert pipeline_bubble_fraction(1, 12) == 0.0


def test_gemm_efficiency_half_point():
    assert gemm_efficiency_fraction(64, 0.8, 64) == pytest.approx(0.4)
    assert gemm_efficiency_fraction(1e9, 0.8, 64) == pytest.approx(0.8, rel=1e-6)


def _toy_table(**kw) -> ModelTable:
    base = dict(num_layers=10, hidden_size=4096, dense_bytes_per_gpu=10e9, attention_bytes_per_gpu=1e9,
                expert_bytes_per_gpu=0.0, num_moe_layers=0, num_experts=0, top_k=0, experts_per_gpu_fraction=1.0,
                whole_weights_bytes=10e9, gemm_flops_per_token=2 * 5e9, expert_flops_per_token=0.0,
                attention_flops_per_context_token=0.0, kv_bytes_per_context_token_per_gpu=0.0,
                kv_window_bytes_per_token_per_gpu=0.0, kv_window_tokens=0, is_mla=False, num_heads=32)
    base.update(kw)
    return ModelTable(**base)


_NO_OVERHEAD = CalibrationParams(mem_efficiency_fraction=0.5, compute_efficiency_fraction=0.5,
                                 compute_half_m_tokens=1e-9, step_overhead_s=0.0, layer_overhead_s=0.0,
                                 seq_overhead_s=0.0, allreduce_latency_s=0.0)


def test_roofline_memory_bound_hand_worked():
    # 10 GB of weights at 1 TB/s × η 0.5 → 20 ms; 1e10 FLOP per token at 1e15 × 0.5 → 0.02 ms: memory-bound.
    hw = Hardware(memory_bandwidth_bytes_per_s=1e12, gemm_flops_per_s=1e15, attention_flops_per_s=1e15)
    st = decode_step(_toy_table(), hw, _NO_OVERHEAD, "bf16", batch=1, context_tokens=0)
    assert st.weights_read_s == pytest.approx(0.02)
    assert st.gemm_compute_s == pytest.approx(2e-5)
    assert st.total_s == pytest.approx(0.02)
    assert st.dominant()[0] == "weights"


def test_roofline_compute_bound_hand_worked():
    # 4096 tokens × 1e10 FLOP = 4.096e13 FLOP at 1e15 × 0.5 → 81.92 ms > 20 ms of weights: compute-bound.
    hw = Hardware(memory_bandwidth_bytes_per_s=1e12, gemm_flops_per_s=1e15, attention_flops_per_s=1e15)
    st = step_time(_toy_table(), hw, _NO_OVERHEAD, "bf16", new_tokens=4096, num_seqs=1, kv_tokens_read=0,
                   attention_pairs=0)
    assert st.total_s == pytest.approx(0.08192)
    assert st.dominant()[0] == "compute"


def test_tensor_parallel_adds_two_allreduces_per_layer():
    # TP 2 over a 1e11 B/s link, 1 token of 4096 × 2 B: ring = 2·1/2·8192/1e11 = 8.192e-8 s per all-reduce;
    # 2 per layer × 10 layers = 1.6384e-6 s (α = 0 here).
    hw = Hardware(memory_bandwidth_bytes_per_s=1e12, gemm_flops_per_s=1e15, attention_flops_per_s=1e15, tp=2,
                  intra_node_bytes_per_s=1e11)
    st = decode_step(_toy_table(), hw, _NO_OVERHEAD, "bf16", batch=1, context_tokens=0)
    assert st.comm_s == pytest.approx(1.6384e-6)


# ----------------------------------------------------------------------------- tables of real models


def test_moe_batch1_reads_only_active_experts():
    """DeepSeek-V3 at batch 1 reads ~k/E of the routed experts; at batch 512 nearly all of them (DESIGN §6)."""
    tab = model_table("deepseek-ai/DeepSeek-V3", "fp8-block", "bf16", 8, 1, 1)
    one = expected_experts_touched(tab.num_experts, tab.top_k, 1) / tab.num_experts
    many = expected_experts_touched(tab.num_experts, tab.top_k, 512) / tab.num_experts
    assert one == pytest.approx(8 / 256)
    assert many > 0.99


def test_matmul_flops_are_twice_active_params():
    """Dense Llama-3-8B: 2 FLOP per matmul parameter per token (Kaplan et al. 2020 §2.1); embeddings excluded."""
    entry = get_model("meta-llama/Meta-Llama-3-8B")
    tab = model_table(entry.id, "bf16", "bf16")
    arch = entry.arch
    matmul_params = arch.params_total - arch.params_by_component["embed"] - arch.params_by_component["norm"]
    assert tab.gemm_flops_per_token == pytest.approx(2 * matmul_params, rel=1e-9)


# ----------------------------------------------------------------------------- serving behaviour


def _llama8b_h100(**kw):
    entry = get_model("meta-llama/Llama-3.1-8B-Instruct")
    dep = Deployment(gpu_id="h100-sxm", gpu_count=1, engine="vllm", weight_format="bf16", **kw)
    return entry, dep


def test_more_concurrency_more_throughput_until_kv_cap():
    entry, dep = _llama8b_h100()
    outs, tpots = [], []
    for c in (1, 2, 8, 32, 128):
        est = estimate_serving(entry, dep, Workload(input_tokens=1000, output_tokens=200, concurrency=c))
        outs.append(est.output_tokens_per_s)
        tpots.append(est.tpot_s)
    assert outs == sorted(outs) and outs[-1] > 10 * outs[0]
    assert tpots == sorted(tpots)


def test_concurrency_beyond_kv_cap_is_capped_and_queued():
    entry, dep = _llama8b_h100()
    wl = Workload(input_tokens=100_000, output_tokens=1000, concurrency=500)
    est = estimate_serving(entry, dep, wl)
    assert est.max_concurrency is not None and est.max_concurrency < 500
    assert est.concurrency == est.max_concurrency
    assert est.bottleneck == "kv_capacity"
    at_cap = estimate_serving(entry, dep, wl.model_copy(update={"concurrency": est.max_concurrency}))
    assert est.output_tokens_per_s == pytest.approx(at_cap.output_tokens_per_s)
    assert est.ttft_s > at_cap.ttft_s  # the queue wait


def test_longer_context_slower_decode():
    entry, dep = _llama8b_h100()
    speeds = [estimate_serving(entry, dep, Workload(input_tokens=i, output_tokens=100, concurrency=8))
              .decode_tokens_per_s for i in (100, 4000, 32000)]
    assert speeds[0] > speeds[1] > speeds[2]


def test_littles_law_for_a_rate():
    entry, dep = _llama8b_h100()
    est = estimate_serving(entry, dep, Workload(input_tokens=500, output_tokens=200, rate_per_s=2.0))
    assert not est.saturated
    assert est.requests_per_s == pytest.approx(2.0, rel=1e-4)
    assert est.concurrency == pytest.approx(2.0 * est.e2e_s, rel=1e-4)


def test_rate_beyond_capacity_is_saturated():
    entry, dep = _llama8b_h100()
    est = estimate_serving(entry, dep, Workload(input_tokens=2000, output_tokens=2000, rate_per_s=10_000))
    assert est.saturated and est.ttft_s is None and est.e2e_s is None


def test_speculative_decoding_cuts_tpot_at_batch1():
    entry, dep = _llama8b_h100()
    wl = Workload(input_tokens=200, output_tokens=200, concurrency=1)
    base = estimate_serving(entry, dep, wl)
    mtp = estimate_serving(entry, dep, wl, speculative_tokens=1, speculative_acceptance_fraction=0.85)
    assert mtp.tpot_s < base.tpot_s
    # memory-bound batch 1: a 2-token verify step costs about one step, and yields 1.85 tokens
    assert base.tpot_s / mtp.tpot_s == pytest.approx(1.85, rel=0.15)


def test_mla_many_heads_per_gpu_attention_is_compute_heavy():
    """DeepSeek-V3 MLA with absorption: all 128 heads on one GPU (DP-attention) do far more attention math per KV
    byte than 16 heads per GPU (TP 8)."""
    entry = get_model("deepseek-v3")
    w = Workload(input_tokens=8000, output_tokens=1000, concurrency=64)
    tp8 = estimate_serving(entry, Deployment(gpu_id="h200-sxm", gpu_count=8, engine="sglang", weight_format="fp8-block",
                                             tensor_parallel_size=8), w)
    dpa = estimate_serving(entry, Deployment(gpu_id="h200-sxm", gpu_count=8, engine="sglang", weight_format="fp8-block",
                                             tensor_parallel_size=8, data_parallel_size=8, enable_dp_attention=True), w)
    ratio_tp8 = tp8.decode_step_terms_s["attention_compute_s"] / tp8.decode_step_terms_s["kv_read_s"]
    ratio_dpa = dpa.decode_step_terms_s["attention_compute_s"] / dpa.decode_step_terms_s["kv_read_s"]
    assert ratio_dpa > ratio_tp8


def test_model_that_does_not_fit_is_an_error():
    entry = get_model("deepseek-v3")
    with pytest.raises(GpuplanError):
        estimate_serving(entry, Deployment(gpu_id="rtx-4090", engine="vllm", weight_format="fp8-block"),
                         Workload(input_tokens=100, output_tokens=100, concurrency=1))


def test_offload_without_host_is_a_clear_error():
    entry, _ = _llama8b_h100()
    dep = Deployment(gpu_id="h100-sxm", engine="llama.cpp", weight_format="gguf-q4_k_m", offload="layers",
                     gpu_layers=10)
    with pytest.raises(InvalidInputError):
        estimate_serving(entry, dep, Workload(input_tokens=100, output_tokens=100, concurrency=1))


def test_layer_offload_is_host_bandwidth_bound():
    entry = get_model("meta-llama/Meta-Llama-3-70B")
    dep = Deployment(gpu_id="rtx-4090", engine="llama.cpp", weight_format="gguf-q4_k_m", offload="layers",
                     gpu_layers=40, host_id="desktop-ddr5-2ch")
    est = estimate_serving(entry, dep, Workload(input_tokens=100, output_tokens=100, concurrency=1))
    assert est.bottleneck == "host_bandwidth"


def test_estimate_is_fast():
    """The planner calls estimate_serving thousands of times: < 0.2 ms per call (issue 4), checked loosely (1 ms)."""
    import time

    entry, dep = _llama8b_h100(tensor_parallel_size=1)
    wl = Workload(input_tokens=1000, output_tokens=200, concurrency=16)
    estimate_serving(entry, dep, wl)
    start = time.perf_counter()
    for _ in range(200):
        estimate_serving(entry, dep, wl)
    assert (time.perf_counter() - start) / 200 < 1e-3


# ----------------------------------------------------------------------------- calibration data


def test_calibration_entries_name_their_rows():
    cal = load_calibration()
    fitted = [e for e in cal.entries if e.fitted_on]
    assert fitted, "calibration.toml has no fitted entries"
    from gpuplan.perf.validation import is_heldout

    for e in fitted:
        for name, rows in e.fitted_on.items():
            assert name in CalibrationParams.model_fields, name
            assert not any(is_heldout(r) for r in rows), f"{e.engine}/{e.architecture}.{name} uses held-out rows"


def _fit_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "fit_calibration.py"
    spec = importlib.util.spec_from_file_location("fit_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fit_merges_parameters_as_gpuplan_resolves_them():
    """The fit predicts each row with the parameters the row gets at run time: SGLang's own entries over vLLM's (its
    fallback), factor tables merged key by key. A fit that left vLLM's family factors out placed SGLang's DeepSeek
    rows without the 0.7x that every estimate then applied."""
    fit = _fit_script()
    cal = load_calibration()

    def params(engine, arch):
        e = cal._find(engine, arch)
        return dict(e.params) if e else {}

    for engine, fallback, arch in (("sglang", "vllm", "hopper/datacenter"), ("vllm-ascend", "vllm", "davinci/datacenter"),
                                   ("trtllm", "vllm", "ampere/datacenter")):
        merged = fit._params(params(engine, "*"), params(engine, arch), params(fallback, "*"), params(fallback, arch))
        resolved = cal.resolve(engine, arch.split("/")[0], arch.split("/")[1])
        assert merged.params == resolved.params, engine


def test_fp8_without_fp8_units_has_its_own_factor():
    """vLLM runs FP8 checkpoints on Ampere as weight-only W8A16 through FP8 Marlin ("Turing/Ampere GPUs are supported
    for W8A16 (weight-only FP8) utilizing Marlin kernels", docs.vllm.ai/en/stable/features/quantization/fp8/): its
    factor is fitted on Ampere rows only, and the engine-wide FP8 factor (Hopper's W8A8 kernels) on none of them."""
    from gpuplan.catalog import get_gpu
    from gpuplan.perf.validation import load_dataset

    cal = load_calibration()
    ampere = cal._find("vllm", "ampere/datacenter")
    wide = cal._find("vllm", "*")
    assert "fp8-block" in ampere.params["format_mem_factors"]
    assert ampere.params["format_mem_factors"]["awq-int4"] == wide.params["format_mem_factors"]["awq-int4"]
    rows = {r.id: r for r in load_dataset(Path(__file__).parent / "data" / "calibration" / "gpustack-normalized.csv")}
    for rid in ampere.fitted_on["format_mem_factors"]:
        if rid in rows:
            assert get_gpu(rows[rid].gpu).architecture.lower() == "ampere" and rows[rid].weight_format == "fp8-block"
    for rid in wide.fitted_on["format_mem_factors"]:
        if rid in rows:
            assert get_gpu(rows[rid].gpu).peak_flops_per_s("fp8"), rid
    # Dense linears run FP8 Marlin, which "improves performance up to 2x in memory-bound scenarios"
    # (github.com/vllm-project/vllm/pull/5975): a dense FP8 model decodes faster than BF16 at batch 1; the routed
    # experts (fused Marlin MoE) have their own factor, fitted on the MoE rows.
    assert "fp8-block@experts" in ampere.params["format_mem_factors"]
    wl = Workload(input_tokens=500, output_tokens=200, concurrency=1)
    entry = get_model("Qwen/Qwen3-32B")
    bf16, fp8 = (estimate_serving(entry, Deployment(gpu_id="a100-80gb-sxm", engine="vllm", weight_format=f), wl)
                 for f in ("bf16", "fp8-block"))
    assert 1.5 < bf16.tpot_s / fp8.tpot_s <= 2.0


def test_user_calibration_overrides(tmp_path):
    user = tmp_path / "cal.toml"
    user.write_text('[[entry]]\nengine = "vllm"\narchitecture = "hopper"\nmem_efficiency_fraction = 0.5\n')
    cal = load_calibration(str(user)).resolve("vllm", "hopper")
    assert cal.params.mem_efficiency_fraction == 0.5 and cal.exact


def test_bad_user_calibration_is_a_sentence(tmp_path):
    user = tmp_path / "cal.toml"
    user.write_text('[[entry]]\nengine = "vllm"\nmem_efficiency_fraction = "fast"\n')
    with pytest.raises(GpuplanError) as err:
        load_calibration(str(user))
    assert "cal.toml" in str(err.value)


@pytest.mark.parametrize(("body", "said"), [
    # a misspelled parameter was silently ignored while the parameters were a pydantic model (extra keys ignored)
    ('mem_eficiency_fraction = 0.5\n', "unknown parameter 'mem_eficiency_fraction' (did you mean "
                                       "mem_efficiency_fraction"),
    ('mem_efficiency_fraction = [0.5]\n', "parameter mem_efficiency_fraction must be a number"),
    ('format_mem_factors = 0.5\n', "parameter format_mem_factors must be a table of numbers"),
    ('[entry.format_mem_factors]\nfp8 = "x"\n', "parameter format_mem_factors.fp8 must be a number"),
])
def test_user_calibration_names_and_types_are_checked(tmp_path, body, said):
    from gpuplan.errors import MalformedFileError

    user = tmp_path / "cal.toml"
    user.write_text('[[entry]]\nengine = "vllm"\narchitecture = "hopper"\n' + body)
    with pytest.raises(MalformedFileError) as err:
        load_calibration(str(user))
    text = str(err.value)
    assert text.startswith(f"The calibration file '{user}' cannot be read: ") and said in text
    assert text.endswith("Fix the file (same shape as the shipped calibration.toml) or leave it out.")
    assert text.count("\n") == 0


def test_user_calibration_numbers_are_taken_as_pydantic_took_them(tmp_path):
    """Whole numbers, numeric strings and factor tables load as floats (the shipped file writes 16 for 16.0)."""
    user = tmp_path / "cal.toml"
    user.write_text('[[entry]]\nengine = "vllm"\narchitecture = "hopper"\ncompute_half_m_tokens = 32\n'
                    'mem_efficiency_fraction = "0.5"\n[entry.format_mem_factors]\nfp8 = 2\n')
    params = load_calibration(str(user)).resolve("vllm", "hopper").params
    assert params.compute_half_m_tokens == 32.0 and type(params.compute_half_m_tokens) is float
    assert params.mem_efficiency_fraction == 0.5
    assert params.format_mem_factors["fp8"] == 2.0 and type(params.format_mem_factors["fp8"]) is float


# ----------------------------------------------------------------------------- golden (published measurements)


def test_golden_llamacpp_decode_h100_pcie_heldout():
    """Row M032 (held out of the fit): llama.cpp Llama-3-8B Q4_K_M tg1024 on H100 PCIe = 144.49 tok/s
    (llama.cpp discussion #15013 table via shared/calibration/measured-public.csv). Tolerance 25%: the P90 error
    `gpuplan validate` reports for held-out rows is of that order; this checks the pipeline end to end."""
    from gpuplan.perf.predict import predict_value
    from gpuplan.perf.validation import DatasetRow

    row = DatasetRow(id="M032", task="inference", model="meta-llama/Meta-Llama-3-8B", weight_format="gguf-q4_k_m",
                     gpu="h100-pcie", gpu_count=1, engine="llama.cpp", batch="1", input_tokens=0, output_tokens=1024,
                     metric="decode_tokens_per_s", value=144.49)
    assert predict_value(row) == pytest.approx(144.49, rel=0.25)


# ----------------------------------------------------------------------------- training


def test_training_formula_hand_worked():
    """tokens/s per GPU = peak16 · MFU / (6 · N_matmul + 3 · attention forward at s/2)."""
    entry = get_model("meta-llama/Llama-3.1-8B-Instruct")
    cal = Calibration(id="test", params=CalibrationParams(mfu_fraction=0.4), exact=True)
    dep = Deployment(gpu_id="h100-sxm", gpu_count=8, data_parallel_size=8)
    job = TrainingJob(task="full", sequence_length=8192, micro_batch_size=2, zero_stage=3, engine="fsdp")
    est = estimate_training(entry, dep, job, cal)
    tab = model_table(entry.id, "bf16", "bf16")
    fpt = 3 * (tab.gemm_flops_per_token + tab.expert_flops_per_token) \
        + 3 * tab.attention_flops_per_context_token * 8192 / 2
    from gpuplan.catalog import get_gpu

    peak = get_gpu("h100-sxm").dense_16bit_flops_per_s
    assert est.flops_per_token == pytest.approx(fpt)
    if not est.comm_bound:
        assert est.tokens_per_s_per_gpu == pytest.approx(peak * 0.4 / fpt, rel=1e-9)


def test_zero3_over_ethernet_is_comm_bound():
    """ZeRO-3 moves 3·Φ·2 B·(n−1)/n per step (ZeRO paper §7); full fine-tune of a 70B over two nodes at the inter-node
    rate is communication-bound at a small batch."""
    entry = get_model("meta-llama/Llama-3.1-70B-Instruct")
    dep = Deployment(gpu_id="h100-sxm", gpu_count=16, nodes=2, data_parallel_size=16)
    job = TrainingJob(task="full", sequence_length=2048, micro_batch_size=1, zero_stage=3, engine="fsdp",
                      tokens_to_train=1e9)
    est = estimate_training(entry, dep, job, internode_bytes_per_s=12.5e9)  # 100 Gb/s Ethernet
    assert est.comm_bound
    assert est.days_to_train is not None and est.gpu_hours == pytest.approx(est.days_to_train * 24 * 16)
    n = 16
    expected_comm = 3 * entry.arch.params_total * 2 * (n - 1) / n / 12.5e9
    assert est.comm_s == pytest.approx(expected_comm, rel=1e-9)
    assert math.isfinite(est.step_s)


def test_simulation_agrees_with_the_analytic_model():
    """The discrete-event simulation at a Poisson rate reproduces Little's law and the analytic TPOT."""
    from gpuplan.perf.simulate import simulate_serving

    entry, dep = _llama8b_h100()
    wl = Workload(input_tokens=1000, output_tokens=200, rate_per_s=5.0)
    est = estimate_serving(entry, dep, wl)
    sim = simulate_serving(entry, dep, wl, num_requests=200, seed=1)
    assert not sim.truncated and sim.num_requests == 200
    p50 = sim.rows[0]
    assert p50.tpot_s == pytest.approx(est.tpot_s, rel=0.25)
    assert sim.output_tokens_per_s == pytest.approx(5.0 * 200, rel=0.15)
    assert sim.rows[0].e2e_s <= sim.rows[1].e2e_s <= sim.rows[2].e2e_s


def test_data_parallel_replicas_split_the_load():
    """DP = 2 replicas (no DP-attention): twice one replica's throughput at half the concurrency each."""
    entry = get_model("meta-llama/Llama-3.1-8B-Instruct")
    one = estimate_serving(entry, Deployment(gpu_id="h100-sxm", engine="vllm"),
                           Workload(input_tokens=1000, output_tokens=200, concurrency=16))
    two = estimate_serving(entry, Deployment(gpu_id="h100-sxm", gpu_count=2, data_parallel_size=2, engine="vllm"),
                           Workload(input_tokens=1000, output_tokens=200, concurrency=32))
    assert two.output_tokens_per_s == pytest.approx(2 * one.output_tokens_per_s)
    assert two.tpot_s == pytest.approx(one.tpot_s)
    assert two.max_concurrency == 2 * one.max_concurrency


@pytest.mark.slow
def test_fit_script_reproduces_shipped_calibration(tmp_path):
    """scripts/fit_calibration.py is deterministic: re-running it on the same data gives the shipped file."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    public = root.parent / "shared" / "calibration" / "public-normalized.csv"
    if not public.exists():
        pytest.skip("shared/calibration is not checked out here")
    out = tmp_path / "calibration.toml"
    subprocess.run([sys.executable, str(root / "scripts" / "fit_calibration.py"), "--out", str(out)], check=True,
                   capture_output=True)
    shipped = root / "src" / "gpuplan" / "catalog" / "data" / "calibration.toml"
    assert out.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")


def test_pipeline_bubble_slows_training():
    entry = get_model("meta-llama/Llama-3.1-8B-Instruct")
    cal = Calibration(id="test", params=CalibrationParams(mfu_fraction=0.4), exact=True)
    job = TrainingJob(task="full", sequence_length=4096, micro_batch_size=1, global_batch_size=8, zero_stage=1,
                      engine="megatron")
    flat = estimate_training(entry, Deployment(gpu_id="h100-sxm", gpu_count=8, data_parallel_size=8), job, cal)
    piped = estimate_training(entry, Deployment(gpu_id="h100-sxm", gpu_count=8, pipeline_parallel_size=4,
                                                data_parallel_size=2), job, cal)
    # p = 4, dp = 2, m = 8 / (1 · 2) = 4 micro-batches: bubble 3/7, compute ÷ 4/7.
    assert piped.compute_s == pytest.approx(flat.compute_s * 7 / 4)
