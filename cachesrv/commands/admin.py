"""Server administration: CONFIG, COMMAND, TIME, SLOWLOG, LATENCY, DEBUG, MONITOR, WAIT, SHUTDOWN
and CLUSTER.

Theory of operation
-------------------
* These handlers own no state. The server keeps what they report (``Server``: the slow log, the
  latency events, the latency histograms, the monitors, the shutdown request), the configuration
  keeps the settings (``cachesrv.config``), and the command table is the one ``table.COMMANDS``.
  So a handler is a thin reader or writer of one of those, and the tests can check them apart.
* COMMAND answers from Redis 7.0's own metadata (``redis-7.0.json``) for the commands cachesrv
  serves, and only those: a container lists the subcommands we serve, in the order the real server
  listed them. Values are shaped exactly as Redis shapes them, per protocol: flags and ACL
  categories are sets of simple strings, tips a set of bulk strings, key specs and docs maps whose
  keys are bulk strings, a docs ``history`` a set of pairs. The shaped replies are built once.
* COMMAND GETKEYS follows db.c: the key specs first (``_keys_from_specs``, a transcription of
  getKeysUsingKeySpecs, which falls back when a spec is unknown, incomplete or does not fit), then
  the command's own key finder (``GETKEYS_PROCS``, Redis's *GetKeys functions) for the commands
  whose specs cannot say it all (SET's GET option, SORT's STORE, numkeys commands...).
* LATENCY DOCTOR and GRAPH are latency.c's and sparkline.c's texts, reproduced so the analysis reads
  as Redis's; HISTOGRAM walks the per-command histograms that dispatch feeds (``info.py``), the way
  fillCommandCDF walks hdr_histogram with a logarithmic iterator (1024 ns, base 2).
* DEBUG is gated by ``enable-debug-command`` (``no`` by default in Redis 7.0; ``local`` allows
  loopback clients). DEBUG SLEEP sleeps inside the handler: the whole server stops, as Redis's
  does, which is what tests use it for. Only the subcommands that mean something here are served;
  the others answer Redis's "unknown subcommand" error rather than pretending.
* MONITOR turns the client into a monitor; ``Server.feed_monitors`` writes the feed lines, and the
  connection starts a writer task for them. SHUTDOWN asks ``Server.prepare_shutdown``: when it
  agrees, the client gets no reply (Redis exits without one) and the runner stops the server.
* A reply that Redis does not send at all (a second MONITOR, a successful SHUTDOWN) is dropped with
  the CLIENT REPLY SKIP mechanism, which the connection already honours (``_no_reply``).
* CLUSTER: this is a standalone server. Every CLUSTER subcommand answers Redis's "cluster support
  disabled" error, except KEYSLOT, which computes the hash slot the keyspace shards by.
"""

from __future__ import annotations

import re
import time
from itertools import islice
from typing import Any

from protocols.resp import Raw, RSet, Verbatim, encode

from ..glob import compile_glob
from ..store.keyspace import SystemClock, keyslot
from .args import atoi as _atoi, to_int
from .errors import (CLUSTER_DISABLED, DEBUG_NOT_ALLOWED, INVALID_ARG_COUNT, INVALID_ARGUMENTS, INVALID_COMMAND,
                     MONITOR_DENY_BLOCKING, MUST_BE_POSITIVE, NO_KEY_ARGUMENTS, NO_LATENCY_SAMPLES, NO_SHUTDOWN,
                     NO_SUCH_KEY, NOT_INTEGER, PROTOCOL_TYPE, RESP2_NOT_SUPPORTED, SHUTDOWN_FAILED, SLOWLOG_COUNT,
                     SYNTAX, TIMEOUT_NEGATIVE, TIMEOUT_NOT_INTEGER, WAIT_ON_REPLICA, CommandError, subcommand_syntax)
from .flow import Block
from .keyspecs import GETKEYS_PROCS, command_keys
from .spec import REDIS_COMMANDS


# -- shared helpers ---------------------------------------------------------------------------------
def _help(argv: list[bytes], lines: list[str]) -> list[str]:
    """addReplyHelp: the usage line (command name as sent, upper-cased), the lines, then HELP."""
    name = argv[0].decode("latin-1").upper()
    return [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", *lines,
            "HELP", "    Prints this help."]


def _no_reply(ctx) -> None:
    """Send no reply to the command being run (Redis sends none for a second MONITOR or a
    successful SHUTDOWN). CLIENT REPLY SKIP drops exactly one reply: this one. A client whose
    replies are already off or skipped loses this reply anyway."""
    if ctx.reply_mode == "on":
        ctx.reply_mode = "skip"
        ctx.skip_replies = 1
        ctx.update_gate()


def _commands() -> dict:
    # Imported on use: the command table imports this module.
    from .table import COMMANDS
    return COMMANDS


def _lookup_fullname(name: bytes):
    """lookupCommandBySds: "get" or "config|get", case-insensitive, one level of subcommands,
    strict (a subcommand of a command without subcommands does not exist)."""
    parts = name.lower().split(b"|")
    if len(parts) > 2:
        return None
    base = _commands().get(parts[0])
    if len(parts) == 1 or base is None:
        return base
    if not base.subcommands:
        return None
    return base.subcommands.get(parts[1])


