# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The stream's compiled per-chunk step (`traces.chunk_scan_glue`): a chunk's JSON text walked
once, its key codes, argument-set ids, correlations, flow ids, dur floats and ts (exact ns in
Kineto's form, else text) written straight into buffers, no Python object per event: keys and
argument sets are found by their JSON text in C hash tables (`byte_table.pxi`), a new one made
once (its key tuple by msgspec, its set numbered by `ArgSets`). bench/README.md has figures.

It gives what msgspec's structs give (`traces.stream_events`) or nothing: anything it is not
sure msgspec reads the same way (escapes in object keys, a dur that is no plain number, ids
that are no plain integers, duplicate fields, invalid UTF-8, deep nesting, non-object events)
refuses the whole chunk (None), and the caller decodes it with msgspec. Keys and argument sets
are numbered in the shared `Interned` / `ArgSets` in order of first sight, so a chunk refused
half-way has numbered a prefix of what msgspec numbers next, in the same order.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.ref cimport PyObject
from libc.math cimport NAN
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcmp, memcpy

import numpy as np

include "json_scan.pxi"
include "json_members.pxi"
include "byte_table.pxi"
include "event_fields.pxi"
include "vector_state.pxi"

cdef enum:
    NO_ID = -1
    RETRY = -3  # `_event`: a ts that is not Kineto's form, in a chunk begun reading them: again, as texts


cdef object copied(const void *values, Py_ssize_t n, object dtype):
    """`n` values of `dtype` from a C buffer, as a new numpy array."""
    out = np.empty(n, dtype)
    cdef unsigned char[::1] into = out.view(np.uint8)
    memcpy(&into[0], values, into.shape[0])
    return out


cdef class ChunkScanner:
    """One read's compiled step: the raw key texts seen so far and their codes, and the
    buffers a chunk is written into (grown, never shrunk)."""

    cdef object keys, sets, key_decoder, link_id, str_decoder
    cdef ByteTable key_table, set_table
    cdef Py_ssize_t cap, text_cap, scratch_cap
    cdef Py_ssize_t *codes
    cdef double *durs
    cdef int32_t *refs
    cdef int64_t *corrs
    cdef int64_t *ids
    cdef int64_t *ts_ns
    cdef double *ts_us
    cdef int64_t *dur_ns
    cdef bint ts_read  # the chunk's ts read to ns here (`scan_fixed3`), none kept as text
    cdef bint ts_expect  # whether the next chunk begins reading its ts (the last one's were all Kineto's form)
    cdef bint ts_fixed  # every ts of a chunk read as text so far is in Kineto's form (`scan_fixed3`)
    cdef bint dur_read  # every dur of the chunk so far read to ns here (`parse_dur_ns`), or absent
    cdef char *text
    cdef char *scratch

    def __init__(self, keys, sets, key_decoder, link_id, str_decoder):
        """`keys`: the `Interned` codes; `sets`: the `ArgSets`; `key_decoder` makes a key's
        tuple from its JSON text as msgspec's struct fields would; `link_id` and
        `str_decoder` read an `id` given as text."""
        self.keys, self.sets, self.key_decoder = keys, sets, key_decoder
        self.link_id, self.str_decoder = link_id, str_decoder
        self.key_table, self.set_table = ByteTable(), ByteTable()
        self.ts_expect = True

    def __dealloc__(self):
        PyMem_Free(self.codes)
        PyMem_Free(self.durs)
        PyMem_Free(self.refs)
        PyMem_Free(self.corrs)
        PyMem_Free(self.ids)
        PyMem_Free(self.ts_ns)
        PyMem_Free(self.ts_us)
        PyMem_Free(self.dur_ns)
        PyMem_Free(self.text)
        PyMem_Free(self.scratch)

    cdef int _grow(self, Py_ssize_t events, Py_ssize_t text, Py_ssize_t scratch) except -1:
        if events > self.cap:
            events = max(events, 2 * self.cap)
            self.codes = <Py_ssize_t *>PyMem_Realloc(self.codes, events * sizeof(Py_ssize_t))
            self.durs = <double *>PyMem_Realloc(self.durs, events * sizeof(double))
            self.refs = <int32_t *>PyMem_Realloc(self.refs, events * sizeof(int32_t))
            self.corrs = <int64_t *>PyMem_Realloc(self.corrs, events * sizeof(int64_t))
            self.ids = <int64_t *>PyMem_Realloc(self.ids, events * sizeof(int64_t))
            self.ts_ns = <int64_t *>PyMem_Realloc(self.ts_ns, events * sizeof(int64_t))
            self.ts_us = <double *>PyMem_Realloc(self.ts_us, events * sizeof(double))
            self.dur_ns = <int64_t *>PyMem_Realloc(self.dur_ns, events * sizeof(int64_t))
            if not (self.codes and self.durs and self.refs and self.corrs and self.ids and self.ts_ns and self.ts_us
                    and self.dur_ns):
                raise MemoryError()
            self.cap = events
        if text > self.text_cap:
            text = max(text, 2 * self.text_cap)
            self.text = <char *>PyMem_Realloc(self.text, text)
            if not self.text:
                raise MemoryError()
            self.text_cap = text
        if scratch > self.scratch_cap:
            scratch = max(scratch, 2 * self.scratch_cap)
            self.scratch = <char *>PyMem_Realloc(self.scratch, scratch)
            if not self.scratch:
                raise MemoryError()
            self.scratch_cap = scratch
        return 0

    def scan(self, const unsigned char[::1] buf, Py_ssize_t pos, Py_ssize_t cut):
        """The events in `buf[pos:cut]` (whole events and the commas between them): (n, key
        codes, dur floats, ts, argument-set ids, correlations or None, ids, whether any event
        had an argument set, dur ns or None), or None to have msgspec decode them. `ts`: (ns,
        µs) arrays where every ts is Kineto's form (`scan_fixed3`), else their texts joined by
        ","; dur ns where every dur is absent (0) or read exactly here (`parse_dur_ns`)."""
        cdef const unsigned char *s = &buf[0] if buf.shape[0] else NULL
        cdef Py_ssize_t i, n = 0, size = cut - pos
        cdef bint any_corr = False, any_args = False
        if size <= 0 or cut > buf.shape[0]:
            return None
        clean_vector_state()  # whatever ran before (an inflate) left the vector registers
        self._grow(1024, 1 << 16, 4096)  # grown as the chunk needs (most hold a few hundred events of ~200 bytes)
        cdef Py_ssize_t text_end = 0
        self.ts_read = self.ts_expect
        while True:  # twice where a ts is found not in Kineto's form: the chunk again, its ts kept as text
            n, text_end, any_corr, any_args, self.dur_read, self.ts_fixed = 0, 0, False, False, True, True
            i = skip_ws(s, pos, cut)
            while i < cut:
                if n == self.cap:
                    self._grow(2 * n, 0, 0)
                i = self._event(s, i, cut, n, &text_end)
                if i < 0:
                    break
                if self.corrs[n] != NO_ID:
                    any_corr = True
                if self.refs[n] >= 0:
                    any_args = True
                n += 1
                i = skip_ws(s, i, cut)
                if i >= cut:
                    break
                if s[i] != 44:
                    return None
                i = skip_ws(s, i + 1, cut)
                if i >= cut:
                    return None  # a trailing comma
            if i == RETRY:
                self.ts_read = False  # keys and sets numbered so far are found again, in the same order
                continue
            if i < 0:
                return None
            break
        self.ts_expect = self.ts_read or self.ts_fixed  # after an odd ts, one chunk as text, then read again
        if n == 0:
            return None
        code = copied(self.codes, n, np.intp)
        dur = copied(self.durs, n, np.float64)
        ref = copied(self.refs, n, np.int32)
        ids = copied(self.ids, n, np.int64)
        corr = copied(self.corrs, n, np.int64) if any_corr else None
        if self.ts_read:
            ts = copied(self.ts_ns, n, np.int64), copied(self.ts_us, n, np.float64)
        else:
            ts = PyBytes_FromStringAndSize(self.text, text_end - 1 if text_end else 0)
        dur_ns = copied(self.dur_ns, n, np.int64) if self.dur_read else None
        return n, code, dur, ts, ref, corr, ids, any_args, dur_ns

    cdef Py_ssize_t _event(self, const unsigned char *s, Py_ssize_t i, Py_ssize_t end, Py_ssize_t n,
                           Py_ssize_t *text_end) except -2:
        """One event from `s[i]` into slot `n`: the index after it, -1 to refuse, RETRY when the
        chunk is reading its ts (`ts_read`) and this one is absent or not in Kineto's form."""
        cdef Py_ssize_t spans[10]  # (start, end) of ph, cat, name, pid, tid
        cdef Py_ssize_t ka, kb, va, vb
        cdef int seen = 0, bit
        cdef bint closed = False
        cdef double dur = NAN, us
        cdef int64_t ident = NO_ID, whole, frac, ts_whole = 0, ts_frac = 0
        cdef Py_ssize_t ts_a = -1, ts_b = -1
        self.dur_ns[n] = 0
        for bit in range(10):
            spans[bit] = -1
        self.corrs[n] = NO_ID
        self.refs[n] = -1
        if i >= end or s[i] != 123:
            return -1
        i = skip_ws(s, i + 1, end)
        if i < end and s[i] == 125:
            i += 1
        else:
            while not closed:
                va = member_key(s, i, end, &ka, &kb)
                if va < 0 or va >= end:
                    return -1
                bit = field_bit(s + ka, kb - ka)
                if seen & bit:
                    return -1  # a field twice: msgspec keeps the last, this step refuses
                seen |= bit
                if bit == F_TS and self.ts_read:  # Kineto's ts checked and read in one pass
                    vb = scan_fixed3(s, va, end, &ts_whole, &ts_frac)
                    if vb < 0:
                        return RETRY
                elif bit == F_DUR and (vb := scan_fixed3(s, va, end, &whole, &frac)) >= 0 and whole < 1000000000000:
                    dur = <double>(whole * 1000 + frac) / 1000.0  # as `parse_float`: 15 digits at most, Clinger's path
                    if whole * 1000 + frac < EXACT_DUR_NS:  # as `parse_dur_ns`
                        self.dur_ns[n] = whole * 1000 + frac
                    else:
                        self.dur_read = False
                elif bit == F_ARGS and s[va] == 123:
                    vb = self._args(s, va, end, n)  # checked as it is read: one pass over the arguments
                else:
                    vb = scan_value(s, va, end, 1)
                    if vb >= 0 and bit == F_DUR:
                        if not (s[va] == 45 or 48 <= s[va] <= 57) or not parse_float(s, va, vb, &dur):
                            return -1  # no plain number: msgspec's text-dur structs read it
                        if self.dur_read:
                            self.dur_read = parse_dur_ns(s, va, vb, &self.dur_ns[n])
                if vb < 0:
                    return -1
                if bit:
                    if bit == F_PH:
                        spans[0], spans[1] = va, vb
                    elif bit == F_CAT:
                        spans[2], spans[3] = va, vb
                    elif bit == F_NAME:
                        spans[4], spans[5] = va, vb
                    elif bit == F_PID:
                        spans[6], spans[7] = va, vb
                    elif bit == F_TID:
                        spans[8], spans[9] = va, vb
                    elif bit == F_TS:
                        ts_a, ts_b = va, vb
                    elif bit == F_ID:
                        if not self._ident(s, va, vb, &ident):
                            return -1
                    elif bit == F_ARGS:
                        if s[va] != 123 and s[va] != 110:  # an object (read above) or null (no arguments)
                            return -1
                i = member_next(s, vb, end, &closed)
                if i < 0:
                    return -1
        self.durs[n] = dur
        self.ids[n] = ident
        if self.ts_read:
            if ts_a < 0:
                return RETRY
            us = <double>ts_whole + <double>ts_frac / 1000.0  # as `exact_time` reads them (`_fixed`, `_parse`)
            self.ts_us[n] = us
            self.ts_ns[n] = ts_whole * 1000 + ts_frac if us <= MAX_TS_US else 0
        else:
            if text_end[0] + (ts_b - ts_a) + 6 > self.text_cap:
                self._grow(0, 2 * (text_end[0] + (ts_b - ts_a) + 6), 0)
            if ts_a < 0:
                self.ts_fixed = False
                memcpy(self.text + text_end[0], b"null,", 5)
                text_end[0] += 5
            else:
                if self.ts_fixed:
                    self.ts_fixed = scan_fixed3(s, ts_a, ts_b + 1, &whole, &frac) == ts_b
                memcpy(self.text + text_end[0], s + ts_a, ts_b - ts_a)
                text_end[0] += ts_b - ts_a
                self.text[text_end[0]] = 44
                text_end[0] += 1
        self.codes[n] = self._key_code(s, spans)
        if self.codes[n] < 0:
            return -1
        return i

    cdef int _ident(self, const unsigned char *s, Py_ssize_t a, Py_ssize_t b, int64_t *out) except -1:
        """An event's `id` as `json_decoders.link_id` makes it: plain integers as they are,
        text through `link_id`, null none; floats and the rest refused."""
        if s[a] == 110:
            out[0] = NO_ID
            return True
        if s[a] == 34:
            value = self.link_id(self.str_decoder(PyBytes_FromStringAndSize(<const char *>s + a, b - a)))
            out[0] = value
            return True
        return parse_int(s, a, b, out)

    cdef Py_ssize_t _key_code(self, const unsigned char *s, Py_ssize_t *spans) except -2:
        """The code of the event's (ph, cat, name, pid, tid), looked up by their JSON texts
        (absent: "" for ph, null for the rest); a new text made into its key by msgspec."""
        cdef Py_ssize_t k, at = 1, a, b, need = 32
        for k in range(5):
            need += spans[2 * k + 1] - spans[2 * k]
        if need > self.scratch_cap:
            self._grow(0, 0, need)
        cdef char *out = self.scratch
        out[0] = 91  # "["
        for k in range(5):
            a, b = spans[2 * k], spans[2 * k + 1]
            if a < 0:
                if k == 0:
                    memcpy(out + at, b'""', 2)
                    at += 2
                else:
                    memcpy(out + at, b"null", 4)
                    at += 4
            else:
                memcpy(out + at, s + a, b - a)
                at += b - a
            out[at] = 44 if k < 4 else 93  # "," or "]"
            at += 1
        cdef uint64_t h = hash_bytes(out, at)
        cdef int64_t hit = self.key_table.get(out, at, h)
        if hit != MISSING:
            return hit
        try:
            key = self.key_decoder(PyBytes_FromStringAndSize(out, at))
        except (ValueError, TypeError):  # msgspec's DecodeError and ValidationError are ValueErrors
            return -1
        code = self.keys[key]
        self.key_table.put(out, at, h, code)
        return code

    cdef Py_ssize_t _args(self, const unsigned char *s, Py_ssize_t i, Py_ssize_t end, Py_ssize_t n) except -2:
        """An `args` object from `s[i]` into slot `n`, checked as it is read: its argument set
        encoded as msgspec encodes `json_decoders.Args` (the SEL keys' raw values, in SEL order,
        the correlation left out) and its id; its correlation. The index after it, -1 to refuse."""
        cdef Py_ssize_t va[MAX_SEL]
        cdef Py_ssize_t vb[MAX_SEL]
        cdef Py_ssize_t ka, kb, klen, k, at, a, b, found = 0
        cdef bint closed = False, corr_seen = False
        cdef int64_t corr
        for k in range(N_SEL):
            va[k] = -1
        i = skip_ws(s, i + 1, end)
        if i < end and s[i] == 125:
            i += 1
        else:
            while not closed:
                a = member_key(s, i, end, &ka, &kb)
                if a < 0:
                    return -1
                klen = kb - ka
                i = scan_value(s, a, end, 2)
                if i < 0:
                    return -1
                if klen == 11 and memcmp(s + ka, b"correlation", 11) == 0:
                    if corr_seen or not parse_int(s, a, i, &corr):
                        return -1  # twice, or text / float / null: msgspec's quirks are its own
                    corr_seen = True
                    self.corrs[n] = corr
                elif klen < 16:
                    k = SEL_FIRST[klen]
                    while k >= 0:
                        if s[ka] == SEL_NAMES[k][0] and memcmp(s + ka, SEL_NAMES[k], klen) == 0:
                            if va[k] >= 0:
                                return -1
                            va[k], vb[k] = a, i
                            found += 1
                            break
                        k = SEL_NEXT[k]
                i = member_next(s, i, end, &closed)
                if i < 0:
                    return -1
        end = i
        if not found:
            return end  # "{}": no arguments
        out = self.scratch
        at = 1
        out[0] = 123  # "{"
        for k in range(N_SEL):
            if va[k] < 0:
                continue
            a, b = va[k], vb[k]
            if at + SEL_LENS[k] + (b - a) + 8 > self.scratch_cap:
                self._grow(0, 0, at + SEL_LENS[k] + (b - a) + 64)
                out = self.scratch
            out[at] = 34
            memcpy(out + at + 1, SEL_NAMES[k], SEL_LENS[k])
            at += SEL_LENS[k] + 1
            out[at] = 34
            out[at + 1] = 58
            at += 2
            memcpy(out + at, s + a, b - a)
            at += b - a
            out[at] = 44
            at += 1
        out[at - 1] = 125  # the last "," becomes "}"
        cdef uint64_t h = hash_bytes(out, at)
        cdef int64_t hit = self.set_table.get(out, at, h)
        if hit == MISSING:
            hit = self.sets[PyBytes_FromStringAndSize(out, at)]  # `ArgSets.__missing__` numbers a new set
            self.set_table.put(out, at, h, hit)
        self.refs[n] = <int32_t>hit
        return end
