"""The api-read data set: users, meetings and participants, derived from a seed.

The seeding process and the load generator rebuild the same data set from the same
`DatasetSpec`, so no ID list has to travel between processes.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gomeet.db import utcnow


@dataclass(frozen=True)
class DatasetSpec:
    users: int
    meetings: int
    participants_per_meeting: int
    seed: int = 4

    @property
    def participants(self) -> int:
        return self.meetings * self.participants_per_meeting


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class Dataset:
    """IDs and relations; row values for seeding come from `rows_*`."""

    def __init__(self, spec: DatasetSpec) -> None:
        if spec.users <= spec.participants_per_meeting:
            raise ValueError("need more users than participants per meeting")
        self.spec = spec
        rng = random.Random(spec.seed)  # noqa: S311 - synthetic data
        self.user_ids = [_uuid(rng) for _ in range(spec.users)]
        self.meeting_ids = [_uuid(rng) for _ in range(spec.meetings)]
        self.host_of = [rng.randrange(spec.users) for _ in range(spec.meetings)]
        self.members_of: list[tuple[int, ...]] = []
        for m in range(spec.meetings):
            members: set[int] = set()
            while len(members) < spec.participants_per_meeting:
                u = rng.randrange(spec.users)
                if u != self.host_of[m]:
                    members.add(u)
            self.members_of.append(tuple(sorted(members)))
        # Start times spread over +-30 days, so both upcoming and past lists have rows.
        self.start_offsets = [rng.uniform(-30, 30) for _ in range(spec.meetings)]

    def username(self, user: int) -> str:
        return f"bench_user_{user}"

    def rows_users(self, password_hash: str, now: datetime) -> list[tuple[Any, ...]]:
        return [
            (uid, self.username(i), f"{self.username(i)}@example.com", password_hash, None,
             "user", 0, now, now)
            for i, uid in enumerate(self.user_ids)
        ]  # fmt: skip

    def rows_meetings(self, now: datetime) -> list[tuple[Any, ...]]:
        return [
            (mid, f"Meeting {m}", now + timedelta(days=self.start_offsets[m]),
             self.user_ids[self.host_of[m]], False,
             now - timedelta(days=60) + timedelta(seconds=m), now)
            for m, mid in enumerate(self.meeting_ids)
        ]  # fmt: skip

    def rows_participants(self, now: datetime) -> list[tuple[Any, ...]]:
        rng = random.Random(self.spec.seed + 1)  # noqa: S311 - synthetic data
        rows = []
        for m, members in enumerate(self.members_of):
            for k, u in enumerate(members):
                rows.append(
                    (_uuid(rng), self.meeting_ids[m], self.user_ids[u], None, self.username(u),
                     None, True, now - timedelta(days=30) + timedelta(seconds=m * 8 + k), None)
                )  # fmt: skip
        return rows


USER_COLUMNS = [
    "id", "username", "email", "password_hash", "avatar_url", "role", "token_version",
    "created_at", "updated_at",
]  # fmt: skip
MEETING_COLUMNS = ["id", "name", "start_time", "host_id", "is_active", "created_at", "updated_at"]
PARTICIPANT_COLUMNS = [
    "id", "meeting_id", "user_id", "public_user_id", "name", "avatar_url", "is_active",
    "joined_at", "left_at",
]  # fmt: skip

BENCH_PASSWORD = "Bench-Passw0rd!x"  # noqa: S105 - the seeded users' (public) password


async def seed(database_url: str, dataset: Dataset, password_hash: str) -> str:
    """Bulk-load the data set with COPY (asyncpg), then ANALYZE; returns the server version."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    now = utcnow().astimezone(UTC)
    try:
        await conn.copy_records_to_table(
            "users", records=dataset.rows_users(password_hash, now), columns=USER_COLUMNS
        )
        await conn.copy_records_to_table(
            "meetings", records=dataset.rows_meetings(now), columns=MEETING_COLUMNS
        )
        await conn.copy_records_to_table(
            "participants", records=dataset.rows_participants(now), columns=PARTICIPANT_COLUMNS
        )
        await conn.execute("ANALYZE")
        version = conn.get_server_version()
        return f"{version.major}.{version.minor}"
    finally:
        await conn.close()
