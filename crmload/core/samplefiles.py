"""Where a run's samples live on disk, in columns: Arrow IPC segments while the run goes, one Parquet
file once it has ended, and the CSV file of runs recorded before either.

The forms of a run directory's samples, the newest first (:func:`samples_form` picks one):

- ``samples.parquet``: the compacted form. :func:`compact` writes it when the run ends, from the
  segments, in bounded memory (a row group of about a million rows at a time), to a temporary name
  renamed into place, and only then removes the segments: a run killed mid-compaction keeps its
  segments, and a parquet file that exists is whole. A torn batch it found is named in
  ``samples.problems.txt`` beside it, and a run with one cannot PASS, in either form.
- ``samples/seg-NNNNNN.arrow``: Arrow IPC *streams* of record batches, one batch per second
  appended (and flushed) by the writing process, a new segment every :data:`SEGMENT_S` seconds.
  A stream is read batch by batch up to its end or to the first batch a killed writer left torn:
  a crash loses the last second it had not written and at most that one torn batch.
- ``samples.csv``: runs recorded by crmload before the columnar capture; read as before.

Segments and workers' batches are LZ4-compressed (a second's batch of 200 rows costs 0.9 µs a row
against zstd's 4.1, for 53 bytes a row against 34; ``benchmarks/capture_cost.py``); the compacted
file is zstd (about 11–16 bytes a row). Text columns are written as plain strings (compression
makes a repeated label cost almost nothing) and
read dictionary-encoded, one batch at a time, so that a reader never holds a column of Python strings.
The values are the ones the CSV held: ``ts`` rounded to the microsecond and ``response_time_ms`` to
the microsecond too (``round(…, 6)`` and ``round(…, 3)`` on the recording path), stored as float64,
so that a run read from either form gives the same numbers.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

SAMPLES_DIR = "samples"
SAMPLES_PARQUET = "samples.parquet"
SAMPLES_CSV = "samples.csv"
PROBLEMS_FILE = "samples.problems.txt"  # what compaction could not carry over (a torn batch)
SEGMENT_S = 10.0  # a new segment this often (at the first write after it)
ROW_GROUP_ROWS = 1 << 20  # the compacted file's row groups
_SEGMENT = re.compile(r"^seg-(\d{6,})\.arrow$")
_IPC = ipc.IpcWriteOptions(compression="lz4")  # cheap at a few hundred rows a batch; see the docstring

TEXT_FIELDS = ("kind", "operation", "persona", "journey", "outcome", "worker")
SAMPLE_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]
        ("ts", pa.float64()),
        ("kind", pa.string()),
        ("operation", pa.string()),
        ("persona", pa.string()),
        ("journey", pa.string()),
        ("response_time_ms", pa.float64()),
        ("schedule_lag_ms", pa.float64()),
        ("status", pa.int32()),
        ("outcome", pa.string()),
        ("bytes", pa.int64()),
        ("stage", pa.int32()),
        ("users", pa.int32()),
        ("worker", pa.string()),
        ("server_ms", pa.float64()),
    ]
)


def to_batch(rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    """Rows in :data:`SAMPLE_SCHEMA`'s column order (``SampleRow``) as one record batch.

    A missing ``schedule_lag_ms`` may be None or ``""`` (the CSV's empty cell), a missing
    ``server_ms`` None."""
    if not rows:
        return pa.RecordBatch.from_pylist([], schema=SAMPLE_SCHEMA)
    columns = list(zip(*rows, strict=True))
    lag = columns[6]
    if "" in lag:
        columns[6] = tuple(None if v == "" else v for v in lag)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, SAMPLE_SCHEMA, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=SAMPLE_SCHEMA)


def warm_up() -> None:
    """Make Arrow do its one-time set-up now (its first conversion of floats takes about 0.3 s)."""
    row = (0.0, "request", "op", "p", "j", 1.0, None, 200, "ok", 0, 0, 0, "local", None)
    batches_from_bytes(batches_bytes([to_batch([row])]))


def batches_bytes(batches: Iterable[pa.RecordBatch]) -> bytes:
    """Record batches as one compressed IPC stream: how a worker sends its samples to the master."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, SAMPLE_SCHEMA, options=_IPC) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return bytes(sink.getvalue())


def batches_from_bytes(data: bytes) -> list[pa.RecordBatch]:
    """The batches :func:`batches_bytes` sent (a malformed or cut stream raises ``pa.ArrowInvalid`` or ``OSError``)."""
    return list(ipc.open_stream(pa.BufferReader(data)))


def segments(run_dir: Path) -> list[Path]:
    """The run's segments, in the order they were written."""
    folder = run_dir / SAMPLES_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _SEGMENT.match(p.name))]
    return [p for _, p in sorted(found)]


