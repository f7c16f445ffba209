"""redis-py (8.x) against cachesrv, in RESP2 and RESP3.

A real client must never notice that cachesrv is not Redis. redis-py 8 opens every connection with
``HELLO 3`` (protocol 3: it needs a map back, with ``proto`` 3), then ``CLIENT SETINFO`` (whose
errors it ignores) and ``SELECT`` when ``db`` is set, so simply connecting exercises the handshake.

Where behaviour could differ, the same redis-py calls run against Debian's real redis-server 7.0
(``redis_port``) and the outcomes must be equal: a value, or the exception class and its text.
Values that depend on time are turned into properties inside the sequence (``0 < pttl <= N``) so
that both servers answer the same. Both servers are flushed first (database 0, and any other one a
test uses).

Not covered here: MULTI/EXEC pipelines (``transaction=True``), which come with MULTI.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import threading
import time

import pytest

redis = pytest.importorskip("redis")
from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402

from tests.conftest import server_pair  # noqa: E402


# -- fixtures and helpers --------------------------------------------------------------------------
@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto(request) -> int:
    return request.param


def _client(port: int, proto: int, **kw) -> "redis.Redis":
    kw.setdefault("socket_timeout", 30)
    if kw.get("password") is not None or kw.get("no_retry"):
        # AuthenticationError is a ConnectionError: redis-py would retry it with backoff.
        kw.pop("no_retry", None)
        kw["retry"] = Retry(NoBackoff(), 0)
    return redis.Redis(host="127.0.0.1", port=port, protocol=proto, **kw)


@pytest.fixture
def r(cachesrv_port, proto):
    """A redis-py client on cachesrv, database 0 flushed."""
    c = _client(cachesrv_port, proto)
    c.flushdb()
    yield c
    c.close()


@pytest.fixture
def real(redis_port, proto):
    """The same client on the real redis-server, database 0 flushed."""
    c = _client(redis_port, proto)
    c.flushdb()
    yield c
    c.close()


def outcome(fn, client):
    """What fn(client) gives: ("ok", value), or ("error", exception class, text)."""
    try:
        return ("ok", fn(client))
    except redis.RedisError as e:
        return ("error", type(e).__name__, str(e))


def same(fn, r, real):
    """Run fn on cachesrv and on Redis; the outcomes must be equal. Returns cachesrv's outcome."""
    ours, theirs = outcome(fn, r), outcome(fn, real)
    if ours != theirs and ours[0] == theirs[0] == "ok" and isinstance(ours[1], list) \
            and isinstance(theirs[1], list) and len(ours[1]) == len(theirs[1]):
        diffs = [(i, a, b) for i, (a, b) in enumerate(zip(ours[1], theirs[1])) if a != b]
        pytest.fail("replies differ at (index, cachesrv, redis):\n" + "\n".join(map(repr, diffs)))
    assert ours == theirs
    return ours


def steps(*fns):
    """A sequence of calls whose outcomes (each value or error) make one list, for same()."""
    return lambda c: [outcome(f, c) for f in fns]


# -- connection ------------------------------------------------------------------------------------
def test_handshake_negotiates_the_protocol(r, real, proto):
    # redis-py already sent HELLO 3 (for protocol 3) on connect; CLIENT INFO tells what stuck.
    assert r.ping() is True
    fields = ("resp", "db", "cmd", "flags", "name", "user", "multi", "sub", "psub")
    info = same(lambda c: {k: v for k, v in c.client_info().items() if k in fields}, r, real)[1]
    assert str(info["resp"]) == str(proto) and info["cmd"] == "client|info"
    hello = r.execute_command("HELLO", str(proto))
    assert isinstance(hello, dict if proto == 3 else list)
    assert _without_id(hello) == _without_id(real.execute_command("HELLO", str(proto)))
    assert _without_id(hello)[b"proto"] == proto
    assert r.echo("hello") == b"hello"


def _without_id(hello) -> dict:
    """HELLO's reply (a map in RESP3, a flat array in RESP2) without the client id."""
    if isinstance(hello, list):
        hello = dict(zip(hello[::2], hello[1::2]))
    return {k: v for k, v in hello.items() if k not in (b"id", "id")}


def test_hello_errors_and_setname(r, real, proto):
    same(steps(lambda c: c.execute_command("HELLO", "4"),
               lambda c: c.execute_command("HELLO", "x"),
               lambda c: c.execute_command("HELLO", str(proto), "AUTH", "default"),
               lambda c: c.execute_command("HELLO", str(proto), "SETNAME", "a b"),
               lambda c: c.execute_command("HELLO", str(proto), "BOGUS"),
               lambda c: _without_id(c.execute_command("HELLO", str(proto), "SETNAME", "named")),
               lambda c: c.client_getname()), r, real)


