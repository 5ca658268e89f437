"""Reading a run directory (see DESIGN.md) into typed data; tolerant of runs cut short.

A run killed mid-way leaves a ``samples.csv`` whose last line may be partial and no ``meta.json``
end time; both are read as far as they go, and the run is treated as not completed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmload.errors import RunError

SAMPLE_DTYPES: dict[str, Any] = {
    "ts": "float64",
    "kind": "category",
    "operation": "category",
    "persona": "category",
    "journey": "category",
    "response_time_ms": "float64",
    "schedule_lag_ms": "float64",
    "status": "int32",
    "outcome": "category",
    "bytes": "int64",
    "stage": "int32",
    "users": "int32",
    "worker": "category",
    "server_ms": "float64",
}


@dataclass
class Stage:
    index: int
    name: str
    kind: str
    users: int
    arrival_rate: float
    start: float
    end: float
    warmup_s: float
    judged: bool = True

    @property
    def steady_start(self) -> float:
        return min(self.end, self.start + self.warmup_s)


@dataclass
class RunData:
    path: Path
    samples: pd.DataFrame
    stages: list[Stage]
    meta: dict[str, Any]
    generators: pd.DataFrame
    capture: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)  # security.json, audit.json ...

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "unknown"))


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (json.JSONDecodeError, OSError) as exc:
        raise RunError(f"{path}: unreadable JSON ({exc}); the run directory may be damaged") from None


def _read_csv_tolerant(path: Path, dtypes: dict[str, Any]) -> pd.DataFrame:
    """Read a CSV written while the run went; a torn last line (a killed writer) is dropped."""
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
    if not raw.strip():
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in dtypes.items()})
    try:
        df = pd.read_csv(io.BytesIO(raw), engine="pyarrow")
    except Exception as exc:  # pyarrow raises its own error types
        raise RunError(f"{path}: cannot read samples ({exc})") from None
    for col, dt in dtypes.items():
        if col not in df.columns:
            df[col] = pd.Series(np.nan if dt.startswith("float") else 0, index=df.index)
        if dt.startswith("int"):
            df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype(dt)
        elif dt == "category":
            df[col] = df[col].astype("string").fillna("").astype("category")
        else:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(dt)
    return df


def load_run(path: Path) -> RunData:
    """Load a run directory; raises :class:`RunError` when it holds no samples at all."""
    if not path.is_dir():
        raise RunError(f"{path}: not a run directory")
    samples_path = path / "samples.csv"
    parquet = path / "samples.parquet"
    if parquet.exists():
        samples = pd.read_parquet(parquet)
    elif samples_path.exists():
        samples = _read_csv_tolerant(samples_path, SAMPLE_DTYPES)
    else:
        raise RunError(f"{path}: no samples.csv; was the run started? (crmload run writes it from the first second)")
    meta = _read_json(path / "meta.json", {})
    raw_stages = _read_json(path / "stages.json", [])
    judged = {s.get("name"): s.get("judged", True) for s in (meta.get("scenario_plan") or [])}
    stages = []
    ts_max = float(samples["ts"].max()) if len(samples) else 0.0
    for s in raw_stages:
        stages.append(
            Stage(
                index=int(s["index"]),
                name=str(s["name"]),
                kind=str(s.get("kind", "users")),
                users=int(s.get("target", {}).get("users", 0)),
                arrival_rate=float(s.get("target", {}).get("arrival_rate", 0.0)),
                start=float(s["start"]),
                end=float(s["end"] if s.get("end") else ts_max),
                warmup_s=float(s.get("warmup_s", 0.0)),
                judged=bool(s.get("judged", judged.get(s["name"], True))),
            )
        )
    gen_path = path / "generators.csv"
    generators = (
        _read_csv_tolerant(
            gen_path, {"ts": "float64", "worker": "category", "cpu_percent": "float64", "users": "int32"}
        )
        if gen_path.exists()
        else pd.DataFrame()
    )
    extras = {name: _read_json(path / f"{name}.json", None) for name in ("security", "audit")}
    return RunData(
        path,
        samples,
        stages,
        meta,
        generators,
        _read_json(path / "capture.json", {}),
        {k: v for k, v in extras.items() if v is not None},
    )


def steady_mask(run: RunData, ts: pd.Series | None = None) -> np.ndarray:
    """Samples inside a judged stage's steady-state window (its start plus warm-up, to its end)."""
    ts = run.samples["ts"] if ts is None else ts
    values = ts.to_numpy()
    if not run.stages:
        return np.ones(len(values), dtype=bool)
    mask = np.zeros(len(values), dtype=bool)
    for st in run.stages:
        if st.judged:
            mask |= (values >= st.steady_start) & (values < st.end)
    return mask


def window_seconds(run: RunData) -> float:
    if not run.stages:
        ts = run.samples["ts"]
        return float(ts.max() - ts.min()) if len(ts) > 1 else 0.0
    return float(sum(max(0.0, s.end - s.steady_start) for s in run.stages if s.judged))
