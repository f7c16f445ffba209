"""INFO: the server's report on itself, in Redis 7.0's sections, field names and field order.

Theory of operation
-------------------
* ``INFO [section ...]`` chooses sections as Redis 7.0's genInfoSectionDict does: no argument means
  ``default``; ``all`` is every section; ``everything`` is ``all`` plus module-generated sections
  (cachesrv has none); names are case-insensitive; repeats and unknown names add nothing (only
  unknown names: an empty reply). Sections come out in Redis's fixed order whatever order they were
  asked in, separated by a blank line. RESP3 gets a verbatim string ("txt"), RESP2 a bulk string.
* Each section is a small function returning ``(field, value)`` pairs, read when INFO runs from the
  server, the keyspace and the sessions: nothing is cached except what must be sampled over time.
* Subsystems that own a whole section (persistence, replication) may register a function in
  ``server.info_providers[section]`` that returns its pairs; until one does, the built-in section
  tells the truth about a server without that subsystem (never saved; a primary with no replicas).
  Counters owned by other subsystems (evictions, pub/sub channel counts, syncs, forks...) live in
  ``server.info_counters`` under their INFO field name and read as 0 until someone counts them.
* Rates (``instantaneous_*``) come from ``sample_metrics``, called from every cron tick; it samples
  at most every 100 ms and averages the last 16 samples, as Redis's trackInstantaneousMetric.
* Memory: CPython has no cheap "bytes allocated" counter (tracemalloc slows every allocation), so
  ``used_memory`` is the process's private resident memory: /proc/self/statm's resident pages minus
  its file-backed (shared) ones, i.e. the heap, pymalloc arenas and stacks. It grows with the data
  and shrinks when freed arenas go back to the OS; it over-counts live data by the allocators'
  free lists. ``used_memory_rss`` is every resident page. Without /proc both fall back to
  getrusage's peak RSS. The allocator_* and fragmentation fields follow from those two figures.
* Latency percentiles (``latencystats``): dispatch calls ``record_latency`` after each command.
  Each command keeps a histogram with HdrHistogram's bucket layout at Redis's settings (2
  significant digits, 1 ns .. 1 s): values under 256 exactly, larger ones by their top 8
  significant bits: a fixed list of 3,072 counters per command that has run. A percentile is the
  bucket's highest equivalent value, as hdr_value_at_percentile reports it.
"""

from __future__ import annotations

import os
import platform
import resource
import struct
import sys
import time
from hashlib import sha1
from typing import Any

from protocols.resp import Verbatim

from .. import __version__
from .spec import REDIS_VERSION

# -- section selection -----------------------------------------------------------------------------
# (key, title) in Redis's output order. "modules" answers to both names Redis accepts for it.
SECTIONS = (
    ("server", "Server"), ("clients", "Clients"), ("memory", "Memory"), ("persistence", "Persistence"),
    ("stats", "Stats"), ("replication", "Replication"), ("cpu", "CPU"), ("modules", "Modules"),
    ("commandstats", "Commandstats"), ("errorstats", "Errorstats"), ("latencystats", "Latencystats"),
    ("cluster", "Cluster"), ("keyspace", "Keyspace"),
)
DEFAULT_SECTIONS = frozenset(("server", "clients", "memory", "persistence", "stats", "replication",
                              "cpu", "module_list", "errorstats", "cluster", "keyspace"))
_ALIASES = {"modules": ("modules", "module_list")}


def info(ctx, argv):
    """INFO [section [section ...]]"""
    wanted, everything = requested_sections(argv[1:])
    return Verbatim(render(ctx.server, wanted, everything).encode("latin-1"))


def requested_sections(args: list[bytes]) -> tuple[set[str], bool]:
    """The section names asked for, lower-cased, and whether every section was ('all'/'everything')."""
    if not args:
        return set(DEFAULT_SECTIONS), False
    wanted: set[str] = set()
    every = False
    for a in args:
        name = a.decode("latin-1").lower()
        if name in ("all", "everything"):
            every = True
        elif name == "default":
            wanted |= DEFAULT_SECTIONS
        else:
            wanted.add(name)
    return wanted, every


def render(server, wanted: set[str] | frozenset[str], everything: bool = False) -> str:
    """The INFO text for the chosen sections: '# Title' lines, fields, a blank line between sections."""
    out = []
    for key, title in SECTIONS:
        if not everything and not any(k in wanted for k in _ALIASES.get(key, (key,))):
            continue
        provider = server.info_providers.get(key)
        pairs = provider(server) if provider is not None else _BUILTIN[key](server)
        out.append("".join([f"# {title}\r\n", *(f"{k}:{v}\r\n" for k, v in pairs)]))
    return "\r\n".join(out)


