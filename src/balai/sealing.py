"""Secrets Balai must send on, encrypted at rest with a key derived from BALAI_SECRET_KEY.

Balai's own credentials (passwords, API keys) are stored hashed. A secret that Balai has to
use again (a federation peer's credential, a webhook subscription's signing secret) cannot be
hashed, so it is sealed: Fernet (AES-128-CBC with HMAC-SHA256) under a key derived by HKDF
from the secret key, with the purpose as HKDF's info, so that a value sealed for one purpose
cannot be unsealed for another. Rotating BALAI_SECRET_KEY makes sealed values unreadable.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from balai.config import Settings

FEDERATION = b"balai federation"  # peers' credentials; stored values depend on this exact text
WEBHOOK = b"balai webhook"  # webhook subscriptions' signing secrets


class Unreadable(Exception):
    """A sealed value cannot be opened: sealed under another secret key or for another purpose."""


def _fernet(settings: Settings, purpose: bytes) -> Fernet:
    derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
    return Fernet(base64.urlsafe_b64encode(derive.derive(settings.secret)))


def seal(settings: Settings, plain: str, *, purpose: bytes) -> str:
    """Encrypt a secret for storage, for one purpose."""
    return _fernet(settings, purpose).encrypt(plain.encode()).decode()


def unseal(settings: Settings, sealed: str, *, purpose: bytes) -> str:
    """Decrypt a stored secret sealed for this purpose; raise Unreadable if it cannot be."""
    try:
        return _fernet(settings, purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise Unreadable("cannot be read with this BALAI_SECRET_KEY") from None
