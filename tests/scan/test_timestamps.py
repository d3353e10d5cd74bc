"""The time read off a log line, for an indicator's first and last seen in a scan."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from balai.scan.timestamps import line_time
from tests.shared_data import shared

NOW = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1521911720.865716\tCqKst53mF3det3eDV9\t10.47.1.100", "2018-03-24T17:15:20.865716"),
        ('{"ts":1521911720.5,"uid":"CqKst53mF3det3eDV9"}', "2018-03-24T17:15:20.500000"),
        ("2024-02-29T23:30:00+07:00 GET /", "2024-02-29T16:30:00"),
        ("2024-02-29 23:30:00,123 INFO started", "2024-02-29T23:30:00"),
        ("2024-02-29T23:30:00Z level=info", "2024-02-29T23:30:00"),
        ('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200', "2000-10-10T20:55:36"),
        ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok", "2005-12-04T04:47:44"),
        # syslog has no year: this year's date, or last year's when that would be in the future
        ("Jan  4 06:55:46 host sshd[1]: ok", "2024-01-04T06:55:46"),
        ("Dec 10 06:55:46 host sshd[1]: ok", "2023-12-10T06:55:46"),
    ],
)
def test_line_time_reads_the_common_formats_as_utc(line: str, expected: str) -> None:
    assert line_time(line, now=NOW) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "line", ["no time here", "2024-13-45T00:00:00Z broken", "[10.30 16:49:06] chrome.exe"]
)
def test_line_time_is_none_without_a_known_time(line: str) -> None:
    assert line_time(line, now=NOW) is None


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("logs/Apache_2k.log", datetime(2005, 12, 4, 4, 47, 44, tzinfo=UTC)),
        ("logs/OpenSSH_2k.log", datetime(2023, 12, 10, 6, 55, 46, tzinfo=UTC)),
    ],
)
def test_line_time_of_real_first_lines(log: str, expected: datetime) -> None:
    first = shared(log).read_text(encoding="utf-8").splitlines()[0]
    assert line_time(first, now=NOW) == expected
