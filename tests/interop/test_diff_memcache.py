"""Differential test of the memcached protocol: the same byte streams go to cachesrv's memcached
port and to Debian's memcached 1.6.18, and every reply must be identical.

Both servers start fresh for this module, so they hand out the same CAS uniques and the replies
are compared byte for byte; only times are compared with a tolerance of two seconds (TTLs left,
me's exp=: memcached's clock ticks once a second and its absolute times go through its start
time), as the two read their clocks at slightly different moments, and the last-access
times (mg l, me la=) not at all: memcached refreshes an item's access time at most once a minute,
cachesrv's LRU clock on every access. memcached runs with ``lru mode flat`` (see ``Pair``).
memcached answers each batch first and its answer says how much to read from cachesrv (no idle
timeout cuts a late answer short on a busy machine). A seed whose replies differ is run again,
with the same history, on a fresh pair: memcached's own `ma` answers depend on timing now and
then, a real difference repeats.
Seeded random sequences of pipelined batches mix every classic and meta command with malformed
lines, bad data chunks, oversized values, noreply and quiet mode; scripted cases cover split
writes, long lines that close the connection and the per-read windows memcached's answers depend
on. The counters of ``stats`` that do not depend on memcached's background threads are compared
after each run.

Not compared: what memcached 1.6.18 lacks (meta flags E and md x, ms s and N, added in later
1.6 releases), delayed flush_all (its timing follows memcached's coarse clock), the values of
``stats``/``stats settings``/``stats items``/``stats slabs`` (server internals).
"""

from __future__ import annotations

import base64
import random
import re
import socket
import time
import warnings

import pytest

from tests.interop.test_memcache_clients import start_memcache_server, start_memcached
from tests.conftest import stop


class Pair:
    """memcached and cachesrv, started fresh; ``pair[0]``/``pair[1]`` are their ports."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.proc, mc_port = start_memcached()
        # Segmented LRU (memcached's default) bumps a re-read item from a background thread that
        # holds a reference meanwhile, so whether the next incr/decr works in place (padding "99 ")
        # depends on timing. Flat mode bumps synchronously: deterministic, and what cachesrv does.
        with socket.create_connection(("127.0.0.1", mc_port), timeout=10) as s:
            s.sendall(b"lru mode flat\r\n")
            assert s.recv(100) == b"OK\r\n"
        self.ours = start_memcache_server()
        self.ports = (mc_port, self.ours.mc_port)

    def stop(self) -> None:
        self.ours.stop()
        stop(self.proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __getitem__(self, i: int) -> int:
        return self.ports[i]


@pytest.fixture(scope="module")
def servers():
    pair = Pair()
    yield pair
    pair.stop()


class Wire:
    """One raw connection; ``exchange`` sends a batch ending in ``mn`` and reads its replies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return self.sock

    def exchange(self, chunks: list[bytes], mns: int, idle: float = 2.0,
                 like: tuple[bytes, bool] | None = None) -> tuple[bytes, bool]:
        """Send the chunks; read until ``mns`` MN lines arrived, the server closed, or it was
        silent for ``idle`` seconds. Returns (bytes, closed).

        With ``like`` (another server's answer to the same chunks) read until as many lines
        arrived as that answer has, or the server closed if that one did, allowing up to 10
        seconds: the machines are shared, and a process can stall for most of a second, so an
        idle timeout alone would cut a late answer short and shift every later comparison."""
        sock = self._connect()
        for i, chunk in enumerate(chunks):
            if i:
                time.sleep(0.05)          # separate reads on the server side
            try:
                sock.sendall(chunk)
            except OSError:
                break
        if like is None:
            def more(out: bytes) -> bool:
                return out.count(b"MN\r\n") < mns
        else:
            lines = like[0].count(b"\r\n")
            deadline = time.monotonic() + 10

            def more(out: bytes) -> bool:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                return like[1] or out.count(b"\r\n") < lines
        out = b""
        sock.settimeout(idle)
        closed = False
        try:
            while more(out):
                data = sock.recv(1 << 20)
                if not data:
                    closed = True
                    break
                out += data
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
        sock.settimeout(10)
        if closed:
            sock.close()
            self.sock = None
        return out, closed

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


_TIME_TOKEN = re.compile(rb"(?:[tl]|exp=|la=)(-?\d+)")


