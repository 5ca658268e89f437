"""Deciding a clause while the load goes on: a fixed number of looks, the error spent across them.

A stage that is held "until decided" is judged again and again as its samples grow, and moves on
at the first look at which every judged clause is decided. Judging each look at the nominal 95 %
would not be valid: every look is another chance for an interval to miss, and a rule that stops at
the first decision inherits the worst of them (with ten looks, a true p95 sitting exactly at its
limit would be called PASS or FAIL far more often than 5 % of the time).

Method: **Bonferroni over K planned looks** — the simplest alpha-spending function (Lan & DeMets,
"Discrete sequential boundaries for clinical trials", Biometrika 70, 1983), spending α/K at each
look. Look k of K judges with intervals at confidence ``1 − α/K`` (:func:`look_confidence`). By
the union bound the probability that any of the K intervals misses the true value is at most α,
so whatever the look at which the rule stops, its decision is wrong with probability at most α.
Looks are planned by sample count, doubling from the clause's minimum (:func:`planned_looks`), so
K stays small (five looks cover a 16-fold range) and little confidence is spent per look.
``tests/test_sequential.py`` checks the false-decision rate by simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.expr import Limit
from crmload.analysis.verdict import INCONCLUSIVE, Result, judge_limit

Judged = Callable[[NDArray[np.float64], float], Result]  # (ascending latencies, confidence) -> result


def look_confidence(confidence: float, looks: int) -> float:
    """The confidence of each of ``looks`` looks so that all of them together hold ``confidence``."""
    if looks < 1:
        raise ValueError("looks must be at least 1")
    return 1.0 - (1.0 - confidence) / looks


def planned_looks(first: int, last: int) -> list[int]:
    """Sample counts at which to look: ``first``, doubling, up to and including ``last``."""
    if first < 1 or last < first:
        raise ValueError(f"need 1 <= first <= last (got {first}, {last})")
    out = [first]
    while out[-1] * 2 < last:
        out.append(out[-1] * 2)
    if out[-1] != last:
        out.append(last)
    return out


@dataclass(frozen=True)
class Decision:
    result: Result  # the decided result, or the last look's INCONCLUSIVE one
    look: int  # 1-based index of the look that decided (the last look when none did)
    samples: int


def decide(samples: NDArray[np.float64], looks: list[int], judged: Judged, confidence: float = 0.95) -> Decision:
    """Judge ``samples`` (in arrival order) at each planned look; stop at the first decision.

    ``judged(sorted_latencies, confidence)`` judges one look; every look uses the confidence
    :func:`look_confidence` gives for ``len(looks)`` looks."""
    level = look_confidence(confidence, len(looks))
    result: Result | None = None
    for i, n in enumerate(looks, start=1):
        if n > len(samples):
            break
        result = judged(np.sort(samples[:n]), level)
        if result.status != INCONCLUSIVE:
            return Decision(result, i, n)
    if result is None:
        result = judged(np.sort(samples), level)
    return Decision(result, len(looks), min(len(samples), looks[-1]))


def latency_judge(limit: Limit, min_tail: int = 5) -> Judged:
    """A :data:`Judged` for one latency limit on successful samples (as :mod:`verdict` judges it)."""

    def judged(latencies: NDArray[np.float64], confidence: float) -> Result:
        return judge_limit(
            limit,
            clause_id="SEQ",
            title="sequential",
            scope="all",
            latencies_sorted=latencies,
            n_all=len(latencies),
            failures=0,
            apdex_t_ms=500.0,
            failed_mask=None,
            all_latencies=None,
            confidence=confidence,
            min_tail=min_tail,
        )

    return judged
