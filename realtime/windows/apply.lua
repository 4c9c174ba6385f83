-- Apply a batch of one agent's executions to its windows, atomically, each at most once.
--
-- KEYS: 1 last (hash: lm = latest end, ls = latest success end), 2 fails (zset: failures
--       after the latest success, by end), 3 variant set, 4.. bucket and seen-hash keys,
--       referenced by index from the executions below
-- ARGV: 1 ttl of KEYS[1..3] (ms), 2 cap on remembered consecutive failures,
--       3 number of bucket/seen keys m, 4..3+m their ttls (ms), then per execution 13 fields:
--       id, end ms, failed (0/1), slow (0/1), latency bin field ('' when no duration), cost
--       units, input tokens, output tokens, seen key, 10 s key, 1 min key, variant 10 s key,
--       variant 1 min key (key indexes; 0 when no variant), variant member
-- Returns one 1 (applied) or 0 (applied before) per execution.
--
-- Times come from the caller; the script never reads the server clock.

local m = tonumber(ARGV[3])
local first = 4 + m
local per = 14
local applied = {}
local touched = {}

local function add(k, e)
    local key = KEYS[k]
    redis.call('HINCRBY', key, 'n', 1)
    if ARGV[e + 2] == '1' then redis.call('HINCRBY', key, 'f', 1) end
    if ARGV[e + 3] == '1' then redis.call('HINCRBY', key, 's', 1) end
    if ARGV[e + 4] ~= '' then redis.call('HINCRBY', key, ARGV[e + 4], 1) end
    if ARGV[e + 5] ~= '0' then redis.call('HINCRBY', key, 'c', ARGV[e + 5]) end
    if ARGV[e + 6] ~= '0' then redis.call('HINCRBY', key, 'ti', ARGV[e + 6]) end
    if ARGV[e + 7] ~= '0' then redis.call('HINCRBY', key, 'to', ARGV[e + 7]) end
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

if any then
    redis.call('HSET', KEYS[1], 'lm', latest, 'ls', success)
    for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[1]) end
    for k, _ in pairs(touched) do redis.call('PEXPIRE', KEYS[k], ARGV[k]) end
end
return applied
