"""Server-wide state: configuration, the keyspace, connected clients, statistics, the slow log,
the latency monitor, MONITOR feeds and client pauses.

``Server`` holds no sockets and never awaits: the trio side (``net.py``) drives it, and command
tests build one directly with a fake clock. Everything INFO reports is counted here or in the
keyspace, at the moment it happens.
"""

from __future__ import annotations

import collections
import os
import time
from typing import TYPE_CHECKING, Any

from .log import Logger
from .store.keyspace import Keyspace

if TYPE_CHECKING:
    from .session import Session

VERSION = "0.1.0"
SLOWLOG_MAX_ARGC = 32
SLOWLOG_MAX_STRING = 128
LATENCY_SAMPLES = 160
# A MONITOR client's pending lines when the normal class has no hard limit (Redis: unlimited).
# cachesrv bounds every buffer, so a monitor that stops reading is dropped past this.
DEFAULT_PUSH_LIMIT = 64 * 1024 * 1024


class SlowlogEntry:
    __slots__ = ("id", "time", "duration", "argv", "addr", "name")

    def __init__(self, id_: int, when: int, duration: int, argv: list, addr: str, name: bytes) -> None:
        self.id, self.time, self.duration, self.argv, self.addr, self.name = id_, when, duration, argv, addr, name


