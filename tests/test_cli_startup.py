"""What a CLI process loads and how it is tuned (issue 16, Speed): `gpuplan --help` and `gpuplan size` stay light
because heavy modules are imported only by the commands that use them, and the CLI process (only it) raises the
cyclic-GC threshold. Speed itself is measured by benchmarks/bench_size.py, not here; these tests pin what the measured
figures depend on, so a stray top-level import or a lost entry point shows up as a failure."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gpuplan.cli.main import build_app

GOOD_PLAN = Path(__file__).parent / "data" / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml"

ROOT = Path(__file__).resolve().parents[1]

# Runs the installed script's entry point (pyproject [project.scripts]) and reports what the process loaded.
# The report is written by an exit handler: the entry point ends the process itself (gpuplan.cli.exit_now).
# "pydantic_importers": the gpuplan modules that ran an import statement for pydantic (whether or not a library such
# as typer >= 0.29 had loaded it already).
_PROBE = """
import atexit, builtins, gc, importlib, json, sys
real_import, pydantic_importers = builtins.__import__, set()
def spy(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__") or ""
    if name.split(".")[0] == "pydantic" and importer.startswith("gpuplan"):
        pydantic_importers.add(importer)
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = spy
module, func = sys.argv[2].split(":")
sys.argv = ["gpuplan", *json.loads(sys.argv[1])]
atexit.register(lambda: sys.stderr.write("\\nPROBE " + json.dumps({
    "modules": sorted(sys.modules), "gc": gc.get_threshold(), "pydantic_importers": sorted(pydantic_importers)}) + "\\n"))
getattr(importlib.import_module(module), func)()
"""


def script_entry() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["scripts"]["gpuplan"]


def probe(*args: str) -> dict:
    """What one `gpuplan ARGS` process loaded ("modules") and its GC thresholds ("gc"); English, output discarded."""
    env = {**os.environ, "GPUPLAN_LANG": "en"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args)), script_entry()], capture_output=True,
                          text=True, env=env, timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def loaded_modules(*args: str) -> set[str]:
    return set(probe(*args)["modules"])


def test_help_loads_neither_pydantic_nor_rich_nor_the_core():
    mods = loaded_modules("--help")
    assert "gpuplan.cli.size" in mods  # every command is registered for --help
    heavy = {m for m in mods if m.split(".")[0] in ("pydantic", "rich", "fastapi", "httpx", "torch", "yaml")}
    assert not heavy
    assert not {m for m in mods if m.startswith(("gpuplan.catalog", "gpuplan.memory", "gpuplan.plan"))}


def test_size_loads_only_its_own_command_and_no_gguf_or_emoji_tables():
    mods = loaded_modules("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8")
    assert "gpuplan.memory.inference" in mods  # the probe really ran the command
    assert {m for m in mods if m.startswith("gpuplan.cli.")} <= {"gpuplan.cli.main", "gpuplan.cli.size",
                                                                 "gpuplan.cli.common"}
    # llama.cpp's type tables are for GGUF formats only; rich's emoji table is never used (emoji=False)
    assert "gpuplan.memory.gguf_mix" not in mods
    assert "rich._emoji_codes" not in mods
    assert not {m for m in mods if m.split(".")[0] in ("fastapi", "httpx", "torch", "yaml")}
    assert not {m for m in mods if m.startswith(("gpuplan.plan", "gpuplan.perf", "gpuplan.api"))}


def test_a_commands_help_loads_no_catalog_but_running_it_still_resolves_a_model_directory(tmp_path):
    mods = loaded_modules("size", "--help")
    assert "gpuplan.cli.size" in mods
    assert not {m for m in mods if m.startswith(("gpuplan.catalog", "gpuplan.importers", "gpuplan.memory"))}
    # `--help` after `--` is an argument, not a request for help: the importers are installed as for any run
    assert "gpuplan.importers.entry" in loaded_modules("size", "deepseek-v3", "--", "--help")
    # the hook is still installed when the command runs: a local model directory is sized like a catalog model
    from gpuplan.catalog import get_model

    (tmp_path / "config.json").write_text(json.dumps(get_model("deepseek-r1-distill-qwen-7b").config))
    result = CliRunner().invoke(build_app(), ["size", str(tmp_path), "--weights", "bf16", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["weights_bytes"] > 10**9


def _typer_within_the_pin() -> tuple[bool, str]:
    """Whether the installed typer satisfies pyproject's requirement (typer >= 0.29 imports pydantic itself)."""
    from importlib.metadata import version

    from packaging.requirements import Requirement

    with (ROOT / "pyproject.toml").open("rb") as handle:
        deps = tomllib.load(handle)["project"]["dependencies"]
    req = Requirement(next(d for d in deps if d.startswith("typer")))
    return version("typer") in req.specifier, f"typer {version('typer')} installed, pyproject requires {req}"


SIZE_8XH20 = ("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8")


def test_no_gpuplan_module_on_the_size_path_imports_pydantic():
    """The core's value objects are dataclasses (gpuplan.records): sizing imports no pydantic, whatever typer does."""
    for args in (SIZE_8XH20, ("size", "qwen2.5-32b", "--gpu", "l40s", "--gpus", "2", "--task", "qlora", "--json"),
                 ("size", "deepseek-v3", "--json")):
        result = probe(*args)
        assert "gpuplan.memory.inference" in result["modules"]  # the probe really ran the command
        assert result["pydantic_importers"] == [], args
    # the spy does see gpuplan's imports of pydantic: plan files are pydantic models (gpuplan.planfile)
    assert "gpuplan.planfile" in probe("plan", "show", str(GOOD_PLAN))["pydantic_importers"]


PLAN_QWEN32B = ("plan", "deepseek-r1-distill-qwen-32b", "--users", "50", "--input-tokens", "2000", "--output-tokens",
                "500", "--ttft-ms", "2000", "--tpot-ms", "50")


def test_plan_estimate_and_fit_write_their_answers_without_pydantic(tmp_path):
    """Issue 16: a whole `gpuplan plan` process within 0.3 s of CPU. Its results, the plan file included, are records
    (gpuplan.records): searching, printing, --json and writing plan.yaml import no pydantic; reading a plan file does
    (PlanFile.model_validate checks a user's file with it)."""
    within, _ = _typer_within_the_pin()
    out = tmp_path / "plan.yaml"
    for args in (PLAN_QWEN32B, (*PLAN_QWEN32B, "--json", "-o", str(out)),
                 ("plan", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "16", "--ttft-ms", "2000", "--tpot-ms", "50"),
                 ("plan", "qwen2.5-7b", "--task", "lora", "--train-tokens", "100M", "--currency", "CNY"),
                 ("estimate", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "8", "--input-tokens", "1000",
                  "--output-tokens", "1000", "--concurrency", "8", "--json"),
                 ("fit", "--gpu", "rtx-4090", "--json")):
        result = probe(*args)
        assert {"gpuplan.perf.serving", "gpuplan.plan.fit"} & set(result["modules"])  # the probe ran the command
        assert result["pydantic_importers"] == [], args
        if within:
            assert not {m for m in result["modules"] if m.split(".")[0] == "pydantic"}, args
    assert out.stat().st_size > 10_000  # the plan file was written
    assert "gpuplan.planfile" in probe("plan", "show", str(out))["pydantic_importers"]


def test_size_loads_neither_pydantic_nor_typers_pydantic_adapters():
    """With the typer pyproject pins (< 0.29), a `size` process never loads pydantic (issue 16: <= 0.15 s CPU)."""
    within, why = _typer_within_the_pin()
    if not within:
        pytest.skip(why)
    mods = loaded_modules(*SIZE_8XH20)
    assert "gpuplan.memory.inference" in mods
    assert not {m for m in mods if m.split(".")[0] == "pydantic" or m == "typer._adapters"}


def test_gguf_size_still_loads_the_gguf_tables():
    mods = loaded_modules("size", "deepseek-v3", "--weights", "gguf-q4_k_m")
    assert "gpuplan.memory.gguf_mix" in mods


def test_the_cli_process_raises_the_gc_threshold_and_a_library_import_does_not():
    from gpuplan.cli import CLI_GC_THRESHOLDS

    assert script_entry() == "gpuplan.__main__:main"
    assert tuple(probe("--help")["gc"]) == CLI_GC_THRESHOLDS
    assert tuple(probe("size", "deepseek-v3")["gc"]) == CLI_GC_THRESHOLDS
    assert gc.get_threshold() != CLI_GC_THRESHOLDS  # this test process imported gpuplan.cli.main: untouched


def test_emoji_codes_in_names_are_printed_as_text(tmp_path):
    from gpuplan.i18n import get_language, set_language

    data = yaml.safe_load(GOOD_PLAN.read_text())
    data["assumptions"] = [":fire: assumption :smile:"]
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(data))
    before = get_language()
    set_language("en")
    try:
        result = CliRunner().invoke(build_app(), ["plan", "show", str(p)])
    finally:
        set_language(before)
    assert result.exit_code == 0, result.output
    assert ":fire: assumption :smile:" in result.output
    assert "\U0001f525" not in result.output


