-- One circuit breaker operation, atomically: the Lua twin of meta_agent/breaker/core.py.
-- Every rule here mirrors a function there, in the same order, with the same arithmetic
-- (IEEE doubles for the rates and the backoff), so the two agree step by step.
--
-- KEYS[1]  the breaker's state hash      KEYS[2]  its window hash
-- ARGV[1]  op: acquire | results | advance | force | reset | reconfigure | restore
-- ARGV[2]  now (ms)     ARGV[3..15] the config (redis_store.config_args; 13 arguments rather
-- than one string to split: splitting in Lua costs more than Redis parsing the arguments)
-- ARGV[16..] the op's own arguments; `results` takes any number of results of this breaker,
-- 7 values each (permit kind, version, slot, deadline, outcome, duration, now), applied in
-- order exactly as that many single calls would, with one load and one store; `outcomes`
-- takes results of calls without a permit, all at ARGV[2]'s now, 2 values each (failed 0/1,
-- duration), applied as `results` would apply them (the realtime worker's common case: a
-- fifth of the arguments to pack and parse).
--
-- Reply: for acquire the decision (5 values), then for every transition the index of the
-- result that caused it (0 outside `results`) and its 18 values.
--
-- State hash fields: st state, v version, ch changed, clk clock, oa opened, ou open until,
-- co consecutive opens, cf consecutive failures, pl probe limit, pi probes issued,
-- ps probes succeeded, d<slot> deadline of a probe still out, fb forced by, fr forced reason,
-- sh window shape.
-- Window hash fields: c calls, f failures, sl slow calls; count window: n calls ever recorded,
-- r the ring of outcome codes, one digit per slot (1 × failed + 2 × slow); time window: l last
-- second recorded, e<slot> second, c<slot> calls, f<slot> failures, s<slot> slow calls of that
-- second. The ring is one field, read once and written once per call: a field per slot (as an
-- earlier version kept it) cost two lookups in a hash of up to 104 fields per result, and Redis
-- keeps a hash that small as a list it scans.

local S, W = KEYS[1], KEYS[2]
local op = ARGV[1]

local function int(x) return string.format('%d', x) end
local function opt(x) if x == nil then return '' end return int(x) end
local function num(x) if x == nil or x == false or x == '' then return nil end return tonumber(x) end

local cfg = {
    enabled = ARGV[3] == '1', kind = ARGV[4], size = tonumber(ARGV[5]),
    min_calls = tonumber(ARGV[6]), fr = tonumber(ARGV[7]), slow_ms = tonumber(ARGV[8]),
    sr = tonumber(ARGV[9]), consec = tonumber(ARGV[10]), open_ms = tonumber(ARGV[11]),
    mult = tonumber(ARGV[12]), max_open = tonumber(ARGV[13]), probes = tonumber(ARGV[14]),
    deadline_ms = tonumber(ARGV[15]),
}
local shape = ARGV[4] .. ':' .. ARGV[5]

-- load ---------------------------------------------------------------------------------
local raw = redis.call('HGETALL', S)
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local s = {
    state = h.st or 'closed', version = tonumber(h.v or '0'), changed = tonumber(h.ch or '0'),
    clock = tonumber(h.clk or '0'), opened = num(h.oa), open_until = num(h.ou),
    copens = tonumber(h.co or '0'), cfails = tonumber(h.cf or '0'),
    plimit = tonumber(h.pl or '0'), pissued = tonumber(h.pi or '0'),
    psucc = tonumber(h.ps or '0'), forced_by = h.fb, forced_reason = h.fr, shape = h.sh or '',
    probes = {},
}
for k, val in pairs(h) do
    if string.sub(k, 1, 1) == 'd' then s.probes[tonumber(string.sub(k, 2))] = tonumber(val) end
end
local wraw = redis.call('HMGET', W, 'c', 'f', 'sl', 'n', 'l', 'r')
local w = {
    c = tonumber(wraw[1] or '0'), f = tonumber(wraw[2] or '0'), sl = tonumber(wraw[3] or '0'),
    n = tonumber(wraw[4] or '0'), l = num(wraw[5]), r = wraw[6] or '',
}
-- the count window's slots recorded in this call (slot -> outcome code), over `w.r`
local ring_changes = {}

