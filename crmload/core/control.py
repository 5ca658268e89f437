"""``control.json``: the conductor's decisions, for the Locust process that drives the stages.

The conductor (:mod:`crmload.conductor`, in the ``crmload run`` process) judges a held stage or a
ceiling-search step from the run's files and writes its decisions here, atomically; the shape
(:mod:`crmload.loadtests.shape`) reads the file once a second and applies each decision once.
A decision ends one stage at the moment its deciding look was taken (``cut``), and may replace
the stages after it (``next``) or end the run (``stop``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crmload.core.rundir import write_json_atomic

CONTROL_FILE = "control.json"


class Decision(BaseModel):
    model_config = ConfigDict(extra="allow")

    seq: int = Field(ge=1)
    stage: int = Field(ge=0, description="the stage (its index in stages.json) this decision ends")
    cut: float = Field(description="Unix time of the deciding look: the stage's samples end there")
    record: dict[str, Any] = Field(default_factory=dict, description="added to the stage's stages.json entry")
    next: list[dict[str, Any]] | None = Field(None, description="the stages after this one (None: as planned)")
    stop: bool = False


def write_decisions(run_dir: Path, decisions: list[Decision]) -> None:
    write_json_atomic(run_dir / CONTROL_FILE, [d.model_dump(mode="json") for d in decisions])


def read_decisions(run_dir: Path) -> list[Decision]:
    """The decisions so far; none while the file is absent or unreadable (it is written atomically)."""
    try:
        raw = json.loads((run_dir / CONTROL_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [Decision.model_validate(d) for d in raw] if isinstance(raw, list) else []
