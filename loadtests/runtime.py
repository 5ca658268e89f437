"""The per-process state of a crmload Locust run: scenario, capture, stage clock, arrivals, test data.

:func:`install` is called once from the locustfile at import time: it configures the persona
classes from the scenario (weights, pacing, the open model's pool) and hooks the capture into
Locust's events.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from locust import constant, events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from crmload.core.errors import ConfigError
from crmload.core.operations import (
    ACCESS_RECORDS,
    CLOSED_PERSONAS,
    PERSONAS,
    PROBE_OPERATIONS,
    REFERENCE_ACCESS_RULES,
)
from crmload.core.personas import JOURNEYS, class_weight, journey_coverage
from crmload.core.rundir import META_FILE, RunStatus, new_meta, upgrade_module_name, utc_text, write_meta
from crmload.core.scenario import Scenario, stopped_reason
from crmload.core.timeline import Timeline
from crmload.loadtests.adapter import CrmAdapter
from crmload.loadtests.arrivals import ArrivalScheduler
from crmload.loadtests.capture import Capture
from crmload.loadtests.clock import StageClock
from crmload.loadtests.settings import Settings, method_problem, settings, split_adapter_spec
from crmload.loadtests.shape import ScenarioShape, StageLog
from crmload.loadtests.stopwatch import StopWatch
from crmload.loadtests.testdata import TestData, load_testdata


@dataclass
class Runtime:
    settings: Settings
    scenario: Scenario
    clock: StageClock
    capture: Capture
    adapter_class: type[CrmAdapter]
    scheduler: ArrivalScheduler | None
    _testdata: TestData | None = None
    _runnable: set[str] | None = None

    def runnable_journeys(self, journeys: dict[str, float]) -> list[str]:
        """The journeys of ``journeys`` the adapter can run at all (all of them when it can run none:
        the preflight refuses such a persona before the load)."""
        if self._runnable is None:
            supported = self.adapter_class.supported_operations()
            self._runnable = {j for p in JOURNEYS.values() for j in p if journey_coverage(j, supported)[0] != "not"}
        return [j for j in journeys if j in self._runnable] or list(journeys)

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
    """``"module:Class"`` → the adapter class (a subclass of :class:`CrmAdapter`).

    Raises :class:`ConfigError` naming the spec and the fix; crmload 0.1's module names
    (``loadtests.…``) are read as ``crmload.loadtests.…``."""
    spec = upgrade_module_name(spec)
    module_name, class_name = split_adapter_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        fix = "put the module on PYTHONPATH (or in the working directory)"
        if exc.name in ("loadtests", "analysis", "democrm"):
            fix = f"crmload's modules moved under crmload.*: import crmload.{exc.name} instead of {exc.name}"
        raise ConfigError("--adapter", None, None, None, f"{spec}: cannot import {module_name} ({exc})", fix) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, CrmAdapter)):
        raise ConfigError(
            "--adapter",
            None,
            None,
            None,
            f"{spec} is not a subclass of crmload.loadtests.adapter.CrmAdapter",
            "subclass CrmAdapter (README, 'Testing your own CRM')",
        )
    for klass in cls.__mro__:  # the adapter's own classes, up to CrmAdapter and crmload's helper bases
        if klass is CrmAdapter or klass.__module__.startswith("crmload.loadtests.adapters."):
            break
        for name, value in vars(klass).items():
            problem = method_problem(name) if callable(value) else None
            if problem:
                msg, _, fix = problem.partition(" — fix: ")
                raise ConfigError("--adapter", None, None, f"{klass.__name__}.{name}", msg.split(": ", 1)[1], fix)
    _check_access_rules(cls)
    return cls


def _check_access_rules(cls: type[CrmAdapter]) -> None:
    """Every declared access rule names a role, an operation crmload can probe and the adapter has."""
    supported = cls.supported_operations()
    inherited = cls.access_rules is REFERENCE_ACCESS_RULES  # the default: its rules the adapter cannot try are left out
    for i, rule in enumerate(cls.access_rules):
        where = f"{cls.__name__}.access_rules[{i}]"
        if rule.operation not in PROBE_OPERATIONS:
            raise ConfigError("--adapter", None, None, where, f"crmload cannot probe {rule.operation!r}",
                              f"use one of {', '.join(PROBE_OPERATIONS)}")  # fmt: skip
        if rule.operation not in supported and not inherited:
            method = rule.operation.replace(".", "_", 1)
            raise ConfigError("--adapter", None, None, where, f"the adapter has no method for {rule.operation}",
                              f"implement {method}, or drop the rule")  # fmt: skip
        if rule.records not in ACCESS_RECORDS:
            raise ConfigError("--adapter", None, None, where, f"records {rule.records!r} is none crmload knows",
                              f"use one of {', '.join(ACCESS_RECORDS)}")  # fmt: skip
        if rule.role not in {p.role for p in PERSONAS.values()}:
            raise ConfigError("--adapter", None, None, where, f"no persona logs in as role {rule.role!r}",
                              f"use one of {', '.join(sorted({p.role for p in PERSONAS.values()}))}")  # fmt: skip


def configure_personas(scenario: Scenario, classes: dict[str, Any]) -> None:
    """Set each persona class's weight, pacing and (open model) pool size from the scenario."""
    for name, cls in classes.items():
        cfg = scenario.personas.get(name)  # type: ignore[call-overload]
        cls.abstract = cfg is None or (name in CLOSED_PERSONAS and cfg.weight == 0)
        if cfg is None:
            continue
        if name in CLOSED_PERSONAS:
            cls.weight = class_weight(cfg.weight)
            cls.wait_time = constant(cfg.pacing)
        else:
            has_arrivals = any(s.arrival_rate > 0 for s in scenario.stages)
            cls.fixed_count = scenario.open_model.max_users if has_arrivals else 0
            cls.abstract = not has_arrivals


