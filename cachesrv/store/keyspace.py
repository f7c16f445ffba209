"""The keyspace: the one owner of every key, value and TTL.

Theory of operation
-------------------
* ``Keyspace`` holds ``databases`` ``Database`` objects and what is global to them: the clock, the
  dirty counter (changes since the last save), statistics and the hooks later features attach to.
* A ``Database`` splits its keys by Redis Cluster's hash slot (CRC16 of the key or its ``{tag}``,
  mod 16384). Data lives in one dict per slot, created on first use; SCAN walks the slots in
  order, so a full iteration returns every key that was present from start to end. The slots are
  grouped into ``SHARDS`` shards of contiguous slot ranges; a ``Shard`` keeps the metadata of its
  keys: the expiry index (``expires``, absolute Unix ms), the list active expiry samples from,
  the access stamp (the LRU clock for OBJECT IDLETIME, or under an LFU policy Redis's LFU word
  for OBJECT FREQ), and its key count.
* A key is expired once the clock has passed its time (Redis's keyIsExpired: now > when): at the
  very millisecond it is still there, with a PTTL of 0.
* Nothing outside this module touches those dicts. Handlers read with ``get``/``get_typed`` (lazy
  expiry: an expired key is deleted on access and reads as missing) and write with ``set``,
  ``delete``, ``set_expire``... Every change ends in ``touched()``: the one place that counts dirty
  changes, breaks WATCHes, retires memcached CAS uniques, and will wake blocked clients, notify
  and propagate as those features arrive.
* On a replica (``role_replica``) keys are never deleted by this process's clock: an expired key
  reads as missing but stays until the primary's DEL arrives.
* Nothing here awaits: every method runs to completion, so each command is atomic.

Values: a string is ``bytes`` (``bytearray`` once APPEND/SETRANGE have grown it in place, which
OBJECT ENCODING reports as "raw", as Redis does). Other types are classes with a ``type_name``,
an ``encoding`` (Redis's name for their current representation, for OBJECT ENCODING) and a
``copy()`` that returns an independent deep copy (COPY).
"""

from __future__ import annotations

import random
import time
from binascii import crc_hqx
from bisect import bisect_right
from itertools import accumulate, compress, islice
from typing import Any, Callable, Iterable, Iterator

from ..commands.errors import WRONGTYPE, CommandError

NSLOTS = 16384
SHARDS = 16
SLOTS_PER_SHARD = NSLOTS // SHARDS
_SHARD_SHIFT = 10  # slot >> 10 == shard index
assert SLOTS_PER_SHARD == 1 << _SHARD_SHIFT

STRING_TYPES = (bytes, bytearray)

# memcached item state kept above the 32 client-flag bits of ``Shard.mcflags`` words
MC_FLAGS_MASK = 0xFFFFFFFF
MC_FETCHED = 1 << 32      # read by a memcached get since it was stored (mg h, me fetch=)
MC_STALE = 1 << 33        # marked stale by md I / ms I (mg answers X)
MC_TOKEN_SENT = 1 << 34   # a client already won the right to recache (mg answers Z)
MC_KEY_BINARY = 1 << 35   # stored with a base64 key (mg k / me print it base64-encoded)
# and one bit of the RESP side, in the same word so that every path that forgets a key's
# memcached state forgets it too (set, delete, expiry, RENAME targets)
STR_NOT_INT = 1 << 36     # a string Redis keeps as embstr though it reads as an integer
                          # (INCRBYFLOAT's result; INCR makes it an integer again)
ACCEPTABLE_STALE = 10  # percent: active expiry repeats on a shard while more of a sample expired
LFU_INIT_VAL = 5       # a new key's LFU counter, so it is not evicted before it had a chance


def slot_of(key: bytes) -> int:
    """The slot a key lives in, in this keyspace: its Python hash, which a bytes object computes
    once and keeps, so the dict lookup that follows reuses it (CRC16 cost more than the lookup).
    Slots are an internal unit (SCAN's cursor, shards): unlike Redis Cluster's, they do not follow
    hash tags, and they differ from one process to the next (PYTHONHASHSEED)."""
    return hash(key) & 0x3FFF


def keyslot(key: bytes) -> int:
    """Redis Cluster's HASH_SLOT: CRC16-XMODEM (``binascii.crc_hqx``) of the key or its hash tag."""
    if 123 in key:                 # b"{" (an int needle: a bare memchr, the cheap test)
        s = key.find(b"{")
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc_hqx(key, 0) & 0x3FFF


def type_name(value: Any) -> str:
    if type(value) is bytes or type(value) is bytearray:
        return "string"
    return value.type_name


class SystemClock:
    """Unix time in milliseconds. Tests swap in ``FakeClock``."""

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)


