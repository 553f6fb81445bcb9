"""Issue 16, speed: the planner's shortcuts must not change an answer (figures come from benchmarks/, not here)."""

from __future__ import annotations

import math
import sys

import pytest

import gpuplan.plan.search  # noqa: F401  (the module; gpuplan.plan.search the name is the function)
from gpuplan.catalog import get_model
from gpuplan.memory.shard import _divisor, shard_weights
from gpuplan.memory.weights import model_tensor_bytes
from gpuplan.plan import PlanRequest, search


@pytest.mark.parametrize("model_id,fmt", [("deepseek-v3", "native"), ("deepseek-r1-distill-qwen-32b", "awq-int4"),
                                          ("qwen2.5-32b", "bf16")])
@pytest.mark.parametrize("tp,pp,ep,dpa", [(1, 1, 1, 1), (8, 1, 1, 1), (4, 3, 1, 1), (8, 2, 8, 8), (2, 4, 1, 1)])
def test_grouped_sharding_equals_the_per_tensor_sum(model_id, fmt, tp, pp, ep, dpa):
    entry = get_model(model_id)
    arch = entry.arch
    if ep > 1 and not arch.num_experts:
        ep = 1
    rows = model_tensor_bytes(entry, fmt)
    att_tp = max(1, tp // dpa)
    stages = [0] * pp
    L = arch.num_layers
    for t, nbytes in rows:  # the rule, tensor by tensor, in exact rational arithmetic (bytes × lcm of divisors)
        stage = (0 if t.component == "embed" else pp - 1) if t.layer is None else (min(t.layer, L - 1) * pp) // L
        stages[stage] += nbytes * 5040 // _divisor(t, arch, tp, ep, att_tp)  # 5040 = lcm(1..10): divisors ≤ 8 exact
    want = math.ceil(max(stages) / 5040)
    got = shard_weights(arch, rows, tp=tp, pp=pp, ep=ep, dp_attention=dpa).per_gpu_bytes
    assert abs(got - want) <= 1  # float summation order: at most one byte


def test_a_repeated_search_answers_the_same_from_the_memo():
    req = PlanRequest(model="deepseek-r1-distill-qwen-7b", users=8, input_tokens=2000, output_tokens=1000, tpot_s=0.05)
    first, again = search(req), search(req)
    assert [c.model_dump() for c in first.candidates] == [c.model_dump() for c in again.candidates]
    assert first.rejections == again.rejections


def test_memo_misses_for_another_model_object_under_the_same_id():
    module = sys.modules["gpuplan.plan.search"]
    memo = module._Memo()
    entry = get_model("qwen2.5-7b")
    other = entry.model_copy()  # e.g. an imported model registered again under the same id
    assert memo.get(entry, ("k",), lambda: 1) == 1
    assert memo.get(entry, ("k",), lambda: 2) == 1
    assert memo.get(other, ("k",), lambda: 3) == 3


def test_memo_is_bounded_and_keeps_the_latest_entries():
    module = sys.modules["gpuplan.plan.search"]
    memo = module._Memo(maxsize=8)
    entry = get_model("qwen2.5-7b")
    for i in range(20):
        memo.get(entry, (i,), lambda i=i: i)
    assert len(memo.store) <= 8
    assert memo.get(entry, (19,), lambda: -1) == 19  # the newest survived eviction


@pytest.mark.parametrize("model_id,gpu,count,engine,fmt,tp,dp,ep,dpa", [
    ("deepseek-r1-distill-qwen-32b", "h100-sxm", 2, "vllm", "bf16", 2, 1, 1, False),
    ("deepseek-r1-distill-qwen-32b", "rtx-4090", 4, "sglang", "awq-int4", 2, 2, 1, False),
    ("deepseek-v3", "h200-sxm", 8, "sglang", "fp8-block", 8, 8, 8, True),
    ("deepseek-v3", "h20", 8, "trtllm", "fp8-block", 8, 1, 8, False),
])
def test_estimate_with_the_planners_kv_capacity_equals_sizing_it_again(model_id, gpu, count, engine, fmt, tp, dp, ep,
                                                                         dpa):
    """The planner hands the estimator the KV capacity it just sized (memory of one GPU does not depend on data
    parallelism without DP-attention): the estimate must be the one the estimator sizes for itself."""
    from gpuplan.memory import size_inference
    from gpuplan.perf import estimate_serving
    from gpuplan.spec import Deployment, Workload

    entry = get_model(model_id)
    dep = Deployment(gpu_id=gpu, gpu_count=count, engine=engine, weight_format=fmt, tensor_parallel_size=tp,
                     data_parallel_size=dp, expert_parallel_size=ep, enable_dp_attention=dpa)
    mem = size_inference(entry, dep, context_tokens=3000, concurrency=16)
    one = dep.model_copy(update={"data_parallel_size": 1 if not dpa else dp})
    work = Workload(input_tokens=2000, output_tokens=1000, concurrency=16)
    assert estimate_serving(entry, one, work, detail=False, kv_max_concurrency=mem.max_concurrency) == \
        estimate_serving(entry, one, work, detail=False)


@pytest.mark.parametrize("model_id", ["deepseek-r1-distill-qwen-32b", "deepseek-v3", "gpt-oss-120b"])
def test_kv_capacity_is_size_inferences_verdict_on_one_sequence(model_id):
    """memory.inference.kv_capacity (what the planner asks of every layout it orders in capacity mode) returns
    size_inference's ``fits`` and ``max_concurrency`` for one sequence, or raises its error, on every catalog GPU,
    engine, format and layout the planner enumerates (memory rejections, layout errors and fits alike)."""
    from gpuplan.catalog import list_gpus
    from gpuplan.errors import GpuplanError
    from gpuplan.memory import size_inference
    from gpuplan.memory.inference import kv_capacity

    search_mod = sys.modules["gpuplan.plan.search"]
    model = get_model(model_id)
    req = PlanRequest(model=model_id, ttft_s=2.0, tpot_s=0.05)
    seen = {"fits": 0, "no": 0, "error": 0}
    for gpu in list_gpus():
        for per_node, nodes in ((1, 1), (2, 1), (8, 1), (8, 2)):
            for engine in ("vllm", "sglang", "trtllm", "llama.cpp"):
                for fmt in ("bf16", "fp8", "awq-int4", "gguf-q4_k_m"):
                    for tp, pp, dp, ep, dpa in search_mod._layouts(model, per_node, nodes, engine):
                        kv = search_mod._kv_dtype(fmt, engine)
                        dep = search_mod._deployment(gpu, per_node * nodes, nodes, fmt, engine, tp, pp, dp, ep, dpa,
                                                     req)
                        try:
                            mem = size_inference(model, dep, context_tokens=2500, concurrency=1, gpu=gpu)
                        except GpuplanError as exc:
                            with pytest.raises(type(exc)):
                                kv_capacity(model, gpu, engine=engine, weight_format=fmt, kv_dtype=kv, tp=tp, pp=pp,
                                            ep=ep, dp_att=dp if dpa else 1, gpu_count=per_node * nodes,
                                            context_tokens=2500)
                            seen["error"] += 1
                            continue
                        got = kv_capacity(model, gpu, engine=engine, weight_format=fmt, kv_dtype=kv, tp=tp, pp=pp,
                                          ep=ep, dp_att=dp if dpa else 1, gpu_count=per_node * nodes,
                                          context_tokens=2500)
                        assert got == (mem.fits, mem.max_concurrency), (gpu.id, engine, fmt, tp, pp, dp, ep, dpa)
                        seen["fits" if mem.fits else "no"] += 1
    assert seen["fits"] and seen["no"], seen


@pytest.mark.parametrize("model_id", ["deepseek-r1-distill-qwen-32b", "deepseek-v3"])
def test_memory_layout_part_is_shared_across_gpus_without_leaking_one(model_id):
    """size_inference works out what does not depend on the GPU once per layout (memory.inference._layout_part) and
    reuses it on every GPU: sizing a layout on each catalog GPU right after another GPU filled that memo answers what
    sizing it afresh answers (a GPU-dependent figure kept in the memo would show here)."""
    from gpuplan.catalog import list_gpus
    from gpuplan.errors import GpuplanError
    from gpuplan.memory import inference, size_inference
    from gpuplan.spec import Deployment

    model = get_model(model_id)
    gpus = list(list_gpus())

    def size(gpu, dep):
        try:
            return size_inference(model, dep.model_copy(update={"gpu_id": gpu.id}), context_tokens=2500,
                                  concurrency=3, gpu=gpu).model_dump()
        except GpuplanError as exc:
            return repr(exc)

    for engine in ("vllm", "sglang", "trtllm", "llama.cpp", "vllm-ascend"):
        for fmt, tp in (("bf16", 2), ("fp8", 8), ("awq-int4", 1)):
            dep = Deployment(gpu_id=gpus[0].id, gpu_count=tp, engine=engine, weight_format=fmt, kv_dtype="auto",
                             tensor_parallel_size=tp)
            for before, gpu in zip(gpus, gpus[1:], strict=False):
                size(before, dep)  # fills the memo from another GPU
                shared = size(gpu, dep)
                inference._LAYOUT_PARTS.clear()
                assert shared == size(gpu, dep), (engine, fmt, before.id, gpu.id)


def test_the_collector_pauses_during_a_search_only():
    """search() pauses the cyclic garbage collector while it runs and leaves it as it found it, also when the search
    refuses the request, and when the caller had it off."""
    import gc

    from gpuplan.errors import InvalidInputError

    seen = []
    search_mod = sys.modules["gpuplan.plan.search"]
    inner = search_mod._search

    def spy(req, prices=None, calibration=None):
        seen.append(gc.isenabled())
        return inner(req, prices, calibration)

    assert gc.isenabled()
    try:
        search_mod._search = spy
        search(PlanRequest(model="qwen2.5-7b", users=1, gpus=("rtx-4090",), max_gpus=1))
        with pytest.raises(InvalidInputError):
            search(PlanRequest(model="qwen2.5-7b", users=1, objective="fastest"))
        assert gc.isenabled()
        gc.disable()
        search(PlanRequest(model="qwen2.5-7b", users=1, gpus=("rtx-4090",), max_gpus=1))
        assert not gc.isenabled()
    finally:
        gc.enable()
        search_mod._search = inner
    assert seen == [False, False, False]
