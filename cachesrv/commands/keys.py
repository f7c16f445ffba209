"""Generic key commands: DEL UNLINK EXISTS TYPE TOUCH RENAME RENAMENX COPY MOVE SWAPDB KEYS SCAN
RANDOMKEY DBSIZE FLUSHDB FLUSHALL OBJECT.

Theory of operation
-------------------
These commands act on keys whatever their type, so they only use the keyspace's generic API. How
each looks a key up follows Redis's db.c, because the choice is visible (INFO keyspace_hits and
keyspace_misses, OBJECT IDLETIME, lazy expiry):

* read lookups that count hits and misses and refresh the access time: TOUCH, COPY's source
  (``Database.read``); the same without refreshing it: EXISTS, TYPE, OBJECT, SCAN's TYPE filter
  (``Database.read_notouch``);
* write lookups (no statistics): DEL, RENAME, MOVE and the destinations of COPY (``Database.get``).

RENAME, MOVE and COPY take the value out (or copy it) and put it back with ``Database.put``, which
does not signal; the handler then signals both keys in Redis's order (``rename_from`` then
``rename_to``...). ``touched`` counts one dirty change per call where Redis counts one per command,
so the pair gives one back. A TTL travels with the value in all three.

KEYS and SCAN never return an expired key. KEYS only skips them (keyIsExpired); SCAN walks whole
hash slots (``Database.scan``: a full iteration returns every key present from its start to its
end), then filters like Redis: MATCH, then TYPE, then expiry, which deletes what it finds expired.

SCAN's cursor is the next slot number. Redis reads a cursor with strtoul, so "+5", "-1" and ""
are valid cursors; a cursor past the last slot ends the iteration.
"""

from __future__ import annotations

import re

from ..glob import compile_glob
from ..store.keyspace import type_name
from .args import parse_int, to_int
from .errors import (DB_INDEX, INT_RANGE, INVALID_CURSOR, INVALID_FIRST_DB, INVALID_SECOND_DB, LFU_NOT_SELECTED,
                     LFU_SELECTED, NO_SUCH_KEY, NOT_INTEGER, SAME_OBJECT, SYNTAX, CommandError)

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
ULONG_MAX = (1 << 64) - 1
SHARED_INTEGERS = 10000           # Redis's OBJ_SHARED_INTEGERS: 0..9999 are shared objects...
SHARED_REFCOUNT = INT_MAX         # ...whose OBJECT REFCOUNT is OBJ_SHARED_REFCOUNT
EMBSTR_SIZE_LIMIT = 44            # OBJ_ENCODING_EMBSTR_SIZE_LIMIT

_CURSOR_RE = re.compile(rb"([+-]?)([0-9]*)\Z")


# -- helpers -------------------------------------------------------------------------------------
def _int_arg(b: bytes, error: str | None = None) -> int:
    """getIntFromObjectOrReply: a 64-bit integer that must also fit C's int. With ``error`` that
    text answers both failures (SWAPDB); without, Redis's two texts."""
    v = to_int(b)
    if v is None:
        raise CommandError(error or NOT_INTEGER)
    if not INT_MIN <= v <= INT_MAX:
        raise CommandError(error or INT_RANGE)
    return v


def _db_arg(ctx, b: bytes):
    """A database index argument of MOVE and COPY: an int, then a range check."""
    index = _int_arg(b)
    if not 0 <= index < len(ctx.ks.dbs):
        raise CommandError(DB_INDEX)
    return ctx.ks.dbs[index]


def _copy_value(value):
    """A deep copy: strings are immutable bytes (shared safely) or bytearrays (copied); every
    other value type provides ``copy()`` returning an independent value."""
    t = type(value)
    if t is bytes:
        return value
    if t is bytearray:
        return bytearray(value)
    return value.copy()


