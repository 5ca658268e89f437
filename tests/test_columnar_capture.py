"""The columnar capture: segments a killed generator leaves lose at most its last second, the old
CSV form reads and judges the same, torn batches are named, and compaction is whole or not at all."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from e2e import REPO, request_rows

from crmload.analysis.analyze import analyze
from crmload.analysis.run import load_run
from crmload.analysis.thresholds import load_thresholds
from crmload.core import samplefiles
from crmload.core.rundir import SAMPLE_COLUMNS, SampleRow
from crmload.democrm.server import EmbeddedCRM

SCENARIO = """\
name: columnar-{name}
size: tiny
personas:
  sales:   {{weight: 1, think_time: [0.05s, 0.1s]}}
  service: {{weight: 1, think_time: [0.05s, 0.1s]}}
stages:
  - {{name: hold, users: 4, spawn_rate: 4, duration: {duration}}}
judge: [PERF-ERR-01, PERF-RT-01]
"""


def _plain_locust(tmp_path: Path, crm: EmbeddedCRM, run_dir: Path, duration: str) -> subprocess.Popen[str]:
    """Plain ``locust -f loadtests/locustfile.py`` (no crmload runner: nothing compacts after a kill)."""
    scenario = tmp_path / f"columnar-{duration}.yaml"
    scenario.write_text(SCENARIO.format(name=duration, duration=duration))
    env = dict(
        os.environ,
        CRMLOAD_SCENARIO=str(scenario),
        CRMLOAD_RUN_DIR=str(run_dir),
        CRMLOAD_TESTDATA=str(crm.manifest_path),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless",
         "--host", crm.base_url, "--only-summary"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _rows(n: int, t0: float = 1_700_000_000.0, seed: int = 0) -> list[SampleRow]:
    rng = np.random.default_rng(seed)
    ops = ["customer.search", "customer.view", "lead.create"]
    return [
        SampleRow(
            round(t0 + i / 100, 6),
            "request",
            ops[i % 3],
            "sales",
            "j",
            round(float(rng.exponential(40)), 3),
            None if i % 2 else round(float(rng.uniform(0, 5)), 3),
            200,
            "ok",
            100 + i,
            0,
            4,
            "local",
            None if i % 5 else 1.5,
        )
        for i in range(n)
    ]


def _segmented(run_dir: Path, batches: int, rows: int = 200, segment_s: float = 1.0) -> list[pa.RecordBatch]:
    """A run directory's segments written as the capture writes them: a batch a second."""
    writer = samplefiles.SegmentWriter(run_dir, segment_s=segment_s)
    written = []
    for i in range(batches):
        batch = samplefiles.to_batch(_rows(rows, t0=1_700_000_000.0 + i, seed=i))
        assert writer.write(batch, now=float(i)) is None
        written.append(batch)
    writer.close(now=float(batches))
    return written


