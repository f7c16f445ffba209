"""``cachesrv [config-file] [--directive value ...]``, as redis-server takes them."""

from __future__ import annotations

import sys

from . import __version__


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError, parse_args
    from .commands.spec import REDIS_VERSION

    args = sys.argv[1:] if argv is None else argv
    try:
        cfg = parse_args(args)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    if cfg.show_version:
        print(f"cachesrv v={__version__} (speaks Redis {REDIS_VERSION}) python={sys.version.split()[0]}")
        return 0
    if cfg.show_help:
        print("Usage: cachesrv [/path/to/cachesrv.conf] [options] [-]\n"
              "       cachesrv - (read config from stdin)\n"
              "       cachesrv -v or --version\n"
              "       cachesrv -h or --help\n\n"
              "Examples:\n"
              "       cachesrv (run the server with default config)\n"
              "       cachesrv /etc/cachesrv/6379.conf\n"
              "       cachesrv --port 7777\n"
              "       cachesrv --port 0 --save \"\" (a free port, chosen by the OS and logged)\n"
              "       cachesrv /etc/mycachesrv.conf --loglevel verbose\n")
        return 0
    from .net import main_run
    from .server import Server

    server = Server(cfg)
    server.log.notice("oO0OoO0OoO0Oo cachesrv is starting oO0OoO0OoO0Oo")
    server.log.notice("cachesrv version=%s, speaks Redis %s, pid=%d, just started", __version__, REDIS_VERSION, server.pid)
    if cfg.path:
        server.log.notice("Configuration loaded")
    else:
        server.log.warning("Warning: no config file specified, using the default config. In order to specify a "
                           "config file use cachesrv /path/to/cachesrv.conf")
    try:
        main_run(server)
    except OSError as e:
        server.log.warning("%s", e)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
