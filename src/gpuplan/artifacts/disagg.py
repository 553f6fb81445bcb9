"""SGLang prefill/decode disaggregation (xPyD) for a plan whose candidate carries ``disaggregation``.

Targets ``engine`` (one script per role) and ``k8s`` (per pool a LeaderWorkerSet when it spans nodes, else a
Deployment; a router Deployment; Services). Commands follow SGLang's PD guide (docs/advanced_features/
pd_disaggregation.md, "DeepSeek Multi-Node"): ``--disaggregation-mode prefill|decode``, ``--disaggregation-ib-device``,
``--tp-size N --dp-size N --enable-dp-attention --ep-size N --moe-a2a-backend deepep`` over each pool's N GPUs, with DeepEP
``--deepep-mode normal`` for prefill and ``low_latency`` for decode (LMSYS large-scale EP blog, 2025-05-05); the router is
``python3 -m sglang_router.launch_router --pd-disaggregation --prefill URL --decode URL`` (same guide).
The flags every SGLang launch shares come from ``artifacts.engine_argv`` (the one module that spells engine
flags); the PD-specific ones are added here. Spelled for the SGLang of the rendered image (``lmsysorg/sglang:v0.5.23``:
``--cuda-graph-max-bs-decode``) and checked by its own parser in the tests. Every number in the flags (pool sizes,
decode batch, prefill chunk, MTP draft tokens) comes from the plan's ``DisaggSummary``, so the files launch what the
planner estimated.
"""

from __future__ import annotations

import math
from typing import Any

from gpuplan.artifacts.common import MODEL_CACHE_PATH, RenderContext, RenderedFile, hash_header, yaml_dump
from gpuplan.artifacts.engines import SGLANG_DIST_PORT, shell_join
from gpuplan.i18n import t

PREFILL_PORT = 30000
DECODE_PORT = 30001
ROUTER_PORT = 8000
#: Default RDMA device name (Mellanox/NVIDIA ConnectX under the mlx5 driver); the scripts take $IB_DEVICE.
DEFAULT_IB_DEVICE = "mlx5_0"
ROLES = ("prefill", "decode")


def _pool(ctx: RenderContext, role: str) -> tuple[int, int]:
    """(nodes, GPUs) of a pool."""
    d = ctx.cand.disaggregation
    assert d is not None  # callers check ctx.cand.disaggregation  # noqa: S101
    nodes = d.prefill_nodes if role == "prefill" else d.decode_nodes
    return nodes, nodes * d.gpus_per_node


