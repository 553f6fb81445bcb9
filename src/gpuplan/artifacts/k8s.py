"""Target ``k8s``: Deployment/Service/HPA/PDB/PVC (single node), LeaderWorkerSet (multi-node), blue-green, KEDA.

Conventions (shared/reference/ecosystem.md §2, with their upstream sources): GPUs only in ``limits``;
toleration ``nvidia.com/gpu Exists NoSchedule``; node affinity on GPU Feature Discovery labels
``nvidia.com/gpu.product`` and ``nvidia.com/gpu.memory`` (MiB); ``/dev/shm`` from an in-memory emptyDir; a
startupProbe sized to weight-load time; LWS ``leaderworkerset.x-k8s.io/v1`` with ``LWS_LEADER_ADDRESS``,
``LWS_WORKER_INDEX``; HPA ``autoscaling/v2`` on the engine queue depth through prometheus-adapter (vLLM
production-stack ``observability/prom-adapter.yaml``) or KEDA ``keda.sh/v1alpha1`` ScaledObject.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gpuplan.artifacts.common import (
    CONTAINER_BINARIES,
    MODEL_CACHE_PATH,
    STARTUP_PERIOD_S,
    RenderContext,
    RenderedFile,
    gpu_memory_label_mib,
    hash_header,
    header_lines,
    quantity_gi,
    shm_bytes,
    startup_failure_threshold,
    yaml_dump,
)
from gpuplan.artifacts.engines import Rendezvous, launch, shell_join, vllm_dp_local, vllm_dp_size
from gpuplan.i18n import t
from gpuplan.units import GIB

#: Queue-depth metric per engine (vLLM docs/design/metrics.md; SGLang production_metrics.md; llama-server README).
QUEUE_METRICS = {"vllm": "vllm:num_requests_waiting", "sglang": "sglang:num_queue_reqs",
                 "ktransformers": "sglang:num_queue_reqs", "llama.cpp": "llamacpp:requests_deferred",
                 "trtllm": None, "ollama": None}
#: Scale out when more than this many requests wait per replica (KEDA example threshold '5' in production-stack
#: ``scaledobject-vllm.yaml``).
QUEUE_TARGET = 5
MAX_REPLICAS = 4
PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"

HEALTH_PATHS = {"ollama": "/api/version"}


def _dump(ctx: RenderContext, what: str, objs: list[dict[str, Any]]) -> str:
    body = "---\n".join(yaml_dump(o) for o in objs)
    return hash_header(ctx, what) + body


def labels(ctx: RenderContext, **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": ctx.name, "app.kubernetes.io/managed-by": "gpuplan", **extra}


def node_affinity(ctx: RenderContext) -> dict[str, Any] | None:
    """Required node affinity on GFD labels: the plan's GPU product, and at least the plan's GPU memory."""
    exprs: list[dict[str, Any]] = []
    if ctx.vendor == "nvidia":
        if ctx.gpu is not None and ctx.gpu.gfd_product:
            exprs.append({"key": "nvidia.com/gpu.product", "operator": "In", "values": [ctx.gpu.gfd_product]})
        mib = gpu_memory_label_mib(ctx)
        if mib:
            # Gt is strict: nodes whose GPUs report at least the planned capacity (GFD label is MiB).
            exprs.append({"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": [str(mib - 1)]})
    if not exprs:
        return None
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": exprs}]}}}


def _probe(ctx: RenderContext, kind: str) -> dict[str, Any]:
    path = HEALTH_PATHS.get(ctx.engine, "/health")
    probe: dict[str, Any] = {"httpGet": {"path": path, "port": "http"}}
    if kind == "startup":
        probe.update(periodSeconds=STARTUP_PERIOD_S, failureThreshold=startup_failure_threshold(ctx))
    elif kind == "readiness":
        probe.update(periodSeconds=5, failureThreshold=3)
    else:
        probe.update(periodSeconds=10, failureThreshold=3)
    return probe


def _container(ctx: RenderContext, argv: tuple[str, ...], probes: bool = True) -> dict[str, Any]:
    n = ctx.gpus_per_node
    container: dict[str, Any] = {
        "name": "engine",
        "image": ctx.image,
        "command": [CONTAINER_BINARIES.get(ctx.engine, argv[0]) if argv[0] != "/bin/bash" else argv[0]],
        "args": list(argv[1:]),
        "env": [
            {"name": "HF_HOME", "value": MODEL_CACHE_PATH},
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}},
        ],
        "ports": [{"name": "http", "containerPort": ctx.port}],
        "resources": {"limits": {ctx.gpu_resource: str(n)}},
        "volumeMounts": [{"name": "model-cache", "mountPath": MODEL_CACHE_PATH},
                         {"name": "dshm", "mountPath": "/dev/shm"}],
    }
    if probes:
        container["startupProbe"] = _probe(ctx, "startup")
        container["readinessProbe"] = _probe(ctx, "readiness")
        container["livenessProbe"] = _probe(ctx, "liveness")
    return container


def pod_annotations(ctx: RenderContext) -> dict[str, str]:
    """prometheus.io/* scrape annotations (the Prometheus Helm chart's 'kubernetes-pods' job reads them)."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(ctx.port), "prometheus.io/path": "/metrics"}


def _pod_spec(ctx: RenderContext, container: dict[str, Any], claim: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [container],
        "tolerations": [{"key": ctx.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}],
        "volumes": [
            {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": quantity_gi(shm_bytes(ctx))}},
        ],
        "terminationGracePeriodSeconds": 60,
    }
    affinity = node_affinity(ctx)
    if affinity:
        spec["affinity"] = affinity
    return spec


def cache_size_bytes(ctx: RenderContext) -> int:
    """Model-cache volume: checkpoint bytes × 1.2 (room for tokenizer, config and a second revision), ≥ 50 GiB."""
    ckpt = ctx.checkpoint_bytes or ctx.cand.memory.weights_bytes * ctx.cand.gpu_count
    return max(50 * GIB, math.ceil(ckpt * 1.2))


def pvc(ctx: RenderContext, access: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{ctx.name}-model-cache", "labels": labels(ctx)},
            "spec": {"accessModes": [access],
                     "resources": {"requests": {"storage": quantity_gi(cache_size_bytes(ctx))}}}}


def single_node_argv(ctx: RenderContext) -> tuple[str, ...]:
    """The container command: the engine launch, or for Ollama its start script with the Modelfile inlined."""
    if ctx.engine == "ollama":
        from gpuplan.artifacts.serving import ollama_inline

        return ("/bin/bash", "-c", ollama_inline(ctx))
    return launch(ctx).argv


def deployment(ctx: RenderContext, track: str, replicas: int) -> dict[str, Any]:
    pod_labels = labels(ctx, track=track)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{ctx.name}-{track}", "labels": pod_labels},
            "spec": {"replicas": replicas, "strategy": {"type": "Recreate"},
                     "selector": {"matchLabels": {"app.kubernetes.io/name": ctx.name, "track": track}},
                     "template": {"metadata": {"labels": pod_labels, "annotations": pod_annotations(ctx)},
                                  "spec": _pod_spec(ctx, _container(ctx, single_node_argv(ctx)), f"{ctx.name}-model-cache")}}}


def service(ctx: RenderContext, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": ctx.name, "labels": labels(ctx)},
            "spec": {"type": "ClusterIP", "selector": selector,
                     "ports": [{"name": "http", "port": ctx.port, "targetPort": "http"}]}}


def pdb(ctx: RenderContext, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": ctx.name, "labels": labels(ctx)},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}}}


def _scale_target(ctx: RenderContext) -> dict[str, Any]:
    if ctx.multi_node:
        return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": ctx.name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{ctx.name}-blue"}


def adapter_metric_name(metric: str) -> str:
    """prometheus-adapter exports 'vllm:num_requests_waiting' as 'vllm_num_requests_waiting' (prom-adapter.yaml)."""
    return metric.replace(":", "_")


def hpa(ctx: RenderContext, metric: str) -> dict[str, Any]:
    """HPA on the per-pod queue depth (type Pods, AverageValue): scale out when more than QUEUE_TARGET requests
    wait per replica on average."""
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": ctx.name, "labels": labels(ctx)},
            "spec": {"scaleTargetRef": _scale_target(ctx), "minReplicas": 1, "maxReplicas": MAX_REPLICAS,
                     "metrics": [{"type": "Pods", "pods": {
                         "metric": {"name": adapter_metric_name(metric)},
                         "target": {"type": "AverageValue", "averageValue": str(QUEUE_TARGET)}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}}}}


def adapter_values(ctx: RenderContext, metric: str) -> str:
    """Helm values for prometheus-community/prometheus-adapter exposing the queue metric per pod (the scrape adds
    'namespace' and 'pod' labels, as the chart's default pod-annotation job and ServiceMonitors do)."""
    rule = {"seriesQuery": f'{{__name__=~"^{metric}$",namespace!="",pod!=""}}',
            "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
            "name": {"matches": f"^{metric}$", "as": adapter_metric_name(metric)},
            "metricsQuery": f"sum by (<<.GroupBy>>) ({metric}{{<<.LabelMatchers>>}})"}
    doc = {"prometheus": {"url": PROMETHEUS_URL.rsplit(":", 1)[0], "port": 9090},
           "rules": {"default": False, "custom": [rule]}}
    return hash_header(ctx, t("render.what_adapter")) + yaml_dump(doc)


def keda_query(ctx: RenderContext, metric: str) -> str:
    """Queue depth of this model: vLLM and SGLang label their metrics with model_name = the served name."""
    if ctx.engine in ("vllm", "sglang", "ktransformers"):
        return f'sum({metric}{{model_name="{ctx.served_model_name}"}})'
    return f'sum({metric}{{pod=~"{ctx.name}-.*"}})'


def keda(ctx: RenderContext, metric: str) -> dict[str, Any]:
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": ctx.name, "labels": labels(ctx)},
            "spec": {"scaleTargetRef": {k: v for k, v in _scale_target(ctx).items()},
                     "minReplicaCount": 1, "maxReplicaCount": MAX_REPLICAS,
                     "pollingInterval": 15, "cooldownPeriod": 360,
                     "triggers": [{"type": "prometheus", "metadata": {
                         "serverAddress": PROMETHEUS_URL,
                         "query": keda_query(ctx, metric),
                         "threshold": str(QUEUE_TARGET)}}]}}


def leader_worker_set(ctx: RenderContext) -> dict[str, Any]:
    """LWS: one group of ``nodes`` pods (leader = rank 0), each pod one node's GPUs."""
    n = ctx.cand.nodes
    if ctx.engine == "vllm" and vllm_dp_size(ctx) > 1:
        # The first DP rank of a node is worker index × local DP size: shell arithmetic, so run through bash -c.
        local = vllm_dp_local(ctx)
        lead = launch(ctx, Rendezvous(n, "0", "$LWS_LEADER_ADDRESS", headless=False, dp_start_rank="0"))
        work = launch(ctx, Rendezvous(n, "$LWS_WORKER_INDEX", "$LWS_LEADER_ADDRESS", headless=True,
                                      dp_start_rank=f"$((LWS_WORKER_INDEX * {local}))"))
        lead_argv = ("/bin/bash", "-c", "exec " + shell_join(lead.argv, keep_vars=True))
        work_argv = ("/bin/bash", "-c", "exec " + shell_join(work.argv, keep_vars=True))
    else:
        lead_argv = launch(ctx, Rendezvous(n, "0", "$(LWS_LEADER_ADDRESS)", headless=False)).argv
        work_argv = launch(ctx, Rendezvous(n, "$(LWS_WORKER_INDEX)", "$(LWS_LEADER_ADDRESS)", headless=True)).argv
    claim = f"{ctx.name}-model-cache"
    leader_c = _container(ctx, lead_argv)
    worker_c = _container(ctx, work_argv, probes=False)
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": ctx.name, "labels": labels(ctx)},
            "spec": {"replicas": 1, "startupPolicy": "LeaderCreated",
                     "leaderWorkerTemplate": {
                         "size": n, "restartPolicy": "RecreateGroupOnPodRestart",
                         "leaderTemplate": {"metadata": {"labels": labels(ctx, role="leader"),
                                                         "annotations": pod_annotations(ctx)},
                                            "spec": _pod_spec(ctx, leader_c, claim)},
                         "workerTemplate": {"metadata": {"labels": labels(ctx, role="worker")},
                                            "spec": _pod_spec(ctx, worker_c, claim)}}}}


def k8s_files(ctx: RenderContext) -> list[RenderedFile]:
    metric = QUEUE_METRICS.get(ctx.engine)
    files: list[RenderedFile] = []
    resources: list[str] = []

    def add(path: str, what: str, objs: list[dict[str, Any]]) -> None:
        files.append(RenderedFile(f"k8s/{path}", _dump(ctx, what, objs), "k8s"))

    if ctx.multi_node:
        add("model-cache-pvc.yaml", t("render.what_pvc_rwx"), [pvc(ctx, "ReadWriteMany")])
        add("leaderworkerset.yaml", t("render.what_lws"), [leader_worker_set(ctx)])
        selector = {"leaderworkerset.sigs.k8s.io/name": ctx.name, "role": "leader"}
        add("service.yaml", t("render.what_service"), [service(ctx, selector)])
        add("pdb.yaml", t("render.what_pdb"), [pdb(ctx, selector)])
        resources = ["model-cache-pvc.yaml", "leaderworkerset.yaml", "service.yaml", "pdb.yaml"]
    else:
        add("model-cache-pvc.yaml", t("render.what_pvc"), [pvc(ctx, "ReadWriteOnce")])
        add("deployment.yaml", t("render.what_deployment"), [deployment(ctx, "blue", 1)])
        selector = {"app.kubernetes.io/name": ctx.name, "track": "blue"}
        add("service.yaml", t("render.what_service"), [service(ctx, selector)])
        add("pdb.yaml", t("render.what_pdb"), [pdb(ctx, {"app.kubernetes.io/name": ctx.name})])
        add("blue-green/deployment-green.yaml", t("render.what_green"), [deployment(ctx, "green", 0)])
        files.append(RenderedFile("k8s/blue-green/README.md", blue_green_doc(ctx), "markdown"))
        resources = ["model-cache-pvc.yaml", "deployment.yaml", "service.yaml", "pdb.yaml"]
    if metric:
        add("hpa.yaml", t("render.what_hpa", metric=metric), [hpa(ctx, metric)])
        resources.append("hpa.yaml")
        files.append(RenderedFile("k8s/autoscaling/prometheus-adapter-values.yaml", adapter_values(ctx, metric), "yaml"))
        add("autoscaling/keda-scaledobject.yaml", t("render.what_keda", metric=metric), [keda(ctx, metric)])
    kustom = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    files.append(RenderedFile("k8s/kustomization.yaml",
                              hash_header(ctx, t("render.what_kustomization")) + yaml_dump(kustom),
                              "yaml"))
    return files


def blue_green_doc(ctx: RenderContext) -> str:
    n = ctx.name
    patch_green, patch_blue = (
        json.dumps({"spec": {"selector": {"app.kubernetes.io/name": n, "track": track}}}, separators=(",", ":"))
        for track in ("green", "blue"))
    lines = [f"<!-- {line} -->" for line in header_lines(ctx, t("render.what_bluegreen"))]
    lines += [
        "",
        f"# {t('render.bg_title')}",
        "",
        t("render.bg_intro", blue=f"{n}-blue", green=f"{n}-green", service=n),
        "",
        f"1. {t('render.bg_step_deploy')}",
        "",
        "```bash",
        "kubectl apply -f k8s/blue-green/deployment-green.yaml   # replicas: 0",
        "# edit the image/args of the green Deployment, then:",
        f"kubectl scale deployment/{n}-green --replicas=1",
        f"kubectl rollout status deployment/{n}-green --timeout=2h",
        "```",
        "",
        f"2. {t('render.bg_step_switch')}",
        "",
        "```bash",
        f"kubectl patch service {n} -p '{patch_green}'",
        "```",
        "",
        f"3. {t('render.bg_step_rollback')}",
        "",
        "```bash",
        f"kubectl patch service {n} -p '{patch_blue}'",
        "```",
        "",
        f"4. {t('render.bg_step_retire')}",
        "",
        "```bash",
        f"kubectl scale deployment/{n}-blue --replicas=0",
        "```",
        "",
        t("render.bg_gpus", gpus=ctx.gpus_per_node),
        "",
    ]
    return "\n".join(lines)
