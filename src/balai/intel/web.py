"""Pages: reports and objects, search, upload with its report, sharing groups."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.directory.schemas import OrganisationFilters
from balai.directory.service import list_organisations
from balai.errors import NotFound, ValidationFailed
from balai.intel import groups, imports, misp_io, service, sightings, stix_io
from balai.intel.api import csv_response, report_out
from balai.intel.correlation import correlate
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import Feedback, ImportFormat, IntelImport, StixObject, UploadFormat
from balai.intel.schemas import Marking, SharingGroupIn
from balai.pagination import MAX_PER_PAGE
from balai.web.deps import DB, AppSettings, PageActor
from balai.web.deps import Form as FormDep
from balai.web.forms import build, field_errors, many, text
from balai.web.render import redirect, render

router = APIRouter()

TYPE_CHOICES = [
    ("report", "Reports"),
    ("indicator", "Indicators"),
    ("malware", "Malware"),
    ("threat-actor", "Threat actors"),
    ("intrusion-set", "Intrusion sets"),
    ("campaign", "Campaigns"),
    ("attack-pattern", "Attack patterns"),
    ("vulnerability", "Vulnerabilities"),
    ("identity", "Identities"),
    ("relationship", "Relationships"),
    ("sighting", "Sightings"),
    ("observed-data", "Observed data"),
    ("grouping", "Groupings"),
    ("note", "Notes"),
    ("opinion", "Opinions"),
    ("ipv4-addr", "IPv4 addresses"),
    ("domain-name", "Domains"),
    ("url", "URLs"),
    ("file", "Files"),
    ("email-addr", "E-mail addresses"),
]


@router.get("/intel")
def intel_home() -> RedirectResponse:
    """Intelligence starts with the reports."""
    return RedirectResponse("/intel/objects?type=report", status_code=303)


@router.get("/intel/objects")
def objects_page(
    request: Request,
    db: DB,
    actor: PageActor,
    type: Annotated[list[str], Query()] = [],  # noqa: B006  # FastAPI copies query defaults
    tlp: Annotated[list[Tlp], Query()] = [],  # noqa: B006  # same
    q: str | None = None,
    min_score: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    """Objects the actor may see, newest first, by type, marking, name and decay score."""
    types = [t for t in type if t]
    floor = _score(min_score)
    result = service.list_objects(
        db, actor=actor, types=types, tlp=tlp, q=q, min_score=floor, page=page
    )
    base = "/intel/objects?" + "&".join(
        p for p in request.url.query.split("&") if p and not p.startswith("page=")
    )
    return render(
        request,
        "intel/objects.html",
        {
            "page": result,
            "scores": service.scores(db, [r.stix_id for r in result.items]),
            "min_score": min_score or "",
            "types": types,
            "tlps": [t.value for t in tlp],
            "q": q or "",
            "type_choices": TYPE_CHOICES,
            "tlp_choices": [(t.value, t.label) for t in Tlp],
            "base": base,
        },
    )


def _score(value: str | None) -> float | None:
    if not value:
        return None
    try:
        floor = float(value)
    except ValueError:
        raise ValidationFailed.one("min_score", "must be a number from 0 to 100") from None
    if not 0 <= floor <= 100:
        raise ValidationFailed.one("min_score", "must be a number from 0 to 100")
    return floor


@router.get("/intel/objects/{stix_id}")
def object_page(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, stix_id: str
) -> HTMLResponse:
    """One object: its marking, values, correlations, sightings, contents, holders, versions."""
    return _object_page(request, db, settings, actor, stix_id)


def _object_page(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: Actor,
    stix_id: str,
    errors: ValidationFailed | None = None,
) -> HTMLResponse:
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    row = held.row
    refs = service.referenced(db, actor=actor, row=row)
    hidden = service.hidden_refs(db, actor=actor, refs=service.refs_of(row))
    service.note_restricted_read(db, actor=actor, rows=[row], how="page")
    matches = correlate(db, actor=actor, rows=[row, *refs], cap=settings.correlation_cap)
    listed = {(m.value.kind, m.value.value): m.warninglisted for m in matches}
    if errors is not None:
        request.state.rollback = True
    return render(
        request,
        "intel/object.html",
        {
            "correlations": [m for m in matches if m.total][:200],
            "correlated_values": sum(1 for m in matches if m.total),
            "listed": listed,
            "sightings": sightings.summary(db, actor=actor, stix_id=stix_id)
            if row.type == "indicator"
            else None,
            "feedback_choices": [(f.value, f.label) for f in Feedback],
            "errors": field_errors(errors) if errors else {},
            "error_summary": errors.problems if errors else None,
            "row": row,
            "stix": stix_io.stix_view(row, hidden),
            "stix_json": json.dumps(stix_io.stix_view(row, hidden), indent=2, ensure_ascii=False),
            "values": service.values_of(db, row=row),
            "referenced": refs,
            "others": held.others,
            "versions": service.versions(db, actor=actor, stix_id=stix_id),
        },
        status_code=422 if errors else 200,
    )


def _local_time(value: str | None, zone: str, name: str) -> datetime | None:
    """A datetime-local form value, read in the viewer's own time zone."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except ValueError:
        raise ValidationFailed.one(name, f"'{value}' is not a date and time") from None


