/**
 * The Lua scripts that change a task's record in one step. Redis runs each atomically, so a
 * cancel on an API node and a completion on a worker can never interleave halfway. BullMQ
 * holds the work itself (queues, locks, stalled jobs, delays); these scripts hold what the
 * work is for. Every script takes the key prefix as ARGV[1] and the task id as ARGV[2].
 *
 * Records (K = prefix + ':'):
 *   K task:ID        hash: id seq status priority request total done retries error result reference engine
 *                    expired createdAt startedAt finishedAt expiresAt updatedAt lease hash idem epoch agen next inflight reuse cached
 *                    whurl whevents (the task's webhook, if any) whlast (the status of its last delivery)
 *                    references segparts (a task with parts: its voices' references, each segment's part, JSON)
 *   K task:ID:seg    hash per segment i: t<i> text, s<i> pending|queued|running|done, g<i> generation,
 *                    k<i> lease token, n<i> attempts, p<i> audio path, d<i> duration
 *   K task:ID:ev     list of the task's events (JSON)
 *   K tasks, K status:S   sorted sets of ids by creation order; K expiry: by expiry time
 *   K seq, K eseq    counters (tasks, events); K events: stream of every event, for subscribers
 *   K idem:KEY       task id of an idempotency key (scoped by owner by the caller)
 *   K open:OWNER     set of the owner's unfinished task ids ('' : tasks made without a key)
 *   K owner:O:tasks, K owner:O:status:S   an owner's tasks, as K tasks and K status:S (keyed tasks only)
 *   K audit          stream of audit entries (JSON), ids from the entries' times (APPEND_AUDIT)
 *   K reuse:OWNER:KEY   id of the owner's last completed task prepared with reuse key KEY, expiring with its result
 *                    (the task's own key is its field `reuse`; a result copied from another's has `cached` 1)
 *   K webhook:DID    hash of a webhook delivery (redis/webhooks.ts); K task:ID:wh its task's delivery ids;
 *                    K webhooks:due (pending ids by next try), K webhooks:ended (ended ids by end time)
 * Timestamps travel as decimal strings and are stored as given (no float round trip).
 */

const HELPERS = `
local rcall = redis.call
local K = ARGV[1] .. ':'
local id = ARGV[2]
local tkey = K .. 'task:' .. id
local skey = tkey .. ':seg'

local function setStatus(new)
  local f = rcall('HMGET', tkey, 'status', 'seq', 'owner')
  if f[1] ~= new then
    rcall('ZREM', K .. 'status:' .. f[1], id)
    rcall('ZADD', K .. 'status:' .. new, f[2], id)
    rcall('HSET', tkey, 'status', new)
    local owner = f[3] or ''
    if owner ~= '' then
      rcall('ZREM', K .. 'owner:' .. owner .. ':status:' .. f[1], id)
      rcall('ZADD', K .. 'owner:' .. owner .. ':status:' .. new, f[2], id)
    end
    if new == 'completed' or new == 'failed' or new == 'canceled' then rcall('SREM', K .. 'open:' .. owner, id) end
  end
end

local function isFinal(status)
  return status == 'completed' or status == 'failed' or status == 'canceled'
end

-- The outbox: a status event of a task whose webhook wants it (webhookWants in backend.ts) records
-- its delivery in the same script. A repeat of the status just delivered (a stalled claim) is not a change.
local function recordWebhook(status, eid, now)
  local w = rcall('HMGET', tkey, 'whurl', 'whevents', 'owner', 'whlast')
  if not w[1] or w[1] == '' then return end
  if w[2] ~= 'all' and not isFinal(status) then return end
  if w[4] == status then return end
  local did = 'msg_' .. id .. '_' .. eid
  rcall('HSET', K .. 'webhook:' .. did, 'id', did, 'task', id, 'owner', w[3] or '', 'url', w[1], 'type', 'task.' .. status, 'status', 'pending',
    'eventAt', now, 'next', now, 'attempts', '[]')
  rcall('ZADD', K .. 'webhooks:due', now, did)
  rcall('RPUSH', tkey .. ':wh', did)
  rcall('HSET', tkey, 'whlast', status)
end

local function event(kind, now)
  local f = rcall('HMGET', tkey, 'status', 'done', 'total', 'error')
  local eid = rcall('INCR', K .. 'eseq')
  local ev = { id = eid, taskId = id, type = kind, status = f[1], segmentsDone = tonumber(f[2]), segmentsTotal = tonumber(f[3]), at = tonumber(now) }
  if f[4] then ev.error = cjson.decode(f[4]) end
  local json = cjson.encode(ev)
  rcall('RPUSH', tkey .. ':ev', json)
  rcall('XADD', K .. 'events', 'MAXLEN', '~', '100000', eid .. '-1', 'e', json)
  if kind == 'status' then recordWebhook(f[1], eid, now) end
end

-- The segments of the task that wait in a queue (to remove their jobs): index, generation pairs.
local function queuedSegments()
  local out = {}
  local total = tonumber(rcall('HGET', tkey, 'total') or '0')
  for i = 0, total - 1 do
    if rcall('HGET', skey, 's' .. i) == 'queued' then
      table.insert(out, i)
      table.insert(out, rcall('HGET', skey, 'g' .. i))
    end
  end
  return out
end

-- Once the task is completed: its reuse key (if any) names it until its result expires.
local function offerForReuse(now, expiresAt)
  local f = rcall('HMGET', tkey, 'reuse', 'owner')
  if f[1] and f[1] ~= '' then
    rcall('SET', K .. 'reuse:' .. (f[2] or '') .. ':' .. f[1], id, 'PX', math.max(1, tonumber(expiresAt) - tonumber(now)))
  end
end

local function failTask(errorJson, now)
  rcall('HSET', tkey, 'error', errorJson, 'finishedAt', now, 'updatedAt', now, 'lease', '')
  setStatus('failed')
  event('status', now)
end
`;

