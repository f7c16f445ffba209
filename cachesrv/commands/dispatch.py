"""From argv to a reply value: Redis's processCommand + call(), as small named gates.

``execute(session, argv)`` is synchronous and never awaits, so a command runs to completion before
any other task can touch the keyspace. It looks the command up in the one table, checks arity,
passes the gates that apply to the client's state (``session.gate`` says whether any do), calls the
handler, and keeps the statistics INFO, SLOWLOG, LATENCY and MONITOR report. A handler returns a
reply value (see ``protocols.resp``), raises ``CommandError``, or returns a ``Block`` / ``Close``
that the connection task acts on.
"""

from __future__ import annotations

import time
from operator import itemgetter
from typing import Any

from ..session import Session
from .flow import PAUSED, Block, Close  # noqa: F401  (handlers import them from here too)
from .errors import NOAUTH, CommandError, unknown_command, unknown_subcommand, wrong_arity
from .spec import LATENCY_FAST_US, CommandSpec
from .table import COMMANDS, PLAIN

_perf_ns = time.perf_counter_ns
_last_ns = 0            # when the last command's call ended (see ``mark``)


# Lookups try the name as sent first: clients send "GET" or "get", and both spellings are keys
# of this dict, so the common case costs no lower-casing.
_LOOKUP: dict[bytes, CommandSpec] = {}
for _name, _spec in COMMANDS.items():
    _LOOKUP[_name] = _spec
    _LOOKUP[_name.upper()] = _spec


def lookup(argv: list[bytes]) -> CommandSpec | None:
    """The spec for argv (a subcommand's for a container), or None if there is none."""
    spec = _LOOKUP.get(argv[0]) or COMMANDS.get(argv[0].lower())
    if spec is not None and spec.subcommands and len(argv) > 1:
        return spec.subcommands.get(argv[1].lower())
    return spec


def execute(session: Session, argv: list[bytes], spec: CommandSpec | None = None,
            chained: bool = False) -> Any:
    """Run one command. With ``spec`` given (EXEC running what MULTI queued, already checked),
    lookup, arity and the gates are skipped: only the call with its statistics remains.
    ``chained``: the command follows the previous one in the same batch, with nothing in
    between but encoding its reply, so its timing starts where that one's ended (``mark``)."""
    global _last_ns
    server = session.server
    if spec is None:
        spec = _LOOKUP.get(argv[0])
        if spec is None:
            spec = COMMANDS.get(argv[0].lower())
            if spec is None:
                return _reject(session, None, unknown_command(argv))
        if spec.subcommands:
            if len(argv) > 1:
                sub = spec.subcommands.get(argv[1].lower())
                if sub is None:
                    return _reject(session, spec, unknown_subcommand(argv))
                spec = sub
            elif spec.handler is None:          # a container alone (CONFIG); COMMAND alone is a command
                return _reject(session, spec, wrong_arity(spec.fullname))
        arity = spec.arity
        if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
            return _reject(session, spec, wrong_arity(spec.fullname))
        if session.gate:
            refused = _gates(session, spec, argv)
            if refused is not None:
                return refused
        if server.pause_end and server.pause_blocks(session, spec):
            return PAUSED
    # Redis's call(): the handler, timed, with statistics, slow log, latency and MONITOR.
    session.last_cmd = spec.fullname
    t0 = _last_ns if chained else _perf_ns()
    try:
        reply = spec.handler(session, argv)
    except Exception as e:
        reply = call_failed(session, spec, e)
    _last_ns = t1 = _perf_ns()
    elapsed = t1 - t0
    spec.calls += 1
    spec.usec += elapsed
    if server.latency_tracking:
        # Counted per whole microsecond (Redis's histogram records microseconds x 1000); the
        # rare longer calls wait in a list. Both are bucketed in bulk (Server.flush_latency).
        usec = elapsed // 1000
        if usec < LATENCY_FAST_US:
            spec.latency_us[usec] += 1
        else:
            pending = spec.latency_pending
            pending.append(elapsed)
            if len(pending) >= 1024:
                server.flush_latency((spec,))
    t = type(reply)
    if t is not bytes and reply is not None:
        if t is Block:
            reply.spec = spec
        elif t is CommandError:
            spec.failed_calls += 1
            server.count_error(reply)
    if elapsed >= server.slow_threshold_ns:
        server.record_slow(session, spec, argv, elapsed)
    if server.monitors and not spec.admin and "skip_monitor" not in spec.flags:
        server.feed_monitors(session, argv)
    return reply


