"""Any model everywhere (issue 15): a local directory with config.json, a .gguf file or a Hub id is accepted by size,
estimate, plan, fit, render and the API exactly as ``gpuplan inspect`` reads it; model names are searched sensibly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuplan.catalog import get_model
from gpuplan.catalog.models import set_model_resolver
from gpuplan.cli.main import build_app
from gpuplan.errors import UnknownNameError
from gpuplan.i18n import set_language

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "configs" / "Qwen__Qwen3-8B.json"
runner = CliRunner()


@pytest.fixture(autouse=True)
def english_offline(monkeypatch):
    set_language("en")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield
    set_model_resolver(None)


@pytest.fixture()
def my_model(tmp_path: Path) -> Path:
    if not REF.exists():
        pytest.skip("shared/reference/configs is not checked out here")
    d = tmp_path / "my-model"
    d.mkdir()
    shutil.copy(REF, d / "config.json")
    return d


def run(*args):
    return runner.invoke(build_app(), [str(a) for a in args])


def run_json(*args):
    res = run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_size_of_a_local_config_matches_the_catalog_entry(my_model: Path) -> None:
    """The same Qwen3-8B config read from a directory sizes exactly like the catalog's Qwen/Qwen3-8B."""
    local = run_json("size", my_model, "--gpu", "l40s")
    catalog = run_json("size", "Qwen/Qwen3-8B", "--gpu", "l40s")
    assert local["weights_bytes"] == catalog["weights_bytes"]
    assert local["per_gpu"]["weights_bytes"] == catalog["per_gpu"]["weights_bytes"]


def test_estimate_plan_fit_and_render_take_the_directory(my_model: Path, tmp_path: Path) -> None:
    est = run_json("estimate", my_model, "--gpu", "l40s", "--input-tokens", 2000, "--output-tokens", 500)
    assert est["tpot_s"] > 0
    plan_file = tmp_path / "plan.yaml"
    res = run("plan", my_model, "--users", 5, "--gpu", "l40s", "-o", plan_file)
    assert res.exit_code == 0, res.output
    fit = run_json("fit", "--gpu", "rtx-4090", "--model", my_model)
    assert [r["model"] for r in fit["models"]] == [str(my_model)]
    set_model_resolver(None)  # render runs as a fresh process would: the plan's model id is resolved again
    out = tmp_path / "deploy"
    res = run("render", plan_file, "--target", "engine", "--out", out)
    assert res.exit_code == 0, res.output
    assert str(my_model) in (out / "engine" / "serve.sh").read_text()


def test_gguf_file_is_accepted_by_size(tmp_path: Path) -> None:
    from tests.test_importers import LLAMA_TINY, llama_gguf_tensors, llama_metadata, write_gguf

    path = tmp_path / "tiny-llama-Q8_0.gguf"
    write_gguf(path, "llama", llama_metadata(LLAMA_TINY), llama_gguf_tensors(LLAMA_TINY))
    data = run_json("size", path, "--gpu", "rtx-4090", "--engine", "llama.cpp")
    assert data["weight_format"] == "gguf-q8_0"


def test_hub_id_offline_is_one_sentence_with_suggestions() -> None:
    res = run("size", "deepseek-ai/DeepSeek-7B", "--gpu", "l40s")
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "deepseek-ai/deepseek-llm-7b-base" in res.output  # the 7B, not V3/R1
    assert res.output.index("deepseek-llm-7b") < res.output.find("DeepSeek-V3") if "DeepSeek-V3" in res.output else True


@pytest.mark.parametrize(("typed", "expected"), [
    ("deepseek r1", "deepseek-ai/DeepSeek-R1"),
    ("深度求索 R1", "deepseek-ai/DeepSeek-R1"),
    ("qwen3 8b", "Qwen/Qwen3-8B"),
    ("QWEN/qwen3-8b", "Qwen/Qwen3-8B"),
])
def test_names_typed_loosely_resolve(typed: str, expected: str) -> None:
    assert get_model(typed).id == expected


def test_size_token_decides_the_suggestions() -> None:
    with pytest.raises(UnknownNameError) as err:
        get_model("DeepSeek-7B")
    first = str(err.value).split("Did you mean: ")[1].split(",")[0]
    assert "7b" in first.lower()


def test_api_accepts_a_local_directory(my_model: Path) -> None:
    from fastapi.testclient import TestClient

    from gpuplan.api.app import create_app

    client = TestClient(create_app())
    r = client.post("/api/v1/size", json={"model": str(my_model), "gpu": "l40s"})
    assert r.status_code == 200, r.text


def test_cached_hub_id_is_accepted_offline(tmp_path: Path, monkeypatch) -> None:
    """A Hub id that is not in the catalog, read before into gpuplan's cache, sizes offline (HF_HUB_OFFLINE=1)."""
    if not REF.exists():
        pytest.skip("shared/reference/configs is not checked out here")
    from huggingface_hub import constants

    from gpuplan.importers.hub import _cache_file, _write_cache
    from gpuplan.importers.model import build_info

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    config = json.loads(REF.read_text())
    repo = "someone/qwen3-8b-copy"
    _write_cache(_cache_file(repo, None), build_info(source="hub", ref=repo, config=config, tensors=()))
    data = run_json("size", repo, "--gpu", "l40s")
    catalog = run_json("size", "Qwen/Qwen3-8B", "--gpu", "l40s")
    assert data["weights_bytes"] == catalog["weights_bytes"]
    # inspect still reads it through the importers (source and catalog matches), not as a bare resolved entry
    info = run_json("inspect", repo)
    assert info["source"] == "hub" and "Qwen/Qwen3-8B" in info["catalog_matches"]


@pytest.mark.parametrize(("query", "first"), [
    ("deepseek r1", "deepseek-ai/DeepSeek-R1"),
    ("深度求索 R1", "deepseek-ai/DeepSeek-R1"),
    ("qwen3 8b", "Qwen/Qwen3-8B"),
    ("deepseek-ai/DeepSeek-7B", "deepseek-ai/deepseek-llm-7b-base"),  # no match → closest names, the 7B first
])
def test_api_model_search_box(query: str, first: str) -> None:
    from fastapi.testclient import TestClient

    from gpuplan.api.app import create_app

    r = TestClient(create_app()).get("/api/v1/models", params={"q": query})
    assert r.status_code == 200, r.text
    assert r.json()[0]["id"] == first
