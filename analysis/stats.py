"""Statistics of raw samples: exact percentiles, their confidence intervals, rates, Apdex.

Methods (stated in every report):

- **percentile**: nearest rank, the value at rank ``ceil(p/100 · n)`` of the sorted samples
  (Hyndman & Fan type 1, numpy ``method="inverted_cdf"``); never interpolated, never bucketed.
- **percentile interval**: distribution-free, from order statistics: ranks ``l`` and ``u`` with
  ``P(x(l) <= ξp <= x(u)) >= confidence`` when the number of samples below ``ξp`` is
  Binomial(n, p). With too few samples the upper rank does not exist: the percentile cannot be
  bounded and a judgement on it is INCONCLUSIVE.
- **rate interval**: Wilson score interval.
- **Apdex**: (satisfied + tolerating / 2) / n with satisfied ``<= T``, tolerating ``<= 4T``; failed
  requests count as frustrated. Its interval is the normal interval of the mean per-sample score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray
from scipy.special import bdtr, bdtrik

FloatArray = NDArray[np.float64]


def percentile(sorted_values: FloatArray, p: float) -> float:
    """Nearest-rank ``p``-th percentile (0 < p < 100, or 100 for the maximum) of ascending values."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * n - 1e-9))
    return float(sorted_values[min(rank, n) - 1])


@dataclass(frozen=True)
class Interval:
    low: float | None  # None: unbounded below (fewer samples than the lower rank needs)
    high: float | None  # None: unbounded above: the data cannot bound the value
    confidence: float

    @property
    def bounded(self) -> bool:
        return self.high is not None


def binom_ppf(prob: float, n: int, q: float) -> int:
    """Smallest k with P(Binomial(n, q) <= k) >= prob (scipy.stats.binom.ppf, without its import cost)."""
    if q >= 1.0:
        return n
    guess = float(bdtrik(prob, n, q))
    k = max(0, min(n, math.floor(guess) if math.isfinite(guess) else round(n * q)))
    while k < n and bdtr(k, n, q) < prob:
        k += 1
    while k > 0 and bdtr(k - 1, n, q) >= prob:
        k -= 1
    return k


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for ``confidence`` (1.96 for 0.95)."""
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def percentile_ranks(n: int, p: float, confidence: float = 0.95) -> tuple[int, int]:
    """1-based ranks (l, u) of the distribution-free interval; l < 1 or u > n mean "no such bound"."""
    alpha = 1.0 - confidence
    q = p / 100.0
    lo = binom_ppf(alpha / 2.0, n, q)
    hi = binom_ppf(1.0 - alpha / 2.0, n, q) + 1
    return lo, hi


def percentile_interval(sorted_values: FloatArray, p: float, confidence: float = 0.95) -> Interval:
    n = len(sorted_values)
    if n == 0:
        return Interval(None, None, confidence)
    lo, hi = percentile_ranks(n, p, confidence)
    low = float(sorted_values[lo - 1]) if 1 <= lo <= n else None
    high = float(sorted_values[hi - 1]) if 1 <= hi <= n else None
    return Interval(low, high, confidence)


def min_samples_for(p: float, min_tail: int = 5, confidence: float = 0.95) -> int:
    """Fewest samples for which the ``p``-th percentile has an upper bound and ``min_tail`` samples above it."""
    q = p / 100.0
    n = max(1, math.ceil(min_tail / (1.0 - q) - 1e-9))
    while percentile_ranks(n, p, confidence)[1] > n:
        n += 1
    return n


def wilson(failures: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a proportion ``failures / n``."""
    if n == 0:
        return Interval(None, None, confidence)
    z = z_value(confidence)
    phat = failures / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if failures == 0 else max(0.0, centre - half)  # exactly 0, not a rounding residue
    high = 1.0 if failures == n else min(1.0, centre + half)
    return Interval(low, high, confidence)


@dataclass(frozen=True)
class Apdex:
    score: float
    n: int
    satisfied: int
    tolerating: int
    t_ms: float
    interval: Interval


def apdex(response_ms: FloatArray, failed: NDArray[np.bool_], t_ms: float, confidence: float = 0.95) -> Apdex:
    """Apdex with threshold ``t_ms``; ``failed`` samples are frustrated whatever their time."""
    n = len(response_ms)
    ok = ~failed
    satisfied = int(np.count_nonzero(ok & (response_ms <= t_ms)))
    tolerating = int(np.count_nonzero(ok & (response_ms > t_ms) & (response_ms <= 4 * t_ms)))
    if n == 0:
        return Apdex(math.nan, 0, 0, 0, t_ms, Interval(None, None, confidence))
    score = (satisfied + tolerating / 2.0) / n
    # per-sample scores are 1, 0.5, 0: normal interval of their mean
    mean_sq = (satisfied + tolerating / 4.0) / n
    var = max(0.0, mean_sq - score * score)
    z = z_value(confidence)
    half = z * math.sqrt(var / n) if n > 1 else math.inf
    return Apdex(
        score, n, satisfied, tolerating, t_ms, Interval(max(0.0, score - half), min(1.0, score + half), confidence)
    )


PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True)
class LatencySummary:
    n: int
    mean_ms: float
    max_ms: float
    percentiles_ms: dict[str, float]  # "p50" ... "p99.9"


def pct_key(p: float) -> str:
    return f"p{p:g}"


def latency_summary(sorted_values: FloatArray) -> LatencySummary:
    n = len(sorted_values)
    if n == 0:
        return LatencySummary(0, math.nan, math.nan, {pct_key(p): math.nan for p in PERCENTILES})
    return LatencySummary(
        n,
        float(sorted_values.mean()),
        float(sorted_values[-1]),
        {pct_key(p): percentile(sorted_values, p) for p in PERCENTILES},
    )