/**
 * ARGV: prefix, id, now, priority, request, idempotency key or '', request hash or '', owner or
 * '', most unfinished tasks of the owner or 0, fair rank cap, webhook URL or '', webhook events
 * or ''. Returns the outcome and the record ('quota' and the count when the owner has as many
 * unfinished tasks as it may).
 */
export const CREATE_TASK = `${HELPERS}
local now, priority, request, idem, hash, owner, maxOpen, rankCap = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local whurl, whevents = ARGV[11] or '', ARGV[12] or ''
if idem ~= '' then
  local existing = rcall('GET', K .. 'idem:' .. idem)
  if existing then
    if rcall('HGET', K .. 'task:' .. existing, 'hash') ~= hash then return { 'conflict' } end
    return { 'existing', rcall('HGETALL', K .. 'task:' .. existing) }
  end
end
local open = rcall('SCARD', K .. 'open:' .. owner)
if maxOpen > 0 and open >= maxOpen then return { 'quota', open } end
local seq = rcall('INCR', K .. 'seq')
rcall('HSET', tkey, 'id', id, 'seq', seq, 'status', 'queued', 'priority', priority, 'request', request, 'total', 0, 'done', 0,
  'retries', 0, 'expired', 0, 'createdAt', now, 'updatedAt', now, 'hash', hash, 'epoch', 0, 'agen', 0, 'next', 0, 'inflight', 0, 'lease', '',
  'owner', owner, 'rank', math.min(open, rankCap))
if whurl ~= '' then rcall('HSET', tkey, 'whurl', whurl, 'whevents', whevents) end
rcall('ZADD', K .. 'tasks', seq, id)
rcall('ZADD', K .. 'status:queued', seq, id)
rcall('SADD', K .. 'open:' .. owner, id)
if owner ~= '' then
  rcall('ZADD', K .. 'owner:' .. owner .. ':tasks', seq, id)
  rcall('ZADD', K .. 'owner:' .. owner .. ':status:queued', seq, id)
end
if idem ~= '' then rcall('SET', K .. 'idem:' .. idem, id) end
event('status', now)
return { 'created', rcall('HGETALL', tkey) }
`;

