"""EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT), TTL PTTL EXPIRETIME PEXPIRETIME PERSIST, and
lazy and active expiry, on an in-memory server with a fake clock.

Expected replies and error texts are literals observed from redis-server 7.0.15. Keys are created
through the keyspace API so these tests do not depend on the strings family.
"""

from __future__ import annotations

import random

import pytest

from cachesrv.commands.errors import CommandError

NOW = 1_700_000_000_000   # FakeClock's start (Unix ms)


def err(text: str) -> CommandError:
    return CommandError(text)


@pytest.fixture
def db(server):
    return server.ks.dbs[0]


@pytest.fixture
def put(db):
    def put(key: str | bytes, value: bytes = b"v", ttl_ms: int | None = None, target=None):
        d = target or db
        k = key.encode() if isinstance(key, str) else key
        d.set(k, value)
        if ttl_ms is not None:
            d.set_expire(k, d.ks.clock.now_ms() + ttl_ms)
        return k
    return put


@pytest.fixture
def events(server):
    seen: list[tuple[int, bytes, bytes | None]] = []
    server.ks.change_hooks.append(lambda d, key, event: seen.append((d.id, key, event)))
    return seen


class FakeHash:
    type_name = "hash"
    encoding = "listpack"

    def __init__(self, d=None):
        self.d = dict(d or {})

    def copy(self):
        return FakeHash(self.d)


# -- setting a TTL ----------------------------------------------------------------------------------
def test_expire_sets_ttl_and_pttl(call, put):
    put("k")
    assert call("EXPIRE", "k", 100) == 1
    assert call("TTL", "k") == 100
    assert call("PTTL", "k") == 100_000
    assert call("EXPIRETIME", "k") == (NOW + 100_000) // 1000
    assert call("PEXPIRETIME", "k") == NOW + 100_000


def test_pexpire_and_ttl_rounds_to_nearest_second(call, put, clock):
    put("k")
    assert call("PEXPIRE", "k", 1499) == 1
    assert call("TTL", "k") == 1
    assert call("PEXPIRE", "k", 1500) == 1
    assert call("TTL", "k") == 2
    clock.advance(1001)
    assert call("PTTL", "k") == 499
    assert call("TTL", "k") == 0


def test_expireat_and_pexpireat_are_absolute(call, put):
    put("k")
    at = NOW // 1000 + 50
    assert call("EXPIREAT", "k", at) == 1
    assert call("EXPIRETIME", "k") == at
    assert call("PEXPIRETIME", "k") == at * 1000
    assert call("PEXPIREAT", "k", NOW + 1234) == 1
    assert call("PTTL", "k") == 1234
    assert call("PEXPIRETIME", "k") == NOW + 1234
    assert call("EXPIRETIME", "k") == (NOW + 1234 + 500) // 1000


def test_missing_key_gets_no_ttl_and_is_not_created(call, db):
    assert call("EXPIRE", "nokey", 100) == 0
    assert call("PEXPIRE", "nokey", 100) == 0
    assert call("EXPIREAT", "nokey", 1) == 0
    assert call("PEXPIREAT", "nokey", 1) == 0
    assert db.size() == 0
    assert db.expires_count() == 0


def test_ttl_family_minus_two_and_minus_one(call, put):
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        assert call(cmd, "nokey") == -2
    put("k")
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        assert call(cmd, "k") == -1


def test_key_exists_at_its_expiry_millisecond_and_goes_after(call, put, clock):
    # keyIsExpired: now > when. At exactly `when` the key is alive with PTTL 0.
    put("k", ttl_ms=100)
    clock.advance(100)
    assert call("PTTL", "k") == 0
    assert call("TTL", "k") == 0
    assert call("EXISTS", "k") == 1
    clock.advance(1)
    assert call("PTTL", "k") == -2
    assert call("EXISTS", "k") == 0


@pytest.mark.parametrize("cmd,arg", [("EXPIRE", "0"), ("EXPIRE", "-1"), ("PEXPIRE", "0"), ("PEXPIRE", "-100"),
                                     ("EXPIREAT", "1"), ("PEXPIREAT", "1"), ("PEXPIREAT", str(NOW)),
                                     ("EXPIRE", "-9223372036854775")])
