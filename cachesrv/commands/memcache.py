"""memcached text protocol commands (classic and meta) on the shared keyspace.

Theory of operation
-------------------
* ``protocols/memcache.py`` frames the stream (lines, data blocks, swallowed blocks) and hands
  over ``Request`` and ``ClientError`` events; ``execute_memcache(session, event)`` runs one and
  returns the complete reply bytes (``b""`` for noreply / quiet mode). ``run_batch`` runs every
  complete request of a read (execute_memcache's body inline) and appends the replies to the
  connection's output; single-key ``get`` and a plain ``set`` have inline fast paths that count
  and answer exactly as the general ones (``_retrieve``, ``_do_store``). Everything here is
  synchronous: a command is atomic, as under Redis's single thread.
* The specification is memcached 1.6.18 (Debian's build), byte for byte: reply words, error
  texts, the order in which arguments are checked, which errors ``noreply`` hides, and the
  counters ``stats`` shows. Where memcached's answer depends on its internals it is emulated:
  item sizes and slab classes (``item_size``), the global CAS counter (``Keyspace.mc_next_cas``:
  every store, in-place incr, ``md I`` and immediate ``flush_all`` take the next value, so a
  fresh server hands out the same uniques as a fresh memcached), the in-place incr/decr that
  pads a shorter number with spaces ("100" decremented is "99 ") unless a pending ``mg``
  response still references the item, and the culling of unsent responses when a ``get`` meets
  a key longer than 250 bytes. For the last two the connection's output is modelled in windows
  like memcached's: a classic get/gets/gat/gats, ``mn``, the end of a read and every 20 requests
  of one read end a window (``McSession.boundary``).
* memcached works on the string keys of database 0. Its per-item metadata lives in the keyspace
  (``Database.mc_*``): the 32-bit client flags and item state bits (fetched, stale, win token
  sent, binary key) in ``Shard.mcflags``, the CAS unique in ``Shard.cas``. Every write from
  either protocol goes through the Database methods, so ``touched()`` fires with the event name
  Redis gives the RESP equivalent (set, append, incrby, expire, persist, del), breaks WATCHes
  and retires the CAS unique. A TTL is a TTL for both protocols (TTL/PTTL show memcached's,
  ``gat`` changes the one EXPIRE set).
* Expiration times follow memcached: 0 never, negative already expired, up to 30 days relative,
  larger an absolute Unix time. An already expired time stores the value with a TTL in the past,
  so the next access expires it, as memcached's item is linked and then found expired.
* Counters live in ``McStats`` (``server.mc``); per-slab-class ones are kept per class and the
  general block adds them up, as memcached does. Connection state (``McSession``) holds only the
  window bookkeeping and the close request.

Keys of other types (memcached has none)
----------------------------------------
memcached commands see only string keys. A key holding a list, hash, set, sorted set or stream
is, to them:

* invisible to reads: get, gets, gat, gats, touch, mg and me answer a miss and leave it (and its
  TTL) alone; flush_all and the item statistics skip it;
* replaced by the unconditional writers, as RESP SET (and SET XX) replace any value: set, replace,
  and ms in set or replace mode (without C);
* protected from everything else, with the answer memcached gives when it cannot store: add and
  ms ME (like SET NX) answer NOT_STORED / NS; append, prepend and ms MA/MP answer NOT_STORED /
  NS; cas and ms with C answer EXISTS / EX (the key changed since any gets could have seen it);
  mg N cannot vivify over it (EN); incr, decr and ma answer
  ``CLIENT_ERROR cannot increment or decrement non-numeric value``; md with I or x answers EX;
* deleted by delete and md (without I or x), as DEL deletes any type.

A value written over RESP has client flags 0; SET, DEL, RENAME and expiry drop a key's memcached
flags with its value, while APPEND, SETRANGE, INCR and TTL changes keep them (memcached keeps
flags across append, incr and touch). Every write from either protocol changes the CAS unique.

Where cachesrv differs from memcached 1.6.18 on purpose
-------------------------------------------------------
* Meta flags of later 1.6 releases are accepted: E (the CAS value a write gives) on ms/ma/md and
  on mg's vivify, md x (empty the value, keep the item, client flags 0), ms s (return the stored
  size), ms N in append/prepend mode (autovivify with the data). 1.6.18 refuses E and x
  ("CLIENT_ERROR invalid flag") and ignores s and N in ms.
* The last access time (mg l, me la=) is the keyspace's LRU clock, refreshed on every access;
  memcached refreshes an item's time at most once a minute.
* memcached's default segmented LRU bumps a re-read item from a background thread that holds a
  reference meanwhile, so whether an incr/decr right after works in place is timing-dependent
  there; cachesrv behaves as memcached's flat LRU mode (the bump is synchronous).
* A delayed flush_all runs at its time on cachesrv's clock (memcached's ticks once a second).
* stats: the general block carries the fields that mean something here (threads is 1, evictions
  0, limit_maxbytes is maxmemory, 0 when unlimited); stats items/slabs are computed from the
  stored strings (one LRU, no hot/warm segments); stats cachedump lists live items only.
"""

from __future__ import annotations

import resource
import sys
from bisect import bisect_left
from typing import Any

from protocols.memcache import (
    FLAGS_SIZE, ITEM_OVERHEAD, KEY_MAX_LENGTH, META_MAX_TOKENS, NEED_DATA, ULLONG_MAX, ClientError,
    MemcacheReader, Request, b64decode, b64encode, item_size, ntokens, parse_meta_flags,
    safe_strtol, safe_strtoul, safe_strtoull,
)

from ..store.keyspace import (
    MC_EXPIRED, MC_FETCHED, MC_FLAGS_MASK, MC_KEY_BINARY, MC_STALE, MC_TOKEN_SENT, STR_NOT_INT, Database,
)

MEMCACHED_VERSION = b"1.6.18"
REALTIME_MAXDELTA = 60 * 60 * 24 * 30     # exptimes above 30 days are absolute Unix times
REQS_PER_EVENT = 20                       # memcached's -R: requests served per read event

CRLF = b"\r\n"
ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
BAD_EXPTIME = b"CLIENT_ERROR invalid exptime argument\r\n"
BAD_DELTA = b"CLIENT_ERROR invalid numeric delta argument\r\n"
NON_NUMERIC = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
OPAQUE_TOO_LONG = b"CLIENT_ERROR opaque token too long\r\n"
BAD_DELETE = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
END = b"END\r\n"
STRING = (bytes, bytearray)

# store modes (memcached's NREAD_*)
SET, ADD, REPLACE, APPEND, PREPEND, CAS = range(6)
_CLASSIC_MODES = {b"set": SET, b"add": ADD, b"replace": REPLACE, b"append": APPEND,
                  b"prepend": PREPEND, b"cas": CAS}
_MS_MODES = {0: SET, 83: SET, 69: ADD, 65: APPEND, 80: PREPEND, 82: REPLACE}   # M S/E/A/P/R
# store outcomes
STORED, EXISTS, NOT_FOUND, NOT_STORED = range(4)
_CLASSIC_WORDS = (b"STORED\r\n", b"EXISTS\r\n", b"NOT_FOUND\r\n", b"NOT_STORED\r\n")
_META_WORDS = (b"HD", b"EX", b"NF", b"NS")
# incr/decr outcomes
DELTA_OK, DELTA_NON_NUMERIC, DELTA_NOT_FOUND, DELTA_CAS_MISMATCH = range(4)


# -- slab classes (memcached's slabs_init with -f 1.25 -n 48, 1 MB pages) -----------------------
def _slab_sizes() -> list[int]:
    sizes = []
    size = 96                    # sizeof(item) + chunk_size
    while len(sizes) < 62 and size < 524288 / 1.25:
        if size % 8:
            size += 8 - size % 8
        sizes.append(size)
        size = int(size * 1.25)
    sizes.append(524288)         # slab_chunk_max: larger items are chunked
    return sizes


SLAB_SIZES = _slab_sizes()
SLAB_PAGE = 1 << 20
# per-class counters (memcached's slab_stats), index into McStats.slab[clsid]
(S_GET_HITS, S_CMD_SET, S_DELETE_HITS, S_INCR_HITS, S_DECR_HITS, S_CAS_HITS, S_CAS_BADVAL,
 S_TOUCH_HITS) = range(8)
