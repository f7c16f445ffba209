"""Tests for protocols/resp.py.

The request tables (VALID, ERRORS, TOO_BIG), the CLIENT LIST qbuf figures and
the number formats were checked against a real redis-server 7.0.15 (Debian):
the same bytes were sent over a raw socket and the literals record what it
answered.  Each reader case runs twice: with the hiredis fast path and with
the pure-Python reference parser only.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import tracemalloc
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.resp import (
    INT_MAX, NEED_DATA, NULL_ARRAY, ProtocolError, Push, QueryBufferLimit, Raw,
    RespError, RespReader, RSet, Verbatim, add_long_double, encode, encode_into,
    format_double, format_long_double, parse_long_double, parse_reply, split_args,
    string2ll,
)

# "batch": hiredis through next_batch, the way the server reads (whole reads at once)
MODES = pytest.mark.parametrize("fast", [True, False, "batch"], ids=["hiredis", "pure", "batch"])


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def run(chunks, fast=True, **limits):
    """Feed chunks one at a time, draining after each; return (commands, error). ``fast``:
    hiredis (True), the reference parser (False), or hiredis through ``next_batch`` ("batch")."""
    reader = RespReader(use_hiredis=bool(fast), **limits)
    cmds = []
    for chunk in chunks:
        reader.feed(chunk)
        while True:
            try:
                batch = reader.next_batch() if fast == "batch" else [reader.next_command()]
            except ProtocolError as e:
                return cmds, str(e)
            if not batch or batch[0] is NEED_DATA:
                break
            for cmd in batch:
                assert type(cmd) is list and cmd and all(type(a) is bytes for a in cmd)
            cmds.extend(batch)
    return cmds, None


def splittings(data: bytes):
    """The whole buffer, every cut in two, and byte by byte."""
    yield [data]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    yield [data[i:i + 1] for i in range(len(data))]


def mb(*args: bytes) -> bytes:
    """Canonical multibulk encoding of a command."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


# ---------------------------------------------------------------------------
# valid requests: (wire bytes, commands Redis executes)
# ---------------------------------------------------------------------------

