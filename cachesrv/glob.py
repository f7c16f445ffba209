"""Redis glob matching: ``stringmatchlen`` from Redis 7.0's util.c, byte for byte.

KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE and CLIENT/ACL patterns all match with it.

Theory of operation
-------------------
Redis's matcher walks the pattern one *element* at a time: ``*`` (a run of stars counts as one),
``?``, a bracket ``[...]``, ``\\x`` (an escaped byte) or a plain byte. Where the pattern advances
never depends on the subject, so the pattern can be cut into elements up front. Every element but
``*`` consumes exactly one subject byte, and Redis's ``*`` is the usual "any run of bytes", with
two quirks:

* the subject ``b""`` is matched by the empty pattern only (``*`` included: the loop never runs),
  which is why KEYS and SCAN special-case the pattern ``*`` themselves (Redis does the same:
  ``allkeys`` / ``use_pattern``); PSUBSCRIBE ``*`` really does not see a PUBLISH to ``""``;
* past 1000 nested stars (CVE-2022-36021's fix) the match fails.

Bracket details kept as C has them: ``[^...]`` negates; ``\\c`` inside a bracket is a literal and
is compared case-sensitively even under ``nocase``; ``a-z`` ranges compare *signed* chars (so
``[a-\\xff]`` is the range -1..97) and swap reversed ends; under ``nocase`` both ends and the byte
are lowered (ASCII only: Redis runs in the C locale); ``[a-]`` is the range ``]``..``a`` and
leaves the bracket unterminated; an unterminated bracket ends at the end of the pattern; a
trailing backslash is a literal backslash.

``compile_glob`` turns the elements into one compiled ``re`` (bytes, DOTALL): each bracket
becomes an explicit class of the bytes it accepts (computed by running the bracket on all 256
bytes, so every quirk above carries over), literals under ``nocase`` become ``[xX]``. Stars are
compiled the way Redis's ``skipLongerMatches`` works, so no pattern can make the regex backtrack
exponentially: each segment between two stars is found at its leftmost place and committed
(``(?=(.*?SEG))(?P=g)``, an atomic group that Python 3.10 can express), the last segment is
anchored at the end. Leftmost-first is exact for glob because every segment has a fixed length.
Patterns that cannot benefit skip the regex: ``*`` is ``bool``, a pattern without special bytes
is an equality test, ``foo*`` / ``*foo`` / ``*foo*`` are startswith / endswith / ``in``.
Patterns with more than 1000 star runs fall back to the exact interpreter ``_interpret`` (an
iterative port of the C function with its nesting limit). Compiled matchers are kept in a bounded
LRU cache.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

__all__ = ["stringmatch", "compile_glob", "is_match_all"]

_STAR, _QM, _LB, _RB, _BS, _CARET, _DASH = 42, 63, 91, 93, 92, 94, 45
_SPECIAL = re.compile(rb"[*?\[\\]")
_MAX_NESTING = 1000
_CACHE_SIZE = 1024


def is_match_all(pattern: bytes) -> bool:
    """True for the pattern KEYS and SCAN treat as "every key" without matching (``*``)."""
    return pattern == b"*"


def stringmatch(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """Redis's ``stringmatchlen(pattern, subject, nocase)``, exactly."""
    return compile_glob(pattern, nocase)(subject)