def test_unknown_command_and_arity_errors(r, real):
    same(steps(lambda c: c.execute_command("NOSUCHCOMMAND", "a"),
               lambda c: c.execute_command("GET"),
               lambda c: c.execute_command("SET", "k"),
               lambda c: c.execute_command("CONFIG", "NOSUCH"),
               lambda c: c.execute_command("CLIENT", "NOSUCH", "x")), r, real)


# -- strings ---------------------------------------------------------------------------------------
def test_set_with_every_option(r, real):
    now = int(time.time())
    same(steps(
        lambda c: c.set("k", "v"),
        lambda c: c.set("k", "w", nx=True),
        lambda c: c.set("n", "w", xx=True),
        lambda c: c.get("n"),
        lambda c: c.set("k", "w", xx=True),
        lambda c: c.set("k", "x", get=True),
        lambda c: c.set("fresh", "x", get=True),
        lambda c: c.set("k", "y", ex=100),
        lambda c: 97_000 < c.pttl("k") <= 100_000,
        lambda c: c.set("k", "z", keepttl=True),
        lambda c: 97_000 < c.pttl("k") <= 100_000,
        lambda c: c.get("k"),
        lambda c: c.set("k", "z2"),
        lambda c: c.ttl("k"),
        lambda c: c.set("k", "p", px=5000),
        lambda c: 0 < c.pttl("k") <= 5000,
        lambda c: c.set("k", "q", exat=now + 1000),
        lambda c: c.expiretime("k"),
        lambda c: c.set("k", "q", pxat=(now + 2000) * 1000 + 123),
        lambda c: c.pexpiretime("k"),
        lambda c: c.set("k", "r", xx=True, get=True, keepttl=True),
        lambda c: c.pexpiretime("k"),
        lambda c: c.set("k", "s", nx=True, get=True),
        lambda c: c.set("nx2", "s", nx=True, get=True),
        lambda c: c.get("nx2"),
        lambda c: c.set("k", "v", ex=0),
        lambda c: c.set("k", "v", px=-1),
        lambda c: c.execute_command("SET", "k", "v", "EX", "10", "PX", "100"),
        lambda c: c.execute_command("SET", "k", "v", "NX", "XX"),
        lambda c: c.execute_command("SET", "k", "v", "EX", "ten"),
        lambda c: c.execute_command("SET", "k", "v", "KEEPTTL", "EX", "10"),
        lambda c: c.execute_command("SET", "k", "v", "EX", "9223372036854775807"),
        lambda c: c.get("k"),
        lambda c: c.get("missing"),
        lambda c: c.execute_command("SETEX", "se", 100, "v"),
        lambda c: c.psetex("pse", 100_000, "v"),
        lambda c: (c.ttl("se"), c.ttl("pse")) in {(100, 100), (99, 99), (100, 99), (99, 100)},
        lambda c: c.execute_command("SETEX", "se", 0, "v"),
        lambda c: c.setnx("se", "other"),
        lambda c: c.setnx("nx3", "other"),
        lambda c: c.getset("nx3", "new"),
        lambda c: c.getdel("nx3"),
        lambda c: c.getdel("nx3"),
    ), r, real)


def test_counters(r, real):
    same(steps(
        lambda c: c.incr("n"),
        lambda c: c.incr("n", 41),
        lambda c: c.incrby("n", -100),
        lambda c: c.decr("n"),
        lambda c: c.decrby("n", 10),
        lambda c: c.get("n"),
        lambda c: c.object("encoding", "n"),
        lambda c: c.incrbyfloat("f", 10.5),
        lambda c: c.incrbyfloat("f", 0.1),
        lambda c: c.incrbyfloat("f", -5.0e3),
        lambda c: c.incrbyfloat("f", "3.0e3"),
        lambda c: c.get("f"),
        lambda c: [c.incrbyfloat("g", 1.1) for _ in range(10)],
        lambda c: c.get("g"),
        lambda c: c.set("big", "9223372036854775807"),
        lambda c: c.incr("big"),
        lambda c: c.set("small", "-9223372036854775808"),
        lambda c: c.decr("small"),
        lambda c: c.set("s", "abc"),
        lambda c: c.incr("s"),
        lambda c: c.incrbyfloat("s", 1),
        lambda c: c.incrby("n", "x"),
        lambda c: c.incrbyfloat("n", "x"),
        lambda c: c.incrbyfloat("n", "inf"),
        lambda c: c.set("e", "1e3"),
        lambda c: c.incrbyfloat("e", 1),
        lambda c: c.set("sp", " 1"),
        lambda c: c.incr("sp"),
        lambda c: c.incrbyfloat("sp", 1),
        lambda c: c.incrbyfloat("h", 5e300),
        lambda c: c.incrbyfloat("h", 5e300),
    ), r, real)


