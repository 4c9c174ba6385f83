-- Read one agent's (or variant's) windows from their running sums (sums.lua, prepended), so
-- a read is a few hashes instead of 90 buckets; the sums are moved to `now` on the way.
--
-- KEYS: 1 the 5-minute sum, 2 the 1-hour sum, 3 last (hash, field lm), 4 fails (zset)
-- ARGV: 1..5 the 5-minute window: bucket key prefix, lowest and highest bucket, width, the
--       sum's ttl (ms) should it be rebuilt; 6..10 the same for the 1-hour window;
--       11 '1' to return the 5-minute latency histogram, 12 '1' for the 1-hour one
-- Returns {lm or false, consecutive failures, five-minute window, one-hour window}, each
--   window either the sum as it is stored (a string of counters, see sums.lua: when the
--   latency histogram is asked for) or {n, f, s, c, ti, to, latencies}, latencies a flat
--   {bin, count, bin, count, ...} when summed from buckets, {} when not asked for.
--
-- A reader whose clock is behind the sum's (another worker moved it further) sums the
-- buckets of its own window instead. (A sum also holds what a worker whose clock runs ahead
-- applied to the next bucket: at most one bucket of clock skew early.)

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

local function window(sum, a, with_histogram)
    local prefix, lo, hi = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local sums = {0, 0, 0, 0, 0, 0}
    local histogram = with_histogram and {} or nil
    local held = sum_advance(sum, prefix, lo, hi, tonumber(ARGV[a + 3]), ARGV[a + 4])
    if held == lo then return sum_read(sum, with_histogram) end
    for b = lo, hi do
        add_fields(redis.call('HGETALL', prefix .. b), sums, histogram)
    end
    local flat = {}
    for name, count in pairs(histogram or {}) do
        flat[#flat + 1] = name
        flat[#flat + 1] = count
    end
    sums[7] = flat
    return sums
end

local last = redis.call('HGET', KEYS[3], 'lm')
local fails = redis.call('ZCARD', KEYS[4])
return {
    last or false,
    fails,
    window(KEYS[1], 1, ARGV[11] == '1'),
    window(KEYS[2], 6, ARGV[12] == '1'),
}
