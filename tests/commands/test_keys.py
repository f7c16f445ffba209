"""Generic key commands: DEL UNLINK EXISTS TYPE TOUCH RENAME RENAMENX MOVE COPY SWAPDB FLUSHDB
FLUSHALL DBSIZE KEYS SCAN RANDOMKEY OBJECT, on an in-memory server with a fake clock.

Expected replies and error texts are literals observed from redis-server 7.0.15. Keys are made
through the keyspace API (and a tiny fake container) so these tests stand on their own.
"""

from __future__ import annotations

import itertools
import random

import pytest

from cachesrv.commands.errors import CommandError
from cachesrv.store.keyspace import NSLOTS, slot_of

NOT_INTEGER = "ERR value is not an integer or out of range"
INT_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"
DB_RANGE = "ERR DB index is out of range"
SAME = "ERR source and destination objects are the same"
SYNTAX = "ERR syntax error"


def err(text: str) -> CommandError:
    return CommandError(text)


class FakeList:
    """Stands in for the list type: what the generic commands need of any value type."""

    type_name = "list"
    encoding = "listpack"

    def __init__(self, items=()):
        self.items = list(items)
        self.copies = 0

    def copy(self):
        self.copies += 1
        return FakeList(self.items)


@pytest.fixture
def dbs(server):
    return server.ks.dbs


@pytest.fixture
def db(dbs):
    return dbs[0]


@pytest.fixture
def put(db):
    def put(key, value=b"v", ttl_ms=None, target=None):
        d = target if target is not None else db
        k = key.encode() if isinstance(key, str) else key
        d.set(k, value)
        if ttl_ms is not None:
            d.set_expire(k, d.ks.clock.now_ms() + ttl_ms)
        return k
    return put


@pytest.fixture
def events(server):
    seen = []
    server.ks.change_hooks.append(lambda d, key, event: seen.append((d.id, key, event)))
    return seen


class Watcher:
    """The part of a Session that WATCH bookkeeping in the keyspace touches."""

    watch_dirty = False


def watch(d, key: bytes) -> Watcher:
    w = Watcher()
    d.watched.setdefault(key, set()).add(w)
    return w


# -- DEL UNLINK EXISTS TYPE TOUCH DBSIZE ------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["DEL", "UNLINK"])
def test_del_counts_deleted_keys(call, put, db, events, server, cmd):
    put("a")
    put("b")
    events.clear()
    dirty = server.ks.dirty
    assert call(cmd, "a", "a", "b", "nokey") == 2
    assert events == [(0, b"a", b"del"), (0, b"b", b"del")]
    assert server.ks.dirty == dirty + 2
    assert db.size() == 0
    assert call(cmd, "a") == 0


def test_del_of_an_expired_key_reports_expired_not_del(call, put, clock, events):
    put("a", ttl_ms=5)
    clock.advance(6)
    events.clear()
    assert call("DEL", "a") == 0
    assert events == [(0, b"a", b"expired")]


def test_exists_counts_every_mention(call, put, server):
    put("a")
    hits, misses = server.ks.hits, server.ks.misses
    assert call("EXISTS", "a", "a", "a", "nokey") == 3
    assert (server.ks.hits - hits, server.ks.misses - misses) == (3, 1)


def test_exists_and_type_do_not_refresh_access_time(call, put, clock):
    put("a")
    clock.advance(10_000)
    call("EXISTS", "a")
    call("TYPE", "a")
    call("TTL", "a")
    assert call("OBJECT", "IDLETIME", "a") == 10
    assert call("TOUCH", "a") == 1
    assert call("OBJECT", "IDLETIME", "a") == 0


def test_type(call, put):
    assert call("TYPE", "nokey") == "none"
    put("s")
    put("l", FakeList([b"x"]))
    put("ba", bytearray(b"grown"))
    assert call("TYPE", "s") == "string"
    assert call("TYPE", "ba") == "string"
    assert call("TYPE", "l") == "list"


def test_touch(call, put, server):
    assert call("TOUCH", "a", "b", "c") == 0
    put("a")
    hits = server.ks.hits
    assert call("TOUCH", "a", "a", "b") == 2
    assert server.ks.hits == hits + 2


def test_dbsize(call, put, server):
    assert call("DBSIZE") == 0
    put("a")
    put("b")
    put("c", target=server.ks.dbs[1])
    assert call("DBSIZE") == 2