def compile_glob(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A function ``subject -> bool`` equal to ``stringmatch(pattern, subject, nocase)``.

    Cached (bounded LRU): compile once per KEYS/SCAN call, match millions of keys. Note that the
    matcher for ``*`` is ``bool`` (the empty key does not match, as in C); callers that mean
    "everything" test ``is_match_all(pattern)`` first, as Redis's KEYS and SCAN do.
    """
    return _compile(bytes(pattern), bool(nocase))


# -- the exact interpreter ----------------------------------------------------------------------

def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def _bracket(p: bytes, pi: int, c: int, nocase: bool) -> tuple[bool, int]:
    """Match byte ``c`` against the bracket opening at ``p[pi]``.

    Returns (matched, index of the last pattern byte the bracket used), as the C loop leaves it.
    """
    plen = len(p)
    pi += 1
    neg = pi < plen and p[pi] == _CARET
    if neg:
        pi += 1
    match = False
    while True:
        rem = plen - pi
        ch = p[pi] if rem > 0 else 0
        if ch == _BS and rem >= 2:
            pi += 1
            if p[pi] == c:
                match = True
        elif ch == _RB:
            break
        elif rem <= 0:
            pi -= 1
            break
        elif rem >= 3 and p[pi + 1] == _DASH:
            # C compares (signed) chars here.
            start = p[pi] - 256 if p[pi] >= 128 else p[pi]
            end = p[pi + 2] - 256 if p[pi + 2] >= 128 else p[pi + 2]
            cc = c - 256 if c >= 128 else c
            if start > end:
                start, end = end, start
            if nocase:
                start, end, cc = _lower(start), _lower(end), _lower(cc)
            pi += 2
            if start <= cc <= end:
                match = True
        elif nocase:
            if _lower(ch) == _lower(c):
                match = True
        elif ch == c:
            match = True
        pi += 1
    return match != neg, pi


def _interpret(p: bytes, s: bytes, nocase: bool) -> bool:
    """``stringmatchlen_impl`` with its recursion on ``*`` unrolled onto an explicit stack."""
    plen, slen = len(p), len(s)
    skip_longer = False
    frames: list[list[int]] = []     # one per pending '*': [pattern index, subject index, nesting]
    pi = si = nesting = 0
    while True:
        # -- one call of stringmatchlen_impl(p[pi:], s[si:], nesting)
        res: bool | None = False
        if nesting <= _MAX_NESTING:
            res = None
            call = False
            while pi < plen and si < slen:
                ch = p[pi]
                if ch == _STAR:
                    while pi + 1 < plen and p[pi + 1] == _STAR:
                        pi += 1
                    if plen - pi == 1:
                        res = True               # trailing star
                        break
                    frames.append([pi, si, nesting])
                    pi, nesting = pi + 1, nesting + 1
                    call = True                  # "call" the rest of the pattern on s[si:]
                    break
                if ch == _QM:
                    si += 1
                elif ch == _LB:
                    ok, pi = _bracket(p, pi, s[si], nocase)
                    if not ok:
                        res = False
                        break
                    si += 1
                else:
                    if ch == _BS and plen - pi >= 2:
                        pi += 1
                        ch = p[pi]
                    c = s[si]
                    if (_lower(ch) != _lower(c)) if nocase else (ch != c):
                        res = False
                        break
                    si += 1
                pi += 1
                if si == slen:
                    while pi < plen and p[pi] == _STAR:
                        pi += 1
                    break
            if call:
                continue
            if res is None:
                res = pi == plen and si == slen
        # -- hand `res` back to the star loops waiting for it
        while frames:
            f = frames[-1]
            if res or skip_longer:
                frames.pop()
                continue
            f[1] += 1
            if f[1] < slen:
                pi, si, nesting = f[0] + 1, f[1], f[2] + 1
                break
            skip_longer = True
            frames.pop()
        else:
            return res


# -- compilation ---------------------------------------------------------------------------------

def _elements(p: bytes, nocase: bool) -> tuple[list, int]:
    """Cut the pattern into elements: None for '*', else the frozenset of bytes one position
    accepts. Also returns the number of star runs."""
    out: list = []
    stars = 0
    plen = len(p)
    pi = 0
    allbytes = frozenset(range(256))
    while pi < plen:
        ch = p[pi]
        if ch == _STAR:
            while pi + 1 < plen and p[pi + 1] == _STAR:
                pi += 1
            out.append(None)
            stars += 1
        elif ch == _QM:
            out.append(allbytes)
        elif ch == _LB:
            accepted = []
            end = pi
            for c in range(256):
                ok, end = _bracket(p, pi, c, nocase)
                if ok:
                    accepted.append(c)
            out.append(frozenset(accepted))
            pi = end
        else:
            if ch == _BS and plen - pi >= 2:
                pi += 1
                ch = p[pi]
            if nocase and (65 <= ch <= 90 or 97 <= ch <= 122):
                out.append(frozenset((ch | 32, ch & ~32)))
            else:
                out.append(frozenset((ch,)))
        pi += 1
    return out, stars


def _class(accepted: frozenset) -> bytes:
    if len(accepted) == 256:
        return b"."
    if not accepted:
        return b"(?!)"
    if len(accepted) == 1:
        return b"\\x%02x" % next(iter(accepted))
    parts = []
    vals = sorted(accepted)
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        parts.append(b"\\x%02x" % vals[i] if i == j else b"\\x%02x-\\x%02x" % (vals[i], vals[j]))
        i = j + 1
    return b"[" + b"".join(parts) + b"]"


def _regex(elements: list) -> bytes:
    segments: list[list] = [[]]
    for e in elements:
        if e is None:
            segments.append([])
        else:
            segments[-1].append(e)
    segs = [b"".join(_class(e) for e in seg) for seg in segments]
    if len(segs) == 1:
        return segs[0]
    out = [segs[0]]
    for n, seg in enumerate(segs[1:-1]):
        out.append(b"(?=(?P<g%d>.*?%s))(?P=g%d)" % (n, seg, n))
    out.append(b".*" + segs[-1])
    return b"".join(out)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    if not pattern:
        return _is_empty
    if not pattern.strip(b"*"):
        return bool
    if not _SPECIAL.search(pattern):
        if not nocase:
            return pattern.__eq__
        low = pattern.lower()
        return lambda s: s.lower() == low
    inner = pattern.strip(b"*")
    if not _SPECIAL.search(inner):
        lead, trail = pattern.startswith(b"*"), pattern.endswith(b"*")
        n = len(inner)
        if nocase:
            inner = inner.lower()
            if lead and trail:
                return lambda s: inner in s.lower()
            if trail:
                return lambda s: s[:n].lower() == inner
            return lambda s: len(s) >= n and s[-n:].lower() == inner
        if lead and trail:
            return lambda s: inner in s
        if trail:
            return lambda s: s.startswith(inner)
        return lambda s: s.endswith(inner)
    elements, stars = _elements(pattern, nocase)
    if stars > _MAX_NESTING:
        return lambda s: _interpret(pattern, s, nocase)
    fullmatch = re.compile(_regex(elements), re.DOTALL).fullmatch
    return lambda s: fullmatch(s) is not None


def _is_empty(s: bytes) -> bool:
    return not s
