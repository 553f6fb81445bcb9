"""Rendered artifacts checked by the real validators: kubernetes-validate, CRD schemas, compose-spec, promtool,
DeepSpeed's own config models, bash -n.

Example plans: tests/data/plans/*.yaml (hand-written, each with its sources in its header comment).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from gpuplan.artifacts import render_plan
from gpuplan.planfile import PlanFile

DATA = Path(__file__).parent / "data"
PLANS = sorted((DATA / "plans").glob("*.yaml"))
SERVING = [p for p in PLANS if not p.name.startswith("qlora")]
K8S_VERSION = "1.33.0"
CRD_SCHEMAS = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): "lws-leaderworkerset.schema.yaml",
    ("scheduling.volcano.sh/v1beta1", "PodGroup"): "volcano-podgroup.schema.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject.schema.yaml",
}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus' provides /usr/bin/promtool)")



def rendered(plan_path: Path) -> dict[str, str]:
    from gpuplan.i18n import get_language, set_language

    before = get_language()
    set_language("en")
    try:
        return {f.path: f.content for f in render_plan(PlanFile.load(plan_path), ["all"])}
    finally:
        set_language(before)


@pytest.fixture(scope="module", params=PLANS, ids=lambda p: p.stem)
def files(request) -> dict[str, str]:
    return rendered(request.param)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# --- Kubernetes -----------------------------------------------------------------------------------------------

def strict(schema):
    """Reject unknown fields where the schema lists properties (kubectl --validate=strict semantics), except where
    the CRD says x-kubernetes-preserve-unknown-fields."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validator(name: str) -> jsonschema.Validator:
    schema = yaml.safe_load((DATA / "crds" / name).read_text())
    return jsonschema.Draft7Validator(strict(schema))


