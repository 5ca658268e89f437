"""Known answers on real runs of the reference CRM that need a quiet machine: the capacity ceiling,
surge recovery, soak drift and regression comparison. Marked ``quiet``: they run after the other
tests, one at a time (``pytest -n 0 -m quiet``), since a concurrent load run shifts latencies by
more than these answers allow."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import httpx
import pytest
from e2e import REPO, Finished, comparison_errors, crmload, verdict_errors

from crmload.analysis.compare import IMPROVED, REGRESSED, UNCHANGED
from crmload.analysis.verdict import FAIL, PASS

pytestmark = pytest.mark.quiet

SCENARIOS = REPO / "tests" / "scenarios"
CAPACITY = ("run", str(SCENARIOS / "capacity.yaml"), "--thresholds", str(SCENARIOS / "capacity-thresholds.yaml"))
STEPS = (6, 9, 14, 20, 30, 45)


def predicted_ceiling(servers: int, service_s: float, think_s: float, limit_s: float) -> int:
    """Queueing theory's answer for the capacity scenario.

    A closed system of N users with C servers of fixed service time S, busy beyond saturation,
    answers in R = N·S/C − Z (Little's law, N = X·(R + Z) with X = C/S). R stays under the limit L
    while N < C·(L + Z)/S: the ceiling is the highest step below that.
    """
    bound = servers * (limit_s + think_s) / service_s
    return max(n for n in STEPS if n < bound)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    # 4 requests in service at once, each held 50 ms: a capacity of 80 requests/s
    return crmload(
        *CAPACITY,
        "--crm-concurrency-limit",
        "4",
        "--crm-service-time-ms",
        "50",
        results=tmp_path_factory.mktemp("limited"),
    )


def test_ceiling_under_a_known_capacity_is_where_queueing_theory_puts_it(limited: Finished) -> None:
    assert limited.code == 0, limited.stdout + limited.stderr
    cap = limited.json("verdict.json")["capacity"]
    # think time per request: the customer call thinks 4 times in its 6 requests, 80–120 ms each
    expected = predicted_ceiling(4, 0.050, 0.100 * 4 / 6, 0.300)
    assert expected == 20
    i = STEPS.index(expected)
    assert cap["ceiling_users"] in STEPS[i - 1 : i + 2], cap  # within one step
    assert cap["break"]["clauses"][0]["id"] == "PERF-RT-01"  # latency breaks first, not failures
    assert cap["break"]["clauses"][0]["excess"] > 0
    # the knee: throughput stops growing near saturation, N = C·(S + Z)/S ≈ 9 users; a hard limit,
    # so the throughput after it is a plateau near the capacity C/S = 80 requests/s
    assert cap["knee_users"] in (6, 9, 14)
    assert cap["knee_slope"][2] < 0.5 and cap["plateau_rps"] == pytest.approx(80, rel=0.15)
    assert cap["usl"]["peak_rps"] == pytest.approx(80, rel=0.15)
    # Little's law: the think time per request implied by users, throughput and latency
    for step in (s for s in cap["steps"] if s["seconds"] >= 2):  # the step cut short by the stop is too brief
        assert step["implied_think_s"] == pytest.approx(0.1 * 4 / 6, abs=0.03), step
    conc = limited.json("verdict.json")["clauses"][0]
    assert conc["id"] == "PERF-CONC-01" and conc["status"] == PASS and conc["measured"] == cap["ceiling_users"]


def test_the_climb_is_stopped_once_the_ceiling_is_clearly_passed(limited: Finished) -> None:
    meta = limited.json("meta.json")
    assert meta["status"] == "stopped" and "p95 above 450 ms for 2 s" in meta["status_reason"]
    stages = limited.json("stages.json")
    assert stages[-1]["name"] == "u45" and stages[-1]["end"] - stages[-1]["start"] < 7.5  # planned 8 s
    assert "stopped early" in (limited.run_dir / "report.html").read_text()  # type: ignore[operator]
    assert (limited.run_dir / "charts" / "staircase.png").stat().st_size > 10_000  # type: ignore[operator]


def test_without_the_limit_the_ceiling_moves_up(limited: Finished, tmp_path: Path) -> None:
    # the staircase scaled to 22 s in all: without the limit every step still holds 150+ requests
    free = crmload(*CAPACITY, "--duration", "22s", results=tmp_path)
    assert free.code == 0, free.stdout + free.stderr
    ceiling = free.json("verdict.json")["capacity"]["ceiling_users"]
    assert ceiling == 45 and ceiling > limited.json("verdict.json")["capacity"]["ceiling_users"]


def test_recovery_time_matches_a_stall_injected_when_the_surge_ends(tmp_path: Path) -> None:
    import subprocess
    import sys

    stall_s = 4.0
    results = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmload.cli", "run", str(SCENARIOS / "surge.yaml"), "--thresholds",
         str(SCENARIOS / "surge-thresholds.yaml"), "--results", str(results), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stall_at = _stall_when_the_surge_ends(results, stall_s)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    # 0 or 3: the six-second surge holds too few requests to bound its failure rate under 1 %
    assert proc.returncode in (0, 3), out + err
    run_dir = next(results.glob("*/"))
    verdict = json.loads((run_dir / "verdict.json").read_text())
    surge_end = next(s for s in json.loads((run_dir / "stages.json").read_text()) if s["name"] == "surge")["end"]
    rec = verdict["surge"]["recovery"]
    late_by = stall_at - surge_end  # the test's own delay in noticing the surge's end
    assert rec["breached"] and rec["seconds"] is not None, rec
    # requests started in the stall wait for its end; the rolling 3 s window clears 3 s after the
    # last of them that waited more than the 500 ms limit
    assert stall_s <= rec["seconds"] <= late_by + stall_s + 3.0 + 1.5, (rec, late_by)
    recovery = next(c for c in verdict["clauses"] if c["id"] == "SURGE-RECOVERY")
    assert recovery["status"] == PASS
    assert next(c for c in verdict["clauses"] if c["id"] == "PERF-RT-01@surge")["status"] == PASS
    arrivals = {a["stage"]: a for a in verdict["surge"]["arrivals"]}
    assert arrivals["surge"]["planned_rate"] == 24 and arrivals["surge"]["achieved_rate"] > 18
    # the pool of 30 users carries the arrivals through the stall: none dropped, each one's lag known
    assert arrivals["recovery"]["dropped"] == 0 and arrivals["recovery"]["lag_p95_ms"] is not None
    assert (run_dir / "charts" / "surge.png").exists()


def _stall_when_the_surge_ends(results: Path, stall_s: float) -> float:
    """Wait for the recovery stage to begin, then stall the embedded CRM through its admin API."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for stages_file in results.glob("*/stages.json"):
            with_recovery = [s for s in json.loads(stages_file.read_text() or "[]") if s["name"] == "recovery"]
            if with_recovery:
                url = json.loads((stages_file.parent / "meta.json").read_text())["target_url"]
                with httpx.Client(base_url=url, timeout=5) as http:
                    token = http.post("/api/auth/login", json={"username": "admin001", "password": "admin001-pw"})
                    headers = {"Authorization": f"Bearer {token.json()['token']}"}
                    at = time.time()
                    http.put("/api/admin/faults", json={"stall_s": stall_s}, headers=headers).raise_for_status()
                return at
        time.sleep(0.1)
    raise AssertionError("the surge did not end within 90 s")


def test_a_slow_leak_is_flagged_as_drift(tmp_path: Path) -> None:
    # a soak in miniature (the comparison tests below run the same scenario without the leak,
    # and their PERF-DRIFT-01 passes): every call gets 10 ms slower per second, +140 ms over the
    # 14 one-second bins of the window on a p95 of about 100 ms (20 ms + an exponential of mean
    # 10 ms, plus this machine's overhead). The step between bins (10 ms) stands well above the
    # bins' scatter (10-20 ms under CI load), where Mann-Kendall on 14 bins calls p < 0.01 in
    # practically every run (p ≈ 4e-6 in three local runs); at 4 ms per second a simulation with
    # that scatter misses one run in three.
    run = crmload(
        "run",
        str(SCENARIOS / "regression.yaml"),
        "--crm-latency",
        "*=20",
        "--crm-latency-exp",
        "*=10",
        "--crm-latency-growth",
        "*=10",
        results=tmp_path,
    )
    assert run.code == 1, run.stdout + run.stderr
    clause = next(c for c in run.json("verdict.json")["clauses"] if c["id"] == "PERF-DRIFT-01")
    assert clause["status"] == FAIL and "p95: drift" in clause["reason"]
    p95 = next(t for t in run.json("verdict.json")["drift"] if t["metric"] == "p95")
    assert p95["drift"] and p95["p_value"] < 0.01 and math.isfinite(p95["per_hour"])


# -- regression comparison -------------------------------------------------------------------------
# The reference CRM answers in one or two milliseconds; the runs give every operation the server
# time of a real CRM instead: 300 ms plus an exponential time of mean 100 ms (p50 ≈ 370 ms). Not
# less: a busier machine adds its scheduling delay to every request, some milliseconds whatever
# the server time. Measured with four CPU hogs at nice -10 beside a run: on a 54 ms p50 (the
# 40 ms + Exp(20 ms) these tests used before) +17 to +26 ms, about half of it waiting for the CRM's
# event loop and the rest in the load generator, i.e. +30 % or more; a CI run once compared two
# runs of the unchanged CRM as customer.search p50 +15.8 % [+9.5, +23.5] (52.4 vs 60.6 ms), a real
# difference between the two runs' machines, not the CRM's. On the 370 ms p50 the same hogs add
# 2–7 %, not significant on ~150 lookups: a quiet baseline against four contended candidates
# compared as unchanged (nothing called), while the 30 % regression is called at +32 %.

SCENARIO = str(REPO / "tests" / "scenarios" / "regression.yaml")
SERVER_TIME = ("--crm-latency", "*=300", "--crm-latency-exp", "*=100")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    run = crmload("run", SCENARIO, *SERVER_TIME, results=tmp_path_factory.mktemp("base"))
    assert run.code == 0 and run.run_dir is not None, run.stdout + run.stderr
    return run


def test_an_unchanged_crm_compares_as_unchanged(baseline: Finished, tmp_path: Path) -> None:
    assert baseline.run_dir is not None
    again = crmload("run", SCENARIO, *SERVER_TIME, "--baseline", str(baseline.run_dir), results=tmp_path)
    assert again.code == 0, again.stdout + again.stderr
    assert next(c for c in again.json("verdict.json")["clauses"] if c["id"] == "REG-01")["status"] == "PASS"
    comparison = again.json("comparison.json")
    assert comparison_errors(comparison) == []  # a real comparison matches the published schema
    assert comparison["status"] == UNCHANGED
    assert comparison["counts"][REGRESSED] == 0 and comparison["counts"][IMPROVED] == 0
    assert "COMPARISON: UNCHANGED" in again.stdout
    for run in (baseline, again):  # the scenario is a soak in miniature: no drift without a leak
        assert verdict_errors(run.json("verdict.json")) == []  # drift section included
        drift = next(c for c in run.json("verdict.json")["clauses"] if c["id"] == "PERF-DRIFT-01")
        assert drift["status"] == "PASS", drift


def test_thirty_percent_slower_lookups_regress_exactly_that_operation(baseline: Finished, tmp_path: Path) -> None:
    assert baseline.run_dir is not None
    lookups = baseline.samples().query("kind == 'request' and operation == 'customer.search' and outcome == 'ok'")
    slower_ms = 0.3 * float(lookups["response_time_ms"].median())  # 30 % of the baseline's median lookup
    cand = crmload(
        "run",
        SCENARIO,
        *SERVER_TIME,
        "--crm-latency",
        f"customer.search={300 + slower_ms:.1f}",
        "--crm-latency-exp",
        "customer.search=100",
        "--baseline",
        str(baseline.run_dir),
        results=tmp_path,
    )
    assert cand.code == 1, cand.stdout + cand.stderr  # the standard's clauses pass; the regression fails the run
    verdict = cand.json("verdict.json")
    reg = next(c for c in verdict["clauses"] if c["id"] == "REG-01")
    assert verdict["status"] == "FAIL" and verdict["exit_code"] == 1 and reg["status"] == "FAIL"
    assert all(c["status"] == "PASS" for c in verdict["clauses"] if c["id"] != "REG-01")
    changes = cand.json("comparison.json")["changes"]
    by_operation = {(c["key"], c["metric"]): c["status"] for c in changes if c["scope"] == "operation"}
    assert by_operation[("customer.search", "p50")] == REGRESSED
    assert {key for (key, _m), status in by_operation.items() if status == REGRESSED} == {"customer.search"}
    assert IMPROVED not in by_operation.values()
    assert "id=comparison" in (cand.run_dir / "report.html").read_text()  # type: ignore[operator]


SEARCH = ("run", str(SCENARIOS / "capacity-search.yaml"), "--thresholds", str(SCENARIOS / "capacity-thresholds.yaml"))
THINK, THINK_SHARE, LIMIT_S = (0.08, 0.12), 4 / 6, 0.300  # the scenario's think times; the customer call
# thinks 4 times in its 6 requests; PERF-RT-01's p95 limit


@pytest.fixture(scope="module", params=[(4, 50), (3, 60)], ids=["4x50ms", "3x60ms"])
def searched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Finished]:
    servers, service_ms = request.param
    done = crmload(
        *SEARCH,
        "--crm-concurrency-limit",
        str(servers),
        "--crm-service-time-ms",
        str(service_ms),
        results=tmp_path_factory.mktemp(f"search{servers}"),
        timeout_s=420,
    )
    return servers, done


