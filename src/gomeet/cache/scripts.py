"""The Lua scripts of the cache (`store.py` runs them).

Scripts named `*_PAGE` / `DROP_INDEX` also touch keys they do not declare (a list page and
its owner index, or an index's members): they are used on a single node only. On Redis
Cluster the same steps run as one-key scripts plus separate round trips (`store.py`).

An owner index is a sorted set of page keys scored by registration time (ms). It is capped:
registering a page beyond `cap` evicts (and deletes) the oldest pages, so what one owner's
reads can make the cache hold is bounded, and invalidating an owner costs one round trip.
"""

from __future__ import annotations

from typing import Final

# A reader that finds another filler's lease marks it `!w` (someone waits), so that the
# filler publishes its notice only when somebody listens: an uncontended miss publishes
# nothing. Owners compare their marker as a prefix, so the mark does not disown them.
_VALUE_OR_MARK = """
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 7) == '~lease:' and string.sub(v, -2) ~= '!w' then
    redis.call('SET', KEYS[1], v .. '!w', 'KEEPTTL')
  end
  return v
end
"""

# The first command of a read: the value of KEYS[1] (which may be another filler's lease
# marker), or, when absent, take the lease ARGV[1] for ARGV[2] ms and return 0.
GET_OR_LEASE: Final = (
    _VALUE_OR_MARK
    + """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
"""
)

# Register KEYS[1] (a page key) in the index KEYS[2]: score ARGV[1], at most ARGV[2]
# members (the oldest are removed and deleted), index expiry ARGV[3] ms.
_REGISTER = """
redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #old, 2 do
    redis.call('UNLINK', old[i])
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
"""

# GET_OR_LEASE for a list page KEYS[1] that is registered in its owner index KEYS[2] with
# the lease, before any load starts. ARGV: marker, lease ms, score, cap, index ms.
GET_OR_LEASE_PAGE: Final = (
    _VALUE_OR_MARK
    + """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ARGV = {ARGV[3], ARGV[4], ARGV[5]}
"""
    + _REGISTER
    + "return 0\n"
)

# Cluster: register ARGV[1] in the index KEYS[1] (ARGV: page, score, cap, index ms) and
# return the evicted pages, which the caller deletes (they live in other slots).
REGISTER_PAGE: Final = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local evicted = {}
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[1], extra)
  for i = 1, #old, 2 do
    evicted[#evicted + 1] = old[i]
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return evicted
"""

# Store ARGV[2] for ARGV[3] ms only if the entry still starts with the caller's marker
# ARGV[1] (a lease, or a refresh marker), then, if someone waits, tell them on channel
# ARGV[4]. An invalidation deletes the entry, so a filler whose data may predate it can
# never store.
STORE_IF_OWNER: Final = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  if string.sub(v, -2) == '!w' then
    redis.call('PUBLISH', ARGV[4], '+' .. KEYS[1])
  end
  return 1
end
return 0
"""

# The entry is the caller's lease ARGV[1] (marked or not).
_OWN_LEASE = "v and (v == ARGV[1] or v == ARGV[1] .. '!w')"

# Give up a lease: delete the entry if it is still the caller's lease and, if someone
# waits, publish the notice ARGV[3] (failed or abandoned) on ARGV[2]. 1 if it was ours.
RELEASE_IF_OWNER: Final = f"""
local v = redis.call('GET', KEYS[1])
if {_OWN_LEASE} then
  redis.call('DEL', KEYS[1])
  if v ~= ARGV[1] then
    redis.call('PUBLISH', ARGV[2], ARGV[3])
  end
  return 1
end
return 0
"""

# Keep a lease alive while its loader runs: PEXPIRE ARGV[2] ms if still the caller's.
EXTEND_IF_OWNER: Final = f"""
local v = redis.call('GET', KEYS[1])
if {_OWN_LEASE} then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Early refresh: when the value has less than ARGV[2] ms to live, wrap it in the caller's
# refresh marker ARGV[1] (keeping its TTL) and return 1; readers keep being served the
# wrapped value while the caller reloads. Only a plain (or compressed) value qualifies.
_BEGIN_REFRESH = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 or ttl > tonumber(ARGV[2]) then
  return 0
end
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 7) == '~lease:' or string.sub(v, 1, 9) == '~refresh:' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1] .. v, 'PX', ttl)
"""
BEGIN_REFRESH: Final = _BEGIN_REFRESH + "return 1\n"

# BEGIN_REFRESH for a list page KEYS[1], re-registered in its index KEYS[2] as a first fill
# would be (ARGV: prefix, threshold ms, score, cap, index ms), so the index outlives it.
BEGIN_REFRESH_PAGE: Final = (
    _BEGIN_REFRESH + "local ARGV = {ARGV[3], ARGV[4], ARGV[5]}\n" + _REGISTER + "return 1\n"
)

# Invalidate an owner: delete the index KEYS[1] and every page it holds; the number of
# pages deleted.
DROP_INDEX: Final = """
local pages = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
local n = 0
for i = 1, #pages do
  n = n + redis.call('UNLINK', pages[i])
end
return n
"""

# Cluster: delete the index KEYS[1] and return its pages, which the caller deletes.
POP_INDEX: Final = """
local pages = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return pages
"""

# Two atomic writes of one hash slot each, as scripts rather than MULTI/EXEC: redis-py's
# asyncio cluster client runs every command queued on a transaction on a thread with an
# event loop of its own, and the connections it opens there stay in the pool, bound to that
# closed loop (the reads that take them fail).

# KEYS[1] a hash; ARGV: a stamp field and value, then field, delta pairs (HINCRBY each).
HINCRBY_ALL: Final = """
for i = 3, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS[1] a hash, KEYS[2] a list: HSET field ARGV[1] to ARGV[2], push ARGV[3] on the list
# and keep its newest ARGV[4] entries.
HSET_AND_LOG: Final = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
return 1
"""
