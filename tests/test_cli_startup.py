"""What a CLI process loads (issue 16, Speed): `gpuplan --help` and `gpuplan size` stay light because heavy modules
are imported only by the commands that use them. Speed itself is measured by benchmarks/bench_size.py, not here;
these tests pin the imports that the measured figures depend on, so a stray top-level import shows up as a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from gpuplan.cli.main import build_app

GOOD_PLAN = Path(__file__).parent / "data" / "plans" / "8xh20-vllm-r1-distill-llama-70b.yaml"

_PROBE = """
import json, sys
sys.argv = ["gpuplan", *json.loads(sys.argv[1])]
from gpuplan.cli.main import run
try:
    run()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def loaded_modules(*args: str) -> set[str]:
    """Module names loaded by one `gpuplan ARGS` process (English, output discarded)."""
    env = {**os.environ, "GPUPLAN_LANG": "en"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))], capture_output=True, text=True,
                          env=env, timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


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


def test_gguf_size_still_loads_the_gguf_tables():
    mods = loaded_modules("size", "deepseek-v3", "--weights", "gguf-q4_k_m")
    assert "gpuplan.memory.gguf_mix" in mods


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
