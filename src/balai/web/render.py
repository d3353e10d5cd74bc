"""Render pages with the context every template needs; redirect with a one-time notice."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.db import utcnow
from balai.templating import make_env
from balai.tokens import sign
from balai.web.csrf import csrf_token

FLASH_COOKIE = "balai_flash"
_templates = Jinja2Templates(env=make_env())


def _actor(request: Request) -> Actor | None:
    actor: Actor | None = getattr(request.state, "actor", None)
    return actor


def _read_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    signature, _, text = raw.partition(".")
    if sign(request.app.state.settings.secret, f"flash|{text}") != signature:
        return None
    return text.replace("_", " ")


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page template with the actor, CSRF token, notices and time zone in context."""
    actor = _actor(request)
    notice = _read_flash(request)
    base: dict[str, Any] = {
        "actor": actor,
        "user": actor.user if actor else None,
        "zone": actor.user.timezone if actor and actor.user else "UTC",
        "settings": request.app.state.settings,
        "csrf_token": csrf_token(request),
        "notice": notice,
        "now": utcnow(),
        "P": Permission,
        "can": (lambda p: actor is not None and actor.can(p)),
        "errors": {},
        "error_summary": None,
        "login_error": None,
        "problems": None,
        "message": None,
    }
    base.update(context or {})
    response = _templates.TemplateResponse(request, template, base, status_code=status_code)
    if notice is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, notice: str | None = None) -> RedirectResponse:
    """A 303 redirect after a successful form, with an optional one-time notice."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        text = "".join(ch if ch.isalnum() or ch in ".,:-()'" else "_" for ch in notice)[:300]
        signature = sign(request.app.state.settings.secret, f"flash|{text}")
        response.set_cookie(
            FLASH_COOKIE,
            f"{signature}.{text}",
            max_age=120,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.secure_cookies,
        )
    return response
