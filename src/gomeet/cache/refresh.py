"""Refresh-ahead: a sampled hit of a key in the last `refresh_ahead` share of its TTL
reloads it before it expires, so hot keys do not all miss at once.

One caller (across all instances) wins the refresh marker (`BEGIN_REFRESH`: the value is
wrapped in `~refresh:<token>:` keeping its TTL; a list page is re-registered in its owner
index, as a first fill registers it); everyone else keeps being served the value the marker
carries. The winner reloads and stores with the same compare-and-set as a fill, so an
invalidation meanwhile voids it. The winner reloads in its own request: loaders use the
request's database session, which must not be used from a background task.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from gomeet.cache import codec
from gomeet.cache.families import CacheKey

if TYPE_CHECKING:
    from gomeet.cache.fill import FillPath, Loader

JSON = Any


async def refresh_ahead(fill: FillPath, key: CacheKey, loader: Loader, value: JSON) -> JSON:
    """`value` (a hit), or a fresher one when this caller won the refresh."""
    name = key.key
    prefix = codec.refresh_prefix()
    threshold = int(fill.ttl_ms[key.family] * fill.options.refresh_ahead)
    t0 = perf_counter()
    try:
        began = await fill.store.begin_refresh(name, prefix, threshold, fill.page(key))
    except Exception as exc:
        fill.meter.failed("refresh", name, key.family, t0, exc)
        return value
    if not began:
        return value
    fill.meter.ok("refresh", name, t0, True)
    seq = fill.l1.seq if fill.l1 is not None else 0
    try:
        fresh, data = await fill.load(key, loader)
    except Exception as exc:
        fill.meter.failed("load", name, key.family, t0, exc, redis=False)
        return value  # the cached value stays valid until its TTL
    if len(data) > fill.options.max_value_bytes:
        return fresh  # the marker expires with the old value; nothing larger is stored
    stored = await fill.store_owned(key, prefix, data, fresh is None, refresh=True)
    if stored and fill.l1 is not None:
        fill.l1.put(name, fresh, key.index, len(data), seq, fill.meter.analytics.tracks(name))
    return fresh
