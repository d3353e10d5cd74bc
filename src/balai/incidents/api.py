"""REST API: report incidents, triage, coordinate with parties, close; the dashboard."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.db import utcnow
from balai.errors import ValidationFailed
from balai.incidents import coordination, service, stix, taxonomy, views
from balai.incidents.models import IncidentStatus, Severity
from balai.incidents.schemas import (
    AssistanceAnswer,
    AssistanceIn,
    AssistanceOut,
    AttachmentOut,
    CloseIn,
    CommentIn,
    DashboardOut,
    IncidentIn,
    IncidentOut,
    IncidentSummary,
    IncidentUpdate,
    InviteIn,
    LinksIn,
    MarkingIn,
    PartyUpdate,
    StageIn,
)
from balai.intel import stix_io
from balai.web.deps import DB, AppSettings, Body

router = APIRouter(tags=["incidents"])
Many = Annotated[list[str], Query()]


class RsitTypeOut(BaseModel):
    """One incident type."""

    value: str
    label: str
    description: str


class RsitClassOut(BaseModel):
    """One incident class and its types."""

    value: str
    label: str
    description: str
    types: list[RsitTypeOut]


class TaxonomyOut(BaseModel):
    """The classification incidents use, and the severity scale."""

    namespace: str
    version: int
    classes: list[RsitClassOut]
    severities: list[Severity]


@router.get("/incidents/taxonomy", response_model=TaxonomyOut)
def get_taxonomy(actor: ApiActor) -> TaxonomyOut:
    """The RSIT classes and types (from pytaxonomies) and the severity levels."""
    return TaxonomyOut(
        namespace="rsit",
        version=taxonomy.version(),
        classes=[
            RsitClassOut(
                value=c.value,
                label=c.label,
                description=c.description,
                types=[
                    RsitTypeOut(value=t.value, label=t.label, description=t.description)
                    for t in c.types
                ],
            )
            for c in taxonomy.classes()
        ],
        severities=list(Severity),
    )


@router.get("/incidents", response_model=PageOut[IncidentSummary])
def list_incidents(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    status: Annotated[list[IncidentStatus], Query()] = [],  # noqa: B006  # FastAPI copies query defaults
    severity_at_least: Severity | None = None,
    rsit_class: Many = [],  # noqa: B006  # same
    country: Many = [],  # noqa: B006  # same
    cross_border: bool | None = None,
    overdue: bool | None = None,
    organisation_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> PageOut[IncidentSummary]:
    """Incidents the caller may see, newest first, with their overdue stages."""
    filters = service.IncidentFilters(
        status=status,
        severity_at_least=severity_at_least,
        rsit_class=rsit_class,
        country=[c.upper() for c in country],
        cross_border=cross_border,
        overdue=overdue,
        organisation_id=organisation_id,
        q=q,
    )
    now = utcnow()
    page = service.list_incidents(
        db, actor=actor, filters=filters, page=paging.page, per_page=paging.per_page, now=now
    )
    return page_out(request, page, [views.summary(i, now) for i in page.items])


@router.post("/incidents", response_model=IncidentOut, status_code=status.HTTP_201_CREATED)
def report(db: DB, settings: AppSettings, actor: ApiActor, data: IncidentIn) -> IncidentOut:
    """Report an incident; the report is filed as its early warning."""
    incident = service.report(db, actor=actor, settings=settings, data=data)
    return views.incident_out(db, actor=actor, incident=incident)


@router.get("/incidents/dashboard", response_model=DashboardOut)
def dashboard(db: DB, actor: ApiActor) -> DashboardOut:
    """Open incidents, overdue stages, acknowledgement times, incidents per class and month."""
    return views.dashboard(db, actor=actor)


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
def get_incident(db: DB, actor: ApiActor, incident_id: uuid.UUID) -> IncidentOut:
    """An incident with its stages, parties, requests for assistance, links and timeline."""
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    service.note_read(db, actor=actor, incident=incident, how="api")
    return views.incident_out(db, actor=actor, incident=incident)


@router.get(
    "/incidents/{incident_id}/stix",
    responses={200: {"content": {stix_io.STIX_MEDIA: {}}}},
)
def get_stix(db: DB, settings: AppSettings, actor: ApiActor, incident_id: uuid.UUID) -> Response:
    """The incident as a STIX 2.1 bundle: an `incident` object (RSIT machine tag, severity,
    countries and sectors as labels), its reporter, its TLP 2.0 marking, and the linked
    objects you may see with `related-to` relationships."""
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    service.note_read(db, actor=actor, incident=incident, how="api stix")
    return JSONResponse(
        stix.incident_bundle(db, actor=actor, settings=settings, incident=incident),
        media_type=stix_io.STIX_MEDIA,
    )


@router.put("/incidents/{incident_id}", response_model=IncidentOut)
def update(db: DB, actor: ApiActor, incident_id: uuid.UUID, data: IncidentUpdate) -> IncidentOut:
    """Triage: confirm or correct classification, severity and scope (the reporter)."""
    incident = service.update(db, actor=actor, incident_id=incident_id, data=data)
    return views.incident_out(db, actor=actor, incident=incident)


@router.put("/incidents/{incident_id}/marking", response_model=IncidentOut)
def change_marking(db: DB, actor: ApiActor, incident_id: uuid.UUID, data: MarkingIn) -> IncidentOut:
    """Change the incident's TLP and distribution (the reporter)."""
    incident = service.change_marking(db, actor=actor, incident_id=incident_id, data=data)
    return views.incident_out(db, actor=actor, incident=incident)


