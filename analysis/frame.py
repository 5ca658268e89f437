"""Samples as columns of numpy arrays: the analysis' in-memory form of a run's samples (any of the
forms of :mod:`crmload.core.samplefiles`).

Text columns (kind, operation, persona, journey, outcome, worker) are dictionary-encoded: an
integer code per row and the list of labels, so that selecting by operation or grouping by
persona over ten million rows is integer work. Read with pyarrow, never through pandas objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from crmload.core import samplefiles

TEXT_COLUMNS = ("kind", "operation", "persona", "journey", "outcome", "worker")
# ``bytes`` is in the file but not in the analysis: it is not read, to keep ten million rows small
NUMERIC_COLUMNS: dict[str, pa.DataType] = {
    "ts": pa.float64(),
    "response_time_ms": pa.float64(),
    "schedule_lag_ms": pa.float64(),
    "status": pa.int32(),
    "stage": pa.int32(),
    "users": pa.int32(),
    "server_ms": pa.float64(),
}


Codes = NDArray[np.integer[Any]]
Rows = NDArray[np.intp]  # row numbers, ascending: a group of rows without a full-length mask


def code_dtype(n_labels: int) -> type[np.integer[Any]]:
    """The narrowest integer type for the codes of ``n_labels`` labels and the null code after them
    (one byte a row for the usual few dozen operations, instead of four)."""
    if n_labels < 255:
        return np.uint8
    if n_labels < 65535:
        return np.uint16
    return np.int32


def _wanted(columns: Sequence[str] | None) -> list[str]:
    return [c for c in (*NUMERIC_COLUMNS, *TEXT_COLUMNS) if columns is None or c in columns]


def _narrow(values: NDArray[np.int32]) -> NDArray[np.int32]:
    """``values`` in the narrowest signed type that holds them all (status, stage and users fit in
    two bytes a row, or one, in every run but the largest): the same numbers, less memory."""
    if len(values) == 0:
        return values
    dtype = _int_dtype(int(values.min()), int(values.max()))
    return values if dtype is np.int32 else values.astype(dtype)  # type: ignore[return-value]


def _int_dtype(lo: int, hi: int) -> type[np.integer[Any]]:
    """The narrowest signed type from int8 up to int32 that holds ``lo`` … ``hi``."""
    for dtype in (np.int8, np.int16):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.int32


def split_rows(rows: Rows, keys: NDArray[Any]) -> Iterator[tuple[int, Rows]]:
    """``rows`` split by their integer ``keys`` (``keys[i]`` the key of ``rows[i]``), ascending key, each group's
    rows in their order: one stable sort of the keys (a radix sort for small integers), so that a
    group costs its own size rather than a pass over every row."""
    if len(rows) == 0:
        return
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for a, b in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [len(rows)])), strict=True):
        yield int(ordered[a]), rows[order[a:b]]


@dataclass
class Text:
    codes: Codes
    labels: list[str]

    def mask(self, values: Iterable[str]) -> NDArray[np.bool_]:
        chosen = set(values)
        wanted = [i for i, label in enumerate(self.labels) if label in chosen]
        lookup = np.zeros(len(self.labels) + 1, dtype=bool)
        lookup[wanted] = True
        selected: NDArray[np.bool_] = lookup[self.codes]
        return selected

    def eq(self, value: str) -> NDArray[np.bool_]:
        return self.mask([value])

    def group_rows(self, rows: Rows) -> Iterator[tuple[str, Rows]]:
        """(label, rows) for each label present among ``rows``, in label order (:func:`split_rows`
        by code; rows whose text is missing are in no group)."""
        by_code = dict(split_rows(rows, self.codes[rows]))
        for code in sorted((c for c in by_code if c < len(self.labels)), key=lambda c: self.labels[c]):
            yield self.labels[code], by_code[code]


class Samples:
    """Columns of one run's samples; ``len()`` is the row count."""

    def __init__(self, numeric: dict[str, NDArray[np.float64] | NDArray[np.int32]], text: dict[str, Text]) -> None:
        self.num = numeric
        self.text = text
        self.skipped_rows: list[str] = []  # rows of the file that did not parse

    def __len__(self) -> int:
        return len(self.num["ts"])

    def __getitem__(self, name: str) -> NDArray[np.float64]:
        return self.num[name]  # type: ignore[return-value]

    def t(self, name: str) -> Text:
        return self.text[name]

    def take(self, keep: NDArray[np.bool_]) -> Samples:
        """The rows where ``keep`` holds (the skipped rows' record carried over)."""
        out = Samples(
            {k: v[keep] for k, v in self.num.items()}, {k: Text(t.codes[keep], t.labels) for k, t in self.text.items()}
        )
        out.skipped_rows = list(self.skipped_rows)
        return out

    @classmethod
    def from_table(cls, box: list[pa.Table], columns: Sequence[str] | None = None) -> Samples:
        """Columns from the Arrow table in ``box`` (taken out of it), converted one at a time and
        dropped from the table as they go, so that the table and the arrays are never both whole
        in memory. (The box lets this function hold the only reference to the table.)

        ``columns``: only these (a light read); the others are left out rather than filled."""
        # the CSV reader encodes each block with its own dictionary: one dictionary per column first
        table = box.pop().unify_dictionaries()
        n = table.num_rows
        numeric: dict[str, NDArray[np.float64] | NDArray[np.int32]] = {}
        for name, dtype in NUMERIC_COLUMNS.items():
            if columns is not None and name not in columns:
                continue
            floating = pa.types.is_floating(dtype)
            if name not in table.column_names:
                numeric[name] = np.full(n, np.nan) if floating else np.zeros(n, dtype=np.int32)
                continue
            col = table.column(name)
            if not col.type.equals(dtype):
                col = col.cast(dtype, safe=False)
            if floating:
                numeric[name] = col.to_numpy().astype(np.float64, copy=False)
            else:
                numeric[name] = _narrow(col.fill_null(pa.scalar(0, dtype)).to_numpy().astype(np.int32, copy=False))
            del col
            table = table.drop_columns([name])
        text: dict[str, Text] = {}
        for name in TEXT_COLUMNS:
            if columns is not None and name not in columns:
                continue
            if name not in table.column_names:
                text[name] = Text(np.zeros(n, dtype=np.uint8), [""])
                continue
            chunked = table.column(name)
            if not pa.types.is_dictionary(chunked.type):
                chunked = pa.compute.dictionary_encode(chunked.cast(pa.string()).fill_null(pa.scalar("")))
            encoded: pa.DictionaryArray[Any, Any] = chunked.combine_chunks()  # type: ignore[assignment]
            labels = [str(v) for v in encoded.dictionary.to_pylist()]
            indices = encoded.indices.fill_null(pa.scalar(len(labels), encoded.indices.type))
            codes = indices.to_numpy(zero_copy_only=False).astype(code_dtype(len(labels)))
            text[name] = Text(codes, labels or [""])
            del chunked, encoded
            table = table.drop_columns([name])
        samples = cls(numeric, text)
        del table
        # Arrow's allocator keeps what the reading freed (decompression, dictionaries, the columns
        # converted): about as much again as the columns on ten million rows, until told to let go
        pa.default_memory_pool().release_unused()
        return samples

    @classmethod
    def read_csv(cls, source: pa.NativeFile | bytes, columns: Sequence[str] | None = None) -> Samples:
        """Read CSV samples with typed, dictionary-encoded columns (Arrow's multi-threaded reader).

        Rows that do not parse — a torn last line left by a killed writer — are skipped and counted
        in :attr:`skipped_rows`.
        """
        skipped: list[str] = []

        def skip(row: pacsv.InvalidRow) -> Literal["skip", "error"]:
            skipped.append(f"a row that does not parse: {str(row.text)[:120]!r}")
            return "skip"

        text_type = pa.dictionary(pa.int32(), pa.string())
        opts = pacsv.ConvertOptions(
            column_types={**NUMERIC_COLUMNS, **{c: text_type for c in TEXT_COLUMNS}},
            include_columns=_wanted(columns),
            include_missing_columns=True,
            strings_can_be_null=False,
        )
        stream = pa.BufferReader(source) if isinstance(source, bytes) else source
        parse = pacsv.ParseOptions(invalid_row_handler=skip)
        # pyarrow-stubs type the source as a path or an IO; pyarrow reads any NativeFile
        box = [pacsv.read_csv(stream, convert_options=opts, parse_options=parse)]  # type: ignore[arg-type]
        samples = cls.from_table(box, columns)
        samples.skipped_rows = skipped
        return samples

    @classmethod
    def read_parquet(cls, path: str, columns: Sequence[str] | None = None) -> Samples:
        """Read the compacted form (text columns read as dictionaries, without ``bytes``) a row group
        at a time into arrays made to size up front: the read holds the arrays and one row group
        (about a million rows), never the whole file twice."""
        present = set(pq.read_schema(path).names)
        read = [c for c in _wanted(columns) if c in present]
        text = [c for c in TEXT_COLUMNS if c in read]
        pf = pq.ParquetFile(path, read_dictionary=text)
        builder = _Builder(pf.metadata.num_rows, read, _int_ranges(pf.metadata))
        for i in range(pf.num_row_groups):
            builder.add(pf.read_row_group(i, columns=read))
        samples = builder.finish(columns)
        pa.default_memory_pool().release_unused()
        return samples

    @classmethod
    def read_segments(cls, run_dir: Path, live: bool = False, columns: Sequence[str] | None = None) -> Samples:
        """Read the segments of a run that is going (``live``: its last batch may be half written),
        or was killed (a torn batch skipped and named)."""
        problems: list[str] = []
        table = samplefiles.read_segments(run_dir, problems, _wanted(columns), live=live)
        samples = cls.from_table([table], columns)
        samples.skipped_rows = problems
        return samples


