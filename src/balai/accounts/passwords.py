"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from balai.errors import ValidationFailed

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that timing does not reveal it.
_DUMMY_HASH = _hasher.hash("balai-no-such-account")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether the password matches; always spends the same effort."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored)


def check_password_policy(password: str, *, email: str, min_length: int, loc: str) -> None:
    """Refuse short passwords and ones that contain the e-mail address."""
    if len(password) < min_length:
        raise ValidationFailed.one(loc, f"must be at least {min_length} characters")
    if len(password) > 1024:
        raise ValidationFailed.one(loc, "must be at most 1024 characters")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        raise ValidationFailed.one(loc, "must not contain your e-mail address")