def test_a_generator_killed_mid_run_loses_at_most_its_last_second(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with EmbeddedCRM(size="tiny") as crm:
        proc = _plain_locust(tmp_path, crm, run_dir, "60s")
        try:
            deadline = time.monotonic() + 90
            while len(samplefiles.segments(run_dir)) < 3 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
            assert len(samplefiles.segments(run_dir)) >= 3, proc.stderr.read() if proc.poll() is not None else ""
            time.sleep(0.5)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            served = sum(crm.state.served.values())
        finally:
            if proc.poll() is None:
                proc.kill()
            assert proc.stderr is not None
            proc.stderr.close()
    assert not (run_dir / samplefiles.SAMPLES_PARQUET).exists()  # nobody compacted: the segments are the run
    paths = samplefiles.segments(run_dir)
    problems: list[str] = []
    for closed in paths[:-1]:  # a closed segment holds about ten seconds, a batch a second
        assert len(list(samplefiles.read_segment(closed, problems))) >= 5, closed
    assert problems == []
    requests = request_rows(run_dir)
    ts = [r["ts"] for r in requests]
    rate = len(requests) / (max(ts) - min(ts))
    lost = served - len(requests)
    # the last second the writer had not flushed (and a batch torn mid-write, if it was), plus the
    # four users' requests in flight at the kill
    assert 0 <= lost <= 2 * rate + 4, (served, len(requests), rate)
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "analyze", str(run_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr  # judged as far as it went: INCONCLUSIVE
    assert "no end record" in done.stdout
    verdict = json.loads((run_dir / "verdict.json").read_text())
    err = next(c for c in verdict["clauses"] if c["id"] == "PERF-ERR-01")
    assert 0.9 * len(requests) < err["samples"] <= len(requests)
    # what crmload run does after a killed Locust: compact what the segments hold; judged the same
    segmented = _clauses(run_dir)
    assert samplefiles.compact(run_dir) == run_dir / samplefiles.SAMPLES_PARQUET and not samplefiles.segments(run_dir)
    assert _clauses(run_dir) == segmented


@pytest.fixture(scope="module")
def ended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run that ended: its samples compacted into samples.parquet."""
    tmp_path = tmp_path_factory.mktemp("ended")
    run_dir = tmp_path / "run"
    with EmbeddedCRM(size="tiny") as crm:
        proc = _plain_locust(tmp_path, crm, run_dir, "12s")
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert (run_dir / samplefiles.SAMPLES_PARQUET).exists() and not samplefiles.segments(run_dir)
    return run_dir


def _as_old_csv(run_dir: Path, into: Path) -> Path:
    """The same run in the form crmload recorded before the columnar capture: ``samples.csv``
    written as its writer wrote it (``csv.writer`` rows, an empty cell for a missing value)."""
    shutil.copytree(run_dir, into)
    (into / samplefiles.SAMPLES_PARQUET).unlink()
    with (into / samplefiles.SAMPLES_CSV).open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(SAMPLE_COLUMNS)
        for row in samplefiles.read_table(run_dir).to_pylist():
            out.writerow([row[c] for c in SAMPLE_COLUMNS])
    return into


def _clauses(run_dir: Path) -> list[dict[str, Any]]:
    res = analyze(run_dir, thresholds=load_thresholds(REPO / "thresholds.yaml"), write=False, report=False)
    return [r.to_dict() for r in res.verdict.results]


def test_a_run_in_the_old_csv_form_reads_bit_identical_and_judges_the_same(ended: Path, tmp_path: Path) -> None:
    old = _as_old_csv(ended, tmp_path / "old")
    assert samplefiles.samples_form(old) == old / samplefiles.SAMPLES_CSV
    new_s, old_s = load_run(ended).samples, load_run(old).samples
    assert len(new_s) == len(old_s) > 100
    for name in new_s.num:
        assert np.array_equal(new_s[name], old_s[name], equal_nan=True), name
    for name in new_s.text:
        a, b = new_s.t(name), old_s.t(name)
        assert [a.labels[c] for c in a.codes] == [b.labels[c] for c in b.codes], name
    new_c, old_c = _clauses(ended), _clauses(old)
    assert new_c == old_c
    assert {c["status"] for c in new_c if c["id"] in ("PERF-ERR-01", "PERF-RT-01")} <= {"PASS", "INCONCLUSIVE"}


def test_a_torn_last_batch_is_named_and_the_run_cannot_pass(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    written = _segmented(run_dir, batches=3, segment_s=60.0)
    (seg,) = samplefiles.segments(run_dir)
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) - 300])  # the writer killed in the middle of its third batch
    problems: list[str] = []
    read = list(samplefiles.read_segment(seg, problems))
    assert [b.num_rows for b in read] == [200, 200]
    assert read[1].equals(written[1])
    assert len(problems) == 1 and seg.name in problems[0] and "torn after 2 complete batch(es)" in problems[0]
    samples = load_run(run_dir).samples
    assert len(samples) == 400 and any(seg.name in p for p in samples.skipped_rows)
    # read while the run goes (the conductor's looks), the same bytes are a batch being written
    live = load_run(run_dir, live=True).samples
    assert len(live) == 400 and live.skipped_rows == []
    # compacted, the loss is still said: the problems travel beside the parquet file
    assert samplefiles.compact(run_dir) == run_dir / samplefiles.SAMPLES_PARQUET
    again = load_run(run_dir).samples
    assert len(again) == 400 and any(seg.name in p for p in again.skipped_rows)


def test_segments_rotate_and_compact_into_one_file_with_every_row(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    written = _segmented(run_dir, batches=10, segment_s=2.0)
    assert len(samplefiles.segments(run_dir)) == 5  # a new segment every two (writer) seconds
    before = load_run(run_dir).samples
    assert samplefiles.compact(run_dir) == run_dir / samplefiles.SAMPLES_PARQUET
    assert not (run_dir / samplefiles.SAMPLES_DIR).exists()
    table = samplefiles.read_table(run_dir)
    assert table.equals(pa.Table.from_batches(written))  # every row, in order, every value (nulls too)
    after = load_run(run_dir).samples
    for name in before.num:
        assert np.array_equal(before[name], after[name], equal_nan=True), name
    assert samplefiles.compact(run_dir) == run_dir / samplefiles.SAMPLES_PARQUET  # again: nothing changes
    assert samplefiles.read_table(run_dir).equals(table)


def test_a_writer_restarted_on_the_same_run_directory_appends_after_the_segments(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = _segmented(run_dir, batches=2, segment_s=60.0)
    second = _segmented(run_dir, batches=2, segment_s=60.0)
    assert [p.name for p in samplefiles.segments(run_dir)] == ["seg-000001.arrow", "seg-000002.arrow"]
    assert samplefiles.read_table(run_dir).num_rows == sum(b.num_rows for b in first + second)


def test_compaction_cut_short_leaves_one_readable_form(tmp_path: Path) -> None:
    # killed while writing the parquet file: its partial file is not a form; the segments are read
    run_dir = tmp_path / "partial"
    written = _segmented(run_dir, batches=4)
    (run_dir / (samplefiles.SAMPLES_PARQUET + ".partial")).write_bytes(b"PAR1 torn")
    assert samplefiles.samples_form(run_dir) == run_dir / samplefiles.SAMPLES_DIR
    assert load_run(run_dir).samples.skipped_rows == [] and len(load_run(run_dir).samples) == 800
    assert samplefiles.compact(run_dir) is not None
    assert samplefiles.read_table(run_dir).equals(pa.Table.from_batches(written))
    # killed after the rename, before the segments were removed: the whole parquet file is the form
    run_dir = tmp_path / "both"
    written = _segmented(run_dir, batches=4)
    assert samplefiles.compact(run_dir) is not None
    _segmented(run_dir, batches=4)  # the segments back, as if never removed
    assert samplefiles.samples_form(run_dir) == run_dir / samplefiles.SAMPLES_PARQUET
    assert len(load_run(run_dir).samples) == 800  # not 1,600: the segments are not read twice
    assert samplefiles.compact(run_dir) == run_dir / samplefiles.SAMPLES_PARQUET
    assert not samplefiles.segments(run_dir) and samplefiles.read_table(run_dir).num_rows == 800


def test_worker_batches_travel_as_one_compressed_stream() -> None:
    batches = [samplefiles.to_batch(_rows(1000, seed=i)) for i in range(3)]
    data = samplefiles.batches_bytes(batches)
    assert [b.equals(a) for a, b in zip(batches, samplefiles.batches_from_bytes(data), strict=True)] == [True] * 3
    assert len(data) < 3000 * 60  # LZ4: about half the CSV's 90 bytes a row
    with pytest.raises((pa.ArrowInvalid, OSError)):  # cut short: Arrow says where
        samplefiles.batches_from_bytes(data[:-100])


def test_the_compacted_file_read_a_row_group_at_a_time_equals_the_whole_table_read(tmp_path: Path) -> None:
    """Row groups with dictionaries of their own, nulls, 300 operations (codes widened past one
    byte after the first row group) and integers narrowed from the file's statistics: the same
    columns as converting the whole table at once."""
    import pyarrow.parquet as pq

    from crmload.analysis.frame import Samples

    rng = np.random.default_rng(3)
    path = tmp_path / "samples.parquet"
    with pq.ParquetWriter(path, samplefiles.SAMPLE_SCHEMA) as writer:
        for group in range(4):
            n = 5_000
            ops = [f"op.{i}" for i in range(300 if group >= 1 else 20)]  # group 0: few labels
            operation = pa.array(rng.choice(ops, n).tolist(), mask=rng.random(n) < 0.01)
            persona = pa.array(rng.choice(["sales", "service"] if group % 2 else ["manager"], n).tolist())
            columns = {
                "ts": 1.7e9 + rng.random(n) * 100,
                "kind": pa.array(["request"] * n),
                "operation": operation,
                "persona": persona,
                "journey": pa.array(["j"] * n),
                "response_time_ms": pa.array(rng.lognormal(3, 1, n), mask=rng.random(n) < 0.001),
                "schedule_lag_ms": pa.array(rng.exponential(2, n), mask=rng.random(n) < 0.5),
                "status": pa.array(rng.choice([200, 503, 40_000 if group == 3 else 404], n).astype(np.int32)),
                "outcome": pa.array(rng.choice(["ok", "http_5xx"], n).tolist()),
                "bytes": pa.array(np.zeros(n, dtype=np.int64)),
                "stage": pa.array(np.full(n, group, dtype=np.int32), mask=rng.random(n) < 0.01),
                "users": pa.array(rng.integers(0, 120, n).astype(np.int32)),
                "worker": pa.array(["w1"] * n),
                "server_ms": pa.array(rng.random(n), mask=rng.random(n) < 0.3),
            }
            writer.write_table(pa.table(columns, schema=samplefiles.SAMPLE_SCHEMA))
    got = Samples.read_parquet(str(path))
    whole = Samples.from_table([pq.read_table(path, read_dictionary=list(samplefiles.TEXT_FIELDS))])
    assert len(got) == len(whole) == 20_000
    for name, values in whole.num.items():
        assert np.array_equal(got.num[name], values, equal_nan=True), name
        assert got.num[name].dtype == values.dtype, name  # narrowed alike: int16 status, int8 stage and users
    for name, text in whole.text.items():
        mine = got.text[name]
        labels = [*mine.labels, None]
        theirs = [*text.labels, None]
        assert [labels[c] for c in mine.codes] == [theirs[c] for c in text.codes], name
    assert got.t("operation").codes.dtype == np.uint16 and len(got.t("operation").labels) == 300