def role_argv(ctx: RenderContext, role: str, *, node_rank: str = "0", leader_addr: str = "$LEADER_ADDR",
              ib_device: str = "$IB_DEVICE") -> tuple[str, ...]:
    """The ``sglang.launch_server`` argv of one node of the ``role`` pool.

    The flags every SGLang launch shares (model, TP/DP/EP sizes, DP-attention, context, memory fraction, running
    requests, KV dtype, quantization, revision) come from the one engine-flag module (``artifacts.engine_argv``) for
    the pool's own sizes; the PD-, DeepEP- and MTP-specific flags are added here. Prefill runs at most two forwards'
    worth of requests (one computing, one handing its KV over): 2 · chunk · GPUs / new prompt tokens.
    """
    from gpuplan.artifacts.engine_argv import EngineConfig, engine_flags, model_args
    from gpuplan.artifacts.engines import _tokens

    d = ctx.cand.disaggregation
    assert d is not None  # noqa: S101
    nodes, gpus = _pool(ctx, role)
    port = PREFILL_PORT if role == "prefill" else DECODE_PORT
    wl = ctx.plan.workload
    new_tokens = max(wl.input_tokens * (1.0 - wl.prefix_cache_hit_fraction), 1.0)
    seqs = (math.ceil(2 * d.prefill_tokens_per_gpu * gpus / new_tokens) if role == "prefill"
            else d.decode_batch_per_gpu * gpus)
    flags = engine_flags(EngineConfig(
        engine="sglang", checkpoint=ctx.cand.checkpoint, weight_format=ctx.cand.weight_format,
        kv_dtype=ctx.cand.kv_dtype, tensor_parallel_size=gpus, data_parallel_size=gpus,
        expert_parallel_size=gpus, enable_dp_attention=gpus > 1, context_tokens=ctx.cand.max_model_len or 0,
        max_seqs=seqs, memory_fraction=ctx.cand.gpu_memory_utilization))
    argv: list[str] = ["python3", "-m", "sglang.launch_server",
                       *model_args("sglang", ctx.cand.checkpoint, ctx.model_id),
                       "--host", "0.0.0.0", "--port", str(port), "--served-model-name", ctx.served_model_name]
    if ctx.is_deepseek_native:
        argv.append("--trust-remote-code")
    argv += ["--enable-metrics", "--disaggregation-mode", role, "--disaggregation-ib-device", ib_device]
    argv += _tokens(list(flags.items()))
    if gpus > 1:
        argv += ["--moe-dense-tp-size", "1", "--moe-a2a-backend", "deepep",
                 "--deepep-mode", "normal" if role == "prefill" else "low_latency"]
        if d.prefill_two_batch_overlap if role == "prefill" else d.decode_two_batch_overlap:
            argv.append("--enable-two-batch-overlap")
    if role == "prefill":
        argv += ["--chunked-prefill-size", str(d.prefill_tokens_per_gpu * gpus)]
    else:
        argv += ["--cuda-graph-max-bs-decode", str(d.decode_batch_per_gpu)]
    if d.speculative_tokens and role == "decode":
        argv += ["--speculative-algorithm", "NEXTN", "--speculative-num-steps", str(d.speculative_tokens),
                 "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(d.speculative_tokens + 1)]
    if nodes > 1:
        argv += ["--nnodes", str(nodes), "--node-rank", node_rank, "--dist-init-addr",
                 f"{leader_addr}:{SGLANG_DIST_PORT}"]
    return tuple(argv)


def router_argv(prefill_url: str, decode_url: str) -> tuple[str, ...]:
    return ("python3", "-m", "sglang_router.launch_router", "--pd-disaggregation", "--prefill", prefill_url,
            "--decode", decode_url, "--host", "0.0.0.0", "--port", str(ROUTER_PORT))


def _script(ctx: RenderContext, role: str) -> str:
    nodes, gpus = _pool(ctx, role)
    head = "#!/usr/bin/env bash\n" + hash_header(ctx, t("render_pd.what_script", role=role, nodes=nodes, gpus=gpus))
    head += f"# {t('render_pd.usage_role', role=role, nodes=nodes)}\nset -euo pipefail\n"
    checks = f': "${{IB_DEVICE:={DEFAULT_IB_DEVICE}}}"\n'
    if nodes > 1:
        checks += (': "${NODE_RANK:?NODE_RANK (0 on the pool leader, 1..N-1 on the others)}"\n'
                   ': "${LEADER_ADDR:?LEADER_ADDR (IP or DNS name of this pool\'s rank-0 node)}"\n')
        argv = role_argv(ctx, role, node_rank="$NODE_RANK")
    else:
        argv = role_argv(ctx, role)
    return (head + checks + f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"
            + f"exec {shell_join(argv, keep_vars=True)} \\\n  \"$@\"\n")


def _router_script(ctx: RenderContext) -> str:
    head = "#!/usr/bin/env bash\n" + hash_header(ctx, t("render_pd.what_router"))
    head += f"# {t('render_pd.usage_router')}\nset -euo pipefail\n"
    checks = (': "${PREFILL_ADDR:?PREFILL_ADDR (the prefill pool leader)}"\n'
              ': "${DECODE_ADDR:?DECODE_ADDR (the decode pool leader)}"\n'
              f'PREFILL_URL="http://${{PREFILL_ADDR}}:{PREFILL_PORT}"\n'
              f'DECODE_URL="http://${{DECODE_ADDR}}:{DECODE_PORT}"\n')
    argv = router_argv("$PREFILL_URL", "$DECODE_URL")
    return head + checks + f"exec {shell_join(argv, keep_vars=True)} \\\n  \"$@\"\n"


def engine_files(ctx: RenderContext) -> list[RenderedFile]:
    """engine/pd-prefill.sh, engine/pd-decode.sh, engine/pd-router.sh."""
    return [RenderedFile("engine/pd-prefill.sh", _script(ctx, "prefill"), "shell"),
            RenderedFile("engine/pd-decode.sh", _script(ctx, "decode"), "shell"),
            RenderedFile("engine/pd-router.sh", _router_script(ctx), "shell")]


# --- Kubernetes -------------------------------------------------------------------------------------------------

def _k8s_container(ctx: RenderContext, role: str, argv: tuple[str, ...], probes: bool) -> dict[str, Any]:
    from gpuplan.artifacts.k8s import _container

    c = _container(ctx, argv, probes=probes)
    port = PREFILL_PORT if role == "prefill" else DECODE_PORT
    c["ports"] = [{"name": "http", "containerPort": port}]
    c["env"].append({"name": "IB_DEVICE", "value": DEFAULT_IB_DEVICE})
    # RDMA for DeepEP and the KV transfer: lock pages, see the host's InfiniBand devices.
    c["securityContext"] = {"capabilities": {"add": ["IPC_LOCK"]}}
    c["volumeMounts"].append({"name": "infiniband", "mountPath": "/dev/infiniband"})
    return c


def _k8s_pod(ctx: RenderContext, container: dict[str, Any]) -> dict[str, Any]:
    from gpuplan.artifacts.k8s import _pod_spec

    spec = _pod_spec(ctx, container, f"{ctx.name}-model-cache")
    spec["volumes"].append({"name": "infiniband", "hostPath": {"path": "/dev/infiniband"}})
    return spec


def _pool_objects(ctx: RenderContext, role: str) -> list[dict[str, Any]]:
    from gpuplan.artifacts.k8s import labels, pod_annotations

    nodes, _ = _pool(ctx, role)
    name = f"{ctx.name}-{role}"
    port = PREFILL_PORT if role == "prefill" else DECODE_PORT
    annotations = {**pod_annotations(ctx), "prometheus.io/port": str(port)}
    if nodes > 1:
        lead = role_argv(ctx, role, leader_addr="$(LWS_LEADER_ADDRESS)", ib_device="$(IB_DEVICE)")
        work = role_argv(ctx, role, node_rank="$(LWS_WORKER_INDEX)", leader_addr="$(LWS_LEADER_ADDRESS)",
                         ib_device="$(IB_DEVICE)")
        workload: dict[str, Any] = {
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "labels": labels(ctx, component=role)},
            "spec": {"replicas": 1, "startupPolicy": "LeaderCreated", "leaderWorkerTemplate": {
                "size": nodes, "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {"metadata": {"labels": labels(ctx, component=role, role="leader"),
                                                "annotations": annotations},
                                   "spec": _k8s_pod(ctx, _k8s_container(ctx, role, lead, True))},
                "workerTemplate": {"metadata": {"labels": labels(ctx, component=role, role="worker")},
                                   "spec": _k8s_pod(ctx, _k8s_container(ctx, role, work, False))}}}}
        selector = {"leaderworkerset.sigs.k8s.io/name": name, "role": "leader"}
    else:
        argv = role_argv(ctx, role, ib_device="$(IB_DEVICE)")
        pod_labels = labels(ctx, component=role)
        workload = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": pod_labels},
                    "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                             "selector": {"matchLabels": {"app.kubernetes.io/name": ctx.name, "component": role}},
                             "template": {"metadata": {"labels": pod_labels, "annotations": annotations},
                                          "spec": _k8s_pod(ctx, _k8s_container(ctx, role, argv, True))}}}
        selector = {"app.kubernetes.io/name": ctx.name, "component": role}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels(ctx, component=role)},
           "spec": {"type": "ClusterIP", "selector": selector,
                    "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}
    return [workload, svc]


def _router_objects(ctx: RenderContext) -> list[dict[str, Any]]:
    from gpuplan.artifacts.k8s import labels

    argv = router_argv(f"http://{ctx.name}-prefill:{PREFILL_PORT}", f"http://{ctx.name}-decode:{DECODE_PORT}")
    pod_labels = labels(ctx, component="router")
    container = {"name": "router", "image": ctx.image, "command": [argv[0]], "args": list(argv[1:]),
                 "ports": [{"name": "http", "containerPort": ROUTER_PORT}],
                 "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
                 "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5}}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{ctx.name}-router",
                                                                      "labels": pod_labels},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": ctx.name,
                                                                "component": "router"}},
                    "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [container]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": ctx.name, "labels": labels(ctx)},
           "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": ctx.name, "component": "router"},
                    "ports": [{"name": "http", "port": ROUTER_PORT, "targetPort": "http"}]}}
    return [dep, svc]


