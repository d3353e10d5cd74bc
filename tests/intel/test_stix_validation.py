"""All or nothing: a bundle with bad objects names every problem, located, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.intel.markings import TLP1_MARKING_IDS, Tlp
from balai.intel.stix_validate import validate_object
from tests.intel.helpers import (
    CREATED,
    LATER,
    Intel,
    Json,
    api_import,
    body,
    indicator,
    intel_rows,
    malware,
    problems,
    report,
)

TLP1_RED = next(ref for ref, level in TLP1_MARKING_IDS.items() if level == Tlp.RED)


def _without(obj: Json, *keys: str) -> Json:
    return {k: v for k, v in obj.items() if k not in keys}


def _bad_bundle() -> tuple[list[Json], list[tuple[int, str, str]]]:
    """Objects, and each problem expected of them: (index, path after the object, message)."""
    good = indicator("[ipv4-addr:value = '198.51.100.7']")
    objects: list[Json] = [
        good,
        _without(indicator("[domain-name:value = 'a.example']"), "id"),
        indicator(
            "[domain-name:value = 'b.example']",
            stix_id=f"malware--{'1' * 8}-1111-4111-8111-{'1' * 12}",
        ),
        indicator("[domain-name:value = 'c.example']", stix_id="indicator--not-a-uuid"),
        _without(malware(), "created", "modified"),
        malware(created=LATER, modified=CREATED),
        malware(created="2026-01-10T15:00:00+07:00", modified="2026-01-10T15:00:00+07:00"),
        malware(created_by_ref="identity--bad", sample_refs=["file--nope"]),
        report(["indicator--00000000", "nonsense", good["id"]]),
        _without(indicator("[domain-name:value = 'd.example']"), "pattern"),
        indicator("[domain-name:value = 'e.example' AND]"),
        dict(good),
        _without(malware(), "spec_version"),
        indicator("[domain-name:value = 'f.example']", object_marking_refs=[TLP1_RED]),
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": "relationship--" + good["id"][11:],
            "created": CREATED,
            "modified": CREATED,
        },
        _without(malware(), "is_family"),
        malware(),  # the one good object besides the first
    ]
    expected = [
        (1, ".id", "must be 'indicator--' followed by a UUID"),
        (2, ".id", "must be 'indicator--' followed by a UUID"),
        (3, ".id", "must be 'indicator--' followed by a UUID"),
        (4, ".created", "is required"),
        (4, ".modified", "is required"),
        (5, ".modified", "is earlier than created"),
        (6, ".created", "must be a UTC timestamp"),
        (6, ".modified", "must be a UTC timestamp"),
        (7, ".created_by_ref", "must be a STIX identifier"),
        (7, ".sample_refs[0]", "must be a STIX identifier"),
        (8, ".object_refs[0]", "must be a STIX identifier"),
        (8, ".object_refs[1]", "must be a STIX identifier"),
        (9, ".pattern", "is required"),
        (10, ".pattern", "not a valid STIX pattern"),
        (11, "", "the same object and version as objects[0]"),
        (12, ".spec_version", "must be '2.1' (STIX 2.0 content must be converted first)"),
        (13, "", "is marked TLP:RED: TLP:RED is for named recipients only"),
        (14, ".relationship_type", "is required"),
        (14, ".source_ref", "is required"),
        (14, ".target_ref", "is required"),
        (15, ".is_family", "is required"),
    ]
    return objects, expected


def _where(objects: list[Json], index: int) -> str:
    obj = objects[index]
    return f"objects[{index}]" + (f" ({obj['id']})" if "id" in obj else "")


def test_every_problem_is_reported_located_and_nothing_is_written(
    client: TestClient, db: Session, intel: Intel
) -> None:
    objects, expected = _bad_bundle()
    before = intel_rows(db)
    refused = api_import(client, intel.key(intel.analyst), body(*objects))
    assert refused.status_code == 422, refused.text
    found = problems(refused)
    assert [p["loc"] for p in found] == [
        _where(objects, index) + path for index, path, _ in expected
    ]
    for problem, (_, _, message) in zip(found, expected, strict=True):
        assert message in problem["msg"], problem
    assert refused.json()["error"]["message"].endswith(f"(and {len(expected) - 1} more)")
    # Not one object, value, import record or audit event.
    assert intel_rows(db) == before
    # The good objects alone import fine: the refusal was theirs only in company.
    alone = api_import(client, intel.key(intel.analyst), body(objects[0], objects[-1]))
    assert alone.status_code == 201, alone.text


def test_a_pattern_problem_is_located_at_the_pattern(
    client: TestClient, db: Session, intel: Intel
) -> None:
    fine = [indicator("[ipv4-addr:value = '198.51.100.7']") for _ in range(3)]
    bad = indicator("[ipv4-addr:value = '198.51.100.8'")
    refused = api_import(client, intel.key(intel.analyst), body(*fine, bad))
    assert refused.status_code == 422
    [problem] = problems(refused)
    assert problem["loc"] == f"objects[3] ({bad['id']}).pattern"
    assert problem["msg"].startswith("not a valid STIX pattern")


@pytest.mark.parametrize(
    ("obj", "loc", "message"),
    [
        ({"type": "Indicator"}, "o.type", "missing or not a valid STIX type name"),
        ({"id": "malware--1"}, "o.type", "missing or not a valid STIX type name"),
        (
            {**malware(), "valid_from": "2026-01-10"},
            "o.valid_from",
            "must be a UTC timestamp",
        ),
        ({**malware(), "object_marking_refs": []}, "o.object_marking_refs", "non-empty list"),
        ({**malware(), "sample_refs": "file--x"}, "o.sample_refs", "non-empty list"),
        (
            {**indicator("[ipv4-addr:value = '1.2.3.4']"), "pattern_type": None},
            "o.pattern_type",
            "is required",
        ),
        (
            {"type": "ipv4-addr", "id": "ipv4-addr--4a8f1b59-3e51-4b83-8d7c-2ab5e1c4f3a1"},
            "o.value",
            "is required",
        ),
        (
            {
                "type": "ipv4-addr",
                "spec_version": "2.0",
                "id": "ipv4-addr--4a8f1b59-3e51-4b83-8d7c-2ab5e1c4f3a1",
                "value": "1.2.3.4",
            },
            "o.spec_version",
            "must be '2.1'",
        ),
    ],
)
def test_validate_object_locates_each_problem(obj: Any, loc: str, message: str) -> None:
    found = validate_object(obj, "o")
    assert found, obj
    assert found[0].loc == loc
    assert message in found[0].msg


def test_a_cyber_observable_needs_no_version_or_spec_version() -> None:
    assert (
        validate_object(
            {
                "type": "domain-name",
                "id": "domain-name--ecb120bf-2694-4902-a737-62b74539a41b",
                "value": "example.com",
            },
            "o",
        )
        == []
    )
