"""``gpuplan serve``: the REST API and the web page (FastAPI + uvicorn, imported only when the command runs).

Localhost by default. Listening on any other address needs a token (``--token`` or ``GPUPLAN_TOKEN``) that every
request must carry; the server refuses to start without one rather than expose an open API.
"""

from __future__ import annotations

import ipaddress
import os

import typer

from gpuplan.i18n import t

TOKEN_ENV = "GPUPLAN_TOKEN"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost' (names other than localhost are treated as reaching out)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(flag: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The flag, else the environment variable; empty means none."""
    env = os.environ if environ is None else environ
    token = flag if flag is not None else env.get(TOKEN_ENV)
    return token.strip() or None if token else None


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token (one sentence, exit 2)."""
    from gpuplan.errors import InvalidInputError

    if not host.strip():
        raise InvalidInputError("safety.empty_option", option="--host", allowed="an IP address or host name")
    if not is_loopback(host) and not token:
        raise InvalidInputError("api.serve_needs_token", host=host)


def register(app: typer.Typer) -> None:
    @app.command("serve", help=t("api.serve_help"))
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help=t("api.serve_opt_host")),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help=t("api.serve_opt_port")),
        token: str = typer.Option(None, "--token", help=t("api.serve_opt_token")),
        time_limit_s: float = typer.Option(10.0, "--time-limit-s", min=0.5, max=600, help=t("api.serve_opt_time_limit")),
        jobs: int = typer.Option(2, "--jobs", min=1, max=64, help=t("api.serve_opt_jobs")),
    ) -> None:
        from gpuplan.cli.common import guard

        guard(_serve)(host, port, resolve_token(token), time_limit_s, jobs)


def check_port_free(host: str, port: int) -> None:
    """One sentence when the address is taken: it printed "gpuplan is serving on …" and then uvicorn's
    "[Errno 98] … address already in use" (a bench on 8000 or a second serve are the usual reasons)."""
    import socket

    from gpuplan.errors import InvalidInputError

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError:
        return  # an address the resolver cannot read is uvicorn's to report
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as uvicorn sets it: a closed server's TIME_WAIT does not block, a listening program does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidInputError("qa.serve_port_in_use", host=host, port=port, detail=exc.strerror or str(exc),
                                    next=port + 1 if port < 65535 else port - 1) from None


def _serve(host: str, port: int, token: str | None, time_limit_s: float, jobs: int) -> None:
    check_bind(host, token)
    check_port_free(host, port)

    from gpuplan.api import ApiSettings, create_app, run_server
    # Without a token the server listens on loopback only: accept only requests addressed to a local name, so a
    # web page on another site cannot reach it through DNS rebinding.
    allowed = None if token else local_host_names(host)
    app = create_app(ApiSettings(token=token, request_time_limit_s=time_limit_s, max_parallel_jobs=jobs,
                                 allowed_hosts=allowed))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    typer.echo(t("api.serve_listening", url=url))
    if token:
        typer.echo(t("api.serve_listening_token", url=url))
    run_server(app, host, port)


def local_host_names(host: str) -> tuple[str, ...]:
    """Host-header names a loopback server answers to: localhost, the loopback addresses, and the bound address."""
    names = {"localhost", "127.0.0.1", "::1", host.strip().strip("[]").lower()}
    return tuple(sorted(names))
