"""Shared CLI helpers: error printing, console, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

from gpuplan.errors import GpuplanError
from gpuplan.i18n import t

EXIT_USER_ERROR = 2


def console():
    """A rich console; when stdout is not a terminal (pipes, logs, tests) tables get 140 columns, not 80."""
    import os

    from rich.console import Console

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140"))
    # markup=False, emoji=False: names and plan values are printed as given; '[/bold]' in a model name is text, not a
    # tag, and ':fire:' stays ':fire:' (rich replaces emoji codes even with markup off; this also spares loading its
    # emoji table on every run). Styles are set with rich Text objects where wanted.
    return Console(highlight=False, soft_wrap=False, width=width, markup=False, emoji=False)


def fail(sentence: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Print one sentence to stderr and exit; never a traceback for user errors. A value quoted in the sentence
    cannot break it over lines or send terminal escapes: control characters are shown escaped."""
    import re

    sentence = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", lambda m: repr(m.group())[1:-1], str(sentence))
    typer.echo(sentence, err=True)
    raise typer.Exit(code)


def run_app(app: typer.Typer) -> None:
    """Run the typer app; GpuplanError anywhere becomes its sentence and exit code 2."""
    try:
        app(standalone_mode=True)
    except GpuplanError as exc:
        typer.echo(str(exc), err=True)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)


def print_json(data: Any) -> None:
    """JSON to stdout: pydantic models and the core's dataclasses (gpuplan.records) dumped in JSON mode, everything
    else as is."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    elif isinstance(data, list | tuple):
        data = [d.model_dump(mode="json") if hasattr(d, "model_dump") else d for d in data]
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def guard(fn):
    """Decorator for command bodies: GpuplanError → one sentence, exit 2 (also under typer's test runner).

    Also one sentence, never a traceback: a pydantic ValidationError from a value the CLI accepted but a core
    object bounds (``--users 10**24``, ``--rate inf``), input nested too deep to parse, and OS errors on the
    user's paths (a full disk, a folder given as a file).
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GpuplanError as exc:
            fail(str(exc))
        except RecursionError:
            fail(t("safety.cli_too_deep"))
        except OverflowError:
            fail(t("safety.cli_overflow"))
        except OSError as exc:
            fail(t("safety.cli_os_error", path=str(exc.filename or "?"), detail=exc.strerror or type(exc).__name__))
        except Exception as exc:
            from pydantic import ValidationError

            if isinstance(exc, ValueError) and "null byte" in str(exc):  # a path with NUL (os functions refuse it)
                fail(t("safety.nul_in_path", path="…"))
            if not isinstance(exc, ValidationError):
                raise
            from gpuplan.cli.sentences import validation_sentence

            fail(validation_sentence(exc))

    return wrapper


def print_table(con, table) -> None:
    """Print a rich table without ever cutting a value ("1,97…"): at its natural width when it fits; else without its
    frame; else text
    columns wrap while numbers (right-aligned columns) stay whole; else, on a very narrow terminal, one card per row
    ("Header: value" lines), as the web page does on a phone."""
    from rich.cells import cell_len
    from rich.measure import Measurement

    unbounded = con.options.update(width=10**5)  # a table measures itself capped at the console width
    for col in table.columns:
        col.overflow = "fold"
    if Measurement.get(con, unbounded, table).maximum <= con.width:
        con.print(table)
        return
    if table.box is not None and table.show_edge:  # first drop the frame: one space between columns, no side lines
        from rich import box

        # pad_edge off too: rich measures a collapsed-padding table without its edge padding but draws it, which
        # took one cell from the first column ("10*" printed as "10" over "*")
        table.box, table.show_edge, table.collapse_padding, table.pad_edge = box.SIMPLE_HEAD, False, True, False
        if Measurement.get(con, unbounded, table).maximum <= con.width:
            con.print(table)
            return
    # Text columns wrap between words, never inside one (an id folded as "8×h200-sx" / "m" reads as two values);
    # numbers (right-aligned) stay whole; headers wrap at a space but are never cut ("每百万输出 t"). Rich's own
    # shrinking ignores minimum widths and crops the right edge, so the widths are fixed here: each column its minimum,
    # the spare width shared by what each needs to reach its natural width.
    mins, needs = [], []
    for col in table.columns:
        cells = [str(c) for c in col._cells]
        words = [cell_len(w) for text in [*cells, str(col.header)] for w in text.split()] + [1]
        low = max([cell_len(c) for c in cells] + words) if col.justify == "right" else max(words)
        high = max([cell_len(line) for text in [*cells, str(col.header)] for line in text.splitlines()] + [low])
        col.no_wrap, col.width = False, low
        mins.append(low)
        needs.append(high - low)
    spare = con.width - Measurement.get(con, unbounded, table).maximum  # frame and padding at the minimum widths
    if spare >= 0:
        total = sum(needs)
        extra = [spare * n // total if total else 0 for n in needs]
        for i in sorted(range(len(needs)), key=lambda j: needs[j] - extra[j], reverse=True):
            if sum(extra) < min(spare, total) and extra[i] < needs[i]:
                extra[i] += 1
        for col, low, more, need in zip(table.columns, mins, extra, needs, strict=True):
            col.width = low + min(more, need)
        con.print(table)
        return
    if table.title:
        con.print(table.title)
    headers = [str(col.header) for col in table.columns]
    for i in range(table.row_count):
        con.print("")
        for header, col in zip(headers, table.columns, strict=True):
            value = str(col._cells[i])
            if value:
                con.print(f"  {header}: {value}", overflow="fold")
