"""A plan refuses options its task does not read (issue 16: `plan --task lora --users 20 --tpot-ms 50` planned the
fine-tuning and dropped the users and the latency target without a word)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gpuplan.errors import InvalidInputError
from gpuplan.i18n import set_language
from gpuplan.views import build_request


@pytest.fixture(autouse=True)
def _english():
    set_language("en")
    yield
    set_language("en")


@pytest.mark.parametrize("key, flag, value", [
    ("users", "--users", 20), ("rate", "--rate", 2.0), ("input_tokens", "--input-tokens", 2000),
    ("output_tokens", "--output-tokens", 500), ("ttft_ms", "--ttft-ms", 2000), ("tpot_ms", "--tpot-ms", 50)])
@pytest.mark.parametrize("task", ["lora", "qlora", "full", "pretrain"])
def test_training_plan_refuses_each_serving_option(task, key, flag, value):
    with pytest.raises(InvalidInputError) as err:
        build_request({"model": "qwen2.5-7b", "task": task, key: value})
    text = str(err.value)
    assert flag in text and f"--task {task}" in text and "--task serve" in text


def test_serving_plan_refuses_the_data_set_size():
    with pytest.raises(InvalidInputError) as err:
        build_request({"model": "qwen2.5-7b", "train_tokens": "2B"})
    assert "--train-tokens" in str(err.value) and "--task lora" in str(err.value)


def test_what_each_task_reads_still_plans():
    serve = build_request({"model": "qwen2.5-7b", "users": 20, "tpot_ms": 50, "input_tokens": 1000})
    assert (serve.task, serve.users, serve.tpot_s, serve.input_tokens) == ("serve", 20, 0.05, 1000)
    train = build_request({"model": "qwen2.5-7b", "task": "lora", "train_tokens": "2B", "epochs": 3})
    assert train.task == "lora" and train.training.tokens_to_train == 6e9
    # a preset's own users do not count as given: `--preset team --task lora` plans the fine-tuning
    assert build_request({"model": "qwen2.5-7b", "task": "lora", "preset": "team"}).task == "lora"


def test_cli_and_api_say_it_in_one_sentence_in_both_languages():
    from gpuplan.cli.main import build_app

    args = ["plan", "qwen2.5-7b", "--task", "lora", "--users", "20", "--tpot-ms", "50"]
    res = CliRunner().invoke(build_app(args), args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "does not read --users, --tpot-ms" in res.output
    zh = ["--lang", "zh", *args]
    res = CliRunner().invoke(build_app(zh), zh)
    assert res.exit_code == 2 and "不读取 --users, --tpot-ms" in res.output

    from fastapi.testclient import TestClient

    from gpuplan.api import create_app

    resp = TestClient(create_app()).post("/api/v1/plan", json={"model": "qwen2.5-7b", "task": "lora", "users": 20})
    assert resp.status_code in (400, 422) and "--users" in resp.text
