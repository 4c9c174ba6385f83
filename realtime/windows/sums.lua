-- Running window sums, shared by apply.lua and read.lua (prepended to each).
--
-- A window's sum is one string of counters (BITFIELD), so adding a batch to it is one call
-- and reading it is one bulk string (each call out of Lua costs Redis about as much as the
-- arithmetic of a dozen fields, and a hash of a few hundred bins cost more to hand over than
-- everything else in a read). Counters, big-endian:
--   i64 #0            _lo: the lowest bucket the sum holds (0: no sum)
--   i64 #1..#6        totals n, f, s, c, ti, to
--   i64 #7..#70       markers, one per bucket b at #(7 + b % 64): how many executions b added
--   u32 #142 + bin + 1  latency bins (the zero bin -1 first)
-- The sum holds every bucket b >= `_lo` that was applied to it. When the window moves on,
-- each bucket that left it is subtracted once, whole, and its marker cleared; a window is at
-- most 61 buckets wide (and one bucket early from a clock ahead), so markers never collide.
--
-- Bucket keys are built here from their prefix, inside the agent's hash tag (so they live in
-- the same cluster slot as the declared keys). A bucket whose count no longer matches what it
-- added (it expired before it could be taken out, and perhaps came back with a late
-- execution; or part of it predates the sum), a missing sum, or a window that moved past
-- everything the sum holds all lead to a rebuild from the buckets still in the window:
-- exact, and as costly as the reads this replaces, but rare.

local SUM_TOTALS = {n = 1, f = 2, s = 3, c = 4, ti = 5, to = 6}
local SUM_MARKERS = 64

local function sum_marker(b)
    return '#' .. (7 + b % SUM_MARKERS)
end

-- Add bucket `key`'s fields into `acc`; returns how many executions the bucket holds.
local function sum_add_bucket(acc, key)
    local fields = redis.call('HGETALL', key)
    local n = 0
    for i = 1, #fields, 2 do
        acc[fields[i]] = (acc[fields[i]] or 0) + tonumber(fields[i + 1])
        if fields[i] == 'n' then n = tonumber(fields[i + 1]) end
    end
    return n
end

-- The BITFIELD subcommands that add `fields` (bucket field -> amount: totals and bins) and
-- `sign` times each; appended to `into`.
local function sum_counters(into, fields, sign)
    local bins = {}
    for field, by in pairs(fields) do
        local total = SUM_TOTALS[field]
        if total then
            into[#into + 1] = 'INCRBY'
            into[#into + 1] = 'i64'
            into[#into + 1] = '#' .. total
            into[#into + 1] = string.format('%d', sign * by)
        elseif by ~= 0 then
            bins[#bins + 1] = '#' .. (143 + tonumber(field))
            bins[#bins + 1] = string.format('%d', sign * by)
        end
    end
    if #bins > 0 then
        into[#into + 1] = 'OVERFLOW'
        into[#into + 1] = 'SAT' -- a bin never wraps below zero
        for i = 1, #bins, 2 do
            into[#into + 1] = 'INCRBY'
            into[#into + 1] = 'u32'
            into[#into + 1] = bins[i]
            into[#into + 1] = bins[i + 1]
        end
    end
    return into
end

-- Add one bucket's `fields` to the sum (b: the bucket, n: its executions): one call.
local function sum_add(sum, b, n, fields)
    local counters = {'INCRBY', 'i64', sum_marker(b), n}
    redis.call('BITFIELD', sum, unpack(sum_counters(counters, fields, 1)))
end

-- A window as read.lua returns it, from a sum that holds it: the sum whole (its latency
-- counters with it), or its six totals and no latencies.
local function sum_read(sum, with_latency)
    if with_latency then return redis.call('GET', sum) or '' end
    local values = redis.call(
        'BITFIELD', sum, 'GET', 'i64', '#1', 'GET', 'i64', '#2', 'GET', 'i64', '#3',
        'GET', 'i64', '#4', 'GET', 'i64', '#5', 'GET', 'i64', '#6')
    values[7] = {}
    return values
end

-- The lowest bucket the sum holds (0: none).
local function sum_lo(sum)
    return redis.call('BITFIELD', sum, 'GET', 'i64', '#0')[1]
end

local function sum_rebuild(sum, prefix, lo, hi, ttl)
    redis.call('DEL', sum)
    local acc = {}
    local counters = {'SET', 'i64', '#0', lo}
    for b = lo, hi do
        local n = sum_add_bucket(acc, prefix .. b)
        if n > 0 then
            counters[#counters + 1] = 'SET'
            counters[#counters + 1] = 'i64'
            counters[#counters + 1] = sum_marker(b)
            counters[#counters + 1] = n
        end
    end
    redis.call('BITFIELD', sum, unpack(sum_counters(counters, acc, 1)))
    redis.call('PEXPIRE', sum, ttl)
    return lo
end

-- Move the sum to the window [lo, hi] (bucket indexes; `span` buckets wide; a sum lives `ttl`
-- ms after it last moved). Returns the lowest bucket the sum holds: lo, or more when another
-- caller's clock is ahead of ours.
local function sum_advance(sum, prefix, lo, hi, span, ttl)
    local stored = sum_lo(sum)
    if stored == 0 or lo - stored > span then return sum_rebuild(sum, prefix, lo, hi, ttl) end
    if stored >= lo then return stored end
    local ask = {}
    for b = stored, lo - 1 do
        ask[#ask + 1] = 'GET'
        ask[#ask + 1] = 'i64'
        ask[#ask + 1] = sum_marker(b)
    end
    local added = redis.call('BITFIELD', sum, unpack(ask))
    local minus = {}
    local counters = {'SET', 'i64', '#0', lo}
    for b = stored, lo - 1 do
        local marker = added[b - stored + 1]
        if marker ~= 0 then
            -- the bucket holds exactly what it added, or the sum cannot be trusted
            if sum_add_bucket(minus, prefix .. b) ~= marker then
                return sum_rebuild(sum, prefix, lo, hi, ttl)
            end
            counters[#counters + 1] = 'SET'
            counters[#counters + 1] = 'i64'
            counters[#counters + 1] = sum_marker(b)
            counters[#counters + 1] = 0
        end
    end
    redis.call('BITFIELD', sum, unpack(sum_counters(counters, minus, -1)))
    redis.call('PEXPIRE', sum, ttl)
    return lo
end
