"""What support's console pages share: their templates, who may see them, and doing a
form's action once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from darvaza.console.render import Pages
from darvaza.security.policy import (
    SIGNED_IN,
    SUPPORT_ADMIN,
    TENANT_CUSTOMER,
    TENANT_DIRECTORY,
    TENANT_OWNER,
    TENANT_STAFF,
    Access,
    Requires,
)
from darvaza.support.schemas import (
    DataClass,
    GrantAction,
)

pages = Pages(Path(__file__).parents[1] / "templates")
SignedInPage = Annotated[Access, Requires(SIGNED_IN.for_pages())]
CustomerPage = Annotated[Access, Requires(TENANT_CUSTOMER.for_pages())]
StaffPage = Annotated[Access, Requires(TENANT_STAFF.for_pages())]
OwnerPage = Annotated[Access, Requires(TENANT_OWNER.for_pages())]
DeskPage = Annotated[Access, Requires(TENANT_DIRECTORY.for_pages())]
SupporterPage = Annotated[Access, Requires(SUPPORT_ADMIN.for_pages())]
MANAGE = "/t/{tenant}/manage"

NO_TICKET = "No such ticket here."
NO_GRANT = "No such support grant here."
FORM_AGAIN = "The form again, with what is wrong."


class GrantFormIn(BaseModel):
    """Asking for access from a ticket's page (the tenant and ticket come from the page)."""

    reason: str = Field(min_length=1, max_length=2_000, pattern=r"\S")
    # Checkboxes: no length limit here (the form checks each sent text against it); the
    # service refuses a data class or action named twice.
    data_classes: list[DataClass] = Field(min_length=1)
    access: str = Field(default="read", pattern="^(read|write)$")
    actions: list[GrantAction] = Field(default_factory=list)
    duration_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