def test_time_not_in_future_deletes_with_del_event(call, put, db, events, server, cmd, arg):
    put("k")
    events.clear()
    dirty = server.ks.dirty
    expired_before = server.ks.stats_expired_keys
    assert call(cmd, "k", arg) == 1
    assert events == [(0, b"k", b"del")]
    assert server.ks.dirty == dirty + 1
    assert db.size() == 0
    assert call("TTL", "k") == -2
    # an explicit deletion, not an expiry: expired_keys does not move
    assert server.ks.stats_expired_keys == expired_before


def test_pexpireat_one_ms_ahead_keeps_key(call, put):
    put("k")
    assert call("PEXPIREAT", "k", NOW + 1) == 1
    assert call("PTTL", "k") == 1


def test_expire_event_and_dirty(call, put, events, server):
    put("k")
    events.clear()
    dirty = server.ks.dirty
    assert call("EXPIRE", "k", 10) == 1
    assert events == [(0, b"k", b"expire")]
    assert server.ks.dirty == dirty + 1
    assert call("EXPIRE", "nokey", 10) == 0
    assert call("EXPIRE", "k", 10, "NX") == 0
    assert events == [(0, b"k", b"expire")]
    assert server.ks.dirty == dirty + 1


def test_expire_on_replica_stores_past_time_instead_of_deleting(call, put, db, server, events):
    put("k")
    server.ks.role_replica = True
    events.clear()
    assert call("PEXPIRE", "k", -5) == 1
    assert events == [(0, b"k", b"expire")]
    assert db.size() == 1                          # stays until the primary's DEL
    assert call("EXISTS", "k") == 0                # but reads as missing
    assert db.size() == 1


# -- NX XX GT LT ----------------------------------------------------------------------------------------
def test_nx_xx_gt_lt_sequence_as_redis(call, put):
    put("k")
    steps = [
        (("EXPIRE", "k", 100, "XX"), 0),
        (("EXPIRE", "k", 100, "lt"), 1),      # no TTL counts as infinite: LT succeeds
        (("TTL", "k"), 100),
        (("EXPIRE", "k", 200, "lt"), 0),
        (("EXPIRE", "k", 50, "gt"), 0),
        (("EXPIRE", "k", 50, "lt"), 1),
        (("TTL", "k"), 50),
        (("EXPIRE", "k", 60, "gt"), 1),
        (("TTL", "k"), 60),
        (("PERSIST", "k"), 1),
        (("PERSIST", "k"), 0),
        (("EXPIRE", "k", 100, "gt"), 0),      # no TTL counts as infinite: GT fails
        (("EXPIRE", "k", 100, "lt"), 1),
        (("TTL", "k"), 100),
        (("PERSIST", "k"), 1),
        (("EXPIRE", "k", 100, "xx"), 0),
        (("EXPIRE", "k", 200, "nx"), 1),
        (("EXPIRE", "k", 100, "nx"), 0),
        (("TTL", "k"), 200),
        (("EXPIRE", "k", 100, "nx", "nx"), 0),  # repeated flags are fine
        (("EXPIRE", "k", 200, "gt", "gt"), 0),  # equal is not greater
        (("EXPIRE", "k", 200, "GT", "XX"), 0),
        (("EXPIRE", "k", 201, "GT", "XX"), 1),
        (("EXPIRE", "k", 201, "LT", "XX"), 0),
        (("EXPIRE", "k", 100, "LT", "XX"), 1),
        (("TTL", "k"), 100),
    ]
    for args, expected in steps:
        assert call(*args) == expected, args


def test_flags_with_a_past_time(call, put, db):
    put("k")
    assert call("EXPIRE", "k", -5, "gt") == 0     # no TTL: GT fails, key stays
    assert call("EXPIRE", "k", -5, "xx") == 0
    assert db.size() == 1
    assert call("EXPIRE", "k", -5, "nx") == 1     # deletes
    assert db.size() == 0
    put("k", ttl_ms=10_000)
    assert call("EXPIRE", "k", -5, "lt") == 1
    assert db.size() == 0


