"""The ``gpuplan`` command: a typer app that registers one module per command.

Start-up stays light: command modules import their heavy dependencies inside the command functions, so
``gpuplan --help`` and ``gpuplan size`` never load the web stack, httpx or torch.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

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


def hoist_lang(args: list[str]) -> list[str]:
    """Move ``--lang X`` / ``--lang=X`` given after the subcommand to the front, so every command takes it.

    Arguments after ``--`` are left alone (they belong to the command)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--lang" and i + 1 < len(args):
            front.extend(args[i:i + 2])
            i += 2
            continue
        if arg.startswith("--lang="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


class _Group(TyperGroup):
    """The top-level group: accepts ``--lang`` anywhere on the line (before or after the subcommand)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_lang(list(args)))

    def resolve_command(self, ctx, args: list[str]):
        """Also notes whether the command's own arguments ask for its help (the group callback runs before they are
        parsed): showing `gpuplan size --help` needs neither the model importers nor the catalog they load."""
        name, cmd, rest = super().resolve_command(ctx, args)
        own = rest[:rest.index("--")] if "--" in rest else rest
        ctx.meta[_HELP_ONLY] = any(arg in ctx.help_option_names for arg in own)
        return name, cmd, rest


_HELP_ONLY = "gpuplan.help_only"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gpuplan {__version__}")
        raise typer.Exit()


def _wanted_command(argv: list[str] | None) -> str | None:
    """The subcommand named on the command line, when it is one of ours (then only its module is imported)."""
    args = list(argv or ())
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--lang":
            i += 2
            continue
        if arg.startswith("-"):
            return None  # --help, --version or an unknown option: register everything
        return arg if arg in COMMAND_MODULES else None
    return None


def _refuse_nul_in_path_options() -> None:
    """Every Path-typed option and argument (cost PLAN_FILE, --calibration, --dataset, --out, …) crashed with
    "ValueError: embedded null byte" on a value holding NUL: typer's TyperPath.convert calls os.stat and catches only
    OSError. The value is refused as a usage error instead (one sentence, exit 2), before typer stats it."""
    from typer.models import TyperPath

    if getattr(TyperPath.convert, "_gpuplan_nul_safe", False):
        return
    original = TyperPath.convert

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\x00" in value:
            self.fail(t("safety.nul_in_path", path=value.replace("\x00", "\\x00")[:200]), param, ctx)
        return original(self, value, param, ctx)

    convert._gpuplan_nul_safe = True  # type: ignore[attr-defined]
    TyperPath.convert = convert  # type: ignore[method-assign]


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The typer app. With ``argv`` naming a command, only that command's module is imported (fast start);
    without it (tests, ``--help``) every command is registered."""
    _refuse_nul_in_path_options()
    app = typer.Typer(
        cls=_Group,
        name="gpuplan",
        help=t("cli.app_help"),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def main(
        ctx: typer.Context,
        lang: str = typer.Option(None, "--lang", help=t("cli.opt_lang"), metavar="en|zh"),
        version: bool = typer.Option(False, "--version", help=t("cli.opt_version"), is_eager=True,
                                     callback=_print_version),
    ) -> None:
        if not ctx.meta.get(_HELP_ONLY):
            from gpuplan.importers.entry import install

            install()  # local directories, .gguf files and Hub ids resolve wherever a model is asked for
        if lang is not None:
            norm = normalize_language(lang)
            if norm is None:
                from gpuplan.cli.common import fail

                fail(t("cli.bad_lang", given=lang))
            set_language(norm)

    wanted = _wanted_command(argv)
    for name in COMMAND_MODULES:
        if wanted is not None and name != wanted:
            continue
        try:
            module = importlib.import_module(f"gpuplan.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gpuplan.cli.{name}":
                continue
            raise
        module.register(app)
    return app


def run() -> None:
    """Run the CLI on ``sys.argv`` (the ``gpuplan`` script enters through ``gpuplan.__main__:main``, which tunes the
    process before this module imports typer; an older installed script calling ``run`` directly gets the same
    settings from here on)."""
    from gpuplan.cli import tune_process

    tune_process()
    _apply_language_early(sys.argv[1:])
    app = build_app(sys.argv[1:])
    from gpuplan.cli.common import run_app

    run_app(app)
