"""Pages: the alerts an organisation received, subscriptions, and acknowledging an alert."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.alerts import ack, service
from balai.alerts.models import Mode, Subscription
from balai.alerts.schemas import SubscriptionIn
from balai.directory.models import Sector
from balai.directory.service import facets
from balai.errors import ValidationFailed
from balai.incidents import taxonomy
from balai.incidents.models import Severity
from balai.intel.markings import Tlp
from balai.intel.models import ValueKind
from balai.validators import country_name
from balai.web.deps import DB, AppSettings, PageActor, client_ip
from balai.web.deps import Form as FormDep
from balai.web.forms import build, field_errors, many, text
from balai.web.render import redirect, render

router = APIRouter()


def _choices(db: DB, actor: Actor) -> dict[str, object]:
    return {
        "country_choices": [
            (c, f"{country_name(c)} ({c})") for c in facets(db, actor=actor)["countries"]
        ],
        "sector_choices": [(s.value, s.label) for s in Sector],
        "class_choices": [(c.value, c.label) for c in taxonomy.classes()],
        "severity_choices": [(s.value, s.label) for s in Severity],
        "tlp_choices": [(t.value, t.label) for t in Tlp],
        "kind_choices": [(k.value, k.value.upper()) for k in ValueKind],
        "modes": [(Mode.IMMEDIATE.value, "At once"), (Mode.DIGEST.value, "In a digest")],
    }


@router.get("/alerts")
def alerts_page(request: Request, db: DB, actor: PageActor, page: int = 1) -> HTMLResponse:
    """Alerts the organisation received, and the subscriptions that route them."""
    result = service.list_alerts(db, actor=actor, page=page)
    return render(
        request,
        "alerts/list.html",
        {
            "page": result,
            "alerts": result.items,
            "subscriptions": service.visible_subscriptions(db, actor=actor),
        },
    )


def _values(form: FormData) -> dict[str, object]:
    return {
        "name": text(form, "name") or "",
        "for_organisation": form.get("for_organisation") == "1",
        "mode": text(form, "mode") or Mode.IMMEDIATE.value,
        "digest_hours": text(form, "digest_hours") or 24,
        "email": text(form, "email"),
        "webhook_url": text(form, "webhook_url"),
        "active": form.get("active", "1") == "1",
        "countries": many(form, "countries"),
        "sectors": many(form, "sectors"),
        "rsit_classes": many(form, "rsit_classes"),
        "min_severity": text(form, "min_severity"),
        "tlps": many(form, "tlps"),
        "indicator_kinds": many(form, "indicator_kinds"),
        "keywords": (text(form, "keywords") or "").replace(",", "\n").splitlines(),
    }


def _form_of(sub: Subscription) -> dict[str, object]:
    return {
        "name": sub.name,
        "for_organisation": "1" if sub.user_id is None else None,
        "mode": sub.mode.value,
        "digest_hours": sub.digest_hours,
        "email": sub.email,
        "webhook_url": sub.webhook_url,
        "active": "1" if sub.active else "0",
        "countries": sub.countries,
        "sectors": sub.sectors,
        "rsit_classes": sub.rsit_classes,
        "min_severity": sub.min_severity,
        "tlps": sub.tlps,
        "indicator_kinds": sub.indicator_kinds,
        "keywords": ", ".join(sub.keywords),
    }


def _state(form: FormData) -> dict[str, object]:
    lists = ("countries", "sectors", "rsit_classes", "tlps", "indicator_kinds")
    return {key: form.getlist(key) if key in lists else form.get(key) for key in form}


@router.get("/alerts/subscriptions/new")
def new_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """The subscription form."""
    actor.require(Permission.ALERT_SUBSCRIBE)
    email = actor.user.email if actor.user else None
    return render(
        request,
        "alerts/form.html",
        {
            "sub": None,
            "form": {"email": email, "mode": "immediate", "active": "1"},
            **_choices(db, actor),
        },
    )


def _saved(request: Request, sub: Subscription, secret: str | None, notice: str) -> Response:
    if secret is None:
        return redirect(request, "/alerts", notice)
    return render(request, "alerts/secret.html", {"sub": sub, "secret": secret})


def _refused(
    request: Request,
    db: DB,
    actor: Actor,
    form: FormData,
    exc: ValidationFailed,
    sub: Subscription | None,
) -> HTMLResponse:
    request.state.rollback = True
    return render(
        request,
        "alerts/form.html",
        {
            "sub": sub,
            "form": _state(form),
            "errors": field_errors(exc),
            "error_summary": exc.problems,
            **_choices(db, actor),
        },
        status_code=422,
    )


@router.post("/alerts/subscriptions")
def create_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> Response:
    """Create a subscription; a webhook's secret is shown this once."""
    try:
        sub, secret = service.create(
            db, actor=actor, settings=settings, data=build(SubscriptionIn, _values(form))
        )
    except ValidationFailed as exc:
        return _refused(request, db, actor, form, exc, None)
    return _saved(request, sub, secret, f"Subscribed: {sub.name}.")


