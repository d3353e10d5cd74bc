"""Scanning files: line numbers across chunks and pieces, worker processes, compressed files.

``read_lines`` and ``split_file`` take their sizes as default arguments, bound when the module
is imported, so monkeypatching ``CHUNK_SIZE`` or ``PIECE_SIZE`` would change nothing: the tests
wrap the two functions instead, and check that the small sizes really were used.
"""

from __future__ import annotations

import bz2
import gzip
import ipaddress
import itertools
import lzma
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from balai.scan import engine
from balai.scan.engine import FileHit, Piece, ScanError, find_files, read_lines, split_file
from balai.scan.indicators import load_file
from balai.scan.matcher import IndicatorSet
from tests.shared_data import shared

MD5 = "0749bae92ca336a02c83d126e04ec628"
INDICATORS = [
    "1.2.3.4",
    "45.33.32.0/24",
    "evil.com",
    MD5,
    "alice@phish.example",
    "2001:db8::1",
    "http://bad.example/dl",
]
# Each word a generated line may hold, with the (indicator, matched text) hits it must give.
MATCHING: dict[str, list[tuple[str, str]]] = {
    "1.2.3.4": [("1.2.3.4", "1.2.3.4")],
    "1.2.3.4:443": [("1.2.3.4", "1.2.3.4")],
    "45.33.32.7": [("45.33.32.0/24", "45.33.32.7")],
    "45.33.32.255": [("45.33.32.0/24", "45.33.32.255")],
    "a.b.evil.com": [("evil.com", "a.b.evil.com")],
    "EVIL.COM": [("evil.com", "EVIL.COM")],
    MD5.upper(): [(MD5, MD5.upper())],
    "ALICE@phish.example": [("alice@phish.example", "ALICE@phish.example")],
    "[2001:DB8::0001]:80": [("2001:db8::1", "2001:DB8::0001")],
    "http://bad.example/dl": [("http://bad.example/dl", "http://bad.example/dl")],
}
NEAR_MISSES = [
    "11.2.3.45",
    "1.2.3.45",
    "notevil.com",
    "evil.com.au",
    "a" + MD5,
    "45.33.33.0",
    "http://bad.example/other",
    "bob@phish.example",
    "2001:db8::10",
]
FILLER = [
    "Dec",
    "10",
    "06:55:46",
    "LabSZ",
    "sshd[24200]:",
    "Accepted",
    "password",
    "for",
    "root",
    "from",
    "port",
    "38926",
    "ssh2",
    'GET "/index.html"',
    "200",
    "-",
]
Found = tuple[int, str, str]


def generated_log(seed: int, lines: int = 3000, final_newline: bool = True) -> bytes:
    """Log-like lines of filler with planted indicators and near misses; some end in CRLF."""
    rng = random.Random(seed)
    positives, out = list(MATCHING), []
    for _ in range(lines):
        words = []
        for _ in range(rng.randrange(0, 30)):
            roll = rng.random()
            pool = positives if roll < 0.08 else NEAR_MISSES if roll < 0.16 else FILLER
            words.append(rng.choice(pool))
        out.append(" ".join(words) + ("\r" if rng.random() < 0.1 else ""))
    text = "\n".join(out) + ("\n" if final_newline else "")
    return text.encode()


