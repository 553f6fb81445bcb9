"""Prefill/decode disaggregation with wide EP: published per-node figures reproduced from kernel rates.

Sources (conditions quoted in each test):
* [DS6] DeepSeek, "Day 6 — DeepSeek-V3/R1 Inference System Overview", github.com/deepseek-ai/open-infra-index
  (202502OpenSourceWeek), 2025-03-01: prefill EP32 over 4 H800 nodes, decode EP144 over 18 nodes, DP-attention;
  608B input tokens/day of which 56.3% hit the on-disk KV cache; 168B output tokens; mean KV length per output
  token 4,989; "each H800 node delivers an average throughput of ~73.7k tokens/s input (including cache hits) during
  prefilling or ~14.8k tokens/s output during decoding".
* [LMSYS] The SGLang Team, "Deploying DeepSeek with PD Disaggregation and Large-scale Expert Parallelism on 96 H100
  GPUs", lmsys.org/blog/2025-05-05-large-scale-ep: 52.3k input / 22.3k output tokens/s per node for 2000-token
  inputs; prefill on 4 nodes (EP32) at 16,384 tokens per device; decode on 9 nodes (EP72) at batch 256 per GPU,
  KV length 2,000: 22,282 tokens/s per node. Its "Profile Results" table also restates DeepSeek's own profile
  (github.com/deepseek-ai/profile-data): prefill 62,713 tokens/s per node (4,096-token inputs, 16,384 tokens per
  device), decode 18,598 per node (batch 128, KV 4,096, 16 nodes).
"""

from __future__ import annotations

import pytest

from gpuplan.catalog import get_model
from gpuplan.errors import InvalidInputError
from gpuplan.perf.disagg import (
    DisaggDeployment,
    activation_bytes_per_token,
    dispatch_bytes_per_token,
    estimate_disaggregated,
    expected_nodes_touched,
    largest_activation_bytes_per_token,
)

TOLERANCE = 0.25  # the brief's bar for reproducing a published system-level figure from first principles

R1 = "deepseek-r1"


def _ds_day6(**over) -> DisaggDeployment:
    base = {"gpu_id": "h800-sxm", "prefill_nodes": 4, "decode_nodes": 18, "weight_format": "fp8-block",
            "kv_dtype": "bf16", "decode_batch_per_gpu": 128, "speculative_tokens": 1}
    return DisaggDeployment(**{**base, **over})


def _sglang_96(**over) -> DisaggDeployment:
    base = {"gpu_id": "h100-sxm", "prefill_nodes": 4, "decode_nodes": 9, "weight_format": "fp8-block",
            "kv_dtype": "bf16", "decode_batch_per_gpu": 256}
    return DisaggDeployment(**{**base, **over})


# Day-6 prompt length: input/output = 608B/168B = 3.62 and the mean decode context input + output/2 = 4,989 give
# output = 4989 / (3.62 + 0.5) = 1,211 and input = 1211 · 3.62 = 4,383 tokens per request.
DS_OUTPUT = round(4989 / (608 / 168 + 0.5))
DS_INPUT = round(DS_OUTPUT * 608 / 168)

# Decode is built on DeepSeek's decode pipeline (profile-data decode figure; SGLang's `_compute_moe_deepseek_blog_decode`
# strategy): a micro-batch's dispatch hides only under its shared experts and the other micro-batch's ATTN-0, its combine
# only under the other's ATTN-1, and the routed-expert GEMMs run with nothing in flight. Until 2026-12 the model hid
# all communication behind all computation (max(compute, comm)) and was 33% (SGLang) and 28% (DeepSeek profile) too
# fast; with the pipeline both land within 7%, from the same unit-test kernel rates (nothing fitted to these figures).
# DeepSeek's day-6 figures are day averages of a production service, not saturated nodes: the 25% reproduction stays a
# strict xfail carrying the figures the model gives, and a separate test checks the model bounds them from above.
GAP = "day averages of a production service, not saturated nodes: see comment above"


