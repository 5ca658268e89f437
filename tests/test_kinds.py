"""Known answers for the capacity, surge and drift analyses and the stop criteria, worked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from synth import T0, S, write_stages

from crmload.analysis import drift
from crmload.analysis.analyze import analyze
from crmload.analysis.capacity import Step, configured_think_s, fit_usl, knee, usl
from crmload.analysis.thresholds import Clause, Thresholds
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS
from crmload.core.scenario import StopWhen
from crmload.loadtests.stopwatch import StopWatch

STANDARD = Thresholds(
    clauses=[
        Clause(id="PERF-RT-01", title="lookups", limits=["p(95) < 250ms"]),
        Clause(id="PERF-ERR-01", title="errors", metric="failure_rate", limits=["rate < 1%"]),
        Clause(id="PERF-CONC-01", title="ceiling", metric="concurrency"),
    ]
)
CAPACITY = {"kind": "capacity", "personas": {"sales": {"weight": 1, "think_time": [1.0, 3.0]}}}


def _step(users: int, latency_ms: float, n: int = 600) -> tuple[dict[str, object], list[S]]:
    return {"name": f"u{users}", "users": users, "duration": 10.0}, [S(latency_ms, users=users) for _ in range(n)]


def test_usl_fit_recovers_known_parameters() -> None:
    # λ = 10/s per user, σ = 0.05, κ = 0.001: the peak is at sqrt((1 − σ)/κ) = sqrt(950) = 30.8 users
    users = np.array([1, 2, 4, 8, 16, 24, 32, 48, 64], dtype=np.float64)
    fit = fit_usl(users, usl(users, 10.0, 0.05, 0.001))
    assert fit is not None
    assert (fit.lam, fit.sigma, fit.kappa) == pytest.approx((10.0, 0.05, 0.001), rel=1e-3)
    assert fit.peak_users == pytest.approx(30.82, abs=0.01)
    # X(N*) = 10 · 30.82 / (1 + 0.05 · 29.82 + 0.001 · 30.82 · 29.82) = 308.2 / 3.410 = 90.4 per second
    assert fit.peak_rps == pytest.approx(90.4, abs=0.1)


def test_usl_reports_no_peak_where_throughput_still_grows_linearly() -> None:
    # 12 requests/s per user, no contention at all: σ = κ = 0, the peak is infinitely far away;
    # a figure like "peak at 7e19 requests/s" would be noise of the fit, not a prediction
    users = np.array([6, 9, 14, 20, 30, 45], dtype=np.float64)
    fit = fit_usl(users, 12.0 * users)
    assert fit is not None and fit.lam == pytest.approx(12.0, rel=1e-3)
    assert fit.peak_users == math.inf and fit.peak_rps == math.inf
    # a real peak beyond 10x the highest step tested is not reported either: κ = 1e-6 puts it at 1,000
    far = fit_usl(users, usl(users, 12.0, 0.0, 1e-6))
    assert far is not None and far.peak_users == math.inf


def test_ceiling_is_the_last_step_before_the_break(tmp_path: Path) -> None:
    # every request of a step takes the same time, so its p95 is exactly that time: 100, 200, 300,
    # 400 ms against a 250 ms limit. Ceiling 20 users; the break at 30 users is PERF-RT-01 by
    # 300 / 250 − 1 = +20 %. Throughput is 600 requests / 10 s = 60/s at every step: users grow
    # 1.5x while throughput does not, so the knee is the first step, 10 users.
    run = write_stages(tmp_path / "run", [_step(10, 100), _step(20, 200), _step(30, 300), _step(40, 400)], CAPACITY)
    result = analyze(run, STANDARD, report=False)
    cap = _section(run, "capacity")
    assert cap["ceiling_users"] == 20 and cap["break"]["users"] == 30
    assert [c["id"] for c in cap["break"]["clauses"]] == ["PERF-RT-01"]
    assert cap["break"]["clauses"][0]["excess"] == pytest.approx(0.2)
    assert [s["status"] for s in cap["steps"]] == [PASS, PASS, FAIL, FAIL]
    assert cap["knee_users"] == 10
    conc = result.verdict.results[0]
    assert conc.clause_id == "PERF-CONC-01" and conc.status == INCONCLUSIVE  # no required users given


@pytest.mark.parametrize(
    ("required", "status"),
    [(20, PASS), (30, FAIL), (10, PASS)],
)
def test_perf_conc_01_against_the_ceiling(tmp_path: Path, required: int, status: str) -> None:
    run = write_stages(
        tmp_path / "run",
        [_step(10, 100), _step(20, 200), _step(30, 300)],
        {**CAPACITY, "required_users": required},
    )
    verdict = analyze(run, STANDARD, report=False).verdict
    assert verdict.results[0].status == status and verdict.results[0].measured == 20.0


def test_staircase_that_stops_below_the_requirement_without_a_break_is_inconclusive(tmp_path: Path) -> None:
    run = write_stages(tmp_path / "run", [_step(10, 100), _step(20, 120)], {**CAPACITY, "required_users": 50})
    res = analyze(run, STANDARD, report=False).verdict.results[0]
    assert res.status == INCONCLUSIVE and "without a break" in res.reason and res.measured == 20.0


def test_recovery_time_after_a_surge(tmp_path: Path) -> None:
    # the surge (10 s) is fine; for the first 6 s after it every request takes 2 s, then 100 ms.
    # The rolling p95 over the last 5 s is back under 1 s at the first second t whose window
    # [t − 5, t) holds no slow sample: t = 6 + 5 = 11 s after the surge.
    slow = [S(2000.0) for _ in range(60)]
    fast = [S(100.0) for _ in range(240)]
    run = write_stages(
        tmp_path / "run",
        [
            ({"name": "normal", "users": 10, "duration": 10.0}, [S(100.0) for _ in range(100)]),
            ({"name": "surge", "users": 10, "duration": 10.0, "surge": True}, [S(100.0) for _ in range(100)]),
            ({"name": "stall", "users": 10, "duration": 6.0}, slow),
            ({"name": "after", "users": 10, "duration": 24.0}, fast),
        ],
        {"kind": "surge", "recovery_window": 5.0, "personas": {"sales": {}}},
    )
    thresholds = Thresholds(
        clauses=[
            Clause(id="PERF-RT-01", title="lookups", limits=["p(95) < 1s"]),
            Clause(id="PERF-ERR-01", title="errors", metric="failure_rate", limits=["rate < 1%"]),
        ]
    )
    verdict = analyze(run, thresholds, report=False).verdict
    rec = _section(run, "surge")["recovery"]
    assert rec["breached"] and rec["seconds"] == pytest.approx(11.0)
    recovery = next(r for r in verdict.results if r.clause_id == "SURGE-RECOVERY")
    assert recovery.status == PASS and recovery.measured == pytest.approx(11.0)
    assert next(r for r in verdict.results if r.clause_id == "PERF-RT-01@surge").status == PASS


def test_theil_sen_and_drift_by_hand() -> None:
    t = np.arange(20, dtype=np.float64)
    y = 100.0 + 2.0 * t
    y[7] = 1000.0  # one outlier: Theil–Sen's median of slopes ignores it
    slope, intercept = drift.theil_sen(t, y)
    assert (slope, intercept) == pytest.approx((2.0, 100.0))
    # 2 ms/s over a 20 s window from 100 ms: +40 %, far over 10 %; Kendall's tau is nearly 1
    rising = drift.trend("p95", t, y, 20.0, 0.1)
    assert rising.drift and rising.change == pytest.approx(0.4) and rising.p_value < 1e-6
    flat = drift.trend("p95", t, 100.0 + np.random.default_rng(3).normal(0, 5, 20), 20.0, 0.1)
    assert not flat.drift
    few = drift.trend("p95", t[:9], y[:9], 9.0, 0.1)
    assert not few.drift and "not assessed" in few.reason


def test_mann_kendall_by_hand() -> None:
    # 20 rising values: all 190 pairs concordant, S = 190; Var S = 20·19·45/18 = 950;
    # z = (190 − 1)/sqrt(950) = 6.132, two-sided p = erfc(6.132/√2) = 8.7e-10
    t = np.arange(20, dtype=np.float64)
    assert drift.mann_kendall_p(t, t) == pytest.approx(8.67e-10, rel=0.01)
    assert drift.mann_kendall_p(t, np.ones(20)) == 1.0  # all tied: no trend


def test_soak_with_a_slow_leak_fails_drift_and_without_passes(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    soak = {"kind": "soak", "personas": {"sales": {}}}

    def run(name: str, growth_ms_per_s: float) -> str:
        samples = [S(50.0 + growth_ms_per_s * 60.0 * i / 3000 + rng.exponential(10.0)) for i in range(3000)]
        path = write_stages(tmp_path / name, [({"name": "soak", "users": 10, "duration": 60.0}, samples)], soak)
        res = analyze(path, STANDARD, ["PERF-ERR-01"], report=False)
        return next(r.status for r in res.verdict.results if r.clause_id == "PERF-DRIFT-01")

    assert run("leak", 0.5) == FAIL  # +30 ms over a minute on a p95 of about 80 ms
    assert run("flat", 0.0) == PASS


def _hour_of_requests(seed: int, leak_per_hour: float) -> list[drift.Trend]:
    """One hour at 10 requests/s: 80 ms plus an exponential of mean 20 ms, scaled by the leak."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.uniform(0, 3600.0, 36_000))
    latency = (80.0 + rng.exponential(20.0, ts.size)) * (1.0 + leak_per_hour * (ts - T0) / 3600.0)
    ok = np.ones(ts.size, dtype=bool)
    return drift.drift(ts, latency, ok, ~ok, [(T0, T0 + 3600.0)], max_drift=0.1)


