"""Known-answer verdicts on synthetic runs: every figure below is worked out by hand in the comments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synth import S, write_run

from crmload.analysis.analyze import analyze
from crmload.analysis.stats import percentile
from crmload.analysis.thresholds import Clause, Defaults, Select, Thresholds
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS

RT = Thresholds(
    clauses=[
        Clause(id="PERF-RT-01", title="lookup", select=Select(operations=["customer.search"]), limits=["p(95) < 3s"])
    ]
)
ERR = Thresholds(
    clauses=[Clause(id="PERF-ERR-01", title="errors", metric="failure_rate", per="operation", limits=["rate < 1%"])]
)


def _one(tmp_path: Path, samples: list[S], thresholds: Thresholds, **kw: object) -> tuple[str, object]:
    run = write_run(tmp_path / "run", samples, **kw)  # type: ignore[arg-type]
    res = analyze(run, thresholds, report=False)  # the report has its own test below
    return res.verdict.status, res.verdict.results[0]


def test_p95_well_within_limit_passes(tmp_path: Path) -> None:
    # 1..1000 ms: p95 = 950 ms; Bin(1000, 0.95) quantiles 936 and 963 (950 -+ 1.96 * 6.89), so the
    # 95 % interval is x(936)..x(964) = [936, 964] ms, all under 3 s
    status, r = _one(tmp_path, [S(i) for i in range(1, 1001)], RT)
    assert status == PASS
    assert (r.measured, r.interval, r.samples, r.margin) == (950.0, (936.0, 964.0), 1000, 2050.0)


def test_p95_over_limit_fails(tmp_path: Path) -> None:
    # 4..4000 ms: p95 = 3800 ms, interval [3744, 3856] ms, all over 3 s
    status, r = _one(tmp_path, [S(4.0 * i) for i in range(1, 1001)], RT)
    assert status == FAIL and r.measured == 3800.0 and r.interval == (3744.0, 3856.0)


def test_interval_straddling_the_limit_is_inconclusive(tmp_path: Path) -> None:
    # 3.16 * i ms: p95 = 3002 ms, interval [2957.76, 3046.24] ms contains 3000 ms
    status, r = _one(tmp_path, [S(3.16 * i) for i in range(1, 1001)], RT)
    assert status == INCONCLUSIVE and "straddles" in r.reason


def test_p99_from_40_samples_is_inconclusive(tmp_path: Path) -> None:
    t = Thresholds(
        clauses=[Clause(id="X-1", title="p99", select=Select(operations=["customer.search"]), limits=["p(99) < 3s"])]
    )
    status, r = _one(tmp_path, [S(10.0)] * 40, t)
    assert status == INCONCLUSIVE and "needs at least 500, have 40" in r.reason


def test_thin_data_that_clearly_fails_still_fails(tmp_path: Path) -> None:
    # 40 samples all at 5 s: p99 cannot be bounded above, but its lower bound x(l) is 5 s > 3 s
    t = Thresholds(
        clauses=[Clause(id="X-1", title="p95", select=Select(operations=["customer.search"]), limits=["p(95) < 3s"])]
    )
    status, _ = _one(tmp_path, [S(5000.0)] * 40, t)
    assert status == FAIL


def test_failure_rate_of_one_operation_fails_and_is_named(tmp_path: Path) -> None:
    # 1900 ok customer.view + 100 ticket.view of which 10 failed: pooled 10/2000 = 0.5 %,
    # Wilson upper 0.918 % < 1 %; but ticket.view 10/100 has Wilson lower 5.5 % > 1 %: FAIL
    samples = (
        [S(5.0, "customer.view")] * 1900
        + [S(5.0, "ticket.view")] * 90
        + [S(5.0, "ticket.view", outcome="http_5xx")] * 10
    )
    status, r = _one(tmp_path, samples, ERR)
    assert status == FAIL
    # the clause reports the operation that fails it: 10 of 100, beyond the limit, with its interval
    assert r.scope == "operation=ticket.view" and r.measured == pytest.approx(0.1) and r.margin < 0
    assert r.interval[0] == pytest.approx(0.0552, abs=2e-4) and r.samples == 100
    assert "ticket.view" in r.reason and "customer.view" not in r.reason
    pooled = "all requests: 10 of 2000 failed [0.272 %, 0.918 %]"  # and says where the pooled rate stands
    assert pooled in r.reason


def test_zero_failures_over_enough_requests_passes(tmp_path: Path) -> None:
    # 0 of 1000: Wilson upper = z^2/(1000 + z^2) = 0.383 % < 1 %
    status, r = _one(tmp_path, [S(5.0, "customer.view")] * 1000, ERR)
    assert status == PASS and r.interval[1] == pytest.approx(0.003827, abs=1e-5)


def test_zero_failures_over_too_few_requests_is_inconclusive(tmp_path: Path) -> None:
    # 0 of 200: Wilson upper = 3.8415/203.84 = 1.88 % > 1 %: cannot claim < 1 %
    status, _ = _one(tmp_path, [S(5.0, "customer.view")] * 200, ERR)
    assert status == INCONCLUSIVE


def test_throttled_and_4xx_are_reported_apart(tmp_path: Path) -> None:
    samples = [S(5.0)] * 1000 + [S(5.0, outcome="throttled")] * 30 + [S(5.0, outcome="http_4xx")] * 30
    status, r = _one(tmp_path, samples, ERR)
    assert status == PASS and r.measured == 0.0


def test_open_model_latency_is_corrected_for_schedule_lag(tmp_path: Path) -> None:
    # responses take 100 ms but every iteration started 4 s late: corrected p95 = 4.1 s > 3 s
    status, r = _one(tmp_path, [S(100.0, schedule_lag_ms=4000.0, persona="integration")] * 500, RT)
    assert status == FAIL and r.measured == 4100.0


def test_saturated_load_generator_makes_latency_inconclusive(tmp_path: Path) -> None:
    status, r = _one(tmp_path, [S(i) for i in range(1, 1001)], RT, generators_cpu=99.0)
    assert status == INCONCLUSIVE and "load generator CPU" in r.reason


def test_closed_model_waiting_makes_percentiles_lower_bounds(tmp_path: Path) -> None:
    # 20 users over 100 s, 1000 requests of 1..1000 ms: busy = 500.5 s of 2000 user-seconds = 25 %
    status, _ = _one(tmp_path, [S(i) for i in range(1, 1001)], RT)
    assert status == PASS
    # with 2 users the same requests occupy 250 % of the users' time: a PASS becomes INCONCLUSIVE
    status, r = _one(tmp_path, [S(i, users=2) for i in range(1, 1001)], RT)
    assert status == INCONCLUSIVE and "lower bounds" in r.reason


def test_aborted_run_cannot_pass(tmp_path: Path) -> None:
    status, r = _one(tmp_path, [S(i) for i in range(1, 1001)], RT, status="aborted")
    assert status == INCONCLUSIVE and "run aborted" in r.reason


def test_k6_expression_and_structured_form_agree(tmp_path: Path) -> None:
    k6 = Thresholds(
        clauses=[Clause(id="A-1", title="a", select=Select(operations=["customer.search"]), limits=["p(90) <= 950ms"])]
    )
    structured = Thresholds.model_validate(
        {"clauses": [{"id": "A-1", "title": "a", "p90": "950ms", "select": {"operations": ["customer.search"]}}]}
    )
    # 1..1000 ms: p90 = 900 ms; Bin(1000, 0.9) has 2.5 % and 97.5 % quantiles 881 and 918 (normal
    # approximation 900 -+ 1.96 * 9.49), so the ranks are 881 and 918 + 1: interval [881, 919] ms <= 950 ms
    for t in (k6, structured):
        status, r = _one(tmp_path, [S(i) for i in range(1, 1001)], t)
        assert status == PASS and r.measured == 900.0 and r.interval == (881.0, 919.0)


def test_zero_tolerance_clauses(tmp_path: Path) -> None:
    t = Thresholds(clauses=[Clause(id="SEC-AC-01", title="ac", metric="forbidden_granted")])
    status, r = _one(tmp_path, [S(5.0)], t)
    assert status == INCONCLUSIVE and "no access-control probes" in r.reason
    status, r = _one(
        tmp_path,
        [S(5.0)],
        t,
        extras={"security": {"checked": 40, "breaches": 1, "examples": ["sales read opportunity 7"]}},
    )
    assert status == FAIL and "sales read opportunity 7" in r.reason
    status, _ = _one(tmp_path, [S(5.0)], t, extras={"security": {"checked": 40, "breaches": 0}})
    assert status == PASS


def test_concurrency_clause(tmp_path: Path) -> None:
    # the synthetic generator held 10 users through the whole window
    t = Thresholds(clauses=[Clause(id="PERF-CONC-01", title="c", metric="concurrency", required_users=10), *RT.clauses])
    status, r = _one(tmp_path, [S(i) for i in range(1, 1001)], t)
    assert status == PASS and r.clause_id == "PERF-CONC-01" and r.measured == 10.0
    t20 = Thresholds(
        clauses=[Clause(id="PERF-CONC-01", title="c", metric="concurrency", required_users=20), *RT.clauses]
    )
    status, r = _one(tmp_path, [S(i) for i in range(1, 1001)], t20)
    assert status == INCONCLUSIVE and "below the required 20" in r.reason
    # ... and when another clause fails at that load, the concurrency is not held "with every clause passing"
    status, r = _one(tmp_path, [S(4.0 * i) for i in range(1, 1001)], t)
    assert status == FAIL and "PERF-RT-01" in r.reason


def test_exit_codes_and_outputs(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [S(4.0 * i) for i in range(1, 1001)])
    res = analyze(run, RT, report=False)
    assert res.verdict.exit_code == 1
    assert (run / "verdict.json").exists() and "PERF-RT-01" in (run / "summary.md").read_text()
    junit = (run / "junit.xml").read_text()
    assert "<failure" in junit and 'tests="1"' in junit
    assert analyze(write_run(tmp_path / "ok", [S(i) for i in range(1, 1001)]), RT, report=False).verdict.exit_code == 0
    assert analyze(write_run(tmp_path / "in", [S(1.0)] * 10), RT, report=False).verdict.exit_code == 3


def test_defaults_are_sane() -> None:
    d = Defaults()
    assert "http_4xx" not in d.failure_outcomes and "throttled" not in d.failure_outcomes


def test_report_is_one_self_contained_page_with_the_verdict_first(tmp_path: Path) -> None:
    import base64
    import re

    run = write_run(tmp_path / "run", [S(4.0 * i, persona=("sales", "service")[i % 2]) for i in range(1, 1001)])
    analyze(run, RT)
    page = (run / "report.html").read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page), "nothing is fetched from anywhere"
    assert page.index('id="verdict"') < page.index("PERF-RT-01") < page.index("<h2>Charts</h2>")
    assert 'class="badge big FAIL">FAIL<' in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 5
    for data in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert sorted(p.name for p in (run / "charts").iterdir()) == [
        "concurrency.png",
        "distribution.png",
        "errors.png",
        "latency.png",
        "load.png",
    ]


def test_every_zero_tolerance_metric_has_its_wording() -> None:
    from crmload.analysis.thresholds import ZERO_TOLERANCE_METRICS
    from crmload.analysis.verdict import ZERO_TOLERANCE

    assert set(ZERO_TOLERANCE) == set(ZERO_TOLERANCE_METRICS)


def test_a_group_with_no_successful_open_model_request_has_no_corrected_p99_not_nan() -> None:
    """Every request of a scope throttled (a spent platform allocation): its percentiles, the corrected
    p99 too, are null in verdict.json (NaN is not JSON; it once ended the run with an error)."""
    import json
    import math

    from crmload.analysis.outputs import _row_dict
    from crmload.analysis.tables import Row

    nan = math.nan
    row = Row("operation", "webform.submit", 3, 1.0, {"p99": nan}, nan, nan, 0, 0.0, 0.7, {"throttled": 3}, None,
              co_percentiles_ms={"p99": nan})  # fmt: skip
    out = _row_dict(row)
    assert out["co_p99_ms"] is None and out["percentiles_ms"]["p99"] is None and out["max_ms"] is None
    json.dumps(out, allow_nan=False)  # what write_json_atomic does


def test_one_sort_per_group_is_shared_by_the_verdict_and_the_tables_and_the_cache_is_bounded(tmp_path: Path) -> None:
    """The verdict's latencies of a group and the operation table's corrected ones are one sorted
    array (open model: response time + lag, the persona's dropped arrivals at their lag); the cache
    of sorted groups never holds more values than the run has rows."""
    from crmload.analysis.prepared import Prepared
    from crmload.analysis.run import load_run
    from crmload.analysis.tables import scope_table

    rng = np.random.default_rng(4)
    rows = [
        S(float(v), operation=op, persona="integration", schedule_lag_ms=float(lag))
        for v, op, lag in zip(
            rng.uniform(5, 50, 600), rng.choice(["a.x", "b.y"], 600), rng.exponential(3, 600), strict=True
        )
    ]
    rows += [S(0.0, operation="", persona="integration", kind="dropped", outcome="dropped", schedule_lag_ms=2500.0)] * 4
    rows += [S(float(v), operation="a.x", persona="sales") for v in rng.uniform(5, 50, 300)]
    p = Prepared(load_run(write_run(tmp_path / "run", rows)))
    table = {r.key: r for r in scope_table(p, p.requests, "operation", p.window_s, ["http_5xx"], dropped=True)}
    ops = dict(p.group_rows(np.flatnonzero(p.requests), "operation"))
    for key, g in ops.items():
        got = p.ok_ranked(g)
        assert p.ok_ranked(g.copy()) is got  # the same rows, however they were found: one selection
        lat = p.s["response_time_ms"][g] + np.nan_to_num(p.s["schedule_lag_ms"][g])
        expected = np.sort(np.concatenate([lat, np.full(4, 2500.0)]))  # 4 dropped: integration
        assert table[key].dropped == 4 and table[key].co_percentiles_ms["p99"] == percentile(expected, 99.0)
        assert [got.at(k) for k in range(len(got), 0, -1)] == expected[::-1].tolist()
    for cut in range(1, 40):  # many distinct groups: the oldest are let go
        p.ok_ranked(np.flatnonzero(p.requests)[::cut])
    assert sum(len(v) for v in p._ranked.values()) <= len(p.s)
