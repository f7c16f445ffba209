"""INFO on an in-memory server: sections, field names and order as Redis 7.0.15 prints them (the
lists below were read from redis-server 7.0.15's INFO everything), and values that follow what
the server did."""

from __future__ import annotations

import re

import pytest

from protocols.resp import Verbatim

from cachesrv import __version__
from cachesrv.commands import info as info_mod
from cachesrv.commands.errors import CommandError
from cachesrv.commands.info import bytes_to_human, record_latency, value_at_percentile
from cachesrv.session import Session

FIELDS = {
    "Server": ["redis_version", "redis_git_sha1", "redis_git_dirty", "redis_build_id", "redis_mode", "os",
               "arch_bits", "monotonic_clock", "multiplexing_api", "atomicvar_api", "gcc_version", "process_id",
               "process_supervised", "run_id", "tcp_port", "server_time_usec", "uptime_in_seconds",
               "uptime_in_days", "hz", "configured_hz", "lru_clock", "executable", "config_file",
               "io_threads_active"],
    "Clients": ["connected_clients", "cluster_connections", "maxclients", "client_recent_max_input_buffer",
                "client_recent_max_output_buffer", "blocked_clients", "tracking_clients",
                "clients_in_timeout_table"],
    "Memory": ["used_memory", "used_memory_human", "used_memory_rss", "used_memory_rss_human", "used_memory_peak",
               "used_memory_peak_human", "used_memory_peak_perc", "used_memory_overhead", "used_memory_startup",
               "used_memory_dataset", "used_memory_dataset_perc", "allocator_allocated", "allocator_active",
               "allocator_resident", "total_system_memory", "total_system_memory_human", "used_memory_lua",
               "used_memory_vm_eval", "used_memory_lua_human", "used_memory_scripts_eval",
               "number_of_cached_scripts", "number_of_functions", "number_of_libraries",
               "used_memory_vm_functions", "used_memory_vm_total", "used_memory_vm_total_human",
               "used_memory_functions", "used_memory_scripts", "used_memory_scripts_human", "maxmemory",
               "maxmemory_human", "maxmemory_policy", "allocator_frag_ratio", "allocator_frag_bytes",
               "allocator_rss_ratio", "allocator_rss_bytes", "rss_overhead_ratio", "rss_overhead_bytes",
               "mem_fragmentation_ratio", "mem_fragmentation_bytes", "mem_not_counted_for_evict",
               "mem_replication_backlog", "mem_total_replication_buffers", "mem_clients_slaves",
               "mem_clients_normal", "mem_cluster_links", "mem_aof_buffer", "mem_allocator",
               "active_defrag_running", "lazyfree_pending_objects", "lazyfreed_objects"],
    "Persistence": ["loading", "async_loading", "current_cow_peak", "current_cow_size", "current_cow_size_age",
                    "current_fork_perc", "current_save_keys_processed", "current_save_keys_total",
                    "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time",
                    "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "rdb_current_bgsave_time_sec",
                    "rdb_saves", "rdb_last_cow_size", "rdb_last_load_keys_expired", "rdb_last_load_keys_loaded",
                    "aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled", "aof_last_rewrite_time_sec",
                    "aof_current_rewrite_time_sec", "aof_last_bgrewrite_status", "aof_rewrites",
                    "aof_rewrites_consecutive_failures", "aof_last_write_status", "aof_last_cow_size",
                    "module_fork_in_progress", "module_fork_last_cow_size"],
    "Stats": ["total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
              "total_net_input_bytes", "total_net_output_bytes", "total_net_repl_input_bytes",
              "total_net_repl_output_bytes", "instantaneous_input_kbps", "instantaneous_output_kbps",
              "instantaneous_input_repl_kbps", "instantaneous_output_repl_kbps", "rejected_connections",
              "sync_full", "sync_partial_ok", "sync_partial_err", "expired_keys", "expired_stale_perc",
              "expired_time_cap_reached_count", "expire_cycle_cpu_milliseconds", "evicted_keys", "evicted_clients",
              "total_eviction_exceeded_time", "current_eviction_exceeded_time", "keyspace_hits", "keyspace_misses",
              "pubsub_channels", "pubsub_patterns", "pubsubshard_channels", "latest_fork_usec", "total_forks",
              "migrate_cached_sockets", "slave_expires_tracked_keys", "active_defrag_hits", "active_defrag_misses",
              "active_defrag_key_hits", "active_defrag_key_misses", "total_active_defrag_time",
              "current_active_defrag_time", "tracking_total_keys", "tracking_total_items",
              "tracking_total_prefixes", "unexpected_error_replies", "total_error_replies",
              "dump_payload_sanitizations", "total_reads_processed", "total_writes_processed",
              "io_threaded_reads_processed", "io_threaded_writes_processed", "reply_buffer_shrinks",
              "reply_buffer_expands"],
    "Replication": ["role", "connected_slaves", "master_failover_state", "master_replid", "master_replid2",
                    "master_repl_offset", "second_repl_offset", "repl_backlog_active", "repl_backlog_size",
                    "repl_backlog_first_byte_offset", "repl_backlog_histlen"],
    "CPU": ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children",
            "used_cpu_sys_main_thread", "used_cpu_user_main_thread"],
    "Modules": [],
    "Cluster": ["cluster_enabled"],
}
DEFAULT = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Errorstats",
           "Cluster", "Keyspace"]
