"""What a read's response says about the registers (tests/consistency/history.py).

Every meeting JSON, wherever it appears (details, the host's lists, a joined list, the
upcoming list), shows its name, its `isActive`, its host's username and, for every tracked
person, their participant row (name and `isActive`) or its absence. Versioned values
(`m1-v7-odd`, `u2-v3`, `g1-v4`) make every state identifiable; a row in a public list,
which has no ids, is recognised by its name's tag (`u2-`, `g1-`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from consistency.history import ABSENT, Observation, Register
from helpers import API
from meetings.meeting_helpers import MEETINGS

SEARCH = "odd"  # `GET /meetings?search=odd`: meetings whose name is at an odd version


def meeting_name(tag: str, version: int) -> str:
    return f"{tag}-v{version}-{'odd' if version % 2 else 'even'}"


def person_name(tag: str, version: int) -> str:
    return f"{tag}-v{version}"


def tag_of(name: str) -> str:
    return name.split("-v", 1)[0]


@dataclass
class Person:
    """A user (host or member) or a guest; `id` is the user id or the public user id."""

    tag: str
    id: str
    guest: bool
    auth: dict[str, str] = field(default_factory=dict)
    session_id: str = ""

    @property
    def name_register(self) -> Register:
        kind = "guest_name" if self.guest else "user_name"
        return Register(kind, self.id, self.tag)


@dataclass
class Meeting:
    tag: str
    id: str
    host: Person

    @property
    def name_register(self) -> Register:
        return Register("meeting_name", self.id, self.tag)

    @property
    def active_register(self) -> Register:
        return Register("meeting_active", self.id, self.tag)


def member_register(person: Person, meeting: Meeting) -> Register:
    return Register("member", f"{person.id}:{meeting.id}", f"{person.tag} in {meeting.tag}")


@dataclass(frozen=True)
class Probe:
    """One read: endpoint (template), path, who asks, and what its `data` says."""

    endpoint: str
    label: str
    path: str
    auth: dict[str, str] | None
    observe: Callable[[Any], list[Observation]]
    params: tuple[tuple[str, str], ...] = ()


@dataclass
class Population:
    hosts: list[Person]
    members: list[Person]
    guests: list[Person]
    meetings: list[Meeting]

    def __post_init__(self) -> None:
        self.by_id = {p.id: p for p in self.people}
        self.by_tag = {p.tag: p for p in self.people}
        self.meeting_by_id = {m.id: m for m in self.meetings}

    @property
    def users(self) -> list[Person]:
        return [*self.hosts, *self.members]

    @property
    def people(self) -> list[Person]:
        return [*self.hosts, *self.members, *self.guests]

    @property
    def participants(self) -> list[Person]:
        """Who joins and leaves meetings: members and guests."""
        return [*self.members, *self.guests]

    def hosted_by(self, host: Person) -> list[Meeting]:
        return [m for m in self.meetings if m.host is host]

    def probes(self) -> list[Probe]:
        """Every read endpoint, for every subject."""
        pop = self
        out: list[Probe] = []
        for m in pop.meetings:
            base, auth = f"{MEETINGS}/{m.id}", m.host.auth
            rows, public_rows = (functools.partial(f, m) for f in (pop.of_rows, pop.of_public_rows))
            out += [
                Probe("GET /meetings/{id}", m.tag, base, auth, pop.of_meeting),
                Probe("GET /meetings/{id}/participants", m.tag, f"{base}/participants", auth, rows),
                Probe("GET /meetings/{id}/public", m.tag, f"{base}/public", None,
                      pop.of_public_meeting),
                Probe("GET /meetings/{id}/participants/public", m.tag,
                      f"{base}/participants/public", None, public_rows),
            ]  # fmt: skip
        for h in pop.hosts:
            out += [
                Probe("GET /meetings", h.tag, MEETINGS, h.auth,
                      functools.partial(pop.of_hosted, h, "")),
                Probe("GET /meetings?search", h.tag, MEETINGS, h.auth,
                      functools.partial(pop.of_hosted, h, SEARCH), (("search", SEARCH),)),
                Probe("GET /meetings/upcoming", h.tag, f"{MEETINGS}/upcoming", h.auth,
                      pop.of_upcoming),
            ]  # fmt: skip
        out += [
            Probe("GET /meetings/joined", u.tag, f"{MEETINGS}/joined", u.auth,
                  functools.partial(pop.of_joined, u))
            for u in pop.members
        ]  # fmt: skip
        out += [
            Probe("GET /auth/me", u.tag, f"{API}/auth/me", u.auth,
                  functools.partial(pop.of_profile, u))
            for u in pop.users
        ]  # fmt: skip
        out += [
            Probe("GET /public-users/session/{id}", g.tag,
                  f"{API}/public-users/session/{g.session_id}", None,
                  functools.partial(pop.of_guest, g))
            for g in pop.guests
        ]  # fmt: skip
        return out

    # -- observations ---------------------------------------------------------------------

    def of_meeting(self, data: dict[str, Any]) -> list[Observation]:
        meeting = self.meeting_by_id.get(data["id"])
        if meeting is None:
            return []
        out = [
            Observation.exactly(meeting.name_register, data["name"]),
            Observation.exactly(meeting.active_register, data["isActive"]),
            Observation.exactly(meeting.host.name_register, data["host"]["username"]),
        ]
        return out + self.of_rows(meeting, data["participants"])

    def of_rows(self, meeting: Meeting, rows: Iterable[dict[str, Any]]) -> list[Observation]:
        """A participant list with ids (`/participants`, a meeting's `participants`)."""
        return self._rows(meeting, {r["userId"] or r["publicUserId"]: r for r in rows})

    def of_public_rows(self, meeting: Meeting, rows: list[dict[str, Any]]) -> list[Observation]:
        """`/participants/public`: no ids, so a row is its person's by the name's tag."""
        people = {tag_of(r["name"]): r for r in rows}
        return self._rows(meeting, {p.id: people[p.tag] for p in self.people if p.tag in people})

    def _rows(self, meeting: Meeting, by_person: dict[str, dict[str, Any]]) -> list[Observation]:
        """Each participant's row (membership flag and name), or the row's absence."""
        out: list[Observation] = []
        for person in self.participants:
            row = by_person.get(person.id)
            register = member_register(person, meeting)
            if row is None:
                out.append(Observation.exactly(register, ABSENT))
            else:
                out.append(Observation.exactly(register, row["isActive"]))
                out.append(Observation.exactly(person.name_register, row["name"]))
        return out

    def of_public_meeting(self, data: dict[str, Any]) -> list[Observation]:
        meeting = self.meeting_by_id[data["id"]]
        return [
            Observation.exactly(meeting.name_register, data["name"]),
            Observation.exactly(meeting.active_register, data["isActive"]),
            Observation.exactly(meeting.host.name_register, data["host"]["username"]),
        ]

    def of_hosted(self, host: Person, search: str, page: dict[str, Any]) -> list[Observation]:
        """The host's list: every meeting shown, and, for a search, what its absence says."""
        meetings = page["meetings"]
        out = [o for m in meetings for o in self.of_meeting(m)]
        if search:
            shown = {m["id"] for m in meetings}
            for meeting in self.hosted_by(host):
                if meeting.id not in shown:
                    fits = functools.partial(_not_matching, search)
                    out.append(Observation(meeting.name_register, f"not matching {search!r}", fits))
        return out

    def of_joined(self, person: Person, page: dict[str, Any]) -> list[Observation]:
        """A user's joined list: a meeting is there iff the user has a row in it."""
        meetings = page["meetings"]
        out = [o for m in meetings for o in self.of_meeting(m)]
        shown = {m["id"] for m in meetings}
        for meeting in self.meetings:
            register = member_register(person, meeting)
            if meeting.id in shown:
                out.append(Observation(register, "listed", _listed))
            else:
                out.append(Observation.exactly(register, ABSENT))
        return out

    def of_upcoming(self, meetings: list[dict[str, Any]]) -> list[Observation]:
        return [o for m in meetings for o in self.of_meeting(m)]

    @staticmethod
    def of_profile(user: Person, data: dict[str, Any]) -> list[Observation]:
        """`/auth/me`."""
        return [Observation.exactly(user.name_register, data["user"]["username"])]

    @staticmethod
    def of_guest(guest: Person, data: dict[str, Any]) -> list[Observation]:
        """`/public-users/session/{id}`."""
        return [Observation.exactly(guest.name_register, data["name"])]


def _not_matching(term: str, value: Any) -> bool:
    return term not in str(value).lower()


def _listed(value: Any) -> bool:
    return bool(value != ABSENT)
