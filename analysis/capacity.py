"""The concurrency ceiling of a staircase run: every step judged on its own, then the step where it broke.

Method (stated in every report):

- **steps**: each stage of a ``kind: capacity`` scenario is a step; its steady window (after its
  warm-up) is judged against the standard on its own, like a run of its own. Clauses of zero
  tolerance (access control, lost writes) do not depend on the step and are judged over the run.
  A step's latencies are what that many closed users see, which is the question: the caveat that
  a closed model's percentiles understate an open arrival process does not apply here.
- **ceiling**: the highest step at which that step and every lower one pass every clause. The
  step above it is the **break**: the clauses that failed there, by how much (measured / limit).
  No break: the ceiling is at least the top step. A step that is INCONCLUSIVE (thin data, a
  saturated generator) ends what can be claimed.
- **knee**: where throughput stops keeping up with users, found by a continuous two-segment fit of
  ``ln X`` against ``ln N`` with its break at a step (the break with the least squared error); the
  slope after the break is the elasticity ``d ln X / d ln N`` of the saturated part. The knee is
  reported only when that slope is significantly below 0.5 — its 95 % interval (200 refits to the
  steps' throughput resampled from their one-second bins) wholly below it: throughput then grows
  less than half as fast as users. One noisy pair of steps never makes a knee. When the slope's
  interval lies within ±0.2 the throughput is a **plateau** from the knee on (a hard limit: a pool,
  a lock, a licence count): its level is reported, and the USL curve is flagged as a poor model of it.
- **Universal Scalability Law**: ``X(N) = λN / (1 + σ(N−1) + κN(N−1))`` fitted by least squares to
  the steps' throughput; the peak is at ``N* = sqrt((1−σ)/κ)``, reported only when it lies within
  ``PEAK_REACH`` (10) times the highest step: farther out it is an extrapolation the data cannot
  carry (with κ ≈ 0 it is astronomically far), and "no peak within reach" is the honest answer.
  Intervals: 95 % percentile intervals of 200 refits to steps' throughput resampled from their
  one-second bins.
- **Little's law**: in a closed model every user either waits on the CRM or thinks, so
  ``N = X · (R + Z)``. The think time per request implied by the measured users, throughput and
  mean response time is compared with the scenario's think time per request: the users over the
  request rate the journeys would reach with no response time at all (``crmload plan``'s rates:
  think steps per iteration times the mean think time, over requests per iteration); a large gap
  means the load generator did not offer the load the scenario describes.
- **PERF-CONC-01**: PASS when the ceiling is at or above the required users; FAIL when a step at
  or below the required users broke; INCONCLUSIVE when the staircase stopped below the required
  users without a break, or an inconclusive step hides the answer.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.run import RunData, Stage
from crmload.analysis.stats import percentile
from crmload.analysis.thresholds import ZERO_TOLERANCE_METRICS, Thresholds
from crmload.analysis.timeline import window_bins
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS, Judge, Result
from crmload.core.rundir import RunStatus


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    users: int
    seconds: float
    n: int
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    mean_ms: float
    failure_rate: float
    status: str
    results: tuple[Result, ...]
    bins: tuple[float, ...] = ()  # successful requests per one-second bin, for resampling
    implied_think_s: float | None = None
    confidence: float = 0.95  # the level it was judged at (higher for a step held until decided)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "users": self.users,
            "seconds": round(self.seconds, 3),
            "n": self.n,
            "throughput_rps": _num(self.throughput_rps),
            "p50_ms": _num(self.p50_ms),
            "p95_ms": _num(self.p95_ms),
            "mean_ms": _num(self.mean_ms),
            "failure_rate": _num(self.failure_rate),
            "status": self.status,
            "implied_think_s": _num(self.implied_think_s),
            "confidence": self.confidence,
            "clauses": {
                r.clause_id: {"status": r.status, "measured": _num(r.measured), "limit": r.limit} for r in self.results
            },
        }


@dataclass(frozen=True)
class Usl:
    lam: float
    sigma: float
    kappa: float
    peak_users: float  # inf when no peak lies within PEAK_REACH times the highest step
    peak_rps: float
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def predict(self, n: NDArray[np.float64]) -> NDArray[np.float64]:
        return usl(n, self.lam, self.sigma, self.kappa)


@dataclass(frozen=True)
class Capacity:
    steps: list[Step]
    ceiling_users: int | None  # None: not even the first step passed
    break_step: Step | None
    broken: list[tuple[str, float | None, str, float | None]]  # clause, measured, limit, excess (measured/limit - 1)
    knee_users: int | None
    usl: Usl | None
    think_s: float | None  # configured mean think time per request
    result: Result  # PERF-CONC-01
    stopped: str | None = None
    knee_slope: tuple[float, float, float] | None = None  # slope after the knee's break: value, 95 % interval
    plateau_rps: float | None = None  # throughput from the knee on, when it is flat
    resolution: float | None = None  # the next tested load above the ceiling, as a share of it
    breach_only: dict[str, list[str]] = field(default_factory=dict)  # clause -> limits a step could not bound

    def to_dict(self) -> dict[str, Any]:
        u = self.usl
        return {
            "ceiling_users": self.ceiling_users,
            "break": None
            if self.break_step is None
            else {
                "users": self.break_step.users,
                "step": self.break_step.name,
                "clauses": [
                    {"id": cid, "measured": _num(m), "limit": lim, "excess": _num(x)} for cid, m, lim, x in self.broken
                ],
            },
            "knee_users": self.knee_users,
            "knee_slope": None if self.knee_slope is None else [_num(v) for v in self.knee_slope],
            "plateau_rps": _num(self.plateau_rps),
            "usl": None
            if u is None
            else {
                "lambda": u.lam,
                "sigma": u.sigma,
                "kappa": u.kappa,
                "peak_users": _num(u.peak_users),
                "peak_rps": _num(u.peak_rps),
                "intervals": {k: [_num(a), _num(b)] for k, (a, b) in u.intervals.items()},
            },
            "resolution": _num(self.resolution),
            "breach_only": self.breach_only,
            "configured_think_s": self.think_s,
            "stopped_early": self.stopped,
            "steps": [s.to_dict() for s in self.steps],
            "method": __doc__.split("Method (stated in every report):", 1)[1].strip() if __doc__ else "",
        }


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


PEAK_REACH = 10.0  # a USL peak farther than this many times the highest step is not reported


def usl(n: NDArray[np.float64], lam: float, sigma: float, kappa: float) -> NDArray[np.float64]:
    result: NDArray[np.float64] = lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
    return result


MIN_FIT_SECONDS = 2.0  # a step's steady window shorter than this is left out of the USL fit


def fit_usl(users: NDArray[np.float64], rps: NDArray[np.float64]) -> Usl | None:
    """Least-squares USL fit; None with fewer than three steps or when the fit does not converge."""
    from scipy.optimize import OptimizeWarning, curve_fit

    ok = np.isfinite(rps) & (users > 0)
    users, rps = users[ok], rps[ok]
    if len(users) < 3 or not (rps > 0).any():
        return None
    lam0 = float(np.max(rps[: max(1, len(rps) // 3)] / users[: max(1, len(rps) // 3)]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            (lam, sigma, kappa), _cov = curve_fit(
                usl, users, rps, p0=(lam0, 0.05, 0.001), bounds=([1e-9, 0.0, 0.0], [np.inf, 1.0, 1.0]), maxfev=5000
            )
    except (RuntimeError, ValueError):
        return None
    peak = math.sqrt((1.0 - sigma) / kappa) if kappa > 1e-12 else math.inf
    if not peak <= PEAK_REACH * float(users.max()):
        return Usl(float(lam), float(sigma), float(kappa), math.inf, math.inf)
    return Usl(float(lam), float(sigma), float(kappa), peak, float(usl(np.array([peak]), lam, sigma, kappa)[0]))


def _resampled_rps(steps: list[Step], rng: np.random.Generator) -> NDArray[np.float64]:
    """Each step's throughput from its one-second bins drawn again with replacement (a bootstrap replicate)."""
    return np.array([rng.choice(np.asarray(s.bins), size=len(s.bins)).mean() for s in steps])


