"""memcached text protocol (classic and meta commands): request reader and the pure helpers the
command layer shares with it.

This module is sans-IO: it never touches sockets, clocks or trio. The connection feeds it the
bytes it received (``MemcacheReader.feed``) and asks for events (``next_event``); the command
layer (``cachesrv/commands/memcache.py``) turns each event into reply bytes.

The specification is memcached 1.6.18 (Debian's build), byte for byte. Every rule below was
checked against that binary over a raw socket; the tests in ``tests/protocols`` record what it
answered.

States (memcached's conn_parse_cmd / conn_nread / conn_swallow)
----------------------------------------------------------------
``LINE``
    A command line ends at the first ``\\n``; one ``\\r`` before it is dropped unless it is the
    line's only byte (so ``\\r\\n`` alone is the command ``"\\r"``, answered ``ERROR``). The line
    is a C string: a NUL byte ends it. Tokens are separated by runs of spaces only (a tab is part
    of a token). With no ``\\n`` yet and more than 2048 bytes buffered, or a ``\\n`` further than
    memcached's 16384-byte read buffer, the connection is closed without a reply, unless the
    line (after at most 100 leading spaces) starts with ``get `` or ``gets ``: multi-key gets
    may be arbitrarily long (here up to ``MAX_GET_LINE``).
``DATA(n)``
    After a storage command's header (set add replace append prepend cas ms) exactly ``n``
    bytes of data plus two more are taken; the two must be ``\\r\\n``, else the block is refused
    with ``CLIENT_ERROR bad data chunk`` and parsing resumes right after those ``n + 2`` bytes,
    as memcached does.
``SWALLOW(n)``
    A storage header that memcached refuses *after* reading its length (an item too large for
    ``max_item_size``, or a meta flag error in ``ms``) has its ``n + 2`` bytes discarded, unseen,
    so the stream stays in step. Errors found before the length is known (wrong token count,
    bad numbers) swallow nothing: the data line is then parsed as a command, as memcached does.

Events
------
``Request(command, args, data)``
    ``args`` are the tokens after the command; ``data`` is the data block without its ``\\r\\n``
    for storage commands, ``None`` otherwise. A storage ``Request`` whose ``data`` is ``None``
    is one whose block was too large and was swallowed: the command layer answers
    ``SERVER_ERROR object too large for cache`` and applies memcached's side effects (a ``set``
    or ``ms`` drops the old value, ``store_too_large`` counts it).
``ClientError(message, close, command)``
    A request refused while framing it: ``message`` is the reply line without its ``\\r\\n``
    (empty when memcached stays silent: ``noreply``, or a close), ``close`` asks the connection
    to close after writing it, and ``command`` names the storage command of a bad data chunk
    (memcached counts it in ``cmd_set`` all the same).
``NEED_DATA``
    Nothing complete is buffered.

Fast path: at the start of a fresh read (a ``bytes`` buffer, state ``LINE``), the two usual
requests, ``get <key>\r\n`` and ``set <key> 0 0 <n>\r\n`` with its whole data block, are each
read with one compiled regular expression; whatever it does not match (other commands, extra
spaces, NUL, a lone ``\n``, a length of 4096 or more, a partial or bad block, a too large item)
goes through the states above. Both give the same events (a codec test feeds edge cases whole and
split in two, which forces the general path).

The storage headers are validated here, with memcached's exact precedence and texts, because
the validation decides how many bytes follow. The helpers memcached uses for numbers
(``safe_strtoul``/``safe_strtol``/``safe_strtoull``: C's strtoul family plus memcached's end
checks and truncations), its base64 key codec and the meta-flag pre-parser are public so the
command layer parses the same way.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "NEED_DATA", "Request", "ClientError", "MemcacheReader", "MetaFlags", "parse_meta_flags",
    "safe_strtoul", "safe_strtol", "safe_strtoull", "b64decode", "b64encode", "item_fits", "item_size",
    "KEY_MAX_LENGTH", "STORAGE_COMMANDS",
]

KEY_MAX_LENGTH = 250
MAX_TOKENS = 24             # memcached's tokenizer: 23 tokens, then the rest of the line
META_MAX_TOKENS = 20        # MFLAG_MAX_OPT_LENGTH: ntokens above this is an error for meta commands
LINE_NO_NEWLINE_MAX = 2048  # more than this without a \n closes a non-get connection
READ_BUFFER = 16384         # memcached's read buffer: a longer non-get line can never be seen whole
MAX_GET_LINE = 64 << 20     # cachesrv's own bound on a multi-get line (memcached has none)
INT_MAX = 2**31 - 1
ULLONG_MAX = 2**64 - 1
ITEM_OVERHEAD = 59          # sizeof(item) 48 + key NUL 1 + data \r\n 2 + CAS 8
FLAGS_SIZE = 4              # non-zero client flags take 4 more bytes

STORAGE_COMMANDS = frozenset((b"set", b"add", b"replace", b"append", b"prepend", b"cas"))

_SPACE = frozenset(b" \t\n\x0b\x0c\r")   # C isspace()
_DIGITS = frozenset(b"0123456789")


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: returned by MemcacheReader.next_event when no complete event is buffered
NEED_DATA = _Sentinel("NEED_DATA")


class Request:
    """One request: ``command``, ``args`` (the tokens after it, a tuple), ``data`` (the data
    block of a storage command, without its ``\\r\\n``; None otherwise) and ``header``: a
    storage header as the reader parsed it, so the command layer need not parse it again
    ((client flags, exptime, CAS unique, noreply) for set/add/replace/append/prepend/cas, the
    MetaFlags for ms). ``header`` is not part of equality (it is derived from ``args``).

    A plain slotted class rather than a frozen dataclass: one is built per request, and the
    reader builds it without calling ``__init__`` (``_request``), which costs a fifth as much.
    Treat it as immutable."""

    __slots__ = ("command", "args", "data", "header")

    def __init__(self, command: bytes, args: tuple[bytes, ...], data: bytes | None = None,
                 header: Any = None) -> None:
        self.command = command
        self.args = args
        self.data = data
        self.header = header

    def __eq__(self, other: object) -> bool:
        if type(other) is not Request:
            return NotImplemented
        return (self.command == other.command and self.args == other.args
                and self.data == other.data)

    def __hash__(self) -> int:
        return hash((self.command, self.args, self.data))

    def __repr__(self) -> str:
        return "Request(command=%r, args=%r, data=%r, header=%r)" % (
            self.command, self.args, self.data, self.header)


_new = object.__new__


def _request(command: bytes, args: tuple, data: bytes | None = None, header: Any = None) -> Request:
    """``Request(...)`` for the reader's own use (see there: no ``__init__`` call)."""
    r = _new(Request)
    r.command = command
    r.args = args
    r.data = data
    r.header = header
    return r


