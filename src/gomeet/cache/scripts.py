"""Lua scripts. Each touches exactly one key, so they run unchanged on Redis Cluster."""

from __future__ import annotations

from typing import Final

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
