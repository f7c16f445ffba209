"""The trio side: listeners, one task per connection, the cron task, and orderly shutdown.

Theory of operation
-------------------
* ``run(server)`` opens a nursery tree: background tasks (cron) at the root, then the clients'
  nursery, then the listeners. It reports the bound addresses through ``task_status``. On SIGTERM,
  SIGINT or SHUTDOWN it closes the listeners first, lets clients finish the batch they are in,
  and then stops the background tasks (the hypercorn pattern).
* The pump (``Pump``) serves every connection in the common state from one task: it waits for
  its own epoll set to become readable, then for each ready socket reads once, runs every complete
  command synchronously (``Connection.run_batch``) and sends all the replies with one ``send``.
  That is pipelining, and one trip through trio's scheduler serves any number of ready clients
  (PERF-NOTES: trio's per-wakeup machinery costs more than a GET).
* Each connection also has a task. It sleeps while the pump serves it and wakes only when a step
  must be awaited: a blocking command, CLIENT PAUSE, a reply larger than the socket takes at
  once, a close, or a MONITOR writer. It does the waiting, finishes the batch with the same
  ``run_batch``, and gives the connection back to the pump. Killing a client cancels that task.
* Output is flushed early past ``FLUSH_AT`` bytes, so a pipeline of huge replies never holds
  more than one batch of output.
* Pushed frames (MONITOR) go through the session's bounded outbox and a writer task that shares the
  socket under a lock with the reply path; such a connection stays with its own task for good.
"""

from __future__ import annotations

import collections
import errno
import math
import select
import socket as _socket
import time
from functools import partial
from typing import Any

import trio

from protocols.resp import ProtocolError, QueryBufferLimit, RespReader, encode_each, encode_into

from .commands.dispatch import PAUSED, Block, Close, execute, mark, run_uniform
from .commands.errors import UNBLOCKED, CommandError
from .commands.info import sample_metrics
from .server import Server
from .session import Session

RECV_SIZE = 65536
FLUSH_AT = 1 << 20
DEFER_WRITE_MAX = 1 << 16   # replies up to this size wait for the end of the pump's round (pump_write)
ROUNDS_PER_TURN = 4  # epoll rounds the pump serves per trip through trio's scheduler
ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_OK = "OK"
_NOTHING: list = []         # no commands left over (never appended to)
_BULK_HEADERS = [b"$%d\r\n" % n for n in range(1024)]   # bulk reply headers, looked up
_BULK_HEADERS_LEN = len(_BULK_HEADERS)


def _bind_addresses(server: Server) -> list[tuple[str, bool]]:
    """``bind`` as Redis reads it: '-' marks an address that may be missing; '*' and '::*' are
    every IPv4 / IPv6 address."""
    out = []
    for addr in server.cfg["bind"]:
        optional = addr.startswith("-")
        addr = addr.lstrip("-")
        addr = {"*": "0.0.0.0", "::*": "::"}.get(addr, addr)
        out.append((addr, optional))
    return out


def open_listeners(server: Server, port: int) -> list[_socket.socket]:
    socks = []
    for addr, optional in _bind_addresses(server):
        family = _socket.AF_INET6 if ":" in addr else _socket.AF_INET
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            if family == _socket.AF_INET6:
                sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
            sock.bind((addr, port))
            sock.listen(server.cfg["tcp-backlog"])
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            if optional and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                server.log.warning("Could not create server TCP listening socket %s:%d: %s", addr, port, e.strerror)
                continue
            for s in socks:
                s.close()
            raise OSError(e.errno, f"Could not create server TCP listening socket {addr}:{port}: {e.strerror}") from e
        if port == 0:
            port = sock.getsockname()[1]   # every address listens on the port the OS picked first
        socks.append(sock)
    if not socks:
        raise OSError("Failed listening on port %d (tcp), aborting." % port)
    return socks


