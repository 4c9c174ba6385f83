-- Running window sums, shared by apply.lua and read.lua (prepended to each).
--
-- A sum hash holds the totals of every bucket b >= its field `_lo`, with a marker field
-- `_b<b>` for each bucket that added to it, holding how many executions it added. Its latency
-- bins are counters in a string beside it (`<sum>:h`, BITFIELD u32 at offset bin + 1, so the
-- zero bin -1 is the first): a read takes the whole histogram as one bulk string, where a hash
-- of a few hundred bins cost Redis more to hand over than everything else in the read.
-- Applying an execution to a bucket at or above `_lo` adds it to the sum too; when the window
-- moves on, each bucket that left it is subtracted once, whole. A read is then one hash and
-- one string instead of 30 or 60 buckets.
--
-- Bucket keys are built here from their prefix, inside the agent's hash tag (so they live in
-- the same cluster slot as the declared keys). A bucket whose count no longer matches what it
-- added (it expired before it could be taken out, and perhaps came back with a late
-- execution; or part of it predates the sum), a missing sum, or a window that moved past
-- everything the sum holds all lead to a rebuild from the buckets still in the window:
-- exact, and as costly as the reads this replaces, but rare.

local SUM_TOTALS = {n = true, f = true, s = true, c = true, ti = true, to = true}

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

-- Add `fields` (name -> increment) into sum `sum`: the totals and markers into its hash with
-- one HMGET and one HSET (each call out of Lua costs about as much as the arithmetic of a
-- dozen fields), the latency bins into its counters with one BITFIELD (saturating: a count
-- never wraps below zero). Totals are exact while below 2^53 (cost units: $90M).
local function sum_add(sum, fields)
    local names, counters = {}, {'OVERFLOW', 'SAT'}
    for field, by in pairs(fields) do
        if SUM_TOTALS[field] or string.sub(field, 1, 1) == '_' then
            names[#names + 1] = field
        elseif by ~= 0 then
            local at = #counters
            counters[at + 1] = 'INCRBY'
            counters[at + 2] = 'u32'
            counters[at + 3] = '#' .. (tonumber(field) + 1)
            counters[at + 4] = string.format('%d', by)
        end
    end
    if #names > 0 then
        local current = redis.call('HMGET', sum, unpack(names))
        local flat, zero = {}, {}
        for j, name in ipairs(names) do
            local value = (tonumber(current[j]) or 0) + fields[name]
            if value == 0 then
                zero[#zero + 1] = name
            else
                flat[#flat + 1] = name
                -- %d: an integer's text whatever its magnitude (HINCRBY refuses an exponent)
                flat[#flat + 1] = string.format('%d', value)
            end
        end
        if #flat > 0 then redis.call('HSET', sum, unpack(flat)) end
        if #zero > 0 then redis.call('HDEL', sum, unpack(zero)) end
    end
    if #counters > 2 then redis.call('BITFIELD', sum .. ':h', unpack(counters)) end
end

local function sum_rebuild(sum, prefix, lo, hi, ttl)
    redis.call('DEL', sum, sum .. ':h')
    local acc = {_lo = lo}
    for b = lo, hi do
        local n = sum_add_bucket(acc, prefix .. b)
        if n > 0 then acc['_b' .. b] = n end
    end
    sum_add(sum, acc)
    redis.call('PEXPIRE', sum, ttl)
    redis.call('PEXPIRE', sum .. ':h', ttl)
    return lo
end

-- Move the sum to the window [lo, hi] (bucket indexes; `span` buckets wide; a rebuilt sum
-- lives `ttl` ms). Returns the lowest bucket the sum holds: lo, or more when another
-- caller's clock is ahead of ours.
local function sum_advance(sum, prefix, lo, hi, span, ttl)
    local stored = redis.call('HGET', sum, '_lo')
    if not stored then return sum_rebuild(sum, prefix, lo, hi, ttl) end
    stored = tonumber(stored)
    if stored >= lo then return stored end
    if lo - stored > span then return sum_rebuild(sum, prefix, lo, hi, ttl) end
    local minus = {}
    for b = stored, lo - 1 do
        local marker = '_b' .. b
        local added = redis.call('HGET', sum, marker)
        if added then
            local n = sum_add_bucket(minus, prefix .. b)
            -- the bucket holds exactly what it added, or the sum cannot be trusted
            if n ~= tonumber(added) then return sum_rebuild(sum, prefix, lo, hi, ttl) end
            minus[marker] = tonumber(added)
        end
    end
    for name, value in pairs(minus) do minus[name] = -value end
    minus['_lo'] = lo - stored
    sum_add(sum, minus)
    return lo
end
