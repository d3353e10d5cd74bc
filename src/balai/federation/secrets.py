"""Peers' credentials, encrypted at rest with a key derived from BALAI_SECRET_KEY.

Unlike Balai's own API keys, which are stored hashed, a peer's credential must be sent to
the peer, so it is kept encrypted (Fernet: AES-128-CBC with HMAC-SHA256) and decrypted
only to make a request. Rotating BALAI_SECRET_KEY means entering peers' credentials again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from balai.config import Settings
from balai.errors import ValidationFailed


def _fernet(settings: Settings) -> Fernet:
    derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"balai federation")
    key = derive.derive(settings.secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Settings, plain: str) -> str:
    """Encrypt a credential for storage."""
    return _fernet(settings).encrypt(plain.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    """Decrypt a stored credential; a changed secret key is a clear error."""
    try:
        return _fernet(settings).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise ValidationFailed.one(
            "secret", "cannot be read with this BALAI_SECRET_KEY: enter the peer's credential again"
        ) from None