def same(a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    la, lb = a.split(b"\r\n"), b.split(b"\r\n")
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb):
        if x == y:
            continue
        tx, ty = x.split(b" "), y.split(b" ")
        if len(tx) != len(ty):
            return False
        for p, q in zip(tx, ty):
            if p == q:
                continue
            mp, mq = _TIME_TOKEN.fullmatch(p), _TIME_TOKEN.fullmatch(q)
            if not (mp and mq and p[:len(p) - len(mp.group(1))] == q[:len(q) - len(mq.group(1))]):
                return False
            if p[:1] == b"l":
                continue       # last access: memcached refreshes it once a minute, cachesrv always
            x, y = int(mp.group(1)), int(mq.group(1))
            # A TTL set in the past wraps around in memcached's unsigned arithmetic, relative to
            # each server's start: those may be a few seconds apart.
            if abs(x - y) > (5 if min(x, y) > 2**31 else 2):
                return False
    return True


def mn_lines(stream: bytes) -> int:
    """How many ``mn`` command lines a stream holds (not counting values that end in "mn")."""
    return stream.split(b"\r\n").count(b"mn")


def run_script(servers, batches: list[list[bytes]], mns: list[int] | None = None) -> list:
    """Send each batch (a list of chunks) to both servers; return the mismatches.

    memcached answers first, and its answer says how much to read from cachesrv. A final ``mn``
    on a connection still open shows up anything cachesrv sent beyond memcached's answer."""
    wires = [Wire(servers[0]), Wire(servers[1])]
    bad = []
    try:
        for i, chunks in enumerate([*batches, [b"mn\r\n"]]):
            n = mns[i] if mns and i < len(mns) else mn_lines(b"".join(chunks))
            ref = wires[0].exchange(chunks, n)
            got = (ref, wires[1].exchange(chunks, n, like=ref))
            if not (same(got[0][0], got[1][0]) and got[0][1] == got[1][1]):
                bad.append((b"".join(chunks)[:400], got[0], got[1]))
                break           # what follows would differ only because this did
    finally:
        for w in wires:
            w.close()
    return bad


STABLE_STATS = ("cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "cmd_meta", "get_hits",
                "get_misses", "delete_misses", "delete_hits", "incr_misses", "incr_hits",
                "decr_misses", "decr_hits", "cas_misses", "cas_hits", "cas_badval", "touch_hits",
                "touch_misses", "store_too_large", "total_items")


def stable_stats(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"stats\r\n")
        out = b""
        while not out.endswith(b"END\r\n"):
            out += s.recv(65536)
    d = dict(line.split(" ", 2)[1:] for line in out.decode().split("\r\n") if line.startswith("STAT "))
    return {k: d[k] for k in STABLE_STATS}


# ---------------------------------------------------------------------------
# The random command generator
# ---------------------------------------------------------------------------

KEYS = [b"k0", b"k1", b"k2", b"k3", b"n0", b"n1", b"\x01ctl"]
B64 = [base64.b64encode(k) for k in (b"k0", b"k1", b"n0", b"bin\x00\xff")]


