"""RESP2/RESP3 wire protocol for cachesrv: request reader and reply encoder.

This module is sans-IO: it never touches sockets, clocks or trio.  The server
feeds it the bytes it received and asks for complete commands; handlers return
Python values and the server encodes them into the output buffer.

Request reader (`RespReader`)
=============================

The specification is Redis 7.0's ``processInputBuffer`` (src/networking.c),
byte for byte, including its errors and its odd corners:

* A request whose first byte is ``*`` is multibulk, anything else is inline.
* Multibulk header lines end at the first ``\\r`` (found with ``strchr``, so a
  NUL byte hides everything after it); Redis skips that ``\\r`` and one more
  byte without checking that it is ``\\n``.  Bulk payloads are followed by two bytes
  that are skipped unchecked as well.  Counts and lengths follow ``string2ll``
  (no ``+``, no leading zeros, no spaces, at most 20 characters, 64-bit range).
* ``*0`` and any negative count (``*-1``, ``*-5``) are skipped silently; a
  count above INT_MAX is "invalid multibulk length" (Redis 7.0 has no 1M limit
  here any more: ``*1048577`` is accepted by the real server).
* Inline lines end at ``\\n`` (again found with ``strchr``), one trailing
  ``\\r`` is dropped and the rest is split like ``sdssplitargs``.  Empty
  lines, and lines of blanks only, are skipped.
* The "too big ... string" / "too big inline request" errors are raised when
  no line terminator is visible and more than 64KB are buffered, evaluated on
  the data buffered at parse time -- exactly like Redis, whose outcome for a
  line between 64KB and ~80KB therefore depends on how the stream was read.
* With ``auth_required`` set (the server sets it while a client still has to
  AUTH), counts above 10 and bulk lengths above 16384 are refused as
  Redis 7.0.15 does ("unauthenticated multibulk/bulk length").

Two parsers produce the same commands:

1. The *slow* parser (``_slow_*``) is a direct transcription of Redis's state
   machine (reqtype / multibulklen / bulklen / argv, a buffer and a read
   position that is trimmed only when the reader runs out of data, like
   ``querybuf``/``qb_pos``).  It is the reference: it handles inline requests,
   produces every error text, and holds partial requests with memory
   proportional to the bytes received (it never pre-allocates for an announced
   length or count).

2. The *fast* path hands whole chunks to ``hiredis.Reader`` (C), which parses a
   pipelined ``SET``/``GET`` in a few hundred nanoseconds.  Why it agrees with
   Redis: hiredis ends header lines at ``\\r\\n`` and checks them with a copy
   of Redis's string2ll, so a header with a stray ``\\r`` or a NUL fails in
   hiredis too, and like Redis it skips the two bytes after a payload
   unchecked.  So a ``*`` command made of ``$`` elements is read identically,
   and hiredis consumed exactly its canonical size.  What hiredis accepts
   beyond that are RESP3 reply types; it is trusted only where they cannot
   matter, and every doubt becomes a hand-over to the slow parser:

   - a chunk goes to hiredis only at a clean boundary, if it starts with
     ``*``, and if it is too small to contain a complete bulk longer than
     ``max_bulk_len`` or a complete command with more than ``max_multibulk``
     elements (``auth_required`` always uses the slow parser);
   - a reply is accepted only if it is a non-empty ``list`` whose elements are
     all ``bytes`` (``b"".join`` checks that in C).  Ints, None (``$-1``),
     nested arrays, errors, ``*0``/``*-1``, a non-``*`` request after a
     multibulk one, or a hiredis exception all hand over;
   - the only RESP3 frames hiredis turns into *bytes* elements or plain
     *list* commands are ``+`` ``=`` ``(`` and ``~`` ``|`` (``>`` gives a list
     subclass, rejected above).  A chunk without any of
     the bytes ``~|+=(`` (a few memchr calls) cannot contain them, and its
     commands are trusted ("trusted mode").  Otherwise each command hiredis
     returns is re-encoded and must match the chunk byte for byte at the
     running offset ("verify mode"); canonical bytes mean the same to Redis;
   - the byte offset where the slow parser must resume is the running offset
     in verify mode, and in trusted mode the sum of the canonical sizes of the
     commands returned from the chunk (`_wire_size`, computed only when a
     hand-over happens; a skipped garbage trailer is two bytes either way);
   - when the chunk is used up in the middle of a request, the partial request
     is handed over too, so hiredis never holds state across ``NEED_DATA``.
     That keeps Redis's early errors (``$2000000000\\r\\n`` is refused before
     the payload arrives), keeps a big value from being buffered twice, and
     bounds the bookkeeping to one chunk.  Once the slow parser has completed
     that request it gives the rest of its buffer back to hiredis.

Invariants (trusted and verify modes): ``_chunk`` is the only data hiredis
received since the last ``NEED_DATA`` (or resync); in trusted mode
``_returned`` holds the commands hiredis returned from it, except a last one
that ended exactly at the end of the chunk (``_clean``); in verify mode
``_offset`` is the number of chunk bytes returned as commands.  The slow
parser's buffer is empty in both modes.

Batches: ``next_batch()`` returns every command available at once.  On a
fresh trusted chunk it runs hiredis in one C loop (``iter(gets, sentinel)``,
with ``notEnoughData`` set to a sentinel no reply can equal) and checks the
lot: every item a non-empty list (one set of types), every element bytes (one
join).  A read holding one command skips the loop: hiredis parses no further
than the reply it returns, so when it has no unread byte after the first one,
that command ended exactly at the chunk's end.  After the loop, hiredis may
have consumed the start of one more element (``has_data()`` is false either
way); ``_ends_clean`` tells the two apart exactly.  A batch
stops before anything that is not a plain command, and the reference parser
takes over there.  Elsewhere (slow and verify modes) commands come one at a
time, so a command that changes the limits applies to the next one; after a
trusted batch, ``rewind(n)`` hands everything after its first ``n``
commands to the reference parser, to be parsed again under the new limits.

``buffered()`` mirrors Redis's ``sdslen(querybuf)`` (CLIENT LIST qbuf): the
bytes received since the reader last ran out of data, including commands of
that batch already returned, minus completed arguments of a partial command.
The query buffer limit is checked like Redis checks it after each read.

Reply encoder
=============

``encode_into(out, value, proto)`` appends the RESP encoding of a handler's
return value to a bytearray; see its docstring for the value -> type table.
``format_double`` is Redis 7.0's ``%.17g`` (ZSCORE and friends);
``format_long_double`` is ``%.17Lf`` with trailing zeros removed (INCRBYFLOAT),
and ``parse_long_double``/``add_long_double`` emulate the x87 80-bit long
double arithmetic INCRBYFLOAT does, so that 0.1 + 0.2 prints ``0.3`` as in
Redis.  ``parse_reply`` is a small RESP2/RESP3 reply parser for tests.
"""

