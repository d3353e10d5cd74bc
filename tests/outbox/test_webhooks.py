"""Signed webhooks over real HTTP to a receiver on loopback: what arrives, how it verifies
(with standardwebhooks and with the recipes of docs/user/webhooks.md), retries, 410, refused
addresses, where the secret never goes, and batches that mix e-mail and webhooks."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from balai import __version__, sealing
from balai.accounts.models import Role
from balai.config import Settings
from balai.db import utcnow
from balai.outbox.delivery import SmtpTransport, deliver_batch
from balai.outbox.models import DeliveryAttempt, DeliveryStatus, OutboxMessage
from balai.outbox.service import enqueue_email, enqueue_webhook
from balai.outbox.webhooks import (
    WebhookTransport,
    compact_json,
    new_webhook_secret,
    seal_webhook_secret,
    signature_headers,
)
from tests.accounts.helpers import sign_in
from tests.conftest import session_on
from tests.factories import api_key_for, make_org, make_user
from tests.smtp import SmtpSink, free_port
from tests.web import client_for
from tests.webhooks import Call, WebhookReceiver, tls_contexts

DOC = Path(__file__).parents[2] / "docs" / "user" / "webhooks.md"
ALERT = {"title": "Ransomware «LockBit» seen in TH", "severity": 3, "tlp": "amber"}

Verify = Callable[[str, dict[str, str], bytes], bool]


def _hook(
    db: Session, settings: Settings, url: str, *, body: dict[str, Any] | None = None
) -> tuple[OutboxMessage, str]:
    secret = new_webhook_secret()
    message = enqueue_webhook(
        db,
        settings=settings,
        url=url,
        event="alert.created",
        body=body if body is not None else ALERT,
        secret_sealed=seal_webhook_secret(settings, secret),
    )
    return message, secret


def _deliver(connection: Connection, settings: Settings) -> int:
    return deliver_batch(
        lambda: session_on(connection),
        settings=settings,
        transport=SmtpTransport(settings),
        worker_id="test-worker",
    )


def _doc_block(language: str, marker: str) -> str:
    """The fenced block of docs/user/webhooks.md in this language that contains `marker`."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    return str(block)


def _doc_verify() -> Verify:
    """The verification function exactly as the user guide prints it."""
    namespace: dict[str, Any] = {}
    code = compile(_doc_block("python", "def verify("), str(DOC), "exec")
    exec(code, namespace)  # noqa: S102  # runs the documented recipe itself, from our own docs
    verify: Verify = namespace["verify"]
    return verify


def _outbox_holding(db: Session, needle: str) -> list[str]:
    """Every outbox_messages or delivery_attempts column whose stored value holds a string."""
    found = []
    for model in (OutboxMessage, DeliveryAttempt):
        for row in db.execute(select(model.__table__)).mappings():
            found += [
                f"{model.__tablename__}.{k}" for k, v in row.items() if v and needle in str(v)
            ]
    return found


def _attempts(db: Session, message: OutboxMessage) -> list[bool]:
    query = select(DeliveryAttempt.ok).where(DeliveryAttempt.message_id == message.id)
    return list(db.scalars(query.order_by(DeliveryAttempt.id)))


def _one_call(
    db: Session, connection: Connection, settings: Settings, receiver: WebhookReceiver
) -> tuple[OutboxMessage, str, Call]:
    message, secret = _hook(db, settings, receiver.url("/alerts"))
    db.commit()
    assert _deliver(connection, settings) == 1
    (call,) = receiver.calls
    return message, secret, call


