"""TAXII 2.1 endpoints under /taxii2/: discovery, the API root, collections, objects,
manifests, versions and status. Each route parses, calls one service function, renders."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from balai.access.actor import Actor, Via
from balai.accounts.auth import password_user
from balai.accounts.service import authenticate_api_key
from balai.api.deps import presented_key
from balai.errors import NotFound, Unauthenticated
from balai.intel.stix_io import read_json
from balai.taxii import service
from balai.taxii.collections import Collection, collection_for, collections_for
from balai.taxii.media import (
    TAXII_21,
    TooLarge,
    check_accept,
    check_content_type,
    taxii_response,
    timestamp,
)
from balai.web.deps import DB, AppSettings, client_ip

PREFIX = "/taxii2"
ROOT = "api"
AUTH_HELP = (
    "authenticate with an API key (Authorization: Bearer balai_..., or as the HTTP Basic "
    "password) or with HTTP Basic e-mail address and password; accounts with a second "
    "factor use an API key"
)


def taxii_actor(request: Request, db: DB, settings: AppSettings) -> Actor:
    """The caller, by API key (Bearer, X-API-Key or Basic password) or Basic password; the
    Accept header is checked first, as every TAXII answer depends on it."""
    check_accept(request)
    ip = client_ip(request)
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated(AUTH_HELP) from None
        email, _, secret = decoded.partition(":")
        if secret.startswith("balai_"):
            user = authenticate_api_key(db, presented=secret, client_ip=ip)
            if email and email.strip().lower() != user.email:
                raise Unauthenticated(AUTH_HELP)
            return Actor(via=Via.API_KEY, user=user, client_ip=ip)
        found = password_user(db, settings=settings, email=email, password=secret, client_ip=ip)
        if found is None:
            db.commit()  # the failure counts towards throttling even though the request fails
            raise Unauthenticated(AUTH_HELP)
        return Actor(via=Via.API_KEY, user=found, client_ip=ip)
    key = presented_key(request)
    if key is None:
        raise Unauthenticated(AUTH_HELP)
    user = authenticate_api_key(db, presented=key, client_ip=ip)
    return Actor(via=Via.API_KEY, user=user, client_ip=ip)


TaxiiActor = Annotated[Actor, Depends(taxii_actor)]
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _root(api_root: str) -> None:
    if api_root != ROOT:
        raise NotFound("no such API root")


def _collection(db: DB, actor: TaxiiActor, api_root: str, collection_id: str) -> Collection:
    _root(api_root)
    return collection_for(db, actor, collection_id)


CollectionOf = Annotated[Collection, Depends(_collection)]


def _filters(
    request: Request,
    settings: AppSettings,
    limit: Annotated[str | None, Query()] = None,
    added_after: Annotated[str | None, Query()] = None,
    match_id: Annotated[list[str] | None, Query(alias="match[id]")] = None,
    match_type: Annotated[list[str] | None, Query(alias="match[type]")] = None,
    match_version: Annotated[list[str] | None, Query(alias="match[version]")] = None,
    match_spec_version: Annotated[list[str] | None, Query(alias="match[spec_version]")] = None,
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> service.Filters:
    return service.parse_filters(
        limit=limit,
        page_max=settings.taxii_page_max,
        added_after=added_after,
        ids=match_id,
        types=match_type,
        versions=match_version,
        spec_versions=match_spec_version,
        after=next_,
        default_version="all" if request.method == "DELETE" else "last",
    )


FiltersOf = Annotated[service.Filters, Depends(_filters)]


def _collection_resource(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "can_read": collection.can_read,
        "can_write": collection.can_write,
        "media_types": ["application/stix+json;version=2.1"],
    }


def _date_headers(found: service.Found) -> dict[str, str]:
    if not found.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": timestamp(found.rows[0].date_added),
        "X-TAXII-Date-Added-Last": timestamp(found.rows[-1].date_added),
    }


def _envelope(found: service.Found, key: str, items: list[Any]) -> dict[str, Any]:
    if not items:
        return {"more": False}
    content: dict[str, Any] = {"more": found.more}
    if found.next:
        content["next"] = found.next
    content[key] = items
    return content


@router.get("/")
def discovery(actor: TaxiiActor, settings: AppSettings) -> Response:
    """Server discovery: this server and its one API root."""
    api_root = f"{settings.base_url.rstrip('/')}{PREFIX}/{ROOT}/"
    return taxii_response(
        {
            "title": f"{settings.community_name} TAXII server",
            "description": f"Threat intelligence shared in {settings.community_name} (Balai).",
            "contact": settings.mail_from,
            "default": api_root,
            "api_roots": [api_root],
        }
    )


@router.get("/{api_root}/")
def api_root_information(api_root: str, actor: TaxiiActor, settings: AppSettings) -> Response:
    """The API root: its versions and the largest body it takes."""
    _root(api_root)
    return taxii_response(
        {
            "title": f"{settings.community_name} intelligence",
            "description": "Collections follow the trust model: what each caller may see.",
            "versions": [TAXII_21],
            "max_content_length": settings.taxii_max_content_length,
        }
    )


@router.get("/{api_root}/collections/")
def get_collections(api_root: str, db: DB, actor: TaxiiActor) -> Response:
    """The collections this caller is offered."""
    _root(api_root)
    found = collections_for(db, actor)
    return taxii_response({"collections": [_collection_resource(c) for c in found]})


@router.get("/{api_root}/collections/{collection_id}/")
def get_collection(collection: CollectionOf) -> Response:
    """One collection."""
    return taxii_response(_collection_resource(collection))


@router.get("/{api_root}/collections/{collection_id}/objects/")
def get_objects(
    db: DB, actor: TaxiiActor, collection: CollectionOf, filters: FiltersOf
) -> Response:
    """A page of the collection's objects."""
    found, objects = service.objects(db, actor=actor, collection=collection, filters=filters)
    return taxii_response(_envelope(found, "objects", objects), headers=_date_headers(found))


