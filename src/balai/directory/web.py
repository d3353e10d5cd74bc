"""Pages: directory search, organisations, contacts, import and export."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.checks.service import list_checks, list_item
from balai.db import utcnow
from balai.directory import io, service
from balai.directory.models import ContactRole, OrgKind, Sector
from balai.directory.schemas import (
    ContactFilters,
    ContactIn,
    OrganisationFilters,
    OrganisationIn,
    Weekday,
)
from balai.errors import Conflict, Forbidden, ValidationFailed
from balai.validators import country_name, language_name, time_zones
from balai.web.deps import DB, AppSettings, PageActor
from balai.web.deps import Form as FormDep
from balai.web.forms import build, field_errors, lines, many, text
from balai.web.render import redirect, render

router = APIRouter()

Many = Annotated[list[str], Query()]


def _choices(db: DB, actor: Actor) -> dict[str, object]:
    found = service.facets(db, actor=actor)
    return {
        "country_choices": [(c, f"{country_name(c)} ({c})") for c in found["countries"]],
        "language_choices": [(code, language_name(code)) for code in found["languages"]],
        "role_choices": [(r.value, r.label) for r in ContactRole],
        "kind_choices": [(k.value, k.label) for k in OrgKind],
        "sector_choices": [(s.value, s.label) for s in Sector],
    }


def _query_string(request: Request) -> str:
    return "&".join(p for p in request.url.query.split("&") if p and not p.startswith("page="))


@router.get("/directory")
def directory_page(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    q: str | None = None,
    country: Many = [],  # noqa: B006  # FastAPI copies query defaults
    role: Many = [],  # noqa: B006  # same
    kind: Many = [],  # noqa: B006  # same
    sector: Many = [],  # noqa: B006  # same
    language: Many = [],  # noqa: B006  # same
    stale: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    """Search the points of contact, with filters; stale contacts are flagged."""
    values = {
        "q": q or None,
        "country": [c for c in country if c],
        "role": [r for r in role if r],
        "kind": [k for k in kind if k],
        "sector": [s for s in sector if s],
        "language": [lang for lang in language if lang],
        "stale": {"yes": True, "no": False}.get(stale or ""),
    }
    filters = build(ContactFilters, values)
    result = service.search_contacts(db, actor=actor, settings=settings, filters=filters, page=page)
    now = utcnow()
    rows = [(c, service.stale_reason(c, settings=settings, now=now)) for c in result.items]
    return render(
        request,
        "directory/search.html",
        {
            "page": result,
            "rows": rows,
            "f": values,
            "stale": stale or "",
            "base": "/directory?" + _query_string(request),
            **_choices(db, actor),
        },
    )


@router.get("/organisations")
def organisations_page(
    request: Request,
    db: DB,
    actor: PageActor,
    q: str | None = None,
    country: Many = [],  # noqa: B006  # FastAPI copies query defaults
    kind: Many = [],  # noqa: B006  # same
    sector: Many = [],  # noqa: B006  # same
    page: int = 1,
) -> HTMLResponse:
    """All organisations, by country."""
    values = {
        "q": q or None,
        "country": [c for c in country if c],
        "kind": [k for k in kind if k],
        "sector": [s for s in sector if s],
    }
    result = service.list_organisations(
        db, actor=actor, filters=build(OrganisationFilters, values), page=page
    )
    return render(
        request,
        "directory/organisations.html",
        {
            "page": result,
            "f": values,
            "base": "/organisations?" + _query_string(request),
            **_choices(db, actor),
        },
    )


def _org_values(form: FormData) -> dict[str, object]:
    return {
        "name": text(form, "name") or "",
        "short_name": text(form, "short_name"),
        "kind": text(form, "kind"),
        "country": text(form, "country") or "",
        "parent_id": text(form, "parent_id"),
        "sectors": many(form, "sectors"),
        "website": text(form, "website"),
        "constituency": text(form, "constituency"),
        "description": text(form, "description"),
    }


def _org_form(
    request: Request,
    db: DB,
    actor: Actor,
    values: dict[str, object],
    org_id: uuid.UUID | None,
    exc: ValidationFailed | None = None,
) -> HTMLResponse:
    parents = service.list_organisations(
        db, actor=actor, filters=OrganisationFilters(), page=1, per_page=500
    ).items
    if exc is not None:
        request.state.rollback = True
    return render(
        request,
        "directory/organisation_form.html",
        {
            "form": values,
            "org_id": org_id,
            "parents": [(str(o.id), f"{o.country} · {o.name}") for o in parents if o.id != org_id],
            "all_countries": [(c, f"{country_name(c)} ({c})") for c in _all_countries()],
            "kind_choices": [(k.value, k.label) for k in OrgKind],
            "sector_choices": [(s.value, s.label) for s in Sector],
            "errors": field_errors(exc) if exc else {},
            "error_summary": exc.problems if exc else None,
        },
        status_code=422 if exc else 200,
    )


def _all_countries() -> list[str]:
    import pycountry

    return sorted(c.alpha_2 for c in pycountry.countries)


@router.get("/organisations/new")
def organisation_new_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Form for a new organisation (platform admins)."""
    actor.require(Permission.ORGANISATION_CREATE)
    return _org_form(request, db, actor, {"sectors": []}, None)


