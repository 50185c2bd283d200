"""The queue's server-side transitions: Lua scripts that submit, start and finish a job in one round trip.

Each script reads the job record, decides, rewrites the record and acknowledges (XACK+XDEL)
the delivery, dead-letters and publishes on ``jobs_done`` atomically, so a job record and
the stream never disagree and a waiting client hears about every final status.

Records are rewritten without decoding them: cjson would change user ``inputs`` (an empty
list becomes ``{}``, numbers keep 14 significant digits). :class:`~orchestrator.queue.Job`
declares its state fields last, and they are scalars, so the state is the record's *tail*::

    ...,"status":"queued","attempts":0,"error":null,"worker":null,"started_at":null,"finished_at":null}

``,"`` never occurs inside a JSON string (a quote there is escaped), so the last
``,"status":`` of a record is the top-level one. A record without that tail (written before
the field order was fixed) makes a script answer ``relayout``: the caller rewrites the record
through pydantic and runs the script again.
"""

from __future__ import annotations

_PRELUDE = """
local TERMINAL = {completed = true, failed = true, cancelled = true, dead = true}
local function parse(raw)
  return string.match(raw,
    '^(.*),"status":"(%a+)","attempts":(%d+),"error":(.-),"worker":(.-),"started_at":([^,]-),"finished_at":([^,]-)}$')
end
local function build(head, status, attempts, err, worker, started, finished)
  return head .. ',"status":"' .. status .. '","attempts":' .. attempts .. ',"error":' .. err
    .. ',"worker":' .. worker .. ',"started_at":' .. started .. ',"finished_at":' .. finished .. '}'
end
"""

SUBMIT = """
-- KEYS: job, index, stream, idempotency key (or the job key when there is none)
-- ARGV: job id, record, ttl, created at, forget jobs created before, with idempotency key ('1' or '')
if ARGV[6] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return existing end
  redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], 0, ARGV[5])
redis.call('XADD', KEYS[3], '*', 'job', ARGV[1])
return ARGV[1]
"""
"""Queue a job (once per idempotency key): the id of the queued job, or of the earlier one."""

START = _PRELUDE + """
-- KEYS: job, cancel flag, stream, dead letters
-- ARGV: job id, message id, group, worker (JSON), now (JSON), max attempts, ttl, done channel
local function ack()
  redis.call('XACK', KEYS[3], ARGV[3], ARGV[2])
  redis.call('XDEL', KEYS[3], ARGV[2])
end
local raw = redis.call('GET', KEYS[1])
if not raw then ack() return {'stale'} end
local head, status, attempts, err, worker, started, finished = parse(raw)
if not head then return {'relayout'} end
if TERMINAL[status] then ack() return {'stale'} end
local n = tonumber(attempts)
local ending, reason
if redis.call('EXISTS', KEYS[2]) == 1 then
  ending, reason = 'cancelled', 'cancelled before it started'
elseif n >= tonumber(ARGV[6]) then
  local last = 'the worker running it stopped without finishing'
  if err ~= 'null' and err ~= '""' then last = cjson.decode(err) end
  ending, reason = 'dead', 'gave up after ' .. attempts .. ' attempts; last error: ' .. last
end
local record
if ending then
  record = build(head, ending, attempts, cjson.encode(reason), worker, started, ARGV[5])
else
  record = build(head, 'running', tostring(n + 1), err, ARGV[4], ARGV[5], finished)
end
redis.call('SET', KEYS[1], record, 'EX', ARGV[7])
if not ending then return {'running', record} end
ack()
if ending == 'dead' then
  redis.call('XADD', KEYS[4], '*', 'job', ARGV[1], 'error', reason, 'attempts', attempts)
end
redis.call('PUBLISH', ARGV[8], ARGV[1])
return {ending, record, reason}
"""
"""Begin an attempt: ``{'running', record}``, ``{'cancelled'|'dead', record, reason}``,
``{'stale'}`` (unknown or finished job: entry acknowledged) or ``{'relayout'}``."""

FINISH = _PRELUDE + """
-- KEYS: job, stream, dead letters, run record
-- ARGV: job id, message id, group, attempts, status, error (JSON), error (text), now (JSON), ttl,
--       done channel, run record JSON ('' = none), run ttl ('' = none)
local function ack()
  redis.call('XACK', KEYS[2], ARGV[3], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
end
local raw = redis.call('GET', KEYS[1])
if not raw then ack() return {'missing'} end
local head, status, attempts, err, worker, started = parse(raw)
if not head then return {'relayout'} end
if TERMINAL[status] or attempts ~= ARGV[4] then ack() return {'superseded', raw} end
local record = build(head, ARGV[5], attempts, ARGV[6], worker, started, ARGV[8])
redis.call('SET', KEYS[1], record, 'EX', ARGV[9])
if ARGV[11] ~= '' then
  if ARGV[12] ~= '' then
    redis.call('SET', KEYS[4], ARGV[11], 'EX', ARGV[12])
  else
    redis.call('SET', KEYS[4], ARGV[11])
  end
end
ack()
if ARGV[5] == 'dead' then
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[1], 'error', ARGV[7], 'attempts', attempts)
end
redis.call('PUBLISH', ARGV[10], ARGV[1])
return {'finished', record}
"""
"""Record an attempt's outcome: ``{'finished', record}``, ``{'superseded', record}`` (another
attempt owns the job, or it already ended: entry acknowledged), ``{'missing'}`` or ``{'relayout'}``."""

__all__ = ["FINISH", "START", "SUBMIT"]