VALID = [
    (b"*1\r\n$4\r\nPING\r\n", [[b"PING"]]),
    (mb(b"SET", b"key:000000000001", b"xxx"), [[b"SET", b"key:000000000001", b"xxx"]]),
    # binary payloads, including bytes that look like protocol
    (mb(b"SET", b"k", b"a\r\nb\0c*1\r\n$4\r\n+~|=(\xff"),
     [[b"SET", b"k", b"a\r\nb\0c*1\r\n$4\r\n+~|=(\xff"]]),
    (mb(b"SET", b"", b""), [[b"SET", b"", b""]]),
    (b"*1\r\n$4\r\nPI\x00G\r\n", [[b"PI\x00G"]]),
    # *0 and negative counts are skipped silently
    (b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", [[b"PING"]]),
    (b"*-5\r\nPING\r\n", [[b"PING"]]),
    (b"*-9223372036854775808\r\nPING\r\n", [[b"PING"]]),
    # a read that ends inside the header of one more element is not a clean end, even when its
    # last line looks like the last argument (a trusted read must not be taken as finished)
    (b"*1\r\n$4\r\nPING\r\n$*1\r\n$4\r\nPING\r\n", [[b"PING"], [b"$*1"], [b"$4"], [b"PING"]]),
    (b"*1\r\n$2\r\n$2\r\n$2\r\nab\r\n", [[b"$2"], [b"$2"], [b"ab"]]),
    (b"*1\r\n$2\r\n!2\r\n!2\r\nab\r\n", [[b"!2"], [b"!2"], [b"ab"]]),
    # Redis skips one byte after the \r of a header and two after a payload, unchecked
    (b"*1\rX$4\r\nPINGxx", [[b"PING"]]),
    (b"*2\r\n$4\r\nECHO\r\n$3\r\nabcXY", [[b"ECHO", b"abc"]]),
    (b"*1\r\n$3\r\nabcXY+foo\r\n", [[b"abc"], [b"+foo"]]),
    (b"*1\r\n$1\r\naXY~1\r\n$1\r\nb\r\n", [[b"a"], [b"~1"], [b"$1"], [b"b"]]),
    (b"*2\r\n$3\r\nGET\r\n$3\r\na|bZZ", [[b"GET", b"a|b"]]),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$3\r\nfooz\r\n", [[b"SET", b"x", b"foo"]]),
    # inline
    (b"PING\r\n", [[b"PING"]]),
    (b"PING\n", [[b"PING"]]),
    (b"PING\r\r\n", [[b"PING"]]),
    (b"\r\n\n  \r\nPING\r\n", [[b"PING"]]),
    (b"\n", []),
    (b"  PING  \r\n", [[b"PING"]]),
    (b"\tPING\r\n", [[b"PING"]]),
    (b"\x0bPING\r\n", [[b"PING"]]),
    (b"PING\x0b\r\n", [[b"PING\x0b"]]),
    (b"ECHO a\rb\r\n", [[b"ECHO", b"a", b"b"]]),
    (b'ECHO "a\\x41\\n\\q"\r\n', [[b"ECHO", b"aA\nq"]]),
    (b'ECHO "\\a\\b\\t\\r"\r\n', [[b"ECHO", b"\x07\x08\t\r"]]),
    (b'ECHO "a\\x4g"\r\n', [[b"ECHO", b"ax4g"]]),
    (b'ECHO "\\xZZ"\r\n', [[b"ECHO", b"xZZ"]]),
    (b'ECHO "\\x4"\r\n', [[b"ECHO", b"x4"]]),
    (b'ECHO a"b c"\r\n', [[b"ECHO", b"ab c"]]),
    (b"ECHO a'b c'\r\n", [[b"ECHO", b"ab c"]]),
    (b"ECHO 'a\\'b'\r\n", [[b"ECHO", b"a'b"]]),
    (b"ECHO 'a\\nb'\r\n", [[b"ECHO", b"a\\nb"]]),
    (b"ECHO \"'\" '\"'\r\n", [[b"ECHO", b"'", b'"']]),
    (b"ECHO \x0ba\x0cb\r\n", [[b"ECHO", b"a\x0cb"]]),
    (b'ECHO "a"\x0bb\r\n', [[b"ECHO", b"a", b"b"]]),
    (b'ECHO "a" \r\n', [[b"ECHO", b"a"]]),
    (b'ECHO "a"\t\r\n', [[b"ECHO", b"a"]]),
    (b'"PING"\r\n', [[b"PING"]]),
    (b"ECHO ''\r\n", [[b"ECHO", b""]]),
    (b'ECHO ""\r\n', [[b"ECHO", b""]]),
    # a request not starting with '*' is inline, whatever its first byte
    (b"+PING\r\n", [[b"+PING"]]),
    (b":1\r\n", [[b":1"]]),
    (b"~1\r\n$4\r\nPING\r\n", [[b"~1"], [b"$4"], [b"PING"]]),
    (b"|1\r\n+a\r\n", [[b"|1"], [b"+a"]]),
    # pipelines mixing both forms
    (b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n", [[b"PING"]] * 3),
    (b"*1\r\n$4\r\nPING\r\n\r\n*1\r\n$4\r\nPING\r\n", [[b"PING"]] * 2),
    (b"GET a\n" + mb(b"GET", b"b") + b"GET c\r\n" + mb(b"GET", b"d"),
     [[b"GET", b"a"], [b"GET", b"b"], [b"GET", b"c"], [b"GET", b"d"]]),
]


@MODES
@pytest.mark.parametrize("wire,expected", VALID, ids=[repr(v[0])[:40] for v in VALID])
def test_valid_requests_at_every_split(wire, expected, fast):
    for chunks in splittings(wire):
        assert run(chunks, fast) == (expected, None), chunks


@MODES
def test_all_valid_requests_as_one_pipeline(fast):
    # Cases whose last command ends on a skipped trailer are followed by a
    # blank line in Redis's eyes, so they can be concatenated safely.
    wire = b"".join(w for w, _ in VALID)
    expected = [c for _, cmds in VALID for c in cmds]
    assert run([wire], fast) == (expected, None)
    rnd = random.Random(7)
    for _ in range(200):
        cuts = sorted(rnd.sample(range(1, len(wire)), rnd.randint(1, 30)))
        chunks = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
        assert run(chunks, fast) == (expected, None)


# ---------------------------------------------------------------------------
# errors: (wire bytes, commands executed before, the text after "-ERR ")
# ---------------------------------------------------------------------------

INVALID_MBULK = "Protocol error: invalid multibulk length"
INVALID_BULK = "Protocol error: invalid bulk length"
UNBALANCED = "Protocol error: unbalanced quotes in request"

ERRORS = [
    (b"*2147483648\r\n", [], INVALID_MBULK),
    (b"*3000000000\r\n", [], INVALID_MBULK),
    (b"*01\r\n", [], INVALID_MBULK),
    (b"*+1\r\n", [], INVALID_MBULK),
    (b"* 1\r\n", [], INVALID_MBULK),
    (b"*1 \r\n", [], INVALID_MBULK),
    (b"*\r\n", [], INVALID_MBULK),
    (b"*1a\r\n", [], INVALID_MBULK),
    (b"*-0\r\n", [], INVALID_MBULK),
    (b"*-9223372036854775809\r\n", [], INVALID_MBULK),
    (b"*99999999999999999999\r\n", [], INVALID_MBULK),
    (b"*1\r\nfoo\r\n", [], "Protocol error: expected '$', got 'f'"),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", [], "Protocol error: expected '$', got 'f'"),
    (b"*1\r\n+PING\r\n", [], "Protocol error: expected '$', got '+'"),
    (b"*2\r\n$4\r\nECHO\r\n=7\r\ntxt:abc\r\n", [], "Protocol error: expected '$', got '='"),
    (b"*2\r\n$4\r\nECHO\r\n(12\r\n", [], "Protocol error: expected '$', got '('"),
    (b"*2\r\n$4\r\nECHO\r\n:1\r\n", [], "Protocol error: expected '$', got ':'"),
    (b"*1\r\n*1\r\n$1\r\na\r\n", [], "Protocol error: expected '$', got '*'"),
    (b"*1\r\n~1\r\n$1\r\na\r\n", [], "Protocol error: expected '$', got '~'"),
    # a garbage trailer hides the '+' from any CRLF-based scan
    (b"*3\r\n$4\r\nECHO\r\n$1\r\naXY+foo\r\n", [], "Protocol error: expected '$', got '+'"),
    (b"*3\r\n$4\r\nECHO\r\n$1\r\naXY(12\r\n", [], "Protocol error: expected '$', got '('"),
    (b"*1\r\n\r\r\n", [], "Protocol error: expected '$', got ' '"),  # \r and \n are blanked
    (b"*1\r\n\n\r\n", [], "Protocol error: expected '$', got ' '"),
    (b"*1\r\n$-1\r\n", [], INVALID_BULK),
    (b"*1\r\n$-0\r\n", [], INVALID_BULK),
    (b"*1\r\n$03\r\n", [], INVALID_BULK),
    (b"*1\r\n$+3\r\n", [], INVALID_BULK),
    (b"*1\r\n$ 3\r\n", [], INVALID_BULK),
    (b"*1\r\n$3 \r\n", [], INVALID_BULK),
    (b"*1\r\n$1a\r\n", [], INVALID_BULK),
    (b"*1\r\n$blabla\r\n", [], INVALID_BULK),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", [], INVALID_BULK),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", [], INVALID_BULK),
    (b"*1\r\n$536870913\r\n", [], INVALID_BULK),
    (b'ECHO "abc\r\n', [], UNBALANCED),
    (b'ECHO "a"b\r\n', [], UNBALANCED),
    (b'ECHO ""x\r\n', [], UNBALANCED),
    (b'ECHO "\\x41\\x42"x\r\n', [], UNBALANCED),
    (b"ECHO 'a'b\r\n", [], UNBALANCED),
    (b"ECHO 'ab\r\n", [], UNBALANCED),
    (b'ECHO "\\\r\n', [], UNBALANCED),
    (b'set """test-key""" test-value\r\nping\r\n', [], UNBALANCED),
    # the commands before the error are executed
    (b"*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\n", [[b"PING"]], INVALID_BULK),
    (b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n", [[b"PING"], [b"PING"]], INVALID_MBULK),
    (mb(b"GET", b"a") * 3 + b"*1\r\nx\r\n", [[b"GET", b"a"]] * 3,
     "Protocol error: expected '$', got 'x'"),
]


@MODES
@pytest.mark.parametrize("wire,before,error", ERRORS, ids=[repr(e[0])[:40] for e in ERRORS])
def test_errors_at_every_split(wire, before, error, fast):
    for chunks in splittings(wire):
        assert run(chunks, fast) == (before, error), chunks


@MODES
def test_error_byte_is_reported_raw(fast):
    reader = RespReader(use_hiredis=fast)
    reader.feed(b"*1\r\n\xff\r\n")
    with pytest.raises(ProtocolError) as info:
        reader.next_command()
    assert info.value.reply == b"-ERR Protocol error: expected '$', got '\xff'\r\n"
    str(info.value).encode()  # the text alone is safe to encode too


@MODES
def test_reader_stays_dead_after_an_error(fast):
    reader = RespReader(use_hiredis=fast)
    reader.feed(b"*1\r\nfoo\r\n")
    for _ in range(3):
        with pytest.raises(ProtocolError, match=r"expected '\$', got 'f'"):
            reader.next_command()
    reader.feed(b"*1\r\n$4\r\nPING\r\n")
    with pytest.raises(ProtocolError):
        reader.next_command()


@MODES
def test_bad_header_is_refused_before_its_payload_arrives(fast):
    # Redis answers as soon as it has read the header (unit/protocol.tcl)
    reader = RespReader(use_hiredis=fast)
    reader.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n")
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        reader.next_command()


# The 64KB "too big" checks run, as in Redis, when no terminator is visible in
# the buffered data.  With a NUL byte strchr() cannot see past it, so the line
# never completes.
def _fill(prefix: bytes, filler: bytes = b"A", line_start: int = 0) -> bytes:
    # one byte over 64KB, counted from the start of the line being read
    return prefix + filler * (line_start + 65537 - len(prefix))


TOO_BIG = [
    (_fill(b""), "Protocol error: too big inline request"),
    (_fill(b"PI\x00NG\r\n"), "Protocol error: too big inline request"),
    (_fill(b"$\x00"), "Protocol error: too big inline request"),
    (_fill(b"*", b"1"), "Protocol error: too big mbulk count string"),
    (_fill(b"*1\x00\r\n"), "Protocol error: too big mbulk count string"),
    (_fill(b"*\x00"), "Protocol error: too big mbulk count string"),
    (_fill(b"*1\r\n$", b"1", 4), "Protocol error: too big bulk count string"),
    (_fill(b"*1\r\n$\x00\r\n", line_start=4), "Protocol error: too big bulk count string"),
]


@MODES
@pytest.mark.parametrize("wire,error", TOO_BIG, ids=[repr(t[0][:12]) for t in TOO_BIG])
def test_too_big_lines(wire, error, fast):
    assert run([wire], fast) == ([], error)
    pieces = [wire[i:i + 1000] for i in range(0, len(wire), 1000)]
    assert run(pieces, fast) == ([], error)
    assert run([wire[:-1]], fast) == ([], None)  # 64KB exactly: still waiting


@MODES
def test_too_big_threshold_is_exclusive(fast):
    assert run([b"PI\x00NG\r\n" + b"A" * 65528], fast) == ([], None)  # 65535 bytes


@MODES
def test_nul_hides_the_newline_forever(fast):
    assert run([b"ECHO a\x00b\r\n"], fast) == ([], None)
    assert run([b"*1\x00\r\n$4\r\nPING\r\n"], fast) == ([], None)


@MODES
def test_long_lines_depend_on_chunking_like_redis(fast):
    # Redis 7.0.15 accepts a 65536-byte inline line sent at once (it reads
    # 16KB at a time and finds the newline), but the same line arriving byte
    # by byte crosses 64KB before its newline is visible.
    wire = b"A" * 65536 + b"\r\n"
    assert run([wire], fast) == ([[b"A" * 65536]], None)
    assert run([wire[:65536], wire[65536:]], fast) == ([[b"A" * 65536]], None)
    assert run([wire[:65537], wire[65537:]], fast) == ([], "Protocol error: too big inline request")


# ---------------------------------------------------------------------------
# limits
# ---------------------------------------------------------------------------

@MODES
def test_max_bulk_len(fast):
    ok = mb(b"SET", b"k", b"0123456789")
    assert run([ok], fast, max_bulk_len=10) == ([[b"SET", b"k", b"0123456789"]], None)
    too_long = mb(b"SET", b"k", b"0123456789A")
    for chunks in ([too_long], [too_long[:25]], [too_long[:25], too_long[25:]]):
        assert run(chunks, fast, max_bulk_len=10) == ([], INVALID_BULK)


@MODES
def test_max_bulk_len_changed_at_runtime(fast):
    reader = RespReader(use_hiredis=fast)
    reader.feed(mb(b"SET", b"k", b"123456"))
    assert reader.next_command() == [b"SET", b"k", b"123456"]
    assert reader.next_command() is NEED_DATA
    reader.max_bulk_len = 5  # CONFIG SET proto-max-bulk-len 5
    reader.feed(mb(b"SET", b"k", b"123456"))
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        reader.next_command()


@MODES
def test_multibulk_count_limit_is_int_max(fast):
    # Redis 7.0.15 accepts *1048577 (the old 1M limit is gone) and refuses INT_MAX+1
    for count in (1048577, INT_MAX):
        assert run([b"*%d\r\n$1\r\na\r\n" % count], fast) == ([], None)
    assert run([b"*%d\r\n" % (INT_MAX + 1)], fast) == ([], INVALID_MBULK)


@MODES
def test_max_multibulk_parameter(fast):
    assert run([mb(b"a", b"b", b"c")], fast, max_multibulk=3) == ([[b"a", b"b", b"c"]], None)
    assert run([mb(b"a", b"b", b"c", b"d")], fast, max_multibulk=3) == ([], INVALID_MBULK)


@MODES
def test_unauthenticated_limits(fast):
    def unauth(chunks):
        reader = RespReader(use_hiredis=fast)
        reader.auth_required = True
        cmds = []
        try:
            for c in chunks:
                reader.feed(c)
                while (cmd := reader.next_command()) is not NEED_DATA:
                    cmds.append(cmd)
        except ProtocolError as e:
            return cmds, str(e)
        return cmds, None

    assert unauth([b"*11\r\n"]) == ([], "Protocol error: unauthenticated multibulk length")
    assert unauth([b"*10\r\n"]) == ([], None)
    assert unauth([b"*-11\r\n*1\r\n$4\r\nPING\r\n"]) == ([[b"PING"]], None)
    assert unauth([b"*1\r\n$16385\r\n"]) == ([], "Protocol error: unauthenticated bulk length")
    assert unauth([mb(b"AUTH", b"x" * 16384)]) == ([[b"AUTH", b"x" * 16384]], None)
    assert unauth([mb(*[b"a"] * 11)]) == ([], "Protocol error: unauthenticated multibulk length")


@MODES
def test_query_buffer_limit(fast):
    # a partial request that keeps growing
    reader = RespReader(use_hiredis=fast, max_query_buffer=1000)
    reader.feed(b"*2\r\n$3\r\nSET\r\n$5000\r\n" + b"x" * 500)
    assert reader.next_command() == NEED_DATA
    reader.feed(b"x" * 600)
    with pytest.raises(QueryBufferLimit):
        reader.next_command()
    # complete commands that fit are fine
    cmds, err = run([mb(b"SET", b"k", b"v" * 100)] * 3, fast, max_query_buffer=1000)
    assert err is None and len(cmds) == 3


@MODES
def test_query_buffer_limit_is_a_protocol_error_without_reply_text(fast):
    reader = RespReader(use_hiredis=fast, max_query_buffer=10)
    reader.feed(b"*1\r\n$100\r\n" + b"x" * 20)
    with pytest.raises(ProtocolError) as info:
        reader.next_command()
    assert isinstance(info.value, QueryBufferLimit)


@MODES
def test_huge_announced_bulk_is_not_preallocated(fast):
    reader = RespReader(use_hiredis=fast)
    tracemalloc.start()
    try:
        reader.feed(b"*2\r\n$3\r\nSET\r\n$536870912\r\n")
        assert reader.next_command() is NEED_DATA
        for _ in range(16):
            reader.feed(b"x" * 65536)
            assert reader.next_command() is NEED_DATA
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 8 * 1024 * 1024  # ~1MB received, not 512MB
    assert reader.buffered() == 16 * 65536


@MODES
def test_huge_announced_count_is_not_preallocated(fast):
    reader = RespReader(use_hiredis=fast)
    tracemalloc.start()
    try:
        reader.feed(b"*2147483647\r\n" + b"$1\r\na\r\n" * 1000)
        assert reader.next_command() is NEED_DATA
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 1024 * 1024


@MODES
def test_big_value_in_many_reads(fast):
    value = bytes(range(256)) * 4096  # 1MB
    wire = mb(b"SET", b"k", value) + mb(b"GET", b"k")
    chunks = [wire[i:i + 16384] for i in range(0, len(wire), 16384)]
    assert run(chunks, fast) == ([[b"SET", b"k", value], [b"GET", b"k"]], None)


# ---------------------------------------------------------------------------
# buffered() is Redis's CLIENT LIST qbuf
# ---------------------------------------------------------------------------

@MODES
def test_buffered_matches_client_list_qbuf(fast):
    # redis-server reported qbuf=40 and qbuf=50 for CLIENT LIST in these batches
    reader = RespReader(use_hiredis=fast)
    batch = mb(b"CLIENT", b"LIST") + mb(b"PING")
    reader.feed(batch)
    assert reader.next_command() == [b"CLIENT", b"LIST"]
    assert reader.buffered() == 40
    assert reader.next_command() == [b"PING"]
    assert reader.next_command() is NEED_DATA
    assert reader.buffered() == 0

    reader.feed(batch + b"*1\r\n$4\r\nPI")
    assert reader.next_command() == [b"CLIENT", b"LIST"]
    assert reader.buffered() == 50
    assert reader.next_command() == [b"PING"]
    assert reader.next_command() is NEED_DATA
    assert reader.buffered() == 2  # header and length consumed, "PI" held
    reader.feed(b"NG\r\n")
    assert reader.next_command() == [b"PING"]
    assert reader.buffered() == 6
    assert reader.next_command() is NEED_DATA
    assert reader.buffered() == 0


# ---------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------

argvs = st.lists(st.binary(max_size=40), min_size=1, max_size=6)
inline_token = st.binary(min_size=1, max_size=12).map(
    lambda b: bytes(c for c in b if c not in b" \t\n\r\x0b\x0c\"'\0") or b"x")


@st.composite
def inline_commands(draw):
    argv = draw(st.lists(inline_token, min_size=1, max_size=5))
    if argv[0][:1] == b"*":
        argv[0] = b"x" + argv[0]
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    return argv, b" ".join(argv) + eol


@st.composite
def pipelines(draw):
    items = draw(st.lists(st.one_of(argvs.map(lambda a: (a, mb(*a))), inline_commands()),
                          min_size=1, max_size=12))
    wire = b"".join(w for _, w in items)
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    chunks = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
    return [a for a, _ in items], chunks


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines(), st.sampled_from([True, False, "batch"]))
def test_random_pipelines_parse_back(case, fast):
    expected, chunks = case
    assert run(chunks, fast) == (expected, None)


# protocol-looking noise: the fast path must agree with the reference parser
_FRAGMENTS = [b"*", b"$", b"\r\n", b"\r", b"\n", b"1", b"2", b"3", b"0", b"-", b"-1", b"a",
              b"PING", b" ", b'"', b"'", b"\\", b"\0", b"+", b":", b"~", b"_", b"\r\nx",
              b"|", b"=", b"(", b"XY", b"%", b">", b",", b"#",
              b"*1\r\n$4\r\nPING\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"PING\r\n",
              b"*2\r\n$3\r\nGET\r\n$1\r\n"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40),
       st.lists(st.integers(0, 200), max_size=5))
