"""Named baselines: a run directory kept under ``<results>/baselines/NAME`` for later comparisons.

A saved baseline is a copy of every file, made in a temporary directory beside it and then renamed
into place: cleaning ``results/`` of old runs does not take it away, and nothing done to the run
afterwards (``analyze`` or ``compare`` rewrite its verdict, report and junit.xml) changes it. Hard
links were used before; they made the baseline's files the run's own, rewritten with them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from crmload.core import samplefiles
from crmload.core.errors import RunError
from crmload.core.rundir import RESERVE_FILE, read_meta

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def baseline_dir(results: Path) -> Path:
    return results / "baselines"


def save(name: str, run_dir: Path, results: Path, replace: bool = False) -> Path:
    """Keep ``run_dir`` as the baseline ``name``; refuses to overwrite one unless ``replace``."""
    if not NAME.match(name):
        raise RunError(f"baseline name {name!r}: use letters, digits, '.', '_' and '-' (at most 64), e.g. release-4.2")
    if samplefiles.samples_form(run_dir) is None:
        raise RunError(f"{run_dir}: not a run directory (no samples: samples.parquet, samples/ or samples.csv)")
    dest = baseline_dir(results) / name
    if dest.exists() and not replace:
        raise RunError(f"baseline {name!r} exists ({dest}); pass --replace to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        # copies, never links; without the reserve a killed run may have left behind
        shutil.copytree(run_dir, staging / "copy", ignore=shutil.ignore_patterns(RESERVE_FILE))
        if dest.exists():
            shutil.rmtree(dest)
        (staging / "copy").rename(dest)
    except OSError as exc:
        raise RunError(f"baseline {name!r}: cannot copy {run_dir} to {dest}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def list_baselines(results: Path) -> list[tuple[str, dict[str, object]]]:
    """(name, a few fields of its meta.json) for every saved baseline, by name."""
    out = []
    root = baseline_dir(results)
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.is_dir():
            try:
                meta = read_meta(path)
            except RunError:
                meta = None  # listed all the same: `compare` names what is wrong with it
            fields = meta.model_dump(mode="json") if meta is not None else {}
            out.append((path.name, {k: fields.get(k) for k in ("scenario_name", "started_utc", "status", "target")}))
    return out


def resolve(text: str, results: Path) -> Path:
    """A run directory given as a path, or the name of a saved baseline."""
    path = Path(text)
    if path.is_dir():
        return path
    named = baseline_dir(results) / text
    if NAME.match(text) and named.is_dir():
        return named
    names = [n for n, _ in list_baselines(results)]
    known = f"saved baselines: {', '.join(names)}" if names else f"no baselines are saved under {baseline_dir(results)}"
    raise RunError(f"{text!r} is neither a run directory nor a saved baseline ({known})")
