"""Targets ``deepspeed`` and ``llamafactory`` (and the training side of ``k8s``) for fine-tuning plans.

DeepSpeed keys (deepspeedai/DeepSpeed ``runtime/config.py``, ``runtime/zero/config.py``,
``runtime/zero/offload_config.py``; ecosystem.md §4.1): ``train_batch_size = train_micro_batch_size_per_gpu ×
gradient_accumulation_steps × world size`` is checked at init; ``offload_param`` (stage 3 only) and
``offload_optimizer`` are objects ``{device, pin_memory}``; every ZeRO model forbids unknown keys.
LLaMA-Factory keys (hiyouga/LlamaFactory examples/train_qlora, README multi-node section; ecosystem.md §4.2).
Volcano gang scheduling: PodGroup ``scheduling.volcano.sh/v1beta1`` + pods with ``schedulerName: volcano`` and
annotation ``scheduling.k8s.io/group-name`` (ecosystem.md §2).
"""

from __future__ import annotations

import json
from typing import Any

from gpuplan.artifacts.common import (
    MODEL_CACHE_PATH,
    RenderContext,
    RenderedFile,
    hash_header,
    quantity_gi,
    shm_bytes,
    yaml_dump,
)
from gpuplan.artifacts.engines import shell_join
from gpuplan.artifacts.k8s import cache_size_bytes, labels, node_affinity
from gpuplan.errors import InvalidInputError
from gpuplan.i18n import t
from gpuplan.spec import TrainingJob

#: Torch distributed rendezvous port (torchrun's default --master-port 29500).
MASTER_PORT = 29500
#: LLaMA-Factory demo datasets shipped in its data/dataset_info.json; replace with your own dataset name.
DEFAULT_DATASET = "identity,alpaca_en_demo"
#: LLaMA-Factory's published image and its working directory (hiyouga/LLaMA-Factory docker/docker-cuda/Dockerfile at
#: 00577a85775a2a78b14641ff8f68c58c6f46b027: WORKDIR /app, the
#: repository copied there, so the demo datasets resolve under data/). Outputs go to the model-cache volume.
LLAMAFACTORY_IMAGE = "hiyouga/llamafactory:latest"
LLAMAFACTORY_WORKDIR = "/app"
#: LoRA learning rate of LLaMA-Factory's examples/train_lora/*.yaml (1.0e-4) and its epoch/scheduler defaults.
LORA_LEARNING_RATE = 1.0e-4
FULL_LEARNING_RATE = 1.0e-5


def _job(ctx: RenderContext) -> TrainingJob:
    job = ctx.plan.training
    if job is None:
        raise InvalidInputError("render.no_training", task=ctx.plan.task)
    return job


def _zero_stage(ctx: RenderContext, job: TrainingJob) -> int:
    """The candidate's ZeRO stage (engine_args written by the planner) else the job's."""
    return int(ctx.cand.engine_args.get("zero_stage", job.zero_stage))


def _micro(ctx: RenderContext, job: TrainingJob) -> int:
    return int(ctx.cand.engine_args.get("micro_batch_size", job.micro_batch_size))


def batch_sizes(ctx: RenderContext) -> tuple[int, int, int, int]:
    """(global, micro, accumulation, world): global = micro × accumulation × world (DeepSpeed's init check)."""
    job = _job(ctx)
    world = ctx.cand.gpu_count
    micro = _micro(ctx, job)
    glob = job.global_batch_size or micro * world
    if glob % (micro * world) != 0:
        raise InvalidInputError("render.bad_batch", global_batch=glob, micro=micro, world=world)
    return glob, micro, glob // (micro * world), world


def deepspeed_config(ctx: RenderContext) -> dict[str, Any]:
    job = _job(ctx)
    glob, micro, accum, _ = batch_sizes(ctx)
    stage = _zero_stage(ctx, job)
    zero: dict[str, Any] = {"stage": stage}
    if stage > 0:
        zero.update(overlap_comm=True, contiguous_gradients=True, reduce_bucket_size=500_000_000)
    if job.offload != "none" and stage > 0:
        zero["offload_optimizer"] = {"device": job.offload, "pin_memory": True}
        if stage == 3:
            zero["offload_param"] = {"device": job.offload, "pin_memory": True}
        if job.offload == "nvme":
            zero["offload_optimizer"]["nvme_path"] = "/local_nvme"
            if stage == 3:
                zero["offload_param"]["nvme_path"] = "/local_nvme"
    if stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_batch_size": glob,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accum,
        "gradient_clipping": 1.0,
        "bf16": {"enabled": True},
        "zero_optimization": zero,
    }


