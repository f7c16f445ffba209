"""memcached commands (cachesrv/commands/memcache.py) on an in-memory server with a fake clock.

The reply literals are what Debian's memcached 1.6.18 answered to the same bytes on a fresh
server (CAS uniques included: both hand out 1, 2, 3... from the same operations);
tests/interop/test_diff_memcache.py keeps comparing the two live. The cross-protocol tests run
RESP commands through dispatch (``call``) against the same keyspace.
"""

from __future__ import annotations

import pytest

from cachesrv.commands.memcache import McSession, run_batch, slab_class, SLAB_SIZES
from protocols.memcache import MemcacheReader


class Conn:
    """One memcached connection on the test server: ``conn(wire)`` is everything memcached
    would send back for that read (run through the same batch loop as the network side)."""

    def __init__(self, server, fd: int = 9) -> None:
        self.server = server
        self.session = McSession(server, "127.0.0.1:50001", "127.0.0.1:11211", fd)
        server.mc.conns[fd] = self.session
        self.reader = MemcacheReader(server.cfg["memcache-max-item-size"])

    def __call__(self, wire: bytes | str) -> bytes:
        if isinstance(wire, str):
            wire = wire.encode()
        self.reader.feed(wire)
        out = bytearray()
        self.session.mark = 0
        while run_batch(self.session, self.reader, out, 1 << 30):
            pass
        self.session.end_batch()
        return bytes(out)


@pytest.fixture
def mc(server):
    return Conn(server)


@pytest.fixture
def db(server):
    return server.ks.dbs[0]


class FakeList:
    """A non-string value, as the list type will store one."""
    type_name = "list"
    encoding = "quicklist"

    def copy(self):
        return FakeList()


def stats(mc) -> dict[str, str]:
    out = mc(b"stats\r\n").decode()
    return dict(line.split(" ", 2)[1:] for line in out.split("\r\n") if line.startswith("STAT "))


# -- storage and retrieval -----------------------------------------------------------------------
def test_set_get_gets(mc):
    assert mc("set a 0 0 1\r\nx\r\nget a\r\ngets a\r\n") == \
        b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nVALUE a 0 1 1\r\nx\r\nEND\r\n"


def test_multi_get_skips_misses(mc):
    mc("set a 1 0 1\r\nx\r\nset c 3 0 2\r\nzz\r\n")
    assert mc("get a b c a\r\n") == \
        b"VALUE a 1 1\r\nx\r\nVALUE c 3 2\r\nzz\r\nVALUE a 1 1\r\nx\r\nEND\r\n"
    assert mc("get " + "a " * 30 + "\r\n") == b"VALUE a 1 1\r\nx\r\n" * 30 + b"END\r\n"


def test_unknown_and_empty_commands(mc):
    assert mc("\r\n\n \r\nfoo\r\nGET k\r\nget\r\nget \r\nmz\r\nmgx k\r\n") == b"ERROR\r\n" * 9