from __future__ import annotations

import re
from fractions import Fraction
from itertools import chain

_chain = chain.from_iterable
_iter, _list, _set = iter, list, set
_LIST_ONLY, _BYTES_ONLY = {list}, {bytes}
_NO_COMMANDS: list = []     # (never appended to)

try:  # the fast path is optional: without hiredis everything goes through the slow parser
    import hiredis as _hiredis
except ImportError:  # pragma: no cover
    _hiredis = None

__all__ = [
    "NEED_DATA", "NULL_ARRAY", "ProtocolError", "QueryBufferLimit", "RespReader",
    "RespError", "Push", "RSet", "Verbatim", "Raw", "encode", "encode_into",
    "format_double", "format_long_double", "parse_long_double", "add_long_double",
    "split_args", "string2ll", "parse_reply",
]


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


#: returned by RespReader.next_command when no complete command is buffered
NEED_DATA = _Sentinel("NEED_DATA")
_NOT_ENOUGH = _Sentinel("hiredis: not enough data")
#: reply value for a null array: RESP2 ``*-1``, RESP3 ``_``
NULL_ARRAY = _Sentinel("NULL_ARRAY")

PROTO_INLINE_MAX_SIZE = 64 * 1024  # Redis: max size of inline reads and of header lines
INT_MAX = 2**31 - 1
_LLONG_MIN = -(2**63)
_LLONG_MAX = 2**63 - 1
_AUTH_MAX_MULTIBULK = 10  # Redis 7.0.15 limits for clients that still have to AUTH
_AUTH_MAX_BULK = 16384

_STAR, _DOLLAR, _CR, _LF = 42, 36, 13, 10
_REQ_INLINE, _REQ_MULTIBULK = 1, 2


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

class ProtocolError(Exception):
    """A request Redis would refuse.  ``str(e)`` is the text after ``-ERR ``.

    The server writes ``e.reply`` and closes the connection, as Redis does.
    The text may embed one raw request byte ("expected '$', got 'X'"); ``str``
    shows it as a latin-1 character (so ``str(e).encode()`` cannot fail),
    ``reply`` carries the exact byte.
    """

    def __init__(self, message: str, raw: bytes | None = None) -> None:
        super().__init__(message)
        self.raw = raw if raw is not None else message.encode()

    @property
    def reply(self) -> bytes:
        return b"-ERR " + self.raw + b"\r\n"


class QueryBufferLimit(ProtocolError):
    """More than ``max_query_buffer`` bytes are buffered.

    Redis closes such a client without any reply, so the server should not
    write ``reply`` for this one.
    """


class RespError(Exception):
    """An error reply.  ``message`` is the full text, e.g. ``ERR syntax error``.

    Handlers raise or return it (the server defines ``CommandError`` as a
    subclass).  ``message`` may be ``str`` (encoded as UTF-8 with surrogate
    escapes, so raw request bytes decoded with ``surrogateescape`` survive) or
    ``bytes``.
    """

    def __init__(self, message) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        m = self.message
        return m if isinstance(m, str) else m.decode("utf-8", "surrogateescape")

    def __eq__(self, other) -> bool:
        if isinstance(other, RespError):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


# ---------------------------------------------------------------------------
# Number parsing shared with the rest of the server
# ---------------------------------------------------------------------------

_LL_RE = re.compile(rb"0|-?[1-9][0-9]*")


def string2ll(s) -> int | None:
    """Redis ``string2ll``: canonical base-10 64-bit integers only, else None.

    No sign other than a leading ``-``, no leading zeros, no blanks, fewer than
    21 characters (LONG_STR_SIZE).  Accepts bytes-like objects.
    """
    n = len(s)
    if s.isdigit() and 0 < n < 19 and (s[0] != 48 or n == 1):
        return int(s)  # the common case; 18 digits always fit
    if not 0 < n < 21 or _LL_RE.fullmatch(s) is None:
        return None
    v = int(s)
    if v < _LLONG_MIN or v > _LLONG_MAX:
        return None
    return v


# ---------------------------------------------------------------------------
# Inline splitting (sdssplitargs)
# ---------------------------------------------------------------------------