def test_the_ceiling_search_lands_within_one_refinement_step_of_queueing_theory(
    searched: tuple[int, Finished],
) -> None:
    """Method: the theory is :func:`queueing.simulated_ceiling`, a simulation of the closed network
    (C servers of fixed hold time S, the scenario's users thinking 80–120 ms before 4 of every 6
    requests), the most users whose p95 stays under 300 ms. S is the permit's hold time measured as
    C over the plateau throughput (it includes the event loop's timer overshoot, about 3 % over the
    nominal service time). Tolerance: one refinement step, the gap between the reported ceiling and
    the next tested load above it (at most 10 % of the ceiling, by the search's resolution)."""
    from queueing import simulated_ceiling

    servers, done = searched
    assert done.code == 0, done.stdout + done.stderr
    cap = done.json("verdict.json")["capacity"]
    plateau = cap["plateau_rps"] or max(s["throughput_rps"] for s in cap["steps"])
    hold_s = servers / plateau
    expected = simulated_ceiling(servers, hold_s, THINK, THINK_SHARE, LIMIT_S)
    ceiling, resolution = cap["ceiling_users"], cap["resolution"]
    step = round(ceiling * resolution)
    refined = [s for s in cap["steps"] if s["name"].startswith("refine-")]
    undecided = [s for s in refined if s["status"] == "INCONCLUSIVE"]
    if undecided:
        # a refinement step whose p95 sits on the limit itself cannot be decided within its max: the search
        # ends there and claims no more (seen once in CI: 25 users, p95 303 ms against 300 ms); the theory's
        # ceiling must then lie between the claimed ceiling and that step
        top = undecided[-1]["users"]
        assert ceiling - 1 <= expected <= top + 1 and step >= 1, (ceiling, top, expected, hold_s)
    else:
        assert resolution <= 0.1 + 1 / ceiling and step >= 1, cap  # the search went down to its resolution
        assert abs(ceiling - expected) <= step, (ceiling, expected, step, hold_s)
    assert refined and all(s["users"] not in STEPS for s in refined)
    # the knee within one staircase step of the saturation point N* = C·(S + Z)/S
    saturation = servers * (hold_s + 0.1 * THINK_SHARE) / hold_s
    at = max(i for i, n in enumerate(STEPS) if n <= max(saturation, STEPS[0]))
    assert cap["knee_users"] in STEPS[max(0, at - 1) : at + 3], (cap["knee_users"], saturation)
    conc = done.json("verdict.json")["clauses"][0]
    assert conc["status"] == PASS and f"resolution {step} users" in conc["reason"], conc  # broke or undecided
    # the run ended with the search, not with the planned staircase
    stages = done.json("stages.json")
    assert "u45" not in [s["name"] for s in stages] and stages[-1]["name"].startswith("refine-")
