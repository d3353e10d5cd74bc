"""A real webhook receiver for tests: an HTTP/1.1 server on loopback recording every call.

Like tests/smtp.py's sink, it honours the idempotency key the way design.md asks of a
receiver: a call whose webhook-id it has already stored is answered again but stored once
(`duplicates` counts those), so tests can assert both "every call arrived" and "stored
exactly once". It keeps connections alive, as most web servers do.
"""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Call:
    """One request as it arrived: raw body, headers with lower-case names."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    peer: tuple[str, int]

    @property
    def id(self) -> str:
        """The call's webhook-id."""
        return self.headers.get("webhook-id", "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the sender's connection reuse shows
    server: _Server

    def do_POST(self) -> None:  # http.server's hook name
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        receiver = self.server.receiver
        call = Call(self.path, headers, body, 0, (self.client_address[0], self.client_address[1]))
        if self.path.partition("?")[0] in receiver.trickled:
            receiver.calls.append(call)
            self._trickle()
            return
        status = receiver.take(call)
        try:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender is gone (a test killed it mid-call)

    def _trickle(self) -> None:
        """Answer one byte at a time, each well within any read timeout, for up to a minute."""
        self.close_connection = True
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nx-slow: ")
            for _ in range(600):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the sender gave up on us, as it should

    def log_message(self, format: str, *args: object) -> None:  # http.server's signature
        """Stay quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver


class WebhookReceiver:
    """ThreadingHTTPServer in a thread; calls stored by webhook-id."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._lock = threading.Lock()
        self._answers: dict[str, deque[int]] = defaultdict(deque)
        self._release = threading.Event()
        self.calls: list[Call] = []
        self.stored: dict[str, Call] = {}
        self.deliveries = 0
        self.duplicates = 0
        self.hold_after: int | None = None
        self.delay_seconds = 0.0
        self.trickled: set[str] = set()  # paths answered a byte at a time

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        """The URL of a path on this receiver."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def start(self) -> None:
        """Listen."""
        self._thread.start()

    def stop(self) -> None:
        """Let held calls go and stop listening."""
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def clear(self) -> None:
        """Forget every call and scripted answer."""
        with self._lock:
            self._answers.clear()
            self.calls.clear()
            self.stored.clear()
            self.deliveries = 0
            self.duplicates = 0
            self.hold_after = None
            self.delay_seconds = 0.0
            self.trickled.clear()
            self._release.clear()

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next calls to a path (whatever the query) with these statuses, then 200."""
        with self._lock:
            self._answers[path].extend(statuses)

    def release(self) -> None:
        """Answer the held calls and hold no more."""
        with self._lock:
            self.hold_after = None
        self._release.set()

    def take(self, call: Call) -> int:
        """Record a call, store it once if accepted; return the status to answer."""
        if self.delay_seconds:
            time.sleep(self.delay_seconds)  # a slow receiver, for fan-out and crash tests
        with self._lock:
            answers = self._answers.get(call.path.partition("?")[0])
            status = answers.popleft() if answers else 200
            call = Call(call.path, call.headers, call.body, status, call.peer)
            self.calls.append(call)
            if 200 <= status < 300:
                self.deliveries += 1
                if call.id in self.stored:
                    self.duplicates += 1
                else:
                    self.stored[call.id] = call
            hold = self.hold_after is not None and self.deliveries >= self.hold_after
        if hold:
            # Stored, but the answer waits: the sender is now mid-call, for as long as a
            # test needs to kill it there.
            self._release.wait(60)
        return status

    def to(self, path: str) -> list[Call]:
        """Every call to a path, in arrival order."""
        with self._lock:
            return [c for c in self.calls if c.path == path]

    def wait_for(self, deliveries: int, timeout: float = 15.0) -> None:
        """Wait until at least this many calls were accepted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.deliveries >= deliveries:
                return
            time.sleep(0.05)
        raise AssertionError(f"expected {deliveries} calls, got {self.deliveries} in {timeout}s")


def tls_contexts(directory: Path, host: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test CA and a certificate it signed for `host`: (the server's context, a client's
    context that trusts only that CA)."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: str,
        signer: ec.EllipticCurvePrivateKey,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        certificate("Balai test CA", ca_key, "Balai test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        certificate(host, leaf_key, "Balai test CA", ca_key)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "receiver.pem", directory / "receiver.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client
