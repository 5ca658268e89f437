"""Golden runs: recorded run directories re-judged give the verdicts crmload 0.1 gave them.

``tests/golden/<name>/`` holds what a real run left (samples, stages, meta of schema version 1,
capture summary, audit, the standard it was judged against) and ``expected-verdict.json``, the
``verdict.json`` that crmload 0.1 wrote for it before the restructure of 0.2. Re-analysing must
give the same clauses, tables and kind sections to the last digit: the restructure changed where
the code lives, not what it computes. (A change that means to alter a verdict updates the file,
and says so in its commit.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from crmload.analysis.analyze import analyze
from crmload.analysis.thresholds import load_thresholds

GOLDEN = Path(__file__).parent / "golden"
# the run's provenance ("run": schema_version, crmload_version) is allowed to differ
COMPARED = ("status", "exit_code", "run_status", "window_s", "method", "warnings", "clauses", "tables")


def _rejudged(name: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    run_dir = tmp_path / name
    shutil.copytree(GOLDEN / name, run_dir)
    analyze(run_dir, load_thresholds(run_dir / "thresholds.yaml"), report=False)
    got = json.loads((run_dir / "verdict.json").read_text())
    expected = json.loads((GOLDEN / name / "expected-verdict.json").read_text())
    return got, expected


def _known_fields(got: Any, expected: Any) -> Any:
    """``got`` with only the fields ``expected`` has, at every depth (verdict-1 adds, never changes)."""
    if isinstance(got, dict) and isinstance(expected, dict):
        return {k: _known_fields(got[k], expected[k]) if k in expected else got[k] for k in got if k in expected}
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        return [_known_fields(g, e) for g, e in zip(got, expected, strict=True)]
    return got


@pytest.mark.parametrize("name", ["smoke", "capacity", "peak"])
def test_a_recorded_run_is_judged_as_before_the_restructure(name: str, tmp_path: Path) -> None:
    got, expected = _rejudged(name, tmp_path)
    for key in COMPARED:
        if key == "tables":  # rows may carry fields added since (verdict-1's promise); the rest is equal
            assert {s: [{k: r[k] for k in e[0]} for r in got[key][s]] for s, e in expected[key].items() if e} == {
                s: rows for s, rows in expected[key].items() if rows
            }
            assert {s: len(rows) for s, rows in got[key].items()} == {s: len(rows) for s, rows in expected[key].items()}
            continue
        assert got[key] == expected[key], key
    kinds = {k for k in expected if k not in (*COMPARED, "run")}
    added = ("failure_reasons",)  # top-level fields verdict-1 gained since these runs were recorded
    assert kinds == {k for k in got if k not in (*COMPARED, "run", "format", "format_version", *added)}
    assert got["failure_reasons"] == []  # their capture.json predates the reasons: none recorded
    for key in kinds:  # a kind's section may carry fields added since, as tables' rows may
        assert _known_fields(got[key], expected[key]) == expected[key], key
    # the run directory was recorded at schema version 1 and is read through the upgrade path
    assert json.loads((GOLDEN / name / "meta.json").read_text())["schema_version"] == 1
    assert got["run"]["schema_version"] == 2


def test_the_golden_runs_cover_every_kind_of_section() -> None:
    sections = set()
    for name in ("smoke", "capacity", "peak"):
        sections |= set(json.loads((GOLDEN / name / "expected-verdict.json").read_text()))
    assert {"capacity", "surge"} <= sections
