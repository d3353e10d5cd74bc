"""REST API: indicator exports for the scanner and for detection engines; scan sightings."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from balai.api.deps import ApiActor
from balai.errors import ValidationFailed
from balai.scan import exports, service
from balai.scan.schemas import ScanSightingsIn, ScanSightingsOut
from balai.scan.service import Purpose
from balai.web.deps import DB, AppSettings

router = APIRouter(tags=["scanner"])

NDJSON = "application/x-ndjson"
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            NDJSON: {},
            "text/plain": {},
            "application/zip": {},
        }
    }
}


def zipped(files: dict[str, bytes]) -> bytes:
    """Files in a zip archive, in a stable order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()


def _download(content: bytes, media: str, name: str) -> Response:
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


RPZ_ORIGIN = "rpz.balai"


def export_file(
    db: DB, actor: ApiActor, purpose: Purpose, source: str, origin: str = RPZ_ORIGIN
) -> Response:
    """One export for a detection engine, as the file (or zip of files) it loads."""
    items = list(service.export_all(db, actor=actor, purpose=purpose))
    if purpose == Purpose.ZEEK:
        return _download(
            "".join(exports.zeek_intel(items, source)).encode(), "text/plain", "balai.intel"
        )
    if purpose == Purpose.SURICATA:
        files = exports.suricata_files(items, source)
        return _download(zipped(files), "application/zip", "balai-suricata.zip")
    if purpose == Purpose.RPZ:
        serial = int(datetime.now(UTC).timestamp())
        try:
            zone = "".join(exports.rpz_zone(items, origin, serial))
        except ValueError as exc:
            raise ValidationFailed.one("origin", str(exc)) from None
        return _download(zone.encode(), "text/plain", "balai.rpz.zone")
    return _download(zipped(exports.text_lists(items)), "application/zip", "balai-lists.zip")


@router.get("/intel/export", responses=FILE_RESPONSES)
def get_export(
    db: DB,
    actor: ApiActor,
    settings: AppSettings,
    format: Annotated[Purpose, Query(description="scan, zeek, suricata, rpz or text")],
    after: Annotated[int, Query(ge=0, description="For format=scan: the next page's start.")] = 0,
    limit: Annotated[int, Query(ge=1, le=service.PAGE_LIMIT)] = service.PAGE_LIMIT,
    origin: Annotated[str, Query(max_length=200, description="For format=rpz.")] = RPZ_ORIGIN,
) -> Response:
    """Indicators you may see and act on (PAP), for the scanner or a detection engine."""
    if format != Purpose.SCAN:
        return export_file(db, actor, format, settings.community_name, origin)
    page, next_after = service.export_page(
        db, actor=actor, purpose=format, after=after, limit=limit
    )
    body = "".join(
        json.dumps(
            {
                "kind": e.item.kind.value,
                "value": e.item.value,
                "stix_id": e.item.stix_id,
                "name": e.item.name,
                "tlp": e.item.tlp,
                "score": e.item.score,
                "pap": e.pap.value,
                "valid_until": e.valid_until,
                "reports": list(e.item.reports),
            },
            ensure_ascii=False,
        )
        + "\n"
        for e in page
    )
    headers = {} if next_after is None else {"X-Next-After": str(next_after)}
    return Response(body, media_type=NDJSON, headers=headers)


@router.post(
    "/intel/sightings", response_model=ScanSightingsOut, status_code=status.HTTP_201_CREATED
)
def post_scan_sightings(db: DB, actor: ApiActor, data: ScanSightingsIn) -> ScanSightingsOut:
    """Report a scan's sightings (analysts and admins), all or none: per indicator, a count
    and optionally first and last seen. No log lines or addresses are part of it."""
    reports = [
        service.ScanSighting(s.stix_id, s.count, s.first_seen, s.last_seen) for s in data.sightings
    ]
    if len({r.stix_id for r in reports}) != len(reports):
        raise ValidationFailed.one("sightings", "each indicator may appear once")
    recorded = service.report_sightings(db, actor=actor, reports=reports)
    return ScanSightingsOut(recorded=len(recorded), stix_ids=recorded)
