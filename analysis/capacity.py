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
from crmload.analysis.thresholds import Thresholds
from crmload.analysis.timeline import window_bins
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS, Judge, Result, worst
from crmload.core.rundir import RunStatus

ZERO_TOLERANCE = ("forbidden_granted", "lost_writes")


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


def analyse(
    run: RunData, thresholds: Thresholds, judge_ids: list[str] | None, required_users: int | None
) -> tuple[Capacity, list[Result]]:
    """The capacity analysis, and the whole-run results of the zero-tolerance clauses."""
    scenario = run.scenario
    wanted = set(judge_ids) if judge_ids else None
    conc = [c for c in thresholds.clauses if c.metric == "concurrency" and (wanted is None or c.id in wanted)]
    step_ids = [
        c.id
        for c in thresholds.clauses
        if c.metric not in ("concurrency", *ZERO_TOLERANCE) and (wanted is None or c.id in wanted)
    ] + [f"CLS-{k.id}" for k in thresholds.classes if wanted is None or f"CLS-{k.id}" in wanted]
    zero_ids = [c.id for c in thresholds.clauses if c.metric in ZERO_TOLERANCE and (wanted is None or c.id in wanted)]
    think = configured_think_s(scenario)
    # a staircase asks what N concurrent users see, and a closed model is exactly that: the caveat
    # that its percentiles understate an open arrival process does not apply to the steps
    defaults = thresholds.defaults.model_copy(update={"busy_share_limit": 1.0})
    per_step = thresholds.model_copy(update={"defaults": defaults})
    steps: list[Step] = []
    for st in sorted((s for s in run.stages if s.judged and s.users > 0), key=lambda s: s.start):
        j = Judge(_step_run(run, st), per_step, step_ids or ["__none__"])
        results = j.verdict().results if step_ids else ()
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
        steps.append(
            Step(
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
                worst([r.status for r in results]) if results else INCONCLUSIVE,
                tuple(results),
                tuple(float(b) for b in bins),
                implied,
            )
        )
    ceiling: int | None = None
    breaking: Step | None = None
    unclear: Step | None = None
    for s in steps:
        if s.status == PASS:
            ceiling = s.users
            continue
        if s.status == FAIL:
            breaking = s
        else:
            unclear = s
        break
    broken = []
    if breaking is not None:
        for r in breaking.results:
            if r.status == FAIL:
                broken.append((r.clause_id, r.measured, r.limit, excess(r)))
        broken.sort(key=lambda b: -(b[3] if b[3] is not None else -1.0))
    fit = fit_usl(np.array([s.users for s in steps], dtype=np.float64), np.array([s.throughput_rps for s in steps]))
    if fit is not None:
        fit = _usl_intervals(steps, fit)
    required = required_users or next((c.required_users for c in conc if c.required_users), None)
    result = _conc_result(conc[0].id if conc else "PERF-CONC-01", conc[0].title if conc else "Concurrency ceiling",
                          steps, ceiling, breaking, unclear, broken, required)  # fmt: skip
    stopped = str(run.meta.status_reason) if run.status == RunStatus.STOPPED else None
    zero = list(Judge(run, thresholds, zero_ids).verdict().results) if zero_ids else []
    found = knee(steps)
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
    )
    return capacity, zero


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
        broke = f"broke at {breaking.users} users ({breaking.name}): {what}"
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
