"""Regression comparison of two recorded runs: which changes are real, and large enough to matter.

Per operation and per persona (steady state, access probes left out), five metrics are compared:
p50, p95 and p99 of the latency of successful requests, the failure rate and the throughput.

Method (stated in every output):

- **time blocks**: each run's steady window is cut into blocks of ``max(1 s, window / 60)`` (the
  shorter run's window, so both runs use the same length). Requests of the same seconds share the
  system's state — a pause, a checkpoint, a noisy neighbour — so blocks, not single requests, are
  the independent units; treating requests as independent makes every hiccup "significant".
- **percentiles**: the ratio candidate / baseline of the nearest-rank percentiles; a block
  bootstrap (2,000 replicates per run; each draws the run's blocks with replacement) gives the
  percentile interval of the ratio and the standard error of its logarithm — never smaller than
  the one the distribution-free (order-statistic) intervals of the two percentiles imply — and
  Student's t on ``min(blocks) - 1`` degrees of freedom gives the p-value. Fewer than 10 blocks
  per run, or fewer samples than a bounded percentile needs, is ``noisy``.
- **failure rate**: the difference in percentage points, Newcombe's hybrid score interval
  (from the two Wilson intervals), Fisher's exact test.
- **throughput**: requests per second per time block, the ratio of the mean block counts with a
  delta-method interval, Welch's t-test; with fewer than 100 requests in a run, ``noisy``.
- **calling a change**: significant after Holm's correction over every metric compared (family
  error rate ``alpha``, default 5 %) **and** larger than the metric's minimum effect (default 5 %
  of the baseline for latency and throughput, 0.5 percentage points for the failure rate), like
  pyperf's ``--min-speed``. ``unchanged``: not called, and the interval rules out a change as
  large as the minimum effect (or the change is real but smaller than it). ``noisy``: not called,
  but the data cannot rule out a change that large (too few samples, too much spread).
- **the machines**: the runs are taken to share their conditions. A busier machine adds its
  scheduling delay to every request, in the CRM and in the load generator alike, and no
  statistic of one pair of runs tells that apart from a slower CRM. The part that can be told
  apart is: when the CRM sends ``Server-Timing``, the load generator's own time per request
  (response time minus the server's time, median over the steady window) is taken in both runs,
  and a note says so when it grew (or shrank) by more than 1 ms and twofold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import stdtr

from crmload.analysis.prepared import Prepared
from crmload.analysis.run import RunData, load_run, window_seconds
from crmload.analysis.stats import Interval, min_samples_for, percentile, percentile_interval, wilson, z_value
from crmload.analysis.thresholds import load_thresholds
from crmload.analysis.timeline import window_bins
from crmload.core.errors import EXIT_FAIL, RunError
from crmload.core.rundir import COMPARISON_FORMAT, COMPARISON_FORMAT_VERSION

REGRESSED, IMPROVED, UNCHANGED, NOISY = "regressed", "improved", "unchanged", "noisy"
METRICS = ("p50", "p95", "p99", "failure_rate", "throughput")
DEFAULT_MIN_EFFECT = {"p50": 0.05, "p95": 0.05, "p99": 0.05, "failure_rate": 0.005, "throughput": 0.05}
# fields of meta.json that must match for two runs to be comparable, and what each one means
COMPARABLE = {
    "scenario": "the effective scenario (stages, personas, think times, after scaling)",
    "thresholds_sha256": "the standard (thresholds.yaml)",
    "adapter": "the target adapter",
    "data_size": "the reference CRM's data size",
    "processes": "the number of load-generator processes",
    "schema_version": "the sample schema",
}
MIN_BLOCKS = 10  # fewest time blocks per run for a block bootstrap
MIN_THROUGHPUT_REQUESTS = 100  # fewest requests per run for a throughput comparison
Z95 = z_value(0.95)  # two-sided 95 % intervals
MIN_TIMED = 100  # fewest requests with Server-Timing per run for the load generator's own time
METHOD = (
    "block bootstrap of nearest-rank percentiles over time blocks (ratio, percentile interval, Student's t "
    "test of the log-ratio on blocks - 1 degrees of freedom); failure rate: Newcombe "
    "interval, Fisher's exact test; throughput: per time block, Welch's t-test; changes called when significant "
    "after Holm's correction and larger than the minimum effect"
)


class NotComparable(RunError):
    """The runs differ in something that makes their figures incomparable."""


@dataclass(frozen=True)
class Change:
    scope: str  # "operation" | "persona"
    key: str
    metric: str
    base: float
    cand: float
    base_n: int
    cand_n: int
    change: float  # relative (cand / base - 1), or percentage points for the failure rate
    low: float  # interval of the change
    high: float
    p_value: float
    status: str = NOISY
    reason: str = ""

    @property
    def relative(self) -> bool:
        return self.metric != "failure_rate"

    def change_text(self) -> str:
        if not math.isfinite(self.change):
            return "—"
        if self.relative:
            return f"{self.change * 100:+.1f} % [{self.low * 100:+.1f}, {self.high * 100:+.1f}]"
        return f"{self.change * 100:+.2f} pp [{self.low * 100:+.2f}, {self.high * 100:+.2f}]"

    def value_text(self, v: float) -> str:
        if not math.isfinite(v):
            return "—"
        if self.metric == "failure_rate":
            return f"{v * 100:.2f} %"
        if self.metric == "throughput":
            return f"{v:.2f}/s"
        return f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"


@dataclass
class Comparison:
    base: Path
    cand: Path
    changes: list[Change]
    alpha: float
    min_effect: dict[str, float]
    differences: list[str] = field(default_factory=list)  # non-comparable fields, when forced
    block_s: float = 1.0
    method: str = METHOD
    # median load-generator time per request (response time − Server-Timing), baseline and candidate
    client_ms: tuple[float, float] | None = None

    @property
    def status(self) -> str:
        """Regressed or improved when a figure is; unchanged when some figure is shown unchanged and
        none moved; noisy — could not tell — when every figure was too noisy to call (or none compared)."""
        statuses = {c.status for c in self.changes}
        for s in (REGRESSED, IMPROVED, UNCHANGED):
            if s in statuses:
                return s
        return NOISY

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.status == REGRESSED else 0

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.changes) for s in (REGRESSED, IMPROVED, UNCHANGED, NOISY)}

    def notes(self) -> list[str]:
        """What the runs' conditions say about the figures (shown with every output)."""
        if self.client_ms is None:
            return []
        b, c = self.client_ms
        if abs(c - b) < 1.0 or max(b, c) < 2 * min(b, c):
            return []
        busier = "candidate" if c > b else "baseline"
        return [
            f"the load generator's own time per request (response time minus the CRM's Server-Timing, "
            f"median) was {b:.1f} ms in the baseline and {c:.1f} ms in the candidate: the {busier}'s load "
            "generator or its machine was busier, and its latencies include that delay"
        ]

    def called(self, status: str) -> list[Change]:
        return [c for c in self.changes if c.status == status]

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "format": COMPARISON_FORMAT,
            "format_version": COMPARISON_FORMAT_VERSION,
            "status": self.status,
            "baseline": str(self.base),
            "candidate": str(self.cand),
            "alpha": self.alpha,
            "min_effect": self.min_effect,
            "method": self.method,
            "block_s": self.block_s,
            "counts": self.counts(),
            "forced_differences": self.differences,
            "client_ms": list(self.client_ms) if self.client_ms else None,
            "notes": self.notes(),
            "changes": [{k: clean(v) for k, v in asdict(c).items()} for c in self.changes],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        """The comparison as ``to_dict`` wrote it (comparison.json), for re-rendering a report."""

        def num(v: Any) -> float:
            return math.nan if v is None else float(v)  # to_dict writes NaN and infinities as null

        convert: dict[str, Callable[[Any], Any]] = {"float": num, "int": int, "str": str}

        def change(c: dict[str, Any]) -> Change:
            values: dict[str, Any] = {f.name: convert[str(f.type)](c[f.name]) for f in fields(Change)}
            for bound, unbounded in (("low", -math.inf), ("high", math.inf)):
                if c[bound] is None:  # an interval's bound is finite or unbounded, never NaN
                    values[bound] = unbounded
            return Change(**values)

        changes = [change(c) for c in d["changes"]]
        return cls(
            base=Path(d["baseline"]),
            cand=Path(d["candidate"]),
            changes=changes,
            alpha=float(d["alpha"]),
            min_effect=dict(d["min_effect"]),
            differences=list(d.get("forced_differences", [])),
            block_s=float(d.get("block_s", 1.0)),
            method=str(d.get("method", METHOD)),
            client_ms=(float(d["client_ms"][0]), float(d["client_ms"][1])) if d.get("client_ms") else None,
        )


