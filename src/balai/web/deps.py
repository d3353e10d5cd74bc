"""Dependencies every entry point shares: settings, the request's transaction, the actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from balai.access.actor import Actor, Via
from balai.accounts.auth import resolve_session
from balai.accounts.models import WebSession
from balai.config import Settings
from balai.errors import BalaiError
from balai.web.middleware import SESSION_COOKIE


def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the handler succeeds, else rolled back.

    A handler that turns a domain error into a page (a form shown again with its errors)
    has not succeeded, so it sets request.state.rollback to undo any partial change.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        if getattr(request.state, "rollback", False):
            session.rollback()
        else:
            session.commit()
    except BaseException:
        # Detach first: a rollback would expire every loaded object, and the error page
        # rendered after this still shows the signed-in user from them.
        session.expunge_all()
        session.rollback()
        raise
    finally:
        session.close()


DB = Annotated[Session, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def client_ip(request: Request) -> str | None:
    """The client's address as the ASGI server saw it (set proxy headers there)."""
    return request.client.host if request.client else None


class LoginRequired(BalaiError):
    """A page needs a signed-in user; the handler redirects to the log-in page."""

    status_code = 401
    code = "login_required"


def current_web_session(request: Request, db: DB, settings: AppSettings) -> WebSession | None:
    """The session the cookie names, fully logged in or MFA-pending."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return resolve_session(db, settings=settings, token=token)


def optional_actor(
    request: Request,
    web_session: Annotated[WebSession | None, Depends(current_web_session)],
) -> Actor | None:
    """The signed-in user as an actor, or None for visitors."""
    if web_session is None or web_session.mfa_pending:
        return None
    actor = Actor(via=Via.SESSION, user=web_session.user, client_ip=client_ip(request))
    request.state.actor = actor
    return actor


def page_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    """The signed-in user; visitors are sent to the log-in page."""
    if actor is None:
        raise LoginRequired("please log in")
    return actor


PageActor = Annotated[Actor, Depends(page_actor)]
MaybeActor = Annotated[Actor | None, Depends(optional_actor)]


async def form_data(request: Request) -> FormData:
    """The submitted form, parsed once (so that handlers can stay synchronous)."""
    return await request.form()


async def raw_body(request: Request) -> bytes:
    """The raw request body (so that handlers can stay synchronous)."""
    return await request.body()


Form = Annotated[FormData, Depends(form_data)]
Body = Annotated[bytes, Depends(raw_body)]
