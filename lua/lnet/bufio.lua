-- lnet.bufio: buffered reading and writing over a conn, Go's bufio for
-- protocol scripts.
--
--   reader(conn [, size]) -> r    read, read_line, read_until, read_exact,
--                                 peek, discard, buffered, read_frame, fill
--   writer(conn [, size]) -> w    write(...), flush([ctx]), buffered
--
-- A reader keeps what it has read in a LuaJIT string.buffer. Over a core
-- conn the core recv's straight into the buffer's free space (reserve, the
-- read, commit), so a byte is copied once from the kernel, and once more
-- only into the string a call returns. Over anything else with read(max,
-- ctx) (a pipe) each read's string is appended.
--
-- Rules every reader call keeps:
-- - A call consumes only what it returns. One that fails (a deadline, a
--   ctx, EOF part way, a limit) leaves every byte it read in the buffer,
--   where the next call finds it; so a call cut short by a ctx loses
--   nothing, and a stream is never left half-way through a unit.
-- - No peer grows the buffer without bound: a line or a delimited unit
--   gives up once `max` bytes have come without its end (the buffer then
--   holds at most max + the delimiter, or `size` if larger), and a frame
--   whose length prefix is over `max` fails before anything is allocated
--   for it or read beyond its prefix.
-- - One task at a time uses a reader (as Go's): its state is the call's.
--
-- Special problem of a parked reader's memory (sched.retry): a call that
-- must read tail-calls retry with a call kind whose done re-enters the
-- same step function (a tail call again), so a task parked in read_line
-- has the frames of one wait, not a loop's; the call's parameters live in
-- the reader (one call at a time), the ctx is passed along.

local ffi = require "ffi"
local buffer = require "string.buffer"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local conn = require "lnet.conn"

ffi.cdef [[
void *memchr(const void *s, int c, size_t n);
void *memmem(const void *haystack, size_t hl, const void *needle, size_t nl);
]]

local C = sys.C
local memchr, memmem = ffi.C.memchr, ffi.C.memmem
local cast, ffi_string, ffi_new = ffi.cast, ffi.string, ffi.new
local setmetatable, getmetatable, type, error, tonumber, tostring, select, pcall =
    setmetatable, getmetatable, type, error, tonumber, tostring, select, pcall
local floor, huge, min, max = math.floor, math.huge, math.min, math.max
local byte = string.byte
local retry, check_ctx, self_task, trailing_ctx = sched.retry, sched.check_ctx, sched.self_task, sched.trailing_ctx
local is_conn, is_buffer, code_error = conn.is_conn, conn.is_buffer, conn.code_error
local check_self, EOF = errors.check_self, errors.EOF
local Context = sched.Context

local u8p = ffi.typeof("const uint8_t *")

local _M = {}

-- Errors ----------------------------------------------------------------

-- Go's io.ErrUnexpectedEOF: the stream ended part way through a unit.
_M.ErrUnexpectedEOF = errors.sentinel("unexpected EOF")
-- A varint length prefix of more than 10 bytes (no 64-bit value is longer).
_M.ErrBadVarint = errors.sentinel("bufio: malformed varint length prefix")
local ErrUnexpectedEOF = _M.ErrUnexpectedEOF

-- LimitError{what, max, size}: a peer's unit over its limit. `what` is
-- "line", "delimiter" or "frame"; `size` the frame's announced length (nil
-- for a line: its end never came). Nothing of it was consumed.
local LimitError = errors.kind("LimitError", function(self)
    if self.size ~= nil then
        return ("bufio: %s length %.0f over max %d"):format(self.what, self.size, self.max)
    end
    return ("bufio: %s longer than max %d bytes"):format(self.what, self.max)
end)

local function limit_error(what, limit, size)
    return setmetatable({ what = what, max = limit, size = size }, LimitError)
end
_M.LimitError = limit_error

-- Arguments -------------------------------------------------------------

