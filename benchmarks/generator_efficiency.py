"""Benchmark: how many requests crmload's generator sends per CPU-second, against a plain Locust
user sending the same requests, and its p99 at a fixed rate beside that plain user's.

    python benchmarks/generator_efficiency.py [--rounds 5] [--seconds 30] [--users 20]
                                              [--latency-rounds 5] [--latency-seconds 60] [--think 0.17]

The target is nginx (``apt-get install nginx``): one worker on core 0 answering every path with one
canned JSON body, so it is never the bottleneck; every Locust process runs on core 1.

1. **Recording.** crmload's journeys (``loadtests/locustfile.py``: the reference adapter, zero think
   time, every persona but the bulk one) run for 10 s against a recording server that answers like
   nginx and keeps each request: method, path with its query string, the headers crmload set, the
   body.
2. **Throughput rounds**, three generators in turn each round: **plain** (``locust_plain.py``: a
   ``FastHttpUser`` replaying the recorded requests, each user from its own place in the record),
   **crmload** (the journeys, adapter and capture), **one GET** (``locust_bare.py``). Each runs
   ``--users`` users with no think time; ``locust_probe.py`` counts Locust's requests and the
   process's CPU time (all its threads) over the steady window only: from ``--warm`` seconds after
   the start for ``--seconds``. Efficiency = requests per CPU-second, crmload / plain, per round;
   the median and range of the per-round ratios are quoted.
3. **Latency rounds** at a fixed rate: crmload with ``--think`` seconds between steps (0.17 s:
   about 200 requests/s from 20 users), then the plain user paced to the rate crmload reached in
   that round (``constant(users / rate)``); p99 (nearest rank) of every successful request's
   response time in the window, as Locust's request event gives it to both.

The probe also reports the share of the window's CPU the cyclic garbage collector took. With
``BENCH_PROFILE_DIR=DIR`` (and ``pip install py-spy``) each generator runs under ``py-spy record
--nonblocking`` (Python frames; ``--native`` would pause the process at every sample) and leaves its
sampled stacks in DIR, one collapsed-stack file per process: for finding where the CPU goes, not for
figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(REPO))

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
  sales:     {weight: 4, think_time: [THINKs, THINKs]}
  service:   {weight: 3, think_time: [THINKs, THINKs]}
  marketing: {weight: 1, think_time: [THINKs, THINKs], options: {weight_bulk: 0}}
  manager:   {weight: 1, think_time: [THINKs, THINKs]}
stages:
  - {name: hold, users: USERS, spawn_rate: 100, duration: SECONDSs}
"""
# headers the HTTP client or Locust add by themselves (the plain user's client adds them too)
CLIENT_HEADERS = {"host", "content-length", "user-agent", "accept-encoding", "connection"}


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


class _Recorder(BaseHTTPRequestHandler):
    """Answers like the nginx target and keeps every request it is sent."""

    protocol_version = "HTTP/1.1"
    kept: ClassVar[list[dict[str, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in CLIENT_HEADERS}
        if len(self.kept) < 50_000:
            self.kept.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": headers,
                    "body": base64.b64encode(body).decode() if body else "",
                }
            )
        out = BODY.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Server-Timing", "app;dur=0.1")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *_args: Any) -> None:
        pass


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


class Bench:
    def __init__(self, tmp: Path, users: int, warm: float) -> None:
        self.tmp = tmp
        self.users = users
        self.warm = warm
        self.k = 0
        self.data = tmp / "testdata.json"
        _testdata(self.data)

    def _locust(self, files: list[Path], host: str, env: dict[str, str], window: float, latencies: bool) -> Any:
        self.k += 1
        out = self.tmp / f"probe{self.k}.json"
        env = dict(env, PROBE_OUT=str(out), PROBE_WARM=str(self.warm), PROBE_WINDOW=str(window), PYTHONPATH=str(REPO))
        if latencies:
            env["PROBE_LATENCIES"] = "1"
        argv = ["taskset", "-c", "1", sys.executable, "-m", "locust", "-f", ",".join(str(f) for f in files)]
        argv += ["--host", host, "--headless", "--only-summary", "--loglevel", "ERROR"]
        profiles = os.environ.get("BENCH_PROFILE_DIR")
        if profiles:  # sampled from outside (py-spy, without pausing it): where the CPU goes, not a figure
            stacks = Path(profiles) / f"{self.k:02d}-{files[0].stem}.txt"
            argv = ["py-spy", "record", "--nonblocking", "--format", "raw", "-o", str(stacks), "--", *argv]
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=600)
        return json.loads(out.read_text())

    def _users(self, window: float) -> dict[str, str]:
        """The environment of a plain Locust file: ``--users`` users for the round's length."""
        length = f"{self._length(window)}s"
        return dict(os.environ, LOCUST_USERS=str(self.users), LOCUST_SPAWN_RATE="100", LOCUST_RUN_TIME=length)

    def _length(self, window: float) -> int:
        """Seconds a round runs: the warm-up, the window and 2 s for the probe to write."""
        return math.ceil(self.warm + window + 2)

    def plain(self, host: str, window: float, think: float = 0.0, latencies: bool = False) -> Any:
        env = self._users(window) | {"BENCH_REQUESTS": str(self.tmp / "requests.json"), "BENCH_THINK": str(think)}
        files = [BENCH / "locust_plain.py", BENCH / "locust_probe.py"]
        return self._locust(files, host, env, window, latencies)

    def one_get(self, host: str, window: float) -> Any:
        files = [BENCH / "locust_bare.py", BENCH / "locust_probe.py"]
        return self._locust(files, host, self._users(window), window, False)

    def crmload(self, host: str, window: float, think: float = 0.0, latencies: bool = False) -> Any:
        scen = self.tmp / f"scenario{self.k + 1}.yaml"
        seconds = self._length(window)
        scen.write_text(
            SCENARIO.replace("USERS", str(self.users)).replace("SECONDS", str(seconds)).replace("THINK", f"{think:g}")
        )
        env = dict(
            os.environ,
            CRMLOAD_SCENARIO=str(scen),
            CRMLOAD_RUN_DIR=str(self.tmp / f"run{self.k + 1}"),
            CRMLOAD_TESTDATA=str(self.data),
        )
        files = [REPO / "loadtests" / "locustfile.py", BENCH / "locust_probe.py"]
        return self._locust(files, host, env, window, latencies)

    def record(self) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            self.crmload(f"http://127.0.0.1:{server.server_address[1]}", 10.0)
        finally:
            server.shutdown()
        (self.tmp / "requests.json").write_text(json.dumps(_Recorder.kept))
        return len(_Recorder.kept)


