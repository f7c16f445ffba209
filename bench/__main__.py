"""``python -m bench SUBCOMMAND [options]`` -- benchmark runners for cachesrv.

Subcommands:
  resp      cachesrv vs redis-server over RESP with redis-benchmark (bench/resp.py)
  memcache  cachesrv vs memcached over the memcached text protocol with memcaslap
            (bench/memcache.py)

Later runners add an entry to RUNNERS: a module with a ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib
import sys

RUNNERS = {
    "resp": ("bench.resp", "cachesrv vs redis-server over RESP (redis-benchmark)"),
    "memcache": ("bench.memcache", "cachesrv vs memcached over the memcached protocol (memcaslap)"),
}


def usage() -> str:
    lines = ["usage: python -m bench SUBCOMMAND [options]   (SUBCOMMAND --help for options)",
             "", "subcommands:"]
    lines += [f"  {name:10s} {desc}" for name, (_, desc) in RUNNERS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in RUNNERS:
        print(f"unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(RUNNERS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
