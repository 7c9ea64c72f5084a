"""Cache analytics, the Redis half: every instance's upkeep loop sends what its `Recorder`
took (`analytics.py`), and the figures of all instances add up in Redis.

Keys, under one hash tag (one slot on a cluster), each bounded or expiring:
- `{cache:analytics}:counters` (hash): `load:<family>:<bucket>`, load-latency buckets;
  `life:<family>:<ttl ms>:<field>`, how tracked entries ended under that TTL (`ended`,
  `invalidated`, `expired`, `expired_hot`, `never_read`, `reads`, `fills`, `life:<b>`,
  `read_age:<b>`); `dropped`, what the bounds left out;
- `:life`, `:due`, `:pages:<index>`: the tracked entries alive (at most `life_cap`), their
  expiry, the tracked pages of an owner index; `:gone`, `:gone:due`: invalidations and
  reads that reached Redis before the fill they belong to (another instance flushed
  first), kept 10 s;
- `:hot`, `:hot:meta`: the hot-key sketch (space-saving over `hot_capacity` keys, halved
  every `hot_half_life`), kept 7 days;
- `:slot:<n>` (hash, per 5 s, kept 15 min): reads, hits, in-process hits, loads,
  invalidations, errors and load buckets per family;
- `:instance:<id>`, `:instances`: each instance's state (expires after 5 flushes), when
  each was last seen;
- `:ttl`, `:ttl:log`, `:ttl:lock`: the applied TTLs, the decisions (the last 200), the
  auto-tuner's turn (`tuning.py`).

The scripts are in `analytics_scripts.py`. The life script resolves, in order, each
instance's events: a fill of a key whose record is still alive ended the previous entry
early (invalidated); one that finds it expired ends it as expired, *while hot* when it had
been read and the load came within its window (a tenth of its TTL, 1 s to 60 s); an
invalidation ends it as invalidated, resolved after a grace of 3 s so that reads other
instances flush later still count; reads add up; a record past its expiry and window is
resolved as expired when nobody loaded it again. Instances flush independently (every
second), so the one approximation left is a read flushed more than the grace after the
invalidation that ended its entry.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

import orjson

from gomeet.cache import stats as fields
from gomeet.cache.analytics import Batch, Recorder, now_ms
from gomeet.cache.analytics_scripts import HOT_SCRIPT, LIFE_SCRIPT
from gomeet.cache.store import RedisStore

TAG: Final = "{cache:analytics}"
COUNTERS: Final = f"{TAG}:counters"
LIFE: Final = f"{TAG}:life"
DUE: Final = f"{TAG}:due"
GONE: Final = f"{TAG}:gone"  # invalidations that came before the fill they end
GONE_DUE: Final = f"{TAG}:gone:due"
PAGES: Final = f"{TAG}:pages:"
HOT: Final = f"{TAG}:hot"
HOT_META: Final = f"{TAG}:hot:meta"
SLOT: Final = f"{TAG}:slot:"
INSTANCE: Final = f"{TAG}:instance:"
INSTANCES: Final = f"{TAG}:instances"
TTLS: Final = f"{TAG}:ttl"  # the applied TTLs (`tuning.py`)
TTL_LOG: Final = f"{TAG}:ttl:log"
TTL_LOCK: Final = f"{TAG}:ttl:lock"
SLOT_SECONDS: Final = 5
SLOTS_KEPT: Final = 180  # 15 minutes
HOT_TTL_MS: Final = 7 * 24 * 3600 * 1000
INSTANCES_KEPT_MS: Final = 10 * 60 * 1000  # an instance not seen for this long is forgotten
# Per-interval figures of a family, from the stats counters.
SLOT_FIELDS: Final = {
    "reads": (fields.HITS, fields.MISSES, fields.FALLBACKS),
    "hits": (fields.HITS,),
    "l1_hits": (fields.L1_HITS,),
    "loads": (fields.LOADS,),
    "invalidations": (fields.DELETES,),
    "errors": (fields.ERRORS,),
}


def slot_of(ms: int) -> int:
    return ms // 1000 // SLOT_SECONDS


class Insights:
    """Sends this instance's analytics (the upkeep loop calls `flush`); nothing is lost on a
    failed flush but what exceeds the recorder's bounds."""

    def __init__(
        self,
        store: RedisStore,
        recorder: Recorder,
        counts: Mapping[str, list[int]],
        *,
        life_cap: int = 4096,
        hot_capacity: int = 256,
        hot_batch: int = 128,
        hot_half_life: float = 300.0,
        grace: float = 3.0,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.counts = counts
        self.life_cap = life_cap
        self.hot_capacity = hot_capacity
        self.hot_batch = hot_batch
        self.hot_half_life_ms = int(hot_half_life * 1000)
        self.grace_ms = int(grace * 1000)
        self._sent = {group: list(c) for group, c in counts.items()}
        self._lock = asyncio.Lock()
        redis = store.redis
        self._life = redis.register_script(LIFE_SCRIPT)
        self._hot = redis.register_script(HOT_SCRIPT)

    def _slot_deltas(self) -> tuple[dict[str, int], dict[str, list[int]]]:
        snapshot = {group: list(c) for group, c in self.counts.items()}
        out: dict[str, int] = {}
        for group, now in snapshot.items():
            before = self._sent[group]
            for name, indices in SLOT_FIELDS.items():
                delta = sum(now[i] - before[i] for i in indices)
                if delta:
                    out[f"{group}:{name}"] = delta
        return out, snapshot

    async def flush(self, report: Mapping[str, Any] | None, origin: str) -> dict[bytes, bytes]:
        """Send what was recorded and this instance's state; returns the applied-TTL hash
        (`tuning.py`). Raises on a Redis error, having kept what was not sent."""
        async with self._lock:  # two flushes at once would send the same deltas
            return await self._flush(report, origin)

    async def _flush(self, report: Mapping[str, Any] | None, origin: str) -> dict[bytes, bytes]:
        batch = self.recorder.take()
        now = now_ms()
        slot = f"{SLOT}{slot_of(now)}"
        deltas, snapshot = self._slot_deltas()
        redis = self.store.redis
        try:
            async with self.store.slots:
                pipe = redis.pipeline(transaction=False)
                for family, buckets in batch.loads.items():
                    for i, n in buckets.items():
                        pipe.hincrby(COUNTERS, f"load:{family}:{i}", n)
                        pipe.hincrby(slot, f"{family}:load:{i}", n)
                for name, n in deltas.items():
                    pipe.hincrby(slot, name, n)
                if batch.dropped:
                    pipe.hincrby(COUNTERS, "dropped", batch.dropped)
                pipe.pexpire(slot, (SLOTS_KEPT + 2) * SLOT_SECONDS * 1000)
                if report is not None:
                    pipe.set(f"{INSTANCE}{origin}", orjson.dumps(report), px=_report_ttl(report))
                    pipe.zadd(INSTANCES, {origin: now})
                    pipe.zremrangebyscore(INSTANCES, "-inf", now - INSTANCES_KEPT_MS)
                pipe.hgetall(TTLS)  # the applied TTLs ride on this round trip
                results = await pipe.execute()
        except BaseException:
            self.recorder.give_back(batch)
            raise
        self._sent = snapshot
        batch.loads, batch.dropped = {}, 0
        try:
            await self._send_life(batch, now)
            batch.events = []
            await self._send_hot(batch, now)
        except BaseException:
            self.recorder.give_back(batch)
            raise
        applied: dict[bytes, bytes] = results[-1]
        return applied

    async def _send_life(self, batch: Batch, now: int) -> None:
        args = [now, self.life_cap, PAGES, orjson.dumps(batch.events), self.grace_ms]
        async with self.store.slots:
            await self._life(keys=[LIFE, DUE, COUNTERS, GONE, GONE_DUE], args=args)

    async def _send_hot(self, batch: Batch, now: int) -> None:
        if not batch.hot:
            return
        top = Counter(batch.hot).most_common(self.hot_batch)
        args: list[Any] = [now, self.hot_capacity, self.hot_half_life_ms, HOT_TTL_MS]
        for name, n in top:
            args += (name, n)
        async with self.store.slots:
            await self._hot(keys=[HOT, HOT_META], args=args)


def _report_ttl(report: Mapping[str, Any]) -> int:
    return max(5000, int(float(report.get("flushInterval", 1.0)) * 5000))


async def read_raw(store: RedisStore, hot: int = 20, slots: int = 60) -> dict[str, Any]:
    """Everything the figures are made of (`figures.py`), in two round trips."""
    current = slot_of(int(time.time() * 1000))
    slot_ids = list(range(current - slots + 1, current + 1))
    redis = store.redis
    async with store.slots:
        pipe = redis.pipeline(transaction=False)
        pipe.hgetall(COUNTERS)
        pipe.zrevrange(HOT, 0, max(hot, 1) - 1, withscores=True)
        pipe.zrange(INSTANCES, 0, -1, withscores=True)
        pipe.hgetall(TTLS)
        pipe.lrange(TTL_LOG, 0, 49)
        for n in slot_ids:
            pipe.hgetall(f"{SLOT}{n}")
        results = await pipe.execute()
        counters, hot_keys, instances, ttls, log = results[:5]
        pipe = redis.pipeline(transaction=False)
        for member, _ in instances:
            pipe.get(f"{INSTANCE}{_text(member)}")
        states = await pipe.execute() if instances else []
    return {
        "counters": {_text(k): int(v) for k, v in counters.items()},
        "hot": [(_text(k), float(v)) for k, v in hot_keys[:hot]],
        "instances": [
            (_text(m), int(seen), orjson.loads(state) if state else None)
            for (m, seen), state in zip(instances, states, strict=True)
        ],
        "ttls": {_text(k): orjson.loads(v) for k, v in ttls.items()},
        "ttlLog": [orjson.loads(entry) for entry in log],
        "slots": [
            (n * SLOT_SECONDS, {_text(k): int(v) for k, v in raw.items()})
            for n, raw in zip(slot_ids, results[5:], strict=True)
        ],
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
