"""REST API: STIX objects, search, imports with their reports, sharing groups."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from balai.access.policy import select_visible
from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.errors import NotFound, ValidationFailed
from balai.intel import csv_io, groups, imports, misp_io, service, sightings, stix_io
from balai.intel.correlation import correlate
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import IntelImport, StixObject, UploadFormat
from balai.intel.schemas import (
    CorrelationOut,
    ImportCounts,
    ImportReport,
    Marking,
    ObjectOut,
    ObjectSummary,
    SharingGroupIn,
    SharingGroupOut,
    SightingIn,
    SightingOut,
    SightingsOut,
)
from balai.web.deps import DB, AppSettings, Body
from balai.web.forms import build

router = APIRouter(tags=["intelligence"])

Many = Annotated[list[str], Query()]


def summary(row: StixObject, score: float | None = None) -> ObjectSummary:
    """A row's line in a list."""
    return ObjectSummary(
        score=score,
        stix_id=row.stix_id,
        type=row.type,
        name=row.name,
        tlp=row.tlp,
        distribution=row.distribution,
        owner_name=row.owner.name,
        modified=row.modified,
        date_added=row.date_added,
    )


def object_out(row: StixObject, hidden: set[str]) -> ObjectOut:
    """A row as the API shows it: the STIX object as the reader may have it, and its marking."""
    return ObjectOut(
        stix=stix_io.stix_view(row, hidden),
        tlp=row.tlp,
        distribution=row.distribution,
        sharing_group_id=row.sharing_group_id,
        owner_org_id=row.owner_org_id,
        owner_name=row.owner.name,
        date_added=row.date_added,
    )


@router.get("/intel/objects", response_model=PageOut[ObjectSummary])
def list_objects(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    type: Many = [],  # noqa: B006  # FastAPI copies query defaults
    tlp: Annotated[list[Tlp], Query()] = [],  # noqa: B006  # same
    q: Annotated[str | None, Query(max_length=200)] = None,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
) -> PageOut[ObjectSummary]:
    """Objects you may see (latest versions), newest first, by type, marking, name and, for
    indicators, a minimum decay score (0 to 100)."""
    page = service.list_objects(
        db,
        actor=actor,
        types=type,
        tlp=tlp,
        q=q,
        min_score=min_score,
        page=paging.page,
        per_page=paging.per_page,
    )
    scores = service.scores(db, [r.stix_id for r in page.items])
    return page_out(request, page, [summary(r, scores.get(r.stix_id)) for r in page.items])


@router.get("/intel/objects/{stix_id}", response_model=ObjectOut)
def get_object(db: DB, actor: ApiActor, stix_id: str) -> ObjectOut:
    """The latest version of one object, with its marking."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    service.note_restricted_read(db, actor=actor, rows=[held.row], how="api")
    return object_out(
        held.row, service.hidden_refs(db, actor=actor, refs=service.refs_of(held.row))
    )


@router.get("/intel/objects/{stix_id}/versions", response_model=list[ObjectOut])
def get_versions(db: DB, actor: ApiActor, stix_id: str) -> list[ObjectOut]:
    """Every version of an object you may see, oldest first."""
    rows = service.versions(db, actor=actor, stix_id=stix_id)
    if not rows:
        raise NotFound("no such object")
    service.note_restricted_read(db, actor=actor, rows=rows, how="api versions")
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    return [object_out(row, hidden) for row in rows]


@router.get(
    "/intel/objects/{stix_id}/bundle",
    responses={200: {"content": {stix_io.STIX_MEDIA: {}}}},
)
def get_bundle(db: DB, actor: ApiActor, stix_id: str) -> Response:
    """A STIX 2.1 bundle of the object and, for a report, grouping or note, what it points to."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="api bundle")
    return JSONResponse(stix_io.bundle(rows, hidden), media_type=stix_io.STIX_MEDIA)


@router.get("/intel/objects/{stix_id}/misp", responses={200: {"content": {"application/json": {}}}})
def get_misp(db: DB, actor: ApiActor, stix_id: str) -> Response:
    """A MISP event of the object and, for a report, grouping or note, what it points to."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="api misp")
    return JSONResponse(misp_io.misp_event(rows, title=held.row.name or stix_id, hidden=hidden))


CSV_MEDIA = "text/csv; charset=utf-8"


def csv_response(db: Session, rows: list[StixObject], name: str) -> Response:
    """The values of some visible rows as a CSV download (see csv_io.to_csv)."""
    content = csv_io.to_csv(rows, {row.pk: service.values_of(db, row=row) for row in rows})
    return Response(
        content,
        media_type=CSV_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/intel/objects/{stix_id}/csv", responses={200: {"content": {"text/csv": {}}}})
def get_csv(db: DB, actor: ApiActor, stix_id: str) -> Response:
    """The values of the object and, for a report, grouping or note, of what it points to."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    service.note_restricted_read(db, actor=actor, rows=rows, how="api csv")
    return csv_response(db, rows, stix_id.replace("--", "-"))


