// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The Lua scripts of the `upstash` lock: one script, one HTTP
 * request, per operation. Each is idempotent for the same token, because the
 * client re-sends a request whose response was lost.
 *
 * Keys of lock K (see keysFor): K:h holders (zset token → expiry ms, server
 * clock), K:w the exclusive holder's token, K:f fences (hash token → fence),
 * K:n the fence counter (never expires), K:q waiters (zset token → ticket),
 * K:qx waiter heartbeats (zset token → deadline ms), K:qm waiter modes (hash),
 * K:s the ticket counter, K:i requests' "since owner" (hash token → when the
 * request queued or was granted, server ms, and its owner label, for QUERY).
 * A waiter's score in K:q is its queue key,
 * `(ticket - priority * 10) * 256 + priority + 100` (see queueKey in
 * _validate.ts), so ZRANGE 0 0 is the next in line, priorities included.
 * Channel K:c carries the token of the waiter to wake.
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// Drops holders whose lease ran out and waiters whose heartbeat stopped.
const PURGE = `local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, tk in ipairs(expired) do
  redis.call('HDEL', KEYS[3], tk); redis.call('HDEL', KEYS[9], tk)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
local writer = redis.call('GET', KEYS[2])
if writer and not redis.call('ZSCORE', KEYS[1], writer) then
  redis.call('DEL', KEYS[2]); writer = false
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now)
for _, tk in ipairs(gone) do
  redis.call('ZREM', KEYS[5], tk); redis.call('HDEL', KEYS[7], tk)
  redis.call('HDEL', KEYS[9], tk)
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now) end`;

// Keys live only as long as a holder or waiter may; the counter forever.
const KEEP = `local function keep(ms)
  for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]}) do
    local left = redis.call('PTTL', k)
    if left ~= -2 and (left < ms) then redis.call('PEXPIRE', k, ms) end
  end
end`;

// Records when a request queued or was granted, keeping its owner label
// (owner nil: the one noted when it queued).
const NOTE = `local function note(token, owner)
  if owner == nil then
    local info = redis.call('HGET', KEYS[9], token)
    owner = info and string.match(info, '^%d+ (.*)$') or ''
  end
  redis.call('HSET', KEYS[9], token, now .. ' ' .. owner)
end`;

// Grants the lock to token: a fence from the counter (raised to the floor
// when it lags the clock), a holder entry with its expiry, out of the queue.
const GRANT = `local function grant(token, mode, lease, floor, owner)
  local fence = redis.call('INCR', KEYS[4])
  if floor ~= '' and fence < tonumber(floor) then
    fence = tonumber(floor); redis.call('SET', KEYS[4], floor)
  end
  redis.call('ZADD', KEYS[1], now + lease, token)
  redis.call('HSET', KEYS[3], token, fence)
  if mode == 'x' then redis.call('SET', KEYS[2], token) end
  redis.call('ZREM', KEYS[5], token); redis.call('ZREM', KEYS[6], token)
  redis.call('HDEL', KEYS[7], token)
  note(token, owner)
  keep(lease + 1000)
  return fence
end`;

// Hands the lock to the waiters at the head of the queue while their modes
// allow, and tells each its grant on the channel ("token fence leaseMs
// since"): a woken waiter needs no request of its own. "since" is the time
// from the waiter's heartbeat deadline to now: with its own heartbeat TTL,
// the waiter reckons the lease from its last request, which it sent before
// the grant, rather than from the message, which may come late.
const HANDOFF = `local function handoff(floor, channel)
  while true do
    local head = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
    if not head then return end
    local entry = redis.call('HGET', KEYS[7], head)
    local mode, lease
    if entry then mode, lease = string.match(entry, '^(%a):(%d+)$') end
    if not mode then
      redis.call('ZREM', KEYS[5], head); redis.call('ZREM', KEYS[6], head)
      redis.call('HDEL', KEYS[9], head)
    else
      if mode == 'x' then
        if redis.call('ZCARD', KEYS[1]) > 0 then return end
      elseif redis.call('EXISTS', KEYS[2]) == 1 then
        return
      end
      local beat = redis.call('ZSCORE', KEYS[6], head)
      local fence = grant(head, mode, tonumber(lease), floor)
      redis.call('PUBLISH', channel, head .. ' ' .. fence .. ' ' .. lease ..
        ' ' .. (beat and (now - tonumber(beat)) or ''))
      if mode == 'x' then return end
    end
  end
end`;

const PRELUDE = `${NOW}
${PURGE}
${KEEP}
${NOTE}
${GRANT}
${HANDOFF}`;

/**
 * ARGV: token, mode ('x' | 's'), leaseMs, join ('1' to queue when busy),
 * waiterTtlMs, fence floor ('' none), channel, priority (-100 to 100), owner
 * label ('' none).
 * Returns {1, fence, leaseMs left} when granted (now, or earlier by a
 * handoff), {0, rank, waitMs} when not (rank -1 when not queued; waitMs
 * until the first holder's lease ends).
 */