def test_a_leak_of_twenty_percent_an_hour_is_flagged_and_noise_is_not() -> None:
    # the case: +20 % an hour over an hour's soak is twice the 10 % bound; 30 bins of 2 min,
    # 1,200 requests each, so each bin's p95 is steady to about 2 %, and the trend is unmistakable
    for seed in range(5):
        p95 = _hour_of_requests(seed, 0.2)[0]
        assert p95.drift, p95.reason
        assert p95.per_hour == pytest.approx(0.2, abs=0.04) and p95.p_value < 1e-6
    # no leak, twenty different hours of noise: never flagged
    flagged = [p95.reason for seed in range(20) if (p95 := _hour_of_requests(100 + seed, 0.0)[0]).drift]
    assert flagged == []


def test_stop_watch_trips_after_the_window_and_not_before() -> None:
    watch = StopWatch([StopWhen.model_validate({"metric": "failure_rate", "above": "10%", "for": "3s"})])
    for sec in range(5):  # 20 % failures in every second from T0
        for k in range(10):
            watch.add(T0 + sec + k / 10, 5.0, "http_5xx" if k < 2 else "ok")
        if sec < 2:
            assert watch.check(T0 + sec + 1) is None  # 1 and 2 complete seconds
    assert watch.check(T0 + 3) == "failure_rate above 10 % for 3 s"  # seconds 0, 1, 2
    calm = StopWatch([StopWhen.model_validate({"metric": "p95", "above": "500ms", "for": "2s"})])
    for sec in range(4):
        for k in range(20):
            calm.add(T0 + sec + k / 20, 900.0 if (sec == 1 and k == 0) else 100.0, "ok")
    assert calm.check(T0 + 4) is None  # one slow request in a second is not its p95


