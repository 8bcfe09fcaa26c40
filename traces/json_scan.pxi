# JSON lexing for `traces/chunk_scan.pyx` (included there): values checked against RFC 8259's
# grammar and skipped, strings checked (escapes, strict UTF-8), numbers read as msgspec reads
# them. Every function answers -1 (or False) for what it will not vouch for: the chunk is refused.
from libc.math cimport isinf
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp, memcpy


cdef extern from *:
    int ctz64 "__builtin_ctzll"(unsigned long long) nogil

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0

cdef double MAX_TS_US = 4.5e15  # `exact_time.MAX_TS_US`: |ts| past it has no ns (2**62 ns)
cdef int64_t EXACT_DUR_NS = (<int64_t>1) << 41  # a 3-decimal dur under it: `exact_time.float_ns` always proves it

cdef enum:
    MAX_DEPTH = 64  # deeper values are refused (msgspec's own limit is far above: never reached here)

cdef double POW10[23]
POW10[0] = 1.0
for _k in range(1, 23):
    POW10[_k] = POW10[_k - 1] * 10.0  # exact: 10**22 is the largest power of ten a double holds exactly

# SWAR masks (8 bytes as one word, little-endian: the first byte is the lowest), C constants so
# the compiler folds them into the instructions (module variables were loaded from memory each use)
cdef extern from *:
    """
    #define SWAR_ONES 0x0101010101010101ULL
    #define SWAR_HIGHS 0x8080808080808080ULL
    #define SWAR_QUOTES 0x2222222222222222ULL
    #define SWAR_SLASHES 0x5C5C5C5C5C5C5C5CULL
    #define SWAR_SPACES 0x2020202020202020ULL
    #define SWAR_NEWLINES 0x0A0A0A0A0A0A0A0AULL
    #define SWAR_TABS 0x0909090909090909ULL
    #define SWAR_RETURNS 0x0D0D0D0D0D0D0D0DULL
    #define SWAR_LOWS 0x7F7F7F7F7F7F7F7FULL
    #define SWAR_ZEROS 0x3030303030303030ULL
    #define SWAR_TEN_UP 0x7676767676767676ULL
    """
    const uint64_t HIGHS "SWAR_HIGHS"
    const uint64_t SPACES "SWAR_SPACES"
    const uint64_t NEWLINES "SWAR_NEWLINES"
    const uint64_t TABS "SWAR_TABS"
    const uint64_t RETURNS "SWAR_RETURNS"
    const uint64_t LOWS "SWAR_LOWS"
    const uint64_t ZEROS "SWAR_ZEROS"
    const uint64_t TEN_UP "SWAR_TEN_UP"

