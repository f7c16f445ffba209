"""Server administration commands (commands/admin.py): CONFIG, COMMAND, TIME, SLOWLOG, LATENCY,
DEBUG, MONITOR, WAIT, SHUTDOWN, CLUSTER.

Expected replies and error texts are literals observed from Debian's redis-server 7.0.15. The
first part runs commands through dispatch on an in-memory server with a fake clock; the last part
("real sockets") starts cachesrv processes for MONITOR, SHUTDOWN and DEBUG SLEEP.
"""

from __future__ import annotations

import socket
import time

import hiredis
import pytest

from cachesrv.commands import admin
from cachesrv.commands.dispatch import Block
from cachesrv.commands.errors import CommandError
from cachesrv.commands.spec import CommandSpec, redis_meta
from cachesrv.commands.table import COMMANDS
from protocols.resp import Raw, RSet, Verbatim, encode
from tests.conftest import start_cachesrv


def err(text: str) -> CommandError:
    return CommandError(text)


def wire(reply, proto: int = 2) -> bytes:
    return encode(reply, proto)


@pytest.fixture
def make_server():
    """A fresh in-memory server with the given directives, and a session on it."""
    from cachesrv.config import parse_args
    from cachesrv.log import Logger
    from cachesrv.server import Server
    from cachesrv.session import Session
    from cachesrv.store.keyspace import FakeClock

    def make(*args: str, addr: str = "127.0.0.1:50000"):
        server = Server(parse_args(list(args)), clock=FakeClock(), log=Logger("warning"))
        return server, Session(server, addr=addr, laddr="127.0.0.1:6379")

    return make


def run(session, *args):
    from cachesrv.commands.dispatch import execute
    return execute(session, [a if isinstance(a, bytes) else str(a).encode() for a in args])


# == CONFIG ========================================================================================
def test_config_set_then_get(call):
    assert call("CONFIG", "SET", "slowlog-max-len", "7") == "OK"
    assert call("CONFIG", "GET", "slowlog-max-len") == {b"slowlog-max-len": b"7"}


def test_config_set_odd_arguments(call):
    assert call("CONFIG", "SET", "slowlog-max-len", "7", "hz") == err("ERR syntax error")


def test_config_set_thresholds_take_effect(call, server):
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    assert server.slow_threshold_ns == 0
    call("CONFIG", "SET", "slowlog-log-slower-than", "-1", "latency-monitor-threshold", "5")
    assert server.slow_threshold_ns == 5_000_000
    call("CONFIG", "SET", "latency-monitor-threshold", "0")
    assert server.slow_threshold_ns == 1 << 62


def test_config_set_loglevel_and_latency_tracking_take_effect(call, server):
    call("CONFIG", "SET", "loglevel", "debug")
    assert server.log.level == 0
    call("CONFIG", "SET", "latency-tracking", "no")
    assert server.latency_tracking is False
    call("CONFIG", "SET", "latency-tracking", "yes")
    assert server.latency_tracking is True


def test_config_help(call):
    assert call("CONFIG", "HELP") == [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ]


def test_config_help_uses_the_name_as_sent(call):
    assert call("config", "help")[0] == "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"


def test_config_resetstat_resets_statistics_not_slowlog(call, server):
    call("CONFIG", "RESETSTAT")              # the command table's counters are process-wide
    server.error_counts.clear()
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    call("SET", "k", "v")
    call("GET", "k")
    call("GET", "missing")
    call("NOSUCHCOMMAND")
    server.total_connections = 5
    server.net_input_bytes = 100
    assert COMMANDS[b"get"].calls == 2
    assert server.error_counts == {"ERR": 1}
    slowlog_before = len(server.slowlog)
    assert call("CONFIG", "RESETSTAT") == "OK"
    assert COMMANDS[b"get"].calls == 0
    assert COMMANDS[b"set"].calls == 0
    assert server.error_counts == {}
    assert server.total_error_replies == 0
    assert (server.ks.hits, server.ks.misses) == (0, 0)
    assert server.total_connections == 0 and server.net_input_bytes == 0
    assert len(server.slowlog) == slowlog_before + 1     # RESETSTAT itself is logged after it ran
    assert COMMANDS[b"config"].subcommands[b"resetstat"].calls == 1


def test_config_resetstat_clears_latency_histograms(call, server):
    from cachesrv.commands.info import record_latency
    record_latency(server, COMMANDS[b"get"], 5000)
    call("CONFIG", "RESETSTAT")
    assert server.latency_histograms.get(COMMANDS[b"get"]) is None


def test_config_arity(call):
    assert call("CONFIG") == err("ERR wrong number of arguments for 'config' command")
    assert call("CONFIG", "GET") == err("ERR wrong number of arguments for 'config|get' command")
    assert call("CONFIG", "RESETSTAT", "x") == err("ERR wrong number of arguments for 'config|resetstat' command")
    assert call("CONFIG", "FOO") == err("ERR unknown subcommand 'FOO'. Try CONFIG HELP.")


# == COMMAND =======================================================================================
GET_INFO_RESP2 = (b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n"
                  b"+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\n"
                  b"begin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n"
                  b"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n"
                  b":0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n")
GET_INFO_RESP3 = (b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n"
                  b"+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\n"
                  b"begin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n"
                  b"$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n"
                  b":0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n")
GET_DOCS_RESP3 = (b"%1\r\n$3\r\nget\r\n%5\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n$5\r\nsince\r\n"
                  b"$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\n"
                  b"arguments\r\n*1\r\n%3\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\n"
                  b"key_spec_index\r\n:0\r\n")
CONFIG_GET_INFO_RESP3 = (b"*1\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n~4\r\n+admin\r\n+noscript\r\n+loading\r\n"
                         b"+stale\r\n:0\r\n:0\r\n:0\r\n~3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n~0\r\n~0\r\n~0\r\n")


def test_command_info_get_is_redis_byte_for_byte(call):
    assert wire(call("COMMAND", "INFO", "get"), 2) == GET_INFO_RESP2
    assert wire(call("COMMAND", "INFO", "GET"), 3) == GET_INFO_RESP3


def test_command_info_subcommand_by_full_name(call):
    assert wire(call("COMMAND", "INFO", "CONFIG|get"), 3) == CONFIG_GET_INFO_RESP3


def test_command_info_unknown_names_are_null(call):
    assert call("COMMAND", "INFO", "nosuch", "get|x", "config|nosuch", "a|b|c", "") == [None] * 5


