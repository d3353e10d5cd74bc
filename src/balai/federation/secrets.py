"""Peers' credentials, sealed at rest (see balai.sealing).

Unlike Balai's own API keys, which are stored hashed, a peer's credential must be sent to
the peer, so it is kept encrypted and decrypted only to make a request. Rotating
BALAI_SECRET_KEY means entering peers' credentials again.
"""

from __future__ import annotations

from balai import sealing
from balai.config import Settings
from balai.errors import ValidationFailed


def seal(settings: Settings, plain: str) -> str:
    """Encrypt a credential for storage."""
    return sealing.seal(settings, plain, purpose=sealing.FEDERATION)


def unseal(settings: Settings, sealed: str) -> str:
    """Decrypt a stored credential; a changed secret key is a clear error."""
    try:
        return sealing.unseal(settings, sealed, purpose=sealing.FEDERATION)
    except sealing.Unreadable:
        raise ValidationFailed.one(
            "secret", "cannot be read with this BALAI_SECRET_KEY: enter the peer's credential again"
        ) from None
