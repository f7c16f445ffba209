"""The trio side of the memcached port: listeners, connections on the pump, the flush_all timer.

Theory of operation
-------------------
* ``open_memcache_listeners(server, port)`` binds ``memcache-port`` on the ``bind`` addresses
  with ``net.open_listeners`` (same rules and error texts as the RESP port) and records the port
  for ``stats settings``. ``memcache_accept_loop`` accepts on one of them and starts
  ``serve_memcache`` for each client in the clients' nursery; the first loop to run logs
  "memcached port=NNNN." and runs the timer that carries out a delayed ``flush_all``.
* A memcached connection (``McConnection``) is served by the same pump as the RESP clients
  (``net.Pump``: one trio task, one epoll set, one trip through trio's scheduler for any number
  of ready sockets). When its socket is readable the pump calls ``McConnection.pump_read``, which
  reads once, feeds the bytes to the sans-IO ``MemcacheReader``, runs every complete request
  synchronously (``commands.memcache.run_batch``) and leaves the replies for ``pump_write``, one
  non-blocking ``send`` at the end of the pump's round (at once when they are large or the
  connection closes): pipelining with batched writes, and no await on the common path.
* Each connection also has a task (``serve_memcache``). It sleeps while the pump serves the
  connection and wakes only when a step must be awaited, which the pump hands over
  (``Pump.hand_over``): the rest of a reply the socket did not take at once, a pipeline whose
  output passed ``FLUSH_AT`` bytes (sent as it goes, so a pipeline of large values never holds
  more than about one batch in memory), or the end of the connection (EOF, ``quit``, a closing
  framing error, a broken socket). The task does the waiting, finishes the read with the same
  ``run_batch``, and gives the connection back to the pump (``Pump.lend``). Without epoll (not
  Linux) the task serves its connection alone, reading with ``wait_readable``.
* memcached's answers depend on which responses it has not sent yet (a ``get`` with a too long
  key drops them; a pending ``mg`` keeps ``incr`` from working in place). The command layer
  models that with windows (``commands.memcache.run_batch``); the connection tells it where a
  read ends (``session.end_batch()``) and where output was sent early (``session.mark = 0``).
* ``quit`` and the reader's closing errors (a too long line) end the connection after the
  replies already produced are sent, as memcached does.
* An unexpected exception in ``pump_read`` is handed over too: the task raises it, so it is
  logged and costs that connection only, never the pump every client shares.
* Per read, the connection counts ``bytes_read`` / ``bytes_written`` and the time of the last
  command (``stats``, ``stats conns``) and gives the reader the current ``memcache-max-item-size``
  (``server.mc.max_item_size``, kept by a CONFIG SET hook: a new limit applies at once).
* Shutdown: the clients' nursery cancels the tasks; closing a connection takes it out of the
  pump first (``Pump.remove``), so the pump never serves a closed descriptor.
"""

from __future__ import annotations

import math
import socket as _socket

import trio

from protocols.memcache import MemcacheReader

from . import net
from .commands.memcache import McSession, flush_due, follow_config, run_batch

RECV_SIZE = 65536
FLUSH_AT = 1 << 20      # as net.FLUSH_AT (not read from net at import: net may import this module)
TOO_MANY = b"ERROR Too many open connections\r\n"

# What the pump hands over to a connection's task (McConnection.settle)
RUN = "run"        # fresh bytes were fed: run the batch (the task's own loop, without a pump)
FLUSH = "flush"    # run_batch stopped at FLUSH_AT in the middle of a read: send, run on
SEND = "send"      # the read is done; the socket did not take all of its output
CLOSE = "close"    # EOF, quit / a closing error (output sent), or a broken socket
ERROR = "error"    # an unexpected exception in pump_read: the task raises it (logged, closed)


