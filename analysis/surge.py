"""A promotion surge: the surge window judged on its own, late and dropped arrivals, and recovery time.

Method (stated in every report):

- the stage marked ``surge: true`` is judged against the standard alone, as a run of its own;
- for every stage with an arrival rate: arrivals started, dropped (later than ``max_lag``, never
  started), late (started more than 100 ms after their schedule) and the p95 of the lag;
- **recovery time**: after the surge ends, the rolling p95 (of the requests PERF-RT-01 selects,
  against its p95 limit) and the rolling failure rate (against PERF-ERR-01's limit) are computed
  each second over the last ``recovery_window`` seconds. The CRM has recovered at the first second
  from which both stay within their limits for a whole window; the recovery time is that second
  minus the surge's end (0 when they never left their limits). Not recovered by the end of the
  run: reported as such, with the time observed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from crmload.analysis.run import RunData, Stage
from crmload.analysis.stats import percentile
from crmload.analysis.thresholds import Thresholds
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS, Judge, Result
from crmload.core.rundir import Kind

LATE_MS = 100.0


@dataclass(frozen=True)
class Recovery:
    seconds: float | None  # None: not recovered in the time observed
    observed_s: float
    breached: bool  # the limits were exceeded at some point after the surge
    window_s: float
    t: tuple[float, ...] = ()  # seconds since the surge ended
    p95_ms: tuple[float, ...] = ()
    failure_rate: tuple[float, ...] = ()
    p95_limit_ms: float | None = None
    rate_limit: float | None = None


@dataclass(frozen=True)
class Surge:
    stage: str
    start: float
    end: float
    results: tuple[Result, ...]
    arrivals: list[dict[str, Any]]
    recovery: Recovery
    result: Result  # SURGE-RECOVERY
    timeline: dict[str, list[float]] = field(default_factory=dict)  # for the chart: t, rate, p95, errors

    def to_dict(self) -> dict[str, Any]:
        r = self.recovery
        return {
            "stage": self.stage,
            "clauses": [x.to_dict() for x in self.results],
            "arrivals": self.arrivals,
            "recovery": {
                "seconds": r.seconds,
                "observed_s": round(r.observed_s, 3),
                "breached": r.breached,
                "window_s": r.window_s,
                "p95_limit_ms": r.p95_limit_ms,
                "failure_rate_limit": r.rate_limit,
            },
            "method": __doc__.split("Method (stated in every report):", 1)[1].strip() if __doc__ else "",
        }


def _scopes(thresholds: Thresholds) -> tuple[Any, Any]:
    """The clauses whose selections the recovery watches: the standard's latency and failure-rate
    clauses (``defaults.latency_clause`` and ``defaults.failure_rate_clause``), when it has them."""
    return thresholds.latency_clause(), thresholds.failure_rate_clause()


def recovery(judge: Judge, thresholds: Thresholds, after: float, until: float, window_s: float) -> Recovery:
    rt, err = _scopes(thresholds)
    p95_limit, rate_limit = thresholds.lookup_p95_limit_ms(), thresholds.failure_rate_limit()
    ts = judge.p.s["ts"]
    base = judge.p.all_requests()
    first = math.floor(after - window_s)
    near = base & (ts >= first - window_s) & (ts < until)  # only the samples the windows can hold
    order = np.argsort(ts[near], kind="stable")
    t_near = ts[near][order]
    in_rt = (judge.p.select(rt.select) if rt else np.ones(len(ts), dtype=bool))[near][order]
    in_err = (judge.p.select(err.select) if err else np.ones(len(ts), dtype=bool))[near][order]
    ok = judge.p.ok[near][order]
    failed = judge.p.failed[near][order]
    lat = judge.p.latency[near][order]
    seconds = np.arange(first, math.floor(until) + 1, dtype=np.float64)
    lo = np.searchsorted(t_near, seconds - window_s, side="left")
    hi = np.searchsorted(t_near, seconds, side="left")
    p95s: list[float] = []
    rates: list[float] = []
    for a, b in zip(lo, hi, strict=True):  # each second's window [t − window, t) is a slice
        w_lat = np.sort(lat[a:b][in_rt[a:b] & ok[a:b]])
        p95s.append(percentile(w_lat, 95.0) if len(w_lat) else math.nan)
        n = int(in_err[a:b].sum())
        rates.append(float((in_err[a:b] & failed[a:b]).sum()) / n if n else math.nan)
    p = np.asarray(p95s)
    r = np.asarray(rates)
    bad = np.zeros(len(seconds), dtype=bool)
    if p95_limit is not None:
        bad |= np.nan_to_num(p, nan=0.0) >= p95_limit
    if rate_limit is not None:
        bad |= np.nan_to_num(r, nan=0.0) >= rate_limit
    post = seconds >= after
    observed = max(0.0, until - after)
    breached = bool((bad & post).any())
    recovered_at: float | None = None
    hold = math.ceil(window_s)
    idx = np.flatnonzero(post)
    for i in idx:
        if seconds[i] + window_s > until:
            break
        if not bad[i : i + hold + 1].any() and i + hold < len(seconds):
            recovered_at = float(seconds[i])
            break
    secs = None if recovered_at is None else max(0.0, recovered_at - after)
    return Recovery(
        secs,
        observed,
        breached,
        window_s,
        tuple((seconds - after).tolist()),
        tuple(p.tolist()),
        tuple(r.tolist()),
        p95_limit,
        rate_limit,
    )


def _arrivals(run: RunData, judge: Judge) -> list[dict[str, Any]]:
    s = run.samples
    out = []
    kind = judge.p.kind
    lag = s["schedule_lag_ms"]
    for st in run.stages:
        if st.arrival_rate <= 0:
            continue
        in_stage = s["stage"] == st.index
        started = kind.eq(Kind.JOURNEY) & in_stage & np.isfinite(lag)
        dropped = int((kind.eq(Kind.DROPPED) & in_stage).sum())
        lags = np.sort(lag[started])
        seconds = max(1e-9, st.end - st.start)
        out.append(
            {
                "stage": st.name,
                "planned_rate": st.arrival_rate,
                "started": int(started.sum()),
                "achieved_rate": round(float(started.sum()) / seconds, 3),
                "dropped": dropped,
                "late": int((lags > LATE_MS).sum()),
                "lag_p95_ms": percentile(lags, 95.0) if len(lags) else None,
                "lag_max_ms": float(lags[-1]) if len(lags) else None,
            }
        )
    return out


def analyse(
    run: RunData, thresholds: Thresholds, judge_ids: list[str] | None, window_s: float, whole: Judge | None = None
) -> Surge | None:
    """None when the run has no stage marked ``surge``. ``whole``: the whole run judged with the same
    standard and clauses, when the caller has it already."""
    surge: Stage | None = next((st for st in run.stages if getattr(st, "surge", False)), None)
    if surge is None:
        return None
    alone = replace(run, stages=[replace(surge, judged=True)])
    concurrency = {c.id for c in thresholds.clauses if c.metric == "concurrency"}
    wanted = [i for i in (judge_ids or thresholds.all_ids()) if i not in concurrency]
    results = tuple(
        replace(r, clause_id=f"{r.clause_id}@surge", scope=f"surge: {r.scope}")
        for r in Judge(alone, thresholds, wanted).verdict().results
    )
    whole = whole or Judge(run, thresholds, judge_ids)
    until = max((st.end for st in run.stages), default=surge.end)
    rec = recovery(whole, thresholds, surge.end, until, window_s)
    limit = f"recovered within the {rec.observed_s:.0f} s observed"
    if rec.seconds is not None:
        status = PASS
        reason = (
            f"rolling p95 and failure rate back within their limits {rec.seconds:.0f} s after the surge"
            if rec.breached
            else "rolling p95 and failure rate stayed within their limits after the surge"
        )
    elif rec.observed_s < 2 * window_s:
        status = INCONCLUSIVE
        reason = f"only {rec.observed_s:.0f} s observed after the surge; {2 * window_s:.0f} s needed"
    else:
        status = FAIL
        reason = f"not back within the limits in the {rec.observed_s:.0f} s observed after the surge"
    result = Result(
        "SURGE-RECOVERY",
        "The CRM recovers after the surge",
        status,
        f"after {surge.name}",
        "seconds",
        rec.seconds,
        limit,
        None,
        None,
        int(whole.p.requests.sum()),
        reason,
    )
    return Surge(surge.name, surge.start, surge.end, results, _arrivals(run, whole), rec, result)
