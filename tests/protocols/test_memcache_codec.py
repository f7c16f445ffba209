"""Tests for protocols/memcache.py, the sans-IO memcached reader.

The expected events encode what Debian's memcached 1.6.18 does with the same bytes (checked
over a raw socket; tests/interop/test_diff_memcache.py keeps checking it): which header errors
swallow the data block, which replies noreply hides, how numbers and base64 keys are read, when
a long line closes the connection. Every table case is also fed split at every byte offset.
"""

from __future__ import annotations

import pytest

from protocols.memcache import (
    NEED_DATA, ClientError, MemcacheReader, Request, b64decode, b64encode, item_fits, item_size,
    parse_meta_flags, safe_strtol, safe_strtoul, safe_strtoull,
)


def drain(reader: MemcacheReader) -> list:
    out = []
    while (ev := reader.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


def events(wire: bytes, max_item_size: int = 1 << 20) -> list:
    r = MemcacheReader(max_item_size)
    r.feed(wire)
    return drain(r)


def split_events(wire: bytes, cut: int, max_item_size: int = 1 << 20) -> list:
    r = MemcacheReader(max_item_size)
    r.feed(wire[:cut])
    out = drain(r)
    r.feed(wire[cut:])
    return out + drain(r)


def bytewise_events(wire: bytes) -> list:
    r = MemcacheReader()
    out = []
    for i in range(len(wire)):
        r.feed(wire[i:i + 1])
        out += drain(r)
    return out


R = Request
E = ClientError

CASES = [
    # plain commands: tokens split on runs of spaces only
    (b"get k\r\n", [R(b"get", (b"k",))]),
    (b"get a b c\r\n", [R(b"get", (b"a", b"b", b"c"))]),
    (b"  get   a  b \r\n", [R(b"get", (b"a", b"b"))]),
    (b"get k\n", [R(b"get", (b"k",))]),
    (b"get k\tx\r\n", [R(b"get", (b"k\tx",))]),
    (b"version\r\nmn\r\n", [R(b"version", ()), R(b"mn", ())]),
    # a lone \r before \n is the command "\r"; empty and blank lines are empty commands
    (b"\r\n", [R(b"\r", ())]),
    (b"\n", [R(b"", ())]),
    (b" \r\n", [R(b"", ())]),
    # a NUL ends the line (memcached's tokenizer works on C strings)
    (b"get a\0b c\r\n", [R(b"get", (b"a",))]),
    # storage commands and their data blocks
    (b"set k 0 0 3\r\nabc\r\n", [R(b"set", (b"k", b"0", b"0", b"3"), b"abc")]),
    (b"set k 1 2 0\r\n\r\n", [R(b"set", (b"k", b"1", b"2", b"0"), b"")]),
    (b"cas k 0 0 1 99 noreply\r\nx\r\n", [R(b"cas", (b"k", b"0", b"0", b"1", b"99", b"noreply"), b"x")]),
    (b"append k 0 0 2\r\n\r\n\r\n", [R(b"append", (b"k", b"0", b"0", b"2"), b"\r\n")]),
    (b"set k 0 0 1\nx\r\nget k\n", [R(b"set", (b"k", b"0", b"0", b"1"), b"x"), R(b"get", (b"k",))]),
    (b"ms k 2 T5 F3\r\nhi\r\n", [R(b"ms", (b"k", b"2", b"T5", b"F3"), b"hi")]),
    # a bad data chunk: exactly n + 2 bytes are taken, the rest is a new line
    (b"set k 0 0 3\r\nabcde\r\nget k\r\n",
     [E(b"CLIENT_ERROR bad data chunk", False, b"set"), R(b"\r", ()), R(b"get", (b"k",))]),
    (b"set k 0 0 1\r\nx\nget k\r\n",
     [E(b"CLIENT_ERROR bad data chunk", False, b"set"), R(b"et", (b"k",))]),
    (b"set k 0 0 3 noreply\r\nabcde\r\n", [E(b"", False, b"set"), R(b"\r", ())]),
    (b"ms k 2 q\r\nhiX\r\nmn\r\n", [E(b"CLIENT_ERROR bad data chunk", False, b"ms"), R(b"", ()), R(b"mn", ())]),
    # header errors before the length is known swallow nothing
    (b"set k 0 0\r\nget k\r\n", [E(b"ERROR"), R(b"get", (b"k",))]),
    (b"set k 0 0 1 noreply extra\r\nx\r\n", [E(b"ERROR"), R(b"x", ())]),
    (b"set k 0 0 -1\r\nget k\r\n", [E(b"CLIENT_ERROR bad command line format"), R(b"get", (b"k",))]),
    (b"set k 0 0 x noreply\r\nget k\r\n", [E(b""), R(b"get", (b"k",))]),
    (b"set k -1 0 1\r\nx\r\n", [E(b"CLIENT_ERROR bad command line format"), R(b"x", ())]),
    (b"set k 0x 0 1\r\nx\r\n", [E(b"CLIENT_ERROR bad command line format"), R(b"x", ())]),
    (b"set k 0 0 2147483646\r\n", [E(b"CLIENT_ERROR bad command line format")]),
    (b"cas k 0 0 1\r\ny\r\n", [E(b"ERROR"), R(b"y", ())]),
    (b"cas k 0 0 1 -1\r\ny\r\n", [E(b"CLIENT_ERROR bad command line format"), R(b"y", ())]),
    (b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n", [E(b"CLIENT_ERROR bad command line format"), R(b"x", ())]),
    (b"set k 0 0 1 " + b"a " * 30 + b"\r\nx\r\n", [E(b"ERROR"), R(b"x", ())]),
    (b"ms\r\n", [E(b"ERROR")]),
    (b"ms k\r\n", [E(b"CLIENT_ERROR bad command line format")]),
    (b"ms k x\r\nab\r\n", [E(b"CLIENT_ERROR bad command line format"), R(b"ab", ())]),
    (b"ms k 1 " + b"T1 " * 25 + b"\r\nx\r\n", [E(b"CLIENT_ERROR options flags too long"), R(b"x", ())]),
    # meta flag errors found after the length swallow the block, and are never hidden by q
    (b"ms k 2 Zq\r\nhi\r\nmn\r\n", [E(b"CLIENT_ERROR invalid flag"), R(b"mn", ())]),
    (b"ms k 3 T1 T2 q\r\nabc\r\n", [E(b"CLIENT_ERROR duplicate flag")]),
    (b"ms k 3 b\r\nabc\r\n", [E(b"CLIENT_ERROR error decoding key")]),
    (b"ms k 2 Cx\r\nhi\r\n", [E(b"CLIENT_ERROR bad token in command line format")]),
    (b"ms k 2 F-1\r\nhi\r\n", [E(b"CLIENT_ERROR bad command line format")]),
    (b"ms k 2 MX\r\nhi\r\n", [E(b"CLIENT_ERROR invalid mode for ms M token")]),
    (b"ms k 2 MEE\r\nhi\r\n", [E(b"CLIENT_ERROR incorrect length for M token")]),
    (b"ms k 2 O" + b"o" * 32 + b"\r\nhi\r\n", [E(b"CLIENT_ERROR opaque token too long")]),
    (b"ms k 2 O" + b"o" * 32 + b" MX\r\nhi\r\n", [E(b"CLIENT_ERROR invalid mode for ms M token")]),
]


@pytest.mark.parametrize("wire, expected", CASES)
def test_events(wire, expected):
    assert events(wire) == expected


@pytest.mark.parametrize("wire, expected", CASES)
def test_every_split_point(wire, expected):
    for cut in range(len(wire) + 1):
        assert split_events(wire, cut) == expected, cut


@pytest.mark.parametrize("wire, expected", CASES[:20])
def test_byte_at_a_time(wire, expected):
    assert bytewise_events(wire) == expected


def test_pipelined_batch_in_order():
    wire = b"".join(b"set k%d 0 0 %d\r\n%s\r\nget k%d\r\n" % (i, len(b"v%d" % i), b"v%d" % i, i)
                    for i in range(200))
    evs = events(wire)
    assert len(evs) == 400
    assert evs[0::2] == [R(b"set", (b"k%d" % i, b"0", b"0", b"%d" % len(b"v%d" % i)), b"v%d" % i)
                         for i in range(200)]
    assert evs[1::2] == [R(b"get", (b"k%d" % i,)) for i in range(200)]


# A fresh read of "get <key>" or "set <key> 0 0 <bytes>" + its block is matched in one go; one
# fed in two parts takes the general path. Both must give the same events, near misses included.
FAST_PATH_EDGES = [
    b"get k\r\n", b"get " + b"k" * 250 + b"\r\n", b"get " + b"k" * 251 + b"\r\n", b"get k\r\r\n",
    b"get k\0x\r\n", b"get  k\r\n", b"get k \r\n", b"get k\n", b"get k", b"gets k\r\n",
    b"get k\x01\xff\r\n", b"get k\rx\r\n", b"get \r\n",
    b"set k 0 0 3\r\nabc\r\n", b"set k 0 0 3\r\nabcd\r\n", b"set k 0 0 3\r\nab",
    b"set k 0 0 3\r\nabc\n", b"set k 0 0 0\r\n\r\n", b"set k 0 0 03\r\nabc\r\n",
    b"set k 0 0 4095\r\n" + b"x" * 4095 + b"\r\n", b"set k 0 0 4096\r\n" + b"x" * 4096 + b"\r\n",
    b"set k 0 1 3\r\nabc\r\n", b"set k 1 0 3\r\nabc\r\n", b"set k 0 0 3 noreply\r\nabc\r\n",
    b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\n", b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n",
    b"set k\r 0 0 3\r\nabc\r\n", b"set k 0 0 3\nabc\r\n", b"set k 0 0 -1\r\n", b"set k 0 0\r\n",
    b"set k 0 0 1000\r\n" + b"x" * 1000 + b"\r\nget k\r\n", b"sets k 0 0 1\r\nx\r\n",
    b"set k 0 0 1\r\nx\r\nset k 0 0 1\r\ny\r\nget k\r\n",
]


@pytest.mark.parametrize("wire", FAST_PATH_EDGES)
def test_one_match_path_agrees_with_the_general_one(wire):
    def seen(evs):
        return [(type(e), e.command, e.args, e.data, e.header) if type(e) is R else e for e in evs]
    for size in (1 << 20, 1024):
        fast = events(wire, max_item_size=size)
        assert seen(fast) == seen(split_events(wire, 1, max_item_size=size))
        assert all(type(a) is bytes for e in fast if type(e) is R for a in (e.command, *e.args))


# -- values and max_item_size ------------------------------------------------------------------
def test_item_size_limit_is_memcacheds():
    # 1 MB items: a 1-byte key fits 1048516 bytes of value, 4 fewer with non-zero flags
    assert item_fits(1, 0, 1048516, 1 << 20) and not item_fits(1, 0, 1048517, 1 << 20)
    assert item_fits(1, 1, 1048512, 1 << 20) and not item_fits(1, 1, 1048513, 1 << 20)
    assert item_fits(2, 0, 1048515, 1 << 20) and not item_fits(2, 0, 1048516, 1 << 20)
    assert item_size(1, 0, 3) == 63          # what me reports as size= for k / "100"


def test_too_large_value_is_swallowed_then_reported():
    wire = b"set k 0 0 2000\r\n" + b"x" * 2000 + b"\r\nget k\r\n"
    expected = [R(b"set", (b"k", b"0", b"0", b"2000"), None), R(b"get", (b"k",))]
    assert events(wire, max_item_size=1024) == expected
    for cut in (0, 10, 16, 17, 500, 2017, 2018, len(wire) - 1):
        assert split_events(wire, cut, max_item_size=1024) == expected
    # the swallowed block is not checked for its \r\n
    assert events(b"set k 0 0 2000\r\n" + b"x" * 2002 + b"get k\r\n", 1024) == expected


def test_ms_too_large_uses_decoded_key_and_flags():
    # 1048515 bytes fit with the 2-byte decoded key of "azE=", not with F1
    ok = b"ms azE= 1048515 b\r\n" + b"v" * 1048515 + b"\r\n"
    assert events(ok)[0].data == b"v" * 1048515
    big = b"ms azE= 1048515 b F1\r\n" + b"v" * 1048515 + b"\r\nmn\r\n"
    assert events(big) == [R(b"ms", (b"azE=", b"1048515", b"b", b"F1"), None), R(b"mn", ())]


def test_max_item_size_can_change_between_reads():
    r = MemcacheReader(1024)
    r.feed(b"set k 0 0 1500\r\n")
    assert r.next_event() == R(b"set", (b"k", b"0", b"0", b"1500"), None)
    r.feed(b"y" * 1502)
    assert r.next_event() is NEED_DATA
    r.max_item_size = 1 << 20
    r.feed(b"set k 0 0 1500\r\n" + b"y" * 1500 + b"\r\n")
    assert r.next_event().data == b"y" * 1500


def test_large_value_kept_once():
    value = bytes(range(256)) * 4000
    r = MemcacheReader()
    r.feed(b"set big 0 0 %d\r\n" % len(value))
    assert r.next_event() is NEED_DATA
    for i in range(0, len(value), 65536):
        r.feed(value[i:i + 65536])
        assert r.next_event() is NEED_DATA
    r.feed(b"\r\n")
    assert r.next_event().data == value
    assert r.buffered() == 0


# -- long lines ----------------------------------------------------------------------------------
def test_long_line_without_newline_closes():
    r = MemcacheReader()
    r.feed(b"x" * 2048)
    assert r.next_event() is NEED_DATA            # 2048 bytes are still fine
    r.feed(b"x")
    assert r.next_event() == E(b"", True)


def test_long_line_arriving_whole_is_parsed():
    wire = b"set " + b"k" * 3000 + b" 0 0 1\r\nx\r\nversion\r\n"
    assert events(wire) == [E(b"CLIENT_ERROR bad command line format"), R(b"x", ()), R(b"version", ())]


def test_line_longer_than_memcacheds_read_buffer_closes():
    assert events(b"set " + b"k" * 16370 + b" 0 0 1\r\n")[0] == E(b"CLIENT_ERROR bad command line format")
    assert events(b"set " + b"k" * 16390 + b" 0 0 1\r\n") == [E(b"", True)]


@pytest.mark.parametrize("prefix, closes", [
    (b"get ", False), (b"gets ", False), (b" " * 100 + b"get ", False),
    (b" " * 101 + b"get ", True), (b"gat 0 ", True), (b"GET ", True), (b"getx ", True),
])
def test_only_get_and_gets_lines_may_be_long(prefix, closes):
    r = MemcacheReader()
    r.feed(prefix + b"k " * 2000)
    ev = r.next_event()
    if closes:
        assert ev == E(b"", True)
        return
    assert ev is NEED_DATA
    r.feed(b"\r\n")
    ev = r.next_event()
    assert ev.args[-1] == b"k" and len(ev.args) == 2000 + (1 if prefix.startswith(b"gat") else 0)


# -- numbers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("tok, value", [
    (b"0", 0), (b"4294967295", 4294967295), (b"4294967296", 0), (b"18446744073709551615", 4294967295),
    (b"18446744073709551616", None), (b"-1", None), (b"-0", 0), (b"+5", 5), (b"01", 1), (b"\t7", 7),
    (b"7\tjunk", 7), (b"0x", None), (b"", None), (b"x", None), (b" ", None),
])
def test_safe_strtoul(tok, value):
    assert safe_strtoul(tok) == value


