"""The server over real sockets: framing, pipelining, protocol errors, limits and shutdown."""

from __future__ import annotations

import signal
import socket
import time

import hiredis
import pytest

from tests.conftest import server_pair, start_cachesrv


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_replies(sock: socket.socket, n: int) -> list:
    reader = hiredis.Reader(notEnoughData=Ellipsis)
    out = []
    while len(out) < n:
        r = reader.gets()
        if r is Ellipsis:
            data = sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed")
            reader.feed(data)
            continue
        out.append(r)
    return out


def recv_until_closed(sock: socket.socket) -> bytes:
    buf = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return buf
        if not data:
            return buf
        buf += data


def cmd(*args: bytes | str) -> bytes:
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def test_pipeline_replies_in_order(cachesrv_port):
    with connect(cachesrv_port) as s:
        batch = b"".join(cmd("SET", f"pipe:{i}", str(i)) + cmd("GET", f"pipe:{i}") for i in range(500))
        s.sendall(batch)
        replies = read_replies(s, 1000)
    assert replies[0::2] == [b"OK"] * 500
    assert replies[1::2] == [str(i).encode() for i in range(500)]


def test_pipeline_split_at_every_byte(cachesrv_port):
    wire = cmd("SET", "split", "value") + b"GET split\r\n" + cmd("DEL", "split")
    with connect(cachesrv_port) as s:
        for i in range(len(wire)):
            s.sendall(wire[i:i + 1])
        assert read_replies(s, 3) == [b"OK", b"value", 1]


def test_inline_commands_with_quotes(cachesrv_port):
    with connect(cachesrv_port) as s:
        s.sendall(b'SET inl "a b\\x41"\r\nGET inl\r\n\r\nPING\n')
        assert read_replies(s, 3) == [b"OK", b"a bA", b"PONG"]


