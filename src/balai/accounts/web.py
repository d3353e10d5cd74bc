"""Pages: log-in, second factor, log-out, password reset, own account, API keys, users."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from balai.accounts import auth, service
from balai.accounts.models import Role, WebSession
from balai.accounts.schemas import ApiKeyCreate, UserCreate, UserUpdate
from balai.directory.schemas import OrganisationFilters
from balai.directory.service import list_organisations
from balai.errors import ValidationFailed
from balai.validators import time_zones
from balai.web.deps import DB, AppSettings, MaybeActor, PageActor, client_ip, current_web_session
from balai.web.deps import Form as FormDep
from balai.web.forms import build, field_errors, text
from balai.web.middleware import SESSION_COOKIE
from balai.web.render import redirect, render

router = APIRouter()

LOGIN_FAILED = "The e-mail address or password is wrong, or the account is inactive."
THROTTLED = "Too many failed attempts. Wait a few minutes and try again."


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a user to another site after log-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/directory"


def _set_session_cookie(response: Response, token: str, settings: AppSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


@router.get("/")
def home(actor: MaybeActor) -> RedirectResponse:
    """Start page: the directory for members, the log-in page for visitors."""
    return RedirectResponse("/directory" if actor else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, actor: MaybeActor, next: str | None = None) -> Response:
    """The log-in form."""
    if actor is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "accounts/login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login")
def login_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form()] = "/directory",
) -> Response:
    """Check the password; continue to the second factor when the account has one."""
    result = auth.login(
        db,
        settings=settings,
        email=email,
        password=password,
        client_ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    if result.status in (auth.LoginStatus.FAILED, auth.LoginStatus.THROTTLED):
        message = LOGIN_FAILED if result.status == auth.LoginStatus.FAILED else THROTTLED
        return render(
            request,
            "accounts/login.html",
            {"next": _safe_next(next), "email": email, "login_error": message},
            status_code=429 if result.status == auth.LoginStatus.THROTTLED else 401,
        )
    assert result.token is not None  # OK and MFA_REQUIRED always open a session
    target = _safe_next(next)
    if result.status == auth.LoginStatus.MFA_REQUIRED:
        response = RedirectResponse(f"/login/mfa?{urlencode({'next': target})}", status_code=303)
    else:
        response = RedirectResponse(target, status_code=303)
    _set_session_cookie(response, result.token, settings)
    return response


PendingSession = Annotated[WebSession | None, Depends(current_web_session)]


@router.get("/login/mfa")
def mfa_page(request: Request, web_session: PendingSession, next: str | None = None) -> Response:
    """The second-factor form."""
    if web_session is None or not web_session.mfa_pending:
        return RedirectResponse("/login", status_code=303)
    return render(request, "accounts/mfa.html", {"next": _safe_next(next)})


@router.post("/login/mfa")
def mfa_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    web_session: PendingSession,
    code: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form()] = "/directory",
) -> Response:
    """Check the TOTP code and finish logging in."""
    if web_session is None or not web_session.mfa_pending:
        return RedirectResponse("/login", status_code=303)
    result = auth.complete_mfa(db, settings=settings, web_session=web_session, code=code)
    if result.status != auth.LoginStatus.OK:
        message = (
            THROTTLED
            if result.status == auth.LoginStatus.THROTTLED
            else "That code is not right. Codes change every 30 seconds."
        )
        return render(
            request,
            "accounts/mfa.html",
            {"next": _safe_next(next), "login_error": message},
            status_code=429 if result.status == auth.LoginStatus.THROTTLED else 401,
        )
    assert result.token is not None  # a completed MFA opens a full session
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(response, result.token, settings)
    return response


@router.post("/logout")
def logout(request: Request, db: DB, web_session: PendingSession) -> Response:
    """End the session."""
    if web_session is not None:
        auth.end_session(db, web_session=web_session)
    response = redirect(request, "/login", "You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password-reset")
def reset_request_page(request: Request) -> HTMLResponse:
    """Ask for a reset link."""
    return render(request, "accounts/reset_request.html", {"sent": False})


@router.post("/password-reset")
def reset_request_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    email: Annotated[str, Form(max_length=320)] = "",
) -> HTMLResponse:
    """Send a link if the address has an account; the answer is the same either way."""
    auth.request_password_reset(db, settings=settings, email=email, client_ip=client_ip(request))
    return render(request, "accounts/reset_request.html", {"sent": True})


@router.get("/password-reset/{token}")
def reset_page(request: Request, db: DB, token: str) -> HTMLResponse:
    """Choose a new password from a link."""
    valid = auth.find_password_reset(db, token=token) is not None
    return render(
        request,
        "accounts/reset.html",
        {"token": token, "valid": valid},
        status_code=200 if valid else 404,
    )


@router.post("/password-reset/{token}")
def reset_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    token: str,
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set the new password; the link stops working."""
    try:
        if password != password_again:
            raise ValidationFailed.one("password_again", "the two passwords differ")
        auth.complete_password_reset(
            db, settings=settings, token=token, password=password, client_ip=client_ip(request)
        )
    except ValidationFailed as exc:
        request.state.rollback = True
        return render(
            request,
            "accounts/reset.html",
            {
                "token": token,
                "valid": True,
                "errors": field_errors(exc),
                "error_summary": exc.problems,
            },
            status_code=422,
        )
    return redirect(request, "/login", "Your password is set. Log in with it now.")