_SLAB_FIELDS = ("get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits",
                "cas_badval", "touch_hits")


def slab_class(size: int) -> int:
    """memcached's slabs_clsid: the smallest class whose chunks hold ``size`` bytes (1-based)."""
    if size < _SMALL_CLASSES_LEN:
        return _SMALL_CLASSES[size]
    i = bisect_left(SLAB_SIZES, size)
    return min(i, len(SLAB_SIZES) - 1) + 1


# The classes of small items, looked up rather than searched (every hit and store counts one).
_SMALL_CLASSES = [min(bisect_left(SLAB_SIZES, n), len(SLAB_SIZES) - 1) + 1 for n in range(4096)]
_SMALL_CLASSES_LEN = len(_SMALL_CLASSES)


class McStats:
    """memcached's counters for the whole server (``server.mc``), plus the state memcached keeps
    globally: a pending delayed flush_all, the keys the last flush_all removed (get_flushed),
    verbosity, and the open connections (stats conns)."""

    _COUNTERS = ("cmd_get", "cmd_flush", "cmd_touch", "cmd_meta", "get_misses", "get_expired",
                 "get_flushed", "delete_misses", "incr_misses", "decr_misses", "cas_misses",
                 "touch_misses", "store_too_large", "store_no_memory", "auth_cmds", "auth_errors",
                 "bytes_read", "bytes_written", "conn_yields", "total_items", "rejected_connections",
                 "total_connections")

    def __init__(self, start_s: int = 0) -> None:
        # memcached's process_started: its clock starts 62 seconds before the server did
        # (time(0) - ITEM_UPDATE_INTERVAL - 2), which shows in TTLs set in the past.
        self.process_started = start_s - 62
        self.conns: dict[int, "McSession"] = {}       # fd -> open connection
        self.listeners: list[tuple[int, str]] = []    # (fd, "tcp:host:port")
        self.port = 0
        self.announced = False        # the "memcached port=" line was logged
        self.verbosity = 0
        self.track_sizes = False      # stats sizes_enable / sizes_disable
        self.flush_at_ms = 0          # a delayed flush_all's time (0: none pending)
        self.flushed: set[bytes] = set()
        self.wake_flush_timer = None  # set by the trio side: called when flush_at_ms changes
        self.max_item_size = 1 << 20  # memcache-max-item-size, kept current by follow_config
        self.config_followed = False
        self.reset()

    def reset(self) -> None:
        """stats reset: every counter, not the gauges (memcached's stats_reset)."""
        for name in self._COUNTERS:
            setattr(self, name, 0)
        self.slab: dict[int, list[int]] = {}

    def count(self, clsid: int, index: int) -> None:
        row = self.slab.get(clsid)
        if row is None:
            row = self.slab[clsid] = [0] * len(_SLAB_FIELDS)
        row[index] += 1

    def total(self, index: int) -> int:
        return sum(row[index] for row in self.slab.values())


def follow_config(server: Any) -> None:
    """Keep ``server.mc.max_item_size`` equal to ``memcache-max-item-size`` (CONFIG SET applies
    at once; connections read the attribute once per read, cheaper than the config lookup).
    Registers once per server."""
    mc = server.mc
    if mc.config_followed:
        return
    mc.config_followed = True
    mc.max_item_size = server.cfg["memcache-max-item-size"]

    def changed(name: str, old: Any, new: Any) -> None:
        mc.max_item_size = new

    server.cfg.on_change("memcache-max-item-size", changed)


class McSession:
    """One memcached connection's state: the output-window bookkeeping memcached's behaviour
    depends on, and whether the connection must close after this batch."""

    __slots__ = ("server", "addr", "laddr", "fd", "refs", "left", "boundary", "cull", "close",
                 "last_cmd", "created", "flushed", "mark")

    def __init__(self, server: Any, addr: str = "", laddr: str = "", fd: int = -1) -> None:
        self.server = server
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        # key -> the value (item) an unsent mg response still references; a store that
        # replaces the item leaves the reference on the old one, hence the identity check
        self.refs: dict[bytes, Any] = {}
        self.left = REQS_PER_EVENT      # requests until memcached would yield (and flush)
        self.boundary = False           # the output so far has been "sent": mark it
        self.cull = False               # drop the unsent output of this window first
        self.close = False              # quit, or a framing error that closes
        self.last_cmd = 0
        self.created = 0
        self.flushed = False            # this read ran a flush_all
        self.mark = 0                   # where the current window's output starts (run_batch)

    def end_batch(self) -> None:
        """The read is used up: memcached sends everything and starts a new event."""
        if self.refs:
            self.refs.clear()
        self.left = REQS_PER_EVENT
        if self.flushed:
            # memcached's LRU maintainer reclaims flushed items in the background right away;
            # only the requests pipelined behind a flush_all still find them (get_flushed).
            self.flushed = False
            self.server.mc.flushed.clear()

    def flush_point(self) -> None:
        if self.refs:
            self.refs.clear()
        self.boundary = True


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def execute_memcache(session: McSession, event: Request | ClientError) -> bytes:
    """Run one event from the reader; return the reply bytes (b"" when nothing is sent)."""
    server = session.server
    mc = server.mc
    if mc.flush_at_ms and server.clock.now_ms() >= mc.flush_at_ms:
        flush_due(server)
    if type(event) is ClientError:
        reply = _framing_error(session, event)
    else:
        handler = _HANDLERS.get(event.command)
        reply = ERROR if handler is None else handler(session, event)
    session.left -= 1
    if session.left < 0:              # memcached yields here, flushing its responses
        session.left = REQS_PER_EVENT - 1
        mc.conn_yields += 1
        session.flush_point()
    return reply


def run_batch(session: McSession, reader: MemcacheReader, out: bytearray, flush_at: int) -> bool:
    """Run every complete request the reader holds, replies appended to ``out``, with
    memcached's window rules: a cull drops the output of the current window, a boundary starts
    a new one. True when it stopped because ``out`` reached ``flush_at`` (the caller sends it,
    clears it, resets ``session.mark`` and calls again); False when the reader needs more data
    or the connection must close (``session.close``)."""
    next_event = reader.next_event
    server = session.server
    mc = server.mc
    handlers = _HANDLERS
    while True:
        event = next_event()
        if event is NEED_DATA:
            return False
        # execute_memcache's body, inline (this loop runs once per request)
        if mc.flush_at_ms and server.clock.now_ms() >= mc.flush_at_ms:
            flush_due(server)
        if type(event) is Request:
            handler = handlers.get(event.command)
            reply = ERROR if handler is None else handler(session, event)
        else:
            reply = _framing_error(session, event)
        left = session.left - 1
        if left < 0:                  # memcached yields here, flushing its responses
            left = REQS_PER_EVENT - 1
            mc.conn_yields += 1
            session.flush_point()
        session.left = left
        if session.cull:
            del out[session.mark:]     # memcached drops the responses it had not sent yet
            session.cull = False
        if reply:
            out += reply
        if session.boundary:
            session.mark = len(out)
            session.boundary = False
        if session.close:
            return False
        if len(out) >= flush_at:
            return True


def _framing_error(s: McSession, ev: ClientError) -> bytes:
    if ev.close:
        # memcached closes at once: the responses it had not sent yet are lost too.
        s.close = True
        s.cull = True
        return b""
    if ev.command:                    # a bad data chunk: memcached counted the set first
        s.server.mc.count(1, S_CMD_SET)
    return ev.message + CRLF if ev.message else b""


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------

def _db(s: McSession) -> Database:
    return s.server.ks.dbs[0]


def _count_flushed(s: McSession, key: bytes) -> None:
    flushed = s.server.mc.flushed
    if flushed and key in flushed:
        flushed.discard(key)
        s.server.mc.get_flushed += 1


def _count_miss(s: McSession, key: bytes, value: Any) -> None:
    """What memcached's do_item_get counts for a key it does not return: get_flushed for one
    removed by flush_all, get_expired for one found expired (``mc_read``'s MC_EXPIRED)."""
    if value is None:
        _count_flushed(s, key)
    elif value is MC_EXPIRED:
        s.server.mc.get_expired += 1


