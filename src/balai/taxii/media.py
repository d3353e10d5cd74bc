"""TAXII 2.1 media types, content negotiation, timestamps and error messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from balai.errors import BalaiError

TAXII = "application/taxii+json"
TAXII_21 = "application/taxii+json;version=2.1"
STIX_21 = "application/stix+json;version=2.1"


class NotAcceptable(BalaiError):
    """The client accepts no representation the server can give."""

    status_code = 406
    code = "not_acceptable"


class UnsupportedMediaType(BalaiError):
    """The request body is not TAXII 2.1 JSON."""

    status_code = 415
    code = "unsupported_media_type"


class TooLarge(BalaiError):
    """The request body is larger than the API root's max_content_length."""

    status_code = 413
    code = "too_large"


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        kind, *params = (piece.strip() for piece in part.split(";"))
        values = {}
        for param in params:
            name, _, value = param.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
        if kind:
            ranges.append((kind.lower(), values))
    return ranges


def _is_taxii_21(kind: str, params: dict[str, str]) -> bool:
    return kind == TAXII and params.get("version", "2.1") == "2.1"


def check_accept(request: Request) -> None:
    """406 unless the client accepts TAXII 2.1 JSON (or anything at all)."""
    header = request.headers.get("accept")
    if not header:
        return
    for kind, params in _media_ranges(header):
        if params.get("q") in {"0", "0.0", "0.00", "0.000"}:
            continue
        if kind in {"*/*", "application/*"} or _is_taxii_21(kind, params):
            return
    raise NotAcceptable(f"this server answers only with {TAXII_21}; the request accepts {header}")


def check_content_type(request: Request) -> None:
    """415 unless the body is declared as TAXII 2.1 JSON."""
    header = request.headers.get("content-type", "")
    ranges = _media_ranges(header)
    if len(ranges) != 1 or not _is_taxii_21(*ranges[0]):
        raise UnsupportedMediaType(
            f"send the envelope as {TAXII_21}, not {header or 'no Content-Type'}"
        )


def timestamp(moment: datetime) -> str:
    """A TAXII timestamp: UTC, to the microsecond, with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def taxii_response(
    content: dict[str, Any], *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A TAXII 2.1 JSON response."""
    return Response(
        json.dumps(content, ensure_ascii=False, separators=(",", ":")),
        status_code=status_code,
        media_type=TAXII_21,
        headers=headers,
    )


def error_response(status: int, title: str, description: str) -> Response:
    """A TAXII error message."""
    response = taxii_response(
        {"title": title, "description": description, "http_status": str(status)},
        status_code=status,
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="balai", Bearer realm="balai"'
    return response
