"""CLIENT subcommands on an in-memory server. Replies and error texts are the ones Redis 7.0.15
gives (SETINFO: Redis 7.2's); several sessions are registered by hand to stand for other clients."""

from __future__ import annotations

import re
import time

import pytest

from protocols.resp import Verbatim

from cachesrv.commands.errors import CommandError
from cachesrv.session import Session

# Redis 7.0.15's CLIENT LIST fields, in order (observed from redis-server 7.0.15).
LIST_FIELDS = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
               "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
               "tot-mem", "events", "cmd", "user", "redir", "resp"]


@pytest.fixture
def me(ctx, server):
    server.register(ctx)
    return ctx


def other(server, addr="127.0.0.1:50001", laddr="127.0.0.1:6379", **kw) -> Session:
    s = Session(server, addr=addr, laddr=laddr, **kw)
    server.register(s)
    return s


def err(reply) -> str:
    assert isinstance(reply, CommandError), reply
    return str(reply)


def lines(reply) -> list[str]:
    assert isinstance(reply, Verbatim) and reply.fmt == b"txt"
    text = reply.data.decode()
    assert text == "" or text.endswith("\n")
    return text.splitlines()


def fields(line: str) -> dict[str, str]:
    return dict(f.split("=", 1) for f in line.split(" "))


# -- ID, INFO, LIST -----------------------------------------------------------------------------------
def test_id_is_the_session_id_and_increases(me, server, call):
    assert call("CLIENT", "ID") == me.id
    assert other(server).id == me.id + 1


def test_info_line_has_redis_fields_in_order(me, call):
    (line,) = lines(call("CLIENT", "INFO"))
    assert [f.split("=", 1)[0] for f in line.split(" ")] == LIST_FIELDS
    f = fields(line)
    assert f["id"] == str(me.id)
    assert f["addr"] == "127.0.0.1:50000" and f["laddr"] == "127.0.0.1:6379"
    assert f["flags"] == "N" and f["db"] == "0" and f["multi"] == "-1"
    assert f["cmd"] == "client|info" and f["user"] == "default" and f["redir"] == "-1" and f["resp"] == "2"
    assert f["argv-mem"] == "10"          # len("CLIENT") + len("INFO"), as Redis counts it
    assert f["name"] == "" and f["events"] == "r"


def test_info_arity(call):
    assert err(call("CLIENT", "INFO", "x")) == "ERR wrong number of arguments for 'client|info' command"
    assert err(call("CLIENT", "ID", "x")) == "ERR wrong number of arguments for 'client|id' command"


def test_list_shows_every_client_in_id_order(me, server, call):
    b = other(server)
    c = other(server, addr="127.0.0.1:50002")
    got = [fields(line) for line in lines(call("CLIENT", "LIST"))]
    assert [int(f["id"]) for f in got] == [me.id, b.id, c.id]
    assert got[0]["cmd"] == "client|list" and got[1]["cmd"] == "NULL"
    assert got[0]["argv-mem"] == "10" and got[1]["argv-mem"] == "0"


def test_list_by_id_keeps_order_and_repeats_and_skips_unknown(me, server, call):
    b = other(server)
    got = [int(fields(line)["id"]) for line in lines(call("CLIENT", "LIST", "ID", b.id, me.id, b.id, 999, 0, -3))]
    assert got == [b.id, me.id, b.id]
    assert lines(call("CLIENT", "LIST", "ID", 999)) == []


def test_list_by_type(me, server, call):
    sub = other(server)
    sub.subscriptions = 1
    sub.channels.add(b"ch")
    rep = other(server, kind="replica")
    mon = other(server)
    mon.monitor = True
    ids = lambda t: [int(fields(line)["id"]) for line in lines(call("CLIENT", "LIST", "TYPE", t))]  # noqa: E731
    assert ids("normal") == [me.id, mon.id]      # MONITOR clients count as normal
    assert ids("NORMAL") == [me.id, mon.id]
    assert ids("pubsub") == [sub.id]
    assert ids("replica") == ids("slave") == [rep.id]
    assert ids("master") == []