def _signal_pair(src_db, src_key: bytes, src_event: bytes, dst_db, dst_key: bytes, dst_event: bytes) -> None:
    """Signal both keys of a RENAME/MOVE, source first; one dirty change for the command."""
    src_db.touched(src_key, src_event)
    dst_db.touched(dst_key, dst_event)
    src_db.ks.dirty -= 1


def _cstr(b: bytes) -> bytes:
    """What C sees of an argument: the bytes up to the first NUL."""
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


# -- DEL UNLINK EXISTS TYPE TOUCH ----------------------------------------------------------------
def _delete_keys(ctx, argv: list[bytes]) -> int:
    db = ctx.db
    deleted = 0
    for key in argv[1:]:
        if db.delete(key, b"del"):
            deleted += 1
    return deleted


def delete(ctx, argv):
    """DEL key [key ...]"""
    return _delete_keys(ctx, argv)


def unlink(ctx, argv):
    """UNLINK key [key ...]: DEL whose memory Redis frees in a background thread. Python frees a
    value when its last reference goes, so both are the same here."""
    return _delete_keys(ctx, argv)


def exists(ctx, argv):
    """EXISTS key [key ...]: counts a key once per mention."""
    read = ctx.db.read_notouch
    return sum(1 for key in argv[1:] if read(key) is not None)


def type_(ctx, argv):
    """TYPE key"""
    value = ctx.db.read_notouch(argv[1])
    return "none" if value is None else type_name(value)


def touch(ctx, argv):
    """TOUCH key [key ...]: refreshes the access time of each existing key."""
    read = ctx.db.read
    return sum(1 for key in argv[1:] if read(key) is not None)


# -- RENAME RENAMENX MOVE COPY -------------------------------------------------------------------
def _rename(ctx, argv: list[bytes], nx: bool):
    db = ctx.db
    src, dst = argv[1], argv[2]
    if db.get(src) is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        # Nothing moves, but a missing key was still an error above.
        return 0 if nx else "OK"
    if db.get(dst) is not None and nx:
        return 0
    expire_ms, stamp, not_int = db.ttl_ms(src), db.access_stamp(src), db.not_int(src)
    db.put(dst, db.pop_value(src), expire_ms, stamp, not_int)
    _signal_pair(db, src, b"rename_from", db, dst, b"rename_to")
    return 1 if nx else "OK"


def rename(ctx, argv):
    """RENAME key newkey: the value and its TTL move; an existing newkey is overwritten."""
    return _rename(ctx, argv, nx=False)


def renamenx(ctx, argv):
    """RENAMENX key newkey: as RENAME, only when newkey does not exist."""
    return _rename(ctx, argv, nx=True)


def move(ctx, argv):
    """MOVE key db: moves the key, with its TTL, unless it exists in the target database."""
    src_db = ctx.db
    dst_db = _db_arg(ctx, argv[2])
    if dst_db is src_db:
        raise CommandError(SAME_OBJECT)
    key = argv[1]
    if src_db.get(key) is None:
        return 0
    expire_ms, stamp = src_db.ttl_ms(key), src_db.access_stamp(key)
    if dst_db.get(key) is not None:
        return 0
    not_int = src_db.not_int(key)
    dst_db.put(key, src_db.pop_value(key), expire_ms, stamp, not_int)
    _signal_pair(src_db, key, b"move_from", dst_db, key, b"move_to")
    return 1