EVERYTHING = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules",
              "Commandstats", "Errorstats", "Latencystats", "Cluster", "Keyspace"]


def text(reply) -> str:
    assert isinstance(reply, Verbatim) and reply.fmt == b"txt", reply
    return reply.data.decode()


def parse(reply) -> dict[str, list[tuple[str, str]]]:
    """'# Title' -> [(field, value)], checking Redis's framing: CRLF lines, one blank line between."""
    t = text(reply)
    out: dict[str, list] = {}
    if not t:
        return out
    assert t.endswith("\r\n") and not t.endswith("\r\n\r\n")
    for block in t[:-2].split("\r\n\r\n"):
        head, *rows = block.split("\r\n")
        assert head.startswith("# ")
        out[head[2:]] = [tuple(r.split(":", 1)) for r in rows]
    return out


def section(call, name: str) -> dict[str, str]:
    return dict(parse(call("INFO", name))[name.capitalize() if name != "cpu" else "CPU"])


@pytest.fixture(autouse=True)
def fresh_command_stats():
    from cachesrv.commands.table import COMMANDS
    for spec in COMMANDS.values():
        spec.reset_stats()


# -- choosing sections -----------------------------------------------------------------------------
def test_no_argument_means_default(call):
    assert list(parse(call("INFO"))) == DEFAULT


def test_default_all_everything(call):
    assert list(parse(call("INFO", "default"))) == DEFAULT
    assert list(parse(call("INFO", "all"))) == EVERYTHING
    assert list(parse(call("INFO", "everything"))) == EVERYTHING
    assert list(parse(call("INFO", "default", "commandstats"))) == [
        "Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Commandstats",
        "Errorstats", "Cluster", "Keyspace"]


def test_several_sections_come_out_in_redis_order(call):
    assert list(parse(call("INFO", "keyspace", "CLIENTS", "errorstats", "commandstats", "latencystats"))) == [
        "Clients", "Commandstats", "Errorstats", "Latencystats", "Keyspace"]
    assert list(parse(call("INFO", "clients", "clients"))) == ["Clients"]
    assert list(parse(call("INFO", "cpu", "Cluster"))) == ["CPU", "Cluster"]


def test_unknown_sections_are_ignored(call):
    assert call("INFO", "nosuch") == Verbatim(b"")
    assert list(parse(call("INFO", "server", "nosuch"))) == ["Server"]
    assert list(parse(call("INFO", "all", "nosuch"))) == EVERYTHING


def test_modules_answers_to_both_names(call):
    assert text(call("INFO", "modules")) == "# Modules\r\n"
    assert text(call("INFO", "module_list")) == "# Modules\r\n"


@pytest.mark.parametrize("title", list(FIELDS))
def test_fixed_sections_have_redis_fields_in_order(call, title):
    got = [k for k, _ in parse(call("INFO", title.lower()))[title]]
    if title == "Server":
        assert got[1] == "cachesrv_version"
        got.remove("cachesrv_version")
    assert got == FIELDS[title]


