"""Where the shipped scenarios and the shipped standard are, installed or in a checkout.

Both are package data, read with :mod:`importlib.resources`: the scenarios are the package
``crmload.scenarios`` (the repository's ``scenarios/``) and the standard is ``crmload/thresholds.yaml``
(the repository's ``thresholds.yaml``; in a checkout both are links to them). What the working
directory has wins: a ``thresholds.yaml`` there is the standard, and a ``scenarios/NAME.yaml``
there is the scenario ``NAME``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

STANDARD_FILE = "thresholds.yaml"


def shipped_scenarios_dir() -> Path:
    """The folder of the shipped scenarios (a real directory: the package is never zipped)."""
    return Path(str(resources.files("crmload.scenarios")))


def shipped_standard() -> Path:
    """The shipped ``thresholds.yaml``."""
    return Path(str(resources.files("crmload"))) / STANDARD_FILE


def default_standard(cwd: Path | None = None) -> Path:
    """``./thresholds.yaml`` when the working directory has one, else the shipped standard."""
    local = (cwd or Path.cwd()) / STANDARD_FILE
    return local if local.is_file() else shipped_standard()


def scenario_names(cwd: Path | None = None) -> dict[str, Path]:
    """Every scenario that can be named: the shipped ones, overridden by ``./scenarios/*.yaml``."""
    found = {p.stem: p for p in sorted(shipped_scenarios_dir().glob("*.yaml"))}
    local = (cwd or Path.cwd()) / "scenarios"
    if local.is_dir():
        found.update({p.stem: p for p in sorted(local.glob("*.yaml"))})
    return found


def scenario_path(text: str | None, cwd: Path | None = None) -> Path:
    """A scenario given as a file path or as a name (``smoke``): the path to read.

    A path that exists is taken as it is; a bare name is looked up in ``./scenarios/`` and then
    among the shipped scenarios; anything else is returned unchanged, for the loader to report."""
    name = text or "smoke"
    p = Path(name)
    if p.exists() or p.suffix:
        return p
    return scenario_names(cwd).get(name, p)