local DEFAULT_SIZE = 4096 -- a read asks for what fills the buffer to this (Go's)
local DEFAULT_MAX = 65536 -- opts.max: the longest line or delimited unit

local function is_ctx(v)
    return v ~= nil and getmetatable(v) == Context
end

local function count_arg(v, n, fname)
    if type(v) ~= "number" or v < 0 or v ~= v or v == huge then
        error(("bad argument #%d to '%s' (non-negative number expected, got %s)"):format(n, fname,
            type(v) == "number" and tostring(v) or errors.what(v)), 3)
    end
    return floor(v)
end

local function size_arg(size, fname)
    if size == nil then
        return DEFAULT_SIZE
    end
    if type(size) ~= "number" or size < 1 or size ~= size or size == huge then
        error("bad argument #2 to '" .. fname .. "' (positive number expected, got " .. tostring(size) .. ")", 3)
    end
    return floor(size)
end

-- Anything else a reader reads or a writer writes has the method: a table
-- (a pipe end) or cdata of a metatype (a TLS conn).
local function index(v, name)
    return v[name]
end

local function has_method(v, name)
    local kind = type(v)
    if kind == "table" then
        return type(v[name]) == "function"
    end
    if kind ~= "cdata" then
        return false
    end
    local ok, f = pcall(index, v, name)
    return ok and type(f) == "function"
end

-- The core conn under a reader's source or a writer's destination (v, when
-- v is a conn), or nil for anything else with the method fname calls.
local function endpoint_arg(v, method, fname)
    local core = is_conn(v) and v or nil
    if core == nil and not has_method(v, method) then
        error("bad argument #1 to '" .. fname .. "' (conn expected, got " .. type(v) .. ")", 3)
    end
    return core
end

-- opts {max, keep_eol} at argument n: sets the reader's call state.
local function take_opts(r, opts, n, fname)
    if opts == nil then
        r.max, r.keep = DEFAULT_MAX, false
        return
    end
    if type(opts) ~= "table" then
        error(("bad argument #%d to '%s' (table or context expected, got %s)"):format(n, fname, type(opts)), 3)
    end
    local m = opts.max
    r.max = m == nil and DEFAULT_MAX or count_arg(m, n, fname)
    r.keep = opts.keep_eol == true
end

-- Reader ----------------------------------------------------------------

local Reader = {}
Reader.__index = Reader

-- reader(conn [, size]): size is how full one read tries to make the
-- buffer (default 4096; 65536 suits bulk data): a read asks for the room
-- left, or for what the call in hand still needs if that is more.
function _M.reader(src, size)
    return setmetatable({
        src = src,
        core = endpoint_arg(src, "read", "reader"),
        buf = buffer.new(),
        size = size_arg(size, "reader"),
        want = 0, -- what the read in hand asks for
        scanned = 0, -- bytes at the front known not to hold `delim`
        delim = "\n", -- the delimited call's delimiter
        line = false, -- ... and whether it is read_line (CR LF or LF)
        max = DEFAULT_MAX, -- the call's limit
        keep = false, -- keep_eol
        count = 0, -- discard's progress
        fmt = nil, -- read_frame's spec
    }, Reader)
end

local function check_reader(r, fname)
    check_self(r, Reader, "bufio reader", fname)
end

-- The read in hand wants at least `need` bytes in the buffer (which holds
-- len) and may take up to `size`; never more than `cap` in all.
local function want(r, len, need, cap)
    local w = max(need, r.size) - len
    if len + w > cap then
        w = cap - len
    end
    r.want = w
end

-- One read into the buffer, of at most r.want bytes, then call[2](r, rc,
-- err, ctx, a) goes on: rc > 0 bytes came, 0 end of stream, < 0 an error.
local WRAPPED = -0x7fffffff -- rc for an error the source already wrapped

local function fill_core(r, op)
    local n = r.want
    local p = r.buf:reserve(n)
    local rc = C.lnet_conn_read(r.core, op, p, n)
    if rc > 0 then
        r.buf:commit(rc)
    end
    return rc
end

local function fill_any(r, done, ctx, a)
    local s, err = r.src:read(r.want, ctx)
    if s ~= nil then
        r.buf:put(s)
        return done(r, #s, nil, ctx, a)
    elseif err == EOF then
        return done(r, 0, nil, ctx, a)
    end
    return done(r, WRAPPED, err, ctx, a)
end

local function fill(r, call, ctx, a)
    if r.core ~= nil then
        return retry(call, r, ctx, ctx, a)
    end
    return fill_any(r, call[2], ctx, a)
end

local function read_error(r, rc, err)
    if rc == WRAPPED then
        return err
    end
    return r.core:op_error("read", err or code_error(rc, "read"))
end

-- A call kind whose done re-enters step(r, ctx, a, at_eof).
local function call_kind(step)
    return { fill_core, function(r, rc, err, ctx, a)
        if rc >= 0 then
            return step(r, ctx, a, rc == 0)
        end
        return nil, read_error(r, rc, err)
    end }
end

-- read([max [, ctx]]): 1..max bytes (default: the reader's size): what is
-- buffered, else what one read brings; nil, EOF at end of stream.
local READ_CALL
local function read_step(r, ctx, n, eof)
    local buf = r.buf
    local len = #buf
    if len > 0 then
        r.scanned = 0
        return buf:get(n)
    elseif eof then
        return nil, EOF
    end
    want(r, 0, 1, huge)
    return fill(r, READ_CALL, ctx, n)
end
READ_CALL = call_kind(read_step)

function Reader:read(n, ctx)
    check_reader(self, "read")
    if is_ctx(n) then
        n, ctx = nil, n
    end
    n = n == nil and self.size or count_arg(n, 1, "read")
    check_ctx(ctx, 2, "read")
    if n == 0 then
        return ""
    end
    return read_step(self, ctx, n, false)
end

-- The delimited calls: read_line (LF, an optional CR before it dropped
-- too) and read_until(delim). Search resumes where the last one stopped
-- (r.scanned), so a unit trickling in byte by byte costs linear time.
local UNTIL_CALL
local function until_step(r, ctx, _, eof)
    local buf, delim = r.buf, r.delim
    local p, len = buf:ref()
    local dlen = #delim
    local limit = r.max + dlen + (r.line and 1 or 0) -- a line may end in CR LF
    local upto = len < limit and len or limit
    local from = r.scanned
    if upto - from >= dlen then
        local q
        if dlen == 1 then
            q = memchr(p + from, byte(delim), upto - from)
        else
            q = memmem(p + from, upto - from, delim, dlen)
        end
        if q ~= nil then
            local n = tonumber(cast(u8p, q) - p) -- bytes before the delimiter
            local cut = (r.line and n > 0 and p[n - 1] == 13) and 1 or 0
            if n - cut > r.max then
                return nil, limit_error(r.line and "line" or "delimiter", r.max)
            end
            r.scanned = 0
            if r.keep then
                return buf:get(n + dlen)
            end
            local s = buf:get(n - cut)
            buf:skip(cut + dlen)
            return s
        end
        r.scanned = upto - dlen + 1 -- a delimiter may start in the last dlen - 1 bytes
    end
    if len >= limit then
        return nil, limit_error(r.line and "line" or "delimiter", r.max)
    elseif eof then
        if len == 0 then
            return nil, EOF
        elseif not r.line then
            return nil, ErrUnexpectedEOF
        elseif len > r.max then
            return nil, limit_error("line", r.max)
        end
        r.scanned = 0
        return buf:get(len) -- a last line with no end: a line (Go's ReadLine)
    end
    want(r, len, len + 1, limit)
    return fill(r, UNTIL_CALL, ctx)
end
UNTIL_CALL = call_kind(until_step)

-- read_line([opts] [, ctx]): the next line without its LF or CR LF (with
-- it under keep_eol); a last line with no end is a line; nil, EOF at end of
-- stream; nil, LimitError when max bytes came and no end.
function Reader:read_line(opts, ctx)
    check_reader(self, "read_line")
    if is_ctx(opts) then
        opts, ctx = nil, opts
    end
    take_opts(self, opts, 1, "read_line")
    check_ctx(ctx, 2, "read_line")
    if self.delim ~= "\n" then
        self.delim, self.scanned = "\n", 0
    end
    self.line = true
    return until_step(self, ctx, nil, false)
end

-- read_until(delim [, opts] [, ctx]): the bytes up to delim (any length),
-- without it (with it under keep_eol); nil, ErrUnexpectedEOF when the
-- stream ends before it (nil, EOF when nothing came); nil, LimitError after
-- max bytes without it.
function Reader:read_until(delim, opts, ctx)
    check_reader(self, "read_until")
    if type(delim) ~= "string" or delim == "" then
        error("bad argument #1 to 'read_until' (non-empty string expected, got " .. type(delim) .. ")", 2)
    end
    if is_ctx(opts) then
        opts, ctx = nil, opts
    end
    take_opts(self, opts, 2, "read_until")
    check_ctx(ctx, 3, "read_until")
    if self.delim ~= delim then
        self.delim, self.scanned = delim, 0
    end
    self.line = false
    return until_step(self, ctx, nil, false)
end

-- A step that waits until n bytes are buffered, then returns take(r, n);
-- at end of stream nil, EOF when none came, nil, ErrUnexpectedEOF when some
-- (they stay buffered).
local function n_bytes_step(take)
    local call
    local function step(r, ctx, n, eof)
        local len = #r.buf
        if len >= n then
            return take(r, n)
        elseif eof then
            return nil, len == 0 and EOF or ErrUnexpectedEOF
        end
        want(r, len, n, huge)
        return fill(r, call, ctx, n)
    end
    call = call_kind(step)
    return step
end

-- The method fname(n [, ctx]) that runs step for n bytes.
local function n_bytes_method(fname, step)
    return function(self, n, ctx)
        check_reader(self, fname)
        n = count_arg(n, 1, fname)
        check_ctx(ctx, 2, fname)
        return step(self, ctx, n, false)
    end
end

-- read_exact(n [, ctx]): exactly n bytes (Go's io.ReadFull).
Reader.read_exact = n_bytes_method("read_exact", n_bytes_step(function(r, n)
    r.scanned = 0
    return r.buf:get(n)
end))

-- peek(n [, ctx]): the next n bytes, left in the buffer.
Reader.peek = n_bytes_method("peek", n_bytes_step(function(r, n)
    local p = r.buf:ref()
    return ffi_string(p, n)
end))

-- discard(n [, ctx]): skips n bytes, reading as needed: n; or the count
-- skipped and the error that stopped it (EOF at end of stream).
local DISCARD_CALL
local function discard_step(r, ctx, n, eof)
    local buf = r.buf
    local len = #buf
    r.scanned = 0
    if len >= n then
        buf:skip(n)
        return r.count + n
    end
    buf:skip(len)
    r.count = r.count + len
    if eof then
        return r.count, EOF
    end
    n = n - len
    want(r, 0, min(n, r.size), huge)
    return fill(r, DISCARD_CALL, ctx, n)
end
DISCARD_CALL = { fill_core, function(r, rc, err, ctx, n)
    if rc < 0 then
        return r.count, read_error(r, rc, err)
    end
    return discard_step(r, ctx, n, rc == 0)
end }

function Reader:discard(n, ctx)
    check_reader(self, "discard")
    n = count_arg(n, 1, "discard")
    check_ctx(ctx, 2, "discard")
    self.count = 0
    return discard_step(self, ctx, n, false)
end

-- buffered(): how many bytes a call can have without reading.
function Reader:buffered()
    check_reader(self, "buffered")
    return #self.buf
end

-- fill([ctx]): reads once into the buffer, whatever it holds: the count
-- read, or nil, EOF / nil, err. With buffer(), for a consumer that takes
-- the bytes where they are (conn:write(r:buffer()), then discard).
local FILL_CALL = { fill_core, function(r, rc, err)
    if rc > 0 then
        return rc
    elseif rc == 0 then
        return nil, EOF
    end
    return nil, read_error(r, rc, err)
end }

function Reader:fill(ctx)
    check_reader(self, "fill")
    check_ctx(ctx, 1, "fill")
    local len = #self.buf
    want(self, len, len + 1, huge)
    return fill(self, FILL_CALL, ctx)
end

-- buffer(): the string.buffer the reader keeps its bytes in, for reading
-- them in place (ref, or as a conn:write argument); take them with the
-- reader's calls (discard), not the buffer's own.
function Reader:buffer()
    check_reader(self, "buffer")
    return self.buf
end

-- read_frame{prefix = 1|2|4|8|"varint", order = "big"|"little", max} [, ctx]:
-- the body of the next length-prefixed frame (the prefix counts the body
-- only); nil, LimitError when the prefix says more than max (prefix and
-- body left unread); nil, ErrUnexpectedEOF when the stream ends part way.
local PREFIXES = { [1] = true, [2] = true, [4] = true, [8] = true, varint = true }

-- The frame's length and its prefix's size from the bytes at p (len of
-- them); nil when the prefix has not all come; false and an error.
local function frame_length(fmt, p, len)
    local plen = fmt.prefix
    if plen == "varint" then
        local v, scale = 0, 1
        for i = 0, min(len, 10) - 1 do
            local b = p[i]
            v = v + (b % 128) * scale
            if v > fmt.max then
                return false, limit_error("frame", fmt.max, v)
            elseif b < 128 then
                return v, i + 1
            end
            scale = scale * 128
        end
        if len >= 10 then
            return false, _M.ErrBadVarint
        end
        return nil
    end
    if len < plen then
        return nil
    end
    local v = 0
    if fmt.order == "little" then
        for i = plen - 1, 0, -1 do
            v = v * 256 + p[i]
        end
    else
        for i = 0, plen - 1 do
            v = v * 256 + p[i]
        end
    end
    if v > fmt.max then
        return false, limit_error("frame", fmt.max, v)
    end
    return v, plen
end

local FRAME_CALL
local function frame_step(r, ctx, _, eof)
    local buf = r.buf
    local p, len = buf:ref()
    local n, plen = frame_length(r.fmt, p, len)
    if n == false then
        return nil, plen
    end
    local total = n and n + plen or len + 1
    if n and len >= total then
        r.scanned = 0
        buf:skip(plen)
        return buf:get(n)
    elseif eof then
        return nil, len == 0 and EOF or ErrUnexpectedEOF
    end
    want(r, len, total, huge)
    return fill(r, FRAME_CALL, ctx)
end
FRAME_CALL = call_kind(frame_step)

function Reader:read_frame(spec, ctx)
    check_reader(self, "read_frame")
    if type(spec) ~= "table" then
        error("bad argument #1 to 'read_frame' (table expected, got " .. type(spec) .. ")", 2)
    end
    if not PREFIXES[spec.prefix] then
        error("bad argument #1 to 'read_frame' (prefix must be 1, 2, 4, 8 or \"varint\")", 2)
    end
    if spec.order ~= nil and spec.order ~= "big" and spec.order ~= "little" then
        error("bad argument #1 to 'read_frame' (order must be \"big\" or \"little\")", 2)
    end
    if spec.max ~= nil then
        count_arg(spec.max, 1, "read_frame")
    end
    check_ctx(ctx, 2, "read_frame")
    self.fmt = spec.max ~= nil and spec or { prefix = spec.prefix, order = spec.order, max = DEFAULT_MAX }
    return frame_step(self, ctx, nil, false)
end

function Reader:__tostring()
    return "bufio reader over " .. tostring(self.src)
end

-- Writer ----------------------------------------------------------------
--
-- Pending bytes are a list of segments in order: a string written whole
-- (REF_MIN bytes or more: sent from its own memory), or a number, the end
-- offset in the writer's buffer of a run of small writes copied there. A
-- flush over a core conn gathers them into one writev (iov entries made
-- on each attempt from the segments, since the buffer's memory may move
-- while the write waits and a write from another task may add to it); the
-- core keeps the count sent across parks. A failed flush keeps what did not
-- go out, so a flush cut short by a ctx can be made again.

local REF_MIN = 1024

local Writer = {}
Writer.__index = Writer

-- writer(conn [, size]): write flushes by itself once size bytes (default
-- 4096) are pending.
function _M.writer(dst, size)
    return setmetatable({
        dst = dst,
        core = endpoint_arg(dst, "write", "writer"),
        buf = buffer.new(),
        segs = {},
        nseg = 0,
        pending = 0,
        size = size_arg(size, "writer"),
        iov = nil,
        iov_cap = 0,
    }, Writer)
end

local function check_writer(w, fname)
    check_self(w, Writer, "bufio writer", fname)
end

local function add(w, v, i)
    if type(v) == "string" then
        local n = #v
        if n >= REF_MIN then
            w.nseg = w.nseg + 1
            w.segs[w.nseg] = v
        else
            w.buf:put(v)
            local k = w.nseg
            if k > 0 and type(w.segs[k]) == "number" then
                w.segs[k] = #w.buf
            else
                w.nseg = k + 1
                w.segs[k + 1] = #w.buf
            end
        end
        w.pending = w.pending + n
        return n
    elseif is_buffer(v) then -- a string.buffer: copied, the caller may reuse it
        local n = #v
        w.buf:put(v)
        local k = w.nseg
        if k > 0 and type(w.segs[k]) == "number" then
            w.segs[k] = #w.buf
        else
            w.nseg = k + 1
            w.segs[k + 1] = #w.buf
        end
        w.pending = w.pending + n
        return n
    end
    error(("bad argument #%d to 'write' (string or buffer expected, got %s)"):format(i, type(v)), 3)
end

local function clear(w)
    local segs = w.segs
    for i = w.nseg, 1, -1 do
        segs[i] = nil
    end
    w.nseg, w.pending = 0, 0
    if #w.buf > 0 then
        w.buf:reset()
    end
end

-- Drops the first `sent` pending bytes, keeping the rest in one fresh buffer.
local function keep_unsent(w, sent)
    local rest = buffer.new()
    local p = w.buf:ref()
    local off, skip = 0, sent
    for i = 1, w.nseg do
        local s = w.segs[i]
        local base, n
        if type(s) == "string" then
            base, n = s, #s
        else
            base, n = p + off, s - off
            off = s
        end
        if skip >= n then
            skip = skip - n
        else
            if type(base) == "string" then
                rest:put(skip > 0 and base:sub(skip + 1) or base)
            else
                rest:putcdata(base + skip, n - skip)
            end
            skip = 0
        end
    end
    clear(w)
    w.buf = rest
    if #rest > 0 then
        w.nseg, w.segs[1], w.pending = 1, #rest, #rest
    end
end

local iov_ct = ffi.typeof("struct iovec[?]")

-- The iov of the pending segments, made now: their count.
local function make_iov(w)
    local n = w.nseg
    if n > w.iov_cap then
        w.iov_cap = max(n, 2 * w.iov_cap, 8)
        w.iov = ffi_new(iov_ct, w.iov_cap)
    end
    local iov, segs = w.iov, w.segs
    local p = w.buf:ref()
    local off = 0
    for i = 1, n do
        local s = segs[i]
        local e = iov[i - 1]
        if type(s) == "string" then
            e.iov_base, e.iov_len = s, #s
        else
            e.iov_base, e.iov_len = p + off, s - off
            off = s
        end
    end
    return n
end

local FLUSH_CALL = { function(w, op)
    local n = make_iov(w)
    return C.lnet_conn_writev(w.core, op, w.iov, n)
end, function(w, rc, err)
    if rc == 0 then
        clear(w)
        return true
    end
    keep_unsent(w, tonumber(self_task(1).op.progress))
    return nil, w.core:op_error("write", err or code_error(rc, "write"))
end }

-- Over anything that is not a core conn: one string of everything pending.
local function flush_any(w, ctx)
    keep_unsent(w, 0)
    local s = w.buf:tostring()
    local n, err = w.dst:write(s, ctx)
    if err == nil then
        clear(w)
        return true
    end
    keep_unsent(w, n)
    return nil, err
end

local function flush(w, ctx)
    if w.pending == 0 then
        return true
    elseif w.core == nil then
        return flush_any(w, ctx)
    end
    return retry(FLUSH_CALL, w, ctx)
end

-- flush([ctx]): sends everything pending in one gathered write: true; nil,
-- err when it failed part way (what did not go out stays pending).
function Writer:flush(ctx)
    check_writer(self, "flush")
    check_ctx(ctx, 1, "flush")
    return flush(self, ctx)
end

-- write(...): appends each string or string.buffer (the last argument may
-- be a ctx, for the flush it may make): the count taken, all of it; once
-- size bytes are pending it flushes (nil, err if that failed, the bytes
-- still pending).
function Writer:write(...)
    check_writer(self, "write")
    local n, ctx = trailing_ctx(...)
    local total = 0
    for i = 1, n do
        total = total + add(self, (select(i, ...)), i)
    end
    if self.pending >= self.size then
        local ok, err = flush(self, ctx)
        if not ok then
            return nil, err
        end
    end
    return total
end

-- buffered(): bytes written and not yet flushed.
function Writer:buffered()
    check_writer(self, "buffered")
    return self.pending
end

function Writer:__tostring()
    return "bufio writer over " .. tostring(self.dst)
end

return _M
