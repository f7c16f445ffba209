"""String commands on an in-memory server with a fake clock: GET SET (all options) SETNX SETEX PSETEX
GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN GETRANGE SUBSTR SETRANGE INCR DECR INCRBY DECRBY
INCRBYFLOAT LCS.

Expected replies, error texts and keyspace events are literals observed from redis-server 7.0.15.
Wrong-type keys are made with a stand-in value object, so these tests do not depend on the other
type families.
"""

from __future__ import annotations

import random

import pytest

from cachesrv.commands import strings
from cachesrv.commands.errors import CommandError

NOW = 1_700_000_000_000   # FakeClock's start (Unix ms)
LLONG_MAX = 9223372036854775807
LLONG_MIN = -9223372036854775808

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NAN_INF = "ERR increment would produce NaN or Infinity"
TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def invalid_expire(cmd: str) -> str:
    return f"ERR invalid expire time in '{cmd}' command"


def is_err(reply, text: str) -> bool:
    return isinstance(reply, CommandError) and str(reply) == text


class FakeList:
    """A non-string value: enough for WRONGTYPE checks."""
    type_name = "list"
    encoding = "listpack"


@pytest.fixture
def db(server):
    return server.ks.dbs[0]


@pytest.fixture
def lst(db):
    """A key holding a non-string value."""
    db.set(b"L", FakeList())
    return b"L"


@pytest.fixture
def events(server):
    seen: list[tuple[bytes, bytes | None]] = []
    server.ks.change_hooks.append(lambda d, key, event: seen.append((event, key)))
    return seen


@pytest.fixture
def max_bulk(server, monkeypatch):
    """Lower proto-max-bulk-len for the size-limit tests."""
    def set_limit(n: int) -> None:
        monkeypatch.setattr(strings, "_max_bulk", lambda ctx: n)
    return set_limit


def pttl(db, key: bytes):
    db.get(key, touch=False)
    when = db.ttl_ms(key)
    return None if when is None else when - db.ks.clock.now_ms()


# -- GET / SET --------------------------------------------------------------------------------------
def test_set_and_get(call):
    assert call("SET", "k", "v") == "OK"
    assert call("GET", "k") == b"v"
    assert call("GET", "missing") is None


def test_set_binary_and_empty_values(call):
    assert call("SET", "k", b"\x00\xff\r\n") == "OK"
    assert call("GET", "k") == b"\x00\xff\r\n"
    assert call("SET", "e", "") == "OK"
    assert call("GET", "e") == b""


def test_get_wrong_type(call, lst):
    assert is_err(call("GET", lst), WRONGTYPE)


def test_set_overwrites_any_type(call, lst, db):
    assert call("SET", lst, "v") == "OK"
    assert db.get(lst) == b"v"


def test_get_counts_hits_and_misses(call, server):
    call("SET", "k", "v")
    h, m = server.ks.hits, server.ks.misses
    call("GET", "k")
    call("GET", "nope")
    assert (server.ks.hits, server.ks.misses) == (h + 1, m + 1)


@pytest.mark.parametrize("args, expected", [
    (["EX", "0"], invalid_expire("set")),
    (["EX", "-1"], invalid_expire("set")),
    (["PX", "0"], invalid_expire("set")),
    (["EXAT", "0"], invalid_expire("set")),
    (["PXAT", "0"], invalid_expire("set")),
    (["PXAT", "-5"], invalid_expire("set")),
    (["EX", str(LLONG_MAX)], invalid_expire("set")),
    (["EX", "9223372036854775"], invalid_expire("set")),     # *1000 fits, + now overflows
    (["EX", "9223372036854776"], invalid_expire("set")),     # *1000 overflows
    (["PX", str(LLONG_MAX)], invalid_expire("set")),
    (["PX", "9223372036854775000"], invalid_expire("set")),
    (["EXAT", str(LLONG_MAX)], invalid_expire("set")),
    (["EXAT", "9223372036854776"], invalid_expire("set")),
    (["EX", "abc"], NOT_INT),
    (["EX", "1.5"], NOT_INT),
    (["EX", " 1"], NOT_INT),
    (["EX"], SYNTAX),
    (["PXAT"], SYNTAX),
    (["NX", "XX"], SYNTAX),
    (["XX", "NX"], SYNTAX),
    (["EX", "10", "PX", "10"], SYNTAX),
    (["PX", "10", "EXAT", "10"], SYNTAX),
    (["EXAT", "10", "PXAT", "10"], SYNTAX),
    (["KEEPTTL", "EX", "10"], SYNTAX),
    (["EX", "10", "KEEPTTL"], SYNTAX),
    (["PXAT", "10", "KEEPTTL"], SYNTAX),
    (["PERSIST"], SYNTAX),
    (["FOO"], SYNTAX),
    (["EX", "0", "FOO"], SYNTAX),          # every option is parsed before the time is checked
    (["GETX"], SYNTAX),
])
def test_set_option_errors(call, db, args, expected):
    assert is_err(call("SET", "k", "v", *args), expected)
    assert db.get(b"k") is None