def _run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GPUPLAN_LANG": "en"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    module, func = script_entry().split(":")
    code = f"import sys; sys.argv = ['gpuplan', *sys.argv[1:]]; from {module} import {func}; {func}()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_cli_process_ends_itself_with_all_output_and_the_exit_status():
    """The entry point skips the interpreter's teardown (gpuplan.cli.exit_now): what the command printed arrives whole,
    in a pipe too, and the status is the command's (0, or 2 for a user error with its one sentence)."""
    ok = _run_script("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["model_id"] == "deepseek-ai/DeepSeek-V3"  # the whole JSON document arrived
    bad = _run_script("size", "no-such-model-xyz")
    assert bad.returncode == 2
    assert "no-such-model-xyz" in bad.stderr and "Traceback" not in bad.stderr
    usage = _run_script("size", "--no-such-flag")
    assert usage.returncode == 2  # click's usage error keeps its status


def test_exit_now_runs_the_exit_handlers_and_keeps_the_status():
    code = ("import atexit, sys\n"
            "from gpuplan.cli import exit_now\n"
            "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
            "print('before', end='')\n"
            "exit_now(int(sys.argv[1]))\n"
            "print('never')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for status in (0, 3):
        proc = subprocess.run([sys.executable, "-c", code, str(status)], capture_output=True, text=True, env=env,
                              timeout=60)
        assert proc.returncode == status
        assert proc.stdout == "beforehandler ran\n"
    message = subprocess.run([sys.executable, "-c", "from gpuplan.cli import exit_now; exit_now('stopped')"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert (message.returncode, message.stderr) == (1, "stopped\n")  # as sys.exit('stopped')


def test_plan_loads_no_yaml_unless_it_writes_a_plan_file():
    """The planner imports the renderers' shared module for engine flags; PyYAML is imported when YAML is written."""
    mods = loaded_modules("plan", "deepseek-r1", "--gpu", "h200-sxm", "--gpus", "16", "--ttft-ms", "2000",
                          "--tpot-ms", "50")
    assert "gpuplan.plan.capacity" in mods  # the probe really planned (capacity mode)
    assert "yaml" not in mods


def test_profiling_the_cli_still_prints_the_report():
    """`python -m cProfile -m gpuplan ...` (how a slow command is looked into) gets its report: under a profiler the
    process exits the ordinary way."""
    env = {**os.environ, "GPUPLAN_LANG": "en"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-s", "cumtime", "-m", "gpuplan", "size", "deepseek-v3",
                           "--gpu", "h20", "--gpus", "8"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Ordered by: cumulative time" in proc.stdout
