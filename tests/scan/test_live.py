"""The scanner as a new user runs it, against a live instance on loopback: download the
indicators once, scan the real logs with planted lines, send the sightings, export for Zeek.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from balai.accounts.models import Role
from balai.db import transaction
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import Sighting
from tests.conftest import Databases
from tests.factories import api_key_for, make_org, make_user
from tests.functional.conftest import Instance, close_instance, new_instance
from tests.intel.helpers import body, import_as, indicator, report
from tests.shared_data import SHARED_DATA

LOGS = SHARED_DATA / "logs"
pytestmark = pytest.mark.skipif(
    not LOGS.is_dir(), reason=f"the shared test data is not at {LOGS} (CI has it)"
)

# Planted into copies of the real logs: (file, text of the planted line).
PLANTED = [
    (
        "OpenSSH_2k.log",
        "Dec 10 11:03:44 LabSZ sshd[9999]: Failed password for root from 185.220.101.7 port 22",
    ),
    (
        "Apache_2k.log",
        "[Sun Dec 04 20:47:17 2005] [error] [client 185.220.101.7] File does not exist: /x",
    ),
    (
        "Proxifier_2k.log",
        "[10.30 17:00:01] chrome.exe - Beacon.C2.BadCorp-Infra.NET:443 open through proxy",
    ),
]
NEAR_MISSES = [
    ("OpenSSH_2k.log", "Dec 10 11:03:45 LabSZ sshd[9999]: Failed password from 85.220.101.70"),
    ("Proxifier_2k.log", "[10.30 17:00:02] chrome.exe - notc2.badcorp-infra.net.au:443 open"),
]


@pytest.fixture(scope="module")
def platform(databases: Databases) -> Iterator[tuple[Instance, str, str, dict[str, str]]]:
    """A live instance where a CERT shares two indicators; a member of another has a key."""
    live = new_instance(databases, "scan")
    with transaction(live.factory) as db:
        cert = make_org(db, name="ThaiCERT", country="TH")
        analyst = make_user(db, cert, role=Role.ANALYST)
        member_org = make_org(db, name="Municipality of Chiang Mai", country="TH")
        member = make_user(db, member_org, role=Role.ANALYST)
        key = api_key_for(db, member)
        ip = indicator("[ipv4-addr:value = '185.220.101.7']", name="Botnet C2")
        domain = indicator("[domain-name:value = 'c2.badcorp-infra.net']", name="C2 domain")
        hidden = indicator("[ipv4-addr:value = '173.234.31.186']", name="ThaiCERT only")
        import_as(db, analyst, body(ip, domain, report([ip["id"]], name="Botnet campaign")))
        import_as(db, analyst, body(hidden), tlp=Tlp.AMBER, distribution=Distribution.ORGANISATION)
        org_id = str(member_org.id)
    live.serve()
    try:
        yield live, key, org_id, {"ip": ip["id"], "domain": domain["id"]}
    finally:
        close_instance(live)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Copies of the real logs with the planted lines added at their ends."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for path in LOGS.iterdir():
        shutil.copy(path, folder / path.name)
    for name, line in PLANTED + NEAR_MISSES:
        with (folder / name).open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
    return folder


def balai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "balai", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_new_user_downloads_once_scans_real_logs_and_reports_sightings(
    platform: tuple[Instance, str, str, dict[str, str]], logs: Path, tmp_path: Path
) -> None:
    live, key, org_id, ids = platform
    env = {
        **live.env(),
        "BALAI_SERVER": live.url,
        "BALAI_API_KEY": key,
        "BALAI_CACHE_DIR": str(tmp_path / "cache"),
    }
    first = balai("scan", "--format", "jsonl", "--jobs", "2", str(logs), env=env)
    assert first.returncode == 1, first.stderr
    assert "Downloaded 2 indicator values" in first.stderr
    hits = [json.loads(line) for line in first.stdout.splitlines()]
    found = {(Path(h["file"]).name, h["indicator"], h["match"]) for h in hits}
    assert found == {
        ("OpenSSH_2k.log", "185.220.101.7", "185.220.101.7"),
        ("Apache_2k.log", "185.220.101.7", "185.220.101.7"),
        ("Proxifier_2k.log", "c2.badcorp-infra.net", "Beacon.C2.BadCorp-Infra.NET"),
    }
    for hit in hits:  # each on its planted line, counted from 1
        lines = (logs / Path(hit["file"]).name).read_text(encoding="utf-8").splitlines()
        assert hit["line"] == len(lines) - (
            1 if "OpenSSH" in hit["file"] or "Proxifier" in hit["file"] else 0
        )
        assert hit["log_line"] == lines[hit["line"] - 1]
        assert hit["stix_id"] in ids.values()
        assert hit["reports"] == ("Botnet campaign" if hit["stix_id"] == ids["ip"] else None)
    # 173.234.31.186 is all over OpenSSH_2k.log, but it is ThaiCERT's own: never downloaded.
    assert "173.234.31.186" not in first.stdout

    # Offline, from the cache, with the server gone from the picture: the same hits, and the
    # sightings sent with the user's consent.
    offline = {**env, "BALAI_SERVER": live.url}
    second = balai(
        "scan", "--offline", "--send", "full", "--format", "jsonl", str(logs), env=offline
    )
    assert second.returncode == 1, second.stderr
    assert "Downloaded" not in second.stderr
    assert [json.loads(line) for line in second.stdout.splitlines()] == hits
    assert "Sent sightings of 2 indicators" in second.stderr
    assert "no log lines, file names or addresses were sent" in second.stderr
    with live.factory() as db:
        rows = {s.stix_id: s for s in db.scalars(select(Sighting))}
    assert set(rows) == {ids["ip"], ids["domain"]}
    assert rows[ids["ip"]].count == 2
    assert str(rows[ids["ip"]].organisation_id) == org_id
    assert rows[ids["ip"]].source == "scanner"
    # First and last seen come from the lines' own times: 2005 for the Apache line.
    first_seen = rows[ids["ip"]].first_seen
    assert first_seen is not None
    assert first_seen.year == 2005

    clean = balai("scan", "--offline", str(LOGS / "zeek-dns.log.gz"), env=offline)
    assert clean.returncode == 0, clean.stderr


def test_export_writes_the_engine_files_and_errors_exit_2(
    platform: tuple[Instance, str, str, dict[str, str]], tmp_path: Path
) -> None:
    live, key, _org, _ids = platform
    env = {**live.env(), "BALAI_SERVER": live.url, "BALAI_API_KEY": key}
    zeek = tmp_path / "balai.intel"
    done = balai("export", "--format", "zeek", "--output", str(zeek), env=env)
    assert done.returncode == 0, done.stderr
    text = zeek.read_text(encoding="utf-8")
    assert "185.220.101.7\tIntel::ADDR" in text
    assert "173.234.31.186" not in text
    suricata = balai("export", "--format", "suricata", "--output", str(tmp_path / "sur"), env=env)
    assert suricata.returncode == 0, suricata.stderr
    assert "185.220.101.7" in (tmp_path / "sur" / "iprep" / "balai.list").read_text()

    wrong = {**env, "BALAI_API_KEY": "balai_wrong", "BALAI_CACHE_DIR": str(tmp_path / "c")}
    refused = balai("scan", str(tmp_path), env=wrong)
    assert refused.returncode == 2
    assert "the API key was refused" in refused.stderr
    missing = balai("scan", "--offline", str(tmp_path / "nope.log"), env=env)
    assert missing.returncode == 2


def test_compressed_logs_scan_like_plain_ones(
    platform: tuple[Instance, str, str, dict[str, str]], logs: Path, tmp_path: Path
) -> None:
    live, key, _org, _ids = platform
    env = {
        **live.env(),
        "BALAI_SERVER": live.url,
        "BALAI_API_KEY": key,
        "BALAI_CACHE_DIR": str(tmp_path / "cache"),
    }
    plain = logs / "OpenSSH_2k.log"
    packed = tmp_path / "OpenSSH_2k.log.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    one = balai("scan", "--format", "jsonl", str(plain), env=env)
    two = balai("scan", "--format", "jsonl", "--offline", str(packed), env=env)
    assert one.returncode == two.returncode == 1
    strip = [
        {k: v for k, v in json.loads(x).items() if k != "file"} for x in one.stdout.splitlines()
    ]
    same = [
        {k: v for k, v in json.loads(x).items() if k != "file"} for x in two.stdout.splitlines()
    ]
    assert strip == same
