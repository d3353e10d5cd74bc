"""The scanner's side of the REST API: download the indicators, send sightings back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from balai.scan.engine import ScanError

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class Server:
    """A Balai server and the API key the scanner uses with it."""

    url: str
    api_key: str

    def client(self) -> httpx.Client:
        """An HTTP client for the server's API."""
        return httpx.Client(
            base_url=self.url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=TIMEOUT,
        )


def _failure(server: Server, response: httpx.Response) -> ScanError:
    if response.status_code == 401:
        return ScanError(f"{server.url}: the API key was refused")
    if response.status_code == 403:
        return ScanError(f"{server.url}: your account may not read shared intelligence")
    try:
        detail = response.json().get("detail") or response.text
    except ValueError:
        detail = response.text
    return ScanError(f"{server.url}: HTTP {response.status_code}: {str(detail)[:300]}")


def indicator_rows(
    server: Server, progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Every indicator value the key's user may scan for, page after page."""
    after: str | None = "0"
    try:
        with server.client() as client:
            while after is not None:
                response = client.get("/intel/export", params={"format": "scan", "after": after})
                if response.status_code != 200:
                    raise _failure(server, response)
                lines = response.content.splitlines()
                for line in lines:
                    if line:
                        yield json.loads(line)
                if progress is not None:
                    progress(len(lines))
                after = response.headers.get("X-Next-After")
    except httpx.HTTPError as error:
        raise ScanError(f"{server.url}: {error}") from error


@dataclass(frozen=True)
class Sent:
    """What a scan sent back to the platform."""

    indicators: int
    with_times: bool


def send_sightings(server: Server, sightings: list[dict[str, Any]], *, with_times: bool) -> Sent:
    """Report the scan's sightings: per indicator, a count and, if agreed, first and last seen."""
    body = [
        {
            "stix_id": s["stix_id"],
            "count": s["count"],
            **{
                name: s[name].isoformat()
                for name in ("first_seen", "last_seen")
                if with_times and s.get(name) is not None
            },
        }
        for s in sightings
    ]
    try:
        with server.client() as client:
            response = client.post("/intel/sightings", json={"sightings": body})
    except httpx.HTTPError as error:
        raise ScanError(f"{server.url}: {error}") from error
    if response.status_code != 201:
        raise _failure(server, response)
    return Sent(len(body), with_times)


def export_file(server: Server, fmt: str, *, origin: str) -> tuple[bytes, str]:
    """One export for a detection engine, and the file name the server gives it."""
    try:
        with server.client() as client:
            response = client.get("/intel/export", params={"format": fmt, "origin": origin})
    except httpx.HTTPError as error:
        raise ScanError(f"{server.url}: {error}") from error
    if response.status_code != 200:
        raise _failure(server, response)
    disposition = response.headers.get("content-disposition", "")
    name = disposition.partition('filename="')[2].rstrip('"') or f"balai-{fmt}"
    return response.content, Path(name).name
