"""Synthetic run directories with known contents, for known-answer tests of the analysis."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from crmload.schema import SAMPLE_COLUMNS

T0 = 1_700_000_000.0


@dataclass
class S:
    """One synthetic sample; fields as in DESIGN.md."""

    response_time_ms: float
    operation: str = "customer.search"
    outcome: str = "ok"
    persona: str = "sales"
    kind: str = "request"
    schedule_lag_ms: float | None = None
    users: int = 20


def write_run(
    path: Path,
    samples: Iterable[S],
    *,
    duration_s: float = 100.0,
    status: str = "completed",
    scenario: dict[str, Any] | None = None,
    generators_cpu: float = 20.0,
    extras: dict[str, Any] | None = None,
) -> Path:
    """A run with one judged stage of ``duration_s`` seconds; samples are spread evenly over it."""
    path.mkdir(parents=True, exist_ok=True)
    items = list(samples)
    n = max(1, len(items))
    rows = []
    for i, s in enumerate(items):
        status_code = {
            "ok": 200,
            "http_5xx": 503,
            "http_4xx": 404,
            "timeout": 0,
            "connection": 0,
            "throttled": 429,
            "check_failed": 200,
        }[s.outcome]
        rows.append(
            {
                "ts": T0 + duration_s * i / n,
                "kind": s.kind,
                "operation": s.operation,
                "persona": s.persona,
                "journey": "j",
                "response_time_ms": s.response_time_ms,
                "schedule_lag_ms": s.schedule_lag_ms,
                "status": status_code,
                "outcome": s.outcome,
                "bytes": 100,
                "stage": 0,
                "users": s.users,
                "worker": "local",
                "server_ms": None,
            }
        )
    pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS)).to_csv(path / "samples.csv", index=False)
    (path / "stages.json").write_text(
        json.dumps(
            [
                {
                    "index": 0,
                    "name": "hold",
                    "kind": "users",
                    "target": {"users": 10, "arrival_rate": 0},
                    "start": T0,
                    "end": T0 + duration_s,
                    "warmup_s": 0.0,
                    "judged": True,
                }
            ]
        )
    )
    (path / "meta.json").write_text(
        json.dumps({"status": status, "scenario_name": "synthetic", "scenario": scenario or {}})
    )
    gens = pd.DataFrame(
        {"ts": [T0 + k for k in range(int(duration_s))], "worker": "local", "cpu_percent": generators_cpu, "users": 10}
    )
    gens.to_csv(path / "generators.csv", index=False)
    for name, data in (extras or {}).items():
        (path / f"{name}.json").write_text(json.dumps(data))
    return path
