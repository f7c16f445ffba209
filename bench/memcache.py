"""memcached benchmark: cachesrv vs. Debian's memcached, with memcaslap, as ratios.

Usage::

    python -m bench memcache                  # default: 3 rounds of SET, GET and a 16-key multi-get
    python -m bench memcache --quick          # smoke run: 1 round, 10000 requests per test
    python -m bench memcache --tests set,get --rounds 5 --requests 200000 --json out.json
    python -m bench memcache --target set=0.4,get=0.4,mget=0.3

Method
------
The same as bench/resp.py's (two shared, noisy cores: only ratios taken in
one run mean anything), with memcaslap (Debian ``libmemcached-tools``; it is
libmemcached's ``memaslap``) as the load generator:

1. starts cachesrv (``python -m cachesrv --port 0 --memcache-port P --bind
   127.0.0.1 --save "" --appendonly no --loglevel warning``: the RESP port is
   whatever the OS gives, nothing is written to disk) and memcached
   (``memcached -l 127.0.0.1 -p P -U 0``, plus ``-u nobody`` when running as
   root, which memcached requires; everything else is memcached's default: 4
   threads, 64 MB) side by side on free 127.0.0.1 ports, and waits until each
   answers ``version`` with ``VERSION ...``;
2. runs ``--rounds`` interleaved rounds; in each, for each test, one
   ``memcaslap -s 127.0.0.1:P -T 2 -c 50 -x N -F CFG -w 1k [-d 16]`` against
   each server, back to back, the first server alternating from round to round
   and test to test.  Before each invocation the runner sends ``flush_all``,
   and reads ``stats`` before and after it;
3. tests: ``SET`` (the config file's ``cmd`` section is ``0 1.0``: all sets,
   each of a new key), ``GET`` (``1 1.0``: all gets) and ``MGET`` (all gets,
   ``-d 16``: memcaslap sends ``get k1 ... k16``).  Keys and values have fixed
   sizes (``--key-size``, ``--value-size``, default 32 bytes each).  With no
   sets to do, memcaslap first *warms up*: every connection stores its whole
   key window (``-w 1k``: 1024 keys, so 50 x 1024 = 51,200 sets), then gets
   random keys of its window, so every get should hit.  The runner checks it:
   the ``hits`` column is the server's ``get_hits`` over ``cmd_get`` during the
   invocation (lowest over servers and rounds), ``keys/req`` is the number of
   keys per get request the server received, computed from its ``cmd_get`` and
   ``bytes_read`` (a get request is ``get`` + `` key`` per key + CRLF; every
   set request has the same known length).  An invocation also fails when the
   server stored fewer items (``total_items``) than memcaslap sent sets, or
   counted other gets than memcaslap sent: memcaslap itself ignores error
   replies and would report their rate;
4. throughput: memcaslap's last line is ``Run time: 3.6s Ops: 451200 TPS:
   125453 Net_rate: 14.1M/s``, where Run time is the time after the warm-up
   but Ops (and so TPS = Ops/Run time) *includes the warm-up sets*.  The runner
   takes the run's exact duration as Ops/TPS and reports the measured
   operations over it: sets for SET, keys got for GET and MGET (for MGET, one
   op is one key: requests/s = ops/s / 16);
5. server CPU: utime+stime of the server process (/proc/PID/stat, 10 ms
   resolution) around each invocation, per op.  For GET and MGET the warm-up
   sets are taken out: their cost is estimated as 51,200 x the same server's
   CPU per SET in the same round (or its median over the run), so ``--tests``
   without ``set`` leaves GET/MGET's CPU column empty, and a note says when
   the warm-up's share is the larger one (as with --quick), making it rough;
6. reports, per test, the median ops/s of each server, the median of the
   per-round ratios cachesrv/memcached with their spread, the median CPU
   µs/op of each and the median per-round CPU ratio, and PASS/FAIL against
   ``--target`` (default ``set=0.4,get=0.4``, the memcached issue's goal).
   Targets are informational: the exit code is 0 unless something crashed (a
   server died or could not start: 1; bad arguments or no memcaslap: 2).

Every invocation is bounded by ``--timeout`` seconds and the run stops
starting new ones after ``--max-seconds``; a test that fails on a server is
not run further.  ``--requests N`` (default 300000, a few seconds per invocation: shorter
runs swung with every hiccup of a shared machine; 10000 with --quick) is
memcaslap's -x for SET and GET; MGET gets 8N keys (N/2 requests).  -x is
rounded down to a multiple of the connections (x 16 for MGET: memcaslap
gives every connection x/c operations and sends a short last multi-get
otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import stats
from .servers import (CLK_TCK, Crashed, RunState, Server, environment, guarded_rounds,
                      log, run_tool, start_servers)

DEFAULT_CACHESRV_CMD = ('{python} -m cachesrv --port 0 --memcache-port {port} --bind {host} '
                        '--save "" --appendonly no --loglevel warning')
# memcached refuses to run as root without -u; everything else is memcached's default
DEFAULT_MEMCACHED_CMD = "memcached -l {host} -p {port} -U 0" + (
    " -u nobody" if hasattr(os, "geteuid") and os.geteuid() == 0 else "")
# Debian's name for libmemcached's memaslap; memcslap is a different tool (memslap)
MEMCASLAP_NAMES = ("memcaslap", "memaslap")

SERVERS = ("cachesrv", "memcached")
REF = "memcached"
WINDOW = 1024            # memcaslap -w 1k: keys per connection (its minimum); warm-up size
DEFAULT_REQUESTS = 300_000
QUICK_REQUESTS = 10_000
DEFAULT_TARGETS = "set=0.4,get=0.4"
STATS_REQUEST = b"stats\r\n"


@dataclass(frozen=True)
class TestSpec:
    name: str            # SET | GET | MGET
    get: bool            # all gets (memcaslap warms up first) vs all sets
    multi: bool = False  # -d --mget-keys
    scale: int = 1       # -x = --requests * scale


ALL_TESTS: dict[str, TestSpec] = {t.name: t for t in [
    TestSpec("SET", get=False),
    TestSpec("GET", get=True),
    TestSpec("MGET", get=True, multi=True, scale=8),
]}


# --------------------------------------------------------------------------
# tiny blocking memcached client (readiness, flush_all, stats)

def mc_request(host: str, port: int, line: bytes, *, end: bytes = b"\r\n",
               timeout: float = 10.0) -> bytes:
    """Send one text-protocol request; read until the reply ends with ``end``."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(line)
        buf = b""
        while not buf.endswith(end):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed after {buf[-200:]!r}")
            buf += chunk
            if buf.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")) and buf.endswith(b"\r\n"):
                break
        return buf


