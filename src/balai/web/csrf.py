"""CSRF protection: every unsafe request from a page carries a token bound to its cookies."""

from __future__ import annotations

import hmac

from fastapi import Request

from balai.errors import Forbidden
from balai.tokens import sign
from balai.web.middleware import SESSION_COOKIE

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def csrf_token(request: Request) -> str:
    """The token forms on this page must send back, bound to the CSRF and session cookies."""
    settings = request.app.state.settings
    binding = request.scope["state"].get("csrf_cookie", "")
    session = request.cookies.get(SESSION_COOKIE, "")
    return sign(settings.secret, f"csrf|{binding}|{session}")


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose form lacks the right token."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(request)):
        raise Forbidden(
            "the form's security token is missing or out of date; reload the page and try again"
        )
