# The names `traces/chunk_scan.pyx` (which includes this) looks for: an event's fields, as
# `stream_events._struct` has them, and the argument keys an argument set keeps
# (`json_decoders.SEL`), found by length first, then by their bytes.
from traces.json_decoders import SEL as _SEL

cdef enum:
    MAX_SEL = 32

# `json_decoders.SEL`, in its order, read from there (one list for both paths): the argument keys
# an argument set holds; `_SEL_BYTES` keeps the bytes that SEL_NAMES points into alive
_SEL_BYTES = [key.encode() for key in _SEL]
if len(_SEL_BYTES) > MAX_SEL or max(map(len, _SEL_BYTES)) > 15:
    raise ImportError("json_decoders.SEL no longer fits the compiled step's tables")  # msgspec reads every chunk
cdef Py_ssize_t N_SEL = len(_SEL_BYTES)
cdef const char *SEL_NAMES[MAX_SEL]
cdef Py_ssize_t SEL_LENS[MAX_SEL]
cdef int SEL_FIRST[16]  # per key length, the first SEL key of that length (-1: none) ...
cdef int SEL_NEXT[MAX_SEL]  # ... and the next one after it: an argument key is compared with these only
for _k in range(16):
    SEL_FIRST[_k] = -1
for _k in reversed(range(N_SEL)):
    SEL_NAMES[_k] = <bytes>_SEL_BYTES[_k]
    SEL_LENS[_k] = len(_SEL_BYTES[_k])
    SEL_NEXT[_k], SEL_FIRST[SEL_LENS[_k]] = SEL_FIRST[SEL_LENS[_k]], _k

# the event fields (`stream_events._struct`), as bits of a mask of those seen
cdef enum:
    F_PH = 1
    F_CAT = 2
    F_NAME = 4
    F_PID = 8
    F_TID = 16
    F_TS = 32
    F_DUR = 64
    F_ARGS = 128
    F_ID = 256


cdef inline bint same(const unsigned char *p, const char *word, int n) noexcept nogil:
    """`p[:n]` is `word` (a field name: a few bytes, compared without a call)."""
    cdef int k
    for k in range(n):
        if p[k] != <unsigned char>word[k]:
            return False
    return True


cdef inline int field_bit(const unsigned char *k, Py_ssize_t klen) noexcept nogil:
    """The F_ bit of an event's member key `k[:klen]`, 0 for a field the step does not keep."""
    if klen == 2:
        if k[0] == 112 and k[1] == 104:
            return F_PH
        if k[0] == 116 and k[1] == 115:
            return F_TS
        if k[0] == 105 and k[1] == 100:
            return F_ID
    elif klen == 3:
        if same(k, b"cat", 3):
            return F_CAT
        if same(k, b"pid", 3):
            return F_PID
        if same(k, b"tid", 3):
            return F_TID
        if same(k, b"dur", 3):
            return F_DUR
    elif klen == 4:
        if same(k, b"name", 4):
            return F_NAME
        if same(k, b"args", 4):
            return F_ARGS
    return 0
