"""The trio side of the memcached port: listeners, one task per connection, the flush_all timer.

Theory of operation
-------------------
* ``open_memcache_listeners(server, port)`` binds ``memcache-port`` on the ``bind`` addresses
  with ``net.open_listeners`` (same rules and error texts as the RESP port) and records the port
  for ``stats settings``. ``memcache_accept_loop`` accepts on one of them and starts
  ``serve_memcache`` for each client in the clients' nursery; the first loop to run logs
  "memcached port=NNNN." and runs the timer that carries out a delayed ``flush_all``.
* ``serve_memcache`` owns one non-blocking socket. Each time it is readable it reads once, feeds
  the bytes to the sans-IO ``MemcacheReader``, runs every complete request synchronously
  (``execute_memcache``) and sends all the replies with one ``send``: pipelining with batched
  writes. Output is sent early past ``FLUSH_AT`` bytes, so a pipeline of large values never holds
  more than about one batch in memory. Only the socket waits (``wait_readable`` /
  ``wait_writable``) await.
* memcached's answers depend on which responses it has not sent yet (a ``get`` with a too long
  key drops them; a pending ``mg`` keeps ``incr`` from working in place). The command layer
  models that with windows (``commands.memcache.run_batch``); this loop tells it where a read
  ends (``session.end_batch()``) and where output was sent early (``session.mark = 0``).
* ``quit`` and the reader's closing errors (a too long line) end the connection after the
  replies already produced are sent, as memcached does.
"""

from __future__ import annotations

import math
import socket as _socket

import trio

from protocols.memcache import MemcacheReader

from . import net
from .commands.memcache import McSession, flush_due, run_batch

RECV_SIZE = 65536
FLUSH_AT = 1 << 20      # as net.FLUSH_AT (not read from net at import: net may import this module)
TOO_MANY = b"ERROR Too many open connections\r\n"


def open_memcache_listeners(server, port: int) -> list[_socket.socket]:
    """Listening sockets for the memcached port on every ``bind`` address (port 0: the OS
    picks one, and every address uses it)."""
    socks = net.open_listeners(server, port)
    mc = server.mc
    mc.port = socks[0].getsockname()[1]
    mc.listeners = [(s.fileno(), "tcp:%s:%d" % s.getsockname()[:2]) for s in socks]
    return socks


async def memcache_accept_loop(server, lsock: _socket.socket, clients: trio.Nursery) -> None:
    """Accept memcached clients on ``lsock`` until cancelled; each is served in ``clients``."""
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
            clients.start_soon(serve_memcache, server, sock)


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


async def serve_memcache(server, sock: _socket.socket) -> None:
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
    try:
        await _serve(server, session, sock)
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except Exception:
        server.log.exception("memcached client %s: unexpected error", session.addr)
    finally:
        mc.conns.pop(fd, None)
        trio.lowlevel.notify_closing(sock)
        sock.close()


async def _serve(server, session: McSession, sock: _socket.socket) -> None:
    cfg = server.cfg
    mc = server.mc
    reader = MemcacheReader(cfg["memcache-max-item-size"])
    out = bytearray()
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
        mc.bytes_read += len(data)
        session.last_cmd = server.unixtime
        reader.max_item_size = cfg["memcache-max-item-size"]   # CONFIG SET applies at once
        reader.feed(data)
        session.mark = 0
        while run_batch(session, reader, out, FLUSH_AT):
            await _send(mc, sock, out)     # a pipeline of large replies: send as we go
            out.clear()
            session.mark = 0
        session.end_batch()
        if out:
            await _send(mc, sock, out)
            out.clear()
        if session.close:
            return
        await trio.lowlevel.checkpoint()   # a client that never stops sending must not starve others


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


__all__ = ["open_memcache_listeners", "memcache_accept_loop", "serve_memcache", "flush_timer"]
