"""Lua scripts. Each touches one key, so they run unchanged on Redis Cluster; the one
exception (`GET_OR_LEASE_INDEXED`, a page and its owner index) is only used on a single node."""

from __future__ import annotations

from typing import Final

# The first command of a read: the value of KEYS[1] (which may be another filler's lease
# marker), or, when absent, take the lease ARGV[1] for ARGV[2] ms and return 0. A miss thus
# costs two round trips (this, then STORE_IF_OWNER), a hit one.
GET_OR_LEASE: Final = """
local v = redis.call('GET', KEYS[1])
if v then
  return v
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
"""

# GET_OR_LEASE for a list page KEYS[1] that, with the lease, is registered in its owner
# index KEYS[2] (whose expiry ARGV[3] ms outlives its longest member) before any load
# starts. Two keys in different slots: single-node Redis only (a cluster sends SADD next).
GET_OR_LEASE_INDEXED: Final = """
local v = redis.call('GET', KEYS[1])
if v then
  return v
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 0
"""

# Store ARGV[2] for ARGV[3] ms only if the entry still starts with the caller's marker
# ARGV[1] (a lease, or a refresh marker). An invalidation deletes the entry, so a filler
# whose data may predate that invalidation can never store it.
STORE_IF_OWNER: Final = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

# Give up a lease (the loader failed): delete the entry if it is still the caller's marker.
RELEASE_IF_OWNER: Final = """
local v = redis.call('GET', KEYS[1])
if v and v == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# Early refresh: when the value has less than ARGV[2] ms to live, wrap it in the caller's
# refresh marker ARGV[1] (keeping its TTL) and return 1; readers keep being served the
# wrapped value while the caller reloads. Only a plain (or compressed) value qualifies.
BEGIN_REFRESH: Final = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 or ttl > tonumber(ARGV[2]) then
  return 0
end
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 7) == '~lease:' or string.sub(v, 1, 9) == '~refresh:' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1] .. v, 'PX', ttl)
return 1
"""
