"""memcached clients against cachesrv's memcached port: pymemcache (Client, PooledClient,
HashClient), libmemcached's tools (memccapable's ASCII protocol suite, memccp/memccat/memcstat)
and redis-py on the RESP port of the same server at the same time.

The server is ``python -m cachesrv --memcache-port <free port>`` when it logs "memcached
port=NNNN."; until the memcached listener is wired into the server's main loop, the same server
objects are run by a small launcher (``HARNESS``) that starts ``net.run`` and the memcached accept
loops in one trio run, so these tests exercise the real listener code either way. ``test_wired_*``
use the real entry point only and skip, saying why, when the log line is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.conftest import Proc, _start, free_port, start_cachesrv, stop, wait_port

pymemcache = pytest.importorskip("pymemcache")
redis = pytest.importorskip("redis")

from pymemcache.client.base import Client, PooledClient  # noqa: E402
from pymemcache.client.hash import HashClient  # noqa: E402
from pymemcache import serde  # noqa: E402

MC_LINE = re.compile(r"memcached port=(\d+)\.")

# Runs the server like cachesrv's main, plus the memcached listener (what net.run will do).
HARNESS = r"""
import sys, trio
from cachesrv.config import parse_args
from cachesrv.server import Server
from cachesrv import net
from cachesrv.mcnet import open_memcache_listeners, memcache_accept_loop

cfg = parse_args(sys.argv[1:])
server = Server(cfg)

async def main():
    socks = open_memcache_listeners(server, 0)     # a free port, logged
    async with trio.open_nursery() as nursery:
        async def resp():
            await net.run(server)
            nursery.cancel_scope.cancel()
        await nursery.start(_started, resp)
        for sock in socks:
            nursery.start_soon(memcache_accept_loop, server, sock, nursery)

async def _started(resp, task_status=trio.TASK_STATUS_IGNORED):
    async with trio.open_nursery() as n:
        n.start_soon(resp)
        await trio.sleep(0)
        task_status.started()

