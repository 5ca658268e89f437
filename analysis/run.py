"""Reading a run directory (README: "The run directory") into typed data; tolerant of runs cut short.

The records and their versions are :mod:`crmload.core.rundir`'s; this module adds the samples as
columns. A run killed mid-way leaves sample segments whose last batch may be torn (or, recorded
before the columnar capture, a ``samples.csv`` whose last line may be partial) and no ``meta.json``
end time; both are read as far as they go, and the run is treated as not completed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from crmload.analysis.frame import Samples
from crmload.core import samplefiles
from crmload.core.errors import RunError
from crmload.core.rundir import (
    GENERATORS_FILE,
    CaptureSummary,
    Kind,
    Meta,
    Outcome,
    RunStatus,
    StageRecord,
    read_capture,
    read_checks,
    read_meta,
    read_stages,
)


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
    surge: bool = False
    held: bool = False  # held until decided: judged at ``confidence`` (its looks' level)
    longest_s: float | None = None  # how long it could have run (its max when held)
    confidence: float | None = None

    @property
    def steady_start(self) -> float:
        return min(self.end, self.start + self.warmup_s)

    @property
    def projection(self) -> float:
        """Its longest steady window over the steady window it had: how many times the samples it
        got it would have got had it run its longest (1 for a stage that ran its planned length)."""
        if self.longest_s is None:
            return 1.0
        had = self.end - self.steady_start
        return max(1.0, (self.longest_s - self.warmup_s) / had) if had > 0 else 1.0


@dataclass
class RunData:
    path: Path
    samples: Samples
    stages: list[Stage]
    meta: Meta
    generators: dict[str, NDArray[Any]]  # ts, worker (str), cpu_percent, users
    capture: CaptureSummary
    extras: dict[str, Any] = field(default_factory=dict)  # security.json, audit.json ...
    has_meta: bool = True  # False: the run left no meta.json (killed before it could write one)

    @property
    def status(self) -> str:
        return str(self.meta.status) if self.has_meta else RunStatus.UNKNOWN

    @property
    def scenario(self) -> dict[str, Any]:
        """The effective scenario as recorded (empty when the run did not record it)."""
        return self.meta.scenario or {}


def _complete_lines(path: Path) -> bytes:
    """The file up to its last newline: a torn last line (a killed writer) is dropped."""
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
    return raw


def _read_samples(path: Path, columns: Sequence[str] | None = None) -> Samples:
    """Read ``samples.csv``; a torn last line (a writer killed mid-line) is skipped and counted."""
    if path.stat().st_size == 0:
        raise RunError(f"{path}: empty (not even a header): the run recorded nothing")
    try:
        with pa.OSFile(str(path), "r") as fh:
            return Samples.read_csv(fh, columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RunError(f"{path}: cannot read samples ({exc})") from None


def _read_columnar(path: Path, read: Callable[[], Samples]) -> Samples:
    try:
        return read()
    except (pa.ArrowException, OSError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0][:200]
        raise RunError(f"{path}: cannot read samples ({detail}); the run directory may be damaged") from None


def _read_generators(path: Path) -> dict[str, NDArray[Any]]:
    empty: dict[str, NDArray[Any]] = {
        "ts": np.zeros(0),
        "worker": np.zeros(0, dtype=object),
        "cpu_percent": np.zeros(0),
        "users": np.zeros(0),
    }
    if not path.exists():
        return empty
    try:
        raw = _complete_lines(path)
    except OSError as exc:
        raise RunError(f"{path}: cannot be read ({exc.strerror or exc}); the run directory may be damaged") from None
    if raw.count(b"\n") < 2:
        return empty
    try:
        t = pacsv.read_csv(
            io.BytesIO(raw),
            convert_options=pacsv.ConvertOptions(
                column_types={
                    "ts": pa.float64(),
                    "worker": pa.string(),
                    "cpu_percent": pa.float64(),
                    "users": pa.float64(),
                }
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        empty["damaged"] = np.asarray([str(exc).splitlines()[0][:200]], dtype=object)
        return empty
    if not {"ts", "worker", "cpu_percent", "users"} <= set(t.column_names):
        empty["damaged"] = np.asarray(["it lacks the columns ts, worker, cpu_percent, users"], dtype=object)
        return empty
    return {
        "ts": t["ts"].to_numpy(),
        "worker": np.asarray(t["worker"].to_pylist(), dtype=object),
        "cpu_percent": t["cpu_percent"].to_numpy(),
        "users": t["users"].to_numpy(),
    }


FUTURE_SLACK_S = 3600.0  # a row this far past the run's recorded end cannot be one of its samples


def _screened(samples: Samples, meta: Meta | None) -> Samples:
    """The rows a judgement can use: a finite time and response time, a kind and outcome crmload
    writes, a time within the run (up to :data:`FUTURE_SLACK_S` past its end). What is left out is
    recorded in ``skipped_rows`` with the reason, and the verdict cannot PASS on what remains."""
    n = len(samples)
    if n == 0:
        return samples
    ts, rt = samples["ts"], samples["response_time_ms"]
    problems: list[tuple[str, NDArray[np.bool_]]] = [
        ("a time or response time that is not a finite number", ~(np.isfinite(ts) & np.isfinite(rt))),
        ("a negative response time", np.isfinite(rt) & (rt < 0)),
        ("an unknown kind", ~samples.t("kind").mask([str(k) for k in Kind])),
        ("an unknown outcome", ~samples.t("outcome").mask([str(o) for o in Outcome])),
    ]
    ended = _utc_seconds(meta.ended_utc) if meta is not None and meta.ended_utc else None
    if ended is not None:
        problems.append(
            (f"a time over {FUTURE_SLACK_S:g} s past the run's end", np.isfinite(ts) & (ts > ended + FUTURE_SLACK_S))
        )
    bad = np.zeros(n, dtype=bool)
    for why, mask in problems:
        count = int((mask & ~bad).sum())
        if count:
            samples.skipped_rows.append(f"{count} row(s) with {why}")
        bad |= mask
    return samples.take(~bad) if bad.any() else samples


def _utc_seconds(text: str) -> float | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError):
        return None


def stage_of(s: StageRecord, planned: dict[str, Any], ts_max: float) -> Stage:
    """A stage as it ran, from its ``stages.json`` record (``planned``: its scenario plan entry, for
    records that lack a field; ``ts_max``: the end of a stage that has none yet)."""
    return Stage(
        index=s.index,
        name=s.name,
        kind=s.kind,
        users=s.target.users,
        arrival_rate=s.target.arrival_rate,
        start=s.start,
        end=s.end if s.end else ts_max,
        warmup_s=s.warmup_s,
        judged=bool(s.judged if s.judged is not None else planned.get("judged", True)),
        surge=bool(s.surge if s.surge is not None else planned.get("surge", False)),
        held=s.hold == "until-decided",
        longest_s=s.max_s if s.hold == "until-decided" else s.planned_duration_s,
        confidence=s.confidence,
    )


def load_run(path: Path, live: bool = False, columns: Sequence[str] | None = None) -> RunData:
    """Load a run directory; raises :class:`RunError` when it holds no samples at all.

    ``live``: the run is still going (the conductor's looks): a batch being written is not damage.
    ``columns``: read only these sample columns (a light read; the screening needs ``ts``,
    ``response_time_ms``, ``kind`` and ``outcome``)."""
    if not path.is_dir():
        raise RunError(f"{path}: not a run directory")
    form = samplefiles.samples_form(path)
    if form is None:
        raise RunError(
            f"{path}: no samples ({samplefiles.SAMPLES_PARQUET}, {samplefiles.SAMPLES_DIR}/ or "
            f"{samplefiles.SAMPLES_CSV}); was the run started? (crmload run writes them from the first second)"
        )
    if form.name == samplefiles.SAMPLES_PARQUET:
        samples = _read_columnar(form, lambda: Samples.read_parquet(str(form), columns))
        samples.skipped_rows += samplefiles.compaction_problems(path)
    elif form.name == samplefiles.SAMPLES_DIR:
        if not form.is_dir():
            raise RunError(f"{form}: a file, not the folder of sample segments; the run directory may be damaged")
        samples = _read_columnar(form, lambda: Samples.read_segments(path, live=live, columns=columns))
    elif form.is_dir():
        raise RunError(f"{form}: a directory, not the samples file; the run directory may be damaged")
    else:
        samples = _read_samples(form, columns)
    meta = read_meta(path)
    plan = {s.get("name"): s for s in (meta.scenario_plan if meta else [])}
    samples = _screened(samples, meta)
    ts_max = float(np.nanmax(samples["ts"])) if len(samples) else 0.0
    stages = [stage_of(s, plan.get(s.name, {}), ts_max) for s in read_stages(path)]
    generators = _read_generators(path / GENERATORS_FILE)
    extras = {name: read_checks(path, name) for name in ("security", "audit")}
    return RunData(
        path,
        samples,
        stages,
        meta or Meta(),
        generators,
        read_capture(path),
        {k: v for k, v in extras.items() if v is not None},
        has_meta=meta is not None,
    )


def steady_mask(run: RunData, ts: NDArray[np.float64] | None = None) -> NDArray[np.bool_]:
    """Rows inside a judged stage's steady-state window (its start plus warm-up, to its end)."""
    values = run.samples["ts"] if ts is None else ts
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
