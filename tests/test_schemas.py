"""The published JSON Schemas of verdict.json and comparison.json, and the run directory's versions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e import comparison_errors, verdict_errors

from crmload.analysis.analyze import analyze
from crmload.analysis.compare import compare
from crmload.analysis.comparison_outputs import write_all
from crmload.analysis.thresholds import load_thresholds
from crmload.core.rundir import (
    COMPARISON_FORMAT,
    SCHEMA_VERSION,
    VERDICT_FORMAT,
    VERDICT_FORMAT_VERSION,
    read_meta,
    write_meta,
)

GOLDEN = Path(__file__).parent / "golden"


def _copy(name: str, dest: Path) -> Path:
    shutil.copytree(GOLDEN / name, dest)
    return dest


@pytest.mark.parametrize("name", ["smoke", "capacity", "peak"])
def test_a_recorded_runs_verdict_matches_the_published_schema(name: str, tmp_path: Path) -> None:
    run_dir = _copy(name, tmp_path / name)
    analyze(run_dir, load_thresholds(run_dir / "thresholds.yaml"), report=False)
    data = json.loads((run_dir / "verdict.json").read_text())
    assert data["format"] == VERDICT_FORMAT and data["format_version"] == VERDICT_FORMAT_VERSION
    assert verdict_errors(data) == []
    broken = {k: v for k, v in data.items() if k != "clauses"}  # the checker bites
    assert any("'clauses' is a required property" in e for e in verdict_errors(broken))
    wrong = {**data, "status": "GREEN"}
    assert verdict_errors(wrong) != []


def test_a_comparison_of_an_old_and_a_new_run_matches_the_published_schema(tmp_path: Path) -> None:
    """A run recorded by crmload 0.1 (schema 1) stays comparable with one of this version."""
    old = _copy("smoke", tmp_path / "old")
    new = _copy("smoke", tmp_path / "new")
    meta = read_meta(new)
    assert meta is not None and meta.schema_version == SCHEMA_VERSION  # upgraded on reading
    write_meta(new, meta)
    assert json.loads((new / "meta.json").read_text())["schema_version"] == SCHEMA_VERSION
    comp = compare(old, new)
    assert comp.differences == [] and comp.status == "unchanged"
    write_all(comp, new)
    data = json.loads((new / "comparison.json").read_text())
    assert data["format"] == COMPARISON_FORMAT and comparison_errors(data) == []
    assert comparison_errors({**data, "changes": [{"scope": "operation"}]}) != []


def test_a_run_directory_of_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    run_dir = _copy("smoke", tmp_path / "future")
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "schema_version": SCHEMA_VERSION + 1}))
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "analyze", str(run_dir), "--no-report"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"schema_version {SCHEMA_VERSION + 1} is newer than this crmload" in done.stderr
    assert "meta.json" in done.stderr and "upgrade crmload" in done.stderr
    assert not (run_dir / "verdict.json").exists()


@pytest.mark.parametrize(("value", "what"), [("two", "not a version number"), (0, "not a version number")])
def test_a_damaged_schema_version_is_refused(tmp_path: Path, value: object, what: str) -> None:
    run_dir = _copy("smoke", tmp_path / "damaged")
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "schema_version": value}))
    from crmload.core.errors import RunError

    with pytest.raises(RunError, match=what):
        read_meta(run_dir)