@router.post("/organisations/new")
def organisation_new_submit(request: Request, db: DB, actor: PageActor, form: FormDep) -> Response:
    """Create the organisation."""
    values = _org_values(form)
    try:
        org = service.create_organisation(db, actor=actor, data=build(OrganisationIn, values))
    except ValidationFailed as exc:
        return _org_form(request, db, actor, values, None, exc)
    except Conflict as exc:
        return _org_form(
            request, db, actor, values, None, ValidationFailed.one("name", exc.message)
        )
    return redirect(request, f"/organisations/{org.id}", f"{org.name} is created.")


@router.get("/organisations/{organisation_id}")
def organisation_page(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, organisation_id: uuid.UUID
) -> HTMLResponse:
    """An organisation with its points of contact and its communication-check history."""
    org = service.get_organisation(db, actor=actor, organisation_id=organisation_id)
    now = utcnow()
    contacts = [(c, service.stale_reason(c, settings=settings, now=now)) for c in org.contacts]
    checks = list_checks(db, actor=actor, organisation_id=org.id, per_page=20)
    return render(
        request,
        "directory/organisation.html",
        {
            "org": org,
            "contacts": contacts,
            "checks": [list_item(db, actor=actor, check=c) for c in checks.items],
            "can_edit": actor.can_for_org(
                Permission.ORGANISATION_EDIT_ANY, Permission.ORGANISATION_EDIT_OWN, org.id
            ),
            "can_edit_contacts": actor.can_for_org(
                Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, org.id
            ),
        },
    )


@router.get("/organisations/{organisation_id}/edit")
def organisation_edit_page(
    request: Request, db: DB, actor: PageActor, organisation_id: uuid.UUID
) -> HTMLResponse:
    """Form to edit an organisation."""
    org = service.get_organisation(db, actor=actor, organisation_id=organisation_id)
    actor.require_for_org(
        Permission.ORGANISATION_EDIT_ANY, Permission.ORGANISATION_EDIT_OWN, org.id
    )
    values: dict[str, object] = {
        "name": org.name,
        "short_name": org.short_name,
        "kind": org.kind.value,
        "country": org.country,
        "parent_id": str(org.parent_id) if org.parent_id else None,
        "sectors": [s.value for s in org.sectors],
        "website": org.website,
        "constituency": org.constituency,
        "description": org.description,
    }
    return _org_form(request, db, actor, values, org.id)


@router.post("/organisations/{organisation_id}/edit")
def organisation_edit_submit(
    request: Request, db: DB, actor: PageActor, organisation_id: uuid.UUID, form: FormDep
) -> Response:
    """Save the organisation."""
    values = _org_values(form)
    try:
        org = service.update_organisation(
            db, actor=actor, organisation_id=organisation_id, data=build(OrganisationIn, values)
        )
    except ValidationFailed as exc:
        return _org_form(request, db, actor, values, organisation_id, exc)
    except Conflict as exc:
        failed = ValidationFailed.one("name", exc.message)
        return _org_form(request, db, actor, values, organisation_id, failed)
    return redirect(request, f"/organisations/{org.id}", f"{org.name} is saved.")


