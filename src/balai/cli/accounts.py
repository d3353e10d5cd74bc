"""`balai user` and `balai apikey`: manage accounts from the command line."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy import select

from balai.access.actor import CLI, Actor, Via
from balai.accounts import service
from balai.accounts.models import Role, User
from balai.accounts.schemas import ApiKeyCreate, UserCreate, UserUpdate
from balai.cli.common import console, err, settings, unit_of_work
from balai.directory.models import Organisation
from balai.errors import NotFound
from balai.web.forms import problems_of

users = typer.Typer(help="Users.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)


def _valid(model: type, **values: object) -> object:
    try:
        return model.model_validate(values)  # type: ignore[attr-defined]  # a pydantic model
    except ValidationError as exc:
        for problem in problems_of(exc):
            err.print(f"[red]error:[/red] --{problem.loc.replace('_', '-')}: {problem.msg}")
        raise typer.Exit(2) from None


def _user_by_email(session: object, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))  # type: ignore[attr-defined]  # a Session
    if user is None:
        raise NotFound(f"no user with the e-mail address {email}")
    return user  # type: ignore[no-any-return]  # scalar() of a User query


@users.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="E-mail address (the log-in name).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    organisation: Annotated[str, typer.Option(help="Organisation id or exact name.")],
    role: Annotated[Role, typer.Option(help="Role.")] = Role.READER,
    password: Annotated[
        str | None,
        typer.Option(help="Password; omit to e-mail an invitation link instead.", prompt=False),
    ] = None,
) -> None:
    """Create a user in an organisation."""
    config = settings()
    with unit_of_work(config) as session:
        org = _find_org(session, organisation)
        data = _valid(
            UserCreate, email=email, name=name, organisation_id=org.id, role=role, password=password
        )
        user = service.create_user(session, actor=CLI, settings=config, data=data)  # type: ignore[arg-type]  # _valid returns the model
        console.print(f"created user {user.email} ({user.role.value}) in {org.name}: {user.id}")


def _find_org(session: object, ref: str) -> Organisation:
    query = select(Organisation)
    try:
        query = query.where(Organisation.id == uuid.UUID(ref))
    except ValueError:
        query = query.where(Organisation.name == ref)
    orgs = session.scalars(query).all()  # type: ignore[attr-defined]  # a Session
    if len(orgs) != 1:
        raise NotFound(f"no single organisation matches {ref!r} ({len(orgs)} do)")
    return orgs[0]  # type: ignore[no-any-return]  # scalars() of an Organisation query


@users.command("list")
def user_list() -> None:
    """List every user."""
    with unit_of_work(settings()) as session:
        page = service.list_users(session, actor=CLI, per_page=500)
        table = Table("E-mail", "Name", "Organisation", "Role", "Active", "2FA")
        for user in page.items:
            table.add_row(
                user.email,
                user.name,
                user.organisation.name,
                user.role.value,
                "yes" if user.active else "no",
                "yes" if user.has_totp else "no",
            )
        console.print(table)


@users.command("set-role")
def user_set_role(email: str, role: Role) -> None:
    """Change a user's role."""
    with unit_of_work(settings()) as session:
        user = _user_by_email(session, email)
        service.update_user(session, actor=CLI, user_id=user.id, data=UserUpdate(role=role))
        console.print(f"{user.email} is now {role.value}")


@users.command("deactivate")
def user_deactivate(email: str) -> None:
    """Deactivate a user: they can no longer log in, and their sessions end."""
    with unit_of_work(settings()) as session:
        user = _user_by_email(session, email)
        service.update_user(session, actor=CLI, user_id=user.id, data=UserUpdate(active=False))
        console.print(f"{user.email} is deactivated")


@users.command("reset-password")
def user_reset_password(email: str) -> None:
    """E-mail the user a link to choose a new password."""
    from balai.accounts.auth import issue_password_link

    config = settings()
    with unit_of_work(config) as session:
        user = _user_by_email(session, email)
        issue_password_link(session, settings=config, user=user)
        console.print(f"a reset link for {user.email} is in the outbox")


@keys.command("create")
def key_create(
    user: Annotated[str, typer.Option(help="E-mail address of the key's user.")],
    name: Annotated[str, typer.Option(help="What the key is for.")],
    expires_in_days: Annotated[
        int | None, typer.Option(help="Expire after this many days.")
    ] = None,
) -> None:
    """Create an API key for a user and print it once."""
    with unit_of_work(settings()) as session:
        owner = _user_by_email(session, user)
        data = _valid(ApiKeyCreate, name=name, expires_in_days=expires_in_days)
        actor = Actor(via=Via.CLI, user=owner)
        plain, key = service.create_api_key(session, actor=actor, data=data)  # type: ignore[arg-type]  # _valid returns the model
        console.print(f"API key {key.prefix} for {owner.email} (shown once, store it now):")
        console.print(plain, soft_wrap=True, highlight=False)


@keys.command("list")
def key_list(user: Annotated[str, typer.Option(help="E-mail address of the keys' user.")]) -> None:
    """List a user's API keys (never their secrets)."""
    with unit_of_work(settings()) as session:
        owner = _user_by_email(session, user)
        table = Table("Id", "Name", "Prefix", "Created", "Last used", "Revoked")
        for key in service.list_api_keys(session, actor=Actor(via=Via.CLI, user=owner)):
            if key.user_id != owner.id:
                continue
            table.add_row(
                str(key.id),
                key.name,
                key.prefix,
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
            )
        console.print(table)


@keys.command("revoke")
def key_revoke(key_id: uuid.UUID) -> None:
    """Revoke an API key by its id."""
    with unit_of_work(settings()) as session:
        key = service.revoke_api_key(session, actor=CLI, key_id=key_id)
        console.print(f"revoked {key.prefix} ({key.name})")
