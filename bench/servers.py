"""Start/stop helpers for benchmark runners.

Everything here is protocol-agnostic except the small RESP helpers
(``resp_command`` / ``resp_ping_probe``); bench/memcache.py has its own
readiness probe.  At the bottom: running a load generator against a server
with a timeout while measuring the server's CPU time (``run_tool``), stopping
servers, and what a JSON report records about the machine (``environment``).

Rules this module enforces:

* servers listen on 127.0.0.1 only, on a free port found by binding port 0;
* a server's stdout/stderr go to a log file in a temp directory (shown on
  failure, never interleaved with the benchmark output);
* a server is stopped by *its own PID*: terminate, wait, kill on timeout;
* readiness is polled with a bounded timeout; a server that exits early is
  reported with the tail of its log.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ServerError(RuntimeError):
    """A server could not be started, or died."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def expand_cmd(template: str | Sequence[str], **values) -> list[str]:
    """Turn a command template into an argv list.

    ``template`` is either a shell-like string (split with shlex, so
    ``--save ""`` gives an empty argument) or a list; ``{port}``, ``{host}``
    and other ``{names}`` in each argument are replaced from ``values``.
    """
    argv = shlex.split(template) if isinstance(template, str) else list(template)
    return [a.format(**values) for a in argv]


def cpu_seconds(pid: int) -> float | None:
    """utime+stime of a process (all its threads, live and exited), in seconds.

    Read from /proc/PID/stat; resolution is one clock tick (1/CLK_TCK,
    usually 10 ms), so measure intervals that cost the server well over that.
    Returns None if the process is gone or /proc is unavailable.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # comm (field 2) is in parentheses and may contain spaces: split after it.
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime field 15.
    utime, stime = int(rest[11]), int(rest[12])
    return (utime + stime) / CLK_TCK


@dataclass
class Server:
    """A server process started by a runner."""

    name: str
    argv: list[str]
    port: int
    host: str = HOST
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _log_file: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid) if self.proc is not None else None

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop this server by its PID: terminate, wait, kill on timeout."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.terminate()
                    rc = self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    rc = self.proc.wait(timeout=timeout)
                except ProcessLookupError:
                    rc = self.proc.poll()
            else:
                rc = self.proc.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return rc

    def describe(self) -> str:
        return f"{self.name} pid={self.proc.pid if self.proc else '-'} {self.host}:{self.port}"


def start_server(
    name: str,
    cmd: str | Sequence[str],
    ready: Callable[[str, int], bool],
    *,
    log_dir: str | Path | None = None,
    ready_timeout: float = 15.0,
    attempts: int = 3,
    cwd: str | Path | None = REPO_ROOT,
    env: dict | None = None,
    host: str = HOST,
) -> Server:
    """Start ``cmd`` (``{port}``/``{host}`` are filled in) on a free port.

    ``ready(host, port)`` is polled until it returns True or ``ready_timeout``
    passes.  If the process exits before it is ready (typically: the port was
    taken between ``free_port`` and the bind), it is retried on a new port up
    to ``attempts`` times.  Output goes to ``<log_dir>/<name>-<port>.log``.
    """
    if log_dir is None:
        log_dir = tempfile.mkdtemp(prefix="cachesrv-bench-")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    if env is None:
        env = dict(os.environ)
        # let "python -m cachesrv" work from a checkout without installing
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    last_error = ""
    for _ in range(attempts):
        port = free_port(host)
        argv = expand_cmd(cmd, port=port, host=host, python=sys.executable)
        log_path = log_dir / f"{name}-{port}.log"
        log_file = open(log_path, "wb")
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, cwd=cwd, env=env)
        except OSError as e:
            log_file.close()
            raise ServerError(f"{name}: cannot run {argv!r}: {e}") from e
        srv = Server(name=name, argv=argv, port=port, host=host,
                     log_path=log_path, proc=proc, _log_file=log_file)
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                last_error = (f"{name} exited with {proc.returncode} before it was "
                              f"ready; command {shlex.join(argv)}; log {log_path}:\n"
                              f"{srv.log_tail()}")
                srv.stop()
                if not _port_clash(log_path):
                    raise ServerError(last_error)
                break
            if ready(host, port):
                return srv
            if time.monotonic() > deadline:
                srv.stop()
                raise ServerError(
                    f"{name} not ready after {ready_timeout:.0f}s on {host}:{port}; "
                    f"command {shlex.join(argv)}; log {log_path}:\n{srv.log_tail()}")
            time.sleep(0.05)
    raise ServerError(last_error)


def _port_clash(log_path: Path) -> bool:
    try:
        text = log_path.read_text(errors="replace").lower()
    except OSError:
        return False
    return "in use" in text or "eaddrinuse" in text


# --- RESP helpers (tiny, blocking; for readiness and setup, not for load) ---

def encode_resp(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _read_reply(f) -> object:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return RespError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed")
        return data[:-2]
    if kind in (b"*", b"~", b">"):
        n = int(body)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    if kind == b"_":
        return None
    raise ConnectionError(f"unexpected reply {line!r}")


class RespError(str):
    """An error reply (``-ERR ...``)."""


def resp_command(host: str, port: int, *args, timeout: float = 5.0):
    """Send one command, return its decoded reply (RespError for ``-`` replies)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(encode_resp(*args))
        with s.makefile("rb") as f:
            return _read_reply(f)


