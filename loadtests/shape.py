"""The scenario as a Locust load shape, and ``stages.json`` as the stages actually ran."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from locust import LoadTestShape

from crmload.core.control import read_decisions
from crmload.core.scenario import Scenario, Stage
from crmload.core.timeline import Timeline
from crmload.loadtests.stopwatch import StopWatch

log = logging.getLogger(__name__)

# a stage that awaits the conductor runs at most this long past its longest before it moves on
# by itself (the conductor is gone or stuck): the run still ends
CONDUCTOR_GRACE_S = 30.0


class StageLog:
    """Records each stage's actual UTC start and end; rewritten at every transition (crash-safe)."""

    def __init__(self, scenario: Scenario, run_dir: Path) -> None:
        self.scenario = scenario
        self.path = run_dir / "stages.json"
        self.stages: list[dict[str, Any]] = []

    def enter(self, index: int, stage: Stage | None = None, planned_start_s: float | None = None) -> None:
        now = time.time()
        if self.stages and self.stages[-1]["index"] == index:
            return
        if self.stages and self.stages[-1]["end"] is None:
            self.stages[-1]["end"] = now
        stage = stage if stage is not None else self.scenario.stages[index]
        start_s = planned_start_s if planned_start_s is not None else self.scenario.stage_start_s(index)
        plan = self.scenario.stage_plan(index, stage, start_s)
        self.stages.append({**plan, "start": now, "end": None})
        self._write()

    def decided(self, index: int, cut: float, record: dict[str, Any]) -> None:
        """The conductor ended stage ``index``: its samples end at ``cut``, ``record`` says how."""
        for entry in self.stages:
            if entry["index"] == index and entry["end"] is None:
                entry.update(record)
                entry["end"] = max(entry["start"], min(cut, time.time()))
                self._write()

    def close(self) -> None:
        if self.stages and self.stages[-1]["end"] is None:
            self.stages[-1]["end"] = time.time()
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stages, indent=1))
        tmp.replace(self.path)


class ScenarioShape(LoadTestShape):
    """Closed users of the current stage, plus the open model's pool of users when the scenario has one.

    The stages follow the run's :class:`~crmload.core.timeline.Timeline`; with a conductor, its
    decisions (``control.json`` in the run directory) end held stages and choose a ceiling search's
    next step, and every change is passed to ``on_timeline`` (the workers' clocks)."""

    scenario: Scenario
    timeline: Timeline
    run_dir: Path | None = None
    stage_log: StageLog | None = None
    pool_users: int = 0
    finished: bool = False  # every stage ran to its end
    stop_watch: StopWatch | None = None
    on_timeline: ClassVar[Callable[[Timeline, float], None] | None] = None
    _applied: int = 0  # the last decision applied
    _control_mtime: float = 0.0

    def wall_t0(self) -> float:
        return time.time() - float(self.get_run_time())

    def _apply_decisions(self, now: float) -> None:
        if self.run_dir is None:
            return
        path = self.run_dir / "control.json"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if mtime == type(self)._control_mtime:
            return
        type(self)._control_mtime = mtime
        for d in read_decisions(self.run_dir):
            if d.seq <= type(self)._applied:
                continue
            type(self)._applied = d.seq
            if d.next is not None:
                self.timeline.replace_after(d.stage, [Stage.model_validate(s) for s in d.next])
            self.timeline.end_stage(d.stage, now)
            if d.stop:
                self.timeline.stop(now)
            if self.stage_log is not None:
                self.stage_log.decided(d.stage, d.cut, d.record)
        self._announce()

    def _announce(self) -> None:
        """The timeline changed: every process's clock follows it."""
        if type(self).on_timeline is not None:
            type(self).on_timeline(self.timeline, self.wall_t0())  # type: ignore[misc]

    def _overdue(self, now: float) -> None:
        """A stage that awaits the conductor and is far past its longest ends by itself."""
        tl = self.timeline
        found = tl.at(now)
        if found is None or not tl.awaits(found[0]):
            return
        index, stage = found
        if now > tl.start_s(index) + stage.longest_s + CONDUCTOR_GRACE_S:
            log.warning("stage %s: no decision from the conductor; moving on as planned", stage.name)
            tl.end_stage(index, now)
            self._announce()

    def tick(self) -> tuple[int, float] | None:
        if self.stop_watch is not None and self.stop_watch.check(time.time()) is not None:
            if self.stage_log is not None:
                self.stage_log.close()
            return None  # a stop criterion holds: Locust stops the users, as at the end of the last stage
        now = self.get_run_time()
        self._apply_decisions(now)
        self._overdue(now)
        found = self.timeline.at(now)
        if found is None:
            type(self).finished = True  # the last stage ended, or the conductor ended the run
            if self.stage_log is not None:
                self.stage_log.close()
            return None
        index, stage = found
        if self.stage_log is not None:
            self.stage_log.enter(index, stage, self.timeline.start_s(index))
        spawn_rate = stage.spawn_rate
        if self.pool_users and self.get_current_user_count() < self.pool_users:
            spawn_rate += self.pool_users  # the open model's pool is spawned first, within a second
        return stage.users + self.pool_users, spawn_rate
