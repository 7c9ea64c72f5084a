from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    case,
    column,
    select,
    table,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from gomeet.auth.models import User
from gomeet.db import Base, TimestampMixin, utcnow


class Meeting(TimestampMixin, Base):
    __tablename__ = "meetings"
    __table_args__ = (
        Index("ix_meetings_host_created", "host_id", "created_at"),
        Index("ix_meetings_host_start", "host_id", "start_time"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    start_time: Mapped[datetime]
    duration: Mapped[int | None] = mapped_column(default=None)  # minutes
    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(default=False)

    host: Mapped[User] = relationship(lazy="raise")
    participants: Mapped[list[Participant]] = relationship(
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Participant.joined_at",
    )


# The guests' table by name (as the foreign key names it), so that this domain need not
# import the public-users domain, which builds on it.
_guests = table("public_users", column("id", Uuid()), column("name", String()))


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("meeting_id", "user_id", name="uq_participants_meeting_user"),
        UniqueConstraint(
            "meeting_id", "public_user_id", name="uq_participants_meeting_public_user"
        ),
        Index("ix_participants_user_joined", "user_id", "joined_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    public_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("public_users.id", ondelete="CASCADE"), default=None
    )
    # As given when the row was made; a user's or a guest's row shows their current name
    # and avatar instead (`shown_name`, `shown_avatar_url`), so a rename reaches every
    # meeting without rewriting rows, and no rename can race a join into a stale copy.
    name: Mapped[str] = mapped_column(String(100))
    avatar_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(default=None)

    shown_name: Mapped[str] = column_property(
        case(
            (
                user_id.is_not(None),
                select(User.username).where(User.id == user_id).scalar_subquery(),
            ),
            (
                public_user_id.is_not(None),
                select(_guests.c.name).where(_guests.c.id == public_user_id).scalar_subquery(),
            ),
            else_=name,
        )
    )
    shown_avatar_url: Mapped[str | None] = column_property(
        case(
            (
                user_id.is_not(None),
                select(User.avatar_url).where(User.id == user_id).scalar_subquery(),
            ),
            else_=avatar_url,
        )
    )
