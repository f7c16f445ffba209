"""Fixtures shared by every layer of tests.

* ``server`` / ``ctx`` / ``call``: a ``Server`` with a fake clock and a client session, no sockets:
  ``call("SET", "k", "v")`` runs one command through dispatch and returns its reply value
  (a ``CommandError`` instance for an error reply).
* ``cachesrv_port``: a real cachesrv process on a free port of 127.0.0.1 (one per test session);
  ``start_cachesrv(*args)`` starts another with extra directives; both are stopped by PID.
* ``redis_port``: Debian's real redis-server 7.0 on a free port, for differential tests; skips
  with a clear message where the binary is absent (the README's test command installs it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(100):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not become ready")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Proc:
    """A server process started for a test: its port, its log, and stop()."""

    def __init__(self, proc: subprocess.Popen, port: int, log: Path, workdir: str) -> None:
        self.proc, self.port, self.log_path, self.workdir = proc, port, log, workdir
        self.memcache_port: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _start(cmd: list[str], tmpdir: str) -> tuple[subprocess.Popen, Path]:
    log = Path(tmpdir) / "server.log"
    f = open(log, "wb")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=tmpdir, env=env,
                            stdin=subprocess.DEVNULL)
    f.close()
    return proc, log


def start_cachesrv(*args: str, port: int | None = None) -> Proc:
    """Start ``python -m cachesrv --port 0 ...`` and read the port it logs."""
    tmpdir = tempfile.mkdtemp(prefix="cachesrv-test-")
    # The memcached port gets a free port of its own (0 would turn it off); ``args`` may override it.
    mc_port = free_port()
    cmd = [sys.executable, "-m", "cachesrv", "--port", str(port if port is not None else 0),
           "--memcache-port", str(mc_port),
           "--bind", "127.0.0.1", "--save", "", "--enable-debug-command", "yes", *args]
    proc, log = _start(cmd, tmpdir)
    deadline = time.monotonic() + 20
    found = None
    while time.monotonic() < deadline and found is None:
        m = re.search(r"port=(\d+)\.", log.read_text(errors="replace"))
        if m:
            found = int(m.group(1))
            break
        if proc.poll() is not None:
            raise RuntimeError("cachesrv exited:\n" + log.read_text(errors="replace"))
        time.sleep(0.05)
    if found is None:
        stop(proc)
        raise RuntimeError("cachesrv did not log its port:\n" + log.read_text(errors="replace"))
    wait_port(found, proc)
    p = Proc(proc, found, log, tmpdir)
    m = re.search(r"memcached port=(\d+)\.", log.read_text(errors="replace"))
    p.memcache_port = int(m.group(1)) if m else (mc_port if "--memcache-port" not in args else None)
    return p


def start_redis(*args: str) -> Proc:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (the README's test command installs Debian's redis-server)")
    tmpdir = tempfile.mkdtemp(prefix="redis-test-")
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--enable-debug-command", "yes", "--dir", tmpdir, *args]
    proc, log = _start(cmd, tmpdir)
    wait_port(port, proc)
    return Proc(proc, port, log, tmpdir)


@contextlib.contextmanager
def server_pair(*args: str):
    """A fresh redis-server and a fresh cachesrv, both started with ``args`` (the test is skipped
    first when redis-server is missing), as (cachesrv, redis); both are stopped at the end, also
    when one fails to start."""
    redis = start_redis(*args)
    try:
        cachesrv = start_cachesrv(*args)
    except BaseException:
        redis.stop()
        raise
    try:
        yield cachesrv, redis
    finally:
        cachesrv.stop()
        redis.stop()


@pytest.fixture(scope="session")
def cachesrv_proc():
    p = start_cachesrv()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def cachesrv_port(cachesrv_proc) -> int:
    return cachesrv_proc.port


@pytest.fixture(scope="session")
def redis_proc():
    p = start_redis()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def redis_port(redis_proc) -> int:
    return redis_proc.port


# -- in-memory command tests --------------------------------------------------------------------
@pytest.fixture
def server():
    from cachesrv.config import parse_args
    from cachesrv.log import Logger
    from cachesrv.server import Server
    from cachesrv.store.keyspace import FakeClock

    from cachesrv.commands.table import COMMANDS

    cfg = parse_args(["--enable-debug-command", "yes"])
    srv = Server(cfg, clock=FakeClock(), log=Logger("warning"))
    for spec in COMMANDS.values():      # the table's statistics are the process's: start afresh,
        spec.reset_stats()              # as a new server process would
    return srv


@pytest.fixture
def ctx(server):
    from cachesrv.session import Session

    return Session(server, addr="127.0.0.1:50000", laddr="127.0.0.1:6379")


def _b(a) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, (int, float)):
        return str(a).encode()
    return a.encode()


@pytest.fixture
def call(ctx):
    """call("SET", "k", "v") -> the reply value (CommandError instance for errors)."""
    from cachesrv.commands.dispatch import execute

    def run(*args, session=None):
        return execute(session or ctx, [_b(a) for a in args])

    return run


@pytest.fixture
def clock(server):
    """The fake clock; ``clock.advance(ms)`` moves time (and the LRU clock) forward."""
    c = server.clock
    orig = c.advance

    def advance(ms: int) -> None:
        orig(ms)
        server.ks.tick()

    c.advance = advance
    return c