def _lookup_word(s: McSession, db: Database, key: bytes) -> tuple[Any, int]:
    """``_lookup`` that also returns the key's memcached word, in one keyspace lookup."""
    value, word = db.mc_read(key, False)
    if value is None or value is MC_EXPIRED:
        _count_miss(s, key, value)
        return None, 0
    return value, word


def _lookup(s: McSession, db: Database, key: bytes) -> Any:
    """memcached's do_item_get: the stored value or None, counting get_expired / get_flushed
    for a key found expired or removed by flush_all (memcached finds those still in its table)."""
    return _lookup_word(s, db, key)[0]


def expiry_ms(s: McSession, exptime: int) -> int | None:
    """memcached's realtime(EXPTIME_TO_POSITIVE_TIME(exptime)) as an absolute Unix time in ms:
    None for "never"; a time in the past for a negative time or an absolute one that has passed
    (the item is stored, then found expired). As in memcached, a negative time, or an absolute
    one before the server started, is the second after its clock's start."""
    if exptime == 0:
        return None
    now = s.server.clock.now_ms()
    started = s.server.mc.process_started
    if exptime < 0:
        return (started + 1) * 1000
    if exptime > REALTIME_MAXDELTA:
        if exptime <= started:
            return (started + 1) * 1000
        return min(exptime * 1000, now - 1) if exptime * 1000 <= now else exptime * 1000
    return now + exptime * 1000


def _ttl_left(s: McSession, when: int | None) -> int:
    """Seconds left (memcached's it->exptime - current_time), -1 without a TTL. A time already
    passed (T-1 in the same command) wraps around as memcached's unsigned arithmetic does."""
    if when is None:
        return -1
    now = s.server.clock.now_ms()
    left = when - now
    if left > 0:
        return (left + 999) // 1000
    return (when // 1000 - now // 1000) & 0xFFFFFFFF


def _key_token(key: bytes, binary: bool) -> bytes:
    """memcached's META_KEY: k<key>, or k<base64> b for a binary key."""
    if binary:
        return b"k" + b64encode(key) + b" b"
    return b"k" + key


def _size_of(key: bytes, word: int, value) -> int:
    return item_size(len(key), word & MC_FLAGS_MASK, len(value))


def _link(s: McSession, db: Database, key: bytes, value: bytes, flags: int, when: int | None,
          bits: int = 0, new_cas: int | None = None, event: bytes = b"set") -> int:
    """Store a new item (memcached's do_item_link): value, TTL, flags, a new CAS unique."""
    unique = new_cas if new_cas is not None else s.server.ks.mc_next_cas()
    db.mc_set(key, value, when, flags | bits, unique, event)
    mc = s.server.mc
    mc.total_items += 1
    if mc.flushed:
        mc.flushed.discard(key)
    return unique


def _replace_in_place(s: McSession, db: Database, key: bytes, value: bytes, word: int,
                      event: bytes, new_cas: int | None = None) -> int:
    """Swap the value of a live key keeping its TTL (append, incr): a write for WATCH and
    notifications; the memcached word becomes ``word``; a new CAS unique."""
    db.replace_value(key, value)
    db.touched(key, event)
    db.mc_bump(key)
    db.mc_set_word(key, word & ~STR_NOT_INT)     # (a new value: Redis would encode it afresh)
    unique = new_cas if new_cas is not None else s.server.ks.mc_next_cas()
    db.mc_set_cas(key, unique)
    return unique


def _do_store(s: McSession, db: Database, comm: int, key: bytes, value: bytes, flags: int,
              when: int | None, req_cas: int = 0, cas_stale: bool = False, bits: int = 0,
              new_cas: int | None = None) -> tuple[int, int]:
    """memcached's do_store_item for every storage command: returns (outcome, stored CAS)."""
    mc = s.server.mc
    old, word = _lookup_word(s, db, key)
    if old is None:
        if comm == SET or comm == ADD:
            return STORED, _link(s, db, key, value, flags, when, bits, new_cas)
        if comm == CAS:
            mc.cas_misses += 1
            return NOT_FOUND, 0
        return NOT_STORED, 0
    if type(old) is not bytes and type(old) is not bytearray:
        # Another type (see the module docstring): only the unconditional writers replace it.
        if comm == SET or comm == REPLACE:
            return STORED, _link(s, db, key, value, flags, when, bits, new_cas)
        if comm == CAS:
            return EXISTS, 0
        return NOT_STORED, 0
    clsid = slab_class(_size_of(key, word, old))
    if req_cas == 0:
        match = None                  # CAS_NONE
    else:
        old_cas = db.mc_cas(key)
        match = "match" if req_cas == old_cas else ("stale" if cas_stale and req_cas < old_cas else "bad")
    if comm == ADD:
        db.mc_bump(key)               # add promotes the existing item, and fails
        return NOT_STORED, 0
    if comm == CAS:
        if match == "match":
            mc.count(clsid, S_CAS_HITS)
            return STORED, _link(s, db, key, value, flags, when, bits, new_cas)
        if match == "stale":
            # A stale CAS under I: the value is stored but marked stale; TTL and a sent win
            # token carry over.
            mc.count(clsid, S_CAS_HITS)
            keep = MC_STALE | (word & MC_TOKEN_SENT)
            return STORED, _link(s, db, key, value, flags, db.ttl_ms(key), bits | keep, new_cas)
        mc.count(clsid, S_CAS_BADVAL)
        return EXISTS, 0
    if comm == APPEND or comm == PREPEND:
        if match is not None and match != "match":
            return EXISTS, 0
        old_b = bytes(old)
        combined = old_b + value if comm == APPEND else value + old_b
        # A new item with the old flags and TTL (and none of the old state bits).
        mc.total_items += 1
        return STORED, _replace_in_place(s, db, key, combined, word & MC_FLAGS_MASK, b"append", new_cas)
    return STORED, _link(s, db, key, value, flags, when, bits, new_cas)   # SET, REPLACE


def _strtoull_value(value) -> int | None:
    """safe_strtoull over an item's data: C reads up to the first NUL (the data is followed by
    \\r\\n, which ends the number like any space)."""
    data = bytes(value)
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    return safe_strtoull(data)


def _add_delta(s: McSession, db: Database, key: bytes, incr: bool, delta: int, req_cas: int = 0,
               new_cas: int | None = None) -> tuple[int, bytes, bool]:
    """memcached's do_add_delta: (outcome, new number as digits, changed in place?)."""
    value = _lookup(s, db, key)
    if value is None:
        return DELTA_NOT_FOUND, b"", False
    if type(value) is not bytes and type(value) is not bytearray:
        return DELTA_NON_NUMERIC, b"", False
    if not value:
        return DELTA_NON_NUMERIC, b"", False
    if req_cas and db.mc_cas(key) != req_cas:
        return DELTA_CAS_MISMATCH, b"", False
    number = _strtoull_value(value)
    if number is None:
        return DELTA_NON_NUMERIC, b"", False
    if incr:
        number = (number + delta) & ULLONG_MAX
    else:
        number = number - delta if delta <= number else 0
    word = db.mc_word(key)
    s.server.mc.count(slab_class(_size_of(key, word, value)), S_INCR_HITS if incr else S_DECR_HITS)
    digits = b"%d" % number
    if len(digits) <= len(value) and s.refs.get(key) is not value:
        # In place, padded with spaces to the old length, as memcached does when no one else
        # holds the item.
        padded = digits + b" " * (len(value) - len(digits)) if len(digits) < len(value) else digits
        _replace_in_place(s, db, key, padded, word, b"incrby", new_cas)
        return DELTA_OK, digits, True
    s.server.mc.total_items += 1
    _replace_in_place(s, db, key, digits, word & MC_FLAGS_MASK, b"incrby", new_cas)
    return DELTA_OK, digits, False


# ---------------------------------------------------------------------------
# Retrieval: get gets gat gats
# ---------------------------------------------------------------------------

def _retrieve(s: McSession, req: Request, return_cas: bool, touch: bool) -> bytes:
    args = req.args
    if not args:
        return ERROR                             # WANT_TOKENS_MIN(ntokens, 3)
    mc = s.server.mc
    db = _db(s)
    ks = s.server.ks
    keys = args
    when = None
    if touch:
        exptime = safe_strtol(args[0])
        if exptime is None:
            return BAD_EXPTIME
        when = expiry_ms(s, exptime)
        keys = args[1:]
    out = []
    read = db.mc_read
    for key in keys:
        if len(key) > KEY_MAX_LENGTH:
            s.cull = True                        # memcached drops its unsent responses
            return BAD_FORMAT
        value, word = read(key)
        if type(value) is not bytes and type(value) is not bytearray:
            _count_miss(s, key, value)
            if touch:
                mc.cmd_touch += 1
                mc.touch_misses += 1
            else:
                mc.cmd_get += 1
                mc.get_misses += 1
                ks.misses += 1
            continue
        if touch:
            db.mc_expire(key, when)
        flags = word & MC_FLAGS_MASK
        n = len(value)
        if return_cas:
            out.append(b"VALUE %s %d %d %d\r\n" % (key, flags, n, db.mc_cas(key)))
        else:
            out.append(b"VALUE %s %d %d\r\n" % (key, flags, n))
        out.append(value if type(value) is bytes else bytes(value))
        out.append(CRLF)
        clsid = slab_class(item_size(len(key), flags, n))
        if touch:
            mc.cmd_touch += 1
            mc.count(clsid, S_TOUCH_HITS)
        else:
            mc.cmd_get += 1
            mc.count(clsid, S_GET_HITS)
            ks.hits += 1
    out.append(END)
    s.flush_point()                              # memcached writes a get's answer at once
    return b"".join(out)


def _get_many(s: McSession, keys: tuple[bytes, ...]) -> bytes:
    """``get`` with any number of keys: _retrieve's work for a plain get, with the counters
    kept in locals and the per-class counting inline (a multi-get runs this per key)."""
    if not keys:
        return ERROR                             # WANT_TOKENS_MIN(ntokens, 3)
    server = s.server
    mc = server.mc
    ks = server.ks
    read = ks.dbs[0].mc_read
    slab = mc.slab
    out = []
    append = out.append
    misses = 0
    last = row = None
    for i, key in enumerate(keys):
        nkey = len(key)
        if nkey > KEY_MAX_LENGTH:
            s.cull = True                        # memcached drops its unsent responses
            _count_gets(mc, ks, i - misses, misses)
            return BAD_FORMAT
        value, word = read(key)
        t = type(value)
        if t is bytes or t is bytearray:
            flags = word & MC_FLAGS_MASK
            n = len(value)
            append(b"VALUE %s %d %d\r\n%s\r\n" % (key, flags, n, value))
            size = ITEM_OVERHEAD + nkey + n + (FLAGS_SIZE if flags else 0)     # item_size
            clsid = _SMALL_CLASSES[size] if size < _SMALL_CLASSES_LEN else slab_class(size)
            if clsid != last:
                last = clsid
                row = slab.get(clsid)
                if row is None:
                    row = slab[clsid] = [0] * len(_SLAB_FIELDS)
            row[S_GET_HITS] += 1
        else:
            _count_miss(s, key, value)
            misses += 1
    _count_gets(mc, ks, len(keys) - misses, misses)
    append(END)
    s.flush_point()                              # memcached writes a get's answer at once
    return b"".join(out)


def _count_gets(mc: McStats, ks: Any, hits: int, misses: int) -> None:
    mc.cmd_get += hits + misses
    mc.get_misses += misses
    ks.hits += hits
    ks.misses += misses


def cmd_get(s: McSession, req: Request) -> bytes:
    args = req.args
    if len(args) != 1 or len(args[0]) > KEY_MAX_LENGTH:
        return _get_many(s, args)
    # One key, the usual get: _retrieve's work for it, without its loop and calls.
    key = args[0]
    server = s.server
    ks = server.ks
    value, word = ks.dbs[0].mc_read(key)
    mc = server.mc
    mc.cmd_get += 1
    if s.refs:                                   # (flush_point: memcached writes a get's
        s.refs.clear()                           # answer at once)
    s.boundary = True
    t = type(value)
    if t is bytes or t is bytearray:
        flags = word & MC_FLAGS_MASK
        n = len(value)
        size = ITEM_OVERHEAD + len(key) + n + (FLAGS_SIZE if flags else 0)     # item_size
        row = mc.slab.get(_SMALL_CLASSES[size] if size < _SMALL_CLASSES_LEN else slab_class(size))
        if row is None:
            row = mc.slab[slab_class(size)] = [0] * len(_SLAB_FIELDS)
        row[S_GET_HITS] += 1
        ks.hits += 1
        return b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, flags, n, value)
    _count_miss(s, key, value)
    mc.get_misses += 1
    ks.misses += 1
    return END


