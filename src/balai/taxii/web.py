"""The TAXII page: where members' tools connect, and which collections they will find."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from balai.taxii.api import PREFIX, ROOT
from balai.taxii.collections import collections_for
from balai.web.deps import DB, AppSettings, PageActor
from balai.web.render import render

router = APIRouter()


@router.get("/intel/taxii")
def taxii_page(request: Request, db: DB, actor: PageActor, settings: AppSettings) -> HTMLResponse:
    """The discovery URL, the API root and the caller's collections with their URLs."""
    base = settings.base_url.rstrip("/")
    api_root = f"{base}{PREFIX}/{ROOT}/"
    return render(
        request,
        "taxii/taxii.html",
        {
            "discovery": f"{base}{PREFIX}/",
            "api_root": api_root,
            "collections": [
                {
                    "id": c.id,
                    "title": c.title,
                    "description": c.description,
                    "url": f"{api_root}collections/{c.id}/",
                    "can_write": c.can_write,
                }
                for c in collections_for(db, actor)
            ],
            "page_max": settings.taxii_page_max,
            "max_content_length": settings.taxii_max_content_length,
        },
    )