def _lookup_argv(argv: list[bytes]):
    """lookupCommand: argv as a client would send it (container, then subcommand)."""
    base = _commands().get(argv[0].lower())
    if base is None or not base.subcommands or len(argv) == 1:
        return base
    return base.subcommands.get(argv[1].lower())


def _subcommands(spec) -> list:
    """The subcommands we serve, in the order Redis 7.0 listed them."""
    order = REDIS_COMMANDS.get(spec.fullname, {}).get("subcommands", {})
    rank = {name: i for i, name in enumerate(order)}
    return sorted(spec.subcommands.values(), key=lambda s: rank.get(s.fullname, len(rank)))


def _is_local(ctx) -> bool:
    """islocalClient: a unix socket, or a TCP peer at exactly 127.0.0.1 or ::1."""
    addr = ctx.addr
    if addr.startswith("/"):
        return True
    host = addr.rsplit(":", 1)[0] if ":" in addr else addr
    return host.strip("[]") in ("127.0.0.1", "::1")


# == CONFIG ========================================================================================
# The settings themselves live in cachesrv.config; these are Redis's thin wrappers over it.

CONFIG_HELP = [
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
]


def config_get(ctx, argv):
    """CONFIG GET parameter [parameter ...]: a map of every matching parameter and its value."""
    found = ctx.server.cfg.config_get(argv[2:])
    return {_raw(name): _raw(value) for name, value in found.items()}


def _raw(s: str) -> bytes:
    # config.py keeps strings decoded with surrogateescape, so every byte round-trips
    return s.encode("utf-8", "surrogateescape")


def config_set(ctx, argv):
    """CONFIG SET parameter value [parameter value ...]: all or nothing (config.py checks every
    name first, and restores every value when one fails to parse or to apply)."""
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    pairs = list(zip(argv[2::2], argv[3::2]))
    ctx.server.cfg.config_set(pairs, client_is_local=_is_local(ctx))
    return "OK"


def config_resetstat(ctx, argv):
    """CONFIG RESETSTAT: Redis's resetServerStats + resetCommandTableStats + resetErrorTableStats.
    The slow log and the latency monitor keep their data (they have their own RESET)."""
    ctx.server.reset_stats(_commands().values())
    return "OK"


def config_rewrite(ctx, argv):
    """CONFIG REWRITE: rewrite the configuration file the server was started with."""
    ctx.server.cfg.rewrite()
    return "OK"


def config_help(ctx, argv):
    return _help(argv, CONFIG_HELP)


def install_config_hooks(server) -> None:
    """Make CONFIG SET take effect at once where the server caches a setting. Called once when
    the server is built (``Server.__init__``)."""
    cfg = server.cfg

    def thresholds(name, old, new) -> None:
        server.refresh_thresholds()

    def loglevel(name, old, new) -> None:
        server.log.set_level(new)

    def logfile(name, old, new) -> None:
        server.log.set_file(new)

    def latency_tracking(name, old, new) -> None:
        server.latency_tracking = bool(new)

    cfg.on_change("slowlog-log-slower-than", thresholds)
    cfg.on_change("latency-monitor-threshold", thresholds)
    cfg.on_change("loglevel", loglevel)
    cfg.on_change("logfile", logfile)
    cfg.on_change("latency-tracking", latency_tracking)
    server.latency_tracking = bool(cfg["latency-tracking"])


# == COMMAND =======================================================================================
COMMAND_HELP = [
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
]

# ACLGetCommandCategoryFlagByName: the categories COMMAND LIST FILTERBY ACLCAT knows.
ACL_CATEGORIES = frozenset((
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
    "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
    "transaction", "scripting",
))

_INFO_CACHE: dict[str, list] = {}
_DOCS_CACHE: dict[str, dict] = {}


def _bulk_tree(v: Any) -> Any:
    """JSON metadata -> reply values: strings are bulk strings, maps keep their key order."""
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, dict):
        return {k.encode(): _bulk_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_bulk_tree(x) for x in v]
    return v


def _key_spec_reply(ks: dict) -> dict:
    # addReplyCommandKeySpecs: flags are status replies, everything else bulk strings and integers.
    return {k.encode(): (RSet(v) if k == "flags" else _bulk_tree(v)) for k, v in ks.items()}


def _info_reply(spec) -> list:
    """addReplyCommandInfo: the 10-element entry of COMMAND / COMMAND INFO. Flags, ACL categories,
    tips and key specs are sets (RESP3); the subcommands an array, or an empty set when none."""
    entry = _INFO_CACHE.get(spec.fullname)
    if entry is None:
        subs = [_info_reply(s) for s in _subcommands(spec)] if spec.subcommands else RSet()
        entry = _INFO_CACHE[spec.fullname] = [
            spec.fullname.encode(), spec.arity, RSet(spec.flags), spec.first_key, spec.last_key, spec.step,
            RSet(spec.acl_categories), RSet(t.encode() for t in spec.tips),
            RSet(_key_spec_reply(ks) for ks in spec.key_specs), subs,
        ]
    return entry


