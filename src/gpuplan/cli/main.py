"""The ``gpuplan`` command: a typer app that registers one module per command.

Start-up stays light: command modules import their heavy dependencies inside the command functions, so
``gpuplan --help`` and ``gpuplan size`` never load the web stack, httpx or torch.
"""

from __future__ import annotations

import importlib
import sys

import typer

from gpuplan import __version__
from gpuplan.i18n import language_from_env, normalize_language, set_language, t

# Command modules, in the order they appear in --help. A module missing here is skipped, never fatal.
COMMAND_MODULES = (
    "models", "gpus", "formats", "inspect", "size", "fit", "estimate", "plan", "cost", "render", "validate",
    "serve", "doctor", "bench", "calibrate",
)


def _apply_language_early(argv: list[str]) -> None:
    """Set the language before typer builds help texts: --lang X / --lang=X on the command line, else the env."""
    lang = language_from_env()
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            lang = normalize_language(argv[i + 1]) or lang
        elif arg.startswith("--lang="):
            lang = normalize_language(arg.split("=", 1)[1]) or lang
    set_language(lang)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="gpuplan",
        help=t("cli.app_help"),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def main(
        lang: str = typer.Option(None, "--lang", help=t("cli.opt_lang"), metavar="en|zh"),
        version: bool = typer.Option(False, "--version", help=t("cli.opt_version"), is_eager=True),
    ) -> None:
        if version:
            typer.echo(f"gpuplan {__version__}")
            raise typer.Exit()
        from gpuplan.importers.entry import install

        install()  # local directories, .gguf files and Hub ids resolve wherever a model is asked for
        if lang is not None:
            norm = normalize_language(lang)
            if norm is None:
                from gpuplan.cli.common import fail

                fail(t("cli.bad_lang", given=lang))
            set_language(norm)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"gpuplan.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gpuplan.cli.{name}":
                continue
            raise
        module.register(app)
    return app


def run() -> None:
    _apply_language_early(sys.argv[1:])
    app = build_app()
    from gpuplan.cli.common import run_app

    run_app(app)
