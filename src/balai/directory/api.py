"""REST API: organisations, points of contact, import and export."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.db import utcnow
from balai.directory import io, service
from balai.directory.models import ContactRole, OrgKind, Sector
from balai.directory.schemas import (
    ContactFilters,
    ContactIn,
    ContactOut,
    ImportReport,
    OrganisationFilters,
    OrganisationIn,
    OrganisationOut,
)
from balai.errors import ValidationFailed
from balai.web.deps import DB, AppSettings, Body
from balai.web.forms import build

router = APIRouter(tags=["directory"])


@router.get("/organisations", response_model=PageOut[OrganisationOut])
def list_organisations(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    q: Annotated[str | None, Query(max_length=200)] = None,
    country: Annotated[list[str], Query()] = [],  # noqa: B006  # FastAPI copies query defaults
    kind: Annotated[list[OrgKind], Query()] = [],  # noqa: B006  # same
    sector: Annotated[list[Sector], Query()] = [],  # noqa: B006  # same
) -> PageOut[OrganisationOut]:
    """Organisations, filtered by name, country, kind and sector."""
    filters = build(
        OrganisationFilters, {"q": q, "country": country, "kind": kind, "sector": sector}
    )
    page = service.list_organisations(
        db, actor=actor, filters=filters, page=paging.page, per_page=paging.per_page
    )
    return page_out(request, page, [OrganisationOut.model_validate(o) for o in page.items])


@router.post("/organisations", response_model=OrganisationOut, status_code=status.HTTP_201_CREATED)
def create_organisation(db: DB, actor: ApiActor, data: OrganisationIn) -> OrganisationOut:
    """Create an organisation (platform admins)."""
    return OrganisationOut.model_validate(service.create_organisation(db, actor=actor, data=data))


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut)
def get_organisation(db: DB, actor: ApiActor, organisation_id: uuid.UUID) -> OrganisationOut:
    """One organisation."""
    return OrganisationOut.model_validate(
        service.get_organisation(db, actor=actor, organisation_id=organisation_id)
    )


@router.put("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    db: DB, actor: ApiActor, organisation_id: uuid.UUID, data: OrganisationIn
) -> OrganisationOut:
    """Replace an organisation's details (platform admins, or its own organisation admins)."""
    return OrganisationOut.model_validate(
        service.update_organisation(db, actor=actor, organisation_id=organisation_id, data=data)
    )


@router.get("/contacts", response_model=PageOut[ContactOut])
def search_contacts(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: ApiActor,
    paging: PagingQuery,
    q: Annotated[str | None, Query(max_length=200)] = None,
    country: Annotated[list[str], Query()] = [],  # noqa: B006  # FastAPI copies query defaults
    role: Annotated[list[ContactRole], Query()] = [],  # noqa: B006  # same
    kind: Annotated[list[OrgKind], Query()] = [],  # noqa: B006  # same
    sector: Annotated[list[Sector], Query()] = [],  # noqa: B006  # same
    language: Annotated[list[str], Query()] = [],  # noqa: B006  # same
    organisation_id: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006  # same
    stale: bool | None = None,
) -> PageOut[ContactOut]:
    """Points of contact, searched by text and filtered; each says whether it is stale."""
    filters = build(
        ContactFilters,
        {
            "q": q,
            "country": country,
            "role": role,
            "kind": kind,
            "sector": sector,
            "language": language,
            "organisation_id": organisation_id,
            "stale": stale,
        },
    )
    page = service.search_contacts(
        db,
        actor=actor,
        settings=settings,
        filters=filters,
        page=paging.page,
        per_page=paging.per_page,
    )
    now = utcnow()
    return page_out(
        request, page, [service.contact_out(c, settings=settings, now=now) for c in page.items]
    )


@router.post(
    "/organisations/{organisation_id}/contacts",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
)
def create_contact(
    db: DB, settings: AppSettings, actor: ApiActor, organisation_id: uuid.UUID, data: ContactIn
) -> ContactOut:
    """Add a point of contact to an organisation."""
    contact = service.create_contact(db, actor=actor, organisation_id=organisation_id, data=data)
    return service.contact_out(contact, settings=settings, now=utcnow())


@router.get("/contacts/{contact_id}", response_model=ContactOut)
def get_contact(
    db: DB, settings: AppSettings, actor: ApiActor, contact_id: uuid.UUID
) -> ContactOut:
    """One point of contact."""
    contact = service.get_contact(db, actor=actor, contact_id=contact_id)
    return service.contact_out(contact, settings=settings, now=utcnow())


@router.put("/contacts/{contact_id}", response_model=ContactOut)
def update_contact(
    db: DB, settings: AppSettings, actor: ApiActor, contact_id: uuid.UUID, data: ContactIn
) -> ContactOut:
    """Replace a point of contact's details."""
    contact = service.update_contact(db, actor=actor, contact_id=contact_id, data=data)
    return service.contact_out(contact, settings=settings, now=utcnow())


@router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_contact(db: DB, actor: ApiActor, contact_id: uuid.UUID) -> Response:
    """Remove a point of contact."""
    service.delete_contact(db, actor=actor, contact_id=contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/contacts/{contact_id}/confirm", response_model=ContactOut)
def confirm_contact(
    db: DB, settings: AppSettings, actor: ApiActor, contact_id: uuid.UUID
) -> ContactOut:
    """Confirm that a contact's details are current (marks it verified now)."""
    contact = service.confirm_contact(db, actor=actor, contact_id=contact_id)
    return service.contact_out(contact, settings=settings, now=utcnow())


@router.get(
    "/directory/export",
    responses={200: {"content": {"application/json": {}, "text/vcard": {}}}},
)
def export_directory(
    db: DB,
    actor: ApiActor,
    format: Literal["json", "vcard"] = "json",
    organisation_id: uuid.UUID | None = None,
) -> Response:
    """The directory (or one organisation) as team-directory JSON or vCard 3.0."""
    if organisation_id is not None:
        service.get_organisation(db, actor=actor, organisation_id=organisation_id)
    if format == "vcard":
        body = io.export_vcards(db, actor=actor, organisation_id=organisation_id)
        return PlainTextResponse(
            body,
            media_type="text/vcard",
            headers={"Content-Disposition": 'attachment; filename="directory.vcf"'},
        )
    return JSONResponse(io.export_json(db, actor=actor, organisation_id=organisation_id))


@router.post("/directory/import", response_model=ImportReport)
def import_directory(db: DB, settings: AppSettings, actor: ApiActor, body: Body) -> ImportReport:
    """Import a team-directory JSON document (the request body): all of it, or nothing."""
    if len(body) > settings.max_upload_bytes:
        raise ValidationFailed.one("body", f"larger than {settings.max_upload_bytes} bytes")
    return io.import_directory(db, actor=actor, data=body)
