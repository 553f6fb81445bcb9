"""Hostile input on the command line (issue 14): one sentence and exit 2, never a traceback, a hang, a read of an
endless file, a clobbered file, or bad input taken silently."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuplan.bench.models import BenchReport
from gpuplan.cli.main import build_app
from gpuplan.errors import GpuplanError
from gpuplan.planfile import PlanFile
from gpuplan.safeio import atomic_write, read_bytes, write_folder

DATA = Path(__file__).parent / "data" / "plans"
GOOD_PLAN = DATA / "8xh20-vllm-r1-distill-llama-70b.yaml"
MODEL = "deepseek-r1-distill-qwen-7b"


def run_cli(*args: str):
    return CliRunner().invoke(build_app(), list(args))


def one_sentence(result) -> str:
    """Exit 2, no traceback, one sentence: gpuplan's own line, or click's usage block whose 'Error:' line is it."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output.strip()
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Usage:"):
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1, text
        return errors[0]
    assert len(lines) == 1, text
    return text


def run_process(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess (for reads that would block or eat memory)."""
    code = f"import sys; from gpuplan.cli.main import run; sys.argv = {['gpuplan', *args]!r}; run()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "GPUPLAN_LANG": "en"})


# --- values the CLI accepted but the core rejected (tracebacks before) -----------------------------------------

@pytest.mark.parametrize("args", [
    ("plan", MODEL, "--users", "999999999999999999999999"),
    ("plan", MODEL, "--rate", "inf"),
    ("plan", MODEL, "--rate", "nan"),
    ("estimate", MODEL, "--gpu", "h100", "--dp", "100000", "--input-tokens", "10", "--output-tokens", "10"),
    ("size", MODEL, "--gpu", "h100", "--gpus", "100000"),
    ("size", "x" * 5000),
    ("size", MODEL, "--gpu", "y" * 5000),
    ("size", "[/bold]"),
    ("plan", MODEL, "--engine", "nope"),
    ("plan", MODEL, "--weights", "nope"),
    ("plan", MODEL, "--objective", ""),
    ("plan", MODEL, "--task", ""),
    ("plan", MODEL, "--preset", " "),
    ("fit", "--gpu", "rtx-4090", "--family", "nope"),
    ("cost", str(GOOD_PLAN), "--network", ""),
    ("serve", "--host", ""),
])
def test_bad_value_is_one_sentence(args):
    one_sentence(run_cli(*args))


def test_huge_gpu_count_does_not_hang():
    result = run_process(["size", MODEL, "--gpu", "h100", "--gpus", "999999999999999999999999"], timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://[::1", "http://h:abc/v1", "http://h:99999",
                                 "http://h o/v1", "x" * 5000])
def test_bad_bench_url_is_one_sentence(url):
    one_sentence(run_cli("bench", "--url", url, "--model", "m", "--requests", "1"))


def test_markup_in_names_is_printed_as_text(tmp_path):
    import yaml

    data = yaml.safe_load(GOOD_PLAN.read_text())
    data["model"]["name"] = "[/bold] [red]x"
    data["candidates"][0]["gpu_name"] = "[/bold]"
    data["assumptions"] = ["[/bold] assumption"]
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(data))
    result = run_cli("plan", "show", str(p))
    assert result.exit_code == 0, result.output
    assert "[/bold] assumption" in result.output


# --- writes: atomic, never through a link or onto a device ------------------------------------------------------

def test_plan_output_to_folder_or_missing_parent_is_one_sentence(tmp_path):
    one_sentence(run_cli("plan", MODEL, "--gpu", "rtx-4090", "-o", str(tmp_path)))
    one_sentence(run_cli("plan", MODEL, "--gpu", "rtx-4090", "-o", str(tmp_path / "no" / "plan.yaml")))


def test_failed_plan_leaves_good_plan_intact(tmp_path):
    keep = tmp_path / "keep.yaml"
    keep.write_bytes(GOOD_PLAN.read_bytes())
    one_sentence(run_cli("plan", MODEL, "--engine", "nope", "-o", str(keep)))
    assert keep.read_bytes() == GOOD_PLAN.read_bytes()


def test_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "plan.yaml"
    target.write_text("old")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(GpuplanError) as err:
        PlanFile.load(GOOD_PLAN).dump(target)
    assert "No space left" in str(err.value)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.yaml"]


def test_atomic_write_refuses_links_and_devices(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("precious")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with pytest.raises(GpuplanError):
        atomic_write(link, "x")
    assert real.read_text() == "precious"
    with pytest.raises(GpuplanError):
        atomic_write("/dev/null", "x")
    with pytest.raises(GpuplanError):
        atomic_write("", "x")


def test_bench_out_refuses_device_and_planted_links(tmp_path):
    from gpuplan.bench.runner import ResultSink

    with pytest.raises(GpuplanError):
        ResultSink("/dev/null")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "results.json"
    # A link planted where the old code wrote its fixed-name temp file, and one at the records path.
    (tmp_path / "results.json.tmp").symlink_to(victim)
    sink_records = tmp_path / "results.json.requests.jsonl"
    sink_records.symlink_to(victim)
    with pytest.raises(GpuplanError):
        ResultSink(out)
    sink_records.unlink()
    sink = ResultSink(out)

    report = BenchReport.model_validate({"config": {"url": "http://127.0.0.1:1/v1", "model": "m"}, "results": []})
    sink.summary(report)
    sink.summary(report)  # replaced in place, through a fresh O_EXCL temp file each time
    assert json.loads(out.read_text())["config"]["model"] == "m"
    assert (tmp_path / "results.json.tmp").is_symlink()  # the planted link was neither followed nor replaced
    sink.close()
    assert victim.read_text() == "precious"


def test_write_folder_is_all_or_nothing(tmp_path):
    from gpuplan.safeio import FileToWrite

    out = tmp_path / "deploy"
    with pytest.raises(GpuplanError):
        write_folder(out, [FileToWrite("a.txt", "a"), FileToWrite("../escape.txt", "x")])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- reads: regular files only, bounded ------------------------------------------------------------------------

def test_reads_refuse_dev_zero_and_bound_size(tmp_path):
    with pytest.raises(GpuplanError) as err:
        read_bytes("/dev/zero", 1024)
    assert "not a regular file" in str(err.value)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(GpuplanError):
        read_bytes(big, 1024)


@pytest.mark.parametrize("args_of", [
    lambda p: ["plan", MODEL, "--gpu", "rtx-4090", "--calibration", p],
    lambda p: ["validate", "--dataset", p],
    lambda p: ["inspect", p],
    lambda p: ["plan", "show", p],
    lambda p: ["calibrate", p, "--model", MODEL, "--gpu", "l4"],
    lambda p: ["cost", str(GOOD_PLAN), "--prices", p],
    lambda p: ["bench", "--url", "http://127.0.0.1:9/v1", "--model", "m", "--dataset", p, "--requests", "1"],
])
@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "binary"])
def test_special_and_binary_files_are_one_sentence(tmp_path, args_of, kind):
    if kind == "fifo":
        path = tmp_path / "input.json"
        os.mkfifo(path)
    elif kind == "dev_zero":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "input.json"
        path.write_bytes(bytes(range(256)) * 64)
    result = run_process(args_of(str(path)), timeout=60)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_deeply_nested_calibration_file_is_one_sentence(tmp_path):
    deep = tmp_path / "cal.toml"
    deep.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    one_sentence(run_cli("plan", MODEL, "--gpu", "rtx-4090", "--calibration", str(deep)))
    deep_json = tmp_path / "results.json"
    deep_json.write_text("[" * 100000 + "]" * 100000)
    one_sentence(run_cli("calibrate", str(deep_json), "--model", MODEL, "--gpu", "l4"))


def test_moe_top_k_above_expert_count_is_refused(tmp_path):
    config = {
        "model_type": "qwen3_moe", "architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 256,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
        "intermediate_size": 512, "moe_intermediate_size": 128, "num_experts": 2, "num_experts_per_tok": 8,
        "vocab_size": 1000, "max_position_embeddings": 4096, "torch_dtype": "bfloat16",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    text = one_sentence(run_cli("inspect", str(tmp_path)))
    assert "num_experts_per_tok" in text


def test_safeio_parsers_refuse_aliases_and_deep_nesting():
    from gpuplan.safeio import load_json, load_toml, load_yaml

    assert load_yaml("a: &x 1\nb: 2\n") == {"a": 1, "b": 2}  # an anchor alone expands nothing
    with pytest.raises(GpuplanError):
        load_yaml("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(GpuplanError):
        load_yaml("a: " + "[" * 200 + "]" * 200)
    with pytest.raises(GpuplanError):
        load_json("[" * 100 + "]" * 100)
    assert load_json('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    with pytest.raises(GpuplanError):
        load_toml("x = " + "[" * 100 + "]" * 100)


def test_atomic_write_keeps_permission_bits(tmp_path):
    target = tmp_path / "cal.toml"
    target.write_text("old")
    target.chmod(0o600)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