def version_probe(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the server answers ``version`` with ``VERSION ...``."""
    try:
        return mc_request(host, port, b"version\r\n", timeout=timeout).startswith(b"VERSION ")
    except (OSError, ValueError):
        return False


def mc_stats(host: str, port: int) -> dict[str, str]:
    reply = mc_request(host, port, STATS_REQUEST, end=b"END\r\n")
    out = {}
    for ln in reply.decode(errors="replace").split("\r\n"):
        parts = ln.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    if not out:
        raise ValueError(f"no STAT lines in {reply[:200]!r}")
    return out


def mc_flush(host: str, port: int) -> None:
    reply = mc_request(host, port, b"flush_all\r\n")
    if reply != b"OK\r\n":
        raise ValueError(f"flush_all answered {reply[:200]!r}")


# --------------------------------------------------------------------------
# memcaslap

_RESULT_RE = re.compile(r"^Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+) Net_rate: ([\d.]+)M/s\s*$", re.M)
_COUNTER_RE = re.compile(r"^(cmd_get|cmd_set|get_misses|written_bytes|read_bytes|object_bytes|"
                         r"verify_misses|verify_failed): (\d+)\s*$", re.M)


def parse_memcaslap(text: str) -> dict | None:
    """memcaslap's final report as numbers, or None when it has none.

    The report (ms_print_memaslap_stats)::

        cmd_get: 400000
        cmd_set: 51200
        get_misses: 0
        written_bytes: 19244800
        read_bytes: 34009600
        object_bytes: 3276800

        Run time: 3.6s Ops: 451200 TPS: 125453 Net_rate: 14.1M/s

    Ops = cmd_get + cmd_set, *including* the warm-up sets of an all-get run,
    while Run time starts after the warm-up; Run time is rounded to 0.1 s, TPS
    to 1 op/s, so ``duration_s`` = Ops/TPS is the run's exact length.
    """
    m = None
    for m in _RESULT_RE.finditer(text):
        pass
    if m is None:
        return None
    out: dict = {k: int(v) for k, v in _COUNTER_RE.findall(text[:m.start()])}
    out.update(run_time_s=float(m.group(1)), ops=int(m.group(2)), tps=int(m.group(3)),
               net_rate_mb_s=float(m.group(4)))
    if out["tps"] > 0 and out["ops"] > 0:
        out["duration_s"] = out["ops"] / out["tps"]
    else:
        out["duration_s"] = out["run_time_s"]
    out["unset_keys"] = len(re.findall(r"didn't set success", text))
    return out


def memcaslap_config(key_size: int, value_size: int, get: bool) -> str:
    """memcaslap -F file: fixed key and value sizes; all sets (cmd 0) or all gets (cmd 1)."""
    return (f"key\n{key_size} {key_size} 1\n"
            f"value\n{value_size} {value_size} 1\n"
            f"cmd\n0 {0.0 if get else 1.0}\n1 {1.0 if get else 0.0}\n")


def set_request_len(key_size: int, value_size: int) -> int:
    # "set <key> 0 0 <bytes>\r\n<data>\r\n" (memcaslap's flags and exptime are 0)
    return len(f"set {'k' * key_size} 0 0 {value_size}\r\n") + value_size + 2


@dataclass
class Run:
    server: str
    test: str
    round: int
    requests: int               # memcaslap -x
    status: str                 # ok | failed | timeout | crashed
    ops_per_s: float | None = None
    ops: int | None = None      # measured ops: sets (SET) or keys got (GET, MGET)
    warmup_sets: int = 0
    hit_ratio: float | None = None
    keys_per_req: float | None = None
    cpu_s: float | None = None  # server CPU over the whole invocation (warm-up included)
    cpu_us_per_op: float | None = None   # filled in by summarize (warm-up taken out)
    cpu_rough: bool = False     # the warm-up's estimated CPU exceeds the measured part's
    duration_s: float | None = None
    wall_s: float | None = None
    server_stats: dict = field(default_factory=dict)   # deltas of the counters used
    memcaslap: dict = field(default_factory=dict)
    message: str = ""
    argv: list[str] = field(default_factory=list)


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def _delta(before: dict, after: dict, key: str) -> int | None:
    try:
        return int(after[key]) - int(before[key])
    except (KeyError, ValueError):
        return None


def run_memcaslap(args, srv: Server, spec: TestSpec, requests: int, round_no: int,
                  cfg_path: Path) -> Run:
    argv = [args.memcaslap, "-s", f"{srv.host}:{srv.port}", "-T", str(args.threads),
            "-c", str(args.clients), "-x", str(requests), "-F", str(cfg_path), "-w", "1k"]
    if spec.multi:
        argv += ["-d", str(args.mget_keys)]
    run = Run(server=srv.name, test=spec.name, round=round_no, requests=requests,
              status="failed", argv=argv)
    try:
        mc_flush(srv.host, srv.port)
        before = mc_stats(srv.host, srv.port)
    except (OSError, ValueError) as e:
        run.status = "failed" if srv.alive() else "crashed"
        run.message = f"flush_all/stats before the run failed: {e}"
        return run

    tr = run_tool(argv, srv, args.timeout)
    run.wall_s = tr.wall_s
    if tr.status != "ok":
        run.status, run.message = tr.status, tr.message
        return run
    res = parse_memcaslap(tr.stdout)
    if tr.returncode != 0 or res is None:
        run.message = (f"memcaslap exit {tr.returncode}: "
                       f"{_tail(tr.stderr) or _tail(tr.stdout) or 'no output'}")
        return run
    run.memcaslap = res
    try:
        after = mc_stats(srv.host, srv.port)
    except (OSError, ValueError) as e:
        run.status = "failed" if srv.alive() else "crashed"
        run.message = f"stats after the run failed: {e}"
        return run

    d = {k: _delta(before, after, k)
         for k in ("cmd_get", "cmd_set", "get_hits", "get_misses", "total_items", "bytes_read")}
    run.server_stats = d
    sets, gets = res.get("cmd_set", 0), res.get("cmd_get", 0)
    run.warmup_sets = sets if spec.get else 0
    run.ops = gets if spec.get else sets
    run.duration_s = res["duration_s"]
    run.cpu_s = tr.cpu_s
    problems = []
    if not run.ops or not run.duration_s:
        problems.append(f"nothing measured (Ops {res['ops']}, TPS {res['tps']})")
    if d["total_items"] is not None and d["total_items"] < sets:
        problems.append(f"server stored {d['total_items']} items of {sets} sets sent"
                        + (" (warm-up)" if spec.get else ""))
    if res.get("unset_keys"):
        problems.append(f"memcaslap: {res['unset_keys']} warm-up sets not stored")
    if spec.get:
        if d["cmd_get"] != gets:
            problems.append(f"server counted cmd_get {d['cmd_get']}, memcaslap sent {gets} keys")
        if d["get_hits"] is not None and d["cmd_get"]:
            run.hit_ratio = d["get_hits"] / d["cmd_get"]
        if d["bytes_read"] is not None and d["cmd_get"]:
            # bytes_read also counts the "stats" request that read the counters afterwards
            get_bytes = (d["bytes_read"] - len(STATS_REQUEST)
                         - sets * set_request_len(args.key_size, args.value_size))
            lines = (get_bytes - d["cmd_get"] * (args.key_size + 1)) / len("get\r\n")
            if lines >= 1:
                run.keys_per_req = d["cmd_get"] / lines
    if problems:
        run.message = "; ".join(problems)
        return run
    run.ops_per_s = run.ops / run.duration_s
    run.status = "ok"
    return run


# --------------------------------------------------------------------------
# summary

def _cpu_per_op(runs: list[Run]) -> None:
    """Fill in cpu_us_per_op; for GET/MGET take out the warm-up sets at the same server's
    CPU per SET in the same round (else its median SET over the run)."""
    set_us: dict[tuple[str, int], float] = {}
    for r in runs:
        if r.test == "SET" and r.status == "ok" and r.cpu_s and r.ops:
            r.cpu_us_per_op = r.cpu_s * 1e6 / r.ops
            set_us[(r.server, r.round)] = r.cpu_us_per_op
    for r in runs:
        if r.test == "SET" or r.status != "ok" or not r.cpu_s or not r.ops:
            continue
        per_set = set_us.get((r.server, r.round))
        if per_set is None:
            per_set = stats.median(v for (srv, _), v in set_us.items() if srv == r.server)
        if per_set is None:
            continue
        warmup = r.warmup_sets * per_set * 1e-6
        cpu = r.cpu_s - warmup
        r.cpu_us_per_op = cpu * 1e6 / r.ops if cpu > 0 else None
        r.cpu_rough = warmup > cpu


def summarize(args, runs: list[Run]) -> list[dict]:
    _cpu_per_op(runs)
    summary = []
    for spec in args.tests:
        per: dict[str, dict[int, Run]] = {s: {} for s in SERVERS}
        notes: dict[str, tuple[str, str]] = {}
        for r in runs:
            if r.test != spec.name:
                continue
            per[r.server][r.round] = r
            if r.status != "ok":
                notes.setdefault(r.server, (r.status, r.message))
        rounds = sorted(set(per["cachesrv"]) | set(per[REF]))

        def col(server, attr):
            return [getattr(per[server][i], attr) if i in per[server] else None for i in rounds]

        cmp = stats.compare(col("cachesrv", "ops_per_s"), col(REF, "ops_per_s"),
                            col("cachesrv", "cpu_us_per_op"), col(REF, "cpu_us_per_op"),
                            ref_name=REF, unit="ops")
        ok = [r for s in SERVERS for r in per[s].values() if r.status == "ok"]
        hits = [r.hit_ratio for r in ok if r.hit_ratio is not None]
        kpr = [r.keys_per_req for r in ok if r.keys_per_req is not None]
        extra_notes = []
        if spec.get:
            for s in SERVERS:
                low = [r for r in per[s].values() if r.status == "ok" and r.hit_ratio is not None
                       and r.hit_ratio < 0.99]
                if low:
                    extra_notes.append((s, f"only {min(r.hit_ratio for r in low):.1%} of gets hit"))
            want = args.mget_keys if spec.multi else 1
            for s in SERVERS:
                off = [r.keys_per_req for r in per[s].values() if r.status == "ok"
                       and r.keys_per_req is not None and abs(r.keys_per_req - want) > 0.05]
                if off:
                    extra_notes.append((s, f"received {off[0]:.2f} keys per get request, "
                                           f"expected {want}"))
            rough = sorted({r.server for s in SERVERS for r in per[s].values() if r.cpu_rough})
            if rough:
                extra_notes.append(("cpu", f"rough for {', '.join(rough)}: the warm-up sets "
                                           "cost more CPU than the gets measured (raise --requests)"))
            if all(t.name != "SET" for t in args.tests):
                extra_notes.append(("cpu", "no CPU figures: the warm-up sets' cost is taken "
                                           "from SET; add set to --tests"))
        target = stats.target_for(args.target, spec.name)
        summary.append({
            "test": spec.name,
            "keys_per_request": (args.mget_keys if spec.multi else 1) if spec.get else None,
            "status": stats.summary_status(notes, cmp["ratio"], REF),
            **cmp,
            "hit_ratio_min": min(hits) if hits else None,
            "keys_per_request_measured": [round(min(kpr), 3), round(max(kpr), 3)] if kpr else None,
            "target": target, "verdict": stats.verdict(cmp["ratio"], target),
            "notes": {k: f"{v[0]}: {v[1]}" for k, v in notes.items()},
            "warnings": [f"{s}: {m}" for s, m in extra_notes],
        })
    return summary


def _kpr_cell(s: dict) -> str:
    m = s["keys_per_request_measured"]
    if not m:
        return "-" if s["keys_per_request"] is None else str(s["keys_per_request"])
    return f"{m[0]:.1f}" if abs(m[0] - m[1]) < 0.05 else f"{m[0]:.1f}-{m[1]:.1f}"


def render(summary: list[dict], show_targets: bool) -> str:
    table = stats.comparison_table(
        summary, ref_name=REF, ref_label="mc", unit="ops", unit_label="ops/s", per="op",
        show_targets=show_targets,
        lead=[("test", lambda s: s["test"]), ("keys/req", _kpr_cell)],
        extra=[("hits", lambda s: "-" if s["hit_ratio_min"] is None
                else f"{s['hit_ratio_min']:.1%}")])
    notes = list(stats.render_notes((s["test"], s["test"], k, v)
                                    for s in summary for k, v in s["notes"].items()).splitlines())
    warnings = [f"  {s['test']} {w}" for s in summary for w in s["warnings"]]
    if warnings:
        notes = (notes or ["", "notes:"]) + warnings
    return "\n".join([table] + notes)


# --------------------------------------------------------------------------
# arguments and main

def parse_tests(text: str) -> list[TestSpec]:
    return [ALL_TESTS[n] for n in stats.parse_names(text, list(ALL_TESTS))]


def parse_targets(text: str) -> stats.Targets:
    return stats.parse_targets(text, list(ALL_TESTS))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench memcache",
        description="Benchmark cachesrv's memcached protocol against memcached with memcaslap; "
                    "report median per-round ratios. Method: see the bench/memcache.py docstring.")
    stats.add_run_args(p, load_tool="memcaslap", timeout=60.0, max_seconds=600.0,
                       quick_help=f"smoke run: 1 round, --requests {QUICK_REQUESTS}")
    p.add_argument("--requests", "-n", type=int, default=None,
                   help=f"memcaslap -x for SET and GET; MGET gets 8x as many keys "
                        f"(default {DEFAULT_REQUESTS}; {QUICK_REQUESTS} with --quick)")
    p.add_argument("--tests", "-t", type=parse_tests, default=None,
                   help="comma-separated tests: set, get, mget (default: all three)")
    p.add_argument("--target", type=parse_targets, default=parse_targets(DEFAULT_TARGETS),
                   help="minimum ratios TEST=R,...; 'none' for no targets "
                        f"(default {DEFAULT_TARGETS})")
    p.add_argument("--threads", "-T", type=int, default=2,
                   help="memcaslap -T threads (default 2: the machines have 2 cores, "
                        "shared with the server)")
    p.add_argument("--mget-keys", type=int, default=16,
                   help="keys per multi-get, memcaslap -d (default %(default)s)")
    p.add_argument("--key-size", type=int, default=32,
                   help="key length, 16-250 bytes (default %(default)s)")
    p.add_argument("--value-size", type=int, default=32,
                   help="value length in bytes (default %(default)s)")
    p.add_argument("--cachesrv-cmd", default=DEFAULT_CACHESRV_CMD,
                   help="command starting cachesrv; {port} (the memcached port) {host} {python} "
                        f"are filled in (default: {DEFAULT_CACHESRV_CMD})")
    p.add_argument("--memcached-cmd", default=DEFAULT_MEMCACHED_CMD,
                   help="command starting the reference memcached (default: %(default)s)")
    p.add_argument("--memcaslap", default=None,
                   help=f"load generator binary (default: the first of {', '.join(MEMCASLAP_NAMES)} "
                        "on PATH)")
    return p


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    stats.resolve_rounds(args)
    if args.requests is None:
        args.requests = QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS
    if args.tests is None:
        args.tests = list(ALL_TESTS.values())
    if args.threads < 1 or args.clients % args.threads:
        raise SystemExit(f"--clients ({args.clients}) must be a multiple of --threads "
                         f"({args.threads}), as memcaslap requires")
    if not 16 <= args.key_size <= 250:
        raise SystemExit("--key-size must be 16..250 (memcaslap's limits)")
    if not 0 < args.value_size <= 1024 * 1024:
        raise SystemExit("--value-size must be 1..1048576")
    if args.mget_keys < 2:
        raise SystemExit("--mget-keys must be at least 2")
    if args.requests < 1:
        raise SystemExit("--requests must be positive")
    return args


def requests_for(args, spec: TestSpec) -> int:
    """memcaslap -x: a multiple of the connections (and of the multi-get size)."""
    unit = args.clients * (args.mget_keys if spec.multi else 1)
    return max(unit, args.requests * spec.scale // unit * unit)


def find_memcaslap(explicit: str | None) -> str | None:
    for name in ([explicit] if explicit else MEMCASLAP_NAMES):
        path = shutil.which(name)
        if path:
            return path
    return None



def main(argv: list[str] | None = None) -> int:
    args = resolve_args(build_parser().parse_args(argv))
    found = find_memcaslap(args.memcaslap)
    if found is None:
        log(f"error: {args.memcaslap or ' / '.join(MEMCASLAP_NAMES)} not found "
            "(Debian: apt-get install libmemcached-tools)")
        return 2
    args.memcaslap = found
    servers: dict[str, Server] = {}
    runs: list[Run] = []
    state = RunState()
    started = time.monotonic()
    deadline = started + args.max_seconds
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="cachesrv-bench-")
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    cfgs = {}
    for get in (False, True):
        path = Path(log_dir) / f"memcaslap-{'get' if get else 'set'}.cfg"
        path.write_text(memcaslap_config(args.key_size, args.value_size, get))
        cfgs[get] = path
    with guarded_rounds(state, servers, log_dir, keep_dir=bool(args.log_dir)):
        if not start_servers(servers, [("cachesrv", args.cachesrv_cmd), (REF, args.memcached_cmd)], version_probe,
                             log_dir, args.ready_timeout):
            state.crashed = True
            return 1
        log(f"tests={','.join(t.name for t in args.tests)} "
            f"requests={','.join(str(requests_for(args, t)) for t in args.tests)} "
            f"clients={args.clients} threads={args.threads} rounds={args.rounds}")

        excluded: dict[str, str] = {}
        for rnd in range(args.rounds):
            log(f"round {rnd + 1}/{args.rounds} ...")
            for ti, spec in enumerate(args.tests):
                if spec.name in excluded:
                    continue
                state.check_time(deadline, args.max_seconds, rnd)
                n = requests_for(args, spec)
                order = SERVERS if (rnd + ti) % 2 == 0 else SERVERS[::-1]
                for srv_name in order:
                    r = run_memcaslap(args, servers[srv_name], spec, n, rnd, cfgs[spec.get])
                    runs.append(r)
                    if args.verbose or r.status != "ok":
                        hits = "" if r.hit_ratio is None else f" hits={r.hit_ratio:.1%}"
                        kpr = "" if r.keys_per_req is None else f" keys/req={r.keys_per_req:.1f}"
                        log(f"  [round {rnd + 1}] {srv_name:9s} {spec.name:5s} x={n:<8d} "
                            f"{r.status:8s} ops/s={stats.fmt_rps(r.ops_per_s)}{hits}{kpr}"
                            + (f"  {r.message.splitlines()[0]}" if r.message else ""))
                    if r.status == "crashed":
                        state.crashed = True
                        raise Crashed()
                    if r.status != "ok":
                        excluded[spec.name] = f"{srv_name} {r.status}"
                        break
    elapsed = time.monotonic() - started
    summary = summarize(args, runs)
    show_targets = bool(args.target)
    print()
    print(f"cachesrv vs memcached (mc): median ops/s over {args.rounds} interleaved round(s); "
          f"ratio = median of per-round cachesrv/memcached ops/s; memcaslap -c {args.clients} "
          f"-T {args.threads}, -x {','.join(str(requests_for(args, t)) for t in args.tests)} "
          f"for {','.join(t.name for t in args.tests)}; key {args.key_size} B, "
          f"value {args.value_size} B")
    print(f"GET/MGET ops are keys got (MGET: {args.mget_keys} per request), after memcaslap's "
          f"warm-up of {args.clients * WINDOW} sets; keys/req and hits are measured on the "
          f"servers (stats)")
    print(f"cpu us/op = server utime+stime per op (/proc/PID/stat, {1000 / CLK_TCK:.0f} ms "
          f"resolution; GET/MGET minus the warm-up at the same server's SET cost); "
          f"cpu x = median per-round cachesrv/memcached; elapsed {elapsed:.0f}s")
    print()
    print(render(summary, show_targets))
    if state.incomplete:
        print(f"\nINCOMPLETE: {state.incomplete}")

    if args.json:
        data = {
            "benchmark": "memcache",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "elapsed_s": elapsed,
            "incomplete": state.incomplete,
            "settings": {
                "rounds": args.rounds, "requests": args.requests,
                "memcaslap_x": {t.name: requests_for(args, t) for t in args.tests},
                "clients": args.clients, "threads": args.threads, "window": WINDOW,
                "mget_keys": args.mget_keys, "key_size": args.key_size,
                "value_size": args.value_size, "tests": [t.name for t in args.tests],
                "quick": args.quick,
                "targets": [{"test": k[0], "ratio": v} for k, v in args.target.items()],
            },
            "servers": {k: {"argv": s.argv, "port": s.port, "log": str(s.log_path)}
                        for k, s in servers.items()},
            "environment": environment({
                "memcached": ["memcached", "-V"],
                "memcaslap": [args.memcaslap, "-V"],
                "libmemcached_tools": ["dpkg-query", "-W", "-f=${Version}", "libmemcached-tools"],
            }),
            "summary": summary,
            "runs": [asdict(r) for r in runs],
        }
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
        log(f"wrote {args.json}")
    return 1 if state.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