_ISSPACE = frozenset(b" \t\n\r\x0b\x0c")  # isspace() in the C locale
_UNQUOTED_END = frozenset(b" \n\r\t")     # sdssplitargs ends a bare token only on these (and NUL)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline request line exactly like Redis's ``sdssplitargs``.

    Returns None for unbalanced quotes (or a closing quote not followed by a
    blank).  Blanks between tokens are isspace() characters; a bare token ends
    only at space, tab, CR or LF, so ``\\v``/``\\f`` inside a token are kept.
    """
    nul = line.find(b"\0")
    if nul >= 0:  # C string: nothing after a NUL exists
        line = line[:nul]
    # Fast path: without quotes, \v or \f both rules agree with bytes.split().
    if (b'"' not in line and b"'" not in line
            and b"\x0b" not in line and b"\x0c" not in line):
        return line.split()
    return _split_args_slow(line)


def _split_args_slow(line: bytes) -> list[bytes] | None:
    n = len(line)

    def at(i: int) -> int:  # the C code reads the terminating NUL past the end
        return line[i] if i < n else 0

    out: list[bytes] = []
    i = 0
    while True:
        while i < n and line[i] in _ISSPACE:
            i += 1
        if i >= n:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            c = at(i)
            if inq:
                if c == 92 and at(i + 1) == 120 and at(i + 2) in _HEX and at(i + 3) in _HEX:
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and at(i + 1):
                    i += 1
                    e = line[i]
                    cur.append(_ESCAPES.get(e, e))
                elif c == 34:  # closing quote must be followed by a blank or the end
                    if at(i + 1) and at(i + 1) not in _ISSPACE:
                        return None
                    i += 1
                    break
                elif c == 0:
                    return None  # unterminated quotes
                else:
                    cur.append(c)
            elif insq:
                if c == 92 and at(i + 1) == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if at(i + 1) and at(i + 1) not in _ISSPACE:
                        return None
                    i += 1
                    break
                elif c == 0:
                    return None
                else:
                    cur.append(c)
            else:
                if c == 0:
                    break
                if c in _UNQUOTED_END:
                    i += 1
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append(bytes(cur))


# ---------------------------------------------------------------------------
# Request reader
# ---------------------------------------------------------------------------

_join = b"".join


def _encode_command_py(argv: list) -> bytes:
    """Canonical multibulk encoding of a command; TypeError for non-bytes."""
    return b"*%d\r\n%b" % (len(argv), _join([b"$%d\r\n%b\r\n" % (len(a), a) for a in argv]))


def _encode_command_hiredis(argv: list) -> bytes:
    # hiredis.pack_command is C and twice as fast.  It also encodes ints and
    # floats (as bulk strings), but an element hiredis parsed from ':' or ','
    # can never match the '$' the chunk would need at that offset.
    return _pack_command(tuple(argv))


_pack_command = getattr(_hiredis, "pack_command", None)
_encode_command = _encode_command_hiredis if _pack_command else _encode_command_py


def _wire_size(cmds: list) -> int:
    """Bytes of the canonical multibulk encoding of the commands in ``cmds``.

    ``*N\\r\\n`` per command plus ``$L\\r\\n<payload>\\r\\n`` per element.  The
    digits of all the N and L come from ``repr`` of the lists of them
    ("[3, 16, 3]" has 2 + digits + 2*(k-1) characters), so the whole sum is
    computed by C loops.
    """
    if not cmds:
        return 0
    counts = list(map(len, cmds))
    lens = list(map(len, _chain(cmds)))
    return (len(repr(counts)) + len(counts)          # sum of 3 + digits(N)
            + len(repr(lens)) + 3 * len(lens) + sum(lens))  # sum of 5 + digits(L) + L


def _ends_clean(chunk: bytes, cmds: list) -> bool:
    """hiredis returned ``cmds`` from a trusted ``chunk`` and holds no unread byte: did it stop at
    the end of the last command, or inside the start of one more element?

    What it can hold of one more element: an aggregate header (``*`` ``%`` ``>``: exactly one ``*``
    per command and no ``%`` or ``>`` rule that out), a type byte with part of its line (then the
    chunk does not end with CRLF), or the whole header line of a bulk or blob error (``$N``,
    ``!N``) awaiting its payload. The chunk's last line is the last argument's payload when the
    chunk ends with LF + that argument + CRLF, and when the argument holds no ``$`` or ``!`` that
    line is no such header. Anything else is settled by the exact size of the commands."""
    last = cmds[-1][-1]
    if (chunk.count(42) == len(cmds) and 37 not in chunk and 62 not in chunk
            and 36 not in last and 33 not in last and chunk.endswith(b"\n" + last + b"\r\n")):
        return True
    return _wire_size(cmds) == len(chunk)


class RespReader:
    """Incremental parser of client requests (see the module docstring).

    ``feed(data)`` appends received bytes; ``next_command()`` returns the next
    argv (a non-empty list of bytes), ``NEED_DATA``, or raises ProtocolError,
    after which the reader keeps raising the same error.  ``max_bulk_len``,
    ``max_query_buffer``, ``max_multibulk`` and ``auth_required`` may be
    changed at any time; they apply from the next ``feed``.
    """

    __slots__ = (
        "_max_bulk_len", "_max_query_buffer", "_max_multibulk", "_auth_required",
        "_fast_limit", "_use_hiredis", "_fast", "_verify", "_hr", "_gets", "_has_data",
        "_hr_feed", "_chunk", "_returned", "_clean", "_offset", "_qb_prefix", "_resync",
        "_buf", "_pos", "_reqtype", "_mbulk", "_bulklen", "_argv", "_error",
    )

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024,
                 max_query_buffer: int = 1024**3,
                 max_multibulk: int = INT_MAX, *, use_hiredis: bool = True) -> None:
        self._fast_limit = -1
        self._max_bulk_len = max_bulk_len
        self._max_query_buffer = max_query_buffer
        self._max_multibulk = max_multibulk
        self._auth_required = False
        self._limits_changed()
        self._use_hiredis = use_hiredis and _hiredis is not None
        # hiredis state; the mode is _fast (trusted), _verify, or neither (slow parser)
        self._fast = self._use_hiredis
        self._verify = False
        self._hr = self._gets = self._has_data = self._hr_feed = None
        if self._use_hiredis:
            self._new_hiredis()
        self._chunk = None      # bytes given to hiredis since the last NEED_DATA
        self._returned = []     # trusted mode: commands returned from _chunk (see invariants)
        self._clean = False     # trusted mode: a command ended exactly at the chunk end
        self._offset = 0        # verify mode: bytes of _chunk returned as commands
        self._qb_prefix = 0     # batch bytes consumed before the current buffer began
        self._resync = False    # give the buffer back to hiredis after the current request
        # slow-parser state: Redis's querybuf/qb_pos, reqtype, multibulklen, bulklen, argv
        self._buf = bytearray()
        self._pos = 0
        self._reqtype = 0
        self._mbulk = 0
        self._bulklen = -1
        self._argv = None
        self._error = None

    # -- public API --------------------------------------------------------

    def feed(self, data) -> None:
        if type(data) is not bytes:
            data = bytes(data)  # we keep a reference: the caller may reuse its buffer
        if not data:
            return
        if self._fast:
            if self._chunk is None and data[0] == 42 and len(data) <= self._fast_limit:
                # A '*' (42) first, at a clean boundary, within the limits.
                # Without any of the bytes ~ | + = ( (126 124 43 61 40) hiredis
                # is trusted; `int in bytes` is a bare memchr.
                if not (126 in data or 124 in data or 43 in data or 61 in data or 40 in data):
                    self._chunk = data
                    self._hr_feed(data)
                    return
                self._start_verify(data)
                return
            self._to_slow()
        elif self._verify:
            self._to_slow()
        self._slow_feed(data)

    def next_command(self):
        if self._fast:
            try:
                cmd = self._gets()
            except Exception:  # hiredis.ProtocolError: let the reference parser explain
                return self._fallback()
            if cmd.__class__ is list and cmd:
                try:
                    _join(cmd)  # TypeError unless every element is bytes
                except TypeError:
                    return self._fallback()
                if self._has_data():
                    self._returned.append(cmd)
                else:
                    self._clean = True
                return cmd
            if cmd is _NOT_ENOUGH and self._clean:
                self._drained()
                return NEED_DATA
            return self._fast_other(cmd)
        if self._verify:
            return self._verify_next()
        return self._slow_next()

    def next_batch(self) -> list:
        """Every command the reader can return now, in order; an empty list when it needs more
        data. A fresh trusted chunk gives all its commands from one C loop over hiredis and one
        check of the lot; otherwise commands come one at a time, so that limits which change
        with a command (AUTH, RESET) apply to the next one as in Redis. Raises as
        ``next_command``, only after the commands before the error have been returned."""
        if self._fast and self._clean:
            # What was returned ended exactly at the chunk's end: hiredis is empty.
            self._drained()
            return _NO_COMMANDS
        if self._fast and self._chunk is not None and not self._returned:
            exact = False
            try:
                cmd = self._gets()
                if cmd is _NOT_ENOUGH:
                    cmds = None
                elif cmd.__class__ is list and not self._has_data():
                    # One command that used up the chunk (the usual unpipelined read). hiredis
                    # parses no further than the reply it returns, so no unread byte means
                    # the command ended exactly at the chunk's end.
                    cmds = [cmd]
                    exact = True
                else:
                    cmds = [cmd, *_iter(self._gets, _NOT_ENOUGH)]
            except Exception:   # hiredis.ProtocolError: the reference parser restarts at the
                cmds = None     # chunk's start (nothing was returned from it) and explains
            if cmds:
                try:
                    # Plain commands only: lists, not empty, of bytes (the join refuses the rest).
                    if len(cmds) == 1:
                        plain = cmd.__class__ is list and len(cmd) > 0 and _join(cmd)
                    else:
                        plain = _set(map(type, cmds)) == _LIST_ONLY and all(cmds) and _join(_chain(cmds))
                except TypeError:
                    plain = False
                if plain is False:
                    return self._good_prefix(cmds)
                self._returned = cmds
                if exact or (not self._has_data() and _ends_clean(self._chunk, cmds)):
                    self._clean = True
                return cmds
        cmd = self.next_command()
        return _NO_COMMANDS if cmd is NEED_DATA else [cmd]

    def _drained(self) -> None:
        """hiredis used up the chunk exactly at the end of a command: Redis trims querybuf here."""
        self._chunk = None
        self._clean = False
        if self._returned:
            self._returned = []
        self._qb_prefix = 0

    def _good_prefix(self, cmds: list) -> list:
        """A trusted batch holding something that is not a plain command: return the commands
        before it; the reference parser takes over from there."""
        good = 0
        for cmd in cmds:
            if cmd.__class__ is not list or not cmd or _set(map(type, cmd)) != _BYTES_ONLY:
                break
            good += 1
        self._returned = cmds[:good]
        if good:
            self._to_slow()
            self._resync = False
            return cmds[:good]
        cmd = self._fallback()
        return _NO_COMMANDS if cmd is NEED_DATA else [cmd]

    def rewind(self, executed: int) -> None:
        """Only the first ``executed`` commands of the last batch were used: the reference parser
        parses the rest again, under the limits in force now (a RESET mid-pipeline makes the
        client unauthenticated, and Redis parses what follows with the stricter limits)."""
        self._returned = self._returned[:executed]
        self._clean = False
        self._to_slow()
        self._resync = False

    def buffered(self) -> int:
        """Redis's qbuf: bytes received since the reader last ran dry."""
        if self._fast or self._verify:
            chunk = self._chunk
            return self._qb_prefix + (len(chunk) if chunk is not None else 0)
        return self._qb_prefix + len(self._buf)

    # -- limits ------------------------------------------------------------

    def _limits_changed(self) -> None:
        # Largest chunk hiredis may take whole: it cannot contain a complete
        # bulk longer than max_bulk_len (the payload is shorter than the
        # chunk), nor a complete command with more than max_multibulk
        # elements (k elements need at least 6k+4 bytes), and it cannot
        # exceed the query buffer limit.  Unauthenticated clients always get
        # the slow parser, which knows the stricter limits.
        limit = min(self._max_bulk_len, self._max_query_buffer,
                    6 * (self._max_multibulk + 1) - 1)
        self._fast_limit = -1 if self._auth_required else limit

    def _set_limit(name: str, doc: str):  # noqa: N805 - class-body helper
        attr = "_" + name

        def get(self):
            return getattr(self, attr)

        def set_(self, value):
            setattr(self, attr, value)
            self._limits_changed()

        return property(get, set_, doc=doc)

    max_bulk_len = _set_limit("max_bulk_len", "proto-max-bulk-len")
    max_query_buffer = _set_limit("max_query_buffer", "client-query-buffer-limit")
    max_multibulk = _set_limit("max_multibulk", "largest multibulk count (Redis 7.0: INT_MAX)")
    auth_required = _set_limit("auth_required",
                               "apply Redis's limits for clients that must still AUTH")
    del _set_limit

    # -- hiredis, trusted and verified --------------------------------------

    def _new_hiredis(self) -> None:
        self._hr = hr = _hiredis.Reader(notEnoughData=_NOT_ENOUGH)
        self._gets = hr.gets
        self._has_data = hr.has_data
        self._hr_feed = hr.feed

    def _fast_other(self, cmd):
        if cmd is not _NOT_ENOUGH:  # not a plain command: let the reference parser judge
            return self._fallback()
        if self._chunk is None:  # nothing was fed since the last NEED_DATA
            self._qb_prefix = 0
            return NEED_DATA
        return self._cut_request()

    def _cut_request(self):
        # The chunk ends inside a request.  The reference parser takes it over
        # so that limits are enforced now (as Redis does on reading a header)
        # and a big value is not buffered twice; see _try_resync.
        self._to_slow()
        self._resync = True
        return self._slow_next()

    def _start_verify(self, data: bytes) -> None:
        self._fast = False
        self._verify = True
        self._chunk = data
        self._offset = 0
        self._hr_feed(data)

    def _verify_next(self):
        """hiredis on a chunk that could hold RESP3 frames: check every command.

        A command is returned only if the chunk holds exactly its canonical
        encoding at the current offset; Redis parses canonical bytes the same
        way.  Anything else (garbage trailers, ``+``/``=``/``(`` elements,
        ``~``/``|`` frames) goes to the reference parser from that offset.
        """
        try:
            cmd = self._gets()
        except Exception:
            return self._fallback()
        if cmd.__class__ is list and cmd:
            try:
                enc = _encode_command(cmd)
            except TypeError:  # None, nested arrays, errors...
                return self._fallback()
            off = self._offset
            if not self._chunk.startswith(enc, off):
                return self._fallback()
            self._offset = off + len(enc)
            return cmd
        if cmd is not _NOT_ENOUGH:
            return self._fallback()
        if self._offset == len(self._chunk):
            self._chunk = None
            self._verify = False
            self._fast = True
            self._qb_prefix = 0
            return NEED_DATA
        return self._cut_request()

    def _fallback(self):
        """hiredis failed or returned something that is not a plain command."""
        self._to_slow()
        self._resync = False
        return self._slow_next()

    def _to_slow(self) -> None:
        """Move hiredis's unreturned bytes into the slow parser's buffer."""
        chunk = self._chunk
        if chunk is not None:
            if self._verify:
                off = self._offset
            else:
                off = len(chunk) if self._clean else _wire_size(self._returned)
            self._buf = bytearray(chunk)  # the whole batch, so buffered() stays exact
            self._pos = off
            self._new_hiredis()  # hiredis may hold a partial request or an error
        self._chunk = None
        self._returned = []
        self._clean = False
        self._fast = self._verify = False

    def _try_resync(self) -> None:
        """After the handed-over request completed, give the rest back to hiredis."""
        self._resync = False
        buf, pos = self._buf, self._pos
        if pos >= len(buf) or buf[pos] != _STAR or len(buf) - pos > self._fast_limit:
            return
        tail = bytes(memoryview(buf)[pos:])
        self._qb_prefix += pos
        self._buf = bytearray()
        self._pos = 0
        if 126 in tail or 124 in tail or 43 in tail or 61 in tail or 40 in tail:
            self._start_verify(tail)
        else:
            self._chunk = tail
            self._hr_feed(tail)
            self._fast = True

    # -- slow path (the reference parser) ---------------------------------

    def _slow_feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        # Redis checks sdslen(querybuf) right after each read
        if self._error is None and self._qb_prefix + len(buf) > self._max_query_buffer:
            self._error = QueryBufferLimit(
                f"query buffer of {self._qb_prefix + len(buf)} bytes exceeds "
                f"client-query-buffer-limit of {self._max_query_buffer}")

    def _slow_next(self):
        if self._error is not None:
            raise self._error
        try:
            cmd = self._slow_parse()
        except ProtocolError as e:
            self._error = e
            raise
        if cmd is NEED_DATA:
            self._trim()
            return NEED_DATA
        if self._resync:
            self._try_resync()
        return cmd

    def _trim(self) -> None:
        """End of Redis's processInputBuffer: drop what was consumed."""
        if self._pos:
            del self._buf[:self._pos]  # O(1) for bytearray prefixes
            self._pos = 0
        self._qb_prefix = 0
        if not self._buf and not self._reqtype and self._use_hiredis:
            self._fast = True  # drained at a request boundary: hiredis is clean
            self._resync = False

    def _slow_parse(self):
        buf = self._buf
        while True:
            if not self._reqtype:
                if self._pos >= len(buf):
                    return NEED_DATA
                self._reqtype = _REQ_MULTIBULK if buf[self._pos] == _STAR else _REQ_INLINE
            if self._reqtype == _REQ_MULTIBULK:
                argv = self._parse_multibulk(buf)
            else:
                argv = self._parse_inline(buf)
            if argv is NEED_DATA:
                return NEED_DATA
            self._reqtype = 0
            if argv:
                return argv
            # argc == 0 (empty line, *0, *-N): Redis resets the client and goes on

    def _parse_inline(self, buf: bytearray):
        pos = self._pos
        nl = buf.find(b"\n", pos)
        if nl >= 0 and buf.find(b"\0", pos, nl) >= 0:
            nl = -1  # strchr() stops at the NUL: the newline is invisible to Redis
        if nl < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("Protocol error: too big inline request")
            return NEED_DATA
        end = nl - 1 if nl > pos and buf[nl - 1] == _CR else nl
        argv = split_args(bytes(buf[pos:end]))
        if argv is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        self._pos = nl + 1
        return argv

    def _header(self, buf: bytearray, pos: int, n: int, is_bulk: bool):
        """Read a ``*<count>`` or ``$<len>`` line at ``pos`` as Redis does.

        Returns ``(number, next_pos)``, or ``(None, pos)`` when more data is
        needed.  Raises the errors Redis raises while reading the line; range
        checks are the caller's.
        """
        cr = buf.find(b"\r", pos)
        if 0 <= cr <= n - 2:
            s = buf[pos + 1:cr]
            # Fast path: plain digits without a leading zero are what string2ll
            # accepts, and contain no NUL, so strchr() would stop at this \r too.
            if (s.isdigit() and (s[0] != 48 or len(s) == 1) and len(s) < 19
                    and (buf[pos] == _DOLLAR or not is_bulk)):
                return int(s), cr + 2
        # Exact path.  strchr() gives up at a NUL byte.
        if cr >= 0 and buf.find(b"\0", pos, cr) >= 0:
            cr = -1
        if cr < 0:
            if n - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("Protocol error: too big bulk count string" if is_bulk
                                    else "Protocol error: too big mbulk count string")
            return None, pos
        if cr > n - 2:  # Redis wants one byte after the \r (it does not check it is \n)
            return None, pos
        if is_bulk and buf[pos] != _DOLLAR:
            raise _expected_dollar(buf[pos])
        ll = string2ll(buf[pos + 1:cr])
        if ll is None:
            raise ProtocolError("Protocol error: invalid bulk length" if is_bulk
                                else "Protocol error: invalid multibulk length")
        return ll, cr + 2

    def _parse_multibulk(self, buf: bytearray):
        n = len(buf)
        if not self._mbulk:
            ll, pos = self._header(buf, self._pos, n, False)
            if ll is None:
                return NEED_DATA
            if ll > self._max_multibulk:
                raise ProtocolError("Protocol error: invalid multibulk length")
            if ll > _AUTH_MAX_MULTIBULK and self._auth_required:
                raise ProtocolError("Protocol error: unauthenticated multibulk length")
            self._pos = pos
            if ll <= 0:
                return []
            self._mbulk = ll
            self._argv = []  # grows with the data: a huge count allocates nothing
        argv = self._argv
        pos = self._pos
        while self._mbulk:
            bl = self._bulklen
            if bl < 0:
                bl, pos = self._header(buf, pos, n, True)
                if bl is None:
                    return NEED_DATA
                if bl < 0 or bl > self._max_bulk_len:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if bl > _AUTH_MAX_BULK and self._auth_required:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                self._pos = pos
                self._bulklen = bl
            if n - pos < bl + 2:  # payload plus two (unchecked) trailer bytes
                return NEED_DATA
            if bl < 4096:
                argv.append(bytes(buf[pos:pos + bl]))
            else:  # one copy instead of two for big values
                argv.append(bytes(memoryview(buf)[pos:pos + bl]))
            pos += bl + 2
            self._pos = pos
            self._bulklen = -1
            self._mbulk -= 1
        self._argv = None
        return argv


