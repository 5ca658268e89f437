"""The sample planner: before any load, how many samples each judged clause will get, against how
many it needs to be decided, and what would decide the ones that cannot be.

Method. For each stage, the request rate of every (persona, journey, operation) comes from the
scenario alone:

- closed personas: the stage's ``users`` shared by persona weight in whole users, as Locust's
  dispatcher shares them (:func:`crmload.core.personas.allocate_users`); one user's iteration lasts
  ``E[T] = (1 - probe_share) * sum_j w_j * (thinks_j * mean_think + requests_j * R) + probe_share * R
  + pacing`` (journey weights ``w_j`` normalised, the journeys' profiles from
  :func:`crmload.core.personas.profile`), so a persona's rate of an operation is
  ``users_p * (1 - probe_share) * sum_j w_j * ops_j / E[T]``;
- the open persona: ``arrival_rate`` iterations per second, shared by journey weight.

``R`` is the mean response time per request: 0 unless given (``--response-time``, or measured on a
recorded run with ``--like RUN_DIR``). With ``R = 0`` a closed model's counts are upper bounds:
a clause short of samples then is certainly undecidable.

A clause is judged where the verdict judges it: on the steady windows of the judged stages pooled
(``steady``, ``soak``), step by step (``capacity``), and also on the surge stage alone (``surge``).
The samples it needs for a decision in the best case (every request fast and successful):

- a percentile p: :func:`crmload.analysis.stats.min_samples_for` (an upper bound and
  ``min_tail_samples`` above it); with ``per:`` every group needs them;
- a rate limit L: with no failure the Wilson upper bound is ``z^2 / (n + z^2)``, below L only for
  ``n > z^2 (1 - L) / L`` (3,838 requests for 0.1 %, 381 for 1 %), on the pooled requests;
- Apdex: 2; ``max`` or ``min``: 1; ``avg``: 30; zero-tolerance counts: 10 checks over the run;
- the required concurrency: a judged stage at least that high.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from crmload.analysis.expr import Limit
from crmload.analysis.sequential import look_confidence
from crmload.analysis.stats import min_samples_for, z_value
from crmload.analysis.thresholds import ZERO_TOLERANCE_METRICS, Clause, Select, Thresholds
from crmload.analysis.verdict import MIN_ZERO_TOLERANCE_CHECKS
from crmload.core.operations import CLOSED_PERSONAS, OPERATIONS
from crmload.core.personas import JOURNEYS, OPTIONS, allocate_users, option_value, profile, weight_option
from crmload.core.scenario import Scenario, Stage
from crmload.core.units import format_duration

# writes whose answer the journeys remember for the lost-write audit (DATA-01)
_UNAUDITED_WRITES = {"auth.login", "campaign.launch", "ticket.assign"}

Key = tuple[str, str, str]  # (persona, journey, operation)


@dataclass
class Rates:
    """Per-second rates in one stage: requests by (persona, journey, operation), journeys by
    (persona, journey), access-control probes and acknowledged writes."""

    requests: dict[Key, float] = field(default_factory=lambda: defaultdict(float))
    journeys: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    probes: float = 0.0
    writes: float = 0.0


def _iteration(persona: str, options: dict[str, Any]) -> tuple[dict[str, float], float]:
    """(journey -> share of a persona's iterations, share of iterations that probe access control)."""
    weights = {j: option_value(persona, options, weight_option(j)) for j in JOURNEYS[persona]}
    total = sum(weights.values())
    shares = {j: w / total for j, w in weights.items()} if total > 0 else {}
    probe = option_value(persona, options, "probe_share") if "probe_share" in OPTIONS[persona] else 0.0
    return shares, probe


def stage_rates(scenario: Scenario, stage: Stage, response_s: float = 0.0) -> Rates:
    """The rates of ``stage`` (see the module's method)."""
    out = Rates()
    closed = {p: c for p, c in scenario.personas.items() if p in CLOSED_PERSONAS and c.weight > 0}
    # whole users per persona, as Locust's dispatcher shares them (8 users of weights 3, 3, 2, 1 are 3, 2, 2, 1)
    allocated = allocate_users(stage.users, {p: c.weight for p, c in closed.items()})
    for persona, cfg in scenario.personas.items():
        options = dict(cfg.options)
        shares, probe = _iteration(persona, options)
        if not shares:
            continue
        profiles = {j: profile(j, options) for j in shares}
        if persona in closed:
            users = float(allocated[persona])
            think = (cfg.think_time[0] + cfg.think_time[1]) / 2.0
            busy = sum(s * (profiles[j].thinks * think + profiles[j].requests * response_s) for j, s in shares.items())
            cycle = (1.0 - probe) * busy + probe * response_s + cfg.pacing
            iterations = users / cycle if cycle > 0 else 0.0
        elif persona not in CLOSED_PERSONAS:
            iterations, probe = stage.arrival_rate, 0.0
        else:
            continue
        out.probes += iterations * probe
        for j, s in shares.items():
            rate = iterations * (1.0 - probe) * s
            out.journeys[(persona, j)] += rate
            for op, count in profiles[j].operations.items():
                out.requests[(persona, j, op)] += rate * count
                if OPERATIONS[op].write and op not in _UNAUDITED_WRITES:
                    batch = option_value(persona, options, "batch_size") if op == "order.sync" else 1.0
                    out.writes += rate * count * (2.0 if op == "import.bulk" else batch)
    return out


@dataclass(frozen=True)
class Window:
    """Where the verdict judges clauses: ``name``, the stages pooled, their steady seconds (held
    stages at their ``max``), the confidence they are judged at (higher for held stages: 1 − α/K)."""

    name: str
    stages: tuple[int, ...]
    seconds: float
    suffix: str = ""  # "@surge": the clause ids the verdict gives there
    confidence: float | None = None  # None: the standard's
    step: bool = False  # a capacity step: limits it cannot bound are tested for a breach only


@dataclass(frozen=True)
class Need:
    clause_id: str
    window: str
    scope: str
    limit: str
    expected: float  # samples the window is expected to get (an upper bound when R = 0, closed model)
    needed: int
    rate_per_s: float  # of those samples, in the window
    advice: str
    breach_only: bool = False  # a capacity step tests it for a breach only; compliance on the steps pooled

    @property
    def decidable(self) -> bool:
        return self.expected >= self.needed or self.breach_only

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decidable": self.decidable}


@dataclass(frozen=True)
class Plan:
    scenario: str
    response_s: float
    windows: tuple[Window, ...]
    needs: tuple[Need, ...]
    duration_s: float
    longest_s: float = 0.0  # held stages at their max, a search's refinements: the longest the run takes
    problems: tuple[str, ...] = ()  # what the plan cannot keep (a budget the run may exceed)

    @property
    def undecidable(self) -> list[Need]:
        return [n for n in self.needs if not n.decidable]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "response_time_s": self.response_s,
            "duration_s": self.duration_s,
            "windows": [asdict(w) for w in self.windows],
            "needs": [n.to_dict() for n in self.needs],
            "longest_s": self.longest_s,
            "problems": list(self.problems),
            "undecidable": len(self.undecidable),
            "method": (__doc__ or "").split("Method.", 1)[-1].strip(),
        }