def cmd_gets(s: McSession, req: Request) -> bytes:
    return _retrieve(s, req, True, False)


def cmd_gat(s: McSession, req: Request) -> bytes:
    return _retrieve(s, req, False, True)


def cmd_gats(s: McSession, req: Request) -> bytes:
    return _retrieve(s, req, True, True)


# ---------------------------------------------------------------------------
# Storage: set add replace append prepend cas (header validated by the reader)
# ---------------------------------------------------------------------------

def cmd_store(s: McSession, req: Request) -> bytes:
    header = req.header
    data = req.data
    if req.command == b"set" and header is not None and data is not None:
        # A set from the reader: _do_store's work for SET, without its calls. The old value is
        # looked up only for what memcached's do_item_get counts (get_expired, get_flushed);
        # a set replaces whatever was there.
        flags, exptime, _, noreply = header
        key = req.args[0]
        server = s.server
        mc = server.mc
        size = ITEM_OVERHEAD + len(key) + len(data) + (FLAGS_SIZE if flags else 0)   # item_size
        row = mc.slab.get(_SMALL_CLASSES[size] if size < _SMALL_CLASSES_LEN else slab_class(size))
        if row is None:
            row = mc.slab[slab_class(size)] = [0] * len(_SLAB_FIELDS)
        row[S_CMD_SET] += 1
        when = expiry_ms(s, exptime) if exptime else None
        ks = server.ks
        db = ks.dbs[0]
        if mc.flushed or ks.role_replica:
            _lookup_word(s, db, key)                 # (for what it counts)
            db.mc_set(key, data, when, flags, ks.mc_next_cas(), b"set")   # _link
        else:
            # The store finds an expired occupant itself (and expires it first, as mc_read
            # would have): the expired-keys counter tells.
            expired = ks.stats_expired_keys
            ks.mc_cas_counter += 1                   # (mc_next_cas, inline)
            db.mc_set(key, data, when, flags, ks.mc_cas_counter, b"set")   # _link
            if ks.stats_expired_keys != expired:
                mc.get_expired += 1
        mc.total_items += 1
        if mc.flushed:
            mc.flushed.discard(key)
        return b"" if noreply else b"STORED\r\n"
    args = req.args
    comm = _CLASSIC_MODES[req.command]
    if header is None:                    # built by hand, not by the reader
        header = (safe_strtoul(args[1]), safe_strtol(args[2]),
                  safe_strtoull(args[4]) if comm == CAS else 0, args[-1] == b"noreply")
    flags, exptime, req_cas, noreply = header
    key = args[0]
    mc = s.server.mc
    db = _db(s)
    if data is None:
        mc.store_too_large += 1
        if comm == SET:
            _drop_string(s, db, key)             # memcached will not serve the old value
        return b"" if noreply else TOO_LARGE
    mc.count(slab_class(item_size(len(key), flags, len(data))), S_CMD_SET)
    when = expiry_ms(s, exptime) if exptime else None
    result, _ = _do_store(s, db, comm, key, data, flags, when, req_cas)
    return b"" if noreply else _CLASSIC_WORDS[result]


def _drop_string(s: McSession, db: Database, key: bytes) -> None:
    value = _lookup(s, db, key)
    if type(value) is bytes or type(value) is bytearray:
        db.delete(key, b"del")


# ---------------------------------------------------------------------------
# touch delete incr decr
# ---------------------------------------------------------------------------