# A string's stops (a quote, a backslash, a control or a non-ASCII byte) found 16 bytes at a time
# with SSE2 (every x86-64 CPU has it: bytes as signed, "below 0x20" catches both controls and
# non-ASCII), elsewhere 8 at a time with the masks above. Exact: the first stop, or `end`.
cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    static inline Py_ssize_t json_string_stop(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) {
        const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\\\'), space = _mm_set1_epi8(0x20);
        while (i + 16 <= end) {
            __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                                       _mm_cmplt_epi8(x, space));
            int m = _mm_movemask_epi8(hit);
            if (m) return i + __builtin_ctz((unsigned)m);
            i += 16;
        }
        for (; i < end; i++) {
            unsigned char c = s[i];
            if (c == '"' || c == '\\\\' || c < 0x20 || c >= 0x80) return i;
        }
        return end;
    }
    #else
    static inline Py_ssize_t json_string_stop(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) {
        uint64_t w;
        while (i + 8 <= end) {  /* a borrow may flag bytes after a flagged one: the first is exact */
            memcpy(&w, s + i, 8);
            w = ((((w ^ SWAR_QUOTES) - SWAR_ONES) & ~(w ^ SWAR_QUOTES)) | (((w ^ SWAR_SLASHES) - SWAR_ONES) & ~(w ^ SWAR_SLASHES))
                 | ((w - SWAR_SPACES) & ~w) | w) & SWAR_HIGHS;
            if (w) return i + (__builtin_ctzll(w) >> 3);
            i += 8;
        }
        for (; i < end; i++) {
            unsigned char c = s[i];
            if (c == '"' || c == '\\\\' || c < 0x20 || c >= 0x80) return i;
        }
        return end;
    }
    #endif
    """
    Py_ssize_t string_stop "json_string_stop"(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) noexcept nogil


cdef inline bint is_ws(unsigned char c) noexcept nogil:
    return c == 32 or c == 10 or c == 13 or c == 9


cdef inline uint64_t zero_bytes(uint64_t x) noexcept nogil:
    """The high bit of each byte of `x` that is 0, exactly (no borrow between bytes)."""
    return ~(((x & LOWS) + LOWS) | x) & HIGHS


cdef inline Py_ssize_t skip_ws(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """The first non-whitespace index from `i` (or `end`): a pretty-printed trace's indentation
    8 bytes at a time."""
    cdef uint64_t w, ws
    if i < end and s[i] > 32:  # a token at once (every whitespace byte is 32 or less): one compare
        return i
    if i + 1 < end and s[i] == 32 and s[i + 1] > 32:  # one space (after ":" and ",")
        return i + 1
    while i + 8 <= end:
        memcpy(&w, s + i, 8)
        ws = zero_bytes(w ^ SPACES) | zero_bytes(w ^ NEWLINES) | zero_bytes(w ^ TABS) | zero_bytes(w ^ RETURNS)
        if ws != HIGHS:
            return i + (ctz64(~ws & HIGHS) >> 3)
        i += 8
    while i < end and is_ws(s[i]):
        i += 1
    return i


cdef inline int hex_value(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef inline Py_ssize_t scan_string(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, bint *escaped) noexcept nogil:
    """`s[i]` is a string's opening quote: the index after its closing one, -1 to refuse
    (control characters, bad or surrogate escapes, invalid UTF-8, the chunk's end). Plain
    ASCII up to the first stop (`string_stop`); the rest in `string_rest`."""
    i = string_stop(s, i + 1, end)
    if i < end and s[i] == 34:
        return i + 1
    return string_rest(s, i, end, escaped)


cdef Py_ssize_t string_rest(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, bint *escaped) noexcept nogil:
    """`scan_string` from `s[i]`, inside the string."""
    cdef unsigned char c, c1
    cdef int k, h, code
    while i < end:
        i = string_stop(s, i, end)
        if i >= end:
            break
        c = s[i]
        if c == 34:
            return i + 1
        if c == 92:
            escaped[0] = True
            if i + 1 >= end:
                return -1
            c = s[i + 1]
            if c == 117:  # \uXXXX
                if i + 6 > end:
                    return -1
                code = 0
                for k in range(2, 6):
                    h = hex_value(s[i + k])
                    if h < 0:
                        return -1
                    code = code * 16 + h
                if 0xD800 <= code <= 0xDFFF:
                    return -1
                i += 6
            elif c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114 or c == 116:
                i += 2
            else:
                return -1
        elif c < 0x20:
            return -1
        elif c < 0x80:
            i += 1
        else:  # strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF
            if 0xC2 <= c <= 0xDF:
                k = 1
            elif 0xE0 <= c <= 0xEF:
                k = 2
            elif 0xF0 <= c <= 0xF4:
                k = 3
            else:
                return -1
            if i + k >= end:
                return -1
            c1 = s[i + 1]
            if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F) or (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F):
                return -1
            for h in range(1, k + 1):
                if s[i + h] & 0xC0 != 0x80:
                    return -1
            i += k + 1
    return -1


cdef inline Py_ssize_t digits_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """The first index from `i` that holds no ASCII digit (or `end`), 8 bytes at a time: a byte
    XOR "0" is a digit's value (0-9) or 10 and more, and 10 and more plus 0x76 sets the byte's
    high bit without carrying into the next one. One branch per number instead of one per digit."""
    cdef uint64_t w, x
    while i + 8 <= end:
        memcpy(&w, s + i, 8)
        x = w ^ ZEROS
        x = (((x & LOWS) + TEN_UP) | x) & HIGHS
        if x:
            return i + (ctz64(x) >> 3)
        i += 8
    while i < end and 48 <= s[i] <= 57:
        i += 1
    return i


cdef inline Py_ssize_t scan_number(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """A JSON number from `s[i]` (RFC 8259's grammar): the index after it, -1 to refuse."""
    if i < end and s[i] == 45:
        i += 1
    if i >= end:
        return -1
    if s[i] == 48:
        i += 1
    elif 49 <= s[i] <= 57:
        i = digits_end(s, i + 1, end)
    else:
        return -1
    if i < end and s[i] == 46:
        i += 1
        if i >= end or not 48 <= s[i] <= 57:
            return -1
        i = digits_end(s, i + 1, end)
    if i < end and (s[i] == 101 or s[i] == 69):
        i += 1
        if i < end and (s[i] == 43 or s[i] == 45):
            i += 1
        if i >= end or not 48 <= s[i] <= 57:
            return -1
        i = digits_end(s, i + 1, end)
    return i


cdef inline Py_ssize_t scan_word(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, const char *word, Py_ssize_t n) noexcept nogil:
    if i + n > end or memcmp(s + i, word, n) != 0:
        return -1
    return i + n


cdef Py_ssize_t skip_value(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, int depth) noexcept nogil:
    """Any JSON value from `s[i]`, checked: the index after it, -1 to refuse."""
    cdef bint escaped = False
    cdef unsigned char c
    if i >= end:
        return -1
    c = s[i]
    if c == 34:
        return scan_string(s, i, end, &escaped)
    if c == 123 or c == 91:
        if depth >= MAX_DEPTH:
            return -1
        i = skip_ws(s, i + 1, end)
        if i < end and s[i] == c + 2:  # "}" or "]"
            return i + 1
        while True:
            if c == 123:
                if i >= end or s[i] != 34:
                    return -1
                i = scan_string(s, i, end, &escaped)
                if i < 0:
                    return -1
                i = skip_ws(s, i, end)
                if i >= end or s[i] != 58:
                    return -1
                i = skip_ws(s, i + 1, end)
            i = skip_value(s, i, end, depth + 1)
            if i < 0:
                return -1
            i = skip_ws(s, i, end)
            if i >= end:
                return -1
            if s[i] == c + 2:
                return i + 1
            if s[i] != 44:
                return -1
            i = skip_ws(s, i + 1, end)
    if c == 116:
        return scan_word(s, i, end, b"true", 4)
    if c == 102:
        return scan_word(s, i, end, b"false", 5)
    if c == 110:
        return scan_word(s, i, end, b"null", 4)
    return scan_number(s, i, end)


cdef inline Py_ssize_t scan_value(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, int depth) noexcept nogil:
    """`skip_value` with its commonest values, a string or a number, taken inline (it is a call:
    it recurses)."""
    cdef bint escaped = False
    if i < end:
        if s[i] == 34:
            return scan_string(s, i, end, &escaped)
        if 48 <= s[i] <= 57 or s[i] == 45:
            return scan_number(s, i, end)
    return skip_value(s, i, end, depth)


cdef inline Py_ssize_t scan_fixed3(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, int64_t *whole,
                                   int64_t *frac) noexcept nogil:
    """A JSON number in Kineto's form at `s[i]`, checked and read in one pass: 1 to 16 digits (no
    leading zero but a lone one), ".", three digits, then no further digit or exponent. The
    index after it, with its whole and fraction parts; -1 for any other form (the caller then
    skips it as any value, `skip_value`, and reads it another way)."""
    cdef Py_ssize_t a = i
    cdef int64_t w = 0
    if i < end and s[i] == 48:
        i += 1
    else:
        while i < end and 48 <= s[i] <= 57:
            w = w * 10 + (s[i] - 48)
            i += 1
    if i == a or i - a > 16 or i + 4 >= end or s[i] != 46:
        return -1
    if not (48 <= s[i + 1] <= 57 and 48 <= s[i + 2] <= 57 and 48 <= s[i + 3] <= 57):
        return -1
    if 48 <= s[i + 4] <= 57 or s[i + 4] == 101 or s[i + 4] == 69:
        return -1
    whole[0] = w
    frac[0] = (s[i + 1] - 48) * 100 + (s[i + 2] - 48) * 10 + (s[i + 3] - 48)
    return i + 4


cdef inline bint parse_dur_ns(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, int64_t *ns) noexcept nogil:
    """A dur in `s[a:b]` (a checked JSON number) of 1 to 15 digits and at most three fraction
    digits, no sign, no exponent, under EXACT_DUR_NS (2**41 ns, 36 minutes): its exact ns,
    which `exact_time.float_ns` proves from its float. False for any other form: `float_ns`
    (and the text where it cannot prove it) decides, as before."""
    cdef int64_t whole = 0, frac = 0, scale = 1000
    cdef Py_ssize_t k = a
    while k < b and 48 <= s[k] <= 57:
        whole = whole * 10 + (s[k] - 48)
        k += 1
    if k == a or k - a > 15:
        return False
    if k < b:
        if s[k] != 46 or b - k - 1 > 3:  # an exponent, or a fourth fraction digit
            return False
        k += 1
        while k < b:
            if not 48 <= s[k] <= 57:
                return False
            scale //= 10
            frac += (s[k] - 48) * scale
            k += 1
    whole = whole * 1000 + frac
    if whole >= EXACT_DUR_NS:
        return False
    ns[0] = whole
    return True


cdef bint parse_int(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, int64_t *out) noexcept nogil:
    """An integer literal of at most 18 digits (no fraction, no exponent) in `s[a:b]`."""
    cdef bint neg = s[a] == 45
    cdef int64_t v = 0
    if neg:
        a += 1
    if b - a > 18 or b <= a:
        return False
    while a < b:
        if not 48 <= s[a] <= 57:
            return False
        v = v * 10 + (s[a] - 48)
        a += 1
    out[0] = -v if neg else v
    return True


cdef int parse_float(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, double *out) except -1:
    """A checked JSON number in `s[a:b]` as msgspec makes a float of it: integers of up to 15
    digits exactly (as msgspec's int path: "-0" is 0.0), decimals by Clinger's exact fast path
    (15 significant digits, |exponent| <= 22) or Python's correctly rounded parse; False for
    what may differ (longer integers, exponents past ±300, infinities)."""
    cdef bint neg = s[a] == 45
    cdef uint64_t m = 0
    cdef int digits = 0, exp10 = 0, e = 0, esign = 1
    cdef bint is_int = True
    cdef Py_ssize_t i = a + 1 if neg else a
    cdef char text[64]
    cdef double v
    while i < b and 48 <= s[i] <= 57:
        if m or s[i] != 48:
            if digits < 19:
                m = m * 10 + (s[i] - 48)
            else:
                exp10 += 1
            digits += 1
        i += 1
    if i < b and s[i] == 46:
        is_int = False
        i += 1
        while i < b and 48 <= s[i] <= 57:
            if m or s[i] != 48:
                if digits < 19:
                    m = m * 10 + (s[i] - 48)
                    exp10 -= 1
                digits += 1
            else:
                exp10 -= 1
            i += 1
    if i < b:
        is_int = False
        i += 1
        if s[i] == 45 or s[i] == 43:
            esign = -1 if s[i] == 45 else 1
            i += 1
        while i < b:
            if e < 10000:
                e = e * 10 + (s[i] - 48)
            i += 1
        exp10 += esign * e
    if is_int:
        if digits > 15:
            return False
        v = <double>m
        out[0] = -v if neg and m else v
        return True
    if digits <= 15 and -22 <= exp10 <= 22:
        v = <double>m
        v = v * POW10[exp10] if exp10 >= 0 else v / POW10[-exp10]
        out[0] = -v if neg else v
        return True
    if exp10 + digits > 300 or exp10 + digits < -300 or b - a >= 63:
        return False
    memcpy(text, s + a, b - a)
    text[b - a] = 0
    v = PyOS_string_to_double(text, NULL, NULL)
    if isinf(v):
        return False
    out[0] = v
    return True

