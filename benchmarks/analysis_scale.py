"""Benchmark: ``crmload analyze`` against DuckDB on the same files — wall time and peak memory.

    python benchmarks/analysis_scale.py                 # 10 M and 30 M samples, 3 paired rounds
    python benchmarks/analysis_scale.py --rounds 5 1000000
    python benchmarks/analysis_scale.py --also ../before 10000000   # a checkout of an earlier commit too

Writes a run directory of synthetic samples (33 operations, 5 personas, lognormal latencies, 0.2 %
failures, an open-model persona with schedule lag, three judged stages of an hour each) in the
compacted form, ``samples.parquet``, a million rows at a time. Then, in paired rounds on that one
directory (A B A B …):

- A, the reference: a fresh process running :data:`DUCKDB_QUERIES` with DuckDB (2 threads) on the
  same ``samples.parquet`` — the headline numbers only: exact ``quantile_disc`` p50/p95/p99 of the
  successful requests per operation, per persona and per stage × operation (``quantile_disc`` is the
  nearest-rank estimator crmload uses), failure rates per operation, requests per second;
- B: a fresh ``crmload analyze`` process: the full standard judged (every clause, every class per
  operation, intervals), the per-scope tables, ``verdict.json``, ``summary.md``, ``junit.xml``, the
  charts and ``report.html``.

``--also DIR``: a third side in each round, ``crmload analyze`` of the checkout in DIR (its code first
on ``PYTHONPATH``), to measure a change against the commit before it on the same files.

Each process's peak memory is its own ``ru_maxrss`` (from ``wait4``). Printed: per size, the
median and range over the rounds of each side's wall time and peak memory, and of B's time over A's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crmload.analysis.thresholds import CANONICAL_OPERATIONS  # noqa: E402
from crmload.core import samplefiles  # noqa: E402

T0 = 1_700_000_000.0


CHUNK = 1 << 20  # rows generated (and written as one Parquet row group) at a time


def _chunk(rng: np.random.Generator, n: int, t_lo: float, t_hi: float) -> pa.Table:
    ops = np.array(CANONICAL_OPERATIONS)
    personas = np.array(["sales", "service", "marketing", "manager", "integration"])
    op_idx = rng.integers(0, len(ops), n)
    ts = np.sort(rng.uniform(t_lo, t_hi, n))
    rt = rng.lognormal(mean=3.0, sigma=0.8, size=n) + op_idx  # ms
    failed = rng.random(n) < 0.002
    persona = personas[rng.integers(0, len(personas), n)]
    lag = np.where(persona == "integration", rng.exponential(2.0, n), np.nan)
    return pa.table(
        {
            "ts": ts,
            "kind": pa.array(np.full(n, "request")),
            "operation": ops[op_idx],
            "persona": persona,
            "journey": pa.array(np.full(n, "j")),
            "response_time_ms": rt,
            "schedule_lag_ms": pa.array(lag, from_pandas=True),  # NaN written as null, as the capture does
            "status": np.where(failed, 503, 200).astype(np.int32),
            "outcome": np.where(failed, "http_5xx", "ok"),
            "bytes": rng.integers(100, 5000, n),
            "stage": np.minimum((ts - T0) // 3600, 2).astype(np.int32),
            "users": np.full(n, 200, dtype=np.int32),
            "worker": pa.array(np.full(n, "w0")),
            "server_ms": rt * 0.8,
        }
    )


def make_run(path: Path, n: int, seed: int = 1, form: str = "parquet") -> None:
    """A run directory of ``n`` synthetic samples over three judged hours, in the compacted form
    (``samples.parquet``, the capture's schema and row groups) or the old ``samples.csv``.

    Generated a million rows at a time (each chunk a slice of the three hours, so ``ts`` ascends),
    so that a hundred million rows need no more memory than one."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    duration = 3 * 3600.0
    chunks = max(1, -(-n // CHUNK))
    writer: Any = None
    if form == "parquet":
        writer = pq.ParquetWriter(path / samplefiles.SAMPLES_PARQUET, samplefiles.SAMPLE_SCHEMA, compression="zstd")
    sink = None
    for k in range(chunks):
        size = min(CHUNK, n - k * CHUNK)
        # each chunk's slice of time in proportion to its rows: one steady rate over the three hours
        lo, hi = k * CHUNK, k * CHUNK + size
        table = _chunk(rng, size, T0 + duration * lo / n, T0 + duration * hi / n)
        if writer is not None:
            writer.write_table(table.cast(samplefiles.SAMPLE_SCHEMA), row_group_size=size)
        else:
            if sink is None:
                sink = pacsv.CSVWriter(path / "samples.csv", table.schema)
            sink.write_table(table)
    if writer is not None:
        writer.close()
    if sink is not None:
        sink.close()
    stages = [
        {
            "index": i,
            "name": f"s{i}",
            "kind": "users",
            "target": {"users": 200, "arrival_rate": 5},
            "start": T0 + i * 3600,
            "end": T0 + (i + 1) * 3600,
            "warmup_s": 60,
            "judged": True,
        }
        for i in range(3)
    ]
    (path / "stages.json").write_text(json.dumps(stages))
    (path / "meta.json").write_text(
        json.dumps({"status": "completed", "scenario_name": "bench", "scenario": {"required_users": 200}})
    )
    secs = np.arange(T0, T0 + duration, 1.0)
    gens = pa.table(
        {
            "ts": secs,
            "worker": pa.array(np.full(len(secs), "local")),
            "cpu_percent": np.full(len(secs), 40.0),
            "users": np.full(len(secs), 200),
        }
    )
    pacsv.write_csv(gens, path / "generators.csv")


SAMPLES = "read_parquet('{path}')"
_PCT = "quantile_disc(response_time_ms, [0.5, 0.95, 0.99]) FILTER (WHERE outcome = 'ok')"
DUCKDB_QUERIES = {
    "per operation": f"SELECT operation, {_PCT} FROM {SAMPLES} WHERE kind = 'request' GROUP BY operation",
    "per persona": f"SELECT persona, {_PCT} FROM {SAMPLES} WHERE kind = 'request' GROUP BY persona",
    "per stage x operation": (
        f"SELECT stage, operation, {_PCT} FROM {SAMPLES} WHERE kind = 'request' GROUP BY stage, operation"
    ),
    "failure rate per operation": (
        f"SELECT operation, count(*), avg((outcome <> 'ok')::INTEGER) FROM {SAMPLES} "
        "WHERE kind = 'request' GROUP BY operation"
    ),
    "requests per second": (
        f"SELECT floor(ts)::BIGINT AS second, count(*) FROM {SAMPLES} WHERE kind = 'request' GROUP BY second"
    ),
}


def duckdb_reference(path: Path) -> None:
    """Side A, in its own process: every query of :data:`DUCKDB_QUERIES`, results fetched."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    for sql in DUCKDB_QUERIES.values():
        con.execute(sql.format(path=path)).fetchall()


def timed(
    argv: list[str], ok: tuple[int, ...] = (0, 1, 3), env: dict[str, str] | None = None, cwd: Path = REPO
) -> tuple[float, float, str]:
    """Wall seconds, peak MiB (its own ``ru_maxrss``) and output of a fresh process running ``argv``;
    an exit code not in ``ok`` (by default PASS, FAIL, INCONCLUSIVE) ends the benchmark with its output."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(out)
    return wall, usage.ru_maxrss / 1024, out


def _spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def measure(n: int, rounds: int, also: Path | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        # generated in a child process: a forked child counts its parent's pages in its peak RSS
        subprocess.run([sys.executable, __file__, "--generate", str(run), str(n)], check=True)
        parquet = run / samplefiles.SAMPLES_PARQUET
        sides: dict[str, list[tuple[float, float]]] = {"duckdb": [], "crmload": [], "also": []}
        standard = str(REPO / "thresholds.yaml")
        analyze = [sys.executable, "-m", "crmload.cli", "analyze", str(run), "--thresholds", standard]
        for _ in range(rounds):
            sides["duckdb"].append(timed([sys.executable, __file__, "--duckdb", str(parquet)])[:2])
            sides["crmload"].append(timed(analyze)[:2])
            if also is not None:
                # run from DIR: ``python -m`` puts the working directory first on the path
                env = {**os.environ, "PYTHONPATH": str(also.resolve())}
                sides["also"].append(timed(analyze, env=env, cwd=also.resolve())[:2])
        ratio = [c[0] / d[0] for d, c in zip(sides["duckdb"], sides["crmload"], strict=True)]
        out: dict[str, object] = {
            "samples": n,
            "parquet_mb": round(parquet.stat().st_size / 1e6),
            "rounds": rounds,
            "duckdb_s": _spread([w for w, _ in sides["duckdb"]]),
            "duckdb_mib": _spread([m for _, m in sides["duckdb"]], 0),
            "crmload_s": _spread([w for w, _ in sides["crmload"]]),
            "crmload_mib": _spread([m for _, m in sides["crmload"]], 0),
            "crmload_over_duckdb": _spread(ratio, 2),
        }
        if also is not None:
            out["also"] = str(also)
            out["also_s"] = _spread([w for w, _ in sides["also"]])
            out["also_mib"] = _spread([m for _, m in sides["also"]], 0)
        return out


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        make_run(Path(sys.argv[2]), int(sys.argv[3]))
        return
    if sys.argv[1:2] == ["--duckdb"]:
        duckdb_reference(Path(sys.argv[2]))
        return
    args = sys.argv[1:]
    rounds, also = 3, None
    while args[:1] in (["--rounds"], ["--also"]):
        if args[0] == "--rounds":
            rounds = int(args[1])
        else:
            also = Path(args[1])
        args = args[2:]
    for n in [int(a) for a in args] or [10_000_000, 30_000_000]:
        print(json.dumps(measure(n, rounds, also), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
