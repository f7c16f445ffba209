"""dispatch.run_uniform: a pipelined batch of calls of one plain command runs as a whole, with the
replies, keyspace effects and statistics that running its calls one by one would give."""

from __future__ import annotations

import pytest

from cachesrv.commands import dispatch
from cachesrv.commands.errors import CommandError
from cachesrv.commands.table import COMMANDS, MANY, PLAIN

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


class FakeList:
    """A non-string value: enough for WRONGTYPE checks."""
    type_name = "list"
    encoding = "listpack"


def argvs(*cmds: str) -> list[list[bytes]]:
    return [c.encode().split() for c in cmds]


def text(reply):
    return ("error", str(reply)) if isinstance(reply, CommandError) else reply


def one_by_one(session, batch):
    return [text(dispatch.execute(session, argv)) for argv in batch]


def stats(server, name: bytes):
    spec = COMMANDS[name]
    return (spec.calls, spec.failed_calls, spec.rejected_calls, server.ks.hits, server.ks.misses,
            server.total_error_replies, dict(server.error_counts))


def reset(server):
    for spec in COMMANDS.values():
        spec.reset_stats()
    server.ks.hits = server.ks.misses = server.total_error_replies = 0
    server.error_counts.clear()


@pytest.fixture
def loaded(server, ctx):
    db = ctx.db
    db.set(b"a", b"1")
    db.set(b"n", b"not a number")
    db.set(b"L", FakeList())
    dispatch.execute(ctx, [b"APPEND", b"ba", b"grown"])   # a bytearray value (APPEND's raw string)
    return server


BATCHES = [
    argvs("GET a", "GET missing", "GET ba", "GET L", "GET a"),
    argvs("get a", "get a"),
    argvs("SET x 1", "SET y 2", "SET a 3", "SET L v"),
    argvs("SET x 1 NX", "SET y 2 GET", "SET z 3 EX 0", "SET a 4 XX GET", "SET w 5"),
    argvs("INCR a", "INCR n", "INCR missing", "INCR L", "INCR a"),
    argvs("SETEX e 10 v", "SETEX e -1 v", "SETEX e x v"),
    argvs("EXISTS a", "EXISTS a missing a", "EXISTS L"),
    argvs("STRLEN a", "STRLEN ba", "STRLEN L", "STRLEN missing"),
    argvs("APPEND ba !", "APPEND ba ?", "APPEND new x"),
    argvs("GETDEL a", "GETDEL a", "GETDEL L"),
]


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: b[0][0].decode())
def test_uniform_batch_is_its_calls_one_by_one(server, ctx, loaded, batch):
    from cachesrv.server import Server
    from cachesrv.session import Session

    name = batch[0][0]
    # The same start on a second server, run call by call.
    twin = Server(server.cfg, clock=server.clock, log=server.log)
    twin_ctx = Session(twin, addr="127.0.0.1:50001", laddr="127.0.0.1:6379")
    for key in server.ks.dbs[0].live_keys():
        value = server.ks.dbs[0].get(key, touch=False)
        twin.ks.dbs[0].set(key, bytearray(value) if type(value) is bytearray else value)
    reset(server)
    reset(twin)
    expected = one_by_one(twin_ctx, batch)
    expected_stats = stats(twin, name.lower())
    expected_keys = {k: twin.ks.dbs[0].get(k, touch=False) for k in twin.ks.dbs[0].live_keys()}
    reset(twin)
    replies = dispatch.run_uniform(ctx, batch)
    assert replies is not None
    assert [text(r) for r in replies] == expected
    assert stats(server, name.lower()) == expected_stats
    assert {k: server.ks.dbs[0].get(k, touch=False) for k in server.ks.dbs[0].live_keys()} == expected_keys
    assert ctx.last_cmd == COMMANDS[name.lower()].fullname


def test_get_batch_replies_copy_bytearrays_and_refuse_other_types(ctx, loaded):
    replies = dispatch.run_uniform(ctx, argvs("GET ba", "GET L", "GET a"))
    assert type(replies[0]) is bytes and replies[0] == b"grown"
    assert text(replies[1]) == ("error", WRONGTYPE)
    assert replies[2] == b"1"
    assert dispatch.execute(ctx, [b"MGET", b"ba", b"L", b"a", b"missing"]) == [b"grown", None, b"1", None]


@pytest.mark.parametrize("batch", [
    argvs("GET a", "SET a 2"),              # two commands
    argvs("GET a", "get a"),                # two spellings: looked up one by one
    argvs("GET a", "GET a b"),              # a wrong number of arguments
    argvs("PING", "PING"),                  # not a plain command
    argvs("MSET a 1", "MSET b 2"),
], ids=["mixed", "spellings", "arity", "ping", "mset"])
def test_other_batches_are_left_to_execute(server, ctx, loaded, batch):
    before = {k: server.ks.dbs[0].get(k, touch=False) for k in server.ks.dbs[0].live_keys()}
    calls = {name: spec.calls for name, spec in COMMANDS.items()}
    assert dispatch.run_uniform(ctx, batch) is None
    assert {k: server.ks.dbs[0].get(k, touch=False) for k in server.ks.dbs[0].live_keys()} == before
    assert {name: spec.calls for name, spec in COMMANDS.items()} == calls


def test_uniform_batch_calls_share_the_batch_time_in_the_slow_log_and_histogram(server, ctx, loaded):
    dispatch.execute(ctx, [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"])
    dispatch.execute(ctx, [b"SLOWLOG", b"RESET"])
    reset(server)
    batch = argvs("GET a", "GET b", "GET c")
    dispatch.run_uniform(ctx, batch)
    entries = dispatch.execute(ctx, [b"SLOWLOG", b"GET"])[:3]      # (then SLOWLOG RESET's)
    assert [e[3] for e in entries] == [[b"GET", b"c"], [b"GET", b"b"], [b"GET", b"a"]]
    assert len({e[2] for e in entries}) == 1          # one duration: the batch's mean
    histogram = dispatch.execute(ctx, [b"LATENCY", b"HISTOGRAM", b"get"])
    assert histogram[b"get"][b"calls"] == 3
    dispatch.execute(ctx, [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"])
    dispatch.execute(ctx, [b"SLOWLOG", b"RESET"])
    dispatch.run_uniform(ctx, batch)
    assert dispatch.execute(ctx, [b"SLOWLOG", b"LEN"]) == 0


def test_the_table_of_plain_and_many_commands():
    # A plain command must never wait, pause or close the client (run_uniform cannot act on
    # Block, PAUSED or Close), nor be an administrative or a subcommand container.
    for name in PLAIN:
        spec = COMMANDS[name.encode()]
        assert not spec.blocking and not spec.admin and not spec.subcommands, name
        assert "noscript" not in spec.flags and "no_multi" not in spec.flags, name
    assert set(MANY) <= PLAIN
