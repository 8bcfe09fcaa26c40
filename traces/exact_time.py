"""Chrome-trace times read exactly: a column of JSON number texts (µs) -> int64 nanoseconds.

Why text: Kineto writes `ts` as µs since the Unix epoch with a ns fraction
("1697051443123456.789", 19 significant digits; newer Kineto writes them relative to
`baseTimeNanoseconds`) and a float64 holds 15-16, so a float lands on a 256 ns grid and two
ops 100 ns apart may swap, nest or not. The decoders therefore keep each `ts` / `dur` as its
JSON text (msgspec.Raw on the fast path, the number's own text on the generic path), joined
by commas per column, and this module parses the column as decimal digits with numpy, no
float in between and no per-event Python: the integer part in two 8-digit groups (one
unaligned 8-byte load and three multiply-shift steps each, as simdjson does), the fraction
from the digits after the point.

The rule: a time is the decimal number the file states, times 1000, exactly; digits past the
third fraction digit (below 1 ns) round to the nearest ns, ties away from zero (the fourth
fraction digit decides: "0.0005" -> 1 ns, "-0.0005" -> -1 ns). Integers, fractions of any
length, negative numbers and exponent notation ("1.5e3", exact through `decimal`, the rare
slow path) all follow it, whatever the epoch.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import numpy.typing as npt

from traces.json_decoders import msgspec

MAX_TS_US = 4.5e15  # |ts| bound: 2**62 ns, so start + duration always fits int64 nanoseconds
MISSING = b"null"  # the token of a time the event does not have
NOT_A_NUMBER = b'"?"'  # the token of a value that is no JSON number
_COMMA, _DOT, _MINUS, _ZERO = ord(","), ord("."), ord("-"), ord("0")
_NUMBER_STARTS = (b"-", *(bytes([d]) for d in b"0123456789"), MISSING[:1])  # what a kept token starts with
_PAD = b"0" * 8  # before the text, so every 8-byte load ending in it starts inside the buffer
_KEEP = np.array([~((1 << 8 * (8 - k)) - 1) & (2**64 - 1) for k in range(9)], np.uint64)  # k digits: the k high bytes

if msgspec is not None:
    _TOKENS = msgspec.json.Decoder(list[msgspec.Raw])


def number_text(value: object) -> bytes:
    """The token for a value the generic (stdlib) path decoded: the number's own text where
    the decoder kept it (`ExactFloat`), an int's digits, MISSING or NOT_A_NUMBER."""
    if value is None:
        return MISSING
    text = getattr(value, "text", None)
    if isinstance(value, float) and isinstance(text, str):
        return text.encode()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value).encode()
    if isinstance(value, float) and not isinstance(value, bool):
        return repr(value).encode() if value == value and abs(value) != float("inf") else NOT_A_NUMBER
    return NOT_A_NUMBER


class ExactFloat(float):
    """A float that remembers the JSON text it was parsed from (the generic path's
    `float_hook` / `parse_float`), so `number_text` can hand times on exactly."""

    text: str


def exact_float(text: str) -> ExactFloat:
    value = ExactFloat(text)
    value.text = text
    return value


EXACT_NS = 2.0**49  # |ns| below which `float_ns` may trust a float (the proof there)
SLACK = 2.0**-10  # how far from an integer ns the float's product may land


