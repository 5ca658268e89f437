"""Faults of the system around a run, made for real: the CRM restarted mid-run, the results disk full."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from e2e import recorded, request_rows

from crmload.core import samplefiles
from crmload.safety import free_loopback_port

REPO = Path(__file__).resolve().parent.parent


def _demo_crm(data_dir: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmload.cli", "demo-crm", "--port", str(port), "--size", "small",
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert re.search(rf"http://127\.0\.0\.1:{port}", line), (line, proc.stderr.read() if proc.stderr else "")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def test_a_crm_restarted_mid_run_shows_in_the_failure_rate_and_the_sessions_clause(tmp_path: Path) -> None:
    """The CRM restarts on its own store (``demo-crm --keep``) 12 s into a 35 s run: its sessions are
    gone, so every signed-in user's next request gets a 401. Those are ``auth_lost`` (a failure in
    PERF-ERR-01, a breach of SEC-SESS-01), the users log in again and carry on; the writes made
    before the restart are still in the kept store (DATA-01 reads them back)."""
    data, port = tmp_path / "crm", free_loopback_port()
    crm = _demo_crm(data, port)
    results = tmp_path / "r"
    run = subprocess.Popen(
        [sys.executable, "-m", "crmload.cli", "run", "smoke", "--target", f"http://127.0.0.1:{port}",
         "--testdata", str(data / "testdata.json"), "--duration", "35s", "--results", str(results), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(12)
        _stop(crm)
        restarted_at = time.time()
        crm = _demo_crm(data, port, "--keep")
        out, err = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
        _stop(crm)
    assert run.returncode == 1, out + err  # FAIL
    run_dir = next(results.glob("*"))
    verdict = json.loads((run_dir / "verdict.json").read_text())
    by_id = {r["id"]: r for r in verdict["clauses"]}
    sess, err_rate, data01 = by_id["SEC-SESS-01"], by_id["PERF-ERR-01"], by_id["DATA-01"]
    assert sess["status"] == "FAIL" and sess["measured"] > 0 and "found their session lost (401" in sess["reason"], sess
    assert err_rate["status"] == "FAIL", err_rate
    assert data01["status"] == "PASS", data01  # the kept store still holds what was acknowledged
    rows = request_rows(run_dir)
    lost = [r for r in rows if r["outcome"] == "auth_lost"]
    assert len(lost) == int(sess["measured"])
    assert all(r["status"] == 401 for r in lost)
    logins_after = [r for r in rows if r["operation"] == "auth.login" and r["ts"] > restarted_at]
    ok_after = [r for r in rows if r["outcome"] == "ok" and r["ts"] > restarted_at + 5]
    assert len(logins_after) >= len({r["persona"] for r in lost}), "the users logged in again"
    assert len(ok_after) > 50, "and carried on"


def test_tokens_that_expire_mid_run_are_counted_apart_and_the_users_log_in_again(tmp_path: Path) -> None:
    """Tokens that live 6 s in a 30 s run: each user's first request after its token expired gets
    401 (``auth_lost``), the user logs in again at once and goes on; nothing else fails."""
    results = tmp_path / "r"
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", "smoke", "--duration", "30s", "--crm-token-ttl", "6s",
         "--results", str(results), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    run_dir = next(results.glob("*"))
    rows = request_rows(run_dir)
    lost = [r for r in rows if r["outcome"] == "auth_lost"]
    assert lost and all(r["status"] == 401 for r in lost)
    others = {r["outcome"] for r in rows} - {"ok", "auth_lost", "throttled", "denied"}  # denied: the probes
    assert not others, others  # the expiry is counted apart: no other failure
    logins = [r for r in rows if r["operation"] == "auth.login" and r["outcome"] == "ok"]
    users = {r["users"] for r in rows}
    assert len(logins) >= len(lost), (len(logins), len(lost))  # one login again per lost session at least
    assert len(logins) > max(int(u) for u in users)  # more logins than users: they logged in again
    verdict = json.loads((run_dir / "verdict.json").read_text())
    sess = next(c for c in verdict["clauses"] if c["id"] == "SEC-SESS-01")
    assert sess["status"] == "FAIL" and sess["measured"] == len(lost), sess
    ok_after = [r for r in rows if r["outcome"] == "ok" and r["operation"] != "auth.login"]
    assert float(max(r["ts"] for r in ok_after)) > float(lost[0]["ts"]) + 10  # and the run went on


def test_the_reference_crm_can_restart_on_its_own_store(tmp_path: Path) -> None:
    import httpx

    data, port = tmp_path / "crm", free_loopback_port()
    crm = _demo_crm(data, port)
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(f"{base}/api/auth/login", json={"username": "sales001", "password": "sales001-pw"}).json()
        auth = {"authorization": f"Bearer {token['token']}"}
        made = httpx.post(f"{base}/api/customers", headers=auth,
                          json={"name": "Kept Ltd", "phone": "+1 555 0100", "email": "k@kept.example"})  # fmt: skip
        assert made.status_code == 201, made.text
        _stop(crm)
        crm = _demo_crm(data, port, "--keep")
        # the session did not survive the restart, and says so
        again = httpx.get(f"{base}/api/customers/{made.json()['id']}", headers=auth)
        assert again.status_code == 401 and "restarted" in again.json()["detail"]
        token = httpx.post(f"{base}/api/auth/login", json={"username": "sales001", "password": "sales001-pw"}).json()
        kept = httpx.get(f"{base}/api/customers/{made.json()['id']}",
                         headers={"authorization": f"Bearer {token['token']}"})  # fmt: skip
        assert kept.status_code == 200 and kept.json()["account"]["name"] == "Kept Ltd"
        _stop(crm)
        crm = _demo_crm(data, port)  # without --keep: a fresh store
        token = httpx.post(f"{base}/api/auth/login", json={"username": "sales001", "password": "sales001-pw"}).json()
        gone = httpx.get(f"{base}/api/customers/{made.json()['id']}",
                         headers={"authorization": f"Bearer {token['token']}"})  # fmt: skip
        assert gone.status_code == 404
    finally:
        _stop(crm)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """tmpfs file systems of their own, of a given size (the machines CI runs on let root mount them)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        disk = tmp_path / f"disk-{len(mounted)}"
        disk.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_results_disk_without_room_for_the_reserve_is_refused_before_any_load(
    small_disk: Callable[[str], Path],
) -> None:
    disk = small_disk("4m")
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", "smoke", "--results", str(disk / "r")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "no room to set 8 MB aside" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not any((disk / "r").glob("*")), "no run directory is left"


