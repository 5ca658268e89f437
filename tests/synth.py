"""Synthetic run directories with known contents, for known-answer tests of the analysis."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from crmload.core.rundir import SAMPLE_COLUMNS

T0 = 1_700_000_000.0


@dataclass
class S:
    """One synthetic sample; fields as in crmload/schema.py."""

    response_time_ms: float
    operation: str = "customer.search"
    outcome: str = "ok"
    persona: str = "sales"
    kind: str = "request"
    schedule_lag_ms: float | None = None
    users: int = 20
    server_ms: float | None = None


STATUS_CODES = {
    "ok": 200,
    "http_5xx": 503,
    "http_4xx": 404,
    "timeout": 0,
    "connection": 0,
    "throttled": 429,
    "check_failed": 200,
    "dropped": 0,
}


def _row(s: S, ts: float, stage: int = 0) -> dict[str, Any]:
    return {
        "ts": ts,
        "kind": s.kind,
        "operation": s.operation,
        "persona": s.persona,
        "journey": "j",
        "response_time_ms": s.response_time_ms,
        "schedule_lag_ms": s.schedule_lag_ms,
        "status": STATUS_CODES[s.outcome],
        "outcome": s.outcome,
        "bytes": 100,
        "stage": stage,
        "users": s.users,
        "worker": "local",
        "server_ms": s.server_ms,
    }


def write_stages(path: Path, stages: list[tuple[dict[str, Any], list[S]]], scenario: dict[str, Any]) -> Path:
    """A run of several stages, back to back from T0; each stage's samples spread evenly over it.

    Each stage is ({name, users, duration, [arrival_rate, surge, judged, warmup]}, samples)."""
    path.mkdir(parents=True, exist_ok=True)
    rows, plan = [], []
    t = T0
    for i, (st, samples) in enumerate(stages):
        d = float(st["duration"])
        rows += [_row(x, t + d * k / max(1, len(samples)), i) for k, x in enumerate(samples)]
        plan.append(
            {
                "index": i,
                "name": st["name"],
                "kind": "users",
                "target": {"users": st.get("users", 0), "arrival_rate": st.get("arrival_rate", 0)},
                "start": t,
                "end": t + d,
                "warmup_s": st.get("warmup", 0.0),
                "judged": st.get("judged", True),
                "surge": st.get("surge", False),
            }
        )
        t += d
    pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS)).to_csv(path / "samples.csv", index=False)
    (path / "stages.json").write_text(json.dumps(plan))
    (path / "meta.json").write_text(
        json.dumps({"status": "completed", "scenario_name": "synthetic", "scenario": scenario})
    )
    gens = pd.DataFrame(
        {"ts": [T0 + k for k in range(int(t - T0))], "worker": "local", "cpu_percent": 20.0, "users": 10}
    )
    gens.to_csv(path / "generators.csv", index=False)
    return path


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
        rows.append(_row(s, T0 + duration_s * i / n))
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