def k8s_docs(files: dict[str, str]) -> list[dict]:
    docs = []
    for path, text in files.items():
        # kustomization.yaml and Helm values files are not Kubernetes objects.
        if path.startswith("k8s/") and path.endswith(".yaml") and not path.endswith(("kustomization.yaml",
                                                                                     "-values.yaml")):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def validate_k8s(doc: dict) -> None:
    import kubernetes_validate

    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        crd_validator(CRD_SCHEMAS[key]).validate(doc)
        if doc["kind"] == "LeaderWorkerSet":
            tmpl = doc["spec"]["leaderWorkerTemplate"]
            for role in ("leaderTemplate", "workerTemplate"):
                kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                              "metadata": {"name": f"{doc['metadata']['name']}-{role.lower()}"},
                                              "template": tmpl[role]}, K8S_VERSION, strict=True)
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def inline_scripts(doc: dict) -> list[str]:
    """The 'bash -c SCRIPT' strings of every container in a manifest."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            cmd = node.get("command")
            if isinstance(cmd, list) and cmd[:1] == ["/bin/bash"]:
                argv = cmd[1:] + node.get("args", [])
                if argv[:1] == ["-c"]:
                    found.append(argv[1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found


def check_inline_scripts(docs: list[dict]) -> None:
    shellcheck = shutil.which("shellcheck")
    for doc in docs:
        for script in inline_scripts(doc):
            proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            assert proc.returncode == 0, (script, proc.stderr)
            if shellcheck:
                proc = subprocess.run([shellcheck, "-s", "bash", "-"], input=script, capture_output=True, text=True)
                assert proc.returncode == 0, (script, proc.stdout)


def test_k8s_manifests_validate(files):
    docs = k8s_docs(files)
    assert docs, "every plan renders Kubernetes objects"
    for doc in docs:
        validate_k8s(doc)
    check_inline_scripts(docs)


def test_k8s_validator_rejects_a_typo():
    """The validators can fail: a misspelt field is rejected, in a core object and in a CRD."""
    import kubernetes_validate

    files = rendered(DATA / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml")
    dep = next(d for d in k8s_docs(files) if d["kind"] == "Deployment")
    bad = copy.deepcopy(dep)
    bad["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    files = rendered(DATA / "plans" / "2x8xh20-sglang-deepseek-v3.yaml")
    lws = next(d for d in k8s_docs(files) if d["kind"] == "LeaderWorkerSet")
    bad = copy.deepcopy(lws)
    bad["spec"]["leaderWorkerTemplate"]["restartPolicy"] = "Always"
    with pytest.raises(jsonschema.ValidationError):
        validate_k8s(bad)


@pytest.mark.parametrize("plan_path", SERVING, ids=lambda p: p.stem)
def test_gpu_scheduling_conventions(plan_path):
    """GPUs only in limits, Exists/NoSchedule toleration, GFD affinity, /dev/shm in memory (ecosystem.md §2)."""
    plan = PlanFile.load(plan_path)
    c = plan.chosen
    docs = k8s_docs({f.path: f.content for f in render_plan(plan, ["k8s"])})
    pods = []
    for d in docs:
        if d["kind"] == "Deployment":
            pods.append(d["spec"]["template"]["spec"])
        elif d["kind"] == "LeaderWorkerSet":
            pods += [d["spec"]["leaderWorkerTemplate"][r]["spec"] for r in ("leaderTemplate", "workerTemplate")]
    assert pods
    for pod in pods:
        res = pod["containers"][0]["resources"]
        assert res["limits"]["nvidia.com/gpu"] == str(c.gpus_per_node if c.nodes > 1 else c.gpu_count)
        assert "requests" not in res
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        exprs = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"][0]["matchExpressions"]
        keys = {e["key"]: e for e in exprs}
        assert "nvidia.com/gpu.product" in keys
        # GFD reports gpu.memory in MiB (ecosystem.md §2); the plan's capacity in MiB must pass the Gt test.
        assert int(keys["nvidia.com/gpu.memory"]["values"][0]) < c.memory.capacity_bytes // 2**20
        shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
        assert shm["emptyDir"]["medium"] == "Memory"


def test_startup_probe_covers_weight_load():
    """failureThreshold × period ≥ checkpoint bytes per node / 1 GB/s (the documented read-bandwidth assumption)."""
    plan = PlanFile.load(DATA / "plans" / "2x8xh20-sglang-deepseek-v3.yaml")
    docs = k8s_docs({f.path: f.content for f in render_plan(plan, ["k8s"])})
    lws = next(d for d in docs if d["kind"] == "LeaderWorkerSet")
    probe = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["startupProbe"]
    per_node_s = plan.model.checkpoint_bytes / plan.chosen.nodes / 1e9
    assert probe["failureThreshold"] * probe["periodSeconds"] >= per_node_s


# --- compose, Dockerfile, shell -------------------------------------------------------------------------------

def test_compose_matches_compose_spec(files):
    if "docker/docker-compose.yml" not in files:
        pytest.skip("training plans render no compose file")
    schema = json.loads((DATA / "crds" / "compose-spec.json").read_text())
    doc = yaml.safe_load(files["docker/docker-compose.yml"])
    jsonschema.Draft201909Validator(schema).validate(doc)
    bad = copy.deepcopy(doc)
    bad["services"]["engine"]["gpu_count"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(schema).validate(bad)


DOCKERFILE_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                           "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def test_dockerfile_instructions(files):
    """Every line is a comment or a Dockerfile instruction (docs.docker.com/reference/dockerfile), FROM first, and
    exec-form JSON arrays parse."""
    if "docker/Dockerfile" not in files:
        pytest.skip("training plans render no Dockerfile")
    lines = [ln for ln in files["docker/Dockerfile"].splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0].startswith("FROM ")
    for ln in lines:
        word, _, rest = ln.partition(" ")
        assert word in DOCKERFILE_INSTRUCTIONS, ln
        if rest.startswith("["):
            assert isinstance(json.loads(rest), list)
    copied = [ln.split()[1] for ln in lines if ln.startswith("COPY ")]
    assert all(src in files or any(f.startswith(src) for f in files) for src in copied), "COPY sources are rendered"


def test_shell_scripts_parse(files, tmp_path):
    """bash -n on every script; shellcheck too when installed (Debian package 'shellcheck')."""
    write_tree(tmp_path, files)
    scripts = [p for p in files if p.endswith(".sh")]
    assert scripts
    shellcheck = shutil.which("shellcheck")
    for rel in scripts:
        proc = subprocess.run(["bash", "-n", str(tmp_path / rel)], capture_output=True, text=True)
        assert proc.returncode == 0, (rel, proc.stderr)
        if shellcheck:
            proc = subprocess.run([shellcheck, str(tmp_path / rel)], capture_output=True, text=True)
            assert proc.returncode == 0, (rel, proc.stdout)


# --- Prometheus -----------------------------------------------------------------------------------------------

@needs_promtool
def test_promtool_check_and_test_rules(files, tmp_path):
    write_tree(tmp_path, files)
    mon = tmp_path / "monitoring"
    check = subprocess.run([PROMTOOL, "check", "rules", str(mon / "prometheus-rules.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([PROMTOOL, "test", "rules", "prometheus-rules.test.yml"], cwd=mon,
                          capture_output=True, text=True)
    assert test.returncode == 0, test.stdout + test.stderr
    config = subprocess.run([PROMTOOL, "check", "config", "prometheus.yml"], cwd=mon, capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr


@needs_promtool
def test_promtool_unit_tests_can_fail(tmp_path):
    """A rule whose threshold is moved above the synthetic bad series makes 'promtool test rules' fail."""
    files = rendered(DATA / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml")
    files["monitoring/prometheus-rules.yml"] = files["monitoring/prometheus-rules.yml"].replace(
        "DCGM_FI_DEV_GPU_TEMP > 85", "DCGM_FI_DEV_GPU_TEMP > 95")
    write_tree(tmp_path, files)
    test = subprocess.run([PROMTOOL, "test", "rules", "prometheus-rules.test.yml"], cwd=tmp_path / "monitoring",
                          capture_output=True, text=True)
    assert test.returncode != 0


def test_alerts_cover_the_issue_list():
    plan = PlanFile.load(DATA / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml")
    rules = yaml.safe_load({f.path: f.content for f in render_plan(plan, ["prometheus"])}[
        "monitoring/prometheus-rules.yml"])
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert exprs["GpuTemperatureHigh"] == "DCGM_FI_DEV_GPU_TEMP > 85"
    for name in ("GpuIdle", "GpuUnderused", "GpuMemoryHigh", "GpuXidError", "GpuRowRemapFailure", "GpuPowerAtLimit",
                 "KvCacheNearlyFull", "EngineQueueDeep", "TtftOverSlo", "ItlOverSlo"):
        assert name in exprs
    # The plan's SLO (ttft 2 s, tpot 50 ms at P90) is the threshold.
    assert exprs["TtftOverSlo"].startswith("histogram_quantile(0.9,") and exprs["TtftOverSlo"].endswith("> 2")
    assert "vllm:inter_token_latency_seconds_bucket" in exprs["ItlOverSlo"] and exprs["ItlOverSlo"].endswith("> 0.05")
    assert "vllm:kv_cache_usage_perc" in exprs["KvCacheNearlyFull"]


@needs_promtool
def test_dashboard_queries_are_valid_promql(files, tmp_path):
    """Each panel query, wrapped as a recording rule, passes 'promtool check rules'."""
    dash = json.loads(files["monitoring/grafana-dashboard.json"])
    assert dash["panels"]
    rules = {"groups": [{"name": "dash", "rules": [
        {"record": f"gpuplan:panel{i}", "expr": p["targets"][0]["expr"]} for i, p in enumerate(dash["panels"])]}]}
    path = tmp_path / "dash-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# --- DeepSpeed ------------------------------------------------------------------------------------------------

def _ds_config(plan_path: Path) -> dict:
    plan = PlanFile.load(plan_path)
    return json.loads({f.path: f.content for f in render_plan(plan, ["deepspeed"])}["training/ds_config.json"])


def _deepspeed_check(cfg: dict, world: int) -> None:
    """DeepSpeed's own parsing: DeepSpeedConfig builds DeepSpeedZeroConfig / offload models (pydantic,
    extra='forbid'); top-level keys must be names DeepSpeed defines in runtime/constants.py or runtime/zero/config.py.
    Without torch.distributed, DeepSpeedConfig assumes world size 1, so the batch is given for one rank and the
    invariant train_batch = micro × accumulation × world is checked here."""
    pytest.importorskip("deepspeed", reason="deepspeed not installed (DS_BUILD_OPS=0 pip install deepspeed)")
    from deepspeed.runtime import constants
    from deepspeed.runtime.config import DeepSpeedConfig
    from deepspeed.runtime.zero import config as zero_config

    known = {v for mod in (constants, zero_config) for k, v in vars(mod).items()
             if k.isupper() and isinstance(v, str)}
    unknown = set(cfg) - known
    assert not unknown, unknown
    assert cfg["train_batch_size"] == (cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"]
                                       * world)
    one = dict(cfg, train_batch_size=cfg["train_batch_size"] // world)
    DeepSpeedConfig(one)


def test_deepspeed_config_accepted_by_deepspeed():
    cfg = _ds_config(DATA / "plans" / "qlora-qwen2.5-32b-l40s.yaml")
    # The plan: global batch 16, micro 1, one GPU → 16 accumulation steps.
    assert (cfg["train_batch_size"], cfg["train_micro_batch_size_per_gpu"], cfg["gradient_accumulation_steps"]) == (
        16, 1, 16)
    _deepspeed_check(cfg, 1)


def test_deepspeed_zero3_offload_multi_gpu_accepted():
    """ZeRO-3 with CPU offload on 2 nodes × 8 GPUs: offload_param/offload_optimizer objects, batch = 1 × 4 × 16."""
    plan = PlanFile.load(DATA / "plans" / "qlora-qwen2.5-32b-l40s.yaml")
    job = plan.training.model_copy(update={"task": "lora", "zero_stage": 3, "offload": "cpu", "global_batch_size": 64})
    cand = plan.chosen.model_copy(update={"gpu_count": 16, "nodes": 2, "gpus_per_node": 8,
                                          "engine_args": {"zero_stage": 3, "micro_batch_size": 1}})
    plan = plan.model_copy(update={"task": "lora", "training": job, "candidates": (cand,)})
    cfg = json.loads({f.path: f.content for f in render_plan(plan, ["deepspeed"])}["training/ds_config.json"])
    zero = cfg["zero_optimization"]
    assert zero["offload_param"] == {"device": "cpu", "pin_memory": True}
    assert cfg["gradient_accumulation_steps"] == 4
    _deepspeed_check(cfg, 16)
    files = {f.path: f.content for f in render_plan(plan, ["deepspeed", "k8s"])}
    assert files["training/hostfile"].splitlines()[-2:] == ["node-0 slots=8", "node-1 slots=8"]
    for doc in k8s_docs(files):
        validate_k8s(doc)


def test_deepspeed_rejects_misspelt_offload():
    """The check can fail: the seed article's 'offload_params': true is rejected by DeepSpeed (ecosystem.md §4.1)."""
    cfg = _ds_config(DATA / "plans" / "qlora-qwen2.5-32b-l40s.yaml")
    cfg["zero_optimization"] = {"stage": 3, "offload_params": True}
    with pytest.raises(Exception, match="offload_params"):
        _deepspeed_check(cfg, 1)


