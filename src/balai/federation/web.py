"""Pages: the federation peers, each with its last syncs and errors (platform admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from balai.federation import service
from balai.web.deps import DB, PageActor
from balai.web.render import render

router = APIRouter()


@router.get("/federation")
def peers_page(request: Request, db: DB, actor: PageActor) -> HTMLResponse:
    """Every peer and how its last sync went."""
    return render(request, "federation/peers.html", {"peers": service.list_peers(db, actor=actor)})


@router.get("/federation/{key}")
def peer_page(request: Request, db: DB, actor: PageActor, key: str) -> HTMLResponse:
    """One peer: what crosses, where it got to, and its recent pulls and pushes."""
    peer = service.get_peer(db, actor=actor, key=key)
    runs = service.runs_of(db, actor=actor, peer=peer)
    return render(request, "federation/peer.html", {"peer": peer, "runs": runs})


@router.post("/federation/{key}/sync")
def sync_soon(db: DB, actor: PageActor, key: str) -> RedirectResponse:
    """Ask the worker to sync the peer at its next round."""
    peer = service.request_sync(db, actor=actor, key=key)
    return RedirectResponse(f"/federation/{peer.id}?requested=1", status_code=303)