def k8s_files(ctx: RenderContext) -> list[RenderedFile]:
    """k8s/model-cache-pvc.yaml (ReadWriteMany: both pools read it), k8s/pd-prefill.yaml, k8s/pd-decode.yaml,
    k8s/pd-router.yaml, k8s/kustomization.yaml."""
    from gpuplan.artifacts.k8s import pvc

    def dump(what: str, objs: list[dict[str, Any]]) -> str:
        return hash_header(ctx, what) + "---\n".join(yaml_dump(o) for o in objs)

    files = [RenderedFile("k8s/model-cache-pvc.yaml", dump(t("render.what_pvc_rwx"), [pvc(ctx, "ReadWriteMany")]),
                          "k8s")]
    for role in ROLES:
        nodes, gpus = _pool(ctx, role)
        files.append(RenderedFile(f"k8s/pd-{role}.yaml", dump(t("render_pd.what_pool", role=role, nodes=nodes,
                                                                 gpus=gpus), _pool_objects(ctx, role)), "k8s"))
    files.append(RenderedFile("k8s/pd-router.yaml", dump(t("render_pd.what_router"), _router_objects(ctx)), "k8s"))
    kustom = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
              "resources": ["model-cache-pvc.yaml", "pd-prefill.yaml", "pd-decode.yaml", "pd-router.yaml"]}
    files.append(RenderedFile("k8s/kustomization.yaml", hash_header(ctx, t("render.what_kustomization"))
                              + yaml_dump(kustom), "yaml"))
    return files
