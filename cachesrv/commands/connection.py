"""Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT."""

from __future__ import annotations

import hmac

from ..server import VERSION
from .args import to_int
from .flow import Close
from .errors import DB_INDEX, NOPROTO, NOT_INTEGER, WRONGPASS, CommandError, wrong_arity
from .spec import REDIS_VERSION


def ping(ctx, argv):
    """PING [message]"""
    if len(argv) > 2:
        raise wrong_arity("ping")
    if ctx.subscriptions and ctx.proto == 2:
        return [b"pong", argv[1] if len(argv) > 1 else b""]
    return argv[1] if len(argv) > 1 else "PONG"


def echo(ctx, argv):
    """ECHO message"""
    return argv[1]


def quit_(ctx, argv):
    """QUIT: reply OK, then close."""
    return Close("OK")


def select(ctx, argv):
    """SELECT index"""
    index = to_int(argv[1])
    if index is None or not -(1 << 31) <= index < (1 << 31):
        raise CommandError(NOT_INTEGER)
    if not 0 <= index < len(ctx.ks.dbs):
        raise CommandError(DB_INDEX)
    ctx.select(index)
    return "OK"


def _check_password(ctx, username: bytes, password: bytes) -> bool:
    """The default user is the only user until ACLs: ``requirepass`` is its password; with none
    set, it is 'nopass' and any password is accepted (as Redis's default user)."""
    if username != b"default":
        return False
    required = ctx.server.cfg["requirepass"]
    if not required:
        return True
    return hmac.compare_digest(password, required.encode("latin-1"))


def authenticate(ctx, username: bytes, password: bytes) -> None:
    if not _check_password(ctx, username, password):
        raise CommandError(WRONGPASS)
    ctx.user = username.decode("latin-1")
    ctx.authenticated = True
    ctx.update_gate()


def auth(ctx, argv):
    """AUTH [username] password"""
    if len(argv) > 3:
        raise CommandError("ERR syntax error")
    if len(argv) == 2:
        if not ctx.server.cfg["requirepass"]:
            raise CommandError("ERR AUTH <password> called without any password configured for the default user. "
                               "Are you sure your configuration is correct?")
        authenticate(ctx, b"default", argv[1])
    else:
        authenticate(ctx, argv[1], argv[2])
    return "OK"


def validate_client_name(name: bytes) -> None:
    """Redis allows names of printable ASCII without spaces ('!' through '~')."""
    if any(c < 33 or c > 126 for c in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


def hello(ctx, argv):
    """HELLO [protover [AUTH username password] [SETNAME clientname]]"""
    ver = None
    i = 1
    if len(argv) > 1:
        ver = to_int(argv[1])
        if ver is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            raise CommandError(NOPROTO)
        i = 2
    name = None
    while i < len(argv):
        opt = argv[i].upper()
        more = len(argv) - i - 1
        if opt == b"AUTH" and more >= 2:
            authenticate(ctx, argv[i + 1], argv[i + 2])   # as Redis 7.0: at once, while reading options
            i += 3
        elif opt == b"SETNAME" and more >= 1:
            name = argv[i + 1]
            validate_client_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'surrogateescape')}'")
    if not ctx.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                           "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                           "select the RESP protocol version at the same time")
    if name is not None:
        ctx.name = name
    if ver is not None:
        ctx.proto = ver
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": ctx.proto,
        b"id": ctx.id,
        b"mode": b"standalone",
        b"role": b"replica" if ctx.ks.role_replica else b"master",
        b"modules": [],
    }


def reset(ctx, argv):
    """RESET: back to a fresh connection's state (Redis's clearClientConnectionState)."""
    server = ctx.server
    if ctx.monitor:
        ctx.monitor = False
        server.monitors.discard(ctx)
    ctx.select(0)
    ctx.proto = 2
    ctx.user = "default"
    ctx.authenticated = not server.auth_required()
    ctx.multi = None
    ctx.multi_error = False
    server.unwatch_all(ctx)
    ctx.watch_dirty = False
    ctx.name = b""
    ctx.reply_mode = "on"
    ctx.skip_replies = 0
    ctx.update_gate()
    return "RESET"


__all__ = ["ping", "echo", "quit_", "select", "auth", "hello", "reset", "VERSION"]