def test_arity_errors(call):
    assert call("DEL") == err("ERR wrong number of arguments for 'del' command")
    assert call("KEYS") == err("ERR wrong number of arguments for 'keys' command")
    assert call("TYPE", "a", "b") == err("ERR wrong number of arguments for 'type' command")
    assert call("RANDOMKEY", "x") == err("ERR wrong number of arguments for 'randomkey' command")
    assert call("RENAME", "a") == err("ERR wrong number of arguments for 'rename' command")
    assert call("COPY", "a") == err("ERR wrong number of arguments for 'copy' command")
    assert call("SWAPDB", "0") == err("ERR wrong number of arguments for 'swapdb' command")


# -- RENAME RENAMENX --------------------------------------------------------------------------------------
def test_rename_moves_value_and_ttl(call, put, db, events, server):
    put("a", b"1", ttl_ms=100_000)
    events.clear()
    dirty = server.ks.dirty
    assert call("RENAME", "a", "b") == "OK"
    assert db.get(b"b") == b"1"
    assert not db.exists(b"a")
    assert call("PTTL", "b") == 100_000
    assert events == [(0, b"a", b"rename_from"), (0, b"b", b"rename_to")]
    assert server.ks.dirty == dirty + 1
    assert db.size() == 1


def test_rename_overwrites_destination_and_its_ttl(call, put, db):
    put("a", b"1")
    put("b", b"2", ttl_ms=5000)
    assert call("RENAME", "a", "b") == "OK"
    assert db.get(b"b") == b"1"
    assert call("TTL", "b") == -1
    put("c", b"3", ttl_ms=9000)
    assert call("RENAME", "c", "b") == "OK"
    assert call("TTL", "b") == 9
    assert db.size() == 1


def test_rename_errors_and_same_key(call, put, events):
    assert call("RENAME", "nokey", "x") == err("ERR no such key")
    assert call("RENAMENX", "nokey", "x") == err("ERR no such key")
    assert call("RENAME", "nokey", "nokey") == err("ERR no such key")
    put("s")
    events.clear()
    assert call("RENAME", "s", "s") == "OK"
    assert call("RENAMENX", "s", "s") == 0
    assert events == []


def test_renamenx(call, put, db):
    put("a", b"1")
    put("b", b"2")
    assert call("RENAMENX", "a", "b") == 0
    assert db.get(b"a") == b"1" and db.get(b"b") == b"2"
    assert call("RENAMENX", "a", "c") == 1
    assert db.get(b"c") == b"1"
    assert not db.exists(b"a")


def test_rename_across_slots_and_shards(call, put, db):
    # keys in different hash slots: the value must really move between slot dicts
    a = b"a"
    b = next(k for k in (b"b%d" % i for i in range(100)) if slot_of(k) >> 10 != slot_of(a) >> 10)
    put(a, b"1", ttl_ms=1000)
    assert call("RENAME", a, b) == "OK"
    assert db.get(b) == b"1"
    assert db.expires_count() == 1
    assert db.size() == 1


def test_rename_breaks_watch_on_both_keys(call, put, db):
    put("a")
    wa, wb = watch(db, b"a"), watch(db, b"b")
    call("RENAME", "a", "b")
    assert wa.watch_dirty and wb.watch_dirty


# -- MOVE -------------------------------------------------------------------------------------------------
def test_move(call, put, db, dbs, events, server):
    put("a", b"1", ttl_ms=100_000)
    events.clear()
    dirty = server.ks.dirty
    assert call("MOVE", "a", 2) == 1
    assert not db.exists(b"a")
    assert dbs[2].get(b"a") == b"1"
    assert dbs[2].ttl_ms(b"a") == server.ks.clock.now_ms() + 100_000
    assert events == [(0, b"a", b"move_from"), (2, b"a", b"move_to")]
    assert server.ks.dirty == dirty + 1
    assert call("MOVE", "a", 2) == 0            # gone from the source


def test_move_refuses_when_target_has_key(call, put, db, dbs):
    put("a", b"1")
    put("a", b"other", target=dbs[1])
    assert call("MOVE", "a", 1) == 0
    assert db.get(b"a") == b"1"
    assert dbs[1].get(b"a") == b"other"


@pytest.mark.parametrize("arg,text", [("0", SAME), ("16", DB_RANGE), ("-1", DB_RANGE), ("abc", NOT_INTEGER),
                                      ("2147483648", INT_RANGE), ("-2147483649", INT_RANGE), ("1.0", NOT_INTEGER)])
def test_move_errors(call, put, arg, text):
    put("a")
    assert call("MOVE", "a", arg) == err(text)
    assert call("MOVE", "nokey", arg) == err(text)     # checked before the key


def test_move_missing_key(call):
    assert call("MOVE", "nokey", 1) == 0


