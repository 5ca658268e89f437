"""A plain Locust user sending crmload's requests: the like-with-like reference of
``generator_efficiency.py``.

``BENCH_REQUESTS`` (JSON, written by the benchmark's recording round) holds the requests crmload's
journeys sent, in order: method, path with its query string, the headers crmload set (its bearer
token, content type) and the body bytes. Each user replays them from its own starting point, so the
values vary as the journeys varied them, with ``FastHttpUser``'s own client and no journeys, no
response parsing and no capture; the name is the path with its numbers taken out (Locust's stats
group by it). ``BENCH_THINK``: seconds between requests (``constant``), 0 by default.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
from pathlib import Path

from locust import FastHttpUser, constant, task

_RECORDED = json.loads(Path(os.environ["BENCH_REQUESTS"]).read_text())
REQUESTS = [
    (
        r["method"],
        r["path"],
        re.sub(r"/\d+", "/{id}", r["path"].split("?", 1)[0]),
        base64.b64decode(r["body"]) if r["body"] else None,
        r["headers"],
    )
    for r in _RECORDED
]


class Plain(FastHttpUser):
    wait_time = constant(float(os.environ.get("BENCH_THINK", "0")))

    def on_start(self) -> None:
        self.next = random.randrange(len(REQUESTS))

    @task
    def send(self) -> None:
        method, path, name, body, headers = REQUESTS[self.next % len(REQUESTS)]
        self.next += 1
        self.client.request(method, path, name=name, data=body, headers=headers)