@router.post("/intel/objects/{stix_id}/sightings")
def sighting_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, stix_id: str, form: FormDep
) -> Response:
    """Report a sighting, a false positive or an expiry on an indicator."""
    assert actor.user is not None  # PageActor is always a user
    zone = actor.user.timezone
    try:
        kind = Feedback(text(form, "kind") or "")
    except ValueError:
        return _object_page(
            request, db, settings, actor, stix_id, ValidationFailed.one("kind", "choose a report")
        )
    try:
        count_text = text(form, "count") or "1"
        if not count_text.isdigit():
            raise ValidationFailed.one("count", "must be a whole number")
        sightings.report(
            db,
            actor=actor,
            stix_id=stix_id,
            kind=kind,
            count=int(count_text),
            first_seen=_local_time(text(form, "first_seen"), zone, "first_seen"),
            last_seen=_local_time(text(form, "last_seen"), zone, "last_seen"),
        )
    except ValidationFailed as exc:
        return _object_page(request, db, settings, actor, stix_id, exc)
    return redirect(
        request, f"/intel/objects/{stix_id}", f"Your report ({kind.label}) is recorded."
    )


@router.get("/intel/objects/{stix_id}/bundle")
def object_bundle(db: DB, actor: PageActor, stix_id: str) -> Response:
    """Download the object (and what it points to) as a STIX 2.1 bundle."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="page bundle")
    name = stix_id.replace("--", "-")
    return JSONResponse(
        stix_io.bundle(rows, hidden),
        media_type=stix_io.STIX_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.get("/intel/objects/{stix_id}/misp")
def object_misp(db: DB, actor: PageActor, stix_id: str) -> Response:
    """Download the object (and what it points to) as a MISP event."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="page misp")
    name = stix_id.replace("--", "-")
    return JSONResponse(
        misp_io.misp_event(rows, title=held.row.name or stix_id, hidden=hidden),
        headers={"Content-Disposition": f'attachment; filename="{name}.misp.json"'},
    )


