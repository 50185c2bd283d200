"""The queue's Lua scripts: server-side transitions that submit, start and finish any number
of jobs in one round trip.

For each job, a script reads its record, decides, rewrites the record and acknowledges
(XACK+XDEL) the delivery, dead-letters and announces it on ``jobs_done`` atomically, so a job
record and the stream never disagree and a waiting client hears about every final status.
Every script takes a batch of jobs (shared arguments first, then a fixed number per job) and
answers one reply per job: clients submit the jobs of one event-loop turn together, a worker
starts every job of one stream read and finishes the jobs that end in the same turn with one
call. One message announces every job a call ended (their ids, separated by spaces).

Records are rewritten without decoding them: cjson would change user ``inputs`` (an empty
list becomes ``{}``, numbers keep 14 significant digits). :class:`~orchestrator.queue.Job`
declares its state fields last, and they are scalars, so the state is the record's *tail*::

    ...,"status":"queued","attempts":0,"error":null,"worker":null,"started_at":null,"finished_at":null,"dead_lettered":false}

``,"`` never occurs inside a JSON string (a quote there is escaped), so the last
``,"status":`` of a record is the top-level one. A record without that tail (written before the
field order was fixed, or before a state field was added) makes a script answer ``relayout``:
the caller rewrites the record through pydantic and runs the script again.
"""

from __future__ import annotations

_PRELUDE = """
local TERMINAL = {completed = true, failed = true, cancelled = true, dead = true}
local function parse(raw)
  return string.match(raw, '^(.*),"status":"(%a+)","attempts":(%d+),"error":(.-),"worker":(.-),'
    .. '"started_at":([^,]-),"finished_at":([^,]-),"dead_lettered":(%a+)}$')
end
local function build(head, status, attempts, err, worker, started, finished, dead)
  return head .. ',"status":"' .. status .. '","attempts":' .. attempts .. ',"error":' .. err
    .. ',"worker":' .. worker .. ',"started_at":' .. started .. ',"finished_at":' .. finished
    .. ',"dead_lettered":' .. dead .. '}'
end
local function dead_letter(stream, maxlen, job, reason, attempts)
  redis.call('XADD', stream, 'MAXLEN', maxlen, '*', 'job', job, 'error', reason, 'attempts', attempts)
end
local ended = {}
local function announce(channel)
  if #ended > 0 then redis.call('PUBLISH', channel, table.concat(ended, ' ')) end
end
"""

SUBMIT = """
-- KEYS: stream, index, then per job: job, idempotency key (or the job key when there is none)
-- ARGV: ttl, forget jobs created before, then per job: job id, record, created at,
--       idempotency value ('<job id> <fingerprint>', or '' without a key)
local function submit(job_key, dedupe_key, a)
  -- a fresh job id names an existing record only when the client re-sent this call (its
  -- connection broke after Redis ran it): the job is queued already, queue it once
  if redis.call('EXISTS', job_key) == 1 then return ARGV[a + 1] end
  if ARGV[a + 4] ~= '' then
    local existing = redis.call('GET', dedupe_key)
    if existing then return existing end
    redis.call('SET', dedupe_key, ARGV[a + 4], 'EX', ARGV[1])
  end
  redis.call('SET', job_key, ARGV[a + 2], 'EX', ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[a + 3], ARGV[a + 1])
  redis.call('XADD', KEYS[1], '*', 'job', ARGV[a + 1])
  return ARGV[a + 1]
end
local replies = {}
for i = 1, (#KEYS - 2) / 2 do
  replies[i] = submit(KEYS[2 * i + 1], KEYS[2 * i + 2], 2 + 4 * (i - 1))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], 0, ARGV[2])
return replies
"""
"""Queue jobs (each once per idempotency key), one reply per job: its id once queued, or the
stored idempotency value of the earlier job (``'<job id> <fingerprint>'``; just the id if an
older version stored it)."""