def _usl_intervals(steps: list[Step], fit: Usl, reps: int = 200, seed: int = 11) -> Usl:
    rng = np.random.default_rng(seed)
    users = np.array([s.users for s in steps], dtype=np.float64)
    draws: dict[str, list[float]] = {"sigma": [], "kappa": [], "peak_users": [], "peak_rps": []}
    if all(len(s.bins) for s in steps):
        for _ in range(reps):
            refit = fit_usl(users, _resampled_rps(steps, rng))
            if refit is not None:
                for k in draws:
                    draws[k].append(getattr(refit, k))
    intervals = {}
    for k, values in draws.items():
        if len(values) >= reps // 2:
            # a refit without a peak has peak_users = inf; between two infinite draws the quantile
            # interpolates inf - inf (NaN, reported as no bound) and numpy would warn about it
            with np.errstate(invalid="ignore"):
                lo, hi = np.quantile(np.asarray(values), [0.025, 0.975])
            intervals[k] = (float(lo), float(hi))
    return replace(fit, intervals=intervals)


KNEE_ELASTICITY = 0.5  # throughput growing less than half as fast as users
PLATEAU_SLOPE = 0.2  # |elasticity| within this after the knee: a flat plateau


def _two_segment(x: NDArray[np.float64], y: NDArray[np.float64], k: int) -> tuple[float, float]:
    """Continuous two-segment least squares of y on x broken at x[k]: (slope after the break, SSE)."""
    design = np.column_stack([np.ones_like(x), x, np.maximum(0.0, x - x[k])])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    sse = float(np.sum((design @ coef - y) ** 2))
    return float(coef[1] + coef[2]), sse


