"""The api-read request mix: Zipf(1.1) reads over the data set, with 5 % writes.

Reads: meeting details and participants (Zipf over meetings; the caller is the host or a
participant, so every read is authorised), `/auth/me` and the four lists (Zipf over users).
Writes: a user joins a meeting they are not in (Zipf over both), a user leaves a meeting the
workload joined earlier, a host renames a meeting (Zipf over meetings).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bench.dataset import Dataset
from bench.zipf import Zipf

API = "/api/v1"

DEFAULT_MIX: dict[str, float] = {
    "details": 0.25,
    "participants": 0.20,
    "me": 0.15,
    "list": 0.10,
    "upcoming": 0.10,
    "past": 0.075,
    "joined": 0.075,
    "join": 0.02,
    "leave": 0.02,
    "update": 0.01,
}
WRITES = frozenset({"join", "leave", "update"})
MEETING_READS = frozenset({"details", "participants"})


@dataclass(frozen=True, slots=True)
class Request:
    kind: str
    method: str
    path: str
    user: int  # the caller (index into the data set's users)
    body: bytes | None = None
    pair: tuple[int, int] | None = None  # (user, meeting) of a join or leave

    @property
    def cache_key(self) -> tuple[str, str, int]:
        """What a read's response is keyed by, for counting first touches (cold misses)."""
        return (self.kind, self.path, -1 if self.kind in MEETING_READS else self.user)


class Workload:
    def __init__(
        self,
        dataset: Dataset,
        mix: dict[str, float] | None = None,
        s: float = 1.1,
        seed: int = 0,
        hot_meetings: int | None = None,
    ) -> None:
        self.data = dataset
        self.mix = mix or DEFAULT_MIX
        self._rng = random.Random(seed)  # noqa: S311 - a workload
        self._kinds = list(self.mix)
        self._weights = [self.mix[k] for k in self._kinds]
        # Rank -> item: a fixed shuffle, so that popularity is not tied to the seeding order.
        self._meeting_rank = list(range(dataset.spec.meetings))
        self._user_rank = list(range(dataset.spec.users))
        self._rng.shuffle(self._meeting_rank)
        self._rng.shuffle(self._user_rank)
        # Meeting reads over the `hot_meetings` most popular (all by default).
        meetings = min(hot_meetings or dataset.spec.meetings, dataset.spec.meetings)
        self._meetings = Zipf(meetings, s, self._rng)
        self._users = Zipf(dataset.spec.users, s, self._rng)
        self._used_pairs: set[tuple[int, int]] = set()
        self.joined: deque[tuple[int, int]] = deque()  # pairs this workload joined, oldest first
        self._renames = 0
        self._builders: dict[str, Callable[[], Request | None]] = {
            "details": lambda: self._meeting_read("details", ""),
            "participants": lambda: self._meeting_read("participants", "/participants"),
            "me": lambda: self._user_read("me", f"{API}/auth/me"),
            "list": lambda: self._user_read("list", f"{API}/meetings?page=1&limit=10"),
            "upcoming": lambda: self._user_read("upcoming", f"{API}/meetings/upcoming?limit=5"),
            "past": lambda: self._user_read("past", f"{API}/meetings/past?page=1&limit=10"),
            "joined": lambda: self._user_read("joined", f"{API}/meetings/joined?page=1&limit=10"),
            "join": self._join,
            "leave": self._leave,
            "update": self._update,
        }

    def hot_meetings(self) -> list[int]:
        """Every meeting a meeting read can name, most popular first."""
        return self._meeting_rank[: self._meetings.n]

    def meeting(self) -> int:
        return self._meeting_rank[self._meetings.sample()]

    def user(self) -> int:
        return self._user_rank[self._users.sample()]

    def next_request(self) -> Request:
        kind = self._rng.choices(self._kinds, self._weights)[0]
        # A write with nothing to act on (no free pair to join) becomes a read.
        return self._builders[kind]() or self._meeting_read("details", "")

    def on_response(self, request: Request, ok: bool) -> None:
        """Track joins that succeeded, so that a later leave acts on a real participant."""
        if ok and request.kind == "join" and request.pair:
            self.joined.append(request.pair)

    def _meeting_read(self, kind: str, suffix: str) -> Request:
        m = self.meeting()
        members = self.data.members_of[m]
        caller = self.data.host_of[m] if self._rng.random() < 0.5 else self._rng.choice(members)
        return Request(kind, "GET", f"{API}/meetings/{self.data.meeting_ids[m]}{suffix}", caller)

    def _user_read(self, kind: str, path: str) -> Request:
        return Request(kind, "GET", path, self.user())

    def _join(self) -> Request | None:
        for _ in range(20):
            u, m = self.user(), self.meeting()
            if (
                (u, m) in self._used_pairs
                or u == self.data.host_of[m]
                or u in self.data.members_of[m]
            ):
                continue
            self._used_pairs.add((u, m))
            path = f"{API}/meetings/{self.data.meeting_ids[m]}/join"
            return Request("join", "POST", path, u, pair=(u, m))
        return None

    def _leave(self) -> Request | None:
        if not self.joined:
            return self._join()
        u, m = self.joined.popleft()
        path = f"{API}/meetings/{self.data.meeting_ids[m]}/leave"
        return Request("leave", "POST", path, u, pair=(u, m))

    def _update(self) -> Request:
        m = self.meeting()
        self._renames += 1
        body = f'{{"name": "Meeting {m} r{self._renames}"}}'.encode()
        path = f"{API}/meetings/{self.data.meeting_ids[m]}"
        return Request("update", "PUT", path, self.data.host_of[m], body=body)
