"""The Lua scripts of the analytics (`insights.py` runs them; the keys are described there).

`LIFE_SCRIPT` resolves how tracked entries ended, from each instance's ordered events;
`HOT_SCRIPT` merges sampled reads into the space-saving hot-key sketch. They touch only
keys under the `{cache:analytics}` hash tag, so one slot on a cluster (the page sets of
owner indexes are built from a declared prefix in that slot).
"""

from __future__ import annotations

from typing import Final

# Life and read-age buckets (seconds): an entry's observed life, the age of its last read.
LIFE_BOUNDS: Final = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120,
                      180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800,
                      14400)  # fmt: skip
LIFE_SCRIPT: Final = (
    "local BOUNDS = {"
    + ", ".join(str(int(b * 1000)) for b in LIFE_BOUNDS)
    + "}\n"
    + """
local life, due, counters, gone, gone_due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, cap, pages, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[5])
local events = cjson.decode(ARGV[4])

local function bucket(ms)
  for i = 1, #BOUNDS do if ms <= BOUNDS[i] then return i - 1 end end
  return #BOUNDS
end
local function window(r)
  local w = math.floor((r[4] - r[3]) / 10)
  if w < 1000 then return 1000 elseif w > 60000 then return 60000 end
  return w
end
local function get(name)
  local raw = redis.call('HGET', life, name)
  if raw then return cjson.decode(raw) end
  return nil
end
local function put(name, r, score)
  redis.call('HSET', life, name, cjson.encode(r))
  redis.call('ZADD', due, score, name)
end
local function forget(name, r)
  redis.call('HDEL', life, name)
  redis.call('ZREM', due, name)
  if r[7] ~= '' then redis.call('SREM', pages .. r[7], name) end
end
-- r = {family, nominal ttl ms, filled, expires, reads, last read, owner index, ended, outcome}
local function resolve(name, r, outcome, at)
  local p = 'life:' .. r[1] .. ':' .. r[2] .. ':'
  redis.call('HINCRBY', counters, p .. 'ended', 1)
  redis.call('HINCRBY', counters, p .. outcome, 1)
  if r[5] == 0 then
    redis.call('HINCRBY', counters, p .. 'never_read', 1)
  else
    redis.call('HINCRBY', counters, p .. 'reads', r[5])
    redis.call('HINCRBY', counters, p .. 'read_age:' .. bucket(r[6] - r[3]), 1)
  end
  if outcome == 'invalidated' then
    redis.call('HINCRBY', counters, p .. 'life:' .. bucket(at - r[3]), 1)
  end
  forget(name, r)
end
-- An entry ended by an invalidation: resolved after `grace`, so that reads other instances
-- have not flushed yet still count for it.
local function close(name, r, at)
  if r[8] > 0 then return end
  r[8], r[9] = at, 'invalidated'
  put(name, r, r[8] + grace)
end
-- An invalidation at `at`: it ends the entry alive then; if the record expired before
-- `at`, the invalidation ended a newer entry whose fill is not flushed yet (kept as a
-- tombstone for that fill; the expired record is resolved by the fill or the sweep).
local function ended_by(name, at)
  local r = get(name)
  if r and at < r[4] then close(name, r, at) else
    redis.call('HSET', gone, name, string.format('%.3f', at))
    redis.call('ZADD', gone_due, at + 10000, name)
  end
end
local function gone_at(field)
  local t = redis.call('HGET', gone, field)
  if t then return tonumber(t) end
  return 0
end

for _, e in ipairs(events) do
  local kind = e[1]
  if kind == 'f' then
    local name, t = e[2], e[4]
    local r = get(name)
    if r and e[8] == 1 then
      if r[8] == 0 then r[4] = t + e[5]; put(name, r, r[4]) end
    else
      if r then
        if r[8] > 0 then resolve(name, r, r[9], r[8])
        elseif t < r[4] then resolve(name, r, 'invalidated', t)
        elseif r[5] > 0 and t - r[4] <= window(r) then resolve(name, r, 'expired_hot', r[4])
        else resolve(name, r, 'expired', r[4]) end
      end
      r = {e[3], e[6], t, t + e[5], 0, t, e[7], 0, ''}
      put(name, r, r[4])
      if e[7] ~= '' then
        redis.call('SADD', pages .. e[7], name)
        redis.call('PEXPIRE', pages .. e[7], e[5] + 120000)
      end
      redis.call('HINCRBY', counters, 'life:' .. e[3] .. ':' .. e[6] .. ':fills', 1)
      -- reads another instance flushed before this fill: theirs if they came after it
      local early = redis.call('HGET', gone, 'r:' .. name)
      if early then
        local read_at = gone_at('rt:' .. name)
        if read_at >= t then r[5], r[6] = tonumber(early), read_at; put(name, r, r[4]) end
        redis.call('HDEL', gone, 'r:' .. name, 'rt:' .. name)
        redis.call('ZREM', gone_due, 'r:' .. name)
      end
      -- an invalidation another instance flushed first, of this very entry
      local g = math.max(gone_at(name), e[7] ~= '' and gone_at('i:' .. e[7]) or 0)
      if g > t then close(name, r, g) end
    end
  elseif kind == 'r' then
    for i = 3, #e, 2 do
      local r = get(e[i])
      if r then
        r[5] = r[5] + e[i + 1]
        if e[2] > r[6] then r[6] = e[2] end
        redis.call('HSET', life, e[i], cjson.encode(r))
      else  -- the fill is not flushed yet (another instance): kept for it, 10 s
        redis.call('HINCRBY', gone, 'r:' .. e[i], e[i + 1])
        if e[2] > gone_at('rt:' .. e[i]) then
          redis.call('HSET', gone, 'rt:' .. e[i], string.format('%.3f', e[2]))
        end
        redis.call('ZADD', gone_due, e[2] + 10000, 'r:' .. e[i])
      end
    end
  elseif kind == 'g' then
    ended_by(e[2], e[3])
  elseif kind == 'i' then
    for _, name in ipairs(redis.call('SMEMBERS', pages .. e[2])) do ended_by(name, e[3]) end
    redis.call('DEL', pages .. e[2])
    redis.call('HSET', gone, 'i:' .. e[2], string.format('%.3f', e[3]))
    redis.call('ZADD', gone_due, e[3] + 10000, 'i:' .. e[2])
  elseif kind == 'd' then
    local r = get(e[2])
    if r then forget(e[2], r) end
  end
end
for _, name in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, 256)) do
  local r = get(name)
  if not r then redis.call('ZREM', due, name)
  elseif r[8] > 0 then
    if now >= r[8] + grace then resolve(name, r, r[9], r[8]) end
  elseif now > r[4] + window(r) then resolve(name, r, 'expired', r[4]) end
end
for _, field in ipairs(redis.call('ZRANGEBYSCORE', gone_due, '-inf', now)) do
  redis.call('HDEL', gone, field)
  if string.sub(field, 1, 2) == 'r:' then
    redis.call('HDEL', gone, 'rt:' .. string.sub(field, 3))
  end
  redis.call('ZREM', gone_due, field)
end
local function trim(zset, hash)
  local excess = redis.call('ZCARD', zset) - cap
  if excess <= 0 then return 0 end
  local popped = redis.call('ZPOPMIN', zset, excess)
  for i = 1, #popped, 2 do
    if zset == due then
      local r = get(popped[i])
      if r then forget(popped[i], r) end
    else
      redis.call('HDEL', hash, popped[i])
      if string.sub(popped[i], 1, 2) == 'r:' then
        redis.call('HDEL', hash, 'rt:' .. string.sub(popped[i], 3))
      end
    end
  end
  return excess
end
local dropped = trim(due, life) + trim(gone_due, gone)
if dropped > 0 then redis.call('HINCRBY', counters, 'dropped', dropped) end
return redis.call('ZCARD', due)
"""
)

