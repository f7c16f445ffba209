"""CLIENT: connection management. Redis 7.0's subcommands (ID INFO LIST KILL SETNAME GETNAME
NO-EVICT PAUSE UNPAUSE REPLY UNBLOCK GETREDIR HELP) plus SETINFO from Redis 7.2, which client
libraries send on connect. TRACKING, CACHING and TRACKINGINFO come with client-side caching.

Theory of operation
-------------------
* Every connected client is a ``Session`` in ``server.clients`` (id -> session, in connection
  order, which is CLIENT LIST's order). ``Session.describe()`` writes one CLIENT LIST line.
* Killing another client unregisters it at once, so the next CLIENT LIST or INFO no longer counts
  it (Redis frees it in place), and cancels its connection task. Killing the calling client only
  sets ``close_requested``: the connection sends this reply, then closes, as Redis's
  CLIENT_CLOSE_AFTER_REPLY.
* CLIENT REPLY only records the mode; the connection (``net.Connection.wants_reply``) drops the
  replies. SKIP counts two: the CLIENT REPLY SKIP's own reply and the next command's.
* CLIENT UNBLOCK marks why a blocked client (``session.blocked``) must stop waiting and wakes its
  connection, which replies to it: the command's timeout reply, or the UNBLOCKED error.
* CLIENT PAUSE and UNPAUSE go through ``Server.pause``/``unpause``; dispatch holds the commands.
* Arguments are all checked before anything changes, in Redis's order (PAUSE checks its mode
  before its timeout; UNBLOCK its reason before the id).
"""

from __future__ import annotations

import time

from protocols.resp import Verbatim

from .args import LLONG_MAX, to_int
from .connection import validate_client_name
from .errors import (
    CLIENT_ID_POSITIVE, INVALID_CLIENT_ID, NO_SUCH_CLIENT, NO_SUCH_USER, NOT_INTEGER, PAUSE_MODE,
    SETINFO_CHARS, SETINFO_OPTION, SYNTAX, TIMEOUT_NEGATIVE, TIMEOUT_NOT_INTEGER, UNBLOCK_REASON,
    UNKNOWN_CLIENT_TYPE, CommandError, subcommand_syntax,
)
from .spec import REDIS_COMMANDS

# getClientTypeByName
CLIENT_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica", b"pubsub": "pubsub",
                b"master": "master"}

HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
]

# CLIENT SETINFO is Redis 7.2's, so redis-7.0.json does not describe it: this is 7.2's declaration
# (client-setinfo.json), registered before the table is built so COMMAND and arity checks know it.
SETINFO_META = {
    "arity": 4,
    "flags": ["noscript", "loading", "stale"],
    "first_key": 0, "last_key": 0, "step": 0,
    "acl_categories": ["@slow", "@connection"],
    "tips": [], "key_specs": [], "subcommands": {},
    "docs": {
        "summary": "Sets information specific to the client or connection.", "since": "7.2.0", "group": "connection",
        "complexity": "O(1)",
        "arguments": [{"name": "attr", "type": "oneof", "arguments": [
            {"name": "libname", "type": "string", "token": "lib-name"},
            {"name": "libver", "type": "string", "token": "lib-ver"},
        ]}],
    },
}
REDIS_COMMANDS["client"]["subcommands"].setdefault("client|setinfo", SETINFO_META)


def _argv_mem(argv: list[bytes]) -> int:
    return sum(len(a) for a in argv)


def _client_type(name: bytes) -> str:
    t = CLIENT_TYPES.get(name.lower())
    if t is None:
        raise CommandError(UNKNOWN_CLIENT_TYPE.format(type=name.decode("utf-8", "surrogateescape")))
    return t


def _user_exists(server, name: bytes) -> bool:
    # Until ACL SETUSER exists the default user is the only one.
    return name == b"default"


def _kill(server, session) -> None:
    """Drop another client now: it leaves the client list at once; its task ends at its next await."""
    server.unregister(session)
    session.request_kill()


# -- subcommands --------------------------------------------------------------------------------------
def client_id(ctx, argv):
    """CLIENT ID"""
    return ctx.id


def client_info(ctx, argv):
    """CLIENT INFO"""
    return Verbatim((ctx.describe(_argv_mem(argv)) + "\n").encode("latin-1"))


def client_list(ctx, argv):
    """CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]"""
    clients = ctx.server.clients
    if len(argv) == 4 and argv[2].lower() == b"type":
        wanted = _client_type(argv[3])
        chosen = [s for s in clients.values() if s.client_type() == wanted]
    elif len(argv) > 3 and argv[2].lower() == b"id":
        ids = []
        for a in argv[3:]:
            cid = to_int(a)
            if cid is None:
                raise CommandError(INVALID_CLIENT_ID)
            ids.append(cid)
        chosen = [clients[cid] for cid in ids if cid in clients]   # as asked: repeats repeat
    elif len(argv) != 2:
        raise CommandError(SYNTAX)
    else:
        chosen = list(clients.values())
    mem = _argv_mem(argv)
    text = "".join(s.describe(mem if s is ctx else 0) + "\n" for s in chosen)
    return Verbatim(text.encode("latin-1"))