@dataclass(frozen=True)
class Knee:
    users: int | None  # the step at the break, when the slope after it is significantly below 0.5
    slope: float
    low: float
    high: float
    plateau_rps: float | None


def knee(steps: list[Step], reps: int = 200, seed: int = 13) -> Knee | None:
    """The knee of the staircase (module docstring); None with fewer than three usable steps."""
    # a step too short for two whole one-second bins (one a stop criterion cut) cannot be resampled
    usable = [
        s
        for s in steps
        if s.users > 0 and s.throughput_rps > 0 and math.isfinite(s.throughput_rps) and len(s.bins) >= 2
    ]
    if len(usable) < 3:
        return None
    x = np.log(np.array([s.users for s in usable], dtype=np.float64))
    y = np.log(np.array([s.throughput_rps for s in usable]))
    # a break at the first step is one line through all steps; at least two steps after the break
    fits = {k: _two_segment(x, y, k) for k in range(len(usable) - 1)}
    k = min(fits, key=lambda i: fits[i][1])
    slope = fits[k][0]
    rng = np.random.default_rng(seed)
    draws = []
    if all(len(s.bins) for s in usable):
        for _ in range(reps):
            rps = _resampled_rps(usable, rng)
            if (rps > 0).all():
                draws.append(_two_segment(x, np.log(rps), k)[0])
    if len(draws) < reps // 2:
        return Knee(None, slope, -math.inf, math.inf, None)
    low, high = (float(v) for v in np.quantile(np.asarray(draws), [0.025, 0.975]))
    found = high < KNEE_ELASTICITY
    flat = found and low >= -PLATEAU_SLOPE and high <= PLATEAU_SLOPE
    level = float(np.mean([s.throughput_rps for s in usable[k:]])) if flat else None
    return Knee(usable[k].users if found else None, slope, low, high, level)


def _step_run(run: RunData, stage: Stage) -> RunData:
    return replace(run, stages=[replace(stage, judged=True)])


def configured_think_s(scenario: dict[str, Any]) -> float | None:
    """The scenario's think time per request: users over the request rate its journeys would reach
    with no response time (Little's law with R = 0, the planner's rates), for its first users stage."""
    from crmload.analysis.plan import stage_rates
    from crmload.core.scenario import Scenario

    try:
        model = Scenario.model_validate(scenario)
    except ValueError:
        return None
    stage = next((s for s in model.stages if s.users > 0), None)
    if stage is None:
        return None
    rates = stage_rates(model, stage)
    closed = sum(r for (persona, _j, _op), r in rates.requests.items() if persona != "integration")
    return stage.users / closed if closed > 0 else None


def step_thresholds(thresholds: Thresholds) -> Thresholds:
    """The standard as a step is judged against it: a staircase asks what N concurrent users see,
    and a closed model is exactly that, so the caveat that its percentiles understate an open
    arrival process does not apply to the steps."""
    defaults = thresholds.defaults.model_copy(update={"busy_share_limit": 1.0})
    return thresholds.model_copy(update={"defaults": defaults})