@dataclass(frozen=True, slots=True)
class ClientError:
    message: bytes
    close: bool = False
    command: bytes = b""


class State(enum.Enum):
    LINE = enum.auto()
    DATA = enum.auto()
    SWALLOW = enum.auto()


# The canonical spellings of small numbers, read by one dict lookup (a storage header's length)
_SMALL_NUMBERS = {b"%d" % i: i for i in range(4096)}
_PLAIN_HEADER = (0, 0, 0, False)       # a storage header's (flags, exptime, CAS, noreply) at 0
# The fast path's two requests (see the module docstring), matched at the start of a fresh read
_PLAIN_GET = re.compile(rb"get ([^ \0\r\n]{1,250})\r\n").match
_PLAIN_SET = re.compile(rb"set ([^ \0\r\n]{1,250}) 0 0 (0|[1-9][0-9]{0,3})\r\n").match

# (module globals: an enum member looked up through its class costs more than a global)
_LINE, _DATA, _SWALLOW = State.LINE, State.DATA, State.SWALLOW


# ---------------------------------------------------------------------------
# Numbers, as memcached's util.c parses them
# ---------------------------------------------------------------------------

def _strto(tok: bytes) -> tuple[int, bool] | None:
    """C's strtoll/strtoull scan of a NUL-free token plus memcached's end check: leading
    isspace, an optional sign, decimal digits, then the end of the token or an isspace byte
    (whatever follows that byte is ignored, as the C code stops there). Returns (magnitude with
    the sign applied, negative?) or None when there are no digits or the end check fails."""
    n = len(tok)
    i = 0
    while i < n and tok[i] in _SPACE:
        i += 1
    neg = False
    if i < n and (tok[i] == 43 or tok[i] == 45):
        neg = tok[i] == 45
        i += 1
    j = i
    while j < n and tok[j] in _DIGITS:
        j += 1
    if j == i:
        return None
    if j < n and tok[j] not in _SPACE:
        return None
    v = int(tok[i:j])
    return (-v if neg else v), neg


