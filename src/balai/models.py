"""Every table, imported in one place so that metadata (and Alembic) sees them all."""

from __future__ import annotations

from balai.accounts import models as accounts_models
from balai.alerts import models as alerts_models
from balai.audit import models as audit_models
from balai.checks import models as checks_models
from balai.db import Base
from balai.directory import models as directory_models
from balai.federation import models as federation_models
from balai.incidents import models as incidents_models
from balai.intel import models as intel_models
from balai.outbox import models as outbox_models
from balai.taxii import models as taxii_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "alerts_models",
    "audit_models",
    "checks_models",
    "directory_models",
    "federation_models",
    "incidents_models",
    "intel_models",
    "metadata",
    "outbox_models",
    "taxii_models",
]