def template_for(model_id: str) -> str:
    """LLaMA-Factory chat template: deepseekr1 (R1 + distills), deepseek3 (V3 family), qwen, llama3, else default."""
    low = model_id.lower()
    if "deepseek-r1" in low:
        return "deepseekr1"
    if "deepseek-v3" in low:
        return "deepseek3"
    if "qwen" in low:
        return "qwen"
    if "llama-3" in low or "llama3" in low:
        return "llama3"
    return "default"


def llamafactory_config(ctx: RenderContext) -> dict[str, Any]:
    job = _job(ctx)
    glob, micro, accum, world = batch_sizes(ctx)
    cfg: dict[str, Any] = {
        "model_name_or_path": ctx.model_id,
        "trust_remote_code": True,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full" if job.task in ("full", "pretrain") else "lora",
    }
    if job.task in ("lora", "qlora"):
        cfg.update(lora_rank=job.lora_rank, lora_target="all")
    if job.task == "qlora":
        cfg.update(quantization_bit=4, quantization_method="bnb")
    if world > 1 or _zero_stage(ctx, job) > 0:
        cfg["deepspeed"] = "training/ds_config.json"
    cfg.update(
        dataset=DEFAULT_DATASET, template=template_for(ctx.model_id), cutoff_len=job.sequence_length,
        output_dir=f"saves/{ctx.name}/{cfg['finetuning_type']}/sft", logging_steps=10, save_steps=500,
        plot_loss=True, overwrite_output_dir=True,
        per_device_train_batch_size=micro, gradient_accumulation_steps=accum,
        learning_rate=LORA_LEARNING_RATE if cfg["finetuning_type"] == "lora" else FULL_LEARNING_RATE,
        num_train_epochs=3.0, lr_scheduler_type="cosine", bf16=True,
    )
    # No warmup key: transformers 5 removed 'warmup_ratio' (warmup_steps takes a ratio) while 4.x needs an int
    # 'warmup_steps'; LLaMA-Factory 0.9.5 accepts transformers 4.55-5.6, so neither spelling works for both.
    if job.flash_attention:
        cfg["flash_attn"] = "fa2"
    if job.recompute != "none":
        cfg["disable_gradient_checkpointing"] = False
    return cfg


def deepspeed_files(ctx: RenderContext) -> list[RenderedFile]:
    cfg = deepspeed_config(ctx)
    c = ctx.cand
    hostfile = hash_header(ctx, t("render.what_hostfile")) + "".join(
        f"node-{i} slots={ctx.gpus_per_node}\n" for i in range(c.nodes))
    launcher = '"$(python3 -c \'import llamafactory.launcher as m; print(m.__file__)\')"'
    # One node: no hostfile (the launcher would ssh to the placeholder host names); more: the hostfile.
    multi = ["--hostfile", "training/hostfile", "--num_nodes", str(c.nodes)] if c.nodes > 1 else []
    ds_line = shell_join(["deepspeed", *multi, "--num_gpus", str(ctx.gpus_per_node),
                          "--master_port", str(MASTER_PORT)])
    script = (
        "#!/usr/bin/env bash\n" + hash_header(ctx, t("render.what_ds_launch")) + "set -euo pipefail\n"
        + 'cd "$(dirname "$0")/.."\n'
        + f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"
        + f"exec {ds_line} \\\n  {launcher} \\\n  training/llamafactory.yaml\n"
    )
    return [RenderedFile("training/ds_config.json", json.dumps(cfg, indent=2) + "\n", "deepspeed"),
            RenderedFile("training/hostfile", hostfile, "hostfile"),
            RenderedFile("training/launch-deepspeed.sh", script, "shell")]


