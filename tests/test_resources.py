"""The shipped scenarios and standard as package data, and what the working directory overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crmload.core.resources import (
    default_standard,
    scenario_names,
    scenario_path,
    shipped_scenarios_dir,
    shipped_standard,
)

REPO = Path(__file__).resolve().parent.parent


def test_the_shipped_files_are_the_repositorys(tmp_path: Path) -> None:
    assert shipped_standard().read_bytes() == (REPO / "thresholds.yaml").read_bytes()
    assert {p.name for p in shipped_scenarios_dir().glob("*.yaml")} == {
        p.name for p in (REPO / "scenarios").glob("*.yaml")
    }
    assert default_standard(tmp_path) == shipped_standard()  # nothing in the working directory
    assert scenario_path(None, tmp_path).read_bytes() == (REPO / "scenarios" / "smoke.yaml").read_bytes()


def test_the_working_directory_wins(tmp_path: Path) -> None:
    (tmp_path / "thresholds.yaml").write_text("version: 1\n")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "smoke.yaml").write_text("name: mine\n")
    (tmp_path / "scenarios" / "mine.yaml").write_text("name: mine\n")
    assert default_standard(tmp_path) == tmp_path / "thresholds.yaml"
    assert scenario_path("smoke", tmp_path) == tmp_path / "scenarios" / "smoke.yaml"
    assert scenario_path("mine", tmp_path) == tmp_path / "scenarios" / "mine.yaml"
    assert scenario_path("capacity", tmp_path) == shipped_scenarios_dir() / "capacity.yaml"
    assert {"mine", "smoke", "capacity"} <= set(scenario_names(tmp_path))


def test_a_path_is_taken_as_it_is(tmp_path: Path) -> None:
    assert scenario_path(str(tmp_path / "no-such.yaml"), tmp_path) == tmp_path / "no-such.yaml"
    assert scenario_path("no-such", tmp_path) == Path("no-such")  # left for the caller to report


def test_an_unknown_scenario_name_lists_the_names(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", "smok"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "smok: no scenario file or name like that" in done.stderr and "smoke" in done.stderr
