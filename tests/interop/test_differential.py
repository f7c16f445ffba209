"""Differential test: random command sequences sent to cachesrv and to Debian's redis-server 7.0
must get identical replies, in RESP2 and in RESP3.

Hypothesis draws sequences from the string, key and expiry commands (valid calls, bad options,
wrong arities, wrong types, unknown commands). Both servers get the same bytes over raw sockets;
replies are compared as parsed RESP values. Only what legitimately differs is normalised: the
order of KEYS, and TTLs that may differ by the time between the two calls.
"""

from __future__ import annotations

import socket

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = [b"k1", b"k2", b"k3", b"{t}a", b"{t}b"]
VALUES = [b"0", b"1", b"7", b"-5", b"20", b"abc", b"", b"3.5", b"9223372036854775807", b"-9223372036854775808",
          b"hello world", b"1e3", b" 1", b"010", b"\x00\xff", b"inf", b"nan", b"0.1"]
NUMS = [b"0", b"1", b"2", b"-1", b"5", b"100", b"1000", b"x", b"1.5", b"9223372036854775807", b"-9223372036854775808"]


class Conn:
    def __init__(self, port: int, proto: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader(notEnoughData=Ellipsis)
        if proto == 3:
            self.call([b"HELLO", b"3"])

    def call(self, argv: list[bytes]):
        out = bytearray(b"*%d\r\n" % len(argv))
        for a in argv:
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        while True:
            reply = self.reader.gets()
            if reply is not Ellipsis:
                return reply
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)

    def pipeline(self, argvs: list[list[bytes]]) -> list:
        out = bytearray()
        for argv in argvs:
            out += b"*%d\r\n" % len(argv)
            for a in argv:
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        replies: list = []
        while len(replies) < len(argvs):
            reply = self.reader.gets()
            if reply is not Ellipsis:
                replies.append(reply)
                continue
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)
        return replies

    def close(self) -> None:
        self.sock.close()


key = st.sampled_from(KEYS)
value = st.sampled_from(VALUES)
num = st.sampled_from(NUMS)
keys = st.lists(key, min_size=1, max_size=3)


def _cmd(name: bytes, *parts):
    return st.tuples(*[st.just(p) if isinstance(p, bytes) else p for p in parts]).map(
        lambda t: [name, *[x for p in t for x in (p if isinstance(p, list) else [p])]])


set_opts = st.lists(st.sampled_from([[b"NX"], [b"XX"], [b"GET"], [b"KEEPTTL"], [b"EX", b"100"], [b"PX", b"100000"],
                                     [b"EX", b"0"], [b"EX", b"-1"], [b"EX", b"x"], [b"EXAT", b"99999999999"]]),
                    max_size=2).map(lambda l: [x for o in l for x in o])
expire_opts = st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"LT"]), max_size=2)

