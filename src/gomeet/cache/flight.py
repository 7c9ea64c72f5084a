"""Single-flight: concurrent misses of one key in this process share one load.

A joiner may only be given a value that is no older than its own arrival:
- a load under a lease is voided by any invalidation during it (its store then fails, or
  an invalidation forgets the flight), and the joiners start over;
- a load without a lease (Redis unusable, or a holder past its longest hold) started at a
  known moment: joiners that arrived after that moment wait for it to end and then share
  the next load, which started after they arrived. At most one such load per key runs at
  a time, and nobody is given a value read before they asked (a write that returned before
  they arrived is always seen).

The leader's error reaches every joiner; a cancelled leader (its client went away) makes the
joiners start over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

JSON = Any


class Flight:
    __slots__ = ("future", "index", "unleased_since", "voided")

    def __init__(self, future: asyncio.Future[tuple[JSON, bool]], index: str | None) -> None:
        self.future = future
        self.index = index
        self.voided = False  # invalidated while loading: joiners start over
        self.unleased_since: int | None = None  # the arrival count when an unleased load began


Lead = Callable[[Flight], Awaitable[tuple[JSON, bool, bool]]]  # -> (value, hit, valid)


class Flights:
    __slots__ = ("active", "clock")

    def __init__(self) -> None:
        self.active: dict[str, Flight] = {}
        self.clock = 0

    def arrive(self) -> int:
        """A caller's place in time: every call of the cache takes one on entry."""
        self.clock += 1
        return self.clock

    def loading_unleased(self, flight: Flight) -> None:
        """`flight` is about to load without a lease: only earlier arrivals may share it."""
        flight.unleased_since = self.arrive()

    async def run(
        self, name: str, index: str | None, arrival: int, lead: Lead
    ) -> tuple[JSON, bool]:
        """(value, hit): lead the load of `name`, or share the one in flight."""
        for _ in range(3):
            flight = self.active.get(name)
            if flight is None:
                return await self._lead(name, index, lead)
            try:
                value, hit = await asyncio.shield(flight.future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                continue  # the leader was cancelled: start over
            if flight.voided:
                continue
            if flight.unleased_since is not None and arrival > flight.unleased_since:
                continue  # read before we arrived: the next load is ours to share
            return value, hit
        value, hit, _ = await lead(Flight(asyncio.get_running_loop().create_future(), index))
        return value, hit

    async def _lead(self, name: str, index: str | None, lead: Lead) -> tuple[JSON, bool]:
        flight = Flight(asyncio.get_running_loop().create_future(), index)
        self.active[name] = flight
        try:
            value, hit, valid = await lead(flight)
        except BaseException as exc:
            _settle_error(flight.future, exc)
            raise
        finally:
            if self.active.get(name) is flight:
                del self.active[name]
        if not valid:
            flight.voided = True
        if not flight.future.done():
            flight.future.set_result((value, hit))
        return value, hit

    def forget(self, names: Iterable[str], indexes: Iterable[str]) -> None:
        """An invalidation: loads in flight for these keys are voided; new callers reload."""
        active = self.active
        for name in names:
            flight = active.pop(name, None)
            if flight is not None:
                flight.voided = True
        wanted = set(indexes)
        if wanted:
            for name, flight in list(active.items()):
                if flight.index in wanted:
                    flight.voided = True
                    del active[name]

    def forget_all(self) -> None:
        for flight in self.active.values():
            flight.voided = True
        self.active.clear()


def _settle_error(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
        future.exception()  # retrieved: no "never retrieved" warning without joiners