/** ARGV: prefix, id, epoch, token, now. A prepare job's claim: the task is queued (or its last preparer died). */
export const CLAIM_PREPARE = `${HELPERS}
local epoch, token, now = ARGV[3], ARGV[4], ARGV[5]
local f = rcall('HMGET', tkey, 'status', 'epoch', 'startedAt')
if not f[1] or f[2] ~= epoch or (f[1] ~= 'queued' and f[1] ~= 'preparing') then return { 'stale' } end
setStatus('preparing')
rcall('HSET', tkey, 'lease', token, 'updatedAt', now)
if not f[3] then rcall('HSET', tkey, 'startedAt', now) end
event('status', now)
return { 'ok', rcall('HGETALL', tkey) }
`;

/**
 * ARGV: prefix, id, epoch, index, generation, token, now. A segment job's claim: 'done' when
 * the segment was finished already (its worker died before removing the job).
 */
export const CLAIM_SEGMENT = `${HELPERS}
local epoch, i, gen, token, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local f = rcall('HMGET', tkey, 'status', 'epoch', 'next')
if not f[1] or f[2] ~= epoch then return { 'stale' } end
local s = rcall('HMGET', skey, 's' .. i, 'g' .. i, 't' .. i)
if not s[1] or s[2] ~= gen then return { 'stale' } end
if s[1] == 'done' then return { 'done', f[1] } end
if f[1] ~= 'synthesizing' then return { 'stale' } end
if s[1] == 'pending' then
  -- Its job was added but the window not yet marked (its adder died): count it in now.
  rcall('HINCRBY', tkey, 'inflight', 1)
  if tonumber(i) >= tonumber(f[3]) then rcall('HSET', tkey, 'next', tonumber(i) + 1) end
end
local attempts = rcall('HINCRBY', skey, 'n' .. i, 1)
rcall('HSET', skey, 's' .. i, 'running', 'k' .. i, token)
rcall('HSET', tkey, 'updatedAt', now)
return { 'ok', s[3], attempts, rcall('HGETALL', tkey) }
`;

/** ARGV: prefix, id, epoch, assemble generation, token, now. Returns the segments' paths and texts in order. */
export const CLAIM_ASSEMBLE = `${HELPERS}
local epoch, agen, token, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = rcall('HMGET', tkey, 'status', 'epoch', 'agen', 'total')
if not f[1] or f[1] ~= 'encoding' or f[2] ~= epoch or f[3] ~= agen then return { 'stale' } end
rcall('HSET', tkey, 'lease', token, 'updatedAt', now)
local paths, texts = {}, {}
for i = 0, tonumber(f[4]) - 1 do
  local s = rcall('HMGET', skey, 'p' .. i, 't' .. i)
  table.insert(paths, s[1])
  table.insert(texts, s[2])
end
return { 'ok', paths, rcall('HGETALL', tkey), texts }
`;

/** ARGV: prefix, id, kind, token, index. 1 while the unit's task still holds this lease. */
export const HOLDS_LEASE = `${HELPERS}
local kind, token, i = ARGV[3], ARGV[4], ARGV[5]
local status = rcall('HGET', tkey, 'status')
if kind == 'segment' then
  if status ~= 'synthesizing' then return 0 end
  local s = rcall('HMGET', skey, 's' .. i, 'k' .. i)
  return (s[1] == 'running' and s[2] == token) and 1 or 0
end
if status ~= (kind == 'prepare' and 'preparing' or 'encoding') then return 0 end
return rcall('HGET', tkey, 'lease') == token and 1 or 0
`;

/**
 * ARGV: prefix, id, token, now, reference JSON or '', engine or '', reuse key or '', the parts'
 * references JSON or '', the segments' parts JSON or '', then the segments' texts.
 */
