"""The trio side: listeners, one task per connection, the cron task, and orderly shutdown.

Theory of operation
-------------------
* ``run(server)`` opens a nursery tree: background tasks (cron) at the root, then the clients'
  nursery, then the listeners. It reports the bound addresses through ``task_status``. On SIGTERM,
  SIGINT or SHUTDOWN it closes the listeners first, lets clients finish the batch they are in,
  and then stops the background tasks (the hypercorn pattern).
* A connection task reads with one ``recv`` on a bare ``trio.socket`` (PERF-NOTES: the stream
  layer costs more than the rest of a GET), feeds the sans-IO ``RespReader``, executes every
  complete command in order and sends all their replies with one ``send``. That is pipelining,
  and it keeps the per-command cost to the parser, the handler and the encoder.
* Nothing awaits between two commands of a batch unless the output passes ``FLUSH_AT`` bytes
  (then it is sent first, so a pipeline of huge replies never holds more than one batch of output)
  or a command must wait (a ``Block``, CLIENT PAUSE).
* Pushed frames (MONITOR) go through the session's bounded outbox and a writer task that shares the
  socket under a lock with the reply path; only clients with an outbox pay for the lock.
"""

from __future__ import annotations

import errno
import math
import socket as _socket
import time
from functools import partial

import trio

from protocols.resp import NEED_DATA, ProtocolError, QueryBufferLimit, RespReader, encode_into

from .commands.dispatch import PAUSED, Block, Close, execute
from .commands.errors import UNBLOCKED, CommandError
from .commands.info import sample_metrics
from .server import Server
from .session import Session

RECV_SIZE = 65536
FAIRNESS = 16        # reads in a row that found data waiting before the task yields once
FLUSH_AT = 1 << 20
ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_OK = "OK"


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


async def accept_loop(server: Server, lsock: _socket.socket, clients: trio.Nursery) -> None:
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
        clients.start_soon(serve_client, server, sock)


def _addr(sa) -> str:
    if isinstance(sa, tuple):
        host, port = sa[0], sa[1]
        if host.startswith("::ffff:"):
            host = host[7:]
        return f"{host}:{port}"
    return str(sa or "")


async def serve_client(server: Server, sock: _socket.socket) -> None:
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
    conn = Connection(server, session, sock)
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


class Connection:
    """One client's reader loop and, when it receives pushes, its writer task."""

    def __init__(self, server: Server, session: Session, sock: _socket.socket) -> None:
        self.server = server
        self.session = session
        self.sock = sock
        self.send_lock: trio.Lock | None = None
        self.push_event: trio.Event | None = None
        self.nursery: trio.Nursery | None = None
        self.wake_event: trio.Event | None = None

    def close(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await self.read_loop()
            nursery.cancel_scope.cancel()

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
        import collections
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

    async def read_loop(self) -> None:
        server, session, sock = self.server, self.session, self.sock
        cfg = server.cfg
        reader = RespReader(max_bulk_len=cfg["proto-max-bulk-len"], max_query_buffer=cfg["client-query-buffer-limit"])
        reader.auth_required = not session.authenticated
        limits = server.reader_limits
        recv = sock.recv
        send = sock.send
        next_command = reader.next_command
        wait_readable = trio.lowlevel.wait_readable
        # A read that finds data already waiting does not pass through trio's scheduler; after
        # FAIRNESS such reads in a row the task yields once, so a flooding client cannot starve
        # the others, while the common case pays for no extra trip through the scheduler.
        budget = FAIRNESS
        while True:
            try:
                data = recv(RECV_SIZE)
            except BlockingIOError:
                await wait_readable(sock)
                budget = FAIRNESS
                continue
            if not data:
                return
            budget -= 1
            if not budget:
                budget = FAIRNESS
                await trio.lowlevel.checkpoint()
            n = len(data)
            session.net_in += n
            server.net_input_bytes += n
            server.total_reads += 1
            session.last_interaction = server.unixtime
            if limits is not server.reader_limits:
                limits = server.reader_limits
                reader.max_bulk_len, reader.max_query_buffer = limits
            reader.feed(data)
            out = bytearray()
            ncmds = 0
            while True:
                try:
                    argv = next_command()
                except QueryBufferLimit:
                    server.client_query_buffer_limit_disconnections += 1
                    server.log.warning("Closing client that reached max query buffer length: %s", session.describe())
                    if out:
                        await self.send_all(out)
                    return
                except ProtocolError as e:
                    server.log.verbose("Protocol error (%s) from client: %s", e, session.describe())
                    out += b"-ERR " + str(e).encode() + b"\r\n"
                    server.count_error(f"ERR {e}")
                    await self.send_all(out)
                    return
                if argv is NEED_DATA:
                    break
                ncmds += 1
                reply = execute(session, argv)
                t = type(reply)
                if not session.gate:
                    # The two replies most commands give, encoded here without a call.
                    if t is bytes:
                        out += b"$%d\r\n" % len(reply)
                        out += reply
                        out += b"\r\n"
                        continue
                    if reply is _OK:
                        out += b"+OK\r\n"
                        continue
                if t is Block or reply is PAUSED or t is Close:
                    if out:
                        await self.send_all(out)
                        out = bytearray()
                    if reply is PAUSED:
                        reply = await self.wait_pause(argv)
                    elif t is Block:
                        reply = await self.wait_block(reply)
                    if type(reply) is Close:
                        encode_into(out, reply.reply, session.proto)
                        await self.send_all(out)
                        return
                if not session.gate or self.wants_reply():
                    encode_into(out, reply, session.proto)
                if session.close_requested or session.killed:
                    if out:
                        await self.send_all(out)
                    return
                if session.monitor and self.send_lock is None:
                    self.start_push_writer()
                if len(out) >= FLUSH_AT:
                    await self.send_all(out)
                    out = bytearray()
            server.total_commands += ncmds
            session.cmds += ncmds
            session.qbuf = reader.buffered()
            if reader.auth_required is session.authenticated:   # AUTH, HELLO AUTH or RESET ran
                reader.auth_required = not session.authenticated
            if out:
                if self.send_lock is None:
                    # Fast path: the kernel almost always takes a whole batch at once.
                    try:
                        sent = send(out)
                    except BlockingIOError:
                        sent = 0
                    if sent == len(out):
                        session.net_out += sent
                        server.net_output_bytes += sent
                        server.total_writes += 1
                        continue
                    del out[:sent]
                    session.net_out += sent
                    server.net_output_bytes += sent
                await self.send_all(out)

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
    async with trio.open_nursery() as root:
        root.start_soon(cron, server)
        root.start_soon(_signals, server)
        async with trio.open_nursery() as clients:
            async with trio.open_nursery() as listeners:
                for ls in lsocks:
                    listeners.start_soon(accept_loop, server, ls, clients)
                server.log.notice("Running mode=standalone, port=%d.", server.tcp_port)
                server.log.notice("Server initialized")
                server.log.notice("Ready to accept connections tcp")
                task_status.started({"port": server.tcp_port})
                await shutdown.wait()
                listeners.cancel_scope.cancel()
            for ls in lsocks:
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