def test_move_from_selected_db(call, put, dbs):
    put("a", target=dbs[3])
    assert call("SELECT", 3) == "OK"
    assert call("MOVE", "a", 3) == err(SAME)
    assert call("MOVE", "a", 0) == 1
    assert dbs[0].exists(b"a")


# -- COPY -------------------------------------------------------------------------------------------------
def test_copy_same_db_with_ttl(call, put, db, events, server):
    put("a", b"v", ttl_ms=100_000)
    events.clear()
    dirty = server.ks.dirty
    assert call("COPY", "a", "b") == 1
    assert db.get(b"b") == b"v" and db.get(b"a") == b"v"
    assert call("PTTL", "b") == 100_000
    assert events == [(0, b"b", b"copy_to")]
    assert server.ks.dirty == dirty + 1


def test_copy_existing_destination_needs_replace(call, put, db):
    put("a", b"1", ttl_ms=50_000)
    put("b", b"2")
    assert call("COPY", "a", "b") == 0
    assert db.get(b"b") == b"2"
    assert call("COPY", "a", "b", "REPLACE") == 1
    assert db.get(b"b") == b"1"
    assert call("TTL", "b") == 50
    put("plain", b"3")
    assert call("COPY", "plain", "b", "replace") == 1
    assert call("TTL", "b") == -1            # the source had none: the copy has none


def test_copy_to_other_db(call, put, dbs):
    put("a", b"v", ttl_ms=100_000)
    assert call("COPY", "a", "a", "DB", 1) == 1
    assert dbs[1].get(b"a") == b"v"
    assert dbs[1].ttl_ms(b"a") is not None
    assert call("COPY", "a", "b", "db", 1, "db", 2) == 1    # the last DB wins
    assert dbs[2].get(b"b") == b"v"
    assert call("COPY", "a", "b", "replace", "replace") == 1


def test_copy_is_deep(call, put, db):
    put("ba", bytearray(b"abc"))
    assert call("COPY", "ba", "ba2") == 1
    copy = db.get(b"ba2")
    assert type(copy) is bytearray and copy == b"abc"
    assert copy is not db.get(b"ba")
    lst = FakeList([b"x", b"y"])
    put("l", lst)
    assert call("COPY", "l", "l2") == 1
    l2 = db.get(b"l2")
    assert l2 is not lst and l2.items == [b"x", b"y"] and lst.copies == 1
    l2.items.append(b"z")
    assert lst.items == [b"x", b"y"]


@pytest.mark.parametrize("opts,text", [
    (("db",), SYNTAX), (("db", "16"), DB_RANGE), (("db", "-1"), DB_RANGE), (("db", "x"), NOT_INTEGER),
    (("db", "2147483648"), INT_RANGE), (("foo",), SYNTAX), (("replace", "db"), SYNTAX),
])
def test_copy_option_errors(call, put, opts, text):
    put("a")
    assert call("COPY", "a", "b", *opts) == err(text)
    assert call("COPY", "nokey", "b", *opts) == err(text)


def test_copy_same_key(call, put):
    put("a")
    assert call("COPY", "a", "a") == err(SAME)
    assert call("COPY", "a", "a", "DB", 0) == err(SAME)
    assert call("COPY", "nokey", "nokey") == err(SAME)
    assert call("COPY", "a", "a", "DB", 1) == 1


def test_copy_missing_source(call, server):
    misses = server.ks.misses
    assert call("COPY", "nokey", "b") == 0
    assert server.ks.misses == misses + 1          # COPY reads its source like GET


# -- SWAPDB -----------------------------------------------------------------------------------------------
def test_swapdb(call, put, dbs, server):
    put("a", b"0", ttl_ms=10_000)
    put("b", b"1", target=dbs[1])
    dirty = server.ks.dirty
    assert call("SWAPDB", 0, 1) == "OK"
    assert server.ks.dirty == dirty + 1
    assert call("DBSIZE") == 1
    assert call("EXISTS", "b") == 1 and call("EXISTS", "a") == 0
    assert dbs[1].get(b"a") == b"0"
    assert dbs[1].ttl_ms(b"a") is not None
    assert call("SWAPDB", 0, 0) == "OK"
    assert server.ks.dirty == dirty + 2
    assert call("EXISTS", "b") == 1


