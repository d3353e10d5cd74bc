"""Demo only: a page showing the mail the built-in mail catcher received."""

from __future__ import annotations

import mailbox
from email.header import decode_header, make_header
from email.message import Message
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from balai.errors import NotFound
from balai.web.deps import AppSettings, PageActor
from balai.web.render import render

router = APIRouter()


def _header(message: Message, name: str) -> str:
    return str(make_header(decode_header(message.get(name, ""))))


def _body(message: Message) -> str:
    part = message
    if message.is_multipart():
        part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), message)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


@router.get("/demo/mailbox")
def mailbox_page(request: Request, settings: AppSettings, actor: PageActor) -> HTMLResponse:
    """Every message the demo's mail catcher received, newest first."""
    if settings.demo_mailbox is None:
        raise NotFound("the demo mailbox exists only in the demo")
    box = mailbox.Maildir(settings.demo_mailbox, create=True)
    messages: list[dict[str, Any]] = []
    for key in box.iterkeys():
        message = box.get_message(key)
        messages.append(
            {
                "key": key,
                "date": message.get_date(),
                "to": _header(message, "To"),
                "subject": _header(message, "Subject"),
                "body": _body(message),
            }
        )
    messages.sort(key=lambda m: m["date"], reverse=True)
    return render(request, "demo/mailbox.html", {"messages": messages[:200]})
