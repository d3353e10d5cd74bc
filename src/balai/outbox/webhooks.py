"""Signed webhooks: the body, its Standard Webhooks signature, the address guard, the sender.

A webhook call is a POST of compact JSON, signed by the Standard Webhooks scheme
(HMAC-SHA256 over `webhook-id.webhook-timestamp.body`, key = the subscription's `whsec_`
secret), so receivers verify it with any Standard Webhooks library or a few lines of their
own (docs/user/webhooks.md). The worker resolves each receiving host itself, refuses
addresses that are not public unless BALAI_WEBHOOK_ALLOW_PRIVATE, and connects only to the
address it checked, so a DNS answer that changes between the check and the connection
cannot smuggle a call into the network Balai runs in.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from balai import __version__, sealing
from balai.config import Settings
from balai.db import utcnow
from balai.outbox.channels import DeliveryFailed, Envelope

USER_AGENT = f"Balai/{__version__}"
SECRET_PREFIX = "whsec_"  # noqa: S105  # the Standard Webhooks prefix, not a secret
URL_MAX_LENGTH = 2000  # the outbox's destination column
_ANSWER_MAX_BYTES = 65_536  # read this much of an answer (for keep-alive), never more

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def new_webhook_secret() -> str:
    """A new signing secret for a subscription: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_webhook_secret(settings: Settings, secret: str) -> str:
    """A signing secret sealed for storage, as enqueue_webhook's secret_sealed wants it."""
    return sealing.seal(settings, secret, purpose=sealing.WEBHOOK)


def unseal_webhook_secret(settings: Settings, sealed: str) -> str:
    """The signing secret in a sealed value; raises sealing.Unreadable."""
    return sealing.unseal(settings, sealed, purpose=sealing.WEBHOOK)


def compact_json(value: object) -> str:
    """The one serialisation Balai signs and sends: compact, sorted keys, UTF-8 as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def webhook_body(payload: dict[str, Any]) -> str:
    """The body of a queued webhook: the Standard Webhooks envelope of type, time and data."""
    return compact_json(
        {"type": payload["event"], "timestamp": payload["timestamp"], "data": payload["body"]}
    )


def signature_headers(secret: str, msg_id: str, body: str, now: datetime) -> dict[str, str]:
    """The webhook-* headers of one attempt, signed at `now` (UTC)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