def test_formulas_hand_worked():
    # FP8 dispatch of a 7168-wide token: 7168 bytes + 56 FP32 scales = 7392 bytes.
    assert dispatch_bytes_per_token(7168) == 7392
    # Node-limited routing: 8 experts over 4 nodes touch 4·(1 − 0.75^8) = 3.600 nodes; over 18 nodes min(4, 6.3) = 4.
    assert expected_nodes_touched(4, 8) == pytest.approx(3.5995, abs=1e-3)
    assert expected_nodes_touched(18, 8) == 4.0
    assert expected_nodes_touched(1, 8) == 1.0
    # MLA prefill (no absorption, the table's prefill figure): 2 · 128 heads · (128 + 64 + 128) per layer, 61 layers.
    from gpuplan.perf.tables import model_table

    tab = model_table(get_model(R1).id, "fp8-block", "bf16", 32, 32, 32)
    assert tab.attention_flops_per_context_token_prefill == 61 * 2 * 128 * 320
    # The widest activation per token: a dense layer's gate/up outputs, 2 · 18,432 · 2 B = 73,728 B (8 experts' are
    # 8 · 2 · 2048 · 2 = 65,536) — a 128-token decode micro-batch (9.4 MB) stays in the 50 MB L2, an 8,192-token prefill
    # micro-batch (604 MB) does not.
    assert largest_activation_bytes_per_token(get_model(R1).arch) == 73_728
    assert (DS_INPUT, DS_OUTPUT) == (4383, 1211)
    # Glue traffic per token, DeepSeek-V3 prefill (MLA not absorbed), bytes written + read back:
    # attention 2·7168 + 7392 + 2·(1536+512+64) + 2·128·192 + 2·128·256 + 2·128·128 + 128·128 + 4·7168 = 218,464;
    # MoE layer 2·7168 + 7392 + 2·8·7392 + 8·(4·2048 + 2048 + 64 + 2·7168) + 8·2·7168 + (4·2048 + 2048 + 2·7168)
    #   + 2·7168 = 490,720; dense layer 2·7168 + 7392 + (4·18432 + 18432 + 576 + 2·7168) + 2·7168 = 143,136.
    # Whole model: 2 · (61 · 218,464 + 58 · 490,720 + 3 · 143,136) = 84,434,944 bytes.
    assert activation_bytes_per_token(get_model(R1).arch, absorbed=False) == pytest.approx(84_434_944, rel=1e-9)


def test_deepep_rate_interpolation_hand_worked():
    from gpuplan.perf.disagg import DEEPEP_LL_DISPATCH_BYTES_PER_S, _by_ep

    # EP72 between the measured EP64 (43 GB/s) and EP128 (39 GB/s), log-linear: w = ln(72/64)/ln 2 = 0.16993,
    # 43 − 0.16993 · 4 = 42.320 GB/s; outside the table the nearest measurement.
    assert _by_ep(DEEPEP_LL_DISPATCH_BYTES_PER_S, 72) == pytest.approx(42.320e9, rel=1e-4)
    assert _by_ep(DEEPEP_LL_DISPATCH_BYTES_PER_S, 512) == 39e9
    assert _by_ep(DEEPEP_LL_DISPATCH_BYTES_PER_S, 4) == 98e9


def test_decode_step_grows_with_batch_and_overlap_is_chosen_when_it_helps():
    entry = get_model(R1)
    small = estimate_disaggregated(entry, _sglang_96(decode_batch_per_gpu=4), input_tokens=2000, output_tokens=100)
    big = estimate_disaggregated(entry, _sglang_96(decode_batch_per_gpu=256), input_tokens=2000, output_tokens=100)
    assert big.decode.step_s > small.decode.step_s
    assert big.decode.tokens_per_s_per_node > small.decode.tokens_per_s_per_node
    # Two-batch overlap re-reads the weights per micro-batch: off at 4 sequences per GPU, on at 256 (LMSYS measured
    # −27% at 32 tokens per device and +25.5% at 256).
    assert not small.decode.two_batch_overlap and big.decode.two_batch_overlap


def test_sglang_96xh100_prefill_per_node():
    # [LMSYS]: 52.3k input tokens/s per node at 2000-token inputs (4 prefill nodes, EP32, 16,384 tokens per device).
    est = estimate_disaggregated(get_model(R1), _sglang_96(), input_tokens=2000, output_tokens=100)
    assert est.prefill.tokens_per_s_per_node == pytest.approx(52_300, rel=TOLERANCE)