@pytest.mark.parametrize("a,b,text", [
    ("0", "16", DB_RANGE), ("-1", "0", DB_RANGE), ("a", "0", "ERR invalid first DB index"),
    ("0", "a", "ERR invalid second DB index"), ("a", "b", "ERR invalid first DB index"),
    ("2147483648", "0", "ERR invalid first DB index"), ("0", "-2147483649", "ERR invalid second DB index"),
    ("16", "x", "ERR invalid second DB index"),
])
def test_swapdb_errors(call, a, b, text):
    assert call("SWAPDB", a, b) == err(text)


def test_swapdb_breaks_watches_only_on_keys_that_exist(call, put, dbs):
    put("k", target=dbs[1])
    w_exists_other = watch(dbs[0], b"k")
    w_missing = watch(dbs[0], b"nothere")
    w_in_1 = watch(dbs[1], b"k")
    assert call("SWAPDB", 0, 1) == "OK"
    assert w_exists_other.watch_dirty and w_in_1.watch_dirty
    assert not w_missing.watch_dirty
    # watches stay with the database index: they are not swapped
    assert b"nothere" in dbs[0].watched


def test_swapdb_carries_the_ttl_estimate(call, put, dbs):
    dbs[0].avg_ttl = 1234
    assert call("SWAPDB", 0, 5) == "OK"
    assert dbs[5].avg_ttl == 1234 and dbs[0].avg_ttl == 0


# -- FLUSHDB FLUSHALL -------------------------------------------------------------------------------------
def test_flushdb(call, put, dbs, server):
    put("a")
    put("b")
    put("c", target=dbs[1])
    dirty = server.ks.dirty
    assert call("FLUSHDB") == "OK"
    assert server.ks.dirty == dirty + 2
    assert dbs[0].size() == 0 and dbs[1].size() == 1
    assert call("FLUSHDB") == "OK"
    assert server.ks.dirty == dirty + 2
    assert call("FLUSHDB", "ASYNC") == "OK"
    assert call("FLUSHDB", "sync") == "OK"


def test_flushall(call, put, dbs, server):
    put("a")
    put("c", target=dbs[1])
    put("d", ttl_ms=100, target=dbs[15])
    dirty = server.ks.dirty
    assert call("FLUSHALL") == "OK"
    assert server.ks.dirty == dirty + 3
    assert all(d.size() == 0 and d.expires_count() == 0 for d in dbs)
    assert call("FLUSHALL", "async") == "OK"
    assert call("FLUSHALL", "SYNC") == "OK"
    assert server.ks.dirty == dirty + 3


@pytest.mark.parametrize("cmd", ["FLUSHDB", "FLUSHALL"])
@pytest.mark.parametrize("args", [("foo",), ("async", "sync"), ("sync", "sync")])
def test_flush_syntax_errors(call, put, db, cmd, args):
    put("a")
    assert call(cmd, *args) == err(SYNTAX)
    assert db.size() == 1


def test_flush_breaks_watches_only_on_existing_keys(call, put, dbs):
    put("w")
    w = watch(dbs[0], b"w")
    w_missing = watch(dbs[0], b"missing")
    w_other_db = watch(dbs[1], b"w")
    assert call("FLUSHDB") == "OK"
    assert w.watch_dirty and not w_missing.watch_dirty and not w_other_db.watch_dirty
    put("w", target=dbs[1])
    assert call("FLUSHALL") == "OK"
    assert w_other_db.watch_dirty and not w_missing.watch_dirty


def test_flushdb_resets_ttl_estimate(call, db):
    db.avg_ttl = 99
    call("FLUSHDB")
    assert db.avg_ttl == 0


# -- KEYS -------------------------------------------------------------------------------------------------
def test_keys_patterns(call, put):
    for k in ("hello", "hallo", "hxllo", "hllo", "heeeello", "foo", "f*o", "{t}1", "{t}2"):
        put(k)
    assert sorted(call("KEYS", "*")) == sorted([b"hello", b"hallo", b"hxllo", b"hllo", b"heeeello", b"foo",
                                               b"f*o", b"{t}1", b"{t}2"])
    assert sorted(call("KEYS", "h?llo")) == [b"hallo", b"hello", b"hxllo"]
    assert sorted(call("KEYS", "h*llo")) == [b"hallo", b"heeeello", b"hello", b"hllo", b"hxllo"]
    assert sorted(call("KEYS", "h[ae]llo")) == [b"hallo", b"hello"]
    assert sorted(call("KEYS", "h[^e]llo")) == [b"hallo", b"hxllo"]
    assert sorted(call("KEYS", "h[a-b]llo")) == [b"hallo"]
    assert call("KEYS", "f\\*o") == [b"f*o"]
    assert sorted(call("KEYS", "{t}*")) == [b"{t}1", b"{t}2"]
    assert call("KEYS", "nomatch*") == []