async def accept_loop(server: Server, lsock: _socket.socket, clients: trio.Nursery, pump: Pump) -> None:
    while True:
        try:
            sock, _ = lsock.accept()
        except BlockingIOError:
            await trio.lowlevel.wait_readable(lsock)
            continue
        except OSError as e:
            if e.errno in ACCEPT_RETRY_ERRNOS:
                server.log.warning("Accepting client connection: %s", e.strerror)
                await trio.sleep(0.1)
                continue
            raise
        if len(server.clients) >= server.cfg["maxclients"]:
            server.rejected_connections += 1
            try:
                sock.send(b"-ERR max number of clients reached\r\n")  # non-blocking best effort
            except OSError:
                pass
            sock.close()
            continue
        clients.start_soon(serve_client, server, sock, pump)


def _addr(sa) -> str:
    if isinstance(sa, tuple):
        host, port = sa[0], sa[1]
        if host.startswith("::ffff:"):
            host = host[7:]
        return f"{host}:{port}"
    return str(sa or "")


async def serve_client(server: Server, sock: _socket.socket, pump: Pump | None = None) -> None:
    try:
        sock.setblocking(False)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        if server.cfg["tcp-keepalive"] > 0:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, 1)
            if hasattr(_socket, "TCP_KEEPIDLE"):
                ka = server.cfg["tcp-keepalive"]
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPIDLE, ka)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPINTVL, max(ka // 3, 1))
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPCNT, 3)
        peer, local = sock.getpeername(), sock.getsockname()
    except OSError:
        sock.close()
        return
    session = Session(server, addr=_addr(peer), laddr=_addr(local), fd=sock.fileno())
    server.register(session)
    conn = Connection(server, session, sock, pump)
    try:
        with trio.CancelScope() as scope:
            session.kill = scope.cancel
            await conn.run()
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except Exception:
        server.log.exception("Client %s: unexpected error", session.addr)
    finally:
        server.unregister(session)
        conn.close()


class Pump:
    """Serves every connection that is in the common state from one task.

    One epoll set holds the sockets of idle-or-simple connections. The pump waits for that epoll
    descriptor to become readable (one trip through trio for any number of ready clients), then
    for each ready socket reads once, runs every complete command synchronously and sends the
    replies, all without awaiting. A connection whose next step must wait (a blocking command, a
    pause, a partial send, a close, a MONITOR writer) is handed to its own task, which does the
    waiting and gives the connection back. This is Redis's event loop, inside one trio task.

    Replies are sent at the end of each epoll round, as Redis writes them before it sleeps: a
    connection whose reply is ready joins ``writes`` and the pump calls its ``pump_write()`` once
    every ready socket was read. The clients' wake-ups then come in bursts: on a shared machine
    each wake-up of a sleeping client costs the sender, so one burst per round is cheaper than one
    wake-up per reply (measured with bench/: about a tenth less server CPU at P16).

    The pump is protocol-blind: a connection is any object with ``fd`` (its socket's descriptor),
    ``pump_read()`` (called when that socket is readable), ``pump_write()`` (called at the end of
    the round when ``pump_read`` put it in ``writes``; both must never await nor raise), and the
    hand-over slots ``handoff`` and ``wake`` (a ``trio.Event``) that ``hand_over`` and ``lend``
    use. RESP (``Connection``) and memcached (``mcnet.McConnection``) clients share it."""

    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.conns: dict[int, Any] = {}
        self.writes: list = []      # connections whose replies go out at the end of the round

    def add(self, conn) -> None:
        fd = conn.fd
        self.conns[fd] = conn
        self.epoll.register(fd, select.EPOLLIN)

    def remove(self, conn) -> None:
        if self.conns.get(conn.fd) is conn:
            del self.conns[conn.fd]
            try:
                self.epoll.unregister(conn.fd)
            except (OSError, ValueError):   # (ValueError: the pump has stopped, epoll closed)
                pass

    def hand_over(self, conn, outcome) -> None:
        """From ``pump_read``: take ``conn`` out of the epoll set and wake its task, which finds
        ``outcome`` (what it must await) in ``conn.handoff``."""
        self.remove(conn)
        conn.handoff = outcome
        conn.wake.set()

    async def lend(self, conn):
        """From ``conn``'s task: give the connection to the pump and sleep until the pump hands
        it back; returns the outcome it was handed over with."""
        self.add(conn)
        await conn.wake.wait()
        conn.wake = trio.Event()
        outcome, conn.handoff = conn.handoff, None
        return outcome

    async def run(self) -> None:
        wait_readable = trio.lowlevel.wait_readable
        poll = self.epoll.poll
        conns = self.conns
        writes = self.writes
        try:
            while True:
                await wait_readable(self.epoll.fileno())
                # Clients that became ready while the others were served are served in the same
                # turn, a few rounds at most before the other tasks get theirs.
                for _ in range(ROUNDS_PER_TURN):
                    events = poll(0, 512)
                    if not events:
                        break
                    for fd, _ in events:
                        conn = conns.get(fd)
                        if conn is not None:
                            conn.pump_read()
                    if writes:
                        for conn in writes:
                            if conns.get(conn.fd) is conn:     # (not handed over meanwhile)
                                conn.pump_write()
                        writes.clear()
        finally:
            self.epoll.close()


