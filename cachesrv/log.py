"""Logging in Redis's line format: ``pid:role dd Mon yyyy hh:mm:ss.mmm <level> message``.

Level marks are Redis's: ``.`` debug, ``-`` verbose, ``*`` notice, ``#`` warning. The role is ``M``
(primary), ``S`` (replica) or ``C`` (child). Output goes to stderr, or appended to ``logfile``.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

LEVELS = {"debug": 0, "verbose": 1, "notice": 2, "warning": 3, "nothing": 4}
_MARKS = ".-*#"


class Logger:
    def __init__(self, level: str = "notice", logfile: str = "") -> None:
        self.level = LEVELS.get(level, 2)
        self.role = "M"
        self._file = None
        self.set_file(logfile)

    def set_file(self, logfile: str) -> None:
        if self._file not in (None, sys.stderr):
            self._file.close()
        self._file = open(logfile, "a", buffering=1) if logfile else None

    def set_level(self, level: str) -> None:
        self.level = LEVELS[level]

    def _emit(self, level: int, msg: str, args: tuple) -> None:
        if level < self.level:
            return
        if args:
            msg = msg % args
        now = time.time()
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now))
        line = f"{os.getpid()}:{self.role} {stamp}.{int(now * 1000) % 1000:03d} {_MARKS[level]} {msg}\n"
        out = self._file or sys.stderr
        try:
            out.write(line)
            out.flush()
        except (OSError, ValueError):
            pass

    def debug(self, msg: str, *args) -> None:
        self._emit(0, msg, args)

    def verbose(self, msg: str, *args) -> None:
        self._emit(1, msg, args)

    def notice(self, msg: str, *args) -> None:
        self._emit(2, msg, args)

    def warning(self, msg: str, *args) -> None:
        self._emit(3, msg, args)

    def exception(self, msg: str, *args) -> None:
        """A bug: log it at warning level with its traceback, one line per traceback line."""
        self._emit(3, msg, args)
        for line in traceback.format_exc().rstrip().splitlines():
            self._emit(3, line, ())