class _Hooks:
    """The Locust event listeners of one process's runtime (registered once, by :func:`install`)."""

    def __init__(self, rt: Runtime, shape: type[ScenarioShape]) -> None:
        self.rt = rt
        self.shape = shape
        self.has_arrivals = any(st.arrival_rate > 0 for st in rt.scenario.stages)

    def pool_share(self) -> float:
        runner = self.rt.capture.env.runner
        if isinstance(runner, WorkerRunner):
            return runner.target_user_classes_count.get("IntegrationUser", 0) / self.rt.scenario.open_model.max_users
        return 1.0

    def on_init(self, environment: Environment, **_kw: Any) -> None:
        options = environment.parsed_options
        if isinstance(environment.runner, LocalRunner | MasterRunner) and getattr(options, "headless", False):
            self._graceful_sigterm()
        rt, scenario = self.rt, self.rt.scenario
        # let users finish the request they are in when the test stops (Locust's default kills them
        # mid-request: the CRM would serve a request that no sample records)
        if not environment.stop_timeout:
            environment.stop_timeout = 5.0
        rt.capture = Capture(environment, rt.settings.run_dir, rt.clock.stage_index)
        if scenario.stop_when and isinstance(environment.runner, LocalRunner | MasterRunner):
            watch = StopWatch(list(scenario.stop_when), rt.settings.failure_outcomes)
            rt.capture.watch = self.shape.stop_watch = watch
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner.register_message("crmload_timeline", self.on_timeline_message)
        elif isinstance(runner, LocalRunner | MasterRunner):
            self.shape.on_timeline = self.timeline_changed
        if self.has_arrivals:
            rt.scheduler = ArrivalScheduler(
                rt.clock,
                scenario.open_model.max_users,
                scenario.open_model.max_lag,
                self.pool_share,
                rt.capture.dropped_iteration,
            )

    def _graceful_sigterm(self) -> None:
        """SIGTERM stops a run as Ctrl-C does. Headless Locust with a load shape waits for the shape in
        the main greenlet and installs its SIGTERM handler only after it (Locust 2.47): a SIGTERM
        during the run would kill the process outright and lose the samples not yet written. Until
        the shape ends, a SIGTERM is turned into the KeyboardInterrupt Locust handles there."""
        import signal

        import gevent
        import greenlet

        main = greenlet.getcurrent()
        shape = self.shape

        def on_term() -> None:
            if not shape.finished and not main.dead:
                main.throw(KeyboardInterrupt)

        gevent.signal_handler(signal.SIGTERM, on_term)

    def on_timeline_message(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        self.rt.clock.follow(msg.data)

    def timeline_changed(self, timeline: Timeline, wall_t0: float) -> None:
        """The conductor changed the timeline: this process's clock and every worker's follow it."""
        data = timeline.to_data(wall_t0)
        self.rt.clock.follow(data)
        runner = self.rt.capture.env.runner
        if isinstance(runner, MasterRunner):
            runner.send_message("crmload_timeline", data)

    def on_test_start(self, environment: Environment, **_kw: Any) -> None:
        rt, s = self.rt, self.rt.settings
        rt.clock.start()
        runner = environment.runner
        if isinstance(runner, LocalRunner | MasterRunner):
            s.run_dir.mkdir(parents=True, exist_ok=True)
            self.shape.stage_log = StageLog(rt.scenario, s.run_dir)
            self.shape.run_dir = s.run_dir
            (s.run_dir / "locust.json").write_text(
                json.dumps(
                    {
                        "runner": type(runner).__name__,
                        "started": rt.clock.wall_t0,
                        "scenario": str(s.scenario_path),
                        "adapter": s.adapter,
                    },
                    indent=1,
                )
            )
        if isinstance(runner, WorkerRunner):
            rt.testdata.offset = max(0, runner.worker_index) * 7

    def on_quitting(self, environment: Environment, **_kw: Any) -> None:
        """Plain ``locust -f`` (no ``crmload run``): leave a meta.json so that ``crmload analyze`` can judge."""
        rt, s, shape = self.rt, self.rt.settings, self.shape
        if not isinstance(environment.runner, LocalRunner | MasterRunner) or os.environ.get("CRMLOAD_MANAGED"):
            return
        if (s.run_dir / META_FILE).exists() or rt.clock.wall_t0 is None:
            return
        stopped = shape.stop_watch.tripped if shape.stop_watch is not None else None
        if shape.finished:
            status, reason = RunStatus.COMPLETED, "all stages ran"
        elif stopped:
            status, reason = RunStatus.STOPPED, stopped_reason(stopped)
        else:
            status, reason = RunStatus.INTERRUPTED, "stopped before the last stage ended"
        s.run_dir.mkdir(parents=True, exist_ok=True)
        meta = new_meta(
            source="locust",
            scenario_name=rt.scenario.name,
            scenario_file=str(s.scenario_path),
            scenario=rt.scenario.model_dump(mode="json"),
            scenario_plan=rt.scenario.stages_plan(),
            failure_outcomes=sorted(s.failure_outcomes),
            target=environment.host,
            target_url=environment.host,
            adapter=s.adapter,
            locust_version=metadata.version("locust"),
            runner=type(environment.runner).__name__,
            started_utc=utc_text(rt.clock.wall_t0),
            ended_utc=utc_text(),
            status=status,
            status_reason=reason,
        )
        write_meta(s.run_dir, meta)


def install(classes: dict[str, Any], shape: type[ScenarioShape]) -> Runtime:
    """Configure the persona classes and the shape from the scenario; hook capture into Locust.

    Idempotent: a locustfile imported twice (Locust imports it by path, a test or a tool by its
    module name) registers its event listeners once."""
    global _RUNTIME
    if _RUNTIME is not None:
        return _RUNTIME
    s = settings()
    scenario = s.scenario
    configure_personas(scenario, classes)
    has_arrivals = any(st.arrival_rate > 0 for st in scenario.stages)
    shape.scenario = scenario
    shape.timeline = Timeline.of(scenario, awaited=s.conducted)
    shape.pool_users = scenario.open_model.max_users if has_arrivals and "integration" in scenario.personas else 0
    rt = Runtime(
        settings=s,
        scenario=scenario,
        clock=StageClock(scenario, Timeline.of(scenario, awaited=s.conducted)),
        capture=None,  # type: ignore[arg-type]  # made by the init event, when Locust has an environment
        adapter_class=load_adapter(s.adapter),
        scheduler=None,
    )
    _RUNTIME = rt
    hooks = _Hooks(rt, shape)
    events.init.add_listener(hooks.on_init)
    events.test_start.add_listener(hooks.on_test_start)
    events.quitting.add_listener(hooks.on_quitting)
    return rt