class Gen:
    def __init__(self, rnd: random.Random) -> None:
        self.r = rnd

    def key(self) -> bytes:
        r = self.r
        x = r.random()
        if x < 0.02:
            return b"a" * 251
        if x < 0.04:
            return b"a" * 250
        return r.choice(KEYS)

    def value(self) -> bytes:
        r = self.r
        x = r.random()
        if x < 0.35:
            return r.choice([b"0", b"1", b"9", b"10", b"99", b"100", b"18446744073709551615",
                             b"18446744073709551614", b" 5", b"-1", b"-0", b"7 x", b"012"])
        if x < 0.4:
            return b""
        # (never blanks only: memcached's strtoull would read past the item into other memory)
        return r.choice(b"abcdefghij").to_bytes(1, "big") + bytes(
            r.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(r.randint(0, 29)))

    def exptime(self) -> bytes:
        return self.r.choice([b"0", b"0", b"0", b"100", b"1000", b"-1", b"2592000", b"2592001",
                              b"%d" % (int(time.time()) + 5000), b"x", b"+50", b"4294967396"])

    def flags(self) -> bytes:
        return self.r.choice([b"0", b"0", b"1", b"7", b"4294967295", b"4294967296", b"-1", b"x"])

    def cas(self) -> bytes:
        return self.r.choice([b"%d" % self.r.randint(0, 60), b"x", b"-1", b"18446744073709551615"])

    def storage(self) -> bytes:
        r = self.r
        cmd = r.choice([b"set", b"set", b"add", b"replace", b"append", b"prepend", b"cas"])
        value = self.value()
        parts = [cmd, self.key(), self.flags(), self.exptime(), b"%d" % len(value)]
        if cmd == b"cas":
            parts.append(self.cas())
        if r.random() < 0.25:
            parts.append(b"noreply")
        x = r.random()
        if x < 0.05:
            parts.pop(r.randrange(1, len(parts)))                       # wrong token count
        elif x < 0.08:
            parts.append(b"extra")
        line = b" ".join(parts) + b"\r\n"
        if r.random() < 0.05:
            return line + value + b"XY"                                 # bad chunk, right length
        if r.random() < 0.02:
            big = 1048600
            return b" ".join([cmd, b"big", b"0", b"0", b"%d" % big]) + b"\r\n" + b"b" * big + b"\r\n"
        return line + value + b"\r\n"

    def retrieval(self) -> bytes:
        r = self.r
        cmd = r.choice([b"get", b"get", b"gets", b"gat", b"gats"])
        keys = [self.key() for _ in range(r.randint(0, 4))]
        if cmd in (b"gat", b"gats"):
            keys.insert(0, self.exptime())
        return b" ".join([cmd, *keys]) + b"\r\n"

    def simple(self) -> bytes:
        r = self.r
        k = self.key()
        nr = [b"noreply"] if r.random() < 0.2 else []
        return r.choice([
            lambda: b" ".join([b"touch", k, self.exptime(), *nr]),
            lambda: b" ".join([b"delete", k, *r.choice([[], [b"0"], [b"1"], [b"noreply"], [b"0", b"noreply"]])]),
            lambda: b" ".join([r.choice([b"incr", b"decr"]), k,
                               r.choice([b"1", b"5", b"100", b"18446744073709551615", b"x", b"-1", b"+2"]), *nr]),
            lambda: b" ".join([b"flush_all", *r.choice([[], [b"0"], [b"-1"], [b"noreply"], [b"x"]])]),
            lambda: r.choice([b"version", b"verbosity 1", b"verbosity x", b"verbosity", b"foo bar",
                              b"", b"GET k0", b"stats detail", b"stats foo", b"stats sizes",
                              b"cache_memlimit x", b"cache_memlimit 1", b"mn"]),
        ])() + b"\r\n"

    def meta_flags(self, pool: list[bytes], n: int) -> list[bytes]:
        r = self.r
        flags = r.sample(pool, min(n, len(pool)))
        if r.random() < 0.04:
            flags.append(r.choice(flags or [b"v"]))                     # duplicate
        if r.random() < 0.03:
            flags.append(r.choice([b"Z", b"V", b"T", b"Tx", b"O" + b"o" * 32]))
        return flags

    def meta(self) -> bytes:
        r = self.r
        cmd = r.choice([b"mg", b"mg", b"ms", b"md", b"ma", b"me"])
        binary = r.random() < 0.1
        key = r.choice(B64) if binary else self.key()
        opaque = b"O%d" % r.randint(0, 999)
        if cmd == b"mg":
            pool = [b"v", b"f", b"t", b"s", b"c", b"k", b"h", b"l", b"q", b"u", opaque,
                    b"T%s" % r.choice([b"0", b"30", b"-1"]), b"N%s" % r.choice([b"0", b"30"]),
                    b"R%s" % r.choice([b"30", b"200"])]
            flags = self.meta_flags(pool, r.randint(0, 5))
        elif cmd == b"md":
            pool = [b"q", b"k", opaque, b"I", b"T30", b"C%d" % r.randint(0, 60)]
            flags = self.meta_flags(pool, r.randint(0, 3))
        elif cmd == b"ma":
            pool = [b"v", b"t", b"c", b"k", b"q", opaque, b"N%s" % r.choice([b"0", b"100"]),
                    b"J%s" % r.choice([b"5", b"18446744073709551615", b"x"]),
                    b"D%s" % r.choice([b"1", b"10", b"18446744073709551615"]),
                    b"M%s" % r.choice([b"I", b"D", b"+", b"-", b"X"]), b"T%s" % r.choice([b"0", b"50"]),
                    b"C%d" % r.randint(0, 60)]
            flags = self.meta_flags(pool, r.randint(0, 4))
        elif cmd == b"me":
            flags = [b"b"] if binary else []
        else:
            value = self.value()
            pool = [b"c", b"k", b"q", opaque, b"I", b"T%s" % r.choice([b"0", b"100", b"-1"]),
                    b"F%s" % r.choice([b"0", b"3", b"4294967295"]), b"C%d" % r.randint(0, 60),
                    b"M%s" % r.choice([b"S", b"E", b"A", b"P", b"R", b"X"])]
            flags = self.meta_flags(pool, r.randint(0, 4))
            if binary:
                flags.append(b"b")
            n = len(value)
            tail = value + (b"XY" if r.random() < 0.04 else b"\r\n")
            return b" ".join([b"ms", key, b"%d" % n, *flags]) + b"\r\n" + tail
        if binary and cmd != b"me":
            flags.append(b"b")
        return b" ".join([cmd, key, *flags]) + b"\r\n"

    def command(self) -> bytes:
        x = self.r.random()
        if x < 0.3:
            return self.storage()
        if x < 0.5:
            return self.retrieval()
        if x < 0.7:
            return self.simple()
        return self.meta()

    def batch(self) -> bytes:
        body = b"".join(self.command() for _ in range(self.r.randint(1, 12)))
        # after a bad data chunk memcached skips the rest of the line: let the batch's mn live
        return body + (b"\r\nmn\r\n" if body.endswith(b"XY") else b"mn\r\n")


