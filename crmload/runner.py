"""``crmload run``: preflight, embedded CRM, Locust headless in a subprocess, live progress, verdict.

Locust runs in its own process (importing it monkey-patches the standard library, and the
embedded CRM runs on asyncio in this one). The run directory is the contract between the two:
Locust's side writes the samples (segments, one ``samples.parquet`` at the end), ``generators.csv``,
``stages.json`` and ``capture.json``; this side writes ``meta.json`` and, after the analysis, the verdict files.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx

from crmload.core import samplefiles
from crmload.core.errors import ConfigError, CrmloadError, RunError, TargetError
from crmload.core.personas import JOURNEYS
from crmload.core.rundir import (
    FAILURE_OUTCOME_ORDER,
    RESERVE_BYTES,
    Kind,
    Meta,
    Outcome,
    RunStatus,
    free_reserve,
    new_meta,
    read_capture,
    read_stages,
    reserve_space,
    upgrade_module_name,
    utc_text,
    write_json_atomic,
    write_meta,
)
from crmload.core.scenario import Scenario, stopped_reason
from crmload.core.units import format_duration
from crmload.loadtests.settings import DEFAULT_ADAPTER
from crmload.loadtests.testdata import check_testdata
from crmload.safety import check_target_allowed, free_loopback_port, host_of, redact, scrub, tcp_reachable

if TYPE_CHECKING:
    from crmload.conductor import Conductor
    from crmload.democrm.server import EmbeddedCRM

STARTUP_TIMEOUT_S = 30.0
# how crmload asks Locust to stop: SIGINT, which headless Locust with a load shape handles (it stops
# the users, fires test_stop and quitting, and every recorded sample is written); Locust 2.47 installs
# its SIGTERM handler only after the shape has ended, so a SIGTERM during the run kills it outright
STOP_SIGNAL = signal.SIGINT


@dataclass
class RunOptions:
    scenario_path: Path
    scenario: Scenario
    thresholds_path: Path
    target: str = "embedded"
    adapter: str = DEFAULT_ADAPTER
    processes: int = 1
    results_dir: Path = Path("results")
    allow_remote: bool = False
    testdata_path: Path | None = None
    size: str | None = None
    crm_faults: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False
    on_worker_loss: str = "continue"
    failure_outcomes: list[str] = field(default_factory=lambda: [str(o) for o in FAILURE_OUTCOME_ORDER])
    limits: str | None = None  # the target platform's limits (crmload.core.limits): its throttle answers

    def __post_init__(self) -> None:
        self.adapter = upgrade_module_name(self.adapter)


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    reason: str
    served: dict[str, int] | None = None
    write_error: str | None = None  # the results directory could not be written: the run ends with exit 2


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_run_dir(results: Path, scenario: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = results / f"{scenario}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = results / f"{scenario}-{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def preflight_reach(base_url: str) -> None:
    """Does anything answer HTTP at ``base_url``? Fails in seconds."""
    host, port = host_of(base_url)
    tcp_reachable(host, port, timeout_s=3.0)
    try:
        with httpx.Client(timeout=5.0) as client:
            client.get(base_url)
    except httpx.HTTPError as exc:
        raise TargetError(f"{redact(base_url)} accepts connections but does not answer HTTP: {exc}") from None


def _through_adapter(what: str, adapter: str, base_url: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run ``python -m crmload.loadtests.preflight WHAT ADAPTER TARGET ...`` (in a child: Locust's client
    patches the process it runs in) and return the JSON object it printed."""
    try:  # `python -m` puts the working directory on the path, as the Locust child has it
        done = subprocess.run(
            [sys.executable, "-m", "crmload.loadtests.preflight", what, adapter, base_url, *args],
            capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise TargetError(f"{redact(base_url)}: the {what} through {adapter} took over {timeout_s:.0f} s") from None
    try:
        answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = scrub(done.stderr[-800:], base_url)
        raise TargetError(f"the {what} through {adapter} failed; its output ends with:\n{tail}") from None
    if "error" in answer:
        raise CrmloadError(str(answer["error"]))
    return answer


def preflight_logins(
    adapter: str, base_url: str, testdata: Path, scenario: Scenario, scenario_file: Path | str = "scenario"
) -> list[str]:
    """The adapter's check of the target, then each role the scenario's personas need logs in once
    through ``adapter``; a role that cannot is a TargetError naming the role, the user and what the CRM
    answered, before any load. Then what the scenario's journeys need against the operations the adapter
    has (:func:`journey_needs`); returns the notices to print."""
    from crmload.core.operations import OPEN_PERSONAS, PERSONAS

    roles = sorted(
        {PERSONAS[name].role for name, cfg in scenario.personas.items() if name in OPEN_PERSONAS or cfg.weight > 0}
    )
    answer = _through_adapter("logins", adapter, base_url, [str(testdata), *roles], 120.0)
    if "target" in answer:
        raise TargetError(f"{redact(base_url)} {answer['target']}")
    refused = {role: r for role, r in answer["roles"].items() if not r["ok"]}
    if refused:
        listed = "; ".join(f"{role} ({r['user'] or 'no user'}): {r['reason']}" for role, r in sorted(refused.items()))
        raise TargetError(
            f"{redact(base_url)}: {len(refused)} of {len(roles)} roles could not log in through {adapter}: {listed}"
            f" — fix: check the users and passwords in {testdata}"
        )
    supported = frozenset(answer.get("supported", ()))
    return journey_needs(scenario, supported, answer.get("lacks", {}), adapter, scenario_file)


def journey_needs(
    scenario: Scenario, supported: frozenset[str], lacks: dict[str, str], adapter: str, file: Path | str
) -> list[str]:
    """What the scenario's personas need of the adapter: a persona none of whose journeys it can run
    is a ConfigError before any load (it would only spin); journeys it runs partly or not at all are
    the notices returned (their steps are skipped, their journeys counted apart)."""
    from crmload.core.operations import OPEN_PERSONAS
    from crmload.core.personas import journey_coverage, option_value, weight_option

    def why(ops: list[str] | tuple[str, ...]) -> str:
        """The operations, grouped by the reason the adapter gives for lacking them."""
        by_reason: dict[str, list[str]] = {}
        for op in sorted(ops):
            by_reason.setdefault(lacks.get(op, ""), []).append(op)
        return "; ".join(", ".join(group) + (f" ({reason})" if reason else "") for reason, group in by_reason.items())

    notices: list[str] = []
    for name, cfg in scenario.personas.items():
        if not (name in OPEN_PERSONAS or cfg.weight > 0):
            continue
        weighted = [j for j in JOURNEYS[name] if option_value(name, cfg.options, weight_option(j)) > 0]
        coverage = {j: journey_coverage(j, supported) for j in weighted}
        if weighted and all(how == "not" for how, _ in coverage.values()):
            missing = sorted({op for _, lacked in coverage.values() for op in lacked})
            raise ConfigError(
                file, None, None, f"personas.{name}", f"cannot run through {adapter}: it has none of the operations of "
                f"{', '.join(weighted)} (it lacks {why(missing)})",
                f"set personas.{name}.weight to 0 in the scenario, or implement the operations in the adapter",
            )  # fmt: skip
        for j, (how, lacked) in coverage.items():
            if how == "not":
                notices.append(
                    f"{j} is not run (the adapter has none of its operations); {name}'s other journeys take its share"
                )
            elif how == "partly":
                notices.append(f"{j} runs without {why(lacked)} (those steps are skipped)")
    return notices


def locustfile_path() -> Path:
    import crmload.loadtests

    return Path(crmload.loadtests.__file__).resolve().parent / "locustfile.py"


class _Progress:
    """One status line every couple of seconds, from the files the run writes."""

    def __init__(self, run_dir: Path, scenario: Scenario, out: TextIO, failures: list[str]) -> None:
        self.run_dir = run_dir
        self._tail = samplefiles.SegmentTail(run_dir)
        self._failed = frozenset(failures)
        self.generators = run_dir / "generators.csv"
        self.scenario = scenario
        self.out = out
        self._last_t = time.monotonic()
        self.requests = 0
        self.failures = 0
        self.logins_failed = 0
        self.logins_ok = 0
        self.t0 = time.monotonic()

    def poll(self) -> tuple[int, int]:
        """New (requests, failures) since the last poll."""
        reqs = fails = 0
        for batch in self._tail.new_batches():
            cols = batch.select(["kind", "operation", "outcome"]).to_pydict()
            for kind, operation, outcome in zip(cols["kind"], cols["operation"], cols["outcome"], strict=True):
                if kind != Kind.REQUEST:
                    continue
                reqs += 1
                bad = outcome in self._failed
                fails += bad
                if operation == "auth.login":
                    if bad or outcome == Outcome.HTTP_4XX:
                        self.logins_failed += 1
                    else:
                        self.logins_ok += 1
        self.requests += reqs
        self.failures += fails
        return reqs, fails

    def users(self) -> int:
        try:
            with self.generators.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 400))
                last = fh.read().strip().split(b"\n")[-1].split(b",")
            return int(last[3])
        except (OSError, ValueError, IndexError):
            return 0

    def stage(self) -> str:
        """The stage running now, as ``stages.json`` records it (a conductor may add stages)."""
        try:
            entries = read_stages(self.run_dir)
        except (OSError, ValueError, RunError):
            entries = []
        if not entries:
            return "starting"
        cur = entries[-1]
        if cur.end is not None:
            return "stopping"
        planned = len(self.scenario.stages)
        of = f"/{planned}" if cur.index < planned else " (added)"
        return f"stage {cur.index + 1}{of} {cur.name}"

    def line(self) -> str:
        now = time.monotonic()
        reqs, _ = self.poll()
        rate = reqs / max(1e-6, now - self._last_t)
        self._last_t = now
        elapsed = now - self.t0
        stage = self.stage()
        fail_pct = 100.0 * self.failures / self.requests if self.requests else 0.0
        pool = self.scenario.open_model.max_users if any(s.arrival_rate > 0 for s in self.scenario.stages) else 0
        users = f"users {self.users()} active" + (f" (+ open-model pool of {pool})" if pool else "")
        return (
            f"[{stage}] {users} | {rate:7.1f} req/s | requests {self.requests} | failures "
            f"{self.failures} ({fail_pct:.2f} %) | {format_duration(elapsed)} / "
            f"{format_duration(self.scenario.longest_duration_s)}"
        )


