"""Pages: report an incident, triage it, coordinate with parties, close it; the dashboard."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Sector
from balai.directory.service import facets
from balai.errors import ValidationFailed
from balai.incidents import coordination, service, stix, taxonomy, views
from balai.incidents.models import (
    AssistanceStatus,
    Incident,
    IncidentStatus,
    PartyStatus,
    Severity,
    Stage,
)
from balai.incidents.schemas import (
    CloseIn,
    IncidentIn,
    IncidentUpdate,
    MarkingIn,
    StageIn,
)
from balai.intel import groups, stix_io
from balai.intel.markings import Distribution, Tlp
from balai.validators import country_name
from balai.web.deps import DB, AppSettings, PageActor
from balai.web.deps import Form as FormDep
from balai.web.forms import build, field_errors, lines, many, text
from balai.web.render import redirect, render

router = APIRouter()
Many = Annotated[list[str], Query()]

SEVERITY_HINTS = {
    Severity.LOW: "Little or no effect on services; contained to one organisation.",
    Severity.MEDIUM: "Some services degraded or some data exposed; recovery is in hand.",
    Severity.HIGH: "Essential services disrupted, or sensitive data stolen, in one state "
    "or sector; outside help may be needed.",
    Severity.CRITICAL: "Essential services down across a sector or several states, or lives "
    "and national security at risk.",
}


def _choices(db: DB, actor: Actor) -> dict[str, object]:
    present = facets(db, actor=actor)["countries"]
    return {
        "classes": taxonomy.classes(),
        "severities": list(Severity),
        "class_choices": [(c.value, c.label) for c in taxonomy.classes()],
        "severity_choices": [(s.value, s.label) for s in Severity],
        "severity_hints": SEVERITY_HINTS,
        "country_choices": [(c, f"{country_name(c)} ({c})") for c in present],
        "sector_choices": [(s.value, s.label) for s in Sector],
        "tlp_choices": [(t.value, t.label) for t in Tlp],
        "distribution_choices": [(d.value, d.label) for d in Distribution],
        "groups": [(str(g.id), g.name) for g in groups.visible_groups(db, actor=actor)],
    }


@router.get("/incidents")
def incidents_page(
    request: Request,
    db: DB,
    actor: PageActor,
    status: Many = [],  # noqa: B006  # FastAPI copies query defaults
    rsit_class: Many = [],  # noqa: B006  # same
    country: Many = [],  # noqa: B006  # same
    severity_at_least: str | None = None,
    overdue: str | None = None,
    cross_border: str | None = None,
    organisation_id: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: int = 1,
) -> HTMLResponse:
    """Incidents the actor may see, with filters; overdue stages flagged."""
    reporter = None
    if organisation_id:
        try:
            reporter = uuid.UUID(organisation_id)
        except ValueError:
            reporter = None  # a mangled link filters nothing rather than failing
    statuses = [IncidentStatus(s) for s in status if s in set(IncidentStatus)]
    filters = service.IncidentFilters(
        status=statuses,
        severity_at_least=Severity(severity_at_least)
        if severity_at_least in set(Severity)
        else None,
        rsit_class=[c for c in rsit_class if c],
        country=[c.upper() for c in country if c],
        overdue=True if overdue == "1" else None,
        cross_border=True if cross_border == "1" else None,
        organisation_id=reporter,
        q=(q or "").strip() or None,
    )
    now = utcnow()
    result = service.list_incidents(db, actor=actor, filters=filters, page=page, now=now)
    reporters = [(str(o.id), o.name) for o in service.reporters(db, actor=actor)]
    query = request.url.query
    base = "/incidents?" + "&".join(p for p in query.split("&") if p and not p.startswith("page="))
    return render(
        request,
        "incidents/list.html",
        {
            "page": result,
            "items": [views.summary(i, now) for i in result.items],
            "filters": filters,
            "base": base,
            "reporters": reporters,
            **_choices(db, actor),
        },
    )


@router.get("/incidents/dashboard")
def dashboard_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Open incidents, overdue stages, acknowledgement times, a chart of classes by month."""
    board = views.dashboard(db, actor=actor)
    months = sorted({c.month for c in board.by_class})
    classes = [
        c for c in taxonomy.classes() if any(b.rsit_class == c.value for b in board.by_class)
    ]
    table = {(c.month, c.rsit_class): c.count for c in board.by_class}
    totals = {m: sum(n for (month, _), n in table.items() if month == m) for m in months}
    return render(
        request,
        "incidents/dashboard.html",
        {
            "board": board,
            "months": months,
            "chart_classes": classes,
            "table": table,
            "totals": totals,
            "peak": max(totals.values(), default=0),
        },
    )