export const COMPLETE_PREPARE = `${HELPERS}
local token, now, reference, engine, reuse, refs, parts = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local f = rcall('HMGET', tkey, 'status', 'lease')
if f[1] ~= 'preparing' or f[2] ~= token then return 0 end
rcall('DEL', skey)
local total = #ARGV - 9
for n = 1, total do
  local i = n - 1
  rcall('HSET', skey, 't' .. i, ARGV[9 + n], 's' .. i, 'pending', 'g' .. i, 0, 'n' .. i, 0)
end
rcall('HSET', tkey, 'total', total, 'done', 0, 'next', 0, 'inflight', 0, 'lease', '', 'updatedAt', now, 'reuse', reuse)
if reference ~= '' then rcall('HSET', tkey, 'reference', reference) else rcall('HDEL', tkey, 'reference') end
if refs ~= '' then rcall('HSET', tkey, 'references', refs) else rcall('HDEL', tkey, 'references') end
if parts ~= '' then rcall('HSET', tkey, 'segparts', parts) else rcall('HDEL', tkey, 'segparts') end
if engine ~= '' then rcall('HSET', tkey, 'engine', engine) else rcall('HDEL', tkey, 'engine') end
setStatus('synthesizing')
event('status', now)
return 1
`;

/**
 * ARGV: prefix, id, first, last (exclusive). Marks segments whose jobs were just added as
 * queued; the window's next index moves past them.
 */
export const MARK_QUEUED = `${HELPERS}
local first, last = tonumber(ARGV[3]), tonumber(ARGV[4])
if rcall('HGET', tkey, 'status') ~= 'synthesizing' then return 0 end
local marked = 0
for i = first, last - 1 do
  if rcall('HGET', skey, 's' .. i) == 'pending' then
    rcall('HSET', skey, 's' .. i, 'queued')
    marked = marked + 1
  end
end
rcall('HINCRBY', tkey, 'inflight', marked)
if last > tonumber(rcall('HGET', tkey, 'next')) then rcall('HSET', tkey, 'next', last) end
return marked
`;

/**
 * ARGV: prefix, id, index, token, path, duration, now. Returns 'ignored' (lease lost, task
 * ended), 'progress', or 'complete' with the assemble generation when it was the last one.
 */
export const COMPLETE_SEGMENT = `${HELPERS}
local i, token, path, duration, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if rcall('HGET', tkey, 'status') ~= 'synthesizing' then return { 'ignored' } end
local s = rcall('HMGET', skey, 's' .. i, 'k' .. i)
if s[1] ~= 'running' or s[2] ~= token then return { 'ignored' } end
rcall('HSET', skey, 's' .. i, 'done', 'p' .. i, path, 'd' .. i, duration, 'k' .. i, '')
rcall('HINCRBY', tkey, 'inflight', -1)
local done = rcall('HINCRBY', tkey, 'done', 1)
rcall('HSET', tkey, 'updatedAt', now)
event('progress', now)
if done < tonumber(rcall('HGET', tkey, 'total')) then return { 'progress' } end
local agen = rcall('HINCRBY', tkey, 'agen', 1)
setStatus('encoding')
event('status', now)
return { 'complete', agen }
`;

/** ARGV: prefix, id, token, result JSON, now, expiresAt. */
export const COMPLETE_ASSEMBLE = `${HELPERS}
local token, result, now, expiresAt = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = rcall('HMGET', tkey, 'status', 'lease')
if f[1] ~= 'encoding' or f[2] ~= token then return 0 end
rcall('HSET', tkey, 'result', result, 'finishedAt', now, 'expiresAt', expiresAt, 'lease', '', 'updatedAt', now)
rcall('ZADD', K .. 'expiry', expiresAt, id)
setStatus('completed')
offerForReuse(now, expiresAt)
event('status', now)
return 1
`;

/**
 * ARGV: prefix, id, token, now, reference JSON or '', engine or '', reuse key, segment count,
 * result JSON, expiresAt. Completes a task being prepared with a copy of another's result. 1 when done.
 */
export const COMPLETE_REUSED = `${HELPERS}
local token, now, reference, engine, reuse, total, result, expiresAt = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local f = rcall('HMGET', tkey, 'status', 'lease')
if f[1] ~= 'preparing' or f[2] ~= token then return 0 end
rcall('DEL', skey)
rcall('HSET', tkey, 'total', total, 'done', total, 'next', total, 'inflight', 0, 'lease', '', 'reuse', reuse, 'cached', 1,
  'result', result, 'finishedAt', now, 'expiresAt', expiresAt, 'updatedAt', now)
if reference ~= '' then rcall('HSET', tkey, 'reference', reference) else rcall('HDEL', tkey, 'reference') end
if engine ~= '' then rcall('HSET', tkey, 'engine', engine) else rcall('HDEL', tkey, 'engine') end
rcall('ZADD', K .. 'expiry', expiresAt, id)
setStatus('completed')
offerForReuse(now, expiresAt)
event('status', now)
return 1
`;