def reference(data: bytes) -> list[Found]:
    """The expected hits, found line by line from the words each line was made of."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    expected: list[Found] = []
    for number, line in enumerate(lines, start=1):
        for word in line.decode().split():
            expected.extend((number, indicator, text) for indicator, text in MATCHING.get(word, []))
    return sorted(expected)


def indicator_set(tmp_path: Path, values: list[str]) -> IndicatorSet:
    listing = tmp_path / "indicators.txt"
    listing.write_text("\n".join(values) + "\n")
    loaded = load_file(listing, include_warninglisted=True)
    assert loaded.values == len(values)
    return loaded.indicators


def found(hits: list[FileHit]) -> list[Found]:
    return sorted((h.hit.line, h.hit.indicator, h.hit.text) for h in hits)


def small_sizes(monkeypatch: pytest.MonkeyPatch, chunk_size: int, piece_size: int) -> list[int]:
    """Make the engine read ``chunk_size`` bytes at a time in pieces of ``piece_size``.

    Returns the list that collects the size of every chunk read in this process.
    """
    chunks: list[int] = []
    original_read, original_split = engine.read_lines, engine.split_file

    def reading(piece: Piece, size: int = chunk_size) -> Iterator[bytes]:
        for chunk in original_read(piece, size):
            chunks.append(len(chunk))
            yield chunk

    def splitting(path: Path, size: int = piece_size) -> list[Piece]:
        return original_split(path, size)

    monkeypatch.setattr(engine, "read_lines", reading)
    monkeypatch.setattr(engine, "split_file", splitting)
    return chunks


@pytest.mark.parametrize("final_newline", [True, False])
def test_line_numbers_agree_with_a_per_line_reference_across_chunks_and_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, final_newline: bool
) -> None:
    data = generated_log(seed=7, final_newline=final_newline)
    log = tmp_path / "app.log"
    log.write_bytes(data)
    chunks = small_sizes(monkeypatch, chunk_size=64, piece_size=4096)
    pieces = engine.split_file(log)
    hits = list(engine.scan_files(indicator_set(tmp_path, INDICATORS), [log], jobs=1))
    expected = reference(data)
    assert len(pieces) > 20
    assert len(chunks) > 1000
    assert len(expected) > 500
    assert found(hits) == expected
    assert [h.hit.line for h in hits] == sorted(h.hit.line for h in hits)
    lines = data.decode().split("\n")
    assert all(h.hit.line_text == lines[h.hit.line - 1].rstrip("\r") for h in hits)


def test_two_jobs_give_the_same_hits_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = []
    for seed in (1, 2):
        log = tmp_path / f"app{seed}.log"
        log.write_bytes(generated_log(seed, lines=2000))
        logs.append(log)
    small_sizes(monkeypatch, chunk_size=256, piece_size=8192)
    indicators = indicator_set(tmp_path, INDICATORS)
    one = list(engine.scan_files(indicators, logs, jobs=1))
    two = list(engine.scan_files(indicators, logs, jobs=2))
    assert len(one) > 300
    assert two == one
    assert [h.file for h in one] == sorted(h.file for h in one)
    assert found([h for h in two if h.file == str(logs[1])]) == reference(logs[1].read_bytes())


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_files_give_the_same_hits_as_the_plain_file(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    data = generated_log(seed=3, lines=1500)
    plain = tmp_path / "app.log"
    plain.write_bytes(data)
    packed = tmp_path / f"app.log{suffix}"
    packed.write_bytes(compress(data))
    indicators = indicator_set(tmp_path, INDICATORS)
    from_plain = list(engine.scan_files(indicators, [plain]))
    from_packed = list(engine.scan_files(indicators, [packed], jobs=2))
    assert {h.file for h in from_packed} == {str(packed)}
    assert [h.hit for h in from_packed] == [h.hit for h in from_plain]
    assert found(from_packed) == reference(data)


def test_a_damaged_compressed_file_is_an_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "app.log.gz"
    broken.write_bytes(gzip.compress(generated_log(seed=4, lines=200))[:-40])
    with pytest.raises(ScanError, match=re.escape(str(broken))):
        list(engine.scan_files(indicator_set(tmp_path, INDICATORS), [broken]))


def test_corrupt_deflate_data_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """The first deflate block of the member has the reserved type 3 ("invalid block type")."""
    broken = tmp_path / "app.log.gz"
    packed = bytearray(gzip.compress(generated_log(seed=4, lines=200)))
    packed[10] = 0x07  # gzip.compress writes a 10-byte header: no name, no extra fields
    broken.write_bytes(bytes(packed))
    with pytest.raises(ScanError, match=re.escape(str(broken))):
        list(engine.scan_files(indicator_set(tmp_path, INDICATORS), [broken]))


def test_a_file_named_twice_keeps_its_own_line_numbers(tmp_path: Path) -> None:
    """``balai scan logs/ logs/z.log``: z.log comes last from the folder and again by name."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("clean\n")
    (logs / "z.log").write_text("first\nfrom 1.2.3.4\nthird\n")
    files = find_files([str(logs), str(logs / "z.log")])
    hits = list(engine.scan_files(indicator_set(tmp_path, INDICATORS), files))
    assert hits
    assert {(h.file, h.hit.line, h.hit.line_text) for h in hits} == {
        (str(logs / "z.log"), 2, "from 1.2.3.4")
    }


def test_empty_files_between_others_change_nothing(tmp_path: Path) -> None:
    empty, log = tmp_path / "empty.log", tmp_path / "app.log"
    empty.write_bytes(b"")
    log.write_bytes(b"x\nfrom 1.2.3.4\n")
    indicators = indicator_set(tmp_path, INDICATORS)
    for jobs in (1, 2):
        hits = list(engine.scan_files(indicators, [empty, log, empty], jobs=jobs))
        assert [(h.file, h.hit.line) for h in hits] == [(str(log), 2)]


def test_progress_reports_every_byte_of_every_file(tmp_path: Path) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    for seed, log in enumerate(logs):
        log.write_bytes(generated_log(seed, lines=300))
    done: list[int] = []
    list(engine.scan_files(indicator_set(tmp_path, INDICATORS), logs, progress=done.append))
    assert sum(done) == sum(log.stat().st_size for log in logs)