# -- values -------------------------------------------------------------------------------------------
def test_server_section_values(call, server):
    s = section(call, "server")
    assert s["redis_version"] == "7.0.15"
    assert s["cachesrv_version"] == __version__
    assert s["redis_mode"] == "standalone"
    assert s["run_id"] == server.run_id and re.fullmatch(r"[0-9a-f]{40}", s["run_id"])
    assert int(s["process_id"]) == server.pid
    assert int(s["tcp_port"]) == server.tcp_port
    assert s["arch_bits"] in ("32", "64")
    assert int(s["uptime_in_days"]) == int(s["uptime_in_seconds"]) // 86400
    assert s["hz"] == s["configured_hz"] == str(server.cfg["hz"])
    assert int(s["lru_clock"]) == server.ks.lru_clock & ((1 << 24) - 1)
    assert s["config_file"] == ""
    assert s["executable"].startswith("/")
    assert re.fullmatch(r"\d+\.\d+\.\d+", s["gcc_version"])


def test_clients_section_counts_sessions(call, server, ctx):
    server.register(ctx)
    others = [Session(server, addr=f"127.0.0.1:{6000 + i}") for i in range(3)]
    for s in others:
        server.register(s)

    class Blk:
        def __init__(self, deadline):
            self.deadline_ms = deadline

    others[0].blocked = Blk(None)
    others[1].blocked = Blk(123)
    others[2].qbuf = 777
    replica = Session(server, kind="replica")
    server.register(replica)
    c = section(call, "clients")
    assert c["connected_clients"] == "4"          # replicas are not counted
    assert c["blocked_clients"] == "2"
    assert c["clients_in_timeout_table"] == "1"
    assert c["client_recent_max_input_buffer"] == "777"
    assert c["maxclients"] == str(server.cfg["maxclients"])


def test_memory_section_is_measured_and_consistent(call, server):
    m = section(call, "memory")
    used, rss, peak = int(m["used_memory"]), int(m["used_memory_rss"]), int(m["used_memory_peak"])
    assert 0 < used <= rss and peak >= used
    assert m["used_memory_human"] == bytes_to_human(used)
    assert m["used_memory_rss_human"] == bytes_to_human(rss)
    assert m["maxmemory"] == str(server.cfg["maxmemory"])
    assert m["maxmemory_policy"] == server.cfg["maxmemory-policy"]
    assert int(m["used_memory_overhead"]) + int(m["used_memory_dataset"]) == used
    assert re.fullmatch(r"\d+\.\d\d%", m["used_memory_peak_perc"])
    assert m["mem_fragmentation_ratio"] == f"{rss / used:.2f}"
    assert int(m["mem_fragmentation_bytes"]) == rss - used


def test_memory_grows_with_data(call):
    before = int(section(call, "memory")["used_memory"])
    call("SET", "big", "x" * (32 << 20))
    after = int(section(call, "memory")["used_memory"])
    assert after - before >= 30 << 20


@pytest.mark.parametrize("n, human", [(0, "0B"), (1023, "1023B"), (1024, "1.00K"), (990472, "967.26K"),
                                      (1101004, "1.05M"), (12398592, "11.82M"), (25276510208, "23.54G"),
                                      (1 << 40, "1.00T"), (1 << 50, "1.00P"), (1 << 60, f"{1 << 60}B")])
def test_bytes_to_human_matches_redis(n, human):
    assert bytes_to_human(n) == human


def test_stats_follow_the_keyspace(call, clock):
    call("SET", "a", "1")
    call("GET", "a")
    call("GET", "nope")
    call("SET", "t", "1", "PX", "10")
    clock.advance(20)
    assert call("GET", "t") is None
    s = section(call, "stats")
    assert s["keyspace_hits"] == "1"
    assert s["keyspace_misses"] == "2"
    assert s["expired_keys"] == "1"
    assert s["expired_stale_perc"] == "0.00"


def test_persistence_counts_changes(call):
    before = int(section(call, "persistence")["rdb_changes_since_last_save"])
    call("SET", "a", "1")
    call("SET", "b", "1")
    p = section(call, "persistence")
    assert int(p["rdb_changes_since_last_save"]) == before + 2
    assert p["rdb_last_bgsave_status"] == "ok" and p["aof_enabled"] == "0"


def test_replication_is_a_primary_without_replicas(call, server):
    r = section(call, "replication")
    assert r["role"] == "master" and r["connected_slaves"] == "0"
    assert r["master_replid"] == server.master_replid and len(r["master_replid"]) == 40
    assert r["master_replid2"] == "0" * 40
    assert r["second_repl_offset"] == "-1"


