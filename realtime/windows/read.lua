-- Read one agent's (or variant's) windows, summed inside Redis, so a reader receives a few
-- numbers instead of every field of 90 buckets.
--
-- KEYS: 1..30 the 10 s buckets of the 5-minute window, 31..90 the 1-minute buckets of the
--       1-hour window, 91 last (hash, field lm), 92 fails (zset)
-- ARGV: 1 '1' to merge the 5-minute latency histogram, 2 '1' to merge the 1-hour one
--       (without: only the totals, read with HMGET: the cheap path of an evaluation)
-- Returns {lm or false, consecutive failures, five-minute window, one-hour window}, each
--   window {n, f, s, c, ti, to, {bin, count, bin, count, ...}}.

local TOTALS = {'n', 'f', 's', 'c', 'ti', 'to'}
local IS_TOTAL = {n = true, f = true, s = true, c = true, ti = true, to = true}

local function window(first, last, with_histogram)
    local sums = {0, 0, 0, 0, 0, 0}
    local histogram = {}
    for k = first, last do
        if with_histogram then
            local fields = redis.call('HGETALL', KEYS[k])
            for i = 1, #fields, 2 do
                local name, count = fields[i], tonumber(fields[i + 1])
                if IS_TOTAL[name] then
                    for t = 1, 6 do
                        if TOTALS[t] == name then sums[t] = sums[t] + count end
                    end
                else
                    histogram[name] = (histogram[name] or 0) + count
                end
            end
        else
            local values = redis.call('HMGET', KEYS[k], 'n', 'f', 's', 'c', 'ti', 'to')
            for t = 1, 6 do
                if values[t] then sums[t] = sums[t] + tonumber(values[t]) end
            end
        end
    end
    local flat = {}
    for name, count in pairs(histogram) do
        flat[#flat + 1] = name
        flat[#flat + 1] = count
    end
    sums[7] = flat
    return sums
end

local last = redis.call('HGET', KEYS[91], 'lm')
local fails = redis.call('ZCARD', KEYS[92])
return {last or false, fails, window(1, 30, ARGV[1] == '1'), window(31, 90, ARGV[2] == '1')}