def test_sglang_96xh100_decode_per_node():
    # [LMSYS]: 22,282 output tokens/s per node, 9 decode nodes (EP72), batch 256 per GPU, KV length 2,000, no MTP.
    # The model gives 23.8k (+6.8%; 29.6k, +33%, before the decode pipeline was modeled).
    est = estimate_disaggregated(get_model(R1), _sglang_96(), input_tokens=2000, output_tokens=100,
                                 context_tokens=2000)
    assert est.decode.tokens_per_s_per_node == pytest.approx(22_282, rel=TOLERANCE)


def test_deepseek_profile_prefill_per_node():
    # DeepSeek profile as restated by [LMSYS]: 62,713 tokens/s per node, 4,096-token inputs, 16,384 per device, EP32.
    est = estimate_disaggregated(get_model(R1), _ds_day6(decode_nodes=16), input_tokens=4096, output_tokens=100)
    assert est.prefill.tokens_per_s_per_node == pytest.approx(62_713, rel=TOLERANCE)


def test_deepseek_profile_decode_per_node():
    # DeepSeek profile as restated by [LMSYS]: 18,598 tokens/s per node at batch 128, KV 4,096, 16 nodes; MTP with
    # one draft token accepted at 85% (DeepSeek-V3 report §5.4.3: 85–90%). The model gives 19.5k (+4.8%; 23.9k, +28%,
    # before the decode pipeline was modeled).
    est = estimate_disaggregated(get_model(R1), _ds_day6(decode_nodes=16), input_tokens=4096, output_tokens=100,
                                 context_tokens=4096)
    assert est.decode.tokens_per_s_per_node == pytest.approx(18_598, rel=TOLERANCE)


@pytest.mark.xfail(strict=True, reason=GAP + ": prefill 114k vs 73.7k (+55%), decode 19.5k vs 14.8k (+32%)")
def test_deepseek_day6_production_per_node():
    # [DS6]: 73.7k input tokens/s (incl. 56.3% cache hits) per prefill node and 14.8k output tokens/s per decode node,
    # day averages of the production service. The model gives what a saturated node does; a day average must not
    # exceed it, and the production/peak ratio is reported by the test's numbers.
    est = estimate_disaggregated(get_model(R1), _ds_day6(), input_tokens=DS_INPUT, output_tokens=DS_OUTPUT,
                                 prefix_cache_hit_fraction=0.563, context_tokens=4989)
    assert est.prefill.tokens_per_s_per_node == pytest.approx(73_700, rel=TOLERANCE)
    assert est.decode.tokens_per_s_per_node == pytest.approx(14_800, rel=TOLERANCE)


def test_deepseek_day6_production_is_below_the_saturated_model():
    # [DS6] day averages (73.7k input / 14.8k output tokens/s per node) cannot exceed what a saturated node of the same
    # layout does. The model is an upper bound with room: production/model = 0.64 (prefill) and 0.76 (decode) — and
    # [LMSYS] finds the same of DeepSeek's own profile: "DeepSeek's profile reports a throughput roughly twice that of
    # its production environment" (prefill, excluding cache hits: 32,206 vs 62,713 per node).
    est = estimate_disaggregated(get_model(R1), _ds_day6(), input_tokens=DS_INPUT, output_tokens=DS_OUTPUT,
                                 prefix_cache_hit_fraction=0.563, context_tokens=4989)
    prefill_ratio = 73_700 / est.prefill.tokens_per_s_per_node
    decode_ratio = 14_800 / est.decode.tokens_per_s_per_node
    assert 0.5 < prefill_ratio < 1.0 and 0.5 < decode_ratio < 1.0
    assert prefill_ratio == pytest.approx(0.64, abs=0.01) and decode_ratio == pytest.approx(0.76, abs=0.01)


