"""String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN
GETRANGE SUBSTR SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT LCS.

Theory of operation
-------------------
* A string is ``bytes``; APPEND and SETRANGE turn it into a ``bytearray`` and then grow it in
  place (Redis's "raw" encoding), so a loop of APPENDs is linear, not quadratic. A bytearray is
  never handed out as a reply: replies are collected before they are encoded (MULTI/EXEC), so
  a reader gets a ``bytes`` copy that a later APPEND cannot change under it.
* SET and its relatives share ``_set_generic`` (Redis's setGenericCommand); GETEX and SET parse
  their options with ``_parse_extended`` (parseExtendedStringArgumentsOrReply), which applies
  Redis's conflict rules option by option, so a conflicting option is the same "syntax error"
  in the same places. Expire arguments become absolute Unix milliseconds in ``_expire_at``, with
  Redis's checks: not positive, seconds that overflow when multiplied by 1000, and a relative
  time that overflows when added to the clock are all "invalid expire time in '<cmd>' command".
  SET ... EXAT/PXAT with a time in the past stores the key with that time (Redis 7.0 does the
  same: the key then expires on the next access); GETEX with one deletes the key (event ``del``).
* The order of checks is Redis's, observed against 7.0.15: arguments are parsed before the key
  is looked up (so INCRBY k x on a list says "not an integer"), except where Redis looks first
  (INCRBYFLOAT type-checks the key before parsing the increment; GETEX validates its expire
  time only once the key is known to be a string).
* GET, SET without options, INCR* and MGET are the hottest paths of the server: one lookup per
  key, no option parsing, no temporary objects beyond the reply.
* INCR family: 64-bit signed arithmetic with Redis's string2ll parsing (``args.to_int``).
  INCRBYFLOAT computes in x87 80-bit ``long double`` like Redis, emulated exactly with integers
  (``_ld_*``: correctly rounded strtold, addition, and ``%.17Lf`` with trailing zeros trimmed), so
  10.5 + 0.1 is "10.6" as in Redis, not the "10.600000000000001" a double would give.
* LCS uses a bit-parallel DP (one big-int row per byte of the first string) instead of Redis's
  O(n*m) table of uint32, then walks back through the rows with Redis's exact tie-breaking, so
  the string and the IDX ranges are Redis's. Redis's memory guard on the table size is kept.
* Keyspace events are Redis's: set, setrange, append, incrby (all four of INCR/DECR/INCRBY/DECRBY),
  incrbyfloat, expire and persist (GETEX), del (GETDEL, GETEX with a past time); SET with an
  expire emits "set" then "expire" for one change.
"""

from __future__ import annotations

import re
from itertools import islice as _islice
from operator import itemgetter

from .args import LLONG_MAX, LLONG_MIN, parse_int, to_int
from .errors import (DECR_OVERFLOW, INVALID_EXPIRE, LCS_IDX_AND_LEN, LCS_MEMORY, LCS_NOT_STRINGS,
                     LCS_TOO_LONG, NAN_OR_INFINITY, NOT_FLOAT, NOT_INTEGER, OFFSET_RANGE, OVERFLOW,
                     STRING_TOO_LONG, SYNTAX, WRONGTYPE, CommandError, wrong_arity)

_OK = "OK"
_second = itemgetter(1)
_set = set
_BYTES_OR_NIL = {bytes, type(None)}
_WRONGTYPE_REPLY = CommandError(WRONGTYPE)   # (a reply in a list, never raised)


def _as_bytes(value):
    """A string value as a reply: bytes as they are, a bytearray copied (see the module notes)."""
    return value if type(value) is bytes else bytes(value)


def _to_int(b) -> int | None:
    """``args.to_int`` (string2ll) with a fast path for the common case, plain digits that fit
    in 63 bits with no leading zero, which needs no regular expression."""
    if 0 < len(b) < 19 and b.isdigit() and (b[0] != 48 or len(b) == 1):
        return int(b)
    return to_int(b)


def _check_string(value) -> None:
    if type(value) is not bytes and type(value) is not bytearray:
        raise CommandError(WRONGTYPE)


def _max_bulk(ctx) -> int:
    return ctx.server.cfg["proto-max-bulk-len"]