@pytest.mark.parametrize("opts,text", [
    (("nx", "xx"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
    (("nx", "gt"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
    (("lt", "nx"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
    (("gt", "lt"), "ERR GT and LT options at the same time are not compatible"),
    (("xx", "gt", "lt"), "ERR GT and LT options at the same time are not compatible"),
    (("foo",), "ERR Unsupported option foo"),
    (("nx", "xx", "bar"), "ERR Unsupported option bar"),   # the scan ends before the conflict check
    (("nx\0junk",), None),                                 # strcasecmp stops at the NUL
])
def test_option_errors(call, put, opts, text):
    put("k")
    reply = call("EXPIRE", "k", 100, *opts)
    if text is None:
        assert reply == 1
    else:
        assert reply == err(text)
        assert call("TTL", "k") == -1


def test_option_error_comes_before_number_error(call, put):
    put("k")
    assert call("EXPIRE", "k", "abc", "foo") == err("ERR Unsupported option foo")
    assert call("EXPIRE", "k", "abc", "nx", "xx") == err(
        "ERR NX and XX, GT or LT options at the same time are not compatible")


@pytest.mark.parametrize("bad", ["abc", "1.5", "", " 1", "+1", "01", "9223372036854775808"])
def test_non_integer_time(call, put, bad):
    put("k")
    assert call("EXPIRE", "k", bad) == err("ERR value is not an integer or out of range")
    assert call("PEXPIRE", "nokey", bad) == err("ERR value is not an integer or out of range")


@pytest.mark.parametrize("cmd,arg", [
    ("EXPIRE", "9223372036854775807"), ("EXPIRE", "9223372036854776"), ("EXPIRE", "9223372036854775"),
    ("EXPIRE", "-9223372036854776"), ("PEXPIRE", "9223372036854775807"), ("EXPIREAT", "9223372036854776"),
    ("EXPIREAT", "-9223372036854776"),
])
def test_overflow_is_invalid_expire_time(call, put, cmd, arg):
    put("k")
    assert call(cmd, "k", arg) == err(f"ERR invalid expire time in '{cmd.lower()}' command")
    # the checks come before the lookup: a missing key gets the same error
    assert call(cmd, "nokey", arg) == err(f"ERR invalid expire time in '{cmd.lower()}' command")


def test_command_name_in_overflow_error_is_lower_case(call, put):
    put("k")
    assert call("ExPiRe", "k", "9223372036854775807") == err("ERR invalid expire time in 'expire' command")


def test_largest_times(call, put):
    put("k")
    assert call("PEXPIREAT", "k", "9223372036854775807") == 1
    assert call("PEXPIRETIME", "k") == 9223372036854775807
    assert call("EXPIRETIME", "k") == 9223372036854776          # (ms + 500) / 1000
    assert call("PTTL", "k") == 9223372036854775807 - NOW
    assert call("EXPIREAT", "k", "9223372036854775") == 1
    assert call("PEXPIRETIME", "k") == 9223372036854775000
    assert call("PEXPIRE", "k", 9223372036854775807 - NOW) == 1
    assert call("PEXPIRE", "k", 9223372036854775807 - NOW + 1) == err(
        "ERR invalid expire time in 'pexpire' command")


def test_expire_works_on_any_type(call, put):
    put("h", FakeHash({b"f": b"v"}))
    assert call("EXPIRE", "h", 10) == 1
    assert call("TTL", "h") == 10


# -- PERSIST --------------------------------------------------------------------------------------------
def test_persist(call, put, events, server):
    assert call("PERSIST", "nokey") == 0
    put("k")
    assert call("PERSIST", "k") == 0
    call("EXPIRE", "k", 10)
    events.clear()
    dirty = server.ks.dirty
    assert call("PERSIST", "k") == 1
    assert events == [(0, b"k", b"persist")]
    assert server.ks.dirty == dirty + 1
    assert call("TTL", "k") == -1


def test_persist_on_expired_key_is_zero_and_expires_it(call, put, clock, events):
    put("k", ttl_ms=10)
    clock.advance(11)
    events.clear()
    assert call("PERSIST", "k") == 0
    assert events == [(0, b"k", b"expired")]


def test_setting_a_value_drops_the_ttl(put, call, db):
    put("k", ttl_ms=10_000)
    db.set(b"k", b"new")
    assert call("TTL", "k") == -1


# -- lazy expiry: an expired key is never returned ------------------------------------------------------
def test_lazy_expiry_hides_expired_keys_from_every_command(call, put, db, clock, server):
    put("gone", ttl_ms=100)
    put("live")
    clock.advance(101)
    assert db.size() == 2                    # nothing touched it yet: DBSIZE counts it, as Redis
    assert call("KEYS", "*") == [b"live"]    # KEYS skips it without deleting
    assert db.size() == 2
    assert call("EXISTS", "gone") == 0
    assert db.size() == 1                    # the access deleted it
    assert call("DBSIZE") == 1
    put("gone", ttl_ms=100)
    clock.advance(101)
    assert call("TYPE", "gone") == "none"
    put("gone", ttl_ms=100)
    clock.advance(101)
    assert call("SCAN", 0, "COUNT", 1000) == [b"0", [b"live"]]
    assert db.size() == 1
    put("gone", ttl_ms=100)
    clock.advance(101)
    assert call("RENAME", "gone", "x") == err("ERR no such key")
    put("gone", ttl_ms=100)
    clock.advance(101)
    assert call("RENAMENX", "gone", "x") == err("ERR no such key")
    put("gone", ttl_ms=100)
    clock.advance(101)
    assert call("COPY", "gone", "x") == 0
    put("gone", ttl_ms=100)
    clock.advance(101)
    assert call("MOVE", "gone", 1) == 0
    assert server.ks.dbs[1].size() == 0
    for cmd in (("TOUCH", "gone"), ("TTL", "gone"), ("PTTL", "gone"), ("EXPIRETIME", "gone"),
                ("OBJECT", "ENCODING", "gone"), ("OBJECT", "REFCOUNT", "gone"), ("EXPIRE", "gone", 100),
                ("PERSIST", "gone"), ("DEL", "gone"), ("UNLINK", "gone")):
        put("gone", ttl_ms=100)
        clock.advance(101)
        assert call(*cmd) in (0, -2, None), cmd
        assert db.size() == 1, cmd
    for _ in range(20):
        put("gone", ttl_ms=100)
        clock.advance(101)
        assert call("RANDOMKEY") == b"live"
    assert call("EXISTS", "x") == 0


def test_lazy_expiry_for_strings(call, put, clock):
    from cachesrv.commands.table import COMMANDS
    if b"get" not in COMMANDS:
        pytest.skip("the strings family is not in the command table yet")
    put("k", b"value", ttl_ms=100)
    assert call("GET", "k") == b"value"
    clock.advance(101)
    assert call("GET", "k") is None


def test_copy_rename_move_of_a_key_whose_destination_expired(call, put, clock, server):
    put("src")
    put("dst", ttl_ms=100)
    clock.advance(101)
    assert call("RENAMENX", "src", "dst") == 1    # the expired destination counts as absent
    put("src2")
    put("d2", ttl_ms=100)
    clock.advance(101)
    assert call("COPY", "src2", "d2") == 1
    put("m")
    put("m", ttl_ms=100, target=server.ks.dbs[1])
    clock.advance(101)
    assert call("MOVE", "m", 1) == 1


# -- active expiry ----------------------------------------------------------------------------------------
def test_active_expiry_deletes_without_any_access(put, db, clock, server, events):
    for i in range(500):
        put(f"k{i}", ttl_ms=1000)
    for i in range(100):
        put(f"p{i}")
    clock.advance(1001)
    events.clear()
    removed = server.ks.active_expire_cycle(budget_ms=10_000)
    assert removed == 500
    assert db.size() == 100
    assert db.expires_count() == 0
    assert server.ks.stats_expired_keys == 500
    assert sorted(e for _, _, e in events) == [b"expired"] * 500


def test_active_expiry_leaves_live_keys(put, db, clock, server):
    random.seed(3)
    for i in range(300):
        put(f"k{i}", ttl_ms=1000 if i % 2 else 5000)
    clock.advance(1001)
    removed = server.ks.active_expire_cycle(budget_ms=10_000)
    assert removed > 0
    assert db.size() == 300 - removed
    assert all(db.is_live(b"k%d" % i) for i in range(0, 300, 2))
    for _ in range(200):
        server.ks.active_expire_cycle(budget_ms=10_000)
    assert sorted(db.iter_keys()) == sorted(b"k%d" % i for i in range(0, 300, 2))
    # nothing is due: cycles remove nothing more
    assert server.ks.active_expire_cycle(budget_ms=10_000) == 0


def test_active_expiry_samples_and_stops_when_few_keys_are_stale(put, db, clock, server):
    random.seed(7)
    for i in range(4000):
        put(f"live{i}", ttl_ms=1_000_000)
    for i in range(80):
        put(f"old{i}", ttl_ms=10)
    clock.advance(11)
    removed = server.ks.active_expire_cycle(budget_ms=10_000)
    # 2% of the volatile keys are stale: a cycle samples 20 per shard and stops there
    assert 0 <= removed < 80
    sampled_out = 80 - removed
    assert sampled_out > 0
    # repeated cycles keep sampling until all are gone
    for _ in range(2000):
        if db.size() == 4000:
            break
        server.ks.active_expire_cycle(budget_ms=10_000)
    assert db.size() == 4000


def test_active_expiry_repeats_while_many_keys_are_stale(put, db, clock, server):
    random.seed(11)
    for i in range(3000):
        put(f"old{i}", ttl_ms=10)
    for i in range(100):
        put(f"live{i}", ttl_ms=1_000_000)
    clock.advance(11)
    removed = server.ks.active_expire_cycle(budget_ms=10_000)
    # far more than one sample of 20 per shard (16 shards = 320): the loop went on
    assert removed > 16 * 20
    assert removed >= 2700


def test_active_expiry_respects_its_time_budget(put, db, clock, server):
    for i in range(20_000):
        put(f"k{i}", ttl_ms=10)
    clock.advance(11)
    first = server.ks.active_expire_cycle(budget_ms=0)
    assert 0 < first <= 20           # one sample of one shard, then out of time
    total = first
    for _ in range(3000):
        if db.size() == 0:
            break
        total += server.ks.active_expire_cycle(budget_ms=0)
    assert db.size() == 0
    assert total == 20_000


def test_active_expiry_cycle_resumes_at_the_next_shard(put, db, clock, server):
    for i in range(5000):
        put(f"k{i}", ttl_ms=10)
    clock.advance(11)
    shard_sizes_before = [len(s.expires) for s in db.shards]
    server.ks.active_expire_cycle(budget_ms=0)
    server.ks.active_expire_cycle(budget_ms=0)
    touched = [i for i, s in enumerate(db.shards) if len(s.expires) != shard_sizes_before[i]]
    assert len(touched) == 2          # two cycles, two different shards


def test_active_expiry_does_nothing_on_a_replica(put, db, clock, server):
    for i in range(50):
        put(f"k{i}", ttl_ms=10)
    clock.advance(11)
    server.ks.role_replica = True
    assert server.ks.active_expire_cycle(budget_ms=10_000) == 0
    assert db.size() == 50


def test_active_expiry_ignores_persisted_keys(call, put, db, clock, server):
    for i in range(200):
        put(f"k{i}", ttl_ms=10)
    for i in range(0, 200, 2):
        assert call("PERSIST", f"k{i}") == 1
    clock.advance(11)
    for _ in range(50):
        server.ks.active_expire_cycle(budget_ms=10_000)
    assert db.size() == 100
    assert sorted(db.iter_keys()) == sorted(f"k{i}".encode() for i in range(0, 200, 2))


def test_active_expiry_in_every_database(put, clock, server):
    for n in (0, 3, 15):
        for i in range(30):
            put(f"k{i}", ttl_ms=10, target=server.ks.dbs[n])
    clock.advance(11)
    assert server.ks.active_expire_cycle(budget_ms=10_000) == 90
    assert all(d.size() == 0 for d in server.ks.dbs)
