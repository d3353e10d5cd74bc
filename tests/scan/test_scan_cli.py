"""`balai scan`: output formats, --output, warninglists, exit status (0 clean, 1 hits, 2 error)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from balai.cli.app import app
from balai.cli.common import err
from tests.shared_data import shared

runner = CliRunner()
SSH_IP, SSH_HOST = "173.234.31.186", "ns.marryaldkfaczcz.com"


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan must use the indicators given here, never a platform from the environment."""
    monkeypatch.delenv("BALAI_SERVER", raising=False)
    monkeypatch.delenv("BALAI_API_KEY", raising=False)


@pytest.fixture(autouse=True)
def wide_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages on stderr on one line each, whatever the paths' length."""
    monkeypatch.setattr(err, "width", 1000)


def balai_scan(*args: str | Path) -> Result:
    return runner.invoke(app, ["scan", "--jobs", "1", *map(str, args)])


@pytest.fixture
def indicators(tmp_path: Path) -> Path:
    path = tmp_path / "indicators.txt"
    path.write_text(f"# trails\n{SSH_IP}\n{SSH_HOST}\n8.8.8.8\n/a/path\n")
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "auth.log"
    path.write_text(
        f"Dec 10 06:55:46 host sshd[1]: reverse mapping for {SSH_HOST} [{SSH_IP}] failed\n"
        "Dec 10 06:55:47 host sshd[1]: clean line 8.8.8.8\n"
        f"Dec 10 06:55:48 host sshd[1]: Invalid user admin from {SSH_IP}\n"
    )
    return path


def test_jsonl_gives_one_object_per_hit(indicators: Path, log: Path) -> None:
    result = balai_scan("--indicators", indicators, "--format", "jsonl", log)
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [
        {key: record[key] for key in ("file", "line", "indicator", "type", "match")}
        for record in records
    ] == [
        {"file": str(log), "line": 1, "indicator": SSH_HOST, "type": "domain", "match": SSH_HOST},
        {"file": str(log), "line": 1, "indicator": SSH_IP, "type": "ipv4", "match": SSH_IP},
        {"file": str(log), "line": 3, "indicator": SSH_IP, "type": "ipv4", "match": SSH_IP},
    ]
    assert records[2]["log_line"].endswith(f"Invalid user admin from {SSH_IP}")


def test_load_summary_goes_to_stderr(indicators: Path, log: Path) -> None:
    result = balai_scan("--indicators", indicators, "--format", "jsonl", log)
    assert "Loaded 2 indicator values" in result.stderr
    assert "Skipped 1 entries" in result.stderr
    assert "line 5: /a/path" in result.stderr
    assert "Left out 1 values on MISP warninglists" in result.stderr
    assert "3 hits of 2 indicators" in result.stderr
    assert "Loaded" not in result.stdout


def stix_bundle(name: str = "SSH brute forcer") -> dict[str, object]:
    """A bundle of one indicator of SSH_IP, marked TLP:GREEN."""
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2024-01-01T00:00:00.000Z",
                "modified": "2024-01-01T00:00:00.000Z",
                "name": name,
                "pattern": f"[ipv4-addr:value = '{SSH_IP}']",
                "pattern_type": "stix",
                "valid_from": "2024-01-01T00:00:00Z",
                "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
            }
        ],
    }


def test_jsonl_carries_the_stix_indicator_id_and_name(tmp_path: Path, log: Path) -> None:
    bundle = stix_bundle()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    result = balai_scan("--indicators", path, "--format", "jsonl", log)
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["line"], r["stix_id"], r["name"], r["tlp"]) for r in records] == [
        (n, "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "SSH brute forcer", "green")
        for n in (1, 3)
    ]


def test_csv_has_a_header_and_defuses_formula_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = stix_bundle(name='=HYPERLINK("http://x","click")')
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "=cmd.log").write_text(
        f'=HYPERLINK("http://x") {SSH_IP}\n+SUM(1) {SSH_IP}\n-2+3 {SSH_IP}\n@A1 {SSH_IP}\n'
        f"ok {SSH_IP}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = balai_scan("--indicators", "bundle.json", "--format", "csv", "=cmd.log")
    assert result.exit_code == 1, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:5] == ["file", "line", "indicator", "type", "match"]
    assert {"stix_id", "name", "tlp", "log_line"} <= set(rows[0])
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["line"] for r in records] == ["1", "2", "3", "4", "5"]
    assert {(r["indicator"], r["type"], r["match"]) for r in records} == {(SSH_IP, "ipv4", SSH_IP)}
    assert [r["log_line"][:2] for r in records] == ["'=", "'+", "'-", "'@", "ok"]
    assert {r["file"] for r in records} == {"'=cmd.log"}
    assert {r["name"] for r in records} == {'\'=HYPERLINK("http://x","click")'}


