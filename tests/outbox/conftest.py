"""Fixtures of the outbox tests: a real webhook receiver on loopback, and settings for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from balai.config import Settings
from tests.webhooks import WebhookReceiver


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[WebhookReceiver]:
    """A real HTTP receiver on loopback for the whole run."""
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def receiver(webhook_server: WebhookReceiver) -> WebhookReceiver:
    """The receiver, emptied for this test."""
    webhook_server.clear()
    return webhook_server


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Settings that let webhooks reach the loopback receiver over plain HTTP."""
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_allow_http": True})
