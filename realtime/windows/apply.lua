-- Apply one execution to an agent's windows, atomically and at most once.
--
-- KEYS: 1 seen (hash of execution ids of the 10 s bucket), 2 last (hash: lm = latest end,
--       ls = latest success end), 3 fails (zset: failures after the latest success, by end),
--       4 agent 10 s bucket, 5 agent 1 min bucket,
--       [6 variant 10 s bucket, 7 variant 1 min bucket, 8 variant set]
-- ARGV: 1 execution id, 2 end ms, 3 failed (0/1), 4 slow (0/1), 5 latency bin field ('' when
--       no duration), 6 cost units, 7 input tokens, 8 output tokens, 9 ttl of seen and 1 min
--       buckets (ms), 10 ttl of 10 s buckets (ms), 11 ttl of last/fails/variant set (ms),
--       12 variant member ('' when none), 13 cap on remembered consecutive failures
-- Returns 1 when applied, 0 when this execution id was applied before.
--
-- Times come from the caller; the script never reads the server clock.

if redis.call('HSETNX', KEYS[1], ARGV[1], '') == 0 then
    return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[9])

local function add(key, ttl)
    redis.call('HINCRBY', key, 'n', 1)
    if ARGV[3] == '1' then redis.call('HINCRBY', key, 'f', 1) end
    if ARGV[4] == '1' then redis.call('HINCRBY', key, 's', 1) end
    if ARGV[5] ~= '' then redis.call('HINCRBY', key, ARGV[5], 1) end
    if ARGV[6] ~= '0' then redis.call('HINCRBY', key, 'c', ARGV[6]) end
    if ARGV[7] ~= '0' then redis.call('HINCRBY', key, 'ti', ARGV[7]) end
    if ARGV[8] ~= '0' then redis.call('HINCRBY', key, 'to', ARGV[8]) end
    redis.call('PEXPIRE', key, ttl)
end

add(KEYS[4], ARGV[10])
add(KEYS[5], ARGV[9])
if ARGV[12] ~= '' then
    add(KEYS[6], ARGV[10])
    add(KEYS[7], ARGV[9])
    redis.call('SADD', KEYS[8], ARGV[12])
    redis.call('PEXPIRE', KEYS[8], ARGV[11])
end

-- Consecutive failures, independent of the order in which workers apply executions: the
-- failures that ended after the latest success. Bounded by the cap (the oldest drop out).
local ended = tonumber(ARGV[2])
local latest = tonumber(redis.call('HGET', KEYS[2], 'lm') or '-1')
if ended > latest then redis.call('HSET', KEYS[2], 'lm', ARGV[2]) end
local success = tonumber(redis.call('HGET', KEYS[2], 'ls') or '-1')
if ARGV[3] == '1' then
    if ended > success then
        redis.call('ZADD', KEYS[3], ended, ARGV[1])
        local cap = tonumber(ARGV[13])
        if redis.call('ZCARD', KEYS[3]) > cap then
            redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -cap - 1)
        end
    end
elseif ended >= success then
    redis.call('HSET', KEYS[2], 'ls', ARGV[2])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
end
redis.call('PEXPIRE', KEYS[2], ARGV[11])
redis.call('PEXPIRE', KEYS[3], ARGV[11])
return 1
