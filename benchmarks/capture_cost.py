"""What recording samples costs the process that times the requests: CSV rows against columns.

    python benchmarks/capture_cost.py [--rounds 5] [--seconds 20] [--rates 5000 200]

Each round feeds the capture's flush one second's rows at a time (``--seconds`` flushes, rows of 33
operations and 5 personas with lognormal latencies, a third with a schedule lag, as journeys record
them), inside a gevent hub where a ticker greenlet asks to wake every 0.5 ms and records how late it
woke: the longest hold is how long a request's timing could have waited behind the flush.

- **A, CSV** (the capture before the columnar form): ``samples.csv`` rows formatted by
  ``csv.writer`` and appended through one descriptor (``_CsvAppender``), one call per flush.
- **B, columns** (today's capture, its own ``Capture._write``): the flush's rows made into record
  batches of ``SLICE_ROWS`` with a yield to the hub between slices, appended to the current Arrow
  IPC segment (LZ4, a new segment every 10 s) by an OS thread of the hub's pool, and compacted
  into ``samples.parquet`` at the end (timed apart: it runs after the load).

- **0, nothing**: the same rounds with a flush that does nothing: the ticker's own lateness on
  this machine (the floor under both forms' hub holds).

A last round times the compaction of a bigger run (``--compact-rows``) apart.

Rounds alternate 0 A B 0 A B; the table gives medians with their ranges. CPU is the process's own
(``time.process_time``, all its threads) over the flushes only, per row; the disk figures are bytes per row written
while the run goes and kept at its end, scaled to a million rows. Stop-criteria bookkeeping (only
in scenarios that have ``stop:``) is left out of both.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import numpy as np
from locust.env import Environment

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crmload.core import samplefiles  # noqa: E402
from crmload.core.rundir import SAMPLE_COLUMNS, SampleRow  # noqa: E402
from crmload.loadtests.capture import Capture, _CsvAppender  # noqa: E402

OPERATIONS = [f"op.{i:02d}" for i in range(33)]
PERSONAS = ["sales", "service", "marketing", "integration", "manager"]


def make_rows(n: int, t0: float, rng: np.random.Generator) -> list[SampleRow]:
    rts = np.round(rng.lognormal(3.5, 0.6, n), 3)
    ops = rng.integers(0, len(OPERATIONS), n)
    personas = rng.integers(0, len(PERSONAS), n)

    def row(i: int) -> SampleRow:
        lag = round(float(rts[i]) / 50, 3) if i % 3 == 0 else None
        return SampleRow(
            round(t0 + i / n, 6), "request", OPERATIONS[ops[i]], PERSONAS[personas[i]], "journey.name",
            float(rts[i]), lag, 200, "ok", 512, 1, 40, "local", 1.25,
        )  # fmt: skip

    return [row(i) for i in range(n)]


class Ticker:
    """A greenlet that asks to wake every ``every_s`` and records how late each wake-up was."""

    def __init__(self, every_s: float = 0.0005) -> None:
        self.every_s = every_s
        self.wakes: list[tuple[float, float]] = []  # (due, late by)
        self._g = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            due = time.perf_counter() + self.every_s
            gevent.sleep(self.every_s)
            self.wakes.append((due, time.perf_counter() - due))

    def longest_within(self, windows: list[tuple[float, float]]) -> float:
        """The latest wake-up among those held up during one of ``windows`` (the flushes): due
        before a window ended and woken after it began."""
        return max(
            (late for due, late in self.wakes if any(due <= b and due + late >= a for a, b in windows)), default=0.0
        )

    def stop(self) -> None:
        self._g.kill()


Rows = Callable[[int], list[SampleRow]]  # second -> that second's rows, made outside the timed flush


def idle_round(run_dir: Path, rows: Rows, seconds: int) -> dict[str, float]:
    return _timed(rows, seconds, lambda r: None, lambda: None, run_dir, None)


def csv_round(run_dir: Path, rows: Rows, seconds: int) -> dict[str, float]:
    appender = _CsvAppender(run_dir / samplefiles.SAMPLES_CSV, SAMPLE_COLUMNS)
    return _timed(rows, seconds, lambda r: appender.write([tuple(x) for x in r]), appender.close, run_dir, None)


def columns_round(run_dir: Path, rows: Rows, seconds: int) -> dict[str, float]:
    capture = Capture(Environment(), run_dir, lambda: 0)  # the capture's own write path
    return _timed(
        rows,
        seconds,
        lambda r: capture._write(capture._columns(r), {}),
        lambda: capture._segments.close(time.monotonic()) if capture._segments else None,
        run_dir,
        lambda: samplefiles.compact(run_dir),
    )


def _timed(
    rows: Rows,
    seconds: int,
    flush: Callable[[list[SampleRow]], Any],
    close: Callable[[], Any],
    run_dir: Path,
    finish: Callable[[], Any] | None,
) -> dict[str, float]:
    gc.collect()
    ticker = Ticker()
    gevent.sleep(0.01)
    cpu = 0.0
    n = 0
    windows = []
    for second in range(seconds):
        batch = rows(second)
        n += len(batch)
        gevent.sleep(0.005)  # the hub runs between flushes, as it does for a second between them
        c0, w0 = time.process_time(), time.perf_counter()
        flush(batch)
        cpu += time.process_time() - c0
        del batch
        gevent.sleep(0.000_001)  # a turn of the hub's loop: the ticker's wake-up due in the last piece
        windows.append((w0, time.perf_counter()))
    close()
    gevent.sleep(0.005)
    ticker.stop()
    live = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file() and p.name.startswith(("samples", "seg-")))
    t0 = time.perf_counter()
    if finish is not None:
        finish()
    end_s = time.perf_counter() - t0
    kept = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file() and p.name.startswith("samples"))
    return {
        "cpu_us_row": cpu / n * 1e6,
        "hold_ms": ticker.longest_within(windows) * 1e3,
        "live_mb_m": live / n,  # bytes a row = MB a million rows
        "kept_mb_m": kept / n,
        "end_s_m": end_s / n * 1e6,
    }


def compaction(total: int, rate: int = 5000) -> tuple[float, int]:
    """Segments of ``total`` rows written a second's batch at a time (``rate`` rows, a segment every
    10 s; 60 distinct seconds over and over), then compacted: (seconds, segments)."""
    distinct = [samplefiles.to_batch(make_rows(rate, 1.7e9 + s, np.random.default_rng(s))) for s in range(60)]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        writer = samplefiles.SegmentWriter(run_dir)
        for second in range(total // rate):
            writer.write(distinct[second % len(distinct)], float(second))
        writer.close(float(total // rate))
        n_segments = len(samplefiles.segments(run_dir))
        t0 = time.perf_counter()
        samplefiles.compact(run_dir)
        took = time.perf_counter() - t0
    return took, n_segments


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=20, help="flushes (one second's rows each) per round")
    ap.add_argument("--rates", type=int, nargs="+", default=[5000, 200], help="requests a second")
    ap.add_argument("--compact-rows", type=int, default=3_000_000, help="rows of the compaction round (0: none)")
    args = ap.parse_args()
    print(
        "| rows/s | form | CPU µs/row | longest hub hold (ms) | MB per 1 M rows, live | MB per 1 M rows, kept "
        "| compaction s per 1 M rows |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for rate in args.rates:

        def rows(second: int, rate: int = rate) -> list[SampleRow]:
            return make_rows(rate, 1_700_000_000.0 + second, np.random.default_rng(second))

        got: dict[str, list[dict[str, float]]] = {"0": [], "A": [], "B": []}
        for k in range(args.rounds):
            for form, fn in (("0", idle_round), ("A", csv_round), ("B", columns_round)):
                with tempfile.TemporaryDirectory() as tmp:
                    got[form].append(fn(Path(tmp), rows, args.seconds))
            print(f"  round {k + 1}: " + ", ".join(f"{f} {r[-1]['cpu_us_row']:.2f} µs/row "
                                                   f"{r[-1]['hold_ms']:.2f} ms" for f, r in got.items()),
                  file=sys.stderr)  # fmt: skip
        for form, name in (("0", "nothing (floor)"), ("A", "CSV (before)"), ("B", "columns (now)")):
            rs = got[form]
            end = med([r["end_s_m"] for r in rs]) if form == "B" else "—"
            cpu, live, kept = ("—",) * 3
            if form != "0":
                cpu = med([r["cpu_us_row"] for r in rs])
                live, kept = med([r["live_mb_m"] for r in rs]), med([r["kept_mb_m"] for r in rs])
            print(f"| {rate:,} | {name} | {cpu} | {med([r['hold_ms'] for r in rs])} | {live} | {kept} | {end} |")
    if args.compact_rows:
        runs = [compaction(args.compact_rows) for _ in range(3)]
        print(
            f"\nCompaction of {args.compact_rows:,} rows ({runs[0][1]} segments of 10 s at 5,000 rows/s): "
            f"{med([r[0] for r in runs])} s (3 runs)."
        )


if __name__ == "__main__":
    main()