def test_fast_path_agrees_with_reference_parser(fragments, cuts):
    wire = b"".join(fragments)
    cuts = sorted(c for c in cuts if c <= len(wire))
    chunks = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
    reference = run(chunks, False)
    assert run(chunks, True) == reference
    assert run(chunks, "batch") == reference


@MODES
def test_feeding_several_chunks_before_draining(fast):
    wire = b"".join(w for w, _ in VALID)
    expected = [c for _, cmds in VALID for c in cmds]
    reader = RespReader(use_hiredis=fast)
    for i in range(0, len(wire), 7):
        reader.feed(wire[i:i + 7])
    cmds = []
    while (cmd := reader.next_command()) is not NEED_DATA:
        cmds.append(cmd)
    assert cmds == expected
    assert reader.buffered() == 0


def test_fast_path_resumes_after_a_cut_request():
    # white box: a read that ends inside a request is handed to the reference
    # parser, which gives the stream back to hiredis once the request is done
    pipe = mb(b"SET", b"key", b"value") * 16
    reader = RespReader()
    for cut in (100, 200, 300):
        reader.feed(pipe[:cut])
        n = 0
        while reader.next_command() is not NEED_DATA:
            n += 1
        assert not reader._fast
        reader.feed(pipe[cut:])
        while reader.next_command() is not NEED_DATA:
            n += 1
        assert n == 16
        assert reader._fast


