"""The scanner page: scan an uploaded log against the shared indicators, download exports."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from balai.access.permissions import Permission
from balai.errors import ValidationFailed
from balai.scan import upload as scanning
from balai.scan.api import export_file
from balai.scan.report import Tally, hit_record, table_rows
from balai.scan.service import ALLOWED_PAP, Purpose
from balai.web.deps import DB, AppSettings, PageActor
from balai.web.deps import Form as FormDep
from balai.web.forms import text
from balai.web.render import render

router = APIRouter()

SHOWN_HITS = 500
EXPORTS = [
    (Purpose.ZEEK, "Zeek intel file", "balai.intel"),
    (Purpose.SURICATA, "Suricata datasets, IP reputation and rules (zip)", "balai-suricata.zip"),
    (Purpose.RPZ, "DNS response policy zone (RPZ)", "balai.rpz.zone"),
    (Purpose.TEXT, "Plain lists, one per type (zip)", "balai-lists.zip"),
]


def _context(settings: AppSettings, **extra: object) -> dict[str, object]:
    context: dict[str, object] = {
        "max_bytes": settings.scan_upload_max_bytes,
        "exports": [
            (p.value, label, name, ALLOWED_PAP[p].value.upper()) for p, label, name in EXPORTS
        ],
        "result": None,
        "problems": None,
    }
    context.update(extra)
    return context


@router.get("/intel/scan")
def scan_page(request: Request, actor: PageActor, settings: AppSettings) -> HTMLResponse:
    """Upload a log to scan; exports for detection engines."""
    actor.require(Permission.INTEL_READ)
    return render(request, "scan/scan.html", _context(settings))


@router.post("/intel/scan")
def scan_submit(
    request: Request, db: DB, settings: AppSettings, actor: PageActor, form: FormDep
) -> HTMLResponse:
    """Scan the uploaded log (held in memory, never stored) and show the hits."""
    actor.require(Permission.INTEL_READ)
    upload = form.get("file")
    include = text(form, "include_warninglisted") == "on"
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed.one("file", "choose a log file to scan")
        data = upload.file.read(settings.scan_upload_max_bytes + 1)
        if len(data) > settings.scan_upload_max_bytes:
            raise ValidationFailed.one(
                "file",
                f"larger than {settings.scan_upload_max_bytes:,} bytes: scan it with balai scan",
            )
        name = upload.filename
        if name.endswith(".gz"):
            data = scanning.gunzip(data, settings.scan_upload_max_bytes)
    except ValidationFailed as exc:
        return render(
            request, "scan/scan.html", _context(settings, problems=exc.problems), status_code=422
        )
    loaded = scanning.indicators_in(db, actor=actor, data=data, include_warninglisted=include)
    hits = scanning.scan_upload(loaded, data, name)
    tally = Tally(loaded)
    records = [hit_record(hit, tally.add(hit)) for hit in hits]
    result = {
        "name": name,
        "size": len(data),
        "lines": data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1),
        "rows": table_rows(tally),
        "hits": records[:SHOWN_HITS],
        "total": len(records),
        "warninglisted": loaded.warninglisted,
        "include_warninglisted": include,
    }
    return render(request, "scan/scan.html", _context(settings, result=result))


@router.get("/intel/scan/export/{purpose}")
def scan_export(db: DB, actor: PageActor, settings: AppSettings, purpose: Purpose) -> Response:
    """An export for a detection engine, downloaded from the page."""
    actor.require(Permission.INTEL_READ)
    if purpose == Purpose.SCAN:
        raise ValidationFailed.one("purpose", "the scanner downloads its list with balai scan")
    return export_file(db, actor, purpose, settings.community_name)
