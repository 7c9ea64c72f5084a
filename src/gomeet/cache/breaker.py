"""A circuit breaker in front of every Redis call.

Closed: calls go through; `threshold` consecutive failures open it. Open: calls are not
attempted (the cache answers "miss" at once and the loader serves from the database).
After the cool-down the owner runs ONE probe (half-open); success closes the breaker,
failure opens it again with a doubled cool-down (capped). Nothing here awaits: the hot
path reads `closed`, a plain attribute.
"""

from __future__ import annotations

import time
from enum import StrEnum


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    __slots__ = ("_cooldown", "_max_cooldown", "_opened_at", "base_cooldown", "closed",
                 "failures", "opened_count", "state", "threshold")  # fmt: skip

    def __init__(self, threshold: int = 3, cooldown: float = 0.5, max_cooldown: float = 5.0):
        self.threshold = threshold
        self.base_cooldown = cooldown
        self._cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._opened_at = 0.0
        self.failures = 0
        self.closed = True
        self.state = State.CLOSED
        self.opened_count = 0

    @property
    def delivering(self) -> bool:
        """Invalidations may be sent: closed, or half-open (the probe is applying what is
        pending; with nobody else to apply it, refusing would keep the breaker open)."""
        return self.closed or self.state is State.HALF_OPEN

    def failure(self) -> bool:
        """Record a failed call; True when this failure opened the breaker."""
        self.failures += 1
        if self.closed and self.failures >= self.threshold:
            self._open()
            return True
        return False

    def trip(self) -> None:
        """Open now, whatever the failure count (a lost invalidation)."""
        self._open()

    def hold(self, seconds: float) -> None:
        """Open now, and probe no sooner than `seconds` from now (a master change)."""
        self._open()
        self._cooldown = max(self.base_cooldown, seconds)

    def probe_due(self) -> bool:
        """True (once) when an open breaker's cool-down has passed: run the probe now."""
        if self.state is State.OPEN and time.monotonic() - self._opened_at >= self._cooldown:
            self.state = State.HALF_OPEN
            return True
        return False

    def probe_succeeded(self) -> None:
        self.failures = 0
        self._cooldown = self.base_cooldown
        self.state = State.CLOSED
        self.closed = True

    def probe_failed(self) -> None:
        self._cooldown = min(self._cooldown * 2, self._max_cooldown)
        self._open()

    def _open(self) -> None:
        if self.closed:
            self.opened_count += 1
        self.closed = False
        self.state = State.OPEN
        self._opened_at = time.monotonic()
