"""Open-model arrivals: iterations start on schedule, whatever the CRM's speed.

A scenario stage with ``arrival_rate: R`` asks for R iterations per second of the open persona.
A pool of pre-allocated users (``open_model.max_users``) carries them, as k6's
``constant-arrival-rate`` does: each free user claims the next intended start time
``t_k = t_(k-1) + 1/R`` from this process's :class:`ArrivalScheduler`, sleeps until it, and runs
the iteration. When every user is busy, claimed slots lie in the past: the iteration starts late and
records ``schedule_lag_ms`` (the coordinated-omission correction the analysis adds back). A slot
later than ``open_model.max_lag`` is not run at all: it is recorded as a ``dropped`` row, never hidden.

With several load generators, each takes the share of the rate that its part of the pool is of
the whole pool, so the total rate is R.
"""

from __future__ import annotations

from collections.abc import Callable

import gevent

from crmload.loadtests.clock import StageClock


class ArrivalScheduler:
    def __init__(
        self,
        clock: StageClock,
        pool_total: int,
        max_lag_s: float,
        share: Callable[[], float],
        on_drop: Callable[[float, float], None],
    ) -> None:
        self.clock = clock
        self.pool_total = pool_total
        self.max_lag_s = max_lag_s
        self._share = share
        self._on_drop = on_drop  # (intended wall ts, lag ms)
        self._next: float | None = None  # elapsed seconds of the next unclaimed slot

    def next_slot(self) -> tuple[float, float] | None:
        """Wait for and claim the next intended start; returns (intended wall ts, lag ms) or None at the end."""
        while True:
            timeline = self.clock.timeline  # the master may replace it while the run goes
            now = self.clock.elapsed()
            if self._next is None:
                self._next = now
            found = timeline.at(self._next)
            if found is None:
                return None
            index, stage = found
            rate = stage.arrival_rate * self._share()
            if rate <= 0:
                # nothing to start in this stage: jump to the next stage's start and wait for it
                # (a stage that awaits the conductor has no planned end: look again in a second)
                self._next = min(timeline.start_s(index + 1), now + 1.0)
                gevent.sleep(max(0.0, min(self._next - now, 1.0)))
                continue
            slot = self._next
            self._next = slot + 1.0 / rate
            wait = slot - now
            if wait > 0:
                gevent.sleep(wait)
                return self.clock.wall_at(slot), 0.0
            lag_s = -wait
            if lag_s > self.max_lag_s:
                self._on_drop(self.clock.wall_at(slot), lag_s * 1000.0)
                continue
            return self.clock.wall_at(slot), lag_s * 1000.0