def bytes_to_human(n: int) -> str:
    """Redis's bytesToHuman: 1023B, 1.00K, 1.05M, ... (powers of 1024, two decimals)."""
    if n < 1024:
        return f"{n}B"
    for i, unit in enumerate("KMGTP", 1):
        if n < 1024 ** (i + 1):
            return f"{n / 1024 ** i:.2f}{unit}"
    return f"{n}B"


# -- process facts that do not change while running ---------------------------------------------------
def _os_name() -> str:
    u = os.uname() if hasattr(os, "uname") else None
    return f"{u.sysname} {u.release} {u.machine}" if u else platform.platform()


def _multiplexing_api() -> str:
    """What trio's I/O manager uses on this platform, in Redis's words."""
    if sys.platform.startswith("linux"):
        return "epoll"
    if sys.platform == "win32":
        return "iocp"
    return "kqueue"


def _monotonic_clock() -> str:
    impl = time.get_clock_info("monotonic").implementation
    return "POSIX clock_gettime" if impl.startswith("clock_gettime") else impl


def _compiler_version() -> str:
    """The GCC that built this Python (Redis reports its own compiler; 0.0.0 when not GCC)."""
    parts = platform.python_compiler().split()
    if len(parts) >= 2 and parts[0] == "GCC":
        return parts[1]
    return "0.0.0"


OS_NAME = _os_name()
_MONOTONIC_CLOCK = _monotonic_clock()
_MULTIPLEXING_API = _multiplexing_api()
_COMPILER = _compiler_version()
ARCH_BITS = struct.calcsize("P") * 8
BUILD_ID = sha1(f"cachesrv {__version__} python {sys.version}".encode()).hexdigest()[:15]
LRU_CLOCK_MAX = (1 << 24) - 1
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def executable() -> str:
    """Redis: the absolute path of argv[0]. Here: the script that started cachesrv."""
    arg0 = sys.argv[0] if sys.argv else ""
    if not arg0 or arg0 == "-c":
        return sys.executable
    return os.path.abspath(arg0)


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


_TOTAL_SYSTEM_MEMORY = total_system_memory()


# -- memory ------------------------------------------------------------------------------------------
def memory_usage() -> tuple[int, int]:
    """(used_memory, used_memory_rss) in bytes; see the module docstring for what they measure."""
    try:
        with open("/proc/self/statm", "rb") as f:
            fields = f.read().split()
        resident, shared = int(fields[1]), int(fields[2])
        return (resident - shared) * _PAGE, resident * _PAGE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024   # bytes on macOS, KiB elsewhere
        return peak, peak


_STARTUP_MEMORY = memory_usage()[0]   # measured when the command table is imported, before serving


# -- sampling (from the cron) ----------------------------------------------------------------------
STATS_METRIC_SAMPLES = 16
SAMPLE_PERIOD_MS = 100
# instantaneous_* rates: name -> what the reading is
_METRICS = ("ops", "net_input", "net_output", "net_repl_input", "net_repl_output")


class InstantaneousMetrics:
    """Redis's inst_metric[]: per rate, the last 16 per-second rates sampled every 100 ms."""

    __slots__ = ("samples", "idx", "last_ms", "last")

    def __init__(self, readings: tuple[int, ...], now_ms: float) -> None:
        self.samples = [[0] * STATS_METRIC_SAMPLES for _ in _METRICS]
        self.idx = 0
        self.last_ms = now_ms
        self.last = readings

    def track(self, readings: tuple[int, ...], now_ms: float) -> None:
        t = now_ms - self.last_ms
        for i, (now_v, last_v) in enumerate(zip(readings, self.last)):
            self.samples[i][self.idx] = int((now_v - last_v) * 1000 / t) if t > 0 else 0
        self.idx = (self.idx + 1) % STATS_METRIC_SAMPLES
        self.last_ms = now_ms
        self.last = readings

    def get(self, name: str) -> int:
        return sum(self.samples[_METRICS.index(name)]) // STATS_METRIC_SAMPLES


def _readings(server) -> tuple[int, ...]:
    c = server.info_counters
    return (server.total_commands, server.net_input_bytes, server.net_output_bytes,
            c.get("total_net_repl_input_bytes", 0), c.get("total_net_repl_output_bytes", 0))