def test_rare_bytes_use_verified_hiredis():
    # white box: values with ~ | + = ( are parsed by hiredis and checked
    # command by command, then the reader goes back to the trusted mode
    reader = RespReader()
    reader.feed(mb(b"SET", b"user|1", b"a=b+c") * 3)
    assert reader._verify
    assert [reader.next_command() for _ in range(3)] == [[b"SET", b"user|1", b"a=b+c"]] * 3
    assert reader.next_command() is NEED_DATA
    assert reader._fast and not reader._verify
    reader.feed(mb(b"GET", b"user|1") + b"*2\r\n$3\r\nGET\r\n+x\r\n")
    assert reader.next_command() == [b"GET", b"user|1"]
    with pytest.raises(ProtocolError, match="got '\\+'"):
        reader.next_command()


@given(st.lists(argvs, max_size=20))
def test_wire_size_is_the_canonical_encoding_size(cmds):
    from protocols.resp import _encode_command, _encode_command_py, _wire_size

    assert _wire_size(cmds) == sum(len(encode(c)) for c in cmds)
    for c in cmds:
        assert _encode_command(c) == _encode_command_py(c) == encode(c)


# ---------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------

def test_string2ll():
    assert string2ll(b"0") == 0
    assert string2ll(b"-1") == -1
    assert string2ll(b"9223372036854775807") == 2**63 - 1
    assert string2ll(b"-9223372036854775808") == -(2**63)
    for bad in (b"", b"-", b"-0", b"01", b"+1", b" 1", b"1 ", b"1.0", b"9223372036854775808",
                b"-9223372036854775809", b"1_0", b"\xd9\xa1", b"00"):
        assert string2ll(bad) is None, bad


