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
-- The hour rolls up what left the five minutes. A 10-second bucket feeds only the 5-minute
-- sum; when it leaves that window it is rolled whole into its minute's bucket (and into the
-- hour's sum, when that holds the minute) and deleted. The 1-hour window is the hour's sum
-- plus the 5-minute sum: each 10-second bucket counts in exactly one of them, and an
-- execution costs one bucket and one sum instead of two of each. A 10-second bucket exists
-- only until it is rolled, so every one found below the 5-minute sum's `_lo` is still to roll.
--
-- Bucket keys are built here from their prefix, inside the agent's hash tag (so they live in
-- the same cluster slot as the declared keys). A bucket whose count no longer matches what it
-- added (it was lost before it could be taken out, and perhaps came back with a late
-- execution; or part of it predates the sum), a missing sum, or a window that moved past
-- everything the sum holds all lead to a rebuild from the buckets still in the window:
-- exact, and as costly as the reads this replaces, but rare.
--
-- A window, as the scripts pass it: {key = its sum, prefix = its buckets' key prefix, lo, hi
-- = its lowest and highest bucket, span = its width in buckets, ttl = the sum's (ms), size =
-- a bucket's length (ms), hour = for the 5-minute window, the hour's window it rolls into};
-- `held` once advanced: the lowest bucket its sum holds.

local SUM_TOTALS = {n = 1, f = 2, s = 3, c = 4, ti = 5, to = 6}

-- A window as the scripts pass it, from ARGV[a..a+5]: its buckets' key prefix, lowest and
-- highest bucket, width in buckets, the sum's ttl (ms) and a bucket's length (ms); `sum` its key.
local function window_at(sum, a)
    return {
        key = sum,
        prefix = ARGV[a],
        lo = tonumber(ARGV[a + 1]),
        hi = tonumber(ARGV[a + 2]),
        span = tonumber(ARGV[a + 3]),
        ttl = tonumber(ARGV[a + 4]),
        size = tonumber(ARGV[a + 5]),
    }
end
local SUM_MARKERS = 64

local function sum_marker(b)
    return '#' .. (7 + b % SUM_MARKERS)
end

-- A bucket's fields (name -> amount: the totals and one per latency bin), as HGETALL gives them.
local function bucket_read(key)
    local raw = redis.call('HGETALL', key)
    local fields = {}
    for i = 1, #raw, 2 do fields[raw[i]] = tonumber(raw[i + 1]) end
    return fields
end

-- Add `fields` (name -> amount) into bucket hash `key` with one HMGET and one HSET (each call
-- out of Lua costs about as much as the arithmetic of a dozen fields); whether the bucket is
-- new (its expiry, fixed by its index, is set once).
local function bucket_add(key, fields)
    local names = {'n'}
    for field, _ in pairs(fields) do
        if field ~= 'n' then names[#names + 1] = field end
    end
    local current = redis.call('HMGET', key, unpack(names))
    local flat = {}
    for j, name in ipairs(names) do
        flat[2 * j - 1] = name
        -- %d: an integer's text whatever its magnitude (a later HINCRBY refuses an exponent)
        flat[2 * j] = string.format('%d', (tonumber(current[j]) or 0) + (fields[name] or 0))
    end
    redis.call('HSET', key, unpack(flat))
    return not current[1]
end

-- Add each of `fields` into `acc`.
local function fields_add(acc, fields)
    for name, by in pairs(fields) do acc[name] = (acc[name] or 0) + by end
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

-- Add `fields` (of executions of 10-second bucket `b`) to the hour `w` rolls into: the
-- minute's bucket, and the hour's sum when it holds that minute (a minute below it has left
-- the hour: nothing to keep). `now` (ms) fixes a new minute bucket's expiry.
local function sum_roll_fields(w, b, fields, now)
    local hour = w.hour
    local m = math.floor(b * w.size / hour.size)
    if not fields.n or m < hour.held then return end
    local key = hour.prefix .. m
    -- a minute bucket lives until it leaves the hour, and the margin the hour's sum has
    if bucket_add(key, fields) then redis.call('PEXPIRE', key, m * hour.size + hour.ttl - now) end
    if m <= hour.hi then sum_add(hour.key, m, fields.n, fields) end
end

-- Roll 10-second bucket `b` of `w` into the hour and delete it; its fields.
local function sum_roll(w, b, now)
    local key = w.prefix .. b
    local fields = bucket_read(key)
    if fields.n then
        sum_roll_fields(w, b, fields, now)
        redis.call('DEL', key)
    end
    return fields
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

-- `stored`: the lowest bucket the sum held (0: there was none).
local function sum_rebuild(w, now, stored)
    if w.hour then
        -- every 10-second bucket still below the window is yet to roll: those from where the
        -- sum stopped (it rolled the ones below as it moved), else from the hour's start
        local first = math.floor(w.hour.lo * w.hour.size / w.size)
        for b = math.max(first, stored), w.lo - 1 do sum_roll(w, b, now) end
    end
    redis.call('DEL', w.key)
    local acc = {}
    local counters = {'SET', 'i64', '#0', w.lo}
    for b = w.lo, w.hi do
        local fields = bucket_read(w.prefix .. b)
        if fields.n then
            fields_add(acc, fields)
            counters[#counters + 1] = 'SET'
            counters[#counters + 1] = 'i64'
            counters[#counters + 1] = sum_marker(b)
            counters[#counters + 1] = fields.n
        end
    end
    redis.call('BITFIELD', w.key, unpack(sum_counters(counters, acc, 1)))
    redis.call('PEXPIRE', w.key, w.ttl)
    return w.lo
end

-- Move the sum to the window [lo, hi] (bucket indexes; `span` buckets wide; a sum lives `ttl`
-- ms after it last moved), rolling what leaves a 5-minute window into its hour (whose sum
-- must have moved first). Returns the lowest bucket the sum holds: lo, or more when another
-- caller's clock is ahead of ours.
local function sum_advance(w, now)
    local stored = sum_lo(w.key)
    if stored == 0 or w.lo - stored > w.span then return sum_rebuild(w, now, stored) end
    if stored >= w.lo then return stored end
    local ask = {}
    for b = stored, w.lo - 1 do
        ask[#ask + 1] = 'GET'
        ask[#ask + 1] = 'i64'
        ask[#ask + 1] = sum_marker(b)
    end
    local added = redis.call('BITFIELD', w.key, unpack(ask))
    local minus = {}
    local counters = {'SET', 'i64', '#0', w.lo}
    for b = stored, w.lo - 1 do
        local fields = w.hour and sum_roll(w, b, now) or bucket_read(w.prefix .. b)
        -- the bucket holds exactly what it added, or the sum cannot be trusted
        if (fields.n or 0) ~= added[b - stored + 1] then return sum_rebuild(w, now, b + 1) end
        if fields.n then
            fields_add(minus, fields)
            counters[#counters + 1] = 'SET'
            counters[#counters + 1] = 'i64'
            counters[#counters + 1] = sum_marker(b)
            counters[#counters + 1] = 0
        end
    end
    redis.call('BITFIELD', w.key, unpack(sum_counters(counters, minus, -1)))
    redis.call('PEXPIRE', w.key, w.ttl)
    return w.lo
end