def client_kill(ctx, argv):
    """CLIENT KILL ip:port | CLIENT KILL [ID id] [TYPE type] [USER user] [ADDR ip:port]
    [LADDR ip:port] [SKIPME yes|no] ..."""
    addr = laddr = ctype = user = None
    cid = 0
    old_form = len(argv) == 3
    if old_form:
        addr = argv[2].decode("latin-1")
        skipme = False                      # the old form may kill the caller
    else:
        skipme = True
        i = 2
        while i < len(argv):
            opt = argv[i].lower()
            if i + 1 >= len(argv):
                raise CommandError(SYNTAX)
            value = argv[i + 1]
            if opt == b"id":
                cid = to_int(value)
                if cid is None or cid < 1:
                    raise CommandError(CLIENT_ID_POSITIVE)
            elif opt == b"type":
                ctype = _client_type(value)
            elif opt == b"addr":
                addr = value.decode("latin-1")
            elif opt == b"laddr":
                laddr = value.decode("latin-1")
            elif opt == b"user":
                if not _user_exists(ctx.server, value):
                    raise CommandError(NO_SUCH_USER.format(user=value.decode("utf-8", "surrogateescape")))
                user = value.decode("latin-1")
            elif opt == b"skipme":
                v = value.lower()
                if v == b"yes":
                    skipme = True
                elif v == b"no":
                    skipme = False
                else:
                    raise CommandError(SYNTAX)
            else:
                raise CommandError(SYNTAX)
            i += 2
    killed = 0
    close_self = False
    server = ctx.server
    for s in list(server.clients.values()):
        if addr is not None and s.addr != addr:
            continue
        if laddr is not None and s.laddr != laddr:
            continue
        if ctype is not None and s.client_type() != ctype:
            continue
        if cid and s.id != cid:
            continue
        if user is not None and s.user != user:
            continue
        if s is ctx:
            if skipme:
                continue
            close_self = True
        else:
            _kill(server, s)
        killed += 1
    if close_self:
        ctx.close_requested = True          # after this reply is sent
    if old_form:
        if not killed:
            raise CommandError(NO_SUCH_CLIENT)
        return "OK"
    return killed


def client_setname(ctx, argv):
    """CLIENT SETNAME connection-name ("" removes the name)"""
    validate_client_name(argv[2])
    ctx.name = argv[2]
    return "OK"


def client_getname(ctx, argv):
    """CLIENT GETNAME"""
    return ctx.name or None


def client_setinfo(ctx, argv):
    """CLIENT SETINFO LIB-NAME libname | LIB-VER libver (Redis 7.2)"""
    attr = argv[2]
    field = {b"lib-name": "lib_name", b"lib-ver": "lib_ver"}.get(attr.lower())
    if field is None:
        raise CommandError(SETINFO_OPTION.format(attr=attr.decode("utf-8", "surrogateescape")))
    value = argv[3]
    if any(c < 33 or c > 126 for c in value):
        raise CommandError(SETINFO_CHARS.format(attr=attr.decode("utf-8", "surrogateescape")))
    setattr(ctx, field, value)
    return "OK"


def client_no_evict(ctx, argv):
    """CLIENT NO-EVICT ON|OFF"""
    v = argv[2].lower()
    if v == b"on":
        ctx.no_evict = True
    elif v == b"off":
        ctx.no_evict = False
    else:
        raise CommandError(SYNTAX)
    return "OK"


def client_pause(ctx, argv):
    """CLIENT PAUSE timeout [WRITE|ALL]"""
    if len(argv) > 4:
        raise subcommand_syntax(argv)
    pause_all = True
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            pause_all = False
        elif mode != b"all":
            raise CommandError(PAUSE_MODE)
    ms = to_int(argv[2])
    if ms is None:
        raise CommandError(TIMEOUT_NOT_INTEGER)
    if ms < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    # Redis 7.0 adds the timeout to the Unix-ms clock in a 64-bit integer: past LLONG_MAX the
    # deadline wraps into the past and the pause ends at once (only a stricter mode sticks).
    if ms > LLONG_MAX - int(time.time() * 1000):
        ms = 0
    ctx.server.pause(ms / 1000, pause_all)
    return "OK"


def client_unpause(ctx, argv):
    """CLIENT UNPAUSE"""
    ctx.server.unpause()
    return "OK"


def client_reply(ctx, argv):
    """CLIENT REPLY ON|OFF|SKIP"""
    mode = argv[2].lower()
    if mode == b"on":
        ctx.reply_mode, ctx.skip_replies = "on", 0
    elif mode == b"off":
        ctx.reply_mode, ctx.skip_replies = "off", 0
    elif mode == b"skip":
        if ctx.reply_mode != "off":           # SKIP while OFF changes nothing
            ctx.reply_mode, ctx.skip_replies = "skip", 2
    else:
        raise CommandError(SYNTAX)
    ctx.update_gate()
    return "OK"


def client_unblock(ctx, argv):
    """CLIENT UNBLOCK client-id [TIMEOUT|ERROR]"""
    if len(argv) > 4:
        raise subcommand_syntax(argv)
    reason = "timeout"
    if len(argv) == 4:
        r = argv[3].lower()
        if r == b"error":
            reason = "error"
        elif r != b"timeout":
            raise CommandError(UNBLOCK_REASON)
    cid = to_int(argv[2])
    if cid is None:
        raise CommandError(NOT_INTEGER)
    target = ctx.server.clients.get(cid)
    # A client held by CLIENT PAUSE is not blocked in this sense (Redis 7.0.15 even crashes on it).
    if target is None or target.blocked is None or target.unblock_reason is not None:
        return 0
    target.unblock_reason = reason
    if target.wakeup is not None:
        target.wakeup()
    return 1


def client_getredir(ctx, argv):
    """CLIENT GETREDIR: -1 while the client does not track keys."""
    return -1


def client_help(ctx, argv):
    """CLIENT HELP"""
    return HELP
