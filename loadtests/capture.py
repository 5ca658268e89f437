"""Raw sample capture: every request and every journey as one row, written while the run goes.

Where rows go:

- one process (Locust's local runner): straight into the run directory's sample segments
  (:mod:`crmload.core.samplefiles`: Arrow IPC record batches, a segment every few seconds), one batch
  a second, so a crash loses at most the last second; the segments become one ``samples.parquet``
  when the run ends;
- master and workers (``--processes N`` or Locust's distributed mode, on any machines): each worker
  sends numbered batches to the master over Locust's own message channel
  (``crmload_samples``), its samples in the same columnar form (a compressed IPC stream); the master
  appends each ``(worker, seq)`` once and acknowledges it;
  a worker resends what was not acknowledged, and sends a last batch marked ``final`` when it
  stops. The master waits for every worker's final batch before the run ends, so every sample
  reaches one run directory exactly once.

Recording a request appends one tuple to a list; the columns are built once a second by the flush,
in slices of :data:`SLICE_ROWS` rows, each appended to the segment, with a turn of the hub's loop
between them, so that no request's timing waits behind more than one slice: at 5,000 requests/s
the longest hold is about 2 ms where the CSV writer's was about 80 ms, at a third of its CPU a row
(``benchmarks/capture_cost.py``).

Each process also records its own CPU use every second (``generators.csv``), so that a saturated
load generator can be told apart from a slow CRM.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.lock
import psutil
import pyarrow as pa
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING, LocalRunner, MasterRunner, Runner, WorkerRunner

from crmload.core import samplefiles
from crmload.core.rundir import (
    CAPTURE_FILE,
    GENERATOR_COLUMNS,
    GENERATORS_FILE,
    MAX_FAILURE_REASONS,
    OTHER_REASONS,
    WRITE_COLUMNS,
    WRITES_FILE,
    CaptureSummary,
    FailureReason,
    GeneratorRow,
    Kind,
    LostWorker,
    Outcome,
    SampleRow,
    WriteRow,
    free_reserve,
    write_json_atomic,
)
from crmload.loadtests.settings import platform_limits
from crmload.loadtests.stopwatch import StopWatch

CSV_STREAMS = {
    "gen": (GENERATORS_FILE, GENERATOR_COLUMNS),
    "writes": (WRITES_FILE, WRITE_COLUMNS),
}
FLUSH_INTERVAL_S = 1.0
RESEND_AFTER_S = 5.0
OPEN_USER_CLASS = "IntegrationUser"  # the open model's pool: active only inside an iteration
FINAL_WAIT_S = 30.0
SLICE_ROWS = 1000  # rows made into columns between two yields to the hub

_SERVER_TIMING = re.compile(r"dur=([0-9.]+)")


class Throttled(Exception):
    """The target answered 429: reported apart from failures."""


class CheckFailed(Exception):
    """The target answered 2xx but the content says the operation failed."""


class UnexpectedStatus(Exception):
    """The target answered a status the operation does not expect (a redirect, a 4xx, a 5xx): never a
    silent success; the outcome follows the status (``http_4xx``, ``http_5xx``, else ``check_failed``)."""


class AuthLost(Exception):
    """The target answered 401 to a user who had logged in: the session was lost (outcome ``auth_lost``)."""


def server_ms(headers: Any) -> float | None:
    """The first ``dur=`` of a ``Server-Timing`` header, in ms; None when absent."""
    if not headers:
        return None
    value = headers.get("server-timing")  # header lookups are case-insensitive
    if not value:
        return None
    m = _SERVER_TIMING.search(value)
    return float(m.group(1)) if m else None


def outcome_of(status: int, exception: BaseException | None) -> Outcome:
    """Classify one request into the outcome vocabulary of the samples."""
    if exception is None:
        return Outcome.OK
    if isinstance(exception, Throttled) or status == 429:
        return Outcome.THROTTLED
    if isinstance(exception, CheckFailed):
        return Outcome.CHECK_FAILED
    if isinstance(exception, AuthLost):
        return Outcome.AUTH_LOST
    if status == 0:
        text = f"{type(exception).__name__} {exception}".lower()
        if (
            isinstance(exception, TimeoutError | socket.timeout | gevent.Timeout)
            or "timeout" in text
            or "timed out" in text
        ):
            return Outcome.TIMEOUT
        return Outcome.CONNECTION
    if status >= 500:
        return Outcome.HTTP_5XX
    if status >= 400:
        return Outcome.HTTP_4XX
    return Outcome.CHECK_FAILED


class _CsvAppender:
    """Appends CSV rows to one file through its descriptor, keeping what could not be written yet.

    Rows are formatted first and then written with ``os.write``; bytes a failed write (a full disk)
    left over stay in :attr:`pending` and go first on the next attempt, so no row is lost while the
    process lives, and the rows still pending at the end are counted (:attr:`unwritten_rows`).
    """

    def __init__(self, path: Path, columns: Iterable[str]) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pending = b""
        if new:
            self.write([tuple(columns)])

    def write(self, rows: list[tuple[Any, ...]]) -> OSError | None:
        """Queue ``rows`` and write what is queued; the error, when it could not all be written."""
        if rows:
            buf = io.StringIO()
            csv.writer(buf).writerows(rows)
            self.pending += buf.getvalue().encode("utf-8")
        return self.retry()

    def retry(self) -> OSError | None:
        try:
            while self.pending:
                n = os.write(self._fd, self.pending)
                self.pending = self.pending[n:]
        except OSError as exc:
            return exc
        return None

    @property
    def unwritten_rows(self) -> int:
        return self.pending.count(b"\n")

    def close(self) -> None:
        self.retry()
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)


_DIGITS = re.compile(r"(?<!\d)(?<!HTTP )\d+")  # digits as N, but for the status of "HTTP 503: …"


# the skip counter (one per generator, summed by the master) carries incomplete journeys too, under this prefix
JOURNEY_KEY = "journey "


def _latest(seen: Iterable[dict[str, list[Any]]]) -> dict[str, str]:
    """Each usage header's latest value over the generators."""
    out: dict[str, list[Any]] = {}
    for headers in seen:
        for name, (ts, value) in headers.items():
            if name not in out or ts > out[name][0]:
                out[name] = [ts, value]
    return {name: str(v[1]) for name, v in sorted(out.items())}


