"""The standard as data: ``thresholds.yaml``.

Two kinds of entries, each judged to PASS / FAIL / INCONCLUSIVE:

- ``classes``: groups of operations (login, interactive read, ...) with p50/p95/p99 and error-rate
  limits and an Apdex T; each class is judged per operation as clause ``CLS-<ID>``.
- ``clauses``: the standard's numbered requirements (``PERF-RT-01`` ...), each with a metric, a
  selection of samples (operations, persona, journey, stage, kind) and limits, written either as
  k6 expressions (``p(95) < 3s``) or in the structured form (``p95: 3s``).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from crmload.analysis.expr import ExprError, Limit, parse_limit
from crmload.core.operations import OPERATION_NAMES, PERSONA_NAMES, PersonaName
from crmload.core.rundir import FAILURE_OUTCOME_ORDER, Outcome
from crmload.core.units import DurationS, Fraction
from crmload.core.yamlio import load_model

OUTCOMES = tuple(o.value for o in Outcome if o is not Outcome.DROPPED)
CANONICAL_OPERATIONS = OPERATION_NAMES
PERSONAS = PERSONA_NAMES
FailureOutcome = Literal["http_4xx", "http_5xx", "timeout", "connection", "check_failed", "throttled", "auth_lost"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_ops(ops: list[str]) -> list[str]:
    for op in ops:
        if op not in CANONICAL_OPERATIONS:
            close = difflib.get_close_matches(op, CANONICAL_OPERATIONS, n=1)
            known = "use a canonical operation name (crmload/core/operations.py lists them)"
            hint = f"did you mean '{close[0]}'?" if close else known
            raise ValueError(f"unknown operation {op!r} | fix: {hint}")
    return ops


class Defaults(_Frozen):
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_tail_samples: int = Field(5, ge=1, description="samples needed above a judged percentile")
    failure_outcomes: list[FailureOutcome] = Field(
        default_factory=lambda: [cast(FailureOutcome, str(o)) for o in FAILURE_OUTCOME_ORDER]
    )
    generator_cpu_limit: float = Field(90.0, gt=0, le=100)
    generator_saturated_share: Fraction = Field(0.1, ge=0, le=1)
    busy_share_limit: Fraction = Field(
        0.5,
        gt=0,
        le=1,
        description="closed model: share of user time spent "
        "waiting on the CRM above which percentiles are lower bounds",
    )
    # the clauses whose limits the charts draw and a surge's recovery is measured against; by
    # default the first latency clause with a p95 limit and the first failure-rate clause
    latency_clause: str | None = None
    failure_rate_clause: str | None = None


class OperationClass(_Frozen):
    id: str = Field(pattern=r"^[A-Z0-9-]+$")
    title: str
    operations: list[str] = Field(min_length=1)
    p50: DurationS | None = Field(None, gt=0)
    p95: DurationS | None = Field(None, gt=0)
    p99: DurationS | None = Field(None, gt=0)
    error_rate: Fraction | None = Field(None, ge=0, le=1)
    apdex_t: DurationS = Field(0.5, gt=0)
    apdex_min: float | None = Field(None, ge=0, le=1)

    @field_validator("operations")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return _check_ops(v)

    def limits(self) -> list[Limit]:
        out = []
        for pct in ("p50", "p95", "p99"):
            v = getattr(self, pct)
            if v is not None:
                out.append(Limit(pct, "<=", v * 1000.0, f"{pct} <= {v:g}s"))
        if self.error_rate is not None:
            out.append(Limit("rate", "<=", self.error_rate, f"rate <= {self.error_rate * 100:g}%"))
        if self.apdex_min is not None:
            out.append(Limit("apdex", ">=", self.apdex_min, f"apdex >= {self.apdex_min:g}"))
        return out

    def as_clause(self) -> Clause:
        """The class as the clause ``CLS-<id>`` it is judged as: its limits on each of its operations."""
        return Clause(
            id=f"CLS-{self.id}",
            title=self.title,
            select=Select(operations=self.operations),
            per="operation",
            limits=[lim.text for lim in self.limits()],
            apdex_t=self.apdex_t,
        )


class Select(_Frozen):
    """Which samples a clause judges. Empty fields select everything."""

    operations: list[str] = Field(default_factory=list)
    persona: list[PersonaName] = Field(default_factory=list)
    journey: list[str] = Field(default_factory=list)
    stage: list[str] = Field(default_factory=list)
    kind: Literal["request", "journey"] = "request"

    @field_validator("operations")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return _check_ops(v)


# the metrics judged as "zero breaches" on a count from the whole run (no limit of their own)
ZERO_TOLERANCE_METRICS: tuple[str, ...] = ("forbidden_granted", "lost_writes", "sessions_lost")


class Clause(_Frozen):
    id: str
    title: str
    source: str = ""
    metric: Literal[
        "latency", "failure_rate", "apdex", "concurrency", "forbidden_granted", "lost_writes", "sessions_lost"
    ] = "latency"
    select: Select = Field(default_factory=Select)
    per: Literal["none", "operation", "persona", "journey", "stage"] = "none"
    limits: list[str] = Field(default_factory=list)
    apdex_t: DurationS = Field(0.5, gt=0)
    required_users: int | None = Field(None, ge=1)

    @field_validator("id")
    @classmethod
    def _id_form(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9-]+", v):
            raise ValueError(
                f"a clause id is capital letters, digits and '-' | fix: write e.g. {v.upper() or 'PERF-RT-01'}"
            )
        return v

    @model_validator(mode="before")
    @classmethod
    def _structured(cls, data: Any) -> Any:
        """Accept ``limit: "p(95) < 3s"`` (one) and the structured ``p95: 3s`` / ``rate: 1%`` forms."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        limits = data.pop("limit", None)
        exprs: list[str] = list(data.get("limits") or [])
        if limits is not None:
            exprs += limits if isinstance(limits, list) else [limits]
        for key in list(data):
            if key in ("p50", "p75", "p90", "p95", "p99", "p99.9", "avg", "max"):
                exprs.append(f"{key if not key.startswith('p') else 'p(' + key[1:] + ')'} <= {data.pop(key)}")
            elif key == "max_rate":
                exprs.append(f"rate <= {data.pop(key)}")
        data["limits"] = exprs
        return data

    @field_validator("limits")
    @classmethod
    def _parse(cls, v: list[str]) -> list[str]:
        for text in v:
            try:
                parse_limit(str(text))
            except ExprError as exc:
                raise ValueError(str(exc)) from None
        return [str(t) for t in v]

    @model_validator(mode="after")
    def _has_limit(self) -> Clause:
        if self.metric not in ("concurrency", *ZERO_TOLERANCE_METRICS) and not self.limits:
            raise ValueError(f"clause {self.id} has no limit | fix: add e.g. limit: 'p(95) < 3s'")
        return self

    @field_validator("limits")
    @classmethod
    def _kinds_agree(cls, v: list[str], info: ValidationInfo) -> list[str]:
        """A clause's metric and its limits must mean the same thing: a failure-rate clause with a
        latency limit would otherwise be judged as latency, and a standard weakened unseen."""
        metric = info.data.get("metric", "latency")
        wanted = {"failure_rate": ("rate", "rate < 1%"), "apdex": ("apdex", "apdex >= 0.85")}.get(metric)
        for text in v:
            lim = parse_limit(text)
            if wanted is not None and lim.metric != wanted[0]:
                raise ValueError(
                    f"metric: {metric} with the limit {text!r}, which is not a {wanted[0]} limit"
                    f" | fix: write e.g. limit: '{wanted[1]}', or give the clause the metric it limits"
                )
            if metric in ("concurrency", *ZERO_TOLERANCE_METRICS) and text.replace(" ", "") != "count==0":
                raise ValueError(f"metric: {metric} takes no limit (got {text!r}) | fix: remove the limit")
            if lim.metric == "apdex" and not 0 <= lim.value <= 1:
                raise ValueError(f"an Apdex score lies between 0 and 1 (got {text!r}) | fix: write e.g. apdex >= 0.85")
        return v

    @property
    def parsed(self) -> tuple[Limit, ...]:
        if not self.limits and self.metric in ZERO_TOLERANCE_METRICS:
            return (parse_limit("count == 0"),)
        return tuple(parse_limit(t) for t in self.limits)


