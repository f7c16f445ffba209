"""bench/memcache.py: memcaslap's report is parsed right, and ``python -m bench memcache --quick``
runs end to end (skipped without memcaslap and memcached).  Nothing here looks at speed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import memcache

ROOT = Path(__file__).resolve().parent.parent

# memcaslap -s 127.0.0.1:P -c 50 -T 2 -x 200000 -F <all gets, key 32, value 32> -w 1k -d 16
# against memcached 1.6.18, verbatim (libmemcached-tools 1.1.4-1)
SAMPLE_MGET = """\
servers: 127.0.0.1:22150
threads count: 2
concurrency: 50
execute number: 200000
windows size: 1k
set proportion: set_prop=0.00
get proportion: get_prop=1.00
cmd_get: 200000
cmd_set: 51200
get_misses: 0
written_bytes: 10707300
read_bytes: 16272100
object_bytes: 3276800

Run time: 0.4s Ops: 251200 TPS: 673457 Net_rate: 69.0M/s
"""


def test_parse_memcaslap_report():
    r = memcache.parse_memcaslap(SAMPLE_MGET)
    assert r["cmd_get"] == 200000 and r["cmd_set"] == 51200 and r["get_misses"] == 0
    assert r["written_bytes"] == 10707300 and r["read_bytes"] == 16272100
    assert (r["run_time_s"], r["ops"], r["tps"], r["net_rate_mb_s"]) == (0.4, 251200, 673457, 69.0)
    # Ops counts the 51200 warm-up sets, Run time does not: the exact duration is Ops/TPS
    assert r["duration_s"] == pytest.approx(251200 / 673457)
    assert r["cmd_get"] / r["duration_s"] == pytest.approx(536_193, rel=1e-4)
    assert r["unset_keys"] == 0


def test_parse_memcaslap_without_report():
    # what memcaslap prints when it cannot connect (and exits 1)
    head = SAMPLE_MGET.split("cmd_get")[0]
    assert memcache.parse_memcaslap(head) is None
    assert memcache.parse_memcaslap("") is None


def test_request_arithmetic():
    # the sample's written bytes are exactly 51200 sets and 200000/16 get lines of 16 keys
    set_len = memcache.set_request_len(32, 32)
    assert set_len == len("set " + "k" * 32 + " 0 0 32\r\n") + 32 + 2 == 79
    get_bytes = 10707300 - 51200 * set_len
    assert (get_bytes - 200000 * 33) / len("get\r\n") == 200000 / 16
    cfg = memcache.memcaslap_config(32, 32, get=True)
    assert "key\n32 32 1\n" in cfg and cfg.endswith("cmd\n0 0.0\n1 1.0\n")


@pytest.mark.skipif(not (memcache.find_memcaslap(None) and shutil.which("memcached")),
                    reason="needs memcaslap (libmemcached-tools) and memcached")
@pytest.mark.timeout(90)
def test_quick_run_prints_ratios(tmp_path):
    out_json = tmp_path / "mc.json"
    p = subprocess.run(
        [sys.executable, "-m", "bench", "memcache", "--quick", "--requests", "1000",
         "--clients", "10", "--timeout", "30", "--json", str(out_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=80)
    assert p.returncode == 0, p.stdout + p.stderr
    for test in ("SET", "GET", "MGET"):
        assert re.search(rf"^{test}\s.*\s\d+\.\d\dx\s", p.stdout, re.M), p.stdout + p.stderr
    data = json.loads(out_json.read_text())
    rows = {s["test"]: s for s in data["summary"]}
    assert all(s["status"] == "ok" for s in rows.values()), rows
    # the gets hit, and the multi-get really sends 16 keys per request, on both servers
    assert rows["GET"]["hit_ratio_min"] == 1.0 and rows["MGET"]["hit_ratio_min"] == 1.0
    assert rows["MGET"]["keys_per_request_measured"] == [16.0, 16.0]
    assert rows["GET"]["keys_per_request_measured"] == [1.0, 1.0]