def _doc_value(key: str, v: Any) -> Any:
    # addReplyCommandDocs / addReplyCommandArgList: flag lists are sets of status replies, the
    # history a set of [version, text] pairs, arguments arrays of maps.
    if key in ("flags", "doc_flags"):
        return RSet(v)
    if key == "history":
        return RSet([a.encode(), b.encode()] for a, b in v)
    if key == "arguments":
        return [_doc_map(a) for a in v]
    return _bulk_tree(v)


def _doc_map(d: dict) -> dict:
    return {k.encode(): _doc_value(k, v) for k, v in d.items()}


def _docs_reply(spec) -> dict:
    docs = _DOCS_CACHE.get(spec.fullname)
    if docs is None:
        docs = _doc_map(spec.docs)
        if spec.subcommands:
            docs[b"subcommands"] = {s.fullname.encode(): _docs_reply(s) for s in _subcommands(spec)}
        _DOCS_CACHE[spec.fullname] = docs
    return docs


def command(ctx, argv):
    """COMMAND: every command's COMMAND INFO entry."""
    return [_info_reply(spec) for spec in _commands().values()]


def command_count(ctx, argv):
    return len(_commands())


def command_info(ctx, argv):
    """COMMAND INFO [command-name ...]: one entry per name (null for an unknown one)."""
    if len(argv) == 2:
        return command(ctx, argv)
    out = []
    for name in argv[2:]:
        spec = _lookup_fullname(name)
        out.append(None if spec is None else _info_reply(spec))
    return out


def command_docs(ctx, argv):
    """COMMAND DOCS [command-name ...]: a map of name -> docs; unknown names are left out."""
    if len(argv) == 2:
        return {spec.fullname.encode(): _docs_reply(spec) for spec in _commands().values()}
    out = {}
    for name in argv[2:]:
        spec = _lookup_fullname(name)
        if spec is not None:
            out[spec.fullname.encode()] = _docs_reply(spec)
    return out


def _command_filter(kind: bytes, arg: bytes):
    """shouldFilterFromCommandList, as a predicate that keeps a command."""
    if kind == b"MODULE":
        return lambda spec: False             # cachesrv loads no modules
    if kind == b"ACLCAT":
        cat = arg.decode("latin-1").lower()
        if cat not in ACL_CATEGORIES:
            return lambda spec: False
        want = "@" + cat
        return lambda spec: want in spec.acl_categories
    match = compile_glob(arg, nocase=True)
    return lambda spec: match(spec.fullname.encode())


def command_list(ctx, argv):
    """COMMAND LIST [FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]"""
    keep = None
    i = 2
    while i < len(argv):
        if argv[i].upper() != b"FILTERBY" or len(argv) - 1 - i != 2:
            raise CommandError(SYNTAX)
        kind = argv[i + 1].upper()
        if kind not in (b"MODULE", b"ACLCAT", b"PATTERN"):
            raise CommandError(SYNTAX)
        keep = _command_filter(kind, argv[i + 2])
        i += 3
    out = []
    for spec in _commands().values():
        for s in (spec, *(_subcommands(spec) if spec.subcommands else ())):
            if keep is None or keep(s):
                out.append(s.fullname.encode())
    return out


# -- COMMAND GETKEYS ---------------------------------------------------------------------------------
def _getkeys(argv: list[bytes], with_flags: bool):
    target = argv[2:]
    spec = _lookup_argv(target)
    if spec is None:
        raise CommandError(INVALID_COMMAND)
    if spec.fullname not in GETKEYS_PROCS and not any("not_key" not in ks["flags"] for ks in spec.key_specs):
        raise CommandError(NO_KEY_ARGUMENTS)
    if not spec.arity_ok(len(target)):
        raise CommandError(INVALID_ARG_COUNT)
    found = command_keys(spec, target)
    if not found:
        if "no_mandatory_keys" in spec.flags:
            return []
        raise CommandError(INVALID_ARGUMENTS)
    if with_flags:
        return [[target[i], RSet(flags)] for i, flags in found]
    return [target[i] for i, _ in found]


def command_getkeys(ctx, argv):
    """COMMAND GETKEYS command [arg ...]"""
    return _getkeys(argv, False)


def command_getkeysandflags(ctx, argv):
    """COMMAND GETKEYSANDFLAGS command [arg ...]"""
    return _getkeys(argv, True)


def command_help(ctx, argv):
    return _help(argv, COMMAND_HELP)


