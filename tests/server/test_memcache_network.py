"""The memcached port over real sockets, on the pump it shares with RESP clients (cachesrv/mcnet.py).

What the pump hands to a connection's task must keep working: replies larger than the socket
takes at once (a partial send), pipelines whose output passes FLUSH_AT (1 MiB), quit and closing
errors in the middle of a read, EOF, and many memcached and RESP clients served together.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import time

import pytest

from tests.conftest import start_cachesrv
from tests.server.test_network import cmd, read_replies, recv_until_closed


@pytest.fixture(scope="module")
def srv():
    p = start_cachesrv()
    yield p
    p.stop()


def mc_connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        data = s.recv(min(1 << 20, n - len(buf)))
        if not data:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def recv_until(s: socket.socket, end: bytes) -> bytes:
    buf = b""
    while not buf.endswith(end):
        data = s.recv(65536)
        if not data:
            raise ConnectionError("closed: %r" % buf[-200:])
        buf += data
    return buf


def stats(port: int) -> dict[str, str]:
    with mc_connect(port) as s:
        s.sendall(b"stats\r\n")
        raw = recv_until(s, b"END\r\n")
    return {k: v for _, k, v in (line.split(" ", 2) for line in raw.decode().splitlines()[:-1])}


def wait_connections(port: int, n: int, timeout: float = 10.0) -> None:
    """Until curr_connections is ``n`` (plus the connection asking)."""
    deadline = time.monotonic() + timeout
    while True:
        got = int(stats(port)["curr_connections"])
        if got == n + 1 or time.monotonic() > deadline:
            assert got == n + 1
            return
        time.sleep(0.05)


def store(port: int, items: dict[bytes, bytes]) -> None:
    with mc_connect(port) as s:
        s.sendall(b"".join(b"set %s 5 0 %d\r\n%s\r\n" % (k, len(v), v) for k, v in items.items()))
        assert recv_exact(s, 8 * len(items)) == b"STORED\r\n" * len(items)


def value_reply(items: dict[bytes, bytes], keys) -> bytes:
    return b"".join(b"VALUE %s 5 %d\r\n%s\r\n" % (k, len(items[k]), items[k]) for k in keys) + b"END\r\n"


def test_many_memcached_and_resp_clients_pipelining_together(srv):
    port = srv.memcache_port
    items = {b"mg:%d" % i: bytes([65 + i % 26]) * (900 + i) for i in range(100)}
    store(port, items)
    keys = list(items)

    def mc_client(n: int) -> None:
        # 20 pipelined 100-key gets: about 2 MB of replies, past FLUSH_AT and any socket buffer
        order = [keys[(n + j) % 100:] + keys[:(n + j) % 100] for j in range(20)]
        wire = b"".join(b"get " + b" ".join(ks) + b"\r\n" for ks in order)
        expected = b"".join(value_reply(items, ks) for ks in order)
        with mc_connect(port) as s:
            for _ in range(2):
                s.sendall(wire)
                assert recv_exact(s, len(expected)) == expected
            s.sendall(b"version\r\n")
            assert recv_exact(s, 16) == b"VERSION 1.6.18\r\n"

    def resp_client(n: int) -> None:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
            for rnd in range(5):
                wire = b"".join(cmd("SET", f"r:{n}:{i}", f"{rnd}:{i}") + cmd("GET", f"r:{n}:{i}")
                                for i in range(100))
                s.sendall(wire)
                expected = [x for i in range(100) for x in (b"OK", f"{rnd}:{i}".encode())]
                assert read_replies(s, 200) == expected

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        futures = [pool.submit(mc_client, n) for n in range(12)]
        futures += [pool.submit(resp_client, n) for n in range(12)]
        for f in futures:
            f.result()


SMALL = b"VALUE small 5 1\r\ns\r\nEND\r\n"


def test_reply_larger_than_the_socket_takes_then_the_connection_goes_on():
    srv = start_cachesrv()
    try:
        port = srv.memcache_port
        big = bytes(range(256)) * 3500            # 896,000 bytes: below FLUSH_AT
        store(port, {b"big": big, b"small": b"s"})
        reply = value_reply({b"big": big}, [b"big"])
        with mc_connect(port, rcvbuf=4096) as s:
            s.sendall(b"stats\r\n")
            before = recv_until(s, b"END\r\n")
            written = int(before.split(b"STAT bytes_written ")[1].split(b"\r\n")[0])
            # One get per read, unread: the kernel's send buffer (up to 4 MB) fills, and a send
            # takes only part of a reply (the pump hands the rest to the connection's task).
            for _ in range(8):
                s.sendall(b"get big\r\n")
                time.sleep(0.03)
            # meanwhile the pump serves everyone else
            with mc_connect(port) as other:
                other.sendall(b"get small\r\nversion\r\n")
                assert recv_exact(other, len(SMALL) + 16) == SMALL + b"VERSION 1.6.18\r\n"
            assert recv_exact(s, 8 * len(reply)) == reply * 8
            # ... and the connection is back on the pump: a pipeline of 4 (past FLUSH_AT)
            s.sendall(b"get big\r\n" * 4 + b"get small\r\n")
            time.sleep(0.2)
            assert recv_exact(s, 4 * len(reply)) == reply * 4
            assert recv_exact(s, len(SMALL)) == SMALL
            s.sendall(b"stats\r\n")
            after = recv_until(s, b"END\r\n")
            now = int(after.split(b"STAT bytes_written ")[1].split(b"\r\n")[0])
            # (the stats reply itself is counted once sent; the other connection wrote too)
            assert now - written == len(before) + 12 * len(reply) + len(SMALL) + len(SMALL) + 16
    finally:
        srv.stop()


def test_quit_in_the_middle_of_a_read(srv):
    port = srv.memcache_port
    with mc_connect(port) as s:
        s.sendall(b"set q 0 0 1\r\nx\r\nget q\r\nquit\r\nget q\r\nset q 0 0 1\r\ny\r\n")
        assert recv_until_closed(s) == b"STORED\r\nVALUE q 0 1\r\nx\r\nEND\r\n"
    with mc_connect(port) as s:
        s.sendall(b"get q\r\n")
        assert recv_until(s, b"END\r\n") == b"VALUE q 0 1\r\nx\r\nEND\r\n"


def test_quit_after_a_large_pipeline(srv):
    port = srv.memcache_port
    big = b"z" * 600_000
    store(port, {b"qbig": big})
    reply = value_reply({b"qbig": big}, [b"qbig"])
    with mc_connect(port, rcvbuf=4096) as s:
        s.sendall(b"get qbig\r\n" * 3 + b"quit\r\nget qbig\r\n")
        time.sleep(0.2)
        assert recv_until_closed(s) == reply * 3


def test_closing_errors_eof_and_resets_free_the_connection(srv):
    port = srv.memcache_port
    base = int(stats(port)["curr_connections"]) - 1
    socks = [mc_connect(port) for _ in range(6)]
    wait_connections(port, base + 6)
    socks[0].sendall(b"x" * 3000)                  # a line too long: closed, no reply
    assert recv_until_closed(socks[0]) == b""
    socks[1].sendall(b"set k 0 0 10\r\nabc")       # EOF in the middle of a data block
    socks[1].shutdown(socket.SHUT_WR)
    assert recv_until_closed(socks[1]) == b""
    socks[2].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    socks[2].close()                               # a reset
    socks[3].sendall(b"get " + b"k" * 300 + b"\r\n")   # an error that does not close
    assert recv_until(socks[3], b"\r\n") == b"CLIENT_ERROR bad command line format\r\n"
    for s in socks[3:]:
        s.sendall(b"version\r\n")
        assert recv_exact(s, 16) == b"VERSION 1.6.18\r\n"
    wait_connections(port, base + 3)
    for s in (socks[0], socks[1], *socks[3:]):
        s.close()
    wait_connections(port, base)


def test_config_set_max_item_size_applies_to_open_connections(srv):
    port = srv.memcache_port
    with mc_connect(port) as s, socket.create_connection(("127.0.0.1", srv.port), timeout=10) as r:
        s.sendall(b"set mi 0 0 3000\r\n" + b"a" * 3000 + b"\r\n")
        assert recv_exact(s, 8) == b"STORED\r\n"
        r.sendall(cmd("CONFIG", "SET", "memcache-max-item-size", "2048"))
        assert read_replies(r, 1) == [b"OK"]
        try:
            s.sendall(b"set mi 0 0 3000\r\n" + b"b" * 3000 + b"\r\nget mi\r\n")
            assert recv_until(s, b"END\r\n") == b"SERVER_ERROR object too large for cache\r\nEND\r\n"
        finally:
            r.sendall(cmd("CONFIG", "SET", "memcache-max-item-size", "1mb"))
            assert read_replies(r, 1) == [b"OK"]


def test_maxclients_counts_memcached_connections():
    srv = start_cachesrv("--maxclients", "2")
    try:
        a, b = mc_connect(srv.memcache_port), mc_connect(srv.memcache_port)
        for s in (a, b):
            s.sendall(b"version\r\n")
            assert recv_exact(s, 16) == b"VERSION 1.6.18\r\n"
        c = mc_connect(srv.memcache_port)
        assert recv_until_closed(c) == b"ERROR Too many open connections\r\n"
        for s in (a, b, c):
            s.close()
    finally:
        srv.stop()


def test_delayed_flush_all_runs_without_a_memcached_command():
    srv = start_cachesrv()
    try:
        with mc_connect(srv.memcache_port) as s:
            s.sendall(b"set df 0 0 1\r\nx\r\nflush_all 1\r\n")
            assert recv_exact(s, 12) == b"STORED\r\nOK\r\n"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as r:
            deadline = time.monotonic() + 5
            while True:
                r.sendall(cmd("EXISTS", "df"))
                if read_replies(r, 1) == [0]:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        srv.stop()


def test_sigterm_with_memcached_clients_open():
    srv = start_cachesrv()
    port = srv.memcache_port
    store(port, {b"sbig": b"q" * 900_000})
    idle = mc_connect(port)
    stuck = mc_connect(port, rcvbuf=4096)
    stuck.sendall(b"get sbig\r\n" * 3)          # the server is waiting to send it
    time.sleep(0.2)
    try:
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(10) == 0
        assert time.monotonic() - start < 5
        assert recv_until_closed(idle) == b""
        assert "ready to exit, bye bye" in srv.log()
    finally:
        for s in (idle, stuck):
            s.close()
        srv.stop()


def test_an_unexpected_error_costs_the_connection_not_the_pump(server, monkeypatch):
    """In-process: a handler that raises must close its own connection (logged, as before the
    pump) while the pump goes on serving every other client."""
    import trio

    from cachesrv import mcnet, net
    from cachesrv.commands import memcache

    def boom(session, req):
        raise RuntimeError("boom")

    monkeypatch.setitem(memcache._HANDLERS, b"boom", boom)
    logged = []
    monkeypatch.setattr(server.log, "exception", lambda msg, *args: logged.append(msg % args))

    async def main():
        pump = net.Pump()
        lsock = socket.create_server(("127.0.0.1", 0))
        lsock.setblocking(False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.run)
            nursery.start_soon(mcnet.memcache_accept_loop, server, lsock, nursery, pump)
            port = lsock.getsockname()[1]
            clients = []
            for _ in range(2):
                c = trio.socket.socket()
                await c.connect(("127.0.0.1", port))
                clients.append(c)
            bad, good = clients
            await bad.send(b"version\r\nboom\r\n")
            got = b""
            while True:                         # the reply to version may or may not be sent
                data = await bad.recv(100)
                if not data:
                    break
                got += data
            assert got in (b"", b"VERSION 1.6.18\r\n")
            await good.send(b"version\r\n")
            assert await good.recv(100) == b"VERSION 1.6.18\r\n"
            assert len(server.mc.conns) == 1
            for c in clients:
                c.close()
            nursery.cancel_scope.cancel()
        lsock.close()

    trio.run(main)
    assert any("unexpected error" in m for m in logged)
