"""Free text and CSV in (page, API, CLI), CSV out (object and search), visibility of the exports."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
import tarfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from balai.accounts.models import Role
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.cli.app import app
from balai.db import make_engine, make_sessionmaker
from balai.directory.models import Organisation
from balai.errors import ValidationFailed
from balai.intel.csv_io import CSV_COLUMNS, to_csv
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import ImportFormat, IntelImport, ObservableValue, StixObject, ValueKind
from balai.intel.observables import Value, from_pattern, url_value
from balai.intel.schemas import Marking
from balai.intel.stix_validate import validate_object
from balai.intel.text_io import (
    FILE_EXTENSION_TLDS,
    extract,
    iana_tlds,
    import_text,
    indicator_id,
    pattern_of,
    scan,
)
from balai.migrate import upgrade
from tests.conftest import SECRET, Databases
from tests.factories import actor_for, make_org, make_user
from tests.intel.helpers import (
    Intel,
    api_import,
    count,
    import_as,
    indicator,
    intel_rows,
    problems,
    report,
    sign_in,
    text_of,
)
from tests.intel.helpers import body as bundle_body
from tests.shared_data import shared
from tests.web import csrf_of

GREEN = Marking(tlp=Tlp.GREEN, distribution=Distribution.COMMUNITY)
SOME_ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")

ADVISORY = """\
ADVISORY TH-2026-0042 (TLP:GREEN). Between 3 and 5 November the actor sent phishing e-mail
from billing[at]secure-invoices[.]com and "hr.update@mail-hr-portal[.]net" with an attachment,
invoice.pdf (MD5 44D88612FEA8A8F36DE82E1278ABB02F, SHA-256
275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f). Opening it runs setup.exe,
which downloads hxxps://cdn-update[.]xyz/payload/stage2.bin and
hxxp[:]//185.220.101[.]45:8080/gate.php?id=7. Its C2 servers are update-check[.]org and
c2 (dot) example-bad (dot) com; the loader (version 1.2.3, build 4.0.1.2) also reaches
91.219.236.0/24, [2a03:2880:f12f:83:face:b00c:0:25de]:443 and AS 4134. Infected hosts
reported from 10.0.0.5 and 192.168.1.10. See readme.txt, setup.py and README.md in the sample
(SHA1: 3395856ce81f2b7382dee72602f798b642f14140), and the write-up at
https://blog.example.org/apt/report_(final).html. The first stage was served by
secure-invoices.com.
"""

ADVISORY_VALUES = [
    ("email", "billing@secure-invoices.com"),
    ("email", "hr.update@mail-hr-portal.net"),
    ("md5", "44d88612fea8a8f36de82e1278abb02f"),
    ("sha256", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
    ("url", "https://cdn-update.xyz/payload/stage2.bin"),
    ("url", "http://185.220.101.45:8080/gate.php?id=7"),
    ("domain", "update-check.org"),
    ("domain", "c2.example-bad.com"),
    ("cidr", "91.219.236.0/24"),
    ("ipv6", "2a03:2880:f12f:83:face:b00c:0:25de"),
    ("asn", "AS4134"),
    ("sha1", "3395856ce81f2b7382dee72602f798b642f14140"),
    ("url", "https://blog.example.org/apt/report_(final).html"),
    ("domain", "secure-invoices.com"),
]


def pairs(values: list[Value]) -> list[tuple[str, str]]:
    """Values as (kind, value) pairs."""
    return [(v.kind.value, v.value) for v in values]


# Extraction


def test_an_advisory_gives_its_indicators_in_order() -> None:
    assert pairs(extract(ADVISORY)) == ADVISORY_VALUES


def test_what_was_left_out_of_an_advisory_is_said() -> None:
    notes = scan(ADVISORY).notes()
    assert len(notes) == 1
    assert notes[0].startswith("2 addresses that are not globally routable")
    assert notes[0].endswith("left out: 10.0.0.5, 192.168.1.10")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hxxp://evil[.]com/a", [("url", "http://evil.com/a")]),
        ("hXXps[:]//evil[.]com/a", [("url", "https://evil.com/a")]),
        ("evil[.]com", [("domain", "evil.com")]),
        ("evil(.)com", [("domain", "evil.com")]),
        ("evil[dot]com", [("domain", "evil.com")]),
        ("evil(dot)com", [("domain", "evil.com")]),
        ("evil{.}com", [("domain", "evil.com")]),
        ("evil [.] com", [("domain", "evil.com")]),
        ("185.220.101[.]45", [("ipv4", "185.220.101.45")]),
        ("admin[at]evil[.]com", [("email", "admin@evil.com")]),
        ("admin (at) evil (dot) com", [("email", "admin@evil.com")]),
        ("admin[@]evil.com", [("email", "admin@evil.com")]),
        ("ASN 13335 and AS15169", [("asn", "AS13335"), ("asn", "AS15169")]),
    ],
)
def test_defanged_forms_are_read(text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(extract(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Open invoice.pdf, then setup.exe; see readme.txt and report.docx.",
        "Python's setup.py, install.sh, README.md, archive.zip, clip.mov, a.b.exe",
        "Update to version 1.2.3 or 10.4.2-beta, or v2.0.1.7, version 1.0.0.1, build 6.0.0.1.",
        "Abbreviations e.g. this, i.e. that, U.S. and etc. are no domains.",
        "workerEnv.init() failed in mod_jk2 at /etc/httpd/conf/workers2.properties",
        "Private 10.1.2.3, 192.168.0.1/24, loopback 127.0.0.1 and ::1, fe80::1, 224.0.0.251.",
        "Documentation ranges 192.0.2.10, 198.51.100.7, 203.0.113.9 and 2001:db8::1.",
        "Not addresses: 999.1.1.1, 1.2.3.4.5, 010.1.1.1, times 12:30:45, MAC 00:1a:2b:3c:4d:5e.",
        "Hex that is no hash: deadbeef, a 31-digit 0123456789abcdef0123456789abcde.",
        "Words as12 and as 15169 in lower case are no AS numbers.",
        "Internal names host.corp, intranet.local, http://wiki.corp/x, http://10.0.0.8/admin.",
        "Everything: 0.0.0.0/0 and ::/0; AS99999999999 is too large.",
    ],
)
def test_things_that_only_look_like_indicators_are_not(text: str) -> None:
    assert extract(text) == []


def test_a_url_s_host_is_not_reported_again_but_a_mention_of_it_is() -> None:
    text = (
        "Payload at hxxp://198.51.100.1.nip[.]io/x and hxxp://45.137.21.9/x.sh (45.137.21.9 "
        "hosts it); the site evil-cdn[.]com/loader.js and https://files.evil-cdn.net/a."
    )
    assert pairs(extract(text)) == [
        ("url", "http://198.51.100.1.nip.io/x"),
        ("url", "http://45.137.21.9/x.sh"),
        ("ipv4", "45.137.21.9"),
        ("domain", "evil-cdn.com"),
        ("url", "https://files.evil-cdn.net/a"),
    ]


def test_sentence_punctuation_brackets_and_quotes_are_not_part_of_a_value() -> None:
    text = (
        "It called evil.com. Then (evil2.com), [evil3.com], 'evil4.com', “evil5.com”, "
        "<evil6.com>; evil7.com: and evil8.com! Also https://evil9.com/a). "
        "Markdown [here](https://evil10.com/b) and *evil11.com*."
    )
    assert [v for _, v in pairs(extract(text))] == [
        "evil.com",
        "evil2.com",
        "evil3.com",
        "evil4.com",
        "evil5.com",
        "evil6.com",
        "evil7.com",
        "evil8.com",
        "https://evil9.com/a",
        "https://evil10.com/b",
        "evil11.com",
    ]


def test_a_value_written_twice_is_found_once() -> None:
    text = "evil.com, EVIL.com, evil[.]com and hxxp://evil.com/ vs http://EVIL.com:80/"
    assert pairs(extract(text)) == [("domain", "evil.com"), ("url", "http://evil.com/")]


def test_file_extensions_that_are_tlds_are_domains_only_when_defanged() -> None:
    assert extract("payload.zip and invoice.mov") == []
    text = "payload[.]zip, invoice[.]mov, cdn.files.zip, gdocshare.one and team.app"
    assert pairs(extract(text)) == [
        ("domain", "payload.zip"),
        ("domain", "invoice.mov"),
        ("domain", "cdn.files.zip"),
        ("domain", "gdocshare.one"),
        ("domain", "team.app"),
    ]
    # The list exists for the overlap: each of its extensions is a real top-level domain,
    # while the usual file extensions that are none need no list.
    assert iana_tlds() >= FILE_EXTENSION_TLDS
    assert {"exe", "pdf", "txt", "docx", "dll", "js", "init"}.isdisjoint(iana_tlds())


def test_onion_addresses_and_idn_domains_are_found() -> None:
    assert pairs(extract("duskgytldkxiuqc6.onion and пример.рф")) == [
        ("domain", "duskgytldkxiuqc6.onion"),
        ("domain", "xn--e1afmkfd.xn--p1ai"),
    ]


STRICT_IPV4 = re.compile(
    r"(?<![\w.-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w-]|\.\w)"
)


@pytest.mark.parametrize("log", ["Apache_2k.log", "OpenSSH_2k.log"])
def test_real_logs_give_the_addresses_a_strict_pattern_finds(log: str) -> None:
    lines = shared(f"logs/{log}").read_text().splitlines()[:1200]
    text = "\n".join(lines)
    strict = {
        m for m in STRICT_IPV4.findall(text) if ipaddress.ip_address(m).is_global
    }  # the log's own hosts are public addresses
    found = {v.value for v in extract(text) if v.kind == ValueKind.IPV4}
    assert len(strict) >= 10
    assert found == strict


def test_a_real_trail_file_gives_every_listed_host_and_url() -> None:
    archive = shared("indicators/maltrail-static-trails.tar.gz")
    with tarfile.open(archive) as tar:
        member = tar.extractfile("trails/static/malware/apt_lazarus.txt")
        assert member is not None
        text = member.read().decode()
    listed = [line.split()[0] for line in text.splitlines() if line.strip() and line[0] != "#"]
    found = {v.value for v in extract(text)}
    urls = {value.value for e in listed if "://" in e and (value := url_value(e))}
    hosts = {e.split("/")[0].split(":")[0].lower() for e in listed if "://" not in e}
    hosts.discard("")  # a path alone ("/tbl_add.php") names no host
    assert len(urls) > 50
    assert len(hosts) > 1000
    assert urls - found == set()
    assert hosts - found == set()


def test_each_pattern_is_valid_stix_and_gives_its_value_back() -> None:
    for kind, raw in [*ADVISORY_VALUES, ("ipv4", "185.220.101.45"), ("cidr", "2a03:2880::/32")]:
        [value] = extract(raw)
        assert value.kind.value == kind
        pattern = pattern_of(value)
        assert from_pattern(pattern) == [value], pattern
        stix = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id(SOME_ORG, value),
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z",
        }
        assert validate_object(stix, "x") == [], pattern


def test_quotes_and_backslashes_in_a_url_survive_the_pattern() -> None:
    for url in ("http://evil.com/it's", "http://evil.com/a\\b"):
        value = Value(ValueKind.URL, url)
        assert from_pattern(pattern_of(value)) == [value]


# Free text import


def _indicators(db: Session, batch: IntelImport) -> list[StixObject]:
    db.expire_all()
    return list(
        db.scalars(
            select(StixObject)
            .where(StixObject.import_id == batch.id, StixObject.type == "indicator")
            .order_by(StixObject.pk)
        )
    )


def test_a_text_import_makes_an_indicator_per_value_and_a_report(db: Session, intel: Intel) -> None:
    batch = import_text(db, actor=actor_for(intel.analyst), data=ADVISORY.encode(), marking=GREEN)
    db.commit()
    assert batch.format == ImportFormat.TEXT
    counts = batch.report["counts"]
    assert counts["created"] == {"indicator": len(ADVISORY_VALUES), "report": 1}
    assert counts["values_indexed"] == len(ADVISORY_VALUES)
    assert batch.report["not_mapped"][0].startswith("2 addresses that are not globally routable")
    rows = _indicators(db, batch)
    assert [r.name for r in rows] == [v for _, v in ADVISORY_VALUES]
    first = rows[0].data
    assert first["id"] == indicator_id(intel.home.id, Value(ValueKind.EMAIL, ADVISORY_VALUES[0][1]))
    assert first["pattern"] == "[email-addr:value = 'billing@secure-invoices.com']"
    assert first["valid_from"] == first["created"] == first["modified"]
    assert {r.tlp for r in rows} == {Tlp.GREEN}
    [report_id] = batch.report["report_ids"]
    stored = db.scalars(select(StixObject).where(StixObject.stix_id == report_id)).one()
    assert (stored.name or "").startswith("Text import ")
    assert stored.data["object_refs"] == [r.stix_id for r in rows]
    assert stored.data["published"] == stored.data["created"]


def test_the_same_text_again_is_already_present_under_a_new_report(
    db: Session, intel: Intel
) -> None:
    data = b"C2: evil[.]com, 185.220.101.45 and evil.com again."
    first = import_text(db, actor=actor_for(intel.analyst), data=data, marking=GREEN)
    second = import_text(
        db, actor=actor_for(intel.analyst), data=data, marking=GREEN, filename="again.txt"
    )
    db.commit()
    assert first.report["counts"]["created"] == {"indicator": 2, "report": 1}
    assert second.report["counts"]["created"] == {"report": 1}
    assert second.report["counts"]["already_present"] == {"indicator": 2}
    assert count(db, StixObject, StixObject.type == "indicator") == 2
    assert first.report["report_ids"] != second.report["report_ids"]
    again = db.scalars(
        select(StixObject).where(StixObject.stix_id == second.report["report_ids"][0])
    ).one()
    assert again.name == "again.txt"
    assert len(again.data["object_refs"]) == 2
    # Another organisation's upload of the same value is its own indicator.
    theirs = import_text(db, actor=actor_for(intel.away_analyst), data=data, marking=GREEN)
    assert theirs.report["counts"]["created"] == {"indicator": 2, "report": 1}


def test_text_without_an_indicator_is_refused(db: Session, intel: Intel) -> None:
    before = intel_rows(db)
    for data in (b"", b"Nothing to see: version 1.2.3 and invoice.pdf.", b"10.0.0.1"):
        with pytest.raises(ValidationFailed) as refused:
            import_text(db, actor=actor_for(intel.analyst), data=data, marking=GREEN)
        assert refused.value.problems[0].msg == "no indicator found in the text"
    with pytest.raises(ValidationFailed, match="not UTF-8"):
        import_text(db, actor=actor_for(intel.analyst), data=b"\xff\xfe evil.com", marking=GREEN)
    assert intel_rows(db) == before


# CSV import


def _csv(client: TestClient, intel: Intel, data: str, **params: str) -> httpx.Response:
    return api_import(client, intel.key(intel.analyst), data.encode(), format="csv", **params)


def test_a_csv_with_a_header_types_and_comments(
    client: TestClient, db: Session, intel: Intel
) -> None:
    data = (
        "Indicator,Type,Comment\n"
        "185.220.101.45,ipv4,Tor exit used for C2\n"
        "2a03:2880:f12f:83:face:b00c:0:25de,IPv6-Addr,\n"
        "91.219.236.0/24,cidr,\n"
        'evil[.]com,domain,"phishing, then C2"\n'
        "hxxp://evil.com/a,url,\n"
        "Billing@Secure-Invoices.com,email-src,\n"
        "44D88612FEA8A8F36DE82E1278ABB02F,md5,\n"
        "3395856ce81f2b7382dee72602f798b642f14140,sha1,\n"
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f,SHA-256,\n"
        "4134,AS,\n"
        "c2.internal.corp,hostname,explicit: kept though its TLD is none\n"
        "10.0.0.5,ip-dst,explicit: kept though private\n"
    )
    response = _csv(client, intel, data, filename="iocs.csv")
    assert response.status_code == 201, response.text
    report_json = response.json()
    assert report_json["format"] == "csv"
    assert report_json["counts"]["created"] == {"indicator": 12, "report": 1}
    assert report_json["not_mapped"] == []
    db.expire_all()
    batch = db.get(IntelImport, uuid.UUID(report_json["id"]))
    assert batch is not None
    rows = _indicators(db, batch)
    assert [r.name for r in rows] == [
        "185.220.101.45",
        "2a03:2880:f12f:83:face:b00c:0:25de",
        "91.219.236.0/24",
        "evil.com",
        "http://evil.com/a",
        "billing@secure-invoices.com",
        "44d88612fea8a8f36de82e1278abb02f",
        "3395856ce81f2b7382dee72602f798b642f14140",
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        "AS4134",
        "c2.internal.corp",
        "10.0.0.5",
    ]
    assert rows[0].data["description"] == "Tor exit used for C2"
    assert rows[3].data["description"] == "phishing, then C2"
    assert "description" not in rows[1].data
    assert rows[2].data["pattern"] == "[ipv4-addr:value ISSUBSET '91.219.236.0/24']"
    assert rows[9].data["pattern"] == "[autonomous-system:number = 4134]"
    [report_id] = report_json["report_ids"]
    stored = db.scalars(select(StixObject).where(StixObject.stix_id == report_id)).one()
    assert stored.name == "iocs.csv"


def test_a_csv_without_a_header_reads_its_first_column(
    client: TestClient, db: Session, intel: Intel
) -> None:
    data = "# C2 list, one value a line\r\n185.220.101.45;seen twice\r\n\r\nevil[.]com;x\r\n"
    data += "http://evil.com/a;y\r\n185.220.101.45;again\r\n"
    response = _csv(client, intel, data)
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["created"] == {"indicator": 3, "report": 1}
    assert response.json()["not_mapped"] == [
        "No header row: only the first column was read.",
        "1 rows repeat a value of an earlier row and were read once.",
    ]
    single = _csv(client, intel, "185.220.101.46\nevil2.com\n")
    assert single.status_code == 201, single.text
    assert single.json()["not_mapped"] == []
    report_name = db.scalars(
        select(StixObject.name).where(StixObject.stix_id == single.json()["report_ids"][0])
    ).one()
    assert report_name is not None
    assert report_name.startswith("CSV import ")


def test_a_misp_csv_export_is_read_with_its_two_part_types(
    client: TestClient, intel: Intel
) -> None:
    data = (
        "uuid,event_id,category,type,value,comment,to_ids,date\n"
        "5f1c,7,Network activity,ip-dst|port,185.220.101.45|443,C2,1,1700000000\n"
        "5f1d,7,Network activity,domain|ip,evil.com|185.220.101.47,,1,1700000000\n"
        "5f1e,7,Payload delivery,filename|sha256,"
        "a.exe|275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f,,1,1700000000\n"
        "5f1f,7,Network activity,hostname|port,c2.evil.com|8443,,1,1700000000\n"
    )
    response = _csv(client, intel, data)
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["created"] == {"indicator": 5, "report": 1}


def test_every_bad_row_is_reported_and_nothing_is_written(
    client: TestClient, db: Session, intel: Intel
) -> None:
    data = (
        "value,type,comment\n"  # line 1
        "185.220.101.45,ipv4,fine\n"  # 2
        "999.1.1.1,ipv4,\n"  # 3
        "2a03:2880::1,ipv4,\n"  # 4
        ",domain,no value\n"  # 5
        "evil.com,ipv5,\n"  # 6
        "http//evil.com,url,\n"  # 7
        "abcd,md5,\n"  # 8
        '"multi\nline",domain,\n'  # 9-10
        "1.2.3.4|80,ip-dst|port|x,\n"  # 11
        "readme.txt,,\n"  # 12
        "evil.com,cidr,\n"  # 13
    )
    before = intel_rows(db)
    response = _csv(client, intel, data)
    assert response.status_code == 422, response.text
    assert [(p["loc"], p["msg"]) for p in problems(response)] == [
        ("line 3, column value", "'999.1.1.1' is not an IPv4 address"),
        ("line 4, column value", "'2a03:2880::1' is not an IPv4 address"),
        ("line 5, column value", "is empty"),
        (
            "line 6, column type",
            "unknown type 'ipv5' (known: ip, ipv4, ipv6, cidr, domain, url, email, md5, sha1, "
            "sha256, hash, asn, and their MISP and STIX names)",
        ),
        (
            "line 7, column value",
            "'http//evil.com' is not a URL (with its scheme, such as http://)",
        ),
        ("line 8, column value", "'abcd' is not an MD5 hash (32 hex digits)"),
        ("line 9, column value", "'multi\\nline' is not a domain name"),
        (
            "line 11, column type",
            "unknown type 'ip-dst|port|x' (known: ip, ipv4, ipv6, cidr, domain, url, email, md5, "
            "sha1, sha256, hash, asn, and their MISP and STIX names)",
        ),
        (
            "line 12, column value",
            "'readme.txt' is not a recognised indicator (add a type column)",
        ),
        ("line 13, column value", "'evil.com' is not a network (CIDR)"),
    ]
    assert intel_rows(db) == before
    empty = _csv(client, intel, "value,type\n# nothing yet\n")
    assert empty.status_code == 422
    assert problems(empty) == [{"loc": "file", "msg": "no indicator found in the file"}]
    assert intel_rows(db) == before


def test_a_changed_comment_makes_a_new_version(
    client: TestClient, db: Session, intel: Intel
) -> None:
    first = _csv(client, intel, "value,comment\nevil.com,phishing\n")
    same = _csv(client, intel, "value,comment\nevil.com,phishing\nevil.com,phishing\n")
    bare = _csv(client, intel, "evil.com\n")
    changed = _csv(client, intel, "value,comment\nevil.com,phishing and C2\n")
    assert first.json()["counts"]["created"] == {"indicator": 1, "report": 1}
    assert same.json()["counts"]["already_present"] == {"indicator": 1}
    assert bare.json()["counts"]["already_present"] == {"indicator": 1}
    assert changed.json()["counts"]["new_versions"] == {"indicator": 1}
    stix_id = indicator_id(intel.home.id, Value(ValueKind.DOMAIN, "evil.com"))
    db.expire_all()
    versions = db.scalars(
        select(StixObject).where(StixObject.stix_id == stix_id).order_by(StixObject.pk)
    ).all()
    assert [(v.data.get("description"), v.is_latest) for v in versions] == [
        ("phishing", False),
        ("phishing and C2", True),
    ]
    assert versions[1].data["created"] == versions[0].data["created"]
    assert versions[1].data["modified"] > versions[0].data["modified"]


# API, page and command-line imports


def test_the_api_imports_text_and_says_when_there_is_nothing(
    client: TestClient, db: Session, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    done = api_import(client, headers, ADVISORY.encode(), format="text", tlp="amber")
    assert done.status_code == 201, done.text
    assert done.json()["format"] == "text"
    assert done.json()["tlp"] == "amber"
    assert done.json()["counts"]["created"]["indicator"] == len(ADVISORY_VALUES)
    before = intel_rows(db)
    nothing = api_import(client, headers, b"No indicator here.", format="text")
    assert nothing.status_code == 422
    assert problems(nothing) == [{"loc": "text", "msg": "no indicator found in the text"}]
    refused = api_import(client, intel.key(intel.reader), ADVISORY.encode(), format="text")
    assert refused.status_code == 403
    assert intel_rows(db) == before


def _upload_form(
    client: TestClient, fields: dict[str, str], file: tuple[str, bytes]
) -> httpx.Response:
    page = client.get("/intel/upload")
    assert page.status_code == 200, page.text
    assert 'name="text"' in page.text
    response: httpx.Response = client.post(
        "/intel/upload",
        data={**fields, "csrf_token": csrf_of(page.text)},
        files={"file": (file[0], file[1], "application/octet-stream")},
    )
    return response


def test_pasted_text_is_imported_from_the_upload_page(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.analyst)
    fields = {"format": "stix", "tlp": "green", "distribution": "community"}
    before = intel_rows(db)
    empty = _upload_form(client, {**fields, "text": "just words, version 1.2.3"}, ("", b""))
    assert empty.status_code == 422
    assert "text: no indicator found in the text" in text_of(empty.text)
    assert "just words, version 1.2.3</textarea>" in empty.text  # kept for correcting
    assert intel_rows(db) == before
    done = _upload_form(client, {**fields, "text": ADVISORY}, ("", b""))
    assert done.status_code == 303, done.text
    page = text_of(client.get(done.headers["location"]).text)
    assert "The text is imported." in page
    assert "— (text)" in page
    assert f"indicator {len(ADVISORY_VALUES)} 0 0" in page
    assert "2 addresses that are not globally routable" in page


def test_a_csv_file_is_imported_from_the_upload_page(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.analyst)
    fields = {"format": "csv", "tlp": "amber", "distribution": "community", "text": "ignored.com"}
    data = b"value,type\n185.220.101.45,ip\nevil.com,domain\n"
    done = _upload_form(client, fields, ("iocs.csv", data))
    assert done.status_code == 303, done.text
    page = text_of(client.get(done.headers["location"]).text)
    assert "iocs.csv (csv)" in page
    assert "indicator 2 0 0" in page
    assert count(db, ObservableValue, ObservableValue.value == "ignored.com") == 0
    bad = _upload_form(client, fields, ("bad.csv", b"value,type\n999.1.1.1,ipv4\n"))
    assert bad.status_code == 422
    assert "line 2, column value: '999.1.1.1' is not an IPv4 address" in text_of(bad.text)


runner = CliRunner()


def test_the_command_imports_a_csv_file(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = databases.new_url("textcsv")
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        user = make_user(session, make_org(session, name="CLI CERT"), role=Role.ANALYST)
        email = user.email
        session.commit()
    monkeypatch.setenv("BALAI_DATABASE_URL", url)
    monkeypatch.setenv("BALAI_SECRET_KEY", SECRET)
    file = tmp_path / "iocs.csv"
    file.write_text("value,type\n185.220.101.45,ip\nevil.com,domain\n")
    command = ["intel", "import", str(file), "--format", "csv", "--user", email, "--tlp", "green"]
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert (
        "imported 3 new objects and 0 new versions; 0 already here; 2 values indexed"
        in " ".join(first.stdout.split())
    )
    again = runner.invoke(app, command)
    assert "imported 1 new objects and 0 new versions; 2 already here" in " ".join(
        again.stdout.split()
    )
    file.write_text("value,type\n185.220.101.45,ip\n999.1.1.1,ipv4\n")
    bad = runner.invoke(app, command)
    assert bad.exit_code == 1
    assert "line 3, column value: '999.1.1.1' is not an IPv4 address" in bad.output
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count(IntelImport.id))) == 2
        assert count(session, StixObject, StixObject.type == "indicator") == 2
    engine.dispose()


# CSV out


def _read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _seed_report(db: Session, intel: Intel) -> tuple[str, list[str]]:
    """A report with two indicators, one with a name a spreadsheet would run."""
    first = indicator("[ipv4-addr:value = '185.220.101.45']", name='C2, "primary"')
    second = indicator(
        "[email-addr:value = '-cmd@evil.com'] OR [domain-name:value = 'evil.com']",
        name='=HYPERLINK("http://evil.com","click")',
    )
    paper = report([first["id"], second["id"]], name="@SUM(1) campaign")
    import_as(db, intel.analyst, bundle_body(first, second, paper))
    return paper["id"], [first["id"], second["id"]]


def test_a_report_exports_its_values_as_csv(client: TestClient, db: Session, intel: Intel) -> None:
    report_id, (first, second) = _seed_report(db, intel)
    response = client.get(f"/api/v1/intel/objects/{report_id}/csv", headers=intel.key(intel.reader))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    name = report_id.replace("--", "-")
    assert response.headers["content-disposition"] == f'attachment; filename="{name}.csv"'
    assert response.text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    assert '"C2, ""primary"""' in response.text  # RFC 4180 quoting
    lines = _read(response.text)
    assert [(line["value"], line["kind"], line["stix_id"]) for line in lines] == [
        ("185.220.101.45", "ipv4", first),
        ("evil.com", "domain", second),
        ("'-cmd@evil.com", "email", second),
    ]
    assert lines[0]["name"] == 'C2, "primary"'
    assert lines[1]["name"] == '\'=HYPERLINK("http://evil.com","click")'
    assert {line["tlp"] for line in lines} == {"TLP:GREEN"}
    assert {line["owner"] for line in lines} == {"ThaiCERT"}
    assert {line["type"] for line in lines} == {"indicator"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[0]["date_added"])
    one = client.get(f"/api/v1/intel/objects/{first}/csv", headers=intel.key(intel.reader))
    assert [line["value"] for line in _read(one.text)] == ["185.220.101.45"]

    # The defusing quote comes off again when the file is imported.
    again = api_import(client, intel.key(intel.away_analyst), response.text.encode(), format="csv")
    assert again.status_code == 201, again.text
    assert count(db, ObservableValue, ObservableValue.value == "-cmd@evil.com") == 2


