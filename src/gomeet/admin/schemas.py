"""Request and response shapes of the cache admin endpoints."""

from __future__ import annotations

from pydantic import Field

from gomeet.admin.warm import (
    DEFAULT_MEETINGS,
    DEFAULT_RATE,
    DEFAULT_USERS,
    MAX_TARGETS,
    REQUEST_BUDGET_S,
    WarmLimits,
)
from gomeet.schemas import CamelModel, RequestModel


class WarmRequest(RequestModel):
    """How many recently active users and meetings in progress to warm (all optional)."""

    max_users: int = Field(default=DEFAULT_USERS, ge=0, le=MAX_TARGETS)
    max_meetings: int = Field(default=DEFAULT_MEETINGS, ge=0, le=MAX_TARGETS)
    max_hot_keys: int = Field(default=0, ge=0, le=MAX_TARGETS)  # the hottest keys, first
    rate: float = Field(default=DEFAULT_RATE, ge=1, le=10_000)  # reads per second at most

    def limits(self) -> WarmLimits:
        """Over HTTP, within the request budget (`complete: false` when it ran out)."""
        return WarmLimits(
            self.max_users, self.max_meetings, self.max_hot_keys, self.rate, REQUEST_BUDGET_S
        )


class TtlRequest(RequestModel):
    """An explicit TTL in seconds (within the family's bounds); absent: the advice."""

    seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)


class CacheFiguresOut(CamelModel):
    """Counters of `cache:stats`, in total or for one family."""

    hits: int
    misses: int
    hit_ratio: float = Field(ge=0, le=1)
    sets: int
    deletes: int
    errors: int
    loads: int
    fallbacks: int
    l1_hits: int
    # The analytics' figures of a family (absent for the totals; CONTRACT §3).
    load_p50_ms: float | None = None
    load_p99_ms: float | None = None
    invalidated_before_expiry: float | None = Field(default=None, ge=0, le=1)
    expired_while_hot: float | None = Field(default=None, ge=0, le=1)
    never_read: float | None = Field(default=None, ge=0, le=1)


class HotKeyOut(CamelModel):
    key: str  # session ids masked
    reads: int


class TtlAdviceOut(CamelModel):
    current_seconds: float
    recommended_seconds: float
    reason: str


class CacheStatsOut(CacheFiguresOut):
    """`data` of `GET /admin/cache/stats` (`source`: `redis`, or `local` when Redis could
    not be read)."""

    last_updated: str | None
    families: dict[str, CacheFiguresOut]
    source: str
    enabled: bool
    circuit: str
    pending_invalidations: int
    hot_keys: list[HotKeyOut] = []
    ttl_advice: dict[str, TtlAdviceOut] = {}


class InProcessTierOut(CamelModel):
    enabled: bool
    live: bool
    items: int


class CacheHealthOut(CamelModel):
    """`data` of `GET /admin/cache/health`: `status` ok, down or disabled."""

    status: str
    latency_ms: float | None
    error: str | None
    circuit: str
    pending_invalidations: int
    l1: InProcessTierOut


class WarmedFamilyOut(CamelModel):
    keys: int
    loaded: int


class WarmReportOut(CamelModel):
    """`data` of `POST /admin/cache/warm`: keys read and loaded from the database;
    `remaining` reads were left out when the time budget ran out (`complete` false)."""

    enabled: bool
    complete: bool
    remaining: int = Field(ge=0)
    feature_flags: int
    users: int
    meetings: int
    guests: int
    keys: int
    loaded: int
    families: dict[str, WarmedFamilyOut]
    duration_ms: float


class FlushReportOut(CamelModel):
    """`data` of `DELETE /admin/cache`: `applied` false when kept for replay."""

    family: str | None
    deleted: int
    applied: bool
    pending_invalidations: int


class TtlRecordOut(CamelModel):
    """`data` of `POST` / `DELETE /admin/cache/ttl/{family}`: the decision, as logged."""

    family: str
    action: str
    seconds: float | None
    before: float | None
    by: str
    at: str
    reason: str | None
    auto: bool