@pytest.mark.parametrize("tok, value", [
    (b"0", 0), (b"2147483647", 2147483647), (b"2147483648", -2147483648), (b"-2147483649", 2147483647),
    (b"4294967297", 1), (b"-1", -1), (b"+3", 3), (b"9223372036854775807", -1),
    (b"9223372036854775808", None), (b"-9223372036854775808", 0), (b"1e3", None),
])
def test_safe_strtol(tok, value):
    assert safe_strtol(tok) == value


@pytest.mark.parametrize("tok, value", [
    (b"18446744073709551615", 18446744073709551615), (b"18446744073709551616", None),
    (b"-1", None), (b"-0", 0), (b"-18446744073709551615", 1), (b"-9223372036854775808", None),
    (b"+5", 5), (b"5x", None), (b"184467440737095516150", None),
])
def test_safe_strtoull(tok, value):
    assert safe_strtoull(tok) == value


# -- base64 keys ---------------------------------------------------------------------------------
@pytest.mark.parametrize("src, decoded", [
    (b"azE=", b"k1"), (b"YWJjZA==", b"abcd"), (b"AAAA", b"\0\0\0"), (b"ab=d", b"i\xb0"),
    (b"azE", None), (b"azE==", None), (b"a", None), (b"YWJjZA", None), (b"YWJjZA=", None),
    (b"a*cd", None), (b"____", None), (b"a-_d", None), (b"====", None), (b"", None),
    (b"a*zE=", b"k1"),          # bytes outside the alphabet are skipped
])
def test_b64decode_like_memcached(src, decoded):
    assert b64decode(src) == decoded