def seed_batches(seed: int) -> list[list[bytes]]:
    gen = Gen(random.Random(seed))
    batches = []
    for _ in range(25):
        batch = gen.batch()
        # quit ends the connection: keep it for the end of a batch, rarely
        if gen.r.random() < 0.03:
            batch += b"quit\r\n"
        batches.append([batch])
    return batches


@pytest.mark.parametrize("seed", range(100))
def test_random_sequences(servers, seed):
    bad = run_script(servers, seed_batches(seed))
    if bad:
        # memcached itself is not always deterministic: now and then (about one run in 40 of
        # seeds 0-22 with pauses between batches, memcached alone) its `ma` calls a numeric item
        # non-numeric, depending on when its one-second clock ticks. So a difference is checked
        # again on a fresh pair given the same history: a real difference repeats.
        servers.restart()
        for earlier in range(seed):
            run_script(servers, seed_batches(earlier))
        again = run_script(servers, seed_batches(seed))
        assert not again, (bad[:1], again[:3])
        warnings.warn(f"seed {seed}: one run differed and did not repeat: {bad[0]!r}")
    assert stable_stats(servers[0]) == stable_stats(servers[1])


# ---------------------------------------------------------------------------
# Scripted cases
# ---------------------------------------------------------------------------

SCRIPTS = {
    "split writes": [[b"se", b"t s 0 0 3\r", b"\nab", b"c\r", b"\nget s\r\nmn\r\n"]],
    "partial data block": [[b"set s 0 0 10\r\nabc", b"defghij\r\nget s\r\nmn\r\n"]],
    "multi-get across reads": [[b"get " + b"s " * 2000, b"\r\nmn\r\n"]],
    "long line split closes": [[b"set " + b"k" * 3000, b" 0 0 1\r\nx\r\nmn\r\n"]],
    "long line whole": [[b"set " + b"k" * 3000 + b" 0 0 1\r\nx\r\nmn\r\n"]],
    "2048 bytes without newline": [[b"x" * 2048, b"\r\nmn\r\n"]],
    "2049 bytes without newline": [[b"x" * 2049, b"\r\nmn\r\n"]],
    "long gat closes": [[b"gat 0 " + b"k " * 2000, b"\r\nmn\r\n"]],
    "line over the read buffer": [[b"set " + b"k" * 16390 + b" 0 0 1\r\nx\r\nmn\r\n"]],
    "too large, swallowed over reads": [[b"set s 0 0 1\r\nx\r\nset s 0 0 1100000\r\n", b"v" * 600000,
                                         b"v" * 500002 + b"get s\r\nmn\r\n"]],
    "largest value": [[b"ms s 1048516 T0\r\n", b"v" * 1048518, b"mg s s\r\nmn\r\n"]],
    "too large by one": [[b"ms s 1048517\r\n", b"v" * 1048519, b"mg s s\r\nmn\r\n"]],
    "windows: mg then decr": [[b"set w 0 0 3\r\n100\r\n", b"mg w v\r\ndecr w 1\r\nmg w v\r\nmn\r\n"]],
    "windows: get then decr": [[b"set w 0 0 3\r\n100\r\n", b"get w\r\ndecr w 1\r\nget w\r\nmn\r\n"]],
    "windows: 20 requests": [[b"".join(b"set w%d 0 0 3\r\n100\r\n" % i for i in range(25))
                              + b"".join(b"mg w%d\r\ndecr w%d 1\r\n" % (i, i) for i in range(25))
                              + b"get " + b" ".join(b"w%d" % i for i in range(25)) + b"\r\nmn\r\n"]],
    "windows: cull": [[b"version\r\n" * 18 + b"set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\nget "
                       + b"q" * 251 + b"\r\nmn\r\n"]],
    "windows: cull after a yield": [[b"version\r\n" * 21 + b"set a 0 0 1\r\nx\r\nget " + b"q" * 251 + b"\r\nmn\r\n"]],
    "quit mid-batch": [[b"version\r\nquit\r\nversion\r\nmn\r\n"]],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_scripts(servers, name):
    chunks = SCRIPTS[name][0]
    bad = run_script(servers, [chunks], [mn_lines(b"".join(chunks))])
    assert not bad, bad