def _steady_s(scenario: Scenario, stage: Stage) -> float:
    """The steady seconds a stage may get: held stages to their ``max``."""
    return max(0.0, stage.longest_s - scenario.warmup_s(stage))


def _level(scenario: Scenario, indices: tuple[int, ...], confidence: float) -> float | None:
    """The confidence held stages are judged at (the highest of them), or None without one."""
    held = [scenario.stages[i] for i in indices if scenario.stages[i].held]
    levels = [look_confidence(confidence, len(s.look_seconds(scenario.warmup_s(s)))) for s in held]
    return max(levels) if levels else None


def windows(scenario: Scenario, confidence: float = 0.95) -> list[Window]:
    judged = [i for i, s in enumerate(scenario.stages) if s.judged]
    if scenario.kind == "capacity":
        steps = [i for i in judged if scenario.stages[i].users > 0]
        return [
            Window(s.name, (i,), _steady_s(scenario, s), "", _level(scenario, (i,), confidence), True)
            for i in steps
            for s in [scenario.stages[i]]
        ]
    out = [
        Window(
            "judged stages",
            tuple(judged),
            sum(_steady_s(scenario, scenario.stages[i]) for i in judged),
            "",
            _level(scenario, tuple(judged), confidence),
        )
    ]
    out += [
        Window(s.name, (i,), _steady_s(scenario, s), "@surge", _level(scenario, (i,), confidence))
        for i, s in enumerate(scenario.stages)
        if s.surge
    ]
    return out


def _selected(rates: Rates, sel: Select) -> dict[str, float]:
    """Rate per group label of ``per`` candidates: operation, persona and journey of what ``sel`` picks."""
    if sel.kind == "journey":
        return {
            j: r
            for (p, j), r in rates.journeys.items()
            if (not sel.persona or p in sel.persona) and (not sel.journey or j in sel.journey)
        }
    out: dict[str, float] = defaultdict(float)
    for (p, j, op), r in rates.requests.items():
        if (sel.operations and op not in sel.operations) or (sel.persona and p not in sel.persona):
            continue
        if sel.journey and j not in sel.journey:
            continue
        out[f"{p}|{j}|{op}"] += r
    return out