def test_split_args():
    assert split_args(b"") == []
    assert split_args(b"   ") == []
    assert split_args(b"a  b\tc") == [b"a", b"b", b"c"]
    assert split_args(b'"a b" c') == [b"a b", b"c"]
    assert split_args(b'"unterminated') is None
    assert split_args(b"a\0b") == [b"a"]  # a C string ends at NUL


# ---------------------------------------------------------------------------
# reply encoder
# ---------------------------------------------------------------------------

ENCODINGS = [
    # value, RESP2, RESP3
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"x" * 5000, b"$5000\r\n" + b"x" * 5000 + b"\r\n", b"$5000\r\n" + b"x" * 5000 + b"\r\n"),
    ("OK", b"+OK\r\n", b"+OK\r\n"),
    ("some status", b"+some status\r\n", b"+some status\r\n"),
    ("bad\r\nstatus", b"+bad  status\r\n", b"+bad  status\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-1, b":-1\r\n", b":-1\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None, "OK"], b"*4\r\n$1\r\na\r\n:1\r\n$-1\r\n+OK\r\n",
     b"*4\r\n$1\r\na\r\n:1\r\n_\r\n+OK\r\n"),
    ((b"a", (b"b",)), b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n", b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"),
    ({b"k": 1, b"j": b"v"}, b"*4\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n$1\r\nv\r\n",
     b"%2\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n$1\r\nv\r\n"),
    ({}, b"*0\r\n", b"%0\r\n"),
    (RSet([b"a", b"b"]), b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", b"~2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ({b"a"}, b"*1\r\n$1\r\na\r\n", b"~1\r\n$1\r\na\r\n"),
    (frozenset([b"a"]), b"*1\r\n$1\r\na\r\n", b"~1\r\n$1\r\na\r\n"),
    (Push([b"message", b"ch", b"hi"]), b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
     b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (1.1, b"$18\r\n1.1000000000000001\r\n", b",1.1000000000000001\r\n"),
    (3.0, b"$1\r\n3\r\n", b",3\r\n"),
    (math.inf, b"$3\r\ninf\r\n", b",inf\r\n"),
    (-math.inf, b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (Verbatim(b"hello"), b"$5\r\nhello\r\n", b"=9\r\ntxt:hello\r\n"),
    (Verbatim(b"# x", b"mkd"), b"$3\r\n# x\r\n", b"=7\r\nmkd:# x\r\n"),
    (RespError("ERR syntax error"), b"-ERR syntax error\r\n", b"-ERR syntax error\r\n"),
    (RespError("WRONGTYPE Operation against a key holding the wrong kind of value"),
     b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
     b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (RespError("ERR bad\r\nthing\n"), b"-ERR bad  thing\r\n", b"-ERR bad  thing\r\n"),
    (RespError(b"ERR raw \xff"), b"-ERR raw \xff\r\n", b"-ERR raw \xff\r\n"),
    (Raw(b"+PONG\r\n"), b"+PONG\r\n", b"+PONG\r\n"),
    ([[b"a", 1.5], {b"x": True}], b"*2\r\n*2\r\n$1\r\na\r\n$3\r\n1.5\r\n*2\r\n$1\r\nx\r\n:1\r\n",
     b"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n%1\r\n$1\r\nx\r\n#t\r\n"),
]


@pytest.mark.parametrize("value,resp2,resp3", ENCODINGS, ids=[repr(e[0])[:30] for e in ENCODINGS])
def test_encode(value, resp2, resp3):
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3
    out = bytearray(b"prefix")
    encode_into(out, value, 3)
    assert out == b"prefix" + resp3


def test_encode_error_subclass_and_surrogates():
    class CommandError(RespError):
        pass

    raw_arg = b"\xffoo".decode("utf-8", "surrogateescape")
    err = CommandError(f"ERR unknown command '{raw_arg}'")
    assert encode(err) == b"-ERR unknown command '\xffoo'\r\n"


def test_encode_rejects_unknown_types():
    with pytest.raises(TypeError):
        encode(object())


def as_parsed(value, proto):
    """What parse_reply gives back for an encoded reply value."""
    t = type(value)
    if t is str:
        return value.replace("\r", " ").replace("\n", " ")
    if isinstance(value, RespError):
        return RespError(encode(value)[1:-2].decode("utf-8", "surrogateescape"))
    if value is NULL_ARRAY:
        return None if proto == 3 else NULL_ARRAY
    if t is bool:
        return value if proto == 3 else int(value)
    if t is float:
        return value if proto == 3 else format_double(value)
    if t is Verbatim:
        return value if proto == 3 else value.data
    if t is dict:
        if proto == 3:
            return {as_parsed(k, 3): as_parsed(v, 3) for k, v in value.items()}
        return [as_parsed(x, 2) for kv in value.items() for x in kv]
    if t in (set, frozenset, RSet, Push, list, tuple):
        items = [as_parsed(x, proto) for x in value]
        if proto == 3 and t in (set, frozenset, RSet):
            return RSet(items)
        return Push(items) if proto == 3 and t is Push else items
    return value


@pytest.mark.parametrize("value,resp2,resp3", ENCODINGS, ids=[repr(e[0])[:30] for e in ENCODINGS])
def test_reply_parser_reads_encoder_output(value, resp2, resp3):
    if type(value) is Raw:
        return
    for proto, wire in ((2, resp2), (3, resp3)):
        parsed, end = parse_reply(wire)
        assert end == len(wire)
        assert parse_reply(wire[:-1]) == (NEED_DATA, 0)
        expected = as_parsed(value, proto)
        assert parsed == expected
        assert type(parsed) is type(expected)


# ---------------------------------------------------------------------------
# number formatting (replies of redis-server 7.0.15)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("value,text", [
    (1.1, b"1.1000000000000001"),
    (0.1 + 0.2, b"0.30000000000000004"),
    (0.1, b"0.10000000000000001"),
    (1e300, b"1.0000000000000001e+300"),
    (3.0, b"3"),
    (100.0, b"100"),
    (1e16, b"10000000000000000"),
    (1e17, b"1e+17"),
    (123456789012345678.0, b"1.2345678901234568e+17"),
    (1e-300, b"1e-300"),
    (5e-324, b"4.9406564584124654e-324"),
    (-0.0, b"-0"),  # as ZINCRBY replies for a new member; ZSCORE then says 0
    (math.inf, b"inf"),
    (-math.inf, b"-inf"),
])
def test_format_double(value, text):
    assert format_double(value) == text


def incrbyfloat(*increments: bytes, start: bytes | None = None) -> list[bytes]:
    """The replies of successive INCRBYFLOATs, computed like Redis does."""
    value = parse_long_double(start) if start is not None else 0
    replies = []
    for inc in increments:
        value = add_long_double(value, parse_long_double(inc))
        text = format_long_double(value)
        replies.append(text)
        value = parse_long_double(text)  # Redis stores the text
    return replies


def test_incrbyfloat_replies():
    assert incrbyfloat(b"0", start=b"10.5") == [b"10.5"]
    assert incrbyfloat(b"0.1", b"0.2", start=b"0") == [b"0.1", b"0.3"]
    assert incrbyfloat(b"0.1", b"0.1", b"0.1") == [b"0.1", b"0.2", b"0.3"]
    assert incrbyfloat(b"0", start=b"5.0e3") == [b"5000"]
    assert incrbyfloat(b"0", start=b"1e20") == [b"100000000000000000000"]
    assert incrbyfloat(b"0", start=b"3") == [b"3"]
    assert incrbyfloat(b"1.1") == [b"1.1"]
    assert incrbyfloat(b"-0.0") == [b"0"]
    assert incrbyfloat(b"1e-20") == [b"0"]
    assert incrbyfloat(b"-5.5") == [b"-5.5"]
    assert incrbyfloat(b"0x10") == [b"16"]
    assert incrbyfloat(b"123456789.123456789") == [b"123456789.12345678899873747"]
    assert incrbyfloat(b"1.7976931348623157e308") == [
        b"179769313486231569995921046774104434048386446944329178485314420765176628523124"
        b"396354701868608387085564428793419425520689308708363451136055357897278026477617"
        b"073498977686288394835618163294045594434929537447290627480669417384648879122776"
        b"218333598953852832103282504751611691208117720159985926376802466863339536384"]
    big = incrbyfloat(b"1e4000")[0]  # 4000 digits; the server's reply hashed
    assert hashlib.sha256(big).hexdigest() == (
        "5b56729d9b9cbc79bf6bfea495c4bb22394d8fd34e39109c79c13afa3dc3efa0")
    assert big.startswith(b"9999999999999999999965463873099623784932492583506957631301508333")
    assert big.endswith(b"901340672")


def test_parse_long_double_refusals():
    for bad in (b"", b" 1", b"1 ", b"abc", b"1e", b"nan", b"NaN", b"1e5000", b"-1e5000",
                b"1e-5000", b".", b"0x", b"1" * 5120):
        assert parse_long_double(bad) is None, bad
    assert parse_long_double(b"inf") == math.inf
    assert parse_long_double(b"-Infinity") == -math.inf
    assert parse_long_double(b"0e99999999999") == 0
    assert parse_long_double(b".5") == Fraction(1, 2)
    assert parse_long_double(b"5.") == 5
    assert parse_long_double(b"0x1.8p1") == 3
    assert math.isinf(add_long_double(math.inf, Fraction(1)))
    assert math.isnan(add_long_double(math.inf, -math.inf))


def test_format_long_double_plain_floats():
    assert format_long_double(10.5) == b"10.5"
    assert format_long_double(-0.0) == b"0"
    assert format_long_double(3) == b"3"
    assert format_long_double(math.inf) == b"inf"
    assert format_long_double(-math.inf) == b"-inf"


# ---------------------------------------------------------------------------
# micro-benchmark (not a test): CACHESRV_BENCH=1 pytest -s -k bench
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("CACHESRV_BENCH"), reason="benchmark; set CACHESRV_BENCH=1")
def test_bench_reader():
    from protocols.resp import _bench

    for name, us in _bench().items():
        print(f"{name:40s} {us:6.3f} us/command")


