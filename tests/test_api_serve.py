"""``gpuplan serve``: localhost by default, a token required beyond it (flag or GPUPLAN_TOKEN), and the real
command answering on a port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from gpuplan.cli.main import build_app
from gpuplan.cli.serve import check_bind, is_loopback, resolve_token
from gpuplan.errors import InvalidInputError
from gpuplan.i18n import t


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.internal", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_token_from_flag_or_environment():
    assert resolve_token("abc", {}) == "abc"
    assert resolve_token(None, {"GPUPLAN_TOKEN": "env"}) == "env"
    assert resolve_token("flag", {"GPUPLAN_TOKEN": "env"}) == "flag"
    assert resolve_token(None, {}) is None
    assert resolve_token("  ", {}) is None


def test_non_loopback_needs_token():
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "t0ken")
    with pytest.raises(InvalidInputError) as err:
        check_bind("0.0.0.0", None)
    assert err.value.message("en") == t("api.serve_needs_token", host="0.0.0.0")


def test_cli_refuses_open_bind_in_one_sentence(monkeypatch):
    monkeypatch.delenv("GPUPLAN_TOKEN", raising=False)
    res = CliRunner().invoke(build_app(), ["serve", "--host", "0.0.0.0"])
    assert res.exit_code == 2
    assert res.stderr.strip() == t("api.serve_needs_token", host="0.0.0.0")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_answers_with_token():
    port = _free_port()
    env = {**os.environ, "GPUPLAN_TOKEN": "s3cret", "GPUPLAN_LANG": "en"}
    proc = subprocess.Popen([sys.executable, "-m", "gpuplan", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                res = httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert res.status_code == 401
        res = httpx.get(f"{base}/api/v1/health", headers={"Authorization": "Bearer s3cret"}, timeout=5)
        assert res.status_code == 200 and res.json()["token_required"] is True
        page = httpx.get(f"{base}/", params={"token": "s3cret"}, timeout=5)
        assert page.status_code == 200 and "<html" in page.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert t("api.serve_listening", url=f"http://127.0.0.1:{port}/") in out
