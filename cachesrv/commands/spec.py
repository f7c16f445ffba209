"""The shape of one command: what dispatch, COMMAND, key extraction and ACLs read.

A ``CommandSpec`` joins a handler (declared in ``table.py``) with what Redis 7.0 says about the
command (``redis-7.0.json``: arity, flags, key specs, ACL categories, docs). Flags that dispatch
checks on every call are also kept as plain booleans so the hot path reads one attribute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

Handler = Callable[[Any, list], Any]

_REDIS = json.loads(Path(__file__).with_name("redis-7.0.json").read_text())
REDIS_VERSION: str = _REDIS["redis_version"]
REDIS_COMMANDS: dict[str, dict] = _REDIS["commands"]


LATENCY_FAST_US = 64     # calls shorter than this many microseconds are counted per microsecond


class CommandSpec:
    __slots__ = (
        "name", "fullname", "handler", "arity", "flags", "first_key", "last_key", "step",
        "acl_categories", "tips", "key_specs", "docs", "subcommands", "parent",
        # hot-path flags
        "write", "denyoom", "noauth", "loading", "stale", "pubsub_ok", "no_multi", "blocking",
        "admin", "fast", "readonly", "argc_min", "argc_max", "many",
        # statistics (INFO commandstats)
        "calls", "usec", "rejected_calls", "failed_calls", "latency_us", "latency_pending",
    )

    def __init__(self, fullname: str, handler: Handler | None, meta: dict, parent: "CommandSpec | None" = None):
        self.fullname = fullname                      # "get", "config|get"
        self.name = fullname.rsplit("|", 1)[-1]
        self.handler = handler
        self.parent = parent
        self.arity: int = meta["arity"]
        # len(argv) must lie in [argc_min, argc_max] (a negative arity is a minimum)
        self.argc_min: int = abs(self.arity)
        self.argc_max: int = self.arity if self.arity > 0 else 1 << 62
        self.flags: list[str] = list(meta["flags"])
        self.first_key: int = meta["first_key"]
        self.last_key: int = meta["last_key"]
        self.step: int = meta["step"]
        self.acl_categories: list[str] = list(meta["acl_categories"])
        self.tips: list[str] = list(meta.get("tips", ()))
        self.key_specs: list[dict] = meta.get("key_specs", [])
        self.docs: dict = meta.get("docs", {})
        self.subcommands: dict[bytes, CommandSpec] = {}
        # All the calls of a uniform pipelined batch in one call: argvs -> replies (dispatch.run_uniform)
        self.many: Callable[[Any, list], list] | None = None
        f = set(self.flags)
        self.write = "write" in f
        self.denyoom = "denyoom" in f
        self.noauth = "no_auth" in f
        self.loading = "loading" in f
        self.stale = "stale" in f
        self.pubsub_ok = "pubsub" in f or fullname in ("ping", "reset", "quit")
        self.no_multi = "no_multi" in f
        self.blocking = "blocking" in f
        self.admin = "admin" in f
        self.fast = "fast" in f
        self.readonly = "readonly" in f
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0
        # Call durations not yet in the latency histogram: counts per whole microsecond for the
        # short calls, the durations (ns) of the others (dispatch.execute, Server.flush_latency).
        self.latency_us: list[int] = [0] * LATENCY_FAST_US
        self.latency_pending: list[int] = []

    def arity_ok(self, argc: int) -> bool:
        a = self.arity
        return argc == a if a > 0 else argc >= -a

    def reset_stats(self) -> None:
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0
        self.latency_us = [0] * LATENCY_FAST_US
        self.latency_pending.clear()
        for sub in self.subcommands.values():
            sub.reset_stats()


def redis_meta(fullname: str) -> dict:
    """Redis 7.0's metadata for ``get`` or ``config|get``."""
    if "|" in fullname:
        parent, _ = fullname.split("|", 1)
        return REDIS_COMMANDS[parent]["subcommands"][fullname]
    return REDIS_COMMANDS[fullname]


def build_table(handlers: dict[str, Handler]) -> dict[bytes, CommandSpec]:
    """``{"get": fn, "config|get": fn, ...}`` -> ``{b"get": CommandSpec, ...}`` with subcommands
    nested under their container. A container needs no handler of its own."""
    table: dict[bytes, CommandSpec] = {}
    for fullname in sorted(handlers, key=lambda n: n.count("|")):
        if "|" in fullname:
            parent_name, _ = fullname.split("|", 1)
            parent = table.get(parent_name.encode())
            if parent is None:
                parent = table[parent_name.encode()] = CommandSpec(parent_name, None, redis_meta(parent_name))
            sub = CommandSpec(fullname, handlers[fullname], redis_meta(fullname), parent)
            parent.subcommands[sub.name.encode()] = sub
        else:
            table[fullname.encode()] = CommandSpec(fullname, handlers[fullname], redis_meta(fullname))
    return table