@pytest.mark.parametrize("wire, error", [
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n:5\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
    (b'SET a "unterminated\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
])
def test_protocol_error_replies_then_closes(cachesrv_port, wire, error):
    with connect(cachesrv_port) as bad, connect(cachesrv_port) as good:
        bad.sendall(cmd("PING") + wire)
        assert recv_until_closed(bad) == b"+PONG\r\n" + error
        good.sendall(cmd("PING"))
        assert read_replies(good, 1) == [b"PONG"]


def test_unknown_command_and_arity_errors(cachesrv_port):
    with connect(cachesrv_port) as s:
        s.sendall(cmd("NOSUCH", "a", "b") + cmd("GET") + cmd("PING"))
        r = read_replies(s, 3)
    assert str(r[0]) == "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    assert str(r[1]) == "ERR wrong number of arguments for 'get' command"
    assert r[2] == b"PONG"


def test_large_value_round_trip(cachesrv_port):
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    with connect(cachesrv_port) as s:
        s.sendall(cmd("SET", "big", big) + cmd("GET", "big") + cmd("STRLEN", "big"))
        assert read_replies(s, 3) == [b"OK", big, len(big)]


def test_hello3_then_resp3_replies(cachesrv_port):
    with connect(cachesrv_port) as s:
        s.sendall(cmd("HELLO", "3"))
        raw = b""
        while b"modules" not in raw or not raw.endswith(b"*0\r\n"):
            raw += s.recv(4096)
        assert raw.startswith(b"%7\r\n")
        s.sendall(cmd("GET", "no-such-key"))
        assert s.recv(100) == b"_\r\n"


def test_quit_replies_ok_and_closes(cachesrv_port):
    with connect(cachesrv_port) as s:
        s.sendall(cmd("QUIT") + cmd("PING"))
        assert recv_until_closed(s) == b"+OK\r\n"


def test_query_buffer_limit_closes_only_that_client():
    srv = start_cachesrv("--client-query-buffer-limit", "1mb")
    try:
        with connect(srv.port) as bad, connect(srv.port) as good:
            bad.sendall(b"*2\r\n$3\r\nGET\r\n$100000000\r\n")
            try:
                for _ in range(40):
                    bad.sendall(b"x" * 65536)
            except OSError:
                pass
            assert recv_until_closed(bad) == b""
            good.sendall(cmd("PING"))
            assert read_replies(good, 1) == [b"PONG"]
    finally:
        srv.stop()


@pytest.mark.parametrize("auth_first", [True, False])
def test_pipeline_after_reset_is_parsed_as_unauthenticated_like_redis(auth_first):
    # One read: AUTH, PING, RESET (the client is no longer authenticated), then a command too big
    # for an unauthenticated client. Redis parses each command after running the one before, so
    # the last one is a protocol error; a reader that took the whole read at once must rewind.
    with server_pair("--requirepass", "pw") as servers:
        out = []
        for srv in servers:
            with connect(srv.port) as s:
                if not auth_first:
                    s.sendall(cmd("AUTH", "pw"))
                    read_replies(s, 1)
                s.sendall((cmd("AUTH", "pw") if auth_first else b"") + cmd("PING") + cmd("RESET")
                          + cmd("SET", "k", "x" * 20000) + cmd("PING"))
                out.append(recv_until_closed(s))
        assert out[0] == out[1]
        assert out[0].endswith(b"-ERR Protocol error: unauthenticated bulk length\r\n")


def test_pipeline_after_auth_is_parsed_as_authenticated_like_redis():
    # AUTH then, in the same read, a bulk too long for an unauthenticated client: Redis parses
    # the SET after AUTH ran, under the authenticated limits.
    with server_pair("--requirepass", "pw") as servers:
        out = []
        for srv in servers:
            with connect(srv.port) as s:
                s.sendall(cmd("AUTH", "pw") + cmd("SET", "k", "x" * 20000) + cmd("STRLEN", "k")
                          + cmd("QUIT"))
                out.append(recv_until_closed(s))
        assert out[0] == out[1] == b"+OK\r\n+OK\r\n:20000\r\n+OK\r\n"


def test_client_killed_in_the_round_its_reply_waits_gets_nothing_like_redis():
    # DEBUG SLEEP stops the server while B sends PING and then A kills B, so both are read in
    # the same round, B first: B's reply waits for the end of the round, and a client killed
    # meanwhile gets nothing more (Redis skips CLOSE_ASAP clients when it writes before sleeping).
    with server_pair("--enable-debug-command", "yes") as servers:
        out = []
        for srv in servers:
            with connect(srv.port) as a, connect(srv.port) as b, connect(srv.port) as c:
                b.sendall(cmd("CLIENT", "ID"))
                bid = read_replies(b, 1)[0]
                c.sendall(cmd("DEBUG", "SLEEP", "0.5"))
                time.sleep(0.1)
                b.sendall(cmd("PING"))
                time.sleep(0.05)
                a.sendall(cmd("CLIENT", "KILL", "ID", str(bid)))
                assert read_replies(c, 1) == [b"OK"]
                assert read_replies(a, 1) == [1]
                out.append(recv_until_closed(b))
        assert out[0] == out[1] == b""


def test_bulk_longer_than_proto_max_bulk_len_is_refused():
    srv = start_cachesrv("--proto-max-bulk-len", "1mb")
    try:
        with connect(srv.port) as s:
            s.sendall(b"*2\r\n$3\r\nGET\r\n$2000000\r\n")
            assert recv_until_closed(s) == b"-ERR Protocol error: invalid bulk length\r\n"
    finally:
        srv.stop()


def test_maxclients():
    srv = start_cachesrv("--maxclients", "2")
    try:
        a, b = connect(srv.port), connect(srv.port)
        for s in (a, b):
            s.sendall(cmd("PING"))
            assert read_replies(s, 1) == [b"PONG"]
        c = connect(srv.port)
        assert recv_until_closed(c) == b"-ERR max number of clients reached\r\n"
        for s in (a, b, c):
            s.close()
    finally:
        srv.stop()


def test_idle_timeout_closes_idle_clients():
    srv = start_cachesrv("--timeout", "1")
    try:
        with connect(srv.port) as s:
            s.sendall(cmd("PING"))
            assert read_replies(s, 1) == [b"PONG"]
            s.settimeout(5)
            start = time.monotonic()
            assert recv_until_closed(s) == b""
            assert time.monotonic() - start < 4.5
    finally:
        srv.stop()


def test_sigterm_stops_cleanly():
    srv = start_cachesrv()
    try:
        with connect(srv.port) as s:
            s.sendall(cmd("PING"))
            assert read_replies(s, 1) == [b"PONG"]
            srv.proc.send_signal(signal.SIGTERM)
            assert srv.proc.wait(10) == 0
            assert recv_until_closed(s) == b""
        log = srv.log()
        assert "Received SIGTERM scheduling shutdown..." in log
        assert "ready to exit, bye bye" in log
    finally:
        srv.stop()              # (also removes its directory)


def test_port_zero_is_logged():
    srv = start_cachesrv()
    try:
        assert f"port={srv.port}." in srv.log()
    finally:
        srv.stop()


def test_ipv6_listener():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no ::1 on this machine")
    srv = start_cachesrv("--bind", "127.0.0.1", "::1")
    try:
        with socket.create_connection(("::1", srv.port), timeout=5) as s:
            s.sendall(cmd("PING"))
            assert read_replies(s, 1) == [b"PONG"]
    finally:
        srv.stop()


def test_many_clients_are_served_while_one_sends_garbage(cachesrv_port):
    socks = [connect(cachesrv_port) for _ in range(50)]
    with connect(cachesrv_port) as bad:
        bad.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nab")   # half a command, then silence
        for i, s in enumerate(socks):
            s.sendall(cmd("SET", f"many:{i}", str(i)) + cmd("GET", f"many:{i}"))
        for i, s in enumerate(socks):
            assert read_replies(s, 2) == [b"OK", str(i).encode()]
    for s in socks:
        s.close()