class Connection:
    """One client: its reader, the batch runner, and the task that does the waiting.

    ``run_batch`` is the one place commands run: it executes what the reader holds and encodes the
    replies into ``out``, and returns a non-None outcome when something must be awaited. The pump
    calls it for ready sockets; the connection's own task calls it after handling an outcome."""

    def __init__(self, server: Server, session: Session, sock: _socket.socket, pump: Pump | None) -> None:
        self.server = server
        self.session = session
        self.sock = sock
        self.fd = sock.fileno()
        self.pump = pump
        cfg = server.cfg
        self.reader = RespReader(max_bulk_len=cfg["proto-max-bulk-len"],
                                 max_query_buffer=cfg["client-query-buffer-limit"])
        self.reader.auth_required = not session.authenticated
        self.limits = server.reader_limits
        self.out = bytearray()
        self.handoff: tuple | None = None      # what the pump left for the task to await
        self.pending: list = _NOTHING          # commands parsed but not run yet (see run_batch)
        self.wake = trio.Event()
        self.send_lock: trio.Lock | None = None
        self.push_event: trio.Event | None = None
        self.nursery: trio.Nursery | None = None

    def close(self) -> None:
        if self.pump is not None:
            self.pump.remove(self)
        trio.lowlevel.notify_closing(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await self.serve()
            nursery.cancel_scope.cancel()

    async def serve(self) -> None:
        """Pump mode while the connection is simple; this task awaits only what the pump hands over.
        With a push writer (MONITOR) the task reads by itself from then on."""
        while self.pump is not None and self.send_lock is None:
            self.pump.add(self)
            await self.wake.wait()
            self.wake = trio.Event()
            outcome, self.handoff = self.handoff, None
            if not await self.settle(outcome):
                return
        while True:
            data = await self.recv_async()
            if not data:
                return
            self.feed(data)
            if not await self.settle(self.run_batch()):
                return
            await trio.lowlevel.checkpoint()   # a client that never stops sending must not starve others

    # -- the synchronous part ---------------------------------------------------------------------
    def pump_read(self) -> None:
        """The socket is readable: read once, run what is complete, send. Never awaits."""
        session = self.session
        if session.killed:
            self._hand_over(("close",))
            return
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._hand_over(("close",))
            return
        try:
            self.feed(data)
            outcome = self.run_batch()
        except Exception:       # a bug must cost this client its connection, not the pump
            self.server.log.exception("Client %s: unexpected error", session.addr)
            self._hand_over(("close",))
            return
        if outcome is None:
            if self.out:
                if len(self.out) < DEFER_WRITE_MAX:
                    self.pump.writes.append(self)
                else:
                    self.pump_write()
            return
        self._hand_over(outcome)

    def pump_write(self) -> None:
        """Send what ``out`` holds (the pump, at the end of its round); a partial send hands the
        rest to the task. A client killed meanwhile gets nothing more, as in Redis."""
        session, out = self.session, self.out
        if session.killed:
            self._hand_over(("close",))
            return
        try:
            sent = self.sock.send(out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._hand_over(("close",))
            return
        server = self.server
        session.net_out += sent
        server.net_output_bytes += sent
        server.total_writes += 1
        if sent == len(out):
            out.clear()
            return
        del out[:sent]
        self._hand_over(("flush",))

    def _hand_over(self, outcome: tuple) -> None:
        self.pump.hand_over(self, outcome)

    def feed(self, data: bytes) -> None:
        server, session = self.server, self.session
        n = len(data)
        session.net_in += n
        server.net_input_bytes += n
        server.total_reads += 1
        session.last_interaction = server.unixtime
        if self.limits is not server.reader_limits:
            self.limits = server.reader_limits
            self.reader.max_bulk_len, self.reader.max_query_buffer = self.limits
        self.reader.feed(data)

    def run_batch(self) -> tuple | None:
        """Run every complete command the reader holds, replies into ``self.out``. Returns None
        when the reader needs more data, or an outcome for ``settle`` to await. The reader gives
        commands in batches (a whole pipelined read at once); what an outcome leaves of a batch
        waits in ``self.pending`` for the next call."""
        server, session, out = self.server, self.session, self.out
        reader = self.reader
        batch, self.pending = self.pending, _NOTHING
        ncmds = 0
        outcome = None
        while outcome is None:
            if not batch:
                # What follows a command that changed whether the client is authenticated is
                # parsed under the limits that apply now (the fast reply paths skip the check).
                if reader.auth_required is session.authenticated:
                    self._follow_auth()
                try:
                    batch = reader.next_batch()
                except QueryBufferLimit:
                    server.client_query_buffer_limit_disconnections += 1
                    server.log.warning("Closing client that reached max query buffer length: %s",
                                       session.describe())
                    outcome = ("close",)
                    break
                except ProtocolError as e:
                    server.log.verbose("Protocol error (%s) from client: %s", e, session.describe())
                    out += e.reply
                    server.count_error(f"ERR {e}")
                    outcome = ("close",)
                    break
                if not batch:
                    break
            if len(batch) > 1:
                # A batch of calls of one plain command runs as a whole (dispatch.run_uniform).
                replies = run_uniform(session, batch)
                if replies is not None:
                    encode_each(out, replies, session.proto)
                    ncmds += len(batch)
                    batch = None
                    continue
            mark()
            done = 0
            for argv in batch:
                done += 1
                reply = execute(session, argv, None, True)
                t = type(reply)
                if not session.gate:
                    # The replies most commands give, encoded here without a call.
                    if t is bytes:
                        n = len(reply)
                        out += _BULK_HEADERS[n] if n < _BULK_HEADERS_LEN else b"$%d\r\n" % n
                        out += reply
                        out += b"\r\n"
                        continue
                    if reply is _OK:
                        out += b"+OK\r\n"
                        continue
                    if reply is None:
                        out += b"$-1\r\n" if session.proto == 2 else b"_\r\n"
                        continue
                    if t is int:
                        out += b":%d\r\n" % reply
                        continue
                if t is Block:
                    outcome = ("block", reply)
                elif reply is PAUSED:
                    outcome = ("paused", argv)
                elif t is Close:
                    encode_into(out, reply.reply, session.proto)
                    outcome = ("close",)
                else:
                    self.encode_reply(reply)
                    if session.close_requested or session.killed:
                        outcome = ("close",)
                    elif session.monitor and self.send_lock is None:
                        outcome = ("monitor",)
                    elif len(out) >= FLUSH_AT:
                        outcome = ("flush",)
                    elif self._follow_auth():
                        # The rest of the batch was parsed under the old limits: parse it again.
                        if done == len(batch):
                            continue
                        reader.rewind(done)
                    else:
                        continue
                break
            ncmds += done
            if outcome is not None and done < len(batch):
                self.pending = batch[done:]
            batch = None
        server.total_commands += ncmds
        session.cmds += ncmds
        session.qbuf = reader.buffered()
        self._follow_auth()             # (the next read is fed under the limits that apply)
        return outcome

    def _follow_auth(self) -> bool:
        """AUTH, HELLO AUTH or RESET changed whether the client is authenticated: give the reader
        the limits that now apply (an unauthenticated client gets Redis's stricter ones). True
        when they changed."""
        reader, session = self.reader, self.session
        if reader.auth_required is not session.authenticated:
            return False
        reader.auth_required = not session.authenticated
        return True

    def encode_reply(self, reply) -> None:
        if not self.session.gate or self.wants_reply():
            encode_into(self.out, reply, self.session.proto)

    # -- the awaiting part ------------------------------------------------------------------------
    async def settle(self, outcome: tuple | None) -> bool:
        """Await what ``outcome`` asks for, keep running the batch, send. False: close."""
        while True:
            if outcome is not None:
                kind = outcome[0]
                if kind == "close":
                    await self.flush()
                    return False
                if kind == "block":
                    await self.flush()
                    self.encode_reply(await self.wait_block(outcome[1]))
                elif kind == "paused":
                    await self.flush()
                    self.encode_reply(await self.wait_pause(outcome[1]))
                elif kind == "monitor":
                    self.start_push_writer()
                elif kind == "flush":
                    await self.flush()
                if self.session.close_requested or self.session.killed:
                    await self.flush()
                    return False
            outcome = self.run_batch()
            if outcome is None:
                await self.flush()
                return True

    async def flush(self) -> None:
        if self.out:
            out, self.out = self.out, bytearray()
            await self.send_all(out)

    async def recv_async(self) -> bytes:
        while True:
            try:
                return self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.sock)

    async def send_all(self, data: bytes | bytearray) -> None:
        if self.send_lock is not None:
            async with self.send_lock:
                await self._send(data)
        else:
            await self._send(data)

    async def _send(self, data: bytes | bytearray) -> None:
        # Straight to the non-blocking socket: almost always the kernel takes the whole batch at
        # once and no trio machinery runs; only a full socket buffer makes us wait.
        total = len(data)
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < total:
            view = memoryview(data)
            while sent < total:
                await trio.lowlevel.wait_writable(self.sock)
                try:
                    sent += self.sock.send(view[sent:])
                except BlockingIOError:
                    pass
        self.session.net_out += total
        self.server.net_output_bytes += total
        self.server.total_writes += 1

    def start_push_writer(self) -> None:
        """Called when the client starts receiving pushed frames (MONITOR)."""
        if self.send_lock is not None:
            return
        self.send_lock = trio.Lock()
        self.session.outbox = collections.deque()
        self.push_event = trio.Event()
        self.session.push_ready = self._push_ready
        self.nursery.start_soon(self.push_writer)

    def _push_ready(self) -> None:
        if self.push_event is not None:
            self.push_event.set()

    async def push_writer(self) -> None:
        session = self.session
        while True:
            await self.push_event.wait()
            self.push_event = trio.Event()
            while session.outbox:
                frames = bytearray()
                while session.outbox and len(frames) < FLUSH_AT:
                    f = session.outbox.popleft()
                    frames += f
                    session.outbox_bytes -= len(f)
                await self.send_all(frames)

    def wants_reply(self) -> bool:
        """CLIENT REPLY OFF|SKIP: whether the reply to the command just run is sent."""
        s = self.session
        if s.reply_mode == "off":
            return False
        if s.reply_mode == "skip":
            s.skip_replies -= 1          # CLIENT REPLY SKIP sets 2: itself and the next command
            if s.skip_replies <= 0:
                s.reply_mode = "on"
                s.update_gate()
            return False
        return True

    async def wait_pause(self, argv: list[bytes]):
        """CLIENT PAUSE holds this client's command until the pause ends, then runs it."""
        server = self.server
        self.session.postponed = True        # CLIENT LIST flags=b, INFO blocked_clients
        try:
            while True:
                event = trio.Event()
                server.pause_waiters.append(event.set)
                with trio.move_on_at(trio.current_time() + max(0.0, server.pause_end - time.monotonic()) + 0.001):
                    await event.wait()
                reply = execute(self.session, argv)
                if reply is not PAUSED:
                    break
        finally:
            self.session.postponed = False
        if type(reply) is Block:
            return await self.wait_block(reply)
        return reply

    async def wait_block(self, block: Block):
        """Wait for a blocking command: its deadline, a wake-up (retry), or CLIENT UNBLOCK."""
        session = self.session
        session.blocked = block
        session.unblock_reason = None
        try:
            while True:
                event = trio.Event()
                session.wakeup = event.set
                if block.deadline_ms is None:
                    deadline = math.inf
                else:
                    deadline = trio.current_time() + max(0, block.deadline_ms - self.server.clock.now_ms()) / 1000
                with trio.move_on_at(deadline):
                    await event.wait()
                reason = session.unblock_reason
                if reason == "error":
                    err = CommandError(UNBLOCKED)
                    self.server.count_error(err)
                    if block.spec is not None:
                        block.spec.failed_calls += 1
                    return err
                if reason == "timeout" or not event.is_set():
                    return block.on_timeout()
                if block.retry is not None:
                    reply = block.retry()
                    if reply is not None:
                        return reply
        finally:
            session.blocked = None
            session.wakeup = None
            session.unblock_reason = None


async def cron(server: Server) -> None:
    """serverCron at ``hz``: clocks, active expiry, idle clients, pause expiry."""
    while True:
        hz = max(1, min(500, server.cfg["hz"]))
        await trio.sleep(1 / hz)
        server.ks.tick()
        server.unixtime = int(time.time())
        sample_metrics(server)
        if server.active_expire_enabled and not (server.pause_end and time.monotonic() < server.pause_end):
            start = time.perf_counter()
            server.ks.active_expire_cycle(budget_ms=25_000 / hz / 100)  # 25% of a cron period
            ms = int((time.perf_counter() - start) * 1000)
            lat = server.cfg["latency-monitor-threshold"]
            if lat > 0 and ms >= lat:
                server.latency_add("expire-cycle", ms)
        if server.pause_end and time.monotonic() >= server.pause_end:
            server.unpause()
        timeout = server.cfg["timeout"]
        if timeout > 0:
            now = int(time.time())
            for s in list(server.clients.values()):
                if (s.kind == "normal" and s.blocked is None and not s.subscriptions and not s.monitor
                        and now - s.last_interaction > timeout):
                    server.log.verbose("Closing idle client")
                    s.request_kill()


async def run(server: Server, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve until SIGTERM/SIGINT or SHUTDOWN. Reports ``{"port": bound_port}`` when listening."""
    shutdown = trio.Event()
    server.on_shutdown_request = shutdown.set
    lsocks = open_listeners(server, server.cfg["port"])
    server.tcp_port = lsocks[0].getsockname()[1]
    server.cfg.record("port", server.tcp_port)     # CONFIG GET port: the port in use, as Redis answers
    from . import mcnet     # the memcached port (memcache-port; 0 turns it off)
    mc_port = server.cfg["memcache-port"]
    mc_socks = mcnet.open_memcache_listeners(server, mc_port) if mc_port else []
    async with trio.open_nursery() as root:
        root.start_soon(cron, server)
        # The pump needs epoll (Linux); elsewhere every connection is served by its own task.
        pump = Pump() if hasattr(select, "epoll") else None
        if pump is not None:
            root.start_soon(pump.run)
        root.start_soon(_signals, server)
        async with trio.open_nursery() as clients:
            async with trio.open_nursery() as listeners:
                for ls in lsocks:
                    listeners.start_soon(accept_loop, server, ls, clients, pump)
                for ls in mc_socks:
                    listeners.start_soon(mcnet.memcache_accept_loop, server, ls, clients, pump)
                server.log.notice("Running mode=standalone, port=%d.", server.tcp_port)
                server.log.notice("Server initialized")
                server.log.notice("Ready to accept connections tcp")
                task_status.started({"port": server.tcp_port})
                await shutdown.wait()
                listeners.cancel_scope.cancel()
            for ls in lsocks + mc_socks:
                trio.lowlevel.notify_closing(ls)
                ls.close()
            clients.cancel_scope.deadline = trio.current_time() + 0.5
            for s in list(server.clients.values()):
                s.request_kill()
        root.cancel_scope.cancel()
    server.log.warning("%s is now ready to exit, bye bye...", "cachesrv")


async def _signals(server: Server) -> None:
    import signal
    try:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
                server.log.warning("Received %s scheduling shutdown...", name)
                server.request_shutdown(signal=name)
    except RuntimeError:   # not in the main thread (embedded in tests): no signal handling
        return


def main_run(server: Server) -> None:
    trio.run(partial(run, server))