def test_command_info_container_lists_served_subcommands(call):
    (entry,) = call("COMMAND", "INFO", "config")
    assert entry[:6] == [b"config", -2, [], 0, 0, 0]
    assert entry[6] == ["@slow"]
    assert sorted(sub[0] for sub in entry[9]) == [b"config|get", b"config|help", b"config|resetstat",
                                                  b"config|rewrite", b"config|set"]
    set_entry = next(sub for sub in entry[9] if sub[0] == b"config|set")
    assert list(set_entry[7]) == [b"request_policy:all_nodes", b"response_policy:all_succeeded"]
    assert isinstance(set_entry[7], RSet)


def test_command_info_tips_are_bulk_strings_in_a_set(call):
    (entry,) = call("COMMAND", "INFO", "slowlog|get")
    assert wire(entry[7], 3) == (b"~2\r\n$24\r\nrequest_policy:all_nodes\r\n$23\r\nnondeterministic_output\r\n")


def test_command_without_arguments_is_every_command_info(call):
    everything = call("COMMAND")
    assert len(everything) == call("COMMAND", "COUNT") == len(COMMANDS)
    assert {e[0] for e in everything} == {name for name in COMMANDS}
    assert call("COMMAND", "INFO") == everything


def test_command_docs_get_is_redis_byte_for_byte(call):
    assert wire(call("COMMAND", "DOCS", "get"), 3) == GET_DOCS_RESP3


def test_command_docs_history_and_flags_are_sets(call):
    docs = call("COMMAND", "DOCS", "set")[b"set"]
    assert isinstance(docs[b"history"], RSet)
    assert docs[b"history"][0] == [b"2.6.12", b"Added the `EX`, `PX`, `NX` and `XX` options."]
    condition = docs[b"arguments"][2]
    assert condition[b"name"] == b"condition"
    assert wire(condition[b"flags"], 3) == b"~1\r\n+optional\r\n"
    assert list(docs) == [b"summary", b"since", b"group", b"complexity", b"history", b"arguments"]


def test_command_docs_deprecated_command_has_doc_flags(call):
    docs = call("COMMAND", "DOCS", "getset")[b"getset"]
    assert wire(docs[b"doc_flags"], 3) == b"~1\r\n+deprecated\r\n"
    assert docs[b"replaced_by"] == b"`SET` with the `!GET` argument"


def test_command_docs_container_nests_subcommands(call):
    docs = call("COMMAND", "DOCS", "config")[b"config"]
    assert list(docs)[:4] == [b"summary", b"since", b"group", b"complexity"]
    assert docs[b"summary"] == b"A container for server configuration commands"
    assert set(docs[b"subcommands"]) == {b"config|get", b"config|set", b"config|resetstat", b"config|rewrite",
                                         b"config|help"}
    assert docs[b"subcommands"][b"config|get"][b"summary"] == b"Get the values of configuration parameters"


def test_command_docs_skips_unknown_names(call):
    assert call("COMMAND", "DOCS", "nosuch") == {}
    assert list(call("COMMAND", "DOCS", "nosuch", "GET", "config|get")) == [b"get", b"config|get"]


def test_command_docs_without_arguments_covers_every_command(call):
    assert set(call("COMMAND", "DOCS")) == set(COMMANDS)


def test_command_list(call):
    names = call("COMMAND", "LIST")
    assert b"get" in names and b"config|get" in names and b"config" in names
    assert names.index(b"config") < names.index(b"config|get")
    assert len(names) == len(COMMANDS) + sum(len(s.subcommands) for s in COMMANDS.values())


def test_command_list_filters(call):
    assert sorted(call("COMMAND", "LIST", "FILTERBY", "PATTERN", "conf*")) == [
        b"config", b"config|get", b"config|help", b"config|resetstat", b"config|rewrite", b"config|set"]
    assert call("COMMAND", "LIST", "filterby", "pattern", "CONFIG|G*") == [b"config|get"]
    admin_cmds = call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "ADMIN")
    assert b"config|set" in admin_cmds and b"config" not in admin_cmds and b"get" not in admin_cmds
    assert call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "@admin") == []
    assert call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch") == []
    assert call("COMMAND", "LIST", "FILTERBY", "MODULE", "foo") == []


@pytest.mark.parametrize("args", [
    ["FILTERBY"], ["FILTERBY", "PATTERN"], ["FILTERBY", "FOO", "x"], ["x"], ["FILTERBY", "PATTERN", "a", "b"],
    ["FILTERBY", "PATTERN", "a", "FILTERBY"],
])
def test_command_list_syntax_errors(call, args):
    assert call("COMMAND", "LIST", *args) == err("ERR syntax error")


@pytest.mark.parametrize("args, expected", [
    (["set", "a", "b"], [b"a"]),
    (["mset", "a", "b", "c"], [b"a", b"c"]),
    (["mget", "a", "b", "c"], [b"a", b"b", b"c"]),
    (["COPY", "a", "b"], [b"a", b"b"]),
])
def test_command_getkeys(call, args, expected):
    assert call("COMMAND", "GETKEYS", *args) == expected


@pytest.mark.parametrize("args, expected", [
    (["set", "k", "v"], b"*1\r\n*2\r\n$1\r\nk\r\n~2\r\n+OW\r\n+update\r\n"),
    (["set", "k", "v", "ex", "5", "get"], b"*1\r\n*2\r\n$1\r\nk\r\n~3\r\n+RW\r\n+access\r\n+update\r\n"),
    (["mset", "a", "b", "c", "d"],
     b"*2\r\n*2\r\n$1\r\na\r\n~2\r\n+OW\r\n+update\r\n*2\r\n$1\r\nc\r\n~2\r\n+OW\r\n+update\r\n"),
    (["del", "a", "b"], b"*2\r\n*2\r\n$1\r\na\r\n~2\r\n+RM\r\n+delete\r\n*2\r\n$1\r\nb\r\n~2\r\n+RM\r\n+delete\r\n"),
    (["rename", "a", "b"],
     b"*2\r\n*2\r\n$1\r\na\r\n~3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n~2\r\n+OW\r\n+update\r\n"),
    (["getex", "k", "ex", "5"], b"*1\r\n*2\r\n$1\r\nk\r\n~3\r\n+RW\r\n+access\r\n+update\r\n"),
    (["msetnx", "a", "1", "b", "2"],
     b"*2\r\n*2\r\n$1\r\na\r\n~2\r\n+OW\r\n+insert\r\n*2\r\n$1\r\nb\r\n~2\r\n+OW\r\n+insert\r\n"),
    (["expire", "k", "5"], b"*1\r\n*2\r\n$1\r\nk\r\n~2\r\n+RW\r\n+update\r\n"),
    (["object", "encoding", "k"], b"*1\r\n*2\r\n$1\r\nk\r\n~1\r\n+RO\r\n"),
])
def test_command_getkeysandflags(call, args, expected):
    assert wire(call("COMMAND", "GETKEYSANDFLAGS", *args), 3) == expected


