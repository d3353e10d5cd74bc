"""Import and export of the directory: team-directory JSON in, JSON and vCard out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import vobject
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.db import utcnow
from balai.directory.models import ChannelKind, Contact, ContactRole, Organisation
from balai.directory.schemas import (
    ContactIn,
    ImportReport,
    OrganisationIn,
    TeamContact,
    TeamDirectory,
    TeamRecord,
)
from balai.directory.service import _apply_contact, _apply_organisation, contact_in
from balai.errors import Problem, ValidationFailed

Progress = Callable[[int, int], None]


def _loc(parts: Sequence[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _team_label(raw: Any, loc: Sequence[int | str]) -> str:
    """'teams[3] (ThaiCERT)' for a problem inside a team, so that a person finds it."""
    if len(loc) >= 2 and loc[0] == "teams" and isinstance(loc[1], int):
        try:
            name = raw["teams"][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = None
        if isinstance(name, str) and name:
            return f" (team {name!r})"
    return ""


@dataclass(frozen=True)
class ParsedFile:
    """A team-directory file as read: its valid teams by position, and every problem in it."""

    teams: dict[int, TeamRecord]
    names: frozenset[tuple[str, str]]
    """(country, lower-case name) of every team in the file, valid or not."""
    problems: list[Problem]


def _load(data: bytes) -> Any:
    try:
        raw = json.loads(data)
    except UnicodeDecodeError:
        raise ValidationFailed.one("file", "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed.one(
            f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
    return {"teams": raw} if isinstance(raw, list) else raw


def _schema_problems(exc: ValidationError, raw: Any) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = _loc(loc) or "file"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(Problem(where + _team_label(raw, loc), message))
    return problems


def _name_key(raw_team: Any) -> tuple[str, str] | None:
    if not isinstance(raw_team, dict):
        return None
    country, name = raw_team.get("country"), raw_team.get("name")
    if not isinstance(country, str) or not isinstance(name, str):
        return None
    return (country.strip().upper(), name.strip().lower())


def parse_team_directory(data: bytes) -> ParsedFile:
    """Parse and validate a team-directory file, finding every problem with its location.

    A bad team does not hide the problems of the others: each team is checked on its own,
    and the checks across teams run over the valid ones.
    """
    raw = _load(data)
    try:
        directory = TeamDirectory.model_validate(raw)
    except ValidationError as exc:
        problems = _schema_problems(exc, raw)
        raw_teams = raw.get("teams") if isinstance(raw, dict) else None
        if not isinstance(raw_teams, list):
            raise ValidationFailed(problems) from None
        teams: dict[int, TeamRecord] = {}
        for index, raw_team in enumerate(raw_teams):
            try:
                teams[index] = TeamRecord.model_validate(raw_team)
            except ValidationError:
                continue  # reported above, with the whole file's locations
        names = frozenset(k for k in map(_name_key, raw_teams) if k is not None)
    else:
        problems = []
        teams = dict(enumerate(directory.teams))
        names = frozenset((t.country, t.name.lower()) for t in directory.teams)
    return ParsedFile(teams, names, problems + _consistency_problems(teams))


def _consistency_problems(teams: dict[int, TeamRecord]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for index, team in teams.items():
        key = (team.country, team.name.lower())
        if key in seen:
            problems.append(
                Problem(
                    f"teams[{index}] (team {team.name!r})",
                    f"the same team as teams[{seen[key]}] (same name and country)",
                )
            )
        seen[key] = index
        contact_keys: set[tuple[str, ContactRole]] = set()
        names = {c.name for c in team.contacts}
        for c_index, contact in enumerate(team.contacts):
            where = f"teams[{index}].contacts[{c_index}] (team {team.name!r})"
            if (contact.name, contact.role) in contact_keys:
                problems.append(Problem(where, f"{contact.name!r} appears twice in this role"))
            contact_keys.add((contact.name, contact.role))
            if contact.alternate is not None and contact.alternate not in names:
                problems.append(
                    Problem(where, f"alternate {contact.alternate!r} is not a contact of this team")
                )
            if contact.alternate == contact.name:
                problems.append(Problem(where, "a contact cannot be its own alternate"))
            if contact.alternate_id is not None:
                problems.append(Problem(where, "use 'alternate' (a name), not 'alternate_id'"))
    return problems


def import_directory(
    session: Session, *, actor: Actor, data: bytes, progress: Progress | None = None
) -> ImportReport:
    """Create or update organisations and contacts from a file: all of it, or nothing."""
    actor.require(Permission.DIRECTORY_IMPORT)
    parsed = parse_team_directory(data)
    parents, parent_problems = _resolve_parents(session, parsed)
    if parsed.problems or parent_problems:
        raise ValidationFailed(parsed.problems + parent_problems)
    report = ImportReport()
    alternates: list[tuple[Contact, Contact]] = []
    total = len(parsed.teams)
    for done, (index, team) in enumerate(parsed.teams.items(), start=1):
        alternates += _import_team(session, team, parents.get(index), report)
        if progress is not None:
            progress(done, total)
    # A contact may name as alternate one listed after it: link them once all are stored.
    session.flush()
    for contact, alternate in alternates:
        contact.alternate_id = alternate.id
    _link_parents(session, parsed, parents)
    record(
        session,
        actor=actor,
        action=AuditAction.DIRECTORY_IMPORTED,
        object_type="directory",
        details=report.model_dump(),
    )
    return report


def _find_org(session: Session, country: str, name: str) -> Organisation | None:
    return session.scalar(
        select(Organisation).where(
            Organisation.country == country, func.lower(Organisation.name) == name.lower()
        )
    )


def _parent_in_directory(session: Session, key: tuple[str, str]) -> tuple[str, str] | None:
    org = _find_org(session, *key)
    if org is None or org.parent is None:
        return None
    return (org.parent.country, org.parent.name.lower())


def _resolve_parents(
    session: Session, parsed: ParsedFile
) -> tuple[dict[int, tuple[str, str]], list[Problem]]:
    """Check, before writing anything, that every parent exists and that none is a descendant."""
    planned = {
        (t.country, t.name.lower()): (t.country, t.parent.lower()) if t.parent else None
        for t in parsed.teams.values()
    }
    parents: dict[int, tuple[str, str]] = {}
    problems = []
    for index, team in parsed.teams.items():
        if team.parent is None:
            continue
        key = (team.country, team.parent.lower())
        where = f"teams[{index}].parent (team {team.name!r})"
        if key not in parsed.names and _find_org(session, *key) is None:
            problems.append(
                Problem(where, f"no organisation named {team.parent!r} in {team.country}")
            )
        own = (team.country, team.name.lower())
        seen = {own}
        ancestor: tuple[str, str] | None = key
        while ancestor is not None and ancestor not in seen:
            seen.add(ancestor)
            ancestor = (
                planned[ancestor]
                if ancestor in planned
                else _parent_in_directory(session, ancestor)
            )
        if ancestor == own:
            problems.append(Problem(where, "a team cannot be its own ancestor"))
        parents[index] = key
    return parents, problems


def _import_team(
    session: Session, team: TeamRecord, parent: tuple[str, str] | None, report: ImportReport
) -> list[tuple[Contact, Contact]]:
    """Create or update one team and its contacts; return the (contact, alternate) pairs."""
    org = _find_org(session, team.country, team.name)
    if org is None:
        org = Organisation(id=uuid.uuid4())
        session.add(org)
        report.organisations_created += 1
    else:
        report.organisations_updated += 1
    _apply_organisation(
        org,
        OrganisationIn(
            name=team.name,
            short_name=team.short_name,
            kind=team.kind,
            country=team.country,
            parent_id=org.parent_id if parent else None,
            sectors=team.sectors,
            website=team.website,
            constituency=team.constituency,
            description=team.description,
        ),
    )
    contacts = list(team.contacts)
    if team.emails or team.phones:
        contacts.insert(
            0,
            TeamContact(
                name=f"{team.short_name or team.name} team",
                role=ContactRole.OPERATIONS,
                emails=team.emails,
                phones=team.phones,
                pgp_fingerprint=team.pgp_keys[0] if team.pgp_keys else None,
                timezone=team.timezone,
            ),
        )
    existing = {(c.name, c.role): c for c in org.contacts}
    by_name: dict[str, Contact] = {}
    for item in contacts:
        contact = existing.get((item.name, item.role))
        if contact is None:
            contact = Contact(id=uuid.uuid4())
            org.contacts.append(contact)
            report.contacts_created += 1
        else:
            report.contacts_updated += 1
        _apply_contact(
            contact,
            ContactIn.model_validate(item.model_dump(exclude={"alternate", "last_verified_at"})),
        )
        if item.last_verified_at is not None:
            contact.last_verified_at = item.last_verified_at
        by_name[item.name] = contact
    return [
        (by_name[item.name], by_name[item.alternate])
        for item in contacts
        if item.alternate is not None
    ]


def _link_parents(
    session: Session, parsed: ParsedFile, parents: dict[int, tuple[str, str]]
) -> None:
    for index, key in parents.items():
        team = parsed.teams[index]
        org = _find_org(session, team.country, team.name)
        parent = _find_org(session, *key)
        if org is not None and parent is not None and parent.id != org.id:
            org.parent_id = parent.id


def _visible_organisations(
    session: Session, actor: Actor, organisation_id: uuid.UUID | None
) -> list[Organisation]:
    actor.require(Permission.DIRECTORY_EXPORT)
    query = select_visible(actor, Organisation).order_by(Organisation.country, Organisation.name)
    if organisation_id is not None:
        query = query.where(Organisation.id == organisation_id)
    return list(session.scalars(query))


def _audit_export(
    session: Session, actor: Actor, fmt: str, organisation_id: uuid.UUID | None, count: int
) -> None:
    record(
        session,
        actor=actor,
        action=AuditAction.DIRECTORY_EXPORTED,
        object_type="organisation" if organisation_id else "directory",
        object_id=organisation_id,
        object_org_id=organisation_id,
        details={"format": fmt, "organisations": count},
    )


def export_json(
    session: Session, *, actor: Actor, organisation_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The visible directory (or one organisation) as a team-directory document."""
    orgs = _visible_organisations(session, actor, organisation_id)
    teams = []
    for org in orgs:
        names = {c.id: c.name for c in org.contacts}
        contacts = [
            TeamContact.model_validate(
                contact_in(c).model_dump(exclude={"alternate_id"})
                | {
                    "alternate": names.get(c.alternate_id) if c.alternate_id else None,
                    "last_verified_at": c.last_verified_at,
                }
            )
            for c in org.contacts
        ]
        parent = org.parent.name if org.parent and org.parent.country == org.country else None
        teams.append(
            TeamRecord(
                name=org.name,
                short_name=org.short_name,
                country=org.country,
                kind=org.kind,
                parent=parent,
                sectors=org.sectors,
                website=org.website,  # type: ignore[arg-type]  # validated to HttpUrl by pydantic
                constituency=org.constituency,
                description=org.description,
                contacts=contacts,
            )
        )
    _audit_export(session, actor, "json", organisation_id, len(orgs))
    document = TeamDirectory(teams=teams, generated_at=utcnow())
    return document.model_dump(mode="json", exclude_none=True)


