"""The harness runs end to end with tiny counts and writes results of the agreed shape.

No figure is asserted: a benchmark is not a timed test (docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench import alternate, capture, harness, measure, topologies

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_a_quick_run_writes_every_figure_per_scenario(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench",
            "--quick",
            "--scenarios",
            "get,payment,grpc_payment",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        timeout=600,
        capture_output=True,
        text=True,
    )
    # The harness's own traceback and the gateway's last lines say why a run failed.
    gateway_log = tmp_path / "data" / "gateway.log"
    tail = gateway_log.read_text()[-3000:] if gateway_log.exists() else ""
    assert run.returncode == 0, f"{run.stderr[-4000:]}\n--- gateway.log ---\n{tail}"
    (path,) = out.glob("*-quick.json")
    report = json.loads(path.read_text())
    assert set(report) >= {"machine", "scenarios", "references", "ratios", "options"}
    assert report["topology"] == "embedded"
    assert set(report["idle_cpu_ms_per_s"]) >= {"api", "envoy", "postgres"}
    assert report["machine"]["cores"] >= 1
    names = [s["scenario"] for s in report["scenarios"]]
    assert names == [
        "get intent peak",
        "get intent at half peak",
        "full payment peak",
        "full payment at half peak",
        "full payment grpc peak",
    ]
    for s in report["scenarios"]:
        assert s["ops"] > 0 and s["failures"] == 0, s
        assert s["throughput"] > 0 and 0 < s["p50_ms"] <= s["p99_ms"]
        assert set(s["cpu_ms_per_op"]) >= {"api", "envoy", "postgres", "loadgen"}
        assert "vault" not in s["cpu_ms_per_op"]  # the zone runs in the API processes
        assert s["gateway_cpu_ms_per_op"] == measure.gateway_cpu_ms(s["cpu_ms_per_op"])
        assert 0 <= s["gateway_net_cpu_ms_per_op"] <= s["gateway_cpu_ms_per_op"]
        assert {
            "transactions_per_op",
            "commits_per_op",
            "write_transactions_per_op",
            "rows_written_per_op",
            "wal_syncs_per_op",
        } <= set(s)
    half = report["scenarios"][1]
    assert half["model"] == "open" and half["target_rate"] > 0
    assert {"pg_select", "pg_tpcb", "pg_payment"} <= set(report["references"])
    assert report["references"]["pg_payment"]["tps"] > 0
    assert {"payment_vs_pg_payment", "payment_rest_vs_grpc"} <= set(report["ratios"])


LOG = """\
2026-12-06 04:40:00.001 UTC [11] LOG:  statement: BEGIN ISOLATION LEVEL READ COMMITTED;
2026-12-06 04:40:00.002 UTC [11] LOG:  execute __asyncpg_stmt_1__: SELECT id FROM api_keys
\tWHERE lookup = $1
2026-12-06 04:40:00.002 UTC [11] DETAIL:  parameters: $1 = 'sk_test_abcdefgh'
2026-12-06 04:40:00.003 UTC [11] LOG:  execute __asyncpg_stmt_2__: INSERT INTO payment_intents \
(id, merchant_id, note) VALUES ($1, $2, $3)
2026-12-06 04:40:00.003 UTC [11] DETAIL:  parameters: $1 = 'pi_01m94v26xde2kseskhfr865t56', \
$2 = 'acct_01m94v1yaze1kbs85tnhdsj32y', $3 = 'it''s'
2026-12-06 04:40:00.004 UTC [11] LOG:  statement: COMMIT;
2026-12-06 04:40:00.005 UTC [12] LOG:  execute __asyncpg_stmt_9__: SELECT 1 FROM jobs
2026-12-06 04:40:00.006 UTC [11] LOG:  statement: BEGIN ISOLATION LEVEL READ COMMITTED;
2026-12-06 04:40:00.006 UTC [11] LOG:  execute __asyncpg_stmt_3__: SELECT version_num FROM \
alembic_version
2026-12-06 04:40:00.007 UTC [11] LOG:  statement: ROLLBACK;
"""


def test_the_captured_log_becomes_a_replayable_script() -> None:
    captured = capture.statements(LOG)
    assert [pid for pid, _ in captured] == [11, 11, 11, 11, 12, 11, 11, 11]
    assert captured[1][1] == "SELECT id FROM api_keys\nWHERE lookup = 'sk_test_abcdefgh'"
    script = capture.to_pgbench(
        captured,
        markers=["sk_test_abcdefgh"],
        variables={"acct_01m94v1yaze1kbs85tnhdsj32y": "merchant", "sk_test_abcdefgh": "lookup"},
    )
    body = [line for line in script.splitlines() if not line.startswith(("--", "\\"))]
    assert body == [
        "BEGIN ISOLATION LEVEL READ COMMITTED;",
        "SELECT id FROM api_keys WHERE lookup = '{{lookup}}';",
        "INSERT INTO payment_intents (id, merchant_id, note) VALUES "
        "('pi_01m94v26xde2kseskhfr865t56_:run', '{{merchant}}', 'it''s');",
        "COMMIT;",
    ]  # the worker's session (12) named nothing of the payment, the probe is no part of it
    filled = capture.filled_text(script, {"merchant": "acct_X", "lookup": "sk_test_Y"})
    assert "'acct_X'" in filled and "{{" not in filled


def test_the_drivers_type_introspection_is_no_part_of_the_payment() -> None:
    """asyncpg introspects a type the first time a connection meets it: once per
    connection, so a capture that caught it must not replay it on every payment."""
    introspection = """\
