"""Sightings and feedback, and the decay score: MISP's polynomial model, kept current."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.db import utcnow
from balai.errors import NotFound, ValidationFailed
from balai.intel import sightings
from balai.intel.models import Feedback, IndicatorScore
from balai.intel.tasks import refresh_scores
from tests.factories import actor_for, make_org, make_user
from tests.intel.test_correlation import COMMUNITY, ORG_ONLY, indicator, share


def test_decay_is_full_at_first_zero_at_the_end_and_slow_early() -> None:
    assert sightings.decay(80, 0, 30) == 80
    assert sightings.decay(80, 30, 30) == 0
    assert sightings.decay(80, 45, 30) == 0
    early, late = sightings.decay(80, 7.5, 30), sightings.decay(80, 22.5, 30)
    assert 79 < early < 80  # (1/4)^(1/0.3) is about 1%: barely decayed after a quarter
    assert 30 < late < 50  # (3/4)^(1/0.3) is about 38%: most of the fall comes late


def test_sightings_keep_an_indicator_alive_and_false_positives_halve_it(db: Session) -> None:
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    old = (utcnow() - timedelta(days=25)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ioc = dict(
        indicator("[ipv4-addr:value = '198.51.100.99']", "c2"), valid_from=old, confidence=80
    )
    share(db, a, COMMUNITY, ioc)
    sightings.rescore(db, [ioc["id"]])
    stale = db.get(IndicatorScore, ioc["id"])
    assert stale is not None
    assert stale.lifetime_days == 30  # an IPv4 address
    assert 0 < stale.score < 40  # 25 of 30 days gone

    sightings.report(db, actor=actor_for(b), stix_id=ioc["id"], kind=Feedback.SEEN, count=7)
    fresh = db.get(IndicatorScore, ioc["id"])
    assert fresh is not None
    assert fresh.score == 80  # seen just now: full base again

    sightings.report(db, actor=actor_for(b), stix_id=ioc["id"], kind=Feedback.FALSE_POSITIVE)
    assert db.get(IndicatorScore, ioc["id"]).score == 40  # type: ignore[union-attr]
    sightings.report(db, actor=actor_for(a), stix_id=ioc["id"], kind=Feedback.EXPIRED)
    assert db.get(IndicatorScore, ioc["id"]).score == 0  # type: ignore[union-attr]


def test_other_organisations_see_counts_not_who_reported(db: Session) -> None:
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    ioc = indicator("[domain-name:value = 'c2.badcorp-infra.net']", "c2")
    share(db, a, COMMUNITY, ioc)
    first = utcnow() - timedelta(days=3)
    sightings.report(
        db,
        actor=actor_for(b),
        stix_id=ioc["id"],
        kind=Feedback.SEEN,
        count=5,
        first_seen=first,
        last_seen=first + timedelta(days=1),
    )
    sightings.report(db, actor=actor_for(a), stix_id=ioc["id"], kind=Feedback.SEEN, count=2)
    seen_by_a = sightings.summary(db, actor=actor_for(a), stix_id=ioc["id"])
    assert (seen_by_a.seen, seen_by_a.seen_by) == (7, 2)
    assert seen_by_a.first_seen == first
    assert [s.organisation_id for s in seen_by_a.own] == [a.organisation_id]


def test_bad_reports_are_refused_and_invisible_indicators_are_not_found(db: Session) -> None:
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    reader = make_user(db, make_org(db, country="SG"), role=Role.READER)
    hidden = indicator("[ipv4-addr:value = '192.0.2.200']", "a keeps it")
    shared = indicator("[ipv4-addr:value = '192.0.2.201']", "shared")
    share(db, a, ORG_ONLY, hidden)
    share(db, a, COMMUNITY, shared)
    with pytest.raises(NotFound):
        sightings.report(db, actor=actor_for(b), stix_id=hidden["id"], kind=Feedback.SEEN)
    with pytest.raises(NotFound):
        sightings.summary(db, actor=actor_for(b), stix_id=hidden["id"])
    now = utcnow()
    with pytest.raises(ValidationFailed, match="last_seen"):
        sightings.report(
            db,
            actor=actor_for(b),
            stix_id=shared["id"],
            kind=Feedback.SEEN,
            first_seen=now,
            last_seen=now - timedelta(days=1),
        )
    with pytest.raises(ValidationFailed, match="first_seen"):
        sightings.report(
            db,
            actor=actor_for(b),
            stix_id=shared["id"],
            kind=Feedback.SEEN,
            first_seen=now + timedelta(days=2),
        )
    with pytest.raises(ValidationFailed, match="count"):
        sightings.report(db, actor=actor_for(b), stix_id=shared["id"], kind=Feedback.SEEN, count=0)
    from balai.errors import Forbidden

    with pytest.raises(Forbidden):
        sightings.report(db, actor=actor_for(reader), stix_id=shared["id"], kind=Feedback.SEEN)


def test_the_periodic_job_scores_new_indicators(db: Session) -> None:
    from tests.conftest import make_settings

    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    ioc = indicator("[file:hashes.MD5 = '0123456789abcdef0123456789abcdef']", "tool")
    share(db, a, COMMUNITY, ioc)
    assert db.get(IndicatorScore, ioc["id"]) is None
    assert refresh_scores(db, make_settings("sqlite:///:memory:", 25)) >= 1
    score = db.get(IndicatorScore, ioc["id"])
    assert score is not None
    assert score.lifetime_days == 365  # a file hash stays useful longer