def test_decode_moe_layer_hand_worked():
    from gpuplan.perf.disagg import decode_moe_layer_s

    # With overlap (µs per micro-batch): max(40 + 60, 180) + 100 + max(140, 330) = 610, twice for the two micro-batches
    # = 1,220; exposed communication 2 · ((180 − 100) + (330 − 140)) = 540.
    t, exposed = decode_moe_layer_s(attn_pre_s=60e-6, attn_post_s=140e-6, shared_s=40e-6, experts_s=100e-6,
                                    dispatch_s=180e-6, combine_s=330e-6, overlap=True)
    assert t == pytest.approx(1220e-6) and exposed == pytest.approx(540e-6)
    # Attention long enough to hide both transfers: the layer is pure computation, 2 · (300 + 100 + 400) = 1,600.
    t, exposed = decode_moe_layer_s(attn_pre_s=260e-6, attn_post_s=400e-6, shared_s=40e-6, experts_s=100e-6,
                                    dispatch_s=180e-6, combine_s=330e-6, overlap=True)
    assert t == pytest.approx(1600e-6) and exposed == 0.0
    # Without overlap everything is in series: 60 + 140 + 40 + 100 + 180 + 330 = 850.
    t, exposed = decode_moe_layer_s(attn_pre_s=60e-6, attn_post_s=140e-6, shared_s=40e-6, experts_s=100e-6,
                                    dispatch_s=180e-6, combine_s=330e-6, overlap=False)
    assert t == pytest.approx(850e-6) and exposed == pytest.approx(510e-6)


def test_decode_layer_parts_hand_worked():
    from gpuplan.perf.disagg import decode_layer_parts

    # DeepSeek-R1 FP8 block-quantized tensors (bytes incl. the 128×128 block scales) on a 72-GPU decode pool:
    # ATTN-0 = q_a 11,012,736 + q_b 37,757,952 + kv_a 4,129,888 + half of kv_b (keys: 128 of 128 + 128) 8,390,656
    #        = 61,291,232; ATTN-1 = the other half of kv_b 8,390,656 + o 117,469,184 + router 3,670,016 = 129,529,856;
    # SHARED = 3 · 14,683,648 = 44,050,944 (replicated under DeepEP); dense layers 3 · (187,151,072 attention
    # + 3 · 132,152,832 MLP) = 1,750,828,704 (--moe-dense-tp-size 1); the head 1,853,358,080 ÷ 72 = 25,741,084.4.
    p = decode_layer_parts(R1, "fp8-block", 72)
    assert p.attn_pre_bytes == pytest.approx(61_291_232)
    assert p.attn_post_bytes == pytest.approx(129_529_856)
    assert p.shared_bytes == pytest.approx(44_050_944)
    assert p.dense_layers_bytes == pytest.approx(1_750_828_704)
    assert p.head_bytes == pytest.approx(1_853_358_080 / 72)
    # FLOPs per token 2 · parameters: o 2 · 7168 · 16384 + kv_b values 2 · 128 · 128 · 512 + router 2 · 256 · 7168.
    assert p.attn_post_flops == pytest.approx(2 * (7168 * 16384 + 128 * 128 * 512 + 256 * 7168))
    assert p.head_flops == 2 * 129_280 * 7168


def test_sglang_two_batch_overlap_decode_speedup():
    # [LMSYS] "Ablation Study: Two-batch Overlap": in decode "the speedup reaches 25.5% at 256 tokens with a performance
    # of 22,310 tokens per second" (9 nodes, EP72, KV 2,000), so 22,310 / 1.255 = 17,777 without it. The model: 23.8k
    # with and 18.6k without (+4.6%), a 28.0% speedup. A model that hid all communication behind all computation would
    # give 29.6k and +59%.
    entry = get_model(R1)
    on = estimate_disaggregated(entry, _sglang_96(), input_tokens=2000, output_tokens=100, context_tokens=2000)
    off = estimate_disaggregated(entry, _sglang_96(two_batch_overlap=False), input_tokens=2000, output_tokens=100,
                                 context_tokens=2000)
    assert on.decode.two_batch_overlap and not off.decode.two_batch_overlap
    assert off.decode.tokens_per_s_per_node == pytest.approx(22_310 / 1.255, rel=TOLERANCE)
    speedup = on.decode.tokens_per_s_per_node / off.decode.tokens_per_s_per_node - 1.0
    assert speedup == pytest.approx(0.255, rel=TOLERANCE)