def test_mget_mset_append_ranges(r, real):
    same(steps(
        lambda c: c.mset({"a": "1", "b": "2", "c": "3"}),
        lambda c: c.mget("a", "b", "missing", "c"),
        lambda c: c.mget(["a", "a"]),
        lambda c: c.msetnx({"a": "x", "d": "4"}),
        lambda c: c.msetnx({"d": "4", "e": "5"}),
        lambda c: c.mget("d", "e"),
        lambda c: c.execute_command("MSET", "a", "1", "b"),
        lambda c: c.append("a", "23"),
        lambda c: c.append("new", "xyz"),
        lambda c: c.strlen("a"),
        lambda c: c.strlen("missing"),
        lambda c: c.getrange("a", 0, -1),
        lambda c: c.getrange("a", -2, -1),
        lambda c: c.getrange("a", 5, 2),
        lambda c: c.setrange("a", 10, "!"),
        lambda c: c.get("a"),
        lambda c: c.setrange("a", -1, "x"),
        lambda c: c.setrange("z", 0, ""),
        lambda c: c.exists("z"),
        lambda c: c.execute_command("SUBSTR", "a", 0, 2),
        lambda c: c.object("encoding", "a"),
    ), r, real)


def test_getex(r, real):
    now = int(time.time())
    same(steps(
        lambda c: c.set("k", "v"),
        lambda c: c.getex("k"),
        lambda c: c.ttl("k"),
        lambda c: c.getex("k", ex=100),
        lambda c: 97_000 < c.pttl("k") <= 100_000,
        lambda c: c.getex("k", px=50_000),
        lambda c: 0 < c.pttl("k") <= 50_000,
        lambda c: c.getex("k", exat=now + 500),
        lambda c: c.expiretime("k"),
        lambda c: c.getex("k", pxat=(now + 600) * 1000 + 7),
        lambda c: c.pexpiretime("k"),
        lambda c: c.getex("k", persist=True),
        lambda c: c.ttl("k"),
        lambda c: c.getex("missing", ex=10),
        lambda c: c.getex("k", ex=0),
        lambda c: c.getex("k", px=-5),
        lambda c: c.execute_command("GETEX", "k", "EX", "1", "PX", "1"),
        lambda c: c.execute_command("GETEX", "k", "PERSIST", "EX", "1"),
        lambda c: c.execute_command("GETEX", "k", "BOGUS"),
        lambda c: c.getex("k", exat=1),
        lambda c: c.exists("k"),
    ), r, real)


def test_lcs(r, real):
    same(steps(
        lambda c: c.mset({"key1": "ohmytext", "key2": "mynewtext"}),
        lambda c: c.lcs("key1", "key2"),
        lambda c: c.lcs("key1", "key2", len=True),
        lambda c: c.lcs("key1", "key2", idx=True),
        lambda c: c.lcs("key1", "key2", idx=True, minmatchlen=4),
        lambda c: c.lcs("key1", "key2", idx=True, withmatchlen=True),
        lambda c: c.lcs("key1", "key2", idx=True, minmatchlen=2, withmatchlen=True),
        lambda c: c.lcs("key1", "missing"),
        lambda c: c.lcs("missing", "missing2", len=True),
        lambda c: c.execute_command("LCS", "key1", "key2", "LEN", "IDX"),
        lambda c: c.execute_command("LCS", "key1", "key2", "MINMATCHLEN", "x"),
        lambda c: c.execute_command("LCS", "key1", "key2", "BOGUS"),
    ), r, real)


def test_decode_responses(cachesrv_port, redis_port, proto):
    r = _client(cachesrv_port, proto, decode_responses=True)
    real = _client(redis_port, proto, decode_responses=True)
    try:
        for c in (r, real):
            c.flushdb()
        out = same(steps(
            lambda c: c.set("ключ", "значение"),
            lambda c: c.get("ключ"),
            lambda c: c.mset({"a": "1", "b": "β"}),
            lambda c: c.mget("a", "b", "nope"),
            lambda c: sorted(c.keys("*")),
            lambda c: sorted(c.scan_iter(match="*")),
            lambda c: c.incrbyfloat("fl", "2.5"),
            lambda c: c.type("a"),
            lambda c: c.object("encoding", "a"),
            lambda c: c.config_get("maxmemory-policy"),
            lambda c: c.lcs("a", "b"),
            lambda c: c.getex("a"),
            lambda c: c.incr("a"),
        ), r, real)
        assert out[1][1] == ("ok", "значение")
        info = r.info("server")
        assert info["redis_version"] == "7.0.15"
        assert isinstance(r.client_list()[0]["addr"], str)
        assert r.client_getname() is None
        r.client_setname("decoded")
        assert r.client_getname() == "decoded"
    finally:
        r.close()
        real.close()


