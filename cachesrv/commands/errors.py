"""Every error text a command can answer, in one place, byte for byte as Redis 7.0 sends them.

Two families (h11's rule): ``protocols.resp.ProtocolError`` means the peer broke the framing (reply
once, close); ``CommandError`` means a command was refused (reply ``-<text>``, carry on). Anything
else escaping a handler is a bug: the dispatcher logs it with its traceback.
"""

from __future__ import annotations

from protocols.resp import RespError


class CommandError(RespError):
    """A refused command. ``str(e)`` is the whole reply text, error code first (``ERR ...``)."""

    __slots__ = ()


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"
DB_INDEX = "ERR DB index is out of range"
INVALID_DB_INDEX = "ERR invalid DB index"
SAME_OBJECT = "ERR source and destination objects are the same"
INVALID_EXPIRE = "ERR invalid expire time in '{cmd}' command"
NOT_ALLOWED_MULTI = "ERR {cmd} inside MULTI is not allowed"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_RANGE = "ERR offset is out of range"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOPROTO = "NOPROTO unsupported protocol version"
UNBLOCKED = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_OUT_OF_RANGE = "ERR timeout is out of range"
# getIntFromObjectOrReply without a custom message, for a 64-bit integer outside C's int
INT_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"
# generic key commands and expiry (keys.py, expire.py)
INVALID_CURSOR = "ERR invalid cursor"
INVALID_FIRST_DB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"
UNSUPPORTED_OPTION = "ERR Unsupported option {opt}"
EXPIRE_NX_CONFLICT = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_LT_CONFLICT = "ERR GT and LT options at the same time are not compatible"
LFU_NOT_SELECTED = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
                    "that when switching between policies at runtime LRU and LFU data will take some time to "
                    "adjust.")
LFU_SELECTED = ("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
                "switching between policies at runtime LRU and LFU data will take some time to adjust.")
# strings (strings.py)
DECR_OVERFLOW = "ERR decrement would overflow"
NAN_OR_INFINITY = "ERR increment would produce NaN or Infinity"
LCS_NOT_STRINGS = "ERR The specified keys must contain string values"
LCS_IDX_AND_LEN = "ERR If you want both the length and indexes, please just use IDX."
LCS_TOO_LONG = "ERR String too long for LCS"
LCS_MEMORY = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
# clients (client.py)
NO_SUCH_CLIENT = "ERR No such client"
CLIENT_ID_POSITIVE = "ERR client-id should be greater than 0"
INVALID_CLIENT_ID = "ERR Invalid client ID"
UNKNOWN_CLIENT_TYPE = "ERR Unknown client type '{type}'"
NO_SUCH_USER = "ERR No such user '{user}'"
TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"
PAUSE_MODE = "ERR CLIENT PAUSE mode must be WRITE or ALL"
UNBLOCK_REASON = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
SETINFO_OPTION = "ERR Unrecognized option '{attr}'"
SETINFO_CHARS = "ERR {attr} cannot contain spaces, newlines or special characters."
# server administration (admin.py)
INVALID_COMMAND = "ERR Invalid command specified"
NO_KEY_ARGUMENTS = "ERR The command has no key arguments"
INVALID_ARG_COUNT = "ERR Invalid number of arguments specified for command"
INVALID_ARGUMENTS = "ERR Invalid arguments specified for command"
SLOWLOG_COUNT = "ERR count should be greater than or equal to -1"
NO_LATENCY_SAMPLES = "ERR No samples available for event '{event}'"
DEBUG_NOT_ALLOWED = ("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
                     "you can run it from a local connection, otherwise you need to set this option in the "
                     "configuration file, and then restart the server.")
MUST_BE_POSITIVE = "ERR value is out of range, must be positive"
RESP2_NOT_SUPPORTED = "ERR RESP2 is not supported by this command"
PROTOCOL_TYPE = ("ERR Wrong protocol type name. Please use one of the following: "
                 "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
MONITOR_DENY_BLOCKING = "ERR MONITOR isn't allowed for DENY BLOCKING client"
WAIT_ON_REPLICA = ("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a "
                   "replica is configured to be writable (which is not the default) writes to replicas are just "
                   "local and are not propagated.")
SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."
NO_SHUTDOWN = "ERR No shutdown in progress."
CLUSTER_DISABLED = "ERR This instance has cluster support disabled"


def subcommand_syntax(argv: list[bytes]) -> CommandError:
    """addReplySubcommandSyntaxError: a known subcommand with an argument count it rejects itself."""
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{_printable(argv[1])[:128]}'. "
                        f"Try {argv[0].decode('utf-8', 'surrogateescape').upper()} HELP.")


def wrong_arity(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def _preview(args: list[bytes]) -> str:
    # Redis: for each arg while the preview is under 128 chars: sdscatprintf("'%.*s' ", 128-len, arg).
    out = ""
    for a in args:
        if len(out) >= 128:
            break
        out += "'" + _printable(a)[: 128 - len(out)] + "' "
    return out


def _printable(b: bytes) -> str:
    # C's %s stops at a NUL byte; newlines are turned into spaces by the reply encoder, as Redis does.
    # surrogateescape: the encoder writes str messages as UTF-8/surrogateescape, so bytes round-trip.
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def unknown_command(argv: list[bytes]) -> CommandError:
    name = _printable(argv[0])[:128]
    return CommandError(f"ERR unknown command '{name}', with args beginning with: {_preview(argv[1:])}")


def unknown_subcommand(argv: list[bytes]) -> CommandError:
    return CommandError(f"ERR unknown subcommand '{_printable(argv[1])[:128]}'. "
                        f"Try {argv[0].decode('utf-8', 'surrogateescape').upper()} HELP.")