def _expected_dollar(byte: int) -> ProtocolError:
    # addReplyErrorFormat turns \r and \n into spaces; other bytes go out raw
    raw = b"Protocol error: expected '$', got '%c'" % (32 if byte in (_CR, _LF) else byte)
    return ProtocolError(raw.decode("latin-1"), raw)


# ---------------------------------------------------------------------------
# Reply values
# ---------------------------------------------------------------------------

class Push(list):
    """RESP3 push (``>``), e.g. pub/sub messages; an array in RESP2."""
    __slots__ = ()


class RSet(list):
    """RESP3 set (``~``); an array in RESP2.  Python set/frozenset also work."""
    __slots__ = ()


class Raw(bytes):
    """Bytes that are already RESP-encoded and are written as they are."""
    __slots__ = ()


class Verbatim:
    """RESP3 verbatim string ``=len\\r\\nfmt:data``; a bulk string in RESP2."""
    __slots__ = ("data", "fmt")

    def __init__(self, data: bytes, fmt: bytes = b"txt") -> None:
        self.data = data
        self.fmt = fmt

    def __eq__(self, other) -> bool:
        if isinstance(other, Verbatim):
            return self.data == other.data and self.fmt == other.fmt
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.data, self.fmt))

    def __repr__(self) -> str:
        return f"Verbatim({self.data!r}, fmt={self.fmt!r})"