def _key_and_number(req: Request, parse, bad_number: bytes):
    """touch, incr and decr: ``<command> <key> <number> [noreply]``, checked in memcached's
    order (token count, key length, number). Returns (key, number, noreply, None), or a reply
    to give instead as the last item (b"" under noreply)."""
    args = req.args
    nt = ntokens(len(args))
    if nt != 4 and nt != 5:
        return None, None, False, ERROR
    noreply = args[nt - 3] == b"noreply"
    key = args[0]
    if len(key) > KEY_MAX_LENGTH:
        return None, None, noreply, b"" if noreply else BAD_FORMAT
    number = parse(args[1])
    if number is None:
        return None, None, noreply, b"" if noreply else bad_number
    return key, number, noreply, None


def cmd_touch(s: McSession, req: Request) -> bytes:
    key, exptime, noreply, refused = _key_and_number(req, safe_strtol, BAD_EXPTIME)
    if refused is not None:
        return refused
    mc = s.server.mc
    db = _db(s)
    value = _lookup(s, db, key)
    mc.cmd_touch += 1
    if value is None or (type(value) is not bytes and type(value) is not bytearray):
        mc.touch_misses += 1
        return b"" if noreply else b"NOT_FOUND\r\n"
    db.mc_expire(key, expiry_ms(s, exptime))
    word = db.mc_word(key)
    db.mc_bump(key)
    if not word & MC_FETCHED:
        db.mc_set_word(key, word | MC_FETCHED)
    mc.count(slab_class(_size_of(key, word, value)), S_TOUCH_HITS)
    return b"" if noreply else b"TOUCHED\r\n"


def cmd_delete(s: McSession, req: Request) -> bytes:
    args = req.args
    nt = ntokens(len(args))
    if nt < 3 or nt > 5:
        return ERROR
    noreply = False
    if nt > 3:
        # The legacy "delete <key> 0" is accepted; any other hold time is refused.
        hold_is_zero = args[1] == b"0"
        noreply = args[nt - 3] == b"noreply"
        if not ((nt == 4 and (hold_is_zero or noreply)) or (nt == 5 and hold_is_zero and noreply)):
            return b"" if noreply else BAD_DELETE
    key = args[0]
    if len(key) > KEY_MAX_LENGTH:
        return b"" if noreply else BAD_FORMAT
    mc = s.server.mc
    db = _db(s)
    value = _lookup(s, db, key)
    if value is None:
        mc.delete_misses += 1
        return b"" if noreply else b"NOT_FOUND\r\n"
    _count_delete(s, db, key, value)
    db.delete(key, b"del")
    return b"" if noreply else b"DELETED\r\n"


def _count_delete(s: McSession, db: Database, key: bytes, value: Any) -> None:
    if type(value) is bytes or type(value) is bytearray:
        s.server.mc.count(slab_class(_size_of(key, db.mc_word(key), value)), S_DELETE_HITS)
    else:
        s.server.mc.count(1, S_DELETE_HITS)


def _arith(s: McSession, req: Request, incr: bool) -> bytes:
    key, delta, noreply, refused = _key_and_number(req, safe_strtoull, BAD_DELTA)
    if refused is not None:
        return refused
    outcome, digits, _ = _add_delta(s, _db(s), key, incr, delta)
    if outcome == DELTA_OK:
        return b"" if noreply else digits + CRLF
    if outcome == DELTA_NON_NUMERIC:
        return b"" if noreply else NON_NUMERIC
    mc = s.server.mc
    if incr:
        mc.incr_misses += 1
    else:
        mc.decr_misses += 1
    return b"" if noreply else b"NOT_FOUND\r\n"


def cmd_incr(s: McSession, req: Request) -> bytes:
    return _arith(s, req, True)


def cmd_decr(s: McSession, req: Request) -> bytes:
    return _arith(s, req, False)


# ---------------------------------------------------------------------------
# Meta commands: mg ms md ma mn me
# ---------------------------------------------------------------------------

def _meta_prologue(req: Request, too_long: bytes, flag_error: bytes | None):
    """The checks every meta command makes before touching the item: a key, its length, the
    token count, the flags. Returns (MetaFlags, None) or (None, reply)."""
    args = req.args
    if not args:
        return None, ERROR
    if len(args[0]) > KEY_MAX_LENGTH:
        return None, BAD_FORMAT
    if ntokens(len(args)) > META_MAX_TOKENS:
        return None, too_long
    of = parse_meta_flags(args[0], list(args[1:]), req.command)
    if of.error is not None:
        return None, (flag_error or of.error + CRLF)
    return of, None


def cmd_mg(s: McSession, req: Request) -> bytes:
    of, err = _meta_prologue(req, b"CLIENT_ERROR options flags are too long\r\n", None)
    if of is None:
        return err
    mc = s.server.mc
    db = _db(s)
    key = of.key
    value = _lookup(s, db, key)
    created = False
    if value is not None and type(value) is not bytes and type(value) is not bytearray:
        value = None                              # another type: a miss, and no vivify over it
    elif value is None and of.vivify:
        # Vivify on miss: an empty item with the N TTL; its first reader wins the recache.
        # (memcached does not mark a vivified item's key binary: k shows it raw later.)
        _link(s, db, key, b"", 0, None, 0, of.new_cas if of.has_new_cas else None)
        value = b""
        created = True
    if value is None:
        mc.cmd_get += 1
        mc.get_misses += 1
        s.server.ks.misses += 1
        parts = [b"EN"]
        for tok in of.tokens:
            c = tok[0]
            if c == 79:
                if len(tok) > 32:
                    return OPAQUE_TOO_LONG
                parts.append(tok)
            elif c == 107:
                parts.append(_key_token(key, of.key_binary))
        if of.no_reply:
            return b""
        return b" ".join(parts) + CRLF
    word = db.mc_word(key)
    when = db.ttl_ms(key)
    new_when = when
    ttl_set = False
    won = False
    parts = [b"VA %d" % len(value)] if of.value else [b"HD"]
    error = None
    for tok in of.tokens:
        c = tok[0]
        if c == 84:                                   # T: new TTL
            ttl_set = True
            new_when = expiry_ms(s, of.exptime)
        elif c == 78:                                 # N
            if created:
                new_when = expiry_ms(s, of.autoviv_exptime)
                won = True
        elif c == 82:                                 # R: win if the TTL is below the token
            if (not word & MC_TOKEN_SENT and not created and new_when is not None
                    and _recache_wins(s, new_when, of.recache_time)):
                won = True
        elif c == 115:                                # s
            parts.append(b"s%d" % len(value))
        elif c == 116:                                # t
            parts.append(b"t%d" % _ttl_left(s, new_when))
        elif c == 99:                                 # c
            parts.append(b"c%d" % db.mc_cas(key))
        elif c == 102:                                # f
            parts.append(b"f%d" % (word & MC_FLAGS_MASK))
        elif c == 108:                                # l
            parts.append(b"l%d" % db.mc_idle_seconds(key))
        elif c == 104:                                # h
            parts.append(b"h1" if word & MC_FETCHED else b"h0")
        elif c == 79:                                 # O
            if len(tok) > 32:
                error = OPAQUE_TOO_LONG
                break
            parts.append(tok)
        elif c == 107:                                # k
            parts.append(_key_token(key, bool(word & MC_KEY_BINARY)))
    if new_when != when:
        db.mc_expire(key, new_when)
    if error is not None:
        return error                                  # (memcached had already applied T)
    if word & MC_TOKEN_SENT:
        parts.append(b"Z")
    if word & MC_STALE:
        parts.append(b"X")
        if not word & MC_TOKEN_SENT:
            won = True
    if won:
        parts.append(b"W")
        word |= MC_TOKEN_SENT
    if not of.no_update:
        word |= MC_FETCHED
        db.mc_bump(key)
    if word != db.mc_word(key):
        db.mc_set_word(key, word)
    clsid = slab_class(_size_of(key, word, value))
    if ttl_set:
        mc.cmd_touch += 1
        mc.count(clsid, S_TOUCH_HITS)
    else:
        mc.cmd_get += 1
        mc.count(clsid, S_GET_HITS)
    s.server.ks.hits += 1
    s.refs[key] = db.mc_lookup(key)                   # the unsent response holds the item
    head = b" ".join(parts) + CRLF
    if of.value:
        return head + (value if type(value) is bytes else bytes(value)) + CRLF
    return head