# --- LLaMA-Factory --------------------------------------------------------------------------------------------

def _llamafactory_source() -> Path:
    """LLaMA-Factory's package folder, found without importing it (its import needs datasets, peft, trl...)."""
    import importlib.util

    spec = importlib.util.find_spec("llamafactory")
    if spec is None or spec.origin is None:
        pytest.skip("llamafactory not installed (pip install --no-deps llamafactory==0.9.5)")
    return Path(spec.origin).parent


def llamafactory_accepted_keys() -> set[str]:
    """Field names of LLaMA-Factory's argument dataclasses (hparams/*_args.py, read with ast) plus transformers'
    Seq2SeqTrainingArguments: its parser (hparams/parser.py) rejects any other key unless ALLOW_EXTRA_ARGS is set."""
    import ast
    import dataclasses

    from transformers import Seq2SeqTrainingArguments

    keys = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    for path in (_llamafactory_source() / "hparams").glob("*_args.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                keys |= {s.target.id for s in node.body
                         if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    return keys


def test_llamafactory_config_uses_only_accepted_keys():
    plan = PlanFile.load(DATA / "plans" / "qlora-qwen2.5-32b-l40s.yaml")
    cfg = yaml.safe_load({f.path: f.content for f in render_plan(plan, ["llamafactory"])}["training/llamafactory.yaml"])
    accepted = llamafactory_accepted_keys()
    assert set(cfg) - accepted == set()
    assert "lora_ranks" not in accepted  # the check can fail: a misspelt key is not accepted
    templates = (_llamafactory_source() / "data" / "template.py").read_text()
    assert f'name="{cfg["template"]}"' in templates
    constants = (_llamafactory_source() / "extras" / "constants.py").read_text()
    assert f'= "{cfg["flash_attn"]}"' in constants and f'= "{cfg["quantization_method"]}"' in constants


# --- the planner's own output, end to end ----------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "--gpu", "rtx-4090", "--max-gpus", "1", "--users", "1",
     "--quality", "4bit"],  # a 32B model on one 24 GiB card only runs at 4 bits: opened explicitly
    ["deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "--gpu", "h20", "--engine", "vllm", "--users", "50"],
    ["deepseek-ai/DeepSeek-V3", "--gpu", "h20", "--engine", "sglang", "--weights", "fp8-block", "--users", "64"],
    ["Qwen/Qwen2.5-32B-Instruct", "--task", "qlora", "--gpu", "l40s", "--max-gpus", "1"],
], ids=["4090-32b", "h20-70b-vllm", "h20-v3-sglang", "qlora-32b"])
def test_planner_output_renders_valid_artifacts(argv, tmp_path):
    """'gpuplan plan ... -o plan.yaml && gpuplan render plan.yaml --target all --out deploy/' (the issue's 'done
    when'), validated like the hand-written plans."""
    from typer.testing import CliRunner

    from gpuplan.cli.main import build_app

    plan_path = tmp_path / "plan.yaml"
    res = CliRunner().invoke(build_app(), ["plan", *argv, "--top", "1", "-o", str(plan_path)])
    assert res.exit_code == 0, res.output
    assert PlanFile.load(plan_path).candidates, res.output
    out = tmp_path / "deploy"
    res = CliRunner().invoke(build_app(), ["render", str(plan_path), "--target", "all", "--out", str(out)])
    assert res.exit_code == 0, res.output
    files = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()}
    for doc in k8s_docs(files):
        validate_k8s(doc)
    for rel in (p for p in files if p.endswith(".sh")):
        assert subprocess.run(["bash", "-n", str(out / rel)]).returncode == 0, rel
    if PROMTOOL:
        test = subprocess.run([PROMTOOL, "test", "rules", "prometheus-rules.test.yml"], cwd=out / "monitoring",
                              capture_output=True, text=True)
        assert test.returncode == 0, test.stdout + test.stderr


