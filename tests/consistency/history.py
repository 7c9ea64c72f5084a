"""The consistency checker's model: single-writer registers, the writes made to them, what
reads observed of them, and the judgement of a read (Polaris-style, from outside).

A register has one writer, whose writes are sequential, so its writes are totally ordered.
A read that began at `start` and ended at `end` may show:
- the value of the last write acknowledged before `start` (the response had returned), or
- the value of any later write that had started before `end` (in flight during the read).
Anything else is a **stale read**: the state from before an acknowledged write. A write
whose outcome is unknown (it failed) counts as in flight forever.

`grace` widens "acknowledged" to "acknowledged more than `grace` seconds before the read
began": the window the contract allows an in-process tier for an invalidation message in
flight. With `grace=0` the check is strict.

An observation need not name one value: a meeting missing from a search result says only
that its name did not match (`Observation.fits` is a predicate over register values).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ABSENT = "absent"  # a person's membership before their first join: no participant row


@dataclass(frozen=True, slots=True)
class Register:
    """`kind`: meeting_name, meeting_active, member, user_name or guest_name; `subject`:
    the ids it is about; `label`: the same for people (`m1`, `u2 in m1`)."""

    kind: str
    subject: str
    label: str


@dataclass(slots=True)
class Write:
    register: Register
    value: Any
    start: float
    end: float | None = None  # None while in flight, or for ever when the write failed
    failed: bool = False

    def acked_by(self, instant: float) -> bool:
        return self.end is not None and not self.failed and self.end <= instant


@dataclass(frozen=True, slots=True)
class Observation:
    """What one read showed of one register: `seen` for people, `fits` for the check."""

    register: Register
    seen: Any
    fits: Callable[[Any], bool]

    @classmethod
    def exactly(cls, register: Register, value: Any) -> Observation:
        return cls(register, value, lambda v: bool(v == value))


@dataclass(frozen=True, slots=True)
class StaleRead:
    register: Register
    endpoint: str
    instance: str
    expected: Any  # the value of the last write acknowledged before the read began
    seen: Any
    lag: float  # read start - ack of the first write the read missed (inf: never written)
    start: float


@dataclass
class RegisterLog:
    """Every write of one register, in order, and its value before the first one."""

    initial: Any
    writes: list[Write] = field(default_factory=list)


def judge(
    obs: Observation,
    log: RegisterLog,
    start: float,
    end: float,
    grace: float = 0.0,
    *,
    endpoint: str = "",
    instance: str = "",
) -> StaleRead | None:
    """None when the read may show what it showed; otherwise the stale read."""
    writes: Sequence[Write] = log.writes
    acked = start - grace
    k = len(writes) - 1
    while k >= 0 and not writes[k].acked_by(acked):
        k -= 1
    base = writes[k].value if k >= 0 else log.initial
    allowed = [base] + [w.value for w in writes[k + 1 :] if w.start < end]
    if any(obs.fits(v) for v in allowed):
        return None
    # How far behind: the newest earlier state that fits is where the read was stuck.
    lag = math.inf
    for i in range(k - 1, -2, -1):
        value = writes[i].value if i >= 0 else log.initial
        if obs.fits(value):
            missed = writes[i + 1]
            lag = start - (missed.end if missed.end is not None else missed.start)
            break
    return StaleRead(obs.register, endpoint, instance, base, obs.seen, lag, start)