def safe_strtoull(tok: bytes) -> int | None:
    """memcached's safe_strtoull: 64-bit unsigned; a '-' is accepted only when the wrapped
    result still looks positive as a signed number (strtoull negates modulo 2**64)."""
    if tok.isdigit() and len(tok) < 20:
        return int(tok)
    r = _strto(tok)
    if r is None:
        return None
    v, neg = r
    if v > ULLONG_MAX or v < -ULLONG_MAX:
        return None                       # ERANGE
    v &= ULLONG_MAX
    if neg and v >= 2**63:
        return None
    return v


def safe_strtoul(tok: bytes) -> int | None:
    """memcached's safe_strtoul on a 64-bit host: parsed as an unsigned long, then stored into
    a uint32_t, so 4294967296 reads as 0 and 18446744073709551615 as 4294967295."""
    if tok.isdigit() and len(tok) < 10:
        return int(tok)
    v = safe_strtoull(tok)
    return None if v is None else v & 0xFFFFFFFF


def safe_strtol(tok: bytes) -> int | None:
    """memcached's safe_strtol on a 64-bit host: parsed as a signed long (ERANGE outside
    64 bits), then stored into an int32_t (so 2147483648 reads as -2147483648)."""
    if tok.isdigit() and len(tok) < 10:
        return int(tok)
    r = _strto(tok)
    if r is None:
        return None
    v = r[0]
    if v < -(2**63) or v > 2**63 - 1:
        return None
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def item_size(nkey: int, client_flags: int, vlen: int) -> int:
    """memcached's ITEM_ntotal: header, key, value with its \\r\\n, CAS, non-zero flags."""
    return ITEM_OVERHEAD + nkey + vlen + (FLAGS_SIZE if client_flags else 0)


def item_fits(nkey: int, client_flags: int, vlen: int, max_item_size: int) -> bool:
    """memcached's item_size_ok for a value of ``vlen`` bytes (``-I`` is ``max_item_size``)."""
    return ITEM_OVERHEAD + nkey + vlen + (FLAGS_SIZE if client_flags else 0) <= max_item_size


# ---------------------------------------------------------------------------
# base64 keys (memcached's base64.c: RFC 1341 decoding that skips unknown bytes)
# ---------------------------------------------------------------------------

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DTABLE = [0x80] * 256
for _i, _c in enumerate(_B64):
    _DTABLE[_c] = _i
_DTABLE[61] = 0   # '='


def b64decode(src: bytes) -> bytes | None:
    """Decode like memcached: bytes outside the alphabet are skipped, the count of the others
    must be a non-zero multiple of 4, and decoding stops at the first padded quantum. None
    where memcached's decoder returns 0 (failure, or nothing decoded)."""
    count = 0
    for c in src:
        if _DTABLE[c] != 0x80:
            count += 1
    if count == 0 or count % 4:
        return None
    out = bytearray()
    block = [0, 0, 0, 0]
    count = pad = 0
    for c in src:
        tmp = _DTABLE[c]
        if tmp == 0x80:
            continue
        if c == 61:
            pad += 1
        block[count] = tmp
        count += 1
        if count == 4:
            out.append(((block[0] << 2) | (block[1] >> 4)) & 0xFF)
            out.append(((block[1] << 4) | (block[2] >> 2)) & 0xFF)
            out.append(((block[2] << 6) | block[3]) & 0xFF)
            count = 0
            if pad:
                if pad == 1:
                    del out[-1:]
                elif pad == 2:
                    del out[-2:]
                else:
                    return None
                break
    return bytes(out) or None


