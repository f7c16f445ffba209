"""Statistics, table and argument helpers shared by the benchmark runners."""

from __future__ import annotations

import argparse
import statistics
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple


def median(values: Iterable[float | None]) -> float | None:
    """Median of the non-None values, or None if there are none."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratios(num: Sequence[float | None], den: Sequence[float | None]) -> list[float]:
    """Per-round ratios num[i]/den[i], skipping rounds where either is missing/0."""
    return [a / b for a, b in zip(num, den) if a is not None and b]


def median_ratio(num: Sequence[float | None], den: Sequence[float | None]) -> float | None:
    """Median of the per-round ratios (not the ratio of medians)."""
    return median(ratios(num, den))


def fmt_rps(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def fmt_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def fmt_spread(rs: Sequence[float]) -> str:
    return "-" if not rs else f"{min(rs):.2f}-{max(rs):.2f}"


def fmt_us(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 align: str | None = None) -> str:
    """Plain-text table; ``align`` is one char per column, 'l' or 'r'."""
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells):
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if align[i] == "l" else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


# --------------------------------------------------------------------------
# argument parsing shared by the runners

def parse_int_list(text: str) -> list[int]:
    """``"20000,200000"`` -> [20000, 200000]; positive integers only."""
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def parse_names(text: str, known: Sequence[str],
                groups: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """``"set,GET,ping"`` -> canonical upper-case test names, groups expanded, no repeats."""
    groups = groups or {}
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip().upper()
        if not name:
            continue
        for n in groups.get(name, [name]):
            if n not in known:
                raise argparse.ArgumentTypeError(
                    f"unknown test {raw.strip()!r}; known: "
                    + ", ".join(list(known) + [g.lower() for g in groups]))
            if n not in out:
                out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("no tests given")
    return out


Targets = Dict[Tuple[str, Optional[int]], float]


def parse_targets(text: str, known: Sequence[str],
                  groups: Mapping[str, Sequence[str]] | None = None) -> Targets:
    """``set=0.5,get@16=0.4`` -> {("SET", None): 0.5, ("GET", 16): 0.4}; ``none`` -> {}.

    ``@N`` names a variant of the test (the RESP runner's pipeline depth)."""
    groups = groups or {}
    targets: Targets = {}
    if text.strip().lower() in ("", "none"):
        return targets
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            key, value = item.split("=")
            test, _, variant = key.partition("@")
            test = test.strip().upper()
            for t in groups.get(test, [test]):
                if t not in known:
                    raise ValueError(f"unknown test {test!r}")
                targets[(t, int(variant) if variant else None)] = float(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"bad target {item!r} ({e}); "
                                             "expected TEST[@VARIANT]=RATIO")
    return targets


def target_for(targets: Targets, test: str, variant: int | None = None) -> float | None:
    if variant is not None and (test, variant) in targets:
        return targets[(test, variant)]
    return targets.get((test, None))


def add_run_args(p: argparse.ArgumentParser, *, load_tool: str,
                 quick_help: str = "smoke run: 1 round, few requests",
                 quick_rounds: int = 1, rounds: int = 3, timeout: float = 120.0,
                 max_seconds: float = 1800.0) -> None:
    """The options every runner has: rounds, quick, clients, json, time bounds, logs."""
    p.add_argument("--rounds", type=int, default=None,
                   help=f"interleaved rounds (default {rounds}; {quick_rounds} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"{quick_help} (explicit options win)")
    p.add_argument("--clients", "-c", type=int, default=50,
                   help="parallel connections (default 50)")
    p.add_argument("--json", metavar="FILE", help="write all raw and summary data here")
    p.add_argument("--timeout", type=float, default=timeout,
                   help=f"seconds one {load_tool} invocation may take (default %(default)s)")
    p.add_argument("--max-seconds", type=float, default=max_seconds,
                   help="stop starting new invocations after this long; report what ran "
                        "(default %(default)s)")
    p.add_argument("--ready-timeout", type=float, default=20.0,
                   help="seconds to wait for a server to answer (default %(default)s)")
    p.add_argument("--log-dir", default=None, help="server logs here (default: a temp dir)")
    p.add_argument("--verbose", "-v", action="store_true", help="print every invocation")
    p.set_defaults(_default_rounds=(rounds, quick_rounds))


def resolve_rounds(args: argparse.Namespace) -> None:
    if args.rounds is None:
        full, quick = args._default_rounds
        args.rounds = quick if args.quick else full
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    if args.clients < 1:
        raise SystemExit("--clients must be >= 1")


# --------------------------------------------------------------------------
# comparing cachesrv with a reference server, round by round

def compare(cs: Sequence[float | None], ref: Sequence[float | None],
            cs_us: Sequence[float | None], ref_us: Sequence[float | None], *,
            ref_name: str, unit: str = "rps") -> dict:
    """Medians and per-round ratios of one test: cachesrv's rate and CPU per request against
    the reference server's.  The i-th element of each sequence is round i (None: no result).

    Keys: ``cachesrv_<unit>``, ``<ref>_<unit>`` (median rates), ``ratio`` (median of the
    per-round cachesrv/ref rate ratios), ``ratios``, ``rounds``, ``cachesrv_cpu_us``,
    ``<ref>_cpu_us``, ``cpu_ratio``, ``cpu_ratios``."""
    rate_ratios = ratios(cs, ref)
    cpu_ratios = ratios(cs_us, ref_us)
    return {
        "rounds": len(rate_ratios),
        f"cachesrv_{unit}": median(cs), f"{ref_name}_{unit}": median(ref),
        "ratio": median(rate_ratios), "ratios": rate_ratios,
        "cachesrv_cpu_us": median(cs_us), f"{ref_name}_cpu_us": median(ref_us),
        "cpu_ratio": median(cpu_ratios), "cpu_ratios": cpu_ratios,
    }


def summary_status(notes: Mapping[str, tuple[str, str]], ratio: float | None,
                   ref_name: str) -> str:
    """'ok', cachesrv's failure status, '<ref>-<status>', or 'not run'."""
    if "cachesrv" in notes:
        return notes["cachesrv"][0]
    if ref_name in notes:
        return f"{ref_name}-{notes[ref_name][0]}"
    return "not run" if ratio is None else "ok"


def verdict(ratio: float | None, target: float | None) -> str:
    if target is None:
        return ""
    return "-" if ratio is None else ("PASS" if ratio >= target else "FAIL")


def comparison_table(summary: Sequence[dict], *, ref_name: str, ref_label: str | None = None,
                     unit: str = "rps", unit_label: str | None = None, per: str = "req",
                     lead: Sequence[tuple[str, Callable[[dict], str]]] = (),
                     extra: Sequence[tuple[str, Callable[[dict], str]]] = (),
                     show_targets: bool = False) -> str:
    """The runners' result table: ``lead`` columns (test name, ...), the two rates, ratio,
    spread, CPU µs/request of each and their ratio, ``extra`` columns, then target/result.
    ``unit`` names the summary's rate keys, ``unit_label`` the rate columns, ``per`` the
    CPU columns (``us/<per>``)."""
    ref_label = ref_label or ref_name
    label = unit_label or unit
    headers = [h for h, _ in lead] + [
        f"cachesrv {label}", f"{ref_label} {label}", "ratio", "spread",
        f"cs cpu us/{per}", f"{ref_label} cpu us/{per}", "cpu x"] + [h for h, _ in extra]
    if show_targets:
        headers += ["target", "result"]
    rows = []
    for s in summary:
        if s["status"] != "ok" and s["ratio"] is None:
            ratio_cell = s["status"]
        else:
            ratio_cell = fmt_ratio(s["ratio"])
        row = [f(s) for _, f in lead] + [
            fmt_rps(s[f"cachesrv_{unit}"]), fmt_rps(s[f"{ref_name}_{unit}"]), ratio_cell,
            fmt_spread(s["ratios"]), fmt_us(s["cachesrv_cpu_us"]), fmt_us(s[f"{ref_name}_cpu_us"]),
            fmt_ratio(s["cpu_ratio"])] + [f(s) for _, f in extra]
        if show_targets:
            row += ["" if s["target"] is None else f">={s['target']:.2f}x", s["verdict"]]
        rows.append(row)
    return format_table(headers, rows)


def render_notes(notes: Iterable[tuple[object, str, str, str]]) -> str:
    """``notes:`` block from (dedupe key, label, server, message); the first line of each
    message, once per (dedupe key, server, line).  Empty string when there are none."""
    out: list[str] = []
    seen = set()
    for key, label, srv, msg in notes:
        first = msg.splitlines()[0] if msg else ""
        k = (key, srv, first)
        if k in seen:
            continue
        seen.add(k)
        out.append(f"  {label} {srv}: {first}")
    return "\n".join(["", "notes:"] + out) if out else ""
