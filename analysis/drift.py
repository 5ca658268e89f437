"""Drift over a long run: do p95 latency or the failure rate trend upwards, beyond noise?

Method (stated in every report):

- the judged steady window is cut into equal bins (``max(1 s, window / 30)``); each bin's p95 of
  successful requests (nearest rank) and failure rate are the series;
- the trend is the Theil–Sen slope (median of pairwise slopes: robust to outliers), its
  significance the Mann–Kendall test (normal approximation, ties corrected);
- **drift** is flagged when the trend is upwards, significant (``p < 0.01``) and large: over the
  window, p95 grows by at least ``max_drift`` (default 10 %) of its fitted starting level, or the
  failure rate by at least 0.5 percentage points. The slope is also given per hour, the unit of
  a slow leak. Fewer than 10 bins with data: not assessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.selection import CHUNK, percentiles_of_parts
from crmload.analysis.timeline import window_bins
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS, Result

MIN_BINS = 10
P_LIMIT = 0.01
FAILURE_DRIFT_PP = 0.005
MIN_PER_BIN = 20  # fewest successful requests for a bin's p95


@dataclass(frozen=True)
class Trend:
    metric: str  # "p95" | "failure_rate"
    t: tuple[float, ...]  # bin centres, seconds from the window start
    values: tuple[float, ...]
    slope_per_s: float
    start_level: float
    change: float  # over the window: relative for p95, absolute for the failure rate
    per_hour: float  # relative per hour for p95, absolute per hour for the failure rate
    p_value: float
    drift: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return round(v, 6) if math.isfinite(v) else None

        return {
            "metric": self.metric,
            "slope_per_s": num(self.slope_per_s),
            "start_level": num(self.start_level),
            "change_over_window": num(self.change),
            "per_hour": num(self.per_hour),
            "p_value": num(self.p_value),
            "drift": self.drift,
            "reason": self.reason,
            "bins": len(self.t),
        }


def theil_sen(t: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Slope and intercept (median of pairwise slopes; intercept median of y − slope·t)."""
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    keep = dt != 0
    slope = float(np.median((y[j] - y[i])[keep] / dt[keep])) if keep.any() else 0.0
    return slope, float(np.median(y - slope * t))


def mann_kendall_p(t: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Two-sided p-value of the Mann–Kendall trend test (normal approximation with the tie
    correction of the variance and a continuity correction), for the few dozen bins of a run."""
    n = len(y)
    i, j = np.triu_indices(n, k=1)
    order = np.sign(t[j] - t[i]) * np.sign(y[j] - y[i])
    s_stat = float(order.sum())
    _values, ties = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18.0
    if var <= 0:
        return 1.0
    z = (s_stat - math.copysign(1.0, s_stat)) / math.sqrt(var) if s_stat else 0.0
    return math.erfc(abs(z) / math.sqrt(2.0))


def trend(metric: str, t: NDArray[np.float64], y: NDArray[np.float64], window_s: float, max_drift: float) -> Trend:
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    if len(t) < MIN_BINS:
        return Trend(metric, tuple(t), tuple(y), math.nan, math.nan, math.nan, math.nan, math.nan, False,
                     f"not assessed: {len(t)} bins with data, {MIN_BINS} needed")  # fmt: skip
    slope, intercept = theil_sen(t, y)
    p = mann_kendall_p(t, y)
    relative = metric != "failure_rate"
    level = intercept
    if relative:
        change = slope * window_s / level if level > 0 else math.nan
        per_hour = slope * 3600.0 / level if level > 0 else math.nan
        limit, unit = max_drift, "%"
    else:
        change, per_hour, limit, unit = slope * window_s, slope * 3600.0, FAILURE_DRIFT_PP, "pp"
    upward = slope > 0 and math.isfinite(change)
    drift = upward and p < P_LIMIT and change >= limit
    hourly = f" ({per_hour * 100:+.1f} {unit}/h)" if window_s >= 600 else ""  # no hourly rate from seconds
    shown = f"{change * 100:+.1f} {unit} over the window{hourly}, p={p:.2g}"
    if drift:
        reason = f"drift: {shown}; significant and over the {limit * 100:g} {unit} bound"
    elif not upward or p >= P_LIMIT:
        reason = f"no significant upward trend: {shown}"
    else:
        reason = f"upward but small: {shown}, under the {limit * 100:g} {unit} bound"
    return Trend(metric, tuple(t), tuple(y), slope, level, change, per_hour, p, drift, reason)


def drift(
    ts: NDArray[np.float64],
    latency_ms: NDArray[np.float64],
    ok: NDArray[np.bool_],
    failed: NDArray[np.bool_],
    windows: list[tuple[float, float]],
    max_drift: float = 0.1,
    rows: NDArray[np.bool_] | None = None,
) -> list[Trend]:
    """p95 and failure-rate trends of the requests given (all arrays aligned; ``rows``: only those
    where it holds), over the judged windows, a slice of the rows at a time."""
    total = sum(max(0.0, b - a) for a, b in windows)
    if total <= 0:
        return []
    width = max(1.0, total / 30.0)
    _, t = window_bins(ts[:0], windows, width)
    nbins = len(t)

    def slices() -> Iterator[tuple[slice, NDArray[np.int64]]]:
        """(rows, their bins) of the counted requests, a slice of the run at a time."""
        for a in range(0, len(ts), CHUNK):
            part = slice(a, a + CHUNK)
            bin_of, _ = window_bins(ts[part], windows, width)
            if rows is not None:
                bin_of[~rows[part]] = -1
            yield part, bin_of

    n = np.zeros(nbins, dtype=np.int64)
    n_ok = np.zeros(nbins, dtype=np.int64)
    fails = np.zeros(nbins)
    for part, bin_of in slices():
        counted = bin_of >= 0
        n += np.bincount(bin_of[counted], minlength=nbins)
        n_ok += np.bincount(bin_of[counted & ok[part]], minlength=nbins)
        fails += np.bincount(bin_of[counted & failed[part]], minlength=nbins)

    def good() -> Iterator[tuple[NDArray[np.int64], NDArray[np.float64]]]:
        for part, bin_of in slices():
            keep = (bin_of >= 0) & ok[part]
            yield bin_of[keep], latency_ms[part][keep]

    p95_all = percentiles_of_parts(good, nbins, (95.0,))["p95"]
    p95 = np.where(n_ok >= MIN_PER_BIN, p95_all, math.nan)
    rate = [float(fails[i] / n[i]) if n[i] else math.nan for i in range(nbins)]
    return [
        trend("p95", t, p95, total, max_drift),
        trend("failure_rate", t, np.asarray(rate), total, max_drift),
    ]


def result(trends: list[Trend]) -> Result:
    """PERF-DRIFT-01 of a soak: FAIL on drift of p95 or the failure rate, INCONCLUSIVE when not assessed."""
    assessed = [t for t in trends if math.isfinite(t.p_value)]
    flagged = [t for t in trends if t.drift]
    if flagged:
        status = FAIL
    elif len(assessed) == len(trends) and trends:
        status = PASS
    else:
        status = INCONCLUSIVE
    lead = flagged[0] if flagged else (assessed[0] if assessed else None)
    reason = "; ".join(f"{t.metric}: {t.reason}" for t in trends) or "no judged window"
    return Result(
        "PERF-DRIFT-01",
        "No drift of p95 latency or failure rate over the soak",
        status,
        "all requests",
        "rate",
        lead.change if lead is not None else None,
        "no significant upward trend beyond max_drift",
        None,
        None,
        sum(len(t.t) for t in trends),
        reason,
    )