def test_a_results_disk_that_fills_up_ends_the_run_with_exit_2_and_a_verdict_of_what_was_kept(
    small_disk: Callable[[str], Path],
) -> None:
    disk = small_disk("24m")
    results = disk / "r"
    run = subprocess.Popen(
        [sys.executable, "-m", "crmload.cli", "run", "smoke", "--duration", "60s", "--results", str(results),
         "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = [p.parent for p in results.glob("*/meta.json")]
            if found and recorded(found[0]) > 300:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the run recorded nothing")
        with (disk / "filler").open("wb") as fh, contextlib.suppress(OSError):
            while True:  # something else fills the disk
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 2, out + err
    assert "the results directory could not be written" in err and "Traceback" not in err, err
    run_dir = next(results.glob("*"))
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "aborted" and "No space left on device" in meta["status_reason"], meta
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["exit_code"] == 2 and verdict["status"] != "PASS", verdict["status"]
    assert any("could not be written" in w for w in verdict["warnings"]), verdict["warnings"]
    assert (run_dir / "report.html").exists() and (run_dir / "junit.xml").exists()
    capture = json.loads((run_dir / "capture.json").read_text())
    served = sum(json.loads((run_dir / "target_served.json").read_text()).values())
    n_recorded = len(request_rows(run_dir))
    # nothing dropped unsaid: what the CRM served is recorded, or counted as unwritten
    assert n_recorded + capture["unwritten_rows"] >= served, (n_recorded, capture["unwritten_rows"], served)
    assert n_recorded > 100


def test_a_sample_segment_that_finds_the_disk_full_keeps_its_batch_for_a_new_segment(
    small_disk: Callable[[str], Path],
) -> None:
    """A batch that hits a full disk stays queued; once there is room it goes first, in a new segment,
    and the old segment ends at the torn write (named when read)."""
    disk = small_disk("2m")
    run_dir = disk / "run"
    writer = samplefiles.SegmentWriter(run_dir, segment_s=60.0)
    rng = np.random.default_rng(1)

    def row(i: int, label: str, rt: float) -> tuple[object, ...]:
        return (1_700_000_000.0 + i, "request", label, "p", "j", rt, None, 200, "ok", i, 0, 1, "local", None)

    def batch() -> pa.RecordBatch:  # random labels: ~100 KB a batch even compressed
        return samplefiles.to_batch([row(i, f"op{rng.integers(1e9)}", float(rng.random())) for i in range(4000)])

    batches = [batch() for _ in range(3)]
    assert writer.write(batches[0], now=0.0) is None
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as fh:  # unbuffered: close writes nothing
        while True:
            fh.write(b"\0" * (1 << 16))
    failed = writer.write(batches[1], now=1.0)
    assert isinstance(failed, OSError) and failed.errno == errno.ENOSPC, failed
    assert writer.unwritten_rows == 4000
    filler.unlink()  # room again
    assert writer.write(batches[2], now=2.0) is None and writer.unwritten_rows == 0
    writer.close(now=3.0)
    assert len(samplefiles.segments(run_dir)) == 2
    problems: list[str] = []
    kept = [b for p in samplefiles.segments(run_dir) for b in samplefiles.read_segment(p, problems)]
    assert pa.Table.from_batches(kept).equals(pa.Table.from_batches(batches))  # nothing lost, nothing twice
    assert all("seg-000001.arrow" in p for p in problems)


pytestmark = pytest.mark.timeout(300)