def test_large_values(r, real):
    big = os.urandom(5 * 1024 * 1024)
    assert r.set("big", big) is True
    assert r.get("big") == big
    assert r.strlen("big") == len(big)
    assert r.getrange("big", len(big) - 10, -1) == big[-10:]
    assert r.append("big", big) == 2 * len(big)
    assert r.get("big") == big + big
    assert r.mset({"b1": big, "b2": big[::-1]}) is True
    assert r.mget("b1", "b2") == [big, big[::-1]]
    p = r.pipeline(transaction=False)
    p.set("b3", big).get("b3").strlen("b1")
    assert p.execute() == [True, big, len(big)]
    # The same bytes through the real server, for the same object encoding and length.
    real.set("big", big)
    real.append("big", big)
    assert same(lambda c: (c.strlen("big"), c.object("encoding", "big")), r, real)


# -- keys and expiry -------------------------------------------------------------------------------
def test_expire_options(r, real):
    now = int(time.time())
    same(steps(
        lambda c: c.set("k", "v"),
        lambda c: c.expire("k", 100, xx=True),
        lambda c: c.expire("k", 100, gt=True),
        lambda c: c.expire("k", 100, lt=True),
        lambda c: 97 <= c.ttl("k") <= 100,
        lambda c: c.expire("k", 200, nx=True),
        lambda c: c.expire("k", 200, xx=True),
        lambda c: c.expire("k", 100, gt=True),
        lambda c: c.expire("k", 300, gt=True),
        lambda c: c.expire("k", 400, lt=True),
        lambda c: c.expire("k", 50, lt=True),
        lambda c: 47 <= c.ttl("k") <= 50,
        lambda c: c.pexpire("k", 60_000, gt=True),
        lambda c: 57_000 < c.pttl("k") <= 60_000,
        lambda c: c.expireat("k", now + 1000, nx=True),
        lambda c: c.expireat("k", now + 1000, xx=True),
        lambda c: c.expiretime("k"),
        lambda c: c.pexpireat("k", (now + 900) * 1000 + 5, lt=True),
        lambda c: c.pexpiretime("k"),
        lambda c: c.persist("k"),
        lambda c: c.persist("k"),
        lambda c: (c.ttl("k"), c.pttl("k"), c.expiretime("k")),
        lambda c: (c.ttl("nope"), c.pttl("nope"), c.expiretime("nope"), c.pexpiretime("nope")),
        lambda c: c.expire("nope", 10),
        lambda c: c.execute_command("EXPIRE", "k", "10", "NX", "XX"),
        lambda c: c.execute_command("EXPIRE", "k", "10", "GT", "LT"),
        lambda c: c.execute_command("EXPIRE", "k", "10", "NX", "GT"),
        lambda c: c.execute_command("EXPIRE", "k", "10", "BOGUS"),
        lambda c: c.execute_command("EXPIRE", "k", "ten"),
        lambda c: c.execute_command("EXPIRE", "k", "9223372036854775807"),
        lambda c: c.execute_command("PEXPIRE", "k", "9223372036854775807"),
        lambda c: c.expire("k", -1),
        lambda c: c.exists("k"),
        lambda c: c.set("k2", "v", px=1),
        lambda c: time.sleep(0.01),
        lambda c: (c.get("k2"), c.exists("k2"), c.ttl("k2")),
    ), r, real)


def test_scan_iter_and_keys(r, real):
    for c in (r, real):
        p = c.pipeline(transaction=False)
        for i in range(300):
            p.set(f"user:{i}", i)
            p.set(f"item:{i}", i)
        p.execute()
    ours = list(r.scan_iter(match="user:*", count=50))
    assert len(ours) == len(set(ours)) == 300
    same(lambda c: sorted(c.scan_iter(match="user:*", count=50)), r, real)
    same(lambda c: sorted(c.scan_iter(match="item:1?", count=7)), r, real)
    same(lambda c: sorted(c.scan_iter(count=1000)), r, real)
    same(lambda c: sorted(c.scan_iter(_type="string")), r, real)
    same(lambda c: sorted(c.scan_iter(_type="list")), r, real)
    same(lambda c: sorted(c.scan_iter(match="user:2[0-4]", _type="STRING", count=3)), r, real)
    same(lambda c: sorted(c.keys("user:1*")), r, real)
    same(lambda c: sorted(c.keys("*:29?")), r, real)
    same(lambda c: c.keys("nomatch*"), r, real)
    same(lambda c: c.dbsize(), r, real)
    same(steps(lambda c: c.scan(0, match="x", count=0),
               lambda c: c.execute_command("SCAN", "abc"),
               lambda c: c.execute_command("SCAN", "0", "COUNT", "-1"),
               lambda c: c.execute_command("SCAN", "0", "BOGUS", "1"),
               # An unsigned 64-bit cursor is accepted; what it finds depends on the table.
               lambda c: isinstance(c.scan(18446744073709551615, count=10)[0], int)), r, real)


