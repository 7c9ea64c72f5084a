"""The cache engine's options: plain values, no `Settings` (the factory maps those)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from gomeet.cache.families import Family

# CONTRACT §4, in seconds.
NOMINAL_TTLS: Final[Mapping[str, float]] = MappingProxyType(
    {
        Family.USER_PROFILE.value: 1800,
        Family.MEETING_DETAILS.value: 900,
        Family.PARTICIPANT_LIST.value: 600,
        Family.FEATURE_FLAG.value: 300,
        Family.PUBLIC_USER.value: 1800,
        Family.MEETING_LIST.value: 300,
        Family.MEETING_JOINED.value: 300,
        Family.MEETING_UPCOMING.value: 300,
        Family.MEETING_PAST.value: 300,
    }
)


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """Tuning knobs; the defaults are what the app runs with (see the cache README)."""

    ttls: Mapping[str, float] = field(default_factory=lambda: dict(NOMINAL_TTLS))
    # Leases: a filler's lease lives `lease_ttl`, extended by its holder while the loader
    # runs, for at most `lease_max_hold`; waiters are woken when the value is stored and
    # re-check every `lease_poll` in case the notice was lost.
    lease_ttl: float = 2.0
    lease_max_hold: float = 30.0
    lease_poll: float = 0.25
    negative_ttl: float = 30.0  # s an absent result (loader returned None) is cached
    breaker_threshold: int = 3  # consecutive Redis failures that open the breaker
    breaker_cooldown: float = 0.5  # s before the first probe; doubles per failed probe
    breaker_max_cooldown: float = 5.0
    flush_interval: float = 1.0  # s between stats flushes (and replays of kept invalidations)
    compress_min_bytes: int = 64 * 1024  # values this large are stored zlib-compressed
    max_value_bytes: int = 256 * 1024  # values larger than this (JSON) are served uncached
    max_list_pages: int = 64  # list pages kept per (family, owner); the oldest is evicted
    refresh_ahead: float = 0.1  # refresh early when less than this share of the TTL is left
    refresh_sample: int = 256  # 1 in N Redis hits checks the remaining TTL (0: never)
    pending_max: int = 10_000  # invalidations kept in memory while Redis is unreachable
    redis_slots: int = 64  # concurrent Redis commands (the connection pool's size)
    warm_connections: int = 0  # Redis connections opened by `start()` (at most redis_slots)
    warm_timeout: float = 1.5  # s `start()` waits at most for them (a black-holed Redis)
    # Sentinel (`recent.py`): invalidations sent in the last `failover_window` s are sent
    # again to a new master; the breaker stays open `failover_hold` s after a master change,
    # so every instance has replayed its own before any reads the new master.
    failover_window: float = 120.0
    failover_hold: float = 1.0
    # Analytics (`analytics.py`, `insights.py`): 1 read in `hot_sample` feeds the hot-key
    # sketch of `hot_capacity` keys (halved every `hot_half_life` s); the keys of 1 in
    # `life_sample` (a power of two) are tracked from fill to end, at most `life_cap` alive.
    hot_sample: int = 16
    hot_capacity: int = 256
    hot_half_life: float = 300.0
    life_sample: int = 8
    life_cap: int = 4096
    life_grace: float = 3.0  # s an invalidated entry waits for reads not yet flushed
    analytics_max_events: int = 4096  # per flush, each of: events, hot samples, read keys
    # TTL auto-tuning (`tuning.py`): one decision every `ttl_auto_interval` s, all instances.
    ttl_auto: bool = False
    ttl_auto_interval: float = 60.0
    # The in-process tier (L1).
    l1: bool = False
    l1_ttl: float = 5.0
    l1_max_items: int = 10_000
    l1_max_bytes: int = 64 * 1024 * 1024

    def ttl_ms(self, family: str) -> int:
        return max(1, int(self.ttls[family] * 1000))

    @property
    def longest_life(self) -> float:
        """The longest any value filled before a write can outlive it, in seconds: past
        this, a change record has nothing left to invalidate."""
        return max(self.ttls.values()) + self.lease_max_hold + self.lease_ttl