class Server:
    def __init__(self, cfg: Any, clock: Any = None, log: Logger | None = None) -> None:
        self.cfg = cfg
        self.log = log or Logger(cfg["loglevel"], cfg["logfile"])
        self.ks = Keyspace(cfg["databases"], clock)
        self.ks.follow_config(cfg)        # LFU counters follow maxmemory-policy / lfu-* directives
        self.clock = self.ks.clock
        self.start_time = time.time()
        self.start_monotonic = time.monotonic()
        self.pid = os.getpid()
        self.run_id = os.urandom(20).hex()
        self.clients: dict[int, "Session"] = {}
        self._next_id = 0
        self.tcp_port = cfg["port"]       # the bound port once listening (differs from cfg for port 0)
        self.config_file = getattr(cfg, "path", None)
        self.active_expire_enabled = True
        # statistics
        self.total_connections = 0
        self.rejected_connections = 0
        self.total_commands = 0
        self.net_input_bytes = 0
        self.net_output_bytes = 0
        self.error_counts: dict[str, int] = {}
        self.total_error_replies = 0
        self.client_query_buffer_limit_disconnections = 0
        self.client_output_buffer_limit_disconnections = 0
        # INFO/CLIENT statistics (commands/info.py reads them; see its docstring)
        self.total_reads = 0              # recv() calls: total_reads_processed
        self.total_writes = 0             # send() calls: total_writes_processed
        self.inst_metrics: Any = None     # info.InstantaneousMetrics, sampled by info.sample_metrics
        self.used_memory_peak = 0
        self.latency_tracking = True      # `latency-tracking`: dispatch feeds info.record_latency
        self._latency_histograms: dict = {}  # CommandSpec -> bucket counts; read via latency_histograms
        self.info_counters: dict[str, int] = {}   # INFO field -> value, kept by other subsystems
        self.info_providers: dict[str, Any] = {}  # INFO section -> fn(server) -> [(field, value)]
        self.master_replid = os.urandom(20).hex()
        # slow log and latency monitor
        self.slowlog: collections.deque[SlowlogEntry] = collections.deque()
        self.slowlog_next_id = 0
        self.latency: dict[str, collections.deque] = {}
        self.latency_max: dict[str, int] = {}
        self.slow_threshold_ns = 0
        self.monitors: set["Session"] = set()
        # CLIENT PAUSE
        self.pause_end = 0.0              # monotonic deadline; 0 when not paused
        self.pause_all = False
        self.pause_waiters: list = []     # callables woken when the pause ends
        # shutdown
        self.shutdown_request: dict | None = None
        self.on_shutdown_request = None   # set by the runner: wakes its main task
        self.refresh_thresholds()
        self.unixtime = int(time.time())  # refreshed by the cron; idle times need no better
        # (proto-max-bulk-len, client-query-buffer-limit): connections compare this tuple by
        # identity once per read and update their reader only when CONFIG SET replaced it.
        self.reader_limits = (cfg["proto-max-bulk-len"], cfg["client-query-buffer-limit"])
        for name in ("proto-max-bulk-len", "client-query-buffer-limit"):
            cfg.on_change(name, self._limits_changed)
        # memcached: its counters, pending delayed flush_all and open connections (stats)
        from .commands.memcache import McStats
        self.mc = McStats(self.clock.now_ms() // 1000)
        from .commands.admin import install_config_hooks   # CONFIG SET effects (admin.py)
        install_config_hooks(self)

    def _limits_changed(self, name: str, old: Any, new: Any) -> None:
        limits = dict(zip(("proto-max-bulk-len", "client-query-buffer-limit"), self.reader_limits))
        limits[name] = new
        self.reader_limits = (limits["proto-max-bulk-len"], limits["client-query-buffer-limit"])

    # -- clients ---------------------------------------------------------------------------------
    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def now_s(self) -> int:
        return int(time.time())

    def auth_required(self) -> bool:
        return bool(self.cfg["requirepass"])

    def register(self, session: "Session") -> None:
        self.clients[session.id] = session
        self.total_connections += 1

    def unregister(self, session: "Session") -> None:
        self.clients.pop(session.id, None)
        self.monitors.discard(session)
        self.unwatch_all(session)

    def unwatch_all(self, session: "Session") -> None:
        """UNWATCH: forget every key this client watches (also on RESET and disconnect)."""
        for db_id, key in session.watching:
            watchers = self.ks.dbs[db_id].watched.get(key)
            if watchers is not None:
                watchers.discard(session)
                if not watchers:
                    del self.ks.dbs[db_id].watched[key]
        session.watching.clear()

    def push_limit(self, session: "Session") -> int:
        hard = self._obuf_limits("pubsub" if session.subscriptions else "normal")[0]
        return hard or DEFAULT_PUSH_LIMIT

    def _obuf_limits(self, cls: str) -> tuple[int, int, int]:
        limits = self.cfg["client-output-buffer-limit"]
        return tuple(limits.get(cls, (0, 0, 0)))  # type: ignore[return-value]

    # -- errors, slow log, latency ----------------------------------------------------------------
    @property
    def latency_histograms(self) -> dict:
        """Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM), up to date."""
        self.flush_latency()
        return self._latency_histograms

    def flush_latency(self, specs: Any = None) -> None:
        """Bucket the call durations dispatch collected (of ``specs``, or of every command),
        Redis's way: whole microseconds x 1000."""
        from .commands.info import record_latency
        from .commands.spec import LATENCY_FAST_US
        from .commands.table import ALL_SPECS
        for spec in ALL_SPECS if specs is None else specs:
            counts = spec.latency_us
            if any(counts):
                spec.latency_us = [0] * LATENCY_FAST_US
                for usec, n in enumerate(counts):
                    if n:
                        record_latency(self, spec, usec * 1000, n)
            pending = spec.latency_pending
            if pending:
                spec.latency_pending = []
                # Most share a few whole-microsecond values: count them in C, bucket each once.
                for usec, n in collections.Counter(map((1000).__rfloordiv__, pending)).items():
                    record_latency(self, spec, usec * 1000, n)

    def count_error(self, err: Exception) -> None:
        text = str(err)
        code = text.split(" ", 1)[0]
        self.total_error_replies += 1
        if code in self.error_counts or len(self.error_counts) < 128:
            self.error_counts[code] = self.error_counts.get(code, 0) + 1

    def reset_stats(self, specs: Any) -> None:
        """CONFIG RESETSTAT: Redis's resetServerStats, resetCommandTableStats (``specs``: the
        command table's top-level specs; each resets its subcommands) and resetErrorTableStats.
        The slow log and the latency monitor are not statistics: they keep their samples."""
        for spec in specs:
            spec.reset_stats()
        self.total_connections = self.rejected_connections = self.total_commands = 0
        self.net_input_bytes = self.net_output_bytes = 0
        self.error_counts.clear()
        self.total_error_replies = 0
        self.client_query_buffer_limit_disconnections = self.client_output_buffer_limit_disconnections = 0
        ks = self.ks
        ks.hits = ks.misses = ks.stats_expired_keys = ks.stats_expire_cycle_time_used = 0
        ks.stats_expired_stale_perc = 0.0
        from .commands import info
        info.reset_stats(self)

    def refresh_thresholds(self) -> None:
        """Recompute the one threshold dispatch compares against: the lower of the slow log's
        (µs) and the latency monitor's (ms) thresholds, in ns; disabled ones count as infinite."""
        inf = 1 << 62
        slow_us = self.cfg["slowlog-log-slower-than"]
        lat_ms = self.cfg["latency-monitor-threshold"]
        self.slow_threshold_ns = min(slow_us * 1000 if slow_us >= 0 else inf,
                                     lat_ms * 1_000_000 if lat_ms > 0 else inf)

    def record_slow(self, session: "Session", spec: Any, argv: list[bytes], elapsed_ns: int) -> None:
        slow_us = self.cfg["slowlog-log-slower-than"]
        usec = elapsed_ns // 1000
        if slow_us >= 0 and usec >= slow_us and "skip_slowlog" not in spec.flags:
            self._slowlog_add(session, argv, usec)
        lat_ms = self.cfg["latency-monitor-threshold"]
        ms = elapsed_ns // 1_000_000
        if lat_ms > 0 and ms >= lat_ms:
            self.latency_add("fast-command" if spec.fast else "command", ms)

    def _slowlog_add(self, session: "Session", argv: list[bytes], usec: int) -> None:
        argv = redact(session, argv)
        args: list[bytes] = []
        n = min(len(argv), SLOWLOG_MAX_ARGC)
        for i in range(n):
            if n == SLOWLOG_MAX_ARGC and i == n - 1 and len(argv) > SLOWLOG_MAX_ARGC:
                args.append(b"... (%d more arguments)" % (len(argv) - SLOWLOG_MAX_ARGC + 1))
                break
            a = argv[i]
            if len(a) > SLOWLOG_MAX_STRING:
                a = a[:SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (len(a) - SLOWLOG_MAX_STRING)
            args.append(bytes(a))
        self.slowlog.appendleft(SlowlogEntry(self.slowlog_next_id, self.now_s(), usec, args,
                                             session.addr, session.name))
        self.slowlog_next_id += 1
        maxlen = self.cfg["slowlog-max-len"]
        while len(self.slowlog) > maxlen:
            self.slowlog.pop()

    def latency_add(self, event: str, ms: int) -> None:
        """Redis's latencyAddSample: one sample per second per event, keeping the max of that second."""
        hist = self.latency.get(event)
        if hist is None:
            hist = self.latency[event] = collections.deque(maxlen=LATENCY_SAMPLES)
        now = self.now_s()
        self.latency_max[event] = max(self.latency_max.get(event, 0), ms)
        if hist and hist[-1][0] == now:
            if ms > hist[-1][1]:
                hist[-1] = (now, ms)
            return
        hist.append((now, ms))

    # -- MONITOR ----------------------------------------------------------------------------------
    def feed_monitors(self, session: "Session", argv: list[bytes]) -> None:
        """replicationFeedMonitors: ``+<sec>.<usec> [<db> <addr>] "arg" ...`` to every monitor,
        after the command ran (so SELECT shows its new db), with passwords redacted."""
        us = time.time_ns() // 1000
        line = "+%d.%06d [%d %s] %s\r\n" % (us // 1_000_000, us % 1_000_000, session.db.id,
                                             session.addr or "lua",
                                             " ".join(_repr(a) for a in redact(session, argv)))
        frame = line.encode("latin-1")
        for mon in list(self.monitors):
            mon.push(frame)

    # -- CLIENT PAUSE -----------------------------------------------------------------------------
    def pause(self, seconds: float, all_commands: bool) -> None:
        end = time.monotonic() + seconds
        # Redis: a new pause never shortens an existing one, and ALL wins over WRITE.
        if self.pause_end and time.monotonic() < self.pause_end:
            self.pause_all = self.pause_all or all_commands
            self.pause_end = max(self.pause_end, end)
        else:
            self.pause_all = all_commands
            self.pause_end = end

    def unpause(self) -> None:
        self.pause_end = 0.0
        self.pause_all = False
        waiters, self.pause_waiters = self.pause_waiters, []
        for wake in waiters:
            wake()

    def pause_blocks(self, session: "Session", spec: Any) -> bool:
        """Whether a paused server holds this command back (checked only while paused)."""
        if time.monotonic() >= self.pause_end:
            self.unpause()
            return False
        if session.kind in ("replica", "master"):
            return False
        if self.pause_all:
            return True
        return spec.write or "may_replicate" in spec.flags

    # -- shutdown ---------------------------------------------------------------------------------
    def request_shutdown(self, **flags: Any) -> None:
        self.shutdown_request = flags
        if self.on_shutdown_request is not None:
            self.on_shutdown_request()

    def prepare_shutdown(self, *, save: bool = False, nosave: bool = False, now: bool = False,
                         force: bool = False) -> bool:
        """SHUTDOWN's decision (Redis's prepareForShutdown + finishShutdown): make the final save
        when save points are configured (unless NOSAVE) or SAVE was asked, then ask the runner to
        stop. False, with the reason logged, when the save failed and FORCE was not given: the
        server keeps running. There are no replicas to wait for, so NOW changes nothing yet."""
        self.log.warning("User requested shutdown...")
        if (self.cfg["save"] and not nosave) or save:
            self.log.notice("Saving the final RDB snapshot before exiting.")
            try:
                self.save_snapshot()
            except OSError as e:
                self.log.warning("%s", e)
                if not force:
                    self.log.warning("Error trying to save the DB, can't exit.")
                    self.log.warning("Errors trying to shut down the server. Check the logs for more information.")
                    return False
                self.log.warning("Error trying to save the DB. Exit anyway.")
        self.request_shutdown(save=save, nosave=nosave, now=now, force=force)
        return True

    def abort_shutdown(self) -> bool:
        """SHUTDOWN ABORT. A shutdown is only "in progress" while it waits for replicas to catch
        up; with no replication it never waits, so there is never one to abort."""
        return False

    def save_snapshot(self) -> None:
        """The synchronous final save SHUTDOWN makes. RDB snapshots are not built yet, so it
        fails, and says why, rather than exiting as if the data had been saved."""
        raise OSError("Failed saving the final RDB snapshot: RDB persistence is not available in this "
                      "version of cachesrv")

    def uptime(self) -> int:
        return int(time.monotonic() - self.start_monotonic)


REDACTED = b"(redacted)"


def redact(session: "Session", argv: list[bytes]) -> list[bytes]:
    """The arguments MONITOR and the slow log may show: AUTH, HELLO and MIGRATE passwords (and
    user names) and CONFIG SET's sensitive values become "(redacted)", exactly where Redis's
    redactClientCommandArgument calls are reached before the command stopped on an error."""
    name = argv[0].lower()
    if name == b"auth":
        if len(argv) > 3:                       # syntax error before any redaction
            return argv
        return [argv[0]] + [REDACTED] * (len(argv) - 1)
    if name == b"hello":
        return _redact_hello(session, argv)
    if name == b"migrate":
        return _redact_migrate(argv)
    if name == b"config" and len(argv) > 3 and argv[1].lower() == b"set":
        # configSetCommand redacts every sensitive value (requirepass, masterauth...), errors or not
        cfg = session.server.cfg
        out = list(argv)
        for i in range(2, len(argv) - 1, 2):
            if cfg.is_sensitive(argv[i].decode("utf-8", "surrogateescape")):
                out[i + 1] = REDACTED
        return out
    return argv


def _redact_hello(session: "Session", argv: list[bytes]) -> list[bytes]:
    from .commands.args import to_int
    from .commands.connection import _check_password
    if len(argv) < 3:
        return argv
    ver = to_int(argv[1])
    if ver is None or not 2 <= ver <= 3:       # refused before the options are read
        return argv
    out = list(argv)
    j = 2
    while j < len(argv):
        opt = argv[j].upper()
        more = len(argv) - 1 - j
        if opt == b"AUTH" and more >= 2:
            out[j + 1] = out[j + 2] = REDACTED
            if not _check_password(session, argv[j + 1], argv[j + 2]):
                break                           # HELLO authenticates as it reads, and stops here
            j += 3
        elif opt == b"SETNAME" and more >= 1:
            if any(c < 33 or c > 126 for c in argv[j + 1]):
                break
            j += 2
        else:
            break
    return out


def _redact_migrate(argv: list[bytes]) -> list[bytes]:
    out = list(argv)
    j = 6
    while j < len(argv):
        opt = argv[j].upper()
        more = len(argv) - 1 - j
        if opt in (b"COPY", b"REPLACE"):
            j += 1
        elif opt == b"AUTH" and more >= 1:
            out[j + 1] = REDACTED
            j += 2
        elif opt == b"AUTH2" and more >= 2:
            out[j + 1] = out[j + 2] = REDACTED
            j += 3
        else:
            break                               # KEYS (the rest are keys) or a syntax error
    return out


def _repr(b: bytes) -> str:
    """sdscatrepr: a double-quoted, escaped rendering of bytes (MONITOR, DEBUG, CLIENT LIST...)."""
    out = ['"']
    for c in b:
        ch = chr(c)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif 32 <= c < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % c)
    out.append('"')
    return "".join(out)