class SegmentWriter:
    """Appends record batches to the run's current segment and starts a new one every
    :data:`SEGMENT_S` seconds; a batch that could not be written (a full disk) is kept and goes
    first on the next attempt, in a new segment (the old one ends where the write failed)."""

    def __init__(self, run_dir: Path, segment_s: float = SEGMENT_S) -> None:
        self.folder = run_dir / SAMPLES_DIR
        self.segment_s = segment_s
        self.pending: list[pa.RecordBatch] = []
        self._sink: pa.OSFile | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None
        self._opened_at = 0.0
        existing = segments(run_dir)  # a writer restarted on the same run directory appends after them
        self._next = int(_SEGMENT.match(existing[-1].name).group(1)) + 1 if existing else 1  # type: ignore[union-attr]

    def _open(self, now: float) -> ipc.RecordBatchStreamWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"seg-{self._next:06d}.arrow"
        self._next += 1
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = ipc.new_stream(self._sink, SAMPLE_SCHEMA, options=_IPC)
        self._opened_at = now
        return self._writer

    def write(self, batch: pa.RecordBatch | None, now: float) -> OSError | None:
        """Queue ``batch`` and write what is queued; the error, when it could not all be written."""
        if batch is not None and batch.num_rows:
            self.pending.append(batch)
        if not self.pending:
            return None
        try:
            if self._writer is not None and now - self._opened_at >= self.segment_s:
                self._finish()
            writer = self._writer or self._open(now)
            while self.pending:
                writer.write_batch(self.pending[0])
                assert self._sink is not None
                self._sink.flush()
                self.pending.pop(0)
        except OSError as exc:
            self._abandon()
            return exc
        return None

    def _finish(self, sync: bool = False) -> None:
        """End the current segment; ``sync``: to the disk too (at the end of the run: a rotation does
        not wait for the disk in the hub, since a killed process's writes are safe in the page cache)."""
        writer, sink = self._writer, self._sink
        self._writer = self._sink = None
        try:
            if writer is not None:
                writer.close()
        finally:
            if sink is not None:
                if sync:
                    with contextlib.suppress(OSError):
                        os.fsync(sink.fileno())
                sink.close()

    def _abandon(self) -> None:
        """After a failed write: the segment ends there (readers stop at its torn batch)."""
        with contextlib.suppress(OSError, pa.ArrowException):
            if self._sink is not None:
                self._sink.close()
        self._writer = self._sink = None

    @property
    def unwritten_rows(self) -> int:
        return sum(b.num_rows for b in self.pending)

    def close(self, now: float) -> None:
        self.write(None, now)
        with contextlib.suppress(OSError, pa.ArrowException):
            self._finish(sync=True)