class Thresholds(_Frozen):
    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    classes: list[OperationClass] = Field(default_factory=list)
    clauses: list[Clause] = Field(default_factory=list)

    @field_validator("clauses")
    @classmethod
    def _unique(cls, clauses: list[Clause], info: ValidationInfo) -> list[Clause]:
        ids = [c.id for c in clauses] + [f"CLS-{k.id}" for k in info.data.get("classes") or []]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(
                f"clause ids must be unique; repeated: {', '.join(dup)} | fix: give each clause its own id"
            )
        return clauses

    @model_validator(mode="after")
    def _named_clauses(self) -> Thresholds:
        ids = {c.id for c in self.clauses}
        for field in ("latency_clause", "failure_rate_clause"):
            named = getattr(self.defaults, field)
            if named is not None and named not in ids:
                close = difflib.get_close_matches(named, sorted(ids), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"name one of {', '.join(sorted(ids))}"
                raise ValueError(f"defaults.{field}: no clause {named!r} in this standard | fix: {hint}")
        return self

    def all_ids(self) -> list[str]:
        return [c.id for c in self.clauses] + [f"CLS-{k.id}" for k in self.classes]

    def latency_clause(self) -> Clause | None:
        """``defaults.latency_clause``, else the first latency clause with a p95 limit (PERF-RT-01)."""
        named = self.defaults.latency_clause
        if named is not None:
            return next(c for c in self.clauses if c.id == named)
        return next(
            (c for c in self.clauses if c.metric == "latency" and any(lim.percentile == 95 for lim in c.parsed)),
            None,
        )

    def ceiling_clauses(self, named: list[str] | None = None) -> set[str]:
        """The clauses that define a capacity ceiling: every step must show them compliant (a
        scenario's ``ceiling_clauses``, else the latency and failure-rate clauses)."""
        if named:
            return set(named)
        found = (self.latency_clause(), self.failure_rate_clause())
        return {c.id for c in found if c is not None}

    def failure_rate_clause(self) -> Clause | None:
        """``defaults.failure_rate_clause``, else the first failure-rate clause (PERF-ERR-01)."""
        named = self.defaults.failure_rate_clause
        if named is not None:
            return next(c for c in self.clauses if c.id == named)
        return next((c for c in self.clauses if c.metric == "failure_rate"), None)

    def lookup_p95_limit_ms(self) -> float | None:
        """The latency clause's p95 limit (ms): the line drawn on latency charts and the surge's recovery bar."""
        c = self.latency_clause()
        return next((lim.value for lim in c.parsed if lim.percentile == 95), None) if c else None

    def failure_rate_limit(self) -> float | None:
        """The failure-rate clause's rate limit."""
        c = self.failure_rate_clause()
        return next((lim.value for lim in c.parsed if lim.metric == "rate"), None) if c else None


def load_thresholds(path: Path) -> Thresholds:
    return load_model(Thresholds, path)
