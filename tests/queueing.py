"""Known answers from queueing theory for the capacity tests: a closed network of N users in front
of C servers of fixed service time S, simulated event by event.

Each user sends one request at a time; before a request it thinks with probability ``think_share``
(the journeys' think steps per request) for a time drawn uniformly from ``think``. A request waits
first come, first served for one of the C servers and holds it S seconds; its response time is the
wait plus S. Mean-value analysis would give the mean response time exactly; the capacity clauses
judge a p95, and with a fixed S the response time of a saturated system takes few values (the
position in the queue, in steps of S/C), so its p95 lies well above its mean: the simulation gives
the distribution, not only the mean.
"""

from __future__ import annotations

import heapq
import random


def simulated_p95(
    users: int,
    servers: int,
    service_s: float,
    think: tuple[float, float],
    think_share: float,
    seconds: float = 300.0,
    seed: int = 5,
) -> float:
    """The p95 response time (nearest rank) of the steady part of a simulated closed network."""
    rng = random.Random(seed)
    events: list[tuple[float, int, int]] = []  # (time, kind 0 arrival / 1 departure, user)
    for u in range(users):
        heapq.heappush(events, (rng.uniform(*think), 0, u))
    free, queue = servers, []  # waiting (user, arrival time)
    arrived: dict[int, float] = {}
    times: list[float] = []
    while events:
        t, kind, u = heapq.heappop(events)
        if t > seconds:
            break
        if kind == 0:
            arrived[u] = t
            if free:
                free -= 1
                heapq.heappush(events, (t + service_s, 1, u))
            else:
                queue.append(u)
            continue
        if t > seconds / 5:  # the first fifth is the warm-up
            times.append(t - arrived[u])
        if queue:
            heapq.heappush(events, (t + service_s, 1, queue.pop(0)))
        else:
            free += 1
        pause = rng.uniform(*think) if rng.random() < think_share else 0.0
        heapq.heappush(events, (t + pause, 0, u))
    times.sort()
    return times[max(0, int(0.95 * len(times) + 0.999999) - 1)]


def simulated_ceiling(
    servers: int, service_s: float, think: tuple[float, float], think_share: float, limit_s: float, top: int = 200
) -> int:
    """The most users whose simulated p95 stays under ``limit_s``."""
    best = 0
    for n in range(1, top + 1):
        if simulated_p95(n, servers, service_s, think, think_share) >= limit_s:
            break
        best = n
    return best
