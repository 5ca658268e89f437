"""Running the real ``crmload`` command in a subprocess and reading what it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from jsonschema import Draft202012Validator

from crmload.analysis.plan import Need, plan
from crmload.analysis.thresholds import load_thresholds
from crmload.core import samplefiles
from crmload.core.rundir import (
    COMPARISON_FORMAT,
    COMPARISON_FORMAT_VERSION,
    VERDICT_FORMAT,
    VERDICT_FORMAT_VERSION,
    schema_file,
)
from crmload.core.scenario import Scenario

REPO = Path(__file__).resolve().parent.parent


def samples_of(run_dir: Path) -> pd.DataFrame:
    """A run's samples, whatever their form (segments of a run going or killed, the compacted file)."""
    return samplefiles.read_table(run_dir).to_pandas()


def recorded(run_dir: Path) -> int:
    """How many samples a run (going or ended) has on disk so far; 0 before the first."""
    try:
        return samplefiles.read_table(run_dir).num_rows
    except FileNotFoundError:
        return 0


def request_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The run's request samples as dicts (typed: ``status`` and ``users`` are ints)."""
    rows: list[dict[str, Any]] = samplefiles.read_table(run_dir).to_pylist()
    return [r for r in rows if r["kind"] == "request"]


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    run_dir: Path | None

    def samples(self) -> pd.DataFrame:
        assert self.run_dir is not None
        return samples_of(self.run_dir)

    def json(self, name: str) -> Any:
        assert self.run_dir is not None
        return json.loads((self.run_dir / name).read_text())

    def clause(self, clause_id: str) -> dict[str, Any]:
        """One clause of verdict.json."""
        return dict(next(c for c in self.json("verdict.json")["clauses"] if c["id"] == clause_id))


def run_on(target: Any, adapter: str, scenario: Path, results: Path, timeout_s: float) -> Finished:
    """``crmload run SCENARIO`` against a shipped third-party target (its ``url`` and ``testdata``)."""
    return crmload(
        "run", str(scenario), "--target", target.url, "--adapter", adapter, "--testdata", str(target.testdata),
        results=results, timeout_s=timeout_s,
    )  # fmt: skip


def adapter_check_rows(target: Any, adapter: str) -> dict[str, dict[str, Any]]:
    """``crmload adapter check --json`` against a shipped third-party target: its rows by operation."""
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "adapter", "check", "--target", target.url, "--adapter", adapter,
         "--testdata", str(target.testdata), "--json"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {r["operation"]: r for r in json.loads(done.stdout)}


def declared_by(adapter_spec: str) -> dict[str, Any]:
    """What an adapter declares: ``supported`` operations and access ``rules`` [role, operation, records]
    (read in a child: an adapter imports Locust, which patches the process)."""
    module, _, cls = adapter_spec.partition(":")
    code = (
        f"import json\nfrom {module} import {cls} as A\n"
        "print(json.dumps({'supported': sorted(A.supported_operations()),"
        " 'rules': [[r.role, r.operation, r.records] for r in A.access_rules]}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(done.stdout))


def crmload(*args: str, results: Path, timeout_s: float = 240, env: dict[str, str] | None = None) -> Finished:
    proc = subprocess.run(
        [sys.executable, "-m", "crmload.cli", *args, "--results", str(results), "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout_s,
        env=env,
    )
    dirs = sorted(p for p in results.glob("*") if p.is_dir()) if results.exists() else []
    return Finished(proc.returncode, proc.stdout, proc.stderr, dirs[-1] if dirs else None)


def validator(fmt: str, version: int) -> Draft202012Validator:
    schema = json.loads(schema_file(fmt, version).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def verdict_errors(data: Any) -> list[str]:
    return [e.message for e in validator(VERDICT_FORMAT, VERDICT_FORMAT_VERSION).iter_errors(data)]


def comparison_errors(data: Any) -> list[str]:
    return [e.message for e in validator(COMPARISON_FORMAT, COMPARISON_FORMAT_VERSION).iter_errors(data)]


def _recorded(verdict: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    out = {}
    for c in verdict["clauses"] + (verdict.get("surge") or {}).get("clauses", []):
        for part in c["parts"] or [c]:
            for sub in part["parts"] or [part]:
                out[(c["id"], sub["scope"].replace("surge: ", ""), sub["limit"])] = sub["samples"]
    return out


def predictions_against(run_dir: Path, verdict_file: str, like: bool = False) -> list[tuple[Need, int]]:
    """(the plan's need, the samples the run recorded) for every judged group; ``like``: planned with
    the run's own mean response time (``crmload plan --like``), else with none (upper bounds)."""
    meta = json.loads((run_dir / "meta.json").read_text())
    response_s = 0.0
    if like:
        from crmload.cli import _measured_response_s

        response_s = _measured_response_s(run_dir)
    standard = load_thresholds(run_dir / "thresholds.yaml")
    found = plan(Scenario.model_validate(meta["scenario"]), standard, response_s)
    recorded = _recorded(json.loads((run_dir / verdict_file).read_text()))
    pairs = []
    for n in found.needs:
        got = recorded.get((n.clause_id, n.scope, n.limit))
        if got is not None and n.window != "whole run" and not n.clause_id.startswith("PERF-CONC"):
            pairs.append((n, got))
    return pairs