# ---------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------

_INF = float("inf")


def format_double(x: float) -> bytes:
    """Redis 7.0 ``addReplyDouble``: ``%.17g``, with inf/-inf spelled out.

    1.1 -> 1.1000000000000001, 3.0 -> 3, 1e17 -> 1e+17, -0.0 -> -0.
    """
    if x != x:
        return b"nan"
    if x == _INF:
        return b"inf"
    if x == -_INF:
        return b"-inf"
    return b"%.17g" % x


_CHUNK_DIGITS = 4000  # below CPython's int/str conversion limit (4300 digits)
_CHUNK = 10**_CHUNK_DIGITS


def _int_from_digits(s: bytes) -> int:
    """int(s) for ASCII digits, without CPython's 4300-digit limit."""
    if len(s) <= _CHUNK_DIGITS:
        return int(s or b"0")
    head = len(s) % _CHUNK_DIGITS or _CHUNK_DIGITS
    n = int(s[:head])
    for i in range(head, len(s), _CHUNK_DIGITS):
        n = n * _CHUNK + int(s[i:i + _CHUNK_DIGITS])
    return n


def _digits_of_int(n: int) -> bytes:
    """b"%d" % n for n >= 0, without CPython's 4300-digit limit."""
    if n < _CHUNK:
        return b"%d" % n
    hi, lo = divmod(n, _CHUNK)
    return _digits_of_int(hi) + b"%0*d" % (_CHUNK_DIGITS, lo)