def test_formula_cells_are_defused() -> None:
    row = StixObject(
        pk=1,
        stix_id="indicator--1",
        type="indicator",
        name="+1",
        tlp=Tlp.CLEAR,
        date_added=datetime(2026, 1, 1, tzinfo=UTC),
        data={},
    )
    row.owner = Organisation(name="=org")
    values = {1: [ObservableValue(kind=ValueKind.EMAIL, value="@x@evil.com")]}
    [line] = _read(to_csv([row], values))
    assert (line["value"], line["name"], line["owner"]) == ("'@x@evil.com", "'+1", "'=org")


def test_search_exports_what_it_finds(client: TestClient, db: Session, intel: Intel) -> None:
    _seed_report(db, intel)
    headers = intel.key(intel.reader)
    found = client.get("/api/v1/intel/search/csv", params={"q": "evil[.]com"}, headers=headers)
    assert found.status_code == 200, found.text
    assert [line["value"] for line in _read(found.text)] == ["evil.com", "'-cmd@evil.com"]
    assert found.headers["x-total-count"] == "1"
    assert "link" not in found.headers
    names = client.get(
        "/api/v1/intel/search/csv", params={"q": "i", "per_page": 1}, headers=headers
    )
    assert int(names.headers["x-total-count"]) >= 2
    assert re.fullmatch(
        r'<http://testserver/api/v1/intel/search/csv\?.*page=2.*>; rel="next"',
        names.headers["link"],
    )