# Reporting


def local_time(value: str | None, zone: str) -> object:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema says what is wrong with it
    return moment.replace(tzinfo=ZoneInfo(zone)) if moment.tzinfo is None else moment


def _incident_values(form: FormData, zone: str) -> dict[str, object]:
    rsit_class, _, rsit_type = (text(form, "classification") or "").partition("/")
    countries = many(form, "countries") + [
        c.strip() for c in (text(form, "other_countries") or "").replace(",", " ").split()
    ]
    return {
        "title": text(form, "title") or "",
        "description": text(form, "description") or "",
        "rsit_class": rsit_class,
        "rsit_type": rsit_type,
        "severity": text(form, "severity") or "",
        "countries": countries,
        "sectors": many(form, "sectors"),
        "cross_border": form.get("cross_border") == "1",
    }


def _form_state(form: FormData) -> dict[str, object]:
    return {
        key: (form.getlist(key) if key in ("countries", "sectors") else form.get(key))
        for key in form
    }


@router.get("/incidents/new")
def new_incident_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """The report form."""
    actor.require(Permission.INCIDENT_REPORT)
    return render(
        request,
        "incidents/new.html",
        {"form": {"tlp": "amber", "distribution": "community"}, **_choices(db, actor)},
    )


@router.post("/incidents")
def report_incident(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> Response:
    """File the report (and so its early warning)."""
    actor.require(Permission.INCIDENT_REPORT)
    zone = actor.user.timezone if actor.user else "UTC"
    values = {
        **_incident_values(form, zone),
        "aware_at": local_time(text(form, "aware_at"), zone),
        "tlp": text(form, "tlp") or "",
        "distribution": text(form, "distribution") or "",
        "sharing_group_id": text(form, "sharing_group_id"),
        "link_ids": lines(text(form, "link_ids")),
    }
    try:
        incident = service.report(
            db, actor=actor, settings=settings, data=build(IncidentIn, values)
        )
    except ValidationFailed as exc:
        request.state.rollback = True
        return render(
            request,
            "incidents/new.html",
            {
                "form": _form_state(form),
                "errors": field_errors(exc),
                "error_summary": exc.problems,
                **_choices(db, actor),
            },
            status_code=422,
        )
    return redirect(
        request, f"/incidents/{incident.id}", f"Incident {incident.reference} reported."
    )


# One incident


def detail_context(
    db: DB, actor: Actor, incident: Incident, settings: Settings
) -> dict[str, object]:
    out = views.incident_out(db, actor=actor, incident=incident)
    mine = coordination.party_of(db, incident=incident, organisation_id=actor.organisation_id)
    is_reporter = actor.organisation_id == incident.owner_org_id and actor.can(
        Permission.INCIDENT_REPORT
    )
    involved = actor.can(Permission.INCIDENT_RESPOND) and (
        actor.organisation_id == incident.owner_org_id or mine is not None
    )
    party_ids = {p.organisation_id for p in out.parties}
    candidates = []
    if is_reporter:
        candidates = [
            (str(o.id), f"{country_name(o.country)}: {o.name} ({o.kind.label})")
            for o in coordination.invitable(db, actor=actor, incident=incident)
            if o.id not in party_ids
        ]
    return {
        "incident": incident,
        "i": out,
        "mine": mine,
        "is_reporter": is_reporter,
        "involved": involved,
        "open": incident.status != IncidentStatus.CLOSED,
        "candidates": candidates,
        "party_answers": [
            PartyStatus.ACKNOWLEDGED,
            PartyStatus.INVESTIGATING,
            PartyStatus.RESOLVED,
        ],
        "assistance_answers": [
            AssistanceStatus.ACCEPTED,
            AssistanceStatus.DECLINED,
            AssistanceStatus.COMPLETED,
        ],
        "filable": [
            s.stage
            for s in out.stages
            if s.filed_at is None
            and s.stage != Stage.EARLY_WARNING
            and (s.stage == Stage.NOTIFICATION or incident.notification_at is not None)
        ],
        "response_hours": settings.incident_party_response_hours,
        **_choices(db, actor),
    }


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, incident_id: uuid.UUID
) -> HTMLResponse:
    """An incident: its clocks, parties, requests for assistance, links, files and timeline."""
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    service.note_read(db, actor=actor, incident=incident, how="page")
    return render(request, "incidents/detail.html", detail_context(db, actor, incident, settings))


