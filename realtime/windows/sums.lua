-- Running window sums, shared by apply.lua and read.lua (prepended to each).
--
-- A sum hash holds the totals and latency bins of every bucket b >= its field `_lo`, with a
-- marker field `_b<b>` for each bucket that added to it, holding how many executions it
-- added. Applying an execution to a bucket at or above `_lo` adds it to the sum too; when the
-- window moves on, each bucket that left it is subtracted once, whole. A read is then one hash instead of 30 or 60 buckets.
--
-- Bucket keys are built here from their prefix, inside the agent's hash tag (so they live in
-- the same cluster slot as the declared keys). A bucket whose count no longer matches what it
-- added (it expired before it could be taken out, and perhaps came back with a late
-- execution; or part of it predates the sum), a missing sum, or a window that moved past
-- everything the sum holds all lead to a rebuild from the buckets still in the window:
-- exact, and as costly as the reads this replaces, but rare.

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

local function sum_rebuild(sum, prefix, lo, hi, ttl)
    redis.call('DEL', sum)
    local acc = {}
    local flat = {'_lo', lo}
    for b = lo, hi do
        local n = sum_add_bucket(acc, prefix .. b)
        if n > 0 then
            flat[#flat + 1] = '_b' .. b
            flat[#flat + 1] = n
        end
    end
    for name, value in pairs(acc) do
        flat[#flat + 1] = name
        flat[#flat + 1] = string.format('%d', value)
    end
    redis.call('HSET', sum, unpack(flat))
    redis.call('PEXPIRE', sum, ttl)
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
    local markers = {}
    for b = stored, lo - 1 do
        local marker = '_b' .. b
        local added = redis.call('HGET', sum, marker)
        if added then
            local n = sum_add_bucket(minus, prefix .. b)
            -- the bucket holds exactly what it added, or the sum cannot be trusted
            if n ~= tonumber(added) then return sum_rebuild(sum, prefix, lo, hi, ttl) end
            markers[#markers + 1] = marker
        end
    end
    -- one HMGET and one HSET for every field the leaving buckets held, not a call each
    local names = {}
    for name, _ in pairs(minus) do names[#names + 1] = name end
    local kept = {'_lo', lo}
    if #names > 0 then
        local current = redis.call('HMGET', sum, unpack(names))
        for j, name in ipairs(names) do
            local left = (tonumber(current[j]) or 0) - minus[name]
            if left == 0 then
                markers[#markers + 1] = name
            else
                kept[#kept + 1] = name
                kept[#kept + 1] = string.format('%d', left)
            end
        end
    end
    if #markers > 0 then redis.call('HDEL', sum, unpack(markers)) end
    redis.call('HSET', sum, unpack(kept))
    return lo
end