def test_copy_rename_type_object(r, real):
    same(steps(
        lambda c: c.set("src", "12345", ex=1000),
        lambda c: c.copy("src", "dst"),
        lambda c: c.copy("src", "dst"),
        lambda c: c.copy("src", "dst", replace=True),
        lambda c: (c.get("dst"), 997 <= c.ttl("dst") <= 1000),
        lambda c: c.copy("src", "other", destination_db=2),
        lambda c: c.copy("src", "src"),
        lambda c: c.copy("missing", "x"),
        lambda c: c.execute_command("COPY", "src", "x", "DB", "99"),
        lambda c: c.execute_command("COPY", "src", "x", "DB", "nope"),
        lambda c: c.rename("dst", "renamed"),
        lambda c: (c.exists("dst"), c.get("renamed"), 997 <= c.ttl("renamed") <= 1000),
        lambda c: c.rename("missing", "x"),
        lambda c: c.rename("renamed", "renamed"),
        lambda c: c.renamenx("renamed", "src"),
        lambda c: c.renamenx("renamed", "r2"),
        lambda c: (c.type("r2"), c.type("missing")),
        lambda c: c.set("int", "123"),
        lambda c: c.set("short", "a" * 44),
        lambda c: c.set("long", "a" * 45),
        lambda c: [c.object("encoding", k) for k in ("int", "short", "long", "r2")],
        lambda c: c.object("encoding", "missing"),
        lambda c: c.object("refcount", "short"),
        lambda c: c.object("idletime", "short"),
        lambda c: c.object("freq", "short"),
        lambda c: c.exists("int", "int", "missing", "short"),
        lambda c: c.touch("int", "missing"),
        lambda c: c.delete("int", "missing"),
        lambda c: c.unlink("short", "long"),
        lambda c: c.delete("nothing"),
    ), r, real)
    kw = r.connection_pool.connection_kwargs
    db2 = _client(kw["port"], kw["protocol"], db=2)
    kw = real.connection_pool.connection_kwargs
    real2 = _client(kw["port"], kw["protocol"], db=2)
    try:
        same(lambda c: (c.get("other"), 997 <= c.ttl("other") <= 1000, c.flushdb()), db2, real2)
    finally:
        db2.close()
        real2.close()


def test_database_option(cachesrv_port, redis_port, proto):
    r3 = _client(cachesrv_port, proto, db=3)
    r0 = _client(cachesrv_port, proto, db=0)
    try:
        r3.flushdb()
        assert str(r3.client_info()["db"]) == "3"
        assert r3.set("in-db3", "x") is True
        assert r0.get("in-db3") is None
        assert r3.get("in-db3") == b"x"
        assert r3.dbsize() == 1
        assert r0.info("keyspace").get("db3", {}).get("keys") == 1
        assert r3.move("in-db3", 0) is True
        assert r0.get("in-db3") == b"x"
        r0.delete("in-db3")
        # Out-of-range databases: the client's SELECT on connect fails like Redis's.
        for port in (cachesrv_port, redis_port):
            bad = _client(port, proto, db=16)
            with pytest.raises(redis.ResponseError, match="DB index is out of range"):
                bad.ping()
            bad.close()
    finally:
        r3.close()
        r0.close()


# -- server ----------------------------------------------------------------------------------------
# Fields whose presence depends on what happened on that server (which commands ran, which errors,
# which databases hold keys) and cachesrv's own version line.
_DATA_DEPENDENT = ("cmdstat_", "latency_percentiles_usec_", "errorstat_", "db")


def _shape(info: dict) -> set:
    return {k for k in info if not k.startswith(_DATA_DEPENDENT) and k != "cachesrv_version"}


def test_info_sections(r, real, cachesrv_port):
    assert _shape(r.info()) == _shape(real.info())
    for section in ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                    "modules", "errorstats", "cluster", "keyspace", "commandstats", "latencystats",
                    "everything", "all", "default"):
        assert _shape(r.info(section)) == _shape(real.info(section)), section
    assert _shape(r.info("server", "clients")) == _shape(real.info("server", "clients"))
    assert r.info("nosuchsection") == real.info("nosuchsection") == {}
    server = r.info("server")
    assert server["redis_version"] == "7.0.15"
    assert server["tcp_port"] == cachesrv_port
    assert server["redis_mode"] == "standalone"
    for c in (r, real):
        c.mset({f"k{i}": i for i in range(7)})
        c.expire("k1", 1000)
        c.get("k0")
        c.get("missing")
        with pytest.raises(redis.ResponseError):
            c.execute_command("NOSUCHCOMMAND")
    # avg_ttl is an estimate that the active expiry cycle refreshes: compared by property.
    ours, theirs = r.info("keyspace")["db0"], real.info("keyspace")["db0"]
    assert ours.pop("avg_ttl") in range(0, 1000_001) and theirs.pop("avg_ttl") in range(0, 1000_001)
    assert ours == theirs == {"keys": 7, "expires": 1}
    stats = r.info("commandstats")
    assert stats["cmdstat_mset"]["calls"] >= 1
    assert set(stats["cmdstat_mset"]) == set(real.info("commandstats")["cmdstat_mset"])
    assert r.info("errorstats")["errorstat_ERR"]["count"] >= 1
    assert r.info("clients")["connected_clients"] >= 1