def copy(ctx, argv):
    """COPY source destination [DB destination-db] [REPLACE]: a deep copy, with the TTL."""
    src_db = dst_db = ctx.db
    replace = False
    i = 3
    while i < len(argv):
        opt = _cstr(argv[i]).upper()      # strcasecmp: C sees the bytes up to a NUL
        if opt == b"REPLACE":
            replace = True
        elif opt == b"DB" and i + 1 < len(argv):
            dst_db = _db_arg(ctx, argv[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    src, dst = argv[1], argv[2]
    if src_db is dst_db and src == dst:
        raise CommandError(SAME_OBJECT)
    value = src_db.read(src)            # lookupKeyRead: counts a hit or miss
    if value is None:
        return 0
    expire_ms = src_db.ttl_ms(src)
    if dst_db.get(dst) is not None and not replace:
        return 0
    dst_db.put(dst, _copy_value(value), expire_ms, None, src_db.not_int(src))
    dst_db.touched(dst, b"copy_to")
    return 1


# -- SWAPDB FLUSHDB FLUSHALL DBSIZE --------------------------------------------------------------
def swapdb(ctx, argv):
    """SWAPDB index1 index2: clients stay on their index and see the other contents."""
    a = _int_arg(argv[1], INVALID_FIRST_DB)
    b = _int_arg(argv[2], INVALID_SECOND_DB)
    n = len(ctx.ks.dbs)
    if not (0 <= a < n and 0 <= b < n):
        raise CommandError(DB_INDEX)
    ctx.ks.swap(a, b)
    ctx.ks.dirty += 1
    return "OK"


def _flush_mode(argv: list[bytes]) -> None:
    """[ASYNC | SYNC]: both free at once here (no lazy-free thread); anything else is an error."""
    if len(argv) == 2 and _cstr(argv[1]).upper() in (b"ASYNC", b"SYNC"):
        return
    if len(argv) != 1:
        raise CommandError(SYNTAX)


def flushdb(ctx, argv):
    """FLUSHDB [ASYNC | SYNC]: dirty grows by the number of keys removed."""
    _flush_mode(argv)
    ctx.ks.dirty += ctx.db.clear()
    return "OK"


def flushall(ctx, argv):
    """FLUSHALL [ASYNC | SYNC]: every database. As Redis (flushAllDataAndResetRDB), dirty grows
    by the number of keys removed; then, with save points configured, the empty dataset is saved
    at once (``Server.save_snapshot``, which resets dirty when it succeeds). A failed save is
    logged and the flush stands, as rdbSave's failure does not fail FLUSHALL."""
    _flush_mode(argv)
    server = ctx.server
    ctx.ks.dirty += ctx.ks.flushall()
    if server.cfg["save"]:
        try:
            server.save_snapshot()
        except OSError as e:
            server.log.warning("%s", e)
    return "OK"


def dbsize(ctx, argv):
    """DBSIZE: the stored keys, including expired ones not yet removed (Redis's dictSize)."""
    return ctx.db.size()


# -- KEYS SCAN RANDOMKEY -------------------------------------------------------------------------
def keys(ctx, argv):
    """KEYS pattern: every live key matching the glob; expired ones are skipped, not deleted."""
    pattern = argv[1]
    return ctx.db.live_keys(None if pattern == b"*" else compile_glob(pattern))


def _parse_cursor(b: bytes) -> int:
    """strtoul(b, &end, 10) as Redis checks it: no leading space, nothing after the digits, no
    overflow. A sign is allowed ('-' wraps modulo 2**64) and no digits at all reads as 0."""
    m = _CURSOR_RE.match(_cstr(b))
    if m is None:
        raise CommandError(INVALID_CURSOR)
    sign, digits = m.groups()
    if not digits:
        if sign:
            raise CommandError(INVALID_CURSOR)   # strtoul parsed nothing: end points at the sign
        return 0
    v = int(digits)
    if v > ULONG_MAX:
        raise CommandError(INVALID_CURSOR)
    return (-v) & ULONG_MAX if sign == b"-" else v


def scan(ctx, argv):
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]"""
    cursor = _parse_cursor(argv[1])
    count = 10
    pattern = None
    kind = None
    i = 2
    while i < len(argv):
        opt = _cstr(argv[i]).upper()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if opt == b"COUNT":
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"MATCH":
            pattern = argv[i + 1]
        elif opt == b"TYPE":
            kind = _cstr(argv[i + 1]).lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    db = ctx.db
    nxt, found = db.scan(cursor, count, expire=False)   # a cursor past the last slot: (0, [])
    if pattern is not None and pattern != b"*":
        match = compile_glob(pattern)
        found = [k for k in found if match(k)]
    if kind is not None:
        found = [k for k in found if _type_bytes(db.read_notouch(k)) == kind]
    found = [k for k in found if db.get(k, touch=False) is not None]
    return [b"%d" % nxt, found]


def _type_bytes(value) -> bytes:
    return b"none" if value is None else type_name(value).encode()


def randomkey(ctx, argv):
    """RANDOMKEY: a random live key, or nil when the database has none."""
    return ctx.db.random_key()


# -- OBJECT --------------------------------------------------------------------------------------
OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]


def _policy(ctx) -> str:
    return ctx.server.cfg["maxmemory-policy"]


def _lfu_policy(ctx) -> bool:
    ks = ctx.ks
    if not ks.config_followed:
        # Bridge until the server calls ``ks.follow_config(cfg)`` at start: from here on the
        # keyspace counts accesses the way the configured policy wants.
        ks.follow_config(ctx.server.cfg)
    return ks.lfu


def string_encoding(value: bytes | bytearray, not_int: bool = False) -> str:
    """Redis's encoding of a string value: "int" for an integer in canonical form that fits a
    long (string2l, at most 20 bytes), "embstr" up to 44 bytes, "raw" above, and "raw" for a
    string modified in place (a bytearray here), as APPEND and SETRANGE leave it. ``not_int``:
    a string Redis never int-encoded (INCRBYFLOAT's result, ``Database.not_int``)."""
    if type(value) is bytearray:
        return "raw"
    if not not_int and len(value) <= 20 and to_int(value) is not None:
        return "int"
    return "embstr" if len(value) <= EMBSTR_SIZE_LIMIT else "raw"


def _encoding(value, not_int: bool = False) -> str:
    t = type(value)
    if t is bytes or t is bytearray:
        return string_encoding(value, not_int)
    return value.encoding


def _shares_integers(ctx) -> bool:
    """Redis shares the objects of 0..9999 unless maxmemory is set with an LRU or LFU policy
    (MAXMEMORY_FLAG_NO_SHARED_INTEGERS), because a shared object has no access time of its own."""
    if not ctx.server.cfg["maxmemory"]:
        return True
    policy = _policy(ctx)
    return "lru" not in policy and "lfu" not in policy


def _refcount(ctx, value, not_int: bool = False) -> int:
    if type(value) is bytes and len(value) <= 4 and not not_int and _shares_integers(ctx):
        n = to_int(value)
        if n is not None and 0 <= n < SHARED_INTEGERS:
            return SHARED_REFCOUNT
    return 1


def object_help(ctx, argv):
    """OBJECT HELP"""
    return OBJECT_HELP


def object_encoding(ctx, argv):
    """OBJECT ENCODING key"""
    key = argv[2]
    value = ctx.db.read_notouch(key)
    return None if value is None else _encoding(value, ctx.db.not_int(key)).encode()


def object_refcount(ctx, argv):
    """OBJECT REFCOUNT key"""
    key = argv[2]
    value = ctx.db.read_notouch(key)
    return None if value is None else _refcount(ctx, value, ctx.db.not_int(key))


def object_idletime(ctx, argv):
    """OBJECT IDLETIME key: seconds since the last access (LRU clock resolution)."""
    db = ctx.db
    lfu = _lfu_policy(ctx)
    if db.read_notouch(argv[2]) is None:
        return None
    if lfu:
        raise CommandError(LFU_SELECTED)
    return db.idle_seconds(argv[2])


def object_freq(ctx, argv):
    """OBJECT FREQ key: the logarithmic access counter, decayed, under an LFU policy."""
    db = ctx.db
    lfu = _lfu_policy(ctx)
    if db.read_notouch(argv[2]) is None:
        return None
    if not lfu:
        raise CommandError(LFU_NOT_SELECTED)
    return db.lfu_freq(argv[2])