def test_list_errors(me, call):
    assert err(call("CLIENT", "LIST", "TYPE", "foo")) == "ERR Unknown client type 'foo'"
    assert err(call("CLIENT", "LIST", "TYPE")) == "ERR syntax error"
    assert err(call("CLIENT", "LIST", "ID")) == "ERR syntax error"
    assert err(call("CLIENT", "LIST", "foo")) == "ERR syntax error"
    assert err(call("CLIENT", "LIST", "TYPE", "normal", "x")) == "ERR syntax error"
    assert err(call("CLIENT", "LIST", "TYPE", "normal", "ID", "1")) == "ERR syntax error"
    assert err(call("CLIENT", "LIST", "ID", "abc")) == "ERR Invalid client ID"
    assert err(call("CLIENT", "LIST", "ID", "1", "abc")) == "ERR Invalid client ID"


def test_flags_in_redis_order(me, server, call):
    s = other(server)
    s.multi = [[b"SET", b"a", b"1"]]
    s.watch_dirty = True
    s.no_evict = True
    s.subscriptions = 2
    s.channels.update({b"a", b"b"})
    f = fields(s.describe())
    assert f["flags"] == "Pxde"
    assert f["multi"] == "1" and f["multi-mem"] == str(3 + 1 + 1 + 3 * 8)
    assert f["sub"] == "2" and f["psub"] == "0"
    s2 = other(server, kind="replica")
    s2.monitor = True
    s2.close_requested = True
    assert fields(s2.describe())["flags"] == "Oc"
    s3 = other(server, kind="replica")
    assert fields(s3.describe())["flags"] == "S"
    s4 = other(server, kind="master")
    s4.killed = True
    assert fields(s4.describe())["flags"] == "MA"


def test_blocked_flag_b_then_u_after_unblock(me, server, call):
    s = other(server)
    s.blocked = object()
    assert fields(s.describe())["flags"] == "b"
    s.unblock_reason = "timeout"
    assert fields(s.describe())["flags"] == "u"
    s.blocked, s.unblock_reason = None, None
    s.postponed = True
    assert fields(s.describe())["flags"] == "b"


def test_omem_counts_pushed_frames(me, server):
    import collections
    s = other(server)
    s.outbox = collections.deque([b"+a\r\n", b"+bb\r\n"])
    s.outbox_bytes = 9
    f = fields(s.describe())
    assert (f["obl"], f["oll"], f["omem"], f["events"]) == ("0", "2", "9", "rw")


def test_age_and_idle(me, server):
    s = other(server)
    s.created -= 30
    s.last_interaction -= 7
    f = fields(s.describe())
    assert int(f["age"]) >= 30 and 7 <= int(f["idle"]) < 30


# -- SETNAME, GETNAME, SETINFO, NO-EVICT, GETREDIR, HELP ---------------------------------------------------
def test_setname_getname(me, call):
    assert call("CLIENT", "GETNAME") is None
    assert call("CLIENT", "SETNAME", "worker-1") == "OK"
    assert call("CLIENT", "GETNAME") == b"worker-1"
    assert fields(lines(call("CLIENT", "INFO"))[0])["name"] == "worker-1"
    assert call("CLIENT", "SETNAME", "") == "OK"
    assert call("CLIENT", "GETNAME") is None


@pytest.mark.parametrize("name", ["a b", "a\nb", "\x00", "é", "tab\t", "\x7f"])
def test_setname_rejects_spaces_and_special_characters(me, call, name):
    call("CLIENT", "SETNAME", "keep")
    assert err(call("CLIENT", "SETNAME", name)) == \
        "ERR Client names cannot contain spaces, newlines or special characters."
    assert call("CLIENT", "GETNAME") == b"keep"


def test_setname_arity(call):
    assert err(call("CLIENT", "SETNAME")) == "ERR wrong number of arguments for 'client|setname' command"
    assert err(call("CLIENT", "GETNAME", "x")) == "ERR wrong number of arguments for 'client|getname' command"