VARIANTS = {
    "amd-mi300x": ("8xh20-vllm-r1-distill-llama-70b.yaml", {"gpu": "mi300x"}),
    "ascend-910b": ("8xh20-vllm-r1-distill-llama-70b.yaml", {"gpu": "ascend-910b"}),
    "trtllm": ("8xh20-vllm-r1-distill-llama-70b.yaml", {"engine": "trtllm", "engine_args": {
        "--tp_size": 8, "--max_batch_size": 64, "--max_seq_len": 32768, "kv_cache_config": {"dtype": "fp8"}}}),
    "ollama": ("single-4090-llamacpp-r1-distill-qwen-32b.yaml", {"engine": "ollama"}),
    "vllm-dp16-2nodes": ("2x8xh20-vllm-deepseek-v3.yaml", {
        "tensor_parallel_size": 1, "pipeline_parallel_size": 1, "data_parallel_size": 16,
        "engine_args": {"--data-parallel-size": 16, "--enable-expert-parallel": True}}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_pass_validators(variant, tmp_path):
    """Other vendors and engines go through the same validators as the example plans."""
    name, update = VARIANTS[variant]
    plan = PlanFile.load(DATA / "plans" / name)
    plan = plan.model_copy(update={"candidates": (plan.chosen.model_copy(update=update),)})
    files = {f.path: f.content for f in render_plan(plan, ["all"])}
    for doc in k8s_docs(files):
        validate_k8s(doc)
    check_inline_scripts(k8s_docs(files))
    schema = json.loads((DATA / "crds" / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(yaml.safe_load(files["docker/docker-compose.yml"]))
    write_tree(tmp_path, files)
    for rel in (p for p in files if p.endswith(".sh")):
        assert subprocess.run(["bash", "-n", str(tmp_path / rel)]).returncode == 0, rel
        if shutil.which("shellcheck"):
            assert subprocess.run(["shellcheck", str(tmp_path / rel)], capture_output=True).returncode == 0, rel


@needs_promtool
def test_chinese_rendering_passes_promtool(tmp_path):
    """--lang zh puts Chinese into comments and alert summaries; the files stay valid."""
    from gpuplan.i18n import set_language

    set_language("zh")
    try:
        plan = PlanFile.load(DATA / "plans" / "2x8xh20-sglang-deepseek-v3.yaml")
        files = {f.path: f.content for f in render_plan(plan, ["all"])}
    finally:
        set_language("en")
    assert "引擎" in files["engine/serve-node.sh"]
    write_tree(tmp_path, files)
    test = subprocess.run([PROMTOOL, "test", "rules", "prometheus-rules.test.yml"], cwd=tmp_path / "monitoring",
                          capture_output=True, text=True)
    assert test.returncode == 0, test.stdout + test.stderr
    for doc in k8s_docs(files):
        validate_k8s(doc)