@pytest.mark.parametrize("piece_size", [1, 100, 4096, 10**9])
def test_split_file_cuts_whole_lines_covering_the_file(tmp_path: Path, piece_size: int) -> None:
    data = generated_log(seed=5, lines=400, final_newline=False)
    log = tmp_path / "app.log"
    log.write_bytes(data)
    pieces = split_file(log, piece_size)
    if piece_size >= len(data):
        assert pieces == [Piece(str(log), 0, -1, len(data))]
        return
    assert pieces[0].start == 0
    assert pieces[-1].end == len(data)
    for before, after in itertools.pairwise(pieces):
        assert before.end == after.start
        assert data[before.end - 1 : before.end] == b"\n"
    assert all(p.size == p.end - p.start > 0 for p in pieces)
    assert b"".join(data[p.start : p.end] for p in pieces) == data


def test_a_compressed_file_is_one_piece(tmp_path: Path) -> None:
    packed = tmp_path / "app.log.gz"
    packed.write_bytes(gzip.compress(generated_log(seed=6, lines=400)))
    assert split_file(packed, piece_size=16) == [Piece(str(packed), 0, -1, packed.stat().st_size)]


def test_read_lines_gives_chunks_of_whole_lines(tmp_path: Path) -> None:
    data = b"short\n" + b"x" * 300 + b"\n\nlast line without end"
    log = tmp_path / "app.log"
    log.write_bytes(data)
    chunks = list(read_lines(Piece(str(log), 0, -1, len(data)), chunk_size=7))
    assert b"".join(chunks) == data
    assert all(chunk.endswith(b"\n") for chunk in chunks[:-1])
    assert any(chunk.startswith(b"x" * 300 + b"\n") for chunk in chunks)


def test_find_files_walks_folders_in_a_stable_order(tmp_path: Path) -> None:
    for name in ("b/2.log", "b/1.log.gz", "a.log", "b/.hidden", "b/c/3.log"):
        path = tmp_path / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    single = tmp_path / "single.log"
    single.write_text("x\n")
    names = find_files([str(tmp_path / "logs"), str(single)])
    assert [p.relative_to(tmp_path).as_posix() for p in names] == [
        "logs/a.log",
        "logs/b/1.log.gz",
        "logs/b/2.log",
        "logs/b/c/3.log",
        "single.log",
    ]


def test_find_files_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"nothing-here\.log: no such file or folder"):
        find_files([str(tmp_path / "nothing-here.log")])


def test_openssh_log_hits_are_on_the_lines_grep_finds(tmp_path: Path) -> None:
    """Real loghub OpenSSH lines (CRLF endings): every occurrence, on its 1-based line."""
    log = shared("logs/OpenSSH_2k.log")
    address = re.compile(rb"(?<![\w.])173\.234\.31\.186(?![\w.])")
    host = re.compile(rb"(?<![\w.-])ns\.marryaldkfaczcz\.com(?![\w-])", re.I)
    expected = []
    for number, line in enumerate(log.read_bytes().split(b"\n"), start=1):
        expected += [(number, "173.234.31.186")] * len(address.findall(line))
        expected += [(number, "marryaldkfaczcz.com")] * len(host.findall(line))
    indicators = indicator_set(tmp_path, ["173.234.31.186", "marryaldkfaczcz.com"])
    hits = list(engine.scan_files(indicators, [log]))
    assert len(expected) == 12
    assert sorted((h.hit.line, h.hit.indicator) for h in hits) == sorted(expected)
    assert {h.hit.text for h in hits} == {"173.234.31.186", "ns.marryaldkfaczcz.com"}


def test_zeek_dns_log_gz_hits_agree_with_its_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Zeek TSV (WRCCDC 2018): compressed, plain in pieces with two jobs, field by field.

    About a second: it reads the 10 MB log three times (twice scanning, once splitting fields).
    """
    packed = shared("logs/zeek-dns.log.gz")
    data = gzip.decompress(packed.read_bytes())
    network = ipaddress.ip_network("10.47.6.0/24")
    expected = []
    for number, line in enumerate(data.decode().split("\n"), start=1):
        for field in re.split(r"[\t,]", line):
            if field == "134.71.3.16":
                expected.append((number, field))
            elif field == "oompa.loompa" or field.endswith(".oompa.loompa"):
                expected.append((number, "oompa.loompa"))
            elif field.startswith("10.47.6.") and ipaddress.ip_address(field) in network:
                expected.append((number, "10.47.6.0/24"))
    indicators = indicator_set(tmp_path, ["134.71.3.16", "oompa.loompa", "10.47.6.0/24"])
    from_packed = [(h.hit.line, h.hit.indicator) for h in engine.scan_files(indicators, [packed])]
    plain = tmp_path / "dns.log"
    plain.write_bytes(data)
    small_sizes(monkeypatch, chunk_size=1 << 16, piece_size=1 << 20)
    from_plain = [(h.hit.line, h.hit.indicator) for h in engine.scan_files(indicators, [plain], 2)]
    assert len({indicator for _, indicator in expected}) == 3
    assert sorted(from_packed) == sorted(expected)
    assert from_plain == from_packed