def open_memcache_listeners(server, port: int) -> list[_socket.socket]:
    """Listening sockets for the memcached port on every ``bind`` address (port 0: the OS
    picks one, and every address uses it)."""
    socks = net.open_listeners(server, port)
    mc = server.mc
    mc.port = socks[0].getsockname()[1]
    mc.listeners = [(s.fileno(), "tcp:%s:%d" % s.getsockname()[:2]) for s in socks]
    return socks


async def memcache_accept_loop(server, lsock: _socket.socket, clients: trio.Nursery,
                               pump: "net.Pump | None" = None) -> None:
    """Accept memcached clients on ``lsock`` until cancelled; each is served in ``clients``,
    on ``pump`` when there is one."""
    mc = server.mc
    async with trio.open_nursery() as nursery:
        if not mc.announced:
            mc.announced = True
            server.log.notice("memcached port=%d.", mc.port)
            nursery.start_soon(flush_timer, server)
        while True:
            try:
                sock, _ = lsock.accept()
            except BlockingIOError:
                await trio.lowlevel.wait_readable(lsock)
                continue
            except OSError as e:
                if e.errno in net.ACCEPT_RETRY_ERRNOS:
                    server.log.warning("Accepting memcached connection: %s", e.strerror)
                    await trio.sleep(0.1)
                    continue
                raise
            if len(mc.conns) + len(server.clients) >= server.cfg["maxclients"]:
                mc.rejected_connections += 1
                try:
                    sock.send(TOO_MANY)          # non-blocking best effort, as memcached
                except OSError:
                    pass
                sock.close()
                continue
            clients.start_soon(serve_memcache, server, sock, pump)


async def flush_timer(server) -> None:
    """Carry out a delayed flush_all at its time even if no memcached command comes by."""
    mc = server.mc
    while True:
        wake = trio.Event()
        mc.wake_flush_timer = wake.set
        deadline = math.inf
        if mc.flush_at_ms:
            wait_ms = max(0, mc.flush_at_ms - server.clock.now_ms())
            deadline = trio.current_time() + wait_ms / 1000
        with trio.move_on_at(deadline):
            await wake.wait()
        flush_due(server)


async def serve_memcache(server, sock: _socket.socket, pump: "net.Pump | None" = None) -> None:
    """Serve one memcached client until it closes, quits or breaks the framing."""
    try:
        sock.setblocking(False)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        peer, local = sock.getpeername(), sock.getsockname()
    except OSError:
        sock.close()
        return
    fd = sock.fileno()
    session = McSession(server, net._addr(peer), net._addr(local), fd)
    session.created = session.last_cmd = server.unixtime
    mc = server.mc
    mc.conns[fd] = session
    mc.total_connections += 1
    conn = McConnection(server, session, sock, pump)
    try:
        await conn.serve()
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except Exception:
        server.log.exception("memcached client %s: unexpected error", session.addr)
    finally:
        mc.conns.pop(fd, None)
        conn.close()