class _Reasons:
    """Failure reasons counted by (operation, status, outcome, reason with digits as N)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int, str, str], list[Any]] = {}  # key -> [count, example, first ts]

    def add(self, operation: str, status: int, outcome: str, text: str, ts: float) -> None:
        key = (operation, status, outcome, _DIGITS.sub("N", text)[:200])
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= MAX_FAILURE_REASONS:
                key = (operation, status, outcome, OTHER_REASONS)
                row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = [0, text[:300], ts]
        row[0] += 1

    def to_list(self) -> list[list[Any]]:
        return [[*key, *row] for key, row in self.rows.items()]

    @staticmethod
    def merged(lists: Iterable[list[list[Any]]]) -> list[FailureReason]:
        """The rows of several generators as one table, most frequent first."""
        counted: dict[tuple[str, int, str, str], list[Any]] = {}  # key -> [count, example, first ts]
        for rows in lists:
            for op, st, oc, reason, n, example, ts in rows:
                have = counted.setdefault((op, int(st), oc, reason), [0, example, ts])
                have[0] += int(n)
                if ts < have[2]:  # the example is the first one seen
                    have[1:] = [example, ts]
        out = [
            FailureReason(operation=op, status=st, outcome=oc, reason=reason, count=n, example=ex, first_ts=ts)
            for (op, st, oc, reason), (n, ex, ts) in counted.items()
        ]
        return sorted(out, key=lambda r: (-r.count, r.operation, r.reason))


@dataclass
class _Outbox:
    seq: int = 0
    unacked: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)


def _let_the_hub_run() -> None:
    """Yield to the hub for one turn of its loop: sockets polled and timers fired, so that responses
    that arrived meanwhile are timed now. (``gevent.sleep(0)`` runs only greenlets already ready: a
    ticker due every 0.5 ms waited out twenty 1 ms slices with it, and 0.6 ms with this.)"""
    gevent.sleep(0.000_001)


class Capture:
    """Collects rows in this process and delivers them, per the runner's role (see module docstring)."""

    def __init__(self, environment: Environment, run_dir: Path, stage_of: Callable[[], int]) -> None:
        self.env = environment
        self.run_dir = run_dir
        # batches of any other run (a stray worker of an earlier run) are refused; workers take the
        # master's run id from its first message of the run
        self.run_id = str(run_dir)
        self._stage_of = stage_of  # () -> int: current stage index (-1 before start)
        self._rows: list[SampleRow] = []
        self._gen_rows: list[GeneratorRow] = []
        self._writes: list[WriteRow] = []
        self.skipped: Counter[str] = Counter()
        self.dropped: Counter[int] = Counter()
        limits = platform_limits()
        self._limit_headers = tuple(h.lower() for h in limits.headers) if limits is not None else ()
        self.limit_headers: dict[str, list[Any]] = {}  # header -> [when, the latest value]
        self._limit_headers_by_worker: dict[str, dict[str, list[Any]]] = {}
        self.total_users = 0
        self.open_active = 0  # open-model users inside an iteration, in this process
        self._open_active_by_worker: dict[str, int] = {}
        self.worker = "local"
        self._outbox = _Outbox()
        self._seen: dict[str, set[int]] = {}
        self._finals: set[str] = set()
        self._workers_seen: set[str] = set()
        self._worker_counts: Counter[str] = Counter()
        self._skipped_all: Counter[str] = Counter()
        self._dropped_all: Counter[int] = Counter()
        self._files: dict[str, _CsvAppender] = {}
        self._segments: samplefiles.SegmentWriter | None = None
        # one flush at a time: a flush yields to the hub between slices, and one killed or overtaken
        # there (by the quitting flush, by a worker's final one) would lose or reorder its rows
        self._flush_lock = gevent.lock.RLock()
        self._flusher: gevent.Greenlet[[], None] | None = None
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)
        self._stopped = False
        self._per_worker_counters: dict[str, tuple[Counter[str], Counter[int]]] = {}
        self.reasons = _Reasons()  # this process's own
        self._reasons_by_worker: dict[str, list[list[Any]]] = {}
        self._ctx_t = 0.0
        self._ctx = (-1, 0)
        self._run_assigned = False
        self._last_batch: dict[str, float] = {}
        self.lost_workers: dict[str, LostWorker] = {}
        self.missing_finals: list[str] = []
        self.abort_reason: str | None = None
        self.write_error: str | None = None
        self._unopened_rows = 0
        self.watch: StopWatch | None = None  # the scenario's stop criteria, on the writing process
        self._ctx_t = 0.0
        self._ctx = (-1, 0)
        samplefiles.warm_up()  # Arrow's first conversion costs ~0.3 s: paid here, not in the first second of load
        env = environment.events
        env.request.add_listener(self._on_request)
        env.test_start.add_listener(self._on_test_start)
        env.test_stop.add_listener(self._on_test_stop)
        env.quitting.add_listener(self._on_quitting)
        self._register_messages()

    # -- roles -------------------------------------------------------------------------------------
    @property
    def _runner(self) -> Runner | None:
        return self.env.runner

    def _is_writer(self) -> bool:
        return isinstance(self._runner, LocalRunner | MasterRunner)

    def _register_messages(self) -> None:
        runner = self.env.runner
        if isinstance(runner, MasterRunner):
            runner.register_message("crmload_samples", self._on_batch)
        elif isinstance(runner, WorkerRunner):
            runner.register_message("crmload_ack", self._on_ack)
            runner.register_message("crmload_users", self._on_users)
            runner.register_message("crmload_stop", self._on_stop_request, concurrent=True)

    def _open_files(self) -> tuple[dict[str, _CsvAppender], samplefiles.SegmentWriter]:
        if not self._files:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._files = {key: _CsvAppender(self.run_dir / name, cols) for key, (name, cols) in CSV_STREAMS.items()}
        if self._segments is None:
            self._segments = samplefiles.SegmentWriter(self.run_dir)
        return self._files, self._segments

    @staticmethod
    def _columns(rows: list[SampleRow]) -> list[pa.RecordBatch]:
        """The rows as record batches of :data:`SLICE_ROWS`, yielding to the hub between slices."""
        batches = []
        for start in range(0, len(rows), SLICE_ROWS):
            if start:
                _let_the_hub_run()
            batches.append(samplefiles.to_batch(rows[start : start + SLICE_ROWS]))
        return batches

    def _write(self, samples: list[pa.RecordBatch], streams: dict[str, list[Any]]) -> None:
        """Write sample batches and the CSV streams' rows (``gen``, ``writes``)."""
        try:
            files, segments = self._open_files()
        except OSError as exc:  # the files cannot even be opened: these rows are counted as unwritten
            self._unopened_rows += sum(b.num_rows for b in samples)
            self._write_failed(exc)
            return
        errors = self._write_segments(segments, samples, time.monotonic())
        errors += [files[key].write([tuple(r) for r in rows]) for key, rows in streams.items()]
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            self._write_failed(failed)
        if self.watch is not None and self.watch.criteria:  # the stop criteria see every request recorded
            for batch in samples:
                cols = batch.select(["ts", "kind", "journey", "response_time_ms", "outcome"]).to_pydict()
                for ts, kind, journey, rt, outcome in zip(*cols.values(), strict=True):
                    if kind == Kind.REQUEST and not str(journey).startswith("probe."):
                        self.watch.add(ts, rt, outcome)

    def _write_segments(
        self, segments: samplefiles.SegmentWriter, samples: list[pa.RecordBatch], now: float
    ) -> list[OSError | None]:
        """Append batches to the segments, yielding to the hub between them (a batch of
        :data:`SLICE_ROWS` rows is about 0.4 ms of LZ4 and a write; a write never yields inside)."""
        out = []
        for i, batch in enumerate(samples):
            if i:
                _let_the_hub_run()
            out.append(segments.write(batch, now))
        return out or [segments.write(None, now)]

    def _write_failed(self, exc: OSError) -> None:
        """The results directory cannot be written (a full disk, a removed directory): the run stops.

        The run directory's reserve is freed first, so that the rows still pending, the last batches
        and the verdict have room; rows that still cannot be written are counted, never dropped unsaid
        (``capture.json``'s ``unwritten_rows``, and the verdict)."""
        if free_reserve(self.run_dir):
            for appender in self._files.values():
                appender.retry()
            if self._segments is not None:
                self._segments.write(None, time.monotonic())
        if self.write_error is None:
            where = f" ({exc.filename})" if exc.filename else ""
            self.write_error = f"the results directory could not be written{where}: {exc.strerror or exc}"
            self.abort_reason = self.write_error
            logging.getLogger("crmload").error("%s; stopping the run", self.write_error)
            runner = self._runner
            if runner is not None and not isinstance(runner, WorkerRunner):
                gevent.spawn(runner.quit)
        with contextlib.suppress(OSError):
            self.write_summary()

    def _on_test_start(self, environment: Environment, **_kw: Any) -> None:
        self._stopped = False
        self._run_assigned = False
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            self.worker = f"w{runner.worker_index}"
        elif isinstance(runner, MasterRunner):
            self.worker = "master"
        if self._is_writer():
            self._open_files()
        if self._flusher is None:
            self._flusher = gevent.spawn(self._flush_loop)

    # -- recording (hot path) ---------------------------------------------------------------------
    def users_now(self) -> int:
        """Active users: the closed users, plus the open model's users inside an iteration (its idle
        pool is not load). A worker reports the total its master last sent."""
        runner = self._runner
        if runner is None:
            return 0
        if isinstance(runner, WorkerRunner):
            return self.total_users or self._closed_users(runner) + self.open_active
        if isinstance(runner, MasterRunner):
            return self._closed_users(runner) + sum(self._open_active_by_worker.values())
        return self._closed_users(runner) + self.open_active

    @staticmethod
    def _closed_users(runner: Runner) -> int:
        counts = runner.reported_user_classes_count if isinstance(runner, MasterRunner) else runner.user_classes_count
        return sum(n for name, n in counts.items() if name != OPEN_USER_CLASS)

    def open_iteration(self, delta: int) -> None:
        """An open-model user starts (+1) or ends (-1) an iteration: it is an active user meanwhile."""
        self.open_active += delta

    def _context_now(self) -> tuple[int, int]:
        """(stage index, active users), refreshed at most every 100 ms: the hot path stays cheap."""
        now = time.monotonic()
        if now - self._ctx_t > 0.1:
            self._ctx_t = now
            self._ctx = (self._stage_of(), self.users_now())
        return self._ctx

    def _on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_kw: Any,
    ) -> None:
        ctx = context or {}
        status = (response.status_code or 0) if response is not None else 0
        outcome = Outcome.OK if exception is None else outcome_of(status, exception)
        if outcome != Outcome.OK:
            step = ctx.get("journey_obj")
            if step is not None and step.outcome == Outcome.OK:
                step.outcome = outcome
            text = str(exception) or type(exception).__name__
            self.reasons.add(name, status, outcome, text, start_time if start_time is not None else time.time())
        elif "probe_outcome" in ctx:  # the adapter's reading of a probe's answer (never a failure)
            outcome = Outcome(ctx["probe_outcome"])
        headers = getattr(response, "headers", None)
        if headers and self._limit_headers:
            self._usage(headers)
        stage, users = self._context_now()
        self._rows.append(
            SampleRow(
                round(start_time if start_time is not None else time.time() - response_time / 1000.0, 6),
                Kind.REQUEST,
                name,
                ctx.get("persona", ""),
                ctx.get("journey", ""),
                round(response_time, 3),
                ctx.get("schedule_lag_ms"),
                status,
                outcome,
                response_length or 0,
                stage,
                users,
                self.worker,
                server_ms(headers) if headers else None,
            )
        )

    def journey(
        self,
        start_ts: float,
        name: str,
        persona: str,
        duration_ms: float,
        outcome: str,
        schedule_lag_ms: float | None = None,
    ) -> None:
        self._rows.append(
            SampleRow(
                round(start_ts, 6),
                Kind.JOURNEY,
                name,
                persona,
                name,
                round(duration_ms, 3),
                schedule_lag_ms,
                0,
                outcome,
                0,
                self._stage_of(),
                self.users_now(),
                self.worker,
                None,
            )
        )

    def dropped_iteration(self, intended_ts: float, lag_ms: float, persona: str = "integration") -> None:
        """An open-model iteration that could not start in time: counted as a ``dropped`` row."""
        self._rows.append(
            SampleRow(
                round(intended_ts, 6),
                Kind.DROPPED,
                persona,
                persona,
                "",
                0.0,
                round(lag_ms, 3),
                0,
                Outcome.DROPPED,
                0,
                self._stage_of(),
                self.users_now(),
                self.worker,
                None,
            )
        )
        self.dropped[self._stage_of()] += 1

    def _usage(self, headers: Any) -> None:
        """The platform's usage headers of this answer (``--limits``): the latest of each is kept."""
        for name in self._limit_headers:
            value = headers.get(name)
            if value:
                self.limit_headers[name] = [time.time(), str(value[0] if isinstance(value, list) else value)]

    def skip(self, operation: str) -> None:
        self.skipped[operation] += 1

    def incomplete(self, journey: str) -> None:
        """A journey with a skipped step: counted (in the skip counter, under ``JOURNEY_KEY``), not recorded."""
        self.skipped[JOURNEY_KEY + journey] += 1

    def acknowledged(self, entity: str, record_id: Any, field: str, value: Any, version: Any = None) -> None:
        """The CRM acknowledged this write: ``entity`` ``record_id`` now has ``field`` = ``value``."""
        self._writes.append(
            WriteRow(
                round(time.time(), 6), self.worker, entity, record_id, field, value, "" if version is None else version
            )
        )

    # -- delivery ---------------------------------------------------------------------------------
    def _take(self) -> tuple[list[SampleRow], dict[str, list[Any]]]:
        rows, self._rows = self._rows, []
        writes, self._writes = self._writes, []
        cpu = self._proc.cpu_percent(None)
        self._gen_rows.append(GeneratorRow(round(time.time(), 3), self.worker, cpu, self.users_now()))
        gen, self._gen_rows = self._gen_rows, []
        return rows, {"gen": gen, "writes": writes}

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except Exception as exc:  # a flush problem must not kill the run; it is logged
                logging.getLogger("crmload").error("sample flush failed: %s", exc)

    def flush(self, final: bool = False) -> None:
        with self._flush_lock:
            self._flush(final)

    def _flush(self, final: bool) -> None:
        runner = self._runner
        if isinstance(runner, WorkerRunner):
            if not self._run_assigned and not final:
                return  # rows wait until the master has said which run this is
            rows, streams = self._take()
            self._send_batch((samplefiles.batches_bytes(self._columns(rows)), len(rows), streams), final)
            return
        if not self._is_writer():
            return
        if isinstance(runner, MasterRunner):
            # the master runs no users: it records its own CPU and tells the workers the total user count
            runner.send_message("crmload_users", {"users": self.users_now(), "run": self.run_id})
            self._watch_workers(runner)
        rows, streams = self._take()
        if isinstance(runner, LocalRunner):
            self._worker_counts["local"] += len(rows)
            self._skipped_all = self.skipped.copy()
            self._dropped_all = self.dropped.copy()
        self._write(self._columns(rows), streams)

    def _watch_workers(self, runner: MasterRunner) -> None:
        """Report a worker that stopped answering (Locust marks it missing after three silent heartbeats)."""
        for client in runner.clients.all:
            name = f"w{runner.worker_indexes.get(client.id, '?')}"
            if client.state != STATE_MISSING or name in self.lost_workers or name in self._finals:
                continue
            self.lost_workers[name] = LostWorker(
                detected_at=time.time(), last_batch_at=self._last_batch.get(name), samples=self._worker_counts[name]
            )
            policy = os.environ.get("CRMLOAD_ON_WORKER_LOSS", "continue")
            logging.getLogger("crmload").warning(
                "load generator %s lost after %d samples; policy: %s", name, self._worker_counts[name], policy
            )
            self.write_summary()
            if policy == "abort":
                self.abort_reason = f"load generator {name} lost"
                gevent.spawn(runner.quit)

    def _send_batch(self, taken: tuple[bytes, int, dict[str, list[Any]]] | None, final: bool) -> None:
        out = self._outbox
        runner = self._runner
        assert isinstance(runner, WorkerRunner)  # batches travel from a worker to its master
        now = time.monotonic()
        if taken is not None and (taken[1] or any(taken[2].values()) or final):
            samples, _, streams = taken
            out.seq += 1
            payload = {
                "run": self.run_id,
                "seq": out.seq,
                "worker": self.worker,
                "samples": samples,  # record batches as a compressed Arrow IPC stream
                "streams": streams,
                "final": final,
                "skipped": dict(self.skipped),
                "reasons": self.reasons.to_list(),
                "limit_headers": self.limit_headers,
                "dropped": {str(k): v for k, v in self.dropped.items()},
                "open_active": self.open_active,
            }
            out.unacked[out.seq] = (now, payload)
            runner.send_message("crmload_samples", payload)
        for seq, (sent, payload) in list(out.unacked.items()):
            if seq != out.seq and now - sent > RESEND_AFTER_S:
                out.unacked[seq] = (now, payload)
                runner.send_message("crmload_samples", payload)

    def _on_ack(self, environment: Environment, msg: Message, **_kw: Any) -> None:
        for seq in msg.data["seqs"]:
            self._outbox.unacked.pop(seq, None)

    def _on_stop_request(self, environment: Environment, msg: Message, **_kw: Any) -> None:
        if self._runner is not None:
            self._runner.stop()  # fires test_stop here, which sends the final batch

    def _drain(self) -> None:
        deadline = time.monotonic() + FINAL_WAIT_S
        while self._outbox.unacked and time.monotonic() < deadline:
            gevent.sleep(0.5)
            self._send_batch(None, False)

    def _on_users(self, environment: Environment, msg: Message, **_kw: Any) -> None:
        self.total_users = int(msg.data["users"])
        if not self._run_assigned:
            # a worker on another machine may have another CRMLOAD_RUN_DIR: the master's run id decides
            self.run_id = str(msg.data.get("run", self.run_id))
            self._run_assigned = True

    def _on_batch(self, environment: Environment, msg: Message, **_kw: Any) -> None:
        data = msg.data
        if data.get("run") != self.run_id:
            logging.getLogger("crmload").warning("ignored samples of another run from %s", msg.node_id)
            return
        worker, seq = data["worker"], int(data["seq"])
        self._open_active_by_worker[worker] = int(data.get("open_active", 0))
        seen = self._seen.setdefault(worker, set())
        self._workers_seen.add(worker)
        if seq not in seen:
            seen.add(seq)
            batches = samplefiles.batches_from_bytes(data["samples"])
            self._write(batches, data["streams"])
            self._worker_counts[worker] += sum(b.num_rows for b in batches)
            self._last_batch[worker] = time.time()
            self._skipped_by_worker(worker, data)
            if data["final"]:
                self._finals.add(worker)
        runner = self._runner
        assert isinstance(runner, MasterRunner)  # only the master registers crmload_samples
        runner.send_message("crmload_ack", {"seqs": [seq]}, msg.node_id)

    def _skipped_by_worker(self, worker: str, data: dict[str, Any]) -> None:
        # counters are cumulative per worker: keep the latest of each worker, then sum
        self._per_worker_counters[worker] = (
            Counter(data["skipped"]),
            Counter({int(k): v for k, v in data["dropped"].items()}),
        )
        self._skipped_all = sum((s for s, _ in self._per_worker_counters.values()), Counter())
        self._reasons_by_worker[worker] = data.get("reasons", [])
        self._limit_headers_by_worker[worker] = data.get("limit_headers", {})
        self._dropped_all = sum((d for _, d in self._per_worker_counters.values()), Counter())

    def _on_test_stop(self, environment: Environment, **_kw: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            self.flush(final=True)
            gevent.spawn(self._drain)  # resend until acknowledged, without holding up the worker
        elif isinstance(runner, MasterRunner):
            # headless Locust quits its workers only after this event: first let each stop its users
            # and send its last batch, so that nothing recorded is lost in the quit
            runner.send_message("crmload_stop")
            expected = ({f"w{i}" for i in range(runner.worker_count)} | self._workers_seen) - set(self.lost_workers)
            deadline = time.monotonic() + FINAL_WAIT_S
            while not expected <= self._finals and time.monotonic() < deadline:
                gevent.sleep(0.2)
            self.flush()
            self.missing_finals = sorted(expected - self._finals)
            self.write_summary()
        else:
            self.flush()
            self.write_summary()
        self._stopped = True

    def _on_quitting(self, environment: Environment, **_kw: Any) -> None:
        runner = environment.runner
        if runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING):
            # a signal (Ctrl-C, SIGTERM) quits Locust while users are mid-request, and Locust fires
            # this event before it stops them: stop them first, so that the requests they finish are
            # recorded (test_stop flushes) before the files close
            runner.stop()
            if isinstance(runner, WorkerRunner):
                self._drain()  # the final batch acknowledged by the master before this process exits
        if self._flusher is not None:
            with self._flush_lock:  # killed between flushes, never inside one (its rows would be lost)
                self._flusher.kill(block=True)
            self._flusher = None
        if not self._stopped and self._is_writer():
            self.flush()
            self.write_summary()
        for appender in self._files.values():
            appender.close()
        if self._segments is not None:
            self._segments.close(time.monotonic())
            if self._is_writer() and self._segments.unwritten_rows == 0:
                # one file for the run: a day's run is not thousands of segments (the load is over:
                # about 0.8 s a million rows, benchmarks/capture_cost.py)
                samplefiles.compact(self.run_dir)

    def write_summary(self) -> None:
        """``capture.json``: rows per worker, skipped operations, dropped arrivals, workers that never said final."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        summary = CaptureSummary(
            rows_by_worker=dict(self._worker_counts),
            skipped_operations={k: n for k, n in self._skipped_all.items() if not k.startswith(JOURNEY_KEY)},
            incomplete_journeys={
                k.removeprefix(JOURNEY_KEY): n for k, n in self._skipped_all.items() if k.startswith(JOURNEY_KEY)
            },
            dropped_by_stage={str(k): v for k, v in self._dropped_all.items()},
            workers_missing_final=self.missing_finals,
            lost_workers=self.lost_workers,
            abort_reason=self.abort_reason,
            write_error=self.write_error,
            unwritten_rows=self._unopened_rows + (self._segments.unwritten_rows if self._segments else 0),
            failure_reasons=_Reasons.merged([self.reasons.to_list(), *self._reasons_by_worker.values()]),
            limit_headers=_latest([self.limit_headers, *self._limit_headers_by_worker.values()]),
            stopped_by=self.watch.tripped if self.watch is not None else None,
            written_at=time.time(),
        )
        write_json_atomic(self.run_dir / CAPTURE_FILE, summary.model_dump(mode="json"))