FAMILIES = [
    _cmd(b"SET", key, value, set_opts),
    _cmd(b"GET", key),
    _cmd(b"GETSET", key, value),
    _cmd(b"GETDEL", key),
    _cmd(b"GETEX", key, st.sampled_from([[], [b"PERSIST"], [b"EX", b"50"], [b"PX", b"0"], [b"EX"], [b"FOO"]])),
    _cmd(b"MGET", keys),
    _cmd(b"MSET", key, value, key, value),
    _cmd(b"MSETNX", key, value, key, value),
    _cmd(b"APPEND", key, value),
    _cmd(b"STRLEN", key),
    _cmd(b"GETRANGE", key, num, num),
    _cmd(b"SETRANGE", key, num, value),
    _cmd(b"INCR", key),
    _cmd(b"DECR", key),
    _cmd(b"INCRBY", key, num),
    _cmd(b"DECRBY", key, num),
    _cmd(b"INCRBYFLOAT", key, st.sampled_from([b"0.1", b"1.5", b"-3", b"1e3", b"x", b"inf", b"2.0e-5"])),
    _cmd(b"SETNX", key, value),
    _cmd(b"SETEX", key, num, value),
    _cmd(b"PSETEX", key, st.sampled_from([b"100000", b"0", b"-1", b"x"]), value),
    _cmd(b"LCS", key, key),
    _cmd(b"DEL", keys),
    _cmd(b"UNLINK", keys),
    _cmd(b"EXISTS", keys),
    _cmd(b"TOUCH", keys),
    _cmd(b"TYPE", key),
    _cmd(b"RENAME", key, key),
    _cmd(b"RENAMENX", key, key),
    _cmd(b"COPY", key, key, st.sampled_from([[], [b"REPLACE"], [b"DB", b"1"], [b"DB", b"99"]])),
    _cmd(b"EXPIRE", key, num, expire_opts),
    _cmd(b"PEXPIRE", key, st.sampled_from([b"100000", b"5000000", b"0", b"-1", b"x"]), expire_opts),
    _cmd(b"PERSIST", key),
    _cmd(b"TTL", key),
    _cmd(b"PTTL", key),
    _cmd(b"DBSIZE"),
    _cmd(b"KEYS", st.sampled_from([b"*", b"k?", b"{t}*", b"[a-k]*"])),
    _cmd(b"MOVE", key, st.sampled_from([b"0", b"1", b"x"])),
    _cmd(b"OBJECT", st.just(b"REFCOUNT"), key),
    _cmd(b"ECHO", value),
    _cmd(b"PING"),
    # malformed calls: wrong arity and unknown commands
    st.lists(st.sampled_from([b"GET", b"SET", b"INCRBY", b"EXPIRE", b"DEL", b"MSET"]), min_size=1, max_size=1).flatmap(
        lambda n: st.lists(value, max_size=4).map(lambda a: n + a)),
    st.lists(value, max_size=2).map(lambda a: [b"NOSUCHCMD", *a]),
]
COMMANDS = st.one_of(FAMILIES)
# A pipeline: runs of calls of one command (a whole pipeline that is one run takes the uniform
# batch path, dispatch.run_uniform), sent with one write.
# (SET and GET, FAMILIES[:2], have handlers of their own for a whole batch: drawn more often)
RUN = st.sampled_from(FAMILIES + FAMILIES[:2] * 8).flatmap(
    lambda family: st.lists(family, min_size=2, max_size=8))
PIPELINES = st.one_of(RUN, st.lists(RUN, min_size=2, max_size=3).map(
    lambda runs: [argv for run in runs for argv in run]))
SETUP = st.tuples(st.lists(_cmd(b"SET", key, value), max_size=8), st.lists(COMMANDS, max_size=6)).map(
    lambda t: t[0] + t[1])

TTL_COMMANDS = {b"TTL": 1, b"PTTL": 100}


def _normalise(argv: list[bytes], reply):
    name = argv[0].upper()
    if name == b"KEYS" and isinstance(reply, list):
        return sorted(reply)
    if isinstance(reply, Exception):
        return ("error", str(reply))
    return reply


def _same(argv, a, b) -> bool:
    name = argv[0].upper()
    if name in TTL_COMMANDS and isinstance(a, int) and isinstance(b, int) and a >= 0 and b >= 0:
        return abs(a - b) <= TTL_COMMANDS[name]
    return a == b


@pytest.fixture(scope="module")
def conns(cachesrv_port, redis_port):
    made = {}
    for proto in (2, 3):
        made[proto] = (Conn(cachesrv_port, proto), Conn(redis_port, proto))
    yield made
    for pair in made.values():
        for c in pair:
            c.close()


@pytest.mark.parametrize("proto", [2, 3])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.lists(COMMANDS, min_size=1, max_size=25))
def test_same_replies_as_redis(conns, proto, seq):
    ours, theirs = conns[proto]
    for c in (ours, theirs):
        assert c.call([b"FLUSHALL"]) in (b"OK", "OK")
    for argv in seq:
        a = _normalise(argv, ours.call(argv))
        b = _normalise(argv, theirs.call(argv))
        assert _same(argv, a, b), f"{argv!r}: cachesrv {a!r} != redis {b!r}"


@pytest.mark.parametrize("proto", [2, 3])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setup=SETUP, pipeline=PIPELINES)
def test_same_replies_as_redis_pipelined(conns, proto, setup, pipeline):
    ours, theirs = conns[proto]
    for c in (ours, theirs):
        assert c.call([b"FLUSHALL"]) in (b"OK", "OK")
    for argv in setup:
        ours.call(argv)
        theirs.call(argv)
    mine, redis = ours.pipeline(pipeline), theirs.pipeline(pipeline)
    for argv, a, b in zip(pipeline, mine, redis):
        a, b = _normalise(argv, a), _normalise(argv, b)
        assert _same(argv, a, b), f"{argv!r} in {pipeline!r}: cachesrv {a!r} != redis {b!r}"
