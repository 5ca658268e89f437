"""Scenario files: who the virtual users are, what they do, and the load over time.

A scenario is a list of stages. A stage runs for ``duration`` and sets the closed-model
``users`` (interactive personas, ramped at ``spawn_rate`` users/s) and the open-model
``arrival_rate`` (iterations/s started for the open persona, integration by default, whatever
the CRM's speed). Durations accept ``90``, ``"90s"``, ``"5m"``, ``"1h"``.

    name: pre-launch
    size: small
    personas:
      sales:   {weight: 4, think_time: [1s, 3s]}
      service: {weight: 3}
    stages:
      - {name: ramp, users: 50, spawn_rate: 5, duration: 1m}
      - {name: hold, users: 50, duration: 5m}
"""

from __future__ import annotations

import difflib
import itertools
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from crmload.core.errors import ConfigError, ConfigErrors
from crmload.core.operations import CLOSED_PERSONAS, OPEN_PERSONAS, PERSONA_NAMES, PersonaName
from crmload.core.personas import JOURNEYS, OPTIONS, option_value, weight_option
from crmload.core.units import DurationS, Fraction, parse_duration_s, parse_fraction
from crmload.core.yamlio import compose, field_name, key_mark, load_model, locate

PERSONAS = PERSONA_NAMES
__all__ = ["CLOSED_PERSONAS", "OPEN_PERSONAS", "PERSONAS", "Scenario", "load_scenario"]
MAX_TOTAL_DURATION_S = 48 * 3600


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Persona(_Frozen):
    """How one persona behaves. ``weight`` shares the closed users among personas."""

    weight: float = Field(1.0, ge=0)
    think_time: tuple[DurationS, DurationS] = (1.0, 3.0)
    pacing: DurationS = Field(0.0, ge=0, description="pause between two journeys of one user")
    options: dict[str, float | int | str | bool] = Field(default_factory=dict)

    @field_validator("think_time")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] < 0 or v[1] < v[0]:
            raise ValueError(
                f"think_time must be [min, max] with 0 <= min <= max (got {list(v)}) | fix: write e.g. [1s, 3s]"
            )
        return v


class OpenModel(_Frozen):
    """The open (arrival-rate) model: a pool of pre-allocated users that start iterations on schedule."""

    persona: Literal["integration"] = "integration"
    max_users: int = Field(20, ge=1, le=10_000, description="pool of users that carry the arrivals")
    max_lag: DurationS = Field(1.0, gt=0, description="an iteration later than this is dropped and counted")