def _recache_wins(s: McSession, when: int, token: int) -> bool:
    """mg R: the item's expiry is earlier than realtime(token) (relative or absolute)."""
    if token <= 0:
        return False                 # realtime(0) is "never", a negative token the distant past
    if when <= s.server.clock.now_ms():
        return True                  # already past (T-1 earlier in the command)
    if token > REALTIME_MAXDELTA:
        return token > s.server.mc.process_started and when < token * 1000
    return _ttl_left(s, when) < token


def cmd_ms(s: McSession, req: Request) -> bytes:
    args = req.args
    of = req.header                                      # valid: the reader checked the header
    if of is None:
        of = parse_meta_flags(args[0], list(args[2:]))
    comm = _MS_MODES[of.mode]
    if of.has_cas and (comm == SET or comm == REPLACE):
        comm = CAS
    key = of.key
    mc = s.server.mc
    db = _db(s)
    data = req.data
    if data is None:
        mc.store_too_large += 1
        _drop_string(s, db, key)                        # in every mode, as memcached 1.6.18
        return TOO_LARGE
    mc.count(slab_class(item_size(len(key), of.client_flags, len(data))), S_CMD_SET)
    when = expiry_ms(s, of.exptime) if of.new_ttl else None
    bits = MC_KEY_BINARY if of.key_binary else 0
    new_cas = of.new_cas if of.has_new_cas else None
    result, unique = _do_store(s, db, comm, key, data, of.client_flags, when, of.req_cas,
                               of.set_stale and comm == CAS, bits, new_cas)
    if (result == NOT_STORED and of.vivify and (comm == APPEND or comm == PREPEND)
            and db.mc_lookup(key) is None):
        # N in append mode (memcached 1.6.20+): a miss autovivifies with the data as value.
        unique = _link(s, db, key, data, of.client_flags, expiry_ms(s, of.autoviv_exptime), bits, new_cas)
        result = STORED
    if result == STORED and of.no_reply:
        return b""
    parts = [_META_WORDS[result]]
    for tok in of.tokens:
        c = tok[0]
        if c == 79:
            parts.append(tok)
        elif c == 107:
            parts.append(_key_token(key, of.key_binary))
        elif c == 99:
            parts.append(b"c%d" % unique)
        elif c == 115 and result == STORED:             # s (memcached 1.6.20+): stored size
            stored = db.mc_lookup(key)
            if type(stored) is bytes or type(stored) is bytearray:
                parts.append(b"s%d" % len(stored))
    return b" ".join(parts) + CRLF


def cmd_md(s: McSession, req: Request) -> bytes:
    of, err = _meta_prologue(req, b"CLIENT_ERROR options flags too long\r\n",
                             b"CLIENT_ERROR invalid or duplicate flag\r\n")
    if of is None:
        return err
    key = of.key
    parts = []
    for tok in of.tokens:
        c = tok[0]
        if c == 79:
            if len(tok) > 32:
                return OPAQUE_TOO_LONG
            parts.append(tok)
        elif c == 107:
            parts.append(_key_token(key, of.key_binary))
    mc = s.server.mc
    db = _db(s)
    value = _lookup(s, db, key)
    quiet = False
    if value is None:
        mc.delete_misses += 1
        code = b"NF"
    elif of.has_cas and db.mc_cas(key) != of.req_cas:
        mc.delete_misses += 1
        code = b"EX"
    elif of.set_stale or of.remove_value:
        if type(value) is not bytes and type(value) is not bytearray:
            code = b"EX"                              # no value to mark stale or empty
        else:
            word = db.mc_word(key)
            if of.remove_value:                       # x: keep the item, drop value and flags
                db.replace_value(key, b"")
                db.touched(key, b"set")
                word &= ~MC_FLAGS_MASK
            if of.set_stale:
                if of.new_ttl:
                    db.mc_expire(key, expiry_ms(s, of.exptime))
                # Stale, and the next reader may win the recache again.
                word = (word | MC_STALE) & ~MC_TOKEN_SENT
            db.mc_set_word(key, word)
            db.mc_set_cas(key, of.new_cas if of.has_new_cas else s.server.ks.mc_next_cas())
            code = b"HD"
            quiet = of.no_reply
    else:
        _count_delete(s, db, key, value)
        db.delete(key, b"del")
        code = b"HD"
        quiet = of.no_reply
    if quiet:
        return b""
    return b" ".join([code] + parts) + CRLF


def cmd_ma(s: McSession, req: Request) -> bytes:
    of, err = _meta_prologue(req, b"CLIENT_ERROR options flags too long\r\n",
                             b"CLIENT_ERROR invalid or duplicate flag\r\n")
    if of is None:
        return err
    mode = of.mode
    if mode in (0, 73, 43):          # I +
        incr = True
    elif mode in (68, 45):           # D -
        incr = False
    else:
        return b"CLIENT_ERROR invalid mode for ma M token\r\n"
    key = of.key
    mc = s.server.mc
    db = _db(s)
    new_cas = of.new_cas if of.has_new_cas else None
    outcome, digits, in_place = _add_delta(s, db, key, incr, of.delta, of.req_cas, new_cas)
    created = False
    quiet = False
    if outcome == DELTA_OK:
        quiet = of.no_reply
    elif outcome == DELTA_NON_NUMERIC:
        return NON_NUMERIC
    elif outcome == DELTA_NOT_FOUND:
        if of.vivify:
            if db.mc_lookup(key) is not None:         # another type: no vivify over it
                return NON_NUMERIC
            digits = b"%d" % of.initial
            _link(s, db, key, digits, 0, None, 0, new_cas)
            created = True
        else:
            if incr:
                mc.incr_misses += 1
            else:
                mc.decr_misses += 1
    if outcome == DELTA_OK or created:
        parts = [b"VA %d" % len(digits)] if of.value else [b"HD"]
        when = db.ttl_ms(key)
        new_when = when
        for tok in of.tokens:
            c = tok[0]
            if c == 99:
                parts.append(b"c%d" % db.mc_cas(key))
            elif c == 116:
                parts.append(b"t%d" % _ttl_left(s, new_when))
            elif c == 84:
                new_when = expiry_ms(s, of.exptime)
            elif c == 78:
                if created:
                    new_when = expiry_ms(s, of.autoviv_exptime)
            elif c == 79:
                if len(tok) > 32:
                    return OPAQUE_TOO_LONG
                parts.append(tok)
            elif c == 107:
                parts.append(_key_token(key, of.key_binary))
        # When memcached had to copy the item (a pending response held it, or the number
        # grew), T lands on the old copy: the stored item keeps its TTL ("t" still shows T).
        if new_when != when and (created or in_place):
            db.mc_expire(key, new_when)
        if quiet:
            return b""
        head = b" ".join(parts) + CRLF
        return head + digits + CRLF if of.value else head
    parts = [b"NF" if outcome == DELTA_NOT_FOUND else b"EX"]
    for tok in of.tokens:
        c = tok[0]
        if c == 79:
            if len(tok) > 32:
                return OPAQUE_TOO_LONG
            parts.append(tok)
        elif c == 107:
            parts.append(_key_token(key, of.key_binary))
    return b" ".join(parts) + CRLF


def cmd_mn(s: McSession, req: Request) -> bytes:
    s.flush_point()                  # mn makes memcached write out everything pending
    return b"MN\r\n"


def cmd_me(s: McSession, req: Request) -> bytes:
    args = req.args
    if not args or len(args[0]) > KEY_MAX_LENGTH:
        return BAD_FORMAT
    key = args[0]
    if len(args) >= 2 and args[1] == b"b":
        key = b64decode(key)
        if key is None:
            return BAD_FORMAT
    mc = s.server.mc
    mc.cmd_meta += 1
    db = _db(s)
    value = _lookup(s, db, key)
    if value is None or (type(value) is not bytes and type(value) is not bytearray):
        return b"EN\r\n"
    word = db.mc_word(key)
    when = db.ttl_ms(key)
    size = _size_of(key, word, value)
    shown = b64encode(key) if word & MC_KEY_BINARY else key
    return b"ME %s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\r\n" % (
        shown, -1 if when is None else -_ttl_left(s, when), db.mc_idle_seconds(key),
        db.mc_cas(key), b"yes" if word & MC_FETCHED else b"no", slab_class(size), size)


# ---------------------------------------------------------------------------
# flush_all version verbosity quit cache_memlimit
# ---------------------------------------------------------------------------

