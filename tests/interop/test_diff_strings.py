"""Differential test of the string family: the same command sequences go to cachesrv and to Debian's
redis-server 7.0 over raw sockets, in RESP2 and RESP3, and every reply must be identical.

Scripts cover each command with its options and error cases; seeded random runs cover INCRBYFLOAT
(decimal, exponent and hex inputs across the whole long double range), LCS (all option mixes),
GETRANGE (a grid of indexes) and SET option combinations. Only TTLs are compared with a tolerance
(the two servers read their clocks a few milliseconds apart).
"""

from __future__ import annotations

import random
import socket

import hiredis
import pytest

from tests.conftest import server_pair


class Conn:
    def __init__(self, port: int, proto: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = hiredis.Reader(notEnoughData=Ellipsis)
        if proto == 3:
            self.call([b"HELLO", b"3"])

    def call(self, argv: list):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        out = bytearray(b"*%d\r\n" % len(argv))
        for a in argv:
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        while True:
            reply = self.reader.gets()
            if reply is not Ellipsis:
                return ("error", str(reply)) if isinstance(reply, Exception) else reply
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)

    def close(self) -> None:
        self.sock.close()


TOLERANCE = {b"TTL": 1, b"PTTL": 200}


def same(argv, a, b) -> bool:
    name = (argv[0] if isinstance(argv[0], bytes) else argv[0].encode()).upper()
    if name in TOLERANCE and isinstance(a, int) and isinstance(b, int) and a >= 0 and b >= 0:
        return abs(a - b) <= TOLERANCE[name]
    return a == b


# A key of another type, for the WRONGTYPE cases: made with the first container command that
# cachesrv serves (the other type families are written alongside this one; until one is there,
# these lines are dropped and "L" is compared as a missing or string key).
MAKE_WRONGTYPE = ["<wrongtype>", "L"]
_WRONGTYPE_MAKERS = [["RPUSH", "L", "x"], ["SADD", "L", "x"], ["HSET", "L", "f", "x"], ["ZADD", "L", "1", "x"]]


def wrongtype_maker(pair) -> list | None:
    ours, theirs = pair
    for argv in _WRONGTYPE_MAKERS:
        ours.call(["DEL", "L"])
        if not isinstance(ours.call(argv), tuple):
            ours.call(["DEL", "L"])
            return argv
    return None


def run(pair, script) -> None:
    ours, theirs = pair
    if any(argv is MAKE_WRONGTYPE for argv in script):
        # Without a container type yet, "L" stays a missing key: the rest still compares.
        maker = wrongtype_maker(pair)
        script = [maker if argv is MAKE_WRONGTYPE else argv for argv in script
                  if argv is not MAKE_WRONGTYPE or maker is not None]
    for c in pair:
        assert c.call([b"FLUSHALL"]) in (b"OK", "OK")
    for argv in script:
        a, b = ours.call(argv), theirs.call(argv)
        assert same(argv, a, b), f"{argv!r}: cachesrv {a!r} != redis {b!r}"


@pytest.fixture(scope="module", params=[2, 3], ids=["resp2", "resp3"])
def pair(request, cachesrv_port, redis_port):
    made = (Conn(cachesrv_port, request.param), Conn(redis_port, request.param))
    yield made
    for c in made:
        c.close()


LLONG_MAX = "9223372036854775807"
LLONG_MIN = "-9223372036854775808"