def test_outsiders_get_nothing_from_the_exports(
    client: TestClient, db: Session, intel: Intel
) -> None:
    paper_first = indicator("[ipv4-addr:value = '185.220.101.45']")
    paper = report([paper_first["id"]], name="Own eyes only")
    import_as(
        db,
        intel.analyst,
        bundle_body(paper_first, paper),
        tlp=Tlp.AMBER,
        distribution=Distribution.ORGANISATION,
    )
    outsider = intel.key(intel.away_admin)
    for path in (
        f"/api/v1/intel/objects/{paper['id']}/csv",
        f"/api/v1/intel/objects/{paper_first['id']}/csv",
    ):
        assert client.get(path, headers=outsider).status_code == 404
    searched = client.get(
        "/api/v1/intel/search/csv", params={"q": "185.220.101.45"}, headers=outsider
    )
    assert searched.status_code == 200
    assert searched.text == ",".join(CSV_COLUMNS) + "\r\n"
    assert searched.headers["x-total-count"] == "0"
    sign_in(client, db, intel.away_admin)
    assert client.get(f"/intel/objects/{paper['id']}/csv").status_code == 404
    page = client.get("/intel/search/csv", params={"q": "185.220.101.45"})
    assert page.text == ",".join(CSV_COLUMNS) + "\r\n"
    # The holder's own readers get it, and the AMBER read is audited.
    restricted = AuditEvent.action == AuditAction.INTEL_RESTRICTED_READ.value
    before = count(db, AuditEvent, restricted)
    mine = client.get(f"/api/v1/intel/objects/{paper['id']}/csv", headers=intel.key(intel.reader))
    assert [line["value"] for line in _read(mine.text)] == ["185.220.101.45"]
    db.expire_all()
    assert count(db, AuditEvent, restricted) == before + 1
    event = db.scalars(select(AuditEvent).where(restricted).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert event.details == {"how": "api csv", "objects": 2, "strictest": "amber"}


def test_the_pages_offer_the_csv_downloads(client: TestClient, db: Session, intel: Intel) -> None:
    report_id, _ = _seed_report(db, intel)
    sign_in(client, db, intel.reader)
    page = client.get(f"/intel/objects/{report_id}")
    assert f'href="/intel/objects/{report_id}/csv"' in page.text
    download = client.get(f"/intel/objects/{report_id}/csv")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert len(_read(download.text)) == 3
    search = client.get("/intel/search", params={"q": "evil.com"})
    assert 'href="/intel/search/csv?q=evil.com"' in search.text
    found = client.get("/intel/search/csv", params={"q": "evil.com"})
    assert [line["value"] for line in _read(found.text)] == ["evil.com", "'-cmd@evil.com"]
    assert client.get("/intel/search/csv").text == ",".join(CSV_COLUMNS) + "\r\n"