def test_keys_skips_expired_without_deleting(call, put, db, clock, events):
    put("a", ttl_ms=10)
    put("b")
    clock.advance(11)
    events.clear()
    assert call("KEYS", "*") == [b"b"]
    assert call("KEYS", "a") == []
    assert db.size() == 2 and events == []


# -- SCAN -------------------------------------------------------------------------------------------------
def scan_all(call, *opts, cursor=b"0"):
    seen, calls = [], 0
    while True:
        nxt, keys = call("SCAN", cursor, *opts)
        seen += keys
        calls += 1
        cursor = nxt
        if nxt == b"0":
            return seen, calls


def test_scan_small_db_comes_back_whole(call, put):
    for i in range(5):
        put(f"k{i}")
    nxt, keys = call("SCAN", 0)
    assert nxt == b"0"
    assert sorted(keys) == [b"k0", b"k1", b"k2", b"k3", b"k4"]


def test_scan_empty_db(call):
    assert call("SCAN", 0) == [b"0", []]


def test_scan_full_iteration_returns_each_key_once(call, put):
    keys = {put(f"key:{i}") for i in range(2000)}
    seen, calls = scan_all(call, "COUNT", 10)
    assert sorted(seen) == sorted(keys)
    assert len(seen) == len(set(seen))
    assert calls >= 2000 // 10 // 2


def test_scan_count_is_a_lower_bound_per_call(call, put):
    for i in range(3000):
        put(f"key:{i}")
    cursor = b"0"
    while True:
        cursor, keys = call("SCAN", cursor, "COUNT", 25)
        if cursor == b"0":
            break
        assert len(keys) >= 25          # whole slots: at least COUNT unless the walk ended


def test_scan_guarantee_with_keys_added_and_removed_during_iteration(call, put, db):
    rnd = random.Random(5)
    initial = [put(f"init:{i}") for i in range(3000)]
    removed_during = set(rnd.sample(initial, 800))
    to_remove = list(removed_during)
    added, seen = [], []
    cursor = b"0"
    step = 0
    while True:
        cursor, keys = call("SCAN", cursor, "COUNT", 20)
        seen += keys
        for _ in range(3):
            if to_remove:
                db.delete(to_remove.pop())
        added.append(put(f"new:{step}"))
        step += 1
        if cursor == b"0":
            break
    for k in to_remove:
        db.delete(k)
    always_there = set(initial) - removed_during
    assert always_there <= set(seen)             # every key present from start to end came back
    assert set(seen) <= set(initial) | set(added)  # nothing that never existed
    assert len(seen) == len(set(seen))


def test_scan_match_and_type_filter_after_the_walk(call, put):
    for i in range(50):
        put(f"user:{i}")
        put(f"list:{i}", FakeList([b"x"]))
    seen, _ = scan_all(call, "MATCH", "user:*", "COUNT", 5)
    assert sorted(seen) == sorted(f"user:{i}".encode() for i in range(50))
    seen, _ = scan_all(call, "TYPE", "LIST")
    assert sorted(seen) == sorted(f"list:{i}".encode() for i in range(50))
    seen, _ = scan_all(call, "TYPE", "string", "MATCH", "user:1*")
    assert sorted(seen) == sorted(f"user:{i}".encode() for i in [1] + list(range(10, 20)))
    seen, _ = scan_all(call, "TYPE", "nosuch")
    assert seen == []
    seen, _ = scan_all(call, "MATCH", "*", "COUNT", 1000, "TYPE", "string")
    assert len(seen) == 50


def test_scan_match_can_return_empty_pages_with_a_cursor(call, put):
    for i in range(2000):
        put(f"k{i}")
    nxt, keys = call("SCAN", 0, "MATCH", "nomatch", "COUNT", 10)
    assert nxt != b"0" and keys == []


def test_scan_skips_and_expires_expired_keys(call, put, db, clock, events):
    put("gone", ttl_ms=10)
    put("live")
    clock.advance(11)
    events.clear()
    assert call("SCAN", 0) == [b"0", [b"live"]]
    assert events == [(0, b"gone", b"expired")]
    assert db.size() == 1


def test_scan_does_not_expire_keys_filtered_by_match(call, put, db, clock, events):
    put("gone", ttl_ms=10)
    put("live")
    clock.advance(11)
    events.clear()
    assert call("SCAN", 0, "MATCH", "l*") == [b"0", [b"live"]]
    assert events == [] and db.size() == 2       # Redis filters by pattern before expiring


