"""Locust file added beside a benchmarked one (``-f theirs.py,benchmarks/locust_probe.py``): it
defines no users and measures the steady window the same way for every generator.

``PROBE_WARM`` seconds after the test starts it notes the process's CPU time (all threads), the
wall clock and Locust's request count; ``PROBE_WINDOW`` seconds later it notes them again and writes
both to ``PROBE_OUT`` (JSON), with each request's response time (ms) in the window when
``PROBE_LATENCIES`` is set. A greenlet that wakes twice costs the generator nothing measurable.
It also adds up the time the interpreter's cyclic garbage collector ran in the window, per
generation (``gc.callbacks``): time no per-function profile shows.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment

WARM = float(os.environ["PROBE_WARM"])
WINDOW = float(os.environ["PROBE_WINDOW"])
OUT = os.environ["PROBE_OUT"]
TIMES: list[float] | None = [] if os.environ.get("PROBE_LATENCIES") else None
_OPEN = [False]
_GC: dict[str, Any] = {"seconds": [0.0, 0.0, 0.0], "collections": [0, 0, 0], "started": 0.0}


def _gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _GC["started"] = time.perf_counter()
    elif _OPEN[0]:
        generation = int(info["generation"])
        _GC["seconds"][generation] += time.perf_counter() - _GC["started"]
        _GC["collections"][generation] += 1


gc.callbacks.append(_gc)


def _mark(env: Environment) -> dict[str, float]:
    return {"wall": time.perf_counter(), "cpu": time.process_time(), "requests": env.stats.total.num_requests}


def _watch(env: Environment) -> None:
    gevent.sleep(WARM)
    start = _mark(env)
    _OPEN[0] = True
    gevent.sleep(WINDOW)
    _OPEN[0] = False
    end = _mark(env)
    with open(OUT, "w") as fh:
        json.dump({"start": start, "end": end, "times_ms": TIMES, "gc": _GC}, fh)


@events.test_start.add_listener
def _start(environment: Environment, **_kw: Any) -> None:
    gevent.spawn(_watch, environment)


if TIMES is not None:

    @events.request.add_listener
    def _time(response_time: float, exception: Any, **_kw: Any) -> None:
        if _OPEN[0] and exception is None and TIMES is not None:
            TIMES.append(response_time)