def cmd_flush_all(s: McSession, req: Request) -> bytes:
    args = req.args
    nt = ntokens(len(args))
    if nt > 4:
        return ERROR
    noreply = nt >= 3 and args[nt - 3] == b"noreply"
    mc = s.server.mc
    mc.cmd_flush += 1
    exptime = 0
    if nt != (3 if noreply else 2):
        exptime = safe_strtol(args[0])
        if exptime is None:
            return b"" if noreply else BAD_EXPTIME
    server = s.server
    now = server.clock.now_ms()
    if exptime > REALTIME_MAXDELTA and exptime <= mc.process_started:
        # realtime() maps a time before the server started to 1: oldest_live becomes 0, which
        # memcached reads as "no flush" (it still takes a CAS value).
        server.ks.mc_next_cas()
    elif exptime > 1 and not (exptime > REALTIME_MAXDELTA and exptime * 1000 <= now):
        # Delayed: every item stored until then goes at that time (memcached's oldest_live is
        # realtime(exptime) - 1, a second early).
        mc.flush_at_ms = expiry_ms(s, exptime) - 1000
        if mc.wake_flush_timer is not None:
            mc.wake_flush_timer()
    else:
        server.ks.mc_next_cas()
        mc.flush_at_ms = 0
        flush_now(server)
        s.flushed = True
    return b"" if noreply else b"OK\r\n"


def flush_now(server: Any) -> int:
    """flush_all's effect: every string key of database 0 goes (other types are not memcached
    items). The keys are remembered so a later lookup counts in get_flushed."""
    db = server.ks.dbs[0]
    flushed = server.mc.flushed
    flushed.clear()
    n = 0
    for key, _ in db.mc_strings():
        if db.delete(key, b"del"):
            flushed.add(key)
            n += 1
    return n


def flush_due(server: Any) -> None:
    """Run a delayed flush_all whose time has come (called lazily and by the timer task)."""
    mc = server.mc
    if mc.flush_at_ms and server.clock.now_ms() >= mc.flush_at_ms:
        mc.flush_at_ms = 0
        flush_now(server)


def cmd_version(s: McSession, req: Request) -> bytes:
    return b"VERSION " + MEMCACHED_VERSION + CRLF


def cmd_verbosity(s: McSession, req: Request) -> bytes:
    args = req.args
    nt = ntokens(len(args))
    if nt != 3 and nt != 4:
        return ERROR
    noreply = args[nt - 3] == b"noreply"
    level = safe_strtoul(args[0])
    if level is None:
        return b"" if noreply else BAD_FORMAT
    s.server.mc.verbosity = min(level, 2)     # MAX_VERBOSITY_LEVEL
    return b"" if noreply else b"OK\r\n"


def cmd_quit(s: McSession, req: Request) -> bytes:
    s.close = True
    s.flush_point()
    return b""


def cmd_cache_memlimit(s: McSession, req: Request) -> bytes:
    """cache_memlimit <megabytes>: memcached's memory limit is cachesrv's ``maxmemory``."""
    args = req.args
    nt = ntokens(len(args))
    if nt != 3 and nt != 4:
        return ERROR
    noreply = args[nt - 3] == b"noreply"
    limit = safe_strtoul(args[0])
    if limit is None:
        return b"" if noreply else ERROR
    if limit < 8:
        reply = b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
    elif limit > 1000000000:
        reply = b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"
    else:
        try:
            s.server.cfg.config_set([(b"maxmemory", b"%d" % (limit * 1024 * 1024))])
            reply = b"OK\r\n"
        except Exception:
            reply = b"MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n"
    return b"" if noreply else reply


# ---------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------

def _stat_lines(pairs) -> bytes:
    return b"".join(b"STAT %s %s\r\n" % (k.encode(), v if isinstance(v, bytes) else str(v).encode())
                    for k, v in pairs)


def item_totals(server: Any) -> tuple[int, int, dict[int, list[int]]]:
    """(curr_items, bytes, per class [number, mem_requested, oldest idle seconds]) over the
    string keys of database 0, expired ones not yet removed included (as memcached counts)."""
    db = server.ks.dbs[0]
    count = total = 0
    classes: dict[int, list[int]] = {}
    for key, value in db.mc_strings():
        size = _size_of(key, db.mc_word(key), value)
        count += 1
        total += size
        row = classes.get(slab_class(size))
        if row is None:
            row = classes[slab_class(size)] = [0, 0, 0]
        row[0] += 1
        row[1] += size
        row[2] = max(row[2], db.mc_idle_seconds(key))
    return count, total, classes