def shown_url(url: str) -> str:
    """A URL as errors and logs name it: scheme, host, port and path, without the query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


def _allows_http(settings: Settings) -> bool:
    return settings.webhook_allow_http or settings.demo


def _allows_private(settings: Settings) -> bool:
    return settings.webhook_allow_private or settings.demo


def url_problem(url: str, settings: Settings) -> str | None:
    """What is wrong with a webhook URL as written (scheme, credentials, host), or None."""
    if len(url) > URL_MAX_LENGTH:
        return f"is longer than {URL_MAX_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = httpx.URL(url).raw_host.decode("ascii")
    except (ValueError, httpx.InvalidURL):
        return "is not a valid URL"
    allowed = ("http", "https") if _allows_http(settings) else ("https",)
    if parts.scheme.lower() not in allowed:
        return "must start with " + " or ".join(f"{s}://" for s in allowed)
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if not host or not parts.hostname:
        return "has no host name"
    if port == 0:
        return "has an invalid port"
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why an address is not public ("a loopback address"), or None if it is."""
    embedded: ipaddress.IPv4Address | None = None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(address.packed[-4:])
    if embedded is not None and (inner := address_problem(embedded)) is not None:
        return f"{inner} inside an IPv6 address"
    kinds = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((kind for hit, kind in kinds if hit), None)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a host name (or address literal) stands for; raises OSError."""
    if _is_address(host):
        return [ipaddress.ip_address(host)]
    found: list[IPAddress] = []
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # an empty or overlong label: not a host name at all
        raise OSError(f"{host} is not a valid host name") from exc
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


def _refused(host: str, addresses: list[IPAddress]) -> str | None:
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            if _is_address(host):
                return f"{host} is {problem}"
            return f"{host} resolves to {address}, {problem}"
    return None


def check_webhook_url(url: str, settings: Settings) -> str | None:
    """Why Balai would refuse to call this URL, in words for a form, or None if it would not.

    Checks the URL as written, then (unless private addresses are allowed) resolves its host
    now; the worker checks again at every call, so a host that moves later is still caught.
    """
    problem = url_problem(url, settings)
    if problem is not None or _allows_private(settings):
        return problem
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")
    try:
        addresses = resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    except OSError:
        return f"{parsed.host} does not resolve"
    return _refused(parsed.host, addresses)


@dataclass
class _Route:
    """How to reach one origin during a batch: its checked addresses and connection pool."""

    addresses: list[IPAddress] = field(default_factory=list)
    client: httpx.Client | None = None
    failure: DeliveryFailed | None = None
    expired: bool = False  # a call overran its time: connections closed for this batch


class WebhookSender:
    """Calls webhooks for one batch; one keep-alive pool per receiving origin.

    httpx's timeout bounds each network operation, not a whole call, so a receiver that
    trickles its answer byte by byte could hold a call, and the batch, forever. A watchdog
    thread closes the connections of an origin whose call has run past the timeout; that
    call and the origin's later calls in the batch fail and are retried, and no other
    receiver waits on it.
    """

    def __init__(self, settings: Settings, tls: ssl.SSLContext) -> None:
        self._settings = settings
        self._tls = tls
        self._routes: dict[tuple[str, str, int], _Route] = {}
        self._calls: dict[int, tuple[float, _Route]] = {}  # started (monotonic), origin
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._watchdog = threading.Thread(
            target=self._watch, name="balai-webhook-watchdog", daemon=True
        )
        self._watchdog.start()

    def close(self) -> None:
        """Close every connection of the batch."""
        self._closing.set()
        self._watchdog.join()
        for route in self._routes.values():
            if route.client is not None:
                route.client.close()

    def _watch(self) -> None:
        limit = self._settings.webhook_timeout_seconds
        while not self._closing.wait(min(1.0, limit / 4)):
            now = time.monotonic()
            with self._lock:
                overdue = [r for started, r in self._calls.values() if now - started > limit]
                for route in overdue:
                    route.expired = True
            for route in overdue:
                if route.client is not None:
                    route.client.close()  # the overdue call's next read fails at once

    def send(self, envelope: Envelope) -> None:
        """Sign and POST one message; raise DeliveryFailed unless the receiver answered 2xx."""
        shown = shown_url(envelope.destination)
        problem = url_problem(envelope.destination, self._settings)
        if problem is not None:
            raise DeliveryFailed(f"{shown} refused: the URL {problem}", final=True)
        try:
            secret = unseal_webhook_secret(self._settings, str(envelope.payload["secret"]))
            Webhook(secret)  # a malformed secret fails here, not half-way through a request
        except (KeyError, ValueError, EmptyWebhookSecretError, sealing.Unreadable):
            raise DeliveryFailed(
                "the signing secret cannot be read with this BALAI_SECRET_KEY", final=True
            ) from None
        body = webhook_body(envelope.payload)
        url = httpx.URL(envelope.destination)
        route = self._route(url, shown)
        status = self._post(route, url, shown, envelope.idempotency_key, secret, body)
        if 200 <= status < 300:
            return
        if status == 410:
            raise DeliveryFailed(
                f"HTTP 410 Gone from {shown}: the receiver asked to stop", final=True
            )
        redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
        raise DeliveryFailed(f"HTTP {status} from {shown}{redirect}")

    def _route(self, url: httpx.URL, shown: str) -> _Route:
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, url.raw_host.decode("ascii"), port)
        with self._lock:
            known = self._routes.get(key)
        if known is not None:
            return known
        route = self._open_route(key[1], port, shown)
        with self._lock:
            known = self._routes.setdefault(key, route)
        if known is not route and route.client is not None:
            route.client.close()  # another thread opened this origin first
        return known

    def _open_route(self, host: str, port: int, shown: str) -> _Route:
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            return _Route(failure=DeliveryFailed(f"cannot resolve the host of {shown}: {reason}"))
        if not _allows_private(self._settings):
            refused = _refused(host, addresses)
            if refused is not None:
                return _Route(
                    failure=DeliveryFailed(
                        f"{shown} refused: {refused} (BALAI_WEBHOOK_ALLOW_PRIVATE is off)",
                        final=True,
                    )
                )
        client = httpx.Client(
            verify=self._tls,
            timeout=self._settings.webhook_timeout_seconds,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect where we checked
            headers={"user-agent": USER_AGENT},
        )
        return _Route(addresses=addresses, client=client)

    def _post(
        self, route: _Route, url: httpx.URL, shown: str, msg_id: str, secret: str, body: str
    ) -> int:
        if route.failure is not None:
            raise route.failure
        assert route.client is not None  # a route without a failure has a client
        limit = self._settings.webhook_timeout_seconds
        overran = DeliveryFailed(f"no complete answer from {shown} within {limit:g} s")
        host = url.raw_host.decode("ascii")
        extensions = {}
        if url.scheme == "https" and not _is_address(host):
            extensions["sni_hostname"] = host  # TLS names the host, not the address we dial
        headers = {
            "content-type": "application/json",
            "host": url.netloc.decode("ascii"),
            **signature_headers(secret, msg_id, body, utcnow()),
        }
        call = object()
        with self._lock:
            if route.expired:
                raise overran
            self._calls[id(call)] = (time.monotonic(), route)
        try:
            failure = "no address"
            for address in route.addresses:
                try:
                    with route.client.stream(
                        "POST",
                        url.copy_with(host=str(address)),
                        content=body.encode(),
                        headers=headers,
                        extensions=extensions,
                    ) as response:
                        _drain(response, limit)
                        return response.status_code
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    failure = _connect_failure(exc, shown, address)  # try the next address
                except httpx.TimeoutException:
                    raise overran from None
                except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: client closed
                    if route.expired:
                        raise overran from None
                    if isinstance(exc, RuntimeError):
                        raise
                    raise DeliveryFailed(f"call to {shown} failed: {_cause(exc)}") from None
                if route.expired:
                    raise overran
            raise DeliveryFailed(failure)
        finally:
            with self._lock:
                del self._calls[id(call)]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _drain(response: httpx.Response, seconds: float) -> None:
    """Read a small answer to the end so its connection can be reused; give up on a big or
    slow one (closing the response then closes the connection). The status is what counts."""
    deadline = time.monotonic() + seconds
    received = 0
    try:
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > _ANSWER_MAX_BYTES or time.monotonic() > deadline:
                return
    except httpx.HTTPError:
        return


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and the ones it was raised from, outermost first."""
    seen: BaseException | None = exc
    for _ in range(20):  # chains are short; a hand-made cycle must not loop forever
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _cause(exc: BaseException) -> str:
    """The innermost description of a network error, without httpx's wrapping."""
    *_, inner = _chain(exc)
    return (str(inner) or inner.__class__.__name__)[:300]


def _connect_failure(exc: httpx.HTTPError, shown: str, address: IPAddress) -> str:
    if any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)):
        return f"connection refused by {shown} (at {address})"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot connect to {shown} (at {address}): timed out"
    return f"cannot connect to {shown} (at {address}): {_cause(exc)}"


class WebhookTransport:
    """Delivers webhooks over HTTPS (or HTTP where allowed) with httpx, verifying certificates
    against the system's trust store, as SMTP does (or against `tls`, for tests)."""

    def __init__(self, settings: Settings, tls: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls = tls

    @contextmanager
    def connect(self) -> Iterator[WebhookSender]:
        """A sender for one batch; its connections close when the batch is done."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        sender = WebhookSender(self._settings, self._tls)
        try:
            yield sender
        finally:
            sender.close()