def step_clause_ids(thresholds: Thresholds, wanted: set[str] | None) -> list[str]:
    """The clauses judged step by step: all but the concurrency and zero-tolerance ones."""
    return [
        c.id
        for c in thresholds.clauses
        if c.metric not in ("concurrency", *ZERO_TOLERANCE_METRICS) and (wanted is None or c.id in wanted)
    ] + [f"CLS-{k.id}" for k in thresholds.classes if wanted is None or f"CLS-{k.id}" in wanted]


def _limit_results(r: Result) -> list[Result]:
    """A clause result's results per limit (a clause of several limits keeps them as parts)."""
    return list(r.parts) if " and " in r.limit and r.parts else [r]


def _decided_groups(r: Result) -> list[tuple[Result, str, Result]]:
    """(limit result, label, result) of every group a clause result is decided on: a rate on the
    pooled requests, any other limit on each of its groups."""
    out = []
    for lim in _limit_results(r):
        if lim.metric == "rate" or not lim.parts:
            out.append((lim, f"{lim.limit} all" if lim.metric == "rate" else f"{lim.limit} {lim.scope}", lim))
        else:
            out += [(lim, f"{lim.limit} {g.scope}", g) for g in lim.parts]
    return out


def _needed(res: Result, min_tail: int, confidence: float) -> int:
    from crmload.analysis.expr import parse_limit
    from crmload.analysis.plan import samples_needed

    try:
        return samples_needed(parse_limit(res.limit), min_tail, confidence)
    except ValueError:
        return 0


def breach_only(res: Result, projection: float, min_tail: int, confidence: float) -> list[str]:
    """The groups of one clause result that the step cannot show compliant however it ends: fewer
    samples, projected to the step's longest run, than the limit needs when every one is within it.
    A step tests these for a breach only (module docstring). Returns "limit scope" labels."""
    return [
        label
        for lim, label, g in _decided_groups(res)
        if g.status == INCONCLUSIVE and g.samples * projection < _needed(lim, min_tail, confidence)
    ]


def step_status(
    results: list[Result],
    projection: float,
    min_tail: int,
    confidence: float,
    defining: set[str],
    trusted: bool = True,
) -> tuple[str, dict[str, list[str]]]:
    """A step's status from its clause results: FAIL on any evidence of a breach; PASS when every
    clause that defines the ceiling (``defining``) is decided PASS, and every other limit too
    unless the step cannot decide it, in which case it shows no breach; else INCONCLUSIVE.
    Also the breach-only groups per clause."""
    thin = {
        r.clause_id: breach_only(r, projection, min_tail, confidence) for r in results if r.clause_id not in defining
    }
    thin = {k: v for k, v in thin.items() if v}
    statuses = [r.status for r in results]
    if FAIL in statuses:
        return FAIL, thin
    if not results or not trusted:
        return INCONCLUSIVE, thin
    for r in results:
        if any(g.status != PASS and label not in thin.get(r.clause_id, []) for _l, label, g in _decided_groups(r)):
            return INCONCLUSIVE, thin
    return PASS, thin


def ceiling_clauses(scenario: dict[str, Any], thresholds: Thresholds) -> set[str]:
    """The clauses that define the ceiling (:meth:`Thresholds.ceiling_clauses`)."""
    return thresholds.ceiling_clauses(scenario.get("ceiling_clauses"))


