"""REST API: early-warning subscriptions, the alerts an organisation received, and
acknowledging an alert."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from balai.alerts import ack, service
from balai.alerts.schemas import (
    AckIn,
    AlertOut,
    SubscriptionIn,
    SubscriptionOut,
)
from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.web.deps import DB, AppSettings, client_ip

router = APIRouter(tags=["alerts"])


def _created(sub_out: SubscriptionOut, secret: str | None) -> SubscriptionOut:
    return sub_out.model_copy(update={"webhook_secret": secret})


@router.get("/alert-subscriptions", response_model=PageOut[SubscriptionOut])
def list_subscriptions(
    request: Request, db: DB, actor: ApiActor, paging: PagingQuery
) -> PageOut[SubscriptionOut]:
    """Your own subscriptions and your organisation's."""
    page = service.list_subscriptions(db, actor=actor, page=paging.page, per_page=paging.per_page)
    return page_out(request, page, [service.subscription_out(s) for s in page.items])


@router.post(
    "/alert-subscriptions", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED
)
def create_subscription(
    db: DB, settings: AppSettings, actor: ApiActor, data: SubscriptionIn
) -> SubscriptionOut:
    """Subscribe; with a webhook, the answer carries its signing secret this once."""
    sub, secret = service.create(db, actor=actor, settings=settings, data=data)
    return _created(service.subscription_out(sub), secret)


@router.get("/alert-subscriptions/{subscription_id}", response_model=SubscriptionOut)
def get_subscription(db: DB, actor: ApiActor, subscription_id: uuid.UUID) -> SubscriptionOut:
    """One subscription."""
    return service.subscription_out(service.get(db, actor=actor, subscription_id=subscription_id))


@router.put("/alert-subscriptions/{subscription_id}", response_model=SubscriptionOut)
def update_subscription(
    db: DB, settings: AppSettings, actor: ApiActor, subscription_id: uuid.UUID, data: SubscriptionIn
) -> SubscriptionOut:
    """Change a subscription; a new webhook URL gets a new secret, returned this once."""
    sub, secret = service.update(
        db, actor=actor, settings=settings, subscription_id=subscription_id, data=data
    )
    return _created(service.subscription_out(sub), secret)


class SecretOut(BaseModel):
    """A new webhook signing secret."""

    webhook_secret: str


@router.post("/alert-subscriptions/{subscription_id}/rotate-secret", response_model=SecretOut)
def rotate_secret(
    db: DB, settings: AppSettings, actor: ApiActor, subscription_id: uuid.UUID
) -> SecretOut:
    """A new signing secret for the webhook; the old one stops at once."""
    secret = service.rotate_secret(
        db, actor=actor, settings=settings, subscription_id=subscription_id
    )
    return SecretOut(webhook_secret=secret)


@router.delete("/alert-subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(db: DB, actor: ApiActor, subscription_id: uuid.UUID) -> Response:
    """Remove a subscription."""
    service.delete(db, actor=actor, subscription_id=subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/alerts", response_model=PageOut[AlertOut])
def list_alerts(
    request: Request, db: DB, actor: ApiActor, paging: PagingQuery
) -> PageOut[AlertOut]:
    """Alerts your organisation received, newest first, with acknowledgement and escalation."""
    page = service.list_alerts(db, actor=actor, page=paging.page, per_page=paging.per_page)
    return page_out(request, page, [service.alert_out(a) for a in page.items])


class AckOut(BaseModel):
    """The outcome of an acknowledgement."""

    status: ack.AckStatus
    alert_id: uuid.UUID | None


@router.post("/alerts/ack", response_model=AckOut)
def acknowledge(
    request: Request, db: DB, settings: AppSettings, data: AckIn
) -> AckOut | JSONResponse:
    """Acknowledge an alert with the token of its link or webhook (no key needed).

    `ok` records it; `already` means it was acknowledged before; a token that matches no
    alert answers 404, and too many of those from one address 429.
    """
    result = ack.acknowledge(db, settings=settings, token=data.token, client_ip=client_ip(request))
    if result.status in (ack.AckStatus.INVALID, ack.AckStatus.THROTTLED):
        # Answered, not raised: the failed attempt must be counted, so the request commits.
        invalid = result.status == ack.AckStatus.INVALID
        return JSONResponse(
            {
                "error": {
                    "code": "not_found" if invalid else "too_many_attempts",
                    "message": "no alert matches this token"
                    if invalid
                    else "too many wrong tokens; wait a few minutes",
                    "details": [],
                }
            },
            status_code=404 if invalid else 429,
        )
    return AckOut(status=result.status, alert_id=result.alert.id if result.alert else None)