2026-12-06 04:40:00.0035 UTC [11] LOG:  execute __asyncpg_stmt_4__: SELECT
\tcurrent_setting('jit') AS cur, set_config('jit', 'off', false) AS new
2026-12-06 04:40:00.0036 UTC [11] LOG:  execute __asyncpg_stmt_5__: WITH RECURSIVE \
typeinfo_tree(oid, ns, name) AS (SELECT t.oid FROM pg_catalog.pg_type AS t) SELECT 1
2026-12-06 04:40:00.0037 UTC [11] DETAIL:  parameters: $1 = '{3802}'
2026-12-06 04:40:00.0038 UTC [11] LOG:  execute __asyncpg_stmt_6__: SELECT
\tset_config('jit', $1, false)
2026-12-06 04:40:00.0039 UTC [11] DETAIL:  parameters: $1 = 'on'
"""
    commit = "2026-12-06 04:40:00.004 UTC [11] LOG:  statement: COMMIT;\n"
    log = LOG.replace(commit, introspection + commit)
    assert len(capture.statements(log)) == len(capture.statements(LOG)) + 3
    with_it = capture.to_pgbench(capture.statements(log), ["sk_test_abcdefgh"], {})
    without = capture.to_pgbench(capture.statements(LOG), ["sk_test_abcdefgh"], {})
    assert with_it == without


def test_the_api_keys_usage_flush_is_no_part_of_the_payment() -> None:
    """The usage of the keys is written every few seconds for all the keys used meanwhile,
    on whichever pooled session is free: a capture that caught it must not replay it on
    every payment."""
    flush = (
        "2026-12-06 04:40:00.0031 UTC [11] LOG:  statement: BEGIN ISOLATION LEVEL READ "
        "COMMITTED;\n"
        "2026-12-06 04:40:00.0032 UTC [11] LOG:  execute __asyncpg_stmt_9__: UPDATE api_keys "
        "SET last_used_at=greatest(api_keys.last_used_at, $1), usage_count=(api_keys."
        "usage_count + $2) WHERE api_keys.id = $3\n"
        "2026-12-06 04:40:00.0033 UTC [11] DETAIL:  parameters: $1 = '2026-12-06 "
        "04:40:00+00', $2 = '3', $3 = 'key_1'\n"
        "2026-12-06 04:40:00.0034 UTC [11] LOG:  statement: COMMIT;\n"
    )
    commit = "2026-12-06 04:40:00.004 UTC [11] LOG:  statement: COMMIT;\n"
    log = LOG.replace(commit, commit + flush)
    assert len(capture.statements(log)) == len(capture.statements(LOG)) + 3
    with_it = capture.to_pgbench(capture.statements(log), ["sk_test_abcdefgh"], {})
    without = capture.to_pgbench(capture.statements(LOG), ["sk_test_abcdefgh"], {})
    assert with_it == without
    begun_before_the_log = flush.split("\n", 1)[1]
    log = LOG.replace(commit, commit + begun_before_the_log)
    assert len(capture.statements(log)) == len(capture.statements(LOG)) + 2
    assert capture.to_pgbench(capture.statements(log), ["sk_test_abcdefgh"], {}) == without


def test_an_id_inside_an_array_literal_gets_the_per_run_suffix_too() -> None:
    """The events and history lines name their intent in an array literal; left without
    the suffix, every replayed payment's lines would name the captured payment's intent."""
    lines = (
        "2026-12-06 04:40:00.0035 UTC [11] LOG:  execute __asyncpg_stmt_4__: INSERT INTO "
        "payment_events (payment_intent_id) SELECT * FROM unnest($1::TEXT[])\n"
        "2026-12-06 04:40:00.0036 UTC [11] DETAIL:  parameters: "
        "$1 = '{pi_01m94v26xde2kseskhfr865t56,pi_01m94v26xde2kseskhfr865t56}'\n"
    )
    commit = "2026-12-06 04:40:00.004 UTC [11] LOG:  statement: COMMIT;\n"
    script = capture.to_pgbench(
        capture.statements(LOG.replace(commit, lines + commit)), ["sk_test_abcdefgh"], {}
    )
    events = next(line for line in script.splitlines() if "payment_events" in line)
    suffixed = "pi_01m94v26xde2kseskhfr865t56_:run"
    assert f"'{{{suffixed},{suffixed}}}'::TEXT[]" in events
    prepared = capture.prepared_text(events)
    element = "pi_01m94v26xde2kseskhfr865t56_' || :run || '"
    assert f"('{{{element},{element}}}')::TEXT[]" in prepared


def test_two_captures_of_one_path_have_one_shape_and_a_changed_path_another() -> None:
    one = capture.to_pgbench(capture.statements(LOG), ["sk_test_abcdefgh"], {})
    again = one.replace("pi_01m94v26xde2kseskhfr865t56", "pi_01m9zzzzzzzzzzzzzzzzzzzzzz")
    assert capture.same_shape(one, again)
    extra = one.replace("COMMIT;", "SELECT 1;\nCOMMIT;")
    assert not capture.same_shape(one, extra)
    assert capture.describe_text(extra) == {"statements": 5, "commits": 1, "begins": 1}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert (measure.percentile(values, 50), measure.percentile(values, 99)) == (50.0, 99.0)
    assert measure.percentile([], 50) is None


def test_the_overload_verdict_sets_admitted_latency_beside_the_unloaded_one() -> None:
    under = {"p50_ms": 4.0, "p99_ms": 10.0, "statuses": {"200": 50}, "failures": 0}
    at_2x = {"p50_ms": 5.0, "p99_ms": 12.0, "statuses": {"200": 100, "429": 90}, "failures": 92}
    verdict = harness.overload_verdict(under, at_2x, recovery_s=0.2)
    assert verdict == {
        "admitted_p50_ms": 5.0,
        "admitted_p99_ms": 12.0,
        "unloaded_p50_ms": 4.0,
        "unloaded_p99_ms": 10.0,
        "admitted_p99_vs_unloaded": 1.2,
        "admitted_p50_vs_unloaded": 1.25,
        "server_errors": 0,
        "no_answer": 2,  # failures that are not a status: socket errors, timeouts
        "only_429_refusals": False,
        "recovery_s": 0.2,
        "recovered_within_target": True,
    }
    line = harness.overload_line({**at_2x, **verdict, "scenario": "create at 2x peak"})
    assert "admitted p50/p99 5.0/12.0 ms against 4.0/10.0 ms" in line


def test_a_server_error_or_a_slow_recovery_fails_the_overload_targets() -> None:
    under = {"p50_ms": 4.0, "p99_ms": 10.0, "statuses": {"200": 50}, "failures": 0}
    at_2x = {"p50_ms": 5.0, "p99_ms": 12.0, "statuses": {"200": 9, "503": 1}, "failures": 1}
    verdict = harness.overload_verdict(under, at_2x, recovery_s=None)
    assert (verdict["server_errors"], verdict["only_429_refusals"]) == (1, False)
    assert verdict["recovered_within_target"] is False
    slow = harness.overload_verdict(under, {**at_2x, "statuses": {"200": 9, "429": 1}}, 11.0)
    assert (slow["only_429_refusals"], slow["recovered_within_target"]) == (True, False)


def _report(topology: str, throughput: float, cpu: dict[str, float]) -> dict[str, object]:
    scenario = {"scenario": "full payment peak", "ops": 100, "failures": 0, "p50_ms": 1.0}
    scenario |= {"throughput": throughput, "cpu_ms_per_op": cpu, "load_average": 3.0}
    scenario["gateway_cpu_ms_per_op"] = measure.gateway_cpu_ms(cpu)
    return {"topology": topology, "started": "2026-12-06T14:00:00+00:00", "scenarios": [scenario]}


def test_the_topology_comparison_sets_split_runs_against_embedded_ones() -> None:
    embedded = [
        _report("embedded", 40.0, {"api": 30.0, "postgres": 10.0, "loadgen": 1.0}),
        _report("embedded", 30.0, {"api": 34.0, "postgres": 10.0, "loadgen": 1.0}),
    ]
    split = [_report("split", 35.0, {"api": 22.0, "vault": 18.0, "postgres": 10.0, "loadgen": 1.0})]
    (summary,) = topologies.summary(topologies.runs([*embedded, *split]))
    assert summary["embedded"]["gateway_cpu_ms_per_op"] == 42.0  # the load generator left out
    assert summary["embedded"]["throughput"] == 35.0
    assert summary["split"]["cpu_ms_per_op"]["vault"] == 18.0
    assert (summary["cpu_split_vs_embedded"], summary["within_budget"]) == (1.190, False)
    assert summary["throughput_split_vs_embedded"] == 1.0


def test_the_idle_cpu_of_the_window_is_taken_out_of_the_net_figures() -> None:
    before = measure.Probe({"api": 1.0, "other": 2.0}, None, at=100.0)
    after = measure.Probe({"api": 3.0, "other": 3.0}, None, at=110.0)
    out = measure.per_op(before, after, 100, 0.1, idle={"api": 50.0, "other": 100.0})
    # api: 2 s over 100 operations, of which 10 s at 50 ms/s idle
    assert out["cpu_ms_per_op"] == {"api": 20.0, "other": 10.0, "loadgen": 1.0}
    assert out["net_cpu_ms_per_op"] == {"api": 15.0, "other": 0.0, "loadgen": 1.0}
    assert (out["gateway_cpu_ms_per_op"], out["gateway_net_cpu_ms_per_op"]) == (30.0, 15.0)


def test_rounds_alternate_which_topology_goes_first() -> None:
    calls: list[tuple[str, str]] = []

    def measure_once(name: str, target: object, topology: str) -> list[dict[str, object]]:
        calls.append((topology, name))
        return [{"scenario": name, "topology": topology}]

    targets = {"embedded": object(), "split": object()}
    results = alternate.run_rounds(targets, 3, ["payment", "grpc_payment"], measure_once)
    firsts = [calls[i][0] for i in range(0, len(calls), 4)]
    assert firsts == ["embedded", "split", "embedded"]  # ABBA: a drift falls on both
    assert [r["round"] for r in results["split"]] == [0, 0, 1, 1, 2, 2]
    assert {r["topology"] for r in results["embedded"]} == {"embedded"}


def _round(topology: str, index: int, throughput: float, gateway_ms: float) -> dict[str, object]:
    report = _report(topology, throughput, {"api": gateway_ms, "loadgen": 1.0})
    report["scenarios"][0]["round"] = index  # type: ignore[index]
    return report


def test_the_paired_figures_are_the_medians_of_the_rounds_ratios() -> None:
    reports = [
        _round("embedded", 0, 50.0, 40.0),
        _round("split", 0, 45.0, 44.0),
        _round("split", 1, 40.0, 48.0),
        _round("embedded", 1, 40.0, 40.0),
        _round("embedded", 2, 60.0, 30.0),
        _round("split", 2, 57.0, 33.0),
    ]
    (summary,) = topologies.summary(topologies.runs(reports))
    paired = summary["paired"]
    assert paired["rounds"] == 3
    assert paired["throughput_ratios"] == [0.9, 1.0, 0.95]
    assert paired["throughput_ratio_median"] == 0.95
    assert paired["cpu_ratios"] == [1.1, 1.2, 1.1]
    assert paired["cpu_ratio_median"] == 1.1
    assert paired["payments_summed_ratio"] == 1.0  # every run made 100 operations here
    assert "| full payment peak | 3 | 0.9, 1.0, 0.95 | 0.95 |" in topologies.markdown(
        topologies.runs(reports), [summary]
    )


def test_runs_without_rounds_have_no_paired_figures() -> None:
    reports = [_report("embedded", 40.0, {"api": 30.0}), _report("split", 35.0, {"api": 33.0})]
    (summary,) = topologies.summary(topologies.runs(reports))
    assert summary["paired"] is None


def test_a_load_generator_that_prints_more_than_a_pipe_holds_runs_to_its_end() -> None:
    """wrk prints every latency in one line; a pipe read only after the child exits held
    it at 64 KiB for ever. The child's output and its CPU both come back."""
    code = "import sys; sys.stdout.write('x' * 1_000_000); sys.stderr.write('e' * 200_000)"
    run = measure.run_to_end([sys.executable, "-c", code])
    assert run.status == 0
    assert len(run.out) == 1_000_000 and len(run.err) == 200_000
    assert run.cpu_s > 0
