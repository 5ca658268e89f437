"""Locust file of the reference-CRM throughput benchmark (run by ``crm_throughput.py``)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task

OP = os.environ["BENCH_OP"]
OUT = os.environ["BENCH_OUT"]
DATA = json.loads(Path(os.environ["BENCH_TESTDATA"]).read_text())
TIMES: list[float] = []
T: dict[str, float] = {}


@events.request.add_listener
def _record(response_time: float, exception: Any, **_kw: Any) -> None:
    if exception is None:
        TIMES.append(response_time)


@events.test_start.add_listener
def _start(**_kw: Any) -> None:
    T["start"] = time.time()


@events.quitting.add_listener
def _dump(**_kw: Any) -> None:
    with open(OUT, "w") as fh:
        json.dump({"times_ms": TIMES, "seconds": time.time() - T.get("start", time.time())}, fh)


class Bench(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        role = "service" if OP == "ticket.create" else "manager"
        user = next(u for u in DATA["users"] if u["role"] == role)
        r = self.client.post("/api/auth/login", json={"username": user["username"], "password": user["password"]})
        self.client.auth_header = f"Bearer {r.json()['token']}"
        self.accounts = DATA["account_ids"]
        self.names = DATA["search_names"]

    @task
    def op(self) -> None:
        if OP == "customer.view":
            self.client.get(f"/api/customers/{random.choice(self.accounts)}", name=OP)
        elif OP == "customer.search":
            self.client.get("/api/customers/search", params={"q": random.choice(self.names)}, name=OP)
        else:
            self.client.post(
                "/api/tickets", json={"account_id": random.choice(self.accounts), "subject": "Bench"}, name=OP
            )