# -- comparability --------------------------------------------------------------------------------


def differences(base: dict[str, Any], cand: dict[str, Any]) -> list[str]:
    """The comparability fields of two runs' meta.json that differ, each as a sentence."""
    out = []
    for key, what in COMPARABLE.items():
        a, b = base.get(key), cand.get(key)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                out.append(f"{key} ({what}) differs in {', '.join(keys)}")
            else:
                out.append(f"{key} ({what}): {a!r} vs {b!r}")
    return out


# -- statistics -----------------------------------------------------------------------------------


PS = (50.0, 95.0, 99.0)  # the percentiles compared


@dataclass(frozen=True)
class LatencySummary:
    """One scope's latencies in one run, reduced to what the comparison needs: the count, the
    nearest-rank percentiles and their distribution-free intervals, and per time block how many
    samples lie at or below each value of a grid (what the block bootstrap draws from). Its size
    is blocks × grid, whatever the number of samples, so that a run can be summarised and let go
    before the other is read."""

    n: int
    n_blocks: int
    grid: NDArray[np.float64]
    at_or_below: NDArray[np.float64]  # (n_blocks, len(grid))
    sizes: NDArray[np.float64]  # samples per block
    percentiles: dict[float, float]
    intervals: dict[float, Interval]


def summarise_latencies(
    values: NDArray[np.float64], blocks: NDArray[np.int64], n_blocks: int, grid_size: int = 5_000
) -> LatencySummary:
    """The :class:`LatencySummary` of ``values`` (each in time block ``blocks``, of ``n_blocks``).

    The grid is every sorted value up to ``grid_size`` samples, else ``grid_size`` evenly spaced
    ranks (a resolution of 1/``grid_size`` of the distribution)."""
    v = np.sort(values)
    grid = v if len(v) <= grid_size else v[np.linspace(0, len(v) - 1, grid_size).astype(np.int64)]
    at_or_below = np.zeros((n_blocks, len(grid)))
    order = np.argsort(blocks, kind="stable")
    sorted_blocks = blocks[order]
    starts = np.searchsorted(sorted_blocks, np.arange(n_blocks + 1))
    for k in np.unique(sorted_blocks):
        own = np.sort(values[order[starts[k] : starts[k + 1]]])
        at_or_below[k] = np.searchsorted(own, grid, side="right")
    sizes = np.bincount(blocks, minlength=n_blocks).astype(np.float64)
    return LatencySummary(
        len(v),
        n_blocks,
        grid.copy(),
        at_or_below,
        sizes,
        {p: percentile(v, p) for p in PS},
        {p: percentile_interval(v, p) for p in PS},
    )