def llamafactory_files(ctx: RenderContext) -> list[RenderedFile]:
    c = ctx.cand
    cfg = llamafactory_config(ctx)
    text = hash_header(ctx, t("render.what_llamafactory")) + yaml_dump(cfg)
    env = [f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"]
    if c.gpu_count > 1:
        env += ["export FORCE_TORCHRUN=1\n", f"export NNODES={c.nodes}\n",
                f"export NPROC_PER_NODE={ctx.gpus_per_node}\n",
                'export NODE_RANK="${NODE_RANK:-0}"\n', 'export MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"\n',
                f'export MASTER_PORT="${{MASTER_PORT:-{MASTER_PORT}}}"\n']
    script = ("#!/usr/bin/env bash\n" + hash_header(ctx, t("render.what_lf_launch")) + "set -euo pipefail\n"
              + 'cd "$(dirname "$0")/.."\n' + "".join(env) + "exec llamafactory-cli train training/llamafactory.yaml\n")
    return [RenderedFile("training/llamafactory.yaml", text, "yaml"),
            RenderedFile("training/launch.sh", script, "shell")]


def training_k8s_files(ctx: RenderContext) -> list[RenderedFile]:
    """Volcano PodGroup (gang of ``nodes`` pods) and an Indexed Job whose completion index is the node rank."""
    c = ctx.cand
    name = f"{ctx.name}-train"
    n = ctx.gpus_per_node
    pg = {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
          "metadata": {"name": name, "labels": labels(ctx)},
          "spec": {"minMember": c.nodes, "minResources": {ctx.gpu_resource: str(c.gpu_count)}, "queue": "default"}}
    master = f"{name}-0.{name}" if c.nodes > 1 else "127.0.0.1"
    cmd = ("export NODE_RANK=$JOB_COMPLETION_INDEX; "
           f"export MASTER_ADDR={master}; bash training/launch.sh")
    pod = {
        "metadata": {"labels": labels(ctx, job=name),
                     "annotations": {"scheduling.k8s.io/group-name": name}},
        "spec": {
            "schedulerName": "volcano", "restartPolicy": "Never", "subdomain": name,
            "containers": [{
                "name": "train", "image": LLAMAFACTORY_IMAGE, "workingDir": LLAMAFACTORY_WORKDIR,
                "command": ["/bin/bash", "-c", cmd],
                "env": [{"name": "HF_HOME", "value": MODEL_CACHE_PATH},
                        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token",
                                                                          "optional": True}}}],
                "resources": {"limits": {ctx.gpu_resource: str(n)}},
                "volumeMounts": [{"name": "model-cache", "mountPath": MODEL_CACHE_PATH},
                                 {"name": "workspace", "mountPath": f"{LLAMAFACTORY_WORKDIR}/training"},
                                 {"name": "model-cache", "mountPath": f"{LLAMAFACTORY_WORKDIR}/saves",
                                  "subPath": "saves"},
                                 {"name": "dshm", "mountPath": "/dev/shm"}]}],
            "tolerations": [{"key": ctx.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "model-cache", "persistentVolumeClaim": {"claimName": f"{ctx.name}-model-cache"}},
                        {"name": "workspace", "configMap": {"name": f"{name}-files"}},
                        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": quantity_gi(shm_bytes(ctx))}}],
        },
    }
    aff = node_affinity(ctx)
    if aff:
        pod["spec"]["affinity"] = aff
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels(ctx)},
           "spec": {"completionMode": "Indexed", "completions": c.nodes, "parallelism": c.nodes,
                    "backoffLimit": 0, "template": pod}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": f"{ctx.name}-model-cache", "labels": labels(ctx)},
           "spec": {"accessModes": ["ReadWriteMany" if c.nodes > 1 else "ReadWriteOnce"],
                    "resources": {"requests": {"storage": quantity_gi(cache_size_bytes(ctx))}}}}
    objs = [pvc, pg, job]
    if c.nodes > 1:
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels(ctx)},
                     "spec": {"clusterIP": "None", "selector": {"job": name},
                              "ports": [{"name": "rendezvous", "port": MASTER_PORT}]}})
    body = "---\n".join(yaml_dump(o) for o in objs)
    usage = (f"# {t('render.train_k8s_usage', cm=f'{name}-files')}\n"
             f"#   kubectl create configmap {name}-files --from-file=training/\n")
    return [RenderedFile("k8s/training-job.yaml", hash_header(ctx, t("render.what_train_job")) + usage + body, "k8s")]