class McConnection:
    """One memcached client: its reader and output buffer, the synchronous step the pump runs
    (``pump_read``), and the task side that awaits what the pump hands over (``serve``)."""

    __slots__ = ("server", "session", "sock", "fd", "pump", "mc", "reader", "out",
                 "handoff", "wake", "error")

    def __init__(self, server, session: McSession, sock: _socket.socket,
                 pump: "net.Pump | None") -> None:
        self.server = server
        self.session = session
        self.sock = sock
        self.fd = sock.fileno()
        self.pump = pump
        self.mc = server.mc
        follow_config(server)
        self.reader = MemcacheReader(self.mc.max_item_size)
        self.out = bytearray()
        self.handoff: str | None = None     # what the pump left for the task (Pump.hand_over)
        self.wake = trio.Event()
        self.error: BaseException | None = None

    def close(self) -> None:
        if self.pump is not None:
            self.pump.remove(self)
        trio.lowlevel.notify_closing(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass

    def feed(self, data: bytes) -> None:
        """Bytes read from the client: counted, handed to the reader; a new read starts."""
        session = self.session
        mc = self.mc
        mc.bytes_read += len(data)
        session.last_cmd = self.server.unixtime
        reader = self.reader
        reader.max_item_size = mc.max_item_size      # CONFIG SET applies at once
        reader.feed(data)
        session.mark = 0

    # -- the synchronous part (the pump) ----------------------------------------------------------
    def pump_read(self) -> None:
        """The socket is readable: read once, run what is complete, send. Never awaits; hands
        the connection to its task for anything that must wait."""
        try:
            sock = self.sock
            try:
                data = sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError:             # reset by the peer: as an EOF
                data = b""
            if not data:
                self.pump.hand_over(self, CLOSE)
                return
            self.feed(data)
            session, out = self.session, self.out
            if run_batch(session, self.reader, out, FLUSH_AT):
                self.pump.hand_over(self, FLUSH)      # a pipeline of large replies
                return
            session.end_batch()
            if out:
                if not session.close and len(out) < net.DEFER_WRITE_MAX:
                    self.pump.writes.append(self)       # sent at the end of the pump's round
                    return
                if not self.pump_write():
                    return
            if session.close:
                self.pump.hand_over(self, CLOSE)
        except Exception as e:          # a bug must cost this connection, not the pump
            self.error = e
            self.pump.hand_over(self, ERROR)

    def pump_write(self) -> bool:
        """Send what ``out`` holds; False when the connection was handed to its task (a partial
        send, a peer that is gone)."""
        out = self.out
        try:
            sent = self.sock.send(out)
        except BlockingIOError:
            sent = 0
        except OSError:                 # the peer is gone: nothing more can be sent
            out.clear()
            self.pump.hand_over(self, CLOSE)
            return False
        except Exception as e:          # a bug must cost this connection, not the pump
            self.error = e
            self.pump.hand_over(self, ERROR)
            return False
        self.mc.bytes_written += sent
        if sent == len(out):
            out.clear()
            return True
        del out[:sent]
        self.pump.hand_over(self, SEND)
        return False

    # -- the awaiting part (the connection's task) ------------------------------------------------
    async def serve(self) -> None:
        pump = self.pump
        if pump is None:
            await self.serve_alone()
            return
        while True:
            if not await self.settle(await pump.lend(self)):
                return

    async def serve_alone(self) -> None:
        """Without a pump: this task reads by itself."""
        sock = self.sock
        while True:
            try:
                data = sock.recv(RECV_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                continue
            except (ConnectionResetError, ConnectionAbortedError):
                return
            if not data:
                return
            self.feed(data)
            if not await self.settle(RUN):
                return
            await trio.lowlevel.checkpoint()   # a client that never stops sending must not starve others

    async def settle(self, kind: str) -> bool:
        """Finish the read ``kind`` says the pump left, awaiting the sends. False: close."""
        if kind is CLOSE:
            return False
        if kind is ERROR:
            error, self.error = self.error, None
            raise error
        session, out = self.session, self.out
        if kind is not SEND:
            more = kind is FLUSH or run_batch(session, self.reader, out, FLUSH_AT)
            while more:
                await self.send_out()       # a pipeline of large replies: send as we go
                session.mark = 0
                more = run_batch(session, self.reader, out, FLUSH_AT)
            session.end_batch()
        if out:
            await self.send_out()
        return not session.close

    async def send_out(self) -> None:
        """Send all of ``out`` (waiting for the socket as needed), then empty it."""
        out = self.out
        await _send(self.mc, self.sock, out)
        out.clear()


async def _send(mc, sock: _socket.socket, data: bytearray) -> None:
    # Straight to the non-blocking socket: usually the kernel takes the whole batch at once.
    total = len(data)
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent < total:
        view = memoryview(data)
        try:
            while sent < total:
                await trio.lowlevel.wait_writable(sock)
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    pass
        finally:
            view.release()
    mc.bytes_written += total


__all__ = ["open_memcache_listeners", "memcache_accept_loop", "serve_memcache", "flush_timer",
           "McConnection"]