def sample_metrics(server, now_ms: float | None = None) -> None:
    """Call from every cron tick: samples the rates (at most every 100 ms) and the memory peak."""
    now = time.monotonic() * 1000 if now_ms is None else now_ms
    m = server.inst_metrics
    if m is None:
        server.inst_metrics = InstantaneousMetrics(_readings(server), now)
    elif now - m.last_ms >= SAMPLE_PERIOD_MS:
        m.track(_readings(server), now)
    else:
        return
    used = memory_usage()[0]
    if used > server.used_memory_peak:
        server.used_memory_peak = used


def _instantaneous(server, name: str) -> int:
    m = server.inst_metrics
    return m.get(name) if m is not None else 0


# -- latency histograms ------------------------------------------------------------------------------
LATENCY_MAX_NS = 1_000_000_000      # Redis's LATENCY_HISTOGRAM_MAX_VALUE: longer calls count as 1 s
# Bucket index: the value itself below 256; above, (shift << 7) + the top 8 bits, where shift drops
# the rest. Indexes grow with the values, and 1 s (shift 22) lands below 22 * 128 + 256.
HISTOGRAM_BUCKETS = 22 * 128 + 256


def record_latency(server, spec, ns: int, n: int = 1) -> None:
    """Count ``n`` calls of ``spec`` that took ``ns`` nanoseconds (dispatch calls this after each
    command while ``server.latency_tracking`` is on, in bulk: ``Server.flush_latency``)."""
    counts = server._latency_histograms.get(spec)
    if counts is None:
        counts = server._latency_histograms[spec] = [0] * HISTOGRAM_BUCKETS
    if ns > 255:
        if ns > LATENCY_MAX_NS:
            ns = LATENCY_MAX_NS
        shift = ns.bit_length() - 8
        counts[(shift << 7) + (ns >> shift)] += n
    else:
        counts[ns or 1] += n              # Redis's histogram starts at 1 ns


def _bucket_range(index: int) -> tuple[int, int]:
    """(lowest, highest) value a bucket stands for."""
    if index < 256:
        return index, index
    shift = (index - 128) >> 7
    low = (index - (shift << 7)) << shift
    return low, low + (1 << shift) - 1


def value_at_percentile(counts: list[int], percentile: float) -> int:
    """hdr_value_at_percentile: the highest value of the bucket holding that share of the calls
    (the lowest, for percentile 0)."""
    total = sum(counts)
    want = max(1, int(min(percentile, 100.0) / 100 * total + 0.5))
    seen = 0
    for index, n in enumerate(counts):
        if n:
            seen += n
            if seen >= want:
                low, high = _bucket_range(index)
                return low if percentile == 0.0 else high
    return 0


def _percentile_label(p: float) -> str:
    """printf("%f") with trailing zeros trimmed, as Redis's trimDoubleString: 50, 99, 99.9."""
    s = "%f" % p
    return s.rstrip("0").rstrip(".") if "." in s else s


# The ``info_counters`` Redis's resetServerStats zeroes; the others (channel counts, tracked keys,
# script counts...) describe the present state and survive CONFIG RESETSTAT.
RESETTABLE_COUNTERS = (
    "total_net_repl_input_bytes", "total_net_repl_output_bytes", "sync_full", "sync_partial_ok",
    "sync_partial_err", "expired_time_cap_reached_count", "evicted_keys", "evicted_clients",
    "total_eviction_exceeded_time", "latest_fork_usec", "total_forks", "unexpected_error_replies",
    "dump_payload_sanitizations",
)


def reset_stats(server) -> None:
    """CONFIG RESETSTAT's share for what INFO keeps here (spec counters reset themselves)."""
    server.latency_histograms.clear()
    server.inst_metrics = None
    server.used_memory_peak = memory_usage()[0]
    server.total_reads = server.total_writes = 0
    for name in RESETTABLE_COUNTERS:
        server.info_counters.pop(name, None)