@router.get("/intel/search", response_model=PageOut[ObjectSummary])
def search(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    q: Annotated[str, Query(min_length=1, max_length=2048)],
) -> PageOut[ObjectSummary]:
    """Objects carrying a value (an IP also inside a shared network, a domain also under a
    shared parent), or, when the text is no value, whose name contains it."""
    _, page = service.search(db, actor=actor, q=q, page=paging.page, per_page=paging.per_page)
    return page_out(request, page, [summary(r) for r in page.items])


@router.get("/intel/search/bundle", responses={200: {"content": {stix_io.STIX_MEDIA: {}}}})
def search_bundle(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    q: Annotated[str, Query(min_length=1, max_length=2048)],
) -> Response:
    """The objects a search finds, a page at a time, as a STIX 2.1 bundle."""
    _, page = service.search(db, actor=actor, q=q, page=paging.page, per_page=paging.per_page)
    rows = list(page.items)
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="api search bundle")
    response = JSONResponse(
        stix_io.bundle(rows, hidden),
        media_type=stix_io.STIX_MEDIA,
        headers={"X-Total-Count": str(page.total)},
    )
    if page.has_next:
        following = request.url.include_query_params(page=page.page + 1)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


@router.get("/intel/search/misp", responses={200: {"content": {"application/json": {}}}})
def search_misp(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    q: Annotated[str, Query(min_length=1, max_length=2048)],
) -> Response:
    """The objects a search finds, a page at a time, as one MISP event."""
    _, page = service.search(db, actor=actor, q=q, page=paging.page, per_page=paging.per_page)
    rows = list(page.items)
    hidden = service.hidden_refs(
        db, actor=actor, refs=[r for row in rows for r in service.refs_of(row)]
    )
    service.note_restricted_read(db, actor=actor, rows=rows, how="api search misp")
    event = misp_io.misp_event(rows, title=f"Balai search: {q}"[:200], hidden=hidden)
    response = JSONResponse(event, headers={"X-Total-Count": str(page.total)})
    if page.has_next:
        following = request.url.include_query_params(page=page.page + 1)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


@router.get("/intel/search/csv", responses={200: {"content": {"text/csv": {}}}})
def search_csv(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    q: Annotated[str, Query(min_length=1, max_length=2048)],
) -> Response:
    """The values of the objects a search finds, a page at a time, as CSV."""
    _, page = service.search(db, actor=actor, q=q, page=paging.page, per_page=paging.per_page)
    rows = list(page.items)
    service.note_restricted_read(db, actor=actor, rows=rows, how="api search csv")
    response = csv_response(db, rows, "search")
    response.headers["X-Total-Count"] = str(page.total)
    if page.has_next:
        following = request.url.include_query_params(page=page.page + 1)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


def report_out(batch: IntelImport) -> ImportReport:
    """The API shape of an import's report."""
    return ImportReport(
        id=batch.id,
        format=batch.format,
        filename=batch.filename,
        tlp=batch.tlp,
        distribution=batch.distribution,
        sharing_group_id=batch.sharing_group_id,
        created_at=batch.created_at,
        counts=ImportCounts.model_validate(batch.report.get("counts", {})),
        not_mapped=batch.report.get("not_mapped", []),
        report_ids=batch.report.get("report_ids", []),
    )


@router.post("/intel/imports", response_model=ImportReport, status_code=status.HTTP_201_CREATED)
def create_import(
    db: DB,
    settings: AppSettings,
    actor: ApiActor,
    body: Body,
    tlp: Tlp,
    distribution: Distribution,
    sharing_group_id: uuid.UUID | None = None,
    filename: Annotated[str | None, Query(max_length=300)] = None,
    format: UploadFormat = UploadFormat.STIX,
) -> ImportReport:
    """Import a file (the request body) of a format under a marking: all of it, or nothing."""
    if len(body) > settings.max_upload_bytes:
        raise ValidationFailed.one("body", f"larger than {settings.max_upload_bytes} bytes")
    marking = build(
        Marking, {"tlp": tlp, "distribution": distribution, "sharing_group_id": sharing_group_id}
    )
    batch = imports.import_file(
        db, actor=actor, fmt=format.import_format, data=body, marking=marking, filename=filename
    )
    return report_out(batch)