def _int_ranges(meta: pq.FileMetaData) -> dict[str, tuple[int, int]]:
    """(min, max) of each integer column from the file's row-group statistics, where every row group
    has them: the narrowest type is chosen before a row is read (:func:`_narrow`'s choice)."""
    out: dict[str, tuple[int, int]] = {}
    names = [meta.schema.column(j).name for j in range(meta.num_columns)]
    for j, name in enumerate(names):
        if name not in NUMERIC_COLUMNS or pa.types.is_floating(NUMERIC_COLUMNS[name]):
            continue
        lo: int | None = None
        hi: int | None = None
        for i in range(meta.num_row_groups):
            st = meta.row_group(i).column(j).statistics
            if st is None or not st.has_min_max:
                if meta.row_group(i).num_rows:
                    break
                continue
            # a row group with nulls reads them as 0 (from_table's fill)
            zero = [0] if st.null_count else []
            lo = min([int(st.min), *zero, *([lo] if lo is not None else [])])  # type: ignore[arg-type]
            hi = max([int(st.max), *zero, *([hi] if hi is not None else [])])  # type: ignore[arg-type]
        else:
            out[name] = (lo or 0, hi or 0)
    return out


class _Builder:
    """Samples filled table by table into arrays of the final length (``n`` rows): what
    :meth:`Samples.from_table` makes of one table, for a file read in parts. Text columns get one
    dictionary over all parts (labels in the order first seen), codes widened if the labels outgrow
    their type; integer columns are made in the type ``ranges`` (the file's statistics) allow."""

    def __init__(self, n: int, read: Sequence[str], ranges: dict[str, tuple[int, int]]) -> None:
        self.n = n
        self.at = 0
        self.read = set(read)
        self.num: dict[str, NDArray[Any]] = {}
        for name, dtype in NUMERIC_COLUMNS.items():
            if pa.types.is_floating(dtype):
                self.num[name] = np.empty(n) if name in self.read else np.full(n, np.nan)
            elif name not in self.read:
                self.num[name] = np.zeros(n, dtype=np.int32)
            else:
                self.num[name] = np.empty(n, dtype=_int_dtype(*ranges[name]) if name in ranges else np.int32)
        self.codes: dict[str, NDArray[Any]] = {name: np.zeros(n, dtype=np.uint8) for name in TEXT_COLUMNS}
        self.labels: dict[str, dict[str, int]] = {name: {} for name in TEXT_COLUMNS}

    def _null_code(self, name: str) -> int:
        return int(np.iinfo(self.codes[name].dtype).max)  # until :meth:`finish`: then len(labels)

    def _widen(self, name: str, n_labels: int) -> None:
        codes = self.codes[name]
        wanted = code_dtype(n_labels)
        if np.iinfo(wanted).max <= np.iinfo(codes.dtype).max:
            return
        wide = codes.astype(wanted)
        wide[: self.at][codes[: self.at] == np.iinfo(codes.dtype).max] = np.iinfo(wanted).max
        self.codes[name] = wide

    def add(self, table: pa.Table) -> None:
        rows = slice(self.at, self.at + table.num_rows)
        for name, dtype in NUMERIC_COLUMNS.items():
            if name not in self.read:
                continue
            col = table.column(name)
            if not col.type.equals(dtype):
                col = col.cast(dtype, safe=False)
            if pa.types.is_floating(dtype):
                self.num[name][rows] = col.to_numpy()
            else:
                self.num[name][rows] = col.fill_null(pa.scalar(0, dtype)).to_numpy()
        for name in TEXT_COLUMNS:
            if name not in self.read:
                continue
            col = table.column(name)
            if not pa.types.is_dictionary(col.type):
                col = pa.compute.dictionary_encode(col.cast(pa.string()).fill_null(pa.scalar("")))
            known = self.labels[name]
            start = rows.start
            for part in col.chunks:
                chunk: pa.DictionaryArray[Any, Any] = part  # type: ignore[assignment]
                labels = [str(v) for v in chunk.dictionary.to_pylist()]
                for label in labels:
                    known.setdefault(label, len(known))
                self._widen(name, len(known))
                codes = self.codes[name]
                mapping = np.asarray([known[label] for label in labels] + [self._null_code(name)], dtype=codes.dtype)
                indices = chunk.indices.fill_null(pa.scalar(len(labels), chunk.indices.type))
                codes[start : start + len(chunk)] = mapping[indices.to_numpy(zero_copy_only=False)]
                start += len(chunk)
        self.at = rows.stop

    def finish(self, columns: Sequence[str] | None) -> Samples:
        numeric = {k: v for k, v in self.num.items() if columns is None or k in columns}
        text: dict[str, Text] = {}
        for name in TEXT_COLUMNS:
            if columns is not None and name not in columns:
                continue
            if name not in self.read:
                text[name] = Text(np.zeros(self.n, dtype=np.uint8), [""])
                continue
            labels = list(self.labels[name])
            codes = self.codes[name]
            sentinel = self._null_code(name)
            if len(labels) != sentinel:
                codes[codes == sentinel] = len(labels)
            text[name] = Text(codes, labels or [""])
        return Samples(numeric, text)  # type: ignore[arg-type]