_LD_MIN_EXP = -16382          # exponent of the smallest normal x87 long double
_LD_OVERFLOW = 1 << 16384     # first magnitude that rounds to infinity
_TEN17 = 10**17


def _round_long_double(x: Fraction):
    """Round an exact rational to the nearest x87 80-bit long double.

    64-bit significand, round half to even, gradual underflow below 2**-16382.
    Returns a Fraction, or +/-inf on overflow.
    """
    if not x:
        return Fraction(0)
    num, den = abs(x.numerator), x.denominator
    e = num.bit_length() - den.bit_length()  # floor(log2 |x|) is e or e-1
    if (num << max(0, -e)) < (den << max(0, e)):
        e -= 1
    shift = 63 - max(e, _LD_MIN_EXP)  # scale the significand to 64 bits
    if shift >= 0:
        q, r = divmod(num << shift, den)
        half = den
    else:
        q, r = divmod(num, den << -shift)
        half = den << -shift
    if 2 * r > half or (2 * r == half and q & 1):
        q += 1
    mag = Fraction(q, 1 << shift) if shift >= 0 else Fraction(q << -shift)
    if mag >= _LD_OVERFLOW:
        return _INF if x > 0 else -_INF
    return mag if x > 0 else -mag


_LD_DEC_RE = re.compile(rb"([+-]?)(?:([0-9]+)\.?([0-9]*)|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_LD_HEX_RE = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?")
_LD_INF_RE = re.compile(rb"([+-]?)(?:inf|infinity)", re.IGNORECASE)


def parse_long_double(s: bytes):
    """Redis ``string2ld``: strtold() into an x87 long double, strictly.

    Returns a Fraction (finite values), +/-inf, or None when Redis would say
    "value is not a valid float": empty or >= 5120 bytes, leading blank,
    trailing garbage, NaN, overflow, or underflow to zero.
    """
    if not 0 < len(s) < 5 * 1024:
        return None
    m = _LD_INF_RE.fullmatch(s)
    if m:
        return -_INF if m.group(1) == b"-" else _INF
    m = _LD_DEC_RE.fullmatch(s)
    if m:
        base, digits_per = 10, 1
    else:
        m = _LD_HEX_RE.fullmatch(s)
        if not m:
            return None
        base, digits_per = 2, 4
    sign, ip, fp, only_fp, exp = m.groups()
    if only_fp is not None:
        ip, fp = b"", only_fp
    digits = (ip + fp).lstrip(b"0")
    if not digits:
        return Fraction(0)
    mant = _int_from_digits(digits) if base == 10 else int(digits, 16)
    e = (int(exp) if exp else 0) - digits_per * len(fp)
    # magnitude guard before building huge powers: |x| is about base**mag
    mag = (len(digits) if base == 10 else mant.bit_length()) + e
    limit = 4940 if base == 10 else 16390
    if mag > limit:
        return None  # ERANGE overflow: HUGE_VALL is refused
    if mag < -limit - 40 * digits_per:
        return None  # ERANGE underflow to zero is refused
    x = Fraction(mant) * (Fraction(base) ** e)
    v = _round_long_double(-x if sign == b"-" else x)
    if v in (_INF, -_INF) or not v:
        return None
    return v


def add_long_double(a, b):
    """``a + b`` in x87 long double arithmetic.

    ``a`` and ``b`` come from parse_long_double, or are ints / floats.  Returns
    a Fraction, or a float inf/nan, which INCRBYFLOAT refuses.
    """
    a = _as_exact(a)
    b = _as_exact(b)
    if isinstance(a, float) or isinstance(b, float):
        # finite operands do not matter next to an infinity (or a NaN)
        return (a if isinstance(a, float) else 0.0) + (b if isinstance(b, float) else 0.0)
    return _round_long_double(a + b)


