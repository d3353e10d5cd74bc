"""Pages: start a communication check, watch its result, acknowledge a check message."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.checks import schedules, service
from balai.checks.models import CheckStatus, Outcome
from balai.checks.schemas import CheckStart, ScheduleIn, Selection
from balai.db import utcnow
from balai.directory.models import ContactRole, OrgKind, Sector
from balai.directory.regions import COUNTRY_GROUPS
from balai.directory.service import facets
from balai.errors import ValidationFailed
from balai.validators import country_name
from balai.web.deps import DB, AppSettings, PageActor, client_ip
from balai.web.deps import Form as FormDep
from balai.web.forms import build, field_errors, many, text
from balai.web.render import redirect, render

router = APIRouter()

Many = Annotated[list[str], Query()]
REPEAT_CHOICES = [
    ("0", "Once"),
    ("1", "Every month"),
    ("3", "Every three months"),
    ("6", "Every six months"),
    ("12", "Every year"),
]


@router.get("/checks")
def checks_page(request: Request, db: DB, actor: PageActor, page: int = 1) -> HTMLResponse:
    """Checks the actor's organisation started or took part in, and its schedules."""
    result = service.list_checks(db, actor=actor, page=page)
    return render(
        request,
        "checks/list.html",
        {
            "page": result,
            "items": [service.list_item(db, actor=actor, check=c) for c in result.items],
            "schedules": schedules.visible_schedules(db, actor=actor),
        },
    )


def _selection_values(
    group: str | None, country: list[str], role: list[str], kind: list[str], sector: list[str]
) -> dict[str, list[str]]:
    countries = [c for c in country if c]
    if group in COUNTRY_GROUPS:
        countries = sorted(set(countries) | set(COUNTRY_GROUPS[group][1]))
    return {
        "countries": countries,
        "roles": [r for r in role if r],
        "kinds": [k for k in kind if k],
        "sectors": [s for s in sector if s],
    }


def _new_context(db: DB, actor: Actor) -> dict[str, object]:
    present = facets(db, actor=actor)["countries"]
    return {
        "groups": [(key, label) for key, (label, _) in COUNTRY_GROUPS.items()],
        "country_choices": [(c, f"{country_name(c)} ({c})") for c in present],
        "role_choices": [(r.value, r.label) for r in ContactRole],
        "kind_choices": [(k.value, k.label) for k in OrgKind],
        "sector_choices": [(s.value, s.label) for s in Sector],
        "repeat_choices": REPEAT_CHOICES,
    }


@router.get("/checks/new")
def new_check_page(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    group: str | None = None,
    country: Many = [],  # noqa: B006  # FastAPI copies query defaults
    role: Many = [],  # noqa: B006  # same
    kind: Many = [],  # noqa: B006  # same
    sector: Many = [],  # noqa: B006  # same
    preview: str | None = None,
) -> HTMLResponse:
    """Choose whom to check; 'Preview' lists the contacts so that some can be left out."""
    actor.require(Permission.CHECK_START)
    values = _selection_values(group, country, role, kind, sector)
    context: dict[str, object] = {"sel": values, "found": None, **_new_context(db, actor)}
    context["form"] = {
        "title": f"Communication check {utcnow():%Y-%m-%d}",
        "escalate_after_minutes": settings.check_escalate_minutes,
        "close_after_minutes": settings.check_close_minutes,
        "repeat": "0",
    }
    if preview:
        try:
            selection = build(Selection, values)
            context["found"] = service.preview(
                db, actor=actor, settings=settings, selection=selection
            )
        except ValidationFailed as exc:
            context["errors"] = field_errors(exc)
            context["error_summary"] = exc.problems
            return render(request, "checks/new.html", context, status_code=422)
    return render(request, "checks/new.html", context)


def _start_values(form: FormData) -> dict[str, object]:
    return {
        "title": text(form, "title") or "",
        "message": text(form, "message"),
        "selection": {"contact_ids": many(form, "contact_ids")},
        "escalate_after_minutes": text(form, "escalate_after_minutes"),
        "close_after_minutes": text(form, "close_after_minutes"),
    }


def _repeat_selection(form: FormData, ticked: Selection) -> dict[str, object]:
    """What a repeat re-reads each time: the previewed filters, less the contacts unticked.

    Without filters (contact ids posted on their own) it repeats the same contacts.
    """
    filters = _form_filters(form)
    if not any(filters.values()):
        return ticked.model_dump(mode="json")
    chosen = {str(cid) for cid in ticked.contact_ids}
    left_out = [cid for cid in many(form, "offered_ids") if cid not in chosen]
    return {**filters, "exclude_ids": left_out}


def _form_filters(form: FormData) -> dict[str, list[str]]:
    return _selection_values(
        None, many(form, "country"), many(form, "role"), many(form, "kind"), many(form, "sector")
    )