@pytest.mark.parametrize("args, message", [
    (["nosuch", "a"], "ERR Invalid command specified"),
    (["config", "nosuch"], "ERR Invalid command specified"),
    (["config", "get", "x"], "ERR The command has no key arguments"),
    (["ping", "x"], "ERR The command has no key arguments"),
    (["object", "help"], "ERR The command has no key arguments"),
    (["client", "list"], "ERR The command has no key arguments"),
    (["get", "a", "b"], "ERR Invalid number of arguments specified for command"),
    (["mset", "a"], "ERR Invalid number of arguments specified for command"),
])
def test_command_getkeys_errors(call, args, message):
    assert call("COMMAND", "GETKEYS", *args) == err(message)
    assert call("COMMAND", "GETKEYSANDFLAGS", *args) == err(message)


def test_command_getkeys_arity(call):
    assert call("COMMAND", "GETKEYS", "get") == err("ERR wrong number of arguments for 'command|getkeys' command")


def _keys(name: str, *args: str) -> list:
    """Key finding for any Redis command, served here or not, from its own metadata."""
    spec = CommandSpec(name, None, redis_meta(name))
    argv = [a.encode() for a in (name, *args)]
    return [(argv[i], list(flags)) for i, flags in admin.command_keys(spec, argv)]


@pytest.mark.parametrize("cmd, expected", [
    # numkeys commands: the spec when it fits, else genericGetKeys (atoi, no flags, store key last)
    (["zunionstore", "d", "2", "a", "b"], [(b"d", ["OW", "update"]), (b"a", ["RO", "access"]),
                                           (b"b", ["RO", "access"])]),
    (["zunionstore", "d", "2a", "a", "b"], [(b"a", []), (b"b", []), (b"d", [])]),
    (["zunionstore", "d", "3", "a", "b"], []),
    (["zunionstore", "d", "0", "a"], []),
    (["lmpop", "2", "a", "b", "left"], [(b"a", ["RW", "access", "delete"]), (b"b", ["RW", "access", "delete"])]),
    (["lmpop", "3", "a", "left"], []),
    (["blmpop", "0", "2", "a", "b", "left"], [(b"a", ["RW", "access", "delete"]), (b"b", ["RW", "access", "delete"])]),
    (["eval", "s", "1", "a", "b"], [(b"a", ["RW", "access", "update"])]),
    (["eval", "s", "5", "a", "b"], []),
    (["sintercard", "2", "a", "b"], [(b"a", ["RO", "access"]), (b"b", ["RO", "access"])]),
    # SORT's STORE is found by sortGetKeys: the last one wins, LIMIT/GET/BY arguments are skipped
    (["sort", "k", "store", "d", "by", "x", "store", "e"], [(b"k", ["RO", "access"]), (b"e", ["OW", "update"])]),
    (["sort", "k", "limit", "0", "store", "d"], [(b"k", ["RO", "access"])]),
    # BITFIELD: read-only unless SET/INCRBY or a syntax error
    (["bitfield", "k", "get", "u8", "0"], [(b"k", ["RO", "access"])]),
    (["bitfield", "k", "get", "u8", "0", "set", "u8", "0", "1"], [(b"k", ["RW", "access", "update"])]),
    (["bitfield", "k", "foo"], [(b"k", ["RW", "access", "update"])]),
    (["zrangestore", "d", "s", "0", "1"], [(b"d", ["OW", "update"]), (b"s", ["RO", "access"])]),
])
def test_key_finding_matches_redis(cmd, expected):
    assert _keys(*cmd) == expected


def test_command_help(call):
    lines = call("COMMAND", "HELP")
    assert lines[0] == "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[1:3] == ["(no subcommand)", "    Return details about all Redis commands."]
    assert lines[-4:] == ["GETKEYSANDFLAGS <full-command>",
                          "    Return the keys and the access flags from a full Redis command.",
                          "HELP", "    Prints this help."]
    assert len(lines) == 21


def test_command_unknown_subcommand(call):
    assert call("COMMAND", "FOO") == err("ERR unknown subcommand 'FOO'. Try COMMAND HELP.")
    assert call("COMMAND", "COUNT", "x") == err("ERR wrong number of arguments for 'command|count' command")


# == TIME ==========================================================================================
def test_time_follows_the_server_clock(call, clock):
    clock.ms = 1_700_000_000_123
    assert call("TIME") == [b"1700000000", b"123000"]
    assert call("TIME", "x") == err("ERR wrong number of arguments for 'time' command")


# == SLOWLOG =======================================================================================
def test_slowlog_records_entries_newest_first(call, ctx, server):
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    ctx.name = b"me"
    call("SET", "k", "v")
    call("GET", "k")
    entries = call("SLOWLOG", "GET")
    assert [e[3] for e in entries] == [[b"GET", b"k"], [b"SET", b"k", b"v"],
                                       [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]]
    newest = entries[0]
    assert newest[0] == entries[1][0] + 1
    assert abs(newest[1] - time.time()) < 5
    assert isinstance(newest[2], int) and newest[2] >= 0
    assert newest[4:] == [b"127.0.0.1:50000", b"me"]


def test_slowlog_get_count(call):
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    for i in range(15):
        call("ECHO", str(i))
    assert len(call("SLOWLOG", "GET")) == 10
    assert call("SLOWLOG", "GET", "0") == []
    assert [e[3] for e in call("SLOWLOG", "GET", "2")] == [[b"SLOWLOG", b"GET", b"0"], [b"SLOWLOG", b"GET"]]
    assert len(call("SLOWLOG", "GET", "-1")) == 19
    assert len(call("SLOWLOG", "GET", "9223372036854775807")) == 20


@pytest.mark.parametrize("count", ["-2", "x", "99999999999999999999", "1.5", ""])
def test_slowlog_get_bad_count(call, count):
    assert call("SLOWLOG", "GET", count) == err("ERR count should be greater than or equal to -1")


def test_slowlog_get_too_many_arguments(call):
    assert call("SLOWLOG", "GET", "1", "2") == err(
        "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.")


def test_slowlog_len_and_reset(call, server):
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    call("PING")
    assert call("SLOWLOG", "LEN") == 2
    last_id = server.slowlog[0].id
    assert call("SLOWLOG", "RESET") == "OK"
    entries = call("SLOWLOG", "GET")
    assert [e[3] for e in entries] == [[b"SLOWLOG", b"RESET"]]     # logged after it ran
    assert entries[0][0] == last_id + 1                             # ids keep counting
    assert call("SLOWLOG", "LEN", "x") == err("ERR wrong number of arguments for 'slowlog|len' command")


