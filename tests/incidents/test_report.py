"""Reporting an incident: classification, scope, clocks, stages, triage and closing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.db import utcnow
from balai.errors import Conflict, Forbidden, NotFound, ValidationFailed
from balai.incidents import service, views
from balai.incidents.models import (
    EntryKind,
    Incident,
    IncidentStatus,
    Stage,
    StageReport,
    TimelineEntry,
)
from balai.incidents.schemas import CloseIn, IncidentIn, IncidentUpdate, StageIn
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup
from balai.web.forms import build
from tests.factories import actor_for
from tests.incidents.helpers import RANSOMWARE, hours_ago, report_as
from tests.intel.helpers import Intel, body, count, import_as, indicator


def test_a_report_is_classified_scoped_and_filed_as_the_early_warning(
    db: Session, intel: Intel, settings: Settings
) -> None:
    aware = hours_ago(5)
    incident = report_as(db, intel.analyst, settings, aware_at=aware.isoformat())
    assert re.fullmatch(r"INC-[2-9A-Z]{4}-[2-9A-Z]{4}", incident.reference)
    assert incident.owner_org_id == intel.home.id
    assert incident.status == IncidentStatus.NEW
    assert incident.countries == ["MY", "TH"]
    assert incident.cross_border  # another state than the reporter's is affected
    assert incident.early_warning_at is not None
    assert incident.early_warning_due_at == aware + timedelta(hours=24)
    assert incident.notification_due_at == aware + timedelta(hours=72)
    assert incident.final_report_due_at == aware + timedelta(hours=72, days=30)
    filed = db.scalars(select(StageReport).where(StageReport.incident_id == incident.id)).all()
    assert [(s.stage, s.text) for s in filed] == [(Stage.EARLY_WARNING, RANSOMWARE["description"])]
    kinds = db.scalars(select(TimelineEntry.kind).where(TimelineEntry.incident_id == incident.id))
    assert list(kinds) == [EntryKind.REPORTED]
    assert (
        db.scalar(select(AuditEvent.action).where(AuditEvent.object_id == str(incident.id)))
        == "incidents:incident:reported"
    )


def test_an_incident_in_the_reporters_own_state_is_not_cross_border_unless_said(
    db: Session, intel: Intel, settings: Settings
) -> None:
    home_only = report_as(db, intel.analyst, settings, countries=["TH"])
    said = report_as(db, intel.analyst, settings, countries=["TH"], cross_border=True)
    assert not home_only.cross_border
    assert said.cross_border


def test_the_clocks_follow_the_communitys_periods(
    db: Session, intel: Intel, settings: Settings
) -> None:
    shorter = settings.model_copy(
        update={"incident_notification_hours": 48, "incident_final_report_days": 14}
    )
    incident = report_as(db, intel.analyst, shorter)
    assert incident.notification_due_at - incident.aware_at == timedelta(hours=48)
    assert incident.final_report_due_at - incident.notification_due_at == timedelta(days=14)


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"rsit_class": "malware"}, "rsit_class", "not an RSIT incident class"),
        ({"rsit_type": "ransomware"}, "rsit_type", "not a type of the class malicious-code"),
        ({"severity": "apocalyptic"}, "severity", "low"),
        ({"countries": ["XX"]}, "countries[0]", "ISO 3166-1"),
        ({"countries": []}, "countries", "at least 1"),
        ({"tlp": "red", "distribution": "community"}, "form", "TLP:RED is for named recipients"),
        ({"aware_at": "2099-01-01T00:00:00Z"}, "form", "in the future"),
        ({"aware_at": "2026-01-01T00:00:00"}, "form", "time zone"),
        ({"title": ""}, "title", "at least 1"),
    ],
)
def test_bad_reports_say_what_and_where(change: dict[str, object], loc: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(IncidentIn, {**RANSOMWARE, **change})
    [problem] = caught.value.problems
    assert problem.loc == loc
    assert words in problem.msg


def test_a_sharing_group_the_reporter_is_not_in_is_refused_and_nothing_is_written(
    db: Session, intel: Intel, settings: Settings
) -> None:
    group = SharingGroup(name="Not ours", owner_org_id=intel.away.id)
    db.add(group)
    db.commit()
    with pytest.raises(ValidationFailed) as caught:
        report_as(
            db,
            intel.analyst,
            settings,
            distribution="sharing_group",
            sharing_group_id=str(group.id),
        )
    db.rollback()
    assert caught.value.problems[0].loc == "sharing_group_id"
    assert count(db, Incident) == 0


def test_links_must_be_to_objects_the_reporter_may_see(
    db: Session, intel: Intel, settings: Settings
) -> None:
    mine = indicator("[ipv4-addr:value = '198.51.100.7']")
    theirs = indicator("[ipv4-addr:value = '198.51.100.8']")
    import_as(db, intel.analyst, body(mine))
    import_as(
        db, intel.away_analyst, body(theirs), tlp=Tlp.RED, distribution=Distribution.ORGANISATION
    )
    with pytest.raises(ValidationFailed) as caught:
        report_as(db, intel.analyst, settings, link_ids=[mine["id"], theirs["id"]])
    db.rollback()
    problem = caught.value.problems[0]
    assert problem.loc.startswith("link_ids[")
    assert theirs["id"] in problem.msg
    assert count(db, Incident) == 0
    linked = report_as(db, intel.analyst, settings, link_ids=[mine["id"]])
    out = views.incident_out(db, actor=actor_for(intel.analyst), incident=linked)
    assert [link.stix_id for link in out.links] == [mine["id"]]


def test_a_reader_may_not_report(db: Session, intel: Intel, settings: Settings) -> None:
    with pytest.raises(Forbidden):
        report_as(db, intel.reader, settings)


def test_the_notification_becomes_overdue_and_filing_it_clears_the_flag(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings, aware_at=hours_ago(80).isoformat())
    actor = actor_for(intel.analyst)
    now = utcnow()
    assert views.overdue_stages(incident, now) == [Stage.NOTIFICATION]
    overdue = service.list_incidents(db, actor=actor, filters=service.IncidentFilters(overdue=True))
    assert [i.id for i in overdue.items] == [incident.id]

    service.file_stage(
        db,
        actor=actor,
        incident_id=incident.id,
        data=StageIn(stage=Stage.NOTIFICATION, text="Initial assessment: LockBit 3.0."),
    )
    db.commit()
    assert views.overdue_stages(incident, utcnow()) == []
    assert incident.final_report_due_at - incident.notification_at == timedelta(days=30)  # type: ignore[operator]  # filed just now
    out = views.incident_out(db, actor=actor, incident=incident)
    notification = next(s for s in out.stages if s.stage == Stage.NOTIFICATION)
    assert notification.late
    assert not notification.overdue
    assert "late" in out.timeline[-1].text
    assert (
        service.list_incidents(db, actor=actor, filters=service.IncidentFilters(overdue=True)).total
        == 0
    )


def test_stages_are_filed_in_order_and_once(db: Session, intel: Intel, settings: Settings) -> None:
    incident = report_as(db, intel.analyst, settings)
    actor = actor_for(intel.analyst)
    with pytest.raises(ValidationFailed, match="notification before the final report"):
        service.file_stage(
            db,
            actor=actor,
            incident_id=incident.id,
            data=StageIn(stage=Stage.FINAL_REPORT, text="x"),
        )
    with pytest.raises(ValidationFailed, match="filed with the report"):
        service.file_stage(
            db,
            actor=actor,
            incident_id=incident.id,
            data=StageIn(stage=Stage.EARLY_WARNING, text="x"),
        )
    service.file_stage(
        db, actor=actor, incident_id=incident.id, data=StageIn(stage=Stage.NOTIFICATION, text="n")
    )
    with pytest.raises(Conflict):
        service.file_stage(
            db,
            actor=actor,
            incident_id=incident.id,
            data=StageIn(stage=Stage.NOTIFICATION, text="again"),
        )


def test_triage_moves_a_new_incident_on_and_records_what_changed(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    data = IncidentUpdate.model_validate(
        {
            **{k: RANSOMWARE[k] for k in ("title", "description", "countries", "sectors")},
            "rsit_class": "availability",
            "rsit_type": "sabotage",
            "severity": "critical",
        }
    )
    service.update(db, actor=actor_for(intel.analyst), incident_id=incident.id, data=data)
    db.commit()
    assert incident.status == IncidentStatus.IN_PROGRESS
    assert incident.triaged_at is not None
    entry = db.scalars(select(TimelineEntry).where(TimelineEntry.kind == EntryKind.UPDATED)).one()
    assert "malicious-code/infected-system → availability/sabotage" in entry.text
    assert "high → critical" in entry.text


def test_only_the_reporter_triages_and_an_outsider_finds_nothing(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    data = IncidentUpdate.model_validate(
        {k: RANSOMWARE[k] for k in IncidentUpdate.model_fields if k in RANSOMWARE}
    )
    with pytest.raises(NotFound):
        service.update(db, actor=actor_for(intel.away_analyst), incident_id=incident.id, data=data)
    amber = report_as(db, intel.analyst, settings)
    with pytest.raises(Forbidden):
        service.update(db, actor=actor_for(intel.away_analyst), incident_id=amber.id, data=data)


def test_closing_files_the_final_report_and_reopening_brings_it_back(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    actor = actor_for(intel.analyst)
    service.file_stage(
        db, actor=actor, incident_id=incident.id, data=StageIn(stage=Stage.NOTIFICATION, text="n")
    )
    service.close(db, actor=actor, incident_id=incident.id, data=CloseIn(resolution="Restored."))
    db.commit()
    assert incident.status == IncidentStatus.CLOSED
    assert incident.final_report_at is not None
    final = db.scalars(select(StageReport).where(StageReport.stage == Stage.FINAL_REPORT)).one()
    assert final.text == "Restored."
    with pytest.raises(Conflict):
        service.close(db, actor=actor, incident_id=incident.id, data=CloseIn(resolution="again"))
    reopened = service.reopen(db, actor=actor, incident_id=incident.id)
    assert reopened.status == IncidentStatus.NEW
    assert incident.closed_at is None
