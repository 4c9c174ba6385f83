-- Read one agent's (or variant's) windows from their running sums (sums.lua, prepended), so
-- a read is a few hashes instead of 90 buckets; the sums are moved to `now` on the way.
--
-- KEYS: 1 the 5-minute sum, 2 the hour's sum, 3 last (hash, field lm), 4 fails (zset)
-- ARGV: 1..6 the 5-minute window: bucket key prefix, lowest and highest bucket, width, the
--       sum's ttl (ms) should it be rebuilt, a bucket's length (ms); 7..12 the same for the
--       hour; 13 '1' to return the 5-minute latency histogram, 14 '1' for the hour's; 15 now
-- Returns {lm or false, consecutive failures, five-minute window, the hour's sum}, the hour's
--   sum holding what left the five minutes (the 1-hour window is both together, see
--   sums.lua). Each either the sum as it is stored (a string of counters, see sums.lua: when
--   the latency histogram is asked for; the five minutes' also when the hour's is) or {n, f,
--   s, c, ti, to, latencies}, latencies a flat {bin, count, bin, count, ...} when summed from
--   buckets, {} when not asked for.
--
-- A reader whose clock is behind the sum's (another worker moved it further) sums the
-- buckets of its own window instead (those its clock still counts in the five minutes and
-- another's has rolled into the hour are then missing from both). (A sum also holds what a
-- worker whose clock runs ahead applied to the next bucket: at most one bucket of clock skew
-- early.)

local function add_fields(fields, sums, histogram)
    for i = 1, #fields, 2 do
        local name, count = fields[i], tonumber(fields[i + 1])
        local total = SUM_TOTALS[name]
        if total then
            sums[total] = sums[total] + count
        elseif histogram ~= nil then
            histogram[name] = (histogram[name] or 0) + count
        end
    end
end

local function window(w, with_histogram)
    local sums = {0, 0, 0, 0, 0, 0}
    local histogram = with_histogram and {} or nil
    if w.held == w.lo then return sum_read(w.key, with_histogram) end
    for b = w.lo, w.hi do
        add_fields(redis.call('HGETALL', w.prefix .. b), sums, histogram)
    end
    local flat = {}
    for name, count in pairs(histogram or {}) do
        flat[#flat + 1] = name
        flat[#flat + 1] = count
    end
    sums[7] = flat
    return sums
end

local now = tonumber(ARGV[15])
local five, hour = window_at(KEYS[1], 1), window_at(KEYS[2], 7)
five.hour = hour
hour.held = sum_advance(hour, now)  -- first: the five minutes roll into it
five.held = sum_advance(five, now)
local last = redis.call('HGET', KEYS[3], 'lm')
local fails = redis.call('ZCARD', KEYS[4])
return {
    last or false,
    fails,
    window(five, ARGV[13] == '1' or ARGV[14] == '1'),
    window(hour, ARGV[14] == '1'),
}