def act(
    request: Request,
    db: DB,
    settings: Settings,
    actor: Actor,
    incident_id: uuid.UUID,
    action: Callable[[], object],
    notice: str,
    anchor: str = "",
) -> Response:
    """Run one form action; on bad input show the page again with the problems."""
    try:
        with db.begin_nested():  # a refused action leaves nothing behind
            action()
    except ValidationFailed as exc:
        request.state.rollback = True
        incident = service.get_incident(db, actor=actor, incident_id=incident_id)
        context = detail_context(db, actor, incident, settings)
        context.update(errors=field_errors(exc), error_summary=exc.problems)
        return render(request, "incidents/detail.html", context, status_code=422)
    return redirect(request, f"/incidents/{incident_id}{anchor}", notice)


@router.get("/incidents/{incident_id}/stix")
def stix_download(
    db: DB, settings: AppSettings, actor: PageActor, incident_id: uuid.UUID
) -> Response:
    """The incident as a STIX 2.1 bundle, downloaded."""
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    service.note_read(db, actor=actor, incident=incident, how="page stix")
    return JSONResponse(
        stix.incident_bundle(db, actor=actor, settings=settings, incident=incident),
        media_type=stix_io.STIX_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{incident.reference}.stix.json"'},
    )


@router.get("/incidents/{incident_id}/edit")
def edit_page(request: Request, db: DB, actor: PageActor, incident_id: uuid.UUID) -> HTMLResponse:
    """Triage: the report's fields, to confirm or correct."""
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    form = {
        "title": incident.title,
        "description": incident.description,
        "classification": f"{incident.rsit_class}/{incident.rsit_type}",
        "severity": incident.severity.value,
        "countries": incident.countries,
        "sectors": [s.value for s in incident.sectors],
        "cross_border": "1" if incident.cross_border else None,
    }
    return render(
        request,
        "incidents/edit.html",
        {"incident": incident, "form": form, **_choices(db, actor)},
    )


@router.post("/incidents/{incident_id}/edit")
def edit_submit(
    request: Request, db: DB, actor: PageActor, incident_id: uuid.UUID, form: FormDep
) -> Response:
    """Save the triage."""
    zone = actor.user.timezone if actor.user else "UTC"
    try:
        data = build(IncidentUpdate, _incident_values(form, zone))
        service.update(db, actor=actor, incident_id=incident_id, data=data)
    except ValidationFailed as exc:
        request.state.rollback = True
        incident = service.get_incident(db, actor=actor, incident_id=incident_id)
        return render(
            request,
            "incidents/edit.html",
            {
                "incident": incident,
                "form": _form_state(form),
                "errors": field_errors(exc),
                "error_summary": exc.problems,
                **_choices(db, actor),
            },
            status_code=422,
        )
    return redirect(request, f"/incidents/{incident_id}", "The incident is updated.")


@router.post("/incidents/{incident_id}/marking")
def marking_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Change the marking."""
    values = {
        "tlp": text(form, "tlp") or "",
        "distribution": text(form, "distribution") or "",
        "sharing_group_id": text(form, "sharing_group_id"),
    }
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: service.change_marking(
            db, actor=actor, incident_id=incident_id, data=build(MarkingIn, values)
        ),
        "The marking is changed.",
    )


@router.post("/incidents/{incident_id}/stages")
def stage_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """File the notification or the final report."""
    values = {"stage": text(form, "stage") or "", "text": text(form, "text") or ""}
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: service.file_stage(
            db, actor=actor, incident_id=incident_id, data=build(StageIn, values)
        ),
        "The stage report is filed.",
        "#stages",
    )


@router.post("/incidents/{incident_id}/close")
def close_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Close the incident with its resolution."""
    values = {"resolution": text(form, "resolution") or ""}
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: service.close(
            db, actor=actor, incident_id=incident_id, data=build(CloseIn, values)
        ),
        "The incident is closed.",
    )


@router.post("/incidents/{incident_id}/reopen")
def reopen_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, incident_id: uuid.UUID
) -> Response:
    """Reopen the incident."""
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: service.reopen(db, actor=actor, incident_id=incident_id),
        "The incident is reopened.",
    )