@router.get("/intel/objects/{stix_id}/csv")
def object_csv(db: DB, actor: PageActor, stix_id: str) -> Response:
    """Download the values of the object (and of what it points to) as CSV."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    service.note_restricted_read(db, actor=actor, rows=rows, how="page csv")
    return csv_response(db, rows, stix_id.replace("--", "-"))


@router.get("/intel/search")
def search_page(
    request: Request, db: DB, actor: PageActor, q: str = "", page: int = 1
) -> HTMLResponse:
    """Search everything the actor may see, by value or by name."""
    value, result = (None, None)
    if q.strip():
        value, result = service.search(db, actor=actor, q=q[:2048], page=page)
    return render(
        request,
        "intel/search.html",
        {"q": q, "value": value, "page": result, "base": "/intel/search?" + urlencode({"q": q})},
    )


@router.get("/intel/search/bundle")
def search_bundle(db: DB, actor: PageActor, q: str = "", page: int = 1) -> Response:
    """Download the objects a search finds, 500 at a time, as a STIX 2.1 bundle."""
    rows: list[StixObject] = []
    if q.strip():
        _, result = service.search(db, actor=actor, q=q[:2048], page=page, per_page=MAX_PER_PAGE)
        rows = list(result.items)
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="page search bundle")
    return JSONResponse(
        stix_io.bundle(rows, hidden),
        media_type=stix_io.STIX_MEDIA,
        headers={"Content-Disposition": 'attachment; filename="search.json"'},
    )


@router.get("/intel/search/csv")
def search_csv(db: DB, actor: PageActor, q: str = "", page: int = 1) -> Response:
    """Download the values of the objects a search finds, 500 objects at a time, as CSV."""
    rows: list[StixObject] = []
    if q.strip():
        _, result = service.search(db, actor=actor, q=q[:2048], page=page, per_page=MAX_PER_PAGE)
        rows = list(result.items)
    service.note_restricted_read(db, actor=actor, rows=rows, how="page search csv")
    return csv_response(db, rows, "search")


def _upload_context(db: DB, actor: Actor, **extra: object) -> dict[str, object]:
    context: dict[str, object] = {
        "tlp_choices": [(t.value, t.label) for t in Tlp],
        "distribution_choices": [(d.value, d.label) for d in Distribution],
        "groups": [(str(g.id), g.name) for g in groups.visible_groups(db, actor=actor)],
        "formats": imports.available(),
        "form": {
            "format": ImportFormat.STIX.value,
            "tlp": Tlp.AMBER.value,
            "distribution": Distribution.COMMUNITY.value,
        },
        "problems": None,
    }
    context.update(extra)
    return context


@router.get("/intel/upload")
def upload_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Upload a STIX 2.1 bundle under a marking."""
    actor.require(Permission.INTEL_IMPORT)
    return render(request, "intel/upload.html", _upload_context(db, actor))


@router.post("/intel/upload")
def upload_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> Response:
    """Import the file: all of it or nothing; then show the import's report."""
    actor.require(Permission.INTEL_IMPORT)
    values = {
        "format": text(form, "format") or ImportFormat.STIX.value,
        "tlp": text(form, "tlp"),
        "distribution": text(form, "distribution"),
        "sharing_group_id": text(form, "sharing_group_id"),
    }
    upload = form.get("file")
    pasted = form.get("text")
    pasted = pasted if isinstance(pasted, str) and pasted.strip() else ""
    try:
        fmt = _format(str(values["format"]))
        marking = build(Marking, {k: v for k, v in values.items() if k != "format"})
        if isinstance(upload, UploadFile) and upload.filename:
            data, name = upload.file.read(settings.max_upload_bytes + 1), upload.filename
        elif pasted:  # with no file chosen, pasted text is read as free text
            fmt, data, name = ImportFormat.TEXT, pasted.encode(), None
        else:
            raise ValidationFailed.one("file", "choose a file to upload, or paste text")
        if len(data) > settings.max_upload_bytes:
            limit = f"larger than {settings.max_upload_bytes} bytes"
            raise ValidationFailed.one("file" if name else "text", limit)
        batch = imports.import_file(
            db, actor=actor, fmt=fmt, data=data, marking=marking, filename=name
        )
    except ValidationFailed as exc:
        request.state.rollback = True
        return render(
            request,
            "intel/upload.html",
            _upload_context(
                db,
                actor,
                form={**values, "text": pasted},
                problems=exc.problems,
                errors=field_errors(exc),
            ),
            status_code=422,
        )
    done = "The file is imported." if name else "The text is imported."
    return redirect(request, f"/intel/imports/{batch.id}", done)


def _format(value: str) -> ImportFormat:
    try:
        return UploadFormat(value).import_format
    except ValueError:
        raise ValidationFailed.one("format", f"unknown format {value!r}") from None


