"""REST API: delivery state of the outbox (platform admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.outbox.models import DeliveryStatus
from balai.outbox.schemas import OutboxMessageOut
from balai.outbox.service import list_messages
from balai.web.deps import DB

router = APIRouter(tags=["outbox"])


@router.get("/outbox", response_model=PageOut[OutboxMessageOut])
def outbox(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    status: DeliveryStatus | None = None,
) -> PageOut[OutboxMessageOut]:
    """Messages waiting, sent or given up on, newest first."""
    page = list_messages(db, actor=actor, status=status, page=paging.page, per_page=paging.per_page)
    return page_out(request, page, [OutboxMessageOut.model_validate(m) for m in page.items])