def _check_length(ctx, size: int, append: int) -> None:
    """Redis's checkStringLength: the result of APPEND/SETRANGE must fit proto-max-bulk-len
    (not enforced for the primary's replication stream, which must be obeyed)."""
    if size + append > _max_bulk(ctx) and ctx.kind != "master":
        raise CommandError(STRING_TOO_LONG)


# -- GET ------------------------------------------------------------------------------------------
def get(ctx, argv):
    """GET key"""
    value = ctx.db.read(argv[1])
    if value is None or type(value) is bytes:
        return value
    if type(value) is bytearray:
        return bytes(value)
    raise CommandError(WRONGTYPE)


def get_many(ctx, argvs):
    """GET, every call of a uniform pipelined batch at once (dispatch.run_uniform)."""
    return _string_replies(ctx.db.read_many(map(_second, argvs)), _WRONGTYPE_REPLY)


def _string_replies(values: list, other) -> list:
    """Values read as replies: bytes and nil as they are, a bytearray copied (see the module
    notes), ``other`` for a value that is not a string (GET's error, MGET's nil)."""
    if _set(map(type, values)) <= _BYTES_OR_NIL:
        return values
    return [value if value is None or type(value) is bytes else bytes(value)
            if type(value) is bytearray else other for value in values]


def _read_string(ctx, key: bytes):
    """getGenericCommand's lookup: the value (hit/miss counted), None, or WRONGTYPE."""
    value = ctx.db.read(key)
    if value is not None and type(value) is not bytes and type(value) is not bytearray:
        raise CommandError(WRONGTYPE)
    return value


def mget(ctx, argv):
    """MGET key [key ...]: a value that is not a string reads as nil."""
    return _string_replies(ctx.db.read_many(_islice(argv, 1, None)), None)


def strlen(ctx, argv):
    """STRLEN key"""
    value = _read_string(ctx, argv[1])
    return 0 if value is None else len(value)


def getrange(ctx, argv):
    """GETRANGE key start end (and SUBSTR): inclusive, negative indexes count from the end."""
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = _read_string(ctx, argv[1])
    if value is None:
        return b""
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return bytes(value[start:end + 1])


# -- SET and its options --------------------------------------------------------------------------
# Flags of parseExtendedStringArgumentsOrReply, Redis's names.
NX, XX, EX, PX, KEEPTTL, GET, EXAT, PXAT, PERSIST = (1 << i for i in range(9))
_TIMED = EX | PX | EXAT | PXAT
_FOR_SET, _FOR_GETEX = 0, 1

# option -> (flag, options it cannot follow, takes a value, commands it is valid for)
_OPTIONS = {
    b"NX": (NX, XX, False, (_FOR_SET,)),
    b"XX": (XX, NX, False, (_FOR_SET,)),
    b"GET": (GET, 0, False, (_FOR_SET,)),
    b"KEEPTTL": (KEEPTTL, PERSIST | _TIMED, False, (_FOR_SET,)),
    b"PERSIST": (PERSIST, KEEPTTL | _TIMED, False, (_FOR_GETEX,)),
    b"EX": (EX, KEEPTTL | PERSIST | EXAT | PX | PXAT, True, (_FOR_SET, _FOR_GETEX)),
    b"PX": (PX, KEEPTTL | PERSIST | EX | EXAT | PXAT, True, (_FOR_SET, _FOR_GETEX)),
    b"EXAT": (EXAT, KEEPTTL | PERSIST | EX | PX | PXAT, True, (_FOR_SET, _FOR_GETEX)),
    b"PXAT": (PXAT, KEEPTTL | PERSIST | EX | EXAT | PX, True, (_FOR_SET, _FOR_GETEX)),
}


def _parse_extended(argv: list[bytes], start: int, command: int) -> tuple[int, bytes | None]:
    """Redis's parseExtendedStringArgumentsOrReply: (flags, expire argument or None).

    An option is refused ("syntax error") when it conflicts with one already seen, when it is not
    valid for the command, or when it needs a value and is the last argument. Repeating an option
    is allowed; the last EX/PX/EXAT/PXAT value wins. Like Redis's C string compares, an argument
    is read up to its first NUL byte."""
    flags = 0
    expire = None
    i = start
    argc = len(argv)
    while i < argc:
        opt = argv[i]
        if b"\0" in opt:
            opt = opt.split(b"\0", 1)[0]
        spec = _OPTIONS.get(opt.upper())
        if spec is None:
            raise CommandError(SYNTAX)
        flag, conflicts, takes_value, commands = spec
        if flags & conflicts or command not in commands or (takes_value and i + 1 >= argc):
            raise CommandError(SYNTAX)
        flags |= flag
        if takes_value:
            i += 1
            expire = argv[i]
        i += 1
    return flags, expire


