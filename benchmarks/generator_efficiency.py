"""Benchmark: requests/s per load-generator core — crmload's journeys plus raw capture against bare
Locust (one FastHttpUser, one GET), both against the same static nginx endpoint.

    python benchmarks/generator_efficiency.py [--seconds 20] [--users 20]

nginx (``apt-get install nginx``) runs one worker on core 0 and answers every path with one canned
JSON body, so the target is never the bottleneck; Locust runs on core 1. Requests/s per core =
requests recorded / seconds / (CPU seconds the Locust process used / seconds). The harness side
runs the real journeys, adapter and capture (``loadtests/locustfile.py``, zero think time) and
counts the request rows of its samples.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crmload.core import samplefiles  # noqa: E402
from crmload.safety import free_loopback_port  # noqa: E402

BODY = json.dumps(
    {
        "token": "t",
        "user_id": 1,
        "role": "sales",
        "id": 1,
        "account_id": 1,
        "results": [{"id": 1}],
        "items": [{"id": 1}],
        "stage": "prospecting",
        "count": 1,
    }
)
SCENARIO = """
name: bench-generator
size: tiny
personas:
  sales:     {weight: 4, think_time: [0s, 0s]}
  service:   {weight: 3, think_time: [0s, 0s]}
  marketing: {weight: 1, think_time: [0s, 0s], options: {weight_bulk: 0}}
  manager:   {weight: 1, think_time: [0s, 0s]}
stages:
  - {name: hold, users: USERS, spawn_rate: 100, duration: SECONDSs}
"""


def nginx(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp}; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port};
    location / {{ default_type application/json; add_header Server-Timing "app;dur=0.1";
                  return 200 '{BODY}'; }} }}
}}""")
    return subprocess.Popen(["taskset", "-c", "0", shutil.which("nginx") or "nginx", "-c", str(conf)])


def run_locust(args: list[str], env: dict[str, str], seconds: int) -> tuple[float, float]:
    """Run Locust pinned to core 1; return (wall seconds of the test, CPU seconds it used)."""
    proc = psutil.Popen(
        [
            "taskset",
            "-c",
            "1",
            sys.executable,
            "-m",
            "locust",
            *args,
            "--headless",
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    t0 = time.monotonic()
    cpu = 0.0
    while proc.poll() is None:
        try:
            times = proc.cpu_times()
            cpu = times.user + times.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    return time.monotonic() - t0, cpu


def _testdata(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "users": [
                    {"username": f"{r}{i}", "password": "x", "role": r}
                    for r in ("sales", "service", "marketing", "manager")
                    for i in range(5)
                ],
                "accounts_by_owner": {f"sales{i}": [1, 2, 3] for i in range(5)},
                "search_keys_by_owner": {f"sales{i}": [["Apex", "+1", "a@b.c"]] for i in range(5)},
                "opportunities_by_owner": {f"sales{i}": [1, 2] for i in range(5)},
                "search_phones": ["+1"],
                "account_ids": [1, 2, 3],
                "open_ticket_ids": list(range(1, 200)),
                "kb_terms": ["refund"],
            }
        )
    )


def bare_round(tmp: Path, host: str, users: int, seconds: int, k: int) -> tuple[int, float]:
    prefix = tmp / f"bare{k}"
    _wall, cpu = run_locust(
        [
            "-f",
            str(REPO / "benchmarks" / "locust_bare.py"),
            "--host",
            host,
            "-u",
            str(users),
            "-r",
            "100",
            "-t",
            f"{seconds}s",
            "--csv",
            str(prefix),
        ],
        dict(os.environ),
        seconds,
    )
    stats = Path(f"{prefix}_stats.csv").read_text().splitlines()
    return int(next(line for line in stats if ",Aggregated," in line).split(",")[2]), cpu


def harness_round(tmp: Path, host: str, users: int, seconds: int, k: int) -> tuple[int, float]:
    scen = tmp / "scenario.yaml"
    scen.write_text(SCENARIO.replace("USERS", str(users)).replace("SECONDS", str(seconds)))
    data = tmp / "testdata.json"
    _testdata(data)
    run_dir = tmp / f"run{k}"
    env = dict(
        os.environ,
        CRMLOAD_SCENARIO=str(scen),
        CRMLOAD_RUN_DIR=str(run_dir),
        CRMLOAD_TESTDATA=str(data),
        PYTHONPATH=str(REPO),
    )
    _wall, cpu = run_locust(["-f", str(REPO / "loadtests" / "locustfile.py"), "--host", host], env, seconds)
    kinds = samplefiles.read_table(run_dir).column("kind").to_pylist()
    return sum(1 for k in kinds if k == "request"), cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    args = ap.parse_args()
    if not shutil.which("nginx"):
        raise SystemExit("needs nginx: apt-get install nginx")
    port = free_loopback_port()
    bare: list[float] = []
    harness: list[float] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        server = nginx(tmp, port)
        time.sleep(1)
        host = f"http://127.0.0.1:{port}"
        try:
            for k in range(args.rounds):  # alternate, so that drifts of the machine hit both alike
                n, cpu = bare_round(tmp, host, args.users, args.seconds, k)
                bare.append(n / cpu)
                n, cpu = harness_round(tmp, host, args.users, args.seconds, k)
                harness.append(n / cpu)
                print(f"round {k + 1}: bare {bare[-1]:,.0f}/core-s, harness {harness[-1]:,.0f}/core-s", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=10)
    b, h = statistics.median(bare), statistics.median(harness)
    ratios = sorted(x / y for x, y in zip(harness, bare, strict=True))
    print(
        f"| generator | requests/s per core, median of {args.rounds} | range |  ({args.users} users, "
        f"{args.seconds} s a round)"
    )
    print("|---|---:|---|")
    print(f"| bare Locust FastHttpUser, one GET | {b:,.0f} | {min(bare):,.0f}–{max(bare):,.0f} |")
    print(f"| crmload journeys + capture | {h:,.0f} | {min(harness):,.0f}–{max(harness):,.0f} |")
    print(
        f"harness / bare: {h / b * 100:.0f} % of medians (per-round ratios {ratios[0] * 100:.0f}–"
        f"{ratios[-1] * 100:.0f} %)"
    )


if __name__ == "__main__":
    main()
