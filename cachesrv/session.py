"""Per-client state: the database a client has selected, its protocol, name, MULTI queue, WATCHes,
blocking state and the counters CLIENT LIST shows.

A ``Session`` is what handlers receive as ``ctx``. It is plain data plus small sync helpers; the
connection task in ``net.py`` owns the socket and is the only one that awaits on its behalf.
``gate`` is True whenever the client is in a state that dispatch must look at before running a
command (not authenticated, inside MULTI, subscribed, paused...): the common case checks one bool.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .server import Server

# What one connection costs before it holds any data, measured with tracemalloc on CPython 3.11:
# the Session, its RespReader and socket about 3.5 KiB, the connection's trio task with its cancel
# scope and nursery about 3.8 KiB. CLIENT LIST's tot-mem and INFO's mem_clients_* add each
# client's buffers to this.
CLIENT_BASE_MEM = 7 * 1024


class Session:
    def __init__(self, server: "Server", addr: str = "", laddr: str = "", fd: int = -1,
                 kind: str = "normal") -> None:
        self.server = server
        self.ks = server.ks
        self.id = server.next_client_id()
        self.db = server.ks.dbs[0]
        self.proto = 2
        self.addr = addr                  # "ip:port" of the peer
        self.laddr = laddr
        self.fd = fd
        self.kind = kind                  # normal, replica, master (pubsub: see client_type())
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.user = "default"
        self.authenticated = not server.auth_required()
        self.multi: list | None = None     # queued commands while in MULTI
        self.multi_error = False           # a command was refused while queueing -> EXECABORT
        self.in_exec = False
        self.watching: set[tuple[int, bytes]] = set()
        self.watch_dirty = False
        self.reply_mode = "on"             # CLIENT REPLY on|off|skip
        self.skip_replies = 0
        self.no_evict = False
        self.monitor = False
        self.subscriptions = 0             # channels + patterns + shard channels
        # pub/sub keeps the names here (CLIENT LIST sub=, psub=, ssub=); ``subscriptions`` is their total
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()
        self.blocked: Any = None           # the Block a client waits on (CLIENT LIST flag b)
        self.unblock_reason: str | None = None   # "timeout" / "error": set by CLIENT UNBLOCK
        self.postponed = False             # held by CLIENT PAUSE (Redis counts it as blocked)
        self.wakeup: Callable[[], None] | None = None
        self._close_requested = False      # QUIT / CLIENT KILL: the connection ends after this batch
        self.killed = False
        self.kill: Callable[[], None] | None = None   # set by the connection: cancels its task
        now = server.now_s()
        self.created = now
        self.last_interaction = now
        self.last_cmd = "NULL"
        self.net_in = 0
        self.net_out = 0
        self.cmds = 0
        self.qbuf = 0
        self.outbox: collections.deque | None = None  # pushed frames (MONITOR) for the writer task
        self.outbox_bytes = 0
        self.push_ready: Callable[[], None] | None = None
        self.gate = not self.authenticated

    def update_gate(self) -> None:
        """Recompute whether dispatch must look at this client's state before each command."""
        self.gate = (not self.authenticated or self.multi is not None or self.subscriptions > 0
                     or self.reply_mode != "on" or self.monitor or self._close_requested or self.killed)

    @property
    def close_requested(self) -> bool:
        """QUIT / CLIENT KILL of oneself: the connection closes after this reply. Setting it opens
        the gate, so the connection looks at the client after the command instead of taking the
        fast path."""
        return self._close_requested

    @close_requested.setter
    def close_requested(self, value: bool) -> None:
        self._close_requested = value
        self.update_gate()

    def select(self, index: int) -> None:
        self.db = self.ks.dbs[index]

    def push(self, frame: bytes) -> bool:
        """Queue an out-of-band frame (MONITOR lines, pub/sub messages) for this client's writer.
        Never waits: a client whose pending frames pass its output buffer limit is disconnected."""
        if self.outbox is None or self.killed:
            return False
        self.outbox.append(frame)
        self.outbox_bytes += len(frame)
        if self.outbox_bytes > self.server.push_limit(self):
            self.server.log.warning("Client %s scheduled to be closed ASAP for overcoming of output buffer limits.",
                                    self.describe())
            self.request_kill()
            return False
        if self.push_ready is not None:
            self.push_ready()
        return True

    def request_kill(self) -> None:
        self.killed = True
        self.gate = True
        if self.kill is not None:
            self.kill()

    # -- CLIENT LIST / CLIENT INFO ----------------------------------------------------------------
    def client_type(self) -> str:
        """Redis's getClientType: MONITOR clients count as normal, a subscriber as pubsub."""
        if self.kind == "master":
            return "master"
        if self.kind == "replica" and not self.monitor:
            return "replica"
        if self.subscriptions:
            return "pubsub"
        return "normal"

    def flags_text(self) -> str:
        """The ``flags=`` letters in Redis 7.0's order (catClientInfoString)."""
        f = ""
        if self.monitor:
            f += "O"
        elif self.kind == "replica":
            f += "S"
        if self.kind == "master":
            f += "M"
        if self.subscriptions:
            f += "P"
        if self.multi is not None:
            f += "x"
        if self.blocked is not None or self.postponed:
            # CLIENT UNBLOCK has fired but the connection has not yet sent the reply: Redis's
            # CLIENT_UNBLOCKED ('u') replaces CLIENT_BLOCKED ('b') for that moment.
            f += "u" if self.unblock_reason is not None else "b"
        if self.watch_dirty:
            f += "d"
        if self.close_requested:
            f += "c"
        if self.killed:
            f += "A"
        if self.no_evict:
            f += "e"
        return f or "N"

    def subscription_counts(self) -> tuple[int, int, int]:
        """(channels, patterns, shard channels) for ``sub=``/``psub=``/``ssub=``."""
        counts = (len(self.channels), len(self.patterns), len(self.shard_channels))
        if not any(counts) and self.subscriptions:
            return self.subscriptions, 0, 0
        return counts

    def multi_mem(self) -> int:
        """Bytes held by queued MULTI commands: their arguments plus a pointer each, as Redis's
        ``mstate.argv_len_sums``. A queued entry is an argv list or a (spec, argv) pair."""
        if not self.multi:
            return 0
        total = 0
        for entry in self.multi:
            argv = entry[-1] if isinstance(entry, tuple) else entry
            total += sum(len(a) for a in argv) + 8 * len(argv)
        return total

    def memory(self, argv_mem: int = 0) -> int:
        """Estimated bytes this client costs (``tot-mem``): a fixed base for the session, its
        connection and socket objects, plus query buffer, current arguments, MULTI queue and
        pending pushed frames."""
        return CLIENT_BASE_MEM + self.qbuf + argv_mem + self.multi_mem() + self.outbox_bytes

    def describe(self, argv_mem: int = 0) -> str:
        """One CLIENT LIST / CLIENT INFO line (without the trailing newline): Redis 7.0's fields in
        its order. ``argv_mem`` is the size of the command being run, for the calling client.

        cachesrv builds each batch's replies in a fresh buffer and frees it after the send, so
        between commands there is no reply buffer (rbs, rbp, obl are 0), and the reader keeps no
        spare query-buffer capacity (qbuf-free is 0). Pushed frames waiting for the writer are the
        reply list (oll, omem)."""
        now = self.server.now_s()
        multi = len(self.multi) if self.multi is not None else -1
        sub, psub, ssub = self.subscription_counts()
        omem = self.outbox_bytes
        return (f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
                f"name={self.name.decode('latin-1')} age={now - self.created} "
                f"idle={now - self.last_interaction} flags={self.flags_text()} db={self.db.id} "
                f"sub={sub} psub={psub} ssub={ssub} multi={multi} qbuf={self.qbuf} qbuf-free=0 "
                f"argv-mem={argv_mem} multi-mem={self.multi_mem()} rbs=0 rbp=0 obl=0 "
                f"oll={len(self.outbox) if self.outbox else 0} omem={omem} "
                f"tot-mem={self.memory(argv_mem)} events={'rw' if omem else 'r'} cmd={self.last_cmd} "
                f"user={self.user} redir=-1 resp={self.proto}")