@pytest.mark.parametrize("args", [
    ["NX", "NX"], ["XX", "XX"], ["GET", "GET"], ["EX", "10", "EX", "20"], ["KEEPTTL", "KEEPTTL"],
    ["nx", "get", "ex", "10"], ["PXAT", str(LLONG_MAX)], ["EXAT", "9223372036854775"], ["Keepttl", "xx"],
])
def test_set_option_combinations_accepted(call, args):
    assert not isinstance(call("SET", "k", "v", *args), CommandError)


def test_set_repeated_ex_last_wins(call, db):
    assert call("SET", "k", "v", "EX", "10", "EX", "20") == "OK"
    assert pttl(db, b"k") == 20_000


def test_set_nx_xx(call):
    assert call("SET", "k", "v1", "XX") is None
    assert call("GET", "k") is None
    assert call("SET", "k", "v1", "NX") == "OK"
    assert call("SET", "k", "v2", "NX") is None
    assert call("GET", "k") == b"v1"
    assert call("SET", "k", "v3", "XX") == "OK"
    assert call("GET", "k") == b"v3"


def test_set_get(call):
    assert call("SET", "k", "v1", "GET") is None
    assert call("SET", "k", "v2", "GET") == b"v1"
    assert call("GET", "k") == b"v2"


def test_set_nx_get_on_existing_key_returns_old_and_keeps_it(call):
    call("SET", "k", "old")
    assert call("SET", "k", "new", "NX", "GET") == b"old"
    assert call("GET", "k") == b"old"


def test_set_xx_get_on_missing_key(call, db):
    assert call("SET", "k", "x", "XX", "GET") is None
    assert db.get(b"k") is None
    assert call("SET", "z", "v", "NX", "GET") is None
    assert call("GET", "z") == b"v"


@pytest.mark.parametrize("opts", [["GET"], ["NX", "GET"], ["XX", "GET"], ["GET", "EX", "10"]])
def test_set_get_on_wrong_type_changes_nothing(call, db, lst, opts):
    assert is_err(call("SET", lst, "v", *opts), WRONGTYPE)
    assert type(db.get(lst)) is FakeList


def test_set_get_expire_error_before_wrongtype(call, lst):
    assert is_err(call("SET", lst, "v", "EX", "0", "GET"), invalid_expire("set"))
    assert is_err(call("SET", lst, "v", "FOO", "GET"), SYNTAX)


def test_set_options_case_insensitive(call, db):
    assert call("SET", "k", "v", "ex", "5", "nx") == "OK"
    assert pttl(db, b"k") == 5000
    assert call("SET", "k", "w", "Get", "pX", "100") == b"v"
    assert pttl(db, b"k") == 100


def test_set_option_read_up_to_nul_like_redis(call, db):
    # Redis compares options as C strings: "NX\0junk" is NX.
    assert call("SET", "k", "v", b"NX\x00junk") == "OK"
    assert call("SET", "k", "w", b"NX\x00junk") is None


# -- TTLs with the fake clock ---------------------------------------------------------------------
def test_set_ex_expires(call, clock, db):
    assert call("SET", "k", "v", "EX", "10") == "OK"
    assert pttl(db, b"k") == 10_000
    clock.advance(9_999)
    assert call("GET", "k") == b"v"
    clock.advance(2)
    assert call("GET", "k") is None
    assert db.size() == 0