def test_slowlog_respects_threshold_and_max_len(call):
    call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
    call("PING")
    assert call("SLOWLOG", "LEN") == 0
    call("CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "3")
    for _ in range(5):
        call("PING")
    assert call("SLOWLOG", "LEN") == 3


def test_slowlog_redacts_passwords(call):
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    call("AUTH", "user", "secret")
    call("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n")
    call("AUTH", "a", "b", "c")
    entries = call("SLOWLOG", "GET", "3")
    assert [e[3] for e in entries] == [
        [b"AUTH", b"a", b"b", b"c"],                                   # syntax error before redaction
        [b"HELLO", b"3", b"AUTH", b"(redacted)", b"(redacted)", b"SETNAME", b"n"],
        [b"AUTH", b"(redacted)", b"(redacted)"],
    ]


def test_slowlog_truncates_long_commands(call):
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    call("MGET", *[f"k{i}" for i in range(40)])
    call("ECHO", "x" * 200)
    echo, mget = call("SLOWLOG", "GET", "2")
    assert echo[3] == [b"ECHO", b"x" * 128 + b"... (72 more bytes)"]
    assert len(mget[3]) == 32
    assert mget[3][30] == b"k29"
    assert mget[3][31] == b"... (10 more arguments)"


def test_slowlog_help(call):
    assert call("SLOWLOG", "HELP") == [
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ]


# == LATENCY =======================================================================================
@pytest.fixture
def frozen_now(server, monkeypatch):
    """Pin the server's wall clock (seconds) used by the latency monitor."""
    now = {"t": 1_795_431_190}
    monkeypatch.setattr(server, "now_s", lambda: now["t"])
    return now


def test_latency_latest_and_history(call, server, frozen_now):
    server.latency_add("command", 200)
    frozen_now["t"] += 1
    server.latency_add("command", 100)
    server.latency_add("command", 50)           # same second: keeps the larger sample
    assert call("LATENCY", "LATEST") == [[b"command", 1_795_431_191, 100, 200]]
    assert call("LATENCY", "HISTORY", "command") == [[1_795_431_190, 200], [1_795_431_191, 100]]
    assert call("LATENCY", "HISTORY", "nosuch") == []
    assert call("LATENCY", "HISTORY", "COMMAND") == []          # event names are case-sensitive here


def test_latency_history_keeps_160_samples(call, server, frozen_now):
    for i in range(200):
        frozen_now["t"] += 1
        server.latency_add("command", i)
    history = call("LATENCY", "HISTORY", "command")
    assert len(history) == 160
    assert history[0][1] == 40 and history[-1][1] == 199


def test_latency_reset(call, server, frozen_now):
    server.latency_add("command", 10)
    server.latency_add("fast-command", 10)
    server.latency_add("expire-cycle", 10)
    assert call("LATENCY", "RESET", "nosuch") == 0
    assert call("LATENCY", "RESET", "COMMAND", "nosuch", "command") == 1
    assert [e[0] for e in call("LATENCY", "LATEST")] == [b"fast-command", b"expire-cycle"]
    assert call("LATENCY", "RESET") == 2
    assert call("LATENCY", "LATEST") == []
    assert call("LATENCY", "RESET") == 0


def test_latency_graph(call, server, frozen_now):
    server.latency_add("command", 200)
    frozen_now["t"] += 1
    server.latency_add("command", 100)
    frozen_now["t"] += 4
    graph = call("LATENCY", "GRAPH", "command")
    assert graph == Verbatim(b"command - high 200 ms, low 100 ms (all time high 200 ms)\n" + b"-" * 80 +
                             b"\n# \n| \n| \n|_\n  \n54\nss\n")
    assert wire(graph, 2).startswith(b"$159\r\ncommand - high")
    assert wire(graph, 3).startswith(b"=163\r\ntxt:command - high")


def test_latency_graph_labels_and_levels(call, server, frozen_now):
    start = frozen_now["t"]
    for ms in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120):
        server.latency_add("fast-command", ms)
        frozen_now["t"] += 70
    frozen_now["t"] = start + 4000
    text = call("LATENCY", "GRAPH", "fast-command").data.decode()
    lines = text.split("\n")
    assert lines[0] == "fast-command - high 120 ms, low 10 ms (all time high 120 ms)"
    assert lines[2:6] == ["         _o#", "      _o#|||", "   _o#||||||", "_o#|||||||||"]
    assert lines[6] == " " * 12
    assert lines[7:10] == ["111111555555", "hhhhhh987653", "      mmmmmm"]    # time ago, written vertically
    assert lines[10:] == [""]


def test_latency_graph_no_samples(call):
    assert call("LATENCY", "GRAPH", "nosuch") == err("ERR No samples available for event 'nosuch'")


def test_latency_doctor_disabled(call):
    assert call("LATENCY", "DOCTOR") == Verbatim(
        b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use "
        b"\"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep "
        b"space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n")


def test_latency_doctor_no_spikes(call, monkeypatch):
    monkeypatch.setattr(admin, "_anon_huge_pages", lambda: 0)
    call("CONFIG", "SET", "latency-monitor-threshold", "50")
    assert call("LATENCY", "DOCTOR") == Verbatim(
        b"Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest "
        b"bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n")


def test_latency_doctor_report(call, server, frozen_now, monkeypatch):
    monkeypatch.setattr(admin, "_anon_huge_pages", lambda: 0)
    call("CONFIG", "SET", "latency-monitor-threshold", "50")
    frozen_now["t"] -= 8
    server.latency_add("command", 200)
    frozen_now["t"] += 1
    server.latency_add("command", 100)
    frozen_now["t"] += 7
    assert call("LATENCY", "DOCTOR") == Verbatim(
        b"Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you "
        b"Dave?\n\n1. command: 2 latency spikes (average 150ms, mean deviation 50ms, period 4.00 sec). Worst all "
        b"time event 200ms.\n\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the "
        b"commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog "
        b"for more information.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a "
        b"blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to "
        b"fragment those objects into multiple smaller objects.\n")


