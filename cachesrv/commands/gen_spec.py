"""Regenerate ``redis-7.0.json``: the metadata of every command, as Redis 7.0 declares it.

cachesrv answers COMMAND INFO / COMMAND DOCS (redis-cli builds its hints from them) and checks
arity, flags and key positions exactly as Redis does. Rather than retyping Redis's command table
by hand, this asks a real redis-server 7.0 for it once and stores the answer beside the code:

    redis-server --port 7777 --save '' &
    python -m cachesrv.commands.gen_spec 127.0.0.1 7777

The file is data, reviewed like code. Which of these commands cachesrv serves, and with which
handler, is declared in ``table.py``; this file only supplies what Redis says about each one.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import hiredis

OUT = Path(__file__).with_name("redis-7.0.json")


def _plain(value):
    """hiredis (RESP3) values -> JSON-able values; maps stay objects, so their shape survives."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _call(sock: socket.socket, reader: hiredis.Reader, *args: str):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    sock.sendall(b"".join(parts))
    while True:
        reply = reader.gets()
        if reply is not False:
            return reply
        reader.feed(sock.recv(1 << 20))


def _info_entry(info) -> dict:
    name, arity, flags, first, last, step, acl, tips, key_specs, subcommands = info
    return {
        "arity": arity,
        "flags": _plain(flags),
        "first_key": first,
        "last_key": last,
        "step": step,
        "acl_categories": _plain(acl),
        "tips": _plain(tips),
        "key_specs": _plain(key_specs),
        "subcommands": {_plain(s[0]): _info_entry(s) for s in subcommands},
    }


def main(host: str = "127.0.0.1", port: int = 6379) -> None:
    sock = socket.create_connection((host, port))
    reader = hiredis.Reader()
    _call(sock, reader, "HELLO", "3")
    version = _call(sock, reader, "INFO", "server").decode()
    infos = _call(sock, reader, "COMMAND", "INFO")
    if not infos:
        infos = _call(sock, reader, "COMMAND")
    docs = _plain(_call(sock, reader, "COMMAND", "DOCS"))
    commands = {}
    for info in infos:
        name = _plain(info[0])
        entry = _info_entry(info)
        entry["docs"] = docs.get(name, {})
        for sub, sub_entry in entry["subcommands"].items():
            sub_entry["docs"] = docs.get(name, {}).get("subcommands", {}).get(sub, {})
        entry["docs"].pop("subcommands", None)
        for sub_entry in entry["subcommands"].values():
            sub_entry["docs"].pop("subcommands", None)
        commands[name] = entry
    redis_version = next(l.split(":", 1)[1].strip() for l in version.splitlines() if l.startswith("redis_version:"))
    OUT.write_text(json.dumps({"redis_version": redis_version, "commands": dict(sorted(commands.items()))},
                              indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(commands)} commands from redis {redis_version} to {OUT.name}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["127.0.0.1"]), *(int(p) for p in sys.argv[2:3]))