/**
 * ARGV: prefix, '' (no task), owner or '', reuse key, now. The owner's completed task with this
 * reuse key whose result is kept at `now`, or nothing.
 */
export const FIND_REUSABLE = `
local K = ARGV[1] .. ':'
local id = redis.call('GET', K .. 'reuse:' .. ARGV[3] .. ':' .. ARGV[4])
if not id then return false end
local tkey = K .. 'task:' .. id
local f = redis.call('HMGET', tkey, 'status', 'expired', 'expiresAt', 'owner', 'reuse')
if f[1] ~= 'completed' or f[2] == '1' or not f[3] or tonumber(f[3]) <= tonumber(ARGV[5]) or (f[4] or '') ~= ARGV[3] or f[5] ~= ARGV[4] then return false end
return redis.call('HGETALL', tkey)
`;

/**
 * ARGV: prefix, id, kind, token, index, error JSON, retryable 0/1, spare 0/1, max attempts, now.
 * Returns { outcome, attempts } with outcome 'retrying', 'failed' or 'ignored'; a failed
 * task also returns its queued segments (index, generation pairs) so their jobs can go.
 */
export const FAIL_WORK = `${HELPERS}
local kind, token, i, errorJson, retryable, spare, maxAttempts, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1', ARGV[8] == '1', tonumber(ARGV[9]), ARGV[10]
local status = rcall('HGET', tkey, 'status')
if kind == 'segment' then
  if status ~= 'synthesizing' then return { 'ignored' } end
  local s = rcall('HMGET', skey, 's' .. i, 'k' .. i, 'n' .. i)
  if s[1] ~= 'running' or s[2] ~= token then return { 'ignored' } end
  local attempts = tonumber(s[3])
  if retryable and (spare or attempts < maxAttempts) then
    -- The job stays the segment's: it waits out its backoff among the delayed jobs.
    rcall('HSET', skey, 's' .. i, 'queued', 'k' .. i, '')
    if spare then rcall('HINCRBY', skey, 'n' .. i, -1) else rcall('HINCRBY', tkey, 'retries', 1) end
    rcall('HSET', tkey, 'updatedAt', now)
    return { 'retrying', math.max(1, attempts) }
  end
  rcall('HSET', skey, 's' .. i, 'pending', 'k' .. i, '')
  local queued = queuedSegments()
  failTask(errorJson, now)
  return { 'failed', 0, queued }
end
if status ~= (kind == 'prepare' and 'preparing' or 'encoding') or rcall('HGET', tkey, 'lease') ~= token then return { 'ignored' } end
local attempts = tonumber(rcall('HGET', tkey, 'retries')) + 1
if retryable and (spare or attempts < maxAttempts) then
  rcall('HSET', tkey, 'lease', '', 'updatedAt', now)
  if not spare then rcall('HINCRBY', tkey, 'retries', 1) end
  if kind == 'prepare' then
    setStatus('queued')
    event('status', now)
  end
  return { 'retrying', attempts }
end
failTask(errorJson, now)
return { 'failed', 0, {} }
`;

/**
 * ARGV: prefix, id, token, now, then the indexes to reopen. Finished segments whose audio is
 * gone become queued again under a new generation (their jobs were added just before).
 */
export const REOPEN_SEGMENTS = `${HELPERS}
local token, now = ARGV[3], ARGV[4]
local f = rcall('HMGET', tkey, 'status', 'lease')
if f[1] ~= 'encoding' or f[2] ~= token then return 0 end
local count = 0
for n = 5, #ARGV do
  local i = ARGV[n]
  if rcall('HGET', skey, 's' .. i) == 'done' then
    rcall('HSET', skey, 's' .. i, 'queued', 'k' .. i, '', 'n' .. i, 0)
    rcall('HDEL', skey, 'p' .. i, 'd' .. i)
    rcall('HINCRBY', skey, 'g' .. i, 1)
    count = count + 1
  end
end
if count == 0 then return 0 end
rcall('HINCRBY', tkey, 'done', -count)
rcall('HINCRBY', tkey, 'inflight', count)
rcall('HSET', tkey, 'lease', '', 'updatedAt', now)
setStatus('synthesizing')
event('status', now)
return count
`;