def test_b64encode_round_trip():
    for raw in (b"\0", b"k1", bytes(range(256))):
        assert b64decode(b64encode(raw)) == raw


# -- meta flags ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tokens, error", [
    ([b"v", b"v"], b"CLIENT_ERROR duplicate flag"),
    ([b"\xff"], b"CLIENT_ERROR duplicate flag"),
    ([b"x"], b"CLIENT_ERROR invalid flag"),
    ([b"V"], b"CLIENT_ERROR invalid flag"),
    ([b"T"], b"CLIENT_ERROR bad token in command line format"),
    ([b"Tx", b"Dx"], b"CLIENT_ERROR invalid numeric delta value"),
    ([b"Jx"], b"CLIENT_ERROR invalid numeric initial value"),
    ([b"D-1"], b"CLIENT_ERROR invalid numeric delta value"),
    ([b"F-1"], b"CLIENT_ERROR bad command line format"),
    ([b"Tx", b"F-1"], b"CLIENT_ERROR bad token in command line format"),
    ([b"M"], b"CLIENT_ERROR incorrect length for M token"),
    ([b"Tx", b"T1"], b"CLIENT_ERROR duplicate flag"),
    ([b"v", b"f", b"t", b"s", b"c", b"k", b"h", b"l", b"O1", b"q", b"u", b"N5", b"R5", b"T5"], None),
])
def test_meta_flag_errors(tokens, error):
    assert parse_meta_flags(b"k", tokens).error == error


def test_meta_flag_values():
    of = parse_meta_flags(b"azE=", [b"b", b"N30", b"T-1", b"R5", b"F4294967296", b"C12", b"MD",
                                    b"J7", b"D9", b"I", b"q", b"v", b"E77"])
    assert of.error is None
    assert (of.key, of.key_binary, of.vivify, of.autoviv_exptime) == (b"k1", True, True, 30)
    assert (of.new_ttl, of.exptime, of.recache_time, of.client_flags) == (True, -1, 5, 0)
    assert (of.has_cas, of.req_cas, of.mode, of.initial, of.delta) == (True, 12, ord("D"), 7, 9)
    assert of.set_stale and of.no_reply and of.value and (of.has_new_cas, of.new_cas) == (True, 77)


def test_x_flag_only_for_md():
    assert parse_meta_flags(b"k", [b"x"], b"md").remove_value
    assert parse_meta_flags(b"k", [b"x"], b"mg").error == b"CLIENT_ERROR invalid flag"
