"""Scanning files: find them, cut large ones into pieces of whole lines, scan the pieces in
parallel worker processes, and put the hits back in file and line order.

Workers are forked after the indicators are loaded, so they share the parent's copy of the
indicator set (copy-on-write) instead of each loading its own.
"""

from __future__ import annotations

import bz2
import gc
import gzip
import lzma
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast

from balai.scan.matcher import Hit, IndicatorSet, Matcher

CHUNK_SIZE = 8 << 20
PIECE_SIZE = 64 << 20
COMPRESSED = (".gz", ".bz2", ".xz")


class ScanError(Exception):
    """A path that cannot be scanned, said with the path."""


class Piece(NamedTuple):
    """Part of a file: whole lines from byte ``start`` to ``end`` (-1: to the end)."""

    path: str
    start: int
    end: int
    size: int


@dataclass
class PieceResult:
    """What a worker found in a piece; line numbers count from the piece's first line."""

    piece: Piece
    lines: int
    hits: list[Hit]


@dataclass
class FileHit:
    """A hit with its file and its line number in the whole file."""

    file: str
    hit: Hit


def find_files(paths: Iterable[str]) -> list[Path]:
    """The files named and the files under the folders named, in a stable order."""
    found: dict[Path, Path] = {}  # by resolved path: a file named twice is scanned once
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for inside in sorted(path.rglob("*")):
                if inside.is_file() and not inside.name.startswith("."):
                    found.setdefault(inside.resolve(), inside)
        elif path.is_file():
            found.setdefault(path.resolve(), path)
        else:
            raise ScanError(f"{raw}: no such file or folder")
    return list(found.values())


def split_file(path: Path, piece_size: int = PIECE_SIZE) -> list[Piece]:
    """A plain file as pieces of whole lines; a compressed one as a single piece."""
    size = path.stat().st_size
    name = str(path)
    if path.suffix in COMPRESSED or size <= piece_size:
        return [Piece(name, 0, -1, size)]
    pieces = []
    with path.open("rb") as stream:
        start = 0
        while start < size:
            stream.seek(min(start + piece_size, size))
            stream.readline()
            end = min(stream.tell(), size)
            pieces.append(Piece(name, start, end, end - start))
            start = end
    return pieces


def _open(piece: Piece) -> BinaryIO:
    suffix = Path(piece.path).suffix
    if suffix == ".gz":
        return cast(BinaryIO, gzip.open(piece.path, "rb"))
    if suffix == ".bz2":
        return cast(BinaryIO, bz2.open(piece.path, "rb"))
    if suffix == ".xz":
        return cast(BinaryIO, lzma.open(piece.path, "rb"))
    stream = open(piece.path, "rb")  # noqa: SIM115  # closed by the caller's with-block
    stream.seek(piece.start)
    return stream


def read_lines(piece: Piece, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The piece's text in chunks that end at a line end."""
    remaining = piece.end - piece.start if piece.end >= 0 else -1
    carry = b""
    with _open(piece) as stream:
        while remaining:
            block = stream.read(chunk_size if remaining < 0 else min(chunk_size, remaining))
            if not block:
                break
            if remaining > 0:
                remaining -= len(block)
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                carry += block
                continue
            yield carry + block[:cut]
            carry = block[cut:]
    if carry:
        yield carry


def scan_piece(matcher: Matcher, piece: Piece) -> PieceResult:
    """Scan one piece with the given matcher."""
    hits: list[Hit] = []
    lines = 0
    try:
        for chunk in read_lines(piece):
            hits.extend(matcher.scan(chunk, lines + 1))
            lines += chunk.count(b"\n")
            if not chunk.endswith(b"\n"):
                lines += 1
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
        raise ScanError(f"{piece.path}: {error}") from error
    return PieceResult(piece, lines, hits)


_WORKER_MATCHER: Matcher | None = None


def _worker_scan(piece: Piece) -> PieceResult:
    assert _WORKER_MATCHER is not None  # set in the parent before the fork
    return scan_piece(_WORKER_MATCHER, piece)


def scan_files(
    indicators: IndicatorSet,
    files: list[Path],
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Iterator[FileHit]:
    """Every hit in the files, in file and line order; ``progress`` gets bytes done."""
    global _WORKER_MATCHER
    pieces = [piece for path in files for piece in split_file(path)]
    matcher = Matcher(indicators)
    if jobs <= 1 or len(pieces) <= 1:
        results: Iterable[PieceResult] = (scan_piece(matcher, piece) for piece in pieces)
        yield from _in_order(results, progress)
        return
    _WORKER_MATCHER = matcher
    # The indicator set is built; nothing in it will be freed, so the collector need not walk
    # it (walking touches every page and undoes the sharing of a fork).
    gc.freeze()
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            # The longest pieces start first (a compressed file is one piece, and the slowest),
            # so that no worker is left with a big one at the end; results are still taken
            # in file order.
            futures: dict[Piece, Future[PieceResult]] = {}
            for piece in sorted(pieces, key=_expected_work, reverse=True):
                futures[piece] = pool.submit(_worker_scan, piece)
                if progress is not None:
                    futures[piece].add_done_callback(_report_done(progress, piece.size))
            yield from _in_order((futures[piece].result() for piece in pieces), None)
    finally:
        _WORKER_MATCHER = None
        gc.unfreeze()


def _report_done(
    progress: Callable[[int], None], size: int
) -> Callable[[Future[PieceResult]], None]:
    return lambda _done: progress(size)


def _expected_work(piece: Piece) -> int:
    """Bytes to scan, roughly: a compressed file holds about five times its size."""
    return piece.size * (5 if Path(piece.path).suffix in COMPRESSED else 1)


def _in_order(
    results: Iterable[PieceResult], progress: Callable[[int], None] | None
) -> Iterator[FileHit]:
    """Give piece results absolute line numbers; results arrive in piece order."""
    current, lines_before = "", 0
    for result in results:
        if result.piece.path != current:
            current, lines_before = result.piece.path, 0
        for hit in result.hits:
            yield FileHit(current, hit._replace(line=hit.line + lines_before))
        lines_before += result.lines
        if progress is not None:
            progress(result.piece.size)


def cpu_count() -> int:
    """Processors this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
