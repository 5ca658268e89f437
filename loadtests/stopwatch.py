"""Windowed stop criteria, evaluated while the load runs (on the process that writes the samples).

Each criterion holds when its metric, computed per second over the requests that completed in that
second, stays above its limit for ``for`` seconds. Seconds without a completed request neither
extend nor break a streak. Probes of access control are left out: their denials are expected.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from crmload.core.rundir import DEFAULT_FAILURE_OUTCOMES, Outcome
from crmload.core.scenario import StopWhen


@dataclass
class _Second:
    n: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)


class StopWatch:
    def __init__(self, criteria: list[StopWhen], failures: frozenset[Outcome] = DEFAULT_FAILURE_OUTCOMES) -> None:
        """``failures``: the outcomes that count as failures, the standard's (``defaults.failure_outcomes``)."""
        self.criteria = criteria
        self.failures = failures
        self.horizon = int(max((c.for_s for c in criteria), default=0)) + 2
        self._seconds: dict[int, _Second] = {}
        self._order: deque[int] = deque()
        self.tripped: dict[str, float | str] | None = None

    def add(self, ts: float, response_ms: float, outcome: str) -> None:
        if not self.criteria:
            return
        sec = int(ts)
        bucket = self._seconds.get(sec)
        if bucket is None:
            bucket = self._seconds[sec] = _Second()
            self._order.append(sec)
            while len(self._order) > 4 * self.horizon + 10:
                self._seconds.pop(self._order.popleft(), None)
        bucket.n += 1
        if outcome in self.failures:
            bucket.failures += 1
        elif outcome == Outcome.OK:
            bucket.latencies.append(response_ms)

    @staticmethod
    def _value(c: StopWhen, b: _Second) -> float | None:
        if c.metric == "failure_rate":
            return b.failures / b.n if b.n else None
        if not b.latencies:
            return None
        ordered = sorted(b.latencies)
        rank = max(1, math.ceil(float(c.metric[1:]) / 100.0 * len(ordered) - 1e-9))
        return ordered[rank - 1] / 1000.0

    def check(self, now: float) -> str | None:
        """The criterion that holds at ``now`` (whole seconds before it), described; None if none."""
        if self.tripped is not None:
            return str(self.tripped["criterion"])
        last = int(now) - 1  # the last complete second
        for c in self.criteria:
            streak_start = None
            for sec in range(last, last - 4 * self.horizon, -1):
                b = self._seconds.get(sec)
                if b is None or b.n == 0:
                    continue
                v = self._value(c, b)
                if v is None:
                    continue
                if v <= c.above:
                    break
                streak_start = sec
            if streak_start is not None and last + 1 - streak_start >= c.for_s:
                self.tripped = {"criterion": c.describe(), "at": now}
                return c.describe()
        return None
