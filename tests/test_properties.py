"""Property-based layer (issue 14): hostile values anywhere in CLI options, plan files and API bodies.

For every generated input: exit code 0 or 2 (HTTP 2xx or 4xx), and when refused one sentence, no traceback; no
hang (each example has a deadline); no partial or clobbered file (a refused ``plan -o`` leaves the old plan
byte-for-byte, a refused ``render`` leaves no folder); and when a hostile plan does render, running its scripts
(engines stubbed out) creates no file.

The default suite runs a few examples per property (``FAST_EXAMPLES``); the ``slow`` marker runs many more.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gpuplan.cli.main import build_app

DATA = Path(__file__).parent / "data" / "plans"
GOOD_PLAN = DATA / "8xh20-vllm-r1-distill-llama-70b.yaml"
LLAMA_PLAN = DATA / "single-4090-llamacpp-r1-distill-qwen-32b.yaml"
MODEL = "deepseek-r1-distill-qwen-7b"
FAST_EXAMPLES = 15
SLOW_EXAMPLES = 300
#: A generous per-example deadline: the property is "no hang", not a speed figure (benchmarks/ measures speed).
DEADLINE = timedelta(seconds=30)
MARKER = "pwned"

FAST = settings(max_examples=FAST_EXAMPLES, deadline=DEADLINE, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=SLOW_EXAMPLES, deadline=DEADLINE,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# --- hostile values -----------------------------------------------------------------------------------------------

INJECTIONS = [f"$(touch {MARKER})", f"`touch {MARKER}`", f"x\ntouch {MARKER}", f"a;touch {MARKER}",
              f"'$(touch {MARKER})'", f'"; touch {MARKER}; "', f"${{X:-$(touch {MARKER})}}", "[/bold]", "-rf",
              "--help", "", " ", "\x00", "\u2028", "ℌ𝔢𝔩𝔩𝔬", "a" * 5000, "../../etc/passwd", "*alias"]
NUMBERS = ["0", "-1", "1e309", "inf", "-inf", "nan", "NaN", "999999999999999999999999", "1e-320", "0x10", "1_000",
           "4097", "65536", "2147483648", "9" * 400]
TEXT = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=40))
NUMBER_TEXT = st.one_of(st.sampled_from(NUMBERS), st.integers(-10**30, 10**30).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr))
OPTION_VALUE = st.one_of(TEXT, NUMBER_TEXT)

SIZE_OPTIONS = ["--weights", "--kv-dtype", "--context", "--concurrency", "--gpu", "--gpus", "--tp", "--pp", "--ep",
                "--engine", "--util", "--task"]
PLAN_OPTIONS = ["--users", "--rate", "--input-tokens", "--output-tokens", "--ttft-ms", "--tpot-ms", "--engine",
                "--weights", "--objective", "--task", "--preset", "--years", "--top", "--max-gpus", "--max-nodes",
                "--budget-usd", "--budget-cny"]


ESTIMATE_OPTIONS = ["--gpus", "--tp", "--pp", "--ep", "--dp", "--engine", "--weights", "--kv-dtype", "--input-tokens",
                    "--output-tokens", "--concurrency", "--rate", "--calibration"]
FIT_OPTIONS = ["--gpu", "--ram", "--host", "--family", "--context", "--task"]
COST_OPTIONS = ["--years", "--currency", "--provider", "--term", "--electricity", "--usd-per-kwh", "--cny-per-kwh",
                "--pue", "--ops-fraction", "--gpu-price-usd", "--gpu-tdp-watts", "--load", "--utilization",
                "--node-class", "--network", "--candidate"]
RENDER_OPTIONS = ["--target", "--candidate", "--out"]


def run_cli(args: list[str]):
    return CliRunner().invoke(build_app(), args)


def assert_clean(result) -> None:
    """Exit 0, or exit 2 with one sentence (gpuplan's line or click's usage block with one 'Error:' line)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), (result.exit_code, result.output[-500:])
    if result.exit_code == 2:
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        if lines and lines[0].startswith("Usage:"):
            assert sum(line.startswith("Error:") for line in lines) == 1, result.output
        else:
            assert len(lines) == 1, result.output


# --- CLI options --------------------------------------------------------------------------------------------------

def _size_property(option: str, value: str) -> None:
    assert_clean(run_cli(["size", MODEL, "--gpu", "rtx-4090", option, value]))


