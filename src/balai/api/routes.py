"""The REST API, gathered from each domain's api module."""

from __future__ import annotations

from fastapi import APIRouter

from balai.accounts.api import router as accounts
from balai.alerts.api import router as alerts
from balai.audit.api import router as audit
from balai.checks.api import router as checks
from balai.directory.api import router as directory
from balai.incidents.api import router as incidents
from balai.intel.api import router as intel
from balai.outbox.api import router as outbox
from balai.scan.api import router as scan

api_router = APIRouter()
for domain in (directory, checks, intel, incidents, alerts, scan, accounts, audit, outbox):
    api_router.include_router(domain)
