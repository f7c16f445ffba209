"""Key expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT), TTL PTTL EXPIRETIME PEXPIRETIME,
PERSIST.

Theory of operation
-------------------
A TTL is an absolute Unix time in milliseconds kept by the keyspace (``Database.set_expire``).
The four setters share ``_expire``, Redis's expireGenericCommand: parse the NX/XX/GT/LT flags,
then the number, convert it to absolute milliseconds with Redis's overflow checks (seconds times
1000 must fit, and so must the sum with the base time), and only then look the key up. A time
that is not in the future deletes the key at once (event ``del``, as Redis, which replicates it
as DEL); on a replica the time is stored as given and the primary's DEL removes the key later.
Otherwise the TTL is stored and the key signalled with ``expire``.

The four readers share ``_ttl``, Redis's ttlGenericCommand: -2 for a missing key, -1 for a key
without TTL, else the remaining (or absolute) time, clamped at 0, with seconds rounded to the
nearest (``(ms + 500) // 1000``). A key is expired once the clock has passed its time, so at the
very millisecond of expiry it still exists with a PTTL of 0.
"""

from __future__ import annotations

from .args import LLONG_MAX, LLONG_MIN, parse_int
from .errors import (EXPIRE_GT_LT_CONFLICT, EXPIRE_NX_CONFLICT, INVALID_EXPIRE, UNSUPPORTED_OPTION,
                     CommandError)

NX, XX, GT, LT = 1, 2, 4, 8
_FLAGS = {b"NX": NX, b"XX": XX, b"GT": GT, b"LT": LT}


def _parse_flags(argv: list[bytes]) -> int:
    """NX | XX | GT | LT after the time (any order, repeats allowed), then the conflict checks,
    in Redis's order: an unknown word is reported before any conflict."""
    flags = 0
    for opt in argv[3:]:
        opt = opt.split(b"\0", 1)[0]      # strcasecmp and %s see the bytes up to a NUL
        flag = _FLAGS.get(opt.upper())
        if flag is None:
            text = opt.decode("utf-8", "surrogateescape")   # raw bytes pass through unchanged
            raise CommandError(UNSUPPORTED_OPTION.format(opt=text))
        flags |= flag
    if flags & NX and flags & (XX | GT | LT):
        raise CommandError(EXPIRE_NX_CONFLICT)
    if flags & GT and flags & LT:
        raise CommandError(EXPIRE_GT_LT_CONFLICT)
    return flags


def _expire(ctx, argv: list[bytes], relative: bool, seconds: bool) -> int:
    """EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX | XX | GT | LT]"""
    flags = _parse_flags(argv)
    when = parse_int(argv[2])
    now = ctx.ks.clock.now_ms()
    if seconds:
        if when > LLONG_MAX // 1000 or when < -(-LLONG_MIN // 1000):   # C's truncating division
            raise _invalid(argv)
        when *= 1000
    if relative:
        if when > LLONG_MAX - now:
            raise _invalid(argv)
        when += now
    db = ctx.db
    key = argv[1]
    if db.get(key) is None:      # lookupKeyWrite: expires lazily, records the access
        return 0
    if flags:
        current = db.ttl_ms(key)          # None: no TTL, which counts as infinite
        if flags & NX and current is not None:
            return 0
        if flags & XX and current is None:
            return 0
        if flags & GT and (current is None or when <= current):
            return 0
        if flags & LT and current is not None and when >= current:
            return 0
    if when <= now and not ctx.ks.role_replica:
        db.delete(key, b"del")
        return 1
    db.set_expire(key, when)
    db.touched(key, b"expire")
    return 1


def _invalid(argv: list[bytes]) -> CommandError:
    return CommandError(INVALID_EXPIRE.format(cmd=argv[0].decode("utf-8", "surrogateescape").lower()))


def expire(ctx, argv):
    """EXPIRE key seconds [NX | XX | GT | LT]"""
    return _expire(ctx, argv, relative=True, seconds=True)


def pexpire(ctx, argv):
    """PEXPIRE key milliseconds [NX | XX | GT | LT]"""
    return _expire(ctx, argv, relative=True, seconds=False)


def expireat(ctx, argv):
    """EXPIREAT key unix-time-seconds [NX | XX | GT | LT]"""
    return _expire(ctx, argv, relative=False, seconds=True)


def pexpireat(ctx, argv):
    """PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]"""
    return _expire(ctx, argv, relative=False, seconds=False)


def _ttl(ctx, argv: list[bytes], ms: bool, absolute: bool) -> int:
    db = ctx.db
    key = argv[1]
    if db.read_notouch(key) is None:
        return -2
    when = db.ttl_ms(key)
    if when is None:
        return -1
    t = when if absolute else when - ctx.ks.clock.now_ms()
    if t < 0:
        t = 0
    return t if ms else (t + 500) // 1000


def ttl(ctx, argv):
    """TTL key"""
    return _ttl(ctx, argv, ms=False, absolute=False)


def pttl(ctx, argv):
    """PTTL key"""
    return _ttl(ctx, argv, ms=True, absolute=False)


def expiretime(ctx, argv):
    """EXPIRETIME key"""
    return _ttl(ctx, argv, ms=False, absolute=True)


def pexpiretime(ctx, argv):
    """PEXPIRETIME key"""
    return _ttl(ctx, argv, ms=True, absolute=True)


def persist(ctx, argv):
    """PERSIST key"""
    db = ctx.db
    key = argv[1]
    if db.get(key) is None or not db.persist(key):
        return 0
    db.touched(key, b"persist")
    return 1
