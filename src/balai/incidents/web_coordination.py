"""Pages of coordination on an incident: parties, requests for assistance, comments, links
and files. The incident's own pages are in web.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from balai.errors import ValidationFailed
from balai.incidents import coordination, service
from balai.incidents.api import attachment_response
from balai.incidents.schemas import (
    AssistanceAnswer,
    AssistanceIn,
    CommentIn,
    InviteIn,
    LinksIn,
    PartyUpdate,
)
from balai.incidents.web import act, local_time
from balai.web.deps import DB, AppSettings, PageActor
from balai.web.deps import Form as FormDep
from balai.web.forms import build, lines, many, text

router = APIRouter()


@router.post("/incidents/{incident_id}/parties")
def invite_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Invite organisations, or the national CERTs of the affected countries."""

    def run() -> None:
        ids = many(form, "organisation_ids")
        if form.get("national_certs") == "1":
            incident = service.get_incident(db, actor=actor, incident_id=incident_id)
            ids += [
                str(o.id) for o in coordination.national_certs(db, actor=actor, incident=incident)
            ]
        if not ids:
            raise ValidationFailed.one("organisation_ids", "choose the organisations to invite")
        data = build(
            InviteIn, {"organisation_ids": list(dict.fromkeys(ids)), "note": text(form, "note")}
        )
        coordination.invite(db, actor=actor, settings=settings, incident_id=incident_id, data=data)

    return act(request, db, settings, actor, incident_id, run, "Invited.", "#parties")


@router.post("/incidents/{incident_id}/parties/mine")
def party_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """The actor's organisation says where it stands."""
    values = {"status": text(form, "status") or "", "note": text(form, "note")}
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: coordination.answer_as_party(
            db, actor=actor, incident_id=incident_id, data=build(PartyUpdate, values)
        ),
        "Your organisation's status is recorded.",
        "#parties",
    )


@router.post("/incidents/{incident_id}/assistance")
def assistance_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Request assistance from a party, by a deadline."""
    zone = actor.user.timezone if actor.user else "UTC"
    values = {
        "organisation_id": text(form, "organisation_id") or "",
        "text": text(form, "text") or "",
        "respond_by": local_time(text(form, "respond_by"), zone) or "",
    }
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: coordination.request_assistance(
            db, actor=actor, incident_id=incident_id, data=build(AssistanceIn, values)
        ),
        "The request for assistance is sent.",
        "#assistance",
    )


@router.post("/incidents/{incident_id}/assistance/{request_id}")
def assistance_answer_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    request_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Answer a request for assistance."""
    values = {"status": text(form, "status") or "", "answer": text(form, "answer") or ""}
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: coordination.answer_assistance(
            db,
            actor=actor,
            incident_id=incident_id,
            request_id=request_id,
            data=build(AssistanceAnswer, values),
        ),
        "Your answer is recorded.",
        "#assistance",
    )


@router.post("/incidents/{incident_id}/comments")
def comment_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Comment on the timeline."""
    values = {"text": text(form, "text") or ""}
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: coordination.comment(
            db, actor=actor, incident_id=incident_id, data=build(CommentIn, values)
        ),
        "Comment added.",
        "#timeline",
    )


@router.post("/incidents/{incident_id}/links")
def links_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Link reports or indicators by STIX id."""
    values = {"stix_ids": lines(text(form, "stix_ids"))}
    return act(
        request,
        db,
        settings,
        actor,
        incident_id,
        lambda: coordination.link(
            db, actor=actor, incident_id=incident_id, data=build(LinksIn, values)
        ),
        "Linked.",
        "#links",
    )


@router.post("/incidents/{incident_id}/attachments")
def attach_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: PageActor,
    incident_id: uuid.UUID,
    form: FormDep,
) -> Response:
    """Attach a file."""
    upload = form.get("file")

    def run() -> None:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed.one("file", "choose a file to attach")
        data = upload.file.read(settings.incident_attachment_max_bytes + 1)
        coordination.attach(
            db,
            actor=actor,
            settings=settings,
            incident_id=incident_id,
            filename=upload.filename,
            content_type=upload.content_type,
            data=data,
        )

    return act(request, db, settings, actor, incident_id, run, "File attached.", "#files")


@router.get("/incidents/{incident_id}/attachments/{attachment_id}")
def download(
    db: DB, actor: PageActor, incident_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    """Download an attached file."""
    found = coordination.attachment_file(
        db, actor=actor, incident_id=incident_id, attachment_id=attachment_id
    )
    return attachment_response(found.filename, found.data)
