"""Hostile plan files (issue 14): no command runs from a rendered script, alias bombs fail fast, every field bounded.

Each test reproduces a defect found by the probe: before the fix the rendered serve.sh ran ``$(touch pwned)``,
a 21 KB alias bomb took render past 30 s, and ``nodes: 0`` / ``capacity_bytes: 10**400`` / ``zero_stage: abc``
passed the schema and broke render.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gpuplan.artifacts import render_plan
from gpuplan.artifacts.engines import shell_join
from gpuplan.artifacts.quoting import comment_line, html_comment_text, shell_word
from gpuplan.cli.main import build_app
from gpuplan.errors import GpuplanError
from gpuplan.planfile import PlanFile

DATA = Path(__file__).parent / "data" / "plans"
GOOD = DATA / "single-4090-llamacpp-r1-distill-qwen-32b.yaml"
VLLM = DATA / "8xh20-vllm-r1-distill-llama-70b.yaml"
MULTI = DATA / "2x8xh20-vllm-deepseek-v3.yaml"


def plan_data(path: Path = VLLM) -> dict:
    return yaml.safe_load(path.read_text())


def write_plan(tmp_path: Path, data: dict, name: str = "plan.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def run_cli(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def one_sentence(result) -> str:
    """Exit 2, no traceback, one line on stderr/stdout."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output.strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    return text


# --- command injection through render -------------------------------------------------------------------------

INJECTIONS = {
    "model_id": lambda d: d["model"].__setitem__("id", "$(touch pwned)"),
    "model_id_backtick": lambda d: d["model"].__setitem__("id", "org/`touch pwned`"),
    "model_id_flag": lambda d: d["model"].__setitem__("id", "--help"),
    "engine_arg_value": lambda d: d["candidates"][0]["engine_args"].__setitem__("--max-model-len", "$(touch pwned)"),
    "engine_arg_value_semicolon": lambda d: d["candidates"][0]["engine_args"].__setitem__("--block-size",
                                                                                        "16; touch pwned"),
    "engine_arg_key": lambda d: d["candidates"][0]["engine_args"].__setitem__("--x $(touch pwned)", 1),
    "assumption_newline": lambda d: d.__setitem__("assumptions", ["ok\ntouch pwned"]),
    "gpu_name_newline": lambda d: d["candidates"][0].__setitem__("gpu_name", "H20\ntouch pwned #"),
    "weight_format": lambda d: d["candidates"][0].__setitem__("weight_format", "bf16'$(touch pwned)'"),
}


@pytest.mark.parametrize("name", sorted(INJECTIONS))
def test_injected_plan_is_refused_with_one_sentence(tmp_path, name):
    data = plan_data()
    INJECTIONS[name](data)
    plan = write_plan(tmp_path, data)
    result = run_cli("render", str(plan), "--out", str(tmp_path / "out"))
    one_sentence(result)
    assert not (tmp_path / "out").exists()


def test_render_rechecks_values_of_a_plan_built_without_validation():
    """model_copy skips validation: render must still refuse the hostile id rather than write it into a script."""
    good = PlanFile.load(VLLM)
    bad = good.model_copy(update={"model": good.model.model_copy(update={"id": "$(touch pwned)"})})
    with pytest.raises(GpuplanError):
        render_plan(bad, ["engine"])
    cand = good.candidates[0].model_copy(update={"engine_args": {"--block-size": "1;touch pwned"}})
    with pytest.raises(GpuplanError):
        render_plan(good.model_copy(update={"candidates": (cand,)}), ["engine"])