@router.get("/intel/imports/{import_id}")
def import_page(request: Request, db: DB, actor: PageActor, import_id: uuid.UUID) -> HTMLResponse:
    """What an import did."""
    batch = db.scalar(select_visible(actor, IntelImport).where(IntelImport.id == import_id))
    if batch is None:
        raise NotFound("no such import")
    return render(request, "intel/import.html", {"report": report_out(batch)})


# Sharing groups


def _org_choices(db: DB, actor: Actor) -> list[tuple[str, str]]:
    orgs = list_organisations(db, actor=actor, filters=OrganisationFilters(), per_page=500).items
    return [(str(o.id), f"{o.country} · {o.name}") for o in orgs if o.id != actor.organisation_id]


@router.get("/intel/sharing-groups")
def groups_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Sharing groups the actor's organisation owns or belongs to, and a form for a new one."""
    return render(
        request,
        "intel/groups.html",
        {
            "groups": [groups.group_out(g) for g in groups.visible_groups(db, actor=actor)],
            "orgs": _org_choices(db, actor),
            "form": {"member_ids": []},
        },
    )


def _group_values(form: FormData) -> dict[str, object]:
    return {
        "name": text(form, "name") or "",
        "description": text(form, "description"),
        "member_ids": many(form, "member_ids"),
    }


@router.post("/intel/sharing-groups")
def group_create(request: Request, db: DB, actor: PageActor, form: FormDep) -> Response:
    """Create a sharing group."""
    values = _group_values(form)
    try:
        group = groups.create_group(db, actor=actor, data=build(SharingGroupIn, values))
    except ValidationFailed as exc:
        request.state.rollback = True
        return render(
            request,
            "intel/groups.html",
            {
                "groups": [groups.group_out(g) for g in groups.visible_groups(db, actor=actor)],
                "orgs": _org_choices(db, actor),
                "form": values,
                "errors": field_errors(exc),
                "error_summary": exc.problems,
            },
            status_code=422,
        )
    return redirect(request, f"/intel/sharing-groups/{group.id}", f"{group.name} is created.")


@router.get("/intel/sharing-groups/{group_id}")
def group_page(request: Request, db: DB, actor: PageActor, group_id: uuid.UUID) -> HTMLResponse:
    """A sharing group: its members, and (for its owner) the form to change them."""
    group = groups.get_group(db, actor=actor, group_id=group_id)
    out = groups.group_out(group)
    return render(
        request,
        "intel/group.html",
        {
            "group": out,
            "orgs": _org_choices(db, actor),
            "form": {
                "name": out.name,
                "description": out.description,
                "member_ids": [str(m) for m in out.member_ids],
            },
            "is_owner": group.owner_org_id == actor.organisation_id
            and actor.can(Permission.SHARING_GROUP_MANAGE_OWN),
        },
    )


@router.post("/intel/sharing-groups/{group_id}")
def group_update(
    request: Request, db: DB, actor: PageActor, group_id: uuid.UUID, form: FormDep
) -> Response:
    """Save a group's name, description and members."""
    values = _group_values(form)
    try:
        group = groups.update_group(
            db, actor=actor, group_id=group_id, data=build(SharingGroupIn, values)
        )
    except ValidationFailed as exc:
        request.state.rollback = True
        out = groups.group_out(groups.get_group(db, actor=actor, group_id=group_id))
        return render(
            request,
            "intel/group.html",
            {
                "group": out,
                "orgs": _org_choices(db, actor),
                "form": values,
                "is_owner": True,
                "errors": field_errors(exc),
                "error_summary": exc.problems,
            },
            status_code=422,
        )
    return redirect(request, f"/intel/sharing-groups/{group.id}", f"{group.name} is saved.")


@router.post("/intel/sharing-groups/{group_id}/delete")
def group_delete(request: Request, db: DB, actor: PageActor, group_id: uuid.UUID) -> Response:
    """Delete a group that shares nothing."""
    groups.delete_group(db, actor=actor, group_id=group_id)
    return redirect(request, "/intel/sharing-groups", "The sharing group is deleted.")
