"""The run directory, typed: one module owns what every writer writes and every reader reads.

A run directory (README, "The run directory") is the contract between the Locust side that
records and the analysis that judges. This module fixes its vocabulary and its records:

- :class:`Kind`, :class:`Outcome` and :class:`RunStatus`: the words a sample or a run may say,
  with the one definition of "counts as a failure" (:data:`DEFAULT_FAILURE_OUTCOMES`, which a
  standard may replace with its own ``defaults.failure_outcomes``);
- :class:`SampleRow`, :class:`GeneratorRow`, :class:`WriteRow`: one sample (a row of the columns
  of :mod:`crmload.core.samplefiles`), one row of ``generators.csv`` and of ``writes.csv`` (named
  tuples: as cheap as the bare tuples on the hot path, and their field names are the columns);
- :class:`Meta` (``meta.json``), :class:`StageRecord` (``stages.json``) and
  :class:`CaptureSummary` (``capture.json``), with :func:`write_meta` and :func:`read_meta`.

Versions. ``meta.json`` carries ``schema_version`` (:data:`SCHEMA_VERSION`). A reader refuses a
newer, unknown version with a message that names it, and reads older ones through
:data:`UPGRADES`, one function per version step, so that runs and baselines saved by an earlier
crmload stay readable and comparable. History:

- 1: crmload 0.1. Two writers with different keys; adapters named ``loadtests.…``.
- 2: crmload 0.2. One writer (:func:`new_meta`) for ``crmload run`` and plain Locust runs;
  ``source``, ``runner`` and ``failure_outcomes`` added; modules named ``crmload.…``. The
  ``users`` of samples and generators count active users (closed users, and open-model users
  inside an iteration); in version 1 they counted the open model's whole pool, idle or not.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmload import __version__
from crmload.core import jsonio
from crmload.core.errors import RunError

SCHEMA_VERSION = 2
# the formats of the judged outputs, each with a JSON Schema in crmload/core/schemas/
VERDICT_FORMAT, VERDICT_FORMAT_VERSION = "crmload.verdict", 1
COMPARISON_FORMAT, COMPARISON_FORMAT_VERSION = "crmload.comparison", 1

META_FILE = "meta.json"
STAGES_FILE = "stages.json"
CAPTURE_FILE = "capture.json"
GENERATORS_FILE = "generators.csv"
WRITES_FILE = "writes.csv"


class Kind(StrEnum):
    """What a sample row is."""

    REQUEST = "request"  # one request to the CRM
    JOURNEY = "journey"  # one journey: first step start to last step end
    DROPPED = "dropped"  # an open-model iteration that could not start within max_lag


class Outcome(StrEnum):
    """How a request (or a journey: its first failing step's outcome) ended."""

    OK = "ok"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    CHECK_FAILED = "check_failed"  # 2xx, but the content says the operation failed
    THROTTLED = "throttled"  # 429: reported apart from failures
    AUTH_LOST = "auth_lost"  # 401 to a user who had logged in: a restarted CRM, an expired or revoked token
    DROPPED = "dropped"  # rows of kind ``dropped``
    # a probe of access control (SEC-AC-01), as the adapter read the CRM's answer; never a failure
    DENIED = "denied"
    GRANTED = "granted"
    UNCLEAR = "unclear"


# what counts as a failure unless a standard says otherwise (``defaults.failure_outcomes``):
# http_4xx and throttled (429) are reported apart
FAILURE_OUTCOME_ORDER: tuple[Outcome, ...] = (
    Outcome.HTTP_5XX,
    Outcome.TIMEOUT,
    Outcome.CONNECTION,
    Outcome.CHECK_FAILED,
    Outcome.AUTH_LOST,
)
DEFAULT_FAILURE_OUTCOMES: frozenset[Outcome] = frozenset(FAILURE_OUTCOME_ORDER)


def counts_as_failure(outcome: str, failures: frozenset[str] | frozenset[Outcome] = DEFAULT_FAILURE_OUTCOMES) -> bool:
    """Does ``outcome`` count as a failure, under the standard's ``failures`` (default: the shipped set)?"""
    return outcome in failures


def failure_outcomes(values: list[str] | tuple[str, ...] | None) -> frozenset[Outcome]:
    """The failure outcomes a standard names, as :class:`Outcome`; the default set for None."""
    return DEFAULT_FAILURE_OUTCOMES if values is None else frozenset(Outcome(v) for v in values)


class RunStatus(StrEnum):
    RUNNING = "running"  # meta.json of a run still going, or of one killed before it could say
    COMPLETED = "completed"  # every stage ran
    STOPPED = "stopped"  # ended early by the scenario's own stop criteria: an answer
    ABORTED = "aborted"  # ended by a fault
    INTERRUPTED = "interrupted"  # ended by a signal (Ctrl-C, SIGTERM)
    UNKNOWN = "unknown"  # no meta.json


INCOMPLETE_STATUSES = frozenset({RunStatus.ABORTED, RunStatus.INTERRUPTED})


class SampleRow(NamedTuple):
    """One sample: a column of :data:`crmload.core.samplefiles.SAMPLE_SCHEMA` per field (and of the
    old ``samples.csv``)."""

    ts: float  # request start, Unix seconds (UTC)
    kind: str  # a Kind
    operation: str  # canonical operation (requests), journey name (journeys), persona (dropped)
    persona: str
    journey: str
    response_time_ms: float
    schedule_lag_ms: float | str | None  # open model: start delay behind the intended start; None ("" in CSV) otherwise
    status: int  # HTTP status, 0 when none arrived
    outcome: str  # an Outcome
    bytes: int
    stage: int  # index into stages.json, -1 before the first stage
    users: int  # active users when the request started
    worker: str  # load generator process: local, master, w0, w1 ...
    server_ms: float | None  # the target's Server-Timing, when it sends one


class GeneratorRow(NamedTuple):
    """One row of ``generators.csv``: a load generator's CPU use, once a second."""

    ts: float
    worker: str
    cpu_percent: float
    users: int


class WriteRow(NamedTuple):
    """One row of ``writes.csv``: a write the CRM acknowledged, for the DATA-01 audit."""

    ts: float
    worker: str
    entity: str
    id: Any
    field: str
    value: Any
    version: Any


SAMPLE_COLUMNS: tuple[str, ...] = SampleRow._fields
GENERATOR_COLUMNS: tuple[str, ...] = GeneratorRow._fields
WRITE_COLUMNS: tuple[str, ...] = WriteRow._fields


class _Record(BaseModel):
    # unknown keys are kept: a file of this version may carry more than this reader needs
    model_config = ConfigDict(extra="allow")


class StageTarget(_Record):
    users: int = 0
    arrival_rate: float = 0.0


class StageRecord(_Record):
    """One stage as it ran (``stages.json`` is a list of these): the plan plus the UTC start and end."""

    index: int
    name: str
    kind: str = "users"
    target: StageTarget = Field(default_factory=StageTarget)
    planned_start_s: float | None = None
    planned_duration_s: float | None = None
    warmup_s: float = 0.0
    judged: bool | None = None
    surge: bool | None = None
    hold: str | None = None  # "until-decided": the conductor ended it at a look
    max_s: float | None = None
    confidence: float | None = None  # held: the level each look judged at (1 - alpha/looks)
    looks: int | None = None  # held: the looks planned
    look: int | None = None  # held: the look that ended it
    decided: bool | None = None  # held: every clause decided at that look (else it ran to max)
    start: float
    end: float | None = None


class LostWorker(_Record):
    detected_at: float
    last_batch_at: float | None = None
    samples: int = 0


class FailureReason(_Record):
    """Why requests of one operation failed: one row per (operation, status, outcome, reason), with
    the reason's digits written as N so that "ticket 17 does not exist" and "ticket 18 …" are one row."""

    operation: str
    status: int = Field(ge=0)
    outcome: str
    reason: str
    count: int = Field(ge=1)
    example: str = ""  # the first such reason as it was given
    first_ts: float | None = None


# distinct failure reasons kept per load generator; the rest are counted under OTHER_REASONS
MAX_FAILURE_REASONS = 200
OTHER_REASONS = "(other reasons)"


class CaptureSummary(_Record):
    """``capture.json``: what the capture saw besides the rows."""

    rows_by_worker: dict[str, int] = Field(default_factory=dict)
    skipped_operations: dict[str, int] = Field(default_factory=dict)
    # journeys with a skipped step, by name: counted, not recorded as journeys
    incomplete_journeys: dict[str, int] = Field(default_factory=dict)
    # the target platform's usage headers (--limits), the latest value of each
    limit_headers: dict[str, str] = Field(default_factory=dict)
    dropped_by_stage: dict[str, int] = Field(default_factory=dict)
    workers_missing_final: list[str] = Field(default_factory=list)
    lost_workers: dict[str, LostWorker] = Field(default_factory=dict)
    abort_reason: str | None = None
    stopped_by: dict[str, float | str] | None = None
    written_at: float | None = None
    # the results directory could not be written (a full disk, a removed directory): why, and how
    # many recorded samples are not in the files because of it
    write_error: str | None = None
    unwritten_rows: int = Field(0, ge=0)
    failure_reasons: list[FailureReason] = Field(default_factory=list)


class Meta(_Record):
    """``meta.json``: what ran, against what, with what, and how it ended."""

    schema_version: int = SCHEMA_VERSION
    crmload_version: str = __version__
    source: str = "crmload run"  # or "locust": plain ``locust -f loadtests/locustfile.py``
    git_sha: str | None = None
    scenario_name: str | None = None
    scenario_file: str | None = None
    scenario_sha256: str | None = None
    scenario: dict[str, Any] | None = None  # the effective (possibly scaled) scenario
    scenario_plan: list[dict[str, Any]] = Field(default_factory=list)
    thresholds_file: str | None = None
    thresholds_sha256: str | None = None
    failure_outcomes: list[str] | None = None  # the standard's, when the run knew it
    target: str | None = None  # "embedded" or the URL, credentials redacted
    target_url: str | None = None
    adapter: str | None = None
    locust_version: str | None = None
    runner: str | None = None
    processes: int | None = None
    host: str | None = None
    python: str | None = None
    platform: str | None = None
    data_size: str | None = None
    crm_faults: dict[str, Any] | None = None
    started_utc: str | None = None
    ended_utc: str | None = None
    status: str = RunStatus.RUNNING
    status_reason: str | None = None
    upgraded_from: int | None = None  # the schema_version it was recorded with, when older (set on reading)


def schema_file(fmt: str, version: int) -> Path:
    """The JSON Schema of an output format: ``schema_file(VERDICT_FORMAT, 1)`` -> ``…/verdict-1.schema.json``."""
    return Path(__file__).resolve().parent / "schemas" / f"{fmt.removeprefix('crmload.')}-{version}.schema.json"


def utc_text(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def git_sha(source: Path | None = None) -> str | None:
    """The commit of the checkout crmload runs from, when it runs from one (not from a wheel)."""
    where = source or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def new_meta(**fields: Any) -> Meta:
    """A ``meta.json`` for a run that starts now, with this machine's provenance filled in.

    The one writer of ``meta.json``: ``crmload run`` and a plain Locust run both call it."""
    base: dict[str, Any] = {
        "git_sha": git_sha(),
        "host": platform.node(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started_utc": utc_text(),
    }
    return Meta.model_validate({**base, **fields})


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, default=str, allow_nan=False))


RESERVE_FILE = ".reserve"
# set aside in every run directory while Locust runs, and freed when a write fails or the run ends:
# the room for the last samples, meta.json, the verdict and the report when the disk fills up
RESERVE_BYTES = 8 * 1024 * 1024


def reserve_space(run_dir: Path, size: int = RESERVE_BYTES) -> None:
    """Set ``size`` bytes aside in ``run_dir`` (:data:`RESERVE_FILE`); OSError when there is no room."""
    path = run_dir / RESERVE_FILE
    with path.open("wb") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except (AttributeError, OSError) as exc:  # a file system without fallocate: write it out
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise
            block = b"\0" * (1 << 20)
            for _ in range(size // len(block)):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())


def free_reserve(run_dir: Path) -> bool:
    """Give the reserved room back; True when there was a reserve to free."""
    try:
        (run_dir / RESERVE_FILE).unlink()
    except OSError:
        return False
    return True


def write_meta(run_dir: Path, meta: Meta) -> None:
    write_json_atomic(run_dir / META_FILE, meta.model_dump(mode="json"))


def _upgrade_1(data: dict[str, Any]) -> dict[str, Any]:
    """1 -> 2: the two writers' keys become one record; modules moved under ``crmload.``."""
    out = dict(data)
    out.setdefault("source", "crmload run" if "thresholds_file" in data else "locust")
    adapter = out.get("adapter")
    if isinstance(adapter, str):
        out["adapter"] = upgrade_module_name(adapter)
    out["schema_version"] = 2
    return out


# version -> the function that lifts a record of that version by one
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_1}


def upgrade_module_name(spec: str) -> str:
    """``loadtests.adapters.reference:ReferenceCRM`` (crmload 0.1) -> ``crmload.loadtests.…``."""
    for old in ("loadtests.", "analysis.", "democrm."):
        if spec.startswith(old):
            return "crmload." + spec
    return spec


def upgrade_meta(data: dict[str, Any], where: Path) -> dict[str, Any]:
    """Lift a ``meta.json`` of any known version to :data:`SCHEMA_VERSION`; refuse a newer one."""
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RunError(f"{where}: schema_version: not a version number (got {version!r}); the file is damaged")
    if version > SCHEMA_VERSION:
        raise RunError(
            f"{where}: schema_version {version} is newer than this crmload {__version__} reads "
            f"(up to {SCHEMA_VERSION}) — fix: upgrade crmload to read this run directory"
        )
    recorded = version
    while version < SCHEMA_VERSION:
        data = UPGRADES[version](data)
        version = int(data["schema_version"])
    if recorded < SCHEMA_VERSION:
        data["upgraded_from"] = recorded
    return data


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file of a run directory; ``default`` when it does not exist; a RunError when damaged."""
    try:
        return jsonio.load(path)
    except FileNotFoundError:
        return default
    except (jsonio.JsonError, OSError) as exc:
        where = f" at line {exc.line}" if isinstance(exc, jsonio.JsonError) and exc.line else ""
        raise RunError(f"{path}: unreadable JSON{where} ({exc}); the run directory may be damaged") from None


def _shape_error(path: Path, exc: ValidationError) -> RunError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return RunError(f"{path}: {field}: {first['msg']}; the run directory may be damaged")


R = TypeVar("R", bound=BaseModel)


def _read_record(
    path: Path, model: type[R], prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> R | None:
    """A JSON object file validated as ``model`` (after ``prepare``: an upgrade of an older version);
    None when absent; a RunError naming file and field."""
    data = read_json(path)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a JSON object; the run directory may be damaged")
    try:
        return model.model_validate(prepare(data) if prepare is not None else data)
    except ValidationError as exc:
        raise _shape_error(path, exc) from None


def read_meta(run_dir: Path) -> Meta | None:
    """``meta.json`` upgraded to this version; None when the run left none."""
    path = run_dir / META_FILE
    return _read_record(path, Meta, lambda data: upgrade_meta(data, path))


def read_stages(run_dir: Path) -> list[StageRecord]:
    path = run_dir / STAGES_FILE
    data = read_json(path)
    if data is None:
        return []
    if not isinstance(data, list):
        raise RunError(f"{path}: not a JSON list of stages; the run directory may be damaged")
    try:
        return [StageRecord.model_validate(s) for s in data]
    except ValidationError as exc:
        raise _shape_error(path, exc) from None


def read_capture(run_dir: Path) -> CaptureSummary:
    return _read_record(run_dir / CAPTURE_FILE, CaptureSummary) or CaptureSummary()


class ChecksRecord(_Record):
    """``audit.json`` (lost writes) and ``security.json`` (forbidden access): checks and breaches."""

    checked: int = Field(0, ge=0)
    breaches: int = Field(0, ge=0)
    examples: list[Any] = Field(default_factory=list)
    reason: str | None = None


def read_checks(run_dir: Path, name: str) -> dict[str, Any] | None:
    """``<name>.json`` (``audit`` or ``security``) checked for its shape, as a dict; None when absent."""
    record = _read_record(run_dir / f"{name}.json", ChecksRecord)
    return None if record is None else record.model_dump()