def test_cpu_is_formatted_like_redis(call):
    for k, v in section(call, "cpu").items():
        assert re.fullmatch(r"\d+\.\d{6}", v), (k, v)


def test_errorstats_and_total_error_replies(call):
    call("SET", "s", "x")
    call("INCR", "s")
    call("NOSUCHCOMMAND")
    call("GET")
    e = section(call, "errorstats")
    assert e == {"errorstat_ERR": "count=3"}
    assert section(call, "stats")["total_error_replies"] == "3"


def test_errorstats_sorted_by_code(call, server):
    server.error_counts.update({"WRONGTYPE": 2, "ERR": 1, "NOAUTH": 4})
    assert [k for k, _ in parse(call("INFO", "errorstats"))["Errorstats"]] == [
        "errorstat_ERR", "errorstat_NOAUTH", "errorstat_WRONGTYPE"]


def test_commandstats(call):
    call("SET", "a", "1")
    call("GET", "a")
    call("GET", "a")
    call("GET")                                           # rejected: arity
    call("SET", "a", "1", "EX", "x")                      # failed in the handler
    call("CLIENT", "ID")
    call("CLIENT")                                        # rejected on the container
    stats = dict(parse(call("INFO", "commandstats"))["Commandstats"])
    pat = r"calls=(\d+),usec=(\d+),usec_per_call=(\d+\.\d\d),rejected_calls=(\d+),failed_calls=(\d+)"
    got = {k: re.fullmatch(pat, v).groups() for k, v in stats.items()}
    assert got["cmdstat_get"][0] == "2" and got["cmdstat_get"][3:] == ("1", "0")
    assert got["cmdstat_set"][0] == "2" and got["cmdstat_set"][3:] == ("0", "1")
    assert got["cmdstat_client|id"][0] == "1"
    assert got["cmdstat_client"][0] == "0" and got["cmdstat_client"][3] == "1"
    # the container's line comes first, then its subcommands
    names = list(stats)
    assert names.index("cmdstat_client") < names.index("cmdstat_client|id")


def test_commandstats_converts_nanoseconds(call):
    from cachesrv.commands.table import COMMANDS
    call("GET", "a")
    spec = COMMANDS[b"get"]
    spec.calls, spec.usec = 4, 10_999                     # 10.999 µs over 4 calls: usec shows whole µs
    line = dict(parse(call("INFO", "commandstats"))["Commandstats"])["cmdstat_get"]
    assert line.startswith("calls=4,usec=10,usec_per_call=2.50,")


def test_keyspace(call):
    assert parse(call("INFO", "keyspace")) == {"Keyspace": []}
    call("SET", "a", "1")
    call("SET", "b", "1", "EX", "100")
    call("SELECT", "3")
    call("SET", "c", "1")
    assert parse(call("INFO", "keyspace"))["Keyspace"] == [("db0", "keys=2,expires=1,avg_ttl=0"),
                                                           ("db3", "keys=1,expires=0,avg_ttl=0")]


def test_resp3_gets_a_verbatim_string(call, ctx):
    from protocols.resp import encode_into
    reply = call("INFO", "cluster")
    out2, out3 = bytearray(), bytearray()
    encode_into(out2, reply, 2)
    encode_into(out3, reply, 3)
    assert bytes(out2) == b"$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"
    assert bytes(out3) == b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n"
    empty = bytearray()
    encode_into(empty, call("INFO", "nosuch"), 3)
    assert bytes(empty) == b"=4\r\ntxt:\r\n"


# -- providers and counters of other subsystems ----------------------------------------------------------
def test_a_subsystem_can_supply_its_section(call, server):
    server.info_providers["replication"] = lambda srv: [("role", "slave"), ("master_host", "10.0.0.1")]
    assert parse(call("INFO", "replication")) == {"Replication": [("role", "slave"), ("master_host", "10.0.0.1")]}


def test_counters_of_other_subsystems(call, server):
    server.info_counters["evicted_keys"] = 7
    server.info_counters["pubsub_channels"] = 2
    s = section(call, "stats")
    assert (s["evicted_keys"], s["pubsub_channels"]) == ("7", "2")