def _section(run: Path, name: str) -> dict:  # type: ignore[type-arg]
    import json

    return dict(json.loads((run / "verdict.json").read_text())[name])


def _steps(throughputs: dict[int, float], seed: int = 5, seconds: int = 60) -> list[Step]:
    """Steps of a staircase with Poisson one-second bins around the given throughputs."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (users, rps) in enumerate(throughputs.items()):
        bins = tuple(float(b) for b in rng.poisson(rps, seconds))
        x = sum(bins) / seconds
        out.append(Step(i, f"u{users}", users, seconds, int(sum(bins)), x, 1.0, 2.0, 1.0, 0.0, PASS, (), bins, None))
    return out


def test_a_hard_limit_makes_a_knee_at_saturation_and_a_plateau() -> None:
    # 10 requests/s per user up to a hard limit of 150/s: saturation at 15 users, between the
    # steps of 14 and 20 users; from there throughput is flat
    users = (6, 9, 14, 20, 30, 45)
    found = knee(_steps({n: min(10.0 * n, 150.0) for n in users}))
    assert found is not None and found.users in (14, 20)
    assert found.high < 0.5 and found.plateau_rps == pytest.approx(150, rel=0.03)


def test_throughput_that_keeps_up_with_users_has_no_knee() -> None:
    found = knee(_steps({n: 10.0 * n for n in (6, 9, 14, 20, 30, 45)}))
    assert found is not None and found.users is None and found.low > 0.5


def test_one_noisy_step_is_not_a_knee() -> None:
    # linear growth with one step 30 % low: a pair of steps with an elasticity far below 0.5,
    # but not a loss of elasticity the whole staircase supports
    rates = {n: 10.0 * n for n in (6, 9, 14, 20, 30, 45, 68)}
    rates[20] *= 0.7
    found = knee(_steps(rates))
    assert found is not None and found.users is None


def test_think_time_per_request_comes_from_the_journeys() -> None:
    # managers only: 3 think steps of 1 s and 5 requests per dashboard: 0.6 s per request
    scenario = {
        "name": "t",
        "personas": {"manager": {"think_time": [1.0, 1.0], "options": {"probe_share": 0}}},
        "stages": [{"name": "u10", "users": 10, "duration": 10}],
    }
    assert configured_think_s(scenario) == pytest.approx(0.6)
