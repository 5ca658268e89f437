"""Bad targets fail fast with exit 2 and nothing half-runs; remote targets need --allow-remote;
an interrupted or killed run keeps what it recorded."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import REPO, crmload

from crmload.errors import SafetyError
from crmload.safety import check_target_allowed, redact
from democrm.server import EmbeddedCRM


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def not_a_crm() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _testdata(tmp_path: Path, password: str = "sales001-pw") -> Path:
    path = tmp_path / "testdata.json"
    path.write_text(json.dumps({"users": [{"username": "sales001", "password": password, "role": "sales"}]}))
    return path


def test_unreachable_target_fails_fast(tmp_path: Path) -> None:
    t0 = time.monotonic()
    run = crmload(
        "run",
        "--target",
        f"http://127.0.0.1:{_closed_port()}",
        "--testdata",
        str(_testdata(tmp_path)),
        results=tmp_path / "r",
    )
    assert run.code == 2 and "unreachable" in run.stderr
    assert time.monotonic() - t0 < 15
    assert run.run_dir is None, "nothing half-runs: no run directory"


def test_port_that_is_not_a_crm(tmp_path: Path, not_a_crm: str) -> None:
    run = crmload("run", "--target", not_a_crm, "--testdata", str(_testdata(tmp_path)), results=tmp_path / "r")
    assert run.code == 2 and "not the reference CRM" in run.stderr and run.run_dir is None


def test_wrong_credentials(tmp_path: Path) -> None:
    with EmbeddedCRM(size="tiny") as crm:
        run = crmload(
            "run", "--target", crm.base_url, "--testdata", str(_testdata(tmp_path, "wrong")), results=tmp_path / "r"
        )
    assert run.code == 2 and "refused the test data's credentials" in run.stderr and run.run_dir is None


def test_adapter_that_does_not_load(tmp_path: Path) -> None:
    run = crmload(
        "run",
        str(REPO / "tests" / "scenarios" / "errors.yaml"),
        "--adapter",
        "no.such.module:Crm",
        results=tmp_path / "r",
    )
    assert run.code == 2 and "Locust failed to start" in run.stderr and "no.such" in run.stderr


def test_remote_targets_are_refused_without_allow_remote(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1: the refusal comes before any packet is sent
    run = crmload(
        "run", "--target", "http://192.0.2.1:8080", "--testdata", str(_testdata(tmp_path)), results=tmp_path / "r"
    )
    assert run.code == 2 and "refusing to load 192.0.2.1" in run.stderr and "--allow-remote" in run.stderr
    with pytest.raises(SafetyError):
        check_target_allowed("http://192.0.2.1", allow_remote=False)
    assert check_target_allowed("http://192.0.2.1", allow_remote=True) is True
    assert check_target_allowed("http://localhost:1", allow_remote=False) is False
    assert check_target_allowed("http://[::1]:1", allow_remote=False) is False


def test_credentials_in_urls_are_redacted() -> None:
    assert redact("http://admin:s3cret@127.0.0.1:8080/x") == "http://***@127.0.0.1:8080/x"


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    results = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmload.cli", "run", "--results", str(results), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        samples = list(results.glob("*/samples.csv"))
        if samples and len(samples[0].read_text().splitlines()) > 300:
            return proc, samples[0].parent
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the run did not record 300 samples in 90 s")


def test_ctrl_c_keeps_and_judges_what_was_recorded(tmp_path: Path) -> None:
    proc, run_dir = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and "SIGINT" in meta["status_reason"]
    assert len((run_dir / "samples.csv").read_text().splitlines()) > 300
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["run_status"] == "interrupted" and verdict["status"] != "PASS"


def test_run_directory_of_a_killed_crmload_is_still_analysable(tmp_path: Path) -> None:
    proc, run_dir = _start(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(2)  # the Locust child receives SIGTERM on its parent's death and flushes what it has
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "analyze", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stdout + done.stderr  # INCONCLUSIVE: the run has no end record
    assert "no end record" in done.stdout
    assert json.loads((run_dir / "verdict.json").read_text())["status"] == "INCONCLUSIVE"


def test_a_load_generator_that_dies_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    results = tmp_path / "r"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmload.cli",
            "run",
            str(REPO / "tests" / "scenarios" / "distributed.yaml"),
            "--processes",
            "2",
            "--results",
            str(results),
            "--quiet",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and not workers:
        samples = list(results.glob("*/samples.csv"))
        if samples and len(samples[0].read_text().splitlines()) > 200:
            master = [c for c in _children(proc.pid) if "locust" in " ".join(c[1])]
            workers = [pid for pid, _ in _children(master[0][0])] if master else []
        time.sleep(0.5)
    assert workers, "no worker processes found"
    os.kill(workers[0], signal.SIGKILL)
    proc.communicate(timeout=180)
    run_dir = next(results.glob("*"))
    capture = json.loads((run_dir / "capture.json").read_text())
    lost = capture["lost_workers"]
    assert len(lost) == 1 and next(iter(lost.values()))["samples"] > 0
    meta = json.loads((run_dir / "meta.json").read_text())
    assert "lost at" in meta["status_reason"] and meta["status"] == "completed"  # it went on
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["status"] != "PASS" and any("load generator lost" in w for w in verdict["warnings"])


def _children(pid: int) -> list[tuple[int, list[str]]]:
    import psutil

    return [(c.pid, c.cmdline()) for c in psutil.Process(pid).children()]


def test_the_target_dying_mid_run_fails_the_verdict_and_says_when(tmp_path: Path) -> None:
    port = _closed_port()
    data_dir = tmp_path / "crm"
    crm = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmload.cli",
            "demo-crm",
            "--port",
            str(port),
            "--size",
            "tiny",
            "--data-dir",
            str(data_dir),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (data_dir / "testdata.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        results = tmp_path / "r"
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crmload.cli",
                "run",
                str(REPO / "tests" / "scenarios" / "errors.yaml"),
                "--target",
                f"http://127.0.0.1:{port}",
                "--testdata",
                str(data_dir / "testdata.json"),
                "--results",
                str(results),
                "--quiet",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            samples = list(results.glob("*/samples.csv"))
            if samples and len(samples[0].read_text().splitlines()) > 300:
                break
            time.sleep(0.3)
        killed_at = time.time()
        crm.kill()
        out, err = run.communicate(timeout=120)
    finally:
        crm.kill()
        crm.communicate()
    assert run.returncode == 1, out + err
    verdict = json.loads((next(results.glob("*")) / "verdict.json").read_text())
    err_clause = next(c for c in verdict["clauses"] if c["id"] == "PERF-ERR-01")
    assert err_clause["status"] == "FAIL"
    warning = next(w for w in verdict["warnings"] if w.startswith("connection failures from"))
    hh, mm, ss = (int(x) for x in warning.split()[3].rstrip("Z").split(":"))
    reported = hh * 3600 + mm * 60 + ss
    actual = int(killed_at) % 86400
    assert min(abs(reported - actual), 86400 - abs(reported - actual)) <= 5, (warning, killed_at)
