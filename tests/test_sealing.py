"""Sealed secrets: one key per purpose, and peers' credentials stored before still open."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from balai import sealing
from balai.config import Settings, load_settings
from balai.errors import ValidationFailed
from balai.federation import secrets
from tests.conftest import SECRET


def _settings() -> Settings:
    return load_settings(secret_key=SECRET, database_url="sqlite:///:memory:")


def _fernet_as_federation_made_it(settings: Settings) -> Fernet:
    """The key derivation federation used before sealing was shared: it must not change."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"balai federation")
    return Fernet(base64.urlsafe_b64encode(key.derive(settings.secret)))


def test_a_value_opens_only_for_its_purpose_and_key() -> None:
    settings = _settings()
    sealed = sealing.seal(settings, "whsec_abc", purpose=sealing.WEBHOOK)
    assert "whsec_abc" not in sealed
    assert sealing.unseal(settings, sealed, purpose=sealing.WEBHOOK) == "whsec_abc"
    with pytest.raises(sealing.Unreadable):
        sealing.unseal(settings, sealed, purpose=sealing.FEDERATION)
    rotated = settings.model_copy(update={"secret_key": SecretStr("r" * 40)})
    with pytest.raises(sealing.Unreadable):
        sealing.unseal(rotated, sealed, purpose=sealing.WEBHOOK)


def test_peer_credentials_sealed_before_the_move_still_open_and_the_other_way_round() -> None:
    settings = _settings()
    old = _fernet_as_federation_made_it(settings)
    stored = old.encrypt(b"balai_0123_peer-key").decode()
    assert secrets.unseal(settings, stored) == "balai_0123_peer-key"
    assert old.decrypt(secrets.seal(settings, "peer-secret").encode()) == b"peer-secret"


def test_a_federation_credential_under_another_key_is_a_clear_error() -> None:
    settings = _settings()
    sealed = secrets.seal(settings, "peer-secret")
    rotated = settings.model_copy(update={"secret_key": SecretStr("r" * 40)})
    with pytest.raises(ValidationFailed, match="enter the peer's credential again"):
        secrets.unseal(rotated, sealed)
