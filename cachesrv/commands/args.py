"""Argument parsing shared by all handlers, with Redis's exact acceptance rules.

Redis reads integers with ``string2ll`` (no sign but '-', no leading zeros, no spaces, 64-bit) and
doubles with ``strtod``/``strtold`` (no leading space, nothing trailing, no NaN). Python's ``int()``
and ``float()`` accept more ("+1", " 1", "1_000", "nan"), so everything goes through here.
"""

from __future__ import annotations

import math
import re

from .errors import NOT_FLOAT, NOT_INTEGER, SYNTAX, CommandError

LLONG_MAX = (1 << 63) - 1
LLONG_MIN = -(1 << 63)

_INT_RE = re.compile(rb"(?:0|-?[1-9][0-9]*)\Z")
# strtod's decimal and hex forms, infinities; NaN is refused by Redis after parsing anyway.
_FLOAT_RE = re.compile(
    rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan"
    rb"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)\Z",
    re.IGNORECASE,
)


def to_int(b: bytes) -> int | None:
    """string2ll: the integer, or None if Redis would not read ``b`` as a 64-bit integer."""
    if len(b) > 20 or not _INT_RE.match(b):
        return None
    v = int(b)
    return v if LLONG_MIN <= v <= LLONG_MAX else None


def parse_int(b: bytes, error: str = NOT_INTEGER) -> int:
    v = to_int(b)
    if v is None:
        raise CommandError(error)
    return v


def parse_nonneg(b: bytes, error: str) -> int:
    v = to_int(b)
    if v is None or v < 0:
        raise CommandError(error)
    return v


def to_float(b: bytes) -> float | None:
    """strtod as Redis uses it: the double, or None (bad syntax, trailing bytes, NaN)."""
    if not b or len(b) > 5000 or not _FLOAT_RE.match(b):
        return None
    s = b.decode("ascii")
    try:
        v = float.fromhex(s) if "x" in s or "X" in s else float(s)
    except (ValueError, OverflowError):
        return None
    if math.isnan(v):
        return None
    return v


def parse_float(b: bytes, error: str = NOT_FLOAT) -> float:
    v = to_float(b)
    if v is None:
        raise CommandError(error)
    return v


def upper(b: bytes) -> bytes:
    return b.upper()


def expect_end(argv: list[bytes], i: int) -> None:
    if i != len(argv):
        raise CommandError(SYNTAX)


class Options:
    """A tiny scanner for ``[NX|XX] [GET] [EX seconds] ...`` style option lists.

    ``take()`` yields upper-cased option names; ``value()`` consumes the option's argument, raising
    ``ERR syntax error`` when it is missing, as Redis does for a trailing ``EX``.
    """

    __slots__ = ("argv", "i")

    def __init__(self, argv: list[bytes], start: int) -> None:
        self.argv = argv
        self.i = start

    def __iter__(self):
        argv = self.argv
        while self.i < len(argv):
            opt = argv[self.i].upper()
            self.i += 1
            yield opt

    def has_value(self) -> bool:
        return self.i < len(self.argv)

    def value(self) -> bytes:
        if self.i >= len(self.argv):
            raise CommandError(SYNTAX)
        v = self.argv[self.i]
        self.i += 1
        return v


def atoi(b: bytes) -> int:
    """C's atoi: optional blanks and sign, then digits; anything else ends the number (0 if none)."""
    s = b.lstrip(b" \t\n\v\f\r")
    sign = 1
    if s[:1] in (b"-", b"+"):
        sign = -1 if s[:1] == b"-" else 1
        s = s[1:]
    n = 0
    for c in s:
        if not 48 <= c <= 57:
            break
        n = n * 10 + c - 48
    n *= sign
    return (n + (1 << 31)) % (1 << 32) - (1 << 31)   # int overflow wraps