def test_latency_doctor_slowlog_advice(call, server, frozen_now, monkeypatch):
    monkeypatch.setattr(admin, "_anon_huge_pages", lambda: 0)
    call("CONFIG", "SET", "latency-monitor-threshold", "5", "slowlog-log-slower-than", "-1")
    server.latency_add("command", 7)
    server.latency_add("fast-command", 6)
    server.latency_add("expire-cycle", 6)
    text = call("LATENCY", "DOCTOR").data.decode()
    assert "1. command: 1 latency spikes (average 7ms, mean deviation 0ms, period 1.00 sec)." in text
    assert "2. fast-command: 1 latency spikes" in text
    assert ("Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than "
            "5000'.") in text
    assert "  4) Check with 'redis-cli --intrinsic-latency 100'" in text
    assert "'CONFIG SET hz 100'" in text
    call("CONFIG", "SET", "slowlog-log-slower-than", "20000")
    assert "Please use 'CONFIG SET slowlog-log-slower-than 5000'.\n" in call("LATENCY", "DOCTOR").data.decode()


def test_latency_histogram(call, server):
    from cachesrv.commands.info import record_latency
    get = COMMANDS[b"get"]
    for ns in (900, 1_500, 3_000, 40_000, 2_000_000, 600_000_000):
        record_latency(server, get, ns)
    record_latency(server, COMMANDS[b"config"].subcommands[b"set"], 9_000)
    hist = call("LATENCY", "HISTOGRAM", "get")
    assert hist == {b"get": {b"calls": 6, b"histogram_usec": {1: 1, 2: 2, 4: 3, 66: 4, 2113: 5}}}
    assert wire(hist, 3) == (b"%1\r\n$3\r\nget\r\n%2\r\n$5\r\ncalls\r\n:6\r\n$14\r\nhistogram_usec\r\n%5\r\n:1\r\n"
                             b":1\r\n:2\r\n:2\r\n:4\r\n:3\r\n:66\r\n:4\r\n:2113\r\n:5\r\n")
    assert call("LATENCY", "HISTOGRAM", "nosuch", "ping") == {}
    assert call("LATENCY", "HISTOGRAM", "config") == {b"config|set": {b"calls": 1, b"histogram_usec": {16: 1}}}
    everything = call("LATENCY", "HISTOGRAM")
    # dispatch also records the LATENCY HISTOGRAM calls themselves
    assert set(everything) - {b"latency|histogram"} == {b"get", b"config|set"}


def test_latency_histogram_repeated_names(call, server, ctx):
    from cachesrv.commands.info import record_latency
    record_latency(server, COMMANDS[b"config"].subcommands[b"set"], 9_000)
    one = b"$10\r\nconfig|set\r\n%2\r\n$5\r\ncalls\r\n:1\r\n$14\r\nhistogram_usec\r\n%1\r\n:16\r\n:1\r\n"
    ctx.proto = 3
    reply = call("LATENCY", "HISTOGRAM", "config|set", "config")
    assert isinstance(reply, Raw) and wire(reply, 3) == b"%2\r\n" + one + one
    ctx.proto = 2
    reply = call("LATENCY", "HISTOGRAM", "config|set", "config")
    assert wire(reply, 2).startswith(b"*4\r\n$10\r\nconfig|set\r\n*4\r\n")


def test_latency_help(call):
    lines = call("LATENCY", "HELP")
    assert lines[0] == "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[12:17] == [
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified "
        "command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP", "    Prints this help."]


def test_latency_arity_and_unknown(call):
    assert call("LATENCY", "LATEST", "x") == err("ERR wrong number of arguments for 'latency|latest' command")
    assert call("LATENCY", "FOO") == err("ERR unknown subcommand 'FOO'. Try LATENCY HELP.")


def test_slow_commands_feed_the_latency_monitor(call):
    call("CONFIG", "SET", "latency-monitor-threshold", "1")
    call("DEBUG", "SLEEP", "0.01")
    assert call("LATENCY", "LATEST")[0][0] == b"command"


# == DEBUG =========================================================================================
DEBUG_NOT_ALLOWED = ("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you "
                     "can run it from a local connection, otherwise you need to set this option in the "
                     "configuration file, and then restart the server.")


def test_debug_gate(make_server):
    _, s = make_server("--enable-debug-command", "no")
    assert run(s, "DEBUG", "HELP") == err(DEBUG_NOT_ALLOWED)
    assert run(s, "DEBUG", "FOO") == err(DEBUG_NOT_ALLOWED)
    assert run(s, "DEBUG") == err("ERR wrong number of arguments for 'debug' command")
    _, local = make_server("--enable-debug-command", "local", addr="127.0.0.1:4000")
    assert run(local, "DEBUG", "SLEEP", "0") == "OK"
    _, remote = make_server("--enable-debug-command", "local", addr="10.1.2.3:4000")
    assert run(remote, "DEBUG", "SLEEP", "0") == err(DEBUG_NOT_ALLOWED)
    _, v6 = make_server("--enable-debug-command", "local", addr="[::1]:4000")
    assert run(v6, "DEBUG", "SLEEP", "0") == "OK"


def test_debug_default_is_not_allowed(make_server):
    _, s = make_server()
    assert run(s, "DEBUG", "SLEEP", "0") == err(DEBUG_NOT_ALLOWED)


@pytest.mark.parametrize("args, name", [
    (["FOO"], "FOO"), (["FOO", "bar"], "FOO"), (["SLEEP"], "SLEEP"), (["sleep", "1", "2"], "sleep"),
    (["SET-ACTIVE-EXPIRE"], "SET-ACTIVE-EXPIRE"), (["OBJECT"], "OBJECT"), (["HELP", "x"], "HELP"),
    (["ERROR"], "ERROR"), (["POPULATE", "1", "a", "b", "c"], "POPULATE"), (["RELOAD"], "RELOAD"),
])
def test_debug_unknown_or_wrong_arguments(call, args, name):
    assert call("DEBUG", *args) == err(
        f"ERR unknown subcommand or wrong number of arguments for '{name}'. Try DEBUG HELP.")


def test_debug_help(call):
    lines = call("debug", "help")
    assert lines[0] == "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert "SLEEP <seconds>" in lines and "    Stop the server for <seconds>. Decimals allowed." in lines
    assert lines[-2:] == ["HELP", "    Prints this help."]


@pytest.mark.parametrize("arg, slept", [("0.05", True), ("5e-2", True), ("0.05xyz", True), ("x", False),
                                        ("-1", False), ("inf", False), ("nan", False), ("0", False)])
def test_debug_sleep_parses_like_strtod(call, monkeypatch, arg, slept):
    calls = []
    monkeypatch.setattr(admin.time, "sleep", calls.append)
    assert call("DEBUG", "SLEEP", arg) == "OK"
    assert calls == ([0.05] if slept else [])