HOT_SCRIPT: Final = """
local hot, meta = KEYS[1], KEYS[2]
local now, cap, half, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local last = tonumber(redis.call('HGET', meta, 'decayed_at') or '0')
if last == 0 then
  redis.call('HSET', meta, 'decayed_at', now)
elseif now - last >= half then
  local halvings = math.floor((now - last) / half)
  local factor = 0.5 ^ halvings
  local all = redis.call('ZRANGE', hot, 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local s = tonumber(all[i + 1]) * factor
    if s < 1 then redis.call('ZREM', hot, all[i]) else redis.call('ZADD', hot, s, all[i]) end
  end
  redis.call('HSET', meta, 'decayed_at', last + halvings * half)
end
for i = 5, #ARGV, 2 do
  local name, n = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call('ZSCORE', hot, name) then
    redis.call('ZINCRBY', hot, n, name)
  elseif redis.call('ZCARD', hot) < cap then
    redis.call('ZADD', hot, n, name)
  else
    local least = redis.call('ZRANGE', hot, 0, 0, 'WITHSCORES')
    redis.call('ZREM', hot, least[1])
    redis.call('ZADD', hot, tonumber(least[2]) + n, name)
  end
end
redis.call('PEXPIRE', hot, ttl)
redis.call('PEXPIRE', meta, ttl)
return redis.call('ZCARD', hot)
"""
