"""cachesrv.config against redis-server 7.0.15.

Every literal below (error texts, CONFIG GET output, rewritten files) was taken from Debian's
redis-server 7.0.15. When /usr/bin/redis-server is installed the same cases are also run live
against it: config files and command lines (the FATAL CONFIG FILE ERROR text, or CONFIG GET *
after start), CONFIG SET sequences (reply and CONFIG GET * after each), and CONFIG REWRITE on
the same input file.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesrv.config import (DIRECTIVES, NOTIFY_ALL, NOTIFY_KEYEVENT, NOTIFY_KEYSPACE, SHUTDOWN_NOW,
                             SHUTDOWN_SAVE, Config, ConfigError, lookup, memtoull, parse_args,
                             repr_arg, split_args, string2ll)

REDIS = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


@pytest.fixture(autouse=True)
def command_error(monkeypatch):
    """cachesrv.commands.errors.CommandError, or a stand-in while that module cannot import."""
    try:
        from cachesrv.commands.errors import CommandError
    except Exception:
        mod = types.ModuleType("cachesrv.commands.errors")

        class CommandError(Exception):
            pass

        mod.CommandError = CommandError
        monkeypatch.setitem(sys.modules, "cachesrv.commands.errors", mod)
    return CommandError


def cset(cfg, *args, **kw):
    """CONFIG SET with string arguments; returns "OK" or the error text."""
    bargs = [a.encode("utf-8", "surrogateescape") for a in args]
    try:
        cfg.config_set(list(zip(bargs[::2], bargs[1::2])), **kw)
        return "OK"
    except Exception as e:
        return str(e)


def load(text, **kw):
    cfg = Config()
    cfg.load_string(text, **kw)
    return cfg


def fatal(line_no, line, reason):
    return ("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
            f"Reading the configuration file, at line {line_no}\n>>> '{line}'\n{reason}")


# -- sdssplitargs / sdscatrepr / number parsing ---------------------------------------------------

@pytest.mark.parametrize("line,want", [
    (b"port 6379", [b"port", b"6379"]),
    (b"  a   b\t c  ", [b"a", b"b", b"c"]),
    (b'a "b c" d', [b"a", b"b c", b"d"]),
    (b'"\\x41\\x4g\\n\\"q"', [b"Ax4g\n\"q"]),
    (b"'it\\'s' x", [b"it's", b"x"]),
    (b"'a\\nb'", [b"a\\nb"]),
    (b'"" x', [b"", b"x"]),
    (b'foo"bar baz"', [b"foobar baz"]),
    (b'"\\xff\\t\\r\\a\\b\\z"', [b"\xff\t\r\x07\x08z"]),
    (b"", []),
    (b"   ", []),
    (b'"abc', None),
    (b"'abc", None),
    (b'"abc"x', None),
    (b"'abc'x", None),
    (b'"abc"\tx', [b"abc", b"x"]),
])
def test_split_args(line, want):
    assert split_args(line) == want


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=20))
def test_repr_roundtrip(value):
    assert split_args(repr_arg(value)) == [value]


def test_repr_arg():
    assert repr_arg(b'x"y z\n') == b'"x\\"y z\\n"'
    assert repr_arg(b"\x00\x7f\xff\\") == b'"\\x00\\x7f\\xff\\\\"'


@pytest.mark.parametrize("s,want", [
    ("0", 0), ("-1", -1), ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -2**63),
    ("9223372036854775808", None), ("01", None), ("+1", None), ("-0", None), ("", None), (" 1", None),
    ("1 ", None), ("1x", None),
])
def test_string2ll(s, want):
    assert string2ll(s) == want


@pytest.mark.parametrize("s,want", [
    ("0", 0), ("", 0), ("k", 0), ("1", 1), ("1b", 1), ("1B", 1), ("1k", 1000), ("1kb", 1024),
    ("1KB", 1024), ("1kB", 1024), ("2m", 2000000), ("2mb", 2 * 1024**2), ("1g", 10**9),
    ("1Gb", 1024**3), ("1t", None), ("-1", None), ("1.5", None), (" 1", None), ("+1", None),
    ("1 ", None), ("99999999999999999999", 2**64 - 1), ("17179869184gb", 0),
])
def test_memtoull(s, want):
    assert memtoull(s) == want


# -- the table ------------------------------------------------------------------------------------

def test_table_has_every_redis_directive():
    names = {d.name for d in DIRECTIVES} | {d.alias for d in DIRECTIVES if d.alias}
    assert set(REDIS_DEFAULTS) | {"port", "dir", "bind"} <= names
    for hidden in ("use-exit-on-panic", "rdb-key-save-delay", "key-load-delay", "watchdog-period",
                   "loading-process-events-interval-bytes"):
        assert hidden in names
    own = {"memcache-port", "memcache-max-item-size", "dax-port", "dax-backend", "dax-item-ttl",
           "dax-query-ttl", "dax-query-invalidation", "dax-db"}
    assert own <= names
    assert len(names) == len(REDIS_DEFAULTS) + 3 + 5 + len(own)


def test_defaults_match_redis():
    got = Config().config_get([b"*"])
    for name, want in REDIS_DEFAULTS.items():
        assert got[name] == want, name
    assert got["port"] == "6379"
    assert got["bind"] == "127.0.0.1 -::1"       # redis.conf's; Redis's built-in is "* -::*"
    assert got["dir"] == os.getcwd()
    assert {k: got[k] for k in ("memcache-port", "memcache-max-item-size", "dax-port", "dax-backend",
                                "dax-item-ttl", "dax-query-ttl", "dax-query-invalidation", "dax-db")} == {
        "memcache-port": "11211", "memcache-max-item-size": "1048576", "dax-port": "8000",
        "dax-backend": "", "dax-item-ttl": "300", "dax-query-ttl": "300",
        "dax-query-invalidation": "no", "dax-db": "0"}


def test_typed_values():
    cfg = Config()
    assert cfg["port"] == 6379 and cfg["databases"] == 16
    assert cfg["appendonly"] is False and cfg["protected-mode"] is True
    assert cfg["save"] == [(3600, 1), (300, 100), (60, 10000)]
    assert cfg["bind"] == ["127.0.0.1", "-::1"]
    assert cfg["client-output-buffer-limit"] == {
        "normal": (0, 0, 0), "slave": (268435456, 67108864, 60), "pubsub": (33554432, 8388608, 60)}
    assert cfg["maxmemory-policy"] == "noeviction"
    assert cfg["replicaof"] is None and cfg["slaveof"] is None
    assert cfg["requirepass"] == "" and cfg["logfile"] == ""
    assert cfg["notify-keyspace-events"] == 0
    assert cfg["latency-tracking-info-percentiles"] == [50.0, 99.0, 99.9]
    assert cfg["hash-max-ziplist-entries"] == cfg["hash-max-listpack-entries"] == 512
    assert cfg.get("no-such-thing") is None and cfg.get("Port") == 6379
    with pytest.raises(KeyError):
        cfg["no-such-thing"]
    assert cfg.is_sensitive("requirepass") and cfg.is_sensitive("masterauth")
    assert not cfg.is_sensitive("port")
    assert lookup("SLAVEOF").name == "replicaof"
    cfg = load("notify-keyspace-events KEA\nshutdown-on-sigint now save\nreplicaof host 7\n"
               "maxmemory-clients 5%\nbind 1.2.3.4 ::1\n")
    assert cfg["notify-keyspace-events"] == NOTIFY_ALL | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT
    assert cfg["shutdown-on-sigint"] == SHUTDOWN_SAVE | SHUTDOWN_NOW
    assert cfg["replicaof"] == ("host", 7)
    assert cfg["maxmemory-clients"] == -5
    assert cfg["bind"] == ["1.2.3.4", "::1"]


# -- config files ---------------------------------------------------------------------------------

def test_file_syntax(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inc.conf").write_bytes(b"timeout 7\n")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_bytes(b"maxclients 50\n")
    (tmp_path / "conf.d" / "a.conf").write_bytes(b"maxclients 40\ntcp-keepalive 1\n")
    (tmp_path / "main.conf").write_bytes(
        b"# a comment\n"
        b"   # indented comment\n"
        b"\n"
        b"PORT 7000\r\n"
        b"  Slave-Read-Only   no  \n"
        b"requirepass \"p a\\x41ss\\n\"\n"
        b"masterauth 'it\\'s'\n"
        b"maxmemory 100MB\n"
        b"maxmemory 200mb\n"
        b"save 900 1\n"
        b"save 300 10\n"
        b"include inc.conf\n"
        b"include conf.d/*.conf\n"
        b"include nothing-here/*.conf\n"
        b"hash-max-ziplist-entries 100\n"
        b"list-max-ziplist-entries 5\n"
        b"lua-replicate-commands yes\n"
        b"rename-command FLUSHALL \"\"\n"
        b"user alice on >pw ~* +@all\n"
        b"sentinel\n")
    cfg = parse_args(["main.conf"])
    assert cfg.path == str(tmp_path / "main.conf")
    assert cfg["port"] == 7000
    assert cfg["replica-read-only"] is False
    assert cfg["requirepass"] == "p aAss\n"
    assert cfg["masterauth"] == "it's"
    assert cfg["maxmemory"] == 200 * 1024 * 1024
    assert cfg["save"] == [(900, 1), (300, 10)]
    assert cfg["timeout"] == 7
    assert cfg["maxclients"] == 50 and cfg["tcp-keepalive"] == 1    # conf.d files in sorted order
    assert cfg["hash-max-listpack-entries"] == 100
    assert cfg.rename_commands == [("FLUSHALL", "")]
    assert cfg.users == [["alice", "on", ">pw", "~*", "+@all"]]


def test_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.conf").write_bytes(b"port 7000\nsave 5 5\nloglevel debug\n")
    cfg = parse_args(["r.conf", "--port", "7001", "--save", "900", "1", "300", "10"])
    assert cfg["port"] == 7001
    assert cfg["save"] == [(5, 5), (900, 1), (300, 10)]     # the first save line resets, later append
    assert cfg["loglevel"] == "debug"
    assert parse_args(["--save", ""])["save"] == []
    assert parse_args(["--save", "900 1 300 10"])["save"] == [(900, 1), (300, 10)]
    assert parse_args(["--save"])["save"] == []
    cfg = parse_args(["--save", "--loglevel", "warning"])
    assert cfg["save"] == [] and cfg["loglevel"] == "warning"
    assert parse_args(["--bind", "127.0.0.1", "-::1"])["bind"] == ["127.0.0.1", "-::1"]
    assert parse_args(["--bind", "127.0.0.1 -::1"])["bind"] == ["127.0.0.1", "-::1"]
    assert parse_args(["--port 7002", "--timeout 3"])["port"] == 7002
    assert parse_args(["--requirepass", 'a b"c'])["requirepass"] == 'a b"c'
    assert parse_args(["--replicaof", "10.0.0.1", "6380"])["replicaof"] == ("10.0.0.1", 6380)
    assert parse_args(["--slaveof", "no", "one"])["replicaof"] is None
    assert parse_args(["--client-output-buffer-limit", "pubsub", "1mb", "2mb", "3"])[
        "client-output-buffer-limit"]["pubsub"] == (1048576, 2097152, 3)
    assert parse_args(["--hz", "0"])["hz"] == 1 and parse_args(["--hz", "9999"])["hz"] == 500
    assert parse_args(["--unixsocketperm", "0770"]).format("unixsocketperm") == "770"
    assert parse_args([]).path is None


def test_stdin_and_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = parse_args(["-", "--timeout", "9"], stdin=io.BytesIO(b"port 7003\ntimeout 1\n"))
    assert cfg["port"] == 7003 and cfg["timeout"] == 9 and cfg.path is None and cfg.stdin_used
    (tmp_path / "r.conf").write_bytes(b"port 7000\n")
    cfg = parse_args(["r.conf", "--timeout", "2", "-"], stdin=io.BytesIO(b"port 7004\n"))
    assert cfg["port"] == 7004 and cfg["timeout"] == 2
    for flag in ("-v", "--version"):
        assert parse_args([flag]).show_version
    for flag in ("-h", "--help"):
        assert parse_args([flag]).show_help
    assert not parse_args(["--port", "1"]).show_version


# Error output of redis-server 7.0.15 for (config file text, extra command line arguments).
FILE_ERRORS = [
    ("port 17010\nfoo bar\n", (), fatal(2, "foo bar", "Bad directive or wrong number of arguments")),
    ("port abc\n", (), fatal(1, "port abc", "argument couldn't be parsed into an integer")),
    ("port 1 2\n", (), fatal(1, "port 1 2", "wrong number of arguments")),
    ('port "abc\n', (), fatal(1, 'port "abc', "Unbalanced quotes in configuration line")),
    ('  PORT   "17010"x\n', (), fatal(1, 'PORT   "17010"x', "Unbalanced quotes in configuration line")),
    # the command line's options come after the file's text and a "\n": line 2 for an empty file
    ("", ("--databases", "0"), fatal(2, 'databases "0"', "argument must be between 1 and 2147483647 inclusive")),
    ("", ("--port",), fatal(2, "port", "wrong number of arguments")),
    ("", ("--maxmemory", "1mb", "2mb"), fatal(2, 'maxmemory "1mb" "2mb"', "wrong number of arguments")),
    ("", ("--maxmemory", "1x"), fatal(2, 'maxmemory "1x"', "argument must be a memory value")),
    ("", ("--loglevel", "--port"), fatal(2, 'loglevel "--port"',
     "argument(s) must be one of the following: debug, verbose, notice, warning")),
    ("", ("--port", "1", "--port"), fatal(3, "port", "wrong number of arguments")),
    ("", ("--dir", "/nonexistent-dir"), fatal(2, 'dir "/nonexistent-dir"', "No such file or directory")),
    ("port 1\n", ("--port 2 --timeout", "7"), fatal(3, 'port 2 --timeout "7"', "wrong number of arguments")),
    ("port 1\nport 0 # trailing\n", (), fatal(2, "port 0 # trailing", "wrong number of arguments")),
    ("client-output-buffer-limit normal 1 2 3 slave 4 5\n", (), fatal(
        1, "client-output-buffer-limit normal 1 2 3 slave 4 5",
        "Wrong number of arguments in buffer limit configuration.")),
    ("maxmemory-policy allkeys-lru noeviction\n", (), fatal(1, "maxmemory-policy allkeys-lru noeviction",
     "wrong number of arguments")),
    ("maxmemory-policy bad\n", (), fatal(1, "maxmemory-policy bad",
     "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, "
     "volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")),
    ("save 1\n", (), fatal(1, "save 1", "Invalid save parameters")),
    ('save "1 2" 3 4\n', (), fatal(1, 'save "1 2" 3 4', "Invalid save parameters")),
    ("foo.bar\n", (), fatal(1, "foo.bar", "Module config specified without value")),
    ('proc-title-template "{title}"\n', (), fatal(1, 'proc-title-template "{title}"',
     "template format is invalid or contains unknown variables")),
    ("dbfilename a/b\n", (), fatal(1, "dbfilename a/b", "dbfilename can't be a path, just a filename")),
    ('appendfilename ""\n', (), fatal(1, 'appendfilename ""', "appendfilename can't be empty")),
    ("appenddirname a/b\n", (), fatal(1, "appenddirname a/b", "appenddirname can't be a path, just a dirname")),
    ("replicaof host\n", (), fatal(1, "replicaof host", "wrong number of arguments")),
    ('replicaof "a b"\n', (), fatal(1, 'replicaof "a b"', "Invalid master port")),
    ("replicaof a 99999\n", (), fatal(1, "replicaof a 99999", "Invalid master port")),
    ("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", (), fatal(
        1, "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "Too many bind addresses specified.")),
    ("oom-score-adj-values 1 2\n", (), fatal(1, "oom-score-adj-values 1 2", "wrong number of arguments")),
    ("oom-score-adj-values 1 2 x\n", (), fatal(1, "oom-score-adj-values 1 2 x",
     "Invalid oom-score-adj-values, elements must be between -2000 and 2000.")),
    ("client-output-buffer-limit master 1 2 3\n", (), fatal(1, "client-output-buffer-limit master 1 2 3",
     "Invalid client class specified in buffer limit configuration.")),
    ("latency-tracking-info-percentiles 101\n", (), fatal(1, "latency-tracking-info-percentiles 101",
     "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")),
    ("notify-keyspace-events Q\n", (), fatal(1, "notify-keyspace-events Q",
     "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")),
    ("notify-keyspace-events a b\n", (), fatal(1, "notify-keyspace-events a b", "wrong number of arguments")),
    ("sentinel foo\n", (), fatal(1, "sentinel foo", "sentinel directive while not in sentinel mode")),
    ("include\n", (), fatal(1, "include", "Bad directive or wrong number of arguments")),
    ("rename-command get\n", (), fatal(1, "rename-command get", "Bad directive or wrong number of arguments")),
    ("list-max-ziplist-entries 1 2\n", (), fatal(1, "list-max-ziplist-entries 1 2",
     "Bad directive or wrong number of arguments")),
    ("shutdown-on-sigint save nosave\n", (), fatal(1, "shutdown-on-sigint save nosave",
     "shutdown options SAVE and NOSAVE can't be used simultaneously")),
    ("shutdown-on-sigint\n", (), fatal(1, "shutdown-on-sigint",
     "argument(s) must be one of the following: default, save, nosave, now, force")),
    ("maxmemory-clients 200%\n", (), fatal(1, "maxmemory-clients 200%",
     "percentage argument must be less or equal to 100")),
    ("unixsocketperm 999\n", (), fatal(1, "unixsocketperm 999", "argument couldn't be parsed as an octal number")),
    ("unixsocketperm 1000\n", (), fatal(1, "unixsocketperm 1000", "argument must be between 0 and 777 inclusive")),
    ("active-defrag-cycle-min 0\n", (), fatal(1, "active-defrag-cycle-min 0",
     "argument must be between 1 and 99 inclusive")),
    ("activedefrag yes\n", (), fatal(1, "activedefrag yes",
     "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified "
     "Jemalloc like the one shipped by default with the Redis source distribution")),
    ("cluster-announce-hostname a_b\n", (), fatal(1, "cluster-announce-hostname a_b",
     "Hostnames may only contain alphanumeric characters, hyphens or dots")),
    ('dir ""\n', (), fatal(1, 'dir ""', "No such file or directory")),
    ("logfile /nonexistent-dir/x.log\n", (),
     "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nCan't open the log file: No such file or directory"),
    ("cluster-enabled yes\nreplicaof a 1\n", (),
     "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nreplicaof directive not allowed in cluster mode"),
]


@pytest.mark.parametrize("text,extra,want", FILE_ERRORS)
def test_file_errors(text, extra, want, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.conf").write_text(text)
    with pytest.raises(ConfigError) as e:
        parse_args(["c.conf", *extra])
    assert str(e.value) == want and not e.value.is_log


def test_file_errors_logged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        parse_args(["/nonexistent.conf"])
    assert e.value.is_log
    assert str(e.value) == "Fatal error, can't open config file '/nonexistent.conf': No such file or directory"
    (tmp_path / "c.conf").write_text("include /nonexistent2.conf\n")
    with pytest.raises(ConfigError) as e:
        parse_args(["c.conf"])
    assert str(e.value) == "Fatal error, can't open config file '/nonexistent2.conf': No such file or directory"
    (tmp_path / "c.conf").write_text("foo.bar 1\n")
    with pytest.raises(ConfigError) as e:
        parse_args(["c.conf"])
    assert e.value.is_log and "Module Configuration detected without loadmodule directive" in str(e.value)


def test_error_in_include_names_its_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inc.conf").write_text("# one\nport x\n")
    (tmp_path / "c.conf").write_text("port 1\ninclude inc.conf\n")
    with pytest.raises(ConfigError) as e:
        parse_args(["c.conf"])
    assert str(e.value) == fatal(2, "port x", "argument couldn't be parsed into an integer")


def test_save_quirks():
    # As redis-server 7.0.15: the first "save" line replaces the defaults, later ones append,
    # save "" clears; after an include every "save" line replaces (Redis resets its reading flag).
    assert load('save 5 5\nsave ""\nsave 7 7\n')["save"] == [(7, 7)]
    assert load("save 7 7 8 8\n")["save"] == [(7, 7), (8, 8)]
    assert load('save "7 7 8 8"\n')["save"] == [(7, 7), (8, 8)]
    assert load("save 10 99999999999\n").format("save") == "10 1215752191"


def test_include_resets_save_accumulation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.conf").write_text("timeout 1\n")
    (tmp_path / "a.conf").write_text("include b.conf\nsave 1 1\nsave 2 2\n")
    assert parse_args(["a.conf"])["save"] == [(2, 2)]


def test_rename_command_checked_against_commands():
    cfg = load("rename-command get g2\n", commands=["get", "set"])
    assert cfg.rename_commands == [("get", "g2")]
    with pytest.raises(ConfigError) as e:
        load("rename-command foobar x\n", commands=["get"])
    assert str(e.value) == fatal(1, "rename-command foobar x", "No such command in rename-command")
    with pytest.raises(ConfigError) as e:
        load("rename-command get set\n", commands=["get", "set"])
    assert str(e.value) == fatal(1, "rename-command get set", "Target command name already exists")


def test_dax_db_must_name_a_database():
    assert load("databases 4\ndax-db 3\n")["dax-db"] == 3
    assert load("dax-db 20\ndatabases 32\n")["dax-db"] == 20      # checked once the file is read
    with pytest.raises(ConfigError) as e:
        load("databases 4\ndax-db 4\n")
    assert str(e.value) == ("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"
                            "dax-db: argument must be between 0 and 3 inclusive")
    cfg = load("databases 4\n")
    assert cset(cfg, "dax-db", "4") == _e("dax-db", "argument must be between 0 and 3 inclusive")
    assert cset(cfg, "dax-db", "3") == "OK" and cfg["dax-db"] == 3


# -- CONFIG GET -----------------------------------------------------------------------------------

def test_config_get_semantics():
    cfg = Config()
    # exact names answer under the spelling asked for; later duplicates (any case) are dropped
    assert cfg.config_get([b"PoRt", b"port", b"p?rt"]) == {"PoRt": "6379"}
    assert cfg.config_get([b"port", b"*por*"]) == {"port": "6379", "cluster-port": "0",
                                                   "cluster-announce-bus-port": "0",
                                                   "cluster-announce-port": "0",
                                                   "cluster-announce-tls-port": "0",
                                                   "replica-announce-port": "0",
                                                   "slave-announce-port": "0", "tls-port": "0",
                                                   "memcache-port": "11211", "dax-port": "8000"}
    # patterns match primary names and aliases alike, case-insensitively
    assert cfg.config_get([b"*MAX-*-ENTRIES*"]) == {
        "hash-max-listpack-entries": "512", "hash-max-ziplist-entries": "512",
        "set-max-intset-entries": "512", "zset-max-listpack-entries": "128",
        "zset-max-ziplist-entries": "128"}
    assert cfg.config_get([b"slaveof", b"replicaof"]) == {"slaveof": "", "replicaof": ""}
    # hidden configs only answer to their exact name
    assert cfg.config_get([b"use-exit-on-panic"]) == {"use-exit-on-panic": "no"}
    assert cfg.config_get([b"use-exit*"]) == {}
    assert cfg.config_get([b"nothing", b"no*thing"]) == {}
    assert cfg.config_get([b"maxmemory*"]) == {
        "maxmemory": "0", "maxmemory-policy": "noeviction", "maxmemory-samples": "5",
        "maxmemory-eviction-tenacity": "10", "maxmemory-clients": "0"}


# -- CONFIG SET -----------------------------------------------------------------------------------

def _e(arg, reason):
    return f"ERR CONFIG SET failed (possibly related to argument '{arg}') - {reason}"


# (CONFIG SET arguments, reply) as redis-server 7.0.15 answered them, in order on one server.
SET_CASES = [
    ("foo bar", "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
    ("foo bar port 1", "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
    ("port 1 foo bar", "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
    ("databases 5 foo bar", _e("databases", "can't set immutable config")),
    ("maxclients abc", _e("maxclients", "argument couldn't be parsed into an integer")),
    ("port 70000", _e("port", "argument must be between 0 and 65535 inclusive")),
    ("port -1", _e("port", "argument must be between 0 and 65535 inclusive")),
    ("port 1x", _e("port", "argument couldn't be parsed into an integer")),
    ("PORT abc", _e("port", "argument couldn't be parsed into an integer")),
    ("appendonly maybe", _e("appendonly", "argument must be 'yes' or 'no'")),
    ("Slave-Read-Only maybe", _e("slave-read-only", "argument must be 'yes' or 'no'")),
    ("maxmemory 10xb", _e("maxmemory", "argument must be a memory value")),
    ("maxmemory -1", _e("maxmemory", "argument must be a memory value")),
    ("maxmemory 1.5", _e("maxmemory", "argument must be a memory value")),
    ("maxmemory-policy foo", _e("maxmemory-policy", "argument(s) must be one of the following: "
                                "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, "
                                "allkeys-lru, allkeys-lfu, allkeys-random, noeviction")),
    ("databases 5", _e("databases", "can't set immutable config")),
    ("DATABASES 5", _e("DATABASES", "can't set immutable config")),
    ("port 6379 databases 5", _e("databases", "can't set immutable config")),
    ("port 6379 port 6379", _e("port", "duplicate parameter")),
    ("port 6379 PORT 6379", _e("PORT", "duplicate parameter")),
    ("replica-read-only no slave-read-only yes", "OK"),
    ("dir /tmp", _e("dir", "can't set protected config")),
    ("dbfilename x.rdb", _e("dbfilename", "can't set protected config")),
    ("slaveof 'a 1'", _e("slaveof", "can't set immutable config")),
    ("save '1 2 3'", _e("save", "Invalid save parameters")),
    ("save '0 1'", _e("save", "Invalid save parameters")),
    ("save '10 -1'", _e("save", "Invalid save parameters")),
    ("save '1  2'", _e("save", "Invalid save parameters")),
    ("save ''", "OK"),
    ("save '100 1 50 2'", "OK"),
    ("client-output-buffer-limit 'normal 1 2'",
     _e("client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration.")),
    ("client-output-buffer-limit 'master 1 2 3'",
     _e("client-output-buffer-limit", "Invalid client class specified in buffer limit configuration.")),
    ("client-output-buffer-limit 'normal 1x 2 3'", _e(
        "client-output-buffer-limit", "Error in hard, soft or soft_seconds setting in buffer limit configuration.")),
    ("client-output-buffer-limit 'replica 1mb 2mb 3 normal 1k 2kb 4'", "OK"),
    ("notify-keyspace-events Q", _e("notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")),
    ("notify-keyspace-events 'Ex$lshzxetmdn'", "OK"),
    ("oom-score-adj-values '1 2'", _e("oom-score-adj-values", "wrong number of arguments")),
    ("oom-score-adj-values '1 2 3000'", _e(
        "oom-score-adj-values", "Invalid oom-score-adj-values, elements must be between -2000 and 2000.")),
    ("maxmemory-clients 101%", _e("maxmemory-clients", "percentage argument must be less or equal to 100")),
    ("maxmemory-clients -5", _e("maxmemory-clients", "argument must be a memory or percent value")),
    ("maxmemory-clients 50%", "OK"),
    ("unixsocketperm 777", _e("unixsocketperm", "can't set immutable config")),
    ("slowlog-log-slower-than -2", _e("slowlog-log-slower-than",
                                      "argument must be between -1 and 9223372036854775807 inclusive")),
    ("maxclients 0", _e("maxclients", "argument must be between 1 and 4294967295 inclusive")),
    ("maxclients 99999999999", _e("maxclients", "argument must be between 1 and 4294967295 inclusive")),
    ("maxclients +1", _e("maxclients", "argument couldn't be parsed into an integer")),
    ("maxclients 01", _e("maxclients", "argument couldn't be parsed into an integer")),
    ("list-max-listpack-size 99999999999", _e(
        "list-max-listpack-size", "argument must be between -2147483648 and 2147483647 inclusive")),
    ("proto-max-bulk-len 1000", _e(
        "proto-max-bulk-len", "argument must be between 1048576 and 9223372036854775807 inclusive")),
    ("proto-max-bulk-len 18446744073709551615", _e(
        "proto-max-bulk-len", "argument must be between 1048576 and 9223372036854775807 inclusive")),
    ("latency-tracking-info-percentiles '50 200'", _e(
        "latency-tracking-info-percentiles",
        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")),
    ("latency-tracking-info-percentiles '50 abc'", _e(
        "latency-tracking-info-percentiles", "Invalid latency-tracking-info-percentiles parameters")),
    ("latency-tracking-info-percentiles '50.5 99.00 0.001 1e2'", "OK"),
    ("cluster-announce-hostname a_b", _e(
        "cluster-announce-hostname", "Hostnames may only contain alphanumeric characters, hyphens or dots")),
    ("proc-title-template '{foo}'", _e(
        "proc-title-template", "template format is invalid or contains unknown variables")),
    ("activedefrag yes", _e("activedefrag", "Active defragmentation cannot be enabled: it requires a "
                            "Redis server compiled with a modified Jemalloc like the one shipped by "
                            "default with the Redis source distribution")),
    ("shutdown-on-sigint 'save nosave'", _e(
        "shutdown-on-sigint", "shutdown options SAVE and NOSAVE can't be used simultaneously")),
    ("shutdown-on-sigint ''", _e(
        "shutdown-on-sigint", "argument(s) must be one of the following: default, save, nosave, now, force")),
    ("shutdown-on-sigterm 'force nosave now'", "OK"),
    ("loglevel ''", _e("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning")),
    ("maxmemory-policy ALLKEYS-LRU", "OK"),
    ("appendfsync Always", "OK"),
    ("oom-score-adj relative", "OK"),
    ("hz 0", "OK"),
    ("maxmemory 20000000000000000000", "OK"),
    ("repl-backlog-size 0", _e("repl-backlog-size", "argument must be between 1 and 9223372036854775807 inclusive")),
    ("socket-mark-id 1", _e("socket-mark-id", "can't set immutable config")),
    ("enable-debug-command yes", _e("enable-debug-command", "can't set immutable config")),
    ("port 6380 maxmemory 1mb maxmemory-policy bad", _e(
        "maxmemory-policy", "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
        "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")),
]

# CONFIG GET after all of SET_CASES, as redis-server printed it.
AFTER_SET_CASES = {
    "replica-read-only": "yes", "save": "100 1 50 2",
    "client-output-buffer-limit": "normal 1000 2048 4 slave 1048576 2097152 3 pubsub 33554432 8388608 60",
    "notify-keyspace-events": "$lshzxetdnEm", "maxmemory-clients": "50%",
    "latency-tracking-info-percentiles": "50.5 99 0.001 100", "shutdown-on-sigterm": "nosave now force",
    "maxmemory-policy": "allkeys-lru", "appendfsync": "always", "oom-score-adj": "yes", "hz": "1",
    "maxmemory": "18446744073709551615", "port": "6379",
}


def test_config_set_texts():
    cfg = Config()
    for args, want in SET_CASES:
        assert cset(cfg, *shlex.split(args)) == want, args
    got = cfg.config_get([b"*"])
    for name, want in AFTER_SET_CASES.items():
        assert got[name] == want, name


def test_config_set_values():
    cfg = Config()
    assert cset(cfg, "maxmemory", "1Gb", "maxmemory-policy", "allkeys-lru", "hash-max-ziplist-entries", "64") == "OK"
    assert cfg["maxmemory"] == 1024**3 and cfg["maxmemory-policy"] == "allkeys-lru"
    assert cfg["hash-max-listpack-entries"] == 64
    assert cset(cfg, "save", "") == "OK" and cfg["save"] == []
    assert cset(cfg, "bind", "") == "OK" and cfg["bind"] == []
    assert cset(cfg, "requirepass", "a b") == "OK" and cfg["requirepass"] == "a b"
    assert cset(cfg, "maxmemory", "") == "OK" and cfg["maxmemory"] == 0
    assert cset(cfg, "client-output-buffer-limit", "normal 1 2 99999999999") == "OK"
    assert cfg["client-output-buffer-limit"]["normal"] == (1, 2, 1215752191)
    assert cset(cfg, "appendonly", "yes") == "OK" and cfg["appendonly"] is True
    assert cset(cfg, "appendonly", "no", loading=True) == "LOADING Redis is loading the dataset in memory"


def test_protected_configs(tmp_path):
    cfg = load("enable-protected-configs local\n")
    assert cset(cfg, "dir", str(tmp_path)) == _e("dir", "can't set protected config")
    cwd = os.getcwd()
    try:
        assert cset(cfg, "dir", str(tmp_path), client_is_local=True) == "OK"
        assert os.getcwd() == str(tmp_path) and cfg["dir"] == str(tmp_path)
        assert cfg.config_get([b"dir"]) == {"dir": str(tmp_path)}
        # a failing later value puts the working directory back
        assert cset(cfg, "dir", "/", "port", "x", client_is_local=True).endswith(
            "argument couldn't be parsed into an integer")
        assert os.getcwd() == str(tmp_path)
        assert cset(cfg, "dir", "/nonexistent-dir", client_is_local=True) == _e("dir", "No such file or directory")
    finally:
        os.chdir(cwd)
    cfg = load("enable-protected-configs yes\n")
    assert cset(cfg, "dbfilename", "a/b") == _e("dbfilename", "dbfilename can't be a path, just a filename")
    assert cset(cfg, "dbfilename", "x.rdb") == "OK"


def test_config_set_is_atomic():
    cfg = Config()
    before = cfg.config_get([b"*"])
    assert cset(cfg, "maxmemory", "1mb", "timeout", "5", "save", "1 1", "port", "abc") == _e(
        "port", "argument couldn't be parsed into an integer")
    assert cfg.config_get([b"*"]) == before


def test_hooks_and_rollback():
    cfg = Config()
    calls = []
    cfg.on_change("maxmemory", lambda n, old, new: calls.append((n, old, new)))
    cfg.on_change("slave-read-only", lambda n, old, new: calls.append((n, old, new)))

    def refuse_port(name, old, new):
        calls.append((name, old, new))
        if new == 1:
            raise ValueError("Unable to listen on this port. Check server logs.")

    cfg.on_change("port", refuse_port)
    assert cset(cfg, "maxmemory", "1mb", "replica-read-only", "no") == "OK"
    assert calls == [("maxmemory", 0, 1048576), ("replica-read-only", True, False)]
    calls.clear()
    assert cset(cfg, "maxmemory", "1mb") == "OK" and calls == []       # unchanged: no hook
    assert cset(cfg, "timeout", "1", "maxmemory", "2mb", "port", "1", "slave-read-only", "yes") == _e(
        "port", "Unable to listen on this port. Check server logs.")
    assert cfg["maxmemory"] == 1048576 and cfg["timeout"] == 0 and cfg["port"] == 6379
    assert cfg["replica-read-only"] is False
    # applied hooks run again with the value put back; the refused hook too; later ones never ran
    assert calls == [("maxmemory", 1048576, 2097152), ("port", 6379, 1),
                     ("maxmemory", 2097152, 1048576), ("port", 1, 6379)]
    calls.clear()
    cfg.on_change("hz", lambda n, o, v: (_ for _ in ()).throw(RuntimeError("")))
    assert cset(cfg, "hz", "20") == "ERR CONFIG SET failed (possibly related to argument 'hz')"
    assert cfg["hz"] == 10
    with pytest.raises(KeyError):
        cfg.on_change("nope", lambda *a: None)


def test_changed_from_default():
    cfg = Config()
    assert cfg.changed_from_default() == {}
    cset(cfg, "maxmemory", "1mb", "save", "", "slave-read-only", "no", "requirepass", "pw")
    assert cfg.changed_from_default() == {"maxmemory": "1048576", "save": "",
                                          "replica-read-only": "no", "requirepass": "pw"}


# -- CONFIG REWRITE -------------------------------------------------------------------------------

def same_rewrite(redis_text: bytes, ours: bytes) -> bool:
    """Equal up to the order of appended lines (Redis appends in its hash table's random order),
    with multi-line directives in the same relative order."""
    a, b = redis_text.split(b"\n"), ours.split(b"\n")
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    if sorted(a[p:]) != sorted(b[p:]):
        return False
    return all([x for x in a if x.startswith(pre)] == [x for x in b if x.startswith(pre)]
               for pre in (b"save ", b"client-output-buffer-limit "))


REWRITE_IN = (b"# top comment\ndaemonize no\n\n# network\nPort 6379\nslave-read-only no\n"
              b"hash-max-ziplist-entries 100\nsave 900 1\nsave 300 10\nmaxmemory 100mb   \n"
              b"maxmemory 200mb\ninclude @DIR@/inc.conf\nrename-command FLUSHALL \"\"\n"
              b"list-max-ziplist-entries 5\nloglevel notice\nrequirepass secret\n"
              b"# Generated by CONFIG REWRITE\nappendonly no\nlua-time-limit 100\n")
REWRITE_SETS = [("maxmemory", "1gb", "loglevel", "warning"), ("maxmemory-policy", "allkeys-lru"),
                ("hash-max-ziplist-entries", "512"), ("notify-keyspace-events", "KEA"),
                ("client-output-buffer-limit", "normal 1mb 2mb 3"), ("requirepass", 'x"y z\n')]
# What redis-server 7.0.15 wrote for REWRITE_IN, started as `redis-server FILE --port @PORT@
# --bind 127.0.0.1` in @DIR@ after REWRITE_SETS and CONFIG REWRITE (appended lines in its order).
REWRITE_OUT = (b"# top comment\ndaemonize no\n\n# network\nport @PORT@\nreplica-read-only no\n"
               b"hash-max-listpack-entries 512\nsave 900 1\nsave 300 10\nmaxmemory 1gb\n\n"
               b"include @DIR@/inc.conf\nrename-command FLUSHALL \"\"\n"
               b"# ??? list-max-ziplist-entries 5\nloglevel warning\nrequirepass \"x\\\"y z\\n\"\n"
               b"# Generated by CONFIG REWRITE\nappendonly no\nbusy-reply-threshold 100\n\n"
               b"notify-keyspace-events \"AKE\"\nmaxmemory-policy allkeys-lru\nbind 127.0.0.1\n"
               b"client-output-buffer-limit normal 1mb 2mb 3\ndir \"@DIR@\"\ntimeout 5\n"
               b"latency-tracking-info-percentiles 50 99 99.9\n"
               b"user default on #@HASH@ ~* &* +@all\n")


def _our_rewrite(tmp_path, text: bytes, sets, argv_tail=(), user_lines=None) -> bytes:
    conf = tmp_path / "rw.conf"
    conf.write_bytes(text)
    cfg = parse_args([str(conf), *argv_tail])
    for pairs in sets:
        b = [x.encode() for x in pairs]
        cfg.config_set(list(zip(b[::2], b[1::2])))
    cfg.rewrite(user_lines)
    return conf.read_bytes()


def test_rewrite_like_redis(tmp_path, monkeypatch):
    import hashlib
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inc.conf").write_bytes(b"timeout 5\n")
    d = str(tmp_path).encode()
    text = REWRITE_IN.replace(b"@DIR@", d)
    got = _our_rewrite(tmp_path, text, REWRITE_SETS, ["--port", "6390", "--bind", "127.0.0.1"])
    want = (REWRITE_OUT.replace(b"@DIR@", d).replace(b"@PORT@", b"6390")
            .replace(b"@HASH@", hashlib.sha256(b'x"y z\n').hexdigest().encode()))
    assert same_rewrite(want, got), got.decode()


REWRITE_SMALL = [
    # (input, CONFIG SETs, redis-server 7.0.15's output with --port 6390 --bind 127.0.0.1 in @DIR@)
    (b"", [], b"# Generated by CONFIG REWRITE\nsave 3600 1\nsave 300 100\nsave 60 10000\n"
     b"dir \"@DIR@\"\nlatency-tracking-info-percentiles 50 99 99.9\nport 6390\nbind 127.0.0.1\n"
     b"user default on nopass ~* &* +@all\n"),
    (b"port 1\n\n\n\n# c\n\n\nsave 5 5\n\n", [("save", "")],
     b"port 6390\n\n# c\n\nsave \"\"\n\n# Generated by CONFIG REWRITE\nbind 127.0.0.1\n"
     b"dir \"@DIR@\"\nlatency-tracking-info-percentiles 50 99 99.9\nuser default on nopass ~* &* +@all\n"),
]


@pytest.mark.parametrize("text,sets,want", REWRITE_SMALL)
def test_rewrite_small(text, sets, want, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = _our_rewrite(tmp_path, text, sets, ["--port", "6390", "--bind", "127.0.0.1"])
    assert same_rewrite(want.replace(b"@DIR@", str(tmp_path).encode()), got), got.decode()


def test_rewrite_errors_and_file_handling(tmp_path, monkeypatch, command_error):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(command_error) as e:
        Config().rewrite()
    assert str(e.value) == "ERR The server is running without a config file"
    cfg = parse_args(["--port", "1"])
    with pytest.raises(command_error):
        cfg.rewrite()
    # a missing file is created; the mode is 0644 & ~umask; no temp file is left behind
    cfg = parse_args(["--port", "6391"])
    cfg.path = str(tmp_path / "new.conf")
    cfg.rewrite(user_lines=["user default on nopass ~* &* +@all", "user bob off"])
    text = (tmp_path / "new.conf").read_bytes()
    assert b"port 6391\n" in text and text.endswith(b"user default on nopass ~* &* +@all\nuser bob off\n")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.conf").stat().st_mode & 0o777 == 0o644 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.conf"]
    # as in Redis, the text after the file's last newline is kept as an (empty) line
    cfg.rewrite(user_lines=["user default on nopass ~* &* +@all", "user bob off"])
    assert (tmp_path / "new.conf").read_bytes() == text + b"\n"
    cfg.rewrite(user_lines=["user default on nopass ~* &* +@all", "user bob off"])
    assert (tmp_path / "new.conf").read_bytes() == text + b"\n"
    cfg.path = str(tmp_path)
    with pytest.raises(command_error) as e:
        cfg.rewrite()
    assert str(e.value) == "ERR Rewriting config file: Is a directory"


def test_rewrite_keeps_defaults_that_were_in_the_file_and_drops_nulls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = _our_rewrite(tmp_path, b"# keep me\nappendonly no\nrequirepass foo\nmasteruser bob\n"
                       b"slaveof 127.0.0.1 1\nloadmodule /x.so\n",
                       [("requirepass", "", "masteruser", "")], ["--port", "6390"])
    lines = got.split(b"\n")
    assert lines[:3] == [b"# keep me", b"appendonly no", b""]
    assert b"requirepass foo" not in got and b"masteruser" not in got and b"slaveof" not in got
    assert b"loadmodule" not in got
    assert got.count(b"# Generated by CONFIG REWRITE") == 1


def test_own_directives_are_rewritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = _our_rewrite(tmp_path, b"memcache-port 0\ndax-item-ttl 300\n",
                       [("dax-query-invalidation", "yes", "memcache-max-item-size", "2mb")])
    assert got.startswith(b"memcache-port 0\ndax-item-ttl 300\n")
    assert b"dax-query-invalidation yes\n" in got and b"memcache-max-item-size 2mb\n" in got


# -- live: the same cases against redis-server ----------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Live:
    """Start redis-server with a command line, in a directory; kill it on exit."""

    def __init__(self, argv, cwd, password=None):
        import redis
        self.redis = redis
        self.argv = list(argv)
        if "--port" in self.argv:        # the caller's choice (error cases: never listens)
            at = self.argv.index("--port")
            nxt = self.argv[at + 1] if at + 1 < len(self.argv) else ""
            self.port = int(nxt) if nxt.isdigit() else 0
        else:
            self.port = _free_port()
            self.argv += ["--port", str(self.port), "--bind", "127.0.0.1"]
        self.proc = subprocess.Popen([REDIS, *self.argv], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.client = redis.Redis(port=self.port, password=password, socket_timeout=10)
        self.exit_text = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_text = self.proc.stderr.read().decode("utf-8", "surrogateescape")
                return
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.01)
        self.close()
        raise RuntimeError("redis-server did not start")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def config_get_all(self):
        raw = self.client.execute_command("CONFIG", "GET", "*")
        items = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2])
        return {k.decode(): v.decode("utf-8", "surrogateescape") for k, v in items}


live = pytest.mark.skipif(REDIS is None, reason="redis-server not installed")


@live
@pytest.mark.parametrize("text,extra,want", FILE_ERRORS)
def test_live_file_errors(text, extra, want, tmp_path):
    (tmp_path / "c.conf").write_text(text)
    srv = _Live(["c.conf", *extra], tmp_path)
    try:
        assert srv.exit_text == want + "\n"
    finally:
        srv.close()


LIVE_LOADS = [
    ("save 5 5\n", ("--save", "60 6")),
    ("save 5 5\n", ("--save", "60", "6")),
    ('save 5 5\nsave ""\nsave 7 7\n', ()),
    ("", ("--save", "--loglevel", "warning")),
    ("", ("--loglevel", "warning", "--save")),
    ("", ("--client-output-buffer-limit", "normal", "1mb", "2mb", "3", "pubsub", "1", "2", "3")),
    ("", ("--notify-keyspace-events", "KEA")),
    ("", ("--replicaof", "127.0.0.1", "1")),
    ("", ("--oom-score-adj-values", "1 2 3", "--latency-tracking-info-percentiles", "")),
    ("", ("--shutdown-on-sigint", "save", "now", "--hz", "0")),
    ("", ("--unixsocketperm", "0777", "--timeout", "7")),
    ("lua-replicate-commands yes\nlist-max-ziplist-value 5\n", ()),
    ("# comment\n\n   \t\nSLAVE-READ-ONLY no\nHash-Max-Ziplist-Entries 7\n", ()),
    ('masterauth "\\x41\\x4g\\n\\"q"\n', ()),
    ("maxmemory-clients 18446744073709551615\nmaxmemory 17179869184gb\n", ()),
    ("client-output-buffer-limit normal 1 2 3 slave 4 5 6 pubsub 6 7 8\n", ()),
    ("maxmemory 100mb\nmaxmemory-policy allkeys-lru\nsave \"\"\nappendonly yes\nappendfsync always\n", ()),
    ("hash-max-ziplist-value 1kb\nlist-max-ziplist-size -1\nzset-max-ziplist-entries 5\n"
     "set-max-intset-entries 9\nproto-max-bulk-len 2mb\nclient-query-buffer-limit 2gb\n", ()),
]


@live
@pytest.mark.parametrize("text,extra", LIVE_LOADS)
def test_live_loads(text, extra, tmp_path, monkeypatch):
    (tmp_path / "c.conf").write_text(text)
    srv = _Live(["c.conf", *extra], tmp_path)
    try:
        assert srv.exit_text is None
        want = srv.config_get_all()
    finally:
        srv.close()
    monkeypatch.chdir(tmp_path)
    got = parse_args(srv.argv).config_get([b"*"])
    assert {k: got.get(k) for k in want} == want


@live
def test_live_config_set(tmp_path):
    srv = _Live(["--bind", "127.0.0.1"], tmp_path)
    try:
        cfg = Config()
        cset(cfg, "port", str(srv.port))
        for args, _ in SET_CASES:
            argv = shlex.split(args.replace("6379", str(srv.port)))
            try:
                srv.client.execute_command("CONFIG", "SET", *argv)
                want = "OK"
            except srv.redis.ResponseError as e:
                want = str(e)
                want = want if want.startswith("LOADING") else "ERR " + want
            assert cset(cfg, *argv) == want, args
            real = srv.config_get_all()
            ours = cfg.config_get([b"*"])
            assert {k: ours.get(k) for k in real if k not in ("dir", "bind")} == {
                k: v for k, v in real.items() if k not in ("dir", "bind")}, args
    finally:
        srv.close()


LIVE_REWRITES = [
    (b"", [], None),
    (b"port 1\n\n\n\n# c\n\n\nsave 5 5\n\n", [("save", "")], None),
    (b"# Generated by CONFIG REWRITE\nport 5\n", [("save", "")], None),
    (b"slaveof 127.0.0.1 1\nreplicaof 127.0.0.1 2\nappendonly no\nappendonly yes\n", [], None),
    (b"requirepass foo\nmasterauth bar\n", [("requirepass", "", "masterauth", "")], "foo"),
    (b"maxmemory 1000\nproto-max-bulk-len 1048577\nhash-max-listpack-value 2048\nmaxmemory-clients 5%\n",
     [("maxmemory", "3gb")], None),
    (b"client-output-buffer-limit normal 0 0 0\nclient-output-buffer-limit replica 256mb 64mb 60\n"
     b"client-output-buffer-limit pubsub 32mb 8mb 60\n", [], None),
    (b"   port 9   \n\t# indented comment  \nlist-max-ziplist-entries 5\nrename-command FLUSHALL \"\"\n",
     [("timeout", "0")], None),
    (b"oom-score-adj-values 0 200 800\nshutdown-on-sigint save now\nlatency-tracking-info-percentiles 50\n",
     [("shutdown-on-sigint", "default"), ("oom-score-adj-values", "1 2 3")], None),
    (b"notify-keyspace-events Ex\nlogfile \"\"\naclfile \"\"\npidfile \"\"\n", [], None),
    (b"unixsocketperm 700\nloglevel warning\ndir .\n", [], None),
    (b"maxmemory 1mb\r\nsave 1 1\r\n", [("save", "3 3 4 4 5 5")], None),
    (b"save 1 1\nsave 2 2\nsave 3 3\n", [("save", "9 9")], None),
    (b"bind 127.0.0.1 -::1\n", [], None),
    (b"lua-time-limit 100\nslave-priority 5\nrepl-ping-slave-period 3\n", [("busy-reply-threshold", "5000")], None),
    (REWRITE_IN, REWRITE_SETS, "secret"),
]


@live
@pytest.mark.parametrize("text,sets,password", LIVE_REWRITES)
def test_live_rewrite(text, sets, password, tmp_path, monkeypatch):
    (tmp_path / "inc.conf").write_bytes(b"timeout 5\n")
    text = text.replace(b"@DIR@", str(tmp_path).encode())
    conf = tmp_path / "rw.conf"
    conf.write_bytes(text)
    srv = _Live([str(conf)], tmp_path, password=password)
    try:
        assert srv.exit_text is None
        for pairs in sets:
            srv.client.execute_command("CONFIG", "SET", *pairs)
        srv.client.execute_command("CONFIG", "REWRITE")
    finally:
        srv.close()
    want = conf.read_bytes()
    monkeypatch.chdir(tmp_path)
    got = _our_rewrite(tmp_path, text, sets, srv.argv[1:])
    assert same_rewrite(want, got), (want.decode(), got.decode())
REDIS_DEFAULTS = {
    'acl-pubsub-default': 'resetchannels',
    'aclfile': '',
    'acllog-max-len': '128',
    'active-defrag-cycle-max': '25',
    'active-defrag-cycle-min': '1',
    'active-defrag-ignore-bytes': '104857600',
    'active-defrag-max-scan-fields': '1000',
    'active-defrag-threshold-lower': '10',
    'active-defrag-threshold-upper': '100',
    'active-expire-effort': '1',
    'activedefrag': 'no',
    'activerehashing': 'yes',
    'always-show-logo': 'no',
    'aof-disable-auto-gc': 'no',
    'aof-load-truncated': 'yes',
    'aof-rewrite-incremental-fsync': 'yes',
    'aof-timestamp-enabled': 'no',
    'aof-use-rdb-preamble': 'yes',
    'aof_rewrite_cpulist': '',
    'appenddirname': 'appendonlydir',
    'appendfilename': 'appendonly.aof',
    'appendfsync': 'everysec',
    'appendonly': 'no',
    'auto-aof-rewrite-min-size': '67108864',
    'auto-aof-rewrite-percentage': '100',
    'bgsave_cpulist': '',
    'bind-source-addr': '',
    'bio_cpulist': '',
    'busy-reply-threshold': '5000',
    'client-output-buffer-limit': 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60',
    'client-query-buffer-limit': '1073741824',
    'cluster-allow-pubsubshard-when-down': 'yes',
    'cluster-allow-reads-when-down': 'no',
    'cluster-allow-replica-migration': 'yes',
    'cluster-announce-bus-port': '0',
    'cluster-announce-hostname': '',
    'cluster-announce-ip': '',
    'cluster-announce-port': '0',
    'cluster-announce-tls-port': '0',
    'cluster-config-file': 'nodes.conf',
    'cluster-enabled': 'no',
    'cluster-link-sendbuf-limit': '0',
    'cluster-migration-barrier': '1',
    'cluster-node-timeout': '15000',
    'cluster-port': '0',
    'cluster-preferred-endpoint-type': 'ip',
    'cluster-replica-no-failover': 'no',
    'cluster-replica-validity-factor': '10',
    'cluster-require-full-coverage': 'yes',
    'cluster-slave-no-failover': 'no',
    'cluster-slave-validity-factor': '10',
    'crash-log-enabled': 'yes',
    'crash-memcheck-enabled': 'yes',
    'daemonize': 'no',
    'databases': '16',
    'dbfilename': 'dump.rdb',
    'disable-thp': 'yes',
    'dynamic-hz': 'yes',
    'enable-debug-command': 'no',
    'enable-module-command': 'no',
    'enable-protected-configs': 'no',
    'hash-max-listpack-entries': '512',
    'hash-max-listpack-value': '64',
    'hash-max-ziplist-entries': '512',
    'hash-max-ziplist-value': '64',
    'hll-sparse-max-bytes': '3000',
    'hz': '10',
    'ignore-warnings': '',
    'io-threads': '1',
    'io-threads-do-reads': 'no',
    'jemalloc-bg-thread': 'yes',
    'latency-monitor-threshold': '0',
    'latency-tracking': 'yes',
    'latency-tracking-info-percentiles': '50 99 99.9',
    'lazyfree-lazy-eviction': 'no',
    'lazyfree-lazy-expire': 'no',
    'lazyfree-lazy-server-del': 'no',
    'lazyfree-lazy-user-del': 'no',
    'lazyfree-lazy-user-flush': 'no',
    'lfu-decay-time': '1',
    'lfu-log-factor': '10',
    'list-compress-depth': '0',
    'list-max-listpack-size': '-2',
    'list-max-ziplist-size': '-2',
    'logfile': '',
    'loglevel': 'notice',
    'lua-time-limit': '5000',
    'masterauth': '',
    'masteruser': '',
    'maxclients': '10000',
    'maxmemory': '0',
    'maxmemory-clients': '0',
    'maxmemory-eviction-tenacity': '10',
    'maxmemory-policy': 'noeviction',
    'maxmemory-samples': '5',
    'min-replicas-max-lag': '10',
    'min-replicas-to-write': '0',
    'min-slaves-max-lag': '10',
    'min-slaves-to-write': '0',
    'no-appendfsync-on-rewrite': 'no',
    'notify-keyspace-events': '',
    'oom-score-adj': 'no',
    'oom-score-adj-values': '0 200 800',
    'pidfile': '',
    'proc-title-template': '{title} {listen-addr} {server-mode}',
    'propagation-error-behavior': 'ignore',
    'protected-mode': 'yes',
    'proto-max-bulk-len': '536870912',
    'rdb-del-sync-files': 'no',
    'rdb-save-incremental-fsync': 'yes',
    'rdbchecksum': 'yes',
    'rdbcompression': 'yes',
    'repl-backlog-size': '1048576',
    'repl-backlog-ttl': '3600',
    'repl-disable-tcp-nodelay': 'no',
    'repl-diskless-load': 'disabled',
    'repl-diskless-sync': 'yes',
    'repl-diskless-sync-delay': '5',
    'repl-diskless-sync-max-replicas': '0',
    'repl-ping-replica-period': '10',
    'repl-ping-slave-period': '10',
    'repl-timeout': '60',
    'replica-announce-ip': '',
    'replica-announce-port': '0',
    'replica-announced': 'yes',
    'replica-ignore-disk-write-errors': 'no',
    'replica-ignore-maxmemory': 'yes',
    'replica-lazy-flush': 'no',
    'replica-priority': '100',
    'replica-read-only': 'yes',
    'replica-serve-stale-data': 'yes',
    'replicaof': '',
    'requirepass': '',
    'sanitize-dump-payload': 'no',
    'save': '3600 1 300 100 60 10000',
    'server_cpulist': '',
    'set-max-intset-entries': '512',
    'set-proc-title': 'yes',
    'shutdown-on-sigint': 'default',
    'shutdown-on-sigterm': 'default',
    'shutdown-timeout': '10',
    'slave-announce-ip': '',
    'slave-announce-port': '0',
    'slave-ignore-maxmemory': 'yes',
    'slave-lazy-flush': 'no',
    'slave-priority': '100',
    'slave-read-only': 'yes',
    'slave-serve-stale-data': 'yes',
    'slaveof': '',
    'slowlog-log-slower-than': '10000',
    'slowlog-max-len': '128',
    'socket-mark-id': '0',
    'stop-writes-on-bgsave-error': 'yes',
    'stream-node-max-bytes': '4096',
    'stream-node-max-entries': '100',
    'supervised': 'no',
    'syslog-enabled': 'no',
    'syslog-facility': 'local0',
    'syslog-ident': 'redis',
    'tcp-backlog': '511',
    'tcp-keepalive': '300',
    'timeout': '0',
    'tls-auth-clients': 'yes',
    'tls-ca-cert-dir': '',
    'tls-ca-cert-file': '',
    'tls-cert-file': '',
    'tls-ciphers': '',
    'tls-ciphersuites': '',
    'tls-client-cert-file': '',
    'tls-client-key-file': '',
    'tls-client-key-file-pass': '',
    'tls-cluster': 'no',
    'tls-dh-params-file': '',
    'tls-key-file': '',
    'tls-key-file-pass': '',
    'tls-port': '0',
    'tls-prefer-server-ciphers': 'no',
    'tls-protocols': '',
    'tls-replication': 'no',
    'tls-session-cache-size': '20480',
    'tls-session-cache-timeout': '300',
    'tls-session-caching': 'yes',
    'tracking-table-max-keys': '1000000',
    'unixsocket': '',
    'unixsocketperm': '0',
    'zset-max-listpack-entries': '128',
    'zset-max-listpack-value': '64',
    'zset-max-ziplist-entries': '128',
    'zset-max-ziplist-value': '64',
}