def test_decode_all_to_all_times_match_the_in_situ_profiles():
    # [LMSYS] "Detail Breakdown" of decode: "Both DeepSeek and SGLang show dispatch times of ~0.17ms per layer". The
    # model's dispatch of one 128-token micro-batch at EP72 from DeepEP's unit-test table (docs/legacy.md, low-latency
    # kernels, 128 tokens, top-8, FP8): 128 · 8 · 7,392 B / 42.32 GB/s = 0.179 ms.
    entry = get_model(R1)
    sgl = estimate_disaggregated(entry, _sglang_96(), input_tokens=2000, output_tokens=100, context_tokens=2000)
    per_layer_mb = sgl.decode.terms_s["dispatch_s"] / (58 * 2)
    assert per_layer_mb == pytest.approx(128 * 8 * 7392 / 42.320e9, rel=1e-3)
    assert per_layer_mb == pytest.approx(0.17e-3, rel=TOLERANCE)
    # "SGLang's combine operation appears 2x slower than DeepSeek's due to shorter attention computation, causing
    # communication kernels to busy-wait": the combine waits out what the other micro-batch's ATTN-1 does not hide —
    # at KV 2,000 (SGLang: 157 µs per micro-batch) far more than at KV 4,096 with an MTP token (DeepSeek's profile:
    # 92 µs). Model: 1.7×.
    ds = estimate_disaggregated(entry, _ds_day6(decode_nodes=16), input_tokens=4096, output_tokens=100,
                                context_tokens=4096)
    sgl_wait = sgl.decode.terms_s["combine_wait_s"] / (58 * 2)
    ds_wait = ds.decode.terms_s["combine_wait_s"] / (59 * 2)  # 58 MoE layers + the MTP draft block's
    assert 1.5 < sgl_wait / ds_wait < 2.5


def test_deepseek_day6_user_speed():
    # [DS6]: "average output speed of 20–22 tokens per second" per user, with the production decode layout (EP144 over
    # 18 nodes, batch 128 per GPU as [LMSYS] restates it, mean KV length 4,989, MTP): 1 / TPOT within 25% of 21.
    est = estimate_disaggregated(get_model(R1), _ds_day6(), input_tokens=DS_INPUT, output_tokens=DS_OUTPUT,
                                 context_tokens=4989)
    assert 1.0 / est.tpot_s == pytest.approx(21.0, rel=TOLERANCE)


def test_decode_batch_solved_from_memory_and_slo():
    dd = _sglang_96(decode_batch_per_gpu=None)
    free = estimate_disaggregated(get_model(R1), dd, input_tokens=2000, output_tokens=500)
    assert free.decode_batch_per_gpu == min(free.max_decode_batch_per_gpu, 512)
    slo = estimate_disaggregated(get_model(R1), dd, input_tokens=2000, output_tokens=500, max_tpot_s=0.03)
    assert slo.tpot_s <= 0.03 < free.tpot_s
    assert slo.decode_batch_per_gpu < free.decode_batch_per_gpu
    # KV transfer: 2000 tokens · 70,272 B (BF16 latent, 61 layers · 576 · 2) over 50 GB/s = 2.81 ms.
    assert slo.kv_transfer_s == pytest.approx(2000 * 70_272 / 50e9, rel=1e-9)


def test_disagg_refuses_dense_models_and_other_engines():
    with pytest.raises(InvalidInputError):
        estimate_disaggregated(get_model("qwen3-32b"), DisaggDeployment(gpu_id="h100-sxm"), input_tokens=100,
                               output_tokens=10)
    with pytest.raises(InvalidInputError):
        estimate_disaggregated(get_model(R1), DisaggDeployment(gpu_id="h100-sxm", engine="vllm"), input_tokens=100,
                               output_tokens=10)


# ----------------------------------------------------------------------------------------------- capacity mode


def test_plan_capacity_mode_reports_users_and_layout():
    from gpuplan.plan import PlanRequest, search

    req = PlanRequest(model=R1, gpus=("h200-sxm",), gpu_count=16, ttft_s=2.0, tpot_s=0.05)
    assert req.capacity_mode
    plan = search(req)
    assert plan.capacity is not None and plan.capacity.users >= 1
    best = plan.candidates[0]
    assert best.gpu_count == 16 and best.capacity_users == plan.capacity.users
    # Ranked by users: nobody below serves more, and every candidate meets the SLO at its capacity.
    assert all((c.capacity_users or 0) <= plan.capacity.users for c in plan.candidates)
    for c in plan.candidates:
        assert c.perf.ttft_s <= 2.0 and c.perf.tpot_s <= 0.05
    layouts = {c.disaggregation.label if c.disaggregation else "aggregated" for c in plan.candidates}
    assert "aggregated" in layouts and "1P1D" in layouts
    assert plan.capacity.layout in layouts
    # The file round-trips with the capacity result.
    from gpuplan.planfile import PlanFile

    again = PlanFile.from_text(plan.to_yaml())
    assert again.capacity == plan.capacity


