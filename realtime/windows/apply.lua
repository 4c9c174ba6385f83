-- Apply a batch of one agent's executions to its windows, atomically, each at most once.
--
-- KEYS: 1 last (hash: lm = latest end, ls = latest success end), 2 fails (zset: failures
--       after the latest success, by end), 3 variant set, 4.. bucket, seen-hash and sum keys,
--       referenced by index from the arguments below
-- ARGV: 1 ttl of KEYS[1..3] (ms), 2 cap on remembered consecutive failures,
--       3 number of bucket/seen/sum keys m, 4..3+m their ttls (ms),
--       then d, the number of window sums, and per sum 6 fields: sum key index, bucket key
--       prefix, the window's lowest and highest bucket, its width in buckets, its ttl (ms);
--       then per key 4..3+m 2 fields: its sum's number (0: none) and its bucket index;
--       then per execution 14 fields:
--       id, end ms, failed (0/1), slow (0/1), latency bin field ('' when no duration), cost
--       units, input tokens, output tokens, seen key, 10 s key, 1 min key, variant 10 s key,
--       variant 1 min key (key indexes; 0 when no variant), variant member
-- Returns one 1 (applied) or 0 (applied before) per execution.
--
-- Times come from the caller; the script never reads the server clock.

local m = tonumber(ARGV[3])
local at = 4 + m
local d = tonumber(ARGV[at])
at = at + 1
local window_sums = {}
for i = 1, d do
    window_sums[i] = {
        key = KEYS[tonumber(ARGV[at])],
        prefix = ARGV[at + 1],
        lo = tonumber(ARGV[at + 2]),
        hi = tonumber(ARGV[at + 3]),
        span = tonumber(ARGV[at + 4]),
        ttl = ARGV[at + 5],
    }
    at = at + 6
end
local sum_of, bucket_of = {}, {}
for k = 4, 3 + m do
    sum_of[k] = window_sums[tonumber(ARGV[at])]
    bucket_of[k] = tonumber(ARGV[at + 1])
    at = at + 2
end
for i = 1, d do
    local w = window_sums[i]
    w.held = sum_advance(w.key, w.prefix, w.lo, w.hi, w.span, w.ttl)
end
local first = at
local per = 14
local applied = {}
local touched = {}

-- Increments are summed here per bucket and field, and written once per bucket after the
-- loop: a batch of one agent falls into a handful of buckets, so that is a few writes
-- instead of up to seven per execution and bucket (Redis runs one script at a time, and
-- these calls were most of its work).
local sums = {}

local function bump(k, field, by)
    local fields = sums[k]
    if fields == nil then
        fields = {}
        sums[k] = fields
    end
    fields[field] = (fields[field] or 0) + by
end

local function add(k, e)
    bump(k, 'n', 1)
    if ARGV[e + 2] == '1' then bump(k, 'f', 1) end
    if ARGV[e + 3] == '1' then bump(k, 's', 1) end
    if ARGV[e + 4] ~= '' then bump(k, ARGV[e + 4], 1) end
    if ARGV[e + 5] ~= '0' then bump(k, 'c', tonumber(ARGV[e + 5])) end
    if ARGV[e + 6] ~= '0' then bump(k, 'ti', tonumber(ARGV[e + 6])) end
    if ARGV[e + 7] ~= '0' then bump(k, 'to', tonumber(ARGV[e + 7])) end
    touched[k] = true
end

local latest = tonumber(redis.call('HGET', KEYS[1], 'lm') or '-1')
local success = tonumber(redis.call('HGET', KEYS[1], 'ls') or '-1')
local cap = tonumber(ARGV[2])
local any = false

for e = first, #ARGV, per do
    local seen = tonumber(ARGV[e + 8])
    if redis.call('HSETNX', KEYS[seen], ARGV[e], '') == 0 then
        applied[#applied + 1] = 0
    else
        applied[#applied + 1] = 1
        any = true
        touched[seen] = true
        add(tonumber(ARGV[e + 9]), e)
        add(tonumber(ARGV[e + 10]), e)
        if ARGV[e + 13] ~= '' then
            add(tonumber(ARGV[e + 11]), e)
            add(tonumber(ARGV[e + 12]), e)
            redis.call('SADD', KEYS[3], ARGV[e + 13])
        end
        -- consecutive failures, whatever the order in which workers apply executions: the
        -- failures that ended after the latest success (the oldest drop out past the cap)
        local ended = tonumber(ARGV[e + 1])
        if ended > latest then latest = ended end
        if ARGV[e + 2] == '1' then
            if ended > success then
                redis.call('ZADD', KEYS[2], ended, ARGV[e])
                if redis.call('ZCARD', KEYS[2]) > cap then
                    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -cap - 1)
                end
            end
        elseif ended >= success then
            success = ended
            redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ended)
        end
    end
end

-- Add `fields` (name -> increment) into hash `key` with one HMGET and one HSET.
local function add_into(key, fields)
    local names, i = {}, 0
    for field, _ in pairs(fields) do
        i = i + 1
        names[i] = field
    end
    local current = redis.call('HMGET', key, unpack(names))
    local flat = {}
    for j = 1, i do
        flat[2 * j - 1] = names[j]
        -- %d: an integer's text whatever its magnitude (a later HINCRBY refuses an exponent)
        flat[2 * j] = string.format('%d', (tonumber(current[j]) or 0) + fields[names[j]])
    end
    redis.call('HSET', key, unpack(flat))
end

for k, fields in pairs(sums) do
    add_into(KEYS[k], fields)
    -- a bucket the window sum holds (at or above its `_lo`) adds to the sum as well
    local w = sum_of[k]
    if w ~= nil and bucket_of[k] >= w.held then
        -- with how many executions this bucket added: it is subtracted whole only while it
        -- holds exactly those (see sums.lua)
        fields['_b' .. bucket_of[k]] = fields['n']
        sum_add(w.key, fields)
        w.used = true
    end
end
for i = 1, d do
    local w = window_sums[i]
    if w.used then
        redis.call('PEXPIRE', w.key, w.ttl)
        redis.call('PEXPIRE', w.key .. ':h', w.ttl)
    end
end

if any then
    redis.call('HSET', KEYS[1], 'lm', latest, 'ls', success)
    for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[1]) end
    for k, _ in pairs(touched) do redis.call('PEXPIRE', KEYS[k], ARGV[k]) end
end
return applied