# A pipelined batch whose commands are all calls of one plain command (table.PLAIN) runs as a
# whole: what execute checks before a call holds for every call of such a command alike, so it is
# checked once; the clock is read before and after the batch, and each call is charged the
# batch's mean time (INFO commandstats, the latency histogram, the slow log). A command with a
# ``many`` handler takes all its calls in one call. Keyed by the name as sent, as ``_LOOKUP``.
RUNS: dict[bytes, CommandSpec] = {k: v for k, v in _LOOKUP.items() if v.fullname in PLAIN}
_first = itemgetter(0)


def run_uniform(session: Session, batch: list) -> list | None:
    """The replies of ``batch`` (a client's pipelined commands) when it is uniform and neither
    the client (``session.gate``) nor the server (a pause, a MONITOR) has a state for dispatch to
    look at; else None, and nothing ran. The checks of the batch are C loops over it."""
    server = session.server
    if session.gate or server.pause_end or server.monitors:
        return None
    name = batch[0][0]
    spec = RUNS.get(name)
    if spec is None:
        return None
    n = len(batch)
    if list(map(_first, batch)).count(name) != n:
        return None
    argcs = list(map(len, batch))
    if min(argcs) < spec.argc_min or max(argcs) > spec.argc_max:
        return None
    t0 = _perf_ns()
    replies = None
    if spec.many is not None:
        try:
            replies = spec.many(session, batch)
        except Exception as e:      # (a bug: many handlers put their errors in the list)
            replies = [call_failed(session, spec, e)] * n
    if replies is None:
        handler = spec.handler
        replies = []
        add = replies.append
        for argv in batch:
            try:
                add(handler(session, argv))
            except Exception as e:
                add(call_failed(session, spec, e))
    elapsed = _perf_ns() - t0
    session.last_cmd = spec.fullname
    spec.calls += n
    spec.usec += elapsed
    each = elapsed // n
    if server.latency_tracking:
        usec = each // 1000
        if usec < LATENCY_FAST_US:
            spec.latency_us[usec] += n
        else:
            spec.latency_pending += [each] * n
            if len(spec.latency_pending) >= 1024:
                server.flush_latency((spec,))
    if CommandError in set(map(type, replies)):
        for reply in replies:
            if type(reply) is CommandError:
                spec.failed_calls += 1
                server.count_error(reply)
    if each >= server.slow_threshold_ns:
        for argv in batch:
            server.record_slow(session, spec, argv, each)
    return replies


def call_failed(session: Session, spec: CommandSpec, e: Exception) -> CommandError:
    """The reply of a handler that raised ``e``: its error, or (a bug, logged) a generic one."""
    if isinstance(e, CommandError):
        return e
    session.server.log.exception("Unexpected error in %s", spec.fullname)
    return CommandError("ERR internal error while executing the command (see server log)")


def mark() -> None:
    """Start the clock for a batch of chained commands (``execute(..., chained=True)``)."""
    global _last_ns
    _last_ns = _perf_ns()


def _reject(session: Session, spec: CommandSpec | None, err: CommandError) -> CommandError:
    if spec is not None:
        spec.rejected_calls += 1
    session.server.count_error(err)
    if session.multi is not None:
        session.multi_error = True
    return err


def _gates(session: Session, spec: CommandSpec, argv: list[bytes]) -> Any:
    """Checks for clients in a special state, in Redis's order. None lets the command run."""
    if not session.authenticated and not spec.noauth:
        return _reject(session, spec, CommandError(NOAUTH))
    if session.monitor and (spec.write or spec.readonly or "may_replicate" in spec.flags):
        return _reject(session, spec, CommandError("ERR Replica can't interact with the keyspace"))
    if session.subscriptions and session.proto == 2 and not spec.pubsub_ok:
        return _reject(session, spec, CommandError(
            f"ERR Can't execute '{spec.fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            f"are allowed in this context"))
    return None
