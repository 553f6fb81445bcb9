"""One streamed request to an OpenAI-compatible endpoint, timed at each SSE line and classified on failure.

Timing: ``time.perf_counter`` (monotonic) when the request headers start to go out on the socket (httpcore's
``send_request_headers.started`` trace event, so client-side request building and connection-pool waits are not
counted as server latency), and at the receipt of each SSE ``data:`` line that carries
content (``choices[].delta.content`` / ``reasoning_content`` for chat, ``choices[].text`` for completions). The
server's ``usage`` (asked for with ``stream_options.include_usage``, OpenAI API reference "Create chat completion",
https://platform.openai.com/docs/api-reference/chat/create) is preferred for token counts; without it each
content chunk counts as one token. SSE framing: https://html.spec.whatwg.org/multipage/server-sent-events.html
(lines ``data: ...``; lines starting with ``:`` are comments; the OpenAI stream ends with ``data: [DONE]``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from gpuplan.bench.models import RequestRecord
from gpuplan.bench.stats import tpot_s
from gpuplan.bench.workload import RequestSpec
from gpuplan.errors import InvalidInputError

MAX_ERROR_BODY_BYTES = 2048
DRAIN_TIMEOUT_S = 1.0
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to send: the ``.../v1`` base URL, the model name, chat or completions."""

    base_url: str
    model: str
    api: str = "chat"
    ignore_eos: bool = False

    @property
    def path(self) -> str:
        return "/chat/completions" if self.api == "chat" else "/completions"

    @property
    def is_loopback(self) -> bool:
        return (urlsplit(self.base_url).hostname or "") in LOOPBACK_HOSTS


def normalize_base_url(url: str) -> str:
    """'http://h:8000', 'http://h:8000/', 'http://h:8000/v1/' → 'http://h:8000/v1'; scheme must be http(s)."""
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0  # parts.port raises ValueError for 'h:abc' / 'h:99999'
    except ValueError:
        raise InvalidInputError("bench.bad_url", given=url[:200]) from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or not port_ok
            or any(ch.isspace() or ord(ch) < 32 for ch in url.strip())):
        raise InvalidInputError("bench.bad_url", given=url[:200])
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        path = path.removesuffix(suffix)
    if not path.endswith("/v1"):
        path = path + "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def request_body(endpoint: Endpoint, spec: RequestSpec) -> dict:
    """The JSON body: streaming on, usage in the stream, greedy sampling, ``max_tokens`` = the requested output."""
    body: dict = {
        "model": endpoint.model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": spec.output_tokens,
        "temperature": 0.0,
    }
    if endpoint.api == "chat":
        body["messages"] = [{"role": "user", "content": spec.prompt}]
    else:
        body["prompt"] = spec.prompt
    if endpoint.ignore_eos:
        body["ignore_eos"] = True  # vLLM / SGLang extension: generate exactly max_tokens
    return body


@dataclass
class _StreamState:
    """What the stream has told us so far."""

    token_times_s: list[float] = field(default_factory=list)
    usage_output_tokens: int | None = None
    usage_input_tokens: int | None = None
    finished: bool = False
    done: bool = False


