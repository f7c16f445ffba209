"""What a handler may return besides a reply: wait (``Block``), close (``Close``), or, from
dispatch itself, ``PAUSED`` while CLIENT PAUSE holds the command. The connection task acts on them.
Kept apart from dispatch so handlers can import them without importing the command table."""

from __future__ import annotations

from typing import Any, Callable


class Block:
    """Returned by a handler that must wait (WAIT, blocking pops).

    The connection waits until ``deadline_ms`` (keyspace clock; None: for ever) or until woken;
    then it calls ``retry()`` (a reply, or None to keep waiting). On a timeout, or on
    ``CLIENT UNBLOCK ... TIMEOUT``, the reply is ``on_timeout()``."""

    __slots__ = ("deadline_ms", "keys", "retry", "on_timeout", "spec")

    def __init__(self, deadline_ms: int | None, on_timeout: Callable[[], Any],
                 retry: Callable[[], Any] | None = None, keys: tuple = ()) -> None:
        self.deadline_ms = deadline_ms
        self.on_timeout = on_timeout
        self.retry = retry
        self.keys = keys
        self.spec: Any = None


PAUSED = object()   # CLIENT PAUSE holds this command: wait for the pause to end, then run it again


class Close:
    """Reply, then close the connection (QUIT)."""

    __slots__ = ("reply",)

    def __init__(self, reply: Any) -> None:
        self.reply = reply