# -- instantaneous metrics -------------------------------------------------------------------------------
def test_instantaneous_ops_and_kbps(call, server):
    info_mod.sample_metrics(server, now_ms=0)
    for i in range(1, 17):                                # 16 samples of 100 ms
        server.total_commands += 50                       # 500 ops/s
        server.net_input_bytes += 1024                    # 10 KiB/s
        info_mod.sample_metrics(server, now_ms=i * 100)
        info_mod.sample_metrics(server, now_ms=i * 100 + 50)   # too soon: ignored
    s = section(call, "stats")
    assert s["instantaneous_ops_per_sec"] == "500"
    assert s["instantaneous_input_kbps"] == "10.00"
    assert s["instantaneous_output_kbps"] == "0.00"


def test_metrics_average_over_sixteen_samples(server):
    info_mod.sample_metrics(server, now_ms=0)
    server.total_commands += 160
    info_mod.sample_metrics(server, now_ms=100)           # one sample of 1600/s among 16
    assert info_mod._instantaneous(server, "ops") == 100


# -- latency histograms ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ns, reported", [
    # (recorded ns, the value Redis 7.0.15 printed for it, in ns)
    (3000, 3007), (5000, 5023), (8000, 8031), (6000, 6015), (25000, 25087), (147000, 147455), (18000, 18047),
    (200, 200), (1, 1), (0, 1),
])
def test_histogram_buckets_match_hdr(server, ns, reported):
    spec = object()
    record_latency(server, spec, ns)
    assert value_at_percentile(server.latency_histograms[spec], 50.0) == reported


def test_histogram_clamps_at_one_second(server):
    spec = object()
    record_latency(server, spec, 5_000_000_000)
    v = value_at_percentile(server.latency_histograms[spec], 99.9)
    assert 1_000_000_000 <= v < 1_010_000_000


def test_histogram_is_bounded_and_ordered(server):
    spec = object()
    values = list(range(0, 300)) + list(range(300, 1_100_000_000, 99_991)) + [2**40]
    for ns in values:
        record_latency(server, spec, ns)
    counts = server.latency_histograms[spec]
    assert len(counts) == info_mod.HISTOGRAM_BUCKETS and sum(counts) == len(values)
    # every value lands in a bucket whose range holds it; ranges grow with the index
    last_high = 0
    for index in range(1, len(counts)):
        low, high = info_mod._bucket_range(index)
        assert low == last_high + 1 and high >= low
        last_high = high
    for ns in (256, 257, 511, 512, 8000, 8031, 8032, 999_999_999, 1_000_000_000):
        probe = object()
        record_latency(server, probe, ns)
        index = server.latency_histograms[probe].index(1)
        low, high = info_mod._bucket_range(index)
        assert low <= ns <= high and high - low < max(ns, 1) / 127      # 2 significant digits


def test_percentiles_follow_hdr_rounding(server):
    spec = object()
    record_latency(server, spec, 6000)
    record_latency(server, spec, 8000)
    h = server.latency_histograms[spec]
    # Redis 7.0.15 printed p50=6.015,p99=8.031 for these two calls of INCR
    assert (value_at_percentile(h, 50), value_at_percentile(h, 99), value_at_percentile(h, 99.9)) == (6015, 8031, 8031)
    assert value_at_percentile(h, 0) == 5984


def test_latencystats_section(call, server):
    from cachesrv.commands.table import COMMANDS
    server.latency_histograms.clear()
    record_latency(server, COMMANDS[b"get"], 5000)
    record_latency(server, COMMANDS[b"client"].subcommands[b"id"], 3000)
    assert parse(call("INFO", "latencystats"))["Latencystats"] == [
        ("latency_percentiles_usec_client|id", "p50=3.007,p99=3.007,p99.9=3.007"),
        ("latency_percentiles_usec_get", "p50=5.023,p99=5.023,p99.9=5.023"),
    ]


def test_reset_stats_clears_statistics_but_not_gauges(server):
    record_latency(server, object(), 10)
    server.info_counters.update({"evicted_keys": 3, "pubsub_channels": 2})
    server.total_reads = 9
    info_mod.reset_stats(server)
    assert server.latency_histograms == {} and server.total_reads == 0
    assert server.info_counters == {"pubsub_channels": 2}


def test_info_is_not_an_error(call):
    assert not isinstance(call("INFO", "everything"), CommandError)
