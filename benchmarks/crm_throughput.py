"""Benchmark: requests/s and p50/p99 of the reference CRM for customer.view, customer.search and
ticket.create, one server process on core 0 and Locust (FastHttpUser, 32 users, no think time)
on core 1, at the default data size.

    python benchmarks/crm_throughput.py [--seconds 20] [--users 32]

Percentiles are exact (nearest rank) over every successful response of the measured window.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crmload.safety import free_loopback_port  # noqa: E402


def pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[max(1, math.ceil(p / 100 * len(sorted_ms))) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=32)
    ap.add_argument("--size", default="default")
    args = ap.parse_args()
    port = free_loopback_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [
                "taskset",
                "-c",
                "0",
                sys.executable,
                "-m",
                "crmload.cli",
                "demo-crm",
                "--port",
                str(port),
                "--size",
                args.size,
                "--data-dir",
                tmp,
            ],
            cwd=REPO,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(base + "/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.25)
            print(
                f"| operation | requests/s | p50 ms | p99 ms | samples |  (server core 0, Locust core 1, "
                f"{args.users} users, {args.seconds} s, size {args.size})"
            )
            print("|---|---:|---:|---:|---:|")
            for op in ("customer.view", "customer.search", "ticket.create"):
                out = Path(tmp) / f"{op}.json"
                env = dict(os.environ, BENCH_OP=op, BENCH_OUT=str(out), BENCH_TESTDATA=str(Path(tmp) / "testdata.json"))
                subprocess.run(
                    [
                        "taskset",
                        "-c",
                        "1",
                        sys.executable,
                        "-m",
                        "locust",
                        "-f",
                        str(REPO / "benchmarks" / "locust_crm.py"),
                        "--headless",
                        "--host",
                        base,
                        "-u",
                        str(args.users),
                        "-r",
                        str(args.users),
                        "-t",
                        f"{args.seconds}s",
                        "--only-summary",
                        "--loglevel",
                        "ERROR",
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                data = json.loads(out.read_text())
                times = sorted(data["times_ms"])
                rps = len(times) / data["seconds"]
                print(
                    f"| {op} | {rps:,.0f} | {pct(times, 50):.1f} | {pct(times, 99):.1f} | {len(times):,} |", flush=True
                )
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
