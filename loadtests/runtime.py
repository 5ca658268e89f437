"""The per-process state of a crmload Locust run: scenario, capture, stage clock, arrivals, test data.

:func:`install` is called once from the locustfile at import time: it configures the persona
classes from the scenario (weights, pacing, the open model's pool) and hooks the capture into
Locust's events.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from locust import constant, events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from crmload import SCHEMA_VERSION, __version__
from crmload.scenario import CLOSED_PERSONAS, Scenario, stopped_reason
from loadtests.adapter import CrmAdapter
from loadtests.arrivals import ArrivalScheduler
from loadtests.capture import Capture
from loadtests.clock import StageClock
from loadtests.settings import Settings, settings
from loadtests.shape import ScenarioShape, StageLog
from loadtests.stopwatch import StopWatch
from loadtests.testdata import TestData, load_testdata


@dataclass
class Runtime:
    settings: Settings
    scenario: Scenario
    clock: StageClock
    capture: Capture
    adapter_class: type[CrmAdapter]
    scheduler: ArrivalScheduler | None
    _testdata: TestData | None = None

    @property
    def testdata(self) -> TestData:
        if self._testdata is None:
            self._testdata = load_testdata(self.settings.testdata_path)
        return self._testdata


_RUNTIME: Runtime | None = None


def get() -> Runtime:
    if _RUNTIME is None:
        raise RuntimeError("crmload runtime not installed: run Locust with -f loadtests/locustfile.py")
    return _RUNTIME


def load_adapter(spec: str) -> type[CrmAdapter]:
    """``"module:Class"`` → the adapter class (a subclass of :class:`CrmAdapter`)."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"adapter must be 'module:Class' (got {spec!r})")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, CrmAdapter)):
        raise TypeError(f"{spec} is not a subclass of loadtests.adapter.CrmAdapter")
    return cls


def configure_personas(scenario: Scenario, classes: dict[str, Any]) -> None:
    """Set each persona class's weight, pacing and (open model) pool size from the scenario."""
    for name, cls in classes.items():
        cfg = scenario.personas.get(name)  # type: ignore[call-overload]
        cls.abstract = cfg is None or (name in CLOSED_PERSONAS and cfg.weight == 0)
        if cfg is None:
            continue
        if name in CLOSED_PERSONAS:
            cls.weight = max(1, round(cfg.weight * 10))
            cls.wait_time = constant(cfg.pacing)
        else:
            has_arrivals = any(s.arrival_rate > 0 for s in scenario.stages)
            cls.fixed_count = scenario.open_model.max_users if has_arrivals else 0
            cls.abstract = not has_arrivals


def install(classes: dict[str, Any], shape: type[ScenarioShape]) -> Runtime:
    """Configure the persona classes and the shape from the scenario; hook capture into Locust."""
    global _RUNTIME
    s = settings()
    scenario = s.scenario
    configure_personas(scenario, classes)
    clock = StageClock(scenario)
    has_arrivals = any(st.arrival_rate > 0 for st in scenario.stages)
    shape.scenario = scenario
    shape.pool_users = scenario.open_model.max_users if has_arrivals and "integration" in scenario.personas else 0
    rt = Runtime(
        settings=s,
        scenario=scenario,
        clock=clock,
        capture=None,  # type: ignore[arg-type]
        adapter_class=load_adapter(s.adapter),
        scheduler=None,
    )
    _RUNTIME = rt

    def pool_share() -> float:
        runner = rt.capture.env.runner
        if isinstance(runner, WorkerRunner):
            return runner.target_user_classes_count.get("IntegrationUser", 0) / scenario.open_model.max_users
        return 1.0

    def on_init(environment: Environment, **_kw: Any) -> None:
        # let users finish the request they are in when the test stops (Locust's default kills them
        # mid-request: the CRM would serve a request that no sample records)
        if not environment.stop_timeout:
            environment.stop_timeout = 5.0
        rt.capture = Capture(environment, s.run_dir, clock.stage_index)
        if scenario.stop_when and isinstance(environment.runner, LocalRunner | MasterRunner):
            rt.capture.watch = shape.stop_watch = StopWatch(list(scenario.stop_when))
        if has_arrivals:
            rt.scheduler = ArrivalScheduler(
                clock,
                scenario.open_model.max_users,
                scenario.open_model.max_lag,
                pool_share,
                rt.capture.dropped_iteration,
            )

    def on_test_start(environment: Environment, **_kw: Any) -> None:
        clock.start()
        runner = environment.runner
        if isinstance(runner, LocalRunner | MasterRunner):
            s.run_dir.mkdir(parents=True, exist_ok=True)
            shape.stage_log = StageLog(scenario, s.run_dir)
            (s.run_dir / "locust.json").write_text(
                json.dumps(
                    {
                        "runner": type(runner).__name__,
                        "started": clock.wall_t0,
                        "scenario": str(s.scenario_path),
                        "adapter": s.adapter,
                    },
                    indent=1,
                )
            )
        if isinstance(runner, WorkerRunner):
            rt.testdata.offset = max(0, runner.worker_index) * 7

    def on_quitting(environment: Environment, **_kw: Any) -> None:
        """Plain ``locust -f`` (no ``crmload run``): leave a meta.json so that ``crmload analyze`` can judge."""
        if not isinstance(environment.runner, LocalRunner | MasterRunner) or os.environ.get("CRMLOAD_MANAGED"):
            return
        meta_path = s.run_dir / "meta.json"
        if meta_path.exists() or clock.wall_t0 is None:
            return
        stopped = shape.stop_watch.tripped if shape.stop_watch is not None else None
        status = "completed" if shape.finished else "stopped" if stopped else "interrupted"
        s.run_dir.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(
            json.dumps(
                {
                    "schema_version": SCHEMA_VERSION,
                    "crmload_version": __version__,
                    "source": "locust",
                    "scenario_name": scenario.name,
                    "scenario_file": str(s.scenario_path),
                    "scenario": scenario.model_dump(mode="json"),
                    "scenario_plan": scenario.stages_plan(),
                    "target": environment.host,
                    "adapter": s.adapter,
                    "runner": type(environment.runner).__name__,
                    "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.wall_t0)),
                    "ended_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "status": status,
                    "status_reason": {
                        "completed": "all stages ran",
                        "stopped": stopped_reason(stopped) if stopped else "",
                    }.get(status, "stopped before the last stage ended"),
                },
                indent=1,
            )
        )

    events.init.add_listener(on_init)
    events.test_start.add_listener(on_test_start)
    events.quitting.add_listener(on_quitting)
    return rt
