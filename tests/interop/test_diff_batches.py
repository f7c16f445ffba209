"""Differential test of pipelined batches against Debian's redis-server 7.0, the uniform ones above
all (a batch of calls of one plain command runs as a whole: dispatch.run_uniform). Each batch
goes out in one send; the replies must be the same bytes, in RESP2 and RESP3, and INFO's
statistics (calls, failed and rejected calls, error counts, keyspace hits and misses) the same
numbers. The client states that keep a batch from running as a whole (MONITOR, CLIENT PAUSE,
CLIENT REPLY) are checked the same way."""

from __future__ import annotations

import socket
import time

import hiredis
import pytest

from tests.conftest import server_pair


def cmd(*args) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def wire(*lines: str) -> tuple[bytes, int]:
    return b"".join(cmd(*line.split()) for line in lines), len(lines)


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.reader = hiredis.Reader(notEnoughData=Ellipsis)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, n: int) -> bytes:
        """The raw bytes of the next ``n`` replies."""
        raw = bytearray()
        got = 0
        while got < n:
            r = self.reader.gets()
            if r is not Ellipsis:
                got += 1
                continue
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed")
            raw += data
            self.reader.feed(data)
        assert self.reader.gets() is Ellipsis, "more replies than expected"
        return bytes(raw)

    def call(self, *args):
        self.send(cmd(*args))
        self.read(1)

    def silent(self, seconds: float) -> bool:
        """Whether nothing arrives for ``seconds``."""
        self.sock.settimeout(seconds)
        try:
            return not self.sock.recv(1, socket.MSG_PEEK)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(20)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def servers():
    with server_pair() as pair:
        yield pair


def both(servers, fn):
    """fn(port) on cachesrv and on redis-server."""
    return [fn(s.port) for s in servers]


BATCHES = [
    ("SET x 1", "SET y 2", "SET a 3", "SET ba grown"),
    ("GET a", "GET missing", "GET ba", "GET expired", "GET a", "GET x"),
    ("get a", "get a", "get nothing"),
    ("SET x 1 NX", "SET y 2 GET", "SET z 3 EX 0", "SET a 4 XX GET", "SET w 5", "SET w 6 KEEPTTL"),
    ("INCR a", "INCR n", "INCR missing", "INCR a", "INCR n"),
    ("INCRBY a 5", "INCRBY a x", "INCRBY a 9223372036854775807"),
    ("SETEX e 100 v", "SETEX e -1 v", "SETEX e x v", "SETEX e 100"),
    ("EXISTS a", "EXISTS a missing a", "EXISTS"),
    ("STRLEN a", "STRLEN ba", "STRLEN missing"),
    ("APPEND ba !", "APPEND ba ?", "APPEND new x"),
    ("TTL a", "TTL missing", "PERSIST a", "PERSIST e"),
    ("GET a", "GET a b", "GET a"),
    ("GET a", "SET a 1", "GET a", "get a", "GET a"),
    ("GETDEL ba", "GETDEL ba", "GETDEL a"),
    tuple(f"SET k{i} {'v' * i}" for i in range(200)),
    tuple(f"GET k{i}" for i in range(0, 260, 3)),
    ("INCR counter",) * 100,
]


def stats(port: int) -> dict:
    c = Client(port)
    c.send(cmd("INFO", "everything"))
    raw = c.read(1)
    c.close()
    info = hiredis.Reader()
    info.feed(raw)
    text = info.gets().decode()
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("cmdstat_") and key not in ("cmdstat_info", "cmdstat_config|resetstat"):
            fields = dict(f.split("=") for f in value.split(","))
            out[key] = (fields["calls"], fields["rejected_calls"], fields["failed_calls"])
        elif key.startswith("errorstat_") or key in ("keyspace_hits", "keyspace_misses",
                                                      "total_error_replies"):
            out[key] = value
    return out


@pytest.mark.parametrize("proto", [2, 3])
def test_batches_same_bytes_and_statistics_as_redis(servers, proto):
    def run(port: int):
        c = Client(port)
        c.call("FLUSHALL")
        c.call("CONFIG", "RESETSTAT")
        if proto == 3:
            c.call("HELLO", "3")
        c.send(wire("SET a 1", "SET n notanumber", "APPEND ba grown", "SET expired v PX 1")[0])
        c.read(4)
        time.sleep(0.05)
        replies = []
        for batch in BATCHES:
            data, n = wire(*batch)
            c.send(data)
            replies.append(c.read(n))
        c.close()
        return replies, stats(port)

    (mine, my_stats), (theirs, their_stats) = both(servers, run)
    for batch, a, b in zip(BATCHES, mine, theirs):
        assert a == b, batch[:6]
    assert my_stats == their_stats


def test_client_reply_off_silences_a_uniform_batch(servers):
    def run(port: int):
        c = Client(port)
        c.call("FLUSHALL")
        data, _ = wire("CLIENT REPLY OFF", "SET a 1", "SET b 2", "SET c 3", "CLIENT REPLY ON",
                       "GET a", "GET b", "GET c")
        c.send(data)
        out = c.read(4)
        c.close()
        return out

    mine, theirs = both(servers, run)
    assert mine == theirs == b"+OK\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"


def test_monitor_sees_each_call_of_a_uniform_batch(servers):
    def run(port: int):
        mon = Client(port)
        mon.call("MONITOR")
        c = Client(port)
        data, n = wire("SET a 1", "SET b 2", "GET a", "GET b")
        c.send(data)
        c.read(n)
        c.send(cmd("GET", "a") + cmd("GET", "a"))
        c.read(2)
        lines = mon.read(6).decode().split("\r\n")
        mon.close()
        c.close()
        # "+1700000000.123456 [0 127.0.0.1:5000] "SET" "a" "1"": the command after the client
        return [line.split("] ", 1)[1] for line in lines if line]

    mine, theirs = both(servers, run)
    assert mine == theirs == ['"SET" "a" "1"', '"SET" "b" "2"', '"GET" "a"', '"GET" "b"',
                              '"GET" "a"', '"GET" "a"']


def test_client_pause_write_holds_a_uniform_batch(servers):
    def run(port: int):
        admin, writer, reader = Client(port), Client(port), Client(port)
        admin.call("FLUSHALL")
        admin.call("CLIENT", "PAUSE", "1500", "WRITE")
        data, n = wire("SET a 1", "SET b 2", "SET c 3")
        writer.send(data)
        held = writer.silent(0.3)
        reader.send(cmd("GET", "a"))
        during = reader.read(1)
        admin.call("CLIENT", "UNPAUSE")
        after = writer.read(n)
        reader.send(cmd("MGET", "a", "b", "c"))
        values = reader.read(1)
        for c in (admin, writer, reader):
            c.close()
        return held, during, after, values

    mine, theirs = both(servers, run)
    assert mine == theirs == (True, b"$-1\r\n", b"+OK\r\n" * 3, b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
