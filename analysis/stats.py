"""Statistics of raw samples: exact percentiles, their confidence intervals, rates, Apdex.

Methods (stated in every report):

- **percentile**: nearest rank, the value at rank ``ceil(p/100 · n)`` of the sorted samples
  (Hyndman & Fan type 1, numpy ``method="inverted_cdf"``); never interpolated, never bucketed.
  The value at a rank is found by selection (:class:`Ranked`), the same value a full sort gives.
- **percentile interval**: distribution-free, from order statistics: ranks ``l`` and ``u`` with
  ``P(x(l) <= ξp <= x(u)) >= confidence`` when the number of samples below ``ξp`` is
  Binomial(n, p). With too few samples the upper rank does not exist: the percentile cannot be
  bounded and a judgement on it is INCONCLUSIVE.
- **rate interval**: Wilson score interval.
- **Apdex**: (satisfied + tolerating / 2) / n with satisfied ``<= T``, tolerating ``<= 4T``; failed
  requests count as frustrated. Its interval is the normal interval of the mean per-sample score.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray
from scipy.special import bdtr, bdtrik

FloatArray = NDArray[np.float64]


class Ranked:
    """Order statistics of a group's values without sorting them: the value at a rank is found by
    selection (numpy's introselect, ``ndarray.partition``) within the stretch between the ranks
    found before, so that what a verdict and a table ask of one group — a few percentiles and the
    ranks of their intervals, the minimum and the maximum — costs a few passes over it, most of
    them over its tail, instead of a sort. Each value is exactly the one a full sort puts at that rank.

    Holds its own copy of the values (``own``: take ``values`` itself, which it reorders)."""

    __slots__ = ("_known", "_mean", "_std", "_v")

    def __init__(self, values: FloatArray, own: bool = False) -> None:
        self._v: FloatArray = values if own else np.array(values, dtype=np.float64)
        self._known: list[int] = []  # 0-based positions that hold their order statistic, ascending
        self._mean: float | None = None
        self._std: float | None = None

    def __len__(self) -> int:
        return len(self._v)

    def at(self, rank: int) -> float:
        """The ``rank``-th smallest value (1-based)."""
        pos = rank - 1
        if not 0 <= pos < len(self._v):
            raise IndexError(f"rank {rank} of {len(self._v)} values")
        known = self._known
        i = bisect.bisect_left(known, pos)
        if i < len(known) and known[i] == pos:
            return float(self._v[pos])
        lo = known[i - 1] + 1 if i > 0 else 0
        hi = known[i] if i < len(known) else len(self._v)
        # every value before ``lo`` is <= the stretch's and every one from ``hi`` on is >= them:
        # selecting within the stretch puts the whole array's order statistic at ``pos``
        self._v[lo:hi].partition(pos - lo)
        known.insert(i, pos)
        return float(self._v[pos])

    def mean(self) -> float:
        if self._mean is None:
            self._mean = float(self._v.mean()) if len(self._v) else math.nan
        return self._mean

    def std(self) -> float:
        """Sample standard deviation (``ddof=1``); infinite below two values."""
        if self._std is None:
            self._std = float(self._v.std(ddof=1)) if len(self._v) > 1 else math.inf
        return self._std


Ordered = FloatArray | Ranked  # ascending values, or a :class:`Ranked` group


def at_rank(values: Ordered, rank: int) -> float:
    """The ``rank``-th smallest (1-based) of ascending values or of a :class:`Ranked` group."""
    if isinstance(values, Ranked):
        return values.at(rank)
    return float(values[rank - 1])


def percentile(sorted_values: Ordered, p: float) -> float:
    """Nearest-rank ``p``-th percentile (0 < p < 100, or 100 for the maximum) of ascending values
    (or of a :class:`Ranked` group)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * n - 1e-9))
    return at_rank(sorted_values, min(rank, n))


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


def percentile_interval(sorted_values: Ordered, p: float, confidence: float = 0.95) -> Interval:
    n = len(sorted_values)
    if n == 0:
        return Interval(None, None, confidence)
    lo, hi = percentile_ranks(n, p, confidence)
    low = at_rank(sorted_values, lo) if 1 <= lo <= n else None
    high = at_rank(sorted_values, hi) if 1 <= hi <= n else None
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


def latency_summary(sorted_values: Ordered) -> LatencySummary:
    n = len(sorted_values)
    if n == 0:
        return LatencySummary(0, math.nan, math.nan, {pct_key(p): math.nan for p in PERCENTILES})
    return LatencySummary(
        n,
        sorted_values.mean() if isinstance(sorted_values, Ranked) else float(sorted_values.mean()),
        at_rank(sorted_values, n),
        {pct_key(p): percentile(sorted_values, p) for p in PERCENTILES},
    )
