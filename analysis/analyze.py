"""Analyse a run directory: judge it against a standard and write the verdict files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.outputs import junit_xml, summary_markdown, write_verdict_json
from analysis.run import RunData, load_run
from analysis.tables import Row, scope_table
from analysis.thresholds import Thresholds
from analysis.verdict import Judge, Verdict


@dataclass(frozen=True)
class Analysis:
    run: RunData
    verdict: Verdict
    tables: dict[str, list[Row]]


def analyze(run_dir: Path, thresholds: Thresholds, judge_ids: list[str] | None = None, write: bool = True) -> Analysis:
    """Judge ``run_dir``; clause selection and required users default to what its scenario says."""
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
    if write:
        write_verdict_json(run_dir / "verdict.json", verdict, tables, run.meta)
        (run_dir / "summary.md").write_text(summary_markdown(verdict, tables, run.meta))
        (run_dir / "junit.xml").write_text(junit_xml(verdict, run.meta))
    return Analysis(run, verdict, tables)