def _as_exact(x):
    if isinstance(x, float):
        return Fraction(x) if x - x == 0 else x  # x - x is nan for inf and nan
    return Fraction(x)


def format_long_double(x) -> bytes:
    """Redis ``ld2string(LD_STR_HUMAN)``: ``%.17Lf`` minus trailing zeros.

    Accepts Fraction, int or float (formatted exactly).  10.5 -> 10.5,
    5.0e3 -> 5000, 1e20 -> 100000000000000000000, -0.0 -> 0.
    """
    if isinstance(x, float):
        if x != x:
            return b"nan"
        if x in (_INF, -_INF):
            return b"inf" if x > 0 else b"-inf"
    q = round(Fraction(x) * _TEN17)  # round half even, like glibc printf
    ip, fp = divmod(abs(q), _TEN17)
    s = b"%b.%017d" % (_digits_of_int(ip), fp)
    s = s.rstrip(b"0").rstrip(b".")
    if x < 0 and s != b"0":  # "-0" becomes "0"
        s = b"-" + s
    return s


# ---------------------------------------------------------------------------
# Reply encoder
# ---------------------------------------------------------------------------

_HDR_CACHE = 1024
_BULK_HDR = [b"$%d\r\n" % i for i in range(_HDR_CACHE)]
_ARRAY_HDR = [b"*%d\r\n" % i for i in range(_HDR_CACHE)]
_INT_REPLY = [b":%d\r\n" % i for i in range(_HDR_CACHE)]
_SIMPLE_CACHE = {s: b"+%s\r\n" % s.encode() for s in
                 ("OK", "PONG", "QUEUED", "string", "list", "set", "zset", "hash",
                  "stream", "none", "Background saving started")}
_NULL = (None, None, b"$-1\r\n", b"_\r\n")  # indexed by proto
_NULL_ARR = (None, None, b"*-1\r\n", b"_\r\n")
_CRLF = b"\r\n"


def encode(value, proto: int = 2) -> bytes:
    """RESP encoding of a reply value (see encode_into)."""
    if type(value) is bytes:
        n = len(value)
        return b"".join((_BULK_HDR[n] if n < _HDR_CACHE else b"$%d\r\n" % n, value, _CRLF))
    out = bytearray()
    encode_into(out, value, proto)
    return bytes(out)


def encode_into(out: bytearray, v, proto: int) -> None:
    """Append the RESP2 (proto=2) or RESP3 (proto=3) encoding of ``v`` to ``out``.

    bytes -> bulk; str -> simple string; int -> integer; None -> null bulk
    (RESP3 ``_``); NULL_ARRAY -> ``*-1`` (RESP3 ``_``); list/tuple -> array;
    dict -> map (RESP2 flat array); RSet/set/frozenset -> set (RESP2 array);
    Push -> push (RESP2 array); float -> double (RESP2 bulk of the same text);
    bool -> ``#t``/``#f`` (RESP2 ``:1``/``:0``); Verbatim -> verbatim (RESP2
    bulk); RespError -> ``-message``; Raw -> written as is.
    """
    t = type(v)
    if t is bytes:
        n = len(v)
        out += _BULK_HDR[n] if n < _HDR_CACHE else b"$%d\r\n" % n
        out += v
        out += _CRLF
    elif t is str:
        enc = _SIMPLE_CACHE.get(v)
        if enc is None:
            _encode_simple(out, v)
        else:
            out += enc
    elif t is int:
        out += _INT_REPLY[v] if 0 <= v < _HDR_CACHE else b":%d\r\n" % v
    elif v is None:
        out += _NULL[proto]
    elif t is list or t is tuple:
        n = len(v)
        out += _ARRAY_HDR[n] if n < _HDR_CACHE else b"*%d\r\n" % n
        encode_each(out, v, proto)
    else:
        _encode_other(out, v, proto, t)


_OK = "OK"


def encode_each(out: bytearray, values, proto: int) -> None:
    """Append the encodings of ``values`` one after another: an array's elements, or the
    replies of a pipelined batch."""
    for x in values:
        if type(x) is bytes:  # the common GET/MGET/LRANGE case, without recursion
            n = len(x)
            out += _BULK_HDR[n] if n < _HDR_CACHE else b"$%d\r\n" % n
            out += x
            out += _CRLF
        elif x is _OK:        # (handlers return the one interned "OK")
            out += b"+OK\r\n"
        else:
            encode_into(out, x, proto)


def _encode_simple(out: bytearray, s: str) -> None:
    if "\r" in s or "\n" in s:  # would break the framing
        s = s.replace("\r", " ").replace("\n", " ")
    out += b"+"
    out += s.encode("utf-8", "surrogateescape")
    out += _CRLF


def _encode_aggregate(out: bytearray, prefix: bytes, items, proto: int) -> None:
    out += b"%b%d\r\n" % (prefix, len(items))
    for x in items:
        encode_into(out, x, proto)


def _encode_error(out: bytearray, err: RespError) -> None:
    msg = err.message
    if not isinstance(msg, bytes):
        msg = str(msg).encode("utf-8", "surrogateescape")
    if b"\r" in msg or b"\n" in msg:
        # addReplyErrorFormat: trim CR/LF at both ends, blank out the rest
        msg = msg.strip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")
    out += b"-"
    out += msg
    out += _CRLF


def _encode_other(out: bytearray, v, proto: int, t) -> None:
    if v is NULL_ARRAY:
        out += _NULL_ARR[proto]
    elif t is Raw:
        out += v
    elif t is bool:
        if proto >= 3:
            out += b"#t\r\n" if v else b"#f\r\n"
        else:
            out += b":1\r\n" if v else b":0\r\n"
    elif t is float:
        text = format_double(v)
        if proto >= 3:
            out += b",%b\r\n" % text
        else:
            out += b"$%d\r\n%b\r\n" % (len(text), text)
    elif isinstance(v, RespError):
        _encode_error(out, v)
    elif t is dict or isinstance(v, dict):
        if proto >= 3:
            out += b"%%%d\r\n" % len(v)
        else:
            out += b"*%d\r\n" % (2 * len(v))
        for k, x in v.items():
            encode_into(out, k, proto)
            encode_into(out, x, proto)
    elif t is RSet or t is set or t is frozenset:
        _encode_aggregate(out, b"~" if proto >= 3 else b"*", v, proto)
    elif t is Push:
        _encode_aggregate(out, b">" if proto >= 3 else b"*", v, proto)
    elif t is Verbatim:
        if proto >= 3:
            out += b"=%d\r\n%b:%b\r\n" % (len(v.fmt) + 1 + len(v.data), v.fmt, v.data)
        else:
            encode_into(out, bytes(v.data), proto)
    # subclasses of the basic types (IntEnum, numpy floats, str enums...)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        encode_into(out, bytes(v), proto)
    elif isinstance(v, str):
        _encode_simple(out, str(v))
    elif isinstance(v, bool):
        encode_into(out, bool(v), proto)
    elif isinstance(v, int):
        out += b":%d\r\n" % int(v)
    elif isinstance(v, float):
        encode_into(out, float(v), proto)
    elif isinstance(v, (list, tuple)):
        _encode_aggregate(out, b"*", v, proto)
    elif isinstance(v, (set, frozenset)):
        _encode_aggregate(out, b"~" if proto >= 3 else b"*", v, proto)
    else:
        raise TypeError(f"cannot encode {t.__name__} as a RESP reply")


