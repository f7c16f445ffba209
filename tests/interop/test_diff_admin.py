"""Server administration commands against Debian's redis-server 7.0.15 and cachesrv, over raw
sockets, in RESP2 and RESP3.

The same command sequences go to both servers. Replies are compared byte for byte where Redis's
output is deterministic; what legitimately differs is normalised first: times, durations, client
ports and object addresses; the order of a container's subcommands (Redis lists them in its hash
table's order, which changes with every process); and the command set itself (cachesrv serves a
subset of Redis's commands, so listings are compared over the commands cachesrv serves).

Known, intended differences are asserted as such: DEBUG HELP lists only the DEBUG subcommands
cachesrv serves, and CLUSTER KEYSLOT answers the slot where a standalone Redis refuses it.

Both servers are started for this module only, because these tests change settings (slow log,
latency monitor) and counters.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from cachesrv.commands.table import COMMANDS
from protocols.resp import NEED_DATA, RSet, parse_reply
from tests.conftest import server_pair


class Conn:
    def __init__(self, port: int, proto: int = 2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        if proto == 3:
            self.call("HELLO", "3")

    def send(self, *args) -> None:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))

    def read_raw(self) -> bytes:
        """One reply, as the bytes the server sent (RESP3 types intact)."""
        while True:
            if self.buf:
                value, end = parse_reply(self.buf)
                if value is not NEED_DATA:
                    raw, self.buf = self.buf[:end], self.buf[end:]
                    return raw
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data

    def raw(self, *args) -> bytes:
        self.send(*args)
        return self.read_raw()

    def call(self, *args):
        return parse_reply(self.raw(*args))[0]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def servers():
    with server_pair() as (cachesrv, redis):
        yield redis.port, cachesrv.port


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(request, servers):
    """A connection to each server, in the protocol under test."""
    conns = [Conn(port, request.param) for port in servers]
    yield conns
    for c in conns:
        c.close()


def same_raw(both, *args) -> bytes:
    r, c = (conn.raw(*args) for conn in both)
    assert c == r, f"{args}: cachesrv {c!r} != redis {r!r}"
    return r


def both_call(both, *args):
    return [conn.call(*args) for conn in both]


def served(name: str) -> bool:
    base, _, sub = name.partition("|")
    spec = COMMANDS.get(base.encode())
    return spec is not None and (not sub or sub.encode() in spec.subcommands)


# == COMMAND =======================================================================================
def _fullnames():
    for name, spec in COMMANDS.items():
        yield name.decode(), spec
        for sub in spec.subcommands.values():
            yield sub.fullname, sub


@pytest.mark.parametrize("sub", ["INFO", "DOCS"])
def test_command_info_and_docs_of_every_served_command(both, sub):
    """What redis-cli builds its hints from (COMMAND DOCS), and what clients read from COMMAND INFO."""
    for name, spec in _fullnames():
        if spec.subcommands or name in NEWER_THAN_7_0:
            continue
        same_raw(both, "COMMAND", sub, name)
        same_raw(both, "COMMAND", sub, name.upper())


# Commands cachesrv serves that Redis 7.0 does not have (CLIENT SETINFO is Redis 7.2's; client
# libraries send it on connect).
NEWER_THAN_7_0 = {"client|setinfo"}


def _compare_container(ours: list, theirs: list) -> None:
    """COMMAND INFO entries of a container: the same entry, with the subcommands cachesrv serves
    (Redis's order differs from process to process)."""
    assert ours[:9] == theirs[:9]
    by_name = {e[0]: e for e in theirs[9]}
    for entry in ours[9]:
        if entry[0].decode() not in NEWER_THAN_7_0:
            assert entry == by_name[entry[0]]
    if ours[0] in (b"config", b"command", b"slowlog", b"latency", b"cluster"):
        assert len(ours[9]) == len(theirs[9])           # every subcommand is served


def test_command_info_of_containers(both):
    for name, spec in COMMANDS.items():
        if spec.subcommands:
            (r,), (c,) = [conn.call("COMMAND", "INFO", name.decode()) for conn in both]
            _compare_container(c, r)


def test_command_docs_of_containers(servers):
    conns = [Conn(port, 3) for port in servers]
    try:
        for name, spec in COMMANDS.items():
            if not spec.subcommands:
                continue
            r, c = [conn.call("COMMAND", "DOCS", name.decode())[name] for conn in conns]
            assert {k: v for k, v in c.items() if k != b"subcommands"} == \
                   {k: v for k, v in r.items() if k != b"subcommands"}
            for sub, docs in c[b"subcommands"].items():
                if sub.decode() not in NEWER_THAN_7_0:
                    assert docs == r[b"subcommands"][sub]
    finally:
        for conn in conns:
            conn.close()


def test_command_info_and_docs_of_unknown_names(both):
    same_raw(both, "COMMAND", "INFO", "nosuchcommand", "get|x", "a|b|c", "")
    same_raw(both, "COMMAND", "DOCS", "nosuchcommand")
    same_raw(both, "COMMAND", "DOCS", "nosuchcommand", "get", "config|get")
    same_raw(both, "COMMAND", "INFO", "get", "config|get", "nosuchcommand")


@pytest.mark.parametrize("pattern", ["config*", "CONFIG|*", "slowlog*", "latency|h*", "cluster*", "command*",
                                     "c?uster|keyslot", "nomatch*"])
def test_command_list_by_pattern(both, pattern):
    r, c = [conn.call("COMMAND", "LIST", "FILTERBY", "PATTERN", pattern) for conn in both]
    assert sorted(n for n in c if n.decode() not in NEWER_THAN_7_0) == sorted(r)


@pytest.mark.parametrize("category", ["admin", "string", "KEYSPACE", "connection", "dangerous", "slow"])
def test_command_list_by_category(both, category):
    r, c = [conn.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", category) for conn in both]
    assert {n for n in c if n.decode() not in NEWER_THAN_7_0} == {n for n in r if served(n.decode())}


@pytest.mark.parametrize("args", [
    ["LIST", "FILTERBY", "ACLCAT", "nosuch"], ["LIST", "FILTERBY", "ACLCAT", "@admin"],
    ["LIST", "FILTERBY", "MODULE", "x"], ["LIST", "FILTERBY"], ["LIST", "x"], ["LIST", "FILTERBY", "FOO", "x"],
    ["LIST", "FILTERBY", "PATTERN", "a", "b"], ["FOO"], ["COUNT", "x"], ["GETKEYS"], ["GETKEYS", "get"],
    ["HELP"], ["help", "x"],
])
def test_command_replies_and_errors(both, args):
    same_raw(both, "COMMAND", *args)


GETKEYS_CASES = [
    ["get", "k"], ["set", "k", "v"], ["set", "k", "v", "GET"], ["set", "k", "v", "ex", "5", "get"], ["get", "a", "b"],
    ["mset", "a", "b", "c", "d"], ["mset", "a", "b", "c"], ["mset", "a"], ["mget", "a", "b", "c"],
    ["del", "a", "b"], ["rename", "a", "b"], ["copy", "a", "b"], ["getex", "k", "ex", "5"],
    ["msetnx", "a", "1", "b", "2"], ["expire", "k", "5"], ["object", "encoding", "k"], ["object", "help"],
    ["lcs", "a", "b"], ["ping", "x"], ["config", "get", "x"], ["config", "nosuch"], ["client", "list"],
    ["nosuch", "a"], ["incr", "k"], ["getrange", "k", "0", "1"], ["setrange", "k", "0", "v"],
    ["touch", "a", "b"], ["unlink", "a"], ["exists", "a", "b"], ["type", "k"], ["move", "k", "1"],
    ["renamenx", "a", "b"], ["persist", "k"], ["pexpireat", "k", "1"], ["ttl", "k"], ["getdel", "k"],
    ["append", "k", "v"], ["strlen", "k"], ["incrbyfloat", "k", "1"], ["decrby", "k", "1"], ["setnx", "k", "v"],
    ["setex", "k", "1", "v"], ["psetex", "k", "1", "v"], ["getset", "k", "v"], ["substr", "k", "0", "1"],
    ["keys", "*"], ["scan", "0"], ["dbsize"], ["swapdb", "0", "1"],
]


@pytest.mark.parametrize("args", GETKEYS_CASES, ids=lambda a: " ".join(a))
def test_command_getkeys(both, args):
    if not served(args[0]) and args[0] != "nosuch":
        pytest.skip(f"{args[0]} is not served by cachesrv")
    same_raw(both, "COMMAND", "GETKEYS", *args)
    same_raw(both, "COMMAND", "GETKEYSANDFLAGS", *args)


def test_command_count_and_everything(both):
    r, c = [conn.call("COMMAND", "COUNT") for conn in both]
    assert c == len(COMMANDS) and r >= c
    r_all, c_all = [conn.call("COMMAND") for conn in both]
    theirs = {e[0]: e for e in r_all}
    for entry in c_all:
        if entry[9] and not isinstance(entry[9], RSet):
            _compare_container(entry, theirs[entry[0]])
        else:
            assert entry == theirs[entry[0]]


# == CONFIG ========================================================================================
@pytest.mark.parametrize("args", [
    ["GET", "latency-monitor-threshold"], ["GET", "nosuch"], ["SET", "slowlog-max-len", "7", "hz"],
    ["SET", "nosuch", "1"], ["SET", "slowlog-max-len", "x"], ["SET", "hz", "10", "hz", "11"], ["SET", "enable-debug-command", "no"],
    ["HELP"], ["FOO"], ["GET"], ["RESETSTAT", "x"], ["REWRITE"],
])
def test_config_replies(both, args):
    same_raw(both, "CONFIG", *args)


def test_config_set_and_get_back(both):
    same_raw(both, "CONFIG", "SET", "slowlog-max-len", "64", "latency-monitor-threshold", "0")
    r, c = both_call(both, "CONFIG", "GET", "slowlog-max-len", "latency-monitor-threshold")
    if isinstance(r, list):          # RESP2: a flat array, in each server's own order
        r, c = dict(zip(r[::2], r[1::2])), dict(zip(c[::2], c[1::2]))
    assert c == r == {b"slowlog-max-len": b"64", b"latency-monitor-threshold": b"0"}
    same_raw(both, "CONFIG", "SET", "slowlog-max-len", "128")


def test_config_resetstat_resets_info_counters(servers):
    conns = [Conn(port) for port in servers]
    try:
        for conn in conns:
            conn.call("SET", "rk", "v")
            conn.call("GET", "rk")
            conn.call("GET", "rk-missing")
            conn.call("NOSUCHCOMMAND")
            assert conn.call("CONFIG", "RESETSTAT") == "OK"
        fields = ("total_commands_processed", "keyspace_hits", "keyspace_misses", "total_error_replies",
                  "expired_keys", "rejected_connections")
        stats = []
        for conn in conns:
            info = conn.call("INFO", "stats").decode()
            stats.append({k: v for k, _, v in (l.partition(":") for l in info.splitlines()) if k in fields})
            assert "errorstat_" not in conn.call("INFO", "errorstats").decode()
            assert "cmdstat_get:" not in conn.call("INFO", "commandstats").decode()
        assert stats[0] == stats[1]
        assert stats[0]["total_commands_processed"] == "1"
    finally:
        for conn in conns:
            conn.close()


# == SLOWLOG =======================================================================================
def _entries(conn, count="-1"):
    """SLOWLOG GET entries without what differs between servers (id, time, duration, port)."""
    out = []
    for e in conn.call("SLOWLOG", "GET", count):
        assert isinstance(e[0], int) and isinstance(e[1], int) and isinstance(e[2], int)
        assert abs(e[1] - time.time()) < 30
        assert e[4].startswith(b"127.0.0.1:")
        out.append([e[3], e[5]])
    return out


def test_slowlog_records_the_same_entries(servers):
    conns = [Conn(port) for port in servers]
    try:
        for conn in conns:
            conn.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
            conn.call("SLOWLOG", "RESET")
            conn.call("CLIENT", "SETNAME", "slowpoke")
            conn.call("SET", "sk", "v")
            conn.call("AUTH", "user", "secret")
            conn.call("AUTH", "a", "b", "c")
            conn.call("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "n2")
            conn.call("HELLO", "4", "AUTH", "u", "p")
            conn.call("CONFIG", "SET", "masterauth", "secret", "nosuch", "1", "requirepass", "")
            conn.call("ECHO", "x" * 300)
            conn.call("MGET", *[f"k{i}" for i in range(40)])
            conn.call("NOSUCHCOMMAND")
            conn.call("GET")
        r, c = (_entries(conn) for conn in conns)
        assert c == r
        r_len, c_len = (conn.call("SLOWLOG", "LEN") for conn in conns)
        assert c_len == r_len
        r_two, c_two = (_entries(conn, "2") for conn in conns)
        assert c_two == r_two and len(c_two) == 2
        for conn in conns:
            conn.call("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            conn.call("SLOWLOG", "RESET")
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.parametrize("args", [["GET", "-2"], ["GET", "x"], ["GET", "1", "2"], ["LEN", "x"], ["FOO"], ["HELP"],
                                  ["GET", "0"], ["RESET", "x"]])
def test_slowlog_replies(both, args):
    same_raw(both, "SLOWLOG", *args)


# == LATENCY =======================================================================================
@pytest.mark.parametrize("args", [["HISTORY", "nosuch"], ["GRAPH", "nosuch"], ["RESET", "nosuch"], ["LATEST", "x"],
                                  ["DOCTOR", "x"], ["FOO"], ["HELP"], ["HISTOGRAM", "nosuch"]])
def test_latency_replies(both, args):
    same_raw(both, "LATENCY", *args)


def _digits(b: bytes) -> bytes:
    return re.sub(rb"\d+(\.\d+)?", b"N", b)


def test_latency_monitor_sees_the_same_events(servers):
    conns = [Conn(port, 3) for port in servers]
    try:
        for conn in conns:
            conn.call("LATENCY", "RESET")
            conn.call("CONFIG", "SET", "latency-monitor-threshold", "0")
        disabled = [conn.raw("LATENCY", "DOCTOR") for conn in conns]
        assert disabled[0] == disabled[1]
        for conn in conns:
            conn.call("CONFIG", "SET", "latency-monitor-threshold", "10")
            conn.call("DEBUG", "SLEEP", "0.03")
        latest = [conn.call("LATENCY", "LATEST") for conn in conns]
        for (event, when, ms, worst), in latest:
            assert event == b"command" and abs(when - time.time()) < 30 and 30 <= ms == worst < 200
        history = [conn.call("LATENCY", "HISTORY", "command") for conn in conns]
        assert [len(h) for h in history] == [1, 1]
        graphs = [conn.raw("LATENCY", "GRAPH", "command") for conn in conns]
        assert _digits(graphs[0]) == _digits(graphs[1])
        doctors = [conn.raw("LATENCY", "DOCTOR") for conn in conns]
        assert _digits(doctors[0]) == _digits(doctors[1])
        resets = [conn.call("LATENCY", "RESET", "COMMAND", "command") for conn in conns]
        assert resets == [1, 1]
        for conn in conns:
            conn.call("CONFIG", "SET", "latency-monitor-threshold", "0")
    finally:
        for conn in conns:
            conn.close()


def test_latency_histogram_counts_the_same_calls(servers):
    conns = [Conn(port, 3) for port in servers]
    try:
        for conn in conns:
            conn.call("CONFIG", "RESETSTAT")
            for _ in range(3):
                conn.call("SET", "hk", "v")
            conn.call("CONFIG", "GET", "hz")
        hists = [conn.call("LATENCY", "HISTOGRAM", "set", "config", "nosuch") for conn in conns]
        for h in hists:
            assert set(h) == {b"set", b"config|get", b"config|resetstat"}
            assert h[b"set"][b"calls"] == 3 and sum(1 for _ in h[b"set"][b"histogram_usec"]) >= 1
            assert max(h[b"set"][b"histogram_usec"].values()) == 3
            assert h[b"config|get"][b"calls"] == 1
    finally:
        for conn in conns:
            conn.close()


# == DEBUG =========================================================================================
@pytest.mark.parametrize("args", [
    ["PROTOCOL", t] for t in ("string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib",
                              "push", "verbatim", "true", "false", "foo")
] + [
    ["ERROR", "hello"], ["ERROR", "WRONGTYPE x"], ["LOG", "from the differential test"], ["SLEEP", "0"],
    ["SLEEP", "x"], ["SLEEP", "-1"], ["SLEEP"], ["FOO"], ["FOO", "bar"], ["OBJECT"], ["OBJECT", "nokey"],
    ["HELP", "x"], ["POPULATE", "-1"], ["POPULATE", "x"], ["POPULATE", "1", "a", "b", "c"],
    ["SET-ACTIVE-EXPIRE", "1"], ["SET-ACTIVE-EXPIRE"],
])
def test_debug_replies(both, args):
    same_raw(both, "DEBUG", *args)


def test_debug_arity(both):
    same_raw(both, "DEBUG")


@pytest.mark.parametrize("value", ["hello", "5", "10000", "-5", "", "123456789012", "a" * 50,
                                   "abcdefghijklmnopqrstuvwxyz0123456789" * 2, "x" * 1000, "010", "3.5"])
def test_debug_object_of_strings(both, value):
    lines = []
    for conn in both:
        conn.call("SET", "dbg-obj", value)
        line = conn.raw("DEBUG", "OBJECT", "dbg-obj")
        lines.append(re.sub(rb"at:0x[0-9a-f]+ (.*) lru:\d+ lru_seconds_idle:\d+", rb"at:X \1 lru:X idle:X", line))
    assert lines[0] == lines[1]


def test_debug_populate(both):
    for conn in both:
        conn.call("DEL", "pop:0", "pop:1", "pop:2", "pz:0")
        conn.call("SET", "pop:1", "mine")
    same_raw(both, "DEBUG", "POPULATE", "3", "pop")
    same_raw(both, "DEBUG", "POPULATE", "1", "pz", "20")
    same_raw(both, "MGET", "pop:0", "pop:1", "pop:2", "pz:0")


def test_debug_help_lists_only_what_is_served(both):
    redis_help, ours = [conn.call("DEBUG", "HELP") for conn in both]
    assert ours[0] == redis_help[0] and ours[-2:] == redis_help[-2:]
    assert set(ours) < set(redis_help)


# == MONITOR =======================================================================================
def _feed(port: int) -> list[str]:
    mon, client = Conn(port), Conn(port)
    try:
        assert mon.call("MONITOR") == "OK"
        where = client.sock.getsockname()[1]
        script = [["SET", "mk", "v"], ["GET", "mk"], ["SELECT", "3"], ["SET", "a b", b'x"y\\z\n\x01\xff'],
                  ["AUTH", "pw"], ["AUTH", "user", "pw"], ["AUTH", "a", "b", "c"],
                  ["HELLO", "2", "AUTH", "default", "pw"], ["HELLO", "4", "AUTH", "u", "p"],
                  ["HELLO", "3", "AUTH", "u", "p", "FOO", "AUTH", "x", "y"], ["HELLO", "2"],
                  ["CONFIG", "GET", "port"], ["SLOWLOG", "LEN"], ["DEBUG", "SLEEP", "0"], ["NOSUCH"], ["GET"],
                  ["CLUSTER", "INFO"], ["COMMAND", "COUNT"], ["TIME"], ["WAIT", "0", "0"], ["ECHO", "1234"],
                  ["SELECT", "0"], ["PING"], ["SHUTDOWN", "ABORT"], ["LATENCY", "LATEST"],
                  ["CLIENT", "SETNAME", "fed"], ["DEL", "mk"]]
        for args in script:
            client.call(*args)
        n = 20                                      # lines the script above feeds
        lines = []
        for _ in range(n):
            line = mon.read_raw()
            assert re.match(rb"\+\d{10}\.\d{6} \[", line)
            lines.append(line.split(b" ", 1)[1].decode("latin-1").replace(f":{where}]", ":PORT]"))
        return lines
    finally:
        mon.close()
        client.close()


def test_monitor_feeds_the_same_lines(servers):
    redis_port, cachesrv_port = servers
    assert _feed(cachesrv_port) == _feed(redis_port)


# == WAIT, TIME, SHUTDOWN, CLUSTER =================================================================
@pytest.mark.parametrize("args", [["0", "0"], ["-1", "0"], ["x", "0"], ["0", "x"], ["0", "-1"], ["0", "1.5"],
                                  ["99999999999999999999", "0"], ["1", "50"], ["x"]])
def test_wait_replies(both, args):
    same_raw(both, "WAIT", *args)


def test_time(both):
    for conn in both:
        sec, usec = conn.call("TIME")
        assert abs(int(sec) + int(usec) / 1e6 - time.time()) < 2
        assert 0 <= int(usec) < 1_000_000
    same_raw(both, "TIME", "x")


@pytest.mark.parametrize("args", [["FOO"], ["ABORT"], ["ABORT", "NOSAVE"], ["NOSAVE", "SAVE"], ["NOW", "ABORT"],
                                  ["abort", "abort"]])
def test_shutdown_replies(both, args):
    same_raw(both, "SHUTDOWN", *args)


@pytest.mark.parametrize("args", [["INFO"], ["NODES"], ["HELP"], ["SLOTS"], ["SHARDS"], ["MYID"], ["RESET"],
                                  ["COUNTKEYSINSLOT", "1"], ["GETKEYSINSLOT", "1", "1"], ["FOO"], ["KEYSLOT"],
                                  ["KEYSLOT", "a", "b"], ["LINKS"], ["SETSLOT", "1", "x"]])
def test_cluster_replies(both, args):
    same_raw(both, "CLUSTER", *args)


def test_cluster_keyslot_answers_where_standalone_redis_refuses(both):
    redis_reply, ours = [conn.call("CLUSTER", "KEYSLOT", "foo") for conn in both]
    assert str(redis_reply) == "ERR This instance has cluster support disabled"
    assert ours == 12182