if cfg.kind == 'count' and w.n > 0 and not wraw[6] and h.sh == shape then
    -- a window stored a field per slot (an earlier version): into the ring, once
    local names = {}
    for i = 0, math.min(w.n, cfg.size) - 1 do names[#names + 1] = 'o' .. i end
    local codes = {}
    for from = 1, #names, 1000 do  -- unpack has a limit on how many values it returns
        local part = {unpack(names, from, math.min(from + 999, #names))}
        for _, code in ipairs(redis.call('HMGET', W, unpack(part))) do codes[#codes + 1] = code or '0' end
        redis.call('HDEL', W, unpack(part))
    end
    w.r = table.concat(codes)
    redis.call('HSET', W, 'r', w.r)
end

-- The ring with this call's slots written in (slots are recorded in turn, so a slot past
-- the stored ring's end is the very next one).
local function ring_string()
    local slots = {}
    for slot, _ in pairs(ring_changes) do slots[#slots + 1] = slot end
    table.sort(slots)
    local parts, from = {}, 1  -- from: the next byte of the stored ring to keep
    for _, slot in ipairs(slots) do
        parts[#parts + 1] = string.sub(w.r, from, slot)
        parts[#parts + 1] = ring_changes[slot]
        from = slot + 2
    end
    parts[#parts + 1] = string.sub(w.r, from)
    return table.concat(parts)
end

-- the totals are written once, at the end, when a call was recorded
local window_written = false

local function clear_window()
    redis.call('DEL', W)
    w = { c = 0, f = 0, sl = 0, n = 0, l = nil, r = '' }
    ring_changes = {}
    window_written = false
end

local function earliest_deadline()
    local best = nil
    for _, d in pairs(s.probes) do if best == nil or d < best then best = d end end
    return best
end

-- begin: clamp the clock, discard a window of another shape
local function begin(now)
    if now > s.clock then s.clock = now end
    if s.shape ~= shape then
        clear_window()
        s.shape = shape
    end
end

-- transitions ------------------------------------------------------------------------------
local transitions = {}
local item = 0

local function record_transition(before, cause)
    local out = {}
    for slot, d in pairs(s.probes) do out[#out + 1] = int(slot) .. ':' .. int(d) end
    local t = {
        int(item), before.state, s.state, cause, int(s.version), int(s.clock),
        int(before.c), int(before.f), int(before.sl), int(before.cfails), int(before.psucc),
        int(s.copens), opt(s.opened), opt(s.open_until), int(s.plimit), int(s.pissued),
        table.concat(out, ','), s.forced_by or '', s.forced_reason or '',
    }
    for _, v in ipairs(t) do transitions[#transitions + 1] = v end
end

local function snapshot()
    return { state = s.state, c = w.c, f = w.f, sl = w.sl, cfails = s.cfails, psucc = s.psucc }
end

-- `target` entered now: a new version, no window, no probes, no backoff
local function cleared(target, forced_by, forced_reason)
    s.state = target
    s.version = s.version + 1
    s.changed = s.clock
    s.opened, s.open_until = nil, nil
    s.copens, s.cfails = 0, 0
    s.plimit, s.pissued, s.psucc = 0, 0, 0
    s.probes = {}
    s.forced_by, s.forced_reason = forced_by, forced_reason
    clear_window()
end

local function open_duration_for(opens)
    local d, cap = cfg.open_ms, cfg.max_open
    for _ = 1, opens - 1 do
        if d >= cap or cfg.mult == 1 then break end
        d = math.min(cap, d * cfg.mult)
    end
    return math.floor(d)
end

local function open(cause)
    local before = snapshot()
    local opens = s.copens + 1
    cleared('open', nil, nil)
    s.opened = s.clock
    s.open_until = s.clock + open_duration_for(opens)
    s.copens = opens
    record_transition(before, cause)
end

local function close(target, cause)
    local before = snapshot()
    cleared(target, nil, nil)
    record_transition(before, cause)
end

local function advance()
    local d = earliest_deadline()
    if s.state == 'half_open' and d ~= nil and d <= s.clock then
        open('probe_deadline')
        return true
    end
    return false
end

local function issue_probe()
    local slot = s.pissued
    local deadline = s.clock + cfg.deadline_ms
    s.pissued = slot + 1
    s.probes[slot] = deadline
    return { 'permit', 'probe', int(s.version), int(slot), int(deadline) }
end

-- window -------------------------------------------------------------------------------------
local function record(failed, slow)
    local fi, si = failed and 1 or 0, slow and 1 or 0
    if cfg.kind == 'count' then
        local n = w.n
        local slot = n % cfg.size
        if n >= cfg.size then
            local old = ring_changes[slot] or tonumber(string.sub(w.r, slot + 1, slot + 1))
            w.c, w.f, w.sl = w.c - 1, w.f - (old % 2), w.sl - math.floor(old / 2)
        end
        ring_changes[slot] = fi + 2 * si
        w.n = n + 1
    else
        local sec = math.floor(s.clock / 1000)
        local last = w.l
        if last ~= nil and sec > last then
            if sec - last >= cfg.size then
                clear_window()
            else
                for t = last + 1, sec do
                    local i = t % cfg.size
                    local b = redis.call('HMGET', W, 'e' .. i, 'c' .. i, 'f' .. i, 's' .. i)
                    if b[1] then
                        w.c = w.c - tonumber(b[2])
                        w.f = w.f - tonumber(b[3])
                        w.sl = w.sl - tonumber(b[4])
                        redis.call('HDEL', W, 'e' .. i, 'c' .. i, 'f' .. i, 's' .. i)
                    end
                end
            end
        end
        -- after the eviction the slot is empty or holds this very second
        local i = sec % cfg.size
        local b = { 0, 0, 0 }
        if last == sec then
            local held = redis.call('HMGET', W, 'c' .. i, 'f' .. i, 's' .. i)
            if held[1] then b = { tonumber(held[1]), tonumber(held[2]), tonumber(held[3]) } end
        end
        redis.call('HSET', W, 'e' .. i, int(sec), 'c' .. i, int(b[1] + 1),
            'f' .. i, int(b[2] + fi), 's' .. i, int(b[3] + si))
        w.l = sec
    end
    w.c, w.f, w.sl = w.c + 1, w.f + fi, w.sl + si
    window_written = true
    if failed then s.cfails = s.cfails + 1 else s.cfails = 0 end

    local considered = math.max(w.c, cfg.min_calls)
    if w.f / considered >= cfg.fr then
        open('failure_rate')
    elseif w.sl / considered >= cfg.sr then
        open('slow_call_rate')
    elseif cfg.consec > 0 and s.cfails >= cfg.consec then
        open('consecutive_failures')
    end
end

-- operations -------------------------------------------------------------------------------
local decision = { 'none', '', '', '', '' }

local function acquire()
    if not cfg.enabled and s.state ~= 'forced_open' then
        decision = { 'permit', 'unguarded', int(s.version), '', '' }
        return
    end
    advance()
    local now = s.clock
    if s.state == 'closed' then
        decision = { 'permit', 'call', int(s.version), '', '' }
    elseif s.state == 'forced_closed' then
        decision = { 'permit', 'forced', int(s.version), '', '' }
    elseif s.state == 'forced_open' then
        decision = { 'rejected', 'forced_open', '', '', '' }
    elseif s.state == 'open' then
        if now < s.open_until then
            decision = { 'rejected', 'open', int(s.open_until - now), '', '' }
        else
            local before = snapshot()
            s.state = 'half_open'
            s.version = s.version + 1
            s.changed = now
            s.plimit, s.pissued, s.psucc = cfg.probes, 0, 0
            s.probes = {}
            decision = issue_probe()
            record_transition(before, 'open_elapsed')
        end
    elseif s.state == 'half_open' then
        if s.pissued < s.plimit then
            decision = issue_probe()
        else
            decision = { 'rejected', 'half_open', opt(earliest_deadline() and earliest_deadline() - now), '', '' }
        end
    end
end

local function result(kind, version, slot, deadline, failed, slow)
    if not cfg.enabled then return end
    if advance() then return end
    if kind == '' then kind = 'call' end
    local current = version == nil or version == s.version
    if kind == 'call' and current and s.state == 'closed' then
        record(failed, slow)
    elseif kind == 'probe' and current and s.state == 'half_open' then
        if slot == nil or s.probes[slot] == nil or s.probes[slot] ~= deadline then return end
        s.probes[slot] = nil
        if failed then
            open('probe_failed')
            return
        end
        s.psucc = s.psucc + 1
        if s.psucc >= s.plimit then close('closed', 'probe_succeeded') end
    end
end

if op == 'restore' then
    -- ARGV[16..28]: the state to install, then (slot, deadline) pairs of the probes out;
    -- refused when Redis already holds this version or a newer one
    if redis.call('EXISTS', S) == 1 and s.version >= tonumber(ARGV[17]) then return { 0 } end
    redis.call('DEL', S, W)
    local fields = { 'st', 'v', 'ch', 'clk', 'oa', 'ou', 'co', 'cf', 'pl', 'pi', 'ps', 'fb', 'fr' }
    local put = { 'sh', '' }
    for i, f in ipairs(fields) do
        if ARGV[15 + i] ~= '' then put[#put + 1] = f; put[#put + 1] = ARGV[15 + i] end
    end
    for i = 29, #ARGV, 2 do put[#put + 1] = 'd' .. ARGV[i]; put[#put + 1] = ARGV[i + 1] end
    redis.call('HSET', S, unpack(put))
    return { 1 }
end

begin(tonumber(ARGV[2]))
if op == 'acquire' then
    acquire()
elseif op == 'results' then
    for i = 16, #ARGV, 7 do
        item = (i - 16) / 7
        begin(tonumber(ARGV[i + 6]))
        local failed = ARGV[i + 4] == 'failure'
        local slow = tonumber(ARGV[i + 5]) >= cfg.slow_ms
        result(ARGV[i], num(ARGV[i + 1]), num(ARGV[i + 2]), num(ARGV[i + 3]), failed, slow)
    end
elseif op == 'outcomes' then
    local now = tonumber(ARGV[2])
    for i = 16, #ARGV, 2 do
        item = (i - 16) / 2
        begin(now)
        result('', nil, nil, nil, ARGV[i] == '1', tonumber(ARGV[i + 1]) >= cfg.slow_ms)
    end
elseif op == 'advance' then
    advance()
elseif op == 'force' then
    local before = snapshot()
    cleared(ARGV[16], ARGV[17], ARGV[18])
    record_transition(before, 'manual')
elseif op == 'reset' then
    close('closed', 'manual')
elseif op == 'reconfigure' then
    local before = snapshot()
    s.version = s.version + 1
    clear_window()
    record_transition(before, 'config_changed')
else
    return redis.error_reply('unknown breaker op ' .. tostring(op))
end

-- store: only the fields that changed (most results change the clock and little else) -------
if window_written then
    if cfg.kind == 'count' then
        redis.call('HSET', W, 'c', int(w.c), 'f', int(w.f), 'sl', int(w.sl), 'n', int(w.n),
            'r', ring_string())
    else
        redis.call('HSET', W, 'c', int(w.c), 'f', int(w.f), 'sl', int(w.sl), 'l', int(w.l))
    end
end
local set, del = {}, {}
local recorded = op == 'results' or op == 'outcomes'
if #transitions == 0 and recorded and s.state == 'closed' and h.st and h.sh == s.shape then
    -- the common case, a result recorded in a CLOSED breaker already stored under this
    -- window shape: only the clock and the run of failures can have changed
    for f, val in pairs({ clk = s.clock, cf = s.cfails }) do
        if tonumber(h[f] or '0') ~= val then set[#set + 1] = f; set[#set + 1] = int(val) end
    end
else
    local now_fields = {
        st = s.state, v = int(s.version), ch = int(s.changed), clk = int(s.clock),
        co = int(s.copens), cf = int(s.cfails), pl = int(s.plimit), pi = int(s.pissued),
        ps = int(s.psucc), sh = s.shape, oa = s.opened and int(s.opened),
        ou = s.open_until and int(s.open_until), fb = s.forced_by, fr = s.forced_reason,
    }
    for slot, d in pairs(s.probes) do now_fields['d' .. int(slot)] = int(d) end
    for f, val in pairs(now_fields) do
        if h[f] ~= val then set[#set + 1] = f; set[#set + 1] = val end
    end
    for f, _ in pairs(h) do
        if now_fields[f] == nil then del[#del + 1] = f end
    end
end
if #set > 0 then redis.call('HSET', S, unpack(set)) end
if #del > 0 then redis.call('HDEL', S, unpack(del)) end

-- the common reply, to results that changed no state, is an empty array
local reply = {}
if op == 'acquire' then reply = decision end
for _, v in ipairs(transitions) do reply[#reply + 1] = v end
return reply