@router.get("/intel/imports/{import_id}", response_model=ImportReport)
def get_import(db: DB, actor: ApiActor, import_id: uuid.UUID) -> ImportReport:
    """The report of one of your organisation's imports."""
    batch = db.scalar(select_visible(actor, IntelImport).where(IntelImport.id == import_id))
    if batch is None:
        raise NotFound("no such import")
    return report_out(batch)


@router.get("/sharing-groups", response_model=list[SharingGroupOut])
def list_groups(db: DB, actor: ApiActor) -> list[SharingGroupOut]:
    """Sharing groups your organisation owns or belongs to."""
    return [groups.group_out(g) for g in groups.visible_groups(db, actor=actor)]


@router.post("/sharing-groups", response_model=SharingGroupOut, status_code=status.HTTP_201_CREATED)
def create_group(db: DB, actor: ApiActor, data: SharingGroupIn) -> SharingGroupOut:
    """Create a sharing group owned by your organisation (organisation admins)."""
    return groups.group_out(groups.create_group(db, actor=actor, data=data))


@router.get("/sharing-groups/{group_id}", response_model=SharingGroupOut)
def get_group(db: DB, actor: ApiActor, group_id: uuid.UUID) -> SharingGroupOut:
    """One sharing group your organisation owns or belongs to."""
    return groups.group_out(groups.get_group(db, actor=actor, group_id=group_id))


@router.put("/sharing-groups/{group_id}", response_model=SharingGroupOut)
def update_group(
    db: DB, actor: ApiActor, group_id: uuid.UUID, data: SharingGroupIn
) -> SharingGroupOut:
    """Rename a group or replace its members (its owner's admins)."""
    return groups.group_out(groups.update_group(db, actor=actor, group_id=group_id, data=data))


@router.delete("/sharing-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(db: DB, actor: ApiActor, group_id: uuid.UUID) -> Response:
    """Delete a group that no longer shares anything."""
    groups.delete_group(db, actor=actor, group_id=group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/intel/objects/{stix_id}/correlations", response_model=list[CorrelationOut])
def get_correlations(
    db: DB, settings: AppSettings, actor: ApiActor, stix_id: str, matched_only: bool = False
) -> list[CorrelationOut]:
    """The values of an object (of a report: of its contents) and the objects of other
    organisations you may see that share them: the same value, a network containing an
    address, a parent domain. Warninglisted values are named and do not correlate."""
    held = service.get_object(db, actor=actor, stix_id=stix_id)
    rows = [held.row, *service.referenced(db, actor=actor, row=held.row)]
    matches = correlate(db, actor=actor, rows=rows, cap=settings.correlation_cap)
    shown = [m for m in matches if m.total or not matched_only]
    scores = service.scores(db, [o.stix_id for m in shown for o in m.objects])
    return [
        CorrelationOut(
            kind=m.value.kind,
            value=m.value.value,
            total=m.total,
            common=m.common,
            warninglists=[h.list_name for h in m.warninglisted],
            objects=[summary(o, scores.get(o.stix_id)) for o in m.objects],
        )
        for m in shown
    ]


def sightings_out(found: sightings.Summary) -> SightingsOut:
    """The API shape of an indicator's sightings."""
    return SightingsOut(
        seen=found.seen,
        seen_by=found.seen_by,
        false_positive_by=found.false_positive_by,
        expired_by=found.expired_by,
        first_seen=found.first_seen,
        last_seen=found.last_seen,
        score=found.score.score if found.score else None,
        own=[SightingOut.model_validate(s) for s in found.own],
    )


@router.get("/intel/objects/{stix_id}/sightings", response_model=SightingsOut)
def get_sightings(db: DB, actor: ApiActor, stix_id: str) -> SightingsOut:
    """Sightings of an indicator: totals from every organisation (not who reported them) and
    your organisation's own reports; with the decay score."""
    return sightings_out(sightings.summary(db, actor=actor, stix_id=stix_id))


@router.post(
    "/intel/objects/{stix_id}/sightings",
    response_model=SightingsOut,
    status_code=status.HTTP_201_CREATED,
)
def post_sighting(db: DB, actor: ApiActor, stix_id: str, data: SightingIn) -> SightingsOut:
    """Report that your organisation saw an indicator (how often, first and last), that it is
    a false positive, or that it has expired (analysts and admins)."""
    sightings.report(
        db,
        actor=actor,
        stix_id=stix_id,
        kind=data.kind,
        count=data.count,
        first_seen=data.first_seen,
        last_seen=data.last_seen,
        source="api",
    )
    return sightings_out(sightings.summary(db, actor=actor, stix_id=stix_id))
