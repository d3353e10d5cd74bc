"""A TAXII 2.1 client for federation: pages with their headers, and POSTs with their status.

taxii2-client, the OASIS client, hands back only response bodies; an incremental sync needs
the X-TAXII-Date-Added-Last header of each page to know where to resume, so the few requests
federation makes are written here over httpx (the tests check this client and Balai's server
against taxii2-client).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

TAXII_21 = "application/taxii+json;version=2.1"


class PeerError(Exception):
    """A peer refused or failed a request; the message says which and why, never the secret."""


class TaxiiClient:
    """Requests to one peer's API root, with its credentials."""

    def __init__(
        self,
        api_root: str,
        *,
        username: str | None,
        secret: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.api_root = api_root if api_root.endswith("/") else api_root + "/"
        headers = {"Accept": TAXII_21, "User-Agent": "Balai federation"}
        auth: httpx.Auth | None = None
        if username:
            auth = httpx.BasicAuth(username, secret)
        else:
            headers["Authorization"] = f"Bearer {secret}"
        self.http = httpx.Client(
            headers=headers, auth=auth, timeout=timeout, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _check(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 400:
            detail = ""
            try:
                body = response.json()
                detail = f": {body.get('title', '')} {body.get('description', '')}".rstrip()
            except ValueError:
                pass
            raise PeerError(f"{what} answered {response.status_code}{detail}")
        if (
            not response.headers.get("content-type", "")
            .replace(" ", "")
            .startswith("application/taxii+json")
        ):
            raise PeerError(f"{what} answered {response.headers.get('content-type')}, not TAXII")
        body = response.json()
        if not isinstance(body, dict):
            raise PeerError(f"{what} answered JSON that is not an object")
        return body

    def objects(self, collection: str, params: dict[str, str]) -> tuple[dict[str, Any], str | None]:
        """A page of a collection's objects, and the date_added of its last object."""
        url = f"{self.api_root}collections/{collection}/objects/"
        try:
            response = self.http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise PeerError(f"GET {url} failed: {exc.__class__.__name__}") from None
        body = self._check(response, f"GET {url}")
        return body, response.headers.get("X-TAXII-Date-Added-Last")

    def add(self, collection: str, objects: list[dict[str, Any]], wait: float = 60.0) -> None:
        """POST objects; raise unless the status ends complete with no failures."""
        url = f"{self.api_root}collections/{collection}/objects/"
        try:
            response = self.http.post(
                url, json={"objects": objects}, headers={"Content-Type": TAXII_21}
            )
        except httpx.HTTPError as exc:
            raise PeerError(f"POST {url} failed: {exc.__class__.__name__}") from None
        status = self._check(response, f"POST {url}")
        deadline = time.monotonic() + wait
        while status.get("status") == "pending" and time.monotonic() < deadline:
            time.sleep(1)
            status_url = f"{self.api_root}status/{status['id']}/"
            status = self._check(self.http.get(status_url), f"GET {status_url}")
        if status.get("status") != "complete":
            raise PeerError(f"POST {url}: the peer had not finished after {wait:.0f} s")
        if status.get("failure_count", 0):
            failures = status.get("failures", [])[:3]
            shown = "; ".join(f"{f.get('id')}: {f.get('message', '')}" for f in failures)
            raise PeerError(f"POST {url}: {status['failure_count']} objects refused ({shown})")
