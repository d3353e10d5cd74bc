"""Page: delivery state of the outbox (platform admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from balai.outbox.models import DeliveryStatus
from balai.outbox.service import list_messages
from balai.web.deps import DB, PageActor
from balai.web.render import render

router = APIRouter()


@router.get("/outbox")
def outbox_page(
    request: Request,
    db: DB,
    actor: PageActor,
    status: DeliveryStatus | None = None,
    page: int = 1,
) -> HTMLResponse:
    """Messages waiting, sent or given up on."""
    result = list_messages(db, actor=actor, status=status, page=page)
    base = f"/outbox?status={status.value}" if status else "/outbox"
    return render(
        request,
        "outbox/list.html",
        {
            "page": result,
            "status": status.value if status else "",
            "statuses": list(DeliveryStatus),
            "base": base,
        },
    )