@router.get("/alerts/subscriptions/{subscription_id}")
def edit_page(
    request: Request, db: DB, actor: PageActor, subscription_id: uuid.UUID
) -> HTMLResponse:
    """A subscription, to change."""
    sub = service.get(db, actor=actor, subscription_id=subscription_id)
    return render(
        request, "alerts/form.html", {"sub": sub, "form": _form_of(sub), **_choices(db, actor)}
    )


@router.post("/alerts/subscriptions/{subscription_id}")
def edit_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    subscription_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Save a subscription."""
    try:
        sub, secret = service.update(
            db,
            actor=actor,
            settings=settings,
            subscription_id=subscription_id,
            data=build(SubscriptionIn, _values(form)),
        )
    except ValidationFailed as exc:
        found = service.get(db, actor=actor, subscription_id=subscription_id)
        return _refused(request, db, actor, form, exc, found)
    return _saved(request, sub, secret, f"Saved: {sub.name}.")


@router.post("/alerts/subscriptions/{subscription_id}/rotate")
def rotate_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, subscription_id: uuid.UUID
) -> Response:
    """A new webhook secret, shown this once."""
    secret = service.rotate_secret(
        db, actor=actor, settings=settings, subscription_id=subscription_id
    )
    sub = service.get(db, actor=actor, subscription_id=subscription_id)
    return render(request, "alerts/secret.html", {"sub": sub, "secret": secret})


@router.post("/alerts/subscriptions/{subscription_id}/delete")
def delete_submit(
    request: Request, db: DB, actor: PageActor, subscription_id: uuid.UUID
) -> Response:
    """Remove a subscription."""
    service.delete(db, actor=actor, subscription_id=subscription_id)
    return redirect(request, "/alerts", "The subscription is removed.")


# Acknowledgement (no log-in: the link's token is the credential)

ACK_MESSAGES = {
    ack.AckStatus.OK: "Thank you: the alert is acknowledged.",
    ack.AckStatus.ALREADY: "This alert was already acknowledged. Thank you.",
    ack.AckStatus.INVALID: "No alert matches this link.",
    ack.AckStatus.THROTTLED: "Too many wrong links. Wait a few minutes and try again.",
}


@router.get("/alerts/ack/{token}")
def ack_page(request: Request, db: DB, token: str) -> HTMLResponse:
    """Confirm before recording: mail scanners that follow links must not answer for people."""
    found = ack.find(db, token=token[:200])
    return render(
        request,
        "alerts/ack.html",
        {"alert": found[0] if found else None, "token": token, "result": None},
        status_code=200 if found else 404,
    )


@router.post("/alerts/ack/{token}")
def ack_submit(request: Request, db: DB, settings: AppSettings, token: str) -> HTMLResponse:
    """Acknowledge."""
    result = ack.acknowledge(db, settings=settings, token=token[:200], client_ip=client_ip(request))
    codes = {ack.AckStatus.INVALID: 404, ack.AckStatus.THROTTLED: 429}
    return render(
        request,
        "alerts/ack.html",
        {
            "alert": result.alert,
            "token": token,
            "result": result,
            "message": ACK_MESSAGES[result.status],
        },
        status_code=codes.get(result.status, 200),
    )
