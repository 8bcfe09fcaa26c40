# A hash table from byte strings to integers, in C, for `traces/chunk_scan.pyx` (included there):
# an event's key text -> its code, an encoded argument set -> its id, found with no Python
# object made. The texts live in one arena; it stops taking new ones past ARENA_MAX (a trace
# of that many distinct keys or sets is refused chunk by chunk, and msgspec reads it).
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

cdef enum:
    ARENA_MAX = 256 << 20
    MISSING = -2  # no entry (codes are >= 0, set ids >= -1)

cdef struct Slot:
    uint64_t hash  # 0: empty
    Py_ssize_t at, size
    int64_t value


cdef inline uint64_t hash_bytes(const char *p, Py_ssize_t n) noexcept nogil:
    """A 64-bit hash, 8 bytes a step (multiply and fold); never 0."""
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL ^ <uint64_t>n, w = 0
    while n >= 8:
        memcpy(&w, p, 8)
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL
        h ^= h >> 31
        p += 8
        n -= 8
    if n:
        w = 0
        memcpy(&w, p, n)
        h = (h ^ w) * 0x94D049BB133111EBULL
        h ^= h >> 29
    return h | 1


cdef class ByteTable:
    cdef Slot *slots
    cdef Py_ssize_t mask, used, arena_used, arena_cap
    cdef char *arena

    def __cinit__(self):
        self.mask = 1023
        self.slots = <Slot *>PyMem_Malloc((self.mask + 1) * sizeof(Slot))
        if not self.slots:
            raise MemoryError()
        memset(self.slots, 0, (self.mask + 1) * sizeof(Slot))

    def __dealloc__(self):
        PyMem_Free(self.slots)
        PyMem_Free(self.arena)

    cdef inline int64_t get(self, const char *p, Py_ssize_t n, uint64_t h) noexcept:
        cdef Py_ssize_t k = h & self.mask
        cdef Slot *slot
        while True:
            slot = &self.slots[k]
            if slot.hash == 0:
                return MISSING
            if slot.hash == h and slot.size == n and memcmp(self.arena + slot.at, p, n) == 0:
                return slot.value
            k = (k + 1) & self.mask

    cdef bint put(self, const char *p, Py_ssize_t n, uint64_t h, int64_t value) except -1:
        """Add a text that `get` did not find; False when the arena is full (nothing added)."""
        cdef Py_ssize_t k
        if self.arena_used + n > self.arena_cap:
            if self.arena_used + n > ARENA_MAX:
                return False
            self.arena_cap = max(self.arena_used + n, 2 * self.arena_cap, 1 << 16)
            self.arena = <char *>PyMem_Realloc(self.arena, self.arena_cap)
            if not self.arena:
                raise MemoryError()
        if 2 * (self.used + 1) > self.mask:
            self._rehash()
        memcpy(self.arena + self.arena_used, p, n)
        k = h & self.mask
        while self.slots[k].hash != 0:
            k = (k + 1) & self.mask
        self.slots[k] = Slot(h, self.arena_used, n, value)
        self.arena_used += n
        self.used += 1
        return True

    cdef int _rehash(self) except -1:
        cdef Slot *old = self.slots
        cdef Py_ssize_t old_size = self.mask + 1, k, j
        self.slots = <Slot *>PyMem_Malloc(2 * old_size * sizeof(Slot))
        if not self.slots:
            self.slots = old
            raise MemoryError()
        memset(self.slots, 0, 2 * old_size * sizeof(Slot))
        self.mask = 2 * old_size - 1
        for k in range(old_size):
            if old[k].hash != 0:
                j = old[k].hash & self.mask
                while self.slots[j].hash != 0:
                    j = (j + 1) & self.mask
                self.slots[j] = old[k]
        PyMem_Free(old)
        return 0