class StopWhen(_Frozen):
    """A windowed stop criterion (like Taurus' pass/fail ``for``): the run ends when ``metric`` of
    every second with completed requests stays above ``above`` for ``for`` seconds. Protects a real
    CRM once a capacity climb has clearly passed its ceiling.

        stop_when:
          - {metric: failure_rate, above: 10%, for: 15s}
          - {metric: p95, above: 6s, for: 30s}
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)
    metric: Literal["failure_rate", "p50", "p95", "p99"]
    above: float = Field(gt=0, description="a fraction (10%) for failure_rate, a duration (6s, 500ms) for latency")
    for_s: DurationS = Field(alias="for", gt=0, le=3600)

    @field_validator("above", mode="before")
    @classmethod
    def _number(cls, v: Any, info: ValidationInfo) -> Any:
        if info.data.get("metric") != "failure_rate":
            return parse_duration_s(v)
        value = parse_fraction(v)
        if isinstance(value, int | float) and not 0 < value <= 1:
            raise ValueError(f"a failure rate must be between 0 and 100 % (got {v!r}) | fix: write e.g. 10%")
        return value

    def describe(self) -> str:
        above = f"{self.above * 100:g} %" if self.metric == "failure_rate" else f"{self.above * 1000:g} ms"
        return f"{self.metric} above {above} for {self.for_s:g} s"


def stopped_reason(tripped: dict[str, Any]) -> str:
    """A run's status reason when a stop criterion ended it (``tripped``: the stop watch's record)."""
    when = time.strftime("%H:%M:%SZ", time.gmtime(float(tripped["at"])))
    return f"stopped early at {when} by the scenario's stop criterion: {tripped['criterion']}"


class Stage(_Frozen):
    name: str = Field(min_length=1, max_length=60)
    duration: DurationS = Field(gt=0)
    users: int = Field(0, ge=0, le=100_000)
    spawn_rate: float = Field(10.0, gt=0)
    arrival_rate: float = Field(0.0, ge=0, le=100_000)
    warmup: DurationS | None = Field(None, ge=0, description="left out of steady-state statistics")
    judged: bool = Field(True, description="false: a ramp or cool-down, left out of the verdict")
    surge: bool = Field(False, description="a promotion surge: judged on its own, recovery measured after it")
    hold: Literal["fixed", "until-decided"] = Field(
        "fixed", description="until-decided: judged as it runs, it ends once decided (after duration, by max)"
    )
    max: DurationS | None = Field(None, gt=0, description="until-decided: the longest the stage runs")

    @model_validator(mode="after")
    def _some_load(self) -> Stage:
        if self.users == 0 and self.arrival_rate == 0:
            raise ValueError("a stage needs users > 0 or arrival_rate > 0 | fix: set users or arrival_rate")
        if self.hold == "until-decided":
            if self.max is None:
                raise ValueError("hold: until-decided needs a max | fix: add e.g. max: 10m (the longest it may run)")
            if self.max < self.duration:
                raise ValueError(
                    f"max ({self.max:g} s) is shorter than duration ({self.duration:g} s), the first look"
                    " | fix: make max at least duration"
                )
        elif self.max is not None:
            raise ValueError("max is only read with hold: until-decided | fix: add hold: until-decided or drop max")
        return self

    @property
    def held(self) -> bool:
        return self.hold == "until-decided"

    def look_seconds(self, warmup_s: float) -> list[float]:
        """Steady seconds at which a held stage is judged: after ``duration``, doubling, up to ``max``
        (the looks of :mod:`crmload.conductor`; their number K sets each look's level, 1 − α/K)."""
        first = max(1.0, self.duration - warmup_s)
        last = max(first, self.longest_s - warmup_s)
        looks = [first]
        while looks[-1] * 2 < last:
            looks.append(looks[-1] * 2)
        if looks[-1] < last:
            looks.append(last)
        return looks

    def decided_as_it_runs(self, search: bool) -> bool:
        """Whether its end is decided while it runs: held until decided, or a judged step of a
        scenario that searches its ceiling (``search``)."""
        return self.held or (search and self.judged and self.users > 0)

    @property
    def longest_s(self) -> float:
        """How long the stage may run: ``max`` when held until decided, else ``duration``."""
        return self.max if self.held and self.max is not None else self.duration

    @property
    def kind(self) -> str:
        return "arrival_rate" if self.arrival_rate > 0 and self.users == 0 else "users"


class Search(_Frozen):
    """A ceiling search (``kind: capacity``): once a step breaks, steps between the last passing and
    the first broken load, each halving the gap, until it is at most ``resolution`` of the passing
    users. Each refinement step runs like the step that broke (duration, warm-up, hold, max)."""

    resolution: Fraction = Field(0.1, gt=0, le=1, description="the gap to stop at, a share of the passing users")

    def resolved(self, passing: int, broken: int) -> bool:
        """Whether the gap between the highest passing and the lowest broken load is small enough."""
        return broken - passing <= max(1.0, self.resolution * passing)

    @staticmethod
    def midpoint(passing: int, broken: int) -> int:
        """The next load to test between them."""
        return (passing + broken) // 2


class Scenario(_Frozen):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    size: Literal["tiny", "small", "default"] = "small"
    personas: dict[PersonaName, Persona] = Field(min_length=1)
    open_model: OpenModel = Field(default_factory=OpenModel)
    warmup: DurationS = Field(0.0, ge=0, description="default warm-up left out at the start of each stage")
    stages: list[Stage] = Field(min_length=1, max_length=1000)
    judge: list[str] | None = Field(None, description="clause ids this scenario is judged on (default: all)")
    required_users: int | None = Field(None, ge=1, description="concurrency PERF-CONC-01 asks for")
    kind: Literal["steady", "capacity", "surge", "soak"] = Field(
        "steady", description="capacity: a staircase judged step by step for the concurrency ceiling"
    )
    stop_when: list[StopWhen] = Field(default_factory=list, description="end the run early when one holds")
    recovery_window: DurationS = Field(10.0, gt=0, le=3600, description="rolling window of the surge recovery")
    max_drift: float = Field(0.1, gt=0, le=10, description="soak: p95 growth over the run that counts as drift")
    search: Search | None = Field(None, description="capacity: refine between the last passing and first broken step")
    budget: DurationS | None = Field(None, gt=0, description="the longest the run may take; the planner checks it")
    ceiling_clauses: list[str] | None = Field(
        None, description="capacity: clauses every step must show compliant (default: latency and failure rate)"
    )

    @field_validator("max_drift", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        return parse_fraction(v)

    @field_validator("judge")
    @classmethod
    def _judges_something(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("judge: [] would judge nothing | fix: name clause ids, or drop judge to judge them all")
        if v is not None and len(set(v)) != len(v):
            twice = sorted({c for c in v if v.count(c) > 1})
            raise ValueError(f"judge names {', '.join(twice)} twice | fix: name each clause once")
        return v

    @field_validator("search")
    @classmethod
    def _search_on_a_staircase(cls, v: Search | None, info: ValidationInfo) -> Search | None:
        if v is not None and info.data.get("kind", "capacity") != "capacity":
            raise ValueError("search is read only with kind: capacity | fix: add kind: capacity or drop search")
        return v

    @field_validator("stages")
    @classmethod
    def _consistent(cls, stages: list[Stage], info: ValidationInfo) -> list[Stage]:
        total = sum(s.longest_s for s in stages)
        if total > MAX_TOTAL_DURATION_S:
            raise ValueError(f"stages add up to {total / 3600:.1f} h, over the 48 h bound | fix: shorten the stages")
        default_warmup = info.data.get("warmup", 0.0)
        for i, st in enumerate(stages):
            warm = default_warmup if st.warmup is None else st.warmup
            if st.judged and warm >= st.duration:
                whose = "its warmup" if st.warmup is not None else "the scenario's warmup"
                raise ValueError(
                    f"stages[{i}] ({st.name}): {whose} of {warm:g} s leaves nothing of its {st.duration:g} s to judge"
                    " | fix: make the warm-up shorter than the stage, or mark the stage judged: false"
                )
        personas = info.data.get("personas")
        if personas is None:
            return stages  # personas itself is wrong; that is reported on its own
        if any(s.arrival_rate > 0 for s in stages) and "integration" not in personas:
            raise ValueError(
                "a stage has arrival_rate but personas has no 'integration' entry"
                " | fix: add 'integration: {}' under personas"
            )
        if any(s.users > 0 for s in stages) and not any(
            p in personas and personas[p].weight > 0 for p in CLOSED_PERSONAS
        ):
            raise ValueError(
                "stages ask for users but no closed persona (sales, service, marketing, manager)"
                " has weight > 0 | fix: add one under personas"
            )
        return stages

    @property
    def total_duration_s(self) -> float:
        """The planned run: every stage for its ``duration`` (held stages for their shortest)."""
        return sum(s.duration for s in self.stages)

    @property
    def conducted(self) -> bool:
        """Stages whose end is decided while the run goes (held until decided, or a ceiling search)."""
        return self.search is not None or any(s.held for s in self.stages)

    def refinements(self) -> int:
        """The most refinement steps a ceiling search can add: bisections of the widest gap between
        two adjacent steps down to the resolution."""
        if self.search is None:
            return 0
        users = sorted({s.users for s in self.stages if s.judged and s.users > 0})
        worst = 0
        for low, high in itertools.pairwise(users):
            n, hi = 0, high
            while not self.search.resolved(low, hi):
                hi, n = self.search.midpoint(low, hi), n + 1  # the worst case: every refinement breaks
            worst = max(worst, n)
        return worst

    @property
    def worst_case_s(self) -> float:
        """The longest the run can take by its stages: held stages for their ``max``, and a ceiling
        search's refinement steps each as long as the longest step."""
        longest = sum(s.longest_s for s in self.stages)
        steps = [s.longest_s for s in self.stages if s.judged and s.users > 0]
        return longest + self.refinements() * max(steps, default=0.0)

    @property
    def longest_duration_s(self) -> float:
        """The longest the run can take: :attr:`worst_case_s`, capped by ``budget``."""
        worst = self.worst_case_s
        return min(worst, self.budget) if self.budget is not None else worst

    def stage_at(self, elapsed_s: float) -> tuple[int, Stage] | None:
        """The stage running ``elapsed_s`` seconds after the start, or None once all have run."""
        t = 0.0
        for i, stage in enumerate(self.stages):
            t += stage.duration
            if elapsed_s < t:
                return i, stage
        return None

    def stage_start_s(self, index: int) -> float:
        return sum(s.duration for s in self.stages[:index])

    def scaled(
        self,
        *,
        users: int | None = None,
        rate_factor: float | None = None,
        duration_s: float | None = None,
        duration_factor: float | None = None,
    ) -> Scenario:
        """A copy with loads and durations scaled, for command-line overrides.

        ``users``: the peak closed users become this number, every stage in proportion.
        ``duration_s``: the whole run lasts this long, every stage in proportion.
        Raises pydantic's ``ValidationError`` when the result breaks a scenario's bounds.
        """
        u_factor = 1.0
        peak = max(s.users for s in self.stages)
        if users is not None and peak > 0:
            u_factor = users / peak
        d_factor = duration_factor or 1.0
        if duration_s is not None:
            d_factor = duration_s / self.total_duration_s
        r_factor = rate_factor or 1.0
        stages = [
            s.model_copy(
                update={
                    "users": max(1, round(s.users * u_factor)) if s.users else 0,
                    "arrival_rate": s.arrival_rate * r_factor,
                    "duration": s.duration * d_factor,
                    "warmup": None if s.warmup is None else s.warmup * d_factor,
                    "max": None if s.max is None else s.max * d_factor,
                }
            )
            for s in self.stages
        ]
        budget = None if self.budget is None else self.budget * d_factor
        scaled = self.model_copy(update={"stages": stages, "warmup": self.warmup * d_factor, "budget": budget})
        # a copy is not validated: the scaled scenario must keep the bounds a file is held to
        return Scenario.model_validate(scaled.model_dump(mode="json", by_alias=True))

    def warmup_s(self, stage: Stage) -> float:
        """The warm-up left out at the start of ``stage``: its own, else the scenario's."""
        return self.warmup if stage.warmup is None else stage.warmup

    def stage_plan(self, index: int, stage: Stage, start_s: float) -> dict[str, Any]:
        """One stage's record in ``stages.json`` before it runs (the plan; start and end are added)."""
        return {
            "index": index,
            "name": stage.name,
            "kind": stage.kind,
            "target": {"users": stage.users, "arrival_rate": stage.arrival_rate},
            "planned_start_s": start_s,
            "planned_duration_s": stage.duration,
            "warmup_s": self.warmup_s(stage),
            "judged": stage.judged,
            "surge": stage.surge,
            "hold": stage.hold,
            "max_s": stage.max,
        }

    def stages_plan(self) -> list[dict[str, Any]]:
        return [self.stage_plan(i, s, self.stage_start_s(i)) for i, s in enumerate(self.stages)]


def load_scenario(path: Path) -> Scenario:
    """Load and validate a scenario file; errors name file, line, field and fix."""
    scenario = load_model(Scenario, path)
    problems = option_problems(scenario)
    if problems:
        _data, node = compose(path)
        errors = []
        for loc, problem, fix in problems:
            line, col = key_mark(node, loc) if problem == "unknown option" else locate(node, loc)[:2]
            errors.append(ConfigError(path, line, col, field_name(loc), problem, fix))
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return scenario


def option_problems(scenario: Scenario) -> list[tuple[tuple[str, ...], str, str]]:
    """Persona options that the journeys do not know or cannot use: (location, problem, fix)."""
    problems: list[tuple[tuple[str, ...], str, str]] = []
    for persona, cfg in scenario.personas.items():
        known, found = OPTIONS[persona], len(problems)
        for key, value in cfg.options.items():
            loc = ("personas", persona, "options", key)
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                fix = f"did you mean '{close[0]}'?" if close else f"{persona} knows: " + ", ".join(sorted(known))
                problems.append((loc, "unknown option", fix))
            elif (why := known[key].problem(value)) is not None:
                option = known[key]
                problems.append((loc, f"{key} {why}", f"write e.g. {key}: {option.default:g} ({option.help})"))
        if len(problems) > found or cfg.weight == 0:
            continue
        if not any(option_value(persona, cfg.options, weight_option(j)) for j in JOURNEYS[persona]):
            fix = "give one weight_<journey> a weight above 0"
            problems.append((("personas", persona, "options"), "every journey weight is 0", fix))
    return problems