START = _PRELUDE + """
-- KEYS: stream, dead letters, then per job: job, cancel flag
-- ARGV: group, worker (JSON), now (JSON), max attempts, ttl, done channel, dead letters kept,
--       then per job: job id, message id
local function start(job_key, cancel_key, job_id, message_id)
  local function ack()
    redis.call('XACK', KEYS[1], ARGV[1], message_id)
    redis.call('XDEL', KEYS[1], message_id)
  end
  local raw = redis.call('GET', job_key)
  if not raw then ack() return {'stale'} end
  local head, status, attempts, err, worker, started, finished, dead = parse(raw)
  if not head then return {'relayout'} end
  if TERMINAL[status] then ack() return {'stale'} end
  -- the same worker at the same instant: this call was re-sent after its connection broke
  if status == 'running' and worker == ARGV[2] and started == ARGV[3] then return {'running', raw} end
  local n = tonumber(attempts)
  local ending, reason
  if redis.call('EXISTS', cancel_key) == 1 then
    ending, reason = 'cancelled', 'cancelled before it started'
  elseif n >= tonumber(ARGV[4]) then
    local last = 'the worker running it stopped without finishing'
    if err ~= 'null' and err ~= '""' then last = cjson.decode(err) end
    ending, reason = 'failed', 'dead-lettered after ' .. attempts .. ' attempts; last error: ' .. last
  end
  local record
  if ending then
    dead = ending == 'failed' and 'true' or 'false'
    record = build(head, ending, attempts, cjson.encode(reason), worker, started, ARGV[3], dead)
  else
    record = build(head, 'running', tostring(n + 1), err, ARGV[2], ARGV[3], finished, dead)
  end
  redis.call('SET', job_key, record, 'EX', ARGV[5])
  if not ending then return {'running', record} end
  ack()
  if dead == 'true' then dead_letter(KEYS[2], ARGV[7], job_id, reason, attempts) end
  ended[#ended + 1] = job_id
  return {ending, record, reason}
end
local replies = {}
for i = 1, (#KEYS - 2) / 2 do
  replies[i] = start(KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[2 * i + 6], ARGV[2 * i + 7])
end
announce(ARGV[6])
return replies
"""
"""Begin attempts, one reply per job: ``{'running', record}``, ``{'cancelled'|'failed', record,
reason}`` (failed: dead-lettered after the last attempt), ``{'stale'}`` (unknown or finished
job: entry acknowledged) or ``{'relayout'}``."""

FINISH = _PRELUDE + """
-- KEYS: stream, dead letters, then per job: job, run record, run events
-- ARGV: group, now (JSON), ttl, done channel, run ttl ('' = none), dead letters kept,
--       events kept, events ttl ('' = none),
--       then per job: job id, message id, attempts, status, error (JSON), error (text),
--       run record JSON ('' = none), dead-letter it ('1' or ''), end event JSON ('' = none)
local function finish(job_key, run_key, events_key, a)
  local function ack()
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[a + 2])
    redis.call('XDEL', KEYS[1], ARGV[a + 2])
  end
  local raw = redis.call('GET', job_key)
  if not raw then ack() return {'missing'} end
  local head, status, attempts, err, worker, started = parse(raw)
  if not head then return {'relayout'} end
  -- fenced: another attempt holds this entry now (or it was handed back): never touch it
  if attempts ~= ARGV[a + 3] or status == 'queued' then return {'superseded', raw} end
  -- this attempt's FINISH already ran (a resend after a blip), or START ended the job: done
  if TERMINAL[status] then ack() return {'finished', raw} end
  local dead = ARGV[a + 8] == '1'
  local record = build(head, ARGV[a + 4], attempts, ARGV[a + 5], worker, started, ARGV[2], dead and 'true' or 'false')
  redis.call('SET', job_key, record, 'EX', ARGV[3])
  if ARGV[a + 7] ~= '' then
    if ARGV[5] ~= '' then
      redis.call('SET', run_key, ARGV[a + 7], 'EX', ARGV[5])
    else
      redis.call('SET', run_key, ARGV[a + 7])
    end
  end
  if ARGV[a + 9] ~= '' then
    redis.call('XADD', events_key, 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[a + 9])
    if ARGV[8] ~= '' then redis.call('EXPIRE', events_key, ARGV[8]) end
  end
  ack()
  if dead then dead_letter(KEYS[2], ARGV[6], ARGV[a + 1], ARGV[a + 6], attempts) end
  ended[#ended + 1] = ARGV[a + 1]
  return {'finished', record}
end
local replies = {}
for i = 1, (#KEYS - 2) / 3 do
  replies[i] = finish(KEYS[3 * i], KEYS[3 * i + 1], KEYS[3 * i + 2], 8 + 9 * (i - 1))
end
announce(ARGV[4])
return replies
"""
"""Record attempts' outcomes, one reply per job: ``{'finished', record}`` (also when this
attempt's outcome was recorded already: a FINISH re-sent after a blip is applied once),
``{'superseded', record}`` (another attempt owns the job: nothing written, its stream entry
left to that attempt), ``{'missing'}`` or ``{'relayout'}``. The run record and the run's end
event (when given) are written with the outcome, so the stream ends once, as the job does."""

TOUCH = """
-- KEYS: stream; ARGV: group, consumer, then message ids
-- Renews the consumer's leases: resets the idle time of each entry still pending for it, in one
-- step with the check (an entry another worker reclaimed in between is never taken back).
local lost = {}
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #pending == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"""
"""Renew leases: the message ids of those no longer held by the consumer (lost)."""

__all__ = ["FINISH", "START", "SUBMIT", "TOUCH"]