def execute(opts: RunOptions, out: TextIO = sys.stderr) -> RunOutcome:
    """Run the scenario and leave a complete run directory; the caller analyses it."""
    from crmload.democrm import server  # the reference CRM's stack is imported only when it is used
    from crmload.democrm.faults import Faults

    scenario = opts.scenario
    embedded: EmbeddedCRM | None = None
    remote = False
    if opts.target != "embedded":
        remote = check_target_allowed(opts.target, opts.allow_remote)
    if remote:
        peak_users = max(s.users for s in scenario.stages)
        peak_rate = max(s.arrival_rate for s in scenario.stages)
        print(
            f"REMOTE TARGET {redact(opts.target)}: planned peak {peak_users} users and {peak_rate:g} "
            f"arrivals/s for up to {format_duration(scenario.total_duration_s)}",
            file=out,
            flush=True,
        )
    try:
        if opts.target == "embedded":
            size = opts.size or scenario.size
            if not opts.quiet:
                print(f"starting the embedded reference CRM (data size {size})...", file=out, flush=True)
            embedded = server.EmbeddedCRM(size=size, faults=Faults.model_validate(opts.crm_faults)).start()
            embedded.state.faults.wait_for_load()  # timed faults count from Locust's start (_supervise)
            base_url = embedded.base_url
            testdata = embedded.manifest_path
        else:
            base_url = opts.target.rstrip("/")
            if opts.testdata_path is None:
                raise TargetError(
                    "a --target other than 'embedded' needs --testdata FILE (users and record ids; "
                    "see README, 'Testing your own CRM')"
                )
            testdata = opts.testdata_path
            check_testdata(testdata)  # before any load: a missing password is a located error, not a traceback
        preflight_reach(base_url)
        for notice in preflight_logins(opts.adapter, base_url, testdata, scenario, opts.scenario_path):
            if not opts.quiet:
                print(f"note: {notice}", file=out, flush=True)
        run_dir = new_run_dir(opts.results_dir, scenario.name)
        return _run_locust(opts, run_dir, base_url, testdata, embedded, out)
    finally:
        if embedded is not None:
            embedded.stop()