@pytest.mark.parametrize("opt, arg, ms", [
    ("EX", "7", 7000), ("PX", "1234", 1234), ("EXAT", str(NOW // 1000 + 60), 60_000),
    ("PXAT", str(NOW + 4321), 4321),
])
def test_set_expire_units(call, db, opt, arg, ms):
    assert call("SET", "k", "v", opt, arg) == "OK"
    assert pttl(db, b"k") == ms


def test_set_drops_ttl_unless_keepttl(call, db, clock):
    call("SET", "k", "v", "EX", "100")
    assert call("SET", "k", "v2", "KEEPTTL") == "OK"
    assert pttl(db, b"k") == 100_000
    clock.advance(100_001)
    assert call("GET", "k") is None
    call("SET", "k", "v", "EX", "100")
    assert call("SET", "k", "v3") == "OK"
    assert pttl(db, b"k") is None
    clock.advance(200_000)
    assert call("GET", "k") == b"v3"


def test_keepttl_on_expired_key_gives_no_ttl(call, db, clock):
    call("SET", "k", "v", "PX", "10")
    clock.advance(11)
    assert call("SET", "k", "v2", "KEEPTTL") == "OK"
    assert pttl(db, b"k") is None
    assert call("GET", "k") == b"v2"


def test_set_exat_in_the_past_stores_then_expires(call, db, events, server):
    # Redis 7.0.15: OK, events set + expire; the key is gone at the next access (event expired).
    assert call("SET", "k", "v", "EXAT", "1") == "OK"
    assert events == [(b"set", b"k"), (b"expire", b"k")]
    assert call("GET", "k") is None
    assert events[-1] == (b"expired", b"k")
    assert server.ks.stats_expired_keys == 1


def test_set_pxat_now_still_exists_at_that_ms(call, clock):
    assert call("SET", "k", "v", "PXAT", str(NOW)) == "OK"
    assert call("GET", "k") == b"v"
    clock.advance(1)
    assert call("GET", "k") is None


def test_getset_mset_drop_ttl(call, db):
    call("SET", "a", "1", "EX", "100")
    call("SET", "b", "1", "EX", "100")
    assert call("GETSET", "a", "2") == b"1"
    assert call("MSET", "b", "2") == "OK"
    assert pttl(db, b"a") is None and pttl(db, b"b") is None


def test_in_place_updates_keep_ttl(call, db):
    for key, cmd in [("a", ("APPEND", "a", "x")), ("s", ("SETRANGE", "s", "0", "y")),
                     ("n", ("INCR", "n")), ("f", ("INCRBYFLOAT", "f", "1.5"))]:
        call("SET", key, "1", "EX", "100")
        assert not isinstance(call(*cmd), CommandError)
        assert pttl(db, key.encode()) == 100_000, cmd


def test_getex_persist_with_fake_clock(call, db, clock, events):
    call("SET", "k", "v", "EX", "10")
    events.clear()
    assert call("GETEX", "k", "PERSIST") == b"v"
    assert pttl(db, b"k") is None
    assert events == [(b"persist", b"k")]
    clock.advance(60_000)
    assert call("GET", "k") == b"v"
    events.clear()
    assert call("GETEX", "k", "PERSIST") == b"v"     # no TTL: nothing changes, no event
    assert events == []


def test_getex_sets_ttl(call, db, clock, events):
    call("SET", "k", "v")
    events.clear()
    assert call("GETEX", "k", "EX", "200") == b"v"
    assert pttl(db, b"k") == 200_000
    assert call("GETEX", "k", "PX", "2000") == b"v"
    assert pttl(db, b"k") == 2000
    assert call("GETEX", "k", "EXAT", str(NOW // 1000 + 30)) == b"v"
    assert pttl(db, b"k") == 30_000
    assert call("GETEX", "k", "PXAT", str(NOW + 5)) == b"v"
    assert pttl(db, b"k") == 5
    assert call("GETEX", "k", "EX", "1", "EX", "5") == b"v"
    assert pttl(db, b"k") == 5000
    assert events == [(b"expire", b"k")] * 5
    assert call("GETEX", "k") == b"v"                 # no option: a plain read
    assert pttl(db, b"k") == 5000
    clock.advance(5001)
    assert call("GETEX", "k") is None


def test_getex_past_time_deletes(call, db, events):
    call("SET", "k", "v", "EX", "100")
    events.clear()
    assert call("GETEX", "k", "EXAT", "1") == b"v"
    assert db.get(b"k") is None
    assert events == [(b"del", b"k")]
    call("SET", "k", "v")
    assert call("GETEX", "k", "PXAT", str(NOW)) == b"v"   # "already expired" is when <= now
    assert db.get(b"k") is None


def test_getex_past_time_on_replica_keeps_key(call, db, server):
    call("SET", "k", "v")
    server.ks.role_replica = True
    try:
        assert call("GETEX", "k", "PXAT", "1") == b"v"
        assert db.ttl_ms(b"k") == 1
    finally:
        server.ks.role_replica = False


@pytest.mark.parametrize("args, expected", [
    (["EX", "0"], invalid_expire("getex")),
    (["EX", "-5"], invalid_expire("getex")),
    (["EXAT", "-5"], invalid_expire("getex")),
    (["PXAT", "0"], invalid_expire("getex")),
    (["EX", str(LLONG_MAX)], invalid_expire("getex")),
    (["PX", str(LLONG_MAX)], invalid_expire("getex")),
    (["EX", "x"], NOT_INT),
])
def test_getex_bad_time_on_existing_key(call, db, args, expected):
    call("SET", "k", "v")
    assert is_err(call("GETEX", "k", *args), expected)
    assert pttl(db, b"k") is None


@pytest.mark.parametrize("args", [["EX", "0"], ["EX", "x"], ["PXAT", "-1"]])
def test_getex_bad_time_on_missing_key_is_nil(call, args):
    # Redis looks the key up before it validates the time.
    assert call("GETEX", "nokey", *args) is None


@pytest.mark.parametrize("args", [
    ["FOO"], ["EX"], ["PERSIST", "EX", "10"], ["EX", "10", "PERSIST"], ["KEEPTTL"], ["NX"], ["XX"], ["GET"],
    ["EX", "10", "PX", "10"], ["EXAT", "1", "PXAT", "1"],
])
def test_getex_syntax_errors(call, args):
    assert is_err(call("GETEX", "nokey", *args), SYNTAX)


def test_getex_pxat_max(call, db):
    call("SET", "k", "v")
    assert call("GETEX", "k", "PXAT", str(LLONG_MAX)) == b"v"
    assert db.ttl_ms(b"k") == LLONG_MAX


def test_getex_wrong_type_before_time_errors(call, lst):
    for args in ([], ["EX", "0"], ["EX", "x"], ["PERSIST"]):
        assert is_err(call("GETEX", lst, *args), WRONGTYPE)


# -- SETNX / SETEX / PSETEX / GETSET / GETDEL -------------------------------------------------------
def test_setnx(call, lst):
    assert call("SETNX", "k", "v") == 1
    assert call("SETNX", "k", "w") == 0
    assert call("GET", "k") == b"v"
    assert call("SETNX", lst, "w") == 0


def test_setex_psetex(call, db):
    assert call("SETEX", "k", "100", "v") == "OK"
    assert pttl(db, b"k") == 100_000
    assert call("PSETEX", "k", "100000", "w") == "OK"
    assert pttl(db, b"k") == 100_000
    assert call("GET", "k") == b"w"


@pytest.mark.parametrize("cmd, t, expected", [
    ("SETEX", "0", invalid_expire("setex")), ("SETEX", "-1", invalid_expire("setex")),
    ("SETEX", "9223372036854776", invalid_expire("setex")), ("SETEX", "x", NOT_INT),
    ("PSETEX", "0", invalid_expire("psetex")), ("PSETEX", str(LLONG_MAX), invalid_expire("psetex")),
    ("PSETEX", "1.5", NOT_INT),
])
def test_setex_errors(call, db, cmd, t, expected):
    assert is_err(call(cmd, "k", t, "v"), expected)
    assert db.get(b"k") is None


def test_setex_overwrites_wrong_type(call, db, lst):
    assert call("SETEX", lst, "10", "v") == "OK"
    assert db.get(lst) == b"v"


def test_getset(call, lst):
    assert call("GETSET", "k", "a") is None
    assert call("GETSET", "k", "b") == b"a"
    assert call("GET", "k") == b"b"
    assert is_err(call("GETSET", lst, "v"), WRONGTYPE)


def test_getdel(call, db, lst, events):
    call("SET", "k", "v")
    events.clear()
    assert call("GETDEL", "k") == b"v"
    assert db.get(b"k") is None
    assert call("GETDEL", "k") is None
    assert events == [(b"del", b"k")]
    assert is_err(call("GETDEL", lst), WRONGTYPE)
    assert db.get(lst) is not None


# -- MGET / MSET / MSETNX ---------------------------------------------------------------------------
def test_mget(call, lst):
    call("SET", "a", "1")
    call("APPEND", "b", "x")
    call("APPEND", "b", "y")
    reply = call("MGET", "a", "nokey", lst, "b", "a")
    assert reply == [b"1", None, None, b"xy", b"1"]
    assert all(type(v) is bytes for v in reply if v is not None)


def test_mset(call, lst):
    assert call("MSET", "a", "1", "b", "2", lst, "3") == "OK"
    assert call("MGET", "a", "b", lst) == [b"1", b"2", b"3"]
    assert call("MSET", "a", "1", "a", "2") == "OK"
    assert call("GET", "a") == b"2"


def test_mset_odd_arity_sets_nothing(call, db):
    assert is_err(call("MSET", "a", "1", "b"), "ERR wrong number of arguments for 'mset' command")
    assert is_err(call("MSET", "a"), "ERR wrong number of arguments for 'mset' command")
    assert is_err(call("MSETNX", "a", "1", "b"), "ERR wrong number of arguments for 'msetnx' command")
    assert db.size() == 0


def test_msetnx(call, db, lst, clock):
    assert call("MSETNX", "a", "1", "b", "2") == 1
    assert call("MSETNX", "c", "1", "a", "9") == 0
    assert db.get(b"c") is None and call("GET", "a") == b"1"
    assert call("MSETNX", "x", "1", "x", "2") == 1
    assert call("GET", "x") == b"2"
    assert call("MSETNX", lst, "1") == 0
    call("SET", "t", "v", "PX", "5")
    clock.advance(6)
    assert call("MSETNX", "t", "new") == 1                 # an expired key does not count
    assert call("GET", "t") == b"new"


# -- APPEND / STRLEN / SETRANGE / GETRANGE ----------------------------------------------------------
def test_append(call, db, lst):
    assert call("APPEND", "k", "Hello") == 5
    assert call("APPEND", "k", " World") == 11
    assert call("GET", "k") == b"Hello World"
    assert type(db.get(b"k")) is bytearray          # grown in place: OBJECT ENCODING raw
    assert call("APPEND", "k", "") == 11
    assert is_err(call("APPEND", lst, "x"), WRONGTYPE)


def test_append_empty_to_missing_key_creates_it(call, db):
    assert call("APPEND", "k", "") == 0
    assert db.get(b"k") == b""
    assert call("STRLEN", "k") == 0


def test_get_after_append_is_a_snapshot(call):
    # Replies may be held (MULTI/EXEC) while later commands run: a GET must not alias the value.
    call("APPEND", "k", "a")
    call("APPEND", "k", "b")
    first = call("GET", "k")
    call("APPEND", "k", "c")
    call("SETRANGE", "k", "0", "Z")
    assert first == b"ab"
    assert call("GET", "k") == b"Zbc"


def test_append_size_limit(call, max_bulk, db):
    max_bulk(10)
    assert call("APPEND", "k", "12345") == 5
    assert call("APPEND", "k", "67890") == 10
    assert is_err(call("APPEND", "k", "x"), TOO_BIG)
    assert call("GET", "k") == b"1234567890"


def test_strlen(call, lst):
    call("SET", "k", "hello")
    assert call("STRLEN", "k") == 5
    assert call("STRLEN", "nokey") == 0
    assert is_err(call("STRLEN", lst), WRONGTYPE)


def test_setrange(call, db):
    call("SET", "k", "Hello World")
    assert call("SETRANGE", "k", "6", "Redis") == 11
    assert call("GET", "k") == b"Hello Redis"
    assert call("SETRANGE", "k", "13", "!") == 14
    assert call("GET", "k") == b"Hello Redis\x00\x00!"
    assert call("SETRANGE", "new", "3", "abc") == 6
    assert call("GET", "new") == b"\x00\x00\x00abc"
    assert type(db.get(b"new")) is bytearray


def test_setrange_empty_value(call, db, events):
    assert call("SETRANGE", "nokey", "5", "") == 0
    assert db.get(b"nokey") is None                     # nothing is created
    call("SET", "k", "abc")
    events.clear()
    assert call("SETRANGE", "k", "100", "") == 3
    assert call("GET", "k") == b"abc"
    assert events == []


def test_setrange_errors(call, lst, max_bulk):
    assert is_err(call("SETRANGE", "k", "-1", "x"), "ERR offset is out of range")
    assert is_err(call("SETRANGE", lst, "-1", "x"), "ERR offset is out of range")   # before the type
    assert is_err(call("SETRANGE", lst, "x", ""), NOT_INT)
    assert is_err(call("SETRANGE", "k", "1.0", "x"), NOT_INT)
    assert is_err(call("SETRANGE", lst, "0", "x"), WRONGTYPE)
    assert is_err(call("SETRANGE", lst, "0", ""), WRONGTYPE)
    assert is_err(call("SETRANGE", "k", "536870912", "x"), TOO_BIG)   # default 512mb limit
    assert call("SETRANGE", "k", "536870912", "") == 0
    max_bulk(10)
    assert is_err(call("SETRANGE", "k", "10", "x"), TOO_BIG)
    assert call("SETRANGE", "k", "9", "x") == 10
    assert is_err(call("SETRANGE", "k", "5", "123456"), TOO_BIG)


@pytest.mark.parametrize("start, end, expected", [
    (0, 3, b"Hell"), (-3, -1, b"rld"), (0, -1, b"Hello World"), (10, 100, b"d"), (5, 3, b""),
    (-1, -5, b""), (-100, -50, b"H"), (-100, 2, b"Hel"), (11, 11, b""), (-1, -1, b"d"), (0, 0, b"H"),
    (-20, -12, b"H"), (3, -100, b""), (LLONG_MAX, LLONG_MAX, b""), (LLONG_MIN, LLONG_MIN, b"H"),
    (LLONG_MIN, LLONG_MAX, b"Hello World"), (4294967296, 4294967297, b""), (-5, -6, b""),
])
def test_getrange(call, start, end, expected):
    call("SET", "s", "Hello World")
    assert call("GETRANGE", "s", start, end) == expected
    assert call("SUBSTR", "s", start, end) == expected


def test_getrange_edge_cases(call, lst):
    call("SET", "e", "")
    for a, b in [(0, -1), (0, 0), (-1, 0), (-1, -1)]:
        assert call("GETRANGE", "e", a, b) == b""
    assert call("GETRANGE", "nokey", 0, 1) == b""
    assert is_err(call("GETRANGE", "s", "x", 1), NOT_INT)
    assert is_err(call("GETRANGE", "s", 0, "99999999999999999999"), NOT_INT)
    assert is_err(call("GETRANGE", lst, "x", 1), NOT_INT)            # arguments before the type
    assert is_err(call("GETRANGE", lst, 0, 1), WRONGTYPE)
    call("SET", "i", "12345")
    assert call("GETRANGE", "i", 1, 2) == b"23"


# -- INCR family ------------------------------------------------------------------------------------
def test_incr_decr(call, db):
    assert call("INCR", "n") == 1
    assert call("INCR", "n") == 2
    assert call("DECR", "n") == 1
    assert call("INCRBY", "n", "10") == 11
    assert call("DECRBY", "n", "20") == -9
    assert call("GET", "n") == b"-9"
    assert call("DECR", "m") == -1
    assert call("INCRBY", "p", "-5") == -5
    assert type(db.get(b"n")) is bytes


@pytest.mark.parametrize("value", [" 1", "1 ", "+1", "01", "-0", "1.0", "", "0x10", "9223372036854775808",
                                   "-9223372036854775809", "abc", "1e3"])
def test_incr_not_an_integer(call, value):
    call("SET", "n", value)
    assert is_err(call("INCR", "n"), NOT_INT)
    assert call("GET", "n") == value.encode()


def test_incr_on_grown_string(call):
    call("APPEND", "n", "1")
    call("APPEND", "n", "0")
    assert call("INCR", "n") == 11


def test_incrbyfloat_on_grown_string(call):
    call("APPEND", "f", "1.")
    call("APPEND", "f", "5")
    assert call("INCRBYFLOAT", "f", "1") == b"2.5"
    assert call("GETRANGE", "f", 0, 0) == b"2"


def test_incr_overflow(call):
    call("SET", "n", str(LLONG_MAX))
    assert is_err(call("INCR", "n"), OVERFLOW)
    assert call("INCRBY", "n", "0") == LLONG_MAX
    assert call("INCRBY", "n", "-1") == LLONG_MAX - 1
    assert call("DECRBY", "n", "-1") == LLONG_MAX
    call("SET", "n", str(LLONG_MIN))
    assert is_err(call("DECR", "n"), OVERFLOW)
    assert is_err(call("INCRBY", "n", "-1"), OVERFLOW)
    assert is_err(call("DECRBY", "n", str(LLONG_MAX)), OVERFLOW)
    assert call("INCR", "n") == LLONG_MIN + 1
    assert call("DECRBY", "n", "-9223372036854775807") == 0
    assert call("GET", "n") == b"0"


def test_decrby_llong_min(call, lst):
    assert is_err(call("DECRBY", "n", str(LLONG_MIN)), "ERR decrement would overflow")
    assert is_err(call("DECRBY", lst, str(LLONG_MIN)), "ERR decrement would overflow")
    assert call("GET", "n") is None
    assert call("INCRBY", "n", str(LLONG_MIN)) == LLONG_MIN


def test_incr_argument_errors(call, lst):
    for arg in ["x", "+1", " 1", "1.5", "9223372036854775808"]:
        assert is_err(call("INCRBY", "n", arg), NOT_INT)
        assert is_err(call("DECRBY", lst, arg), NOT_INT)      # the argument before the type
    for cmd in (["INCR", lst], ["DECR", lst], ["INCRBY", lst, "1"], ["DECRBY", lst, "1"]):
        assert is_err(call(*cmd), WRONGTYPE)


@pytest.mark.parametrize("start, incr, expected", [
    ("10.5", "0.1", b"10.6"), ("0.1", "0.2", b"0.3"), (None, "5.0e3", b"5000"),
    (None, "1e20", b"100000000000000000000"), (None, "3", b"3"), (None, "-0.0", b"0"),
    (None, "1.5e-7", b"0.00000015"), ("5", "-5", b"0"), (None, "-1e-20", b"0"),
    (None, "0x10", b"16"), (None, "0x1p-3", b"0.125"), (None, ".5", b"0.5"), (None, "5.", b"5"),
    (None, "+5", b"5"), ("1", "1e-17", b"1.00000000000000001"), ("1", "5e-18", b"1"),
    (None, "123456789012345678901234567890", b"123456789012345678899921813504"),
    (None, "0.0000000000000000150", b"0.00000000000000002"), (None, "1e-16", b"0.0000000000000001"),
    (None, "0.000003814697265625", b"0.00000381469726562"),    # an exact tie: rounds to even
    (None, "0.000011444091796875", b"0.00001144409179688"),
    ("1.50", "0", b"1.5"), ("1e1", "0", b"10"), (None, "1e+2", b"100"), (None, "0e-99999", b"0"),
    (None, "1e-4950", b"0"), ("3.5", "-10", b"-6.5"), ("10", "-10.25", b"-0.25"),
])
def test_incrbyfloat_values(call, start, incr, expected):
    if start is not None:
        call("SET", "f", start)
    assert call("INCRBYFLOAT", "f", incr) == expected
    assert call("GET", "f") == expected


def test_incrbyfloat_huge_values(call):
    assert call("INCRBYFLOAT", "f", "1e400").startswith(
        b"10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994")
    assert len(call("GET", "f")) == 401
    call("DEL", "f")
    reply = call("INCRBYFLOAT", "f", "1.18973149535723176503e+4932")       # rounds to LDBL_MAX
    assert reply.startswith(b"118973149535723176502126385303097020516906332229462420044032373389173700552297")
    assert len(reply) == 4933
    assert is_err(call("INCRBYFLOAT", "f", "1e4931"), NAN_INF)


@pytest.mark.parametrize("start, incr, expected", [
    (None, "inf", NAN_INF), (None, "-inf", NAN_INF), (None, "INF", NAN_INF), (None, "Infinity", NAN_INF),
    ("inf", "-inf", NAN_INF), (None, "nan", NOT_FLOAT), (None, " 1", NOT_FLOAT), (None, "1 ", NOT_FLOAT),
    (None, "1e", NOT_FLOAT), (None, "e1", NOT_FLOAT), (None, "1e4933", NOT_FLOAT),
    (None, "1e-5000", NOT_FLOAT), (None, "1.8e-4951", NOT_FLOAT), (None, "0x1p-16446", NOT_FLOAT),
    (None, "0x1p16384", NOT_FLOAT), (None, "1.18973149535723176508e+4932", NOT_FLOAT),
    (None, "1\x00", NOT_FLOAT), (None, "", NOT_FLOAT), (None, "1" * 5119, NOT_FLOAT),
    (None, "1" * 5120, NOT_FLOAT), (None, "0." + "0" * 5000 + "1", NOT_FLOAT),
    ("abc", "1", NOT_FLOAT), (" 1", "1", NOT_FLOAT), ("1\x00x", "1", NOT_FLOAT), ("", "1", NOT_FLOAT),
])
def test_incrbyfloat_errors(call, db, start, incr, expected):
    if start is not None:
        call("SET", "f", start)
    assert is_err(call("INCRBYFLOAT", "f", incr), expected)
    assert db.get(b"f") == (None if start is None else start.encode())


def test_incrbyfloat_accepts_subnormal_and_hex_edges(call):
    assert call("INCRBYFLOAT", "a", "1.9e-4951") == b"0"
    assert call("INCRBYFLOAT", "b", "0x1.8p-16446") == b"0"
    assert call("INCRBYFLOAT", "c", "0x1p16383").startswith(b"5948657476786158825428796633140035653817")


def test_incrbyfloat_wrong_type_before_argument(call, lst):
    assert is_err(call("INCRBYFLOAT", lst, "x"), WRONGTYPE)
    assert is_err(call("INCRBYFLOAT", lst, "1"), WRONGTYPE)


def test_incrbyfloat_accumulates_in_long_double(call):
    for _ in range(10):
        call("INCRBYFLOAT", "f", "0.1")
    assert call("GET", "f") == b"1"


def test_long_double_formatter_matches_printf_rounding():
    # Cross-check the integer emulation with an independent exact computation.
    from fractions import Fraction
    rng = random.Random(7)
    for _ in range(2000):
        m = rng.randrange(-(1 << 64) + 1, 1 << 64)
        e = rng.randrange(-130, 80)
        v = strings.ld_from_int(m, e)
        exact = Fraction(v[0]) * Fraction(2) ** v[1]
        q = round(exact * 10 ** 17)                      # Fraction rounds half to even
        ip, fp = divmod(abs(q), 10 ** 17)
        text = ("%d.%017d" % (ip, fp)).rstrip("0").rstrip(".")
        if exact < 0 and text != "0":
            text = "-" + text
        assert strings.format_long_double_human(v) == text.encode()


# -- LCS --------------------------------------------------------------------------------------------
def redis_lcs(a: bytes, b: bytes, minmatchlen: int = 0, withmatchlen: bool = False):
    """A direct port of Redis 7.0's lcsCommand table walk, as the oracle."""
    alen, blen = len(a), len(b)
    t = [[0] * (blen + 1) for _ in range(alen + 1)]
    for i in range(1, alen + 1):
        for j in range(1, blen + 1):
            t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
    idx = t[alen][blen]
    result = bytearray(idx)
    matches = []
    i, j = alen, blen
    a_start, a_end, b_start, b_end = alen, 0, 0, 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == alen:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            if t[i - 1][j] > t[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if a_start != alen:
                emit = True
        if emit:
            ml = a_end - a_start + 1
            if minmatchlen == 0 or ml >= minmatchlen:
                matches.append([[a_start, a_end], [b_start, b_end]] + ([ml] if withmatchlen else []))
            a_start = alen
    return bytes(result), t[alen][blen], matches


def test_lcs_examples(call):
    call("MSET", "key1", "ohmytext", "key2", "mynewtext")
    assert call("LCS", "key1", "key2") == b"mytext"
    assert call("LCS", "key1", "key2", "LEN") == 6
    assert call("LCS", "key1", "key2", "IDX") == {
        b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len": 6}
    assert call("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4") == {b"matches": [[[4, 7], [5, 8]]], b"len": 6}
    assert call("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN") == {
        b"matches": [[[4, 7], [5, 8], 4]], b"len": 6}
    assert call("LCS", "key1", "key2", "WITHMATCHLEN") == b"mytext"
    assert call("LCS", "key1", "key2", "LEN", "WITHMATCHLEN") == 6
    assert call("LCS", "key1", "key2", "MINMATCHLEN", "-5", "IDX") == {
        b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len": 6}
    assert call("LCS", "key1", "key2", "MINMATCHLEN", "1", "MINMATCHLEN", "99", "IDX") == {
        b"matches": [], b"len": 6}
    assert call("LCS", "key1", "nokey") == b""
    assert call("LCS", "nokey", "nokey2", "IDX") == {b"matches": [], b"len": 0}


def test_lcs_errors(call, lst, max_bulk):
    call("MSET", "a", "hello", "b", "world")
    assert is_err(call("LCS", "a", "b", "MINMATCHLEN", "x"), NOT_INT)
    assert is_err(call("LCS", "a", "b", "MINMATCHLEN"), SYNTAX)
    assert is_err(call("LCS", "a", "b", "IDX", "LEN"),
                  "ERR If you want both the length and indexes, please just use IDX.")
    assert is_err(call("LCS", "a", "b", "LEN", "IDX", "FOO"), SYNTAX)
    assert is_err(call("LCS", "a", "b", "FOO"), SYNTAX)
    assert is_err(call("LCS", lst, "a", "FOO"), "ERR The specified keys must contain string values")
    assert is_err(call("LCS", "a", lst), "ERR The specified keys must contain string values")
    max_bulk(6 * 6 * 4 - 1)
    assert is_err(call("LCS", "a", "b", "LEN"),
                  "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    max_bulk(6 * 6 * 4)
    assert call("LCS", "a", "b", "LEN") == 1


def test_lcs_matches_redis_algorithm(call):
    rng = random.Random(1234)
    for n in range(300):
        alphabet = b"abc" if n % 3 else b"ab"
        a = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 25)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 25)))
        call("MSET", "a", a, "b", b)
        text, length, matches = redis_lcs(a, b, 2, True)
        assert call("LCS", "a", "b") == text
        assert call("LCS", "a", "b", "LEN") == length
        assert call("LCS", "a", "b", "IDX", "MINMATCHLEN", "2", "WITHMATCHLEN") == {
            b"matches": matches, b"len": length}
        assert call("LCS", "a", "b", "IDX") == {b"matches": redis_lcs(a, b)[2], b"len": length}


def test_lcs_large_strings_are_fast(call):
    rng = random.Random(5)
    a = bytes(rng.randrange(256) for _ in range(3000))
    b = bytes(rng.randrange(256) for _ in range(3000))
    call("MSET", "a", a, "b", b)
    text = call("LCS", "a", "b")
    assert call("LCS", "a", "b", "LEN") == len(text)
    reply = call("LCS", "a", "b", "IDX")
    assert reply[b"len"] == len(text)
    assert sum(m[0][1] - m[0][0] + 1 for m in reply[b"matches"]) == len(text)


# -- keyspace events, dirty count -------------------------------------------------------------------
@pytest.mark.parametrize("setup, cmd, expected", [
    ([], ["SET", "k", "v"], [b"set"]),
    ([], ["SET", "k", "v", "EX", "10"], [b"set", b"expire"]),
    ([], ["SET", "k", "v", "KEEPTTL"], [b"set"]),
    ([], ["SET", "k", "v", "XX"], []),
    ([["SET", "k", "v"]], ["SET", "k", "v", "NX", "GET"], []),
    ([], ["SETNX", "k", "v"], [b"set"]),
    ([["SET", "k", "v"]], ["SETNX", "k", "v"], []),
    ([], ["SETEX", "k", "10", "v"], [b"set", b"expire"]),
    ([], ["PSETEX", "k", "10", "v"], [b"set", b"expire"]),
    ([], ["GETSET", "k", "v"], [b"set"]),
    ([], ["MSET", "a", "1", "b", "2"], [b"set", b"set"]),
    ([["SET", "a", "1"]], ["MSETNX", "a", "1", "b", "2"], []),
    ([], ["MSETNX", "a", "1", "b", "2"], [b"set", b"set"]),
    ([], ["APPEND", "k", "v"], [b"append"]),
    ([["SET", "k", "v"]], ["APPEND", "k", "v"], [b"append"]),
    ([], ["SETRANGE", "k", "1", "v"], [b"setrange"]),
    ([["SET", "k", "v"]], ["SETRANGE", "k", "0", "w"], [b"setrange"]),
    ([], ["SETRANGE", "k", "1", ""], []),
    ([], ["INCR", "k"], [b"incrby"]),
    ([], ["DECR", "k"], [b"incrby"]),
    ([["SET", "k", "1"]], ["INCRBY", "k", "5"], [b"incrby"]),
    ([["SET", "k", "1"]], ["DECRBY", "k", "5"], [b"incrby"]),
    ([], ["INCRBYFLOAT", "k", "1.5"], [b"incrbyfloat"]),
    ([["SET", "k", "1"]], ["INCRBYFLOAT", "k", "1.5"], [b"incrbyfloat"]),
    ([["SET", "k", "v"]], ["GETDEL", "k"], [b"del"]),
    ([], ["GETDEL", "k"], []),
    ([["SET", "k", "v"]], ["GETEX", "k", "EX", "5"], [b"expire"]),
    ([["SET", "k", "v"]], ["GETEX", "k"], []),
    ([["SET", "k", "v", "EX", "5"]], ["GETEX", "k", "PERSIST"], [b"persist"]),
    ([["SET", "k", "v"]], ["GETEX", "k", "EXAT", "1"], [b"del"]),
    ([["SET", "k", "v"]], ["GET", "k"], []),
])
def test_keyspace_events(call, events, setup, cmd, expected):
    for s in setup:
        call(*s)
    events.clear()
    assert not isinstance(call(*cmd), CommandError)
    assert [e for e, _ in events] == expected


@pytest.mark.parametrize("cmd, dirty", [
    (["SET", "k", "v"], 1), (["SET", "k", "v", "EX", "10"], 1), (["SETEX", "k", "10", "v"], 1),
    (["MSET", "a", "1", "a", "2"], 2), (["INCR", "k"], 1), (["SET", "k", "v", "NX"], 1),
])
def test_dirty_counts_like_redis(call, server, cmd, dirty):
    before = server.ks.dirty
    call(*cmd)
    assert server.ks.dirty - before == dirty
