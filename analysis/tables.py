"""Per-scope statistics tables (operation, persona, journey, stage): the numbers behind a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.prepared import Prepared
from crmload.analysis.stats import PERCENTILES, Ranked, latency_summary, pct_key, percentile, wilson


@dataclass(frozen=True)
class Row:
    scope: str
    key: str
    n: int
    throughput_rps: float
    percentiles_ms: dict[str, float]
    max_ms: float
    co_p99_ms: float | None  # coordinated-omission-corrected p99 (open model), None for closed
    failures: int
    failure_rate: float
    failure_rate_high: float | None
    outcomes: dict[str, int]
    server_p50_ms: float | None
    box_ms: dict[str, float] = field(default_factory=dict)  # p1 p25 p50 p75 p99, for box plots
    # open model: percentiles corrected for coordinated omission (response time + schedule lag,
    # the scope's dropped arrivals included at their lag), beside the raw ones; None for closed
    co_percentiles_ms: dict[str, float] | None = None
    dropped: int = 0  # open-model arrivals of this scope that never started (later than max_lag)


def scope_table(
    p: Prepared,
    mask: NDArray[np.bool_],
    by: str,
    window_s: float | dict[str, float],
    failure_outcomes: list[str],
    confidence: float = 0.95,
    dropped: bool = False,
) -> list[Row]:
    """One row per value of ``by`` among the ``mask`` rows; latency percentiles of successful samples, rates of all.

    ``window_s``: the seconds the rows' samples span (one figure, or one per key) for throughput.
    Open-model groups also get percentiles corrected for coordinated omission (response time plus
    schedule lag), with ``dropped`` the group's dropped arrivals at their lag too: then they are
    :meth:`Prepared.ok_ranked`, the same order statistics the verdict judges, shared by both.
    A group without schedule lag has no correction, and its percentiles come from that one.
    """
    rows: list[Row] = []
    s = p.s
    selected = np.flatnonzero(mask)
    if len(selected) == 0:
        return rows
    outcome = s.t("outcome")
    failed_all = outcome.mask(failure_outcomes)
    rt_all = s["response_time_ms"]
    srv_all = s["server_ms"]
    for key, g in p.group_rows(selected, by):
        ok = p.ok[g]
        open_rows = p.has_lag[g]
        co_pct: dict[str, float] | None = None
        n_dropped = 0
        if open_rows.any():
            ok_ranked = Ranked(rt_all[g][ok], own=True)
            if dropped:
                n_dropped = len(p.dropped_rows(g))
                co_pct = latency_summary(p.ok_ranked(g)).percentiles_ms
            else:
                co_pct = latency_summary(Ranked(p.latency[g][ok], own=True)).percentiles_ms
        else:  # no lag: the corrected latencies are the response times (and no dropped arrival belongs)
            ok_ranked = p.ok_ranked(g)
        summ = latency_summary(ok_ranked)
        box = {f"p{q:g}": percentile(ok_ranked, q) for q in (1.0, 25.0, 50.0, 75.0, 99.0)} if len(ok_ranked) else {}
        counts = np.bincount(outcome.codes[g], minlength=len(outcome.labels) + 1)
        outcomes = {
            outcome.labels[c] if c < len(outcome.labels) else "": int(counts[c]) for c in np.flatnonzero(counts)
        }
        n = len(g)
        failures = int(failed_all[g].sum())
        ci = wilson(failures, n, confidence)
        srv = srv_all[g]
        srv = srv[ok & np.isfinite(srv)]
        span = window_s.get(key, 0.0) if isinstance(window_s, dict) else window_s
        rows.append(
            Row(
                by,
                key,
                n,
                n / span if span > 0 else math.nan,
                summ.percentiles_ms,
                summ.max_ms,
                co_pct["p99"] if co_pct is not None else None,
                failures,
                failures / n,
                ci.high,
                outcomes,
                float(np.median(srv)) if len(srv) else None,
                box,
                co_pct,
                n_dropped,
            )
        )
    return rows


PCT_COLUMNS = [pct_key(p) for p in PERCENTILES]