@pytest.mark.parametrize("cursor,ok", [
    ("abc", False), (" 0", False), ("0x", False), ("+", False), ("-", False), ("1 ", False),
    ("18446744073709551616", False), ("", True), ("+0", True), ("-0", True), ("0\0junk", True),
])
def test_scan_cursor_parsing(call, put, cursor, ok):
    put("a")
    reply = call("SCAN", cursor)
    if ok:
        assert reply == [b"0", [b"a"]]
    else:
        assert reply == err("ERR invalid cursor")


@pytest.mark.parametrize("cursor", ["-1", "18446744073709551615", str(NSLOTS), "99999999"])
def test_scan_cursor_past_the_end(call, put, cursor):
    put("a")
    assert call("SCAN", cursor) == [b"0", []]


def test_scan_negative_cursor_wraps_like_strtoul(call, put):
    # "-18446744073709551615" is 1 for strtoul: a valid cursor in the middle of the walk
    for i in range(200):
        put(f"k{i}")
    nxt, keys = call("SCAN", "-18446744073709551615", "COUNT", 1000)
    assert nxt == b"0"
    assert set(keys) == {k for k in (f"k{i}".encode() for i in range(200)) if slot_of(k) >= 1}


@pytest.mark.parametrize("opts,text", [
    (("count", "0"), SYNTAX), (("count", "-1"), SYNTAX), (("count", "abc"), NOT_INTEGER), (("count",), SYNTAX),
    (("match",), SYNTAX), (("type",), SYNTAX), (("foo", "bar"), SYNTAX), (("count", "1.5"), NOT_INTEGER),
    (("count", "10", "match"), SYNTAX),
])
def test_scan_option_errors(call, opts, text):
    assert call("SCAN", 0, *opts) == err(text)


def test_scan_cursor_error_first(call):
    assert call("SCAN", "abc", "count", "0") == err("ERR invalid cursor")


def test_scan_huge_count(call, put):
    put("a")
    put("b")
    nxt, keys = call("SCAN", 0, "count", "9223372036854775807")
    assert nxt == b"0" and sorted(keys) == [b"a", b"b"]


# -- RANDOMKEY --------------------------------------------------------------------------------------------
def test_randomkey(call, put):
    assert call("RANDOMKEY") is None
    put("only")
    assert call("RANDOMKEY") == b"only"
    for i in range(50):
        put(f"k{i}")
    got = {call("RANDOMKEY") for _ in range(600)}
    assert len(got) > 40                # roughly uniform: nearly every key shows up


def test_randomkey_is_uniform_across_slot_sizes(call, put):
    random.seed(1)
    # 30 keys share one slot; 30 keys are alone in their slots
    target = slot_of(b"tag")
    shared = list(itertools.islice((k for k in (b"tag%d" % i for i in range(2_000_000))
                                    if slot_of(k) == target), 30))
    assert len(shared) == 30
    for k in shared:
        put(k)
    for i in range(30):
        put(f"solo{i}")
    tagged = sum(1 for _ in range(3000) if call("RANDOMKEY").startswith(b"tag"))
    assert 1200 < tagged < 1800


def test_randomkey_never_returns_expired_keys(call, put, db, clock):
    for i in range(300):
        put(f"old{i}", ttl_ms=10)
    put("live")
    clock.advance(11)
    assert call("RANDOMKEY") == b"live"
    assert call("RANDOMKEY") == b"live"


def test_randomkey_all_expired_is_nil(call, put, db, clock):
    for i in range(200):
        put(f"old{i}", ttl_ms=10)
    clock.advance(11)
    assert call("RANDOMKEY") is None
    assert db.size() == 0


def test_randomkey_on_replica(call, put, db, clock, server):
    for i in range(20):
        put(f"old{i}", ttl_ms=10)
    put("live")
    clock.advance(11)
    server.ks.role_replica = True
    assert call("RANDOMKEY") == b"live"             # expired keys are skipped, not deleted
    assert db.size() == 21
    db.delete(b"live")
    # every key has a TTL and all are logically expired: Redis gives up after 100 tries
    assert call("RANDOMKEY").startswith(b"old")
    assert db.size() == 20