# ---------------------------------------------------------------------------
# next_batch (the server's way of reading)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("tail", [b"", b"*2\r\n", b"*2\r\n$3\r\nGET\r\n", b"*2\r\n$3\r\nGE",
                                  b"%1\r\n", b">2\r\n"])
@pytest.mark.parametrize("value", [b"v", b"a*b", b"50%", b"->"])
def test_next_batch_takes_a_whole_read_at_once(tail, value):
    # A read of 16 commands comes back as one batch, whatever follows it: nothing, the header
    # of one more command (hiredis has used up every byte), or part of one; values holding the
    # aggregate type bytes * % > take the exact size check. The rest reads as the reference
    # parser reads it (% and > lines are inline commands to Redis).
    cmds = [[b"SET", b"k%d" % i, value] for i in range(16)]
    wire = b"".join(mb(*c) for c in cmds) + tail
    more = mb(b"GET", b"k")[len(tail):] if tail.startswith(b"*2") else b"\r\n"
    reader = RespReader()
    reader.feed(wire)
    assert reader.next_batch() == cmds
    assert reader.buffered() == len(wire)
    got = cmds + run_all(reader)
    reader.feed(more)
    got += run_all(reader)
    assert (got, None) == run([wire, more], False)
    assert reader.buffered() == 0


