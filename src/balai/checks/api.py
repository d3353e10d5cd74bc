"""REST API: communication checks, their schedules, and acknowledgements."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.checks import schedules, service
from balai.checks.schemas import (
    CheckListItem,
    CheckOut,
    CheckStart,
    ScheduleIn,
    ScheduleOut,
    Selection,
)
from balai.db import utcnow
from balai.directory.schemas import ContactOut
from balai.directory.service import contact_out
from balai.errors import ValidationFailed
from balai.web.deps import DB, AppSettings, client_ip

router = APIRouter(tags=["checks"])


class PreviewOut(BaseModel):
    """The contacts a selection would check, and those it cannot (no e-mail address)."""

    reachable: list[ContactOut]
    unreachable: list[ContactOut]


@router.post("/checks/preview", response_model=PreviewOut)
def preview(db: DB, settings: AppSettings, actor: ApiActor, selection: Selection) -> PreviewOut:
    """Resolve a selection without starting anything (for those who may start checks)."""
    found = service.preview(db, actor=actor, settings=settings, selection=selection)
    now = utcnow()
    return PreviewOut(
        reachable=[contact_out(c, settings=settings, now=now) for c in found.reachable],
        unreachable=[contact_out(c, settings=settings, now=now) for c in found.unreachable],
    )


@router.post("/checks", response_model=CheckOut, status_code=status.HTTP_201_CREATED)
def start(db: DB, settings: AppSettings, actor: ApiActor, data: CheckStart) -> CheckOut:
    """Start a check: every selected contact gets an e-mail with a one-time link and code."""
    check = service.start_check(db, actor=actor, settings=settings, data=data)
    return service.check_out(db, actor=actor, check=check)


@router.get("/checks", response_model=PageOut[CheckListItem])
def list_checks(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    organisation_id: uuid.UUID | None = None,
) -> PageOut[CheckListItem]:
    """Checks the caller started or took part in, newest first."""
    page = service.list_checks(
        db,
        actor=actor,
        organisation_id=organisation_id,
        page=paging.page,
        per_page=paging.per_page,
    )
    return page_out(
        request, page, [service.list_item(db, actor=actor, check=c) for c in page.items]
    )


@router.get("/checks/{check_id}", response_model=CheckOut)
def get_check(db: DB, actor: ApiActor, check_id: uuid.UUID) -> CheckOut:
    """A check with its results: all rows for its initiator, own rows for a checked organisation."""
    check = service.get_check(db, actor=actor, check_id=check_id)
    return service.check_out(db, actor=actor, check=check)


@router.post("/checks/{check_id}/close", response_model=CheckOut)
def close(db: DB, actor: ApiActor, check_id: uuid.UUID) -> CheckOut:
    """Close a running check now; contacts that have not answered count as not reached."""
    check = service.close_now(db, actor=actor, check_id=check_id)
    return service.check_out(db, actor=actor, check=check)


@router.get("/check-schedules", response_model=list[ScheduleOut])
def list_schedules(db: DB, actor: ApiActor) -> list[ScheduleOut]:
    """The caller's organisation's repeating checks."""
    return [ScheduleOut.model_validate(s) for s in schedules.visible_schedules(db, actor=actor)]


@router.post("/check-schedules", response_model=ScheduleOut, status_code=status.HTTP_201_CREATED)
def create_schedule(
    db: DB, settings: AppSettings, actor: ApiActor, data: ScheduleIn
) -> ScheduleOut:
    """Repeat a check every 1, 2, 3, 4, 6 or 12 months."""
    return ScheduleOut.model_validate(
        schedules.create(db, actor=actor, settings=settings, data=data)
    )


class ScheduleState(BaseModel):
    """Pause or resume a schedule."""

    model_config = ConfigDict(extra="forbid")

    active: bool


@router.patch("/check-schedules/{schedule_id}", response_model=ScheduleOut)
def update_schedule(
    db: DB, actor: ApiActor, schedule_id: uuid.UUID, data: ScheduleState
) -> ScheduleOut:
    """Pause or resume a repeating check."""
    return ScheduleOut.model_validate(
        schedules.set_active(db, actor=actor, schedule_id=schedule_id, active=data.active)
    )


class Acknowledgement(BaseModel):
    """The link token or the typed code from a check e-mail."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(None, max_length=200)
    code: str | None = Field(None, max_length=40)


class AckOut(BaseModel):
    """How the acknowledgement went."""

    status: service.AckStatus
    check_title: str | None
    contact_name: str | None


@router.post(
    "/ack",
    response_model=AckOut,
    responses={404: {"description": "No message matches"}, 429: {"description": "Throttled"}},
)
def acknowledge(
    request: Request, db: DB, settings: AppSettings, data: Acknowledgement
) -> AckOut | JSONResponse:
    """Acknowledge a check message (no API key needed: the token or code is the credential).

    `ok` counts the answer; `already` means it was counted before; `late` means the check had
    closed (the contact is still marked verified); `invalid` matches no message.
    """
    if bool(data.token) == bool(data.code):
        raise ValidationFailed.one("body", "send either token or code")
    result = service.acknowledge(
        db, settings=settings, token=data.token, code=data.code, client_ip=client_ip(request)
    )
    if result.status in (service.AckStatus.INVALID, service.AckStatus.THROTTLED):
        # Answered, not raised: the failed attempt must be counted, so the request commits.
        invalid = result.status == service.AckStatus.INVALID
        return JSONResponse(
            {
                "error": {
                    "code": "not_found" if invalid else "too_many_attempts",
                    "message": "no check message matches this token or code"
                    if invalid
                    else "too many wrong codes; wait a few minutes",
                    "details": [],
                }
            },
            status_code=404 if invalid else 429,
        )
    attempt = result.attempt
    return AckOut(
        status=result.status,
        check_title=attempt.target.check.title if attempt else None,
        contact_name=attempt.contact_name if attempt else None,
    )
