"""Per-scope statistics tables (operation, persona, journey, stage): the numbers behind a verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.frame import Samples
from crmload.analysis.stats import PERCENTILES, latency_summary, pct_key, percentile, wilson
from crmload.core.rundir import Outcome


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
    s: Samples,
    mask: NDArray[np.bool_],
    by: str,
    window_s: float | dict[str, float],
    failure_outcomes: list[str],
    confidence: float = 0.95,
    dropped: Callable[[NDArray[np.bool_]], NDArray[np.bool_]] | None = None,
) -> list[Row]:
    """One row per value of ``by`` among the ``mask`` rows; latency percentiles of successful samples, rates of all.

    ``window_s``: the seconds the rows' samples span (one figure, or one per key) for throughput.
    ``dropped``: the dropped arrivals that belong with a group's rows (``Prepared.dropped_for``),
    which the corrected percentiles include at their lag.
    """
    rows: list[Row] = []
    if not mask.any():
        return rows
    outcome = s.t("outcome")
    ok_all = outcome.eq(Outcome.OK)
    failed_all = outcome.mask(failure_outcomes)
    groups: Iterable[tuple[str, NDArray[np.bool_]]]
    if by == "stage":
        groups = ((str(int(k)), mask & (s["stage"] == k)) for k in np.unique(s["stage"][mask]))
    else:
        groups = s.t(by).groups(within=mask)
    rt_all = s["response_time_ms"]
    lag_all = s["schedule_lag_ms"]
    for key, g in groups:
        ok = ok_all[g]
        rt = rt_all[g]
        lag = lag_all[g]
        ok_sorted = np.sort(rt[ok])
        summ = latency_summary(ok_sorted)
        box = {f"p{p:g}": percentile(ok_sorted, p) for p in (1.0, 25.0, 50.0, 75.0, 99.0)} if len(ok_sorted) else {}
        co = None
        co_pct: dict[str, float] | None = None
        n_dropped = 0
        if np.isfinite(lag).any():
            corrected = (rt + np.nan_to_num(lag, nan=0.0))[ok]
            if dropped is not None:
                extra = dropped(g)
                n_dropped = int(extra.sum())
                corrected = np.concatenate([corrected, lag_all[extra]])
            co_pct = latency_summary(np.sort(corrected)).percentiles_ms
            co = co_pct["p99"]
        codes, counts = np.unique(outcome.codes[g], return_counts=True)
        outcomes = {
            outcome.labels[c] if c < len(outcome.labels) else "": int(n) for c, n in zip(codes, counts, strict=True)
        }
        n = int(g.sum())
        failures = int(failed_all[g].sum())
        ci = wilson(failures, n, confidence)
        srv = s["server_ms"][g]
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
                co,
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