class FakeClock:
    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


class _McExpired:
    """``Database.mc_lookup``'s answer for a key that was there but had expired."""

    def __repr__(self) -> str:
        return "MC_EXPIRED"


MC_EXPIRED = _McExpired()


class Shard:
    """Metadata of the keys in one contiguous range of slots of one database."""

    __slots__ = ("expires", "volatile", "atime", "nkeys", "cas", "mcflags")

    def __init__(self) -> None:
        self.expires: dict[bytes, int] = {}
        # Keys active expiry samples from: appended when a key gains a TTL, cleaned lazily when a
        # sample finds the key no longer volatile; compacted when it outgrows ``expires``.
        self.volatile: list[bytes] = []
        self.atime: dict[bytes, int] = {}     # key -> LRU clock (seconds) of its last access
        self.nkeys = 0
        self.cas: dict[bytes, int] = {}        # memcached CAS uniques handed out since the last write
        # memcached per-key word: client flags (low 32 bits) and item state bits (MC_* below);
        # only non-zero words are kept. A value that is replaced or removed loses its word.
        self.mcflags: dict[bytes, int] = {}


def _shard_expire(shard: "Shard", key: bytes, when_ms: int) -> None:
    """Record ``key``'s absolute expiry in its shard (and in the sampling list when it is new)."""
    if key not in shard.expires:
        shard.volatile.append(key)
        if len(shard.volatile) > 2 * len(shard.expires) + 64:
            shard.volatile = list(shard.expires)
            shard.volatile.append(key)
    shard.expires[key] = when_ms


