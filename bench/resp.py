"""RESP benchmark: cachesrv vs. the real redis-server, as ratios.

Usage::

    python -m bench resp                      # default: 3 rounds, full suite, P1 and P16
    python -m bench resp --quick              # smoke run: 1 round, SET/GET, few requests
    python -m bench resp --tests set,get --rounds 5 --requests 50000,400000
    python -m bench resp --target set=0.5,get@16=0.4 --json out.json
    python -m bench resp --cachesrv-cmd 'redis-server --port {port} --save "" --appendonly no --bind 127.0.0.1'

Method
------
The machine this runs on has two shared, noisy cores, so absolute numbers
drift from minute to minute.  Only comparisons made *in the same run* mean
anything, so the runner

1. starts cachesrv (``python -m cachesrv --port P --save "" --appendonly no
   --memcache-port 0 --loglevel warning``; ``--cachesrv-cmd`` replaces it,
   ``{port}``/``{host}``/``{python}`` are filled in) and redis-server
   (``redis-server --port P --save "" --appendonly no --bind 127.0.0.1``)
   side by side, each on a free 127.0.0.1 port, and waits until each answers
   PING (bounded);
2. pre-checks every test on both servers with a tiny request count (-n 200,
   bounded by ``--check-timeout``): a test that cachesrv answers with an
   error reply (``-ERR unknown command`` ...) -- redis-benchmark then stops
   with "Error from server: ..." -- is reported as *unsupported*; one that
   hangs or closes the connection as *timeout*/*failed*.  Such tests are not
   run further and the run goes on.  The pre-check doubles as a warm-up;
3. runs ``--rounds`` interleaved rounds; in each round, for each pipeline
   depth and test, it runs one ``redis-benchmark -h 127.0.0.1 -p P -c 50 -n N
   -P p -t <test> --csv -q`` against each server, back to back.  Which server
   goes first alternates from round to round (and from test to test within a
   round), so slow drift in the machine's load hits both sides equally;
4. for every invocation records the rps from the CSV row and the server's CPU
   time (utime+stime from /proc/PID/stat, before and after; resolution one
   clock tick = 10 ms) divided by the requests, as CPU µs per request.  That
   shows where time goes independently of the load generator, which shares
   the two cores with the server;
5. reports, per test and pipeline depth, the median rps of each server, the
   **median of the per-round ratios** cachesrv/redis (and their min-max
   spread), the median CPU µs/request of each and the median per-round CPU
   ratio, and -- when a target is set -- PASS/FAIL against it.  Targets are
   informational: the exit code is 0 unless something crashed (a server died
   or could not start: 1; bad arguments: 2).

Tests are the names of redis-benchmark's default suite (``-t`` names):
PING_INLINE PING_MBULK SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD
ZPOPMIN LRANGE_100 LRANGE_300 LRANGE_500 LRANGE_600 MSET; ``ping`` and
``lrange`` expand to their group.  Each test is a separate redis-benchmark
invocation, so one unsupported command cannot abort the others and the CPU
time is attributable to it.  Two departures from ``-t``:

* ``-t lrange_N`` would first run "LPUSH (needed to benchmark LRANGE)" with
  the same -n, mixing its CPU time into the LRANGE measurement (and that LPUSH
  is just LPUSH, measured already).  Instead the runner fills the list
  ``bench:lrange`` with 600 3-byte elements ("xxx", as redis-benchmark's
  prefill) with DEL+RPUSH before each LRANGE test and runs the custom command
  ``LRANGE bench:lrange 0 N-1``, i.e. the same work;
* heavy tests use a fraction of -n to keep a default run to a few minutes:
  MSET 1/2; LRANGE_100 1/4, LRANGE_300/500/600 1/10 -- of the -n of the
  smallest pipeline depth at every depth, since for LRANGE the reply size,
  not the request rate, is the cost.  The JSON output records the exact -n of
  every invocation (``runs[].requests``).

-n (``--requests``) is per pipeline depth: ``50000,1000000`` (the default) is
50000 requests at -P 1 and 1000000 at -P 16 (a second or more each: shorter runs
were at the mercy of every hiccup of a shared machine); a single number applies to all
depths.  Every invocation is bounded by its -n and by ``--timeout`` seconds;
the whole run stops starting new invocations after ``--max-seconds`` and
reports what it has.  Servers are stopped by PID (terminate, wait, kill).

Targets: ``--target set=0.5,get=0.5`` sets a minimum ratio for a test at every
pipeline depth; ``set@16=0.4`` for one depth only.  The default is SET and GET
0.5x at P1 and 0.4x at P16; ``--target none`` clears it.

Keys: without ``--keyspace`` redis-benchmark hits one key per test (as its
defaults do); ``--keyspace K`` passes ``-r K`` for random keys.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from . import stats
from .servers import (CLK_TCK, Crashed, RespError, RunState, Server, environment,
                      guarded_rounds, log, resp_command, resp_ping_probe, run_tool, start_servers)
from .stats import parse_int_list  # noqa: F401  (was defined here; kept importable)

DEFAULT_CACHESRV_CMD = ('{python} -m cachesrv --port {port} --save "" --appendonly no '
                        '--memcache-port 0 --loglevel warning')
DEFAULT_REDIS_CMD = 'redis-server --port {port} --save "" --appendonly no --bind 127.0.0.1'
REDIS_BENCHMARK = "redis-benchmark"

LRANGE_KEY = "bench:lrange"
LRANGE_FILL = 600
LRANGE_VALUE = "xxx"  # redis-benchmark's default 3-byte data

SERVERS = ("cachesrv", "redis")


@dataclass(frozen=True)
class TestSpec:
    name: str                                # display / CSV name, e.g. "SET"
    selector: str | None = None              # -t value
    command: tuple[str, ...] | None = None   # custom command instead of -t
    scale: float = 1.0                       # fraction of --requests
    per_depth: bool = True                   # False: use the smallest depth's -n at every -P
    setup: str | None = None                 # "lrange": fill LRANGE_KEY first


def _lrange(n: int, scale: float) -> TestSpec:
    # the reply size, not the request rate, is what costs here, and pipelining
    # hardly raises the rate: do not scale -n up with the pipeline depth
    return TestSpec(f"LRANGE_{n}", command=("LRANGE", LRANGE_KEY, "0", str(n - 1)),
                    scale=scale, setup="lrange", per_depth=False)


ALL_TESTS: dict[str, TestSpec] = {t.name: t for t in [
    TestSpec("PING_INLINE", "ping_inline"),
    TestSpec("PING_MBULK", "ping_mbulk"),
    TestSpec("SET", "set"),
    TestSpec("GET", "get"),
    TestSpec("INCR", "incr"),
    TestSpec("LPUSH", "lpush"),
    TestSpec("RPUSH", "rpush"),
    TestSpec("LPOP", "lpop"),
    TestSpec("RPOP", "rpop"),
    TestSpec("SADD", "sadd"),
    TestSpec("HSET", "hset"),
    TestSpec("SPOP", "spop"),
    TestSpec("ZADD", "zadd"),
    TestSpec("ZPOPMIN", "zpopmin"),
    _lrange(100, 0.25),
    _lrange(300, 0.1),
    _lrange(500, 0.1),
    _lrange(600, 0.1),
    TestSpec("MSET", "mset", scale=0.5),
]}
GROUPS = {
    "PING": ["PING_INLINE", "PING_MBULK"],
    "LRANGE": ["LRANGE_100", "LRANGE_300", "LRANGE_500", "LRANGE_600"],
}
DEFAULT_TARGETS = "set@1=0.5,get@1=0.5,set@16=0.4,get@16=0.4"
QUICK_REQUESTS = "2000,10000"
DEFAULT_REQUESTS = "50000,1000000"
CHECK_REQUESTS = 200


# --------------------------------------------------------------------------
# argument parsing

def parse_tests(text: str) -> list[TestSpec]:
    return [ALL_TESTS[n] for n in stats.parse_names(text, list(ALL_TESTS), GROUPS)]


def parse_targets(text: str) -> stats.Targets:
    """``set=0.5,get@16=0.4`` -> {("SET", None): 0.5, ("GET", 16): 0.4}."""
    return stats.parse_targets(text, list(ALL_TESTS), GROUPS)


def target_for(targets, test: str, pipeline: int) -> float | None:
    return stats.target_for(targets, test, pipeline)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench resp",
        description="Benchmark cachesrv against redis-server with redis-benchmark; "
                    "report median per-round ratios. Method: see the bench/resp.py docstring.")
    stats.add_run_args(p, load_tool="redis-benchmark",
                       quick_help="smoke run: 1 round, few requests, SET/GET only")
    p.add_argument("--requests", "-n", type=parse_int_list, default=None,
                   help=f"-n per pipeline depth, e.g. 20000,200000 or one number for all "
                        f"(default {DEFAULT_REQUESTS}; {QUICK_REQUESTS} with --quick)")
    p.add_argument("--pipelines", "-P", type=parse_int_list, default=[1, 16],
                   help="comma-separated -P depths (default 1,16)")
    p.add_argument("--tests", "-t", type=parse_tests, default=None,
                   help="comma-separated tests (default: the full suite; SET,GET with --quick)")
    p.add_argument("--target", type=parse_targets, default=parse_targets(DEFAULT_TARGETS),
                   help="minimum ratios TEST[@P]=R,...; 'none' for no targets "
                        f"(default {DEFAULT_TARGETS})")
    p.add_argument("--keyspace", "-r", type=int, default=None,
                   help="pass -r K to redis-benchmark (random keys)")
    p.add_argument("--data-size", "-d", type=int, default=None,
                   help="pass -d BYTES to redis-benchmark (SET/GET value size)")
    p.add_argument("--cachesrv-cmd", default=DEFAULT_CACHESRV_CMD,
                   help="command starting cachesrv; {port} {host} {python} are filled in "
                        f"(default: {DEFAULT_CACHESRV_CMD})")
    p.add_argument("--redis-cmd", default=DEFAULT_REDIS_CMD,
                   help="command starting the reference redis-server (default: %(default)s)")
    p.add_argument("--redis-benchmark", default=REDIS_BENCHMARK, help="load generator binary (default: %(default)s)")
    p.add_argument("--check-timeout", type=float, default=15.0,
                   help="seconds one pre-check invocation may take (default %(default)s)")
    p.add_argument("--no-check", action="store_true", help="skip the pre-check")
    return p


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    stats.resolve_rounds(args)
    if args.requests is None:
        args.requests = parse_int_list(QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS)
    if args.tests is None:
        args.tests = parse_tests("set,get") if args.quick else list(ALL_TESTS.values())
    if len(args.requests) == 1:
        args.requests = args.requests * len(args.pipelines)
    elif len(args.requests) != len(args.pipelines):
        raise SystemExit(f"--requests has {len(args.requests)} values but --pipelines "
                         f"has {len(args.pipelines)}; give one value or one per depth")
    pairs = sorted(dict(zip(args.pipelines, args.requests)).items())
    args.pipelines = [p for p, _ in pairs]
    args.requests = [n for _, n in pairs]
    return args


# --------------------------------------------------------------------------
# running redis-benchmark

@dataclass
class Run:
    server: str
    test: str
    pipeline: int
    round: int          # -1 for the pre-check
    requests: int
    status: str         # ok | unsupported | timeout | failed | crashed | skipped
    rps: float | None = None
    cpu_s: float | None = None
    wall_s: float | None = None
    message: str = ""
    argv: list[str] = field(default_factory=list)

    @property
    def cpu_us_per_req(self) -> float | None:
        # 0 means "less than one clock tick": below resolution, not free
        if not self.cpu_s or self.status != "ok" or not self.requests:
            return None
        return self.cpu_s * 1e6 / self.requests


def parse_csv(text: str) -> list[dict[str, str]]:
    """Rows of redis-benchmark --csv output (header "test","rps",...)."""
    lines = [ln for ln in text.splitlines() if ln.startswith('"')]
    if not lines:
        return []
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def _row_name(row: dict[str, str]) -> str:
    # "MSET (10 keys)" -> "MSET"; "LRANGE_100 (first 100 elements)" -> "LRANGE_100"
    return (row.get("test") or "").split(" (")[0].strip().upper()


def _error_line(text: str) -> str:
    for ln in text.splitlines():
        if "Error from server" in ln:
            return ln.strip()
    for ln in text.splitlines():
        if ln.startswith(("Error", "ERR", "Could not")):
            return ln.strip()
    tail = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(tail[-3:])


def setup_test(srv: Server, spec: TestSpec) -> tuple[str, str] | None:
    """Prepare data a test needs; return (status, message) on failure, else None."""
    if spec.setup != "lrange":
        return None
    try:
        for cmd in (("DEL", LRANGE_KEY), ("RPUSH", LRANGE_KEY) + (LRANGE_VALUE,) * LRANGE_FILL):
            r = resp_command(srv.host, srv.port, *cmd, timeout=10)
            if isinstance(r, RespError):
                return "unsupported", f"setup {cmd[0]} failed: {r}"
        if r != LRANGE_FILL:
            return "failed", f"setup RPUSH returned {r!r}, expected {LRANGE_FILL}"
    except (OSError, ValueError) as e:
        return "failed", f"setup failed: {e!r}"
    return None


def run_benchmark(args, srv: Server, spec: TestSpec, pipeline: int, requests: int,
                  round_no: int, timeout: float) -> Run:
    argv = [args.redis_benchmark, "-h", srv.host, "-p", str(srv.port),
            "-c", str(args.clients), "-n", str(requests), "-P", str(pipeline)]
    if args.keyspace:
        argv += ["-r", str(args.keyspace)]
    if args.data_size:
        argv += ["-d", str(args.data_size)]
    if spec.selector:
        argv += ["-t", spec.selector]
    argv += ["--csv", "-q"]
    if spec.command:
        argv += list(spec.command)
    run = Run(server=srv.name, test=spec.name, pipeline=pipeline, round=round_no,
              requests=requests, status="failed", argv=argv)

    err = setup_test(srv, spec)
    if err:
        run.status, run.message = err
        if not srv.alive():
            run.status = "crashed"
        return run

    tr = run_tool(argv, srv, timeout)
    run.wall_s = tr.wall_s
    if tr.status != "ok":
        run.status, run.message = tr.status, tr.message
        return run
    out = tr.stdout + "\n" + tr.stderr
    rows = parse_csv(tr.stdout)
    if spec.command:
        rows = rows[-1:]
    else:
        rows = [r for r in rows if _row_name(r) == spec.name]
    if "Error from server" in out:
        run.status = "unsupported"
        run.message = _error_line(out)
    elif tr.returncode != 0 or not rows:
        run.status = "failed"
        run.message = f"exit {tr.returncode}: {_error_line(out)}"
    else:
        try:
            run.rps = float(rows[0]["rps"])
        except (KeyError, TypeError, ValueError):
            run.message = f"cannot parse rps from {rows[0]!r}"
            return run
        run.status = "ok"
        run.cpu_s = tr.cpu_s
    return run


# --------------------------------------------------------------------------
# summary

def summarize(args, runs: list[Run]) -> list[dict]:
    summary = []
    for pipeline in args.pipelines:
        for spec in args.tests:
            per = {s: {} for s in SERVERS}
            notes = {}
            for r in runs:
                if r.test != spec.name:
                    continue
                if r.round < 0:   # the pre-check (at P1) speaks for every depth
                    if r.status != "ok":
                        notes.setdefault(r.server, (r.status, r.message))
                    continue
                if r.pipeline != pipeline:
                    continue
                per[r.server][r.round] = r
                if r.status != "ok":
                    notes.setdefault(r.server, (r.status, r.message))
            rounds = sorted(set(per["cachesrv"]) | set(per["redis"]))

            def col(server, attr):
                return [getattr(per[server][i], attr) if i in per[server] else None
                        for i in rounds]

            cmp = stats.compare(col("cachesrv", "rps"), col("redis", "rps"),
                                col("cachesrv", "cpu_us_per_req"), col("redis", "cpu_us_per_req"),
                                ref_name="redis")
            target = target_for(args.target, spec.name, pipeline)
            summary.append({
                "test": spec.name, "pipeline": pipeline,
                "status": stats.summary_status(notes, cmp["ratio"], "redis"),
                **cmp,
                "target": target, "verdict": stats.verdict(cmp["ratio"], target),
                "notes": {k: f"{v[0]}: {v[1]}" for k, v in notes.items()},
            })
    return summary


def render(summary: list[dict], show_targets: bool) -> str:
    table = stats.comparison_table(
        summary, ref_name="redis", show_targets=show_targets,
        lead=[("test", lambda s: s["test"]), ("P", lambda s: str(s["pipeline"]))])
    # the same message at every depth is said once
    notes = stats.render_notes((s["test"], f"{s['test']} P{s['pipeline']}", k, v)
                               for s in summary for k, v in s["notes"].items())
    return table + ("\n" + notes if notes else "")


# --------------------------------------------------------------------------
# main

def main(argv: list[str] | None = None) -> int:
    args = resolve_args(build_parser().parse_args(argv))
    if shutil.which(args.redis_benchmark) is None:
        log(f"error: {args.redis_benchmark} not found (Debian: apt-get install redis-tools)")
        return 2
    servers: dict[str, Server] = {}
    runs: list[Run] = []
    state = RunState()
    started = time.monotonic()
    deadline = started + args.max_seconds
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="cachesrv-bench-")
    with guarded_rounds(state, servers, log_dir, keep_dir=bool(args.log_dir)):
        if not start_servers(servers, [("cachesrv", args.cachesrv_cmd), ("redis", args.redis_cmd)], resp_ping_probe,
                             log_dir, args.ready_timeout):
            state.crashed = True
            return 1
        log(f"tests={','.join(t.name for t in args.tests)} pipelines={args.pipelines} "
            f"requests={args.requests} clients={args.clients} rounds={args.rounds}")

        excluded: dict[str, str] = {}   # test name -> reason (cachesrv cannot run it)

        def do(srv_name, spec, pipeline, n, rnd, timeout) -> Run:
            r = run_benchmark(args, servers[srv_name], spec, pipeline, n, rnd, timeout)
            runs.append(r)
            if args.verbose or r.status != "ok":
                rps = stats.fmt_rps(r.rps)
                log(f"  [{'check' if rnd < 0 else f'round {rnd + 1}'}] {srv_name:8s} "
                    f"{spec.name:12s} P{pipeline:<3d} n={n:<7d} {r.status:11s} rps={rps}"
                    + (f"  {r.message.splitlines()[0]}" if r.message else ""))
            if r.status == "crashed":
                state.crashed = True
            return r

        # pre-check (and warm-up)
        if not args.no_check:
            log("pre-check ...")
            for spec in args.tests:
                for srv_name in SERVERS:
                    r = do(srv_name, spec, 1, CHECK_REQUESTS, -1, args.check_timeout)
                    if state.crashed:
                        raise Crashed()
                    if r.status != "ok":
                        excluded[spec.name] = f"{srv_name} {r.status}"
                        break

        for rnd in range(args.rounds):
            log(f"round {rnd + 1}/{args.rounds} ...")
            for pi, pipeline in enumerate(args.pipelines):
                for ti, spec in enumerate(args.tests):
                    if spec.name in excluded:
                        continue
                    state.check_time(deadline, args.max_seconds, rnd)
                    base = args.requests[pi] if spec.per_depth else args.requests[0]
                    n = max(args.clients, int(base * spec.scale))
                    order = SERVERS if (rnd + ti) % 2 == 0 else SERVERS[::-1]
                    for srv_name in order:
                        r = do(srv_name, spec, pipeline, n, rnd, args.timeout)
                        if state.crashed:
                            raise Crashed()
                        if r.status != "ok":
                            excluded[spec.name] = f"{srv_name} {r.status}"
                            break
    elapsed = time.monotonic() - started
    summary = summarize(args, runs)
    show_targets = bool(args.target)
    print()
    print(f"cachesrv vs redis-server: median rps over {args.rounds} interleaved round(s); "
          f"ratio = median of per-round cachesrv/redis rps; -c {args.clients}; "
          f"-n {','.join(map(str, args.requests))} per P {','.join(map(str, args.pipelines))}"
          + (" (scaled for heavy tests)" if any(t.scale != 1 for t in args.tests) else ""))
    print(f"cpu us/req = server utime+stime per request (/proc/PID/stat, resolution "
          f"{1000 / CLK_TCK:.0f} ms per invocation: raise -n if it looks quantized); "
          f"cpu x = median per-round cachesrv/redis; elapsed {elapsed:.0f}s")
    print()
    print(render(summary, show_targets))
    if state.incomplete:
        print(f"\nINCOMPLETE: {state.incomplete}")

    if args.json:
        data = {
            "benchmark": "resp",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "elapsed_s": elapsed,
            "incomplete": state.incomplete,
            "settings": {
                "rounds": args.rounds, "requests": args.requests,
                "pipelines": args.pipelines, "clients": args.clients,
                "tests": [t.name for t in args.tests], "keyspace": args.keyspace,
                "data_size": args.data_size, "quick": args.quick,
                "targets": [{"test": k[0], "pipeline": k[1], "ratio": v}
                            for k, v in args.target.items()],
            },
            "servers": {k: {"argv": s.argv, "port": s.port, "log": str(s.log_path)}
                        for k, s in servers.items()},
            "environment": environment({
                "redis_server": ["redis-server", "--version"],
                "redis_benchmark": [args.redis_benchmark, "--version"],
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
