"""An incident as STIX 2.1: an `incident` object with its reporter's identity, its TLP 2.0
marking, and `related-to` relationships to the linked reports and indicators the reader may
see (which travel in the same bundle)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.policy import select_visible
from balai.config import Settings
from balai.incidents import taxonomy
from balai.incidents.models import Incident, IncidentLink
from balai.intel.markings import marking_definition
from balai.intel.misp_map import stix_time
from balai.intel.models import StixObject
from balai.intel.stix_io import stix_view

# Fixed, so that the same organisation and the same link always get the same STIX ids.
NAMESPACE = uuid.UUID("6c1e6f43-3d2a-4b39-9c55-5b0c1a2e7a10")


def _linked(session: Session, actor: Actor, incident: Incident) -> list[StixObject]:
    """The latest version of each linked object the reader may see (its own copy first)."""
    rows = session.scalars(
        select_visible(actor, StixObject)
        .where(
            StixObject.stix_id.in_(
                select(IncidentLink.stix_id).where(IncidentLink.incident_id == incident.id)
            ),
            StixObject.is_latest.is_(True),
        )
        .order_by(StixObject.stix_id, StixObject.date_added.desc())
    )
    chosen: dict[str, StixObject] = {}
    for row in rows:
        if row.stix_id not in chosen or row.owner_org_id == actor.organisation_id:
            chosen[row.stix_id] = row
    return list(chosen.values())


def incident_bundle(
    session: Session, *, actor: Actor, settings: Settings, incident: Incident
) -> dict[str, Any]:
    """The incident and what it links to, as a STIX 2.1 bundle (for an incident the actor
    may see: callers fetch it through the visibility rule)."""
    owner = incident.owner
    identity_id = f"identity--{uuid.uuid5(NAMESPACE, str(owner.id))}"
    incident_id = f"incident--{incident.id}"
    marking = incident.tlp.marking_id
    created, modified = stix_time(incident.created_at), stix_time(incident.updated_at)
    linked = _linked(session, actor, incident)
    levels = sorted({incident.tlp, *(row.tlp for row in linked)}, key=lambda level: level.rank)
    objects: list[dict[str, Any]] = [marking_definition(level) for level in levels]
    objects.append(
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": identity_id,
            "created": stix_time(owner.created_at),
            "modified": stix_time(owner.updated_at),
            "name": owner.name,
            "identity_class": "organization",
        }
    )
    description = incident.description
    if incident.resolution:
        description += f"\n\nResolution: {incident.resolution}"
    objects.append(
        {
            "type": "incident",
            "spec_version": "2.1",
            "id": incident_id,
            "created": created,
            "modified": modified,
            "created_by_ref": identity_id,
            "name": incident.title,
            "description": description,
            "labels": [
                taxonomy.machinetag(incident.rsit_class, incident.rsit_type),
                f"severity:{incident.severity.value}",
                f"status:{incident.status.value}",
                *(f"country:{country}" for country in incident.countries),
                *(f"sector:{sector.value}" for sector in incident.sectors),
                *(["cross-border"] if incident.cross_border else []),
            ],
            "external_references": [
                {
                    "source_name": settings.community_name,
                    "external_id": incident.reference,
                    "url": f"{settings.base_url}/incidents/{incident.id}",
                }
            ],
            "object_marking_refs": [marking],
        }
    )
    for row in linked:
        objects.append(
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": f"relationship--{uuid.uuid5(NAMESPACE, f'{incident.id} {row.stix_id}')}",
                "created": created,
                "modified": created,
                "created_by_ref": identity_id,
                "relationship_type": "related-to",
                "source_ref": incident_id,
                "target_ref": row.stix_id,
                "object_marking_refs": [marking],
            }
        )
        objects.append(stix_view(row))
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
