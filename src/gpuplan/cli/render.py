"""``gpuplan render PLAN --target t1,t2|all --out DIR [--json]``: write a plan's deployment artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gpuplan.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("render", help=t("render.help"))
    def render_cmd(
        plan_file: Path = typer.Argument(..., help=t("render.arg_plan"), metavar="PLAN_FILE"),
        target: str = typer.Option("all", "--target", "-t", help=t("render.opt_target")),
        out: str = typer.Option("deploy", "--out", "-o", help=t("render.opt_out")),
        candidate: int = typer.Option(0, "--candidate", min=0, help=t("render.opt_candidate")),
        as_json: bool = typer.Option(False, "--json", help=t("cli.opt_json")),
        force: bool = typer.Option(False, "--force", help=t("safety.opt_force")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_render)(plan_file, target, Path(out) if out.strip() else None, candidate, as_json, force)


#: The list of files a render wrote, kept in the output folder so the next render may replace exactly those.
RENDER_MANIFEST = ".gpuplan-render.json"


def only_rendered_files(out: Path) -> bool:
    """True when ``out`` is a folder holding nothing but the files its manifest lists (an earlier render's output)."""
    from gpuplan.errors import GpuplanError
    from gpuplan.safeio import load_json, read_text

    manifest = out / RENDER_MANIFEST
    if not out.is_dir() or out.is_symlink() or not manifest.is_file() or manifest.is_symlink():
        return False
    try:
        listed = set(load_json(read_text(manifest, 1 << 20), str(manifest)))
    except (GpuplanError, ValueError, TypeError):
        return False
    present = {str(p.relative_to(out)) for p in out.rglob("*") if not p.is_dir()}
    return present - {RENDER_MANIFEST} <= listed


def _render(plan_file: Path, target: str, out: Path | None, candidate: int, as_json: bool, force: bool = False) -> None:
    from gpuplan.artifacts import parse_targets, render_plan
    from gpuplan.cli.common import fail, print_json
    from gpuplan.errors import InvalidInputError
    from gpuplan.planfile import PlanFile
    from gpuplan.safeio import FileToWrite, check_path, write_folder

    if out is None:  # Path('') would be the current folder
        raise InvalidInputError("safety.empty_path")
    check_path(out)

    plan = PlanFile.load(plan_file)
    files = render_plan(plan, parse_targets(target), candidate=candidate)
    if out.exists() and not out.is_dir():
        fail(t("render.out_not_dir", path=str(out)))
    # All or nothing: the files go to a new folder beside OUT that then takes its place (DESIGN §11). A folder
    # holding only what an earlier render wrote (its manifest lists every file) is replaced without --force.
    to_write = [FileToWrite(f.path, f.content, 0o755 if f.kind == "shell" else 0o644) for f in files]
    to_write.append(FileToWrite(RENDER_MANIFEST, json.dumps(sorted(f.path for f in files), indent=1) + "\n"))
    write_folder(out, to_write, force=force or only_rendered_files(out))
    written = [{"path": str(out / f.path), "kind": f.kind, "bytes": len(f.content.encode("utf-8"))} for f in files]
    if as_json:
        print_json({"out": str(out), "files": written})
        return
    from rich.table import Table

    from gpuplan.cli.common import console

    table = Table(show_header=True, header_style="bold")
    table.add_column(t("render.col_path"))
    table.add_column(t("render.col_kind"))
    table.add_column(t("render.col_bytes"), justify="right")
    for row in written:
        table.add_row(row["path"], row["kind"], f"{row['bytes']:,}")
    con = console()
    from gpuplan.cli.common import print_table

    print_table(con, table)
    con.print(t("render.wrote", count=len(written), out=str(out)))