def resp_ping_probe(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the server answers PING with +PONG."""
    try:
        return resp_command(host, port, "PING", timeout=timeout) == "PONG"
    except (OSError, ValueError):
        return False


def tool_version(argv: Sequence[str]) -> str:
    """First line of ``argv`` output (e.g. ``redis-server --version``), or ''."""
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


# --- running a load generator against a server, and the runners' housekeeping ---

def log(msg: str) -> None:
    """Progress and warnings go to stderr; stdout carries the result table."""
    print(msg, file=sys.stderr, flush=True)


class Terminated(Exception):
    """SIGTERM arrived while a runner was working (see ``sigterm_raises``)."""


@contextmanager
def sigterm_raises():
    """Turn SIGTERM into a ``Terminated`` exception, so servers still get stopped."""
    def handler(signum, frame):
        raise Terminated()
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def crash_message(srv: Server) -> str:
    tail = srv.log_tail()
    return (f"{srv.name} exited with {srv.proc.returncode} during the test; log {srv.log_path}"
            + (f", tail:\n{tail}" if tail else " (empty)"))


@dataclass
class ToolRun:
    """One load-generator invocation against one server."""

    status: str                 # ok (the tool exited, with any code) | timeout | crashed
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float | None = None
    cpu_s: float | None = None  # the server's utime+stime during the invocation
    message: str = ""


def run_tool(argv: Sequence[str], srv: Server, timeout: float) -> ToolRun:
    """Run a load generator against ``srv``, bounded by ``timeout`` seconds.

    Measures the server's CPU time around it; notices a dead server early (status
    ``crashed``, with the tail of its log) and kills the tool on timeout."""
    cpu0 = srv.cpu_seconds()
    t0 = time.monotonic()
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                if not srv.alive() or time.monotonic() - t0 > timeout:
                    proc.kill()
                    stdout, stderr = proc.communicate()
                    wall = time.monotonic() - t0
                    if srv.alive():
                        return ToolRun("timeout", None, stdout, stderr, wall,
                                       message=f"no result within {timeout:.0f}s")
                    return ToolRun("crashed", None, stdout, stderr, wall,
                                   message=crash_message(srv))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    wall = time.monotonic() - t0
    cpu1 = srv.cpu_seconds()
    if proc.returncode != 0 and srv.alive():
        time.sleep(0.3)   # a dying server closes its sockets before it can be reaped
    if not srv.alive():
        return ToolRun("crashed", proc.returncode, stdout, stderr, wall,
                       message=crash_message(srv))
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    return ToolRun("ok", proc.returncode, stdout, stderr, wall, cpu)


def stop_servers(servers: dict[str, Server], *, quiet: bool = False) -> None:
    """Stop every server by its PID; say so when one exits with an unexpected code."""
    for s in servers.values():
        rc = s.stop()
        if rc not in (0, -signal.SIGTERM, None) and not quiet:
            log(f"note: {s.name} exited with {rc} on stop; log {s.log_path}")


def start_servers(servers: dict[str, Server], wanted: Sequence[tuple[str, str | Sequence[str]]],
                  probe: Callable, log_dir: str, ready_timeout: float) -> bool:
    """Start each (name, command) into ``servers``, in order; False (said) if one fails."""
    try:
        for name, cmd in wanted:
            servers[name] = start_server(name, cmd, probe, log_dir=log_dir,
                                         ready_timeout=ready_timeout)
    except ServerError as e:
        log(f"error: {e}")
        return False
    for srv in servers.values():
        log(f"started {srv.describe()}: {shlex.join(srv.argv)}")
    return True


class OutOfTime(Exception):
    """The run passed its --max-seconds (``RunState.incomplete`` says where)."""


class Crashed(Exception):
    """A server died during the run."""


@dataclass
class RunState:
    """How a runner's rounds ended: ``incomplete`` says why they stopped early, ``crashed``
    whether a server died (the exit code is 1 then)."""

    crashed: bool = False
    incomplete: str = ""

    def check_time(self, deadline: float, max_seconds: float, rnd: int) -> None:
        """Raise OutOfTime once the run has passed its --max-seconds (in round ``rnd``, from 0)."""
        if time.monotonic() > deadline:
            self.incomplete = f"stopped after --max-seconds={max_seconds:.0f}s in round {rnd + 1}"
            raise OutOfTime()


@contextmanager
def guarded_rounds(state: RunState, servers: dict[str, Server], log_dir: str, keep_dir: bool):
    """Run the rounds (the ``with`` body) so that whatever happens the servers are stopped by
    their PIDs and the logs are removed or kept (kept when asked, or when something went wrong):
    OutOfTime and Crashed end the rounds with partial results, SIGTERM and Ctrl-C too."""
    with sigterm_raises():
        try:
            yield
        except OutOfTime:
            log(f"warning: {state.incomplete}")
        except Crashed:
            state.incomplete = "a server crashed; results are partial"
            log(f"error: {state.incomplete}")
        except (KeyboardInterrupt, Terminated):
            state.incomplete = "interrupted; results are partial"
            log(f"warning: {state.incomplete}")
            state.crashed = True
        finally:
            stop_servers(servers, quiet=state.crashed)
            if not keep_dir:
                if state.crashed or state.incomplete:
                    log(f"server logs kept in {log_dir}")
                else:
                    shutil.rmtree(log_dir, ignore_errors=True)


def git_rev() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def environment(tools: dict[str, Sequence[str]]) -> dict:
    """What a JSON report records about the machine: python, platform, CPUs, git revision
    and the first output line of each ``tools`` command (e.g. ``redis-server --version``)."""
    env = {"python": sys.version.split()[0], "platform": platform.platform(),
           "cpus": os.cpu_count()}
    env.update({name: tool_version(argv) for name, argv in tools.items()})
    env["git"] = git_rev()
    return env
