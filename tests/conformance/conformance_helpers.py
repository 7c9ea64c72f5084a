"""A real served app for schema-driven testing: uvicorn in a thread, on a free port, and
signed-in callers (a user, or an administrator) with a meeting, a guest and a flag of theirs."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from redis import Redis
from sqlalchemy import update

from gomeet.cache import keys
from gomeet.db import create_engine
from gomeet.models import User
from helpers import DEFAULT_PASSWORD, free_port


class ThreadedServer:
    """`with ThreadedServer(app) as server:` the app served over real HTTP at `server.url`."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
            lifespan="on",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "the server thread died"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Caller:
    """A signed-in caller and ids of things that exist, to put into generated requests."""

    role: str
    token: str
    user_id: str
    meeting_id: str
    session_id: str
    flag_name: str = "use_webrtc_mesh"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def existing(self, path_parameters: dict[str, Any]) -> dict[str, Any]:
        """The same path parameters, with ids of things that exist."""
        known = {
            "meeting_id": self.meeting_id,
            "session_id": self.session_id,
            "flag_name": self.flag_name,
        }
        return {name: known.get(name, value) for name, value in path_parameters.items()}


def sign_in(base_url: str, database_url: str, redis_url: str, role: str) -> Caller:
    """A fresh user (made an administrator for `admin`), hosting one meeting, and a guest."""
    suffix = uuid.uuid4().hex[:10]
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as client:
        registered = client.post(
            "/auth/register",
            json={"username": f"st_{suffix}", "email": f"st_{suffix}@example.com",
                  "password": DEFAULT_PASSWORD},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        data = registered.json()["data"]
        user_id, token = data["user"]["id"], data["accessToken"]
        if role == "admin":
            asyncio.run(_promote(database_url, uuid.UUID(user_id)))
            with Redis.from_url(redis_url) as redis:
                redis.delete(keys.user_profile(uuid.UUID(user_id)).key)
        auth = {"Authorization": f"Bearer {token}"}
        start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        meeting = client.post("/meetings", json={"name": "Standup", "startTime": start},
                              headers=auth)  # fmt: skip
        assert meeting.status_code == 201, meeting.text
        session_id = f"session-{suffix}"
        guest = client.post("/public-users", json={"name": "Guest", "sessionId": session_id})
        assert guest.status_code == 201, guest.text
    return Caller(role, token, user_id, meeting.json()["data"]["id"], session_id)


async def _promote(database_url: str, user_id: uuid.UUID) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(role="admin"))
    finally:
        await engine.dispose()