# == TIME ==========================================================================================
def time_(ctx, argv):
    """TIME: [unix seconds, microseconds], as bulk strings. A test server's fake clock is
    followed (millisecond resolution), so TIME agrees with the TTLs it computes."""
    clock = ctx.ks.clock
    us = time.time_ns() // 1000 if type(clock) is SystemClock else clock.now_ms() * 1000
    return [b"%d" % (us // 1_000_000), b"%d" % (us % 1_000_000)]


# == SLOWLOG =======================================================================================
SLOWLOG_HELP = [
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
]


def slowlog_get(ctx, argv):
    """SLOWLOG GET [count]: the newest entries first."""
    if len(argv) > 3:
        raise subcommand_syntax(argv)
    log = ctx.server.slowlog
    count = 10
    if len(argv) == 3:
        count = to_int(argv[2])
        if count is None or count < -1:
            raise CommandError(SLOWLOG_COUNT)
        if count == -1:
            count = len(log)
    return [[e.id, e.time, e.duration, list(e.argv), e.addr.encode(), e.name]
            for e in islice(log, count)]


def slowlog_len(ctx, argv):
    return len(ctx.server.slowlog)


def slowlog_reset(ctx, argv):
    ctx.server.slowlog.clear()
    return "OK"


def slowlog_help(ctx, argv):
    return _help(argv, SLOWLOG_HELP)


# == LATENCY =======================================================================================
LATENCY_HELP = [
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified "
    "command names.",
    "    If no commands are specified then all histograms are replied.",
]


def latency_latest(ctx, argv):
    """LATENCY LATEST: [event, time of the latest sample, its latency, all-time max] per event."""
    server = ctx.server
    return [[event.encode(), samples[-1][0], samples[-1][1], server.latency_max.get(event, 0)]
            for event, samples in server.latency.items() if samples]


def latency_history(ctx, argv):
    """LATENCY HISTORY event: every [time, latency] sample kept, oldest first."""
    samples = ctx.server.latency.get(argv[2].decode("latin-1"))
    return [[t, ms] for t, ms in samples] if samples else []


def latency_reset(ctx, argv):
    """LATENCY RESET [event ...]: how many event series were dropped (names case-insensitive)."""
    server = ctx.server
    wanted = None if len(argv) == 2 else [a.decode("latin-1").lower() for a in argv[2:]]
    resets = 0
    if wanted is None:
        resets = len(server.latency)
        server.latency.clear()
        server.latency_max.clear()
        return resets
    for name in wanted:          # latencyResetEvent per argument: a repeated name finds nothing
        for event in [e for e in server.latency if e.lower() == name]:
            del server.latency[event]
            server.latency_max.pop(event, None)
            resets += 1
    return resets


def latency_graph(ctx, argv):
    """LATENCY GRAPH event: latency.c's ASCII sparkline of the event's samples."""
    name = argv[2].decode("latin-1")
    samples = ctx.server.latency.get(name)
    if not samples:
        raise CommandError(NO_LATENCY_SAMPLES.format(event=name))
    now = ctx.server.now_s()
    lows = [ms for _, ms in samples]
    text = (f"{name} - high {max(lows)} ms, low {min(lows)} ms (all time high "
            f"{ctx.server.latency_max.get(name, 0)} ms)\n" + "-" * 80 + "\n")
    text += _sparkline([(ms, _ago(now - t)) for t, ms in samples], columns=80, rows=4)
    return Verbatim(text.encode("latin-1"))


def _ago(elapsed: int) -> str:
    if elapsed < 60:
        return f"{elapsed}s"
    if elapsed < 3600:
        return f"{elapsed // 60}m"
    if elapsed < 86400:
        return f"{elapsed // 3600}h"
    return f"{elapsed // 86400}d"


def _sparkline(samples: list[tuple[int, str]], columns: int, rows: int) -> str:
    """sparklineRender with SPARKLINE_FILL: rows of '_o#' and '|' bars, then the labels written
    vertically, one blank row between, wrapped every ``columns`` samples."""
    values = [v for v, _ in samples]
    lo, hi = min(values), max(values)
    relmax = (hi - lo) or 1
    steps = 3 * rows
    out = []
    for offset in range(0, len(samples), columns):
        if offset:
            out.append("\n")
        part = samples[offset:offset + columns]
        levels = []
        for v, _ in part:
            # (int)(relval*steps)/relmax, truncated again into an int
            step = int(int((v - lo) * steps) / relmax)
            levels.append(min(max(step, 0), steps - 1))
        for row in range(rows):
            line = []
            for step in levels:
                idx = step - (rows - row - 1) * 3
                line.append("_o#"[idx] if 0 <= idx < 3 else ("|" if idx >= 3 else " "))
            out.append("".join(line) + "\n")
        out.append(" " * len(part) + "\n")        # label_margin_top
        depth = 0
        while True:
            line = [label[depth] if depth < len(label) else " " for _, label in part]
            if all(depth >= len(label) for _, label in part):
                break
            out.append("".join(line) + "\n")
            depth += 1
    return "".join(out)


def _analyze(samples, now: int) -> tuple[int, int, int, int]:
    """analyzeLatencyForEvent: (samples, average, mean absolute deviation, period seconds)."""
    n = len(samples)
    avg = sum(ms for _, ms in samples) // n
    period = now - min(t for t, _ in samples) or 1
    mad = sum(abs(avg - ms) for _, ms in samples) // n
    return n, avg, mad, period


_ADVICE = {
    "slowlog_inspect": "- Check your Slow Log to understand what are the commands you are running which are too "
                       "slow to execute. Please check https://redis.io/commands/slowlog for more information.\n",
    "scheduler": "- The system is slow to execute Redis code paths not containing system calls. This usually "
                 "means the system does not provide Redis CPU time to run for long periods. You should try to:\n"
                 "  1) Lower the system load.\n"
                 "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"
                 "  3) Check if you have a \"noisy neighbour\" problem.\n"
                 "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your "
                 "system.\n"
                 "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you "
                 "are using Jemalloc. However this may create fragmentation problems.\n",
    "hz": "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' "
          "configuration parameter to 100 using 'CONFIG SET hz 100'.\n",
    "large_objects": "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking "
                     "operation. If you have very large objects that are often deleted, expired, or evicted, try "
                     "to fragment those objects into multiple smaller objects.\n",
    "mass_eviction": "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large "
                     "objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large "
                     "keys migrations (RESTORE command), may create sudden memory pressure forcing the server to "
                     "block trying to evict keys. \n",
    "disable_thp": "- I detected a non zero amount of anonymous huge pages used by your process. This creates "
                   "very serious latency events in different conditions, especially when Redis is persisting on "
                   "disk. To disable THP support use the command 'echo never > "
                   "/sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so "
                   "that the command will be executed again after a reboot. Note that even if you have already "
                   "disabled THP, you still need to restart the Redis process to get rid of the huge pages "
                   "already created.\n",
}


def _anon_huge_pages() -> int:
    """THPGetAnonHugePagesSize: this process's AnonHugePages, in kB (0 where unknown)."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def latency_report(server) -> str:
    """createLatencyReport: the LATENCY DOCTOR text, for the events cachesrv records (command,
    fast-command, expire-cycle, eviction-del, eviction-cycle)."""
    cfg = server.cfg
    threshold = cfg["latency-monitor-threshold"]
    events = [(e, s) for e, s in server.latency.items() if s]
    if not server.latency and threshold == 0:
        return ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may "
                "use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't "
                "in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n")
    now = server.now_s()
    advise: set[str] = set()
    advices = 0
    text = ""
    for num, (event, samples) in enumerate(events, 1):
        if num == 1:
            text += ("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about "
                     "it, do you Dave?\n\n")
        n, avg, mad, period = _analyze(samples, now)
        text += (f"{num}. {event}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period "
                 f"{period / n:.2f} sec). Worst all time event {server.latency_max.get(event, 0)}ms.")
        ev = event.lower()
        if ev == "command":
            slower = cfg["slowlog-log-slower-than"]
            if slower < 0:
                advise.add("slowlog_enabled")
                advices += 1
            elif slower // 1000 > threshold:
                advise.add("slowlog_tuning")
                advices += 1
            advise.update(("slowlog_inspect", "large_objects"))
            advices += 2
        elif ev == "fast-command":
            advise.add("scheduler")
            advices += 1
        elif ev == "expire-cycle":
            advise.update(("hz", "large_objects"))
            advices += 2
        elif ev == "eviction-del":
            advise.add("large_objects")
            advices += 1
        elif ev == "eviction-cycle":
            advise.add("mass_eviction")
            advices += 1
        text += "\n"
    if _anon_huge_pages() > 0:
        advise.add("disable_thp")
        advices += 1
    if not events and not advices:
        return text + ("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the "
                       "slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think "
                       "things over.\n")
    if events and not advices:
        return text + ("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use "
                       "the Redis community to get some help, providing this report in your help request.\n")
    text += "\nI have a few advices for you:\n\n"
    if "slowlog_enabled" in advise:
        text += ("- There are latency issues with potentially slow commands you are using. Try to enable the Slow "
                 f"Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold * 1000}'. If "
                 "the Slow log is disabled Redis is not able to log slow commands execution for you.\n")
    if "slowlog_tuning" in advise:
        text += ("- Your current Slow Log configuration only logs events that are slower than your configured "
                 f"latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold * 1000}'.\n")
    for key in ("slowlog_inspect", "scheduler"):
        if key in advise:
            text += _ADVICE[key]
    if "hz" in advise and cfg["hz"] < 100:
        text += _ADVICE["hz"]
    for key in ("large_objects", "mass_eviction", "disable_thp"):
        if key in advise:
            text += _ADVICE[key]
    return text


def latency_doctor(ctx, argv):
    return Verbatim(latency_report(ctx.server).encode("latin-1"))


# fillCommandCDF walks the histogram with hdr's logarithmic iterator: reporting levels at
# 1024 ns * 2**k. With 2 significant digits, level k's bucket ends at 1032 * 2**k - 1 ns; the
# iterator never reaches the level past the histogram's top (1 s), so 20 levels are reported.
_CDF_LEVELS = [(1024 << k, (1032 << k) - 1) for k in range(20)]


def _histogram_buckets(hist) -> list[tuple[int, int]]:
    """(lowest value in ns, calls) of each non-empty bucket of a histogram kept by
    ``info.record_latency``, in increasing order."""
    from .info import _bucket_range
    return [(_bucket_range(i)[0], n) for i, n in enumerate(hist) if n]


def _histogram_reply(hist) -> dict:
    """{"calls": n, "histogram_usec": {µs: cumulative calls}} for one command."""
    buckets = _histogram_buckets(hist)
    cdf = {}
    cumulative = previous = i = 0
    for level, highest in _CDF_LEVELS:
        while i < len(buckets) and buckets[i][0] <= level:
            cumulative += buckets[i][1]
            i += 1
        if cumulative > previous:
            cdf[highest // 1000] = cumulative
        previous = cumulative
    return {b"calls": sum(n for _, n in buckets), b"histogram_usec": cdf}


def latency_histogram(ctx, argv):
    """LATENCY HISTOGRAM [command ...]: per-command cumulative latency distributions, for the
    commands called since the last CONFIG RESETSTAT (a container brings its subcommands).

    Redis answers a name once per time it is asked, so its map may repeat a key; a dict cannot,
    so that case is written as a flat array (RESP2) or raw map pairs (RESP3)."""
    hists = ctx.server.latency_histograms
    if len(argv) == 2:
        targets = list(_commands().values())
    else:
        targets = [s for s in (_lookup_fullname(a) for a in argv[2:]) if s is not None]
    pairs: list[tuple[bytes, dict]] = []
    for spec in targets:
        for s in (spec, *(_subcommands(spec) if spec.subcommands else ())):
            hist = hists.get(s)
            if hist is not None:
                pairs.append((s.fullname.encode(), _histogram_reply(hist)))
    if len({name for name, _ in pairs}) == len(pairs):
        return dict(pairs)
    if ctx.proto == 2:
        return [x for pair in pairs for x in pair]
    return Raw(b"%%%d\r\n" % len(pairs) + b"".join(encode(n, 3) + encode(h, 3) for n, h in pairs))


def latency_help(ctx, argv):
    return _help(argv, LATENCY_HELP)


# == DEBUG =========================================================================================
# Redis's DEBUG HELP lines, for the subcommands served here (the rest are tied to Redis's
# allocator, RDB/AOF files, replication or C structures, and answer "unknown subcommand").
DEBUG_HELP = [
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
]


_STRTOD_PREFIX = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan))", re.IGNORECASE)


def _strtod_prefix(b: bytes) -> float:
    """C's strtod(s, NULL) as DEBUG SLEEP uses it: the longest numeric prefix, 0.0 if none."""
    m = _STRTOD_PREFIX.match(b)
    if not m:
        return 0.0
    try:
        return float(m.group(1))
    except ValueError:
        return 0.0


def _debug_allowed(ctx) -> bool:
    mode = str(ctx.server.cfg["enable-debug-command"]).lower()
    return mode == "yes" or (mode == "local" and _is_local(ctx))


def debug(ctx, argv):
    """DEBUG subcommand [argument ...]"""
    if not _debug_allowed(ctx):
        raise CommandError(DEBUG_NOT_ALLOWED)
    sub = argv[1].lower()
    argc = len(argv)
    handler = _DEBUG.get(sub)
    if handler is None or not handler[0](argc):
        raise subcommand_syntax(argv)
    return handler[1](ctx, argv)


def _debug_help(ctx, argv):
    return _help(argv, DEBUG_HELP)


def _debug_sleep(ctx, argv):
    """DEBUG SLEEP seconds: the whole server stops, as Redis's nanosleep does. A negative or
    unparsable time sleeps not at all."""
    seconds = _strtod_prefix(argv[2])
    usec = int(seconds * 1_000_000) if seconds == seconds and abs(seconds) < 9.2e12 else -1
    if usec > 0:
        time.sleep(usec / 1_000_000)
    return "OK"


def _debug_set_active_expire(ctx, argv):
    ctx.server.active_expire_enabled = _atoi(argv[2]) != 0
    return "OK"


def _debug_error(ctx, argv):
    # Written as a raw reply, as Redis's addReplySds: no error statistics are counted for it.
    text = argv[2].replace(b"\r", b" ").replace(b"\n", b" ")
    return Raw(b"-" + text + b"\r\n")


def _debug_log(ctx, argv):
    ctx.server.log.warning("DEBUG LOG: %s", argv[2].split(b"\0", 1)[0].decode("latin-1"))
    return "OK"


def _debug_populate(ctx, argv):
    """DEBUG POPULATE count [prefix] [size]: string keys prefix:0..count-1 holding "value:N"
    (zero-padded or cut to ``size`` bytes); existing keys are left alone."""
    count = to_int(argv[2])
    if count is None or count < 0:
        raise CommandError(MUST_BE_POSITIVE)
    size = 0
    if len(argv) == 5:
        size = to_int(argv[4])
        if size is None or size < 0:
            raise CommandError(MUST_BE_POSITIVE)
    prefix = argv[3] if len(argv) >= 4 else b"key"
    prefix = prefix.split(b"\0", 1)[0]
    db = ctx.db
    for j in range(count):
        key = (prefix + b":%d" % j)[:127]         # snprintf into a 128-byte buffer
        if db.get(key, touch=False) is not None:
            continue
        value = b"value:%d" % j
        if size:
            value = value[:size].ljust(size, b"\0")
        db.set(key, value, event=None)            # dbAdd: no keyspace event
    return "OK"


def _debug_protocol(ctx, argv):
    kind = argv[2].lower()
    resp3 = ctx.proto >= 3
    if kind == b"string":
        return b"Hello World"
    if kind == b"integer":
        return 12345
    if kind == b"double":
        return 3.141
    if kind == b"bignum":
        return Raw(b"(1234567999999999999999999999999999999\r\n") if resp3 else \
            b"1234567999999999999999999999999999999"
    if kind == b"null":
        return None
    if kind == b"array":
        return [0, 1, 2]
    if kind == b"set":
        return RSet([0, 1, 2])
    if kind == b"map":
        return {0: False, 1: True, 2: False}
    if kind == b"attrib":
        reply = b"Some real reply following the attribute"
        if not resp3:
            return reply
        return Raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" + encode(reply, 3))
    if kind == b"push":
        if not resp3:
            raise CommandError(RESP2_NOT_SUPPORTED)
        return Raw(b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n" +
                   encode(b"Some real reply following the push reply", 3))
    if kind == b"verbatim":
        return Verbatim(b"This is a verbatim\nstring")
    if kind == b"true":
        return True
    if kind == b"false":
        return False
    raise CommandError(PROTOCOL_TYPE)


def _debug_object(ctx, argv):
    """DEBUG OBJECT key: Redis's one-line description. "Value at" is the object's identity here;
    lru is the LRU clock (seconds, 24 bits) of the key's last access; serializedlength is the size
    the value takes in an RDB file."""
    from .keys import _encoding, _refcount
    key = argv[2]
    db = ctx.db
    value = db.get(key, touch=False)        # a plain dictionary find: no statistics, no access
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    idle = db.idle_seconds(key)
    lru = (ctx.ks.lru_clock - idle) & 0xFFFFFF
    not_int = db.not_int(key)
    return (f"Value at:{hex(id(value))} refcount:{_refcount(ctx, value, not_int)} "
            f"encoding:{_encoding(value, not_int)} "
            f"serializedlength:{_serialized_length(ctx, value)} lru:{lru} lru_seconds_idle:{idle}")


def _serialized_length(ctx, value) -> int:
    if type(value) is bytes or type(value) is bytearray:
        return rdb_string_length(bytes(value), _rdbcompression(ctx))
    size = getattr(value, "serialized_length", None)     # a value type that knows its RDB size
    return size() if size is not None else 0


def _rdbcompression(ctx) -> bool:
    return bool(ctx.server.cfg["rdbcompression"])


# DEBUG subcommand -> (argument count check, handler), in debugCommand's terms.
_DEBUG = {
    b"help": (lambda argc: argc == 2, _debug_help),
    b"sleep": (lambda argc: argc == 3, _debug_sleep),
    b"set-active-expire": (lambda argc: argc == 3, _debug_set_active_expire),
    b"object": (lambda argc: argc == 3, _debug_object),
    b"error": (lambda argc: argc == 3, _debug_error),
    b"log": (lambda argc: argc == 3, _debug_log),
    b"populate": (lambda argc: 3 <= argc <= 5, _debug_populate),
    b"protocol": (lambda argc: argc == 3, _debug_protocol),
}


# -- RDB string sizes (DEBUG OBJECT serializedlength) ------------------------------------------------
def _rdb_len_size(n: int) -> int:
    """rdbSaveLen: 1, 2, 5 or 9 bytes."""
    return 1 if n < 64 else 2 if n < 16384 else 5 if n <= 0xFFFFFFFF else 9


def _rdb_int_size(v: int) -> int:
    """rdbEncodeInteger: 1 type byte + int8/16/32, or 0 when the value needs more."""
    if -(1 << 7) <= v < (1 << 7):
        return 2
    if -(1 << 15) <= v < (1 << 15):
        return 3
    if -(1 << 31) <= v < (1 << 31):
        return 5
    return 0


def rdb_string_length(s: bytes, compression: bool) -> int:
    """What rdbSaveStringObject writes for a string value: an integer encoding when the string is
    a canonical integer that fits 32 bits, else LZF when it helps (strings over 20 bytes), else
    the length and the bytes."""
    n = len(s)
    if n <= 20:
        v = to_int(s)
        if v is not None:
            size = _rdb_int_size(v)
            return size if size else _rdb_len_size(n) + n
    if compression and n > 20:
        packed = lzf_compressed_size(s, n - 4)
        if packed:
            return 1 + _rdb_len_size(packed) + _rdb_len_size(n) + packed
    return _rdb_len_size(n) + n


def lzf_compressed_size(data: bytes, out_len: int) -> int:
    """The size lzf_compress (liblzf as Redis builds it: HLOG 16, VERY_FAST) produces for
    ``data``, or 0 when the result does not fit ``out_len`` bytes (Redis then stores the string
    as it is). Only the sizes are computed; nothing is written. Pure Python: about a second per
    incompressible megabyte, which DEBUG OBJECT (a debugging command) pays on big strings."""
    in_end = len(data)
    if not in_end or not out_len:
        return 0
    htab: dict[int, int] = {}
    ip, op, lit = 0, 1, 0
    hval = (data[0] << 8) | data[1]
    while ip < in_end - 2:
        hval = ((hval << 8) | data[ip + 2]) & 0xFFFFFFFF
        h = ((hval >> 8) - hval * 5) & 0xFFFF
        ref = htab.get(h)
        htab[h] = ip
        if (ref is not None and ip - ref - 1 < 8192 and ref > 0
                and data[ref] == data[ip] and data[ref + 1] == data[ip + 1] and data[ref + 2] == data[ip + 2]):
            length = 2
            maxlen = min(in_end - ip - length, 264)
            if not lit:
                op -= 1                              # undo the empty literal run
            if op + 4 >= out_len:
                return 0
            matched = False
            if maxlen > 16:
                for _ in range(16):
                    length += 1
                    if data[ref + length] != data[ip + length]:
                        matched = True
                        break
            if not matched:
                length += 1
                while length < maxlen and data[ref + length] == data[ip + length]:
                    length += 1
            length -= 2
            ip += 1
            op += 2 if length < 7 else 3
            lit = 0
            op += 1                                  # start a literal run
            ip += length + 1
            if ip >= in_end - 2:
                break
            ip -= 2
            hval = (data[ip] << 8) | data[ip + 1]
            for _ in range(2):
                hval = ((hval << 8) | data[ip + 2]) & 0xFFFFFFFF
                htab[((hval >> 8) - hval * 5) & 0xFFFF] = ip
                ip += 1
        else:
            if op >= out_len:
                return 0
            lit += 1
            op += 1
            ip += 1
            if lit == 32:
                lit = 0
                op += 1
    if op + 3 > out_len:
        return 0
    while ip < in_end:
        lit += 1
        op += 1
        ip += 1
        if lit == 32:
            lit = 0
            op += 1
    if not lit:
        op -= 1
    return op


# == MONITOR =======================================================================================
def monitor(ctx, argv):
    """MONITOR: stream every command the server runs to this client (Server.feed_monitors)."""
    if ctx.in_exec:                      # CLIENT_DENY_BLOCKING: a reply per command is expected
        raise CommandError(MONITOR_DENY_BLOCKING)
    if ctx.monitor or ctx.kind == "replica":
        _no_reply(ctx)                   # Redis ignores it and answers nothing
        return None
    ctx.monitor = True
    ctx.server.monitors.add(ctx)
    ctx.update_gate()
    return "OK"


# == WAIT ==========================================================================================
def wait(ctx, argv):
    """WAIT numreplicas timeout: how many replicas acknowledged this client's writes. With no
    replication every answer is 0: at once when that is enough (or the client cannot block),
    else when the timeout (milliseconds; 0 = for ever) runs out."""
    if ctx.ks.role_replica:
        raise CommandError(WAIT_ON_REPLICA)
    numreplicas = to_int(argv[1])
    if numreplicas is None:
        raise CommandError(NOT_INTEGER)
    timeout = to_int(argv[2])
    if timeout is None:
        raise CommandError(TIMEOUT_NOT_INTEGER)
    if timeout < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    acked = 0                            # no replicas yet: nothing can acknowledge
    if acked >= numreplicas or ctx.in_exec:
        return acked
    deadline = ctx.ks.clock.now_ms() + timeout if timeout else None
    return Block(deadline, on_timeout=lambda: 0)


# == SHUTDOWN ======================================================================================
def shutdown(ctx, argv):
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]

    On success the server stops and this client gets no reply; when a needed final save fails
    (and FORCE was not given) the server keeps running and says so."""
    opts = set()
    for a in argv[1:]:
        opt = a.upper()
        if opt not in (b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"):
            raise CommandError(SYNTAX)
        opts.add(opt)
    if (b"ABORT" in opts and len(opts) > 1) or {b"NOSAVE", b"SAVE"} <= opts:
        raise CommandError(SYNTAX)
    server = ctx.server
    if b"ABORT" in opts:
        if not server.abort_shutdown():
            raise CommandError(NO_SHUTDOWN)
        return "OK"
    if not server.prepare_shutdown(save=b"SAVE" in opts, nosave=b"NOSAVE" in opts, now=b"NOW" in opts,
                                   force=b"FORCE" in opts):
        raise CommandError(SHUTDOWN_FAILED)
    _no_reply(ctx)
    ctx.close_requested = True
    return None


# == CLUSTER =======================================================================================
def cluster_disabled(ctx, argv):
    """Every CLUSTER subcommand of a standalone server (HELP included), as Redis answers them."""
    raise CommandError(CLUSTER_DISABLED)


def cluster_keyslot(ctx, argv):
    """CLUSTER KEYSLOT key: the hash slot of the key (CRC16 of the key or of its {hash tag})."""
    return keyslot(argv[2])