def b64encode(data: bytes) -> bytes:
    import binascii
    return binascii.b2a_base64(data, newline=False)


# ---------------------------------------------------------------------------
# Meta flags (memcached's _meta_flag_preparse)
# ---------------------------------------------------------------------------

class MetaFlags:
    """The flags of one meta command, pre-parsed in memcached's order. ``error`` is the reply
    text of the first fatal problem (duplicate or unknown flag), or of the last bad token when
    parsing went on; ``key`` is the key, base64-decoded when ``b`` was given."""

    __slots__ = ("error", "key", "key_binary", "no_update", "vivify", "autoviv_exptime", "la",
                 "value", "set_stale", "no_reply", "has_cas", "req_cas", "new_ttl", "exptime",
                 "recache", "recache_time", "client_flags", "mode", "delta", "initial",
                 "has_new_cas", "new_cas", "remove_value", "tokens")

    def __init__(self, key: bytes, tokens: list[bytes]) -> None:
        self.error: bytes | None = None
        self.key = key
        self.key_binary = False
        self.no_update = False
        self.vivify = False
        self.autoviv_exptime = 0
        self.la = False
        self.value = False
        self.set_stale = False
        self.no_reply = False
        self.has_cas = False
        self.req_cas = 0
        self.new_ttl = False
        self.exptime = 0
        self.recache = False
        self.recache_time = 0
        self.client_flags = 0
        self.mode = 0
        self.delta = 1
        self.initial = 0
        self.has_new_cas = False    # E (memcached 1.6.20+): the CAS value a modification gets
        self.new_cas = 0
        self.remove_value = False   # md x (memcached 1.6.21+)
        self.tokens = tokens        # the flag tokens, in request order (replies follow it)


_BAD_TOKEN = b"CLIENT_ERROR bad token in command line format"


def parse_meta_flags(key: bytes, tokens: list[bytes], command: bytes = b"") -> MetaFlags:
    """Pre-parse the flag tokens of mg/ms/md/ma. Mirrors memcached's _meta_flag_preparse: a
    duplicate flag (or a first byte >= 127) or an unknown flag stops at once; a bad numeric
    token records its message and parsing goes on (a later one overwrites it); ``F`` with a
    bad number keeps whatever message was recorded, by default the generic one. Of the flags
    later 1.6 releases added, ``E`` is accepted everywhere and ``x`` by ``md`` only (where it
    has a meaning), so the other commands keep 1.6.18's "invalid flag" for it."""
    of = MetaFlags(key, tokens)
    seen = set()
    has_error = False
    errstr = b"CLIENT_ERROR bad command line format"
    for tok in tokens:
        o = tok[0]
        if o >= 127 or o in seen:
            of.error = b"CLIENT_ERROR duplicate flag"
            return of
        seen.add(o)
        if o == 98:                                   # b
            decoded = b64decode(key)
            if decoded is None:
                errstr = b"CLIENT_ERROR error decoding key"
                has_error = True
                of.key = b""
            else:
                of.key = decoded
            of.key_binary = True
        elif o == 78:                                 # N
            v = safe_strtol(tok[1:])
            of.vivify = True
            if v is None:
                errstr, has_error = _BAD_TOKEN, True
            else:
                of.autoviv_exptime = v
        elif o == 84:                                 # T
            v = safe_strtol(tok[1:])
            if v is None:
                errstr, has_error = _BAD_TOKEN, True
            else:
                of.exptime = v
                of.new_ttl = True
        elif o == 82:                                 # R
            v = safe_strtol(tok[1:])
            if v is None:
                errstr, has_error = _BAD_TOKEN, True
            else:
                of.recache = True
                of.recache_time = v
        elif o == 108:                                # l
            of.la = True
        elif o in b"OPLkstcfh":
            pass
        elif o == 118:                                # v
            of.value = True
        elif o == 117:                                # u
            of.no_update = True
        elif o == 113:                                # q
            of.no_reply = True
        elif o == 70:                                 # F
            v = safe_strtoul(tok[1:])
            if v is None:
                has_error = True
            else:
                of.client_flags = v
        elif o == 67:                                 # C
            v = safe_strtoull(tok[1:])
            if v is None:
                errstr, has_error = _BAD_TOKEN, True
            else:
                of.has_cas = True
                of.req_cas = v
        elif o == 69:                                 # E (later 1.6 releases)
            v = safe_strtoull(tok[1:])
            if v is None:
                errstr, has_error = _BAD_TOKEN, True
            else:
                of.has_new_cas = True
                of.new_cas = v
        elif o == 77:                                 # M
            if len(tok) != 2:
                errstr, has_error = b"CLIENT_ERROR incorrect length for M token", True
            else:
                of.mode = tok[1]
        elif o == 74:                                 # J
            v = safe_strtoull(tok[1:])
            if v is None:
                errstr, has_error = b"CLIENT_ERROR invalid numeric initial value", True
            else:
                of.initial = v
        elif o == 68:                                 # D
            v = safe_strtoull(tok[1:])
            if v is None:
                errstr, has_error = b"CLIENT_ERROR invalid numeric delta value", True
            else:
                of.delta = v
        elif o == 73:                                 # I
            of.set_stale = True
        elif o == 120 and command == b"md":            # x (later 1.6 releases)
            of.remove_value = True
        else:
            of.error = b"CLIENT_ERROR invalid flag"
            return of
    if has_error:
        of.error = errstr
    return of


