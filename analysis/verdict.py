"""Judging a run against the standard: each clause → PASS / FAIL / INCONCLUSIVE, with the evidence.

Rules, in the order they apply to a limit on one group of samples:

1. No samples → INCONCLUSIVE ("not exercised").
2. A percentile needs ``min_tail_samples`` samples above it and a bounded confidence interval;
   otherwise INCONCLUSIVE, naming how many samples it needs.
3. The whole interval inside the limit → PASS; the whole interval outside → FAIL; an interval
   that straddles the limit → INCONCLUSIVE.
4. Trust: a load generator above its CPU limit makes latency judgements INCONCLUSIVE; a closed
   model whose users spent most of their time waiting on the CRM makes latency percentiles lower
   bounds (a PASS becomes INCONCLUSIVE, a FAIL stands); a run that did not complete turns PASS into
   INCONCLUSIVE.

Latency is judged on successful requests (failures are judged by the failure rate), in the
steady-state window, with open-model samples corrected for coordinated omission (response time +
schedule lag). A clause with ``per:`` is judged on each group and takes the worst group's status;
for ``failure_rate`` the pooled rate is judged and a group FAILs the clause only when it is
significantly above the limit on its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crmload.analysis.expr import Limit, format_value
from crmload.analysis.frame import Rows
from crmload.analysis.prepared import Prepared
from crmload.analysis.run import RunData, steady_mask
from crmload.analysis.stats import (
    Ordered,
    Ranked,
    apdex,
    at_rank,
    min_samples_for,
    percentile,
    percentile_interval,
    wilson,
)
from crmload.analysis.thresholds import ZERO_TOLERANCE_METRICS, Clause, OperationClass, Thresholds
from crmload.core.errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED, EXIT_PASS, EXIT_USAGE
from crmload.core.rundir import INCOMPLETE_STATUSES, Kind, Outcome, RunStatus

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
_NO_LATENCIES = np.zeros(0)  # rate, count and Apdex limits need no sorted latencies
MIN_ZERO_TOLERANCE_CHECKS = 10  # fewer probes or audited writes cannot support "zero breaches"
# each zero-tolerance metric: why it was not exercised when nothing was checked, and how its count reads
ZERO_TOLERANCE: dict[str, tuple[str, str]] = {
    "forbidden_granted": ("no access-control probes ran", "{count} of {checked} checks breached"),
    "lost_writes": ("no acknowledged writes were audited", "{count} of {checked} checks breached"),
    "sessions_lost": (
        "no requests of signed-in users",
        "{count} of {checked} requests of signed-in users found their session lost (401, or sent to the login page)",
    ),
}
_RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}
METHOD = (
    "percentiles: nearest rank on raw samples (Hyndman-Fan type 1); intervals: distribution-free order "
    "statistics for percentiles, Wilson for rates, normal for Apdex; latency on successful requests in "
    "the steady-state window, open-model samples corrected for coordinated omission"
)


def worst(statuses: list[str]) -> str:
    return max(statuses, key=_RANK.__getitem__) if statuses else INCONCLUSIVE


@dataclass(frozen=True)
class Result:
    clause_id: str
    title: str
    status: str
    scope: str
    metric: str
    measured: float | None
    limit: str
    margin: float | None
    interval: tuple[float | None, float | None] | None
    samples: int
    reason: str
    parts: tuple[Result, ...] = ()

    def measured_text(self) -> str:
        return "—" if self.measured is None or math.isnan(self.measured) else format_value(self.metric, self.measured)

    def margin_text(self) -> str:
        if self.margin is None or math.isnan(self.margin):
            return "—"
        sign = "+" if self.margin >= 0 else "-"
        return sign + format_value(self.metric, abs(self.margin))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.clause_id,
            "title": self.title,
            "status": self.status,
            "scope": self.scope,
            "metric": self.metric,
            "measured": _num(self.measured),
            "limit": self.limit,
            "margin": _num(self.margin),
            "interval": None if self.interval is None else [_num(self.interval[0]), _num(self.interval[1])],
            "samples": self.samples,
            "reason": self.reason,
            "parts": [p.to_dict() for p in self.parts],
        }


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


@dataclass(frozen=True)
class Verdict:
    status: str
    exit_code: int
    results: tuple[Result, ...]
    run_status: str
    window_s: float
    warnings: tuple[str, ...] = ()
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "run_status": self.run_status,
            "window_s": self.window_s,
            "method": self.method,
            "warnings": list(self.warnings),
            "clauses": [r.to_dict() for r in self.results],
        }


@dataclass
class _Trust:
    generator_saturated: str | None = None
    lower_bound: str | None = None
    incomplete: str | None = None
    warnings: list[str] = field(default_factory=list)


def judge_limit(
    limit: Limit,
    *,
    clause_id: str,
    title: str,
    scope: str,
    latencies_sorted: Ordered,
    n_all: int,
    failures: int,
    apdex_t_ms: float,
    failed_mask: np.ndarray | None,
    all_latencies: np.ndarray | None,
    confidence: float,
    min_tail: int,
    dropped: int = 0,
) -> Result:
    """Judge one limit on one group. ``latencies_sorted``: successful samples' latencies, ascending
    or :class:`~crmload.analysis.stats.Ranked` (with ``dropped`` of them open-model arrivals that
    never started, at their lag)."""
    base: dict[str, Any] = dict(clause_id=clause_id, title=title, scope=scope, metric=limit.metric, limit=limit.text)
    if limit.metric == "rate":
        if n_all == 0:
            return _not_exercised(base, "not exercised: no requests")
        rate = failures / n_all
        ci = wilson(failures, n_all, confidence)
        return _decide(limit, base, rate, (ci.low, ci.high), n_all, f"{failures} of {n_all} failed", needs=None)
    if limit.metric == "apdex":
        if all_latencies is None or failed_mask is None or len(all_latencies) == 0:
            return _not_exercised(base, "not exercised: no requests")
        a = apdex(all_latencies, failed_mask, apdex_t_ms, confidence)
        return _decide(
            limit,
            base,
            a.score,
            (a.interval.low, a.interval.high),
            a.n,
            f"T = {apdex_t_ms:g} ms; {a.satisfied} satisfied, {a.tolerating} tolerating",
            needs=None,
        )
    n = len(latencies_sorted)
    if n == 0:
        return _not_exercised(base, "not exercised: no successful requests")
    if limit.metric == "max":
        value = at_rank(latencies_sorted, n)
        # every sample is known: the maximum is exact, no interval
        return _decide(limit, base, value, (value, value), n, "the slowest request", needs=None)
    if limit.metric == "min":
        value = at_rank(latencies_sorted, 1)
        return _decide(limit, base, value, (value, value), n, "the fastest request", needs=None)
    if limit.metric == "avg":
        ranked = latencies_sorted if isinstance(latencies_sorted, Ranked) else Ranked(latencies_sorted, own=True)
        mean, sd = ranked.mean(), ranked.std()
        half = 1.96 * sd / math.sqrt(n) if n > 1 else math.inf
        return _decide(
            limit,
            base,
            mean,
            (mean - half, mean + half),
            n,
            "mean of successful requests",
            needs=None if n >= 30 else 30,
        )
    p = 50.0 if limit.metric == "med" else float(limit.percentile or 0)
    value = percentile(latencies_sorted, p)
    ci = percentile_interval(latencies_sorted, p, confidence)
    need = min_samples_for(p, min_tail, confidence)
    return _decide(
        limit,
        base,
        value,
        (ci.low, ci.high),
        n,
        f"p{p:g} of {n - dropped} successful requests"
        + (f" and {dropped} arrivals dropped beyond max_lag (at their lag: a lower bound)" if dropped else ""),
        needs=need if n < need or not ci.bounded else None,
    )


def _not_exercised(base: dict[str, Any], reason: str) -> Result:
    return Result(**base, status=INCONCLUSIVE, measured=None, margin=None, interval=None, samples=0, reason=reason)


def _decide(
    limit: Limit,
    base: dict[str, Any],
    value: float,
    interval: tuple[float | None, float | None],
    n: int,
    what: str,
    needs: int | None,
) -> Result:
    margin = limit.margin(value)
    lo, hi = interval
    if needs is not None:
        # the point value still FAILs when even the lowest bound is over an upper limit
        if limit.upper and lo is not None and not limit.holds(lo):
            return Result(
                **base,
                status=FAIL,
                measured=value,
                margin=margin,
                interval=interval,
                samples=n,
                reason=f"{what}; even its lower bound {format_value(limit.metric, lo)} breaks the limit",
            )
        return Result(
            **base,
            status=INCONCLUSIVE,
            measured=value,
            margin=margin,
            interval=interval,
            samples=n,
            reason=f"too few samples: {limit.metric} needs at least {needs}, have {n}",
        )
    inside_hi = hi is not None and limit.holds(hi)
    inside_lo = lo is not None and limit.holds(lo)
    if limit.upper:
        if inside_hi:
            status, why = PASS, "whole interval within the limit"
        elif lo is not None and not inside_lo:
            status, why = FAIL, "whole interval beyond the limit"
        else:
            status, why = INCONCLUSIVE, "interval straddles the limit"
    else:
        if inside_lo:
            status, why = PASS, "whole interval within the limit"
        elif hi is not None and not inside_hi:
            status, why = FAIL, "whole interval beyond the limit"
        else:
            status, why = INCONCLUSIVE, "interval straddles the limit"
    ci_text = (
        ""
        if lo == hi
        else (
            f" [{format_value(limit.metric, lo) if lo is not None else '−∞'}, "
            f"{format_value(limit.metric, hi) if hi is not None else '∞'}]"
        )
    )
    return Result(
        **base,
        status=status,
        measured=value,
        margin=margin,
        interval=interval,
        samples=n,
        reason=f"{what}{ci_text}: {why}",
    )


def judged_confidence(run: RunData, confidence: float) -> float:
    """The level the run's judged stages are judged at: the standard's, or a held stage's looks'
    level (``1 - alpha/K``, :mod:`crmload.analysis.sequential`) when it is higher: a stage that ended
    at the first of K looks to decide is judged as that look judged it."""
    held = [s.confidence for s in run.stages if s.judged and s.held and s.confidence is not None]
    return max([confidence, *held])


class Judge:
    """Judges one run against one standard. Build once; :meth:`verdict` does the work.

    Works on the run's :class:`~crmload.analysis.prepared.Prepared` samples (pass one to share it;
    else it is made with the standard's failure outcomes); sorted latencies of a group are
    computed once and shared by every clause that judges the same group.
    """

    def __init__(
        self,
        run: RunData,
        thresholds: Thresholds,
        judge_ids: list[str] | None = None,
        required_users: int | None = None,
        prepared: Prepared | None = None,
    ) -> None:
        self.run = run
        self.t = thresholds
        self.judge_ids = judge_ids
        self.required_users = required_users
        self.p = prepared or Prepared(run, [str(o) for o in thresholds.defaults.failure_outcomes])
        self.window_s = self.p.window_s
        self.confidence = judged_confidence(run, thresholds.defaults.confidence)
        self.trust = self._trust()

    # -- trust ------------------------------------------------------------------------------------
    def _trust(self) -> _Trust:
        trust = _Trust(
            generator_saturated=self._generator_saturated(),
            lower_bound=self._lower_bound(),
            incomplete=self._incomplete(),
        )
        if self.run.status == RunStatus.STOPPED:  # by the scenario's own stop criteria: an answer, not an accident
            trust.warnings.append(str(self.run.meta.status_reason or "stopped early by a stop criterion"))
        trust.warnings += self._connection_warnings()
        trust.warnings += [
            f"stage {st.name} was held until decided: it ended at its decisive look and is judged at "
            f"{st.confidence * 100:.2f} % confidence (Bonferroni over its looks)"
            for st in self.run.stages
            if st.judged and st.held and st.confidence is not None
        ]
        lost = self.run.capture.lost_workers
        if lost and trust.incomplete is None:
            names = ", ".join(f"{name} (after {info.samples} samples)" for name, info in sorted(lost.items()))
            trust.incomplete = f"load generator lost mid-run: {names}; the planned load was not offered after that"
        trust.warnings += [w for w in (trust.generator_saturated, trust.lower_bound, trust.incomplete) if w]
        left_out = self.run.samples.skipped_rows
        if left_out:
            # data had to be left out: what remains cannot PASS (it may lack exactly the bad requests)
            why = "; ".join(left_out[:3]) + (" …" if len(left_out) > 3 else "")
            note = f"samples left out of the judgement ({why}): the run directory is damaged or was edited"
            trust.warnings.append(note)
            if trust.incomplete is None:
                trust.incomplete = note
        cap = self.run.capture
        if cap.write_error:
            unwritten = (
                f"up to {cap.unwritten_rows} recorded samples are missing"
                if cap.unwritten_rows
                else ("no recorded sample is missing")
            )
            trust.warnings.append(f"{cap.write_error}: the run was stopped; {unwritten}; what was kept is judged")
        trust.warnings += self._target_warnings()
        return trust

    def _target_warnings(self) -> list[str]:
        """What the adapter and the target's platform said: skipped operations and journeys, the platform's
        usage headers, and its throttle ceiling."""
        out = []
        cap = self.run.capture
        if cap.skipped_operations:
            skipped = ", ".join(f"{k} ×{v}" for k, v in sorted(cap.skipped_operations.items()))
            out.append(f"operations the adapter does not support were skipped: {skipped}")
        if cap.incomplete_journeys:
            listed = ", ".join(f"{k} ×{v}" for k, v in sorted(cap.incomplete_journeys.items()))
            out.append(f"journeys with a skipped step are counted apart, not judged as journeys: {listed}")
        if cap.limit_headers:
            told = "; ".join(f"{k}: {v}" for k, v in cap.limit_headers.items())
            out.append(f"the platform's usage at the end of the load, as it told it: {told}")
        ceiling = self.throttle_ceiling()
        if ceiling is not None:
            out.append(
                f"throttled: {ceiling['throttled']} of {ceiling['requests']} requests were refused as too many "
                f"(reported apart from failures); while it throttled ({ceiling['seconds']:.0f} s) the platform let "
                f"{ceiling['accepted_rps']:.1f} requests/s through: its throttle ceiling, not the CRM's capacity"
            )
        return out

    def throttle_ceiling(self) -> dict[str, Any] | None:
        """The rate the platform let through while it throttled: requests not throttled per second, from
        the first throttled request to the last (None when nothing was throttled, or over under 1 s)."""
        s = self.p.s
        requests = self.p.kind.eq(Kind.REQUEST) & ~self.p.probes
        throttled = requests & s.t("outcome").eq(Outcome.THROTTLED)
        if not throttled.any():
            return None
        ts = s["ts"]
        t0, t1 = float(ts[throttled].min()), float(ts[throttled].max())
        if t1 - t0 < 1.0:
            return None
        inside = requests & ~throttled & (ts >= t0) & (ts <= t1)
        return {
            "throttled": int(throttled.sum()),
            "requests": int(requests.sum()),
            "seconds": t1 - t0,
            "accepted_rps": float(inside.sum()) / (t1 - t0),
        }

    def _generator_saturated(self) -> str | None:
        d = self.t.defaults
        gens = self.run.generators
        if "damaged" in gens:  # the check cannot run: the latencies cannot be trusted to be the CRM's
            return f"generators.csv is unreadable ({gens['damaged'][0]}): the load generators' CPU could not be checked"
        if not len(gens["ts"]):
            return None
        keep = gens["worker"] != "master"
        if self.run.stages:
            keep &= steady_mask(self.run, gens["ts"])
        cpu = gens["cpu_percent"][keep]
        share = float((cpu > d.generator_cpu_limit).mean()) if len(cpu) else 0.0
        if share <= d.generator_saturated_share:
            return None
        return (
            f"load generator CPU above {d.generator_cpu_limit:g} % for {share * 100:.0f} % of the "
            "window: latencies include generator queueing"
        )

    def _lower_bound(self) -> str | None:
        p = self.p
        closed = p.requests & ~p.has_lag
        if not closed.any() or self.window_s <= 0:
            return None
        users = float(np.median(p.s["users"][closed]))
        busy = float(p.s["response_time_ms"][closed].sum()) / 1000.0
        if users <= 0 or busy / (users * self.window_s) <= self.t.defaults.busy_share_limit:
            return None
        share = busy / (users * self.window_s)
        return (
            f"closed-model users spent {share * 100:.0f} % of their time waiting on the CRM: arrivals "
            "were throttled, percentiles are lower bounds"
        )

    def _incomplete(self) -> str | None:
        status = self.run.status
        if status in INCOMPLETE_STATUSES:
            reason = self.run.meta.status_reason or ""
            return f"run {status}" + (f": {reason}" if reason else "")
        if status in (RunStatus.UNKNOWN, RunStatus.RUNNING):
            return "run has no end record (meta.json missing or incomplete): it may have been killed"
        return None

    def _connection_warnings(self) -> list[str]:
        p = self.p
        conn = p.s.t("outcome").eq(Outcome.CONNECTION) & p.kind.eq(Kind.REQUEST)
        if not conn.any():
            return []
        first = float(p.s["ts"][conn].min())
        start = self.run.stages[0].start if self.run.stages else float(np.nanmin(p.s["ts"]))
        when = time.strftime("%H:%M:%SZ", time.gmtime(first))
        return [
            f"connection failures from {when} ({first - start:.0f} s into the run): "
            f"{int(conn.sum())} requests could not reach the target"
        ]

    def _group(self, rows: Rows, limit: Limit, clause_id: str, title: str, scope: str, apdex_t_ms: float) -> Result:
        d = self.t.defaults
        p = self.p
        failed = p.failed[rows]
        dropped = len(p.dropped_rows(rows)) if limit.is_time else 0
        res = judge_limit(
            limit,
            clause_id=clause_id,
            title=title,
            scope=scope,
            dropped=dropped,
            latencies_sorted=p.ok_ranked(rows) if limit.is_time else _NO_LATENCIES,
            n_all=len(rows),
            failures=int(failed.sum()),
            apdex_t_ms=apdex_t_ms,
            failed_mask=failed if limit.metric == "apdex" else None,
            all_latencies=p.latency[rows] if limit.metric == "apdex" else None,
            confidence=self.confidence,
            min_tail=d.min_tail_samples,
        )
        return self._apply_trust(res, limit)

    def _apply_trust(self, res: Result, limit: Limit) -> Result:
        tr = self.trust
        if limit.is_time or limit.metric == "apdex":
            if tr.generator_saturated and res.status != INCONCLUSIVE:
                return _restate(res, INCONCLUSIVE, tr.generator_saturated)
            if tr.lower_bound and res.status == PASS:
                return _restate(res, INCONCLUSIVE, tr.lower_bound)
        if tr.incomplete and res.status == PASS:
            return _restate(res, INCONCLUSIVE, tr.incomplete)
        return res

    # -- clauses ----------------------------------------------------------------------------------
    def judge_clause(self, c: Clause) -> Result:
        if c.metric == "concurrency":
            return self._concurrency(c, [])
        if c.metric in ZERO_TOLERANCE_METRICS:
            return self._zero_tolerance(c)
        rows = self.p.select_rows(c.select)
        apdex_t_ms = c.apdex_t * 1000.0
        limits = c.parsed
        # every limit on every group, each group its row numbers (no full-length mask per label)
        by_limit: list[list[Result]] = [[] for _ in limits]
        if c.per != "none":
            for label, g in self.p.group_rows(rows, c.per):
                for i, limit in enumerate(limits):
                    by_limit[i].append(self._group(g, limit, c.id, c.title, f"{c.per}={label}", apdex_t_ms))
        results = []
        for limit, parts in zip(limits, by_limit, strict=True):
            pooled = self._group(rows, limit, c.id, c.title, "all", apdex_t_ms)
            if c.per == "none":
                results.append(pooled)
                continue
            if c.metric == "failure_rate" or limit.metric == "rate":
                # pooled rate decides; a group fails the clause only when significantly above on its own
                bad = [p for p in parts if p.status == FAIL]
                status = FAIL if bad or pooled.status == FAIL else pooled.status
                # a group that fails the clause on its own is what the clause reports: its figure,
                # margin and interval, not the pooled ones (which may be well inside the limit)
                head = min(bad, key=lambda p: p.margin if p.margin is not None else math.inf) if bad else pooled
                reason = (
                    pooled.reason
                    if not bad
                    else "significantly above the limit: "
                    + ", ".join(f"{p.scope.split('=', 1)[1]} {p.measured_text()}" for p in bad)
                    + f"; all requests: {pooled.reason}"
                )
                results.append(
                    Result(
                        c.id,
                        c.title,
                        status,
                        head.scope,
                        limit.metric,
                        head.measured,
                        limit.text,
                        head.margin,
                        head.interval,
                        head.samples,
                        reason,
                        tuple(parts),
                    )
                )
            elif not parts:
                results.append(pooled)
            else:
                status = worst([p.status for p in parts])
                decisive = [p for p in parts if p.status == status]
                head = min(decisive, key=lambda p: p.margin if p.margin is not None else math.inf)
                results.append(
                    Result(
                        c.id,
                        c.title,
                        status,
                        head.scope,
                        limit.metric,
                        head.measured,
                        limit.text,
                        head.margin,
                        head.interval,
                        head.samples,
                        f"{head.scope}: {head.reason}",
                        tuple(parts),
                    )
                )
        return _combine(c.id, c.title, results)

    def judge_class(self, k: OperationClass) -> Result:
        return self.judge_clause(k.as_clause())

    def security_probes(self) -> dict[str, Any]:
        """SEC-AC-01 evidence from the probe journeys' requests: a 2xx answer to a forbidden action is a breach."""
        s = self.p.s
        rows = self.p.probes & self.p.kind.eq(Kind.REQUEST)
        status = s["status"][rows]
        outcome = s.t("outcome")
        said_granted, said_denied = outcome.eq(Outcome.GRANTED)[rows], outcome.eq(Outcome.DENIED)[rows]
        read = said_granted | said_denied | outcome.eq(Outcome.UNCLEAR)[rows]
        if read.any():
            # the adapter's reading of each answer (its outcome); a request of a probe journey it did not
            # read and that went well prepared the probe (a form fetched before the probing post): not a probe
            prepared = ~read & outcome.eq(Outcome.OK)[rows]
            granted, denied = said_granted, said_denied
        else:  # runs recorded before the adapter read its probes: by status
            prepared = np.zeros(len(status), dtype=bool)
            granted = (status >= 200) & (status < 300)
            denied = (status == 401) | (status == 403)
        examples = []
        if granted.any():
            ops = s.t("operation").codes[rows][granted]
            personas = s.t("persona").codes[rows][granted]
            op_labels, persona_labels = s.t("operation").labels, s.t("persona").labels
            for o, p, st in list(zip(ops, personas, status[granted], strict=True))[:5]:
                examples.append(f"{persona_labels[p]} was granted {op_labels[o]} (HTTP {st})")
        return {
            "checked": int(rows.sum() - prepared.sum()),
            "breaches": int(granted.sum()),
            "denied": int(denied.sum()),
            "unclear": int((~granted & ~denied & ~prepared).sum()),
            "examples": examples,
        }

    def sessions_lost(self) -> dict[str, Any]:
        """The lost-session evidence: requests of signed-in users (all but logins and probes, the whole
        run) and those answered 401 after a successful login (outcome ``auth_lost``)."""
        s = self.p.s
        rows = self.p.kind.eq(Kind.REQUEST) & ~self.p.probes & ~s.t("operation").eq("auth.login")
        lost = rows & s.t("outcome").eq(Outcome.AUTH_LOST)
        examples = []
        if lost.any():
            ts = s["ts"][lost]
            ops = s.t("operation")
            by_op = np.bincount(ops.codes[lost], minlength=len(ops.labels))
            top = ", ".join(f"{ops.labels[i]} {int(by_op[i])}" for i in np.argsort(-by_op)[:3] if by_op[i])
            start = min((st.start for st in self.run.stages), default=float(ts.min()))
            examples.append(f"from +{float(ts.min()) - start:.0f} s to +{float(ts.max()) - start:.0f} s ({top})")
        return {"checked": int(rows.sum()), "breaches": int(lost.sum()), "examples": examples}

    def _zero_tolerance_data(self, metric: str) -> dict[str, Any] | None:
        """The checks and breaches of a zero-tolerance metric (see ZERO_TOLERANCE)."""
        if metric == "forbidden_granted":
            data = self.run.extras.get("security")
            return data if data is not None else self.security_probes()
        if metric == "lost_writes":
            return self.run.extras.get("audit")
        return self.sessions_lost()

    def _zero_tolerance(self, c: Clause) -> Result:
        not_exercised, counted = ZERO_TOLERANCE[c.metric]
        data = self._zero_tolerance_data(c.metric)
        limit = c.parsed[0]
        checked = int((data or {}).get("checked", 0))
        count = int((data or {}).get("breaches", 0))
        if checked < MIN_ZERO_TOLERANCE_CHECKS and count == 0:  # a breach is a breach, however few the checks
            if data and data.get("reason"):
                why = str(data["reason"])
            elif checked == 0:
                why = not_exercised
            else:
                why = f"only {checked} checks (at least {MIN_ZERO_TOLERANCE_CHECKS} needed)"
            return Result(
                c.id, c.title, INCONCLUSIVE, "all", "count", None, limit.text, None, None, checked,
                f"not exercised: {why}",
            )  # fmt: skip
        assert data is not None
        examples = data.get("examples", [])[:5]
        detail = "; ".join(str(e) for e in examples)
        status = PASS if limit.holds(count) else FAIL
        reason = counted.format(count=count, checked=checked)
        unclear = int(data.get("unclear", 0) or 0)
        if unclear:
            reason += f" ({unclear} unclear: answered neither as a denial nor as a grant, counted in neither)"
        reason += f": {detail}" if detail else ""
        res = Result(
            c.id, c.title, status, "all", "count", float(count), limit.text, limit.margin(count), None, checked, reason
        )
        return self._apply_trust(res, limit)

    def _concurrency(self, c: Clause, others: list[Result]) -> Result:
        required = self.required_users or c.required_users
        lim = f"users >= {required}" if required else "users >= (required)"
        if not required:
            return Result(
                c.id,
                c.title,
                INCONCLUSIVE,
                "all",
                "users",
                None,
                lim,
                None,
                None,
                0,
                "no required concurrency given (clause required_users or scenario required_users)",
            )
        held = self.users_held()
        n = int(self.p.requests.sum())
        if held < required:
            return Result(
                c.id,
                c.title,
                INCONCLUSIVE,
                "all",
                "users",
                float(held),
                lim,
                float(held - required),
                None,
                n,
                f"the run held at most {held} active users in a judged window, below the required {required}: "
                "the claim was not tested" + self._pool_note(),
            )
        status = worst([r.status for r in others]) if others else INCONCLUSIVE
        broke = [r.clause_id for r in others if r.status != PASS]
        if not others:
            reason = "no other clause judged at this load"
        elif status == PASS:
            reason = f"{held} users held; every other judged clause passed"
        else:
            reason = f"{held} users held, but not all clauses passed at that load: {', '.join(broke)}"
        reason += self._pool_note()
        res = Result(c.id, c.title, status, "all", "users", float(held), lim, float(held - required), None, n, reason)
        if self.trust.incomplete and res.status == PASS:
            return _restate(res, INCONCLUSIVE, self.trust.incomplete)
        return res

    def _pool_note(self) -> str:
        """What the user counts say of the open model's pool, when the run had arrivals."""
        scenario = self.run.scenario
        if not any(float(s.get("arrival_rate", 0) or 0) > 0 for s in scenario.get("stages", [])):
            return ""
        pool = int((scenario.get("open_model") or {}).get("max_users", 0))
        if self.run.meta.upgraded_from == 1:
            return f" (users as crmload 0.1 recorded them: they include the open model's pool of {pool}, idle or not)"
        return f" (active users; the open model's idle pool of {pool} is not counted)"

    def users_held(self) -> int:
        """Users held through a judged steady window: the lowest user count seen in it, best stage."""
        best = 0
        gens = self.run.generators
        writer = np.isin(gens["worker"], ["master", "local"]) if len(gens["ts"]) else np.zeros(0, dtype=bool)
        for st in self.run.stages:
            if not st.judged:
                continue
            if len(gens["ts"]):
                m = writer & (gens["ts"] >= st.steady_start) & (gens["ts"] < st.end)
                if m.any():
                    best = max(best, int(gens["users"][m].min()))
                    continue
            m = (self.p.s["stage"] == st.index) & self.p.requests
            if m.any():
                best = max(best, int(np.quantile(self.p.s["users"][m], 0.05)))
        return best

    def verdict(self) -> Verdict:
        wanted = set(self.judge_ids) if self.judge_ids else None
        results: list[Result] = []
        conc: list[Clause] = []
        for c in self.t.clauses:
            if wanted is not None and c.id not in wanted:
                continue
            if c.metric == "concurrency":
                conc.append(c)
                continue
            results.append(self.judge_clause(c))
        for k in self.t.classes:
            if wanted is None or f"CLS-{k.id}" in wanted:
                results.append(self.judge_class(k))
        for c in conc:
            results.insert(0, self._concurrency(c, list(results)))
        order = {cid: i for i, cid in enumerate(self.t.all_ids())}
        results.sort(key=lambda r: order.get(r.clause_id, 1_000))
        return self.finish(results, list(self.trust.warnings))

    def finish(self, results: list[Result], warnings: list[str]) -> Verdict:
        """The verdict of these results: the worst status leads; an interrupted run exits 130."""
        status = worst([r.status for r in results]) if results else INCONCLUSIVE
        if self.run.status == RunStatus.INTERRUPTED:
            code = EXIT_INTERRUPTED
        elif self.run.capture.write_error:
            code = EXIT_USAGE  # the run could not keep its records: an error, whatever was judged of the rest
        else:
            code = {PASS: EXIT_PASS, FAIL: EXIT_FAIL, INCONCLUSIVE: EXIT_INCONCLUSIVE}[status]
        return Verdict(status, code, tuple(results), self.run.status, self.window_s, tuple(warnings))


def _restate(res: Result, status: str, why: str) -> Result:
    return Result(
        res.clause_id,
        res.title,
        status,
        res.scope,
        res.metric,
        res.measured,
        res.limit,
        res.margin,
        res.interval,
        res.samples,
        f"{res.reason}; but {why}",
        res.parts,
    )


def _combine(cid: str, title: str, results: list[Result]) -> Result:
    """One clause with several limits: the worst limit leads, all are kept as parts."""
    if len(results) == 1:
        return results[0]
    status = worst([r.status for r in results])
    lead = next(r for r in results if r.status == status)
    return Result(
        cid,
        title,
        status,
        lead.scope,
        lead.metric,
        lead.measured,
        " and ".join(r.limit for r in results),
        lead.margin,
        lead.interval,
        lead.samples,
        f"{lead.limit}: {lead.reason}",
        tuple(results),
    )


def judge(
    run: RunData, thresholds: Thresholds, judge_ids: list[str] | None = None, required_users: int | None = None
) -> Verdict:
    return Judge(run, thresholds, judge_ids, required_users).verdict()