def judge_step(
    run: RunData, st: Stage, thresholds: Thresholds, step_ids: list[str], defining: set[str] | None = None
) -> tuple[Step, dict[str, list[str]]]:
    """One step judged on its own (``thresholds`` as :func:`step_thresholds` makes it), at the
    standard's confidence, or at its looks' level when it was held until decided (the judge reads
    it from the stage: :func:`crmload.analysis.verdict.judged_confidence`)."""
    j = Judge(_step_run(run, st), thresholds, step_ids or ["__none__"])
    results = list(j.verdict().results) if step_ids else []
    req = j.p.requests
    ok = req & j.p.ok
    seconds = max(0.0, st.end - st.steady_start)
    lat = np.sort(j.p.latency[ok])
    n = int(req.sum())
    x = float(ok.sum()) / seconds if seconds > 0 else math.nan
    second, centres = window_bins(j.p.s["ts"][ok], [(st.steady_start, st.end)], 1.0)
    bins = np.bincount(second[second >= 0], minlength=len(centres))
    mean_ms = float(lat.mean()) if len(lat) else math.nan
    implied = st.users / x - mean_ms / 1000.0 if x > 0 and math.isfinite(mean_ms) else None
    status, thin = step_status(
        results,
        st.projection,
        thresholds.defaults.min_tail_samples,
        j.confidence,
        defining if defining is not None else ceiling_clauses(run.scenario, thresholds),
        j.trust.generator_saturated is None,
    )
    step = Step(
        st.index,
        st.name,
        st.users,
        seconds,
        n,
        x,
        percentile(lat, 50.0),
        percentile(lat, 95.0),
        mean_ms,
        float((req & j.p.failed).sum()) / n if n else math.nan,
        status,
        tuple(results),
        tuple(float(b) for b in bins),
        implied,
        j.confidence,
    )
    return step, thin


def ceiling_of(steps: list[Step]) -> tuple[int | None, Step | None, Step | None]:
    """(ceiling, breaking step, unclear step) of steps taken in order of users: the ceiling is the
    highest load at which it and every lower step passed; the step above it broke or is unclear."""
    ceiling: int | None = None
    for s in sorted(steps, key=lambda s: (s.users, s.index)):
        if s.status == PASS:
            ceiling = s.users if ceiling is None or s.users > ceiling else ceiling
            continue
        return ceiling, (s if s.status == FAIL else None), (s if s.status != FAIL else None)
    return ceiling, None, None


def analyse(
    run: RunData, thresholds: Thresholds, judge_ids: list[str] | None, required_users: int | None
) -> tuple[Capacity, list[Result]]:
    """The capacity analysis, and the whole-run results: the zero-tolerance clauses, and the
    limits no single step could show compliant, judged on the steps up to the ceiling pooled."""
    scenario = run.scenario
    wanted = set(judge_ids) if judge_ids else None
    conc = [c for c in thresholds.clauses if c.metric == "concurrency" and (wanted is None or c.id in wanted)]
    step_ids = step_clause_ids(thresholds, wanted)
    zero_ids = [
        c.id for c in thresholds.clauses if c.metric in ZERO_TOLERANCE_METRICS and (wanted is None or c.id in wanted)
    ]
    think = configured_think_s(scenario)
    per_step = step_thresholds(thresholds)
    defining = ceiling_clauses(scenario, thresholds)
    steps: list[Step] = []
    thin: dict[str, list[str]] = {}
    for st in sorted((s for s in run.stages if s.judged and s.users > 0), key=lambda s: s.start):
        step, step_thin = judge_step(run, st, per_step, step_ids, defining)
        steps.append(step)
        if step.status == PASS:
            for cid, groups in step_thin.items():
                thin.setdefault(cid, []).extend(groups)
    ceiling, breaking, unclear = ceiling_of(steps)
    broken = []
    if breaking is not None:
        for r in breaking.results:
            if r.status == FAIL:
                broken.append((r.clause_id, r.measured, r.limit, excess(r)))
        broken.sort(key=lambda b: -(b[3] if b[3] is not None else -1.0))
    # a step cut short (by a stop criterion, or the end of the run) has no rate to fit: its few
    # requests may be a burst of what queued in the step before (0.5 s at 92 requests/s above an
    # 80 requests/s capacity flattened a fit once)
    measured = [st for st in steps if st.seconds >= MIN_FIT_SECONDS]
    fit = fit_usl(
        np.array([st.users for st in measured], dtype=np.float64), np.array([st.throughput_rps for st in measured])
    )
    if fit is not None:
        fit = _usl_intervals(measured, fit)
    required = required_users or next((c.required_users for c in conc if c.required_users), None)
    result = _conc_result(conc[0].id if conc else "PERF-CONC-01", conc[0].title if conc else "Concurrency ceiling",
                          steps, ceiling, breaking, unclear, broken, required)  # fmt: skip
    stopped = str(run.meta.status_reason) if run.status == RunStatus.STOPPED else None
    zero = list(Judge(run, thresholds, zero_ids).verdict().results) if zero_ids else []
    pooled = _pooled_below(run, per_step, sorted(thin), ceiling) if ceiling is not None and thin else []
    found = knee(sorted(steps, key=lambda s: (s.users, s.index)))
    capacity = Capacity(
        steps,
        ceiling,
        breaking,
        broken,
        found.users if found else None,
        fit,
        think,
        result,
        stopped,
        (found.slope, found.low, found.high) if found else None,
        found.plateau_rps if found else None,
        _resolution(ceiling, breaking or unclear),
        {cid: sorted(set(groups)) for cid, groups in thin.items()},
    )
    return capacity, zero + pooled


