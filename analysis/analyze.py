"""Analyse a run directory: judge it against a standard and write the verdict files."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis import capacity, drift, surge
from analysis.compare import Comparison
from analysis.comparison_outputs import html_section
from analysis.outputs import junit_xml, summary_markdown, write_verdict_json
from analysis.report import kind_html, render
from analysis.run import RunData, load_run
from analysis.tables import Row, scope_table
from analysis.thresholds import Thresholds
from analysis.timeline import grouped_timelines, timeline
from analysis.verdict import Judge, Result, Verdict


@dataclass(frozen=True)
class Analysis:
    run: RunData
    verdict: Verdict
    tables: dict[str, list[Row]]


def make_charts(
    run: RunData, judge: Judge, thresholds: Thresholds, operations: list[Row]
) -> dict[str, tuple[str, bytes]]:
    """The report's charts: name -> (caption, PNG). Probes are left out; the whole run is shown."""
    from analysis import charts  # matplotlib is imported only when a report is written

    s = run.samples
    requests = judge.kind.eq("request") & ~judge.probes
    ts = s["ts"]
    t0 = run.stages[0].start if run.stages else float(np.nanmin(ts)) if len(ts) else 0.0
    t1 = run.stages[-1].end if run.stages else float(np.nanmax(ts)) if len(ts) else t0 + 1
    overall = timeline(s, requests, judge.failed, judge.ok, judge.latency, t0, t1)
    per_persona = grouped_timelines(s, requests, "persona", judge.failed, judge.ok, judge.latency, t0, t1)
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


LONG_RUN_S = 600.0  # steady runs at least this long get the soak's drift analysis too


def _kind_analyses(
    run: RunData,
    judge: Judge,
    thresholds: Thresholds,
    ids: list[str] | None,
    verdict: Verdict,
    scenario: dict[str, Any],
    charts_wanted: bool,
) -> tuple[Verdict, dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The analyses a scenario's kind asks for: capacity (staircase), surge, drift (soak, and steady
    runs of ten minutes or more; a staircase or a surge changes the load on purpose).

    Returns the verdict they amend, their JSON sections and their charts."""
    sections: dict[str, Any] = {}
    charts_out: dict[str, tuple[str, bytes]] = {}
    results = list(verdict.results)
    warnings = list(verdict.warnings)
    kind = scenario.get("kind", "steady")
    if kind == "capacity":
        cap, zero = capacity.analyse(run, thresholds, ids, scenario.get("required_users"))
        results = [cap.result, *zero]  # the other clauses are judged step by step (see capacity.py)
        warnings = [w for w in warnings if w != judge.trust.lower_bound]  # not a caveat here (see capacity.py)
        sections["capacity"] = cap.to_dict()
        if charts_wanted and cap.steps:
            from analysis import charts

            charts_out["staircase"] = ("Staircase: throughput and p95 against users", charts.staircase(cap))
    found = surge.analyse(run, thresholds, ids, float(scenario.get("recovery_window", 10.0)))
    if found is not None:
        results += [*found.results, found.result]
        sections["surge"] = found.to_dict()
        if charts_wanted:
            from analysis import charts

            charts_out["surge"] = ("Surge: arrivals, p95 and failures over time, recovery marked", charts.surge(found))
    if kind not in ("soak", "steady") or (kind == "steady" and judge.window_s < LONG_RUN_S):
        return _amended(judge, verdict, results, warnings), sections, charts_out
    windows = [(st.steady_start, st.end) for st in run.stages if st.judged] or [
        (float(run.samples["ts"].min()), float(run.samples["ts"].max()))
    ]
    req = judge.kind.eq("request") & ~judge.probes
    trends = drift.drift(
        run.samples["ts"][req],
        judge.latency[req],
        judge.ok[req],
        judge.failed[req],
        windows,
        float(scenario.get("max_drift", 0.1)),
    )
    sections["drift"] = [t.to_dict() for t in trends]
    flagged = [t for t in trends if t.drift]
    if kind == "soak":
        results.append(drift.result(trends))
    elif flagged:
        warnings += [f"{t.metric} {t.reason}" for t in flagged]
    if kind == "soak" and charts_wanted and trends:
        from analysis import charts

        charts_out["drift"] = ("Drift: p95 and failure rate per bin with their Theil–Sen trend", charts.drift(trends))
    return _amended(judge, verdict, results, warnings), sections, charts_out


def _amended(judge: Judge, verdict: Verdict, results: list[Result], warnings: list[str]) -> Verdict:
    if results == list(verdict.results) and warnings == list(verdict.warnings):
        return verdict
    return judge.finish(results, warnings)


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
    scenario = run.meta.get("scenario") or {}
    ids = judge_ids if judge_ids is not None else scenario.get("judge")
    judge = Judge(run, thresholds, ids, scenario.get("required_users"))
    verdict = judge.verdict()
    verdict, sections, extra_charts = _kind_analyses(run, judge, thresholds, ids, verdict, scenario, write and report)
    fo: list[str] = [str(o) for o in thresholds.defaults.failure_outcomes]
    steady = judge.s
    req = judge.requests
    jour = judge.kind.eq("journey") & judge.window
    all_requests = run.samples.t("kind").eq("request")
    tables = {
        "operation": scope_table(steady, req, "operation", judge.window_s, fo),
        "persona": scope_table(steady, req, "persona", judge.window_s, fo),
        "journey": scope_table(steady, jour, "operation", judge.window_s, [*fo, "http_4xx"]),
        "stage": scope_table(
            run.samples, all_requests, "stage", {str(st.index): st.end - st.start for st in run.stages}, fo
        ),
    }
    names = {str(st.index): f"{st.index} {st.name}" for st in run.stages}
    tables["stage"] = [replace(row, key=names.get(row.key, row.key)) for row in tables["stage"]]
    if write and report:
        charts = {**make_charts(run, judge, thresholds, tables["operation"]), **extra_charts}
        chart_dir = run_dir / "charts"
        chart_dir.mkdir(exist_ok=True)
        for name, (_caption, png) in charts.items():
            (chart_dir / f"{name}.png").write_bytes(png)
        section = html_section(comparison) if comparison is not None else ""
        page = render(verdict, tables, charts, run.meta, fo, section + kind_html(sections))
        (run_dir / "report.html").write_text(page, encoding="utf-8")
    if write:
        write_verdict_json(run_dir / "verdict.json", verdict, tables, run.meta, sections)
        (run_dir / "summary.md").write_text(summary_markdown(verdict, tables, run.meta))
        (run_dir / "junit.xml").write_text(junit_xml(verdict, run.meta))
    return Analysis(run, verdict, tables)