def _plan_property(option: str, value: str) -> None:
    """A hostile option on 'plan -o keep.yaml': exit 0 (a new plan) or 2 with the old plan untouched."""
    with tempfile.TemporaryDirectory() as tmp:
        keep = Path(tmp) / "keep.yaml"
        keep.write_bytes(GOOD_PLAN.read_bytes())
        result = run_cli(["plan", MODEL, "--gpu", "rtx-4090", "--max-nodes", "1", option, value, "-o", str(keep)])
        assert_clean(result)
        if result.exit_code != 0:
            assert keep.read_bytes() == GOOD_PLAN.read_bytes()
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["keep.yaml"]  # no temp file left behind


@FAST
@given(st.sampled_from(SIZE_OPTIONS), OPTION_VALUE)
def test_size_options(option, value):
    _size_property(option, value)


def _estimate_fit_property(command: str, option: str, value: str) -> None:
    if command == "estimate":
        args = ["estimate", MODEL, "--gpu", "rtx-4090", "--input-tokens", "100", "--output-tokens", "10",
                "--concurrency", "1", option, value]
    else:
        args = ["fit", "--gpu", "rtx-4090", option, value]
    assert_clean(run_cli(args))


@FAST
@given(st.sampled_from(["estimate", "fit"]), st.data())
def test_estimate_and_fit_options(command, data):
    option = data.draw(st.sampled_from(ESTIMATE_OPTIONS if command == "estimate" else FIT_OPTIONS))
    _estimate_fit_property(command, option, data.draw(OPTION_VALUE))


@pytest.mark.slow
@SLOW
@given(st.sampled_from(["estimate", "fit"]), st.data())
def test_estimate_and_fit_options_slow(command, data):
    option = data.draw(st.sampled_from(ESTIMATE_OPTIONS if command == "estimate" else FIT_OPTIONS))
    _estimate_fit_property(command, option, data.draw(OPTION_VALUE))


def _cost_render_property(command: str, option: str, value: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if command == "cost":
            assert_clean(run_cli(["cost", str(GOOD_PLAN), option, value]))
            return
        out = Path(tmp) / "deploy"
        args = ["render", str(LLAMA_PLAN), option, value] + ([] if option == "--out" else ["--out", str(out)])
        with _chdir(tmp):
            result = run_cli(args)
        assert_clean(result)
        if result.exit_code != 0:
            assert list(Path(tmp).iterdir()) == []  # nothing half-written


class _chdir:
    def __init__(self, path: str) -> None:
        self.path, self.before = path, os.getcwd()

    def __enter__(self):
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.before)


@FAST
@given(st.sampled_from(["cost", "render"]), st.data())
def test_cost_and_render_options(command, data):
    option = data.draw(st.sampled_from(COST_OPTIONS if command == "cost" else RENDER_OPTIONS))
    _cost_render_property(command, option, data.draw(OPTION_VALUE))


@pytest.mark.slow
@SLOW
@given(st.sampled_from(["cost", "render"]), st.data())
def test_cost_and_render_options_slow(command, data):
    option = data.draw(st.sampled_from(COST_OPTIONS if command == "cost" else RENDER_OPTIONS))
    _cost_render_property(command, option, data.draw(OPTION_VALUE))


@FAST
@given(st.sampled_from(PLAN_OPTIONS), OPTION_VALUE)
def test_plan_options_never_clobber(option, value):
    _plan_property(option, value)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(SIZE_OPTIONS), OPTION_VALUE)
def test_size_options_slow(option, value):
    _size_property(option, value)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(PLAN_OPTIONS), OPTION_VALUE)
def test_plan_options_never_clobber_slow(option, value):
    _plan_property(option, value)


# --- plan-file schema ---------------------------------------------------------------------------------------------