def _resolution(ceiling: int | None, above: Step | None) -> float | None:
    """How close the next tested load above the ceiling (``above``: the step that broke or is
    undecided) lies, as a share of the ceiling."""
    return (above.users - ceiling) / ceiling if ceiling and above is not None else None


def _resolution_text(ceiling: int | None, above: Step) -> str:
    if not ceiling:
        return ""
    gap = above.users - ceiling
    return f"; resolution {gap} users ({gap / ceiling:.0%})"


def _pooled_below(run: RunData, thresholds: Thresholds, clause_ids: list[str], ceiling: int) -> list[Result]:
    """The clauses with limits no passing step could show compliant, judged on the steady windows of
    every step at or below the ceiling pooled (at the highest level any of them was judged at)."""
    below = [replace(s, judged=True) for s in run.stages if s.judged and 0 < s.users <= ceiling]
    if not below:
        return []
    pooled_run = replace(run, stages=below)
    results = Judge(pooled_run, thresholds, clause_ids).verdict().results
    scope = f"steps up to the ceiling ({ceiling} users) pooled"
    return [replace(r, scope=f"{scope}; {r.scope}", reason=f"{r.reason} ({scope})") for r in results]


def excess(r: Result) -> float | None:
    """How far beyond its limit a result is, as a fraction of the limit (+0.25: 25 % over a "<" limit,
    or 25 % under a ">" limit such as an Apdex floor). ``margin`` is limit − measured for upper limits
    and measured − limit for lower ones (see ``analysis.expr.Limit.margin``)."""
    if r.margin is None or r.measured is None or not math.isfinite(r.margin):
        return None
    limit = r.measured - r.margin if r.metric == "apdex" else r.measured + r.margin
    return -r.margin / limit if limit else None


def _conc_result(
    cid: str,
    title: str,
    steps: list[Step],
    ceiling: int | None,
    breaking: Step | None,
    unclear: Step | None,
    broken: list[tuple[str, float | None, str, float | None]],
    required: int | None,
) -> Result:
    lim = f"ceiling >= {required} users" if required else "ceiling >= (required users)"
    n = sum(s.n for s in steps)
    measured = float(ceiling) if ceiling is not None else None
    margin = float(ceiling - required) if ceiling is not None and required else None
    if breaking is not None:
        what = ", ".join(f"{cid_} {_excess_text(x)}" for cid_, _m, _l, x in broken) or "a clause"
        broke = f"broke at {breaking.users} users ({breaking.name}): {what}" + _resolution_text(ceiling, breaking)
    elif unclear is not None and ceiling:
        broke = f"the next tested load, {unclear.users} users ({unclear.name}), is undecided"
        broke += _resolution_text(ceiling, unclear)
    else:
        broke = ""
    if not steps:
        status, reason = INCONCLUSIVE, "no judged step with users: not a staircase run"
    elif not required:
        status, reason = INCONCLUSIVE, "no required concurrency given (clause or scenario required_users)"
    elif ceiling is not None and ceiling >= required:
        status = PASS
        reason = f"ceiling {ceiling} users >= required {required}" + (f"; {broke}" if broke else "; no step broke")
    elif breaking is not None:
        status = FAIL
        below = f"ceiling {ceiling} users" if ceiling is not None else "not even the first step passed"
        reason = f"{below}, below the required {required}: {broke}"
    elif unclear is not None:
        status = INCONCLUSIVE
        reason = f"step {unclear.name} ({unclear.users} users) is inconclusive, below the required {required}"
    else:
        status = INCONCLUSIVE
        reason = f"the staircase stopped at {steps[-1].users} users, below the required {required}, without a break"
    return Result(cid, title, status, "staircase", "users", measured, lim, margin, None, n, reason)


def _excess_text(x: float | None) -> str:
    return "over its limit" if x is None else f"{x * 100:+.0f} % over its limit"