def test_table_groups_hits_by_indicator_with_counts(indicators: Path, log: Path) -> None:
    result = balai_scan("--indicators", indicators, "--format", "table", log)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    header = [cell.strip() for line in lines if line.startswith("┃") for cell in line.split("┃")]
    assert header[1:6] == ["Indicator", "Type", "Hits", "Files", "First hit"]
    rows = [[cell.strip() for cell in line.split("│")][1:] for line in lines if line[:1] == "│"]
    assert [row[:5] for row in rows] == [
        [SSH_IP, "ipv4", "2", "1", f"{log}:1"],
        [SSH_HOST, "domain", "1", "1", f"{log}:1"],
    ]


def test_output_file_gets_the_hits(indicators: Path, log: Path, tmp_path: Path) -> None:
    target = tmp_path / "hits.jsonl"
    result = balai_scan("--indicators", indicators, "--format", "jsonl", "-o", target, log)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = target.read_text().splitlines()
    assert [json.loads(line)["line"] for line in lines] == [1, 1, 3]


def test_nothing_found_exits_0(indicators: Path, tmp_path: Path) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text("nothing here 8.8.8.8 marryaldkfaczcz.community\n")
    result = balai_scan("--indicators", indicators, "--format", "jsonl", clean)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_include_warninglisted_lets_them_alert(indicators: Path, log: Path) -> None:
    result = balai_scan(
        "--indicators", indicators, "--format", "jsonl", "--include-warninglisted", log
    )
    assert result.exit_code == 1, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["line"], r["indicator"]) for r in found if r["indicator"] == "8.8.8.8"] == [
        (2, "8.8.8.8")
    ]


def test_a_folder_and_compressed_files_are_scanned(indicators: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(f"x {SSH_IP}\n")
    (logs / "b.log").write_text("clean\n")
    (logs / "c.log.gz").write_bytes(gzip.compress(f"clean\nlookup {SSH_HOST}\n".encode()))
    result = runner.invoke(
        app,
        ["scan", "--jobs", "2", "--indicators", str(indicators), "--format", "jsonl", str(logs)],
    )
    assert result.exit_code == 1, result.output
    assert [
        (record["file"], record["line"], record["indicator"])
        for record in map(json.loads, result.stdout.splitlines())
    ] == [(str(logs / "a.log"), 1, SSH_IP), (str(logs / "c.log.gz"), 2, SSH_HOST)]


def test_real_openssh_log_hits(indicators: Path) -> None:
    result = balai_scan(
        "--indicators", indicators, "--format", "jsonl", shared("logs/OpenSSH_2k.log")
    )
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(r["indicator"] == SSH_IP for r in records) == 10
    assert [r["line"] for r in records if r["indicator"] == SSH_HOST] == [1, 15]


def test_a_missing_log_exits_2(indicators: Path, tmp_path: Path) -> None:
    result = balai_scan("--indicators", indicators, tmp_path / "absent.log")
    assert result.exit_code == 2
    assert "absent.log: no such file or folder" in result.stderr


def test_a_damaged_compressed_log_exits_2(indicators: Path, tmp_path: Path) -> None:
    """A gzip member whose first deflate block has the reserved type 3: zlib says "invalid block
    type". The command must say so with exit status 2, not crash with 1 (which means hits)."""
    broken = tmp_path / "app.log.gz"
    packed = bytearray(gzip.compress(f"x {SSH_IP}\n".encode() * 100))
    packed[10] = 0x07
    broken.write_bytes(bytes(packed))
    result = balai_scan("--indicators", indicators, broken)
    assert result.exit_code == 2, result.exception
    assert f"error: {broken}: " in result.stderr


def test_a_truncated_compressed_log_exits_2(indicators: Path, tmp_path: Path) -> None:
    broken = tmp_path / "app.log.gz"
    broken.write_bytes(gzip.compress(f"x {SSH_IP}\n".encode() * 100)[:-12])
    result = balai_scan("--indicators", indicators, broken)
    assert result.exit_code == 2, result.exception
    assert f"error: {broken}: " in result.stderr


def test_a_bad_typed_list_exits_2_naming_the_line(log: Path, tmp_path: Path) -> None:
    typed = tmp_path / "typed.tsv"
    typed.write_text("ipv4\t1.2.3.4\ndomain\tevil.com\nbogus\tx\n")
    result = balai_scan("--indicators", typed, log)
    assert result.exit_code == 2
    assert "line 3" in result.stderr
    assert "bogus" in result.stderr


def test_no_indicators_exits_2(log: Path) -> None:
    result = balai_scan(log)
    assert result.exit_code == 2
    assert "no indicators" in result.stderr


def test_no_log_named_exits_2(indicators: Path) -> None:
    result = balai_scan("--indicators", indicators)
    assert result.exit_code == 2
    assert "name at least one log file or folder" in result.stderr
