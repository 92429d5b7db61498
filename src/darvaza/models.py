"""Every domain's tables, imported in one place so the metadata is complete.

Alembic's autogenerate and `darvaza migrate --check` compare against this metadata; a
domain whose models are not imported here would look like a table to drop.
"""

from darvaza.audit import models as audit_models
from darvaza.billing import models as billing_models
from darvaza.console import models as console_models
from darvaza.content import models as content_models
from darvaza.db import Base
from darvaza.exports import models as export_models
from darvaza.identity import models as identity_models
from darvaza.incidents import models as incident_models
from darvaza.jobs import models as job_models
from darvaza.operations import models as operations_models
from darvaza.ops import models as ops_models
from darvaza.readiness import models as readiness_models
from darvaza.support import models as support_models
from darvaza.tenants import models as tenant_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "billing_models",
    "console_models",
    "content_models",
    "export_models",
    "identity_models",
    "incident_models",
    "job_models",
    "metadata",
    "operations_models",
    "ops_models",
    "readiness_models",
    "support_models",
    "tenant_models",
]
