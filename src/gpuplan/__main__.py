"""The ``gpuplan`` command and ``python -m gpuplan``: tune the process first, then import and run the typer app."""

from __future__ import annotations


def main() -> None:
    from gpuplan.cli import exit_now, tune_process

    tune_process()  # before typer, pydantic and rich are imported: their start-up is most of a short command
    from gpuplan.cli.main import run

    try:
        run()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)


if __name__ == "__main__":
    main()
