"""Analyse a run directory: judge it against a standard and write the verdict files."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from analysis.outputs import junit_xml, summary_markdown, write_verdict_json
from analysis.report import render
from analysis.run import RunData, load_run
from analysis.tables import Row, scope_table
from analysis.thresholds import Thresholds
from analysis.timeline import grouped_timelines, timeline
from analysis.verdict import Judge, Verdict


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
    rt_limit = next(
        (lim.value for c in thresholds.clauses if c.id == "PERF-RT-01" for lim in c.parsed if lim.percentile == 95),
        None,
    )
    err_limit = next(
        (
            lim.value
            for c in thresholds.clauses
            if c.metric == "failure_rate"
            for lim in c.parsed
            if lim.metric == "rate"
        ),
        None,
    )
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


def analyze(
    run_dir: Path, thresholds: Thresholds, judge_ids: list[str] | None = None, write: bool = True, report: bool = True
) -> Analysis:
    """Judge ``run_dir``; clause selection and required users default to what its scenario says.

    ``write``: write verdict.json, summary.md and junit.xml; ``report``: also the charts and report.html.
    """
    run = load_run(run_dir)
    scenario = run.meta.get("scenario") or {}
    ids = judge_ids if judge_ids is not None else scenario.get("judge")
    judge = Judge(run, thresholds, ids, scenario.get("required_users"))
    verdict = judge.verdict()
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
        charts = make_charts(run, judge, thresholds, tables["operation"])
        chart_dir = run_dir / "charts"
        chart_dir.mkdir(exist_ok=True)
        for name, (_caption, png) in charts.items():
            (chart_dir / f"{name}.png").write_bytes(png)
        (run_dir / "report.html").write_text(render(verdict, tables, charts, run.meta, fo), encoding="utf-8")
    if write:
        write_verdict_json(run_dir / "verdict.json", verdict, tables, run.meta)
        (run_dir / "summary.md").write_text(summary_markdown(verdict, tables, run.meta))
        (run_dir / "junit.xml").write_text(junit_xml(verdict, run.meta))
    return Analysis(run, verdict, tables)