@router.post("/incidents/{incident_id}/stages", response_model=IncidentOut)
def file_stage(db: DB, actor: ApiActor, incident_id: uuid.UUID, data: StageIn) -> IncidentOut:
    """File the notification or the final report (the reporter)."""
    service.file_stage(db, actor=actor, incident_id=incident_id, data=data)
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    return views.incident_out(db, actor=actor, incident=incident)


@router.post("/incidents/{incident_id}/parties", response_model=IncidentOut)
def invite(
    db: DB, settings: AppSettings, actor: ApiActor, incident_id: uuid.UUID, data: InviteIn
) -> IncidentOut:
    """Invite organisations as parties (the reporter); they become named recipients."""
    coordination.invite(db, actor=actor, settings=settings, incident_id=incident_id, data=data)
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    return views.incident_out(db, actor=actor, incident=incident)


@router.put("/incidents/{incident_id}/parties/mine", response_model=IncidentOut)
def answer_as_party(
    db: DB, actor: ApiActor, incident_id: uuid.UUID, data: PartyUpdate
) -> IncidentOut:
    """The caller's organisation, a party, says where it stands."""
    coordination.answer_as_party(db, actor=actor, incident_id=incident_id, data=data)
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    return views.incident_out(db, actor=actor, incident=incident)


@router.post(
    "/incidents/{incident_id}/assistance",
    response_model=AssistanceOut,
    status_code=status.HTTP_201_CREATED,
)
def request_assistance(
    db: DB, actor: ApiActor, incident_id: uuid.UUID, data: AssistanceIn
) -> AssistanceOut:
    """Ask a party for assistance by a deadline (the reporter; UN GGE norm 13(h))."""
    request = coordination.request_assistance(db, actor=actor, incident_id=incident_id, data=data)
    return views.assistance_out(request, utcnow())


@router.put("/incidents/{incident_id}/assistance/{request_id}", response_model=AssistanceOut)
def answer_assistance(
    db: DB, actor: ApiActor, incident_id: uuid.UUID, request_id: uuid.UUID, data: AssistanceAnswer
) -> AssistanceOut:
    """The requested organisation accepts, declines or completes the request."""
    request = coordination.answer_assistance(
        db, actor=actor, incident_id=incident_id, request_id=request_id, data=data
    )
    return views.assistance_out(request, utcnow())


@router.post("/incidents/{incident_id}/comments", status_code=status.HTTP_204_NO_CONTENT)
def comment(db: DB, actor: ApiActor, incident_id: uuid.UUID, data: CommentIn) -> Response:
    """Comment on the timeline (the reporter and the parties)."""
    coordination.comment(db, actor=actor, incident_id=incident_id, data=data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/incidents/{incident_id}/links", response_model=IncidentOut)
def link(db: DB, actor: ApiActor, incident_id: uuid.UUID, data: LinksIn) -> IncidentOut:
    """Link reports or indicators the caller may see, by STIX id."""
    coordination.link(db, actor=actor, incident_id=incident_id, data=data)
    incident = service.get_incident(db, actor=actor, incident_id=incident_id)
    return views.incident_out(db, actor=actor, incident=incident)


@router.post(
    "/incidents/{incident_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
)
def attach(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: ApiActor,
    incident_id: uuid.UUID,
    body: Body,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
) -> AttachmentOut:
    """Attach the request body as a file named `filename`."""
    if len(body) > settings.incident_attachment_max_bytes:
        raise ValidationFailed.one(
            "body", f"larger than {settings.incident_attachment_max_bytes:,} bytes"
        )
    found = coordination.attach(
        db,
        actor=actor,
        settings=settings,
        incident_id=incident_id,
        filename=filename,
        content_type=request.headers.get("content-type"),
        data=body,
    )
    return AttachmentOut.model_validate(found, from_attributes=True)


@router.get("/incidents/{incident_id}/attachments/{attachment_id}")
def download(db: DB, actor: ApiActor, incident_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    """An attached file, as a download."""
    found = coordination.attachment_file(
        db, actor=actor, incident_id=incident_id, attachment_id=attachment_id
    )
    return attachment_response(found.filename, found.data)


def attachment_response(filename: str, data: bytes) -> Response:
    """A file download that no browser renders in the platform's origin."""
    ascii_name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in filename
    )
    disposition = f'attachment; filename="{ascii_name or "attachment"}"'
    if ascii_name != filename:  # RFC 6266: the real name, UTF-8, for browsers that read it
        disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


@router.post("/incidents/{incident_id}/close", response_model=IncidentOut)
def close(db: DB, actor: ApiActor, incident_id: uuid.UUID, data: CloseIn) -> IncidentOut:
    """Close the incident with its resolution (the reporter)."""
    incident = service.close(db, actor=actor, incident_id=incident_id, data=data)
    return views.incident_out(db, actor=actor, incident=incident)


@router.post("/incidents/{incident_id}/reopen", response_model=IncidentOut)
def reopen(db: DB, actor: ApiActor, incident_id: uuid.UUID) -> IncidentOut:
    """Reopen a closed incident (the reporter)."""
    incident = service.reopen(db, actor=actor, incident_id=incident_id)
    return views.incident_out(db, actor=actor, incident=incident)
