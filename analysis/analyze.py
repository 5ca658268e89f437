"""Analyse a run directory: judge it against a standard and write the verdict files."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from crmload.analysis.compare import NOISY, REGRESSED, Comparison
from crmload.analysis.comparison_outputs import html_section
from crmload.analysis.formats import OutputContext, write_outputs
from crmload.analysis.kinds import KindContext, analyse_kinds
from crmload.analysis.run import RunData, load_run
from crmload.analysis.tables import Row, scope_table
from crmload.analysis.thresholds import Thresholds
from crmload.analysis.timeline import grouped_timelines, timeline
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS, Judge, Result, Verdict
from crmload.core.rundir import Kind, Outcome


@dataclass(frozen=True)
class Analysis:
    run: RunData
    verdict: Verdict
    tables: dict[str, list[Row]]


def make_charts(
    run: RunData, judge: Judge, thresholds: Thresholds, operations: list[Row]
) -> dict[str, tuple[str, bytes]]:
    """The report's charts: name -> (caption, PNG). Probes are left out; the whole run is shown."""
    from crmload.analysis import charts  # matplotlib is imported only when a report is written

    s = run.samples
    requests = judge.p.all_requests()
    ts = s["ts"]
    t0 = run.stages[0].start if run.stages else float(np.nanmin(ts)) if len(ts) else 0.0
    t1 = run.stages[-1].end if run.stages else float(np.nanmax(ts)) if len(ts) else t0 + 1
    overall = timeline(s, requests, judge.p.failed, judge.p.ok, judge.p.latency, t0, t1)
    per_persona = grouped_timelines(s, requests, "persona", judge.p.failed, judge.p.ok, judge.p.latency, t0, t1)
    rt_limit = thresholds.lookup_p95_limit_ms()
    err_limit = thresholds.failure_rate_limit()
    # the operations table has sorted each operation's latencies already: its box figures are reused
    per_op = {row.key: {"n": float(row.n), **row.box_ms} for row in operations if row.box_ms}
    return {
        "load": ("Users and throughput over time", charts.load_over_time(overall, run.stages)),
        "latency": (
            "Latency percentiles over time per persona",
            charts.latency_over_time(per_persona, run.stages, rt_limit),
        ),
        "errors": ("Failure rate over time", charts.errors_over_time(overall, run.stages, err_limit)),
        "distribution": ("Latency distribution per operation", charts.latency_distribution(per_op)),
        "concurrency": (
            "Latency against concurrency",
            charts.latency_vs_concurrency(overall.users, overall.percentiles_ms["p95"], overall.throughput_rps),
        ),
    }


BASELINE_CLAUSE = "REG-01"


def baseline_result(comparison: Comparison) -> Result:
    """``REG-01``: the run against its baseline, as a clause of the verdict (FAIL on a regression
    that is significant and at least the minimum effect; PASS otherwise)."""
    bad = comparison.called(REGRESSED)
    counts = comparison.counts()
    if bad:
        listed = "; ".join(f"{c.scope}={c.key} {c.metric} {c.change_text()}" for c in bad[:5])
        reason = f"{len(bad)} figures regressed against the baseline: {listed}" + (" …" if len(bad) > 5 else "")
    else:
        reason = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing compared"
        if comparison.status == NOISY:
            reason = f"could not tell: every figure was too noisy to call against the baseline ({reason})"
        else:
            reason = f"no figure regressed against the baseline ({reason})"
    status = FAIL if bad else INCONCLUSIVE if comparison.status == NOISY else PASS
    return Result(
        BASELINE_CLAUSE,
        "No regression against the baseline",
        status,
        f"baseline {comparison.base.name}",
        "regressions",
        float(len(bad)),
        "regressed == 0",
        -float(len(bad)),
        None,
        sum(c.cand_n for c in comparison.changes if c.scope == "operation" and c.metric == "p50"),
        reason,
    )


def analyze(
    run_dir: Path,
    thresholds: Thresholds,
    judge_ids: list[str] | None = None,
    write: bool = True,
    report: bool = True,
    comparison: Comparison | None = None,
) -> Analysis:
    """Judge ``run_dir``; clause selection and required users default to what its scenario says.

    ``write``: write verdict.json, summary.md and junit.xml; ``report``: also the charts and report.html
    (with a section for ``comparison``, a comparison of this run with a baseline, when given).
    """
    run = load_run(run_dir)
    scenario = run.scenario
    ids = judge_ids if judge_ids is not None else scenario.get("judge")
    judge = Judge(run, thresholds, ids, scenario.get("required_users"))
    kinds = analyse_kinds(KindContext(run, judge, thresholds, ids, write and report), judge.verdict())
    verdict = kinds.verdict
    if comparison is not None:  # one answer: a regression is in the verdict, its exit code and every output
        verdict = judge.finish([*verdict.results, baseline_result(comparison)], list(verdict.warnings))
    fo: list[str] = [str(o) for o in thresholds.defaults.failure_outcomes]
    p = judge.p
    jour = p.kind.eq(Kind.JOURNEY) & p.window
    all_requests = run.samples.t("kind").eq(Kind.REQUEST)
    tables = {
        "operation": scope_table(p, p.requests, "operation", p.window_s, fo, dropped=True),
        "persona": scope_table(p, p.requests, "persona", p.window_s, fo, dropped=True),
        "journey": scope_table(p, jour, "operation", p.window_s, [*fo, Outcome.HTTP_4XX]),
        "stage": scope_table(p, all_requests, "stage", {str(st.index): st.end - st.start for st in run.stages}, fo),
    }
    names = {str(st.index): f"{st.index} {st.name}" for st in run.stages}
    tables["stage"] = [replace(row, key=names.get(row.key, row.key)) for row in tables["stage"]]
    if write:
        ctx = OutputContext(run_dir, run, verdict, tables, kinds.sections, fo)
        if report:
            ctx.charts = {**make_charts(run, judge, thresholds, tables["operation"]), **kinds.charts}
            ctx.extra_html = html_section(comparison) if comparison is not None else ""
        write_outputs(ctx, report)
    return Analysis(run, verdict, tables)
