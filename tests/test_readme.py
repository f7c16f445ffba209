"""The README stays true: its command list is the command table's, its Quickstart has exactly two
commands, and the defaults it states are the server's."""

from __future__ import annotations

import re
from pathlib import Path

from cachesrv.commands.listing import command_list_markdown
from cachesrv.config import parse_args

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _between(begin: str, end: str) -> str:
    m = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), README, re.S)
    assert m, f"README lacks {begin} ... {end}"
    return m.group(1)


def test_command_list_is_the_command_table():
    expected = command_list_markdown()
    assert _between("<!-- commands:begin -->", "<!-- commands:end -->") == expected, (
        "README's command list is stale; paste the output of `python3 -m cachesrv.commands.listing`")


def test_quickstart_has_exactly_two_commands():
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    assert blocks == ["python3 -m pip install -e . && python3 -m cachesrv\n", "python3 -m tests\n"]


def test_defaults_in_the_directive_table_are_the_servers():
    cfg = parse_args([])
    table = README.split("## Command line and configuration", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", table, re.M))
    checked = 0
    for name, shown in rows.items():
        value = cfg.config_get([name.encode()])[name]
        shown = shown.strip().strip("`")
        if shown in ('""', "(none)"):
            shown = ""
        shown = " ".join(str(int(t[:-2]) << {"mb": 20, "gb": 30}[t[-2:]]) if re.fullmatch(r"\d+[mg]b", t) else t
                         for t in shown.split())
        assert value == shown, f"{name}: README says {shown!r}, CONFIG GET says {value!r}"
        checked += 1
    assert checked >= 15