def _encoded(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text columns dictionary-encoded (a reader keeps codes, not strings)."""
    arrays = [
        col.dictionary_encode() if name in TEXT_FIELDS and pa.types.is_string(col.type) else col
        for name, col in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def read_segment(path: Path, problems: list[str], skip: int = 0) -> Iterator[pa.RecordBatch]:
    """The batches of one segment after the first ``skip``, up to its end or its first torn batch
    (named in ``problems``)."""
    try:
        with pa.OSFile(str(path), "rb") as fh:
            try:
                reader = ipc.open_stream(fh)
            except (pa.ArrowInvalid, OSError):
                if path.stat().st_size:
                    problems.append(f"{path.name}: torn before its first batch (the writer was killed)")
                return
            n = 0
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, OSError) as exc:
                    problems.append(
                        f"{path.name}: torn after {n} complete batch(es), the rest unreadable "
                        f"(the writer was killed mid-write: {str(exc).splitlines()[0][:80]})"
                    )
                    return
                n += 1
                if n > skip:
                    yield batch
    except OSError as exc:
        problems.append(f"{path.name}: cannot be read ({exc.strerror or exc})")


def read_segments(
    run_dir: Path, problems: list[str], columns: Iterable[str] | None = None, live: bool = False
) -> pa.Table:
    """Every segment's batches as one table, text columns dictionary-encoded batch by batch.

    ``live``: the run is still being written, so the last segment's last batch may be half
    written, not torn: it is left for the next read without a word."""
    wanted = list(columns) if columns is not None else SAMPLE_SCHEMA.names
    paths = segments(run_dir)
    batches = [
        _encoded(batch.select(wanted))
        for i, path in enumerate(paths)
        for batch in read_segment(path, [] if live and i == len(paths) - 1 else problems)
    ]
    if not batches:
        return pa.Table.from_batches([_encoded(to_batch([]).select(wanted))])
    return pa.Table.from_batches(batches)


class SegmentTail:
    """The batches written since the last call, while a run goes (a progress line's counts): each
    segment read up to where it was read before; one that has a newer segment after it is done."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._read: dict[str, int] = {}  # segment name -> batches read
        self._done: set[str] = set()

    def new_batches(self) -> list[pa.RecordBatch]:
        paths = segments(self.run_dir)
        out: list[pa.RecordBatch] = []
        for i, path in enumerate(paths):
            if path.name in self._done:
                continue
            skip = self._read.get(path.name, 0)
            batches = list(read_segment(path, [], skip))  # a batch being written is read next time
            self._read[path.name] = skip + len(batches)
            out += batches
            if i < len(paths) - 1:
                self._done.add(path.name)
        return out


def samples_form(run_dir: Path) -> Path | None:
    """Which of the forms holds the run's samples (the module docstring's order); None if none does."""
    for path in (run_dir / SAMPLES_PARQUET, run_dir / SAMPLES_DIR, run_dir / SAMPLES_CSV):
        if path.exists():
            return path
    return None


def read_table(run_dir: Path) -> pa.Table:
    """The run's samples as an Arrow table, whatever their form (for tools and tests; the analysis
    reads with :class:`crmload.analysis.frame.Samples`)."""
    form = samples_form(run_dir)
    if form is None:
        raise FileNotFoundError(f"{run_dir}: no samples")
    if form.name == SAMPLES_PARQUET:
        return pq.read_table(form)
    if form.name == SAMPLES_DIR:
        return read_segments(run_dir, []).cast(pa.schema([pa.field(f.name, f.type) for f in SAMPLE_SCHEMA]), safe=False)
    import pyarrow.csv as pacsv

    return pacsv.read_csv(form)


def compact(run_dir: Path) -> Path | None:
    """The segments as one ``samples.parquet`` (then removed); None when there were none. An
    OSError (a full disk) leaves the segments as they were and removes the partial file."""
    paths = segments(run_dir)
    final = run_dir / SAMPLES_PARQUET
    if final.exists():  # compacted before, killed before the segments were removed
        _remove(paths, run_dir / SAMPLES_DIR)
        return final
    if not paths:
        return None
    tmp = run_dir / (SAMPLES_PARQUET + ".partial")
    problems: list[str] = []
    try:
        with pq.ParquetWriter(tmp, SAMPLE_SCHEMA, compression="zstd") as writer:
            held: list[pa.RecordBatch] = []
            rows = 0
            for path in paths:
                for batch in read_segment(path, problems):
                    held.append(batch)
                    rows += batch.num_rows
                    if rows >= ROW_GROUP_ROWS:
                        writer.write_table(pa.Table.from_batches(held), row_group_size=rows)
                        held, rows = [], 0
            if held:
                writer.write_table(pa.Table.from_batches(held), row_group_size=rows)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if problems:  # a torn batch is lost in either form: said beside the file before it exists
            (run_dir / PROBLEMS_FILE).write_text("\n".join(problems) + "\n")
        os.replace(tmp, final)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    _remove(paths, run_dir / SAMPLES_DIR)
    return final


def compaction_problems(run_dir: Path) -> list[str]:
    """What :func:`compact` found torn in the segments it compacted (lost in either form)."""
    try:
        return [line for line in (run_dir / PROBLEMS_FILE).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []


def _remove(paths: list[Path], folder: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
