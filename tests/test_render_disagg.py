"""Rendering a prefill/decode-disaggregated plan: SGLang PD scripts and Kubernetes manifests, checked by the same
validators as every other rendered file (kubernetes-validate strict, the LeaderWorkerSet CRD schema, bash -n,
shellcheck) and against the numbers of the plan they came from."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from functools import lru_cache

import pytest
import yaml

from gpuplan.artifacts import render_plan
from gpuplan.errors import InvalidInputError
from gpuplan.planfile import PlanFile
from test_render_validators import check_inline_scripts, k8s_docs, validate_k8s, write_tree


@lru_cache(maxsize=2)
def _pd_plan(nodes: int = 2) -> PlanFile:
    from gpuplan.plan import PlanRequest, search

    plan = search(PlanRequest(model="deepseek-r1", gpus=("h200-sxm",), gpu_count=8 * nodes, ttft_s=2.0,
                              tpot_s=0.05, weight_formats=("fp8-block",), engines=("sglang",)))
    pd = [c for c in plan.candidates if c.disaggregation is not None]
    assert pd, "the search offers a disaggregated candidate for 2+ nodes"
    return plan.model_copy(update={"candidates": (pd[0],)})


def _argv(script: str) -> list[str]:
    line = script.split("exec ", 1)[1]
    return [tok for tok in shlex.split(line.replace("\\\n", " ")) if tok != "$@"]


def test_pd_scripts_carry_the_plan(tmp_path):
    plan = _pd_plan()
    d = plan.chosen.disaggregation
    files = {f.path: f.content for f in render_plan(plan, ["engine"])}
    assert {"engine/pd-prefill.sh", "engine/pd-decode.sh", "engine/pd-router.sh"} <= set(files)
    pre, dec = _argv(files["engine/pd-prefill.sh"]), _argv(files["engine/pd-decode.sh"])
    gpus_p = d.prefill_nodes * d.gpus_per_node
    gpus_d = d.decode_nodes * d.gpus_per_node
    assert pre[pre.index("--disaggregation-mode") + 1] == "prefill"
    assert dec[dec.index("--disaggregation-mode") + 1] == "decode"
    assert pre[pre.index("--tp-size") + 1] == str(gpus_p) and dec[dec.index("--dp-size") + 1] == str(gpus_d)
    assert pre[pre.index("--deepep-mode") + 1] == "normal" and dec[dec.index("--deepep-mode") + 1] == "low_latency"
    assert dec[dec.index("--max-running-requests") + 1] == str(d.decode_batch_per_gpu * gpus_d)
    assert pre[pre.index("--chunked-prefill-size") + 1] == str(d.prefill_tokens_per_gpu * gpus_p)
    assert "--disaggregation-ib-device" in pre and "--disaggregation-ib-device" in dec
    # MTP as the plan assumed it (SGLang NEXTN for DeepSeek's next-token head): drafts + 1 tokens verified per step.
    if d.speculative_tokens:
        assert dec[dec.index("--speculative-algorithm") + 1] == "NEXTN"
        assert dec[dec.index("--speculative-num-draft-tokens") + 1] == str(d.speculative_tokens + 1)
    else:
        assert "--speculative-algorithm" not in dec
    assert "--speculative-algorithm" not in pre
    router = _argv(files["engine/pd-router.sh"])
    assert router[:4] == ["python3", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    write_tree(tmp_path, files)
    for rel in files:
        if rel.endswith(".sh"):
            assert subprocess.run(["bash", "-n", str(tmp_path / rel)]).returncode == 0, rel
            if shutil.which("shellcheck"):
                proc = subprocess.run(["shellcheck", str(tmp_path / rel)], capture_output=True, text=True)
                assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("nodes", [2, 3])
def test_pd_k8s_manifests_validate(nodes):
    plan = _pd_plan(nodes)
    files = {f.path: f.content for f in render_plan(plan, ["k8s"])}
    docs = k8s_docs(files)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert ("Deployment", f"{plan.model.id.split('/')[-1].lower()}-router") in kinds or any(
        k == "Deployment" and n.endswith("-router") for k, n in kinds)
    for doc in docs:
        validate_k8s(doc)
    check_inline_scripts(docs)
    kustom = yaml.safe_load(files["k8s/kustomization.yaml"].split("\n", 1)[1])
    assert {f"k8s/{r}" for r in kustom["resources"]} <= set(files)
    d = plan.chosen.disaggregation
    multi = [doc for doc in docs if doc["kind"] == "LeaderWorkerSet"]
    # A pool that spans nodes is a LeaderWorkerSet of that many pods, one per node.
    assert sorted(doc["spec"]["leaderWorkerTemplate"]["size"] for doc in multi) == sorted(
        n for n in (d.prefill_nodes, d.decode_nodes) if n > 1)


def test_pd_plan_rejects_single_host_targets():
    with pytest.raises(InvalidInputError):
        render_plan(_pd_plan(), ["compose"])


def test_sglang_parser_reads_the_pd_commands():
    """SGLang's own parser (the version the rendered image pins) accepts both roles' commands as the plan wrote them."""
    pytest.importorskip("sglang.srt.server_args", reason="sglang not installed (.ci/run installs it with --no-deps)")
    from sglang.srt.server_args import prepare_server_args

    plan = _pd_plan(3)
    d = plan.chosen.disaggregation
    files = {f.path: f.content for f in render_plan(plan, ["engine"])}
    for role, nodes in (("prefill", d.prefill_nodes), ("decode", d.decode_nodes)):
        argv = [tok.replace("$IB_DEVICE", "mlx5_0").replace("$NODE_RANK", "0").replace("$LEADER_ADDR", "10.0.0.1")
                for tok in _argv(files[f"engine/pd-{role}.sh"])]
        args = prepare_server_args(argv[3:])
        gpus = nodes * d.gpus_per_node
        assert args.disaggregation_mode == role and args.disaggregation_ib_device == "mlx5_0"
        assert (args.tp_size, args.dp_size, args.ep_size, args.nnodes) == (gpus, gpus, gpus, nodes)
        assert args.enable_dp_attention and args.moe_a2a_backend == "deepep"
        tbo = d.prefill_two_batch_overlap if role == "prefill" else d.decode_two_batch_overlap
        assert bool(args.enable_two_batch_overlap) == tbo
        assert args.deepep_mode == ("normal" if role == "prefill" else "low_latency")
        assert args.mem_fraction_static == plan.chosen.gpu_memory_utilization
        assert args.context_length == plan.chosen.max_model_len
        assert args.model_path == (plan.chosen.checkpoint.repo if plan.chosen.checkpoint else plan.model.id)
        if role == "prefill":
            assert args.chunked_prefill_size == d.prefill_tokens_per_gpu * gpus
        else:
            assert args.max_running_requests == d.decode_batch_per_gpu * gpus
            assert args.cuda_graph_max_bs_decode == d.decode_batch_per_gpu
            if d.speculative_tokens:
                assert args.speculative_algorithm == "NEXTN"
                assert args.speculative_num_draft_tokens == d.speculative_tokens + 1