def _paths(node, prefix=()):
    """Every (path) to a leaf or container in a plan dict."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


BASE_PLANS = {p.name: yaml.safe_load(p.read_text()) for p in (GOOD_PLAN, LLAMA_PLAN)}
PLAN_VALUES = st.one_of(
    TEXT, st.integers(-10**400, 10**400), st.floats(allow_nan=True, allow_infinity=True), st.none(),
    st.booleans(), st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=2),
)


def _mutated_plan(draw_name, data, values=PLAN_VALUES) -> tuple[dict, tuple]:
    plan = copy.deepcopy(BASE_PLANS[draw_name])
    paths = [p for p in _paths(plan) if p]
    path = data.draw(st.sampled_from(paths))
    value = data.draw(values)
    node = plan
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return plan, path


def _render_property(name: str, data) -> None:
    plan, _ = _mutated_plan(name, data)
    # Also a hostile engine flag now and then.
    if data.draw(st.booleans()):
        cands = plan.get("candidates")
        if isinstance(cands, list) and cands and isinstance(cands[0], dict) and isinstance(cands[0].get("engine_args"), dict):
            cands[0]["engine_args"][data.draw(TEXT)] = data.draw(TEXT)
    tmp = Path(tempfile.mkdtemp())
    try:
        plan_path = tmp / "plan.yaml"
        plan_path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
        out = tmp / "deploy"
        result = run_cli(["render", str(plan_path), "--out", str(out)])
        assert_clean(result)
        if result.exit_code != 0:
            assert not out.exists()
            return
        _run_scripts(out, tmp)
        assert not any(p.name == MARKER for p in tmp.rglob("*")), "an injected command ran"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_scripts(out: Path, tmp: Path) -> None:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for tool in ("vllm", "python3", "llama-server", "trtllm-serve", "ollama", "deepspeed"):
        stub = bin_dir / tool
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    for script in out.rglob("*.sh"):
        subprocess.run(["bash", str(script)], cwd=tmp, timeout=20, capture_output=True,
                       env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HF_HOME": str(tmp), "NODE_RANK": "0",
                            "LEADER_ADDR": "127.0.0.1"})


@FAST
@given(st.sampled_from(sorted(BASE_PLANS)), st.data())
def test_hostile_plan_files_render_inert_or_refuse(name, data):
    _render_property(name, data)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(BASE_PLANS)), st.data())
def test_hostile_plan_files_render_inert_or_refuse_slow(name, data):
    _render_property(name, data)


# --- API bodies ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from gpuplan.api import ApiSettings, create_app

    with TestClient(create_app(ApiSettings(request_time_limit_s=30))) as c:
        yield c


JSON_VALUES = st.one_of(TEXT, st.integers(-10**30, 10**30), st.floats(allow_nan=False, allow_infinity=False), st.none(), st.booleans(),
                        st.lists(st.integers(), max_size=3), st.dictionaries(TEXT, st.integers(), max_size=2))
#: JSON has no NaN or infinity (the client cannot send them); huge integers it has.
JSON_PLAN_VALUES = st.one_of(TEXT, st.integers(-10**400, 10**400), st.floats(allow_nan=False, allow_infinity=False),
                             st.none(), st.booleans(), st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=2))
SIZE_BODY = {"model": MODEL, "gpu": "rtx-4090", "weights": "bf16", "context": 4096, "concurrency": 1, "gpus": 1}


def _api_property(client, data) -> None:
    if data.draw(st.booleans()):
        body = dict(SIZE_BODY)
        body[data.draw(st.sampled_from([*SIZE_BODY, "tensor_parallel_size", "engine", "kv_dtype", "extra"]))] = \
            data.draw(JSON_VALUES)
        response = client.post("/api/v1/size", json=body)
    else:
        plan, _ = _mutated_plan(data.draw(st.sampled_from(sorted(BASE_PLANS))), data, JSON_PLAN_VALUES)
        response = client.post("/api/v1/render", json={"plan": plan, "targets": ["engine"]})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail.strip() and "Traceback" not in detail
    elif response.request.url.path.endswith("/render"):
        for f in response.json()["files"]:
            if f["kind"] == "shell":
                _assert_inert_shell(f["content"])


def _assert_inert_shell(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "s.sh"
        script.write_text(text)
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        for tool in ("vllm", "python3", "llama-server", "trtllm-serve", "ollama"):
            (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
            os.chmod(bin_dir / tool, 0o755)
        subprocess.run(["bash", str(script)], cwd=tmp, timeout=20, capture_output=True,
                       env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HF_HOME": tmp})
        assert not (Path(tmp) / MARKER).exists()


@FAST
@given(st.data())
def test_api_bodies(client, data):
    _api_property(client, data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_api_bodies_slow(client, data):
    _api_property(client, data)