def ntokens(args_len: int) -> int:
    """memcached's token count for a line of ``args_len + 1`` tokens (the command and its
    arguments): at most 23 are split off, plus the terminal token."""
    return min(args_len + 1, MAX_TOKENS - 1) + 1


# ---------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------

class MemcacheReader:
    """Bytes in, ``Request`` / ``ClientError`` / ``NEED_DATA`` out. ``max_item_size`` (memcached's
    ``-I``) may be changed between calls.

    The buffer is the ``bytes`` object last fed while everything before it was consumed (the usual
    case: a read holds whole requests), so lines and data blocks are sliced straight out of it;
    only a partial request left over becomes a ``bytearray`` that later reads are appended to."""

    __slots__ = ("max_item_size", "_buf", "_pos", "state", "_need", "_pending")

    def __init__(self, max_item_size: int = 1 << 20) -> None:
        self.max_item_size = max_item_size
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self.state = _LINE
        self._need = 0                   # DATA: bytes still expected (n + 2); SWALLOW: to discard
        self._pending: tuple | None = None   # DATA: (command, args, noreply, header)

    def feed(self, data: bytes) -> None:
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
        elif type(buf) is bytes:
            b = bytearray(memoryview(buf)[pos:])
            b += data
            self._buf = b
            self._pos = 0
        else:
            buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_event(self):
        buf = self._buf
        if self._pos >= len(buf):        # all consumed (every batch ends here): _need_data, inline
            if buf:
                self._buf = b""
                self._pos = 0
            return NEED_DATA
        if self.state is _LINE and type(buf) is bytes:
            pos = self._pos
            # The two usual requests, "get <key>" and "set <key> 0 0 <bytes>" with its data
            # block, each read by one C match from a fresh read (a bytes buffer: the groups
            # are bytes): the general path below gives the same events.
            first = buf[pos]
            if first == 103:            # g
                m = _PLAIN_GET(buf, pos)
                if m is not None:
                    self._pos = m.end()
                    r = _new(Request)
                    r.command = b"get"
                    r.args = m.groups()
                    r.data = r.header = None
                    return r
            elif first == 115:          # s
                m = _PLAIN_SET(buf, pos)
                if m is not None:
                    key, v = m.groups()
                    vlen = _SMALL_NUMBERS.get(v, 1 << 62)     # (4096 and more: below)
                    end = m.end() + vlen + 2
                    if (end <= len(buf) and buf[end - 2] == 13 and buf[end - 1] == 10
                            and ITEM_OVERHEAD + len(key) + vlen <= self.max_item_size):
                        self._pos = end
                        data = buf[end - vlen - 2:end - 2]
                        r = _new(Request)
                        r.command = b"set"
                        r.args = (key, b"0", b"0", v)
                        r.data = data if type(data) is bytes else bytes(data)
                        r.header = _PLAIN_HEADER
                        return r
        while True:
            state = self.state
            pos = self._pos
            if state is _LINE:
                nl = buf.find(b"\n", pos)
                if nl < 0 or nl - pos >= READ_BUFFER:
                    avail = len(buf) - pos
                    if (nl >= 0 or avail > LINE_NO_NEWLINE_MAX) and not self._is_get_line():
                        return self._close()
                    if nl < 0:
                        if avail > MAX_GET_LINE:
                            return self._close()
                        return self._need_data()
                    if nl - pos > MAX_GET_LINE:
                        return self._close()
                end = nl
                if end - pos > 1 and buf[end - 1] == 13:
                    end -= 1
                line = buf[pos:end]
                if type(line) is not bytes:
                    line = bytes(line)
                self._pos = nl + 1
                if 0 in line:
                    line = line[:line.find(b"\0")]
                toks = line.split(b" ")
                if b"" in toks:
                    toks = [t for t in toks if t]
                    if not toks:
                        return _request(b"", ())
                cmd = toks[0]
                if cmd in STORAGE_COMMANDS:
                    ev = self._storage_header(cmd, toks)
                elif cmd == b"ms":
                    ev = self._ms_header(toks)
                else:
                    # (built inline: this is every get)
                    ev = _new(Request)
                    ev.command = cmd
                    ev.args = (toks[1],) if len(toks) == 2 else tuple(toks[1:])
                    ev.data = ev.header = None
                    return ev
                if ev is not None:
                    return ev
                continue          # a header waiting for its data block: read on
            avail = len(buf) - pos
            if state is _DATA:
                need = self._need
                if avail < need:
                    return self._need_data()
                cmd, args, noreply, header = self._pending
                self._pending = None
                self.state = _LINE
                self._pos = pos + need
                if buf[pos + need - 2] == 13 and buf[pos + need - 1] == 10:
                    return _request(cmd, args, bytes(buf[pos:pos + need - 2]), header)
                return ClientError(b"" if noreply else b"CLIENT_ERROR bad data chunk", False, cmd)
            # SWALLOW
            take = min(avail, self._need)
            self._pos = pos + take
            self._need -= take
            if self._need:
                return self._need_data()
            self.state = _LINE

    # -- helpers ---------------------------------------------------------------------------------
    def _need_data(self):
        # Trim what was consumed once per batch, not per event (Redis's qb_pos trick).
        pos = self._pos
        if pos:
            buf = self._buf
            if pos >= len(buf):
                self._buf = b""
            elif type(buf) is bytes:
                self._buf = bytearray(memoryview(buf)[pos:])
            else:
                del buf[:pos]
            self._pos = 0
        return NEED_DATA

    def _close(self) -> ClientError:
        self._buf = b""
        self._pos = 0
        return ClientError(b"", True)

    def _is_get_line(self) -> bool:
        """memcached keeps reading a long line only for get/gets (after <= 100 spaces)."""
        buf, pos = self._buf, self._pos
        i = pos
        n = len(buf)
        while i < n and buf[i] == 32:
            i += 1
        if i - pos > 100:
            return False
        return buf.startswith(b"get ", i) or buf.startswith(b"gets ", i)

    def _swallow(self, vlen: int) -> None:
        self.state = _SWALLOW
        self._need = vlen + 2

    def _storage_header(self, cmd: bytes, toks: list[bytes]):
        """set/add/replace/append/prepend/cas: memcached's process_update_command checks, in its
        order. Returns an event (the whole request when its data block is already buffered), or
        None once the reader waits for the data block."""
        n = len(toks)
        if n == 5 and cmd != b"cas":
            _, key, f, e, v = toks
            vlen = _SMALL_NUMBERS.get(v)
            if vlen is not None and f == b"0" and e == b"0" and len(key) <= KEY_MAX_LENGTH:
                # The usual header, "<cmd> <key> 0 0 <bytes>": nothing to check or convert.
                return self._storage_block(cmd, key, 0, vlen, False, (key, f, e, v), _PLAIN_HEADER)
        return self._storage_header_slow(cmd, toks, n)

    def _storage_header_slow(self, cmd: bytes, toks: list[bytes], n: int):
        is_cas = cmd == b"cas"
        if n != (7 if is_cas else 6) and n != (6 if is_cas else 5):
            return ClientError(b"ERROR")           # before noreply is looked at: always sent
        noreply = toks[n - 1] == b"noreply"
        key, f, e, v = toks[1], toks[2], toks[3], toks[4]
        # (plain short digits are read inline: same result as the helpers)
        flags = int(f) if len(f) < 10 and f.isdigit() else safe_strtoul(f)
        exptime = int(e) if len(e) < 10 and e.isdigit() else safe_strtol(e)
        vlen = int(v) if len(v) < 10 and v.isdigit() else safe_strtol(v)
        unique = safe_strtoull(toks[5]) if is_cas else 0
        if (len(key) > KEY_MAX_LENGTH or flags is None or exptime is None or vlen is None
                or unique is None or vlen < 0 or vlen > INT_MAX - 2):
            return ClientError(b"" if noreply else b"CLIENT_ERROR bad command line format")
        args = tuple(toks[1:])
        header = (flags, exptime, unique, noreply)
        return self._storage_block(cmd, key, flags, vlen, noreply, args, header)

    def _storage_block(self, cmd: bytes, key: bytes, flags: int, vlen: int, noreply: bool,
                       args: tuple, header: tuple):
        """After a valid storage header: the request with its data block when that is buffered
        already (the usual case), else None and the reader waits for it (DATA); an item too
        large is swallowed (SWALLOW)."""
        if ITEM_OVERHEAD + len(key) + vlen + (FLAGS_SIZE if flags else 0) > self.max_item_size:
            self._swallow(vlen)                   # (item_fits, inline)
            return _request(cmd, args, None, header)
        # The data block is usually in the same read: take it now, as the DATA state would.
        buf = self._buf
        pos = self._pos
        end = pos + vlen + 2
        if end <= len(buf):
            self._pos = end
            if buf[end - 2] == 13 and buf[end - 1] == 10:
                data = buf[pos:end - 2]
                return _request(cmd, args, data if type(data) is bytes else bytes(data), header)
            return ClientError(b"" if noreply else b"CLIENT_ERROR bad data chunk", False, cmd)
        self.state = _DATA
        self._need = vlen + 2
        self._pending = (cmd, args, noreply, header)
        return None

    def _ms_header(self, toks: list[bytes]):
        """ms <key> <datalen> <flags>*: memcached's process_mset_command checks, in its order.
        Errors found after the length was read swallow the data block; meta errors are always
        sent (q does not hide them)."""
        nt = ntokens(len(toks) - 1)
        if nt < 3:
            return ClientError(b"ERROR")
        key = toks[1]
        if len(key) > KEY_MAX_LENGTH or nt == 3:
            return ClientError(b"CLIENT_ERROR bad command line format")
        if nt > META_MAX_TOKENS:
            return ClientError(b"CLIENT_ERROR options flags too long")
        vlen = safe_strtol(toks[2])
        if vlen is None or vlen < 0 or vlen > INT_MAX - 2:
            return ClientError(b"CLIENT_ERROR bad command line format")
        of = parse_meta_flags(key, toks[3:])
        error = ms_header_error(of)
        if error is not None:
            self._swallow(vlen)
            return ClientError(error)
        args = tuple(toks[1:])
        if not item_fits(len(of.key), of.client_flags, vlen, self.max_item_size):
            self._swallow(vlen)
            return _request(b"ms", args, None, of)
        self.state = _DATA
        self._need = vlen + 2
        self._pending = (b"ms", args, False, of)
        return None


def ms_header_error(of: MetaFlags) -> bytes | None:
    """The error an ``ms`` header gets after its flags were pre-parsed, in memcached's order:
    the pre-parse error, then an opaque token over 32 bytes (remembered), then a bad mode
    (which wins over the opaque error)."""
    if of.error is not None:
        return of.error
    error = None
    for tok in of.tokens:
        if tok[0] == 79 and len(tok) > 32:        # O
            error = b"CLIENT_ERROR opaque token too long"
    if of.mode and of.mode not in b"EAPRS":
        return b"CLIENT_ERROR invalid mode for ms M token"
    return error
