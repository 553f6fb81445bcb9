"""Issue 16, command line: the rough edges a new user hits (typer's runner, both languages)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gpuplan import __version__
from gpuplan.cli.main import build_app, hoist_lang
from gpuplan.i18n import set_language

runner = CliRunner()


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("en")


def run(*args, width: int | None = None):
    env = {"COLUMNS": str(width)} if width else None
    return runner.invoke(build_app(list(args)), list(args), env=env)


def test_version_prints_version_without_a_command():
    res = run("--version")
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"gpuplan {__version__}"


def test_lang_after_the_subcommand():
    res = run("size", "deepseek-v3", "--gpu", "h20", "--gpus", "8", "--lang", "zh")
    assert res.exit_code == 0, res.output
    assert "权重" in res.stdout
    res = run("size", "deepseek-v3", "--lang=zh")
    assert res.exit_code == 0, res.output
    assert "权重" in res.stdout


def test_bad_lang_after_the_subcommand_is_one_sentence():
    res = run("size", "deepseek-v3", "--lang", "fr")
    assert res.exit_code == 2
    assert "fr" in res.output and "Traceback" not in res.output


def test_hoist_lang_leaves_arguments_after_double_dash():
    assert hoist_lang(["size", "m", "--lang", "zh"]) == ["--lang", "zh", "size", "m"]
    assert hoist_lang(["bench", "--", "--lang", "x"]) == ["bench", "--", "--lang", "x"]


def test_only_the_named_command_is_registered_but_help_lists_all():
    app = build_app(["size", "deepseek-v3"])
    res = runner.invoke(app, ["size", "deepseek-v3"])
    assert res.exit_code == 0, res.output
    full = runner.invoke(build_app(["--help"]), ["--help"])
    for name in ("size", "plan", "serve", "bench"):
        assert name in full.stdout