def _start_meta(opts: RunOptions, run_dir: Path, base_url: str, embedded: EmbeddedCRM | None) -> Meta:
    """Copy what is run and judged into the run directory and write its first ``meta.json``."""
    scenario = opts.scenario
    (run_dir / "scenario.yaml").write_text(opts.scenario_path.read_text())
    shutil.copyfile(opts.thresholds_path, run_dir / "thresholds.yaml")
    # the effective (possibly scaled) scenario is what Locust runs
    (run_dir / "scenario.effective.json").write_text(scenario.model_dump_json(indent=1))
    meta = new_meta(
        source="crmload run",
        scenario_name=scenario.name,
        scenario_file=str(opts.scenario_path),
        scenario_sha256=_sha256(opts.scenario_path),
        scenario=scenario.model_dump(mode="json"),
        scenario_plan=scenario.stages_plan(),
        thresholds_file=str(opts.thresholds_path),
        thresholds_sha256=_sha256(opts.thresholds_path),
        failure_outcomes=list(opts.failure_outcomes),
        target="embedded" if embedded is not None else redact(base_url),
        target_url=redact(base_url),
        adapter=opts.adapter,
        locust_version=metadata.version("locust"),
        runner="MasterRunner" if opts.processes > 1 else "LocalRunner",
        processes=opts.processes,
        data_size=(opts.size or scenario.size) if embedded is not None else None,
        crm_faults=opts.crm_faults or None,
    )
    write_meta(run_dir, meta)
    return meta