def test_aggregated_capacity_is_the_boundary():
    # Bisection result C*: C* meets the SLO and C* + 1 does not (or C* is the KV capacity).
    from gpuplan.perf import estimate_serving
    from gpuplan.plan.capacity import aggregated_capacity
    from gpuplan.spec import Deployment, Slo, Workload

    entry = get_model("qwen3-32b")
    dep = Deployment(gpu_id="h100-sxm", engine="vllm", tensor_parallel_size=1, weight_format="fp8")
    wl = Workload(input_tokens=2000, output_tokens=500)
    slo = Slo(ttft_s=2.0, tpot_s=0.05)
    users, est, limit = aggregated_capacity(entry, dep, wl, slo, estimate_serving)
    assert est.tpot_s <= 0.05 and est.ttft_s <= 2.0
    nxt = estimate_serving(entry, dep, wl.model_copy(update={"concurrency": users + 1}))
    assert limit == "kv_capacity" or nxt.tpot_s > 0.05 or nxt.ttft_s > 2.0


def test_plan_capacity_cli_json():
    import json

    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app

    res = CliRunner().invoke(build_app(), ["plan", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "16", "--ttft-ms", "2000",
                                   "--tpot-ms", "50", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["capacity"]["users"] >= 1 and data["capacity"]["layout"]
    assert all(c["gpu_count"] == 16 for c in data["candidates"])


# ------------------------------------------------------------------------------------- estimate CLI and sweep


def _cli(args):
    import json

    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app

    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output) if "--json" in args else res.output


def test_estimate_cli_disaggregated_matches_core():
    data = _cli(["estimate", "deepseek-r1", "--gpu", "h800-sxm", "--prefill-nodes", "4", "--decode-nodes", "18",
                 "--decode-batch", "128", "--speculative-tokens", "1", "--weights", "fp8-block", "--kv-dtype", "bf16",
                 "--input-tokens", "2000", "--output-tokens", "500", "--json"])
    core = estimate_disaggregated(get_model(R1), _ds_day6(), input_tokens=2000, output_tokens=500)
    assert data["layout"] == "4P18D" and data["decode_batch_per_gpu"] == 128
    assert data["decode"]["tokens_per_s_per_node"] == pytest.approx(core.decode.tokens_per_s_per_node, rel=1e-9)
    text = _cli(["estimate", "deepseek-r1", "--gpu", "h200-sxm", "--prefill-nodes", "1", "--decode-nodes", "1",
                 "--input-tokens", "2000", "--output-tokens", "500"])
    assert "1P1D" in text


def test_estimate_cli_pd_needs_both_pools():
    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app

    res = CliRunner().invoke(build_app(), ["estimate", "deepseek-r1", "--gpu", "h200-sxm", "--prefill-nodes", "1",
                                           "--input-tokens", "100", "--output-tokens", "10"])
    assert res.exit_code != 0 and "--decode-nodes" in res.output and "Traceback" not in res.output


def test_pareto_frontier_hand_worked():
    from gpuplan.perf.sweep import SweepPoint, pareto_frontier

    def p(c, per_gpu, per_user):
        return SweepPoint(concurrency=c, ttft_s=None, tpot_s=None, tokens_per_s_per_user=per_user,
                          output_tokens_per_s=None, output_tokens_per_s_per_gpu=per_gpu)

    # (10, 50) and (30, 20) trade off; (20, 15) is beaten by (30, 20) on both axes; (30, 20) ties nothing.
    marked = pareto_frontier([p(1, 10, 50), p(2, 20, 15), p(4, 30, 20)])
    assert [m.on_frontier for m in marked] == [True, False, True]


@pytest.mark.parametrize("pd", [False, True])
def test_sweep_cli_json(pd):
    args = ["estimate", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "8", "--input-tokens", "2000",
            "--output-tokens", "500", "--sweep", "--json"]
    if pd:
        args += ["--prefill-nodes", "1", "--decode-nodes", "1"]
    else:
        args += ["--engine", "sglang", "--weights", "fp8-block"]
    data = _cli(args)
    pts = data["points"]
    assert len(pts) >= 2 and any(q["on_frontier"] for q in pts)
    # More load: more output per GPU, less speed per user (the trade-off the sweep shows).
    assert pts[-1]["output_tokens_per_s_per_gpu"] > pts[0]["output_tokens_per_s_per_gpu"]
    assert pts[-1]["tokens_per_s_per_user"] < pts[0]["tokens_per_s_per_user"]
    assert data["gpus"] == (16 if pd else 8)


def test_api_plan_capacity_mode():
    from fastapi.testclient import TestClient

    from gpuplan.api.app import create_app

    with TestClient(create_app()) as client:
        res = client.post("/api/v1/plan", json={"model": "deepseek-r1", "gpu": ["h200-sxm"], "gpus": 16, "ttft_ms": 2000,
                                                "tpot_ms": 50, "top": 3})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["capacity"]["users"] >= 1 and body["candidates"][0]["capacity_users"] == body["capacity"]["users"]


def test_prefill_is_capped_by_the_kv_transfer_nic(monkeypatch):
    # 8 GPUs × 50 GB/s NIC ÷ 70,272 B of BF16 latent KV per token = 5.69M tokens/s per node: far above compute here,
    # so the compute rate stands; a (hypothetical) 1 B/s NIC would make the transfer the bound.
    from gpuplan.perf import disagg

    entry = get_model(R1)
    est = estimate_disaggregated(entry, _sglang_96(), input_tokens=2000, output_tokens=100)
    assert est.prefill.bound != "kv_transfer"
    monkeypatch.setattr(disagg, "RDMA_NIC_BYTES_PER_S", 1e6)
    slow = estimate_disaggregated(entry, _sglang_96(), input_tokens=2000, output_tokens=100)
    assert slow.prefill.bound == "kv_transfer"
    assert slow.prefill.tokens_per_s_per_node == pytest.approx(8 * 1e6 / 70_272)


def test_plan_gpus_that_are_no_shape_is_one_sentence():
    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app

    res = CliRunner().invoke(build_app(), ["plan", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "12", "--ttft-ms",
                                           "2000", "--tpot-ms", "50"])
    assert res.exit_code != 0 and "--gpus 12" in res.output and "Traceback" not in res.output


def test_capacity_candidates_carry_memory_at_capacity():
    from gpuplan.memory import size_inference
    from gpuplan.plan import PlanRequest, search
    from gpuplan.spec import Deployment

    cap = search(PlanRequest(model="qwen3-32b", gpus=("h100-sxm",), gpu_count=2, engines=("vllm",),
                             weight_formats=("fp8",), tpot_s=0.05, top=5)).chosen
    dep = Deployment(gpu_id=cap.gpu, gpu_count=cap.gpu_count, engine=cap.engine, weight_format=cap.weight_format,
                     kv_dtype=cap.kv_dtype, tensor_parallel_size=cap.tensor_parallel_size,
                     data_parallel_size=cap.data_parallel_size)
    one = size_inference(get_model("qwen3-32b"), dep, context_tokens=cap.max_model_len, concurrency=1)
    per_replica = cap.capacity_users // max(cap.data_parallel_size, 1)
    assert cap.capacity_users > 1
    assert cap.memory.kv_cache_bytes > one.per_gpu.kv_cache_bytes
    assert cap.engine_args["--max-num-seqs"] == per_replica == cap.max_num_seqs


def test_band_covers_the_measured_misses():
    # UNCERTAINTY_FRACTION states the model's largest miss on the saturated-system figures above; keep them in step.
    from gpuplan.perf.disagg import UNCERTAINTY_FRACTION

    entry = get_model(R1)
    sgl = estimate_disaggregated(entry, _sglang_96(), input_tokens=2000, output_tokens=100, context_tokens=2000)
    ds = estimate_disaggregated(entry, _ds_day6(decode_nodes=16), input_tokens=4096, output_tokens=100,
                                context_tokens=4096)
    misses = [sgl.prefill.tokens_per_s_per_node / 52_300, sgl.decode.tokens_per_s_per_node / 22_282,
              ds.prefill.tokens_per_s_per_node / 62_713, ds.decode.tokens_per_s_per_node / 18_598]
    worst = max(abs(m - 1.0) for m in misses)
    assert worst <= UNCERTAINTY_FRACTION < worst + 0.02
