"""All page routes, gathered from each domain's web module."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from balai.accounts.web import router as accounts
from balai.alerts.web import router as alerts
from balai.audit.web import router as audit
from balai.checks.web import router as checks
from balai.demo.web import router as demo
from balai.directory.web import router as directory
from balai.federation.web import router as federation
from balai.incidents.web import router as incidents
from balai.incidents.web_coordination import router as incident_coordination
from balai.intel.web import router as intel
from balai.outbox.web import router as outbox
from balai.scan.web import router as scan
from balai.taxii.web import router as taxii
from balai.web.csrf import csrf_protect

web_router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
for domain in (
    accounts,
    directory,
    checks,
    intel,
    incidents,
    incident_coordination,
    alerts,
    scan,
    taxii,
    federation,
    audit,
    outbox,
    demo,
):
    web_router.include_router(domain)
