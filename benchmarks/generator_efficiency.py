"""Benchmark: requests/s per load-generator core — crmload's journeys plus raw capture against bare
Locust (one FastHttpUser, one GET), both against the same static nginx endpoint.

    python benchmarks/generator_efficiency.py [--seconds 20] [--users 20]

nginx (``apt-get install nginx``) runs one worker on core 0 and answers every path with one canned
JSON body, so the target is never the bottleneck; Locust runs on core 1. Requests/s per core =
requests recorded / seconds / (CPU seconds the Locust process used / seconds). The harness side
runs the real journeys, adapter and capture (``loadtests/locustfile.py``, zero think time) and
counts the request rows of its ``samples.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
BODY = json.dumps({"token": "t", "user_id": 1, "role": "sales", "id": 1, "account_id": 1, "results": [{"id": 1}],
                   "items": [{"id": 1}], "stage": "prospecting", "count": 1})
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    proc = psutil.Popen(["taskset", "-c", "1", sys.executable, "-m", "locust", *args, "--headless", "--only-summary",
                         "--loglevel", "ERROR"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=20)
    args = ap.parse_args()
    if not shutil.which("nginx"):
        raise SystemExit("needs nginx: apt-get install nginx")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        server = nginx(tmp, port)
        time.sleep(1)
        host = f"http://127.0.0.1:{port}"
        try:
            stats = tmp / "bare"
            _wall, cpu = run_locust(["-f", str(REPO / "benchmarks" / "locust_bare.py"), "--host", host, "-u",
                                     str(args.users), "-r", "100", "-t", f"{args.seconds}s", "--csv", str(stats)],
                                    dict(os.environ), args.seconds)
            bare_n = int(next(line for line in (tmp / "bare_stats.csv").read_text().splitlines()
                              if ",Aggregated," in line).split(",")[2])
            bare = bare_n / cpu
            scen = tmp / "scenario.yaml"
            scen.write_text(SCENARIO.replace("USERS", str(args.users)).replace("SECONDS", str(args.seconds)))
            data = tmp / "testdata.json"
            data.write_text(json.dumps({
                "users": [{"username": f"{r}{i}", "password": "x", "role": r} for r in
                          ("sales", "service", "marketing", "manager") for i in range(5)],
                "accounts_by_owner": {f"sales{i}": [1, 2, 3] for i in range(5)},
                "search_keys_by_owner": {f"sales{i}": [["Apex", "+1", "a@b.c"]] for i in range(5)},
                "opportunities_by_owner": {f"sales{i}": [1, 2] for i in range(5)},
                "search_phones": ["+1"], "account_ids": [1, 2, 3], "open_ticket_ids": list(range(1, 200)),
                "kb_terms": ["refund"]}))
            run_dir = tmp / "run"
            env = dict(os.environ, CRMLOAD_SCENARIO=str(scen), CRMLOAD_RUN_DIR=str(run_dir),
                       CRMLOAD_TESTDATA=str(data), PYTHONPATH=str(REPO))
            _wall, cpu_h = run_locust(["-f", str(REPO / "loadtests" / "locustfile.py"), "--host", host], env,
                                      args.seconds)
            rows = (run_dir / "samples.csv").read_text().splitlines()
            harness_n = sum(1 for r in rows if ",request," in r)
            harness = harness_n / cpu_h
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"| generator | requests | CPU s | requests/s per core |  ({args.users} users, {args.seconds} s)")
    print("|---|---:|---:|---:|")
    print(f"| bare Locust FastHttpUser, one GET | {bare_n:,} | {cpu:.1f} | {bare:,.0f} |")
    print(f"| crmload journeys + capture | {harness_n:,} | {cpu_h:.1f} | {harness:,.0f} |")
    print(f"harness / bare: {harness / bare * 100:.0f} %")


if __name__ == "__main__":
    main()