def _pairs(reply):
    return reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2])


def test_config_get_set(r, real):
    names = ["maxmemory-policy", "slowlog-max-len", "maxmemory", "hz", "timeout"]
    saved = r.config_get("*")
    try:
        same(lambda c: sorted(c.config_get("maxmemory*")), r, real)
        theirs = set(real.config_get("*"))
        ours = set(r.config_get("*"))
        assert theirs - ours == set(), "Redis directives cachesrv's CONFIG GET * lacks"
        same(steps(
            lambda c: {k: v for k, v in c.config_get("*max-*-entries*").items()},
            lambda c: c.config_set("maxmemory-policy", "allkeys-lru"),
            lambda c: c.config_get("maxmemory-policy"),
            lambda c: c.config_set("maxmemory", "10mb"),
            lambda c: c.config_get("maxmemory"),
            lambda c: c.config_set("maxmemory-policy", "bogus"),
            lambda c: c.config_set("hz", "abc"),
            lambda c: c.config_set("nosuch-directive", "1"),
            lambda c: c.config_set("daemonize", "yes"),
            lambda c: c.execute_command("CONFIG", "SET", "hz", "20", "timeout", "5"),
            lambda c: (c.config_get("hz"), c.config_get("timeout")),
            lambda c: c.execute_command("CONFIG", "SET", "hz", "30", "hz", "40"),
            lambda c: c.execute_command("CONFIG", "SET", "hz", "30", "maxmemory-policy", "bad"),
            lambda c: c.config_get("hz"),
            # Several patterns: Redis answers in its dict's order, so compare as a mapping.
            lambda c: dict(_pairs(c.execute_command("CONFIG", "GET", "hz", "timeout", "h?"))),
            lambda c: c.config_get("nosuch*"),
        ), r, real)
    finally:
        for c in (r, real):
            c.execute_command("CONFIG", "SET", "maxmemory-policy", "noeviction", "maxmemory", "0",
                              "hz", "10", "timeout", "0")
    assert {k: r.config_get(k)[k] for k in names} == {k: saved[k] for k in names}


def test_client_commands(r, real, cachesrv_port, proto):
    same(steps(lambda c: c.client_getname(),
               lambda c: c.client_setname("victim"),
               lambda c: c.client_getname()), r, real)
    victim = _client(cachesrv_port, proto)
    try:
        victim.client_setname("victim")
        vid = victim.client_id()
        rid = r.client_id()
        assert vid != rid
        listed = {int(c["id"]): c for c in r.client_list()}
        assert listed[vid]["name"] == "victim"
        assert listed[rid]["cmd"] == "client|list"
        assert [c["id"] for c in r.client_list(client_id=[vid])] == [str(vid)]
        assert {c["id"] for c in r.client_list(_type="normal")} >= {str(vid), str(rid)}
        assert r.client_list(_type="pubsub") == []
        assert r.client_kill_filter(_type="pubsub") == 0
        assert r.client_kill_filter(_id=vid) == 1
        assert r.client_kill_filter(_id=vid) == 0
        assert vid not in {int(c["id"]) for c in r.client_list()}
        # redis-py notices the closed socket and reconnects: a new client id.
        assert victim.ping() is True
        new_id = victim.client_id()
        assert new_id > vid
        addr = next(c["addr"] for c in r.client_list() if int(c["id"]) == new_id)
        assert r.client_kill(addr) is True
        assert victim.ping() is True
        assert r.client_kill_filter(_id=r.client_id(), skipme=True) == 0
        assert r.client_kill_filter(laddr=f"127.0.0.1:{cachesrv_port}", skipme=True) >= 1
        assert r.ping() is True
    finally:
        victim.close()
    same(steps(
        lambda c: c.client_setname("a b"),
        lambda c: c.client_setname(""),
        lambda c: c.client_getname(),
        lambda c: c.client_kill("1.2.3.4:5"),
        lambda c: c.client_kill_filter(_id=999999),
        lambda c: c.client_kill_filter(_type="bogus"),
        lambda c: c.execute_command("CLIENT", "KILL", "ID", "x"),
        lambda c: c.execute_command("CLIENT", "KILL", "MAXAGE", "x"),
        lambda c: c.client_list(_type="bogus"),
        lambda c: c.execute_command("CLIENT", "LIST", "ID", "x"),
    ), r, real)