def _expire_at(ctx, arg: bytes, flags: int, cmd: str) -> int:
    """Redis's getExpireMillisecondsOrReply: the expire argument as absolute Unix milliseconds."""
    when = _to_int(arg)
    if when is None:
        raise CommandError(NOT_INTEGER)
    seconds = flags & (EX | EXAT)
    if when <= 0 or (seconds and when > LLONG_MAX // 1000):
        raise CommandError(INVALID_EXPIRE.format(cmd=cmd))
    if seconds:
        when *= 1000
    if flags & (EX | PX):
        when += ctx.ks.clock.now_ms()
        if when > LLONG_MAX:          # C's signed overflow turns it negative: Redis refuses it
            raise CommandError(INVALID_EXPIRE.format(cmd=cmd))
    return when


def _set_generic(ctx, flags: int, key: bytes, value: bytes, when: int | None,
                 ok_reply=_OK, abort_reply=None):
    """Redis's setGenericCommand, once the options are parsed and the expire time validated."""
    db = ctx.db
    old = None
    if flags & GET:
        old = _read_string(ctx, key)
        if old is not None:
            old = _as_bytes(old)
        found = old is not None
    elif flags & (NX | XX):
        found = db.get(key) is not None
    else:
        found = None                      # no condition: no need to look
    if (flags & NX and found) or (flags & XX and not found):
        return old if flags & GET else abort_reply
    db.set(key, value, keepttl=bool(flags & KEEPTTL) or when is not None)
    if when is not None:
        db.set_expire(key, when)
        db.notify(key, b"expire")         # a second event for the same change (Redis: one dirty++)
    return old if flags & GET else ok_reply


def set_(ctx, argv):
    """SET key value [NX | XX] [GET] [EX seconds | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]"""
    if len(argv) == 3:                    # the fast path: no options, no lookup
        ctx.db.set(argv[1], argv[2])
        return _OK
    flags, expire = _parse_extended(argv, 3, _FOR_SET)
    when = _expire_at(ctx, expire, flags, "set") if expire is not None else None
    return _set_generic(ctx, flags, argv[1], argv[2], when)


def set_many(ctx, argvs):
    """SET, every call of a uniform pipelined batch at once (dispatch.run_uniform); None (call
    by call, then) when a call has options."""
    if max(map(len, argvs)) > 3:
        return None
    store = ctx.db.set
    for argv in argvs:
        store(argv[1], argv[2])
    return [_OK] * len(argvs)


def setnx(ctx, argv):
    """SETNX key value: 1 if set, 0 if the key existed."""
    return _set_generic(ctx, NX, argv[1], argv[2], None, 1, 0)


def setex(ctx, argv):
    """SETEX key seconds value"""
    return _set_generic(ctx, EX, argv[1], argv[3], _expire_at(ctx, argv[2], EX, "setex"))


def psetex(ctx, argv):
    """PSETEX key milliseconds value"""
    return _set_generic(ctx, PX, argv[1], argv[3], _expire_at(ctx, argv[2], PX, "psetex"))


def getset(ctx, argv):
    """GETSET key value: the old value (or nil); the new one has no TTL."""
    old = _read_string(ctx, argv[1])
    ctx.db.set(argv[1], argv[2])
    return None if old is None else _as_bytes(old)


def getdel(ctx, argv):
    """GETDEL key"""
    value = _read_string(ctx, argv[1])
    if value is None:
        return None
    ctx.db.delete(argv[1], b"del")
    return _as_bytes(value)


def getex(ctx, argv):
    """GETEX key [EX seconds | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST]"""
    flags, expire = _parse_extended(argv, 2, _FOR_GETEX)
    key = argv[1]
    value = _read_string(ctx, key)
    if value is None:
        return None
    reply = _as_bytes(value)
    db = ctx.db
    if expire is not None:
        when = _expire_at(ctx, expire, flags, "getex")   # after the lookup, as Redis
        ks = ctx.ks
        if flags & (EXAT | PXAT) and when <= ks.clock.now_ms() and not ks.role_replica:
            db.delete(key, b"del")        # already in the past: Redis deletes (and replicates DEL)
        else:
            db.set_expire(key, when)
            db.touched(key, b"expire")
    elif flags & PERSIST:
        if db.persist(key):
            db.touched(key, b"persist")
    return reply


def mset(ctx, argv):
    """MSET key value [key value ...]: all pairs or nothing (an odd count is refused first)."""
    if len(argv) % 2 == 0:
        raise wrong_arity("mset")
    put = ctx.db.set
    for i in range(1, len(argv), 2):
        put(argv[i], argv[i + 1])
    return _OK


def msetnx(ctx, argv):
    """MSETNX key value [key value ...]: 1 if every key was new and all were set, else 0."""
    if len(argv) % 2 == 0:
        raise wrong_arity("msetnx")
    db = ctx.db
    for i in range(1, len(argv), 2):
        if db.get(argv[i]) is not None:
            return 0
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return 1


# -- APPEND / SETRANGE ----------------------------------------------------------------------------
def append(ctx, argv):
    """APPEND key value: the new length. A new key takes the value as it is."""
    db = ctx.db
    key, tail = argv[1], argv[2]
    value = db.get(key)
    if value is None:
        db.set(key, tail, event=b"append")
        return len(tail)
    if type(value) is bytearray:
        _check_length(ctx, len(value), len(tail))
        value += tail                     # grows in place: amortised O(len(tail))
    elif type(value) is bytes:
        _check_length(ctx, len(value), len(tail))
        value = bytearray(value)
        value += tail
        db.replace_value(key, value)
    else:
        raise CommandError(WRONGTYPE)
    db.touched(key, b"append")
    return len(value)


def setrange(ctx, argv):
    """SETRANGE key offset value: overwrite from offset, zero-padding as needed; the new length."""
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(OFFSET_RANGE)
    db = ctx.db
    key, part = argv[1], argv[3]
    value = db.get(key)
    if value is None:
        if not part:                      # nothing to write on a missing key: no key is created
            return 0
        _check_length(ctx, offset, len(part))
        value = bytearray(offset)
        value += part
        db.set(key, value, event=b"setrange")
        return len(value)
    _check_string(value)
    if not part:
        return len(value)
    _check_length(ctx, offset, len(part))
    if type(value) is bytes:
        value = bytearray(value)
        db.replace_value(key, value)
    end = offset + len(part)
    if len(value) < end:
        value.extend(bytes(end - len(value)))
    value[offset:end] = part
    db.touched(key, b"setrange")
    return len(value)


# -- INCR family ----------------------------------------------------------------------------------
def _incr(ctx, key: bytes, delta: int) -> int:
    """Redis's incrDecrCommand: 64-bit signed, the stored value read with string2ll rules."""
    db = ctx.db
    value = db.get(key)
    if value is None:
        db.set(key, b"%d" % delta, event=b"incrby")
        return delta
    if type(value) is not bytes and type(value) is not bytearray:
        raise CommandError(WRONGTYPE)
    current = _to_int(value)
    if current is None:
        raise CommandError(NOT_INTEGER)
    new = current + delta
    if new > LLONG_MAX or new < LLONG_MIN:
        raise CommandError(OVERFLOW)
    db.replace_value(key, b"%d" % new)    # keeps the TTL, as Redis's dbReplaceValue
    db.touched(key, b"incrby")
    return new


def incr(ctx, argv):
    """INCR key"""
    return _incr(ctx, argv[1], 1)


def decr(ctx, argv):
    """DECR key"""
    return _incr(ctx, argv[1], -1)


def incrby(ctx, argv):
    """INCRBY key increment"""
    return _incr(ctx, argv[1], parse_int(argv[2]))


def decrby(ctx, argv):
    """DECRBY key decrement"""
    delta = parse_int(argv[2])
    if delta == LLONG_MIN:               # -LLONG_MIN does not fit: Redis refuses it up front
        raise CommandError(DECR_OVERFLOW)
    return _incr(ctx, argv[1], -delta)


def incrbyfloat(ctx, argv):
    """INCRBYFLOAT key increment: long double arithmetic, the result in Redis's human format."""
    db = ctx.db
    key = argv[1]
    value = db.get(key)
    if value is None:
        current = _LD_ZERO
    else:
        _check_string(value)
        current = parse_long_double(value)
        if current is None:
            raise CommandError(NOT_FLOAT)
    incr_ = parse_long_double(argv[2])
    if incr_ is None:
        raise CommandError(NOT_FLOAT)
    total = ld_add(current, incr_)
    if total is None:
        raise CommandError(NAN_OR_INFINITY)
    new = format_long_double_human(total)
    # Redis stores the result as a plain string (embstr), never int-encoded, even when it reads
    # as an integer: OBJECT ENCODING tells.
    if value is None:
        db.set(key, new, event=b"incrbyfloat")
    else:
        db.replace_value(key, new)
        db.touched(key, b"incrbyfloat")
    if len(new) <= 20 and _to_int(new) is not None:
        db.mark_not_int(key)
    return new


# -- long double emulation ------------------------------------------------------------------------
# A finite value is a pair (m, e) meaning m * 2**e, with |m| < 2**64: the x87 80-bit extended
# format Redis computes INCRBYFLOAT in (64-bit significand; normal exponents down to 2**-16382,
# subnormals down to 2**-16445; 2**16384 and above overflow). Infinity is _INF / _NINF.
_LD_ZERO = (0, 0)
_INF = "inf"
_NINF = "-inf"
_LD_PREC = 64
_LD_QMIN = -16445          # exponent of the least significant bit of the smallest subnormal
_LD_EMAX = 16384           # |value| >= 2**_LD_EMAX overflows
MAX_LONG_DOUBLE_CHARS = 5 * 1024

_DEC_RE = re.compile(rb"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\Z")
_HEX_RE = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?\Z")
_INF_RE = re.compile(rb"([+-]?)(?:inf|infinity)\Z", re.IGNORECASE)


def _round_scaled(m: int, rem_cmp: int):
    """Round-half-even step: ``rem_cmp`` is sign(2*remainder - divisor)."""
    if rem_cmp > 0 or (rem_cmp == 0 and m & 1):
        return m + 1
    return m


def _ld_pack(neg: bool, m: int, e: int):
    """Finish a rounded magnitude m * 2**e: overflow to infinity, attach the sign."""
    if m and m.bit_length() + e > _LD_EMAX:
        return _NINF if neg else _INF
    return (-m if neg else m, e)


def ld_from_int(n: int, e: int = 0):
    """n * 2**e (any integers) rounded to long double, ties to even, or _INF/_NINF on overflow."""
    if n == 0:
        return _LD_ZERO
    neg = n < 0
    p = -n if neg else n
    q = p.bit_length() - 1 + e - (_LD_PREC - 1)     # exponent of the unit in the last place
    if q < _LD_QMIN:
        q = _LD_QMIN
    shift = q - e
    if shift <= 0:
        return _ld_pack(neg, p, e)                  # exactly representable
    m = p >> shift
    rem = p - (m << shift)
    half = 1 << (shift - 1)
    m = _round_scaled(m, (rem > half) - (rem < half))
    return _ld_pack(neg, m, q)


def ld_from_ratio(neg: bool, p: int, d: int):
    """±p/d (p, d > 0) rounded to long double, ties to even."""
    top = p.bit_length() - d.bit_length()           # floor(log2(p/d)) is top or top - 1
    if (p << -top if top < 0 else p) < (d << top if top > 0 else d):
        top -= 1
    q = top - (_LD_PREC - 1)
    if q < _LD_QMIN:
        q = _LD_QMIN
    if q <= 0:
        m, rem = divmod(p << -q, d)
        div = d
    else:
        div = d << q
        m, rem = divmod(p, div)
    twice = rem << 1
    m = _round_scaled(m, (twice > div) - (twice < div))
    return _ld_pack(neg, m, q)


def _digits_to_int(s: bytes) -> int:
    """int() of a long run of decimal digits, past Python's 4300-digit conversion guard."""
    if len(s) <= 4000:
        return int(s) if s else 0
    return _digits_to_int(s[:-4000]) * 10 ** 4000 + int(s[-4000:])


def _int_to_str(n: int) -> str:
    """str() of a non-negative int of any size (a long double has up to 4933 integer digits)."""
    if n.bit_length() <= 13000:
        return str(n)
    hi, lo = divmod(n, 10 ** 4000)
    return _int_to_str(hi) + str(lo).zfill(4000) if hi else str(lo)


def _exponent(s: bytes) -> int:
    """A decimal exponent, clamped: anything past 10**9 over- or underflows whatever the digits."""
    neg = s[:1] == b"-"
    s = s.lstrip(b"+-").lstrip(b"0")
    v = (int(s) if s else 0) if len(s) <= 10 else 10 ** 10
    return -v if neg else v


def parse_long_double(b: bytes):
    """Redis's string2ld: strtold over the whole string, refusing leading space, trailing bytes,
    NaN, and out-of-range results (overflow, or underflow to zero); at most 5119 bytes.
    Returns (m, e), _INF/_NINF (a literal "inf" is accepted), or None."""
    if not b or len(b) >= MAX_LONG_DOUBLE_CHARS:
        return None
    mt = _DEC_RE.match(b)
    if mt is not None:
        sign, ip, fp, ex = mt.groups()
        fp = fp or b""
        if not ip and not fp:
            return None
        neg = sign == b"-"
        digits = (ip + fp).lstrip(b"0")
        if not digits:
            return _LD_ZERO
        exp10 = (_exponent(ex) if ex else 0) - len(fp)
        stripped = digits.rstrip(b"0")
        exp10 += len(digits) - len(stripped)
        digits = stripped
        nd = len(digits)
        if nd - 1 + exp10 >= 4933:       # >= 1e4933 > LDBL_MAX
            return None
        if nd + exp10 <= -4951:          # < 1e-4951, below half the least subnormal: rounds to 0
            return None
        n = _digits_to_int(digits)
        if exp10 >= 0:
            n *= 10 ** exp10
            r = ld_from_int(-n if neg else n)
        else:
            r = ld_from_ratio(neg, n, 10 ** -exp10)
        return None if type(r) is str or r[0] == 0 else r
    mt = _HEX_RE.match(b)
    if mt is not None:
        sign, ip, fp, ex = mt.groups()
        fp = fp or b""
        if not ip and not fp:
            return None
        n = int(ip + fp, 16)
        if n == 0:
            return _LD_ZERO
        e2 = (_exponent(ex) if ex else 0) - 4 * len(fp)
        nb = n.bit_length()
        if nb - 1 + e2 >= _LD_EMAX or nb + e2 <= _LD_QMIN - 2:
            return None
        r = ld_from_int(-n if sign == b"-" else n, e2)
        return None if type(r) is str or r[0] == 0 else r
    mt = _INF_RE.match(b)
    if mt is not None:
        return _NINF if mt.group(1) == b"-" else _INF
    return None


def ld_add(a, b):
    """a + b rounded to long double; None when the sum is infinite or NaN."""
    if type(a) is str or type(b) is str:
        return None                       # inf + x is inf, inf - inf is NaN: both refused
    (ma, ea), (mb, eb) = a, b
    if not ma:
        return b
    if not mb:
        return a
    e = ea if ea < eb else eb
    r = ld_from_int((ma << (ea - e)) + (mb << (eb - e)), e)
    return None if type(r) is str else r


_TEN17 = 10 ** 17


def format_long_double_human(v) -> bytes:
    """Redis's ld2string(LD_STR_HUMAN): printf("%.17Lf") (exact value, rounded half to even, as
    glibc does), trailing zeros and a bare '.' removed, and "-0" written "0"."""
    m, e = v
    neg = m < 0
    p = -m if neg else m
    if e >= 0:
        ip, frac = p << e, 0
    else:
        sh = -e
        num = p * _TEN17
        r = num >> sh
        rem = num - (r << sh)
        half = 1 << (sh - 1)
        r = _round_scaled(r, (rem > half) - (rem < half))
        ip, frac = divmod(r, _TEN17)
    s = _int_to_str(ip)
    if frac:
        s += "." + ("%017d" % frac).rstrip("0")
    if neg and (ip or frac):
        s = "-" + s
    return s.encode()


# -- LCS ------------------------------------------------------------------------------------------
_ZEROS = b"0" * 256


def _match_masks(b: bytes) -> dict[int, int]:
    """For each byte value in b, the bit mask of its positions (bit j set when b[j] is that byte)."""
    rev = b[::-1]                         # int(..., 2) reads the most significant bit first
    masks = {}
    for ch in set(b):
        table = _ZEROS[:ch] + b"1" + _ZEROS[ch + 1:]
        masks[ch] = int(rev.translate(table), 2)
    return masks


def _lcs_rows(a: bytes, b: bytes, keep_rows: bool) -> tuple[list[int], int]:
    """Bit-parallel LCS (Allison-Dix / Hyyrö). Row i is a bit vector V_i over b's positions whose
    bit j is 0 exactly when LCS(a[:i], b[:j+1]) = LCS(a[:i], b[:j]) + 1, so LCS(a[:i], b[:j]) is
    the number of zero bits below j. Returns the rows (if asked) and the LCS length."""
    m = len(b)
    full = (1 << m) - 1
    masks = _match_masks(b)
    get = masks.get
    v = full
    rows = [v] if keep_rows else []
    keep = rows.append
    for ch in a:
        mask = get(ch)
        if mask is not None:
            u = v & mask
            v = ((v + u) | (v - u)) & full
        if keep_rows:
            keep(v)
    return rows, m - v.bit_count()


def lcs(ctx, argv):
    """LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]"""
    db = ctx.db
    a = db.read(argv[1])
    b = db.read(argv[2])
    if (a is not None and type(a) is not bytes and type(a) is not bytearray) or \
            (b is not None and type(b) is not bytes and type(b) is not bytearray):
        raise CommandError(LCS_NOT_STRINGS)
    a = b"" if a is None else bytes(a)
    b = b"" if b is None else bytes(b)
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    i = 3
    argc = len(argv)
    while i < argc:
        opt = argv[i]
        if b"\0" in opt:
            opt = opt.split(b"\0", 1)[0]
        opt = opt.upper()
        if opt == b"IDX":
            getidx = True
        elif opt == b"LEN":
            getlen = True
        elif opt == b"WITHMATCHLEN":
            withmatchlen = True
        elif opt == b"MINMATCHLEN" and i + 1 < argc:
            minmatchlen = max(parse_int(argv[i + 1]), 0)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if getidx and getlen:
        raise CommandError(LCS_IDX_AND_LEN)
    alen, blen = len(a), len(b)
    if alen >= 0xFFFFFFFE or blen >= 0xFFFFFFFE:
        raise CommandError(LCS_TOO_LONG)
    # Redis allocates an (alen+1) x (blen+1) table of uint32 and refuses one larger than
    # proto-max-bulk-len; we need far less memory but keep the same limit and answer.
    if (alen + 1) * (blen + 1) * 4 > _max_bulk(ctx):
        raise CommandError(LCS_MEMORY)
    computelcs = getidx or not getlen
    rows, total = _lcs_rows(a, b, computelcs) if alen and blen else ([], 0)
    if not computelcs:
        return total
    result = bytearray(total)
    matches = []
    idx = total
    i, j = alen, blen
    unset = alen                          # Redis's "no range in progress" marker
    a_start, a_end, b_start, b_end = unset, 0, 0, 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1              # the match extends the current range backwards
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            # Redis: i-- if LCS(i-1, j) > LCS(i, j-1), else j--. At a mismatch LCS(i, j) is the
            # larger of the two, so that is "LCS(i, j-1) < LCS(i, j)": bit j-1 of row i is 0.
            if (rows[i] >> (j - 1)) & 1:
                j -= 1
            else:
                i -= 1
            if a_start != unset:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if minmatchlen == 0 or match_len >= minmatchlen:
                match = [[a_start, a_end], [b_start, b_end]]
                if withmatchlen:
                    match.append(match_len)
                matches.append(match)
            a_start = unset
    if getidx:
        return {b"matches": matches, b"len": total}
    return bytes(result)