@pytest.mark.parametrize("wire, reply", [
    ("set k 0 0 3\r\nabcde\r\nget k\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"),
    ("set k 0 0 3 noreply\r\nabcde\r\nget k\r\n", b"ERROR\r\nEND\r\n"),
    ("set k 0 0 -1\r\nget k\r\n", b"CLIENT_ERROR bad command line format\r\nEND\r\n"),
    ("set k 0 0 x noreply\r\nget k\r\n", b"END\r\n"),
    ("set k 0 0\r\nget k\r\n", b"ERROR\r\nEND\r\n"),
    ("set k 0 0 1 noreply extra\r\nx\r\n", b"ERROR\r\nERROR\r\n"),
    ("set k 4294967296 0 1\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"),
    ("set k 18446744073709551615 0 1\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 4294967295 1\r\nx\r\nEND\r\n"),
    ("set k -1 0 1\r\nx\r\nget k\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\n"),
    ("set k 0 2147483648 1\r\nx\r\nget k\r\n", b"STORED\r\nEND\r\n"),
    ("set k 0 -2147483649 1\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"),
    ("set k +5 +0 +1\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 5 1\r\nx\r\nEND\r\n"),
    ("set k 0 0 4294967297\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"),
    ("set k\t1 0 0 1\r\nx\r\nget k\t1\r\n", b"STORED\r\nVALUE k\t1 0 1\r\nx\r\nEND\r\n"),
    ("set  k  0  0  1 \r\nx\r\nget   k  \r\n", b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"),
    ("set k 0 0 1\r\nx\nget k\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
])
def test_storage_line_errors(mc, wire, reply):
    assert mc(wire) == reply


def test_noreply_hides_every_storage_answer(mc):
    assert mc("set k 0 0 1\r\nx\r\nadd k 0 0 1 noreply\r\nx\r\nreplace z 0 0 1 noreply\r\nx\r\n"
              "cas k 0 0 1 1 noreply\r\nx\r\ncas z 0 0 1 1 noreply\r\nx\r\nget k\r\n") == \
        b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"


def test_add_replace_append_prepend(mc):
    assert mc("add k 7 0 1\r\nx\r\nadd k 0 0 1\r\ny\r\nreplace k 7 0 1\r\nw\r\nreplace z 0 0 1\r\nx\r\n") == \
        b"STORED\r\nNOT_STORED\r\nSTORED\r\nNOT_STORED\r\n"
    # append/prepend keep the old flags and TTL, whatever the command line says
    assert mc("set k 7 50 1\r\nx\r\nappend k 9 0 2\r\nyz\r\nprepend k 1 0 1\r\nw\r\nmg k v f t\r\n"
              "append z 0 0 1\r\nx\r\nprepend z 0 0 1\r\nx\r\n") == \
        b"STORED\r\nSTORED\r\nSTORED\r\nVA 4 f7 t50\r\nwxyz\r\nNOT_STORED\r\nNOT_STORED\r\n"


def test_cas(mc):
    assert mc("set k 0 0 1\r\nx\r\ngets k\r\n") == b"STORED\r\nVALUE k 0 1 1\r\nx\r\nEND\r\n"
    assert mc("cas k 0 0 1 999\r\ny\r\ncas z 0 0 1 1\r\ny\r\ncas k 0 0 1\r\ny\r\ncas k 0 0 1 x\r\ny\r\n"
              "cas k 0 0 1 -1\r\ny\r\ncas k 0 0 1 0\r\ny\r\n") == \
        (b"EXISTS\r\nNOT_FOUND\r\nERROR\r\nERROR\r\nCLIENT_ERROR bad command line format\r\nERROR\r\n"
         b"CLIENT_ERROR bad command line format\r\nERROR\r\nEXISTS\r\n")
    assert mc("cas k 5 0 1 1\r\ny\r\ngets k\r\ncas k 0 0 1 1\r\nz\r\n") == \
        b"STORED\r\nVALUE k 5 1 2\r\ny\r\nEND\r\nEXISTS\r\n"


def test_every_write_changes_the_cas_unique(mc, call):
    mc("set k 0 0 1\r\nx\r\n")
    assert mc("gets k\r\n") == b"VALUE k 0 1 1\r\nx\r\nEND\r\n"
    assert mc("touch k 100\r\ngets k\r\n") == b"TOUCHED\r\nVALUE k 0 1 1\r\nx\r\nEND\r\n"   # not a write
    call("APPEND", "k", "y")
    assert mc("gets k\r\ngets k\r\n") == b"VALUE k 0 2 2\r\nxy\r\nEND\r\n" * 2
    call("EXPIRE", "k", "500")
    assert mc("gets k\r\n") == b"VALUE k 0 2 3\r\nxy\r\nEND\r\n"
    assert mc("cas k 0 0 1 2\r\nz\r\ncas k 0 0 1 3\r\nz\r\n") == b"EXISTS\r\nSTORED\r\n"


def test_too_large_values(server, mc):
    server.cfg.config_set([(b"memcache-max-item-size", b"2048")])
    mc.reader.max_item_size = 2048
    # 59 bytes of item overhead, the key and 4 bytes of non-zero flags count
    assert mc(b"set k 0 0 1988\r\n" + b"v" * 1988 + b"\r\nset k 1 0 1985\r\n" + b"v" * 1985 + b"\r\n") == \
        b"STORED\r\nSERVER_ERROR object too large for cache\r\n"
    # a too large set also drops the old value; add, append... leave it
    assert mc(b"set k 0 0 1\r\nx\r\nadd k 0 0 3000\r\n" + b"v" * 3002 + b"get k\r\n") == \
        b"STORED\r\nSERVER_ERROR object too large for cache\r\nVALUE k 0 1\r\nx\r\nEND\r\n"
    assert mc(b"set k 0 0 3000 noreply\r\n" + b"v" * 3002 + b"get k\r\n") == b"END\r\n"
    assert mc(b"set k 0 0 1\r\nx\r\nms k 3000 MA\r\n" + b"v" * 3002 + b"get k\r\n") == \
        b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n"
    assert mc(b"set k 0 0 1\r\nx\r\nms k 3000 Zq\r\n" + b"v" * 3002 + b"get k\r\n") == \
        b"STORED\r\nCLIENT_ERROR invalid flag\r\nVALUE k 0 1\r\nx\r\nEND\r\n"
    assert stats(mc)["store_too_large"] == "4"


def test_key_length(mc):
    long_key = "a" * 251
    assert mc("get " + "a" * 250 + "\r\n") == b"END\r\n"
    assert mc("get " + long_key + "\r\n") == b"CLIENT_ERROR bad command line format\r\n"
    assert mc("set " + long_key + " 0 0 1\r\nx\r\n") == b"CLIENT_ERROR bad command line format\r\nERROR\r\n"
    assert mc("touch " + long_key + " 1\r\ndelete " + long_key + "\r\nincr " + long_key + " 1\r\n") == \
        b"CLIENT_ERROR bad command line format\r\n" * 3
    assert mc("mg " + long_key + " v\r\nmd " + long_key + "\r\nma " + long_key + "\r\nme " + long_key + "\r\n") == \
        b"CLIENT_ERROR bad command line format\r\n" * 4


def test_long_key_in_get_drops_the_unsent_replies(mc):
    # memcached culls the responses of the current window (here STORED, and get's own output)
    assert mc("set k 0 0 1\r\nx\r\nget a " + "a" * 251 + " k\r\n") == b"CLIENT_ERROR bad command line format\r\n"
    # ... but not those already written out: mn and a get write everything
    assert mc("set k 0 0 1\r\nx\r\nmn\r\nset k 0 0 1\r\nx\r\nget " + "a" * 300 + "\r\n") == \
        b"STORED\r\nMN\r\nCLIENT_ERROR bad command line format\r\n"
    # ... nor those before a yield every 20 requests of a read
    assert mc("version\r\n" * 21 + "set a 0 0 1\r\nx\r\nget " + "q" * 251 + "\r\n") == \
        b"VERSION 1.6.18\r\n" * 21 + b"CLIENT_ERROR bad command line format\r\n"


# -- incr / decr ---------------------------------------------------------------------------------
def test_incr_decr(mc):
    assert mc("set k 0 0 2\r\n99\r\nincr k 1\r\nget k\r\nincr k 18446744073709551615\r\ngets k\r\n") == \
        b"STORED\r\n100\r\nVALUE k 0 3\r\n100\r\nEND\r\n99\r\nVALUE k 0 3 3\r\n99 \r\nEND\r\n"
    assert mc("set k 5 0 20\r\n18446744073709551615\r\nincr k 2\r\nget k\r\ndecr k 100\r\nget k\r\n") == \
        (b"STORED\r\n1\r\nVALUE k 5 20\r\n1                   \r\nEND\r\n0\r\n"
         b"VALUE k 5 20\r\n0                   \r\nEND\r\n")


@pytest.mark.parametrize("value, reply", [
    ("-1", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ("-0", b"1\r\n"), ("-18446744073709551615", b"2\r\n"), (" 5", b"6\r\n"), ("5 a", b"6\r\n"),
    ("184467440737095516150", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ("abc", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ("", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ("7\x00x", b"8\r\n"),
])
def test_incr_reads_values_like_strtoull(mc, value, reply):
    mc(b"set k 0 0 %d\r\n%s\r\n" % (len(value), value.encode()))
    assert mc("incr k 1\r\n") == reply


def test_incr_arguments(mc):
    assert mc("incr k 1\r\ndecr k 1\r\nincr k x\r\nincr k -1\r\nincr k 1 noreply\r\nincr k\r\n"
              "incr k 1 2 3\r\nincr k 1 foo\r\n") == \
        (b"NOT_FOUND\r\nNOT_FOUND\r\nCLIENT_ERROR invalid numeric delta argument\r\n"
         b"CLIENT_ERROR invalid numeric delta argument\r\nERROR\r\nERROR\r\nNOT_FOUND\r\n")
    assert mc("set k 0 0 1\r\n1\r\nincr k 1 noreply\r\nincr k x noreply\r\nget k\r\n"
              "incr k 18446744073709551616\r\nincr k +5\r\nincr k 5x\r\n") == \
        (b"STORED\r\nVALUE k 0 1\r\n2\r\nEND\r\nCLIENT_ERROR invalid numeric delta argument\r\n7\r\n"
         b"CLIENT_ERROR invalid numeric delta argument\r\n")


def test_decr_in_place_unless_an_mg_reply_holds_the_item(mc):
    # a pending mg response references the item: memcached writes a new, unpadded one
    assert mc("set k 0 0 3\r\n100\r\n") == b"STORED\r\n"
    assert mc("mg k v\r\ndecr k 1\r\nmg k v\r\n") == b"VA 3\r\n100\r\n99\r\nVA 2\r\n99\r\n"
    mc("set k 0 0 3\r\n100\r\n")
    assert mc("get k\r\ndecr k 1\r\nget k\r\n") == \
        b"VALUE k 0 3\r\n100\r\nEND\r\n99\r\nVALUE k 0 3\r\n99 \r\nEND\r\n"


# -- delete / touch / gat ------------------------------------------------------------------------
def test_delete_forms(mc):
    assert mc("set k 0 0 1\r\n1\r\ndelete k 0\r\ndelete k 1\r\ndelete k noreply\r\ndelete k 0 noreply\r\n"
              "delete k 1 noreply\r\ndelete k x y z\r\ndelete\r\ndelete k\r\n") == \
        (b"STORED\r\nDELETED\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
         b"ERROR\r\nERROR\r\nNOT_FOUND\r\n")
    assert mc("set k 0 0 1\r\n1\r\ndelete k noreply 0\r\nget k\r\n") == \
        (b"STORED\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
         b"VALUE k 0 1\r\n1\r\nEND\r\n")


def test_touch_gat(mc, clock, call):
    assert mc("set k 0 0 1\r\n1\r\ntouch k 10\r\ntouch x 10\r\ntouch k x\r\ntouch k\r\ntouch k 10 noreply\r\n") == \
        b"STORED\r\nTOUCHED\r\nNOT_FOUND\r\nCLIENT_ERROR invalid exptime argument\r\nERROR\r\n"
    assert call("TTL", "k") == 10
    assert mc("gat 100 k x\r\n") == b"VALUE k 0 1\r\n1\r\nEND\r\n"
    assert call("TTL", "k") == 100
    assert mc("gats 0 k x\r\ngat x k\r\ngat\r\ngat 10\r\nmg k t\r\n") == \
        b"VALUE k 0 1 1\r\n1\r\nEND\r\nCLIENT_ERROR invalid exptime argument\r\nERROR\r\nEND\r\nHD t-1\r\n"
    assert call("TTL", "k") == -1
    assert mc("touch k -1\r\nget k\r\n") == b"TOUCHED\r\nEND\r\n"


# -- expiry --------------------------------------------------------------------------------------
def test_relative_absolute_and_negative_exptime(mc, clock, call):
    now_s = clock.now_ms() // 1000
    assert mc(f"set r 0 100 1\r\nx\r\nset a 0 {now_s + 50} 1\r\nx\r\nset p 0 {now_s - 5} 1\r\nx\r\n"
              "set n 0 -1 1\r\nx\r\nset d 0 2592000 1\r\nx\r\nset o 0 2592001 1\r\nx\r\n") == b"STORED\r\n" * 6
    assert call("TTL", "r") == 100 and call("TTL", "a") == 50 and call("TTL", "d") == 2592000
    assert mc("get p n o\r\n") == b"END\r\n"
    assert mc("mg r t\r\nmg a t\r\n") == b"HD t100\r\nHD t50\r\n"
    clock.advance(50_500)
    assert mc("mg r t\r\nget a\r\n") == b"HD t50\r\nEND\r\n"
    assert stats(mc)["get_expired"] == "4"


def test_set_over_an_expired_item_counts_get_expired(mc, clock):
    # memcached's store looks the key up first (do_item_get): an item found expired counts
    assert mc("set k 0 10 1\r\nx\r\nset live 0 0 1\r\nx\r\n") == b"STORED\r\n" * 2
    clock.advance(11_000)
    assert mc("set k 0 0 1\r\ny\r\nset live 0 0 1\r\ny\r\nset new 0 0 1\r\ny\r\n") == b"STORED\r\n" * 3
    assert stats(mc)["get_expired"] == "1"
    assert mc("get k\r\n") == b"VALUE k 0 1\r\ny\r\nEND\r\n"


def test_ttl_is_shared_with_resp(mc, call, clock):
    call("SET", "k", "v", "EX", "40")
    assert mc("mg k t v\r\n") == b"VA 1 t40\r\nv\r\n"
    mc("touch k 0\r\n")
    assert call("TTL", "k") == -1
    mc("gat 7 k\r\n")
    assert call("PTTL", "k") == 7000


# -- flush_all -----------------------------------------------------------------------------------
def test_flush_all_forms(mc):
    assert mc("flush_all noreply\r\nflush_all x\r\nflush_all 0\r\nflush_all -1\r\nflush_all 0 noreply\r\n"
              "flush_all 0 0\r\nflush_all 1 2 3\r\nflush_all noreply x\r\n") == \
        (b"CLIENT_ERROR invalid exptime argument\r\nOK\r\nOK\r\nOK\r\nERROR\r\n"
         b"CLIENT_ERROR invalid exptime argument\r\n")


def test_flush_all_removes_only_memcached_items(mc, call, db):
    mc("set a 0 0 1\r\nx\r\n")
    call("SET", "b", "y")
    db.set(b"l", FakeList())
    assert mc("flush_all\r\nget a b\r\nget a\r\n") == b"OK\r\nEND\r\nEND\r\n"
    assert call("EXISTS", "a", "b", "l") == 1
    s = stats(mc)
    assert (s["get_flushed"], s["get_misses"], s["cmd_flush"]) == ("2", "3", "1")


def test_delayed_flush_all(server, mc, clock, call):
    mc("set a 0 0 1\r\nx\r\n")
    assert mc("flush_all 10\r\nget a\r\n") == b"OK\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    clock.advance(5000)
    mc("set b 0 0 1\r\ny\r\n")                      # stored before the time: flushed too
    clock.advance(4100)                             # memcached's oldest_live is a second early
    assert mc("get a b\r\n") == b"END\r\n"
    assert call("EXISTS", "a", "b") == 0
    assert mc("set c 0 0 1\r\nz\r\nget c\r\n") == b"STORED\r\nVALUE c 0 1\r\nz\r\nEND\r\n"


def test_immediate_flush_cancels_a_delayed_one(mc, clock):
    mc("flush_all 100\r\nflush_all\r\nset a 0 0 1\r\nx\r\n")
    clock.advance(200_000)
    assert mc("get a\r\n") == b"VALUE a 0 1\r\nx\r\nEND\r\n"


# -- meta commands -------------------------------------------------------------------------------
def test_mg_flags_and_misses(mc):
    assert mc("mg k v\r\nmg k\r\nmg k q\r\nmg k k O123 q\r\nmg k k O123\r\nmn\r\n") == \
        b"EN\r\nEN\r\nEN kk O123\r\nMN\r\n"
    assert mc("ms k 3 T0 F5\r\nabc\r\nmg k v f t s c k h l O99\r\nmg k v f t s c k h l\r\n") == \
        b"HD\r\nVA 3 f5 t-1 s3 c1 kk h0 l0 O99\r\nabc\r\nVA 3 f5 t-1 s3 c1 kk h1 l0\r\nabc\r\n"
    # q hides a miss only (1.6.18 still answers HD on a hit)
    assert mc("mg k q\r\nmg k v q\r\n") == b"HD\r\nVA 3\r\nabc\r\n"


@pytest.mark.parametrize("wire, reply", [
    ("mg k vv\r\n", b"EN\r\n"),
    ("mg k v v\r\n", b"CLIENT_ERROR duplicate flag\r\n"),
    ("mg k x\r\n", b"CLIENT_ERROR invalid flag\r\n"),
    (b"mg k \xff\r\n", b"CLIENT_ERROR duplicate flag\r\n"),
    ("mg\r\nms\r\nmd\r\nma\r\n", b"ERROR\r\n" * 4),
    ("ms k\r\nme\r\n", b"CLIENT_ERROR bad command line format\r\n" * 2),
    ("mn x y z\r\n", b"MN\r\n"),
    ("mg k " + " ".join(str(i) for i in range(1, 18)) + "\r\n", b"CLIENT_ERROR invalid flag\r\n"),
    ("mg k " + " ".join(str(i) for i in range(1, 19)) + "\r\n", b"CLIENT_ERROR options flags are too long\r\n"),
    ("md k " + " ".join(str(i) for i in range(1, 19)) + "\r\n", b"CLIENT_ERROR options flags too long\r\n"),
    ("mg miss v O" + "o" * 32 + "\r\n", b"CLIENT_ERROR opaque token too long\r\n"),
    ("mg k Tx\r\nmg k N\r\nmg k R\r\n", b"CLIENT_ERROR bad token in command line format\r\n" * 3),
    ("md k Tx\r\nma k Dx\r\nma k v Mx\r\n",
     b"CLIENT_ERROR invalid or duplicate flag\r\n" * 2 + b"CLIENT_ERROR invalid mode for ma M token\r\n"),
])
def test_meta_errors(mc, wire, reply):
    assert mc(wire) == reply


def test_ms_modes_and_cas(mc):
    assert mc("ms k 1 MA\r\nx\r\nms k 1 MP\r\nx\r\nms k 1 MR\r\nx\r\nms k 1 ME\r\nx\r\nms k 1 ME\r\nx\r\n"
              "ms k 2 MA F9 T30\r\nyy\r\nmg k v f t\r\n") == \
        b"NS\r\nNS\r\nNS\r\nHD\r\nNS\r\nHD\r\nVA 3 f0 t-1\r\nxyy\r\n"
    mc("flush_all\r\n")
    assert mc("ms k 1 c\r\nx\r\nms k 1 C9999 c\r\nx\r\nms z 1 C1 c\r\nx\r\nms z 1 C1 ME c\r\nx\r\n"
              "ms k 1 MA C1 c\r\ny\r\nmg k c v\r\n") == \
        b"HD c4\r\nEX c0\r\nNF c0\r\nHD c5\r\nEX c0\r\nVA 1 c4\r\nx\r\n"
    assert mc("ms k 2 q\r\nhi\r\nms k 2 ME q\r\nhi\r\nms x9 2 MR q\r\nhi\r\nmn\r\n") == b"NS\r\nNS\r\nMN\r\n"


def test_base64_keys(mc):
    assert mc("ms azE= 3 T100 c k O1 b\r\nabc\r\nmg azE= b k v\r\nget k1\r\n") == \
        b"HD c1 kazE= b O1\r\nVA 3 kazE= b\r\nabc\r\nVALUE k1 0 3\r\nabc\r\nEND\r\n"
    # the item remembers whether it was stored with a binary key
    assert mc("ms k2 1\r\nx\r\nmg azI= b k v\r\nme azI= b\r\n").startswith(b"HD\r\nVA 1 kk2\r\nx\r\nME k2 ")
    assert mc("mg azE b v\r\nmg a*cd b v\r\nms k 3 b\r\nabc\r\n") == \
        b"CLIENT_ERROR error decoding key\r\n" * 3


def test_md(mc):
    assert mc("ms k 2\r\nhi\r\nmd k q\r\nmd k q\r\nmd k\r\nmn\r\n") == b"HD\r\nNF\r\nNF\r\nMN\r\n"
    assert mc("ms k 2\r\nhi\r\nmd k C1\r\nmd k C0\r\nmd k k O5\r\n") == b"HD\r\nEX\r\nEX\r\nHD kk O5\r\n"


def test_stale_while_revalidate(mc):
    assert mc("ms k 2 T100\r\nhi\r\nmd k I T30\r\nmg k v t c\r\nmg k v t c\r\nms k 2 C1\r\nho\r\n"
              "mg k v c\r\n") == \
        b"HD\r\nHD\r\nVA 2 t30 c2 X W\r\nhi\r\nVA 2 t30 c2 Z X\r\nhi\r\nEX\r\nVA 2 c2 Z X\r\nhi\r\n"
    # an older CAS with I stores the value but keeps it stale
    assert mc("ms k 2 I C1\r\nho\r\nmg k v\r\nms k 2 C3\r\nok\r\nmg k v\r\n") == \
        b"HD\r\nVA 2 Z X\r\nho\r\nHD\r\nVA 2\r\nok\r\n"


def test_vivify_and_recache(mc):
    assert mc("mg k N30 v c t\r\nmg k N30 v c t\r\nms k 2\r\nhi\r\nmg k v c t\r\n") == \
        b"VA 0 c1 t30 W\r\n\r\nVA 0 c1 t30 Z\r\n\r\nHD\r\nVA 2 c2 t-1\r\nhi\r\n"
    assert mc("ms r 2 T100\r\nhi\r\nmg r R30 t\r\nmg r R200 t\r\nmg r R200 t\r\nmg r T30 t\r\nmg r t\r\n") == \
        b"HD\r\nHD t100\r\nHD t100 W\r\nHD t100 Z\r\nHD t30 Z\r\nHD t30 Z\r\n"


def test_ma(mc):
    assert mc("ma k\r\nma k N0\r\nma k N0 v\r\nma k v D10\r\nma k v MD D3\r\nma k v MD D100\r\n"
              "ma k v M- \r\nma k v M+ J5\r\nma k v MI\r\n") == \
        b"NF\r\nHD\r\nVA 1\r\n1\r\nVA 2\r\n11\r\nVA 1\r\n8\r\nVA 1\r\n0\r\nVA 1\r\n0\r\nVA 1\r\n1\r\nVA 1\r\n2\r\n"
    mc("flush_all\r\n")
    assert mc("ma k N0 J18446744073709551615 v\r\nma k v\r\nma k v c t k O1\r\nma k q\r\nma x q\r\n"
              "ma x q N0\r\nmn\r\n") == \
        b"VA 20\r\n18446744073709551615\r\nVA 1\r\n0\r\nVA 1 c12 t-1 kk O1\r\n1\r\nNF\r\nHD\r\nMN\r\n"
    assert mc("ma k C1\r\nms s 3\r\nabc\r\nma s\r\n") == \
        b"EX\r\nHD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"


def test_ma_ttl_lands_on_the_copy_when_not_in_place(mc, call):
    assert mc("ms k 3 T100\r\n100\r\nma k v T0 t\r\nmg k t\r\nma k T50 t v\r\nma k t\r\n") == \
        b"HD\r\nVA 3 t-1\r\n101\r\nHD t-1\r\nVA 3 t50\r\n102\r\nHD t-1\r\n"
    assert call("TTL", "k") == -1


def test_me(mc, clock):
    assert mc("ms k 3 T100\r\n100\r\nme k\r\nme k b\r\nme nokey\r\nme k x y\r\n") == \
        (b"HD\r\nME k exp=-100 la=0 cas=1 fetch=no cls=1 size=63\r\nCLIENT_ERROR bad command line format\r\n"
         b"EN\r\nME k exp=-100 la=0 cas=1 fetch=no cls=1 size=63\r\n")
    mc("get k\r\n")
    clock.advance(3000)
    assert mc("me k\r\n") == b"ME k exp=-97 la=3 cas=1 fetch=yes cls=1 size=63\r\n"


def test_later_meta_flags(mc):
    # E sets the CAS a write gives (memcached 1.6.20+), s returns the stored size, N vivifies an
    # append on a miss, md x empties an item but keeps it.
    assert mc("ms k 2 E500 c\r\nhi\r\nmg k c\r\nms k 2 MA s c\r\nyo\r\n") == b"HD c500\r\nHD c500\r\nHD s4 c1\r\n"
    assert mc("ms n 2 MA N30\r\nhi\r\nmg n v t\r\n") == b"HD\r\nVA 2 t30\r\nhi\r\n"
    assert mc("ms f 2 F7 T40\r\nhi\r\nmd f x\r\nmg f v f t\r\n") == b"HD\r\nHD\r\nVA 0 f0 t40\r\n\r\n"
    assert mc("ma c N0 J5 E9000 c v\r\n") == b"VA 1 c9000\r\n5\r\n"


# -- misc commands -------------------------------------------------------------------------------
def test_version_verbosity_quit(mc, server):
    assert mc("verbosity 1\r\nverbosity\r\nverbosity x\r\nverbosity 1 noreply\r\nverbosity 1 2\r\n"
              "verbosity 1 2 3\r\nversion\r\nversion x\r\n") == \
        (b"OK\r\nERROR\r\nCLIENT_ERROR bad command line format\r\nOK\r\nERROR\r\nVERSION 1.6.18\r\n"
         b"VERSION 1.6.18\r\n")
    assert mc("quit\r\nversion\r\n") == b""
    assert mc.session.close


def test_cache_memlimit_sets_maxmemory(mc, server):
    assert mc("cache_memlimit 100\r\ncache_memlimit 1\r\ncache_memlimit x\r\ncache_memlimit\r\n"
              "cache_memlimit 100 noreply\r\ncache_memlimit 2000000000\r\n") == \
        (b"OK\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\nERROR\r\nERROR\r\n"
         b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n")
    assert server.cfg["maxmemory"] == 100 * 1024 * 1024
    assert stats(mc)["limit_maxbytes"] == str(100 * 1024 * 1024)


def test_stats_counters(mc):
    mc("stats reset\r\n")
    mc("set k 0 0 1\r\nx\r\nmg k\r\nmg k T5\r\nget k z\r\ngat 5 k z\r\ntouch k 1\r\ntouch z 1\r\n"
       "incr k 1\r\nset n 0 0 1\r\n1\r\nincr n 1\r\ndecr n 1\r\ndecr z 1\r\nincr z 1\r\n"
       "cas n 0 0 1 1\r\ny\r\ncas z 0 0 1 1\r\ny\r\ndelete n\r\ndelete n\r\nme k\r\nmd k C2\r\n")
    s = stats(mc)
    expected = {"cmd_get": "3", "cmd_set": "4", "cmd_touch": "5", "cmd_meta": "1", "get_hits": "2",
                "get_misses": "1", "touch_hits": "3", "touch_misses": "2", "incr_hits": "1",
                "incr_misses": "1", "decr_hits": "1", "decr_misses": "1", "cas_misses": "1",
                "cas_badval": "1", "cas_hits": "0", "delete_hits": "1", "delete_misses": "2",
                "curr_items": "1", "total_items": "2", "bytes": "61", "curr_connections": "1"}
    assert {k: s[k] for k in expected} == expected
    assert s["version"] == "1.6.18" and s["threads"] == "1"
    assert mc("stats reset\r\n") == b"RESET\r\n"
    assert stats(mc)["cmd_get"] == "0"


def test_stats_subcommands(mc):
    mc("set a 0 0 1\r\nx\r\nset b 5 0 300\r\n" + "y" * 300 + "\r\nget a\r\n")
    items = mc("stats items\r\n").decode()
    assert "STAT items:1:number 1\r\n" in items and "STAT items:7:number 1\r\n" in items
    assert "STAT items:7:mem_requested 364\r\n" in items and items.endswith("END\r\n")
    slabs = mc("stats slabs\r\n").decode()
    assert "STAT 1:chunk_size 96\r\n" in slabs and "STAT 7:chunk_size 384\r\n" in slabs
    assert "STAT 1:get_hits 1\r\n" in slabs and "STAT 7:cmd_set 1\r\n" in slabs
    assert "STAT active_slabs 2\r\n" in slabs
    settings = mc("stats settings\r\n").decode()
    assert "STAT item_size_max 1048576\r\n" in settings and "STAT cas_enabled yes\r\n" in settings
    assert mc("stats detail\r\nstats foo\r\nstats sizes\r\nstats cachedump 1\r\nstats cachedump 64 1\r\n") == \
        (b"CLIENT_ERROR usage: stats detail on|off|dump\r\nERROR\r\nSTAT sizes_status disabled\r\nEND\r\n"
         b"CLIENT_ERROR bad command line\r\nCLIENT_ERROR Illegal slab id\r\n")
    assert mc("stats sizes_enable\r\nstats sizes\r\nstats sizes_disable\r\n") == \
        b"STAT sizes_status enabled\r\nSTAT 64 1\r\nSTAT 384 1\r\nEND\r\nSTAT sizes_status disabled\r\n"
    assert mc("stats cachedump 1 0\r\n") == b"ITEM a [1 b; 0 s]\r\nEND\r\n"
    conns = mc("stats conns\r\n").decode()
    assert "STAT 9:addr tcp:127.0.0.1:50001\r\n" in conns


def test_slab_classes():
    assert SLAB_SIZES[:8] == [96, 120, 152, 192, 240, 304, 384, 480]
    assert SLAB_SIZES[-1] == 524288 and len(SLAB_SIZES) == 39
    assert slab_class(63) == 1 and slab_class(96) == 1 and slab_class(97) == 2 and slab_class(10**6) == 39


# -- the shared keyspace -------------------------------------------------------------------------
def test_resp_and_memcached_see_the_same_strings(mc, call):
    mc("set k 5 0 3\r\nabc\r\n")
    assert call("GET", "k") == b"abc"
    call("SET", "r", "from resp")
    assert mc("get r\r\n") == b"VALUE r 0 9\r\nfrom resp\r\nEND\r\n"
    # flags stay with the value through in-place changes, not through SET
    call("APPEND", "k", "d")
    call("SETRANGE", "k", "0", "A")
    assert mc("get k\r\n") == b"VALUE k 5 4\r\nAbcd\r\nEND\r\n"
    call("SET", "k", "new")
    assert mc("get k\r\n") == b"VALUE k 0 3\r\nnew\r\nEND\r\n"
    call("SET", "n", "41")
    assert mc("incr n 1\r\n") == b"42\r\n"
    assert call("INCR", "n") == 43
    assert mc("decr n 3\r\n") == b"40\r\n"
    assert call("GET", "n") == b"40"
    mc("set del 0 0 1\r\nx\r\n")
    assert call("DEL", "del") == 1
    assert mc("get del\r\n") == b"END\r\n"


def test_flags_do_not_follow_rename(mc, call):
    mc("set k 9 0 1\r\nx\r\n")
    call("RENAME", "k", "k2")
    assert mc("get k2\r\n") == b"VALUE k2 0 1\r\nx\r\nEND\r\n"


def test_memcached_writes_signal_like_resp(server, mc, db, ctx):
    seen = []
    server.ks.change_hooks.append(lambda d, key, event: seen.append((key, event)))
    db.watched[b"k"] = {ctx}
    mc("set k 0 0 1\r\n1\r\n")
    assert ctx.watch_dirty
    mc("set k 0 10 1\r\n2\r\nappend k 0 0 1\r\n3\r\nincr k 1\r\ntouch k 0\r\ngat 5 k\r\ndelete k\r\n"
       "ms m 1 T5\r\nx\r\nmd m\r\n")
    assert seen == [(b"k", b"set"), (b"k", b"set"), (b"k", b"expire"), (b"k", b"append"),
                    (b"k", b"incrby"), (b"k", b"persist"), (b"k", b"expire"), (b"k", b"del"),
                    (b"m", b"set"), (b"m", b"expire"), (b"m", b"del")]


def test_memcached_reads_count_keyspace_hits(mc, server):
    mc("set k 0 0 1\r\nx\r\n")
    hits, misses = server.ks.hits, server.ks.misses
    mc("get k z\r\nmg k v\r\nmg z v\r\n")
    assert (server.ks.hits - hits, server.ks.misses - misses) == (2, 2)


# -- keys of other types (see the module docstring of cachesrv/commands/memcache.py) -------------
def test_other_types_are_invisible_to_reads(mc, db):
    db.set(b"l", FakeList())
    assert mc("get l\r\ngets l\r\ngat 5 l\r\ntouch l 5\r\nmg l v\r\nmg l N5 v\r\nme l\r\n") == \
        b"END\r\nEND\r\nEND\r\nNOT_FOUND\r\nEN\r\nEN\r\nEN\r\n"
    assert db.ttl_ms(b"l") is None and type(db.get(b"l")) is FakeList


def test_other_types_are_protected_from_conditional_writes(mc, db):
    db.set(b"l", FakeList())
    assert mc("add l 0 0 1\r\nx\r\nappend l 0 0 1\r\nx\r\nprepend l 0 0 1\r\nx\r\ncas l 0 0 1 1\r\nx\r\n"
              "incr l 1\r\ndecr l 1\r\nms l 1 ME\r\nx\r\nms l 1 MA\r\nx\r\nms l 1 C1\r\nx\r\n"
              "ma l\r\nma l N0\r\nmd l I\r\nmd l x\r\n") == \
        (b"NOT_STORED\r\nNOT_STORED\r\nNOT_STORED\r\nEXISTS\r\n"
         + b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n" * 2
         + b"NS\r\nNS\r\nEX\r\n"
         + b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n" * 2
         + b"EX\r\nEX\r\n")
    assert type(db.get(b"l")) is FakeList


def test_other_types_are_replaced_by_set_and_deleted_by_delete(mc, db):
    for wire in ("set l 0 0 1\r\nx\r\n", "replace l 0 0 1\r\nx\r\n", "ms l 1\r\nx\r\n", "ms l 1 MR\r\nx\r\n"):
        db.set(b"l", FakeList())
        assert mc(wire) in (b"STORED\r\n", b"HD\r\n")
        assert db.get(b"l") == b"x"
    db.set(b"l", FakeList())
    assert mc("delete l\r\n") == b"DELETED\r\n" and db.get(b"l") is None
    db.set(b"l", FakeList())
    assert mc("md l\r\n") == b"HD\r\n" and db.get(b"l") is None
