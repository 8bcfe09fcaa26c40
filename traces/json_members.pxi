# An object's members one at a time, for `traces/chunk_scan.pyx`'s two object walks (an event,
# its arguments), over `json_scan.pxi`'s lexing (included before this): a key and its colon, then
# the "," or "}" after a value. Like the lexing, -1 refuses the chunk.


cdef inline Py_ssize_t member_key(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, Py_ssize_t *ka,
                                  Py_ssize_t *kb) noexcept nogil:
    """An object member's key from `s[i]` (its opening quote), refused when escaped (msgspec
    matches a key after decoding its escapes): its text in `s[ka:kb]`; the index of its value, -1
    to refuse."""
    cdef bint escaped = False
    if i >= end or s[i] != 34:
        return -1
    ka[0] = i + 1
    i = scan_string(s, i, end, &escaped)
    if i < 0 or escaped:
        return -1
    kb[0] = i - 1
    i = skip_ws(s, i, end)
    if i >= end or s[i] != 58:
        return -1
    return skip_ws(s, i + 1, end)


cdef inline Py_ssize_t member_next(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, bint *closed) noexcept nogil:
    """After a member's value at `s[i]`: the next member's index after a ",", or the index after the
    object's "}" with `closed` set; -1 to refuse."""
    i = skip_ws(s, i, end)
    if i >= end:
        return -1
    if s[i] == 125:
        closed[0] = True
        return i + 1
    if s[i] != 44:
        return -1
    return skip_ws(s, i + 1, end)