@router.post("/checks")
def start_check(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> Response:
    """Start the check on the chosen contacts (and repeat it, if asked)."""
    actor.require(Permission.CHECK_START)
    values = _start_values(form)
    repeat = text(form, "repeat") or "0"
    try:
        data = build(CheckStart, values)
        schedule = None
        if repeat != "0":
            months = int(repeat) if repeat.isdigit() else -1
            schedule = schedules.create(
                db,
                actor=actor,
                settings=settings,
                data=build(
                    ScheduleIn,
                    {
                        "title": data.title,
                        "selection": _repeat_selection(form, data.selection),
                        "every_months": months,
                        "first_run_at": utcnow() + relativedelta(months=max(months, 1)),
                        "escalate_after_minutes": data.escalate_after_minutes,
                        "close_after_minutes": data.close_after_minutes,
                    },
                ),
            )
        check = service.start_check(
            db, actor=actor, settings=settings, data=data, schedule=schedule
        )
    except ValidationFailed as exc:
        request.state.rollback = True
        context: dict[str, object] = {
            "sel": _form_filters(form),
            "offered": many(form, "offered_ids"),
            "found": None,
            "form": {**values, "repeat": repeat},
            "errors": field_errors(exc),
            "error_summary": exc.problems,
            **_new_context(db, actor),
        }
        return render(request, "checks/new.html", context, status_code=422)
    return redirect(
        request, f"/checks/{check.id}", f"The check is running: {len(check.targets)} contacts."
    )


CHART_ORDER = [Outcome.REACHED, Outcome.REACHED_ALTERNATE, Outcome.NOT_REACHED, Outcome.PENDING]


@router.get("/checks/{check_id}")
def check_page(request: Request, db: DB, actor: PageActor, check_id: uuid.UUID) -> HTMLResponse:
    """The result: per state and per contact, reached or not and how fast, with a chart."""
    check = service.get_check(db, actor=actor, check_id=check_id)
    out = service.check_out(db, actor=actor, check=check)
    return render(
        request,
        "checks/detail.html",
        {
            "check": check,
            "c": out,
            "outcomes": CHART_ORDER,
            "running": check.status == CheckStatus.RUNNING,
            "escalates_at": check.started_at + timedelta(minutes=check.escalate_after_minutes),
            "can_close": check.status == CheckStatus.RUNNING
            and actor.can_for_org(
                Permission.CHECK_READ_ANY, Permission.CHECK_START, check.organisation_id
            ),
        },
    )


@router.post("/checks/{check_id}/close")
def close_check(request: Request, db: DB, actor: PageActor, check_id: uuid.UUID) -> Response:
    """End a running check now."""
    service.close_now(db, actor=actor, check_id=check_id)
    return redirect(request, f"/checks/{check_id}", "The check is closed.")


@router.post("/checks/schedules/{schedule_id}/toggle")
def toggle_schedule(
    request: Request, db: DB, actor: PageActor, schedule_id: uuid.UUID, form: FormDep
) -> Response:
    """Pause or resume a repeating check."""
    active = form.get("active") == "true"
    schedule = schedules.set_active(db, actor=actor, schedule_id=schedule_id, active=active)
    state = "resumed" if schedule.active else "paused"
    return redirect(request, "/checks", f"The schedule {schedule.title} is {state}.")


# Acknowledgement (no log-in: the link token or the code is the credential)

ACK_MESSAGES = {
    service.AckStatus.OK: "Thank you: your answer is recorded.",
    service.AckStatus.ALREADY: "This message was already acknowledged. Thank you.",
    service.AckStatus.LATE: "This check has closed, so your answer came too late to count; "
    "your directory entry is marked as verified all the same.",
    service.AckStatus.INVALID: "No check message matches this link or code. Check the code "
    "and try again.",
    service.AckStatus.THROTTLED: "Too many wrong codes. Wait a few minutes and try again.",
}


@router.get("/ack")
def ack_code_page(request: Request) -> HTMLResponse:
    """Enter the code from a check e-mail."""
    return render(request, "checks/ack_code.html", {"result": None})


@router.post("/ack")
def ack_code_submit(request: Request, db: DB, settings: AppSettings, form: FormDep) -> HTMLResponse:
    """Acknowledge by code."""
    code = (text(form, "code") or "")[:40]
    if not code:
        return render(
            request,
            "checks/ack_code.html",
            {"result": None, "errors": {"code": ["enter the code from the e-mail"]}},
            status_code=422,
        )
    result = service.acknowledge(db, settings=settings, code=code, client_ip=client_ip(request))
    ok = result.status in (service.AckStatus.OK, service.AckStatus.ALREADY, service.AckStatus.LATE)
    return render(
        request,
        "checks/ack_code.html",
        {"result": result, "message": ACK_MESSAGES[result.status], "ok": ok},
        status_code=200 if ok else (429 if result.status == service.AckStatus.THROTTLED else 404),
    )


@router.get("/ack/{token}")
def ack_link_page(request: Request, db: DB, token: str) -> HTMLResponse:
    """Confirm before recording: mail scanners that follow links must not answer for people."""
    attempt = service.find_attempt(db, token=token)
    return render(
        request,
        "checks/ack_link.html",
        {"attempt": attempt, "token": token, "result": None},
        status_code=200 if attempt else 404,
    )


@router.post("/ack/{token}")
def ack_link_submit(request: Request, db: DB, settings: AppSettings, token: str) -> HTMLResponse:
    """Acknowledge by link."""
    result = service.acknowledge(db, settings=settings, token=token, client_ip=client_ip(request))
    return render(
        request,
        "checks/ack_link.html",
        {
            "attempt": result.attempt,
            "token": token,
            "result": result,
            "message": ACK_MESSAGES[result.status],
        },
        status_code=404 if result.status == service.AckStatus.INVALID else 200,
    )