def _groups(selected: dict[str, float], sel: Select, per: str) -> dict[str, float]:
    if per == "none" or per == "stage":
        return {"all": sum(selected.values())}
    if sel.kind == "journey":
        return dict(selected) if per in ("journey", "operation") else {"all": sum(selected.values())}
    index = {"persona": 0, "journey": 1, "operation": 2}[per]
    out: dict[str, float] = defaultdict(float)
    for label, r in selected.items():
        out[label.split("|")[index]] += r
    return dict(out)


def samples_needed(limit: Limit, min_tail: int, confidence: float) -> int:
    """Samples a limit needs to be decided when every sample is within it (module docstring)."""
    if limit.metric == "rate":
        z = z_value(confidence)
        return math.floor(z * z * (1.0 - limit.value) / limit.value) + 1 if limit.value > 0 else 10**12
    if limit.metric == "apdex":
        return 2
    if limit.metric in ("max", "min"):
        return 1
    if limit.metric == "avg":
        return 30
    p = 50.0 if limit.metric == "med" else float(limit.percentile or 0)
    return min_samples_for(p, min_tail, confidence)


def _advice(needed: int, expected: float, seconds: float, rate: float) -> str:
    if expected >= needed:
        return ""
    if rate <= 0:
        return "this window sends none of these requests: add the persona, journey or operation to the scenario"
    hold = needed / rate
    return f"hold {format_duration(hold)} instead of {format_duration(seconds)}, or {needed / expected:.2f}× the rate"


_BREACH_ONLY = (
    "a step cannot show it compliant: tested there for a breach, judged on the steps up to the ceiling pooled"
)


def _clause_needs(clause: Clause, window: Window, rates: Rates, t: Thresholds, defining: set[str]) -> list[Need]:
    d = t.defaults
    level = window.confidence or d.confidence
    selected = _selected(rates, clause.select)
    groups = _groups(selected, clause.select, clause.per)
    needs = []
    for limit in clause.parsed:
        pooled = limit.metric == "rate"  # a rate is decided on the pooled requests (verdict.py)
        items = {"all": sum(groups.values())} if pooled or clause.per == "none" else groups
        for label, rate in sorted(items.items()):
            if rate <= 0 and not pooled and clause.per != "none":
                continue  # a group that gets no samples is not judged at all
            needed = samples_needed(limit, d.min_tail_samples, level)
            expected = rate * window.seconds
            scope = "all" if label == "all" else f"{clause.per}={label}"
            thin = window.step and clause.id not in defining and expected < needed
            advice = _BREACH_ONLY if thin else _advice(needed, expected, window.seconds, rate)
            needs.append(
                Need(clause.id + window.suffix, window.name, scope, limit.text, expected, needed, rate, advice, thin)
            )
    return needs


def _concurrency_need(clause: Clause, scenario: Scenario) -> Need:
    required = scenario.required_users or clause.required_users or 0
    peak = max((s.users for s in scenario.stages if s.judged), default=0)
    advice = (
        ""
        if peak >= required
        else f"the highest judged stage has {peak} users: give one {required} (--users {required})"
    )
    return Need(clause.id, "judged stages", "all", f"users >= {required}", float(peak), required, 0.0, advice)


def _zero_tolerance_need(clause: Clause, scenario: Scenario, rates_by_stage: list[Rates]) -> Need:
    per_s, what = {
        "forbidden_granted": ([r.probes for r in rates_by_stage], "access-control probes"),
        "lost_writes": ([r.writes for r in rates_by_stage], "acknowledged writes"),
        "sessions_lost": ([sum(r.requests.values()) for r in rates_by_stage], "requests of signed-in users"),
    }[clause.metric]
    expected = sum(rate * s.duration for rate, s in zip(per_s, scenario.stages, strict=True))
    total_s = scenario.total_duration_s
    mean_rate = expected / total_s if total_s > 0 else 0.0
    needed = MIN_ZERO_TOLERANCE_CHECKS
    advice = _advice(needed, expected, total_s, mean_rate)
    return Need(clause.id, "whole run", what, "count == 0", expected, needed, mean_rate, advice)


