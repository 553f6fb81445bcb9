"""Issue 13: the per-operator step model, engine versions, hybrid CPU+GPU, fail-closed calibration cells."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpuplan.catalog import get_model
from gpuplan.errors import InvalidInputError
from gpuplan.perf import CalibrationParams, estimate_serving
from gpuplan.perf.calibration import Calibration
from gpuplan.perf.engine_version import newest_version, parse_engine_spec, version_covered, version_key
from gpuplan.perf.operations.attention import sparse_key_fraction
from gpuplan.perf.operations.host import host_experts_op
from gpuplan.perf.step import Hardware, decode_step
from gpuplan.perf.tables import model_table
from gpuplan.perf.validation import model_family, parse_dataset, validate_rows
from gpuplan.spec import ENGINES, Deployment, Workload

_BARE = CalibrationParams(mem_efficiency_fraction=1.0, compute_efficiency_fraction=1.0, compute_half_m_tokens=1e-9,
                          step_overhead_s=0.0, layer_overhead_s=0.0, seq_overhead_s=0.0, allreduce_latency_s=0.0,
                          host_mem_efficiency_fraction=1.0, host_compute_efficiency_fraction=1.0)


# ----------------------------------------------------------------------------- operators


def test_operations_sum_to_the_step_and_name_their_bound():
    tab = model_table("deepseek-ai/DeepSeek-V3", "fp8-block", "bf16", 8, 1, 1)
    hw = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12, tp=8,
                  intra_node_bytes_per_s=450e9)
    st = decode_step(tab, hw, CalibrationParams(), "fp8-block", batch=8, context_tokens=2000)
    names = [op.name for op in st.operations]
    assert {"dense_gemm", "moe_experts", "attention", "tp_allreduce", "overhead", "sampling"} <= set(names)
    assert sum(op.time_s for op in st.operations) == pytest.approx(st.total_s, rel=1e-12)
    for op in st.operations:
        assert op.bound in ("memory", "compute", "communication", "host_memory", "host_compute", "overhead")
        if op.bound in ("memory", "compute"):
            assert op.time_s == pytest.approx(max(op.memory_s, op.compute_s))
    # Batch-8 decode of a 671B MoE streams weights: the experts are memory-bound, not compute-bound (issue 13).
    assert next(op for op in st.operations if op.name == "moe_experts").bound == "memory"


def test_mla_prefill_is_unabsorbed_decode_absorbed():
    """DeepSeek-V3 (config.json): 128 heads, qk_nope 128 + rope 64, v 128, kv_lora_rank 512, 61 layers.
    Decode (absorbed): 2·128·(2·512 + 64) = 278,528 FLOP per pair per layer; prefill (MHA over decompressed KV):
    2·128·(192 + 128) = 81,920 (DeepSeek-V2 §2.1.2)."""
    tab = model_table("deepseek-ai/DeepSeek-V3", "fp8-block", "bf16", 8, 1, 1)
    assert tab.attention_flops_per_context_token == pytest.approx(61 * 278_528)
    assert tab.attention_flops_per_context_token_prefill == pytest.approx(61 * 81_920)


def test_v32_sparse_attention_reads_topk_keys():
    """DeepSeek-V3.2 DSA: index_topk = 2048 (config.json); at 32k context the main attention reads 2048/32000."""
    tab = model_table("deepseek-ai/DeepSeek-V3.2", "fp8-block", "bf16", 8, 1, 1)
    assert tab.sparse_topk_tokens == 2048
    assert tab.indexer_kv_bytes_per_context_token_per_gpu > 0
    assert sparse_key_fraction(32_000, 2048) == pytest.approx(2048 / 32_000)
    assert sparse_key_fraction(1000, 2048) == 1.0
    hw = Hardware(memory_bandwidth_bytes_per_s=4.8e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12, tp=8)
    short = decode_step(tab, hw, _BARE, "fp8-block", batch=64, context_tokens=2048)
    long = decode_step(tab, hw, _BARE, "fp8-block", batch=64, context_tokens=32_768)
    att = {s: next(op for op in st.operations if op.name == "attention") for s, st in (("s", short), ("l", long))}
    # 16× the context costs far less than 16× the attention time: only the indexer part grows.
    assert att["l"].time_s < 8 * att["s"].time_s


def test_four_bit_decode_is_not_hidden_under_a_compute_floor():
    """Issue 13: a 7B on an A100 hit a 4.3 ms per-step floor that hid 4-bit speed-ups. Batch-1 decode of AWQ int4
    (≈ 4.25 bits/weight) must be faster than bf16 by well over 2× on the shipped calibration."""
    entry = get_model("Qwen/Qwen2.5-7B-Instruct")
    wl = Workload(input_tokens=500, output_tokens=200, concurrency=1)
    bf16 = estimate_serving(entry, Deployment(gpu_id="a100-80gb-sxm", engine="vllm", weight_format="bf16"), wl)
    int4 = estimate_serving(entry, Deployment(gpu_id="a100-80gb-sxm", engine="vllm", weight_format="awq-int4"), wl)
    assert bf16.tpot_s / int4.tpot_s > 2.0
    assert next(o for o in int4.decode_step_operations if o.name == "dense_gemm").bound == "memory"


def test_qwen3_32b_h200_sglang_batch1_tpot_class():
    """Issue 13: Qwen3-32B on one H200, SGLang, concurrency 1: measurements of this class give ≈ 18–20 ms TPOT
    (the issue's figure); the estimate was 37 ms. The band must now contain 19 ms."""
    est = estimate_serving(get_model("Qwen/Qwen3-32B"), Deployment(gpu_id="h200-sxm", engine="sglang"),
                           Workload(input_tokens=1000, output_tokens=1000, concurrency=1))
    lo, hi = est.tpot_s * (1 - est.uncertainty_fraction), est.tpot_s * (1 + est.uncertainty_fraction)
    assert lo <= 0.019 <= hi
    assert est.bottleneck == "memory_bandwidth"


# ----------------------------------------------------------------------------- hybrid CPU + GPU


def test_host_experts_hand_worked():
    # 10 GB at 100 GB/s = 0.1 s vs 1e12 FLOP at 1e13 FLOP/s = 0.1 s → tie goes to memory; 10× FLOPs → compute.
    op = host_experts_op(expert_bytes=10e9, flops=1e12, host_bytes_per_s=100e9, host_flops_per_s=1e13)
    assert op.time_s == pytest.approx(0.1) and op.bound == "host_memory"
    op = host_experts_op(expert_bytes=10e9, flops=1e13, host_bytes_per_s=100e9, host_flops_per_s=1e13)
    assert op.time_s == pytest.approx(1.0) and op.bound == "host_compute"
    op = host_experts_op(expert_bytes=10e9, flops=1e13, host_bytes_per_s=100e9, host_flops_per_s=0.0)
    assert op.bound == "host_memory"  # no stated CPU rate: memory only


def test_ktransformers_rows_decode_bandwidth_prefill_compute():
    """KTransformers V0.2.1 DeepSeek-V3 Q4_K_M, RTX 4090 + 2 × Xeon Gold 6454S (public-2 N050/N051, the tutorial at
    github.com/kvcache-ai/ktransformers doc/en/DeepseekR1_V3_tutorial.md): decode 13.5 tokens/s, prefill 88.2
    tokens/s. Decode is host-memory-bound and prefill host-compute-bound; both within 25% on the shipped fit."""
    text = ("id,task,model,weight_format,kv_dtype,gpu,gpu_count,engine,tensor_parallel_size,batch,input_tokens,"
            "output_tokens,metric,value,host,engine_version,source_id\n"
            "N050,inference,deepseek-ai/DeepSeek-V3,gguf-q4_k_m,,rtx-4090,1,ktransformers,,1,969,300,"
            "decode_tokens_per_s,13.5,server-ddr5-8ch-2s,,N050\n"
            "N051,inference,deepseek-ai/DeepSeek-V3,gguf-q4_k_m,,rtx-4090,1,ktransformers,,1,969,0,"
            "prefill_tokens_per_s,88.2,server-ddr5-8ch-2s,,N051\n")
    rep = validate_rows(parse_dataset(text, "kt.csv"))
    for r in rep.rows:
        assert r.ape_fraction is not None and r.ape_fraction < 0.25, r


def test_n_cpu_moe_puts_part_of_the_experts_on_the_host():
    entry = get_model("Qwen/Qwen3-30B-A3B")
    wl = Workload(input_tokens=500, output_tokens=100, concurrency=1)
    base = dict(gpu_id="rtx-4090", engine="llama.cpp", weight_format="gguf-q4_k_m", offload="experts",
                host_id="desktop-ddr5-2ch")
    all_host = estimate_serving(entry, Deployment(**base), wl)
    half = estimate_serving(entry, Deployment(**base, cpu_moe_layers=24), wl)
    assert half.tpot_s < all_host.tpot_s
    names = {o.name for o in half.decode_step_operations}
    assert {"host_experts", "moe_experts"} <= names


# ----------------------------------------------------------------------------- engine versions, calibration rows


def test_parse_engine_spec():
    assert parse_engine_spec("sglang==0.5.6", ENGINES) == ("sglang", "0.5.6")
    assert parse_engine_spec("vllm", ENGINES) == ("vllm", None)
    assert parse_engine_spec("SGLang == 0.5.6.post2", ENGINES) == ("sglang", "0.5.6.post2")
    for bad in ("foo==1", "sglang==", "sglang==abc", ""):
        with pytest.raises(InvalidInputError):
            parse_engine_spec(bad, ENGINES)


def test_version_comparison():
    assert version_key("0.5.6.post2") == (0, 5, 6, 2)
    assert version_key("b7315") == (7315,)
    assert version_covered("0.5.6", ["0.5.3", "0.5.7"]) is True
    assert version_covered("0.4.0", ["0.5.3", "0.5.7"]) is False
    assert version_covered("0.5.6", []) is None
    assert newest_version(["0.5.3", "0.5.6.post2", "0.5.10"]) == "0.5.10"


def test_estimate_states_calibration_rows_and_widens_outside_versions():
    entry = get_model("deepseek-ai/DeepSeek-R1-0528")
    dep = Deployment(gpu_id="h200-sxm", gpu_count=8, tensor_parallel_size=8, engine="sglang",
                     weight_format="fp8-block")
    wl = Workload(input_tokens=1000, output_tokens=1000, concurrency=8)
    inside = estimate_serving(entry, dep.model_copy(update={"engine_version": "0.5.6"}), wl)
    outside = estimate_serving(entry, dep.model_copy(update={"engine_version": "0.3.0"}), wl)
    assert inside.calibration_rows > 0 and inside.calibration_versions
    assert "speedmodel.assume_version_outside" in outside.assumptions
    assert outside.uncertainty_fraction > inside.uncertainty_fraction


def test_no_rows_doubles_the_band():
    entry = get_model("meta-llama/Llama-3.1-8B-Instruct")
    wl = Workload(input_tokens=500, output_tokens=100, concurrency=4)
    dep = Deployment(gpu_id="h100-sxm", engine="vllm")
    priors = Calibration(id="priors", params=CalibrationParams(uncertainty_fraction=0.2), exact=True, rows=0)
    backed = Calibration(id="fit", params=CalibrationParams(uncertainty_fraction=0.2), exact=True, rows=12)
    a = estimate_serving(entry, dep, wl, priors)
    b = estimate_serving(entry, dep, wl, backed)
    assert a.calibration_rows == 0 and "speedmodel.assume_no_rows" in a.assumptions
    assert a.uncertainty_fraction == pytest.approx(2 * b.uncertainty_fraction)


def test_validate_groups_by_engine_version_and_family():
    text = ("id,task,model,weight_format,kv_dtype,gpu,gpu_count,engine,tensor_parallel_size,batch,input_tokens,"
            "output_tokens,metric,value,host,engine_version,source_id\n"
            "N040,serving,deepseek-ai/DeepSeek-R1-0528,fp8-block,,h200-sxm,8,sglang,8,8,1024,1024,itl_s,0.0128,,"
            "0.5.7,N040\n"
            "N066,serving,meta-llama/Llama-3.1-8B-Instruct,fp8,fp8,l40s,1,trtllm,1,max,128,128,output_tokens_per_s,"
            "9104.61,,0.17,N066\n")
    rep = validate_rows(parse_dataset(text, "t.csv"))
    assert set(rep.by_engine) == {"sglang 0.5.7", "trtllm 0.17"}
    assert set(rep.by_family) == {"deepseek-mla-moe", "dense"}
    assert "moe serving (all MoE families)" in rep.heldout_by_family  # N040 is held out (40 % 4 == 0)
    assert model_family("Qwen/Qwen3-30B-A3B") == "moe"


# ----------------------------------------------------------------------------- GPUStack rows (data)

_GPUSTACK = Path(__file__).resolve().parent / "data" / "calibration" / "gpustack-normalized.csv"


def test_gpustack_rows_are_sourced_and_predictable():
    """Every GPUStack row has its quote (URL at a commit, the command, the quoted numbers) in gpustack-sources.md,
    names a catalog model and GPU, and is predicted by validate."""
    from gpuplan.perf.validation import load_dataset

    rows = load_dataset(_GPUSTACK)
    sources = _GPUSTACK.with_name("gpustack-sources.md").read_text(encoding="utf-8")
    assert len(rows) >= 100
    for r in rows:
        block = sources.split(f"### {r.id} ")[1].split("### ")[0]
        assert "github.com/gpustack/gpustack/blob/" in block and f"Output token throughput (tok/s): {r.value:g}" in block
        assert r.engine_version and r.batch and int(r.batch) >= 1
        # The batch is the client's --max-concurrency where the block states one, never vLLM bench's "Peak concurrent
        # requests" (qwen3-30b-a3b/910b.md L322-L329: "Maximum request concurrency: 4", "Peak concurrent requests:
        # 7.00"); otherwise all the block's prompts, sent at once.
        assert (f"'Maximum request concurrency: {r.batch}'" in block
                or f"'Successful requests: {r.batch}' sent at once (no 'Maximum request concurrency')" in block), r.id
        # GPUs = TP x PP of the command (vllm serve ... -pp 2 runs on 2 GPUs).
        pp = re.search(r" -pp (\d+)", block)
        assert r.gpu_count == (r.tensor_parallel_size or 1) * (int(pp.group(1)) if pp else 1), r.id
    rep = validate_rows(rows)
    # Every row is predicted, except on a GPU whose rates the catalog does not state (Ascend 910B before its rates
    # are added): those say why.
    for r in rep.unpredicted:
        assert r.gpu == "ascend-910b" and "ascend-910b" in (r.reason or ""), r
    assert rep.rows_predicted >= len(rows) - 10


# ----------------------------------------------------------------------------- measured extra (AIConfigurator)


def test_measured_adapter_converts_units(monkeypatch):
    """perf.measured turns AIConfigurator's milliseconds into the row's metric: predict_decode_latency(bs, isl, osl)
    is (osl − 1) steps in ms (0.12.0: osl = 2 → one step), predict_prefill_latency(bs, isl) one prefill in ms. A stub
    stands in for the optional package (not installed in the test environment); its numbers are arbitrary."""
    import sys
    import types

    from gpuplan.perf import measured

    calls = []

    class Handle:
        @classmethod
        def compile(cls, model, system, backend, **kw):
            calls.append((model, system, backend, kw["tp_size"]))
            return cls()

        def predict_decode_latency(self, bs, isl, osl):
            return 12.5 * (osl - 1)

        def predict_prefill_latency(self, bs, isl, prefix=0):
            return 250.0

    pkg = types.ModuleType("aiconfigurator_core")
    sdk = types.ModuleType("aiconfigurator_core.sdk")
    sdk.EngineHandle = Handle
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", pkg)
    monkeypatch.setitem(sys.modules, "aiconfigurator_core.sdk", sdk)
    measured._engine.cache_clear()
    text = ("id,task,model,weight_format,kv_dtype,gpu,gpu_count,engine,tensor_parallel_size,batch,input_tokens,"
            "output_tokens,metric,value,host,engine_version,source_id\n"
            "X1,serving,deepseek-ai/DeepSeek-R1-0528,fp8-block,,h200-sxm,8,sglang,8,8,1024,1024,itl_s,0.0128,,,X1\n"
            "X2,serving,deepseek-ai/DeepSeek-R1-0528,fp8-block,,h200-sxm,8,sglang,8,8,1024,1024,ttft_s,0.3306,,,X2\n"
            "X3,inference,meta-llama/Llama-2-7b-hf,gguf-q4_0,,rtx-4090,1,llama.cpp,,1,512,128,"
            "decode_tokens_per_s,150,,,X3\n")
    rows = parse_dataset(text, "m.csv")
    assert measured.measured_value(rows[0]).value == pytest.approx(0.0125)
    assert measured.measured_value(rows[1]).value == pytest.approx(0.25)
    assert measured.measured_value(rows[2]).value is None  # GeForce + llama.cpp: not covered
    assert calls[0] == ("deepseek-ai/DeepSeek-R1", "h200_sxm", "sglang", 8)
    rep = validate_rows(rows, measured=True)
    assert rep.measured is not None and rep.measured.rows == 2
    assert rep.measured.aic_median_ape_fraction == pytest.approx(
        (abs(0.0125 - 0.0128) / 0.0128 + abs(0.25 - 0.3306) / 0.3306) / 2)
    measured._engine.cache_clear()


def test_validate_without_the_extra_has_no_comparison():
    from gpuplan.perf.measured import measured_available

    text = ("id,task,model,weight_format,kv_dtype,gpu,gpu_count,engine,tensor_parallel_size,batch,input_tokens,"
            "output_tokens,metric,value\n"
            "X1,serving,deepseek-ai/DeepSeek-R1-0528,fp8-block,,h200-sxm,8,sglang,8,8,1024,1024,itl_s,0.0128\n")
    rep = validate_rows(parse_dataset(text, "m.csv"), measured=False)
    assert rep.measured is None
    if not measured_available():
        assert validate_rows(parse_dataset(text, "m.csv")).measured is None


# ----------------------------------------------------------------------------- more operator formulas, hand-worked


def test_elementwise_stays_in_l2_for_decode_and_streams_for_prefill():
    """Element-wise traffic reaches DRAM only when one activation tensor (tokens × hidden × 2 B) exceeds the 50 MB L2
    of an H100 (NVIDIA H100 whitepaper). DeepSeek-V3 hidden 7168: 256 tokens = 3.67 MB (cached, 0 s); 8192 tokens =
    117 MB → 8192 × 20 · 7168 · 2 · 61 B = 143.3 GB at 1 TB/s = 0.1433 s."""
    from gpuplan.perf.operations.elementwise import elementwise_op, sampling_op

    per_token = 20 * 7168 * 2 * 61
    assert elementwise_op(bytes_per_token=per_token, tokens=256, bytes_per_s=1e12,
                          hidden_bytes_per_token=7168 * 2).time_s == 0.0
    op = elementwise_op(bytes_per_token=per_token, tokens=8192, bytes_per_s=1e12, hidden_bytes_per_token=7168 * 2)
    assert op.time_s == pytest.approx(8192 * per_token / 1e12)
    # Sampling: vocab 129,280 (DeepSeek-V3 config.json) × 4 B × 100 sequences at 1 TB/s = 51.7 µs.
    assert sampling_op(vocab_size=129_280, num_seqs=100, bytes_per_s=1e12).time_s == pytest.approx(5.1712e-5)


def test_internode_latency_applies_when_tp_spans_nodes():
    # TP 16 over two 8-GPU nodes: 2·15 ring steps × α per all-reduce; α_inter = 20 µs vs α_intra = 1 µs.
    tab = model_table("deepseek-ai/DeepSeek-V3", "fp8-block", "bf16", 16, 1, 1)
    cal = CalibrationParams(allreduce_latency_s=1e-6, internode_latency_s=2e-5)
    base = dict(memory_bandwidth_bytes_per_s=3.35e12, gemm_flops_per_s=1979e12, attention_flops_per_s=989e12, tp=16,
                intra_node_bytes_per_s=50e9)
    inside = decode_step(tab, Hardware(**base), cal, "fp8-block", batch=1, context_tokens=100)
    across = decode_step(tab, Hardware(**base, tp_spans_nodes=True), cal, "fp8-block", batch=1, context_tokens=100)
    ar = {n: next(o for o in st.operations if o.name == "tp_allreduce").time_s
          for n, st in (("in", inside), ("x", across))}
    # 61 layers × 2 all-reduces × 30 steps × (20 − 1) µs.
    assert ar["x"] - ar["in"] == pytest.approx(61 * 2 * 30 * 19e-6, rel=1e-9)


def test_family_factor_scales_only_its_family():
    cal = CalibrationParams(family_mem_factors={"qwen": 0.5})
    assert cal.mem_factor("bf16", "qwen") == 0.5
    assert cal.mem_factor("bf16", "llama") == 1.0
    q = model_table("Qwen/Qwen3-8B", "bf16", "bf16", 1, 1, 1)
    hw = Hardware(memory_bandwidth_bytes_per_s=1e12, gemm_flops_per_s=1e15, attention_flops_per_s=1e15)
    slow = decode_step(q, hw, cal, "bf16", batch=1, context_tokens=0)
    fast = decode_step(q, hw, CalibrationParams(), "bf16", batch=1, context_tokens=0)
    dense = {n: next(o for o in st.operations if o.name == "dense_gemm").time_s for n, st in (("s", slow), ("f", fast))}
    assert dense["s"] == pytest.approx(2 * dense["f"])


def test_host_layers_hand_worked():
    from gpuplan.perf.operations.host import host_layers_op

    # 20 GB on the host at 50 GB/s → 0.4 s per pass.
    op = host_layers_op(weight_bytes=20e9, host_bytes_per_s=50e9)
    assert op.time_s == pytest.approx(0.4) and op.bound == "host_memory"


def test_estimate_measured_without_the_extra_is_one_sentence():
    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app
    from gpuplan.perf.measured import measured_available

    if measured_available():
        pytest.skip("aiconfigurator-core is installed here; the sentence is for machines without it")
    res = CliRunner().invoke(build_app(), ["estimate", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "8", "--engine",
                                           "sglang==0.5.6", "--input-tokens", "1000", "--output-tokens", "100",
                                           "--measured"])
    assert res.exit_code == 2 and "pip install 'gpuplan[measured]'" in res.output
    assert "Traceback" not in res.output


def test_estimate_json_breakdowns_sum_to_their_steps():
    est = estimate_serving(get_model("deepseek-ai/DeepSeek-R1-0528"),
                           Deployment(gpu_id="h200-sxm", gpu_count=8, tensor_parallel_size=8, engine="sglang",
                                      weight_format="fp8-block"),
                           Workload(input_tokens=4000, output_tokens=200, concurrency=16))
    assert sum(o.time_s for o in est.decode_step_operations) == pytest.approx(est.decode_step_s)
    assert sum(o.share_fraction for o in est.decode_step_operations) == pytest.approx(1.0)
    assert sum(o.share_fraction for o in est.prefill_operations) == pytest.approx(1.0)
    # A 4000-token prefill on 8 × H200 is compute-bound in its GEMMs, unlike the decode step.
    assert next(o for o in est.prefill_operations if o.name == "moe_experts").bound == "compute"


def test_plan_takes_engine_versions_and_widens_outside_them(tmp_path):
    """plan --engine sglang==VERSION goes through the same parser as estimate; a version outside the measured range
    widens every candidate's band."""
    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app
    from gpuplan.planfile import PlanFile

    runner = CliRunner()
    bands = {}
    for version in ("0.5.6", "0.4.0"):
        out = tmp_path / f"plan-{version}.yaml"
        res = runner.invoke(build_app(), ["plan", "deepseek-r1", "--gpu", "h200-sxm", "--engine", f"sglang=={version}",
                                          "--users", "64", "--input-tokens", "1000", "--output-tokens", "500",
                                          "--tpot-ms", "100", "-o", str(out)])
        assert res.exit_code == 0, res.output
        plan = PlanFile.load(out)
        bands[version] = plan.candidates[0].perf.uncertainty_fraction
        assert plan.candidates[0].perf.calibration_rows > 0
    assert bands["0.4.0"] > bands["0.5.6"]