def test_debug_set_active_expire(call, server):
    assert call("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
    assert server.active_expire_enabled is False
    assert call("DEBUG", "SET-ACTIVE-EXPIRE", "1") == "OK"
    assert server.active_expire_enabled is True
    call("DEBUG", "SET-ACTIVE-EXPIRE", "x")                  # atoi: 0
    assert server.active_expire_enabled is False
    call("DEBUG", "SET-ACTIVE-EXPIRE", "2")
    assert server.active_expire_enabled is True


def test_debug_object(call, clock):
    assert call("DEBUG", "OBJECT", "nokey") == err("ERR no such key")
    call("SET", "s", "hello")
    clock.advance(3000)
    line = call("DEBUG", "OBJECT", "s")
    fields = dict(f.split(":", 1) for f in line.split(" ")[2:])
    assert line.startswith("Value at:0x")
    assert fields["refcount"] == "1" and fields["encoding"] == "embstr"
    assert fields["serializedlength"] == "6"
    assert fields["lru_seconds_idle"] == "3"
    assert int(fields["lru"]) == (clock.now_ms() // 1000 - 3) & 0xFFFFFF
    assert list(fields) == ["refcount", "encoding", "serializedlength", "lru", "lru_seconds_idle"]


@pytest.mark.parametrize("value, encoding, refcount, length", [
    ("5", "int", "2147483647", 2), ("10000", "int", "1", 3), ("-5", "int", "1", 2), ("", "embstr", "1", 1),
    ("123456789012", "int", "1", 13), ("a" * 50, "raw", "1", 12),
    ("abcdefghijklmnopqrstuvwxyz0123456789" * 2, "raw", "1", 49),
])
def test_debug_object_strings_match_redis(call, value, encoding, refcount, length):
    call("SET", "k", value)
    line = call("DEBUG", "OBJECT", "k")
    assert f" refcount:{refcount} encoding:{encoding} serializedlength:{length} " in line


def test_rdb_string_length():
    assert admin.rdb_string_length(b"a" * 50, True) == 12
    assert admin.rdb_string_length(b"a" * 50, False) == 51
    assert admin.rdb_string_length(b"x" * 100, True) < 20
    assert admin.rdb_string_length(bytes(range(100)), True) == 102     # incompressible: stored as is
    assert admin.rdb_string_length(b"2147483647", True) == 5
    assert admin.rdb_string_length(b"2147483648", True) == 11
    assert admin.rdb_string_length(b"y" * 70000, False) == 70005


def test_debug_error_and_log(call, server):
    assert call("DEBUG", "ERROR", "hello") == Raw(b"-hello\r\n")
    assert call("DEBUG", "ERROR", "WRONGTYPE a\r\nb") == Raw(b"-WRONGTYPE a  b\r\n")
    errors_before = server.total_error_replies
    call("DEBUG", "ERROR", "x")
    assert server.total_error_replies == errors_before   # a raw reply, as Redis's addReplySds
    assert call("DEBUG", "LOG", "hello") == "OK"


def test_debug_populate(call):
    assert call("DEBUG", "POPULATE", "3") == "OK"
    assert [call("GET", f"key:{i}") for i in range(3)] == [b"value:0", b"value:1", b"value:2"]
    call("SET", "p:1", "mine")
    assert call("DEBUG", "POPULATE", "2", "p", "0") == "OK"
    assert call("GET", "p:0") == b"value:0" and call("GET", "p:1") == b"mine"
    call("DEBUG", "POPULATE", "1", "q", "20")
    assert call("GET", "q:0") == b"value:0" + b"\0" * 13
    call("DEBUG", "POPULATE", "1", "r", "3")
    assert call("GET", "r:0") == b"val"
    assert call("DEBUG", "POPULATE", "0") == "OK"
    assert call("DBSIZE") == 7


@pytest.mark.parametrize("args", [["-1"], ["x"], ["2", "p", "-1"], ["2", "p", "x"]])
def test_debug_populate_errors(call, args):
    assert call("DEBUG", "POPULATE", *args) == err("ERR value is out of range, must be positive")


@pytest.mark.parametrize("kind, resp2, resp3", [
    ("string", b"$11\r\nHello World\r\n", b"$11\r\nHello World\r\n"),
    ("integer", b":12345\r\n", b":12345\r\n"),
    ("double", b"$5\r\n3.141\r\n", b",3.141\r\n"),
    ("bignum", b"$37\r\n1234567999999999999999999999999999999\r\n", b"(1234567999999999999999999999999999999\r\n"),
    ("null", b"$-1\r\n", b"_\r\n"),
    ("array", b"*3\r\n:0\r\n:1\r\n:2\r\n", b"*3\r\n:0\r\n:1\r\n:2\r\n"),
    ("set", b"*3\r\n:0\r\n:1\r\n:2\r\n", b"~3\r\n:0\r\n:1\r\n:2\r\n"),
    ("map", b"*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n", b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"),
    ("attrib", b"$39\r\nSome real reply following the attribute\r\n",
     b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the "
     b"attribute\r\n"),
    ("push", b"-ERR RESP2 is not supported by this command\r\n",
     b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n$40\r\nSome real reply following the push reply\r\n"),
    ("verbatim", b"$25\r\nThis is a verbatim\nstring\r\n", b"=29\r\ntxt:This is a verbatim\nstring\r\n"),
    ("true", b":1\r\n", b"#t\r\n"),
    ("false", b":0\r\n", b"#f\r\n"),
    ("foo", b"-ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|"
            b"array|set|map|attrib|push|verbatim|true|false\r\n", None),
])
def test_debug_protocol(call, ctx, kind, resp2, resp3):
    assert wire(call("DEBUG", "PROTOCOL", kind), 2) == resp2
    ctx.proto = 3
    assert wire(call("DEBUG", "PROTOCOL", kind), 3) == (resp3 or resp2)


# == MONITOR =======================================================================================
def test_monitor_turns_the_client_into_a_monitor(call, ctx, server):
    assert call("MONITOR") == "OK"
    assert ctx.monitor and ctx in server.monitors and ctx.gate
    assert "O" in ctx.flags_text()


def test_second_monitor_gets_no_reply(call, ctx):
    call("MONITOR")
    call("MONITOR")
    assert (ctx.reply_mode, ctx.skip_replies) == ("skip", 1)


def test_monitor_inside_exec_is_refused(call, ctx):
    ctx.in_exec = True
    assert call("MONITOR") == err("ERR MONITOR isn't allowed for DENY BLOCKING client")
    assert not ctx.monitor


def test_reset_ends_monitoring(call, ctx, server):
    call("MONITOR")
    call("RESET")
    assert not ctx.monitor and ctx not in server.monitors


@pytest.fixture
def feed(server, ctx):
    """Register a fake monitor and return the lines it receives (timestamps cut off)."""
    from cachesrv.session import Session
    mon = Session(server, addr="127.0.0.1:1")
    lines: list[bytes] = []
    mon.push = lambda frame: lines.append(frame) or True
    server.monitors.add(mon)

    def got() -> list[bytes]:
        out = [l.split(b" ", 1)[1] for l in lines]
        lines.clear()
        return out

    return got


def test_monitor_feed_format(call, feed):
    call("SET", "k", "v")
    call("SELECT", "3")
    call("SET", "a b", b'x"y\\z\n\x01\xff')
    call("NOSUCH")
    call("GET")
    assert feed() == [
        b'[0 127.0.0.1:50000] "SET" "k" "v"\r\n',
        b'[3 127.0.0.1:50000] "SELECT" "3"\r\n',
        b'[3 127.0.0.1:50000] "SET" "a b" "x\\"y\\\\z\\n\\x01\\xff"\r\n',
    ]


def test_monitor_feed_timestamp(server, ctx):
    from cachesrv.session import Session
    mon = Session(server, addr="127.0.0.1:1")
    frames = []
    mon.push = frames.append
    server.monitors.add(mon)
    before = time.time()
    server.feed_monitors(ctx, [b"PING"])
    stamp = frames[0].split(b" ", 1)[0]
    assert stamp[:1] == b"+" and len(stamp.split(b".")[1]) == 6
    assert before - 1 < float(stamp[1:]) < time.time() + 1


def test_monitor_feed_skips_admin_commands(call, feed):
    call("CONFIG", "GET", "port")
    call("SLOWLOG", "LEN")
    call("DEBUG", "SLEEP", "0")
    call("SHUTDOWN", "ABORT")
    call("LATENCY", "LATEST")
    call("CLUSTER", "INFO")
    call("COMMAND", "COUNT")
    call("TIME")
    call("WAIT", "0", "0")
    assert feed() == [b'[0 127.0.0.1:50000] "CLUSTER" "INFO"\r\n', b'[0 127.0.0.1:50000] "COMMAND" "COUNT"\r\n',
                      b'[0 127.0.0.1:50000] "TIME"\r\n', b'[0 127.0.0.1:50000] "WAIT" "0" "0"\r\n']


@pytest.mark.parametrize("argv, shown", [
    (["AUTH", "pw"], '"AUTH" "(redacted)"'),
    (["AUTH", "user", "pw"], '"AUTH" "(redacted)" "(redacted)"'),
    (["AUTH", "a", "b", "c"], '"AUTH" "a" "b" "c"'),
    (["HELLO", "2", "AUTH", "default", "pw"], '"HELLO" "2" "AUTH" "(redacted)" "(redacted)"'),
    (["HELLO", "3", "SETNAME", "x", "AUTH", "default", "pw"],
     '"HELLO" "3" "SETNAME" "x" "AUTH" "(redacted)" "(redacted)"'),
    (["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "n"], '"HELLO" "2" "AUTH" "(redacted)" "(redacted)" '
                                                              '"SETNAME" "n"'),
    (["HELLO", "3", "AUTH", "u", "p", "FOO", "AUTH", "x", "y"],
     '"HELLO" "3" "AUTH" "(redacted)" "(redacted)" "FOO" "AUTH" "x" "y"'),
    (["HELLO", "4", "AUTH", "u", "p"], '"HELLO" "4" "AUTH" "u" "p"'),
    (["HELLO", "x", "AUTH", "u", "p"], '"HELLO" "x" "AUTH" "u" "p"'),
    (["HELLO", "3", "AUTH", "u"], '"HELLO" "3" "AUTH" "u"'),
    (["MIGRATE", "h", "1", "k", "0", "0", "AUTH", "pw"], '"MIGRATE" "h" "1" "k" "0" "0" "AUTH" "(redacted)"'),
    (["MIGRATE", "h", "1", "", "0", "0", "COPY", "AUTH2", "u", "pw", "KEYS", "a"],
     '"MIGRATE" "h" "1" "" "0" "0" "COPY" "AUTH2" "(redacted)" "(redacted)" "KEYS" "a"'),
])
def test_monitor_feed_redacts_passwords(server, ctx, argv, shown):
    from cachesrv.session import Session
    mon = Session(server, addr="127.0.0.1:1")
    frames = []
    mon.push = frames.append
    server.monitors.add(mon)
    server.feed_monitors(ctx, [a.encode() for a in argv])
    assert frames[0].split(b" ", 3)[3] == shown.encode() + b"\r\n"


# == WAIT ==========================================================================================
def test_wait_without_replicas(call, clock):
    assert call("WAIT", "0", "0") == 0
    assert call("WAIT", "-1", "0") == 0
    block = call("WAIT", "1", "100")
    assert isinstance(block, Block)
    assert block.deadline_ms == clock.now_ms() + 100
    assert block.on_timeout() == 0
    forever = call("WAIT", "2", "0")
    assert isinstance(forever, Block) and forever.deadline_ms is None


def test_wait_does_not_block_inside_exec(call, ctx):
    ctx.in_exec = True
    assert call("WAIT", "1", "0") == 0


@pytest.mark.parametrize("args, message", [
    (["x", "0"], "ERR value is not an integer or out of range"),
    (["99999999999999999999", "0"], "ERR value is not an integer or out of range"),
    (["0", "x"], "ERR timeout is not an integer or out of range"),
    (["0", "1.5"], "ERR timeout is not an integer or out of range"),
    (["0", "-1"], "ERR timeout is negative"),
    (["x", "-1"], "ERR value is not an integer or out of range"),
])
def test_wait_errors(call, args, message):
    assert call("WAIT", *args) == err(message)


def test_wait_on_a_replica(call, server):
    server.ks.role_replica = True
    assert call("WAIT", "0", "0") == err(
        "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is "
        "configured to be writable (which is not the default) writes to replicas are just local and are not "
        "propagated.")


# == SHUTDOWN ======================================================================================
@pytest.mark.parametrize("args", [["FOO"], ["ABORT", "NOSAVE"], ["NOSAVE", "SAVE"], ["NOW", "ABORT"],
                                  ["SAVE", "SAVE", "FOO"]])
def test_shutdown_syntax_errors(call, args):
    assert call("SHUTDOWN", *args) == err("ERR syntax error")


def test_shutdown_abort_without_shutdown(call):
    assert call("SHUTDOWN", "ABORT") == err("ERR No shutdown in progress.")
    assert call("SHUTDOWN", "abort", "abort") == err("ERR No shutdown in progress.")


@pytest.fixture
def shutdown_requests(server):
    requests = []
    server.on_shutdown_request = lambda: requests.append(server.shutdown_request)
    return requests


def test_shutdown_nosave_stops_without_reply(call, ctx, shutdown_requests):
    call("SHUTDOWN", "NOSAVE", "NOW")
    assert shutdown_requests == [{"save": False, "nosave": True, "now": True, "force": False}]
    assert ctx.close_requested and (ctx.reply_mode, ctx.skip_replies) == ("skip", 1)


def test_shutdown_that_must_save_fails_honestly(make_server):
    server, s = make_server("--save", "3600 1")
    requests = []
    server.on_shutdown_request = lambda: requests.append(1)
    assert run(s, "SHUTDOWN") == err("ERR Errors trying to SHUTDOWN. Check logs.")
    assert run(s, "SHUTDOWN", "NOW") == err("ERR Errors trying to SHUTDOWN. Check logs.")
    assert requests == [] and not s.close_requested
    run(s, "SHUTDOWN", "FORCE")
    assert requests == [1] and s.close_requested


def test_shutdown_save_without_save_points_fails_too(make_server):
    server, s = make_server("--save", "")
    assert run(s, "SHUTDOWN", "SAVE") == err("ERR Errors trying to SHUTDOWN. Check logs.")


def test_shutdown_without_save_points_stops(make_server):
    server, s = make_server("--save", "")
    requests = []
    server.on_shutdown_request = lambda: requests.append(1)
    run(s, "SHUTDOWN")
    assert requests == [1]


# == CLUSTER =======================================================================================
def test_cluster_keyslot(call):
    assert call("CLUSTER", "KEYSLOT", "foo") == 12182
    assert call("CLUSTER", "KEYSLOT", "{user1000}.following") == call("CLUSTER", "KEYSLOT", "user1000")
    assert call("CLUSTER", "KEYSLOT", "") == 0
    assert call("CLUSTER", "KEYSLOT", "a{}b") == call("CLUSTER", "KEYSLOT", "a{}b")


@pytest.mark.parametrize("args", [["INFO"], ["NODES"], ["HELP"], ["SLOTS"], ["MYID"], ["SHARDS"], ["RESET"],
                                  ["COUNTKEYSINSLOT", "1"], ["GETKEYSINSLOT", "1", "1"]])
def test_cluster_support_disabled(call, args):
    assert call("CLUSTER", *args) == err("ERR This instance has cluster support disabled")


def test_cluster_arity_and_unknown(call):
    assert call("CLUSTER") == err("ERR wrong number of arguments for 'cluster' command")
    assert call("CLUSTER", "KEYSLOT") == err("ERR wrong number of arguments for 'cluster|keyslot' command")
    assert call("CLUSTER", "FOO") == err("ERR unknown subcommand 'FOO'. Try CLUSTER HELP.")


# == real sockets: MONITOR, SHUTDOWN, DEBUG SLEEP ==================================================
class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader(notEnoughData=Ellipsis)

    def send(self, *args) -> None:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))

    def read(self):
        while True:
            reply = self.reader.gets()
            if reply is not Ellipsis:
                return reply
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.reader.feed(data)

    def call(self, *args):
        self.send(*args)
        return self.read()

    def closed_without_reply(self) -> bool:
        self.sock.settimeout(10)
        try:
            return self.sock.recv(100) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def live():
    p = start_cachesrv()
    yield p
    p.stop()


def test_monitor_streams_commands_over_a_socket(live):
    mon, client = Client(live.port), Client(live.port)
    try:
        assert mon.call("MONITOR") == b"OK"
        client_port = client.sock.getsockname()[1]
        assert client.call("SET", "mk", "v") == b"OK"
        assert client.call("SELECT", "2") == b"OK"
        assert client.call("CONFIG", "GET", "port") is not None     # admin: not shown
        assert client.call("AUTH", "secret") is not None
        assert client.call("ECHO", b"a\x00b") == b"a\x00b"
        lines = [mon.read().decode() for _ in range(4)]
        where = f"127.0.0.1:{client_port}"
        assert [l.split(" ", 1)[1] for l in lines] == [
            f'[0 {where}] "SET" "mk" "v"', f'[2 {where}] "SELECT" "2"', f'[2 {where}] "AUTH" "(redacted)"',
            f'[2 {where}] "ECHO" "a\\x00b"']
        sec, usec = lines[0].split(" ")[0].split(".")
        assert abs(int(sec) - time.time()) < 10 and len(usec) == 6
        mon.send("MONITOR")                      # a second MONITOR gets no reply...
        assert mon.call("PING") == b"PONG"       # ...so the next reply is PING's
        assert mon.read().decode().endswith('"PING"')     # and PING itself is fed to the monitor
    finally:
        mon.close()
        client.close()


def test_debug_sleep_blocks_the_whole_server(live):
    sleeper, other = Client(live.port), Client(live.port)
    try:
        sleeper.send("DEBUG", "SLEEP", "0.5")
        time.sleep(0.05)
        start = time.monotonic()
        assert other.call("PING") == b"PONG"
        assert time.monotonic() - start > 0.3
        assert sleeper.read() == b"OK"
    finally:
        sleeper.close()
        other.close()


def test_wait_times_out_with_zero(live):
    c = Client(live.port)
    try:
        start = time.monotonic()
        assert c.call("WAIT", "1", "150") == 0
        assert time.monotonic() - start >= 0.14
    finally:
        c.close()


def test_shutdown_over_a_socket():
    p = start_cachesrv()
    try:
        a, b = Client(p.port), Client(p.port)
        reply = a.call("SHUTDOWN", "ABORT")
        assert isinstance(reply, hiredis.ReplyError) and str(reply) == "ERR No shutdown in progress."
        a.send("SHUTDOWN")
        assert a.closed_without_reply()
        assert b.closed_without_reply()
        assert p.proc.wait(10) == 0
        log = p.log()
        assert "User requested shutdown..." in log
        assert "is now ready to exit, bye bye..." in log
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
    finally:
        p.stop()


def test_shutdown_refused_when_the_final_save_cannot_be_made():
    p = start_cachesrv("--save", "3600 1")
    try:
        c = Client(p.port)
        reply = c.call("SHUTDOWN")
        assert isinstance(reply, hiredis.ReplyError) and str(reply) == "ERR Errors trying to SHUTDOWN. Check logs."
        assert c.call("PING") == b"PONG"
        log = p.log()
        assert "Saving the final RDB snapshot before exiting." in log
        assert "Error trying to save the DB, can't exit." in log
        c.send("SHUTDOWN", "NOSAVE")
        assert c.closed_without_reply()
        assert p.proc.wait(10) == 0
    finally:
        p.stop()
