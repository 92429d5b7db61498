"""The console's one table: forms already submitted, so a second click does nothing twice."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from darvaza.db import Base


class FormUse(Base):
    """One submitted form (its random id, made when the page was shown) and, once the
    form's action is done, the page it led to. Tied to the credential that sent it: they
    go when the session does (sessions.cleanup)."""

    __tablename__ = "console_form_uses"

    form_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Named by table, not imported: identity sits above the console's foundation.
    credential_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("credentials.id", ondelete="CASCADE"), index=True
    )
    used_at: Mapped[datetime]
    location: Mapped[str | None] = mapped_column(String(500))