def export_vcards(
    session: Session, *, actor: Actor, organisation_id: uuid.UUID | None = None
) -> str:
    """The visible directory (or one organisation) as vCard 3.0, one card per contact."""
    orgs = _visible_organisations(session, actor, organisation_id)
    cards = [_vcard(org, contact) for org in orgs for contact in org.contacts]
    _audit_export(session, actor, "vcard", organisation_id, len(orgs))
    return "".join(cards)


def _vcard(org: Organisation, contact: Contact) -> str:
    card = vobject.vCard()
    card.add("fn").value = contact.name
    parts = contact.name.rsplit(" ", 1)
    card.add("n").value = vobject.vcard.Name(
        family=parts[-1] if len(parts) > 1 else contact.name,
        given=parts[0] if len(parts) > 1 else "",
    )
    card.add("org").value = [org.name]
    if contact.title:
        card.add("title").value = contact.title
    card.add("role").value = contact.role.label
    card.add("categories").value = [contact.role.value, org.kind.value, org.country]
    for index, email in enumerate(contact.channel_values(ChannelKind.EMAIL)):
        line = card.add("email")
        line.value = email
        line.type_param = ["INTERNET", "PREF"] if index == 0 else ["INTERNET"]
    for index, phone in enumerate(contact.channel_values(ChannelKind.PHONE)):
        line = card.add("tel")
        line.value = phone
        line.type_param = ["VOICE", "PREF"] if index == 0 else ["VOICE"]
    for channel in contact.channels:
        if channel.kind == ChannelKind.MESSENGER:
            line = card.add("impp")
            line.value = f"{(channel.label or 'im').lower()}:{channel.value}"
            line.x_service_type_param = channel.label or "messenger"
    card.add("tz").value = contact.timezone
    if contact.pgp_fingerprint:
        card.add("x-pgp-fingerprint").value = contact.pgp_fingerprint
    if contact.languages:
        card.add("x-languages").value = ",".join(contact.languages)
    card.add("uid").value = f"urn:uuid:{contact.id}"
    card.add("rev").value = contact.updated_at.strftime("%Y%m%dT%H%M%SZ")
    return str(card.serialize())
