"""Offset paging shared by pages and the API."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from balai.errors import ValidationFailed

T = TypeVar("T")

MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000  # far past any real list; keeps OFFSET within a 64-bit integer


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and how many there are in all."""

    items: Sequence[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages, at least one."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        """Whether a later page exists."""
        return self.page < self.pages


def check_paging(page: int, per_page: int) -> None:
    """Refuse out-of-range paging parameters with a located error."""
    if not 1 <= page <= MAX_PAGE:
        raise ValidationFailed.one("query.page", f"must be between 1 and {MAX_PAGE:,}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed.one("query.per_page", f"must be between 1 and {MAX_PER_PAGE}")


def paginate(session: Session, query: Select[Any], *, page: int, per_page: int) -> Page[Any]:
    """Run a query for one page and count all its rows."""
    check_paging(page, per_page)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return Page(items=rows, total=total or 0, page=page, per_page=per_page)
