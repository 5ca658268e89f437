"""The built wheel, installed in a fresh virtual environment (not editable), works from a directory
outside the checkout: the shipped scenarios and standard come with it as package data.

This is what a user of ``pip install crmload`` gets; it installs crmload's dependencies from the
package index (a few minutes the first time, from pip's cache after that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import crmload

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with the wheel built from this checkout installed in it."""
    root = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root), str(REPO)], root, 600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = root.glob("crmload-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"crmload/thresholds.yaml", "crmload/scenarios/smoke.yaml", "crmload/loadtests/locustfile.py"} <= names
    assert {"crmload/core/schemas/verdict-1.schema.json", "crmload/py.typed"} <= names
    assert not {n for n in names if n.split("/")[0] in ("analysis", "loadtests", "democrm", "tests")}
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], root, 120)
    assert made.returncode == 0, made.stderr
    pip = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], root, 900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv / "bin"


@pytest.mark.timeout(1500)
def test_the_installed_wheel_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    crm = str(installed / "crmload")
    version = _run([crm, "--version"], elsewhere, 60)
    assert version.returncode == 0 and version.stdout.strip() == f"crmload {crmload.__version__}"
    where = _run([str(installed / "python"), "-c", "import crmload.core; print(crmload.core.__file__)"], elsewhere, 60)
    assert str(installed.parent) in where.stdout and str(REPO) not in where.stdout  # not the checkout's
    validated = _run([crm, "validate"], elsewhere, 120)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "thresholds.yaml  (standard:" in validated.stdout and "scenario smoke" in validated.stdout
    results = tmp_path / "results"
    ran = _run([crm, "run", "--duration", "20s", "--quiet", "--results", str(results)], elsewhere, 600)
    assert ran.returncode in (0, 3), ran.stdout + ran.stderr  # a 20 s smoke may be too thin to PASS
    assert "Traceback" not in ran.stderr
    (run_dir,) = results.iterdir()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["status"] in ("PASS", "INCONCLUSIVE") and verdict["clauses"]
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["git_sha"] is None  # no checkout to ask
    assert (run_dir / "report.html").exists()