def plan(
    scenario: Scenario, thresholds: Thresholds, response_s: float = 0.0, judge_ids: list[str] | None = None
) -> Plan:
    """Every judged clause's expected and needed samples, per window, for ``scenario``."""
    wanted = set(judge_ids if judge_ids is not None else scenario.judge or thresholds.all_ids())
    rates = [stage_rates(scenario, s, response_s) for s in scenario.stages]
    found = windows(scenario, thresholds.defaults.confidence)
    clauses = [c for c in thresholds.clauses if c.id in wanted]
    clauses += [k.as_clause() for k in thresholds.classes if f"CLS-{k.id}" in wanted]
    defining = thresholds.ceiling_clauses(scenario.ceiling_clauses)
    needs: list[Need] = []
    for c in clauses:
        if c.metric == "concurrency":
            needs.append(_concurrency_need(c, scenario))
        elif c.metric in ZERO_TOLERANCE_METRICS:
            needs.append(_zero_tolerance_need(c, scenario, rates))
        else:
            for w in found:
                needs += _clause_needs(c, w, _pooled(rates, scenario, w), thresholds, defining)
    pooled = _steps_pooled(scenario, thresholds, [n for n in needs if n.breach_only])
    if pooled is not None:
        found.append(pooled)
        for c in clauses:
            if any(n.breach_only and n.clause_id == c.id for n in needs):
                needs += _clause_needs(c, pooled, _pooled(rates, scenario, pooled), thresholds, defining)
    return Plan(
        scenario.name,
        response_s,
        tuple(found),
        tuple(needs),
        scenario.total_duration_s,
        scenario.longest_duration_s,
        tuple(_budget_problems(scenario, thresholds)),
    )


def _required_users(scenario: Scenario, thresholds: Thresholds) -> int:
    """The concurrency the scenario must hold: its own ``required_users``, else the standard's."""
    return scenario.required_users or next((c.required_users for c in thresholds.clauses if c.required_users), 0)


def _steps_pooled(scenario: Scenario, thresholds: Thresholds, thin: list[Need]) -> Window | None:
    """Where a capacity run judges the limits no step can bound: the steps up to the required users
    pooled (the ceiling is not known beforehand; the required users are what must be held)."""
    required = _required_users(scenario, thresholds)
    if not thin or not required:
        return None
    steps = tuple(i for i, s in enumerate(scenario.stages) if s.judged and 0 < s.users <= required)
    seconds = sum(_steady_s(scenario, scenario.stages[i]) for i in steps)
    return Window(f"steps <= {required} users", steps, seconds, "", None)


def _budget_problems(scenario: Scenario, thresholds: Thresholds) -> list[str]:
    budget = scenario.budget
    if budget is None:
        return []
    out = []
    worst = scenario.worst_case_s
    if worst > budget:
        out.append(
            f"the run may take up to {format_duration(worst)} (held stages at their max"
            + (", a ceiling search's refinements" if scenario.search else "")
            + f"), over its budget of {format_duration(budget)}: the budget ends it first"
        )
    required = _required_users(scenario, thresholds)
    if scenario.kind == "capacity" and required:
        t = 0.0
        for s in scenario.stages:
            t += s.longest_s
            if s.judged and s.users >= required:
                if t > budget:
                    out.append(
                        f"held steps at their max reach the required {required} users only after "
                        f"{format_duration(t)}, past the budget of {format_duration(budget)}"
                    )
                break
    return out


def _pooled(rates: list[Rates], scenario: Scenario, w: Window) -> Rates:
    """The rates of a window's stages, weighted by their steady seconds (so that rate × seconds
    is the window's expected count)."""
    if len(w.stages) == 1:
        return rates[w.stages[0]]
    out = Rates()
    for i in w.stages:
        share = _steady_s(scenario, scenario.stages[i]) / w.seconds if w.seconds > 0 else 0.0
        for k, r in rates[i].requests.items():
            out.requests[k] += r * share
        for jk, r in rates[i].journeys.items():
            out.journeys[jk] += r * share
    return out


def text(p: Plan, everything: bool = False) -> str:
    """The plan as a table: the undecidable lines (every line with ``everything``) and a summary."""
    rows = [n for n in p.needs if everything or not n.decidable]
    head = (
        f"PLAN: {p.scenario}, {format_duration(p.duration_s)}; "
        f"{len(p.needs) - len(p.undecidable)} of {len(p.needs)} judged clause groups can be decided"
        + ("" if p.response_s else " (counts are upper bounds: response time taken as 0)")
    )
    lines = [head, *[f"  BUDGET       {problem}" for problem in p.problems]]
    for n in rows:
        mark = "breach-only" if n.breach_only else "ok" if n.decidable else "UNDECIDABLE"
        lines.append(
            f"  {mark:11}  {n.clause_id:18} {n.window[:18]:18} {n.scope[:34]:34} {n.limit[:24]:24} "
            f"expects {n.expected:9.0f}  needs {n.needed:6d}" + (f"  — {n.advice}" if n.advice else "")
        )
    return "\n".join(lines)
