"""The run's stage clock: which stage of the scenario is running, in every Locust process.

Each process starts the clock at its own ``test_start``; the master (or the local runner) drives
the users with :class:`loadtests.shape.ScenarioShape` on the same timeline and writes
``stages.json`` with the stages as they actually ran.
"""

from __future__ import annotations

import time

from crmload.core.scenario import Scenario


class StageClock:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._t0: float | None = None
        self.wall_t0: float | None = None

    def start(self) -> None:
        self._t0 = time.monotonic()
        self.wall_t0 = time.time()

    def elapsed(self) -> float:
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    def stage_index(self) -> int:
        if self._t0 is None:
            return -1
        found = self.scenario.stage_at(self.elapsed())
        return found[0] if found is not None else len(self.scenario.stages) - 1

    def wall_at(self, elapsed_s: float) -> float:
        assert self.wall_t0 is not None
        return self.wall_t0 + elapsed_s
