# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A gzip file inflated by ISA-L straight into the Chrome stream's text buffer
(`traces.stream_source.TraceStream.read_into`): no piece made per 128 KiB and copied in, which
is what the gzipped read paid over the plain one beyond inflating (bench/README.md, "The
GPU-shaped read's time"). Built by `scripts/setup.sh` against Debian's libisal (`libisal-dev`);
where it is not built, `traces.bounded_read.gunzip_pieces` inflates in pieces, with the same
members, padding and errors: concatenated members read as one stream, zero bytes between or
after them skipped (as `gzip -d` does), anything else after a member refused, a member cut
short refused as truncated.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy


cdef extern from "isa-l/igzip_lib.h":
    cdef enum isal_block_state:
        ISAL_BLOCK_FINISH
    struct inflate_state:
        uint8_t *next_out
        uint32_t avail_out
        uint8_t *next_in
        uint64_t read_in
        uint32_t avail_in
        int read_in_length
        isal_block_state block_state
        uint32_t crc_flag
    void isal_inflate_init(inflate_state *state) nogil
    void isal_inflate_reset(inflate_state *state) nogil
    int isal_inflate(inflate_state *state) nogil
    int ISAL_GZIP
    int ISAL_DECOMP_OK
    int ISAL_INVALID_BLOCK
    int ISAL_INVALID_SYMBOL
    int ISAL_INVALID_LOOKBACK
    int ISAL_INVALID_WRAPPER
    int ISAL_UNSUPPORTED_METHOD
    int ISAL_INCORRECT_CHECKSUM


cdef enum:
    MAX_HEADER = 64 << 20  # a longer gzip header (its name, comment or extra field) is refused


class GzipDamaged(ValueError):
    """The file is not valid gzip from some point on; the message says what was found."""


class GzipTruncated(ValueError):
    """The file ends inside a member."""


_ERRORS = {ISAL_INVALID_BLOCK: "invalid deflate block", ISAL_INVALID_SYMBOL: "invalid deflate symbol",
           ISAL_INVALID_LOOKBACK: "invalid lookback distance", ISAL_INVALID_WRAPPER: "invalid gzip header",
           ISAL_UNSUPPORTED_METHOD: "unsupported compression method", ISAL_INCORRECT_CHECKSUM: "incorrect data check"}


cdef Py_ssize_t header_length(const uint8_t *p, Py_ssize_t n) noexcept:
    """The length of the gzip header at `p` (RFC 1952: the fixed 10 bytes, then the optional
    extra field, name, comment and header CRC its flags announce), -1 while `n` bytes do not
    hold all of it. ISA-L must be given a member's whole header in one call: it does not keep
    a header's fields across calls (intel/isa-l#224), and one split across reads decodes wrong."""
    cdef Py_ssize_t at = 10
    cdef uint8_t flags
    cdef int bit
    if n < 10:
        return -1
    flags = p[3]
    if flags & 0x04:  # FEXTRA: a 2-byte length, then that many bytes
        if n < at + 2:
            return -1
        at += 2 + (p[at] | (p[at + 1] << 8))
    for bit in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            while at < n and p[at] != 0:
                at += 1
            if at >= n:
                return -1
            at += 1
    if flags & 0x02:  # FHCRC
        at += 2
    return at if at <= n else -1


cdef class GzipInto:
    """One gzip file's members inflated in order into the buffers `read_into` is given.
    `read(n)` is the file's own read (compressed bytes; empty at its end)."""

    cdef inflate_state *state
    cdef object read
    cdef Py_ssize_t chunk
    cdef bytes data  # the compressed bytes `state.next_in` points into (kept alive here)
    cdef bint in_member
    cdef bint ended

    def __cinit__(self):
        self.state = <inflate_state *>PyMem_Malloc(sizeof(inflate_state))
        if self.state is NULL:
            raise MemoryError()
        isal_inflate_init(self.state)
        self.state.avail_in = 0
        self.data = b""

    def __init__(self, read, Py_ssize_t chunk=1 << 20):
        self.read, self.chunk = read, chunk

    def __dealloc__(self):
        PyMem_Free(self.state)

    cdef bint _refill(self) except -1:
        """More compressed bytes in; False at the end of the file."""
        data = self.read(self.chunk)
        if not data:
            return False
        self._hold(bytes(data))
        return True

    cdef void _hold(self, bytes data):
        self.data = data
        self.state.next_in = <uint8_t *>PyBytes_AS_STRING(data)
        self.state.avail_in = <uint32_t>PyBytes_GET_SIZE(data)

    cdef int _member_end(self) except -1:
        """A member finished: the bytes ISA-L read ahead into its bit buffer go back in front
        of the input, for the next member (or the padding)."""
        cdef int held = self.state.read_in_length // 8
        cdef uint64_t bits
        cdef char ahead[8]
        cdef const uint8_t *start = <const uint8_t *>PyBytes_AS_STRING(self.data)
        if held:
            bits = self.state.read_in >> (self.state.read_in_length % 8)
            memcpy(ahead, &bits, held)
            if self.state.next_in - start >= held and memcmp(self.state.next_in - held, ahead, held) == 0:
                self.state.next_in -= held  # still in the input held: step back over them (no copy, as
                self.state.avail_in += held  # a file of many small members, bgzip's, ends one at every 64 KiB)
            else:  # read in with the previous input: the rest of this input copied behind them
                rest = PyBytes_FromStringAndSize(<char *>self.state.next_in, self.state.avail_in)
                self._hold(PyBytes_FromStringAndSize(ahead, held) + rest)
        self.state.read_in = 0
        self.state.read_in_length = 0
        self.in_member = False
        return 0

    cdef bint _next_member(self) except -1:
        """Skip zero padding; start the next member at a gzip magic. False at the file's end."""
        cdef uint8_t *p
        cdef uint32_t n
        while True:
            while self.state.avail_in and self.state.next_in[0] == 0:
                self.state.next_in += 1
                self.state.avail_in -= 1
            if self.state.avail_in:
                break
            if not self._refill():
                return False
        p = self.state.next_in
        if p[0] != 0x1F or (self.state.avail_in > 1 and p[1] != 0x8B):
            raise GzipDamaged("data after a member that is not a gzip member")
        while header_length(self.state.next_in, self.state.avail_in) < 0:  # the whole header held (see there)
            if self.state.avail_in > MAX_HEADER:
                raise GzipDamaged("a gzip header longer than 64 MiB")
            more = self.read(self.chunk)
            if not more:
                break  # the member is cut in its header: ISA-L asks for more, and there is none
            self._hold(PyBytes_FromStringAndSize(<char *>self.state.next_in, self.state.avail_in) + bytes(more))
        p = self.state.next_in
        n = self.state.avail_in
        isal_inflate_reset(self.state)  # clears the member's state, not where the input is
        self.state.next_in = p
        self.state.avail_in = n
        self.state.read_in = 0
        self.state.read_in_length = 0
        self.state.crc_flag = ISAL_GZIP
        self.in_member = True
        return True

    def read_into(self, unsigned char[::1] room):
        """Inflate into `room`: how many bytes were written (0 only at the end of the file)."""
        cdef Py_ssize_t size = room.shape[0]
        cdef uint32_t before
        cdef int ret
        if size == 0 or self.ended:
            return 0
        while True:
            if not self.in_member and not self._next_member():
                self.ended = True
                return 0
            if self.state.avail_in == 0 and not self._refill():
                raise GzipTruncated("it ends before the end of the compressed data")
            before = <uint32_t>min(size, 0xFFFFFFFF)
            self.state.next_out = &room[0]
            self.state.avail_out = before
            with nogil:
                ret = isal_inflate(self.state)
            if ret != ISAL_DECOMP_OK:
                raise GzipDamaged(_ERRORS.get(ret, f"ISA-L error {ret}"))
            if self.state.block_state == ISAL_BLOCK_FINISH:
                self._member_end()
            if self.state.avail_out != before:
                return before - self.state.avail_out