def general_stats(server: Any) -> list[tuple[str, Any]]:
    mc = server.mc
    usage = resource.getrusage(resource.RUSAGE_SELF)
    curr_items, nbytes, _ = item_totals(server)
    tot = mc.total
    return [
        ("pid", server.pid),
        ("uptime", server.uptime()),
        ("time", server.clock.now_ms() // 1000),
        ("version", MEMCACHED_VERSION),
        ("pointer_size", 64 if sys.maxsize > 2**32 else 32),
        ("rusage_user", "%d.%06d" % divmod(int(usage.ru_utime * 1e6), 1_000_000)),
        ("rusage_system", "%d.%06d" % divmod(int(usage.ru_stime * 1e6), 1_000_000)),
        ("max_connections", server.cfg["maxclients"]),
        ("curr_connections", len(mc.conns)),
        ("total_connections", mc.total_connections),
        ("rejected_connections", mc.rejected_connections),
        ("connection_structures", len(mc.conns) + len(mc.listeners)),
        ("reserved_fds", len(mc.listeners)),
        ("cmd_get", mc.cmd_get),
        ("cmd_set", tot(S_CMD_SET)),
        ("cmd_flush", mc.cmd_flush),
        ("cmd_touch", mc.cmd_touch),
        ("cmd_meta", mc.cmd_meta),
        ("get_hits", tot(S_GET_HITS)),
        ("get_misses", mc.get_misses),
        ("get_expired", mc.get_expired),
        ("get_flushed", mc.get_flushed),
        ("delete_misses", mc.delete_misses),
        ("delete_hits", tot(S_DELETE_HITS)),
        ("incr_misses", mc.incr_misses),
        ("incr_hits", tot(S_INCR_HITS)),
        ("decr_misses", mc.decr_misses),
        ("decr_hits", tot(S_DECR_HITS)),
        ("cas_misses", mc.cas_misses),
        ("cas_hits", tot(S_CAS_HITS)),
        ("cas_badval", tot(S_CAS_BADVAL)),
        ("touch_hits", tot(S_TOUCH_HITS)),
        ("touch_misses", mc.touch_misses),
        ("store_too_large", mc.store_too_large),
        ("store_no_memory", mc.store_no_memory),
        ("auth_cmds", mc.auth_cmds),
        ("auth_errors", mc.auth_errors),
        ("bytes_read", mc.bytes_read),
        ("bytes_written", mc.bytes_written),
        ("limit_maxbytes", server.cfg["maxmemory"]),
        ("accepting_conns", 1 if mc.listeners else 0),
        ("listen_disabled_num", 0),
        ("threads", 1),
        ("conn_yields", mc.conn_yields),
        ("malloc_fails", 0),
        ("bytes", nbytes),
        ("curr_items", curr_items),
        ("total_items", mc.total_items),
        ("evictions", 0),
        ("reclaimed", 0),
    ]


def settings_stats(server: Any) -> list[tuple[str, Any]]:
    cfg = server.cfg
    mc = server.mc
    binds = cfg["bind"]
    return [
        ("maxbytes", cfg["maxmemory"]),
        ("maxconns", cfg["maxclients"]),
        ("tcpport", mc.port),
        ("udpport", 0),
        ("inter", ",".join(binds) if binds else "NULL"),
        ("verbosity", mc.verbosity),
        ("oldest", 0),
        ("evictions", "on"),
        ("domain_socket", "NULL"),
        ("umask", "700"),
        ("shutdown_command", "no"),
        ("growth_factor", "1.25"),
        ("chunk_size", 48),
        ("num_threads", 1),
        ("num_threads_per_udp", 1),
        ("stat_key_prefix", ":"),
        ("detail_enabled", "no"),
        ("reqs_per_event", REQS_PER_EVENT),
        ("cas_enabled", "yes"),
        ("tcp_backlog", cfg["tcp-backlog"]),
        ("binding_protocol", "ascii"),
        ("auth_enabled_sasl", "no"),
        ("auth_enabled_ascii", "no"),
        ("item_size_max", cfg["memcache-max-item-size"]),
        ("maxconns_fast", "yes"),
        ("hashpower_init", 0),
        ("slab_reassign", "no"),
        ("slab_automove", 0),
        ("slab_chunk_max", SLAB_SIZES[-1]),
        ("lru_crawler", "no"),
        ("tail_repair_time", 0),
        ("flush_enabled", "yes"),
        ("dump_enabled", "yes"),
        ("hash_algorithm", "crc16"),
        ("lru_maintainer_thread", "no"),
        ("lru_segmented", "no"),
        ("temp_lru", "no"),
        ("idle_timeout", cfg["timeout"]),
        ("track_sizes", "yes" if mc.track_sizes else "no"),
        ("inline_ascii_response", "no"),
    ]


def items_stats(server: Any) -> list[tuple[str, Any]]:
    mc = server.mc
    _, _, classes = item_totals(server)
    out = []
    for clsid in sorted(classes):
        number, mem, age = classes[clsid]
        hits = mc.slab.get(clsid, [0] * len(_SLAB_FIELDS))[S_GET_HITS]
        p = "items:%d:" % clsid
        out += [(p + "number", number), (p + "number_hot", 0), (p + "number_warm", 0),
                (p + "number_cold", number), (p + "age_hot", 0), (p + "age_warm", 0),
                (p + "age", age), (p + "mem_requested", mem), (p + "evicted", 0),
                (p + "evicted_nonzero", 0), (p + "evicted_time", 0), (p + "outofmemory", 0),
                (p + "tailrepairs", 0), (p + "reclaimed", 0), (p + "expired_unfetched", 0),
                (p + "evicted_unfetched", 0), (p + "evicted_active", 0),
                (p + "crawler_reclaimed", 0), (p + "crawler_items_checked", 0),
                (p + "lrutail_reflocked", 0), (p + "moves_to_cold", 0), (p + "moves_to_warm", 0),
                (p + "moves_within_lru", 0), (p + "direct_reclaims", 0), (p + "hits_to_hot", 0),
                (p + "hits_to_warm", 0), (p + "hits_to_cold", hits), (p + "hits_to_temp", 0)]
    return out


def slabs_stats(server: Any) -> list[tuple[str, Any]]:
    mc = server.mc
    _, _, classes = item_totals(server)
    out = []
    active = 0
    malloced = 0
    for clsid in sorted(set(classes) | set(mc.slab)):
        size = SLAB_SIZES[clsid - 1]
        per_page = max(1, SLAB_PAGE // size)
        used = classes.get(clsid, [0, 0, 0])[0]
        pages = max(1, -(-used // per_page))
        active += 1
        malloced += pages * per_page * size
        row = mc.slab.get(clsid, [0] * len(_SLAB_FIELDS))
        p = "%d:" % clsid
        out += [(p + "chunk_size", size), (p + "chunks_per_page", per_page),
                (p + "total_pages", pages), (p + "total_chunks", pages * per_page),
                (p + "used_chunks", used), (p + "free_chunks", pages * per_page - used),
                (p + "free_chunks_end", 0)]
        out += [(p + name, row[i]) for i, name in enumerate(_SLAB_FIELDS)]
    out += [("active_slabs", active), ("total_malloced", malloced)]
    return out


def sizes_stats(server: Any) -> list[tuple[str, Any]]:
    """stats sizes: items per 32-byte size bucket (the bucket's upper bound)."""
    db = server.ks.dbs[0]
    buckets: dict[int, int] = {}
    for key, value in db.mc_strings():
        b = -(-_size_of(key, db.mc_word(key), value) // 32) * 32
        buckets[b] = buckets.get(b, 0) + 1
    return [(str(b), buckets[b]) for b in sorted(buckets)]


def conns_stats(server: Any) -> list[tuple[str, Any]]:
    mc = server.mc
    now = server.unixtime
    out = []
    for fd, addr in mc.listeners:
        out += [("%d:addr" % fd, addr), ("%d:state" % fd, "conn_listening"),
                ("%d:secs_since_last_cmd" % fd, max(0, now - int(server.start_time)))]
    for fd in sorted(mc.conns):
        c = mc.conns[fd]
        out += [("%d:addr" % fd, "tcp:" + c.addr), ("%d:listen_addr" % fd, "tcp:" + c.laddr),
                ("%d:state" % fd, "conn_parse_cmd"),
                ("%d:secs_since_last_cmd" % fd, max(0, now - c.last_cmd))]
    return out


def cmd_stats(s: McSession, req: Request) -> bytes:
    args = req.args
    server = s.server
    if not args:
        return _stat_lines(general_stats(server)) + END
    sub = args[0]
    nt = ntokens(len(args))
    if sub == b"reset":
        server.mc.reset()
        return b"RESET\r\n"
    if sub == b"detail":
        what = args[1] if nt >= 4 else b""
        if what == b"on" or what == b"off":
            return b"OK\r\n"
        if what == b"dump":
            return END
        return b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"
    if sub == b"settings":
        return _stat_lines(settings_stats(server)) + END
    if sub == b"cachedump":
        if nt < 5:
            return b"CLIENT_ERROR bad command line\r\n"
        clsid, limit = safe_strtoul(args[1]), safe_strtoul(args[2])
        if clsid is None or limit is None:
            return BAD_FORMAT
        if clsid >= 64:
            return b"CLIENT_ERROR Illegal slab id\r\n"
        return _cachedump(s, clsid, limit)
    if sub == b"conns":
        return _stat_lines(conns_stats(server)) + END
    if sub == b"items":
        return _stat_lines(items_stats(server)) + END
    if sub == b"slabs":
        return _stat_lines(slabs_stats(server)) + END
    if sub == b"sizes":
        if not server.mc.track_sizes:
            return b"STAT sizes_status disabled\r\nEND\r\n"
        return _stat_lines(sizes_stats(server)) + END
    if sub == b"sizes_enable" or sub == b"sizes_disable":
        # (memcached 1.6.18 answers these two without an END line; enabling takes a CAS value,
        # the first one the histogram counts)
        if sub == b"sizes_enable" and not server.mc.track_sizes:
            server.ks.mc_next_cas()
        server.mc.track_sizes = sub == b"sizes_enable"
        return b"STAT sizes_status %s\r\n" % (b"enabled" if server.mc.track_sizes else b"disabled")
    if sub == b"extstore":
        return END
    return ERROR


def _cachedump(s: McSession, clsid: int, limit: int) -> bytes:
    """stats cachedump <class> <limit>: "ITEM <key> [<bytes> b; <expiry> s]" per item (limit 0:
    all), memcached's 2 MB reply cap included."""
    db = _db(s)
    out = []
    total = 0
    for key, value in db.mc_strings():
        if slab_class(_size_of(key, db.mc_word(key), value)) != clsid:
            continue
        when = db.ttl_ms(key)
        line = b"ITEM %s [%d b; %d s]\r\n" % (key, len(value), 0 if when is None else when // 1000)
        if total + len(line) > 2 * 1024 * 1024 - 6:
            break
        out.append(line)
        total += len(line)
        if limit and len(out) >= limit:
            break
    out.append(END)
    return b"".join(out)


_HANDLERS = {
    b"get": cmd_get, b"gets": cmd_gets, b"gat": cmd_gat, b"gats": cmd_gats, b"bget": cmd_get,
    b"set": cmd_store, b"add": cmd_store, b"replace": cmd_store, b"append": cmd_store,
    b"prepend": cmd_store, b"cas": cmd_store,
    b"touch": cmd_touch, b"delete": cmd_delete, b"incr": cmd_incr, b"decr": cmd_decr,
    b"mg": cmd_mg, b"ms": cmd_ms, b"md": cmd_md, b"ma": cmd_ma, b"mn": cmd_mn, b"me": cmd_me,
    b"flush_all": cmd_flush_all, b"version": cmd_version, b"verbosity": cmd_verbosity,
    b"quit": cmd_quit, b"cache_memlimit": cmd_cache_memlimit, b"stats": cmd_stats,
}
