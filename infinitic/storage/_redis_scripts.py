"""The Lua scripts of the Redis storage (see infinitic/storage/redis.py and docs/storage.md)."""

from __future__ import annotations

import hashlib

__all__ = [
    "CAS_SCRIPT",
    "CAS_SHA",
    "INDEX_PURGE_SCRIPT",
    "INDEX_PURGE_SHA",
    "PURGE_SCRIPT",
    "PURGE_SHA",
]

# The workflow index (storage/index.py), under the key prefix P:
#   P idx:e:<member>   the entry: JSON {"s": status, "t": [tags], "u": started_us,
#                      "a": updated_at, "x": expires_at_ms or 0}
#   P idx:all, P idx:n:<name>, P idx:s:<status>, P idx:ns:<name NUL status>, P idx:t:<tag>
#                      sorted sets of members ("name NUL id"), scored by started_us
#   P idx:expiring     sorted set: member -> expires_at_ms, read by purge_expired
# The same Lua code replaces an entry (in CAS_SCRIPT) and removes an expired one (INDEX_PURGE).
_INDEX_REMOVE = """
local function index_remove(prefix, mem)
  local row = prefix .. 'idx:e:' .. mem
  local old = redis.call('GET', row)
  if not old then return end
  local o = cjson.decode(old)
  local name = string.match(mem, '^(.-)%z')
  redis.call('ZREM', prefix .. 'idx:all', mem)
  redis.call('ZREM', prefix .. 'idx:n:' .. name, mem)
  redis.call('ZREM', prefix .. 'idx:s:' .. o['s'], mem)
  redis.call('ZREM', prefix .. 'idx:ns:' .. name .. '\\0' .. o['s'], mem)
  for _, tag in ipairs(o['t']) do redis.call('ZREM', prefix .. 'idx:t:' .. tag, mem) end
  redis.call('ZREM', prefix .. 'idx:expiring', mem)
  redis.call('DEL', row)
end
"""

# Compare-and-set of one or more writes, all or nothing.
# KEYS: value key and version key of each write, then the expiry index.
# ARGV: now_ms, ttl_ms (0: none), expires_at_ms, retry (0|1), then for each write:
#       expected version, new version-key content ('' deletes), value.
#       Then, optionally, the index entry to write: key prefix, member, name, status,
#       entry JSON, started_us, expires_at_ms ('' for none), tags...
# Returns {0} when written, {0, 1} when found written by this call's earlier attempt,
# {i, actual} when write i (1-based) conflicts.
CAS_SCRIPT = (
    _INDEX_REMOVE
    + """
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local expires_at = ARGV[3]
local n = (#KEYS - 1) / 2
local index = KEYS[#KEYS]
if ARGV[4] == '1' then
  -- a retry after a lost reply: if the final state is exactly what this call writes
  -- (its token is in the version keys), the first attempt went through
  local final = {}
  for i = 1, n do final[KEYS[2 * i]] = ARGV[4 + 3 * i - 1] end
  local applied = true
  for key, meta in pairs(final) do
    local current = redis.call('GET', key)
    if meta == '' then
      if current then applied = false break end
    elseif current ~= meta then
      applied = false break
    end
  end
  if applied then return {0, 1} end
end
local staged = {}
local expiring = {}
for i = 1, n do
  local key = KEYS[2 * i]
  local actual = staged[key]
  if actual == nil then
    actual = 0
    local meta = redis.call('GET', key)
    if meta then
      local version, at = string.match(meta, '^(%d+)|(%d*)|')
      if at == '' then
        actual = tonumber(version)
      else
        expiring[key] = true
        if tonumber(at) > now then actual = tonumber(version) end
      end
    end
  end
  if actual ~= tonumber(ARGV[4 + 3 * i - 2]) then return {i, actual} end
  if ARGV[4 + 3 * i - 1] == '' then staged[key] = 0 else staged[key] = actual + 1 end
end
for i = 1, n do
  local value_key, key = KEYS[2 * i - 1], KEYS[2 * i]
  local meta = ARGV[4 + 3 * i - 1]
  if meta == '' then
    redis.call('DEL', value_key, key)
  elseif ttl > 0 then
    redis.call('SET', value_key, ARGV[4 + 3 * i], 'PX', ttl)
    redis.call('SET', key, meta, 'PX', ttl)
  else
    redis.call('SET', value_key, ARGV[4 + 3 * i])
    redis.call('SET', key, meta)
  end
  if meta ~= '' and ttl > 0 then
    redis.call('ZADD', index, expires_at, key)
    expiring[key] = true
  elseif expiring[key] then
    redis.call('ZREM', index, key)
    expiring[key] = nil
  end
end
local b = 4 + 3 * n
if #ARGV > b then
  local prefix, mem, name, status = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local started, exp = ARGV[b + 6], ARGV[b + 7]
  index_remove(prefix, mem)
  redis.call('SET', prefix .. 'idx:e:' .. mem, ARGV[b + 5])
  redis.call('ZADD', prefix .. 'idx:all', started, mem)
  redis.call('ZADD', prefix .. 'idx:n:' .. name, started, mem)
  redis.call('ZADD', prefix .. 'idx:s:' .. status, started, mem)
  redis.call('ZADD', prefix .. 'idx:ns:' .. name .. '\\0' .. status, started, mem)
  for i = b + 8, #ARGV do redis.call('ZADD', prefix .. 'idx:t:' .. ARGV[i], started, mem) end
  if exp ~= '' then redis.call('ZADD', prefix .. 'idx:expiring', exp, mem) end
end
return {0}
"""
)

# Removes the entries of the expiry index that are due, deleting the values still there.
# KEYS: the expiry index. ARGV: now_ms, version-key prefix, value-key prefix, limit.
# Returns {entries removed as expired, index entries looked at}.
PURGE_SCRIPT = """
local now = tonumber(ARGV[1])
local skip = #ARGV[2]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local purged = 0
for _, key in ipairs(due) do
  local meta = redis.call('GET', key)
  local at = meta and string.match(meta, '^%d+|(%d*)|')
  if not meta then
    purged = purged + 1  -- Redis expired it already
    redis.call('ZREM', KEYS[1], key)
  elseif at == '' then
    redis.call('ZREM', KEYS[1], key)  -- rewritten without expiry since
  elseif tonumber(at) <= now then
    redis.call('DEL', key, ARGV[3] .. string.sub(key, skip + 1))
    redis.call('ZREM', KEYS[1], key)
    purged = purged + 1
  end
end
return {purged, #due}
"""


# Removes the index entries whose expiry is due. ARGV: key prefix, now_ms, limit.
# Returns how many were looked at.
INDEX_PURGE_SCRIPT = (
    _INDEX_REMOVE
    + """
local prefix = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', prefix .. 'idx:expiring', '-inf', tonumber(ARGV[2]),
  'LIMIT', 0, tonumber(ARGV[3]))
for _, mem in ipairs(due) do index_remove(prefix, mem) end
return #due
"""
)


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


CAS_SHA = _sha1(CAS_SCRIPT)
PURGE_SHA = _sha1(PURGE_SCRIPT)
INDEX_PURGE_SHA = _sha1(INDEX_PURGE_SCRIPT)
