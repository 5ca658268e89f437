"""Shared fixtures: the real reference CRM on 127.0.0.1 with a free port, and HTTP clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmload.democrm.server import EmbeddedCRM


@pytest.fixture(scope="session")
def crm() -> Iterator[EmbeddedCRM]:
    with EmbeddedCRM(size="tiny") as server:
        yield server


class Api:
    """A logged-in client of the reference CRM."""

    def __init__(self, base_url: str, username: str | None, password: str | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.user_id: int | None = None
        if username is not None:
            r = self.http.post("/api/auth/login", json={"username": username, "password": password or f"{username}-pw"})
            assert r.status_code == 200, r.text
            self.http.headers["Authorization"] = f"Bearer {r.json()['token']}"
            self.user_id = r.json()["user_id"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)


@pytest.fixture(scope="session")
def api(crm: EmbeddedCRM) -> Iterator[Any]:
    clients: dict[str, Api] = {}

    def get(username: str | None) -> Api:
        key = username or ""
        if key not in clients:
            clients[key] = Api(crm.base_url, username)
        return clients[key]

    yield get
    for client in clients.values():
        client.http.close()
