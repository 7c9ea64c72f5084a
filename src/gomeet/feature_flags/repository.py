"""Queries on feature_flags; writes are upserts on the flag name."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from gomeet.db import dialect_insert, utcnow
from gomeet.feature_flags.models import FeatureFlag

_UNSET: Any = object()


class FeatureFlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[FeatureFlag]:
        result = await self.session.scalars(select(FeatureFlag).order_by(FeatureFlag.name))
        return list(result)

    async def get(self, name: str) -> FeatureFlag | None:
        return await self.session.get(FeatureFlag, name)

    async def current(self, names: Iterable[str]) -> Sequence[Row[str, bool, str | None, datetime]]:
        """The committed columns of these flags, bypassing the session's identity map."""
        result = await self.session.execute(
            select(
                FeatureFlag.name,
                FeatureFlag.enabled,
                FeatureFlag.description,
                FeatureFlag.updated_at,
            ).where(FeatureFlag.name.in_(list(names)))
        )
        return result.all()

    async def upsert(
        self,
        name: str,
        enabled: bool,
        updated_by: uuid.UUID,
        description: str | None = _UNSET,
    ) -> FeatureFlag:
        """Create or change a flag in one statement; `description` is kept when not given."""
        values: dict[str, Any] = {
            "name": name,
            "enabled": enabled,
            "updated_at": utcnow(),
            "updated_by": updated_by,
        }
        if description is not _UNSET:
            values["description"] = description
        stmt = dialect_insert(self.session, FeatureFlag).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FeatureFlag.name],
            set_={k: stmt.excluded[k] for k in values if k != "name"},
        ).returning(FeatureFlag)
        result = await self.session.scalars(stmt, execution_options={"populate_existing": True})
        flag: FeatureFlag = result.one()
        return flag