def test_setinfo(me, call):
    assert call("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == "OK"
    assert call("CLIENT", "SETINFO", "lib-ver", "8.1.0") == "OK"
    assert (me.lib_name, me.lib_ver) == (b"redis-py", b"8.1.0")
    assert call("CLIENT", "SETINFO", "lib-ver", "") == "OK"
    assert me.lib_ver == b""


def test_setinfo_errors(me, call):
    assert err(call("CLIENT", "SETINFO", "lib-color", "x")) == "ERR Unrecognized option 'lib-color'"
    assert err(call("CLIENT", "SETINFO", "LIB-NAME", "a b")) == \
        "ERR LIB-NAME cannot contain spaces, newlines or special characters."
    assert err(call("CLIENT", "SETINFO", "lib-ver", "1\n")) == \
        "ERR lib-ver cannot contain spaces, newlines or special characters."
    assert err(call("CLIENT", "SETINFO", "lib-name")) == "ERR wrong number of arguments for 'client|setinfo' command"
    assert me.lib_name == b""


def test_no_evict(me, call):
    assert call("CLIENT", "NO-EVICT", "on") == "OK"
    assert me.no_evict and fields(lines(call("CLIENT", "INFO"))[0])["flags"] == "e"
    assert call("CLIENT", "NO-EVICT", "OFF") == "OK"
    assert not me.no_evict
    assert err(call("CLIENT", "NO-EVICT", "maybe")) == "ERR syntax error"
    assert err(call("CLIENT", "NO-EVICT")) == "ERR wrong number of arguments for 'client|no-evict' command"


def test_getredir_without_tracking(call):
    assert call("CLIENT", "GETREDIR") == -1


def test_help_is_redis_text(call):
    reply = call("CLIENT", "HELP")
    assert len(reply) == 48
    assert reply[0] == "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert reply[-2:] == ["HELP", "    Prints this help."]
    assert "UNBLOCK <clientid> [TIMEOUT|ERROR]" in reply


def test_unknown_subcommand_and_bare_client(call):
    assert err(call("CLIENT", "FOO")) == "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    assert err(call("CLIENT")) == "ERR wrong number of arguments for 'client' command"


# -- KILL ------------------------------------------------------------------------------------------
def test_kill_old_form_by_address(me, server, call):
    b = other(server, addr="10.0.0.2:4000")
    assert call("CLIENT", "KILL", "10.0.0.2:4000") == "OK"
    assert b.killed and b.id not in server.clients
    assert err(call("CLIENT", "KILL", "10.0.0.2:4000")) == "ERR No such client"
    assert err(call("CLIENT", "KILL", "ID")) == "ERR No such client"


def test_kill_old_form_may_kill_the_caller_after_its_reply(me, call):
    assert call("CLIENT", "KILL", me.addr) == "OK"
    assert me.close_requested and not me.killed
    assert me.id in me.server.clients         # the connection ends it once the reply is out


def test_kill_by_id_type_user_addr_laddr(me, server, call):
    a = other(server, addr="10.0.0.1:1")
    b = other(server, addr="10.0.0.2:2", laddr="127.0.0.1:7000")
    c = other(server, addr="10.0.0.3:3")
    c.subscriptions = 1
    d = other(server, addr="10.0.0.4:4", kind="replica")
    assert call("CLIENT", "KILL", "ID", a.id) == 1
    assert call("CLIENT", "KILL", "ID", a.id) == 0
    assert call("CLIENT", "KILL", "LADDR", "127.0.0.1:7000") == 1 and b.killed
    assert call("CLIENT", "KILL", "TYPE", "pubsub") == 1 and c.killed
    assert call("CLIENT", "KILL", "TYPE", "replica") == 1 and d.killed
    assert call("CLIENT", "KILL", "ADDR", "10.0.0.9:9") == 0
    assert list(server.clients) == [me.id]


def test_kill_skipme(me, server, call):
    b = other(server)
    assert call("CLIENT", "KILL", "USER", "default") == 1       # SKIPME yes is the default
    assert b.killed and not me.close_requested
    assert call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no") == 1
    assert me.close_requested
    assert me.id in server.clients


def test_kill_filters_combine(me, server, call):
    a = other(server, addr="10.0.0.1:1")
    assert call("CLIENT", "KILL", "ID", a.id, "TYPE", "pubsub") == 0
    assert call("CLIENT", "KILL", "ID", a.id, "ADDR", "10.0.0.1:1", "USER", "default", "SKIPME", "YES") == 1


@pytest.mark.parametrize("args, text", [
    (["ID", "abc"], "ERR client-id should be greater than 0"),
    (["ID", "0"], "ERR client-id should be greater than 0"),
    (["ID", "-1"], "ERR client-id should be greater than 0"),
    (["ID", "9223372036854775808"], "ERR client-id should be greater than 0"),
    (["TYPE", "foo"], "ERR Unknown client type 'foo'"),
    (["USER", "nobody"], "ERR No such user 'nobody'"),
    (["SKIPME", "maybe"], "ERR syntax error"),
    (["foo", "bar"], "ERR syntax error"),
    (["a", "b", "c"], "ERR syntax error"),
    (["MAXAGE", "10"], "ERR syntax error"),
    (["TYPE", "normal", "ID"], "ERR syntax error"),
    (["ID", "1", "ID", "abc"], "ERR client-id should be greater than 0"),
])
def test_kill_errors_kill_nobody(me, server, call, args, text):
    b = other(server)
    assert err(call("CLIENT", "KILL", *args)) == text
    assert not b.killed and not me.close_requested


def test_kill_arity(call):
    assert err(call("CLIENT", "KILL")) == "ERR wrong number of arguments for 'client|kill' command"


# -- PAUSE / UNPAUSE --------------------------------------------------------------------------------------
def test_pause_all_by_default_then_unpause(me, server, call):
    before = time.monotonic()
    assert call("CLIENT", "PAUSE", "5000") == "OK"
    assert server.pause_all and before + 4.9 < server.pause_end < time.monotonic() + 5.1
    # As in Redis 7.0, a pause of ALL commands holds CLIENT UNPAUSE too.
    from cachesrv.commands.dispatch import PAUSED
    assert call("CLIENT", "UNPAUSE") is PAUSED
    server.pause_all = False                             # as if it had been a WRITE pause
    assert call("CLIENT", "UNPAUSE") == "OK"
    assert server.pause_end == 0 and not server.pause_all


def test_pause_write(me, server, call):
    assert call("CLIENT", "PAUSE", "1000", "write") == "OK"
    assert not server.pause_all and server.pause_end > time.monotonic()
    server.unpause()


def test_pause_holds_writes_but_not_reads(me, server, call):
    from cachesrv.commands.dispatch import PAUSED
    assert call("CLIENT", "PAUSE", "10000", "WRITE") == "OK"
    b = other(server)
    assert call("SET", "k", "v", session=b) is PAUSED
    assert call("GET", "k", session=b) is None
    server.unpause()
    assert call("SET", "k", "v", session=b) == "OK"


def test_pause_overflowing_deadline_is_already_over(me, server, call):
    # Redis 7.0.15 answers OK and pauses nothing: now + timeout wraps past LLONG_MAX.
    assert call("CLIENT", "PAUSE", "9223372036854775807") == "OK"
    assert server.pause_end <= time.monotonic()


@pytest.mark.parametrize("args, text", [
    (["abc"], "ERR timeout is not an integer or out of range"),
    (["1.5"], "ERR timeout is not an integer or out of range"),
    (["99999999999999999999"], "ERR timeout is not an integer or out of range"),
    (["-1"], "ERR timeout is negative"),
    (["10", "foo"], "ERR CLIENT PAUSE mode must be WRITE or ALL"),
    (["abc", "foo"], "ERR CLIENT PAUSE mode must be WRITE or ALL"),     # the mode is checked first
    (["10", "write", "x"], "ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP."),
])
def test_pause_errors(me, server, call, args, text):
    assert err(call("CLIENT", "PAUSE", *args)) == text
    assert server.pause_end == 0


def test_pause_syntax_error_names_the_subcommand_as_sent(call):
    assert err(call("client", "pause", "1", "all", "x")) == \
        "ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP."


def test_unpause_arity(call):
    assert err(call("CLIENT", "UNPAUSE", "x")) == "ERR wrong number of arguments for 'client|unpause' command"


# -- REPLY ----------------------------------------------------------------------------------------
def test_reply_modes(me, call):
    assert call("CLIENT", "REPLY", "OFF") == "OK"
    assert me.reply_mode == "off" and me.gate
    assert call("CLIENT", "REPLY", "SKIP") == "OK"
    assert me.reply_mode == "off"                     # SKIP while OFF changes nothing
    assert call("CLIENT", "REPLY", "ON") == "OK"
    assert me.reply_mode == "on" and me.skip_replies == 0 and not me.gate
    assert call("CLIENT", "REPLY", "skip") == "OK"
    assert (me.reply_mode, me.skip_replies) == ("skip", 2) and me.gate


def test_reply_errors(me, call):
    assert err(call("CLIENT", "REPLY", "foo")) == "ERR syntax error"
    assert err(call("CLIENT", "REPLY")) == "ERR wrong number of arguments for 'client|reply' command"
    assert me.reply_mode == "on"


# -- UNBLOCK ---------------------------------------------------------------------------------------
class FakeBlock:
    deadline_ms = None


def blocked_client(server) -> tuple[Session, list]:
    s = other(server)
    woken: list = []
    s.blocked = FakeBlock()
    s.wakeup = lambda: woken.append(s.unblock_reason)
    return s, woken


def test_unblock_timeout_by_default(me, server, call):
    s, woken = blocked_client(server)
    assert call("CLIENT", "UNBLOCK", s.id) == 1
    assert woken == ["timeout"]
    assert call("CLIENT", "UNBLOCK", s.id) == 0          # already on its way out


def test_unblock_error(me, server, call):
    s, woken = blocked_client(server)
    assert call("CLIENT", "UNBLOCK", s.id, "error") == 1
    assert woken == ["error"]


def test_unblock_a_client_that_is_not_blocked(me, server, call):
    s = other(server)
    assert call("CLIENT", "UNBLOCK", s.id) == 0
    assert call("CLIENT", "UNBLOCK", 999, "ERROR") == 0
    assert call("CLIENT", "UNBLOCK", -5) == 0
    s.postponed = True                                   # held by CLIENT PAUSE: not unblockable
    assert call("CLIENT", "UNBLOCK", s.id) == 0
    assert s.unblock_reason is None


@pytest.mark.parametrize("args, text", [
    (["abc"], "ERR value is not an integer or out of range"),
    (["9223372036854775808"], "ERR value is not an integer or out of range"),
    (["1", "foo"], "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    (["abc", "foo"], "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),   # reason first
    (["1", "timeout", "x"], "ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP."),
])
def test_unblock_errors(me, server, call, args, text):
    assert err(call("CLIENT", "UNBLOCK", *args)) == text


# -- statistics ------------------------------------------------------------------------------------
def test_subcommand_statistics(me, call):
    from cachesrv.commands.table import COMMANDS
    client = COMMANDS[b"client"]
    client.reset_stats()                                  # the table's counters live for the process
    call("CLIENT")                                        # refused by arity: counted on the container
    call("CLIENT", "ID")
    call("CLIENT", "REPLY", "foo")                        # failed inside the handler
    call("CLIENT", "REPLY")                               # refused by arity
    assert client.rejected_calls == 1
    reply = client.subcommands[b"reply"]
    assert (reply.calls, reply.failed_calls, reply.rejected_calls) == (1, 1, 1)
    assert client.subcommands[b"id"].calls == 1


def test_list_line_matches_pattern(me, call):
    (line,) = lines(call("CLIENT", "LIST"))
    assert re.fullmatch(
        r"id=\d+ addr=\S+ laddr=\S+ fd=-?\d+ name=\S* age=\d+ idle=\d+ flags=[A-Za-z]+ db=\d+ sub=\d+ psub=\d+ "
        r"ssub=\d+ multi=-?\d+ qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ multi-mem=\d+ rbs=\d+ rbp=\d+ obl=\d+ oll=\d+ "
        r"omem=\d+ tot-mem=\d+ events=r?w? cmd=\S+ user=\S+ redir=-?\d+ resp=[23]", line)
