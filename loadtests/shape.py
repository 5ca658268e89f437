"""The scenario as a Locust load shape, and ``stages.json`` as the stages actually ran."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from locust import LoadTestShape

from crmload.core.scenario import Scenario
from crmload.loadtests.stopwatch import StopWatch


class StageLog:
    """Records each stage's actual UTC start and end; rewritten at every transition (crash-safe)."""

    def __init__(self, scenario: Scenario, run_dir: Path) -> None:
        self.scenario = scenario
        self.path = run_dir / "stages.json"
        self.stages: list[dict[str, Any]] = []

    def enter(self, index: int) -> None:
        now = time.time()
        if self.stages and self.stages[-1]["index"] == index:
            return
        if self.stages:
            self.stages[-1]["end"] = now
        stage = self.scenario.stages[index]
        plan = self.scenario.stages_plan()[index]
        self.stages.append({**plan, "name": stage.name, "start": now, "end": None})
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
    """Closed users of the current stage, plus the open model's pool of users when the scenario has one."""

    scenario: Scenario
    stage_log: StageLog | None = None
    pool_users: int = 0
    finished: bool = False  # every stage ran to its end
    stop_watch: StopWatch | None = None

    def tick(self) -> tuple[int, float] | None:
        if self.stop_watch is not None and self.stop_watch.check(time.time()) is not None:
            if self.stage_log is not None:
                self.stage_log.close()
            return None  # a stop criterion holds: Locust stops the users, as at the end of the last stage
        found = self.scenario.stage_at(self.get_run_time())
        if found is None:
            type(self).finished = True
            if self.stage_log is not None:
                self.stage_log.close()
            return None
        index, stage = found
        if self.stage_log is not None:
            self.stage_log.enter(index)
        spawn_rate = stage.spawn_rate
        if self.pool_users and self.get_current_user_count() < self.pool_users:
            spawn_rate += self.pool_users  # the open model's pool is spawned first, within a second
        return stage.users + self.pool_users, spawn_rate