class Database:
    __slots__ = ("ks", "id", "slots", "shards", "watched", "avg_ttl")

    def __init__(self, ks: "Keyspace", index: int) -> None:
        self.ks = ks
        self.id = index
        self.slots: list[dict | None] = [None] * NSLOTS
        self.shards = [Shard() for _ in range(SHARDS)]
        self.watched: dict[bytes, set] = {}   # key -> sessions WATCHing it
        self.avg_ttl = 0                       # estimate kept by active expiry, as INFO keyspace shows

    # -- reading ---------------------------------------------------------------------------------
    def get(self, key: bytes, touch: bool = True) -> Any:
        """The live value of ``key`` or None. Expires it lazily; records the access unless told not to."""
        slot = hash(key) & 0x3FFF
        d = self.slots[slot]
        if d is None:
            return None
        value = d.get(key)
        if value is None:
            return None
        shard = self.shards[slot >> _SHARD_SHIFT]
        exp = shard.expires
        # Redis's keyIsExpired: a key is expired once the clock has passed its time (now > when),
        # so at exactly ``when`` it still exists (and PTTL answers 0).
        if exp and key in exp and exp[key] < self.ks.clock.now_ms():
            if not self.ks.role_replica:
                self._expire_now(key, slot, d, shard)
            return None
        if touch:
            ks = self.ks
            shard.atime[key] = ks.lfu_touch(shard.atime.get(key)) if ks.lfu else ks.lru_clock
        return value

    def read(self, key: bytes, kinds: type | tuple | None = None) -> Any:
        """Lookup for a read-only command: counts keyspace hits and misses (INFO stats) as Redis's
        lookupKeyRead does, and raises WRONGTYPE when the value is not of ``kinds``."""
        # get()'s body, repeated: this is the lookup of every read command (GET above all).
        slot = hash(key) & 0x3FFF
        d = self.slots[slot]
        value = None if d is None else d.get(key)
        ks = self.ks
        if value is None:
            ks.misses += 1
            return None
        shard = self.shards[slot >> _SHARD_SHIFT]
        exp = shard.expires
        if exp and key in exp and exp[key] < ks.clock.now_ms():
            if not ks.role_replica:
                self._expire_now(key, slot, d, shard)
            ks.misses += 1
            return None
        shard.atime[key] = ks.lfu_touch(shard.atime.get(key)) if ks.lfu else ks.lru_clock
        ks.hits += 1
        if kinds is not None and not isinstance(value, kinds):
            raise CommandError(WRONGTYPE)
        return value

    def read_many(self, keys: Iterable[bytes]) -> list:
        """``read`` for many keys at once (MGET, a pipelined batch of GETs): their values or
        None, in order, with the hits and misses counted."""
        slots, shards, ks = self.slots, self.shards, self.ks
        lru = None if ks.lfu else ks.lru_clock
        values: list = []
        add = values.append
        hits = 0
        for key in keys:
            slot = hash(key) & 0x3FFF
            d = slots[slot]
            value = None if d is None else d.get(key)
            if value is not None:
                shard = shards[slot >> _SHARD_SHIFT]
                exp = shard.expires
                if exp and key in exp and exp[key] < ks.clock.now_ms():
                    if not ks.role_replica:
                        self._expire_now(key, slot, d, shard)
                    value = None
                else:
                    shard.atime[key] = lru if lru is not None else ks.lfu_touch(shard.atime.get(key))
                    hits += 1
            add(value)
        ks.hits += hits
        ks.misses += len(values) - hits
        return values

    def get_typed(self, key: bytes, kinds: type | tuple, touch: bool = True) -> Any:
        value = self.get(key, touch)
        if value is not None and not isinstance(value, kinds):
            raise CommandError(WRONGTYPE)
        return value

    def get_string(self, key: bytes) -> bytes | bytearray | None:
        value = self.get(key)
        if value is not None and type(value) is not bytes and type(value) is not bytearray:
            raise CommandError(WRONGTYPE)
        return value

    def exists(self, key: bytes) -> bool:
        return self.get(key, touch=False) is not None

    def ttl_ms(self, key: bytes) -> int | None:
        """Absolute expiry (Unix ms) of a live key, or None if it has none. Call after ``get``."""
        slot = slot_of(key)
        return self.shards[slot >> _SHARD_SHIFT].expires.get(key)

    def idle_seconds(self, key: bytes) -> int:
        shard = self.shards[slot_of(key) >> _SHARD_SHIFT]
        return max(0, self.ks.lru_clock - shard.atime.get(key, self.ks.lru_clock))

    # -- writing ---------------------------------------------------------------------------------
    def set(self, key: bytes, value: Any, keepttl: bool = False, event: bytes | None = b"set") -> Shard:
        """Store ``value`` under ``key`` (new or overwritten). Drops any TTL unless ``keepttl``.
        Returns the key's shard (for callers that keep more of the key's state there)."""
        slot = hash(key) & 0x3FFF
        d = self.slots[slot]
        if d is None:
            d = self.slots[slot] = {}
        shard = self.shards[slot >> _SHARD_SHIFT]
        exp = shard.expires
        if exp and key in exp:
            if exp[key] < self.ks.clock.now_ms() and not self.ks.role_replica:   # now > when
                # An expired occupant is expired first ("expired" event, stats), as Redis's
                # lookupKeyWrite does before the overwrite.
                self._expire_now(key, slot, d, shard)
                d = self.slots[slot]
                if d is None:
                    d = self.slots[slot] = {}
            elif not keepttl:
                del exp[key]           # overwriting drops the TTL unless KEEPTTL
        if shard.mcflags:
            shard.mcflags.pop(key, None)   # a new value has no memcached flags
        n = len(d)
        d[key] = value
        ks = self.ks
        if len(d) != n:
            shard.nkeys += 1
            shard.atime[key] = ks.lfu_stamp(LFU_INIT_VAL) if ks.lfu else ks.lru_clock
        else:
            # LFU: the new value inherits the old one's counter, bumped by the write lookup.
            shard.atime[key] = ks.lfu_touch(shard.atime.get(key)) if ks.lfu else ks.lru_clock
        self._touched(key, shard, event)
        return shard

    def replace_value(self, key: bytes, value: Any) -> None:
        """Swap the value object of an existing key in place (keeps TTL; caller calls touched)."""
        slot = slot_of(key)
        self.slots[slot][key] = value
        mc = self.shards[slot >> _SHARD_SHIFT].mcflags
        if mc and mc.get(key, 0) & STR_NOT_INT:
            self.mc_set_word(key, mc[key] & ~STR_NOT_INT)  # a new value: Redis encodes it afresh

    def mark_not_int(self, key: bytes) -> None:
        """The string under ``key`` reads as an integer but Redis keeps it as embstr
        (INCRBYFLOAT's result), until a new value replaces it."""
        self.mc_set_word(key, self.mc_word(key) | STR_NOT_INT)

    def not_int(self, key: bytes) -> bool:
        """Whether the string under ``key`` is one Redis keeps as embstr although it reads as an
        integer (OBJECT ENCODING)."""
        return bool(self.mc_word(key) & STR_NOT_INT)

    def delete(self, key: bytes, event: bytes | None = b"del") -> bool:
        """Remove a live key. True if it existed (an expired key counts as absent)."""
        if self.get(key, touch=False) is None:
            return False
        self._remove(key)
        self.touched(key, event)
        return True

    def _remove(self, key: bytes) -> Any:
        slot = slot_of(key)
        d = self.slots[slot]
        value = d.pop(key)
        if not d:
            self.slots[slot] = None
        shard = self.shards[slot >> _SHARD_SHIFT]
        shard.nkeys -= 1
        if shard.expires:
            shard.expires.pop(key, None)
        shard.atime.pop(key, None)
        if shard.mcflags:
            shard.mcflags.pop(key, None)
        return value

    def _expire_now(self, key: bytes, slot: int, d: dict, shard: Shard) -> None:
        del d[key]
        if not d:
            self.slots[slot] = None
        shard.nkeys -= 1
        del shard.expires[key]
        shard.atime.pop(key, None)
        if shard.mcflags:
            shard.mcflags.pop(key, None)
        self.ks.stats_expired_keys += 1
        self.touched(key, b"expired")
        self.ks.on_expired(self, key)

    def pop_value(self, key: bytes) -> Any:
        """Remove a live key and return its value without signalling (RENAME/MOVE signal themselves)."""
        if self.get(key, touch=False) is None:
            return None
        return self._remove(key)

    def set_expire(self, key: bytes, when_ms: int) -> None:
        """Give an existing live key an absolute expiry (Unix ms). The caller signals the change."""
        _shard_expire(self.shards[slot_of(key) >> _SHARD_SHIFT], key, when_ms)

    def persist(self, key: bytes) -> bool:
        """Drop the TTL of a live key; True if it had one."""
        shard = self.shards[slot_of(key) >> _SHARD_SHIFT]
        return shard.expires.pop(key, None) is not None

    def touched(self, key: bytes, event: bytes | None = None) -> None:
        """Every change to ``key`` passes here (Redis's signalModifiedKey + notifyKeyspaceEvent)."""
        self._touched(key, self.shards[slot_of(key) >> _SHARD_SHIFT], event)

    def _touched(self, key: bytes, shard: Shard, event: bytes | None) -> None:
        ks = self.ks
        ks.dirty += 1
        if self.watched and key in self.watched:
            for session in self.watched[key]:
                session.watch_dirty = True
        if shard.cas:
            shard.cas.pop(key, None)
        if ks.change_hooks:
            for hook in ks.change_hooks:
                hook(self, key, event)

    # -- whole-database operations ---------------------------------------------------------------
    def size(self) -> int:
        return sum(s.nkeys for s in self.shards)

    def expires_count(self) -> int:
        return sum(len(s.expires) for s in self.shards)

    def iter_keys(self) -> Iterator[bytes]:
        """Every key, expired ones included (callers filter with ``is_live``); slot order."""
        for d in self.slots:
            if d:
                yield from list(d)

    def is_live(self, key: bytes) -> bool:
        """Whether ``key`` exists and has not expired, without deleting or touching anything."""
        slot = slot_of(key)
        d = self.slots[slot]
        if d is None or key not in d:
            return False
        exp = self.shards[slot >> _SHARD_SHIFT].expires.get(key)
        return exp is None or exp >= self.ks.clock.now_ms()

    def scan(self, cursor: int, count: int, expire: bool = True) -> tuple[int, list[bytes]]:
        """One SCAN step: the keys of whole slots from ``cursor`` (a slot number) on, until at
        least ``count`` keys were gathered. Returns (next cursor, or 0 at the end, keys).

        Slots never rehash, so a full iteration returns every key present from its start to its
        end, each once unless it was deleted and added again. Empty slots are skipped at C speed
        (``compress``), so a small database comes back whole in one call, as Redis's small
        tables do. With ``expire`` (the default) expired keys met on the way are expired lazily
        and left out; SCAN itself passes False and filters after MATCH and TYPE, in Redis's
        order. A slot is never split: keys sharing one hash tag come back together."""
        slots = self.slots
        out: list[bytes] = []
        if cursor >= NSLOTS:
            return 0, out
        for slot in compress(range(cursor, NSLOTS), islice(slots, cursor, None)):
            keys = list(slots[slot])
            if expire:
                keys = [k for k in keys if self.get(k, touch=False) is not None]
            out += keys
            if len(out) >= count:
                return (slot + 1 if slot + 1 < NSLOTS else 0), out
        return 0, out

    def random_key(self) -> bytes | None:
        """A random live key (RANDOMKEY), uniform over the stored keys.

        As Redis's dbRandomKey: an expired key that is drawn is expired and the draw repeats, so
        the loop ends (each miss removes a key). On a replica expired keys are not deleted; after
        100 misses in a database where every key has a TTL, the last key drawn is returned even
        if logically expired, rather than loop for ever."""
        tries = 0
        while True:
            total = self.size()
            if total == 0:
                return None
            key = self._random_stored_key(total)
            if self.is_live(key):
                return key
            if self.ks.role_replica:
                tries += 1
                if tries >= 100 and self.expires_count() == total:
                    return key
                continue
            self.get(key, touch=False)

    def _random_stored_key(self, total: int) -> bytes:
        """A uniformly drawn stored key (expired or not): the r-th key in slot order."""
        r = random.randrange(total)
        shard_i = 0
        for shard_i, s in enumerate(self.shards):
            if r < s.nkeys:
                break
            r -= s.nkeys
        lo = shard_i << _SHARD_SHIFT
        # Running key counts over the shard's occupied slots, then a bisection: all at C speed.
        occupied = list(filter(None, self.slots[lo:lo + SLOTS_PER_SHARD]))
        cumulative = list(accumulate(map(len, occupied)))
        j = bisect_right(cumulative, r)
        if j:
            r -= cumulative[j - 1]
        return next(islice(occupied[j], r, None))

    def _touch_watchers(self, other: "Database | None" = None) -> None:
        """Break the WATCHes on keys that exist here (or in ``other``, the database swapped in),
        as Redis's touchAllWatchedKeysInDb: a flush or swap that changes nothing a client
        watched leaves its transaction alone."""
        for key, sessions in self.watched.items():
            slot = slot_of(key)
            d = self.slots[slot]
            present = d is not None and key in d
            if not present and other is not None:
                od = other.slots[slot]
                present = od is not None and key in od
            if present:
                for session in sessions:
                    session.watch_dirty = True

    def clear(self) -> int:
        """FLUSHDB: drop every key. Returns how many there were (expired ones included, as
        Redis's dictSize). Breaks the WATCHes on keys that existed."""
        n = self.size()
        if self.watched:
            self._touch_watchers()
        self.slots = [None] * NSLOTS
        self.shards = [Shard() for _ in range(SHARDS)]
        self.avg_ttl = 0
        return n

    def take_contents(self) -> tuple[list, list, int]:
        """Detach slots, shards and the TTL estimate (SWAPDB); the caller installs them elsewhere."""
        return self.slots, self.shards, self.avg_ttl

    def put_contents(self, contents: tuple[list, list, int]) -> None:
        self.slots, self.shards, self.avg_ttl = contents

    # -- for the generic key commands (commands/keys.py, commands/expire.py) ----------------------
    def read_notouch(self, key: bytes) -> Any:
        """Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH): expires lazily and counts a keyspace
        hit or miss, but leaves the access time alone (EXISTS, TYPE, TTL, OBJECT, SCAN TYPE)."""
        value = self.get(key, touch=False)
        if value is None:
            self.ks.misses += 1
        else:
            self.ks.hits += 1
        return value

    def live_keys(self, match: Callable[[bytes], bool] | None = None) -> list[bytes]:
        """KEYS: every stored key that has not expired, optionally filtered by ``match``, in slot
        order. Nothing is deleted (Redis's KEYS only skips expired keys); whole slots of
        shards without TTLs are taken at C speed."""
        now = self.ks.clock.now_ms()
        slots = self.slots
        shards = self.shards
        out: list[bytes] = []
        for slot in compress(range(NSLOTS), slots):
            d = slots[slot]
            keys = d if match is None else filter(match, d)
            exp = shards[slot >> _SHARD_SHIFT].expires
            if exp:
                out += [k for k in keys if exp.get(k, now) >= now]
            else:
                out += keys
        return out

    def access_stamp(self, key: bytes) -> int | None:
        """The access stamp of a stored key (LRU clock, or LFU word under an LFU policy): RENAME
        and MOVE carry it along with the value, as Redis moves the object with its lru field."""
        return self.shards[slot_of(key) >> _SHARD_SHIFT].atime.get(key)

    def lfu_freq(self, key: bytes) -> int:
        """OBJECT FREQ: the key's LFU counter after decay (LFUDecrAndReturn)."""
        return self.ks.lfu_counter(self.access_stamp(key))

    def put(self, key: bytes, value: Any, expire_ms: int | None = None, stamp: int | None = None,
            not_int: bool = False) -> None:
        """Store ``value`` under ``key`` (new, or replacing a live or absent one) with exactly the
        TTL ``expire_ms`` (None: none), without signalling: RENAME, MOVE and COPY signal both
        keys themselves, in Redis's order. ``stamp`` carries a moved value's access stamp; a
        new value (COPY) gets a fresh one; ``not_int`` its ``STR_NOT_INT`` mark (Redis moves or
        duplicates the object, encoding and all). The caller has already looked ``key`` up (so
        an expired occupant is gone)."""
        slot = slot_of(key)
        d = self.slots[slot]
        if d is None:
            d = self.slots[slot] = {}
        shard = self.shards[slot >> _SHARD_SHIFT]
        if key not in d:
            shard.nkeys += 1
        d[key] = value
        if shard.mcflags:
            shard.mcflags.pop(key, None)   # RENAME/MOVE/COPY targets carry no memcached flags
        if not_int:
            shard.mcflags[key] = STR_NOT_INT
        if stamp is None:
            ks = self.ks
            stamp = ks.lfu_stamp(LFU_INIT_VAL) if ks.lfu else ks.lru_clock
        shard.atime[key] = stamp
        if expire_ms is not None:
            self.set_expire(key, expire_ms)
        elif shard.expires:
            shard.expires.pop(key, None)

    # -- for the string commands (commands/strings.py) ---------------------------------------------
    def notify(self, key: bytes, event: bytes) -> None:
        """A second keyspace event for a change already signalled with ``touched``: SET/SETEX with
        an expire emit "set" then "expire", but Redis counts one dirty change. Runs the change
        hooks only (no dirty count, the WATCH and CAS effects were done by ``touched``)."""
        for hook in self.ks.change_hooks:
            hook(self, key, event)

    # -- memcached (commands/memcache.py) ----------------------------------------------------------
    # memcached's per-item metadata lives beside the key, in its shard: ``Shard.cas`` holds the
    # CAS unique handed out since the key's last write (``_touched`` pops it on every write, from
    # either protocol, so a write always changes the unique), and ``Shard.mcflags`` one word per
    # key: the 32-bit client flags plus the item state bits below (only non-zero words are
    # stored). Replacing or removing the value (``set``, ``_remove``, ``_expire_now``, ``put``)
    # drops the word, so a value written over RESP reads with flags 0; in-place changes (APPEND,
    # SETRANGE, INCR, TTL changes) keep it, as memcached keeps flags across append/incr/touch.

    def mc_lookup(self, key: bytes) -> Any:
        """The stored value of ``key`` (any type) for a memcached command, without recording an
        access (``mc_bump`` does, after the command read the old access time), or None, or
        ``MC_EXPIRED`` when the key was there but its time had passed: it is expired now, as
        ``get`` would (memcached counts such lookups in get_expired)."""
        return self.mc_read(key, False)[0]

    def mc_read(self, key: bytes, bump: bool = True) -> tuple[Any, int]:
        """A memcached read in one lookup: (value or None or MC_EXPIRED, the key's memcached
        word as it was). With ``bump``, a live key records the access and is marked fetched
        (memcached's do_item_bump)."""
        slot = hash(key) & 0x3FFF
        d = self.slots[slot]
        if d is None:
            return None, 0
        value = d.get(key)
        if value is None:
            return None, 0
        shard = self.shards[slot >> _SHARD_SHIFT]
        ks = self.ks
        exp = shard.expires
        if exp and key in exp and exp[key] < ks.clock.now_ms():
            if not ks.role_replica:
                self._expire_now(key, slot, d, shard)
            return MC_EXPIRED, 0
        mc = shard.mcflags
        word = mc.get(key, 0) if mc else 0
        if bump and (type(value) is bytes or type(value) is bytearray):
            shard.atime[key] = ks.lfu_touch(shard.atime.get(key)) if ks.lfu else ks.lru_clock
            if not word & MC_FETCHED:
                mc[key] = word | MC_FETCHED
        return value, word

    def mc_set(self, key: bytes, value: Any, when_ms: int | None, word: int, unique: int,
               event: bytes = b"set") -> None:
        """A memcached store: the value (as ``set``, event ``event``), its TTL (a second event,
        "expire", as SET EX), its memcached word and its new CAS unique."""
        shard = self.set(key, value, keepttl=when_ms is not None, event=event)
        if when_ms is not None:
            _shard_expire(shard, key, when_ms)
            self.notify(key, b"expire")
        if word:
            shard.mcflags[key] = word
        shard.cas[key] = unique

    def mc_bump(self, key: bytes) -> None:
        """Record an access to a live key (the LRU/LFU stamp a read leaves)."""
        shard = self.shards[slot_of(key) >> _SHARD_SHIFT]
        ks = self.ks
        shard.atime[key] = ks.lfu_touch(shard.atime.get(key)) if ks.lfu else ks.lru_clock

    def mc_word(self, key: bytes) -> int:
        """The memcached word of a live key: client flags | MC_* state bits (0 if none)."""
        mc = self.shards[slot_of(key) >> _SHARD_SHIFT].mcflags
        return mc.get(key, 0) if mc else 0

    def mc_set_word(self, key: bytes, word: int) -> None:
        mc = self.shards[slot_of(key) >> _SHARD_SHIFT].mcflags
        if word:
            mc[key] = word
        elif mc:
            mc.pop(key, None)

    def mc_cas(self, key: bytes) -> int:
        """The CAS unique of a live key, handing out a fresh one (from the keyspace's counter)
        when the key was written since one was last given."""
        cas = self.shards[slot_of(key) >> _SHARD_SHIFT].cas
        unique = cas.get(key)
        if unique is None:
            unique = cas[key] = self.ks.mc_next_cas()
        return unique

    def mc_set_cas(self, key: bytes, unique: int) -> None:
        """Give a live key the CAS unique of the write that just happened."""
        self.shards[slot_of(key) >> _SHARD_SHIFT].cas[key] = unique

    def mc_expire(self, key: bytes, when_ms: int | None) -> None:
        """Set (or, with None, drop) the TTL of a live key for memcached's touch/gat/mg T/ma T:
        a TTL change is signalled as a write (expire / persist events, WATCH) but keeps the
        CAS unique and the flags, as memcached's touch does."""
        shard = self.shards[slot_of(key) >> _SHARD_SHIFT]
        unique = shard.cas.get(key)
        if when_ms is None:
            if not self.persist(key):
                return
            self._touched(key, shard, b"persist")
        else:
            self.set_expire(key, when_ms)
            self._touched(key, shard, b"expire")
        if unique is not None:
            shard.cas[key] = unique

    def mc_idle_seconds(self, key: bytes) -> int:
        """Seconds since the last recorded access (LRU clock; 0 under an LFU policy)."""
        if self.ks.lfu:
            return 0
        return self.idle_seconds(key)

    def mc_strings(self) -> Iterator[tuple[bytes, Any]]:
        """Every stored string key and its value (expired ones included), slot order: what
        memcached calls its items, for flush_all and the item statistics."""
        for d in self.slots:
            if d:
                for key, value in list(d.items()):
                    if type(value) is bytes or type(value) is bytearray:
                        yield key, value


