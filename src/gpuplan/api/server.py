"""The HTTP server under ``gpuplan serve``: uvicorn's h11 protocol with limits that count requests, not sockets.

uvicorn's own ``limit_concurrency`` counts open connections: 63 idle sockets made it answer 503 to everyone, so a
client without the token could lock out the one with it. Here:

* a connection must deliver a complete request head within ``HEADER_TIMEOUT_S`` of opening (or of its previous
  response), else it is closed: idle and slow-header (slowloris) sockets cost nothing for long;
* after a response, an idle keep-alive connection is closed after ``KEEP_ALIVE_S``;
* at most ``MAX_CONNECTIONS`` sockets are open; one more is closed at once (no 503 for the others);
* the number of requests being answered is limited by ``GuardMiddleware`` (429 with Retry-After), and
  computations by the job runners (cheap endpoints have their own pool, so ``/plan`` cannot starve ``/size``).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
MAX_CONNECTIONS = 1000
MAX_HEADER_BYTES = 16 * 1024


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with a request-head deadline and a cap on open sockets."""

    header_timeout_s = HEADER_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            transport.close()
            return
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _head_timeout(self) -> None:
        """No complete request head in time: close, unless a request is being answered (then re-armed after)."""
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return
        if not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)


def server_config(app, host: str, port: int, protocol: type[H11Protocol] = GuardedH11Protocol,
                  log_level: str = "warning"):
    """The uvicorn configuration of ``gpuplan serve`` (no connection-count 503s; see the module docstring)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol, limit_concurrency=None,
                          timeout_keep_alive=KEEP_ALIVE_S, server_header=False,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES)


def run_server(app, host: str, port: int) -> None:
    """Serve ``app`` until interrupted."""
    import uvicorn

    uvicorn.Server(server_config(app, host, port)).run()