def per_cpu_s(probe: Any) -> float:
    s, e = probe["start"], probe["end"]
    return (e["requests"] - s["requests"]) / (e["cpu"] - s["cpu"])


def gc_share(probe: Any) -> float:
    """The share of the window's CPU time the cyclic garbage collector took (all generations)."""
    return float(sum(probe["gc"]["seconds"])) / (probe["end"]["cpu"] - probe["start"]["cpu"])


def rate(probe: Any) -> float:
    s, e = probe["start"], probe["end"]
    return (e["requests"] - s["requests"]) / (e["wall"] - s["wall"])


def p99(probe: Any) -> float:
    times = sorted(probe["times_ms"])
    return times[math.ceil(0.99 * len(times)) - 1]


def _med(xs: list[float], fmt: str) -> str:
    return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}–{max(xs):{fmt}})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="throughput rounds (plain, crmload, one GET each)")
    ap.add_argument("--seconds", type=float, default=30, help="steady window of a throughput round")
    ap.add_argument("--warm", type=float, default=5, help="seconds before the window opens")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--latency-rounds", type=int, default=5, help="paired latency rounds at --rate (0: none)")
    ap.add_argument("--latency-seconds", type=float, default=60)
    ap.add_argument("--think", type=float, default=0.17, help="crmload's think time in the latency rounds (s)")
    args = ap.parse_args()
    if not shutil.which("nginx"):
        raise SystemExit("needs nginx: apt-get install nginx")
    port = free_loopback_port()
    host = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        bench = Bench(tmp, args.users, args.warm)
        recorded = bench.record()
        print(f"recorded {recorded:,} requests of crmload's journeys", flush=True)
        server = nginx(tmp, port)
        time.sleep(1)
        rows: dict[str, list[float]] = {"plain": [], "crmload": [], "one GET": []}
        ratios: list[float] = []
        gc_shares: dict[str, list[float]] = {"plain": [], "crmload": [], "one GET": []}
        lat: dict[str, list[float]] = {"plain": [], "crmload": []}
        rates: dict[str, list[float]] = {"plain": [], "crmload": []}
        try:
            for k in range(args.rounds):
                for name, run in (("plain", bench.plain), ("crmload", bench.crmload), ("one GET", bench.one_get)):
                    probe = run(host, args.seconds)
                    rows[name].append(per_cpu_s(probe))
                    gc_shares[name].append(gc_share(probe))
                ratios.append(rows["crmload"][-1] / rows["plain"][-1])
                print(
                    f"round {k + 1}: "
                    + ", ".join(f"{n} {v[-1]:,.0f}/CPU-s (gc {gc_shares[n][-1]:.1%})" for n, v in rows.items())
                    + f"; crmload/plain {ratios[-1]:.2f}",
                    flush=True,
                )
            for k in range(args.latency_rounds):  # crmload first: the plain user is paced to its rate
                probe = bench.crmload(host, args.latency_seconds, args.think, True)
                lat["crmload"].append(p99(probe))
                rates["crmload"].append(rate(probe))
                probe = bench.plain(host, args.latency_seconds, args.users / rates["crmload"][-1], True)
                lat["plain"].append(p99(probe))
                rates["plain"].append(rate(probe))
                print(
                    f"latency round {k + 1}: p99 plain {lat['plain'][-1]:.2f} ms at {rates['plain'][-1]:.0f}/s,"
                    f" crmload {lat['crmload'][-1]:.2f} ms at {rates['crmload'][-1]:.0f}/s",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"\n{args.users} users, {args.rounds} rounds, {args.seconds:g} s windows after {args.warm:g} s\n")
    print("| generator | requests per CPU-second, median (range) | garbage collector's share of the CPU |")
    print("|---|---:|---:|")
    for name, v in rows.items():
        print(f"| {name} | {_med(v, ',.0f')} | {_med([100 * g for g in gc_shares[name]], '.1f')} % |")
    print(
        f"\ncrmload / plain: {_med(ratios, '.2f')}; crmload / one GET: "
        f"{statistics.median(rows['crmload']) / statistics.median(rows['one GET']):.2f} (medians)"
    )
    if args.latency_rounds:
        diffs = [c - p for c, p in zip(lat["crmload"], lat["plain"], strict=True)]
        print(
            f"\np99 at about {statistics.median(rates['plain']):.0f} requests/s, {args.latency_rounds} paired "
            f"rounds of {args.latency_seconds:g} s: plain {_med(lat['plain'], '.2f')} ms, crmload "
            f"{_med(lat['crmload'], '.2f')} ms; crmload − plain {_med(diffs, '+.2f')} ms"
        )


if __name__ == "__main__":
    main()
