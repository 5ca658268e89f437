"""The run's stage clock: which stage of the scenario is running, in every Locust process.

Each process starts the clock at its own ``test_start`` and follows the run's
:class:`~crmload.core.timeline.Timeline`; the master (or the local runner) drives the users with
:class:`loadtests.shape.ScenarioShape` on the same timeline, writes ``stages.json`` with the stages
as they actually ran, and sends the timeline to the workers whenever the conductor changes it.
"""

from __future__ import annotations

import time
from typing import Any

from crmload.core.scenario import Scenario
from crmload.core.timeline import Timeline


class StageClock:
    def __init__(self, scenario: Scenario, timeline: Timeline | None = None) -> None:
        self.scenario = scenario
        self.timeline = timeline if timeline is not None else Timeline.of(scenario)
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
        found = self.timeline.at(self.elapsed())
        return found[0] if found is not None else len(self.timeline.stages) - 1

    def wall_at(self, elapsed_s: float) -> float:
        assert self.wall_t0 is not None
        return self.wall_t0 + elapsed_s

    def follow(self, data: dict[str, Any]) -> None:
        """Take the master's timeline (:meth:`Timeline.to_data`), if newer than this one."""
        if self.wall_t0 is None or int(data.get("version", 0)) < self.timeline.version:
            return
        self.timeline = Timeline.from_data(data, self.wall_t0)
