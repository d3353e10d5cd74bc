"""One ASGI middleware for every response: the CSRF cookie, security headers, access log.

The access log names the matched route template (/ack/{token}), never the raw path, so
that one-time tokens in links never reach the logs.
"""

from __future__ import annotations

import logging
import time
from http.cookies import SimpleCookie
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from balai.tokens import new_token

log = logging.getLogger("balai.access")

CSRF_COOKIE = "balai_csrf"
SESSION_COOKIE = "balai_session"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
PAGE_CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
DOCS_CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


def read_cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112  # a malformed cookie header is ignored
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def route_template(scope: Scope) -> str:
    """The request path with every path parameter replaced by its name: /ack/{token}."""
    if scope.get("route") is None:
        return "(unmatched)"
    path: str = scope["path"]
    for name, value in scope.get("path_params", {}).items():
        if str(value):
            path = path.replace(str(value), "{" + name + "}")
    return path


class WebMiddleware:
    """Sets the anonymous CSRF cookie, adds security headers and writes the access log."""

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = read_cookies(scope)
        csrf = cookies.get(CSRF_COOKIE)
        new_cookie = None
        if not csrf or len(csrf) < 20:
            csrf = new_cookie = new_token(24)
        scope.setdefault("state", {})["csrf_cookie"] = csrf
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}
        path: str = scope["path"]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name not in present:
                        headers.append((name, value))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and b"cache-control" not in present:
                    # Pages show contacts, keys and set-up secrets: keep them out of caches.
                    headers.append((b"cache-control", b"no-store"))
                if b"content-security-policy" not in present:
                    docs = path.startswith(("/api/docs", "/api/static"))
                    headers.append((b"content-security-policy", DOCS_CSP if docs else PAGE_CSP))
                if new_cookie is not None:
                    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                    headers.append(
                        (b"set-cookie", f"{CSRF_COOKIE}={new_cookie}{flags}".encode("latin-1"))
                    )
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.info(
                "%s %s %s %.1fms",
                scope["method"],
                route_template(scope),
                status["code"],
                (time.perf_counter() - started) * 1000,
            )
