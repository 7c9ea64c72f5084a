"""A consistency checker in the spirit of Meta's Polaris, from outside the cache.

Concurrent writers and readers go through two (or more) app instances that share one
Redis and one database; a third app with `GOMEET_CACHE=off` on the same database is the
oracle. Only the HTTP API is used, so the checker works on any design of the cache.

- **Writers**, each sequential, so every register has one writer (tests/consistency/
  history.py): each host renames its meetings (`m1-v7-odd`), starts and ends them and
  renames itself; each member user joins and leaves meetings and renames itself; each guest
  joins and leaves meetings and renames itself. Each operation goes through an instance
  picked at random. When the run stops, a closing round writes every writer's registers
  once more (a guest first joins a meeting if it never did), so the final state differs
  from anything cached before it.
- **Readers** call every read endpoint (`probes`) through random instances. Every read is
  judged when it ends: a read that began after a write was acknowledged and shows an older
  state is a **stale read** (`Report.stale_reads`, with the register, expected and seen).
- **Quiescence**: once the writes have stopped, after `settle` seconds (1 s, plus the
  in-process tier's TTL when it is on), every probe is read on each instance and on the
  oracle; an instance whose `data` differs from the oracle's is a **stale entry**. Those
  reads are judged as well (the oracle's too: a stale read there is the database's).

Modules: `history` (registers, writes, the judgement of a read), `observe` (what each
endpoint's `data` says of the registers; the probes), `instances` (the apps), `report`
(the summary table). The workload is seeded (`seed`): the writers' and readers' choices
are reproducible, their interleaving is whatever the machine makes of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from consistency.history import (
    ABSENT,
    Register,
    RegisterLog,
    StaleRead,
    Write,
    judge,
)
from consistency.instances import Instance
from consistency.observe import (
    Meeting,
    Person,
    Population,
    Probe,
    meeting_name,
    member_register,
    person_name,
)
from consistency.report import Outcome, Report, StaleEntry, first_difference
from helpers import API, bearer, register
from meetings.meeting_helpers import MEETINGS, data_of


@dataclass(frozen=True)
class CheckerConfig:
    duration: float = 4.0  # seconds of concurrent writes and reads
    settle: float = 1.0  # seconds between the last write and the quiescence reads
    hosts: int = 2
    meetings_per_host: int = 2  # at most 5: all of them on `/meetings/upcoming`
    members: int = 3
    guests: int = 2
    readers: int = 4
    pause: float = 0.01  # each writer waits up to this long between two operations
    seed: int = 1


class Checker:
    def __init__(
        self,
        instances: list[Instance],
        oracle: Instance,
        config: CheckerConfig | None = None,
        *,
        write_via: Sequence[str] | None = None,
    ) -> None:
        """`write_via`: the names of the instances writes go through (default: all)."""
        self.instances = instances
        self.writers_on = [i for i in instances if write_via is None or i.name in write_via]
        self.oracle = oracle
        self.config = config or CheckerConfig()
        self.logs: dict[Register, RegisterLog] = {}
        self.ops: Counter[tuple[str, str]] = Counter()  # (endpoint, read|write)
        self.by_instance: Counter[str] = Counter()
        self.stale: list[StaleRead] = []
        self.errors: list[str] = []
        self.outcomes: list[Outcome] = []  # every request of the load, in order of its end
        self.population: Population | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = 0.0
        self._stopped = 0.0
        self._reads = 0

    # -- set-up ---------------------------------------------------------------------------

    async def populate(self) -> Population:
        """Users, meetings and guests at version 0, made through the first instance."""
        client = self.instances[0].client
        run = uuid.uuid4().hex[:8]
        cfg = self.config

        async def user(tag: str) -> Person:
            email = f"{tag}.{run}@example.com"
            data = await register(client, username=person_name(tag, 0), email=email)
            return Person(tag, data["user"]["id"], False, bearer(data["accessToken"]))

        hosts = [await user(f"h{i}") for i in range(1, cfg.hosts + 1)]
        members = [await user(f"u{i}") for i in range(1, cfg.members + 1)]
        guests = []
        for i in range(1, cfg.guests + 1):
            session = f"chk-g{i}-{run}"
            body = {"name": person_name(f"g{i}", 0), "sessionId": session}
            data = data_of(await client.post(f"{API}/public-users", json=body), 201)
            guests.append(Person(f"g{i}", data["id"], True, session_id=session))
        meetings = []
        for h, host in enumerate(hosts):
            for j in range(cfg.meetings_per_host):
                tag = f"m{h * cfg.meetings_per_host + j + 1}"
                start = (datetime.now(UTC) + timedelta(days=1 + j, hours=h)).isoformat()
                body = {"name": meeting_name(tag, 0), "startTime": start}
                data = data_of(await client.post(MEETINGS, json=body, headers=host.auth), 201)
                meetings.append(Meeting(tag, data["id"], host))
        pop = Population(hosts, members, guests, meetings)
        for m in meetings:
            self.logs[m.name_register] = RegisterLog(meeting_name(m.tag, 0))
            self.logs[m.active_register] = RegisterLog(False)
            for p in pop.participants:
                self.logs[member_register(p, m)] = RegisterLog(ABSENT)
        for p in pop.people:
            self.logs[p.name_register] = RegisterLog(person_name(p.tag, 0))
        self.population = pop
        return pop

    # -- running --------------------------------------------------------------------------

    async def run(self, before_final: Callable[[], Awaitable[None]] | None = None) -> Report:
        """populate, `duration` seconds of load, stop, settle, the quiescence pass."""
        async with self.running():
            await asyncio.sleep(self.config.duration)
        return await self.finish(before_final)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Population]:
        """The load runs while the block does (a test may inject faults meanwhile); on
        leaving, the writers finish their closing round and the readers stop."""
        pop = self.population or await self.populate()
        self._started = time.monotonic()
        writers = [
            *(self._host(h, i) for i, h in enumerate(pop.hosts)),
            *(self._participant(p, i) for i, p in enumerate(pop.participants, 100)),
        ]
        writer_tasks = [asyncio.create_task(w) for w in writers]
        readers_done = asyncio.Event()
        reader_tasks = [
            asyncio.create_task(self._reader(self._rng(i), readers_done))
            for i in range(self.config.readers)
        ]
        try:
            yield pop
        finally:
            self._stop.set()
            await asyncio.gather(*writer_tasks)
            readers_done.set()
            await asyncio.gather(*reader_tasks)
            self._stopped = time.monotonic()

    async def finish(self, before_final: Callable[[], Awaitable[None]] | None = None) -> Report:
        await asyncio.sleep(self.config.settle)
        if before_final is not None:
            await before_final()
        entries = await self._quiescence()
        return Report(
            duration=self._stopped - self._started,
            settle=self.config.settle,
            ops=self.ops,
            by_instance=self.by_instance,
            reads=self._reads,
            stale_reads=self.stale,
            stale_entries=entries,
            errors=self.errors,
            outcomes=self.outcomes,
        )

    def replace(self, name: str, instance: Instance | None) -> None:
        """Take instance `name` out of the load and the quiescence pass (it was killed), or,
        with `instance`, put that one in its place (restarted)."""
        for pool in (self.instances, self.writers_on):
            pool[:] = [x for x in pool if x.name != name] + ([instance] if instance else [])

    # -- one operation --------------------------------------------------------------------

    def _rng(self, index: int) -> random.Random:
        """Each writer's and reader's own seeded choices."""
        return random.Random(self.config.seed * 1000 + index)

    def _instance(self, rng: random.Random) -> Instance:
        return rng.choice(self.instances)

    def _writer_instance(self, rng: random.Random) -> Instance:
        return rng.choice(self.writers_on)

    async def _write(
        self,
        instance: Instance,
        method: str,
        endpoint: str,
        path: str,
        effects: list[tuple[Register, Any]],
        *,
        auth: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        writes = [Write(register, value, time.monotonic()) for register, value in effects]
        for w in writes:
            self.logs[w.register].writes.append(w)
        response = await self._send(instance, method, path, json=body, headers=auth)
        end = time.monotonic()
        for w in writes:
            w.end, w.failed = end, not response.is_success
        self._count(instance, endpoint, "write", response, writes[0].start, end)

    async def _read(self, instance: Instance, probe: Probe) -> Any:
        start = time.monotonic()
        response = await self._send(
            instance, "GET", probe.path, params=probe.params, headers=probe.auth
        )
        end = time.monotonic()
        self._count(instance, probe.endpoint, "read", response, start, end)
        self._reads += 1
        if response.status_code != 200:
            return None
        data = response.json()["data"]
        for obs in probe.observe(data):
            stale = judge(
                obs,
                self.logs[obs.register],
                start,
                end,
                instance.grace,
                endpoint=probe.endpoint,
                instance=instance.name,
            )
            if stale is not None:
                self.stale.append(stale)
        return data

    @staticmethod
    async def _send(instance: Instance, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The instance's response; a connection that failed (an instance killed, a real
        server's socket reset) is status 0, an outcome like any failed request."""
        try:
            return await instance.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            return httpx.Response(0, text=f"{type(exc).__name__}: {exc}")

    def _count(
        self,
        instance: Instance,
        endpoint: str,
        kind: str,
        response: httpx.Response,
        start: float,
        end: float,
    ) -> None:
        self.ops[(endpoint, kind)] += 1
        self.by_instance[instance.name] += 1
        self.outcomes.append(
            Outcome(instance.name, endpoint, kind, start, end, response.status_code)
        )
        if not response.is_success:  # a 3xx, 4xx, 5xx, or no response (0)
            self.errors.append(
                f"{endpoint} on {instance.name}: {response.status_code} {response.text[:200]}"
            )

    # -- writers --------------------------------------------------------------------------

    async def _pause(self, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, self.config.pause))

    async def _host(self, host: Person, index: int) -> None:
        rng = self._rng(500 + index)
        assert self.population is not None
        meetings = self.population.hosted_by(host)
        versions = {m.id: 0 for m in meetings}
        active = {m.id: False for m in meetings}
        me = 0

        async def rename(m: Meeting) -> None:
            versions[m.id] += 1
            name = meeting_name(m.tag, versions[m.id])
            await self._write(
                self._writer_instance(rng), "PUT", "PUT /meetings/{id}", f"{MEETINGS}/{m.id}",
                [(m.name_register, name)], auth=host.auth, body={"name": name},
            )  # fmt: skip

        async def toggle(m: Meeting) -> None:
            active[m.id] = not active[m.id]
            verb = "start" if active[m.id] else "end"
            await self._write(
                self._writer_instance(rng), "PATCH", f"PATCH /meetings/{{id}}/{verb}",
                f"{MEETINGS}/{m.id}/{verb}", [(m.active_register, active[m.id])], auth=host.auth,
            )  # fmt: skip

        async def rename_self() -> None:
            nonlocal me
            me += 1
            await self._rename_user(self._writer_instance(rng), host, me)

        while not self._stop.is_set():
            roll = rng.random()
            if roll < 0.45:
                await rename(rng.choice(meetings))
            elif roll < 0.8:
                await toggle(rng.choice(meetings))
            else:
                await rename_self()
            await self._pause(rng)
        for m in meetings:  # the closing round
            await rename(m)
            await toggle(m)
        await rename_self()

    async def _rename_user(self, instance: Instance, user: Person, version: int) -> None:
        name = person_name(user.tag, version)
        await self._write(
            instance, "PUT", "PUT /auth/update-profile", f"{API}/auth/update-profile",
            [(user.name_register, name)], auth=user.auth, body={"username": name},
        )  # fmt: skip

    async def _participant(self, person: Person, index: int) -> None:
        """A member user or a guest: joins, leaves, renames."""
        rng = self._rng(index)
        assert self.population is not None
        meetings = self.population.meetings
        state = {m.id: False for m in meetings}
        me = 0

        async def toggle(m: Meeting) -> None:
            state[m.id] = not state[m.id]
            verb = "join" if state[m.id] else "leave"
            effects: list[tuple[Register, Any]] = [(member_register(person, m), state[m.id])]
            instance = self._writer_instance(rng)
            if person.guest:
                endpoint = f"POST /public-users/{verb}-meeting"
                body = {"sessionId": person.session_id, "meetingId": m.id}
                path = f"{API}/public-users/{verb}-meeting"
                await self._write(instance, "POST", endpoint, path, effects, body=body)
            else:
                endpoint, path = f"POST /meetings/{{id}}/{verb}", f"{MEETINGS}/{m.id}/{verb}"
                await self._write(instance, "POST", endpoint, path, effects, auth=person.auth)

        async def rename_self() -> None:
            nonlocal me
            me += 1
            if not person.guest:
                await self._rename_user(self._writer_instance(rng), person, me)
                return
            name = person_name(person.tag, me)
            await self._write(
                self._writer_instance(rng), "PUT", "PUT /public-users/session/{id}",
                f"{API}/public-users/session/{person.session_id}",
                [(person.name_register, name)], body={"name": name},
            )  # fmt: skip

        joined_once = False
        while not self._stop.is_set():
            if rng.random() < 0.75:
                m = rng.choice(meetings)
                joined_once = joined_once or not state[m.id]
                await toggle(m)
            else:
                await rename_self()
            await self._pause(rng)
        if not joined_once:  # the closing round: a rename shown in a participant row
            await toggle(meetings[0])
        await rename_self()

    # -- readers --------------------------------------------------------------------------

    def probes(self) -> list[Probe]:
        assert self.population is not None
        return self.population.probes()

    async def _reader(self, rng: random.Random, done: asyncio.Event) -> None:
        probes = self.probes()
        while not done.is_set():
            await self._read(self._instance(rng), rng.choice(probes))
            await asyncio.sleep(0)

    async def _quiescence(self) -> list[StaleEntry]:
        entries: list[StaleEntry] = []
        for probe in self.probes():
            truth = await self._read(self.oracle, probe)
            for instance in self.instances:
                seen = await self._read(instance, probe)
                if seen != truth:
                    where = first_difference(truth, seen)
                    entries.append(StaleEntry(probe.endpoint, probe.label, instance.name, where))
        return entries