# Contacts


def _contact_values(form: FormData) -> dict[str, object]:
    messengers = []
    for line in lines(text(form, "messengers")):
        app, sep, handle = line.partition(":")
        messengers.append(
            {"app": app.strip(), "handle": handle.strip()} if sep else {"app": "", "handle": line}
        )
    languages = [code for code in (text(form, "languages") or "").replace(",", " ").split() if code]
    return {
        "name": text(form, "name") or "",
        "role": text(form, "role"),
        "title": text(form, "title"),
        "emails": lines(text(form, "emails")),
        "phones": lines(text(form, "phones")),
        "messengers": messengers,
        "pgp_fingerprint": text(form, "pgp_fingerprint"),
        "languages": languages,
        "timezone": text(form, "timezone") or "UTC",
        "office_days": many(form, "office_days"),
        "office_start": text(form, "office_start"),
        "office_end": text(form, "office_end"),
        "alternate_id": text(form, "alternate_id"),
        "expires_on": text(form, "expires_on"),
        "notes": text(form, "notes"),
    }


def _form_from_contact(data: ContactIn) -> dict[str, object]:
    return {
        "name": data.name,
        "role": data.role.value,
        "title": data.title,
        "emails": [str(e) for e in data.emails],
        "phones": data.phones,
        "messengers": [m.model_dump() for m in data.messengers],
        "pgp_fingerprint": data.pgp_fingerprint,
        "languages": data.languages,
        "timezone": data.timezone,
        "office_days": [d.value for d in data.office_days],
        "office_start": data.office_start.strftime("%H:%M") if data.office_start else None,
        "office_end": data.office_end.strftime("%H:%M") if data.office_end else None,
        "alternate_id": str(data.alternate_id) if data.alternate_id else None,
        "expires_on": data.expires_on.isoformat() if data.expires_on else None,
        "notes": data.notes,
    }


def _contact_form(
    request: Request,
    db: DB,
    actor: Actor,
    org_id: uuid.UUID,
    values: dict[str, object],
    contact_id: uuid.UUID | None,
    exc: ValidationFailed | None = None,
) -> HTMLResponse:
    org = service.get_organisation(db, actor=actor, organisation_id=org_id)
    if exc is not None:
        request.state.rollback = True
    return render(
        request,
        "directory/contact_form.html",
        {
            "org": org,
            "form": values,
            "contact_id": contact_id,
            "alternates": [
                (str(c.id), f"{c.name} ({c.role.label})")
                for c in org.contacts
                if c.id != contact_id
            ],
            "role_choices": [(r.value, r.label) for r in ContactRole],
            "zones": time_zones(),
            "weekdays": [d.value for d in Weekday],
            "errors": field_errors(exc) if exc else {},
            "error_summary": exc.problems if exc else None,
        },
        status_code=422 if exc else 200,
    )


@router.get("/organisations/{organisation_id}/contacts/new")
def contact_new_page(
    request: Request, db: DB, actor: PageActor, organisation_id: uuid.UUID
) -> HTMLResponse:
    """Form for a new point of contact."""
    org = service.get_organisation(db, actor=actor, organisation_id=organisation_id)
    actor.require_for_org(Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, org.id)
    values: dict[str, object] = {
        "office_days": ["mon", "tue", "wed", "thu", "fri"],
        "timezone": "UTC",
    }
    return _contact_form(request, db, actor, org.id, values, None)


@router.post("/organisations/{organisation_id}/contacts/new")
def contact_new_submit(
    request: Request, db: DB, actor: PageActor, organisation_id: uuid.UUID, form: FormDep
) -> Response:
    """Create the point of contact."""
    values = _contact_values(form)
    try:
        contact = service.create_contact(
            db, actor=actor, organisation_id=organisation_id, data=build(ContactIn, values)
        )
    except ValidationFailed as exc:
        return _contact_form(request, db, actor, organisation_id, values, None, exc)
    return redirect(request, f"/contacts/{contact.id}", f"{contact.name} is added.")


