"""Queries on public_users; the create is one race-safe upsert on both dialects."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gomeet.db import dialect_insert, utcnow
from gomeet.public_users.models import PublicUser


class PublicUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_session(self, session_id: str) -> PublicUser | None:
        result = await self.session.scalars(
            select(PublicUser).where(PublicUser.session_id == session_id)
        )
        return result.one_or_none()

    async def upsert(self, session_id: str, name: str) -> tuple[PublicUser, bool]:
        """Insert, or rename the row of an existing session; True when the row is new.

        The new row's id is chosen here: the returned row has it only if this statement
        inserted, which tells a create from an update on every dialect.
        """
        new_id, now = uuid.uuid4(), utcnow()
        stmt = dialect_insert(self.session, PublicUser).values(
            id=new_id, name=name, session_id=session_id, created_at=now, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[PublicUser.session_id],
            set_={"name": stmt.excluded.name, "updated_at": stmt.excluded.updated_at},
        ).returning(PublicUser)
        result = await self.session.scalars(stmt, execution_options={"populate_existing": True})
        row: PublicUser = result.one()
        return row, row.id == new_id

    async def rename(self, session_id: str, name: str) -> PublicUser | None:
        """One `UPDATE … RETURNING`: no read-then-write window, nothing to upgrade a lock on."""
        stmt = (
            update(PublicUser)
            .where(PublicUser.session_id == session_id)
            .values(name=name, updated_at=utcnow())
            .returning(PublicUser)
        )
        result = await self.session.scalars(stmt, execution_options={"populate_existing": True})
        return result.one_or_none()
