from __future__ import annotations

import uuid

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from gomeet.db import Base, TimestampMixin


class PublicUser(TimestampMixin, Base):
    __tablename__ = "public_users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
