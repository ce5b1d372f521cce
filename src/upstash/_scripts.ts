// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The Lua scripts of the Upstash driver: one script, one HTTP
 * request, per operation, to the semantics of `src/remote/driver.ts`. Each
 * is idempotent for the same token: the core repeats a call whose reply it
 * did not get, and may send one after another with the same token was lost.
 *
 * Keys of lock K (see {@linkcode keysFor}), in script order:
 * 1. K:h holders (zset token → lease expiry, ms by the server's clock);
 * 2. K:w the exclusive holder's token;
 * 3. K:f holder records (hash token → "fence seq waited mode": the fence,
 *    the highest extend seq applied, 1 if it waited in the queue, x or s,
 *    and after s a semaphore's permits when not 1, as in `s3`);
 * 4. K:m the lock's memory, which never expires (hash: n the fence counter,
 *    u the latest expiry of any holder as last written, c the capacity of
 *    the holders and waiters: a semaphore's, absent or 0 for a lock), so
 *    that a loss of the other keys (eviction) is noticed rather than
 *    granted into;
 * 5. K:q waiters (zset token → queue key, `(ticket - priority * 10) * 256 +
 *    priority + 100`, so ZRANGE 0 0 is the next in line);
 * 6. K:qx waiter heartbeats (zset token → deadline ms);
 * 7. K:qm waiter records (hash token → "mode leaseMs call arrival channel",
 *    the mode with its permits as in K:f:
 *    the caller's number for its latest acquire call, when that call
 *    arrived, and where to push its grant, '' for nowhere);
 * 8. K:s the ticket counter;
 * 9. K:i "since owner" (hash token → when it queued or was granted, and its
 *    owner label, for QUERY);
 * 10. K:t tombstones (zset token → until when a released, cancelled or
 *    expired token is refused, at least a minute; a score ending in .5
 *    marks a lease that was stolen, so that its renewal can say so).
 *
 * One admission rule serves locks and semaphores: every request holds some
 * permits of the name's capacity. A lock's capacity is unbounded; its
 * exclusive request holds it all (admitted only when nothing is held), its
 * shared one holds 1. A semaphore's request holds its permits of the
 * capacity every request carries. The queue's head is admitted while the
 * permits held plus its own fit, and nobody behind it goes first.
 *
 * Fences are the counter plus one, raised to the server's clock in µs when
 * it lags (so they keep rising if the counter was lost): about 1.8 × 10^15,
 * below 2^53. Numbers that go into strings are formatted with `%.0f`: Lua
 * would write a fence as `1.7876543210123e+15`.
 */

/** How long a tombstone refuses its token, in ms (the contract's minimum). */
export const TOMBSTONE_MS = 60_000;

const PRELUDE =
  `local H, W, F, M, Q, QX, QM, S, I, T = KEYS[1], KEYS[2], KEYS[3],
  KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local TOMB = ${TOMBSTONE_MS}
local function int(x) return string.format('%.0f', x) end
-- Set when the holders changed (K:m's u is then rewritten), and when the
-- keys are found in a state no script leaves them in.
local dirty, bad, badLeft = false, nil, 0

-- Keys live only as long as a holder or waiter may; K:m forever.
local function keep(ms)
  for _, k in ipairs({H, W, F, Q, QX, QM, S, I}) do
    local left = redis.call('PTTL', k)
    if left ~= -2 and left < ms then redis.call('PEXPIRE', k, ms) end
  end
end

local function bury(token)
  redis.call('ZADD', T, int(now + TOMB), token)
  if redis.call('PTTL', T) < TOMB + 1000 then redis.call('PEXPIRE', T, TOMB + 1000) end
end

-- Also returns the permits as written after the mode ('' for 1).
local function holder(token)
  local fence, seq, waited, mode, p = string.match(redis.call('HGET', F, token) or '',
    '^(%d+) (%d+) (%d) ([xs])(%d*)$')
  if not fence then return nil end
  return tonumber(fence), tonumber(seq), waited, mode, p
end

-- Also returns the permits the waiter needs.
local function waiter(token)
  local mode, p, lease, call, arrival, channel = string.match(
    redis.call('HGET', QM, token) or '', '^([xs])(%d*) (%d+) (%d+) (%d+) (.*)$')
  if not mode then return nil end
  return mode, tonumber(lease), tonumber(call), tonumber(arrival), channel,
    tonumber(p) or 1
end

-- How permits are written after a mode: nothing for 1.
local function ptext(mode, p)
  if mode == 's' and p ~= 1 then return int(p) end
  return ''
end

-- The permits the shared holders hold (each lock reader holds 1).
local function used()
  local n = 0
  for _, tk in ipairs(redis.call('ZRANGE', H, 0, -1)) do
    local _, _, _, mode, p = holder(tk)
    if mode == 's' then n = n + (tonumber(p) or 1) end
  end
  return n
end

-- The capacity of the name's holders and waiters (0: a lock's); nil when
-- nobody holds or waits, when the next request may set another.
local function capacity()
  if redis.call('ZCARD', H) == 0 and redis.call('ZCARD', Q) == 0 then return nil end
  return tonumber(redis.call('HGET', M, 'c')) or 0
end

-- Whether a request of a mode for p permits fits beside the holders.
local function fits(mode, p)
  if mode == 'x' then return redis.call('ZCARD', H) == 0 end
  if redis.call('EXISTS', W) == 1 then return false end
  local c = tonumber(redis.call('HGET', M, 'c')) or 0
  return c == 0 or used() + p <= c
end

local function dropWaiter(token)
  redis.call('ZREM', Q, token); redis.call('ZREM', QX, token)
  redis.call('HDEL', QM, token); redis.call('HDEL', I, token)
end

-- Ends leases that ran out (their tokens are never granted again) and drops
-- waiters whose heartbeat stopped (they may queue again). Returns the ended.
local function purge()
  redis.call('ZREMRANGEBYSCORE', T, '-inf', now)
  local ended = {}
  local expired = redis.call('ZRANGEBYSCORE', H, '-inf', now)
  if #expired > 0 then
    for _, tk in ipairs(expired) do
      ended[tk] = true
      redis.call('HDEL', F, tk); redis.call('HDEL', I, tk); bury(tk)
    end
    redis.call('ZREMRANGEBYSCORE', H, '-inf', now)
    dirty = true
  end
  local lapsed = redis.call('ZRANGEBYSCORE', QX, '-inf', now)
  for _, tk in ipairs(lapsed) do dropWaiter(tk) end
  return ended
end

-- Looks for a state that no script leaves behind: keys lost while others
-- lived (eviction, a manual DEL). Holder-side damage sets bad (no grants)
-- until every lease that may still run has ended by K:m's u; then the
-- remains are cleared. Waiter-side damage is dropped: a live waiter queues
-- again with its next call.
local function check(ended)
  local u = tonumber(redis.call('HGET', M, 'u')) or 0
  local live = redis.call('ZCARD', H)
  local writer = redis.call('GET', W)
  if writer and not redis.call('ZSCORE', H, writer) and ended[writer] then
    redis.call('DEL', W); writer = false
  end
  local problem
  if live == 0 and u > now then
    problem = 'every holder entry (K:h) vanished while a lease may still run'
  elseif redis.call('HLEN', F) < live then
    problem = 'a holder has no record (K:f)'
  elseif writer and not redis.call('ZSCORE', H, writer) then
    problem = 'the exclusive holder (K:w) has no lease entry (K:h)'
  elseif writer and live > 1 then
    problem = 'an exclusive holder (K:w) shares the lock'
  elseif live == 1 and not writer then
    local only = redis.call('ZRANGE', H, 0, 0)[1]
    local _, _, _, mode = holder(only)
    if mode == 'x' then problem = 'the exclusive holder lost its key (K:w)' end
  end
  if problem then
    if now < u then
      bad, badLeft = problem, u - now
    else
      -- Every lease that may have run has ended: start clean.
      for _, tk in ipairs(redis.call('ZRANGE', H, 0, -1)) do
        if not holder(tk) then redis.call('ZREM', H, tk) end
      end
      writer = redis.call('GET', W)
      if writer and not holder(writer) then redis.call('DEL', W) end
      dirty = true
    end
  end
  local waiting = redis.call('ZCARD', Q)
  if waiting > 0 then
    if redis.call('ZCARD', QX) < waiting or redis.call('HLEN', QM) < waiting then
      for _, tk in ipairs(redis.call('ZRANGE', Q, 0, -1)) do
        if not redis.call('ZSCORE', QX, tk) or not waiter(tk) then dropWaiter(tk) end
      end
    end
    if redis.call('EXISTS', S) == 0 then
      -- A lost ticket counter would let new waiters pass the queued ones.
      local top = redis.call('ZRANGE', Q, -1, -1, 'WITHSCORES')[2]
      if top then redis.call('SET', S, int(math.floor(tonumber(top) / 256) + 1001)) end
    end
  end
end

-- Rewrites K:m's u, the latest expiry of the holders (never lowered while
-- the state is damaged: it says how long to refuse).
local function sync()
  if not dirty then return end
  local top = tonumber(redis.call('ZRANGE', H, -1, -1, 'WITHSCORES')[2]) or 0
  if bad then top = math.max(top, tonumber(redis.call('HGET', M, 'u')) or 0) end
  redis.call('HSET', M, 'u', int(top))
end

-- Records when a request queued or was granted, keeping its owner label
-- (owner nil: the one noted when it queued).
local function note(token, owner)
  if owner == nil then
    owner = string.match(redis.call('HGET', I, token) or '', '^%d+ (.*)$') or ''
  end
  redis.call('HSET', I, token, int(now) .. ' ' .. owner)
end

local function grant(token, mode, lease, owner, waited, p)
  local fence = (tonumber(redis.call('HGET', M, 'n')) or 0) + 1
  if fence < nowUs then fence = nowUs end
  redis.call('HSET', M, 'n', int(fence))
  redis.call('ZADD', H, int(now + lease), token)
  redis.call('HSET', F, token, int(fence) .. ' 0 ' .. (waited and '1' or '0') .. ' ' ..
    mode .. ptext(mode, p))
  if mode == 'x' then redis.call('SET', W, token) end
  redis.call('ZREM', Q, token); redis.call('ZREM', QX, token)
  redis.call('HDEL', QM, token)
  note(token, owner)
  keep(lease + 1000)
  dirty = true
  return fence
end

-- Hands the lock to the waiters at the head of the queue while their
-- permits fit, and pushes each its grant on its own client's channel: "token
-- fence runMs call", where the lease runs runMs after the waiter's latest
-- acquire call (number call) arrived. Nobody else hears it.
local function handoff()
  if bad then return end
  while true do
    local head = redis.call('ZRANGE', Q, 0, 0)[1]
    if not head then return end
    local mode, lease, call, arrival, channel, p = waiter(head)
    if not mode then
      dropWaiter(head)
    else
      if not fits(mode, p) then return end
      local fence = grant(head, mode, lease, nil, true, p)
      if channel ~= '' then
        redis.call('PUBLISH', channel, head .. ' ' .. int(fence) .. ' ' ..
          int(now + lease - arrival) .. ' ' .. int(call))
      end
      if mode == 'x' then return end
    end
  end
end

local function held(token)
  local e = redis.call('ZSCORE', H, token)
  if not e then return nil end
  local fence, _, waited = holder(token)
  if not fence then return nil end
  return {1, fence, tonumber(e) - now, tonumber(waited)}
end

check(purge())`;

/**
 * A script: the prelude, a handoff to the waiters that expired leases let
 * in (unless `handoffFirst` is false), then `body`.
 */
function script(body: string, handoffFirst = true): string {
  return `${PRELUDE}
${handoffFirst ? "handoff()" : ""}
local function main()
${body}
end
local reply = main()
sync()
return reply`;
}

/**
 * ARGV: token, mode ('x' | 's'), leaseMs, join ('1' to queue when busy),
 * waiterTtlMs, channel ('' none), priority (-100 to 100), owner label,
 * call (the caller's number for this call of the token, rising), and for
 * a semaphore its permits and capacity ('' for a lock).
 * Returns {1, fence, leaseMsLeft, waited} granted (now or by a handoff),
 * {0, rank, retryMs} queued, {2} busy, {3} gone (a tombstone),
 * {4, refuseMs, why} when the keys are damaged, or {5, capacity} when the
 * name's holders and waiters have another capacity (0: a lock's).
 */
export const ACQUIRE: string = script(`local token, mode = ARGV[1], ARGV[2]
local lease, wttl = tonumber(ARGV[3]), tonumber(ARGV[5])
local permits, cap = tonumber(ARGV[10]) or 1, tonumber(ARGV[11]) or 0
local r = held(token)
if r then return r end
if redis.call('ZSCORE', T, token) then return {3} end
if bad then return {4, badLeft, bad} end
-- Capacity travels with each request: one that disagrees with the name's
-- holders and waiters is refused; an idle name takes the new one.
local c = capacity()
if c == nil then
  if (tonumber(redis.call('HGET', M, 'c')) or 0) ~= cap then
    redis.call('HSET', M, 'c', int(cap))
  end
elseif c ~= cap then
  return {5, c}
end
local queued = redis.call('ZSCORE', Q, token) ~= false
local head = redis.call('ZRANGE', Q, 0, 0)[1]
if ((not head) or head == token) and fits(mode, permits) then
  local fence = grant(token, mode, lease, ARGV[8], queued, permits)
  -- Shared waiters behind it may join it, while their permits fit.
  if mode == 's' then handoff() end
  return {1, fence, lease, queued and 1 or 0}
end
if ARGV[4] ~= '1' then return {2} end
redis.call('ZADD', QX, int(now + wttl), token)
if not queued then
  local p = tonumber(ARGV[7]) or 0
  local ticket = redis.call('INCR', S)
  redis.call('ZADD', Q, int((ticket - p * 10) * 256 + p + 100), token)
  note(token, ARGV[8])
end
local call = tonumber(ARGV[9]) or 0
local _, _, last = waiter(token)
-- A late call that an earlier-numbered one overtook changes nothing.
if not last or call >= last then
  redis.call('HSET', QM, token, mode .. ptext(mode, permits) .. ' ' .. int(lease) ..
    ' ' .. int(call) .. ' ' .. int(now) .. ' ' .. ARGV[6])
end
keep(wttl + 1000)
local retry = math.floor(wttl / 3)
local first = tonumber(redis.call('ZRANGE', H, 0, 0, 'WITHSCORES')[2])
if first and first - now < retry then retry = first - now end
if retry < 1 then retry = 1 end
return {0, redis.call('ZRANK', Q, token), retry}`);

/** ARGV: token. Ends its lease or its place, buries it; 1 if it ended a lease. */
export const RELEASE: string = script(`local token = ARGV[1]
local ended = 0
if redis.call('ZSCORE', H, token) then
  redis.call('ZREM', H, token); redis.call('HDEL', F, token)
  if redis.call('GET', W) == token then redis.call('DEL', W) end
  redis.call('HDEL', I, token)
  dirty, ended = true, 1
else
  dropWaiter(token)
end
bury(token)
handoff()
return ended`);

/**
 * ARGV: token, leaseMs, seq. Returns {1, leaseMsLeft} when held (set to
 * leaseMs from now unless a seq as high was applied already), {0, 0,
 * stolen} when not (expired, released, never granted, or its record is
 * damaged; stolen 1 when STEAL took it).
 */
export const EXTEND: string = script(`local token = ARGV[1]
local e = redis.call('ZSCORE', H, token)
local fence, applied, waited, mode, p = holder(token)
if not e or not fence then
  local tomb = redis.call('ZSCORE', T, token)
  return {0, 0, (tomb and string.find(tomb, '%.5$')) and 1 or 0}
end
local ms, seq = tonumber(ARGV[2]), tonumber(ARGV[3])
if seq <= applied then return {1, tonumber(e) - now} end
redis.call('ZADD', H, 'XX', int(now + ms), token)
redis.call('HSET', F, token, int(fence) .. ' ' .. int(seq) .. ' ' .. waited .. ' ' .. mode .. p)
keep(ms + 1000)
dirty = true
return {1, ms}`);

/**
 * ARGV: token, leaseMs, owner label. Takes the lock for token at once:
 * every holder's lease ends, its tombstone marked stolen (a score ending in
 * .5), and token is granted ahead of the queue, whose waiters keep their
 * places. It hands nothing to the waiters first (a waiter granted there,
 * its grant pushed, would be revoked by the steal in the same breath: a
 * grant its client receives after another holds). Returns {1, fence, leaseMsLeft, 0} granted (also when token
 * holds already: nobody is revoked twice), {3} gone, or {4, refuseMs, why}
 * when the keys are damaged.
 */
export const STEAL: string = script(
  `local token = ARGV[1]
local r = held(token)
if r then return r end
if redis.call('ZSCORE', T, token) then return {3} end
if bad then return {4, badLeft, bad} end
for _, tk in ipairs(redis.call('ZRANGE', H, 0, -1)) do
  redis.call('HDEL', F, tk); redis.call('HDEL', I, tk)
  redis.call('ZADD', T, int(now + TOMB) .. '.5', tk)
end
if redis.call('PTTL', T) < TOMB + 1000 then redis.call('PEXPIRE', T, TOMB + 1000) end
redis.call('DEL', H, W)
dropWaiter(token)
local lease = tonumber(ARGV[2])
return {1, grant(token, 'x', lease, ARGV[3], false), lease, 0}`,
  false,
);

/**
 * ARGV: token. Takes a waiter out of the queue and buries it (also a token
 * not seen yet): 1; or 2 when it holds the lease (the caller releases).
 */
export const CANCEL: string = script(`local token = ARGV[1]
if redis.call('ZSCORE', H, token) then return 2 end
dropWaiter(token)
bury(token)
handoff()
return 1`);

/**
 * No ARGV. Returns {holders, waiters, permits, capacity} after dropping what
 * expired: the permits the shared holders hold, and the capacity of the
 * holders and waiters (0 a lock's, -1 when idle); at least one holder
 * while the keys are damaged (a lease may still run).
 */
export const STATUS: string = script(`local holders = redis.call('ZCARD', H)
if bad and holders == 0 then holders = 1 end
return {holders, redis.call('ZCARD', Q), used(), capacity() or -1}`);

/**
 * No ARGV. Returns {held, pending}: held entries {mode, fence, ageMs,
 * "o:" .. owner, permits} in expiry order, pending entries {mode, ageMs,
 * "o:" .. owner, permits} in queue order; ages by the server's clock. The "o:" keeps a
 * client that parses JSON replies from turning "42" into 42.
 */
export const QUERY: string = script(`local function info(tk)
  local since, owner = string.match(redis.call('HGET', I, tk) or '', '^(%d+) (.*)$')
  return now - (tonumber(since) or now), 'o:' .. (owner or '')
end
local out, pending = {}, {}
for _, tk in ipairs(redis.call('ZRANGE', H, 0, -1)) do
  local fence, _, _, mode, p = holder(tk)
  local age, owner = info(tk)
  out[#out + 1] = {mode or 'x', fence or 0, age, owner, tonumber(p) or 1}
end
for _, tk in ipairs(redis.call('ZRANGE', Q, 0, -1)) do
  local mode, _, _, _, _, p = waiter(tk)
  if mode then
    local age, owner = info(tk)
    pending[#pending + 1] = {mode, age, owner, p}
  end
end
return {out, pending}`);

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

/** The ten keys of one lock, in script order. */
export function keysFor(prefix: string, name: string): string[] {
  // The braces keep every key of a lock in one cluster slot.
  const k = `${prefix}{${encodeName(name)}}`;
  return ["h", "w", "f", "m", "q", "qx", "qm", "s", "i", "t"].map((s) =>
    `${k}:${s}`
  );
}
