-- Apply a batch of one agent's executions to its windows, atomically, each at most once.
--
-- The caller has already summed the batch per bucket (the script adds totals, it does not
-- look at executions one by one): Redis runs one script at a time, so what it must do per
-- execution is only what makes applying idempotent, remembering the execution's id.
--
-- KEYS: 1 last (hash: lm = latest end, ls = latest success end), 2 fails (zset: failures
--       after the latest success, by end), 3 variant set, 4.. bucket, seen-ids and sum keys,
--       referenced by index from the arguments below
-- ARGV: 1 ttl of KEYS[1..3] (ms), 2 cap on remembered consecutive failures, 3 the screen,
--       4 now (ms), 5 number of bucket/seen/sum keys m, 6..5+m their ttls (ms; a sum's is
--       its window's below),
--       then d, the number of window sums, and per sum 8 fields: sum key index, bucket key
--       prefix, the window's lowest and highest bucket, its width in buckets, its ttl (ms),
--       a bucket's length (ms), and the number of the hour's sum it rolls into (0: none; a
--       5-minute window's comes after it, see sums.lua);
--       then per key 4..3+m 2 fields: its sum's number (0: none) and its bucket index;
--       then per key 4..3+m what to add to it, as 'field amount field amount ...' ('' for
--       none): n executions, f failures, s slow calls, c cost units, ti / to tokens, and
--       one count per latency bin (the bin number is the field);
--       then the batch's latest end, its latest success end ('' for none), the number of
--       its failures and each one's end and id, the number of variant members and each;
--       then per execution 2 fields: its id and its seen-ids key (a key index)
--       and, after the m keys, the agent's health key (realtime.health.store) when ARGV[3]
--       asks for a screen
-- Returns {1, screen} when every execution was applied now. When some were applied before,
-- nothing is applied: {0, then 1 (new) or 0 (applied before) per execution}, and the caller
-- sends the new ones again, summed without the others.
-- The screen, asked for by ARGV[3] ('' none, 'counts', 'latency': counts and the 5-minute
-- latencies), is what a health evaluation reads, taken here at no second script call:
-- {latest end, consecutive failures, the 5-minute window and the hour's sum as read.lua gives
-- them (the sum's counts only), {state, since, version} of the agent's health}; false when
-- the sums are ahead of the caller's clock (the caller reads the windows itself then).
--
-- Times come from the caller; the script never reads the server clock.

local screen = ARGV[3]
local now = tonumber(ARGV[4])
local m = tonumber(ARGV[5])
local at = 6 + m
local d = tonumber(ARGV[at])
at = at + 1
local window_sums = {}
local hour_of, is_sum = {}, {}
for i = 1, d do
    is_sum[tonumber(ARGV[at])] = true
    window_sums[i] = window_at(KEYS[tonumber(ARGV[at])], at + 1)
    hour_of[i] = tonumber(ARGV[at + 7])
    at = at + 8
end
for i = 1, d do
    window_sums[i].hour = window_sums[hour_of[i]]  -- nil for 0: an hour rolls into none
end
local sum_of, bucket_of = {}, {}
for k = 4, 3 + m do
    sum_of[k] = window_sums[tonumber(ARGV[at])]
    bucket_of[k] = tonumber(ARGV[at + 1])
    at = at + 2
end
local additions = at
at = at + m
local batch_latest, batch_success = ARGV[at], ARGV[at + 1]
local failures_at, failures = at + 3, tonumber(ARGV[at + 2])
at = failures_at + 2 * failures
local members_at, members = at + 1, tonumber(ARGV[at])
local first = members_at + members

-- each execution at most once: a batch holding one applied before is not applied at all.
-- Ids are remembered per 10 seconds in a hash while they are few, in a set beyond that. Redis
-- keeps a hash of up to 512 fields (hash-max-ziplist-entries) as a list: compact (~20 bytes
-- an id, against ~70 in a set) but scanned on every lookup, which a busy agent's hundreds of
-- ids made the costliest part of the call. A hash that this batch would take past
-- SEEN_HASH_MAX ids becomes a set first (a key an earlier version made is a hash too).
local SEEN_HASH_MAX = 64
local counts = {}  -- seen key index -> ids of this batch
for e = first, #ARGV, 2 do
    local seen = tonumber(ARGV[e + 1])
    counts[seen] = (counts[seen] or 0) + 1
end
local hashed = {}  -- seen key index -> whether its ids are a hash
for seen, count in pairs(counts) do
    local key = KEYS[seen]
    local kind = redis.call('TYPE', key).ok
    local held = kind == 'hash' and redis.call('HLEN', key) or 0
    if kind ~= 'set' and held + count > SEEN_HASH_MAX then
        if held > 0 then
            local ids = redis.call('HKEYS', key)
            redis.call('DEL', key)
            for from = 1, #ids, 1000 do  -- unpack has a limit on how many values it returns
                redis.call('SADD', key, unpack(ids, from, math.min(from + 999, #ids)))
            end
            redis.call('PEXPIRE', key, ARGV[seen + 2])
        end
        kind = 'set'
    end
    hashed[seen] = kind ~= 'set'
end
local added, again = {}, false
for e = first, #ARGV, 2 do
    local seen = tonumber(ARGV[e + 1])
    local new
    if hashed[seen] then
        new = redis.call('HSETNX', KEYS[seen], ARGV[e], '')
    else
        new = redis.call('SADD', KEYS[seen], ARGV[e])
    end
    if new == 1 then
        added[#added + 1] = e
    else
        again = true
    end
end
if again then
    local flags = {0}
    local new = {}
    for _, e in ipairs(added) do
        local seen = tonumber(ARGV[e + 1])
        redis.call(hashed[seen] and 'HDEL' or 'SREM', KEYS[seen], ARGV[e])
        new[e] = true
    end
    for e = first, #ARGV, 2 do flags[#flags + 1] = new[e] and 1 or 0 end
    return flags
end

-- the hours first: a 5-minute window rolls what leaves it into its hour's sum
for pass = 1, 2 do
    for i = 1, d do
        local w = window_sums[i]
        if (w.hour == nil) == (pass == 1) then w.held = sum_advance(w, now) end
    end
end

for k = 4, 3 + m do
    local text = ARGV[additions + k - 4]
    local w = sum_of[k]
    if text ~= '' then
        local fields = {}
        for name, amount in string.gmatch(text, '(%S+) (%S+)') do fields[name] = tonumber(amount) end
        local b = bucket_of[k]
        if w.hour and b < w.held then
            -- below the 5-minute sum (another worker's clock is ahead): rolled at once
            sum_roll_fields(w, b, fields, now)
        else
            if bucket_add(KEYS[k], fields) then redis.call('PEXPIRE', KEYS[k], ARGV[k + 2]) end
            -- a bucket the window sum holds (at or above its `_lo`) adds to the sum as well
            if b >= w.held then sum_add(w.key, b, fields.n, fields) end
        end
    elseif not is_sum[k] then  -- seen ids: they live as long as what they hold can count
        -- (a running sum's expiry is renewed as it moves or is rebuilt: sums.lua)
        redis.call('PEXPIRE', KEYS[k], ARGV[k + 2])
    end
end

-- Consecutive failures, whatever the order in which workers apply executions: the failures
-- that ended after the latest success (only the latest `cap` are kept).
local last = redis.call('HMGET', KEYS[1], 'lm', 'ls')
local latest = math.max(tonumber(last[1] or '-1'), tonumber(batch_latest))
local success = tonumber(last[2] or '-1')
if batch_success ~= '' and tonumber(batch_success) >= success then
    success = tonumber(batch_success)
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', success)
end
local failed = {}
for f = failures_at, failures_at + 2 * failures - 1, 2 do
    if tonumber(ARGV[f]) > success then
        failed[#failed + 1] = ARGV[f]
        failed[#failed + 1] = ARGV[f + 1]
    end
end
if #failed > 0 then
    for from = 1, #failed, 2000 do  -- unpack has a limit on how many values it returns
        redis.call('ZADD', KEYS[2], unpack(failed, from, math.min(from + 1999, #failed)))
    end
    local cap = tonumber(ARGV[2])
    if redis.call('ZCARD', KEYS[2]) > cap then
        redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -cap - 1)
    end
end
if members > 0 then
    redis.call('SADD', KEYS[3], unpack(ARGV, members_at, members_at + members - 1))
end
redis.call('HSET', KEYS[1], 'lm', latest, 'ls', success)
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[1]) end
if screen == '' then return {1} end

-- the agent's own sums are the first two (its 5-minute one and its hour's come before any
-- variant's)
local five, hour = window_sums[1], window_sums[2]
if five.held ~= five.lo or hour.held ~= hour.lo then return {1, false} end
local recent = sum_read(five.key, screen == 'latency')
local health = redis.call('HMGET', KEYS[4 + m], 'st', 'since', 'ver')
return {1, {latest, redis.call('ZCARD', KEYS[2]), recent, sum_read(hour.key, false), health}}