class _StreamFault(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _chunk_text(choice: dict) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        parts = [delta.get("content"), delta.get("reasoning_content"), delta.get("reasoning")]
        return "".join(p for p in parts if isinstance(p, str))
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def _absorb(state: _StreamState, data: str, now_s: float) -> None:
    """Apply one SSE ``data:`` payload to the state; raise _StreamFault on malformed or error payloads."""
    if data == "[DONE]":
        state.done = True
        return
    try:
        obj = json.loads(data)
    except json.JSONDecodeError:
        raise _StreamFault("malformed_sse", data[:120]) from None
    if not isinstance(obj, dict):
        raise _StreamFault("malformed_sse", data[:120])
    if "error" in obj:
        raise _StreamFault("stream_error", json.dumps(obj["error"])[:200])
    usage = obj.get("usage")
    if isinstance(usage, dict):
        if isinstance(usage.get("completion_tokens"), int):
            state.usage_output_tokens = usage["completion_tokens"]
        if isinstance(usage.get("prompt_tokens"), int):
            state.usage_input_tokens = usage["prompt_tokens"]
    choices = obj.get("choices")
    if choices is None and isinstance(usage, dict):
        return
    if not isinstance(choices, list):
        raise _StreamFault("malformed_sse", data[:120])
    has_text = False
    for choice in choices:
        if not isinstance(choice, dict):
            raise _StreamFault("malformed_sse", data[:120])
        has_text = has_text or bool(_chunk_text(choice))
        if choice.get("finish_reason"):
            state.finished = True
    if has_text:
        state.token_times_s.append(now_s)


async def _consume(response: httpx.Response, state: _StreamState) -> float:
    """Read the stream to its end; return the time of [DONE] (or of the last line when there is none)."""
    end_s = time.perf_counter()
    lines = response.aiter_lines()
    async for line in lines:
        end_s = time.perf_counter()
        if not line.startswith("data:"):
            continue  # blank separators, ':' comments, 'event:'/'id:' fields
        _absorb(state, line[5:].strip(), end_s)
        if state.done:
            break
    if state.done:
        await _drain(lines)
    return end_s


async def _drain(lines) -> None:
    """Read what follows [DONE] (the chunked terminator) so the connection goes back to the pool for reuse.

    An undrained HTTP/1.1 response makes httpx close the connection, and every request would pay a new TCP
    handshake. A server that keeps the stream open after [DONE] is given DRAIN_TIMEOUT_S, then dropped.
    """
    import asyncio

    try:
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            async for _ in lines:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


async def _read_capped(response: httpx.Response, limit_bytes: int) -> bytes:
    """At most ``limit_bytes`` of an error body (a hostile or huge 5xx page is not read whole)."""
    out = b""
    async for chunk in response.aiter_bytes():
        out += chunk
        if len(out) >= limit_bytes:
            break
    return out[:limit_bytes]


def classify_exception(exc: BaseException) -> str:
    """httpx exception → error kind (see ``models.ErrorKind``)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "disconnect"
    return "other"


async def send_request(
    client: httpx.AsyncClient, endpoint: Endpoint, spec: RequestSpec, *, level_index: int, request_index: int,
    level_start_s: float,
) -> RequestRecord:
    """Send one streamed request and return its record; never raises for server or network faults."""
    state = _StreamState()
    base = {"level_index": level_index, "request_index": request_index,
            "requested_output_tokens": spec.output_tokens}
    sent = [time.perf_counter()]

    async def trace(event_name: str, _info: dict) -> None:
        # httpcore trace extension: restart the clock when the request bytes start to go out, so the client's
        # own request building and pool wait (milliseconds each under a burst of concurrent sends) do not count
        # as server latency. https://www.encode.io/httpcore/extensions/#trace
        if event_name.endswith("send_request_headers.started"):
            sent[0] = time.perf_counter()

    base["start_s"] = sent[0] - level_start_s
    status: int | None = None
    try:
        async with client.stream("POST", endpoint.base_url + endpoint.path, json=request_body(endpoint, spec),
                                 extensions={"trace": trace}) as resp:
            status = resp.status_code
            if status >= 400:
                body = (await _read_capped(resp, MAX_ERROR_BODY_BYTES)).decode("utf-8", "replace")
                kind = "http_5xx" if status >= 500 else "http_4xx"
                return RequestRecord(**base, ok=False, error_kind=kind, error_detail=body[:200], http_status=status)
            end_s = await _consume(resp, state)
    except _StreamFault as fault:
        return RequestRecord(**base, ok=False, error_kind=fault.kind, error_detail=fault.detail, http_status=status,
                             num_content_chunks=len(state.token_times_s))
    except httpx.HTTPError as exc:
        return RequestRecord(**base, ok=False, error_kind=classify_exception(exc),
                             error_detail=f"{type(exc).__name__}: {exc}"[:200], http_status=status,
                             num_content_chunks=len(state.token_times_s))
    return _finish(base, state, spec, sent[0], end_s, status)


def _finish(base: dict, state: _StreamState, spec: RequestSpec, send_s: float, end_s: float,
            status: int | None) -> RequestRecord:
    chunks = len(state.token_times_s)
    if not state.done and not state.finished:
        return RequestRecord(**base, ok=False, error_kind="truncated", error_detail="stream ended without [DONE]",
                             http_status=status, num_content_chunks=chunks)
    if chunks == 0:
        return RequestRecord(**base, ok=False, error_kind="no_tokens", error_detail="no content tokens",
                             http_status=status)
    ttft = state.token_times_s[0] - send_s
    e2e = end_s - send_s
    use_usage = state.usage_output_tokens is not None and state.usage_output_tokens > 0
    output_tokens = state.usage_output_tokens if use_usage else chunks
    itl = tuple(b - a for a, b in zip(state.token_times_s, state.token_times_s[1:], strict=False))
    return RequestRecord(
        **base, ok=True, http_status=status, ttft_s=ttft, e2e_s=e2e, tpot_s=tpot_s(e2e, ttft, output_tokens),
        itl_s=itl, input_tokens=state.usage_input_tokens if state.usage_input_tokens is not None else spec.input_tokens,
        output_tokens=output_tokens, num_content_chunks=chunks, tokens_source="usage" if use_usage else "chunks",
    )


async def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Open and close one TCP connection to the endpoint's host and port, so a dead endpoint (nothing listening, a
    wrong port) fails in seconds with one sentence instead of after every planned request. Raises OfflineError."""
    import asyncio

    from gpuplan.errors import OfflineError

    parts = urlsplit(normalize_base_url(url))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise OfflineError("ux.bench_unreachable", url=url, reason=reason) from None
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
