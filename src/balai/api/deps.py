"""API authentication (API keys) and paging."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from balai.access.actor import Actor, Via
from balai.accounts.service import authenticate_api_key
from balai.errors import Unauthenticated
from balai.pagination import MAX_PER_PAGE, Page
from balai.web.deps import DB, client_ip

T = TypeVar("T")


def presented_key(request: Request) -> str | None:
    """The API key from `Authorization: Bearer ...` or `X-API-Key`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def api_actor(request: Request, db: DB) -> Actor:
    """The user an API key acts for; 401 without a valid key."""
    key = presented_key(request)
    if key is None:
        raise Unauthenticated("send an API key: Authorization: Bearer balai_...")
    ip = client_ip(request)
    user = authenticate_api_key(db, presented=key, client_ip=ip)
    return Actor(via=Via.API_KEY, user=user, client_ip=ip)


ApiActor = Annotated[Actor, Depends(api_actor)]


class Paging(BaseModel):
    """Page number and size from the query string."""

    page: int
    per_page: int


def paging(
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page.")] = 50,
) -> Paging:
    """Paging parameters shared by every list."""
    return Paging(page=page, per_page=per_page)


PagingQuery = Annotated[Paging, Depends(paging)]


class PageOut(BaseModel, Generic[T]):
    """A page of results: items, the total, and the link to the next page."""

    items: list[T]
    total: int
    page: int
    per_page: int
    pages: int
    next: str | None


def page_out(request: Request, page: Page[Any], items: list[T]) -> PageOut[T]:
    """Wrap a page for the API, with a link to the next page when there is one."""
    next_url = str(request.url.include_query_params(page=page.page + 1)) if page.has_next else None
    return PageOut[T](
        items=items,
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
        next=next_url,
    )