def bootstrap_replicates(
    summary: LatencySummary, ps: tuple[float, ...], draws: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``draws`` × ``len(ps)`` block-bootstrap replicates of nearest-rank percentiles.

    Each replicate draws ``n_blocks`` time blocks with replacement and weighs every sample by how
    often its block was drawn; the percentile is the nearest-rank one of the weighted samples.
    Requests of the same seconds share the system's state (a pause, a checkpoint), so blocks, not
    samples, are the independent units. With one sample per block this is the ordinary bootstrap.

    Computed as (draw counts per block) × (per block, how many of its samples are <= each grid
    value): one matrix product, whatever the number of samples. Replicates whose drawn blocks hold
    no sample are NaN.
    """
    grid, at_or_below, n_blocks = summary.grid, summary.at_or_below, summary.n_blocks
    out = np.full((draws, len(ps)), np.nan)
    uniform = np.full(n_blocks, 1.0 / n_blocks)
    chunk = max(1, 2_000_000 // max(1, len(grid)))
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        counts = rng.multinomial(n_blocks, uniform, size=m).astype(np.float64)  # (m, blocks)
        cumulative = counts @ at_or_below  # (m, grid): weight at or below each grid value
        total = counts @ summary.sizes
        for j, p in enumerate(ps):
            rank = np.maximum(1.0, np.ceil(p / 100.0 * total - 1e-9))
            idx = np.minimum((cumulative < rank[:, None] - 0.5).sum(axis=1), len(grid) - 1)
            out[start : start + m, j] = np.where(total > 0, grid[idx], np.nan)
    return out


def block_bootstrap_percentiles(
    values: NDArray[np.float64],
    blocks: NDArray[np.int64],
    n_blocks: int,
    ps: tuple[float, ...],
    draws: int,
    rng: np.random.Generator,
    grid_size: int = 5_000,
) -> NDArray[np.float64]:
    """:func:`bootstrap_replicates` of the samples themselves (their summary made first)."""
    return bootstrap_replicates(summarise_latencies(values, blocks, n_blocks, grid_size), ps, draws, rng)


def _percentile_changes(
    scope: str, key: str, base: LatencySummary, cand: LatencySummary, draws: int, seed: int
) -> list[Change]:
    """p50, p95, p99 of one scope: ratio, its percentile interval, and a t test on the log-ratio
    with the bootstrap's standard error (so that p-values smaller than 1 / draws can be told)."""
    out: list[Change] = []
    kb, kc = base.n_blocks, cand.n_blocks
    reps: NDArray[np.float64] | None = None
    for j, p in enumerate(PS):
        metric = f"p{p:g}"
        b, c = base.percentiles[p], cand.percentiles[p]
        need = min_samples_for(p)
        why = ""
        if base.n < need or cand.n < need:
            why = f"too few samples for a p{p:g} ({base.n} and {cand.n}; {need} needed in each)"
        elif min(kb, kc) < MIN_BLOCKS:
            why = f"too few time blocks to bootstrap ({kb} and {kc}; {MIN_BLOCKS} needed): runs too short"
        elif not b > 0:
            why = "the baseline value is 0"
        if why:
            change = c / b - 1 if b > 0 else math.nan
            out.append(Change(scope, key, metric, b, c, base.n, cand.n, change, -math.inf, math.inf, 1.0, NOISY, why))
            continue
        if reps is None:
            rng = np.random.default_rng(seed)
            rb = bootstrap_replicates(base, PS, draws, rng)
            rc = bootstrap_replicates(cand, PS, draws, rng)
            with np.errstate(divide="ignore", invalid="ignore"):
                reps = np.log(rc / rb)
        logs = reps[:, j]
        logs = logs[np.isfinite(logs)]
        low, high = np.quantile(logs, [0.025, 0.975]) if len(logs) else (-math.inf, math.inf)
        # the bootstrap's spread of a percentile of a few dozen samples is lumpy and, by chance,
        # sometimes far too narrow; the distribution-free interval of each run's percentile (order
        # statistics) bounds the standard error from below, so small samples cannot look certain
        se = max(float(logs.std(ddof=1)) if len(logs) > 1 else math.inf, _order_statistic_se(base, cand, p))
        est = math.log(c / b) if c > 0 else -math.inf
        # Student's t with the blocks as the sample: the standard error is itself estimated from
        # min(blocks) - 1 independent units, and a normal tail would call 1-in-1000 events 3-4x too often
        p_value = float(2.0 * stdtr(min(kb, kc) - 1, -abs(est) / se)) if se > 0 else 1.0 if est == 0 else 0.0
        out.append(
            Change(scope, key, metric, b, c, base.n, cand.n, c / b - 1, math.expm1(low), math.expm1(high), p_value)
        )
    return out


def _order_statistic_se(base: LatencySummary, cand: LatencySummary, p: float) -> float:
    """Standard error of log(cand / base) from the distribution-free 95 % intervals of each run's
    percentile (half width on the log scale over 1.96), the runs taken as independent."""
    total = 0.0
    for summary in (base, cand):
        iv = summary.intervals[p]
        if iv.low is None or iv.high is None or not iv.low > 0:
            return math.inf
        total += ((math.log(iv.high) - math.log(iv.low)) / (2.0 * Z95)) ** 2
    return math.sqrt(total)


def _failure_change(scope: str, key: str, fb: int, nb: int, fc: int, nc: int) -> Change:
    from scipy.stats import fisher_exact

    pb, pc = fb / nb, fc / nc
    wb, wc = wilson(fb, nb), wilson(fc, nc)
    assert wb.low is not None and wb.high is not None and wc.low is not None and wc.high is not None
    d = pc - pb
    low = d - math.sqrt((pc - wc.low) ** 2 + (wb.high - pb) ** 2)
    high = d + math.sqrt((wc.high - pc) ** 2 + (pb - wb.low) ** 2)
    p_value = 1.0 if fb == fc == 0 else float(fisher_exact(np.array([[fc, nc - fc], [fb, nb - fb]]))[1])
    return Change(scope, key, "failure_rate", pb, pc, nb, nc, d, low, high, p_value)


def _throughput_change(
    scope: str, key: str, bins_b: NDArray[np.float64], bins_c: NDArray[np.float64], block_s: float
) -> Change:
    from scipy.stats import ttest_ind

    nb, nc = len(bins_b), len(bins_c)
    mb, mc = float(bins_b.mean()), float(bins_c.mean())
    counts = (round(float(bins_b.sum()) * block_s), round(float(bins_c.sum()) * block_s))
    why = ""
    if nb < MIN_BLOCKS or nc < MIN_BLOCKS:
        why = f"too few time blocks ({nb} and {nc}; {MIN_BLOCKS} needed)"
    elif min(counts) < MIN_THROUGHPUT_REQUESTS:
        # sparse counts (mostly 0 or 1 a block) make a t-test's normal approximation false
        why = f"too few requests to compare rates ({counts[0]} and {counts[1]}; {MIN_THROUGHPUT_REQUESTS} needed)"
    if why:
        return Change(
            scope,
            key,
            "throughput",
            mb,
            mc,
            int(bins_b.sum()),
            int(bins_c.sum()),
            mc / mb - 1 if mb > 0 else math.nan,
            -math.inf,
            math.inf,
            1.0,
            NOISY,
            why,
        )
    vb, vc = float(bins_b.var(ddof=1)) / nb, float(bins_c.var(ddof=1)) / nc
    ratio = mc / mb
    se = ratio * math.sqrt(vb / mb**2 + (vc / mc**2 if mc > 0 else 0.0))
    p_value = 1.0 if vb == vc == 0 and mb == mc else float(ttest_ind(bins_c, bins_b, equal_var=False).pvalue)
    if not math.isfinite(p_value):
        p_value = 0.0 if mb != mc else 1.0
    return Change(
        scope, key, "throughput", mb, mc, int(bins_b.sum()), int(bins_c.sum()), ratio - 1, ratio - 1 - Z95 * se,
        ratio - 1 + Z95 * se, p_value,
    )  # fmt: skip


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def classify(ch: Change, adjusted_p: float, alpha: float, min_effect: float) -> Change:
    """Regressed / improved / unchanged / noisy, with the reason in words."""
    if ch.status == NOISY and ch.reason:
        return ch
    worse = ch.change < 0 if ch.metric == "throughput" else ch.change > 0
    unit = "" if ch.relative else " pp"
    eps = min_effect * 100
    significant = adjusted_p < alpha
    if significant and abs(ch.change) >= min_effect:
        status = REGRESSED if worse else IMPROVED
        reason = f"significant (adjusted p={adjusted_p:.2g}) and beyond the minimum effect of {eps:g}{unit or ' %'}"
    elif -min_effect < ch.low and ch.high < min_effect:
        status, reason = UNCHANGED, f"interval within ±{eps:g}{unit or ' %'}"
    elif significant:
        status, reason = UNCHANGED, f"significant but smaller than the minimum effect of {eps:g}{unit or ' %'}"
    else:
        status = NOISY
        reason = f"not significant (adjusted p={adjusted_p:.2g}) but the interval reaches beyond ±{eps:g}{unit or ' %'}"
    return Change(**{**asdict(ch), "status": status, "reason": reason})


# -- the comparison -------------------------------------------------------------------------------


def failure_outcomes_of(run: RunData) -> list[str] | None:
    """The outcomes that counted as failures in ``run``: as its ``meta.json`` recorded them (schema 2),
    else as its own copy of the standard says (runs recorded before), else None (the default set)."""
    if run.meta.failure_outcomes is not None:
        return run.meta.failure_outcomes
    own = run.path / "thresholds.yaml"
    return [str(o) for o in load_thresholds(own).defaults.failure_outcomes] if own.exists() else None


WINDOW_COLUMNS = ("ts", "response_time_ms", "kind", "outcome")  # what a run's steady window needs


def block_seconds(base_s: float, cand_s: float) -> float:
    """The time-block length both runs are cut into (their steady windows ``base_s`` and
    ``cand_s`` long): whole seconds, about 60 blocks in the shorter window."""
    return float(max(1, math.floor(min(base_s, cand_s) / 60.0)))


@dataclass(frozen=True)
class ScopeSummary:
    """One scope (an operation, a persona) of one run: all the comparison reads of it."""

    latency: LatencySummary
    n: int
    failures: int
    per_second: NDArray[np.float64]  # requests per second in each time block


@dataclass(frozen=True)
class RunSummary:
    """One run, reduced for the comparison (its samples let go once it is made)."""

    scopes: dict[tuple[str, str], ScopeSummary]
    client_ms: float | None


def summarise_run(run: RunData, block_s: float) -> RunSummary:
    """The steady-state requests of ``run`` by operation and persona, cut into time blocks of
    ``block_s`` (its whole blocks only), summarised."""
    j = Prepared(run, failure_outcomes_of(run))
    ts = run.samples["ts"]
    windows = [(st.steady_start, st.end) for st in run.stages if st.judged]
    if not run.stages:
        inside = ts[j.requests]
        windows = [(float(inside.min()), float(inside.max()) + 1e-6)] if len(inside) else []
    block, centres = window_bins(ts, windows, block_s)
    n_blocks = len(centres)
    rows = np.flatnonzero(j.requests & (block >= 0))
    scopes: dict[tuple[str, str], ScopeSummary] = {}
    for scope in ("operation", "persona"):
        for key, g in j.group_rows(rows, scope):
            good = g[j.ok[g]]
            scopes[(scope, key)] = ScopeSummary(
                summarise_latencies(j.latency[good], block[good], n_blocks),
                len(g),
                int(j.failed[g].sum()),
                np.bincount(block[g], minlength=n_blocks).astype(np.float64) / block_s,
            )
    s = run.samples
    own = (s["response_time_ms"] - s["server_ms"])[rows]  # NaN where the CRM sent no Server-Timing
    own = own[np.isfinite(own)]
    # the median load-generator time per steady-state request (response time − Server-Timing)
    client = float(np.median(own)) if len(own) >= MIN_TIMED else None
    return RunSummary(scopes, client)


def compare(
    base_dir: Path,
    cand_dir: Path,
    min_effect: dict[str, float] | None = None,
    alpha: float = 0.05,
    force: bool = False,
    draws: int = 2_000,
) -> Comparison:
    """Compare ``cand_dir`` with ``base_dir``; raises :class:`NotComparable` unless ``force``.

    No standard is involved: each run's failure outcomes are the ones it recorded
    (:func:`failure_outcomes_of`). One run is in memory at a time: each is summarised
    (:func:`summarise_run`, blocks × grid values per scope) and let go before the next is read;
    their steady windows, which set the block length, are read first from four columns."""
    light = [load_run(d, columns=WINDOW_COLUMNS) for d in (base_dir, cand_dir)]
    diffs = differences(light[0].meta.model_dump(mode="json"), light[1].meta.model_dump(mode="json"))
    if diffs and not force:
        raise NotComparable(
            f"{cand_dir} cannot be compared with {base_dir}: " + "; ".join(diffs) + " (pass --force to compare anyway)"
        )
    block_s = block_seconds(window_seconds(light[0]), window_seconds(light[1]))
    del light
    effects = {**DEFAULT_MIN_EFFECT, **(min_effect or {})}
    sb = summarise_run(load_run(base_dir), block_s)
    sc = summarise_run(load_run(cand_dir), block_s)
    raw: list[Change] = []
    for scope in ("operation", "persona"):
        keys = sorted(k for sc_, k in set(sb.scopes) & set(sc.scopes) if sc_ == scope)
        for key in keys:
            b, c = sb.scopes[(scope, key)], sc.scopes[(scope, key)]
            raw += _percentile_changes(scope, key, b.latency, c.latency, draws, seed=len(raw))
            raw.append(_failure_change(scope, key, b.failures, b.n, c.failures, c.n))
            raw.append(_throughput_change(scope, key, b.per_second, c.per_second, block_s))
    tested = [i for i, ch in enumerate(raw) if not (ch.status == NOISY and ch.reason)]
    adjusted = holm([raw[i].p_value for i in tested])
    p_of = dict(zip(tested, adjusted, strict=True))
    changes = [classify(ch, p_of.get(i, 1.0), alpha, effects[ch.metric]) for i, ch in enumerate(raw)]
    client = (sb.client_ms, sc.client_ms) if sb.client_ms is not None and sc.client_ms is not None else None
    return Comparison(base_dir, cand_dir, changes, alpha, effects, diffs, block_s, client_ms=client)


def parse_min_effect(values: list[str]) -> dict[str, float]:
    """``["10%"]`` (every relative metric) or ``["p99=10%", "failure_rate=0.2%"]`` → per-metric minimum effects."""
    out: dict[str, float] = {}
    for text in values:
        name, sep, value = text.rpartition("=")
        v = value.strip()
        try:
            num = float(v.rstrip("%")) / 100.0 if v.endswith("%") else float(v)
        except ValueError:
            raise RunError(f"--min-effect {text!r}: expected a number or a percentage, e.g. 5% or p99=10%") from None
        if not num >= 0:
            raise RunError(f"--min-effect {text!r}: must not be negative")
        if not sep:
            out.update({m: num for m in METRICS if m != "failure_rate"})
        elif name in METRICS:
            out[name] = num
        else:
            raise RunError(f"--min-effect {text!r}: unknown metric {name!r}; one of {', '.join(METRICS)}")
    return out
