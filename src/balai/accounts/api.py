"""REST API: the acting user, users and API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from balai.accounts import service
from balai.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.web.deps import DB, AppSettings

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=UserOut)
def me(actor: ApiActor) -> UserOut:
    """The user the API key acts for."""
    return UserOut.model_validate(actor.user)


@router.get("/users", response_model=PageOut[UserOut])
def list_users(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    organisation_id: uuid.UUID | None = None,
) -> PageOut[UserOut]:
    """Users the caller may manage or see: its organisation's, or all for platform admins."""
    page = service.list_users(
        db, actor=actor, organisation_id=organisation_id, page=paging.page, per_page=paging.per_page
    )
    return page_out(request, page, [UserOut.model_validate(u) for u in page.items])


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(db: DB, settings: AppSettings, actor: ApiActor, data: UserCreate) -> UserOut:
    """Create a user; without a password the user gets an invitation link by e-mail."""
    return UserOut.model_validate(
        service.create_user(db, actor=actor, settings=settings, data=data)
    )


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(db: DB, actor: ApiActor, user_id: uuid.UUID) -> UserOut:
    """One user."""
    return UserOut.model_validate(service.get_user(db, actor=actor, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(db: DB, actor: ApiActor, user_id: uuid.UUID, data: UserUpdate) -> UserOut:
    """Change a user's name, role, time zone or active state."""
    return UserOut.model_validate(service.update_user(db, actor=actor, user_id=user_id, data=data))


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_keys(db: DB, actor: ApiActor) -> list[ApiKeyOut]:
    """The caller's API keys (never their secrets)."""
    return [ApiKeyOut.model_validate(k) for k in service.list_api_keys(db, actor=actor)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(db: DB, actor: ApiActor, data: ApiKeyCreate) -> ApiKeyCreated:
    """Create a key for the caller; the `key` field is shown this once."""
    plain, key = service.create_api_key(db, actor=actor, data=data)
    db.flush()
    return ApiKeyCreated.model_validate(ApiKeyOut.model_validate(key).model_dump() | {"key": plain})


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_key(db: DB, actor: ApiActor, key_id: uuid.UUID) -> ApiKeyOut:
    """Revoke one of the caller's keys at once."""
    return ApiKeyOut.model_validate(service.revoke_api_key(db, actor=actor, key_id=key_id))