@router.get("/contacts/{contact_id}")
def contact_page(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, contact_id: uuid.UUID
) -> HTMLResponse:
    """One point of contact, with every channel and its verification state."""
    contact = service.get_contact(db, actor=actor, contact_id=contact_id)
    out = service.contact_out(contact, settings=settings, now=utcnow())
    return render(
        request,
        "directory/contact.html",
        {
            "contact": contact,
            "c": out,
            "can_edit": actor.can_for_org(
                Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, contact.organisation_id
            ),
        },
    )


@router.get("/contacts/{contact_id}/edit")
def contact_edit_page(
    request: Request, db: DB, actor: PageActor, contact_id: uuid.UUID
) -> HTMLResponse:
    """Form to edit a point of contact."""
    contact = service.get_contact(db, actor=actor, contact_id=contact_id)
    actor.require_for_org(
        Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, contact.organisation_id
    )
    values = _form_from_contact(service.contact_in(contact))
    return _contact_form(request, db, actor, contact.organisation_id, values, contact.id)


@router.post("/contacts/{contact_id}/edit")
def contact_edit_submit(
    request: Request, db: DB, actor: PageActor, contact_id: uuid.UUID, form: FormDep
) -> Response:
    """Save the point of contact."""
    contact = service.get_contact(db, actor=actor, contact_id=contact_id)
    values = _contact_values(form)
    try:
        service.update_contact(
            db, actor=actor, contact_id=contact_id, data=build(ContactIn, values)
        )
    except ValidationFailed as exc:
        return _contact_form(request, db, actor, contact.organisation_id, values, contact_id, exc)
    return redirect(request, f"/contacts/{contact_id}", "The contact is saved.")


@router.post("/contacts/{contact_id}/confirm")
def contact_confirm(request: Request, db: DB, actor: PageActor, contact_id: uuid.UUID) -> Response:
    """Confirm that the contact's details are current."""
    contact = service.confirm_contact(db, actor=actor, contact_id=contact_id)
    return redirect(
        request, f"/contacts/{contact.id}", f"{contact.name} is marked as verified now."
    )


@router.post("/contacts/{contact_id}/delete")
def contact_delete(request: Request, db: DB, actor: PageActor, contact_id: uuid.UUID) -> Response:
    """Remove the point of contact."""
    contact = service.get_contact(db, actor=actor, contact_id=contact_id)
    org_id = contact.organisation_id
    name = contact.name
    service.delete_contact(db, actor=actor, contact_id=contact_id)
    return redirect(request, f"/organisations/{org_id}", f"{name} is removed.")


# Import and export


@router.get("/directory/export")
def export_page(
    db: DB,
    actor: PageActor,
    format: str = "json",
    organisation_id: uuid.UUID | None = None,
) -> Response:
    """Download the directory (or one organisation) as JSON or vCard."""
    if format not in {"json", "vcard"}:
        raise ValidationFailed.one("format", "must be json or vcard")
    if organisation_id is not None:
        service.get_organisation(db, actor=actor, organisation_id=organisation_id)
    name = f"directory-{organisation_id}" if organisation_id else "directory"
    if format == "vcard":
        return Response(
            io.export_vcards(db, actor=actor, organisation_id=organisation_id),
            media_type="text/vcard",
            headers={"Content-Disposition": f'attachment; filename="{name}.vcf"'},
        )
    return JSONResponse(
        io.export_json(db, actor=actor, organisation_id=organisation_id),
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.get("/directory/import")
def import_page(request: Request, actor: PageActor) -> HTMLResponse:
    """Upload a team-directory file (platform admins)."""
    actor.require(Permission.DIRECTORY_IMPORT)
    return render(request, "directory/import.html", {"report": None})


@router.post("/directory/import")
def import_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> HTMLResponse:
    """Import the file: all of it, or nothing, with every problem named."""
    if not actor.can(Permission.DIRECTORY_IMPORT):
        raise Forbidden("importing the directory needs a platform admin")
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed.one("file", "choose a JSON file to upload")
        data = upload.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ValidationFailed.one("file", f"larger than {settings.max_upload_bytes} bytes")
        report = io.import_directory(db, actor=actor, data=data)
    except ValidationFailed as exc:
        request.state.rollback = True
        return render(
            request,
            "directory/import.html",
            {"report": None, "problems": exc.problems, "errors": field_errors(exc)},
            status_code=422,
        )
    return render(request, "directory/import.html", {"report": report})
