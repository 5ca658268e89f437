"""The run's timeline: which stage runs when, planned from the scenario and changed as the run goes.

Stages run one after another. A fixed stage runs for its ``duration``; a stage held until decided
runs up to its ``max`` unless it is ended sooner; a ceiling search replaces the stages after the
current one. The changes come from the conductor (:mod:`crmload.conductor`), which judges the run
from its files; the Locust master (or the local runner) applies them and sends its timeline to
the workers, so that every process agrees on the stage of every moment.

With a conductor (``awaited``), a stage whose end is decided as it runs (held until decided, or a
step of a ceiling search) has no planned end: it runs until the conductor ends it, so that no
process moves on before the decision. Without one (plain ``locust -f``) such a stage runs for its
longest: a held stage for its ``max``, a search step for its ``duration``.

Times are seconds since the process's own start of the test (``elapsed``); a timeline crosses
processes as data with wall-clock times (:meth:`Timeline.to_data`, :meth:`Timeline.from_data`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from crmload.core.scenario import Scenario, Stage


@dataclass
class Timeline:
    stages: list[Stage]
    ended: dict[int, float] = field(default_factory=dict)  # stage -> elapsed s it was ended at
    stopped_at: float | None = None  # elapsed s after which nothing runs
    version: int = 0  # increases with every change
    awaited: bool = False  # a conductor decides the end of the stages that await it
    search: bool = False  # the scenario searches a ceiling: its steps await the conductor

    @classmethod
    def of(cls, scenario: Scenario, awaited: bool = False) -> Timeline:
        return cls(list(scenario.stages), awaited=awaited, search=scenario.search is not None)

    def awaits(self, index: int) -> bool:
        """Whether stage ``index`` runs until the conductor ends it."""
        return self.awaited and self.stages[index].decided_as_it_runs(self.search)

    def start_s(self, index: int) -> float:
        """When stage ``index`` starts (or would start, as planned now)."""
        t = 0.0
        for i in range(min(index, len(self.stages))):
            t = self.end_s(i, t)
        return t

    def end_s(self, index: int, start: float | None = None) -> float:
        """When stage ``index`` ends: when it was ended, else after its longest run."""
        if index in self.ended:
            return self.ended[index]
        if self.awaits(index):
            return math.inf
        begin = self.start_s(index) if start is None else start
        return begin + self.stages[index].longest_s

    def at(self, elapsed: float) -> tuple[int, Stage] | None:
        """The stage running at ``elapsed``, or None once every stage has run (or the run stopped)."""
        if self.stopped_at is not None and elapsed >= self.stopped_at:
            return None
        t = 0.0
        for i, stage in enumerate(self.stages):
            t = self.end_s(i, t)
            if elapsed < t:
                return i, stage
        return None

    def end_stage(self, index: int, at: float) -> None:
        """End stage ``index`` at ``at`` (no earlier than its start); the next stage starts then."""
        if index in self.ended or index >= len(self.stages):
            return
        self.ended[index] = max(at, self.start_s(index))
        self.version += 1

    def replace_after(self, index: int, stages: list[Stage]) -> None:
        """The stages after ``index`` become ``stages`` (a ceiling search's next step, or none)."""
        self.stages = self.stages[: index + 1] + list(stages)
        self.ended = {i: t for i, t in self.ended.items() if i <= index}
        self.version += 1

    def stop(self, at: float) -> None:
        self.stopped_at = at if self.stopped_at is None else min(at, self.stopped_at)
        self.version += 1

    def to_data(self, wall_t0: float) -> dict[str, Any]:
        return {
            "version": self.version,
            "stages": [s.model_dump(mode="json") for s in self.stages],
            "ended": {str(i): wall_t0 + t for i, t in self.ended.items()},
            "stopped": None if self.stopped_at is None else wall_t0 + self.stopped_at,
            "awaited": self.awaited,
            "search": self.search,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], wall_t0: float) -> Timeline:
        stopped = data.get("stopped")
        return cls(
            [Stage.model_validate(s) for s in data["stages"]],
            {int(i): float(t) - wall_t0 for i, t in data.get("ended", {}).items()},
            None if stopped is None else float(stopped) - wall_t0,
            int(data.get("version", 0)),
            bool(data.get("awaited", False)),
            bool(data.get("search", False)),
        )