def run_all(reader: RespReader) -> list:
    out = []
    while batch := reader.next_batch():
        out.extend(batch)
    return out


def test_next_batch_stops_before_what_is_not_a_plain_command():
    # ':5' is an inline command to Redis ("unknown command ':5'"), not a number
    reader = RespReader()
    reader.feed(mb(b"PING") * 3 + b":5\r\n" + mb(b"GET", b"k"))
    assert reader.next_batch() == [[b"PING"]] * 3
    assert reader.next_batch() == [[b":5"]]
    assert reader.next_batch() == [[b"GET", b"k"]]
    assert reader.next_batch() == []


def test_rewind_reparses_the_rest_under_new_limits():
    # A pipelined RESET can make the client unauthenticated: Redis parses what follows it with
    # the stricter limits, so the server rewinds the reader to the first command not run.
    big = mb(b"SET", b"k", b"x" * 20000)
    reader = RespReader()
    reader.feed(mb(b"PING") + mb(b"RESET") + big)
    batch = reader.next_batch()
    assert batch == [[b"PING"], [b"RESET"], [b"SET", b"k", b"x" * 20000]]
    reader.auth_required = True
    reader.rewind(2)
    with pytest.raises(ProtocolError, match="unauthenticated bulk length"):
        reader.next_batch()