export const ACQUIRE: string = `${PRELUDE}
local token, mode = ARGV[1], ARGV[2]
local lease, wttl = tonumber(ARGV[3]), tonumber(ARGV[5])
handoff(ARGV[6], ARGV[7])
local held = redis.call('ZSCORE', KEYS[1], token)
if held then
  return {1, tonumber(redis.call('HGET', KEYS[3], token)), tonumber(held) - now}
end
local head = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
local first = (not head) or head == token
local free
if mode == 'x' then
  free = redis.call('ZCARD', KEYS[1]) == 0
else
  free = redis.call('EXISTS', KEYS[2]) == 0
end
if first and free then
  local fence = grant(token, mode, lease, ARGV[6], ARGV[9] or '')
  if mode == 's' then handoff(ARGV[6], ARGV[7]) end
  return {1, fence, lease}
end
local waitMs = 0
local e = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
if e then waitMs = tonumber(e) - now end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[6], now + wttl, token)
  if not redis.call('ZSCORE', KEYS[5], token) then
    local p = tonumber(ARGV[8]) or 0
    local ticket = redis.call('INCR', KEYS[8])
    redis.call('ZADD', KEYS[5], (ticket - p * 10) * 256 + p + 100, token)
    redis.call('HSET', KEYS[7], token, mode .. ':' .. ARGV[3])
    note(token, ARGV[9] or '')
    -- A shared waiter that went first may join the shared holders at once.
    if mode == 's' and redis.call('ZRANK', KEYS[5], token) == 0 then
      handoff(ARGV[6], ARGV[7])
      local granted = redis.call('ZSCORE', KEYS[1], token)
      if granted then
        return {1, tonumber(redis.call('HGET', KEYS[3], token)), lease}
      end
    end
  end
  keep(wttl + 1000)
  return {0, redis.call('ZRANK', KEYS[5], token), waitMs}
end
return {0, -1, waitMs}`;

/** ARGV: token, channel, fence floor. Returns 1 if this call released the lease. */
export const RELEASE: string = `${PRELUDE}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  handoff(ARGV[3], ARGV[2])
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[9], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
handoff(ARGV[3], ARGV[2])
return 1`;

/** ARGV: token, leaseMs. Returns 1 if the lease was still held and now runs leaseMs more. */
export const EXTEND: string = `${NOW}
${KEEP}
local e = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not e or tonumber(e) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
keep(tonumber(ARGV[2]) + 1000)
return 1`;

/**
 * ARGV: token, channel, fence floor. Takes a waiter out of the queue: 1. If
 * a handoff granted it first, 2: the caller must release that lease.
 */
export const CANCEL: string = `${PRELUDE}
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 2 end
redis.call('ZREM', KEYS[5], ARGV[1]); redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('HDEL', KEYS[7], ARGV[1]); redis.call('HDEL', KEYS[9], ARGV[1])
handoff(ARGV[3], ARGV[2])
return 1`;

/** ARGV: channel, fence floor. Returns {holders, waiters} after dropping what expired. */
export const STATUS: string = `${PRELUDE}
handoff(ARGV[2], ARGV[1])
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[5])}`;

/**
 * ARGV: channel, fence floor. Returns {held, pending}: held entries {mode,
 * fence, ageMs, "o:" .. owner} in expiry order, pending entries {mode,
 * ageMs, "o:" .. owner} in queue order; ages by the server's clock. The
 * "o:" keeps a client that parses JSON replies from turning "42" into 42.
 */
export const QUERY: string = `${PRELUDE}
handoff(ARGV[2], ARGV[1])
local function info(tk)
  local since, owner = string.match(redis.call('HGET', KEYS[9], tk) or '', '^(%d+) (.*)$')
  return now - (tonumber(since) or now), 'o:' .. (owner or '')
end
local writer = redis.call('GET', KEYS[2])
local held, pending = {}, {}
for _, tk in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local age, owner = info(tk)
  local mode = 's'
  if tk == writer then mode = 'x' end
  held[#held + 1] = {mode, tonumber(redis.call('HGET', KEYS[3], tk)) or 0, age, owner}
end
for _, tk in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  local entry = redis.call('HGET', KEYS[7], tk)
  if entry then
    local age, owner = info(tk)
    pending[#pending + 1] = {string.sub(entry, 1, 1), age, owner}
  end
end
return {held, pending}`;

/** Percent-encodes all but [A-Za-z0-9_.-], so no name can reach into another's keys. */
export function encodeName(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.-]/.test(c)
      ? c
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The nine keys and the channel of one lock, in script order. */
export function keysFor(
  prefix: string,
  name: string,
): { keys: string[]; channel: string } {
  // The braces keep every key of a lock in one cluster slot.
  const k = `${prefix}{${encodeName(name)}}`;
  return {
    keys: ["h", "w", "f", "n", "q", "qx", "qm", "s", "i"].map((s) =>
      `${k}:${s}`
    ),
    channel: `${k}:c`,
  };
}