def float_ns(us: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """(ns, exact) from float µs that the decoder parsed from the file's text: `ns` is the
    text's exact ns (the rule above) wherever `exact`; elsewhere (NaN, big, or off the ns
    grid) the text must be read.

    Why it holds: msgspec parses a decimal y to f = the nearest float (checked against
    CPython's correctly rounded `float`), so |f - y| <= u|y|, u = 2**-53; g = fl(f * 1000)
    adds at most u|f * 1000|, so |g - 1000y| <= (2u + u**2)|1000y| < 2**-51.99 |1000y|. Where
    |g| < 2**49 that is under 0.126 ns, and where moreover g lies within 2**-10 of an integer
    m, 1000y lies within 0.127 of m: m is 1000y's nearest integer and no tie, so the rule
    (round half away from zero, decided by the 4th fraction digit) gives m too, whatever the
    digits past the 3rd. A duration of up to 3 fraction digits (Kineto's) under 2**41 ns (36
    minutes) always qualifies (|g - 1000y| < 2**-10.99 there, and 1000y is m); a longer one
    may not (70305689300.46 µs does not), and anything else is left to the text."""
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 µs: inf, then not exact
        g = us * 1000.0
        m = np.rint(g)
        exact = (np.abs(g) < EXACT_NS) & (np.abs(g - m) <= SLACK)  # False for NaN
    return np.where(exact, m, 0.0).astype(np.int64), exact


def parse_chunks(chunks: list[tuple[int, int, bytes]], n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(ns, us) of `n` events from per-chunk texts (first event, events, comma-joined tokens),
    as `parse_times`. Chunks whose tokens may all be one width (Kineto's epoch ts: 16 digits,
    ".", 3 digits) are parsed together as a table of rows with no scan for commas (`_fixed`)."""
    groups: dict[int, list[tuple[int, int, bytes]]] = {}
    out: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None
    for c in chunks:
        width, rest = divmod(len(c[2]) + 1, c[1])
        groups.setdefault(width if rest == 0 else 0, []).append(c)
    for width, group in groups.items():
        text = b",".join(c[2] for c in group)
        k = sum(c[1] for c in group)
        got = _fixed(text, k, width) if width else None
        g_ns, g_us = got if got is not None else parse_times(text, k)
        if len(group) == len(chunks) and group[0][0] == 0 and k == n:
            return g_ns, g_us  # one group in order: every event (the usual case: nothing else allocated)
        if out is None:
            out = np.zeros(n, np.int64), np.full(n, np.nan)
        idx = np.concatenate([np.arange(a, a + m) for a, m, _ in group])
        out[0][idx], out[1][idx] = g_ns, g_us
    return out if out is not None else (np.zeros(n, np.int64), np.full(n, np.nan))


def _fixed(text: bytes, n: int, width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    """`parse_times` for `n` tokens of `width - 1` bytes each, every one digits, ".", three
    digits (None when that is not so): the rows are strided views of the text, the integer
    part two 8-byte loads per row, the fraction three bytes. Proof of the layout, in one pass
    over the rows: a comma at every row's end, a "." at its 4th byte from the end, and digits
    in every other byte (so no sign, exponent, second point or comma inside a token: the
    tokens are the rows). Three scans of the text (commas, points, exponents) did this before,
    ~1 % of a Kineto read."""
    size = width - 1
    digits = size - 4
    if not 1 <= digits <= 16 or len(text) != n * width - 1:
        return None
    buf = np.frombuffer(_PAD + _PAD + text + b",", np.uint8)
    rows = buf[2 * len(_PAD):].reshape(n, width)
    if not ((rows[:, size] == _COMMA).all() and (rows[:, digits] == _DOT).all()):
        return None
    body = rows[:, :size] - np.uint8(_ZERO)  # digits are 0..9, the point 254, anything else another value
    body[:, digits] = 0
    if int(body.max(initial=0)) > 9:
        return None
    at = 2 * len(_PAD)

    def word(end: int) -> npt.NDArray[np.uint64]:  # the 8 bytes before each row's byte `end`
        return np.ndarray((n,), "<u8", buf, at + end - 8, (width,))

    whole = _digits8(word(digits), min(digits, 8))
    if digits > 8:
        whole += _digits8(word(digits - 8), digits - 8) * 100_000_000
    frac = body[:, digits + 1].astype(np.int64) * 100 + body[:, digits + 2] * 10 + body[:, digits + 3]
    us = whole + frac / 1000.0
    return np.where(us <= MAX_TS_US, whole * 1000 + frac, 0), us


def _digits8(word: npt.NDArray[np.uint64], count: int) -> npt.NDArray[np.int64]:
    """`_eight_digits` for one `count` for all."""
    word = word & _KEEP[count]
    word = ((word & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(2561)) >> np.uint64(8)
    word = ((word & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    word = ((word & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)
    return word.astype(np.int64)


def parse_times(text: bytes, n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(ns, us) for `n` comma-joined JSON tokens: `ns` exact (0 where `us` is not a usable
    time), `us` the value as a float for range checks and messages (NaN: missing, inf: not a
    number)."""
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    if text.count(b",") != n - 1:  # a token holds commas: a string, list or object, no number
        text = b",".join(t if t[:1] in _NUMBER_STARTS else NOT_A_NUMBER for t in _tokens(text))
    return _parse(text, n)


def _tokens(text: bytes) -> list[bytes]:
    if msgspec is None:  # the generic path's tokens: numbers, MISSING, NOT_A_NUMBER, none with a comma
        raise ValueError("time tokens with commas")
    return [bytes(r) for r in _TOKENS.decode(b"[" + text + b"]")]


def _parse(text: bytes, n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The vectorised parse (module docstring): every token is a JSON value without commas,
    so one that starts with "-" or a digit is a JSON number (the decoders checked the syntax)."""
    buf = np.frombuffer(_PAD + text, np.uint8)  # positions below are in `buf`, past the padding
    words = np.ndarray((len(buf) - 7,), "<u8", buf, 0, (1,))  # the 8 bytes starting at each position
    last = len(buf) - 1
    seps = np.flatnonzero(buf == _COMMA)
    starts = np.concatenate(([len(_PAD)], seps + 1))
    ends = np.append(seps, len(buf))
    first = buf[starts]
    negative = first == _MINUS
    number = negative | ((first >= _ZERO) & (first <= _ZERO + 9))
    dotpos = _points(buf, text.count(b"."), starts, ends)
    n_frac = np.where(dotpos >= 0, ends - dotpos - 1, 0)
    int_end = np.where(dotpos >= 0, dotpos, ends)  # one past the integer part's last digit
    n_int = int_end - starts - negative
    whole = _eight_digits(words, int_end, n_int)
    if n_int.max() > 8:
        whole += _eight_digits(words, int_end - 8, n_int - 8) * 100_000_000
    frac = np.zeros(n, np.int64)
    for k, weight in ((1, 100), (2, 10), (3, 1)):
        frac += np.where(n_frac >= k, buf[np.minimum(dotpos + k, last)].astype(np.int64) - _ZERO, 0) * weight
    frac += (n_frac >= 4) & (buf[np.minimum(dotpos + 4, last)] >= _ZERO + 5)  # ties away from zero
    us = (whole + frac / 1000.0) * np.where(negative, -1.0, 1.0)
    us[~number] = np.inf
    us[first == ord("n")] = np.nan  # null: the event has no such time
    ok = number & (n_int <= 16) & (np.abs(us) <= MAX_TS_US)
    ns = np.where(ok, (whole * 1000 + frac) * np.where(negative, -1, 1), 0)
    slow = number & (n_int > 16)  # beyond the range unless an exponent scales it back
    if b"e" in text or b"E" in text:  # "1.5e3", "2E-4": exact through `decimal`, the rare slow path
        exponent = np.flatnonzero((buf == ord("e")) | (buf == ord("E")))
        slow[np.searchsorted(seps, exponent)] = True
    for i in np.flatnonzero(slow).tolist():
        ns[i], us[i] = _decimal(bytes(buf[starts[i]:ends[i]]))
    return ns, us


def _points(buf: npt.NDArray[np.uint8], count: int, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
            ) -> npt.NDArray[np.int64]:
    """Per token, where its decimal point is (-1: none). Kineto writes three fraction digits:
    when every point is 4 from its token's end, one gather finds them all; otherwise the
    points and commas are found in one pass and each point counts the commas before it."""
    at = ends - 4
    hit = (at > starts) & (buf[at] == _DOT)
    if int(hit.sum()) == count:
        return np.where(hit, at, -1)
    marks = np.flatnonzero((buf == _COMMA) | (buf == _DOT))
    is_point = buf[marks] == _DOT
    token = np.cumsum(~is_point) - ~is_point  # commas before each mark
    points = np.full(len(starts), -1, np.int64)
    points[token[is_point]] = marks[is_point]
    return points


def _eight_digits(words: npt.NDArray[np.uint64], end: npt.NDArray[np.int64], count: npt.NDArray[np.int64]
                  ) -> npt.NDArray[np.int64]:
    """The value of the (up to) 8 digits before `end`, `count` of them real (the bytes before
    them cleared, read as 0): one unaligned 8-byte load and simdjson's three multiply-shift steps."""
    word = words[np.maximum(end - 8, 0)] & _KEEP[np.clip(count, 0, 8)]  # the low bytes: what precedes the digits
    word = ((word & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(2561)) >> np.uint64(8)
    word = ((word & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    word = ((word & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)
    return word.astype(np.int64)


def _decimal(token: bytes) -> tuple[int, float]:
    """(ns, us) of one token through `decimal`: exact whatever its exponent."""
    try:
        value = Decimal(token.decode())
        us = float(value)
    except (InvalidOperation, ValueError, OverflowError):  # cannot happen for a JSON number
        return 0, math.inf
    if not abs(us) <= MAX_TS_US:
        return 0, us
    return int((value * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)), us
