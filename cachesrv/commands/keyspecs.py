"""Where the keys of a command are: Redis 7.0's getKeysFromCommandWithSpecs.

First the command's key specs (``CommandSpec.key_specs``, Redis's own metadata), then, where they
cannot say (variable flags, or arguments they do not fit), the command's own key finder, as
Redis's *GetKeys functions do. COMMAND GETKEYS answers from here; WATCH, ACL key patterns and
slot routing use the same function.
"""

from __future__ import annotations

from .args import atoi as _atoi, to_int


class _InvalidSpec(Exception):
    pass


def _keys_from_specs(spec, argv: list[bytes]) -> list[tuple[int, list[str]]]:
    """getKeysUsingKeySpecs (Redis 7.0): (position, flags) of every key; _InvalidSpec where Redis
    returns -1 and falls back to the command's own key finder."""
    argc = len(argv)
    found: list[tuple[int, list[str]]] = []
    for ks in spec.key_specs:
        flags = ks["flags"]
        if "not_key" in flags:
            continue
        bs, fk = ks["begin_search"], ks["find_keys"]
        if bs["type"] == "index":
            first = bs["spec"]["index"]
        elif bs["type"] == "keyword":
            keyword = bs["spec"]["keyword"].encode().lower()
            start = bs["spec"]["startfrom"]
            rng = range(start, argc - 1) if start > 0 else range(argc + start, 1, -1)
            first = 0
            for i in rng:
                if i >= argc or i < 1:
                    break
                if argv[i].lower() == keyword:
                    first = i + 1
                    break
            if not first:
                continue
        else:
            raise _InvalidSpec
        if fk["type"] == "range":
            step, lastkey, limit = fk["spec"]["keystep"], fk["spec"]["lastkey"], fk["spec"]["limit"]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        elif fk["type"] == "keynum":
            step, idx = fk["spec"]["keystep"], fk["spec"]["keynumidx"]
            if idx >= argc or first + idx >= argc:
                raise _InvalidSpec
            numkeys = to_int(argv[first + idx])
            if numkeys is None or numkeys < 0:
                raise _InvalidSpec
            first += fk["spec"]["firstkey"]
            last = first + numkeys - 1
        else:
            raise _InvalidSpec
        if last >= argc or last < first or first >= argc:
            raise _InvalidSpec
        found.extend((i, flags) for i in range(first, last + 1, step))
        if "incomplete" in flags:
            raise _InvalidSpec
    return found


def _generic_keys(store: int, count_at: int, first: int, step: int):
    """genericGetKeys: numkeys at ``count_at``, keys from ``first``, and a destination at ``store``
    (listed last) for the *STORE commands. Flags are not known this way (empty)."""
    def keys(argv: list[bytes]) -> list[tuple[int, list[str]]]:
        num = _atoi(argv[count_at])
        if num < 1 or num > (len(argv) - first) // step:
            return []
        found = [(first + i * step, []) for i in range(num)]
        if store:
            found.append((store, []))
        return found
    return keys


def _set_keys(argv):
    """setGetKeys: SET's key is read too (RW) when GET is given."""
    for a in argv[3:]:
        if a.lower() == b"get":
            return [(1, ["RW", "access", "update"])]
    return [(1, ["OW", "update"])]


def _bitfield_keys(argv):
    """bitfieldGetKeys: read-only unless a SET or INCRBY (or a syntax error) is met."""
    readonly = True
    i, argc = 2, len(argv)
    while i < argc:
        remaining = argc - i - 1
        op = argv[i].lower()
        if op == b"get" and remaining >= 2:
            i += 3
        elif op in (b"set", b"incrby") and remaining >= 3:
            readonly = False
            break
        elif op == b"overflow" and remaining >= 1:
            i += 2
        else:
            readonly = False
            break
    return [(1, ["RO", "access"] if readonly else ["RW", "access", "update"])]


def _sort_ro_keys(argv):
    return [(1, ["RO", "access"])]


def _sort_keys(argv):
    """sortGetKeys: the sorted key, and the last STORE destination, skipping the arguments of
    LIMIT, GET and BY."""
    found = [(1, ["RO", "access"])]
    store = None
    skip = {b"limit": 2, b"get": 1, b"by": 1}
    i, argc = 2, len(argv)
    while i < argc:
        opt = argv[i].lower()
        if opt in skip:
            i += skip[opt]
        elif opt == b"store" and i + 1 < argc:
            store = i + 1
        i += 1
    if store is not None:
        found.append((store, ["OW", "update"]))
    return found


# The commands whose key specs Redis does not trust alone (variable flags, unknown or incomplete
# specs) or which fall back when a spec does not fit (numkeys commands): Redis's getkeys_proc.
GETKEYS_PROCS = {
    "set": _set_keys,
    "bitfield": _bitfield_keys,
    "sort": _sort_keys,
    "sort_ro": _sort_ro_keys,
    "sintercard": _generic_keys(0, 1, 2, 1),
    "zunion": _generic_keys(0, 1, 2, 1),
    "zinter": _generic_keys(0, 1, 2, 1),
    "zdiff": _generic_keys(0, 1, 2, 1),
    "zintercard": _generic_keys(0, 1, 2, 1),
    "zunionstore": _generic_keys(1, 2, 3, 1),
    "zinterstore": _generic_keys(1, 2, 3, 1),
    "zdiffstore": _generic_keys(1, 2, 3, 1),
    "eval": _generic_keys(0, 2, 3, 1),
    "evalsha": _generic_keys(0, 2, 3, 1),
    "eval_ro": _generic_keys(0, 2, 3, 1),
    "evalsha_ro": _generic_keys(0, 2, 3, 1),
    "fcall": _generic_keys(0, 2, 3, 1),
    "fcall_ro": _generic_keys(0, 2, 3, 1),
    "lmpop": _generic_keys(0, 1, 2, 1),
    "blmpop": _generic_keys(0, 2, 3, 1),
    "zmpop": _generic_keys(0, 1, 2, 1),
    "bzmpop": _generic_keys(0, 2, 3, 1),
}


def command_keys(spec, argv: list[bytes]) -> list[tuple[int, list[str]]]:
    """getKeysFromCommandWithSpecs: key positions and flags of a full command ``argv``."""
    specs = spec.key_specs
    has_keyspec = any("not_key" not in ks["flags"] for ks in specs)
    varflags = any("variable_flags" in ks["flags"] for ks in specs)
    if has_keyspec and not varflags:
        try:
            return _keys_from_specs(spec, argv)
        except _InvalidSpec:
            pass
    proc = GETKEYS_PROCS.get(spec.fullname)
    return proc(argv) if proc is not None else []