def test_rendered_scripts_run_no_injected_command(tmp_path):
    """Every shipped plan's scripts, executed with the engines stubbed out, create no file besides what they say."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("vllm", "python3", "llama-server", "trtllm-serve", "ollama"):
        stub = bin_dir / tool
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    files = render_plan(PlanFile.load(VLLM), ["engine"])
    for f in files:
        if f.kind == "shell":
            script = tmp_path / "s.sh"
            script.write_text(f.content)
            out = subprocess.run(["bash", str(script)], cwd=tmp_path, timeout=20, capture_output=True,
                                 env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HF_HOME": str(tmp_path)})
            assert out.returncode == 0, out.stderr
    assert not (tmp_path / "pwned").exists()


def test_shell_word_quotes_command_substitution_but_keeps_renderer_variables():
    assert shell_word("$(touch pwned)", keep_vars=True) == "'$(touch pwned)'"
    assert shell_word("${X:-$(touch pwned)}", keep_vars=True).startswith("'")
    assert shell_word("$NODE_RANK", keep_vars=True) == '"$NODE_RANK"'
    assert shell_word("${LLAMA_SERVER:-llama-server}", keep_vars=True) == '"${LLAMA_SERVER:-llama-server}"'
    assert shell_word("$((NODE_RANK * 4))", keep_vars=True) == '"$((NODE_RANK * 4))"'
    assert shell_word("$LWS_LEADER_ADDRESS:20000", keep_vars=True) == '"$LWS_LEADER_ADDRESS:20000"'


def test_shell_join_of_hostile_tokens_is_inert(tmp_path):
    line = shell_join(["echo", "$(touch pwned)", "`touch pwned`", "a;touch pwned", "$NODE_RANK"], keep_vars=True)
    out = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=10,
                         env={"PATH": "/usr/bin:/bin", "NODE_RANK": "3"})
    assert out.returncode == 0
    assert not (tmp_path / "pwned").exists()
    assert out.stdout.split() == ["$(touch", "pwned)", "`touch", "pwned`", "a;touch", "pwned", "3"]


def test_comment_lines_cannot_break_out():
    assert "\n" not in comment_line("a\nb\rc\u2028d")
    assert "-->" not in html_comment_text("x --> <script>")


# --- YAML alias bomb and deep nesting ---------------------------------------------------------------------------

def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(60)  # a hang guard, not a speed figure: before the fix this ran past 30 s and 570 MB
def test_alias_bomb_is_refused_fast(tmp_path):
    data = plan_data()
    text = yaml.safe_dump(data, sort_keys=False)
    bomb = text.replace("engine_args:\n", "engine_args:\n    --bomb: *a8\n", 1)
    p = tmp_path / "bomb.yaml"
    p.write_text(alias_bomb() + bomb)
    for args in (("render", str(p), "--out", str(tmp_path / "out")), ("plan", "show", str(p))):
        text = one_sentence(run_cli(*args))
        assert "alias" in text


def test_deeply_nested_plan_is_one_sentence(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("schema_version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    one_sentence(run_cli("plan", "show", str(p)))


def test_binary_plan_is_one_sentence(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(bytes(range(256)) * 4)
    one_sentence(run_cli("render", str(p), "--out", str(tmp_path / "o")))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_plan_does_not_block(tmp_path):
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    code = ("from gpuplan.cli.main import run; import sys; "
            f"sys.argv = ['gpuplan', 'plan', 'show', {str(fifo)!r}]; run()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         env={**os.environ})
    assert out.returncode == 2
    assert "not a regular file" in out.stderr


# --- schema bounds ----------------------------------------------------------------------------------------------

BAD_VALUES = {
    "nodes_zero": lambda d: d["candidates"][0].__setitem__("nodes", 0),
    "gpu_count_negative": lambda d: d["candidates"][0].__setitem__("gpu_count", -8),
    "capacity_huge": lambda d: d["candidates"][0]["memory"].__setitem__("capacity_bytes", 10**400),
    "ttft_nan": lambda d: d["candidates"][0]["perf"].__setitem__("ttft_s", float("nan")),
    "capex_inf": lambda d: d["candidates"][0]["cost"].__setitem__("capex_usd", float("inf")),
    "zero_stage_text": lambda d: d["candidates"][0]["engine_args"].__setitem__("zero_stage", "abc"),
    "zero_stage_big": lambda d: d["candidates"][0]["engine_args"].__setitem__("zero_stage", 7),
    "long_name": lambda d: d["model"].__setitem__("name", "x" * 5000),
    "params_negative": lambda d: d["model"].__setitem__("params_total", -1),
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_out_of_bounds_field_is_refused_on_load(tmp_path, name):
    data = plan_data()
    BAD_VALUES[name](data)
    text = yaml.safe_dump(data, sort_keys=False) if name != "capacity_huge" else \
        yaml.safe_dump(data, sort_keys=False).replace(str(10**400), "1" + "0" * 400)
    p = tmp_path / "plan.yaml"
    p.write_text(text)
    with pytest.raises(GpuplanError):
        PlanFile.load(p)
    one_sentence(run_cli("render", str(p), "--out", str(tmp_path / "out")))


def test_shipped_plans_still_load_and_render():
    for path in sorted(DATA.glob("*.yaml")):
        plan = PlanFile.load(path)
        assert render_plan(plan, ["all"])


# --- atomic writes ----------------------------------------------------------------------------------------------

def test_render_refuses_non_empty_folder_without_force(tmp_path):
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    one_sentence(run_cli("render", str(GOOD), "--out", str(out)))
    assert sorted(p.name for p in out.iterdir()) == ["stale.txt"]
    result = run_cli("render", str(GOOD), "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert not (out / "stale.txt").exists()
    assert (out / "engine" / "serve.sh").stat().st_mode & 0o111


def test_render_out_empty_string_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_sentence(run_cli("render", str(GOOD), "--out", ""))
    assert list(tmp_path.iterdir()) == []


def test_failed_render_leaves_no_partial_folder(tmp_path):
    data = plan_data(GOOD)
    data["candidates"][0]["engine"] = "nope"
    p = write_plan(tmp_path, data)
    result = run_cli("render", str(p), "--out", str(tmp_path / "deploy"))
    assert result.exit_code == 2
    assert sorted(x.name for x in tmp_path.iterdir()) == ["plan.yaml"]


def test_bounds_reach_nested_models_added_later():
    """A nested model (as issue 11's checkpoint reference) is checked by the same rules: repository as a model id,
    file/revision as path words, text without newlines, unit-named numbers not negative."""
    from pydantic import BaseModel

    from gpuplan.planbounds import check_model_fields

    class Ref(BaseModel):
        repo: str = "deepseek-ai/DeepSeek-V3"
        file: str | None = "DeepSeek-V3-Q4_K_M/DeepSeek-V3-Q4_K_M-00001-of-00009.gguf"
        revision: str | None = "main"
        bytes: int | None = 10
        note: str = "fine"

    class Outer(BaseModel):
        ref: Ref = Ref()
        delta: float = -3.5  # no unit in the name: only finite and bounded
        owned: dict = {"fleet": [{"gpu": "rtx-4090", "score": -1.0, "nested": {"a": {"b": {"c": 1}}}}]}

    check_model_fields(Outer())
    for bad in (Ref(repo="$(touch pwned)"), Ref(file="../../etc/passwd"), Ref(file="-rf"), Ref(revision="a b"),
                Ref(note="x\ny"), Ref(bytes=-1)):
        with pytest.raises(GpuplanError):
            check_model_fields(Outer(ref=bad))
    with pytest.raises(GpuplanError):
        check_model_fields(Outer(delta=float("nan")))


def test_render_replaces_its_own_earlier_output_but_not_foreign_files(tmp_path):
    out = tmp_path / "deploy"
    assert run_cli("render", str(GOOD), "--out", str(out)).exit_code == 0
    assert run_cli("render", str(GOOD), "--target", "report", "--out", str(out)).exit_code == 0
    assert not (out / "engine").exists()  # stale files of the first render are gone
    (out / "my-notes.txt").write_text("mine")
    one_sentence(run_cli("render", str(GOOD), "--out", str(out)))
    assert (out / "my-notes.txt").read_text() == "mine"


@pytest.mark.parametrize("field, value", [
    ("repo", "$(touch pwned)"), ("repo", "--help"), ("file", "../../x.gguf"), ("hf_tag", "Q4;touch pwned"),
    ("revision", "-rf"), ("quantization", "awq'$(id)'"),
])
def test_hostile_checkpoint_reference_is_refused(tmp_path, field, value):
    """The candidate's checkpoint (issue 11: the repository, GGUF file and tag the launch command loads) is held to
    the same rules as the model id."""
    data = plan_data(GOOD)
    ref = {"repo": "bartowski/DeepSeek-R1-Distill-Qwen-32B-GGUF", "weight_format": "gguf-q4_k_m",
           "file": "DeepSeek-R1-Distill-Qwen-32B-Q4_K_M.gguf", "hf_tag": "Q4_K_M"}
    data["candidates"][0]["checkpoint"] = ref
    assert run_cli("render", str(write_plan(tmp_path, data, "good.yaml")), "--out", str(tmp_path / "ok")).exit_code == 0
    data["candidates"][0]["checkpoint"] = {**ref, field: value}
    one_sentence(run_cli("render", str(write_plan(tmp_path, data)), "--out", str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()
