"""An ASGI guard in front of everything: Host header, requests in flight, access token and request-body size.

Host: when the server names its allowed hosts (a token-less localhost server does), any other Host header is
refused with 403, so a page on another site cannot reach it through DNS rebinding. In flight: at most
``max_in_flight`` requests are answered at once (``/api/v1/health`` excepted); one more gets 429 with
``Retry-After`` at once instead of queueing without bound.

Token: when the server has one, a request must carry it in ``Authorization: Bearer``, ``X-Gpuplan-Token``, the
``gpuplan_token`` cookie, or (to open the page from a link) ``?token=``; a page load with a good ``?token=`` gets the
cookie so the page's own requests carry it. Compared in constant time. Body: ``Content-Length`` over the limit is
refused before reading; a chunked body is read up to the limit and refused past it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from gpuplan.api.lang import accept_language
from gpuplan.i18n import normalize_language, t

COOKIE_NAME = "gpuplan_token"


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _lang(scope, headers: dict[str, str]) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (normalize_language((query.get("lang") or [None])[0]) or accept_language(headers.get("accept-language"))
            or "en")


def presented_tokens(scope, headers: dict[str, str]) -> tuple[list[str], bool]:
    """Every token the request carries, and whether one came from the query string."""
    found: list[str] = []
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        found.append(auth[7:].strip())
    if headers.get("x-gpuplan-token"):
        found.append(headers["x-gpuplan-token"].strip())
    if headers.get("cookie"):
        cookie = SimpleCookie()
        try:
            cookie.load(headers["cookie"])
        except Exception:  # a malformed cookie header is simply no token
            cookie = SimpleCookie()
        if COOKIE_NAME in cookie:
            found.append(cookie[COOKIE_NAME].value)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    from_query = bool(query.get("token"))
    found.extend(query.get("token", [])[:1])
    return found, from_query


def token_ok(expected: str, presented: list[str]) -> bool:
    good = expected.encode()
    return any(hmac.compare_digest(good, p.encode()) for p in presented)


async def _send_json(send, status: int, sentence: str, extra_headers: list | None = None) -> None:
    body = json.dumps({"detail": sentence}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])})
    await send({"type": "http.response.body", "body": body})


HEALTH_PATH = "/api/v1/health"


def host_name(host_header: str) -> str:
    """'Example.com:8000' → 'example.com'; '[::1]:8000' → '::1'."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class GuardMiddleware:
    """Host check, in-flight limit, token check and body-size limit for every HTTP request."""

    def __init__(self, app, token: str | None, max_body_bytes: int, max_in_flight: int = 256,
                 allowed_hosts: tuple[str, ...] | None = None, body_timeout_s: float = 10.0) -> None:
        self.app = app
        self.token = token or None
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None
        self.body_timeout_s = body_timeout_s
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        lang = _lang(scope, headers)
        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in self.allowed_hosts:
            given = headers.get("host", "")[:80]
            return await _send_json(send, 403, t("safety.bad_host_header", lang=lang, given=given))
        if scope.get("path") == HEALTH_PATH:
            return await self._guarded(scope, receive, send, headers, lang)
        if self.in_flight >= self.max_in_flight:
            return await _send_json(send, 429, t("safety.too_many_requests", lang=lang, allowed=self.max_in_flight),
                                    [(b"retry-after", b"1")])
        self.in_flight += 1
        try:
            return await self._guarded(scope, receive, send, headers, lang)
        finally:
            self.in_flight -= 1

    async def _guarded(self, scope, receive, send, headers: dict[str, str], lang: str):
        set_cookie = False
        if self.token:
            presented, from_query = presented_tokens(scope, headers)
            if not token_ok(self.token, presented):
                return await _send_json(send, 401, t("api.token_required", lang=lang),
                                        [(b"www-authenticate", b"Bearer")])
            set_cookie = from_query
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = self.max_body_bytes + 1
            if declared > self.max_body_bytes:
                return await _send_json(send, 413, t("api.body_too_large", lang=lang, given=declared,
                                                     allowed=self.max_body_bytes))
        try:
            receive = await asyncio.wait_for(self._buffered(receive, send, lang), timeout=self.body_timeout_s)
        except TimeoutError:
            return await _send_json(send, 408, t("safety.body_timeout", lang=lang, allowed=f"{self.body_timeout_s:g}"))
        if receive is None:
            return None
        if set_cookie:
            send = self._with_cookie(send)
        return await self.app(scope, receive, send)

    async def _buffered(self, receive, send, lang: str):
        """Read the whole body up to the limit, then replay it; None when the limit was passed (413 sent)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks_done = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _send_json(send, 413, t("api.body_too_large", lang=lang, given=f">{self.max_body_bytes}",
                                              allowed=self.max_body_bytes))
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                chunks_done = None
                break
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                if chunks_done is not None:
                    return chunks_done
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _with_cookie(self, send):
        cookie = f"{COOKIE_NAME}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [(b"set-cookie", cookie)]
            await send(message)

        return wrapped