# Own account


def _account_context(
    request: Request, db: DB, actor: PageActor, **extra: object
) -> dict[str, object]:
    context: dict[str, object] = {
        "keys": service.list_api_keys(db, actor=actor),
        "zones": time_zones(),
        "totp_secret": None,
        "totp_qr": None,
        "new_key": None,
    }
    context.update(extra)
    return context


@router.get("/account")
def account_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Own profile, password, second factor and API keys."""
    return render(request, "accounts/account.html", _account_context(request, db, actor))


def _account_error(
    request: Request, db: DB, actor: PageActor, exc: ValidationFailed
) -> HTMLResponse:
    request.state.rollback = True
    return render(
        request,
        "accounts/account.html",
        _account_context(request, db, actor, errors=field_errors(exc), error_summary=exc.problems),
        status_code=422,
    )


@router.post("/account/profile")
def account_profile(
    request: Request,
    db: DB,
    actor: PageActor,
    name: Annotated[str, Form(max_length=400)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
) -> Response:
    """Change own name and time zone."""
    assert actor.user is not None  # PageActor is always a user
    try:
        data = build(UserUpdate, {"name": name, "timezone": timezone})
        service.update_user(db, actor=actor, user_id=actor.user.id, data=data)
    except ValidationFailed as exc:
        return _account_error(request, db, actor, exc)
    return redirect(request, "/account", "Your profile is saved.")


@router.post("/account/password")
def account_password(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change own password; every session ends, so log in again."""
    try:
        auth.change_password(
            db, actor=actor, settings=settings, current=current_password, new=new_password
        )
    except ValidationFailed as exc:
        return _account_error(request, db, actor, exc)
    response = redirect(request, "/login", "Your password is changed. Log in with it now.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _qr_svg(uri: str) -> Markup:
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="QR code of the set-up key")
    return Markup(svg)  # noqa: S704  # segno produces the SVG; no user text reaches it unescaped


@router.post("/account/mfa/start")
def mfa_start(request: Request, db: DB, settings: AppSettings, actor: PageActor) -> HTMLResponse:
    """Show a new secret as a QR code and as text, pending confirmation."""
    assert actor.user is not None  # PageActor is always a user
    try:
        secret = auth.begin_totp(db, actor=actor)
    except ValidationFailed as exc:
        return _account_error(request, db, actor, exc)
    uri = auth.totp_uri(actor.user, secret, settings.community_name)
    return render(
        request,
        "accounts/account.html",
        _account_context(request, db, actor, totp_secret=secret, totp_qr=_qr_svg(uri)),
    )


