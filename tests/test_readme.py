"""Every 'gpuplan …' command the README shows runs as written (STYLE: every doc example run by a test).

Commands that need a live server or hardware (serve, bench, calibrate, doctor) are checked for their --help only;
the others run for real, in order, in a scratch directory (so `plan … -o plan.yaml` feeds `cost` and `render`).
"""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuplan.cli.main import build_app
from gpuplan.i18n import set_language

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LIVE_ONLY = {"serve", "bench", "calibrate", "doctor"}


def readme_commands(name: str) -> list[list[str]]:
    text = (ROOT / name).read_text(encoding="utf-8")
    cmds = []
    for snippet in re.findall(r"`(gpuplan [^`]+)`", text) + re.findall(r"^(gpuplan .+)$", text, flags=re.M):
        for part in snippet.split("&&"):
            part = part.strip()
            if part.startswith("gpuplan "):
                cmds.append(shlex.split(part)[1:])
    return cmds


def make_user_files(where: Path) -> None:
    """The README's example paths: a model directory (config.json + a safetensors shard) and a .gguf file."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from gpuplan.catalog import get_model
    from test_importers import LLAMA_TINY, llama_gguf_tensors, llama_metadata, write_gguf

    for name in ("my-model-dir", "模型目录"):
        d = where / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps(get_model("deepseek-r1-distill-qwen-7b").config))
        save_file({"model.norm.weight": np.ones(3584, dtype=np.float16)}, str(d / "model.safetensors"))
    write_gguf(where / "model.gguf", "llama", llama_metadata(LLAMA_TINY), llama_gguf_tensors(LLAMA_TINY))


@pytest.mark.parametrize("readme", ["README.md", "README.zh-CN.md"])
def test_readme_commands_run(readme, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_user_files(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user calibration file from the machine running the tests
    runner = CliRunner()
    cmds = readme_commands(readme)
    assert any(c[:2] == ["plan", "deepseek-v3"] or c[2:4] == ["plan", "deepseek-v3"] for c in cmds)
    # run plan commands first so the files they write exist for cost/render
    cmds.sort(key=lambda c: 0 if "plan" in c[:3] else 1)
    ran = 0
    for argv in cmds:
        argv = [a.replace("../shared", str(SHARED)) for a in argv]
        command = next((a for a in argv if not a.startswith("-") and a not in ("en", "zh")), None)  # None: --version
        if command in LIVE_ONLY:
            argv = [command, "--help"]
        if any("shared" in a for a in argv) and not SHARED.is_dir():
            continue
        set_language("en")
        res = runner.invoke(build_app(), argv)
        assert res.exit_code == 0, f"gpuplan {' '.join(argv)}\n{res.output[-2000:]}"
        ran += 1
    assert ran >= 10