@router.post("/{api_root}/collections/{collection_id}/objects/")
async def add_objects(
    request: Request,
    settings: AppSettings,
    db: DB,
    actor: TaxiiActor,
    collection: CollectionOf,
) -> Response:
    """Add an envelope of objects: all of them, or none and a 422 that says why."""
    check_content_type(request)
    limit = settings.taxii_max_content_length
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is {declared} bytes; this API root takes at most {limit}")
    body = await request.body()
    if len(body) > limit:
        raise TooLarge(f"the body is {len(body)} bytes; this API root takes at most {limit}")
    envelope = read_json(body)
    status = service.add_objects(db, actor=actor, collection=collection, envelope=envelope)
    return taxii_response(service.status_resource(status), status_code=202)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def get_object(
    db: DB, actor: TaxiiActor, collection: CollectionOf, filters: FiltersOf, object_id: str
) -> Response:
    """An object's versions that the filters select (the last by default)."""
    found, objects = service.objects(
        db, actor=actor, collection=collection, filters=filters, stix_id=object_id
    )
    return taxii_response(_envelope(found, "objects", objects), headers=_date_headers(found))


@router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def delete_object(
    db: DB, actor: TaxiiActor, collection: CollectionOf, filters: FiltersOf, object_id: str
) -> Response:
    """Delete the caller's organisation's versions of an object (all, unless filtered)."""
    service.delete_object(
        db, actor=actor, collection=collection, stix_id=object_id, filters=filters
    )
    return Response(status_code=200)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/")
def get_versions(
    db: DB, actor: TaxiiActor, collection: CollectionOf, filters: FiltersOf, object_id: str
) -> Response:
    """A page of an object's versions."""
    found = service.versions(
        db, actor=actor, collection=collection, filters=filters, stix_id=object_id
    )
    items = [service.version_of(row) for row in found.rows]
    return taxii_response(_envelope(found, "versions", items), headers=_date_headers(found))


@router.get("/{api_root}/collections/{collection_id}/manifest/")
def get_manifest(
    db: DB, actor: TaxiiActor, collection: CollectionOf, filters: FiltersOf
) -> Response:
    """A page of the collection's manifest."""
    found = service.manifest(db, actor=actor, collection=collection, filters=filters)
    items = [service.manifest_record(row) for row in found.rows]
    return taxii_response(_envelope(found, "objects", items), headers=_date_headers(found))


@router.get("/{api_root}/status/{status_id}/")
@router.get("/{api_root}/status/{status_id}")
def get_status(api_root: str, status_id: str, db: DB, actor: TaxiiActor) -> Response:
    """What became of a POST."""
    _root(api_root)
    status = service.get_status(db, actor=actor, status_id=status_id)
    return taxii_response(service.status_resource(status))
