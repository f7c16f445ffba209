"""The README's list of supported commands, produced from the command table.

``python -m cachesrv.commands.listing`` prints the Markdown block that sits between the
``<!-- commands:begin -->`` and ``<!-- commands:end -->`` markers of README.md; a test checks that
the README holds exactly this, so the list can never drift from what the server serves.
"""

from __future__ import annotations

from collections import defaultdict

from .admin import cluster_disabled
from .table import COMMANDS


def command_list_markdown() -> str:
    groups: dict[str, list[str]] = defaultdict(list)
    for name, spec in sorted(COMMANDS.items()):
        group = spec.docs.get("group", "other")
        if spec.subcommands:
            # Subcommands that only refuse, as a standalone Redis does (CLUSTER ...), are not listed.
            subs = " ".join(sorted(s.name.upper() for s in spec.subcommands.values()
                                   if s.handler is not cluster_disabled))
            groups[group].append(f"{name.decode().upper()} ({subs})")
        else:
            groups[group].append(name.decode().upper())
    lines = []
    for group in sorted(groups):
        lines.append(f"- **{group}**: " + ", ".join(groups[group]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(command_list_markdown(), end="")