def test_command_introspection(r, real):
    table = r.command()
    assert table["get"]["arity"] == 2
    assert r.command_count() == len(table)
    served = sorted(table)
    # Every command cachesrv serves is described exactly as Redis 7.0 describes it. Subcommands
    # come in the order of Redis's hash table, which changes with every process: they are sorted,
    # and compared over the subcommands cachesrv serves (CLIENT TRACKING/CACHING/TRACKINGINFO
    # come with client-side caching; CLIENT SETINFO is Redis 7.2's, which clients send).
    ours_subs = {s[0] for v in table.values() for s in v["subcommands"]}
    assert ours_subs - {s[0] for v in real.command().values() for s in v["subcommands"]} \
        == {b"client|setinfo"}

    def info(c, names):
        reply = c.execute_command("COMMAND", "INFO", *names)
        for v in reply.values():
            v["subcommands"] = sorted(s for s in v["subcommands"]
                                      if s[0] in ours_subs and s[0] != b"client|setinfo")
        return reply

    def as_dict(v):
        return dict(zip(v[::2], v[1::2])) if isinstance(v, list) else v

    def docs(c, names):
        reply = as_dict(c.execute_command("COMMAND DOCS", *names))   # one word: no COMMAND callback
        out = {}
        for name, doc in reply.items():
            doc = as_dict(doc)
            if b"subcommands" in doc:
                doc[b"subcommands"] = {k: v for k, v in as_dict(doc[b"subcommands"]).items()
                                       if k in ours_subs and k != b"client|setinfo"}
            out[name] = doc
        return out

    for names in (served[i:i + 10] for i in range(0, len(served), 10)):
        same(lambda c: info(c, names), r, real)
        same(lambda c: docs(c, names), r, real)
    same(steps(
        lambda c: c.execute_command("COMMAND INFO", "nosuch", "get"),
        lambda c: c.command_getkeys("SET", "a", "b"),
        lambda c: c.command_getkeys("MSET", "a", "1", "b", "2"),
        lambda c: c.command_getkeys("GET"),
        lambda c: c.command_getkeys("NOSUCH", "a"),
        lambda c: c.command_getkeys("PING"),
        lambda c: c.command_getkeysandflags("SET", "a", "b"),
        lambda c: sorted(set(c.command_list(category="string")) & set(x.encode() for x in served)),
        lambda c: sorted(set(c.command_list(pattern="get*")) & set(x.encode() for x in served)),
    ), r, real)


def test_slowlog(r, real):
    try:
        same(steps(
            lambda c: c.config_set("slowlog-log-slower-than", 0),
            lambda c: c.slowlog_reset(),
            lambda c: c.set("slow", "x" * 200),
            lambda c: c.get("slow"),
            lambda c: [e["command"] for e in c.slowlog_get(3)],
            lambda c: c.slowlog_len() >= 4,
            lambda c: sorted(c.slowlog_get(1)[0]),
            lambda c: c.slowlog_get(1)[0]["client_name"],
            lambda c: c.slowlog_get(-5) and True,
            lambda c: c.execute_command("SLOWLOG", "GET", "x"),
            lambda c: c.config_set("slowlog-log-slower-than", -1),
            lambda c: c.slowlog_reset(),
            lambda c: c.set("fast", "x"),
            lambda c: c.slowlog_len(),
        ), r, real)
        entry = None
        r.config_set("slowlog-log-slower-than", 0)
        r.client_setname("slowpoke")
        r.set("slow", "v")
        entry = r.slowlog_get(2)[0]
        assert entry["command"] == b"SET slow v"
        assert entry["client_name"] == b"slowpoke"
        assert entry["client_address"].startswith(b"127.0.0.1:")
        assert entry["duration"] >= 0 and abs(entry["start_time"] - time.time()) < 60
    finally:
        for c in (r, real):
            c.config_set("slowlog-log-slower-than", 10000)
            c.slowlog_reset()


def test_time_dbsize_flushdb(r, real):
    sec, usec = r.time()
    assert abs(sec + usec / 1e6 - time.time()) < 5 and 0 <= usec < 1_000_000
    same(steps(
        lambda c: c.dbsize(),
        lambda c: c.mset({"a": 1, "b": 2}),
        lambda c: c.dbsize(),
        lambda c: c.flushdb(),
        lambda c: c.dbsize(),
        lambda c: c.set("a", 1),
        lambda c: c.flushdb(asynchronous=True),
        lambda c: c.dbsize(),
        lambda c: c.execute_command("FLUSHDB", "SYNC"),
        lambda c: c.execute_command("FLUSHDB", "BOGUS"),
        lambda c: c.randomkey(),
    ), r, real)