# -- sections ----------------------------------------------------------------------------------------
def _server(server) -> list[tuple[str, Any]]:
    cfg = server.cfg
    uptime = server.uptime()
    return [
        ("redis_version", REDIS_VERSION),
        ("cachesrv_version", __version__),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", BUILD_ID),
        ("redis_mode", "standalone"),
        ("os", OS_NAME),
        ("arch_bits", ARCH_BITS),
        ("monotonic_clock", _MONOTONIC_CLOCK),
        ("multiplexing_api", _MULTIPLEXING_API),
        ("atomicvar_api", "none"),           # one thread, one event loop: nothing is atomic by hardware
        ("gcc_version", _COMPILER),
        ("process_id", server.pid),
        ("process_supervised", "no"),        # cachesrv does not talk to upstart/systemd
        ("run_id", server.run_id),
        ("tcp_port", server.tcp_port),
        ("server_time_usec", time.time_ns() // 1000),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", cfg["hz"]),
        ("configured_hz", cfg["hz"]),
        ("lru_clock", server.ks.lru_clock & LRU_CLOCK_MAX),
        ("executable", executable()),
        ("config_file", os.path.abspath(server.config_file) if server.config_file else ""),
        ("io_threads_active", 0),
    ]


def _clients(server) -> list[tuple[str, Any]]:
    connected = blocked = in_timeout = max_in = max_out = 0
    for s in server.clients.values():
        if s.kind != "replica":               # Redis: connected_clients leaves replicas out
            connected += 1
        if s.blocked is not None:
            blocked += 1
            if s.blocked.deadline_ms is not None:
                in_timeout += 1
        elif s.postponed:
            blocked += 1
        if s.qbuf > max_in:
            max_in = s.qbuf
        if s.outbox_bytes > max_out:
            max_out = s.outbox_bytes
    return [
        ("connected_clients", connected),
        ("cluster_connections", 0),
        ("maxclients", server.cfg["maxclients"]),
        # Redis keeps the peak of the last few seconds; cachesrv reports the current largest.
        ("client_recent_max_input_buffer", max_in),
        ("client_recent_max_output_buffer", max_out),
        ("blocked_clients", blocked),
        ("tracking_clients", server.info_counters.get("tracking_clients", 0)),
        ("clients_in_timeout_table", in_timeout),
    ]


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "0.00"


def _memory(server) -> list[tuple[str, Any]]:
    cfg = server.cfg
    used, rss = memory_usage()
    if used > server.used_memory_peak:
        server.used_memory_peak = used
    peak = server.used_memory_peak
    startup = min(_STARTUP_MEMORY, used)
    clients_normal = clients_replicas = 0
    for s in server.clients.values():
        if s.kind == "replica":
            clients_replicas += s.memory()
        else:
            clients_normal += s.memory()
    overhead = min(used, startup + clients_normal + clients_replicas)
    dataset = used - overhead
    net = used - startup
    maxmemory = cfg["maxmemory"]
    c = server.info_counters.get
    return [
        ("used_memory", used),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", f"{used * 100 / peak:.2f}%" if peak else "0.00%"),
        ("used_memory_overhead", overhead),
        ("used_memory_startup", startup),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", f"{dataset * 100 / net:.2f}%" if net > 0 else "0.00%"),
        ("allocator_allocated", used),
        ("allocator_active", used),
        ("allocator_resident", used),
        ("total_system_memory", _TOTAL_SYSTEM_MEMORY),
        ("total_system_memory_human", bytes_to_human(_TOTAL_SYSTEM_MEMORY)),
        # No script engine yet: scripting registers its own figures here when it arrives.
        ("used_memory_lua", c("used_memory_vm_eval", 0)),
        ("used_memory_vm_eval", c("used_memory_vm_eval", 0)),
        ("used_memory_lua_human", bytes_to_human(c("used_memory_vm_eval", 0))),
        ("used_memory_scripts_eval", c("used_memory_scripts_eval", 0)),
        ("number_of_cached_scripts", c("number_of_cached_scripts", 0)),
        ("number_of_functions", c("number_of_functions", 0)),
        ("number_of_libraries", c("number_of_libraries", 0)),
        ("used_memory_vm_functions", c("used_memory_vm_functions", 0)),
        ("used_memory_vm_total", c("used_memory_vm_eval", 0) + c("used_memory_vm_functions", 0)),
        ("used_memory_vm_total_human",
         bytes_to_human(c("used_memory_vm_eval", 0) + c("used_memory_vm_functions", 0))),
        ("used_memory_functions", c("used_memory_functions", 0)),
        ("used_memory_scripts", c("used_memory_scripts_eval", 0) + c("used_memory_functions", 0)),
        ("used_memory_scripts_human",
         bytes_to_human(c("used_memory_scripts_eval", 0) + c("used_memory_functions", 0))),
        ("maxmemory", maxmemory),
        ("maxmemory_human", bytes_to_human(maxmemory)),
        ("maxmemory_policy", cfg["maxmemory-policy"]),
        ("allocator_frag_ratio", "1.00"),
        ("allocator_frag_bytes", 0),
        ("allocator_rss_ratio", "1.00"),
        ("allocator_rss_bytes", 0),
        ("rss_overhead_ratio", _ratio(rss, used)),
        ("rss_overhead_bytes", rss - used),
        ("mem_fragmentation_ratio", _ratio(rss, used)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", c("mem_not_counted_for_evict", 0)),
        ("mem_replication_backlog", c("mem_replication_backlog", 0)),
        ("mem_total_replication_buffers", c("mem_total_replication_buffers", 0)),
        ("mem_clients_slaves", clients_replicas),
        ("mem_clients_normal", clients_normal),
        ("mem_cluster_links", 0),
        ("mem_aof_buffer", 0),
        ("mem_allocator", "pymalloc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0),
        ("lazyfreed_objects", c("lazyfreed_objects", 0)),
    ]


def _persistence(server) -> list[tuple[str, Any]]:
    """A server that has not saved since it started (the persistence subsystem replaces this)."""
    return [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", server.ks.dirty),
        ("rdb_bgsave_in_progress", 0),
        ("rdb_last_save_time", int(server.start_time)),
        ("rdb_last_bgsave_status", "ok"),
        ("rdb_last_bgsave_time_sec", -1),
        ("rdb_current_bgsave_time_sec", -1),
        ("rdb_saves", 0),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", 0),
        ("aof_enabled", 0),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_rewrites_consecutive_failures", 0),
        ("aof_last_write_status", "ok"),
        ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
    ]


def _stats(server) -> list[tuple[str, Any]]:
    ks = server.ks
    c = server.info_counters.get
    inst = _instantaneous
    return [
        ("total_connections_received", server.total_connections),
        ("total_commands_processed", server.total_commands),
        ("instantaneous_ops_per_sec", inst(server, "ops")),
        ("total_net_input_bytes", server.net_input_bytes),
        ("total_net_output_bytes", server.net_output_bytes),
        ("total_net_repl_input_bytes", c("total_net_repl_input_bytes", 0)),
        ("total_net_repl_output_bytes", c("total_net_repl_output_bytes", 0)),
        ("instantaneous_input_kbps", f"{inst(server, 'net_input') / 1024:.2f}"),
        ("instantaneous_output_kbps", f"{inst(server, 'net_output') / 1024:.2f}"),
        ("instantaneous_input_repl_kbps", f"{inst(server, 'net_repl_input') / 1024:.2f}"),
        ("instantaneous_output_repl_kbps", f"{inst(server, 'net_repl_output') / 1024:.2f}"),
        ("rejected_connections", server.rejected_connections),
        ("sync_full", c("sync_full", 0)),
        ("sync_partial_ok", c("sync_partial_ok", 0)),
        ("sync_partial_err", c("sync_partial_err", 0)),
        ("expired_keys", ks.stats_expired_keys),
        ("expired_stale_perc", f"{ks.stats_expired_stale_perc * 100:.2f}"),
        ("expired_time_cap_reached_count", c("expired_time_cap_reached_count", 0)),
        ("expire_cycle_cpu_milliseconds", ks.stats_expire_cycle_time_used // 1000),
        ("evicted_keys", c("evicted_keys", 0)),
        ("evicted_clients", c("evicted_clients", 0)),
        ("total_eviction_exceeded_time", c("total_eviction_exceeded_time", 0)),
        ("current_eviction_exceeded_time", c("current_eviction_exceeded_time", 0)),
        ("keyspace_hits", ks.hits),
        ("keyspace_misses", ks.misses),
        ("pubsub_channels", c("pubsub_channels", 0)),
        ("pubsub_patterns", c("pubsub_patterns", 0)),
        ("pubsubshard_channels", c("pubsubshard_channels", 0)),
        ("latest_fork_usec", c("latest_fork_usec", 0)),
        ("total_forks", c("total_forks", 0)),
        ("migrate_cached_sockets", c("migrate_cached_sockets", 0)),
        ("slave_expires_tracked_keys", c("slave_expires_tracked_keys", 0)),
        # CPython's allocators cannot move objects: there is no active defragmentation.
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", c("tracking_total_keys", 0)),
        ("tracking_total_items", c("tracking_total_items", 0)),
        ("tracking_total_prefixes", c("tracking_total_prefixes", 0)),
        ("unexpected_error_replies", c("unexpected_error_replies", 0)),
        ("total_error_replies", server.total_error_replies),
        ("dump_payload_sanitizations", c("dump_payload_sanitizations", 0)),
        ("total_reads_processed", server.total_reads),
        ("total_writes_processed", server.total_writes),
        ("io_threaded_reads_processed", 0),
        ("io_threaded_writes_processed", 0),
        # Replies are built in a per-batch buffer that is freed after the send: nothing to resize.
        ("reply_buffer_shrinks", 0),
        ("reply_buffer_expands", 0),
    ]


def _replication(server) -> list[tuple[str, Any]]:
    """A primary with no replicas (replication replaces this with its own section)."""
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", server.master_replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", server.cfg["repl-backlog-size"]),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _cpu(server) -> list[tuple[str, Any]]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    pairs = [
        ("used_cpu_sys", f"{me.ru_stime:.6f}"),
        ("used_cpu_user", f"{me.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{kids.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{kids.ru_utime:.6f}"),
    ]
    if hasattr(resource, "RUSAGE_THREAD"):      # Redis prints these only where the OS has them
        main = resource.getrusage(resource.RUSAGE_THREAD)
        pairs += [("used_cpu_sys_main_thread", f"{main.ru_stime:.6f}"),
                  ("used_cpu_user_main_thread", f"{main.ru_utime:.6f}")]
    return pairs


def _modules(server) -> list[tuple[str, Any]]:
    return []


def _command_specs():
    from .table import COMMANDS   # table.py imports this module: look it up at call time

    for name in sorted(COMMANDS):
        spec = COMMANDS[name]
        yield spec
        for sub in sorted(spec.subcommands):
            yield spec.subcommands[sub]


def _safe_name(name: str) -> str:
    """getSafeInfoString: INFO lines cannot carry ':' or line breaks."""
    return name.replace(":", "_").replace("\r", "_").replace("\n", "_")


def _commandstats(server) -> list[tuple[str, Any]]:
    out = []
    for spec in _command_specs():
        if spec.calls or spec.failed_calls or spec.rejected_calls:
            usec = spec.usec // 1000                 # dispatch accumulates nanoseconds
            per_call = usec / spec.calls if spec.calls else 0.0
            out.append((f"cmdstat_{_safe_name(spec.fullname)}",
                        f"calls={spec.calls},usec={usec},usec_per_call={per_call:.2f},"
                        f"rejected_calls={spec.rejected_calls},failed_calls={spec.failed_calls}"))
    return out


def _errorstats(server) -> list[tuple[str, Any]]:
    # Redis keeps them in a radix tree: byte order of the error code.
    return [(f"errorstat_{_safe_name(code)}", f"count={n}")
            for code, n in sorted(server.error_counts.items(), key=lambda kv: kv[0].encode("latin-1"))]


def _latencystats(server) -> list[tuple[str, Any]]:
    percentiles = _info_percentiles(server)
    hists = server.latency_histograms
    out = []
    for spec in _command_specs():
        hist = hists.get(spec)
        if hist is not None:
            out.append((f"latency_percentiles_usec_{_safe_name(spec.fullname)}",
                        ",".join(f"p{_percentile_label(p)}={value_at_percentile(hist, p) / 1000:.3f}"
                                 for p in percentiles)))
    return out


def _info_percentiles(server) -> list[float]:
    value = server.cfg["latency-tracking-info-percentiles"]
    if isinstance(value, (bytes, str)):
        value = [float(p) for p in (value.decode() if isinstance(value, bytes) else value).split()]
    return list(value)


def _cluster(server) -> list[tuple[str, Any]]:
    return [("cluster_enabled", 0)]


def _keyspace(server) -> list[tuple[str, Any]]:
    out = []
    for db in server.ks.dbs:
        keys, expires = db.size(), db.expires_count()
        if keys or expires:
            out.append((f"db{db.id}", f"keys={keys},expires={expires},avg_ttl={db.avg_ttl}"))
    return out


_BUILTIN = {
    "server": _server, "clients": _clients, "memory": _memory, "persistence": _persistence,
    "stats": _stats, "replication": _replication, "cpu": _cpu, "modules": _modules,
    "commandstats": _commandstats, "errorstats": _errorstats, "latencystats": _latencystats,
    "cluster": _cluster, "keyspace": _keyspace,
}