def _locust_command(opts: RunOptions, base_url: str) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile_path()),
        "--headless",
        "--host",
        base_url,
        "--loglevel",
        "WARNING",
        "--only-summary",
        "--skip-log-setup",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
    ]
    if opts.processes > 1:
        # a port of its own, so that stray workers of another run can never join this one
        port = str(free_loopback_port())
        cmd += ["--processes", str(opts.processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        cmd += ["--master-host", "127.0.0.1", "--master-port", port]
    return cmd


def _supervise(
    proc: subprocess.Popen[bytes],
    progress: _Progress,
    opts: RunOptions,
    run_dir: Path,
    on_start: Callable[[float], None] | None = None,
) -> tuple[str, str, list[int]]:
    """Watch the Locust child until it ends: progress, signals, fail-fast aborts. (status, reason, signals).

    ``on_start``: called once with the load's start (Unix seconds) when Locust has started its test."""
    status, reason = RunStatus.COMPLETED, "all stages ran"
    interrupted: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        interrupted.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, STOP_SIGNAL)

    def abort(why: str) -> None:
        nonlocal status, reason
        status, reason = RunStatus.ABORTED, why
        os.killpg(proc.pid, STOP_SIGNAL)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    startup_deadline = time.monotonic() + STARTUP_TIMEOUT_S
    # a conducted stage may run past its longest while its decision is applied (shape.CONDUCTOR_GRACE_S)
    deadline = startup_deadline + opts.scenario.longest_duration_s + 60 + 30 * len(opts.scenario.stages)
    started = False
    conductor = _conductor(opts, run_dir)
    every = 1.0 if conductor is not None else 2.0
    try:
        while proc.poll() is None:
            time.sleep(0.5 if progress.requests == 0 else every)
            conductor = _report(progress, conductor, opts.quiet)
            if not started and (run_dir / "locust.json").exists():
                started = True
                if on_start is not None:
                    on_start(_locust_started(run_dir))
            if progress.logins_failed >= 5 and progress.logins_ok == 0:
                abort("every login failed: wrong credentials or a broken adapter")
            if not started and time.monotonic() > startup_deadline:
                abort(f"Locust did not start its test within {STARTUP_TIMEOUT_S:g} s")
            if time.monotonic() > deadline:
                abort("Locust did not finish within the scenario's duration plus a minute")
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _reap_group(proc.pid)
    return status, reason, interrupted


def _report(progress: _Progress, conductor: Conductor | None, quiet: bool) -> Conductor | None:
    """One progress line (or a silent poll), and what the conductor decided, if anything. Returns
    the conductor, or None once it cannot judge (its stages then run their longest)."""
    if not quiet:
        print(progress.line(), file=progress.out, flush=True)
    else:
        progress.poll()
    if conductor is None:
        return None
    try:
        said = conductor.poll()
    except (RunError, OSError, ValueError) as exc:
        print(f"CONDUCTOR: cannot judge the run ({exc}); held stages run to their max", file=progress.out)
        return None
    if said:
        print(f"CONDUCTOR: {said}", file=progress.out, flush=True)
    return conductor


def _conductor(opts: RunOptions, run_dir: Path) -> Conductor | None:
    """The run's conductor, when its scenario has stages decided as it runs (or a budget)."""
    if not (opts.scenario.conducted or opts.scenario.budget is not None):
        return None
    from crmload.analysis.thresholds import load_thresholds
    from crmload.conductor import Conductor

    return Conductor(run_dir, opts.scenario, load_thresholds(opts.thresholds_path))


def _locust_started(run_dir: Path) -> float:
    """When Locust started its test (``locust.json``), Unix seconds; now, if it cannot be read."""
    try:
        return float(json.loads((run_dir / "locust.json").read_text())["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return time.time()


def _final_status(status: str, reason: str, run_dir: Path) -> tuple[str, str]:
    """The run's status and reason once Locust has ended, with what ``capture.json`` reports."""
    capture = read_capture(run_dir)
    if capture.workers_missing_final:
        reason += f"; workers that never sent their last batch: {', '.join(capture.workers_missing_final)}"
    for name, lost in capture.lost_workers.items():
        when = time.strftime("%H:%M:%SZ", time.gmtime(lost.detected_at))
        reason += f"; load generator {name} lost at {when} after {lost.samples} samples"
    if capture.lost_workers and status == RunStatus.COMPLETED:
        # the stages ran to their end, but not with the planned load: never "completed"
        status = RunStatus.ABORTED
        reason = "a load generator was lost; the others went on (--on-worker-loss continue): " + reason
    if capture.stopped_by and status == RunStatus.COMPLETED:
        status, reason = RunStatus.STOPPED, stopped_reason(capture.stopped_by)
    if capture.write_error:
        status = RunStatus.ABORTED
        kept = (
            f"up to {capture.unwritten_rows} recorded samples could not be written"
            if capture.unwritten_rows
            else "every recorded sample was written"
        )
        reason = f"{capture.write_error}; the run was stopped ({kept})"
    elif capture.abort_reason and status == RunStatus.COMPLETED:
        status = RunStatus.ABORTED
        reason = f"{capture.abort_reason} (--on-worker-loss abort); " + reason
    return status, reason


def _run_locust(
    opts: RunOptions, run_dir: Path, base_url: str, testdata: Path, embedded: EmbeddedCRM | None, out: TextIO
) -> RunOutcome:
    try:
        reserve_space(run_dir)
    except OSError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing ran: no run directory is left
        raise RunError(
            f"--results {opts.results_dir}: no room to set {RESERVE_BYTES >> 20} MB aside for the run's last "
            f"files ({exc.strerror or exc}) — fix: free some space, or give another --results"
        ) from None
    meta = _start_meta(opts, run_dir, base_url, embedded)
    env = dict(
        os.environ,
        CRMLOAD_SCENARIO=str(run_dir / "scenario.effective.json"),
        CRMLOAD_RUN_DIR=str(run_dir.resolve()),
        CRMLOAD_TESTDATA=str(testdata),
        CRMLOAD_ADAPTER=opts.adapter,
        CRMLOAD_MANAGED="1",
        CRMLOAD_ON_WORKER_LOSS=opts.on_worker_loss,
        CRMLOAD_FAILURE_OUTCOMES=",".join(opts.failure_outcomes),
        CRMLOAD_CONDUCTED="1" if opts.scenario.conducted else "0",
        CRMLOAD_LIMITS=opts.limits or "",
    )
    # the preflight's own requests are not part of the run
    served_before = dict(embedded.state.served) if embedded is not None else {}
    with (run_dir / "locust.log").open("w") as log:
        proc = subprocess.Popen(
            _locust_command(opts, base_url), env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_child_setup
        )
        progress = _Progress(run_dir, opts.scenario, out, opts.failure_outcomes)
        # the reference CRM's faults count their times from the start of the load, not of the CRM
        anchor = embedded.state.faults.load_started if embedded is not None else None
        status, reason, interrupted = _supervise(proc, progress, opts, run_dir, anchor)
    free_reserve(run_dir)  # the room set aside for the run's last files is theirs now
    # the capture compacts its segments when Locust ends; a Locust that was killed (or found the disk
    # full) left them: compacted here, or left as segments, which read the same
    samplefiles.compact(run_dir)
    for quoting in ("locust.log", "capture.json"):  # an error (a failure's reason) may quote the target's secrets
        _scrub_file(run_dir / quoting, opts.target)
    code = proc.returncode
    if not interrupted and status == RunStatus.COMPLETED and code not in (0, None):
        how = f"killed by signal {_signal_name(-code)}" if code < 0 else f"exit code {code}"
        status, reason = RunStatus.ABORTED, f"the Locust process ended abnormally ({how}); see locust.log"
    if interrupted:
        status, reason = RunStatus.INTERRUPTED, f"signal {signal.Signals(interrupted[0]).name} received"
    elif not (run_dir / "locust.json").exists():
        tail = (run_dir / "locust.log").read_text()[-2000:]
        failed = {"status": RunStatus.ABORTED, "status_reason": "Locust failed to start", "ended_utc": utc_text()}
        write_meta(run_dir, meta.model_copy(update=failed))
        raise RunError(f"Locust failed to start (adapter {opts.adapter!r}); its log ends with:\n{tail}")
    status, reason = _final_status(status, reason, run_dir)
    served = None
    if embedded is not None:
        served = {op: n - served_before.get(op, 0) for op, n in embedded.state.served.items()}
        served = {op: n for op, n in served.items() if n}
        write_json_atomic(run_dir / "target_served.json", served)
    # after the count of served requests: the audit's own reads are not part of the run
    if status != RunStatus.ABORTED:
        try:
            _through_adapter("readback", opts.adapter, base_url, [str(testdata), str(run_dir.resolve())], 600.0)
        except CrmloadError as exc:
            reason = scrub(f"audit failed: {exc}", opts.target)
            write_json_atomic(run_dir / "audit.json", {"checked": 0, "reason": reason})
    write_meta(run_dir, meta.model_copy(update={"status": status, "status_reason": reason, "ended_utc": utc_text()}))
    return RunOutcome(run_dir, status, reason, served, read_capture(run_dir).write_error)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _scrub_file(path: Path, target: str) -> None:
    """Rewrite ``path`` without the secret pieces of ``target`` (when it has any)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    clean = scrub(text, target)
    if clean != text:
        path.write_text(clean)


def _load_libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    except OSError:
        return None


_LIBC = _load_libc()  # loaded in the parent: the child after fork must not import or take locks


def _child_setup() -> None:
    """In the Locust child: its own process group, and the stop signal when crmload itself dies (Linux)."""
    os.setsid()
    # a crmload started in the background of a script inherits SIGINT ignored, and so would Locust:
    # its Python then never turns SIGINT into the KeyboardInterrupt that stops it gracefully
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _LIBC is not None:
        _LIBC.prctl(1, STOP_SIGNAL)  # PR_SET_PDEATHSIG


def _reap_group(pgid: int) -> None:
    """No load generator outlives its run: end whatever is left of Locust's process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(1.0)
