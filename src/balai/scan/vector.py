"""Token hashing with NumPy: the scanner's fast path.

A chunk of log text, translated so that every byte that cannot be part of an indicator is a
space, becomes a byte array. Token boundaries, a polynomial hash of every token (and of every
part of a token after a dot or an @, for parent domains) and a two-bit Bloom filter test are
whole-array operations, so the interpreter runs a few dozen NumPy calls per chunk instead of a
loop per token. What passes the filter (a handful per megabyte) is checked exactly in Python.

Hashes are sums of byte * P**i modulo 2**64 (the arithmetic of uint64 arrays); a span's hash is
read off the prefix sums and shifted to start at power 0 with the inverse of P. Collisions and
false positives of the filter only cost a look-up: nothing is decided on a hash alone.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]

_P = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_MASK = (1 << 64) - 1


def _inverse(p: int) -> int:
    x = p
    for _ in range(7):  # Newton's iteration doubles the correct low bits each time
        x = (x * (2 - p * x)) & _MASK
    return x


_PINV = _inverse(_P)


class Powers:
    """P**i and P**-i modulo 2**64, grown on demand."""

    def __init__(self, size: int = 1 << 20) -> None:
        self.up: U64 = np.empty(0, dtype=np.uint64)
        self.down: U64 = np.empty(0, dtype=np.uint64)
        self.ensure(size)

    def ensure(self, size: int) -> None:
        """Have powers for spans up to ``size`` bytes."""
        if len(self.up) > size:
            return
        size = max(size + 1, 2 * len(self.up))
        with np.errstate(over="ignore"):
            up = np.cumprod(np.full(size, _P, dtype=np.uint64))
            down = np.cumprod(np.full(size, _PINV, dtype=np.uint64))
        self.up = np.concatenate((np.ones(1, dtype=np.uint64), up[:-1]))
        self.down = np.concatenate((np.ones(1, dtype=np.uint64), down[:-1]))


POWERS = Powers()


class Spans:
    """The tokens of a translated chunk: starts, ends, and hashes of any spans."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.codes: U8 = np.frombuffer(text, dtype=np.uint8)
        size = len(self.codes)
        POWERS.ensure(size)
        inside = self.codes > 32  # separators are the space and the line end
        edges = np.diff(inside.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        self.starts: I64 = np.flatnonzero(edges == 1)
        self.ends: I64 = np.flatnonzero(edges == -1)
        with np.errstate(over="ignore"):
            prefix = np.empty(size + 1, dtype=np.uint64)
            prefix[0] = 0
            np.cumsum(self.codes.astype(np.uint64) * POWERS.up[:size], out=prefix[1:])
        self.prefix: U64 = prefix
        self.dot_at: I64 = np.empty(0, dtype=np.int64)  # set by the matcher: where dots are

    def hashes(self, starts: I64, ends: I64) -> U64:
        """The hash of each span [start, end)."""
        with np.errstate(over="ignore"):
            result: U64 = (self.prefix[ends] - self.prefix[starts]) * POWERS.down[starts]
        return result


def hash_values(values: list[bytes]) -> U64:
    """Hashes of values that hold no separator, computed as if they were tokens of a log."""
    return hash_joined(b"\n".join(values))


def hash_joined(joined: bytes, piece: int = 1 << 20) -> U64:
    """Hashes of the values in a text of one value a line, a piece of lines at a time."""
    found: list[U64] = []
    start, size = 0, len(joined)
    while start < size:
        end = joined.find(b"\n", min(start + piece, size) - 1)
        end = size if end < 0 else end + 1
        spans = Spans(joined[start:end])
        found.append(spans.hashes(spans.starts, spans.ends))
        start = end
    return np.concatenate(found) if found else np.empty(0, dtype=np.uint64)


class Bloom:
    """A Bloom filter of 64-bit hashes with two probes into one bit array of 2**bits bits."""

    def __init__(self, bits: int = 27) -> None:
        self.bits = bits
        self.table: U8 = np.zeros(1 << (bits - 3), dtype=np.uint8)
        self.count = 0

    def _probes(self, hashes: U64) -> tuple[I64, I64]:
        top = (hashes >> np.uint64(64 - self.bits)).astype(np.int64)
        low = (hashes & np.uint64((1 << self.bits) - 1)).astype(np.int64)
        return top, low

    def add(self, hashes: U64) -> None:
        """Add hashes."""
        for probe in self._probes(hashes):
            np.bitwise_or.at(self.table, probe >> 3, (1 << (probe & 7)).astype(np.uint8))
        self.count += len(hashes)

    def may_hold(self, hashes: U64) -> npt.NDArray[np.bool_]:
        """Which hashes may have been added (no false negatives)."""
        top, low = self._probes(hashes)
        result: npt.NDArray[np.bool_] = ((self.table[top >> 3] >> (top & 7)) & 1).astype(bool)
        passed = np.flatnonzero(result)  # the second probe only for what passed the first
        low = low[passed]
        result[passed] = ((self.table[low >> 3] >> (low & 7)) & 1).astype(bool)
        return result