# ---------------------------------------------------------------------------
# Reply parser (for tests and tools)
# ---------------------------------------------------------------------------

def parse_reply(data: bytes, pos: int = 0):
    """Parse one RESP2/RESP3 reply from ``data[pos:]``.

    Returns ``(value, end)`` or ``(NEED_DATA, pos)``.  Values mirror the
    encoder: bulk -> bytes, simple -> str, ``$-1``/``_`` -> None, ``*-1`` ->
    NULL_ARRAY, ``~`` -> RSet, ``>`` -> Push, ``%`` -> dict, ``=`` -> Verbatim,
    ``,`` -> float, ``#`` -> bool, ``(`` -> int, ``-``/``!`` -> RespError.
    Attributes (``|``) are parsed and dropped.
    """
    try:
        return _parse_reply(data, pos)
    except _Incomplete:
        return NEED_DATA, pos


class _Incomplete(Exception):
    pass


def _line(data: bytes, pos: int):
    end = data.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    return data[pos:end], end + 2


def _parse_reply(data: bytes, pos: int):
    if pos >= len(data):
        raise _Incomplete
    kind = data[pos:pos + 1]
    line, pos = _line(data, pos + 1)
    if kind == b"$" or kind == b"=" or kind == b"!":
        n = int(line)
        if n < 0:
            return None, pos
        if len(data) < pos + n + 2:
            raise _Incomplete
        payload = data[pos:pos + n]
        pos += n + 2
        if kind == b"$":
            return payload, pos
        if kind == b"=":
            return Verbatim(payload[4:], payload[:3]), pos
        return RespError(payload.decode("utf-8", "surrogateescape")), pos
    if kind == b"+":
        return line.decode("utf-8", "surrogateescape"), pos
    if kind == b"-":
        return RespError(line.decode("utf-8", "surrogateescape")), pos
    if kind == b":" or kind == b"(":
        return int(line), pos
    if kind == b"_":
        return None, pos
    if kind == b",":
        return float(line), pos
    if kind == b"#":
        return line == b"t", pos
    if kind in (b"*", b"~", b">", b"%", b"|"):
        n = int(line)
        if n < 0:
            return NULL_ARRAY, pos
        count = 2 * n if kind in (b"%", b"|") else n
        items = []
        for _ in range(count):
            item, pos = _parse_reply(data, pos)
            items.append(item)
        if kind == b"*":
            return items, pos
        if kind == b"~":
            return RSet(items), pos
        if kind == b">":
            return Push(items), pos
        pairs = {_hashable(items[i]): items[i + 1] for i in range(0, count, 2)}
        if kind == b"|":
            return _parse_reply(data, pos)  # attributes decorate the next reply
        return pairs, pos
    raise ValueError(f"bad reply type byte {kind!r}")


def _hashable(x):
    return tuple(_hashable(i) for i in x) if isinstance(x, list) else x


# ---------------------------------------------------------------------------
# Micro-benchmark: python -m protocols.resp
# ---------------------------------------------------------------------------

def _bench(rounds: int = 100, depth: int = 16, repeat: int = 300) -> dict:
    """µs per command through feed + next_command.

    Each figure is the best of ``repeat`` short runs of CPU time, which is
    the most stable estimate on a shared machine.
    """
    import time

    cmd_set = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$3\r\nxxx\r\n"
    cmd_get = b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n"
    pipe_set = cmd_set * depth
    half = len(pipe_set) // 2 + 3  # cuts a command in two
    # (name, chunks fed per round, commands per round, use hiredis)
    cases = [
        (f"SET x{depth} pipeline", (pipe_set,), depth, True),
        (f"GET x{depth} pipeline", (cmd_get * depth,), depth, True),
        ("SET, one per read", (cmd_set,), 1, True),
        ("GET, one per read", (cmd_get,), 1, True),
        (f"SET x{depth} with '=' in values (verify mode)",
         (b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$3\r\nx=x\r\n" * depth,), depth, True),
        (f"SET x{depth}, read cut mid-command", (pipe_set[:half], pipe_set[half:]), depth, True),
        (f"SET x{depth} pure-Python parser", (pipe_set,), depth, False),
        (f"GET x{depth} inline", (b"GET key:000000000001\r\n" * depth,), depth, True),
    ]

    def best(fn, count):
        times = []
        for _ in range(repeat):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        return min(times) / count * 1e6

    results = {}
    if _hiredis is not None:  # the floor: hiredis alone, without any check
        def bare():
            r = _hiredis.Reader()
            gets = r.gets
            for _ in range(rounds):
                r.feed(pipe_set)
                while gets() is not False:
                    pass
        results[f"(bare hiredis.Reader, SET x{depth})"] = best(bare, rounds * depth)

    for name, chunks, ncmd, fast in cases:
        def run(chunks=chunks, fast=fast):
            reader = RespReader(use_hiredis=fast)
            feed, nxt = reader.feed, reader.next_command
            for _ in range(rounds):
                for c in chunks:
                    feed(c)
                    while nxt() is not NEED_DATA:
                        pass
        results[name] = best(run, rounds * ncmd)

    out = bytearray()
    for label, value in [("encode b'xxx'", b"xxx"), ("encode 'OK'", "OK"), ("encode 1000", 1000),
                         ("encode [b'0123456789'] * 10", [b"0123456789"] * 10)]:
        def enc(value=value):
            for _ in range(rounds * depth):
                encode_into(out, value, 2)
                out.clear()
        results[label] = best(enc, rounds * depth)
    return results


if __name__ == "__main__":  # pragma: no cover
    for name, us in _bench().items():
        print(f"{name:40s} {us:6.3f} us/command")
