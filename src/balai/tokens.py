"""Random tokens and their stored hashes.

Tokens we hand out (session cookies, API keys, reset and acknowledgement links) carry at
least 128 bits of randomness, so a fast SHA-256 is enough to store them: unlike
passwords, they cannot be guessed from a dictionary, and hashing must stay cheap because
an API key is checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud, typed by hand


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(token: str, stored: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), stored)


def new_code(length: int = 10) -> str:
    """A short human-typable code, shown as XXXXX-XXXXX."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))
    return f"{raw[: length // 2]}-{raw[length // 2 :]}"


def normalise_code(code: str) -> str:
    """The canonical form of a typed code: upper case, separators restored."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{raw[: len(raw) // 2]}-{raw[len(raw) // 2 :]}"


def sign(secret: bytes, message: str) -> str:
    """An HMAC-SHA256 of message under the instance secret."""
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
