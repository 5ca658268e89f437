"""Benchmark: ``crmload analyze`` on 1 M and 10 M synthetic samples — wall time and peak memory.

    python benchmarks/analysis_scale.py            # 1 M and 10 M
    python benchmarks/analysis_scale.py 2000000    # one size

Writes a run directory of synthetic samples (33 operations, 5 personas, lognormal latencies, 0.2 %
failures, three judged stages of an hour each) with pyarrow, then times a fresh
``crmload analyze`` process on it (verdict for the full standard and all report files) and reads
its peak resident memory from the kernel (``ru_maxrss`` of that child, from ``wait4``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crmload.analysis.thresholds import CANONICAL_OPERATIONS  # noqa: E402

T0 = 1_700_000_000.0


def make_run(path: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    duration = 3 * 3600.0
    ops = np.array(CANONICAL_OPERATIONS)
    personas = np.array(["sales", "service", "marketing", "manager", "integration"])
    op_idx = rng.integers(0, len(ops), n)
    ts = np.sort(rng.uniform(T0, T0 + duration, n))
    rt = rng.lognormal(mean=3.0, sigma=0.8, size=n) + op_idx  # ms
    failed = rng.random(n) < 0.002
    outcome = np.where(failed, "http_5xx", "ok")
    status = np.where(failed, 503, 200)
    persona = personas[rng.integers(0, len(personas), n)]
    lag = np.where(persona == "integration", rng.exponential(2.0, n), np.nan)
    stage = np.minimum((ts - T0) // 3600, 2).astype(np.int32)
    table = pa.table(
        {
            "ts": ts,
            "kind": pa.array(np.full(n, "request")),
            "operation": ops[op_idx],
            "persona": persona,
            "journey": pa.array(np.full(n, "j")),
            "response_time_ms": rt,
            "schedule_lag_ms": lag,
            "status": status,
            "outcome": outcome,
            "bytes": rng.integers(100, 5000, n),
            "stage": stage,
            "users": np.full(n, 200),
            "worker": pa.array(np.full(n, "w0")),
            "server_ms": rt * 0.8,
        }
    )
    pacsv.write_csv(table, path / "samples.csv")
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


def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        t = time.perf_counter()
        # generated in a child process: a forked child counts its parent's pages in its peak RSS, so the
        # parent must stay small for the analysis process's figure to be its own
        subprocess.run([sys.executable, __file__, "--generate", str(run), str(n)], check=True)
        gen_s = time.perf_counter() - t
        size_mb = (run / "samples.csv").stat().st_size / 1e6
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "crmload.cli", "analyze", str(run), "--thresholds", str(REPO / "thresholds.yaml")],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out = proc.stdout.read() if proc.stdout else b""
        _pid, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the generator's
        wall = time.perf_counter() - t
        code = os.waitstatus_to_exitcode(status)
        peak_kib = usage.ru_maxrss
        if code not in (0, 1, 3):
            raise SystemExit(out.decode())
        return {
            "samples": n,
            "csv_mb": round(size_mb, 1),
            "generate_s": round(gen_s, 1),
            "analyze_s": round(wall, 2),
            "peak_rss_mib": round(peak_kib / 1024, 0),
        }


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        make_run(Path(sys.argv[2]), int(sys.argv[3]))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000]
    for n in sizes:
        print(json.dumps(measure(n)), flush=True)


if __name__ == "__main__":
    main()
