"""The command table: every RESP command cachesrv serves, and the handler that serves it.

Find a command here, then its handler in the module named beside it. Arity, flags, key positions,
ACL categories and docs are Redis 7.0's own (``redis-7.0.json``, see ``spec.py``), so COMMAND
INFO/DOCS, arity errors and key extraction match Redis exactly. A subcommand is written
``"container|sub"``. Dispatch, COMMAND, MULTI, ACLs and the README's command list all read this.
"""

from __future__ import annotations

from . import connection, expire, keys
from . import strings
from . import client, info
from . import admin
from .spec import build_table

HANDLERS = {
    # -- connection (connection.py) --------------------------------------------------------------
    "ping": connection.ping,
    "echo": connection.echo,
    "quit": connection.quit_,
    "select": connection.select,
    "auth": connection.auth,
    "hello": connection.hello,
    "reset": connection.reset,
    # -- keys (keys.py) --------------------------------------------------------------------------
    "del": keys.delete,
    "unlink": keys.unlink,
    "exists": keys.exists,
    "type": keys.type_,
    "touch": keys.touch,
    "rename": keys.rename,
    "renamenx": keys.renamenx,
    "move": keys.move,
    "copy": keys.copy,
    "swapdb": keys.swapdb,
    "flushdb": keys.flushdb,
    "flushall": keys.flushall,
    "dbsize": keys.dbsize,
    "keys": keys.keys,
    "scan": keys.scan,
    "randomkey": keys.randomkey,
    "object|help": keys.object_help,
    "object|encoding": keys.object_encoding,
    "object|refcount": keys.object_refcount,
    "object|idletime": keys.object_idletime,
    "object|freq": keys.object_freq,
    # -- expiry (expire.py) ----------------------------------------------------------------------
    "expire": expire.expire,
    "pexpire": expire.pexpire,
    "expireat": expire.expireat,
    "pexpireat": expire.pexpireat,
    "ttl": expire.ttl,
    "pttl": expire.pttl,
    "expiretime": expire.expiretime,
    "pexpiretime": expire.pexpiretime,
    "persist": expire.persist,
    # -- strings (strings.py) --------------------------------------------------------------------
    "get": strings.get,
    "set": strings.set_,
    "setnx": strings.setnx,
    "setex": strings.setex,
    "psetex": strings.psetex,
    "getset": strings.getset,
    "getdel": strings.getdel,
    "getex": strings.getex,
    "mget": strings.mget,
    "mset": strings.mset,
    "msetnx": strings.msetnx,
    "append": strings.append,
    "strlen": strings.strlen,
    "getrange": strings.getrange,
    "substr": strings.getrange,
    "setrange": strings.setrange,
    "incr": strings.incr,
    "decr": strings.decr,
    "incrby": strings.incrby,
    "decrby": strings.decrby,
    "incrbyfloat": strings.incrbyfloat,
    "lcs": strings.lcs,
    # -- info (info.py) --------------------------------------------------------------------------
    "info": info.info,
    # -- clients (client.py) ---------------------------------------------------------------------
    "client|id": client.client_id,
    "client|info": client.client_info,
    "client|list": client.client_list,
    "client|kill": client.client_kill,
    "client|setname": client.client_setname,
    "client|getname": client.client_getname,
    "client|setinfo": client.client_setinfo,
    "client|no-evict": client.client_no_evict,
    "client|pause": client.client_pause,
    "client|unpause": client.client_unpause,
    "client|reply": client.client_reply,
    "client|unblock": client.client_unblock,
    "client|getredir": client.client_getredir,
    "client|help": client.client_help,
    # -- server administration (admin.py) --------------------------------------------------------
    "config|get": admin.config_get,
    "config|set": admin.config_set,
    "config|resetstat": admin.config_resetstat,
    "config|rewrite": admin.config_rewrite,
    "config|help": admin.config_help,
    "command": admin.command,
    "command|count": admin.command_count,
    "command|info": admin.command_info,
    "command|docs": admin.command_docs,
    "command|list": admin.command_list,
    "command|getkeys": admin.command_getkeys,
    "command|getkeysandflags": admin.command_getkeysandflags,
    "command|help": admin.command_help,
    "time": admin.time_,
    "slowlog|get": admin.slowlog_get,
    "slowlog|len": admin.slowlog_len,
    "slowlog|reset": admin.slowlog_reset,
    "slowlog|help": admin.slowlog_help,
    "latency|latest": admin.latency_latest,
    "latency|history": admin.latency_history,
    "latency|reset": admin.latency_reset,
    "latency|graph": admin.latency_graph,
    "latency|doctor": admin.latency_doctor,
    "latency|histogram": admin.latency_histogram,
    "latency|help": admin.latency_help,
    "debug": admin.debug,
    "monitor": admin.monitor,
    "wait": admin.wait,
    "shutdown": admin.shutdown,
    "cluster|keyslot": admin.cluster_keyslot,
    **{f"cluster|{sub}": admin.cluster_disabled for sub in (
        "addslots", "addslotsrange", "bumpepoch", "count-failure-reports", "countkeysinslot", "delslots",
        "delslotsrange", "failover", "flushslots", "forget", "getkeysinslot", "help", "info", "links", "meet",
        "myid", "nodes", "replicas", "replicate", "reset", "saveconfig", "set-config-epoch", "setslot",
        "shards", "slaves", "slots")},
}

# Commands whose pipelined batches may run as a whole (dispatch.run_uniform): constant-time,
# never blocking, pausing or closing the client, and leaving the client's state alone.
PLAIN = frozenset((
    "get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "append", "strlen",
    "incr", "decr", "incrby", "decrby", "incrbyfloat", "exists", "type", "ttl", "pttl",
    "expire", "pexpire", "persist",
))

# Handlers that take every call of a uniform batch at once (see dispatch.run_uniform).
MANY = {
    "get": strings.get_many,
    "set": strings.set_many,
}

COMMANDS = build_table(HANDLERS)
for _name, _many in MANY.items():
    COMMANDS[_name.encode()].many = _many
# Every spec, subcommands included (for what walks them all: Server.flush_latency).
ALL_SPECS = [spec for top in COMMANDS.values() for spec in (top, *top.subcommands.values())]