# -- pipelines -------------------------------------------------------------------------------------
def _mixed_pipeline(c, seed: int = 7, n: int = 1000):
    """n mixed commands in one non-transactional pipeline; errors come back in place."""
    rnd = random.Random(seed)
    p = c.pipeline(transaction=False)
    for i in range(n):
        k = f"p:{rnd.randrange(40)}"
        op = rnd.randrange(12)
        if op == 0:
            p.set(k, f"v{i}")
        elif op == 1:
            p.get(k)
        elif op == 2:
            p.incr(k)
        elif op == 3:
            p.append(k, "x")
        elif op == 4:
            p.strlen(k)
        elif op == 5:
            p.delete(k)
        elif op == 6:
            p.exists(k, "p:0")
        elif op == 7:
            p.mget(k, "p:1", "p:2")
        elif op == 8:
            p.mset({k: i, "p:3": -i})
        elif op == 9:
            p.expire(k, 10_000)
        elif op == 10:
            p.incrbyfloat(k, 0.5)
        else:
            p.getset(k, str(i))
    p.set("final", "done").get("final")
    return [r if not isinstance(r, Exception) else (type(r).__name__, str(r))
            for r in p.execute(raise_on_error=False)]


def test_pipeline_of_1000_mixed_commands(r, real):
    ours = same(_mixed_pipeline, r, real)[1]
    assert len(ours) == 1002
    assert ours[-2:] == [True, b"done"]
    assert any(isinstance(x, tuple) for x in ours), "the mix includes error replies"


def test_pipeline_replies_in_order(r):
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"o:{i}", i)
        p.get(f"o:{i}")
        p.incr(f"o:{i}")
    out = p.execute()
    assert out == [x for i in range(1000) for x in (True, str(i).encode(), i + 1)]


def test_pipeline_raises_first_error(r):
    p = r.pipeline(transaction=False)
    p.set("s", "abc").incr("s").get("s")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        p.execute()
    assert r.get("s") == b"abc"


# -- authentication --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured():
    with server_pair("--requirepass", "secret") as (ours, theirs):
        yield ours.port, theirs.port


def test_auth_with_password(secured, proto):
    for port in secured:
        c = _client(port, proto, password="secret")
        assert c.ping() is True
        assert str(c.client_info()["resp"]) == str(proto)
        assert c.set("a", "1") is True
        c.close()
        c = _client(port, proto, username="default", password="secret")
        assert c.get("a") == b"1"
        c.close()


def test_auth_failures(secured, proto):
    ours, theirs = secured

    def attempt(**kw):
        def run(port):
            c = _client(port, proto, no_retry=True, **kw)
            try:
                return outcome(lambda c: c.get("a"), c)
            finally:
                c.close()
        return run

    for kw in ({"password": "wrong"}, {"username": "nobody", "password": "secret"}, {}):
        got, expected = attempt(**kw)(ours), attempt(**kw)(theirs)
        assert got == expected, kw
        assert got[0] == "error" and got[1] == "AuthenticationError", kw
    with pytest.raises(redis.AuthenticationError):
        _client(ours, proto, password="wrong").ping()


def test_auth_command_after_connect(secured, proto):
    def seq(port):
        c = _client(port, 2, password="secret")
        try:
            return steps(lambda c: c.execute_command("AUTH", "wrong"),
                         lambda c: c.execute_command("AUTH", "default", "wrong"),
                         lambda c: c.execute_command("AUTH", "secret"),
                         lambda c: c.execute_command("AUTH", "a", "b", "c"),
                         lambda c: c.ping())(c)
        finally:
            c.close()

    assert seq(secured[0]) == seq(secured[1])


# -- concurrency -----------------------------------------------------------------------------------
def test_connection_pool_many_threads(cachesrv_port, proto):
    pool = redis.ConnectionPool(host="127.0.0.1", port=cachesrv_port, protocol=proto,
                                max_connections=16, socket_timeout=30)
    c = redis.Redis(connection_pool=pool)
    c.flushdb()
    barrier = threading.Barrier(8)

    def worker(tid: int) -> int:
        barrier.wait(30)
        bad = 0
        for i in range(500):
            if i % 5 == 0:
                c.incr("counter")
            elif i % 5 in (1, 2):
                c.set(f"t{tid}:{i}", f"{tid}-{i}")
            else:
                j = i - (i % 5) + 1
                bad += c.get(f"t{tid}:{j}") != f"{tid}-{j}".encode()
        return bad

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = [f.result(timeout=120) for f in [ex.submit(worker, t) for t in range(8)]]
    assert results == [0] * 8
    assert c.get("counter") == b"800"
    assert c.dbsize() == 1 + 8 * 200
    # The pool opened several connections, never more than its bound, and all are still served.
    created = len(pool._available_connections) + len(pool._in_use_connections)
    assert 1 < created <= 16
    assert c.info("clients")["connected_clients"] >= created
    pool.disconnect()
