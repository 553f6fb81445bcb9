"""The core's value objects are frozen dataclasses (gpuplan.records, issue 16: `gpuplan size` starts without
pydantic). They must dump exactly as the pydantic models they replaced, refuse out-of-range values with one sentence
in both languages (also inside plan files and API bodies, where pydantic models hold them), keep their bounds in the
OpenAPI schema, and `--json` output must stay byte-for-byte what it was (tests/data/json, written by the code before)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from typer.testing import CliRunner

from gpuplan.catalog import get_gpu, get_model, list_gpus, list_hosts
from gpuplan.cli.main import build_app
from gpuplan.errors import InvalidInputError
from gpuplan.i18n import set_language
from gpuplan.memory import size_inference, size_training
from gpuplan.memory.quant import list_formats
from gpuplan.planfile import PlanFile
from gpuplan.spec import Deployment, Slo, TrainingJob, Workload

DATA = Path(__file__).parent / "data"
GOOD_PLAN = DATA / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml"
SNAPSHOTS = {
    "size-deepseek-v3-8xh20.json": ["size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--json"],
    "size-r1-distill-qwen-32b-4090-awq.json": ["size", "r1-distill-qwen-32b", "--gpu", "4090", "--gpus", "1",
                                               "--weights", "awq-int4", "--json"],
    "size-qwen2.5-32b-2xl40s-qlora.json": ["size", "qwen2.5-32b", "--gpu", "l40s", "--gpus", "2", "--task", "qlora",
                                           "--json"],
}


def _objects() -> list:
    model = get_model("deepseek-v3")
    dep = Deployment(gpu_id="h20", gpu_count=8, tensor_parallel_size=8)
    qwen = get_model("qwen2.5-32b")
    job = TrainingJob(task="qlora", lora_rank=8)
    return [
        dep, Workload(concurrency=4, rate_per_s=None), Slo(ttft_s=2, tpot_s=0.05), job,
        Deployment(gpu_id="4090", gpu_memory_utilization=0.9, offload="layers", gpu_layers=20),
        size_inference(model, dep, context_tokens=32768, concurrency=8, gpu=get_gpu("h20")),
        size_training(qwen, job, gpu_id="l40s", gpu_count=2),
        model, model.checkpoint, qwen, *list_gpus(), *list_hosts(), *list_formats(),
    ]


def test_model_dump_is_what_pydantic_itself_writes_for_the_same_object():
    for obj in _objects():
        adapter = TypeAdapter(type(obj))
        assert obj.model_dump(mode="json") == adapter.dump_python(obj, mode="json"), type(obj).__name__
        assert obj.model_dump() == adapter.dump_python(obj), type(obj).__name__
        assert list(type(obj).model_fields) == [f.name for f in dataclasses.fields(obj)]


def test_pydantic_validation_rebuilds_an_equal_object():
    for obj in _objects():
        if type(obj).__name__ == "ModelEntry":  # config is a dict of upstream values: compared field by field below
            continue
        adapter = TypeAdapter(type(obj))
        assert adapter.validate_python(adapter.dump_python(obj, mode="json")) == obj, type(obj).__name__
    entry = get_model("deepseek-v3")
    again = TypeAdapter(type(entry)).validate_python(entry.model_dump(mode="json"))
    assert again.model_dump() == entry.model_dump() and again.arch.num_layers == entry.arch.num_layers


def test_json_output_is_byte_for_byte_what_it_was():
    runner = CliRunner()
    for name, args in SNAPSHOTS.items():
        result = runner.invoke(build_app(), args)
        assert result.exit_code == 0, result.output
        path = DATA / "json" / name
        if os.environ.get("GPUPLAN_UPDATE_SNAPSHOTS") == "1":
            path.write_text(result.stdout, encoding="utf-8")
        assert result.stdout == path.read_text(encoding="utf-8"), name


def test_copy_checks_and_converts_like_construction():
    dep = Deployment(gpu_id="h20", gpu_count=8)
    assert dep.model_copy(update={"gpu_count": 4}).gpu_count == 4
    assert dep.model_copy() == dep and dep.model_copy() is not dep
    with pytest.raises(InvalidInputError):
        dep.model_copy(update={"gpu_count": 0})
    # ints for float fields become floats and lists tuples, as pydantic converted them (JSON shows 2.0, not 2)
    slo = Slo(ttft_s=2)
    assert type(slo.ttft_s) is float and json.dumps(slo.model_dump(mode="json")) == \
        '{"ttft_s": 2.0, "tpot_s": null, "percentile": 50.0}'
    assert TrainingJob(lora_targets=["q", "v"]).lora_targets == ("q", "v")
    v3 = get_model("deepseek-v3")
    assert v3.arch.num_layers == 61  # cached on the entry; a copy with another config computes its own
    shorter = v3.model_copy(update={"id": "x/y", "config": {**v3.config, "num_hidden_layers": 30}})
    assert (shorter.arch.num_layers, v3.arch.num_layers) == (30, 61)
    with pytest.raises(TypeError):
        dep.model_copy(update={"no_such_field": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        dep.gpu_count = 2  # type: ignore[misc]


@pytest.mark.parametrize(("make", "en", "zh"), [
    (lambda: Deployment(gpu_id="h20", gpu_count=0), "Deployment.gpu_count must be from 1 to 4096, but 0 was given",
     "Deployment.gpu_count 必须在 1 到 4096 之间，但给出的是 0"),
    (lambda: Deployment(gpu_id="h20", gpu_memory_utilization=0.05),
     "must be more than 0.05 and at most 1, but 0.05 was given", "必须大于 0.05 且不大于 1"),
    (lambda: Workload(prefix_cache_hit_fraction=1.0), "must be at least 0 and less than 1, but 1 was given",
     "必须不小于 0 且小于 1"),
    (lambda: Workload(rate_per_s=float("nan")), "Workload.rate_per_s must be more than 0 and at most 1000000, but nan",
     "Workload.rate_per_s 必须大于 0 且不大于 1000000"),
    (lambda: Slo(ttft_s=0), "Slo.ttft_s must be more than 0, but 0 was given", "Slo.ttft_s 必须大于 0"),
    (lambda: TrainingJob(recompute="some"), "TrainingJob.recompute must be one of none, selective, full, but 'some'",
     "TrainingJob.recompute 必须是以下之一：none, selective, full"),
    (lambda: Deployment(gpu_id="h20", engine_version="1" * 65), "Deployment.engine_version is 65 characters long",
     "Deployment.engine_version 长 65 个字符"),
    (lambda: Deployment(gpu_id="h20", gpu_count="8"), "Deployment.gpu_count must be a number, but '8' was given",
     "Deployment.gpu_count 必须是数字"),
])
def test_out_of_range_values_are_one_sentence_in_both_languages(make, en, zh):
    with pytest.raises(InvalidInputError) as err:
        make()
    assert en in err.value.message("en") and err.value.message("en").endswith(".")
    assert zh in err.value.message("zh") and err.value.message("zh").endswith("。")
    assert "\n" not in err.value.message("en")


def _bad_plan(tmp_path: Path) -> Path:
    data = yaml.safe_load(GOOD_PLAN.read_text())
    data["workload"]["input_tokens"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_plan_file_with_an_out_of_range_workload_is_one_sentence(tmp_path):
    set_language("en")
    result = CliRunner().invoke(build_app(), ["cost", str(_bad_plan(tmp_path))])
    assert result.exit_code == 2, result.output
    assert "Workload.input_tokens must be from 1 to 10000000, but 0 was given." in result.output
    assert "Traceback" not in result.output


def test_the_api_answers_an_out_of_range_value_with_its_sentence_and_keeps_the_bounds_in_openapi(tmp_path):
    from gpuplan.api import ApiSettings, create_app

    plan = yaml.safe_load(_bad_plan(tmp_path).read_text())
    with TestClient(create_app(ApiSettings())) as client:
        res = client.post("/api/v1/cost", json={"plan": plan})
        assert res.status_code == 422
        assert res.json() == {"detail": "Workload.input_tokens must be from 1 to 10000000, but 0 was given. "
                                        "Give a value in that range."}
        res = client.post("/api/v1/cost?lang=zh", json={"plan": plan})
        assert res.status_code == 422 and res.json()["detail"].startswith("Workload.input_tokens 必须在 1 到 10000000 之间")
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    gpus = schemas["Deployment"]["properties"]["gpu_count"]
    assert (gpus["minimum"], gpus["maximum"]) == (1, 4096)
    util = schemas["Deployment"]["properties"]["gpu_memory_utilization"]["anyOf"][0]
    assert (util["exclusiveMinimum"], util["maximum"]) == (0.05, 1.0)
    assert schemas["Workload"]["properties"]["prefix_cache_hit_fraction"]["exclusiveMaximum"] == 1.0


def test_plan_files_still_load_and_write_the_same_yaml(tmp_path):
    plan = PlanFile.load(GOOD_PLAN)
    assert isinstance(plan.workload, Workload) and isinstance(plan.slo, Slo)
    again = PlanFile.from_text(plan.to_yaml())
    assert again.to_yaml() == plan.to_yaml()
    assert again.model_dump(mode="json")["workload"] == plan.workload.model_dump(mode="json")


# ----------------------------------------------------------------------------- issue 16: `gpuplan plan` start-up

def test_record_methods_match_the_ones_dataclasses_would_compile():
    """@record leaves __repr__, __eq__ and __hash__ to Record (dataclasses compiles them per class, a third of the
    cost of building one): they must answer as the dataclass-generated ones do."""
    from gpuplan.records import Record, record

    @record(kw_only=True)
    class Mine(Record):
        a: int
        b: tuple[str, ...] = ()
        c: float | None = None

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Theirs:
        a: int
        b: tuple[str, ...] = ()
        c: float | None = None

    for kw in ({"a": 1}, {"a": 2, "b": ("x", "y"), "c": 0.5}):
        mine, theirs = Mine(**kw), Theirs(**kw)
        assert repr(mine).removeprefix(type(mine).__qualname__) == repr(theirs).removeprefix(type(theirs).__qualname__)
        assert hash(mine) == hash(theirs)
        assert mine == Mine(**kw) and not (mine != Mine(**kw))
    assert Mine(a=1) != Mine(a=2) and Mine(a=1) != Theirs(a=1)  # another class is never equal, as a dataclass's
    assert Mine(a=1).__eq__(Theirs(a=1)) is NotImplemented
    with pytest.raises(dataclasses.FrozenInstanceError):
        Mine(a=1).a = 3
    dep = Deployment(gpu_id="h20", gpu_count=8)
    assert repr(dep).startswith("Deployment(gpu_id='h20', gpu_count=8, nodes=1,") and hash(dep) == hash(
        Deployment(gpu_id="h20", gpu_count=8))
    assert {dep, Deployment(gpu_id="h20", gpu_count=8)} == {dep}


def test_records_convert_numbers_and_check_text_as_pydantic_did():
    from gpuplan.catalog.checkpoints import CheckpointRef
    from gpuplan.perf.calibration import CalibrationParams
    from gpuplan.planfile import MemorySummary

    mem = MemorySummary(weights_bytes=1.0, kv_cache_bytes=2, activation_bytes=0, overhead_bytes=0,
                        per_gpu_total_bytes=3, capacity_bytes=4, budget_bytes=4, kv_cache_bytes_per_token=5,
                        max_concurrency=459.0)
    assert type(mem.weights_bytes) is int and type(mem.max_concurrency) is int  # 459.0 → 459, as pydantic took it
    with pytest.raises(InvalidInputError, match="MemorySummary.max_concurrency must be a whole number"):
        mem.model_copy(update={"max_concurrency": 1.5})
    params = CalibrationParams(compute_half_m_tokens=16, format_mem_factors={"fp8": 2, "int4": 0.5})
    assert type(params.compute_half_m_tokens) is float and params.format_mem_factors == {"fp8": 2.0, "int4": 0.5}
    assert type(params.format_mem_factors["fp8"]) is float
    ref = CheckpointRef(repo="a/b", weight_format="fp8", dtype=None)
    assert ref.dtype is None and CheckpointRef(repo="a/b", weight_format="fp8", dtype="half").dtype == "half"
    with pytest.raises(InvalidInputError, match=r"CheckpointRef.repo is 0 characters long, but at least 1"):
        CheckpointRef(repo="", weight_format="fp8")
    with pytest.raises(InvalidInputError, match=r"CheckpointRef.dtype must be one of half, bfloat16, but 'fp32'"):
        CheckpointRef(repo="a/b", weight_format="fp8", dtype="fp32")


def test_a_plan_file_is_still_type_checked_by_pydantic_on_loading():
    """PlanFile is a record now; loading one from a user's file still checks every field's type (nested records
    included) and ignores unknown keys, as the pydantic model did."""
    from gpuplan.errors import MalformedFileError

    data = yaml.safe_load(GOOD_PLAN.read_text())
    data["from_a_newer_gpuplan"] = 1
    data["candidates"][0]["perf"]["from_a_newer_gpuplan"] = 1
    plan = PlanFile.model_validate(data)
    assert plan.candidates[0].memory.weights_bytes == data["candidates"][0]["memory"]["weights_bytes"]
    assert type(plan.candidates[0].bill_of_materials) is tuple
    data["candidates"][0]["memory"]["weights_bytes"] = "many"
    with pytest.raises(MalformedFileError, match=r"candidates\.0\.memory\.weights_bytes"):
        PlanFile.from_text(yaml.safe_dump(data), "plan.yaml")


def test_a_bound_broken_in_a_plan_file_reads_as_one_sentence():
    """A record's bound inside a plan file is the record's own sentence after the field's place (pydantic wrapped it
    as "Value error, ….", which ended in two full stops)."""
    from gpuplan.errors import MalformedFileError

    data = yaml.safe_load(GOOD_PLAN.read_text())
    data["candidates"][0]["checkpoint"] = {"repo": "", "weight_format": "fp8"}
    with pytest.raises(MalformedFileError) as err:
        PlanFile.from_text(yaml.safe_dump(data), "plan.yaml")
    text = str(err.value)
    assert "field 'candidates.0.checkpoint': CheckpointRef.repo is 0 characters long, but at least 1 are needed. " \
           "Give a longer value. Re-create it" in text
    assert "Value error" not in text and "value.." not in text