/** ARGV: prefix, id, now. Returns the task's status after, and its queued segments (index, generation pairs). */
export const CANCEL_TASK = `${HELPERS}
local now = ARGV[3]
local status = rcall('HGET', tkey, 'status')
if not status then return { 'unknown' } end
if isFinal(status) then return { status, {} } end
local queued = queuedSegments()
rcall('HSET', tkey, 'lease', '', 'finishedAt', now, 'updatedAt', now)
setStatus('canceled')
event('status', now)
return { 'canceled', queued }
`;

/** ARGV: prefix, id, now, engine the task must still be routed to. Queues it to be prepared again; returns the new epoch or 0. */
export const REROUTE_TASK = `${HELPERS}
local now, engine = ARGV[3], ARGV[4]
local f = rcall('HMGET', tkey, 'status', 'engine')
if f[1] ~= 'synthesizing' or f[2] ~= engine then return 0 end
rcall('DEL', skey)
rcall('HDEL', tkey, 'engine')
rcall('HSET', tkey, 'total', 0, 'done', 0, 'next', 0, 'inflight', 0, 'lease', '', 'updatedAt', now)
local epoch = rcall('HINCRBY', tkey, 'epoch', 1)
setStatus('queued')
event('status', now)
return epoch
`;

/** ARGV: prefix, id, now. Marks a result expired once; returns the record or nothing. */
export const EXPIRE_RESULT = `${HELPERS}
local now = ARGV[3]
if rcall('ZREM', K .. 'expiry', id) == 0 then return false end
rcall('HSET', tkey, 'expired', 1, 'updatedAt', now)
local reuse = rcall('HMGET', tkey, 'reuse', 'owner')
if reuse[1] and reuse[1] ~= '' then
  local pointer = K .. 'reuse:' .. (reuse[2] or '') .. ':' .. reuse[1]
  if rcall('GET', pointer) == id then rcall('DEL', pointer) end
end
return rcall('HGETALL', tkey)
`;

/**
 * ARGV: prefix, '' (no task). Unfinished segments of synthesizing tasks by engine and
 * priority: a flat list of engine, priority, queued, running.
 */
export const WORK_COUNTS = `${HELPERS}
local sums, order = {}, {}
for _, tid in ipairs(rcall('ZRANGE', K .. 'status:synthesizing', 0, -1)) do
  local key = K .. 'task:' .. tid
  local f = rcall('HMGET', key, 'engine', 'priority', 'total', 'done')
  local total = tonumber(f[3])
  local running = 0
  for i = 0, total - 1 do
    if rcall('HGET', key .. ':seg', 's' .. i) == 'running' then running = running + 1 end
  end
  local group = (f[1] or '') .. '|' .. f[2]
  if not sums[group] then
    sums[group] = { f[1] or '', f[2], 0, 0 }
    table.insert(order, group)
  end
  sums[group][3] = sums[group][3] + total - tonumber(f[4]) - running
  sums[group][4] = sums[group][4] + running
end
local out = {}
for _, group in ipairs(order) do
  for _, value in ipairs(sums[group]) do table.insert(out, value) end
end
return out
`;

/**
 * ARGV: prefix, '' (no task), the entry's time (ms), its JSON. Appends an audit entry to the
 * stream K audit under an id that starts with the entry's time, so pruning by time is an XTRIM
 * MINID; when the stream already holds a later id (a clock behind another node's), the entry
 * takes that id's time instead, since ids only grow. Returns the entry's id.
 */
export const APPEND_AUDIT = `
local key = ARGV[1] .. ':audit'
local ms = tonumber(ARGV[3])
if redis.call('EXISTS', key) == 1 then
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local last = tonumber(string.match(info[i + 1], '^(%d+)-'))
      if last > ms then ms = last end
    end
  end
end
return redis.call('XADD', key, string.format('%d-*', ms), 'e', ARGV[4])
`;