class Keyspace:
    def __init__(self, databases: int = 16, clock: Any = None) -> None:
        self.clock = clock or SystemClock()
        self.dbs = [Database(self, i) for i in range(databases)]
        self.dirty = 0                      # changes since the last successful save
        self.role_replica = False
        self.lru_clock = self.clock.now_ms() // 1000
        self.stats_expired_keys = 0
        self.hits = 0                       # keyspace_hits / keyspace_misses of INFO stats
        self.misses = 0
        self.stats_expired_stale_perc = 0.0
        self.stats_expire_cycle_time_used = 0  # µs
        # Called as hook(db, key, event) after every change: notifications, blocked clients,
        # client-side caching and replication register here as they are built.
        self.change_hooks: list[Callable[[Database, bytes, bytes | None], None]] = []
        self._expire_cursor = 0
        # LFU access tracking (maxmemory-policy *-lfu): ``configure_lfu`` sets these. While on,
        # a key's access stamp is Redis's LFU word, (minutes << 8) | counter, instead of its
        # LRU clock, in the same slot, as Redis shares robj->lru between the two.
        self.lfu = False
        self.lfu_log_factor = 10
        self.lfu_decay_time = 1
        self.config_followed = False
        self.mc_cas_counter = 0             # memcached's global CAS counter (get_cas_id)

    def mc_next_cas(self) -> int:
        """memcached's get_cas_id: the next CAS unique (every memcached write takes one, and a
        key written over RESP takes one the first time memcached asks for it)."""
        self.mc_cas_counter += 1
        return self.mc_cas_counter

    def tick(self) -> None:
        """Refresh the cached LRU clock (the server cron calls this ten times a second)."""
        self.lru_clock = self.clock.now_ms() // 1000

    # -- LFU (OBJECT FREQ; eviction) -------------------------------------------------------------
    def configure_lfu(self, enabled: bool, log_factor: int = 10, decay_time: int = 1) -> None:
        """Follow ``maxmemory-policy`` (LFU or not), ``lfu-log-factor`` and ``lfu-decay-time``.
        Switching leaves the stored stamps alone: as in Redis, they read as noise until the keys
        are accessed again."""
        self.lfu = enabled
        self.lfu_log_factor = log_factor
        self.lfu_decay_time = decay_time

    def follow_config(self, cfg: Any) -> None:
        """Track ``maxmemory-policy``, ``lfu-log-factor`` and ``lfu-decay-time`` now and on every
        CONFIG SET of them (``cfg.on_change``). The server calls this once at start."""
        if self.config_followed:
            return
        self.config_followed = True

        def sync(*_: Any) -> None:
            self.configure_lfu("lfu" in cfg["maxmemory-policy"], cfg["lfu-log-factor"], cfg["lfu-decay-time"])

        sync()
        for name in ("maxmemory-policy", "lfu-log-factor", "lfu-decay-time"):
            cfg.on_change(name, sync)

    def lfu_stamp(self, counter: int) -> int:
        return ((self.lru_clock // 60) & 0xFFFF) << 8 | counter

    def lfu_counter(self, stamp: int | None) -> int:
        """Redis's LFUDecrAndReturn: the counter less one per ``lfu-decay-time`` minutes idle."""
        if stamp is None:
            return LFU_INIT_VAL
        counter = stamp & 0xFF
        if self.lfu_decay_time:
            ldt = (stamp >> 8) & 0xFFFF
            now = (self.lru_clock // 60) & 0xFFFF
            elapsed = now - ldt if now >= ldt else 65535 - ldt + now
            periods = elapsed // self.lfu_decay_time
            if periods:
                counter = 0 if periods > counter else counter - periods
        return counter

    def lfu_touch(self, stamp: int | None) -> int:
        """Redis's updateLFU: decay, then a logarithmic increment (probability
        1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1)), then a fresh time."""
        counter = self.lfu_counter(stamp)
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base < 0:
                base = 0
            if random.random() < 1.0 / (base * self.lfu_log_factor + 1):
                counter += 1
        return self.lfu_stamp(counter)

    def on_expired(self, db: Database, key: bytes) -> None:
        """A key was deleted because its time ran out (lazily or by the active cycle)."""

    def swap(self, a: int, b: int) -> None:
        """SWAPDB: exchange the contents of two databases. Clients stay with their index, and so
        do WATCHes: a WATCH breaks when its key exists on either side (dbSwapDatabases)."""
        if a == b:
            return
        da, db_ = self.dbs[a], self.dbs[b]
        if da.watched:
            da._touch_watchers(db_)
        if db_.watched:
            db_._touch_watchers(da)
        ca, cb = da.take_contents(), db_.take_contents()
        da.put_contents(cb)
        db_.put_contents(ca)

    def flushall(self) -> int:
        return sum(db.clear() for db in self.dbs)

    # -- active expiry ---------------------------------------------------------------------------
    def active_expire_cycle(self, budget_ms: float = 25.0, samples: int = 20) -> int:
        """Redis's activeExpireCycle, per shard: sample ``samples`` volatile keys, delete the expired
        ones, go again while more than ``ACCEPTABLE_STALE`` percent of a sample had expired (Redis
        7's 10% at the default active-expire-effort); stop when the time budget is used, and
        start the next cycle where this one stopped. A replica does nothing: its expiries arrive
        as DEL from the primary. Returns the number of keys expired."""
        if self.role_replica:
            return 0
        start = time.perf_counter()
        deadline = start + budget_ms / 1000
        expired_total = sampled_total = 0
        now = self.clock.now_ms()
        ndb = len(self.dbs)
        for i in range(ndb * SHARDS):
            pos = (self._expire_cursor + i) % (ndb * SHARDS)
            db = self.dbs[pos // SHARDS]
            shard = db.shards[pos % SHARDS]
            if not shard.expires:
                continue        # nothing volatile here: costs no budget (Redis skips empty dbs too)
            while shard.expires:
                expired, sampled = self._sample_shard(db, shard, now, samples)
                expired_total += expired
                sampled_total += sampled
                if expired * 100 <= sampled * ACCEPTABLE_STALE or time.perf_counter() > deadline:
                    break
            if time.perf_counter() > deadline:
                self._expire_cursor = (pos + 1) % (ndb * SHARDS)
                break
        used = time.perf_counter() - start
        self.stats_expire_cycle_time_used += int(used * 1e6)
        if sampled_total:
            self.stats_expired_stale_perc = (expired_total / sampled_total) * 0.05 + self.stats_expired_stale_perc * 0.95
        return expired_total

    def _sample_shard(self, db: Database, shard: Shard, now: int, samples: int) -> tuple[int, int]:
        vol = shard.volatile
        expires = shard.expires
        expired = sampled = 0
        ttl_sum = ttl_n = 0
        tries = 0
        while sampled < samples and vol and tries < samples * 4:
            tries += 1
            i = random.randrange(len(vol))
            key = vol[i]
            when = expires.get(key)
            if when is None:
                vol[i] = vol[-1]       # no longer volatile: drop it from the sample list
                vol.pop()
                continue
            sampled += 1
            if when < now:     # expired once the clock has passed it, as keyIsExpired
                vol[i] = vol[-1]
                vol.pop()
                slot = slot_of(key)
                d = db.slots[slot]
                db._expire_now(key, slot, d, shard)
                expired += 1
            else:
                ttl_sum += when - now
                ttl_n += 1
        if ttl_n:
            avg = ttl_sum // ttl_n
            db.avg_ttl = avg if not db.avg_ttl else (db.avg_ttl // 50) * 49 + avg // 50
        return expired, sampled
