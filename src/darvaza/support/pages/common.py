"""What support's console pages share: their templates, who may see them, and doing a
form's action once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from darvaza.console.forms import FormFields, FormState, once
from darvaza.console.render import Pages, see_other
from darvaza.errors import DarvazaError
from darvaza.parts import Parts
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


def _acted(
    parts: Parts, access: Access, fields: FormFields, where: str, action: Callable[[], object],
    again: Callable[[FormState, int], HTMLResponse], form: FormState,
) -> Response:  # fmt: skip
    """Do a form's action once and go to `where`; a refusal shows the page again with why
    (an unknown id stays a 404)."""

    def act() -> str:
        action()
        return where

    try:
        return see_other(once(parts.db, access.user, fields, act, pending=where).location)
    except DarvazaError as exc:
        if exc.status_code == 404:
            raise
        form.refuse(exc)
        return again(form, exc.status_code)