trio.run(main)
"""


class McServer:
    """A cachesrv process serving RESP on ``resp_port`` and memcached on ``mc_port``."""

    def __init__(self, proc: Proc, mc_port: int) -> None:
        self.proc, self.mc_port, self.resp_port = proc, mc_port, proc.port

    def stop(self) -> None:
        self.proc.stop()


def _wait_log(proc, log, pattern, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = pattern.search(log.read_text(errors="replace"))
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            raise RuntimeError("server exited:\n" + log.read_text(errors="replace"))
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("server did not log its port:\n" + log.read_text(errors="replace"))


def start_harness(*args: str) -> McServer:
    tmpdir = tempfile.mkdtemp(prefix="cachesrv-mc-test-")
    cmd = [sys.executable, "-c", HARNESS, "--port", "0", "--bind", "127.0.0.1", "--save", "",
           "--memcache-port", "0", *args]
    proc, log = _start(cmd, tmpdir)
    mc_port = _wait_log(proc, log, MC_LINE)
    resp_port = _wait_log(proc, log, re.compile(r"Running mode=standalone, port=(\d+)\."))
    wait_port(resp_port, proc)
    return McServer(Proc(proc, resp_port, log, tmpdir), mc_port)


def start_wired(*args: str) -> McServer | None:
    """The real entry point with a free memcache-port, or None (stopped) when it has no
    memcached listener yet."""
    proc = start_cachesrv("--memcache-port", str(free_port()), *args)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = MC_LINE.search(proc.log())
        if m:
            return McServer(proc, int(m.group(1)))
        time.sleep(0.05)
    proc.stop()
    return None


def start_memcache_server(*args: str) -> McServer:
    """cachesrv with its memcached port: the real entry point once it serves one, else the
    launcher."""
    return start_wired(*args) or start_harness(*args)


def start_memcached(*args: str) -> tuple[subprocess.Popen, int]:
    """Debian's memcached 1.6 on a free port (the differential tests' oracle)."""
    binary = shutil.which("memcached")
    if binary is None:
        pytest.skip("memcached is not installed (the README's test command installs Debian's memcached)")
    port = free_port()
    cmd = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd += ["-u", "root"]                    # memcached refuses to run as root otherwise
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"version\r\n")
                if s.recv(100).startswith(b"VERSION"):
                    return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("memcached exited")
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError("memcached did not start")


@pytest.fixture(scope="module")
def srv():
    s = start_memcache_server()
    yield s
    s.stop()


@pytest.fixture
def client(srv):
    c = Client(("127.0.0.1", srv.mc_port), connect_timeout=5, timeout=10)
    c.flush_all(noreply=False)
    yield c
    c.close()


@pytest.fixture
def r(srv):
    c = redis.Redis(port=srv.resp_port, socket_timeout=10)
    yield c
    c.close()


def raw(port: int, data: bytes, expect_end: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while not out.endswith(expect_end):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


# -- pymemcache Client ---------------------------------------------------------------------------
def test_client_storage_commands(client):
    assert client.set("k", b"v", noreply=False) is True
    assert client.get("k") == b"v"
    assert client.add("k", b"w", noreply=False) is False
    assert client.add("n", b"1", noreply=False) is True
    assert client.replace("k", b"v2", noreply=False) is True
    assert client.replace("missing", b"x", noreply=False) is False
    assert client.append("k", b"!", noreply=False) is True
    assert client.prepend("k", b"<", noreply=False) is True
    assert client.get("k") == b"<v2!"
    assert client.append("missing", b"x", noreply=False) is False
    # noreply (pymemcache's default for storage commands) must not desynchronise the stream
    for i in range(50):
        client.set(f"nr{i}", str(i).encode())
    assert client.get_many([f"nr{i}" for i in range(50)]) == {f"nr{i}": str(i).encode() for i in range(50)}


def test_client_get_many_gets_cas(client):
    client.set_many({"a": b"1", "b": b"2", "c": b"3"}, noreply=False)
    assert client.get_many(["a", "b", "c", "zz"]) == {"a": b"1", "b": b"2", "c": b"3"}
    value, token = client.gets("a")
    assert value == b"1" and token.isdigit()
    assert client.cas("a", b"10", token, noreply=False) is True
    assert client.cas("a", b"11", token, noreply=False) is False
    assert client.cas("zz", b"1", b"1", noreply=False) is None
    result = client.gets_many(["a", "b"])
    assert result["a"][0] == b"10" and result["a"][1] != token
    assert client.delete_many(["a", "b"], noreply=False) is True
    assert client.get_many(["a", "b", "c"]) == {"c": b"3"}


def test_client_incr_decr_touch_delete(client):
    assert client.incr("n", 1) is None
    client.set("n", b"10", noreply=False)
    assert client.incr("n", 5) == 15
    assert client.decr("n", 20) == 0
    assert client.incr("n", 2**64 - 1) == 2**64 - 1
    assert client.incr("n", 2) == 1                # wraps at 64 bits
    client.set("s", b"abc", noreply=False)
    with pytest.raises(pymemcache.exceptions.MemcacheClientError, match="non-numeric"):
        client.incr("s", 1)
    assert client.touch("n", 100, noreply=False) is True
    assert client.touch("nope", 100, noreply=False) is False
    assert client.delete("n", noreply=False) is True
    assert client.delete("n", noreply=False) is False


def test_client_binary_and_large_values(client):
    blob = bytes(range(256)) * 4096                  # 1 MiB minus nothing: too large with overhead
    with pytest.raises(pymemcache.exceptions.MemcacheServerError, match="object too large"):
        client.set("big", blob, noreply=False)
    fits = os.urandom(1024 * 1024 - 59 - 3)           # exactly the largest value a 3-byte key takes
    assert client.set("big", fits, noreply=False) is True
    assert client.get("big") == fits
    assert client.set("bin", b"\r\n\0\xff" * 1000, noreply=False)
    assert client.get("bin") == b"\r\n\0\xff" * 1000


def test_client_serde_flags(srv):
    c = Client(("127.0.0.1", srv.mc_port), serde=serde.pickle_serde)
    try:
        c.set("obj", {"a": [1, 2.5, None]}, noreply=False)
        c.set("num", 42, noreply=False)
        c.set("txt", "héllo", noreply=False)
        assert c.get("obj") == {"a": [1, 2.5, None]}
        assert c.get("num") == 42 and c.get("txt") == "héllo"
    finally:
        c.close()


def test_client_expiry(client):
    client.set("short", b"x", expire=1, noreply=False)
    client.set("past", b"x", expire=-1, noreply=False)
    assert client.get("short") == b"x" and client.get("past") is None
    time.sleep(2.1)
    assert client.get("short") is None


def test_client_stats_version_flush(client):
    client.set("k", b"v", noreply=False)
    client.get("k")
    client.get("nope")
    stats = client.stats()
    assert stats[b"version"] == b"1.6.18" and stats[b"curr_items"] >= 1
    assert stats[b"get_hits"] >= 1 and stats[b"get_misses"] >= 1
    assert set(client.stats("settings")) >= {b"item_size_max", b"maxconns", b"cas_enabled"}
    assert client.version() == b"1.6.18"
    assert client.flush_all(noreply=False) is True
    assert client.get("k") is None
    client.quit()


def test_client_errors(client):
    with pytest.raises(pymemcache.exceptions.MemcacheIllegalInputError):
        client.set("bad key", b"x")                  # refused by the client itself
    with pytest.raises(pymemcache.exceptions.MemcacheUnknownCommandError):
        client.raw_command(b"bogus")


def test_pooled_client_threads(srv):
    pool = PooledClient(("127.0.0.1", srv.mc_port), max_pool_size=8, timeout=10)
    errors = []

    def work(t):
        try:
            assert pool.incr(f"ctr{t}", 1) is None
            pool.set(f"ctr{t}", b"0", noreply=False)
            for i in range(200):
                key = f"p{t}:{i}"
                pool.set(key, str(i).encode(), noreply=False)
                assert pool.get(key) == str(i).encode()
                assert pool.incr(f"ctr{t}", 1) == i + 1
        except Exception as e:       # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert pool.get_many([f"p{t}:199" for t in range(8)]) == {f"p{t}:199": b"199" for t in range(8)}
    pool.close()


def test_hash_client_over_two_servers(srv):
    other = start_memcache_server()
    try:
        hc = HashClient([("127.0.0.1", srv.mc_port), ("127.0.0.1", other.mc_port)], timeout=10)
        data = {f"h{i}": str(i).encode() for i in range(200)}
        hc.set_many(data, noreply=False)
        assert hc.get_many(list(data)) == data
        a = Client(("127.0.0.1", srv.mc_port))
        b = Client(("127.0.0.1", other.mc_port))
        on_a, on_b = a.get_many(list(data)), b.get_many(list(data))
        assert on_a and on_b and len(on_a) + len(on_b) == 200      # spread over both
        assert hc.delete_many(list(data), noreply=False)
        assert hc.get_many(list(data)) == {}
        a.close()
        b.close()
        hc.close()
    finally:
        other.stop()


# -- the same keyspace over RESP and memcached ---------------------------------------------------
def test_cross_protocol_values(client, r):
    client.set("k", b"from memcached", noreply=False)
    assert r.get("k") == b"from memcached"
    r.set("k2", "from resp")
    assert client.get("k2") == b"from resp"
    r.delete("k")
    assert client.get("k") is None
    client.set("n", b"5", noreply=False)
    assert r.incr("n") == 6
    assert client.incr("n", 4) == 10
    assert r.get("n") == b"10"


def test_cross_protocol_ttl(client, r):
    client.set("t", b"x", expire=100, noreply=False)
    assert 99 <= r.ttl("t") <= 100
    r.expire("t", 500)
    assert raw(client.server[1], b"mg t t\r\n", b"\r\n") in (b"HD t500\r\n", b"HD t499\r\n")
    client.touch("t", 0, noreply=False)
    assert r.ttl("t") == -1
    t0 = time.monotonic()
    r.set("e", "y", px=300)
    # (unless the machine stalled this process for the whole 300 ms)
    assert client.get("e") == b"y" or time.monotonic() - t0 >= 0.3
    time.sleep(0.4)
    assert client.get("e") is None


def test_cross_protocol_flags_and_cas(srv, r):
    c = Client(("127.0.0.1", srv.mc_port), serde=serde.pickle_serde)
    try:
        c.set("obj", [1, 2], noreply=False)
        assert c.get("obj") == [1, 2]
        r.append("obj", b"")                        # an in-place change keeps the flags
        assert c.get("obj") == [1, 2]
        r.set("obj", "plain")                       # a RESP value has flags 0: raw bytes
        assert c.get("obj") == b"plain"
        _, token = c.gets("obj")
        r.set("obj", "changed")                     # every write changes the CAS unique
        assert c.cas("obj", "mine", token, noreply=False) is False
        _, token = c.gets("obj")
        assert c.cas("obj", "mine", token, noreply=False) is True
        assert r.get("obj") == b"mine"
    finally:
        c.close()


def test_cross_protocol_other_types(client, r):
    try:
        r.rpush("lst", "a")
    except redis.exceptions.ResponseError as e:
        pytest.skip(f"this cachesrv has no list type yet ({e})")
    assert client.get("lst") is None                 # invisible to memcached reads
    assert client.add("lst", b"x", noreply=False) is False
    with pytest.raises(pymemcache.exceptions.MemcacheClientError, match="non-numeric"):
        client.incr("lst", 1)
    assert r.type("lst") == b"list"
    assert client.set("lst", b"x", noreply=False) is True   # set replaces it, like SET
    assert r.type("lst") == b"string"


def test_cross_protocol_flush_all(client, r):
    client.set("a", b"1", noreply=False)
    r.set("b", "2")
    client.flush_all(noreply=False)
    assert r.exists("a", "b") == 0


def test_meta_commands_over_the_wire(srv, r):
    port = srv.mc_port
    assert raw(port, b"ms mk 2 T60 F3 c\r\nhi\r\nmg mk v f t\r\nmn\r\n", b"MN\r\n").startswith(b"HD c")
    assert raw(port, b"mg mk v f\r\nma cnt N0 J10 v\r\nmn\r\n", b"MN\r\n") == \
        b"VA 2 f3\r\nhi\r\nVA 2\r\n10\r\nMN\r\n"
    assert r.get("cnt") == b"10" and 0 < r.ttl("mk") <= 60


def test_pipelining_and_split_writes(srv):
    with socket.create_connection(("127.0.0.1", srv.mc_port), timeout=10) as s:
        batch = b"".join(b"set p%d 0 0 %d\r\n%d\r\nget p%d\r\n" % (i, len(str(i)), i, i) for i in range(500))
        s.sendall(batch)
        expected = b"".join(b"STORED\r\nVALUE p%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(str(i)), i) for i in range(500))
        got = b""
        while len(got) < len(expected):
            got += s.recv(1 << 20)
        assert got == expected
        wire = b"set split 0 0 5\r\nhello\r\nget split\r\n"
        for i in range(len(wire)):
            s.sendall(wire[i:i + 1])
            time.sleep(0.001)
        want = b"STORED\r\nVALUE split 0 5\r\nhello\r\nEND\r\n"
        got = b""
        while len(got) < len(want):
            got += s.recv(65536)
        assert got == want


def test_long_line_closes_connection(srv):
    with socket.create_connection(("127.0.0.1", srv.mc_port), timeout=10) as s:
        s.sendall(b"set " + b"k" * 3000)
        assert s.recv(100) == b""


def test_quit_closes_after_replies(srv):
    assert raw(srv.mc_port, b"version\r\nquit\r\nversion\r\n", b"never") == b"VERSION 1.6.18\r\n"


# -- libmemcached --------------------------------------------------------------------------------
def _tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian's libmemcached-tools)")
    return path


def test_libmemcached_memccapable_ascii(srv):
    out = subprocess.run([_tool("memccapable"), "-h", "127.0.0.1", "-p", str(srv.mc_port), "-a"],
                         capture_output=True, text=True, timeout=120)
    assert "All tests passed" in out.stdout + out.stderr, out.stdout + out.stderr


def test_libmemcached_tools(srv, tmp_path, r):
    servers = f"--servers=127.0.0.1:{srv.mc_port}"
    f = tmp_path / "greeting.txt"
    f.write_bytes(b"hello from libmemcached\n")
    subprocess.run([_tool("memccp"), servers, str(f)], check=True, timeout=30)
    out = subprocess.run([_tool("memccat"), servers, "greeting.txt"], capture_output=True, timeout=30)
    assert out.stdout == b"hello from libmemcached\n\n"      # memccat adds a newline
    assert r.get("greeting.txt") == b"hello from libmemcached\n"
    out = subprocess.run([_tool("memcstat"), servers], capture_output=True, text=True, timeout=30)
    assert "version: 1.6.18" in out.stdout
    assert subprocess.run([_tool("memcexist"), servers, "greeting.txt"], timeout=30).returncode == 0
    subprocess.run([_tool("memcrm"), servers, "greeting.txt"], check=True, timeout=30)
    assert subprocess.run([_tool("memcexist"), servers, "greeting.txt"], timeout=30).returncode != 0


# -- the real entry point (once net.run opens the memcached port) --------------------------------
@pytest.fixture(scope="module")
def wired():
    s = start_wired()
    if s is None:
        pytest.skip("cachesrv does not log 'memcached port=NNNN.' yet: the memcached listener is "
                    "not wired into net.run (cachesrv/mcnet.py provides it)")
    yield s
    s.stop()


def test_wired_pymemcache_and_redis(wired):
    c = Client(("127.0.0.1", wired.mc_port))
    rc = redis.Redis(port=wired.resp_port)
    try:
        c.set("w", b"1", noreply=False)
        assert rc.get("w") == b"1"
        rc.set("w2", "2")
        assert c.get("w2") == b"2"
    finally:
        c.close()
        rc.close()


def test_wired_memcache_port_zero_turns_it_off(wired):
    proc = start_cachesrv("--memcache-port", "0")
    try:
        time.sleep(0.5)
        assert MC_LINE.search(proc.log()) is None
    finally:
        proc.stop()