def test_a_call_arrives_once_signed_and_verifies_with_the_library_and_the_recipe(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    message, secret, call = _one_call(db, connection, hook_settings, receiver)
    assert call.path == "/alerts"
    assert call.id == message.idempotency_key
    assert call.id.startswith("msg_")
    assert call.headers["content-type"] == "application/json"
    assert call.headers["user-agent"] == f"Balai/{__version__}"
    assert call.headers["webhook-timestamp"].isdigit()
    assert call.headers["webhook-signature"].startswith("v1,")
    envelope = json.loads(call.body)
    assert envelope["type"] == "alert.created"
    assert envelope["data"] == ALERT
    assert envelope["timestamp"].endswith("Z")
    assert call.body == compact_json(envelope).encode()  # compact, sorted keys
    assert "«LockBit»".encode() in call.body  # UTF-8 as is, not \u escapes

    assert Webhook(secret).verify(call.body, call.headers) == envelope
    assert _doc_verify()(secret, call.headers, call.body)

    db.refresh(message)
    assert message.status == DeliveryStatus.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    assert message.claimed_by is None
    assert set(message.payload) == {"event", "timestamp"}  # body and sealed secret are gone
    assert _attempts(db, message) == [True]
    assert _deliver(connection, hook_settings) == 0  # nothing is sent twice
    assert len(receiver.calls) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the shell recipe needs openssl")
def test_the_shell_recipe_computes_the_same_signature(
    connection: Connection,
    db: Session,
    hook_settings: Settings,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    _, secret, call = _one_call(db, connection, hook_settings, receiver)
    (tmp_path / "body.json").write_bytes(call.body)
    env = {
        **os.environ,
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_ID": call.id,
        "WEBHOOK_TIMESTAMP": call.headers["webhook-timestamp"],
    }
    script = _doc_block("sh", "openssl dgst")
    done = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == call.headers["webhook-signature"].removeprefix("v1,")


def test_a_tampered_body_an_old_timestamp_or_another_secret_fail_verification(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    _, secret, call = _one_call(db, connection, hook_settings, receiver)
    verify = _doc_verify()

    tampered = call.body.replace(b'"severity":3', b'"severity":1')
    assert tampered != call.body
    assert not verify(secret, call.headers, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, call.headers)

    replayed = {
        **call.headers,
        **signature_headers(secret, call.id, call.body.decode(), utcnow() - timedelta(minutes=6)),
    }
    assert not verify(secret, replayed, call.body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(call.body, replayed)
    resigned = {**call.headers, **signature_headers(secret, call.id, call.body.decode(), utcnow())}
    assert verify(secret, resigned, call.body)  # only the age made the replay fail

    other = new_webhook_secret()
    assert not verify(other, call.headers, call.body)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(call.body, call.headers)


def test_an_error_status_is_retried_with_exponential_backoff_until_it_is_delivered(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    receiver.answer("/flaky", 500, 503)
    message, secret = _hook(db, hook_settings, receiver.url("/flaky?token=in-the-query"))
    db.commit()
    for attempt, status in enumerate((500, 503), start=1):
        assert _deliver(connection, hook_settings) == 1
        db.refresh(message)
        assert message.status == DeliveryStatus.PENDING
        assert message.attempts == attempt
        # what happened and where, without the query (it may hold the receiver's token)
        assert message.last_error == f"HTTP {status} from {receiver.url('/flaky')}"
        failed_at = db.scalars(
            select(DeliveryAttempt.finished_at)
            .where(DeliveryAttempt.message_id == message.id)
            .order_by(DeliveryAttempt.id.desc())
        ).first()
        assert failed_at is not None
        backoff = hook_settings.outbox_backoff_seconds * 2 ** (attempt - 1)  # doubles each time
        assert message.next_attempt_at == failed_at + timedelta(seconds=backoff)
        message.next_attempt_at = utcnow()  # skip the wait
        db.commit()
    assert _deliver(connection, hook_settings) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.SENT
    assert message.attempts == 3
    assert message.last_error is None
    assert _attempts(db, message) == [False, False, True]
    calls = receiver.to("/flaky?token=in-the-query")
    assert [c.status for c in calls] == [500, 503, 200]
    assert {c.id for c in calls} == {message.idempotency_key}  # one webhook-id for all tries
    assert len({c.body for c in calls}) == 1  # the same body every time
    for c in calls:  # each try carries its own timestamp and a signature that matches it
        assert Webhook(secret).verify(c.body, c.headers)
    assert list(receiver.stored) == [message.idempotency_key]


def test_410_gone_gives_up_at_once(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    receiver.answer("/gone", 410)
    message, _ = _hook(db, hook_settings, receiver.url("/gone"))
    db.commit()
    assert _deliver(connection, hook_settings) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.DEAD
    assert message.attempts == 1
    assert message.last_error == (
        f"HTTP 410 Gone from {receiver.url('/gone')}: the receiver asked to stop"
    )
    assert _deliver(connection, hook_settings) == 0


def test_a_refused_connection_is_retried_with_a_clear_error(
    connection: Connection, db: Session, hook_settings: Settings
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    message, _ = _hook(db, hook_settings, url)
    db.commit()
    assert _deliver(connection, hook_settings) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.PENDING
    assert message.next_attempt_at > utcnow()
    assert message.last_error == f"connection refused by {url} (at 127.0.0.1)"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_private_address_is_refused_unless_allowed(
    connection: Connection,
    db: Session,
    settings: Settings,
    receiver: WebhookReceiver,
    host: str,
) -> None:
    strict = settings.model_copy(update={"webhook_allow_http": True})
    url = f"http://{host}:{receiver.port}/inside"
    message, _ = _hook(db, strict, url)
    db.commit()
    assert _deliver(connection, strict) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.DEAD
    assert message.attempts == 1
    error = message.last_error or ""
    assert error.startswith(f"{url} refused: ")
    assert "a loopback address (BALAI_WEBHOOK_ALLOW_PRIVATE is off)" in error
    assert receiver.calls == []  # refused before any connection


def test_the_demo_may_call_loopback_over_http(
    connection: Connection, db: Session, settings: Settings, receiver: WebhookReceiver
) -> None:
    demo = settings.model_copy(update={"demo": True})
    message, _ = _hook(db, demo, receiver.url("/demo"))
    db.commit()
    assert _deliver(connection, demo) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.SENT
    assert len(receiver.to("/demo")) == 1


def test_plain_http_is_refused_unless_allowed(
    connection: Connection, db: Session, settings: Settings, receiver: WebhookReceiver
) -> None:
    https_only = settings.model_copy(update={"webhook_allow_private": True})
    message, _ = _hook(db, https_only, receiver.url("/plain"))
    db.commit()
    assert _deliver(connection, https_only) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.DEAD
    assert (
        message.last_error == f"{receiver.url('/plain')} refused: the URL must start with https://"
    )
    assert receiver.calls == []


@pytest.mark.parametrize(
    "sealed_by",
    [
        "another secret key",
        "the federation's purpose",
    ],
)
def test_a_secret_that_cannot_be_unsealed_is_dead_with_a_clear_error(
    connection: Connection,
    db: Session,
    hook_settings: Settings,
    receiver: WebhookReceiver,
    sealed_by: str,
) -> None:
    secret = new_webhook_secret()
    if sealed_by == "another secret key":
        other = hook_settings.model_copy(update={"secret_key": SecretStr("k" * 40)})
        sealed = seal_webhook_secret(other, secret)
    else:
        sealed = sealing.seal(hook_settings, secret, purpose=sealing.FEDERATION)
    message = enqueue_webhook(
        db,
        settings=hook_settings,
        url=receiver.url("/x"),
        event="alert.created",
        body={},
        secret_sealed=sealed,
    )
    db.commit()
    assert _deliver(connection, hook_settings) == 1
    db.refresh(message)
    assert message.status == DeliveryStatus.DEAD
    assert message.last_error == "the signing secret cannot be read with this BALAI_SECRET_KEY"
    assert receiver.calls == []


def test_a_webhook_of_a_rolled_back_change_never_leaves(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    nested = db.begin_nested()
    _hook(db, hook_settings, receiver.url("/ghost"))
    nested.rollback()
    assert _deliver(connection, hook_settings) == 0
    assert receiver.calls == []


def test_enqueue_refuses_a_body_that_is_not_json_and_keeps_a_given_key(
    db: Session, hook_settings: Settings
) -> None:
    sealed = seal_webhook_secret(hook_settings, new_webhook_secret())
    with pytest.raises(TypeError):
        enqueue_webhook(
            db,
            settings=hook_settings,
            url="https://receiver.example/hook",
            event="alert.created",
            body={"when": utcnow()},
            secret_sealed=sealed,
        )
    message = enqueue_webhook(
        db,
        settings=hook_settings,
        url="https://receiver.example/hook",
        event="alert.created",
        body={},
        secret_sealed=sealed,
        idempotency_key="alert-42-sub-7",
        subject_type="alert",
        subject_id=42,
    )
    assert message.idempotency_key == "alert-42-sub-7"
    assert message.subject_id == "42"
    with pytest.raises(ValueError, match="idempotency key"):
        enqueue_webhook(
            db,
            settings=hook_settings,
            url="https://receiver.example/hook",
            event="alert.created",
            body={},
            secret_sealed=sealed,
            idempotency_key="x" * 201,
        )


def test_new_secrets_are_standard_webhooks_secrets_of_32_random_bytes() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(Webhook(first)._whsecret) == 32


def test_the_secret_is_never_logged_stored_in_clear_or_shown_and_the_body_goes_when_sent(
    connection: Connection,
    db: Session,
    hook_settings: Settings,
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answer("/down", 500)
    receiver.answer("/gone", 410)
    body = {"note": "BODY-MARKER-d41d8cd9"}
    sent, sent_secret = _hook(db, hook_settings, receiver.url("/ok"), body=body)
    failing, failing_secret = _hook(db, hook_settings, receiver.url("/down"), body=body)
    gone, gone_secret = _hook(db, hook_settings, receiver.url("/gone"), body=body)
    sealed = {m.idempotency_key: str(m.payload["secret"]) for m in (sent, failing, gone)}
    admin = make_user(db, make_org(db), role=Role.PLATFORM_ADMIN)
    key = api_key_for(db, admin)
    db.commit()
    assert _deliver(connection, hook_settings) == 3
    for message in (sent, failing, gone):
        db.refresh(message)
    assert (sent.status, failing.status, gone.status) == (
        DeliveryStatus.SENT,
        DeliveryStatus.PENDING,
        DeliveryStatus.DEAD,
    )

    secrets = [sent_secret, failing_secret, gone_secret, *sealed.values()]
    assert "HTTP 500 from" in caplog.text  # the failures were logged ...
    for secret in secrets:  # ... without a secret, sealed or not
        assert secret not in caplog.text
    assert "BODY-MARKER" not in caplog.text
    for secret in (sent_secret, failing_secret, gone_secret):
        assert _outbox_holding(db, secret) == []  # never stored in clear
    assert _outbox_holding(db, sealed[sent.idempotency_key]) == []  # gone once delivered
    assert _outbox_holding(db, sealed[failing.idempotency_key]) == ["outbox_messages.payload"]
    assert "body" not in sent.payload

    with client_for(connection, hook_settings) as client:
        sign_in(client, db, admin)
        page = client.get("/outbox")
        api = client.get("/api/v1/outbox", headers={"Authorization": f"Bearer {key}"})
    assert page.status_code == api.status_code == 200
    for secret in secrets:
        assert secret not in page.text
        assert secret not in api.text
    assert "BODY-MARKER" not in page.text + api.text
    for text in (receiver.url("/down"), "webhook", "alert.created", "HTTP 500 from", "dead"):
        assert text in page.text
    items = {item["idempotency_key"]: item for item in api.json()["items"]}
    shown = items[failing.idempotency_key]
    assert shown["channel"] == "webhook"
    assert shown["destination"] == receiver.url("/down")
    assert shown["event"] == "alert.created"
    assert shown["status"] == "pending"
    assert shown["attempts"] == 1
    assert shown["last_error"] == f"HTTP 500 from {receiver.url('/down')}"


def test_a_mixed_batch_delivers_its_webhooks_while_smtp_is_down_and_bad_receivers_fail_alone(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    down = hook_settings.model_copy(update={"smtp_port": free_port()})
    receiver.answer("/gone", 410)
    receiver.answer("/down", 500)
    good, mails = [], []
    for n in range(3):
        to = f"poc{n}@example.org"
        mails.append(enqueue_email(db, settings=down, to=to, subject="s", text="t"))
        good.append(_hook(db, down, receiver.url(f"/good{n}"))[0])
    refused = _hook(db, down, f"http://127.0.0.1:{free_port()}/nobody")[0]
    gone = _hook(db, down, receiver.url("/gone"))[0]
    failing = _hook(db, down, receiver.url("/down"))[0]
    db.commit()
    assert _deliver(connection, down) == 9
    for message in [*good, *mails, refused, gone, failing]:
        db.refresh(message)
    assert [m.status for m in good] == [DeliveryStatus.SENT] * 3
    assert set(receiver.stored) == {m.idempotency_key for m in good}
    for mail in mails:
        assert mail.status == DeliveryStatus.PENDING
        assert f"SMTP server 127.0.0.1:{down.smtp_port}" in (mail.last_error or "")
    assert refused.status == failing.status == DeliveryStatus.PENDING
    assert gone.status == DeliveryStatus.DEAD


def test_a_mixed_batch_sends_both_channels_and_reuses_connections(
    connection: Connection,
    db: Session,
    hook_settings: Settings,
    receiver: WebhookReceiver,
    mail: SmtpSink,
) -> None:
    fan_out = hook_settings.model_copy(update={"webhook_concurrency": 3})
    hooks = [_hook(db, fan_out, receiver.url("/fan"))[0] for _ in range(20)]
    mails = []
    for n in range(5):
        mails.append(
            enqueue_email(db, settings=fan_out, to=f"poc{n}@example.org", subject="s", text="t")
        )
        db.flush()  # one created_at each: messages queued in one flush may tie, in any order
    db.commit()
    assert _deliver(connection, fan_out) == 25
    assert set(receiver.stored) == {m.idempotency_key for m in hooks}
    assert receiver.duplicates == 0
    assert {m.message_id for m in mail.all()} == {m.idempotency_key for m in mails}
    assert [m.to for m in mail.all()] == [[f"poc{n}@example.org"] for n in range(5)]  # in order
    # At most three calls at a time, each over a kept-alive connection: at most three opened.
    assert len({c.peer for c in receiver.calls}) <= 3


def test_https_dials_the_checked_address_and_verifies_the_certificate_for_the_host_name(
    connection: Connection, db: Session, settings: Settings, tmp_path: Path
) -> None:
    server_tls, client_tls = tls_contexts(tmp_path, "localhost")
    receiver = WebhookReceiver(server_tls)
    receiver.start()
    try:
        https_only = settings.model_copy(update={"webhook_allow_private": True})
        by_name, secret = _hook(db, https_only, receiver.url("/tls", host="localhost"))
        by_address, _ = _hook(db, https_only, receiver.url("/tls", host="127.0.0.1"))
        db.commit()
        delivered = deliver_batch(
            lambda: session_on(connection),
            settings=https_only,
            transport=SmtpTransport(https_only),
            webhook_transport=WebhookTransport(https_only, tls=client_tls),
            worker_id="test-worker",
        )
    finally:
        receiver.stop()
    assert delivered == 2
    db.refresh(by_name)
    db.refresh(by_address)
    assert by_name.status == DeliveryStatus.SENT
    (call,) = receiver.calls
    assert call.headers["host"] == f"localhost:{receiver.port}"  # the name, not the address
    assert Webhook(secret).verify(call.body, call.headers)
    # The certificate names localhost: dialled by address, the same server is not trusted.
    assert by_address.status == DeliveryStatus.PENDING
    assert "CERTIFICATE_VERIFY_FAILED" in (by_address.last_error or "")


def test_a_receiver_that_trickles_its_answer_is_cut_off_and_holds_no_one_else_back(
    connection: Connection, db: Session, hook_settings: Settings, receiver: WebhookReceiver
) -> None:
    """About a second: the slow receiver must run past a (short) timeout."""
    quick = hook_settings.model_copy(update={"webhook_timeout_seconds": 0.5})
    receiver.trickled.add("/slow")
    slow, _ = _hook(db, quick, receiver.url("/slow"))
    fast = [_hook(db, quick, receiver.url(f"/fast{n}"))[0] for n in range(3)]
    db.commit()
    assert _deliver(connection, quick) == 4
    db.refresh(slow)
    assert slow.status == DeliveryStatus.PENDING
    assert slow.last_error == f"no complete answer from {receiver.url('/slow')} within 0.5 s"
    for message in fast:
        db.refresh(message)
        assert message.status == DeliveryStatus.SENT