SCRIPTS = {
    "get_set": [
        ["SET", "k", "v"], ["GET", "k"], ["GET", "nokey"], ["SET", "k", b"\x00\xff\r\n"], ["GET", "k"],
        ["SET", "e", ""], ["GET", "e"], MAKE_WRONGTYPE, ["GET", "L"], ["SET", "L", "v"], ["GET", "L"],
    ],
    "set_options": [
        ["SET", "k", "v", "XX"], ["SET", "k", "v", "NX"], ["SET", "k", "w", "NX"], ["SET", "k", "w", "XX"],
        ["GET", "k"], ["SET", "k", "x", "GET"], ["SET", "k", "y", "NX", "GET"], ["SET", "k2", "y", "XX", "GET"],
        ["EXISTS", "k2"], ["SET", "k3", "z", "NX", "GET"], ["GET", "k3"], ["SET", "k", "v", "NX", "NX"],
        ["SET", "k", "v", "GET", "GET"], ["SET", "k", "v", "EX", "10", "EX", "20"], ["TTL", "k"],
        ["SET", "k", "v", "ex", "5", "get"], ["SET", "k", "v", "KEEPTTL"], ["TTL", "k"], ["SET", "k", "v"],
        ["TTL", "k"], ["SET", "k", "v", "PX", "100000"], ["PTTL", "k"],
        ["SET", "k", "v", "EXAT", "99999999999"], ["EXPIRETIME", "k"],
        ["SET", "k", "v", "PXAT", "99999999999999"], ["PEXPIRETIME", "k"],
        ["SET", "k", "v", "PXAT", LLONG_MAX], ["PEXPIRETIME", "k"],
        ["SET", "k", "v", "EXAT", "9223372036854775"], ["PEXPIRETIME", "k"],
        ["SET", "p", "v", "EXAT", "1"], ["GET", "p"], ["EXISTS", "p"],
        ["SET", "p", "v", "PXAT", "100", "GET"], ["GET", "p"],
    ] + [["SET", "k", "v", *opts] for opts in (
        ["EX", "0"], ["EX", "-1"], ["PX", "0"], ["EXAT", "0"], ["PXAT", "0"], ["EX", LLONG_MAX],
        ["EX", "9223372036854775"], ["EX", "9223372036854776"], ["PX", LLONG_MAX], ["PX", "9223372036854775000"],
        ["EXAT", LLONG_MAX], ["EXAT", "9223372036854776"], ["EX", "abc"], ["EX", "1.5"], ["EX"], ["PXAT"],
        ["NX", "XX"], ["XX", "NX"], ["EX", "10", "PX", "10"], ["KEEPTTL", "EX", "10"], ["EX", "10", "KEEPTTL"],
        ["PERSIST"], ["FOO"], ["EX", "0", "FOO"], ["GETX"], [b"NX\x00junk"], ["EX", "0", "GET"],
    )] + [
        ["SET", "L", "v", "GET"], ["SET", "L", "v", "NX", "GET"], ["SET", "L", "v", "XX", "GET"],
        ["SET", "L", "v", "EX", "0", "GET"], ["TYPE", "L"], ["SET", "L", "v", "NX"], ["TYPE", "L"],
    ],
    "setnx_setex": [
        ["SETNX", "k", "v"], ["SETNX", "k", "w"], ["GET", "k"], ["SETEX", "k", "100", "v"], ["TTL", "k"],
        ["PSETEX", "k", "100000", "w"], ["PTTL", "k"], ["GET", "k"], ["SETEX", "k", "0", "v"],
        ["SETEX", "k", "-1", "v"], ["SETEX", "k", "x", "v"], ["SETEX", "k", "9223372036854776", "v"],
        ["PSETEX", "k", "0", "v"], ["PSETEX", "k", LLONG_MAX, "v"], ["PSETEX", "k", "1.5", "v"],
        MAKE_WRONGTYPE, ["SETNX", "L", "v"], ["SETEX", "L", "10", "v"], ["TYPE", "L"],
    ],
    "getset_getdel_getex": [
        ["GETSET", "k", "a"], ["GETSET", "k", "b"], ["SET", "k", "v", "EX", "100"], ["GETSET", "k", "c"],
        ["TTL", "k"], ["GETDEL", "k"], ["GETDEL", "k"], ["EXISTS", "k"],
        ["SET", "k", "v"], ["GETEX", "k"], ["GETEX", "k", "EX", "200"], ["TTL", "k"],
        ["GETEX", "k", "PX", "2000"], ["PTTL", "k"], ["GETEX", "k", "EXAT", "9999999999"], ["EXPIRETIME", "k"],
        ["GETEX", "k", "PXAT", LLONG_MAX], ["PEXPIRETIME", "k"], ["GETEX", "k", "PERSIST"], ["TTL", "k"],
        ["GETEX", "k", "PERSIST", "PERSIST"], ["GETEX", "k", "EX", "1", "EX", "5"], ["TTL", "k"],
        ["GETEX", "k", "EX", LLONG_MAX], ["GETEX", "k", "PX", LLONG_MAX], ["GETEX", "k", "EX", "-5"],
        ["GETEX", "k", "EXAT", "-5"], ["GETEX", "k", "PXAT", "0"], ["GETEX", "k", "EX", "x"],
        ["GETEX", "k", "EXAT", "1"], ["EXISTS", "k"],
        ["GETEX", "nokey", "EX", "0"], ["GETEX", "nokey", "EX", "x"], ["GETEX", "nokey", "FOO"],
        ["GETEX", "nokey", "EX"], ["GETEX", "nokey", "PERSIST", "EX", "10"], ["GETEX", "nokey", "KEEPTTL"],
        ["GETEX", "nokey", "NX"], ["GETEX", "nokey", "GET"],
        MAKE_WRONGTYPE, ["GETSET", "L", "v"], ["GETDEL", "L"], ["GETEX", "L"], ["GETEX", "L", "EX", "0"],
        ["GETEX", "L", "PERSIST"], ["TYPE", "L"],
    ],
    "mget_mset": [
        ["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "c"], ["MSET", "a", "1", "b"], ["MSET", "a"],
        ["MSETNX", "a", "1", "b"], ["MSET", "a", "1", "a", "2"], ["GET", "a"], ["MSETNX", "x", "1", "x", "2"],
        ["GET", "x"], ["MSETNX", "c", "1", "a", "9"], ["EXISTS", "c"], MAKE_WRONGTYPE,
        ["MGET", "L", "a", "nokey"], ["MSETNX", "L", "v", "d", "x"], ["EXISTS", "d"],
        ["SET", "t", "v", "EX", "100"], ["MSET", "t", "w"], ["TTL", "t"],
    ],
    "append_strlen_setrange": [
        ["APPEND", "k", "Hello"], ["APPEND", "k", " World"], ["GET", "k"], ["STRLEN", "k"], ["APPEND", "k", ""],
        ["APPEND", "n", ""], ["EXISTS", "n"], ["STRLEN", "n"], ["STRLEN", "nokey"],
        ["SET", "s", "Hello World"], ["SETRANGE", "s", "6", "Redis"], ["GET", "s"], ["SETRANGE", "s", "13", "!"],
        ["GET", "s"], ["SETRANGE", "z", "3", "abc"], ["GET", "z"], ["SETRANGE", "z", "100", ""],
        ["SETRANGE", "nokey", "5", ""], ["EXISTS", "nokey"], ["SETRANGE", "s", "-1", "x"],
        ["SETRANGE", "s", "x", "x"], ["SETRANGE", "s", "536870912", "x"], ["SETRANGE", "nk", "536870912", ""],
        ["SETRANGE", "nk", "536870912", "x"], ["SET", "t", "v", "EX", "100"], ["APPEND", "t", "x"], ["TTL", "t"],
        ["SETRANGE", "t", "0", "y"], ["TTL", "t"], ["GET", "t"], ["SET", "i", "12345"], ["APPEND", "i", "6"],
        ["INCR", "i"], ["GET", "i"],
        MAKE_WRONGTYPE, ["APPEND", "L", "x"], ["STRLEN", "L"], ["SETRANGE", "L", "0", "x"],
        ["SETRANGE", "L", "-1", "x"], ["SETRANGE", "L", "x", ""], ["SETRANGE", "L", "0", ""],
    ],
    "getrange_errors": [
        ["SET", "s", "Hello"], ["GETRANGE", "s", "x", "1"], ["GETRANGE", "s", "0", "99999999999999999999"],
        ["SUBSTR", "s", "1", "x"], ["GETRANGE", "nokey", "0", "1"], ["SET", "e", ""], ["GETRANGE", "e", "0", "-1"],
        MAKE_WRONGTYPE, ["GETRANGE", "L", "x", "1"], ["GETRANGE", "L", "0", "1"], ["SUBSTR", "L", "0", "1"],
    ],
    "incr_family": [
        ["INCR", "n"], ["INCR", "n"], ["DECR", "n"], ["INCRBY", "n", "10"], ["DECRBY", "n", "20"], ["GET", "n"],
        ["SET", "n", LLONG_MAX], ["INCR", "n"], ["INCRBY", "n", "0"], ["INCRBY", "n", "-1"], ["DECRBY", "n", "-1"],
        ["SET", "n", LLONG_MIN], ["DECR", "n"], ["INCRBY", "n", "-1"], ["DECRBY", "n", LLONG_MAX],
        ["DECRBY", "n", "-9223372036854775807"], ["DECRBY", "n", LLONG_MIN], ["DECRBY", "m", LLONG_MIN],
        ["INCRBY", "m", LLONG_MIN], ["INCRBY", "n", "+1"], ["INCRBY", "n", " 1"], ["INCRBY", "n", "1.5"],
        ["INCRBY", "n", "9223372036854775808"], ["SET", "t", "5", "EX", "100"], ["INCR", "t"], ["TTL", "t"],
        MAKE_WRONGTYPE, ["INCR", "L"], ["DECR", "L"], ["INCRBY", "L", "1"], ["DECRBY", "L", "x"],
        ["DECRBY", "L", LLONG_MIN],
    ] + [cmd for v in [" 1", "1 ", "+1", "01", "-0", "0", "-1", "1.0", "", "0x10", "9223372036854775808",
                       "-9223372036854775809", "abc", "1e3"]
         for cmd in (["SET", "v", v], ["INCR", "v"], ["GET", "v"])],
    "incrbyfloat": [
        ["SET", "f", "10.5"], ["INCRBYFLOAT", "f", "0.1"], ["INCRBYFLOAT", "f", "x"], ["INCRBYFLOAT", "f", "inf"],
        ["INCRBYFLOAT", "f", "nan"], ["INCRBYFLOAT", "f", "1e4933"], ["INCRBYFLOAT", "g", "-inf"],
        ["SET", "t", "1", "EX", "100"], ["INCRBYFLOAT", "t", "1.5"], ["TTL", "t"],
        ["SET", "bad", "abc"], ["INCRBYFLOAT", "bad", "1"], ["SET", "bad", " 1"], ["INCRBYFLOAT", "bad", "1"],
        ["SET", "bad", b"1\x00x"], ["INCRBYFLOAT", "bad", "1"], ["INCRBYFLOAT", "z", b"2\x00"],
        MAKE_WRONGTYPE, ["INCRBYFLOAT", "L", "x"], ["INCRBYFLOAT", "L", "1"],
        ["INCRBYFLOAT", "big", "1" * 5119], ["INCRBYFLOAT", "big", "1" * 5120],
        ["INCRBYFLOAT", "big", "0." + "0" * 5000 + "1"], ["INCRBYFLOAT", "big", "1" + "0" * 4000],
        ["INCRBYFLOAT", "big", "1" + "0" * 900], ["INCRBYFLOAT", "big", "-1e931"],
    ],
    "lcs": [
        ["MSET", "key1", "ohmytext", "key2", "mynewtext"], ["LCS", "key1", "key2"], ["LCS", "key1", "key2", "LEN"],
        ["LCS", "key1", "key2", "IDX"], ["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"],
        ["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"], ["LCS", "key1", "key2", "WITHMATCHLEN"],
        ["LCS", "key1", "key2", "LEN", "WITHMATCHLEN"], ["LCS", "key1", "key2", "MINMATCHLEN", "x"],
        ["LCS", "key1", "key2", "MINMATCHLEN"], ["LCS", "key1", "key2", "IDX", "LEN"],
        ["LCS", "key1", "key2", "LEN", "IDX", "FOO"], ["LCS", "key1", "key2", "MINMATCHLEN", "-5", "IDX"],
        ["LCS", "key1", "nokey"], ["LCS", "nokey", "nokey2", "IDX"], ["LCS", "key1", "key2", "idx", "withmatchlen"],
        ["LCS", "key1", "key2", "MINMATCHLEN", "1", "MINMATCHLEN", "99", "IDX"], MAKE_WRONGTYPE,
        ["LCS", "L", "key1", "FOO"], ["LCS", "key1", "L"], ["LCS", "key1", "key2", "FOO"],
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts(pair, name):
    run(pair, SCRIPTS[name])


def test_getrange_grid(pair):
    script = []
    for value in ["Hello World", "x", "", "12345"]:
        script.append(["SET", "s", value])
        for start in [*range(-13, 14), LLONG_MIN, LLONG_MAX]:
            for end in [*range(-13, 14), LLONG_MIN, LLONG_MAX]:
                script.append(["GETRANGE", "s", start, end])
    run(pair, script)


def _random_float(rng: random.Random) -> str:
    k = rng.random()
    sign = rng.choice(["", "-", "+"])
    if k < 0.25:
        return "%s%d.%0*d" % (sign, rng.randrange(10 ** rng.randint(1, 20)), rng.randint(1, 20),
                              rng.randrange(10 ** 15))
    if k < 0.45:
        return "%s%de%d" % (sign, rng.randrange(1, 10 ** rng.randint(1, 25)), rng.randint(-400, 400))
    if k < 0.55:
        return "%s%dE%+d" % (sign, rng.randrange(1, 10 ** rng.randint(1, 25)), rng.randint(-4960, 4940))
    if k < 0.65:
        return repr(rng.uniform(-1e6, 1e6))
    if k < 0.75:
        return "%s0x%x.%xp%d" % (sign, rng.randrange(2 ** 70), rng.randrange(2 ** 20), rng.randint(-16500, 16400))
    if k < 0.85:
        return str(rng.randint(-2 ** 70, 2 ** 70))
    if k < 0.9:
        return rng.choice(["inf", "-inf", "nan", "1e", ".", "-.5", "5.", "0x", " 1", "1 ", "0", "-0", "1e-4951",
                           "3.6451995318824746025e-4951", "1.18973149535723176502e+4932"])
    return "%.*f" % (rng.randint(0, 25), rng.uniform(-100, 100))


def test_incrbyfloat_random(pair):
    rng = random.Random(20240601)
    script = []
    for _ in range(400):
        script += [["SET", "f", _random_float(rng)], ["INCRBYFLOAT", "f", _random_float(rng)], ["GET", "f"]]
    for _ in range(100):                  # chains: the stored result is parsed back every time
        script.append(["INCRBYFLOAT", "chain", _random_float(rng) if rng.random() < 0.3 else
                       rng.choice(["0.1", "-0.3", "1e-5", "3.33333333333333333"])])
    run(pair, script)


def test_lcs_random(pair):
    rng = random.Random(99)
    script = []
    for n in range(150):
        alphabet = [b"ab", b"abc", b"abcdefgh", bytes(range(256))][n % 4]
        a = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        script.append(["MSET", "a", a, "b", b])
        for opts in ([], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", "2"],
                     ["IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"]):
            script.append(["LCS", "a", "b", *opts])
            script.append(["LCS", "b", "a", *opts])
    a = bytes(rng.choice(b"ACGT") for _ in range(700))
    b = bytes(rng.choice(b"ACGT") for _ in range(600))
    script += [["MSET", "a", a, "b", b], ["LCS", "a", "b"], ["LCS", "a", "b", "IDX", "WITHMATCHLEN"]]
    run(pair, script)


SET_OPTION_WORDS = [["NX"], ["XX"], ["GET"], ["KEEPTTL"], ["EX", "100"], ["PX", "100000"], ["EXAT", "99999999999"],
                    ["PXAT", "99999999999999"], ["EX", "0"], ["PX", "-1"], ["EX", "x"], ["EX"], ["PERSIST"],
                    ["nx"], ["get"], ["EXAT", "1"]]


def test_set_option_combinations(pair):
    rng = random.Random(3)
    script = []
    keys = ["k", "k", "L"] if wrongtype_maker(pair) is not None else ["k"]
    for _ in range(400):
        opts = [w for o in rng.sample(SET_OPTION_WORDS, rng.randint(1, 3)) for w in o]
        key = rng.choice(keys)
        script += [["SET", key, rng.choice(["v", "w"]), *opts], ["GET", key], ["TTL", key]]
        if rng.random() < 0.2:
            script.append(["DEL", key])
        if rng.random() < 0.1:
            script += [["DEL", "L"], MAKE_WRONGTYPE]
        getex_opts = [w for o in rng.sample(SET_OPTION_WORDS, rng.randint(0, 2)) for w in o]
        script += [["GETEX", key, *getex_opts], ["TTL", key]]
    run(pair, script)


# -- proto-max-bulk-len: both servers started with a 1mb limit ------------------------------------
@pytest.fixture(scope="module")
def small_bulk_pair():
    with server_pair("--proto-max-bulk-len", "1mb") as (ours, theirs):
        conns = (Conn(ours.port, 2), Conn(theirs.port, 2))
        yield conns
        for c in conns:
            c.close()


def test_size_limits(small_bulk_pair):
    mb = 1024 * 1024
    run(small_bulk_pair, [
        ["SETRANGE", "k", mb, "x"], ["SETRANGE", "k", mb - 1, "x"], ["STRLEN", "k"], ["APPEND", "k", "y"],
        ["APPEND", "k", ""], ["SETRANGE", "k", mb - 2, "ab"], ["SETRANGE", "k", mb - 2, "abc"],
        ["SETRANGE", "k", "5", ""], ["SET", "a", "x" * 1000], ["SET", "b", "y" * 260],
        ["LCS", "a", "b", "LEN"], ["SET", "b", "y" * 261], ["LCS", "a", "b", "LEN"], ["LCS", "a", "b", "IDX"],
    ])
