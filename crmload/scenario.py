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

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from crmload.units import DurationS
from crmload.yamlio import load_model

CLOSED_PERSONAS = ("sales", "service", "marketing", "manager")
OPEN_PERSONAS = ("integration",)
PERSONAS = CLOSED_PERSONAS + OPEN_PERSONAS
MAX_TOTAL_DURATION_S = 48 * 3600


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Stage(_Frozen):
    name: str = Field(min_length=1, max_length=60)
    duration: DurationS = Field(gt=0)
    users: int = Field(0, ge=0, le=100_000)
    spawn_rate: float = Field(10.0, gt=0)
    arrival_rate: float = Field(0.0, ge=0, le=100_000)
    warmup: DurationS | None = Field(None, ge=0, description="left out of steady-state statistics")
    judged: bool = Field(True, description="false: a ramp or cool-down, left out of the verdict")

    @model_validator(mode="after")
    def _some_load(self) -> Stage:
        if self.users == 0 and self.arrival_rate == 0:
            raise ValueError("a stage needs users > 0 or arrival_rate > 0 | fix: set users or arrival_rate")
        return self

    @property
    def kind(self) -> str:
        return "arrival_rate" if self.arrival_rate > 0 and self.users == 0 else "users"


class Scenario(_Frozen):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    size: Literal["tiny", "small", "default"] = "small"
    personas: dict[Literal["sales", "service", "marketing", "manager", "integration"], Persona] = Field(min_length=1)
    open_model: OpenModel = Field(default_factory=OpenModel)
    stages: list[Stage] = Field(min_length=1, max_length=1000)
    warmup: DurationS = Field(0.0, ge=0, description="default warm-up left out at the start of each stage")
    judge: list[str] | None = Field(None, description="clause ids this scenario is judged on (default: all)")
    required_users: int | None = Field(None, ge=1, description="concurrency PERF-CONC-01 asks for")

    @field_validator("stages")
    @classmethod
    def _consistent(cls, stages: list[Stage], info: ValidationInfo) -> list[Stage]:
        total = sum(s.duration for s in stages)
        if total > MAX_TOTAL_DURATION_S:
            raise ValueError(f"stages add up to {total / 3600:.1f} h, over the 48 h bound | fix: shorten the stages")
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
        return sum(s.duration for s in self.stages)

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
                }
            )
            for s in self.stages
        ]
        return self.model_copy(update={"stages": stages, "warmup": self.warmup * d_factor})

    def stages_plan(self) -> list[dict[str, Any]]:
        return [
            {
                "index": i,
                "name": s.name,
                "kind": s.kind,
                "target": {"users": s.users, "arrival_rate": s.arrival_rate},
                "planned_start_s": self.stage_start_s(i),
                "planned_duration_s": s.duration,
                "warmup_s": self.warmup if s.warmup is None else s.warmup,
                "judged": s.judged,
            }
            for i, s in enumerate(self.stages)
        ]


def load_scenario(path: Path) -> Scenario:
    """Load and validate a scenario file; errors name file, line, field and fix."""
    return load_model(Scenario, path)
