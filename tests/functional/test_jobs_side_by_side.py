"""Two workers run the periodic jobs at the same moment: on PostgreSQL each alert is escalated,
and each silent party marked, by one of them only (SQLite runs one writer at a time)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from balai.accounts.models import Role
from balai.alerts import ack
from balai.alerts.models import Alert
from balai.config import load_settings
from balai.db import transaction, utcnow
from balai.directory.models import ContactRole
from balai.incidents import coordination
from balai.incidents.schemas import IncidentIn, InviteIn
from balai.incidents.service import report
from balai.outbox.models import OutboxMessage
from tests.conftest import SECRET
from tests.factories import actor_for, make_contact, make_org, make_user
from tests.functional.conftest import Instance
from tests.incidents.helpers import RANSOMWARE

pytestmark = pytest.mark.skipif(
    os.environ.get("BALAI_TEST_DB", "sqlite") != "postgresql",
    reason="SQLite takes its write lock at BEGIN: two jobs never overlap there",
)


def test_two_workers_escalate_and_mark_each_row_once(instance: Instance) -> None:
    settings = load_settings(database_url=instance.database_url, secret_key=SECRET)
    with transaction(instance.factory) as db:
        thai = make_user(db, make_org(db, name="ThaiCERT", country="TH"), role=Role.ANALYST)
        mycert = make_org(db, name="MyCERT", country="MY")
        deputy = make_contact(db, mycert, name="Deputy", email="deputy@my.example")
        make_contact(
            db,
            mycert,
            name="Desk",
            role=ContactRole.OPERATIONS,
            email="duty@my.example",
            alternate=deputy,
        )
        incident = report(
            db,
            actor=actor_for(thai),
            settings=settings,
            data=IncidentIn.model_validate(RANSOMWARE),
        )
        coordination.invite(
            db,
            actor=actor_for(thai),
            settings=settings,
            incident_id=incident.id,
            data=InviteIn(organisation_ids=[mycert.id]),
        )
    later = utcnow() + timedelta(hours=settings.incident_party_response_hours + 1)
    first, second = instance.factory(), instance.factory()
    try:
        # The first worker is in the middle of its jobs, its transaction open...
        assert ack.escalate_due(first, settings=settings, now=later) == 1
        assert coordination.mark_silent(first, now=later) == 1
        # ...when the second runs them: it skips what the first holds.
        assert ack.escalate_due(second, settings=settings, now=later) == 0
        assert coordination.mark_silent(second, now=later) == 0
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    with instance.factory() as db:
        escalations = db.scalars(
            select(OutboxMessage.destination).where(
                OutboxMessage.destination == "deputy@my.example"
            )
        ).all()
        assert escalations == ["deputy@my.example"]
        assert db.scalars(select(Alert.escalation_level)).all() == [1]