# -- OBJECT -----------------------------------------------------------------------------------------------
def test_object_help(call):
    assert call("OBJECT", "HELP") == [
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


def test_object_errors(call):
    assert call("OBJECT", "foo", "k") == err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
    assert call("OBJECT", "encoding") == err("ERR wrong number of arguments for 'object|encoding' command")
    assert call("OBJECT", "encoding", "a", "b") == err("ERR wrong number of arguments for 'object|encoding' command")
    assert call("OBJECT", "help", "x") == err("ERR wrong number of arguments for 'object|help' command")
    assert call("OBJECT") == err("ERR wrong number of arguments for 'object' command")


@pytest.mark.parametrize("value,encoding", [
    (b"5", "int"), (b"10000", "int"), (b"-5", "int"), (b"9223372036854775807", "int"),
    (b"-9223372036854775808", "int"), (b"9223372036854775808", "embstr"), (b"012", "embstr"), (b"-0", "embstr"),
    (b"+1", "embstr"), (b" 1", "embstr"), (b"hello", "embstr"), (b"", "embstr"), (b"x" * 44, "embstr"),
    (b"x" * 45, "raw"), (b"1" * 45, "raw"), (bytearray(b"12"), "raw"), (bytearray(b"hello"), "raw"),
])
def test_object_encoding_of_strings(call, put, value, encoding):
    put("k", value)
    assert call("OBJECT", "ENCODING", "k") == encoding.encode()


def test_object_encoding_of_other_types_and_missing(call, put):
    put("l", FakeList())
    assert call("OBJECT", "ENCODING", "l") == b"listpack"
    assert call("OBJECT", "ENCODING", "nokey") is None
    assert call("OBJECT", "REFCOUNT", "nokey") is None
    assert call("OBJECT", "IDLETIME", "nokey") is None
    assert call("OBJECT", "FREQ", "nokey") is None


@pytest.mark.parametrize("value,refcount", [
    (b"0", 2147483647), (b"5", 2147483647), (b"9999", 2147483647), (b"10000", 1), (b"-5", 1), (b"05", 1),
    (b"hello", 1), (bytearray(b"5"), 1),
])
def test_object_refcount(call, put, value, refcount):
    put("k", value)
    assert call("OBJECT", "REFCOUNT", "k") == refcount


def test_object_refcount_without_shared_integers(call, put):
    put("k", b"5")
    assert call("CONFIG", "SET", "maxmemory", "100mb", "maxmemory-policy", "allkeys-lru") == "OK"
    assert call("OBJECT", "REFCOUNT", "k") == 1
    assert call("CONFIG", "SET", "maxmemory-policy", "noeviction") == "OK"
    assert call("OBJECT", "REFCOUNT", "k") == 2147483647
    assert call("CONFIG", "SET", "maxmemory-policy", "volatile-lfu") == "OK"
    assert call("OBJECT", "REFCOUNT", "k") == 1
    assert call("CONFIG", "SET", "maxmemory", "0") == "OK"
    assert call("OBJECT", "REFCOUNT", "k") == 2147483647


def test_object_idletime(call, put, clock):
    put("k")
    assert call("OBJECT", "IDLETIME", "k") == 0
    clock.advance(5_000)
    assert call("OBJECT", "IDLETIME", "k") == 5
    clock.advance(2_500)
    assert call("OBJECT", "IDLETIME", "k") == 7      # OBJECT itself does not refresh it
    assert call("TOUCH", "k") == 1
    assert call("OBJECT", "IDLETIME", "k") == 0


def test_object_freq_needs_lfu_policy_and_idletime_refuses_it(call, put):
    put("k")
    assert call("OBJECT", "FREQ", "k") == err(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
        "switching between policies at runtime LRU and LFU data will take some time to adjust.")
    assert call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == "OK"
    assert call("OBJECT", "IDLETIME", "k") == err(
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
        "between policies at runtime LRU and LFU data will take some time to adjust.")
    assert call("CONFIG", "SET", "maxmemory-policy", "volatile-lru") == "OK"
    assert call("OBJECT", "IDLETIME", "k") == 0


@pytest.fixture
def lfu(call, server):
    server.ks.follow_config(server.cfg)       # what the server does at start
    assert call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == "OK"
    assert server.ks.lfu


def test_object_freq_counts_accesses_logarithmically(call, put, lfu, db):
    random.seed(2)
    put("k")
    assert call("OBJECT", "FREQ", "k") == 5          # LFU_INIT_VAL for a new key
    assert call("TOUCH", "k") == 1                   # at the initial value an access always counts
    assert call("OBJECT", "FREQ", "k") == 6
    call("EXISTS", "k")                              # EXISTS, TYPE, OBJECT do not count as accesses
    call("TYPE", "k")
    assert call("OBJECT", "FREQ", "k") == 6
    for _ in range(2000):
        call("TOUCH", "k")
    freq = call("OBJECT", "FREQ", "k")
    assert 12 <= freq <= 30                          # logarithmic with lfu-log-factor 10
    put("n")
    for _ in range(2000):
        db.get(b"n")
    assert abs(call("OBJECT", "FREQ", "n") - freq) <= 6


def test_object_freq_decays_per_minute_idle(call, put, lfu, clock):
    put("k")
    call("TOUCH", "k")
    assert call("OBJECT", "FREQ", "k") == 6
    clock.advance(3 * 60_000)
    assert call("OBJECT", "FREQ", "k") == 3          # one per lfu-decay-time (1) minute
    assert call("TOUCH", "k") == 1                   # decays, then counts: 3 + 1
    assert call("OBJECT", "FREQ", "k") == 4
    clock.advance(60 * 60_000)
    assert call("OBJECT", "FREQ", "k") == 0
    # Decay is applied when the counter is read, so with it off the stored counter (4) is back,
    # as in Redis; an access makes it 5, and time no longer lowers it.
    assert call("CONFIG", "SET", "lfu-decay-time", "0") == "OK"
    assert call("OBJECT", "FREQ", "k") == 4
    call("TOUCH", "k")
    clock.advance(60 * 60_000)
    assert call("OBJECT", "FREQ", "k") == 5


def test_object_freq_travels_with_rename_and_move_not_copy(call, put, lfu, dbs):
    put("k")
    call("TOUCH", "k")
    assert call("OBJECT", "FREQ", "k") == 6
    assert call("RENAME", "k", "r") == "OK"
    assert call("OBJECT", "FREQ", "r") in (6, 7)     # RENAME's own lookup may count once more
    f = call("OBJECT", "FREQ", "r")
    assert call("COPY", "r", "c") == 1
    assert call("OBJECT", "FREQ", "c") == 5          # a copy is a new object
    assert call("MOVE", "r", 1) == 1
    assert dbs[1].lfu_freq(b"r") in (f, f + 1)


def test_overwriting_keeps_the_lfu_counter(call, put, lfu, db):
    put("k")
    call("TOUCH", "k")
    db.set(b"k", b"new")
    assert call("OBJECT", "FREQ", "k") in (6, 7)


# -- keyspace helpers used above ----------------------------------------------------------------------
def test_database_scan_expires_on_the_way_by_default(put, db, clock, events):
    put("gone", ttl_ms=10)
    put("live")
    clock.advance(11)
    assert db.scan(0, 100) == (0, [b"live"])
    assert db.size() == 1 and events[-1] == (0, b"gone", b"expired")


def test_database_scan_cursor_is_the_next_slot(put, db):
    keys = [put(f"k{i}") for i in range(100)]
    nxt, got = db.scan(0, 1)
    assert 0 < nxt < NSLOTS
    assert all(slot_of(k) < nxt for k in got)
    rest = []
    while nxt:
        nxt, more = db.scan(nxt, 1)
        rest += more
    assert sorted(got + rest) == sorted(keys)


def test_live_keys_filters_without_deleting(put, db, clock):
    put("a", ttl_ms=10)
    put("b", ttl_ms=1000)
    put("c")
    clock.advance(10)
    assert sorted(db.live_keys()) == [b"a", b"b", b"c"]     # at its very millisecond "a" still lives
    clock.advance(1)
    assert sorted(db.live_keys()) == [b"b", b"c"]
    assert db.live_keys(lambda k: k == b"c") == [b"c"]
    assert db.size() == 3


def test_flushall_saves_when_save_points_are_configured(call, put, server, monkeypatch):
    saves = []

    def save_snapshot():
        saves.append(server.ks.dirty)
        server.ks.dirty = 0            # what a successful save does

    monkeypatch.setattr(server, "save_snapshot", save_snapshot)
    put("a")
    put("b")
    assert call("CONFIG", "SET", "save", "") == "OK"
    assert call("FLUSHALL") == "OK"
    assert saves == []
    put("a")
    put("b")
    dirty = server.ks.dirty
    assert call("CONFIG", "SET", "save", "3600 1") == "OK"
    assert call("FLUSHALL") == "OK"
    assert saves == [dirty + 2] and server.ks.dirty == 0
    assert call("FLUSHDB") == "OK"               # FLUSHDB never saves
    assert len(saves) == 1


def test_flushall_with_a_failing_save_still_flushes(call, put, server):
    put("a")
    assert call("CONFIG", "SET", "save", "3600 1") == "OK"
    dirty = server.ks.dirty
    assert call("FLUSHALL") == "OK"              # save_snapshot raises OSError: logged only
    assert server.ks.dbs[0].size() == 0
    assert server.ks.dirty == dirty + 1
