"""Running the real ``crmload`` command in a subprocess and reading what it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    run_dir: Path | None

    def samples(self) -> pd.DataFrame:
        assert self.run_dir is not None
        return pd.read_csv(self.run_dir / "samples.csv")

    def json(self, name: str) -> Any:
        assert self.run_dir is not None
        return json.loads((self.run_dir / name).read_text())


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