@router.post("/account/mfa/confirm")
def mfa_confirm(
    request: Request, db: DB, actor: PageActor, code: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """Turn the second factor on with a first code from the app."""
    try:
        auth.confirm_totp(db, actor=actor, code=code)
    except ValidationFailed as exc:
        return _account_error(request, db, actor, exc)
    return redirect(request, "/account", "Two-step verification is on.")


@router.post("/account/mfa/disable")
def mfa_disable(
    request: Request,
    db: DB,
    actor: PageActor,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Turn the second factor off (asks for the password)."""
    try:
        auth.disable_totp(db, actor=actor, password=password)
    except ValidationFailed as exc:
        return _account_error(request, db, actor, exc)
    return redirect(request, "/account", "Two-step verification is off.")


@router.post("/account/api-keys")
def api_key_create(
    request: Request,
    db: DB,
    actor: PageActor,
    name: Annotated[str, Form(max_length=400)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    """Create an API key and show it this once."""
    try:
        data = build(
            ApiKeyCreate, {"name": name, "expires_in_days": expires_in_days.strip() or None}
        )
        plain, _ = service.create_api_key(db, actor=actor, data=data)
    except ValidationFailed as exc:
        return _account_error(request, db, actor, exc)
    db.flush()
    return render(
        request, "accounts/account.html", _account_context(request, db, actor, new_key=plain)
    )


@router.post("/account/api-keys/{key_id}/revoke")
def api_key_revoke(request: Request, db: DB, actor: PageActor, key_id: uuid.UUID) -> Response:
    """Revoke one of own API keys."""
    key = service.revoke_api_key(db, actor=actor, key_id=key_id)
    return redirect(request, "/account", f"The key {key.name} ({key.prefix}) is revoked.")


# Users (organisation and platform admins)


def _organisation_choices(db: DB, actor: PageActor) -> list[tuple[str, str]]:
    if actor.is_platform_admin:
        orgs = list_organisations(
            db, actor=actor, filters=OrganisationFilters(), page=1, per_page=500
        ).items
        return [(str(o.id), f"{o.country} · {o.name}") for o in orgs]
    assert actor.user is not None  # PageActor is always a user
    return [(str(actor.user.organisation_id), actor.user.organisation.name)]


def _roles(actor: PageActor) -> list[tuple[str, str]]:
    return [(r.value, r.label) for r in Role if r != Role.PLATFORM_ADMIN or actor.is_platform_admin]


@router.get("/users")
def users_page(request: Request, db: DB, actor: PageActor, page: int = 1) -> HTMLResponse:
    """The users the actor manages."""
    result = service.list_users(db, actor=actor, page=page)
    return render(request, "accounts/users.html", {"page": result})


@router.get("/users/new")
def user_new_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Form for a new user."""
    return render(
        request,
        "accounts/user_form.html",
        {
            "form": {},
            "orgs": _organisation_choices(db, actor),
            "roles": _roles(actor),
            "edit": None,
            "zones": time_zones(),
        },
    )


@router.post("/users/new")
def user_new_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> Response:
    """Create the user; without a password, an invitation link goes out by e-mail."""
    values = {
        "email": text(form, "email") or "",
        "name": text(form, "name") or "",
        "organisation_id": text(form, "organisation_id"),
        "role": text(form, "role") or Role.READER.value,
        "password": text(form, "password"),
        "timezone": text(form, "timezone") or "UTC",
    }
    try:
        user = service.create_user(
            db, actor=actor, settings=settings, data=build(UserCreate, values)
        )
    except ValidationFailed as exc:
        request.state.rollback = True
        return render(
            request,
            "accounts/user_form.html",
            {
                "form": values,
                "orgs": _organisation_choices(db, actor),
                "roles": _roles(actor),
                "edit": None,
                "zones": time_zones(),
                "errors": field_errors(exc),
                "error_summary": exc.problems,
            },
            status_code=422,
        )
    return redirect(request, "/users", f"{user.name} can now log in.")


@router.get("/users/{user_id}/edit")
def user_edit_page(request: Request, db: DB, actor: PageActor, user_id: uuid.UUID) -> HTMLResponse:
    """Form to change a user's role or deactivate them."""
    user = service.get_user(db, actor=actor, user_id=user_id)
    form = {
        "name": user.name,
        "role": user.role.value,
        "active": user.active,
        "timezone": user.timezone,
    }
    return render(
        request,
        "accounts/user_form.html",
        {"form": form, "orgs": [], "roles": _roles(actor), "edit": user, "zones": time_zones()},
    )


@router.post("/users/{user_id}/edit")
def user_edit_submit(
    request: Request, db: DB, actor: PageActor, user_id: uuid.UUID, form: FormDep
) -> Response:
    """Save a user's name, role, zone and active state."""
    values = {
        "name": text(form, "name"),
        "role": text(form, "role"),
        "timezone": text(form, "timezone"),
        "active": form.get("active") == "on",
    }
    try:
        user = service.update_user(db, actor=actor, user_id=user_id, data=build(UserUpdate, values))
    except ValidationFailed as exc:
        request.state.rollback = True
        user = service.get_user(db, actor=actor, user_id=user_id)
        return render(
            request,
            "accounts/user_form.html",
            {
                "form": values,
                "orgs": [],
                "roles": _roles(actor),
                "edit": user,
                "zones": time_zones(),
                "errors": field_errors(exc),
                "error_summary": exc.problems,
            },
            status_code=422,
        )
    return redirect(request, "/users", f"{user.name} is saved.")
