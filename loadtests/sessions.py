"""Sessions on one target through one adapter, outside the load (the preflight, the audit and
``crmload adapter check``, each in a child process of its own), with what the CRM answered each request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from crmload.core.testdata import secrets_of
from crmload.loadtests.adapter import CrmAdapter
from crmload.loadtests.runtime import load_adapter
from crmload.loadtests.testdata import check_testdata


class TargetSessions:
    """Sessions on one target through one adapter, with what the CRM answered each request."""

    def __init__(self, adapter_spec: str, target: str, testdata_path: str) -> None:
        self.adapter_class = load_adapter(adapter_spec)
        self.target = target
        self.data = check_testdata(Path(testdata_path))
        self.env = Environment()
        self.seen: list[tuple[int, str | None]] = []
        self.env.events.request.add_listener(self._on_request)

    def _on_request(self, response: Any = None, exception: BaseException | None = None, **_kw: Any) -> None:
        status = getattr(response, "status_code", 0) or 0
        self.seen.append((status, None if exception is None else str(exception) or type(exception).__name__))

    def session(self, role: str) -> CrmAdapter:
        client = FastHttpSession(self.target, self.env.events.request, user=None, network_timeout=30.0,
                                 connection_timeout=5.0)  # fmt: skip
        adapter = self.adapter_class(client, {"persona": role, "journey": "preflight"})
        adapter.testdata = self.data
        return adapter

    def user(self, role: str) -> dict[str, Any] | None:
        return next((u for u in self.data["users"] if u.get("role") == role), None)

    def why(self, default: str) -> str:
        """The last request's failure: its status and what the CRM said (or the connection error)."""
        status, said = self.seen[-1] if self.seen else (0, None)
        reason = said or default
        if status and not reason.startswith("HTTP"):
            reason = f"HTTP {status}: {reason}"
        return reason

    def login(self, adapter: CrmAdapter, user: dict[str, Any]) -> bool:
        self.seen.clear()
        try:
            password, token = secrets_of(user)
            return bool(adapter.sign_in(str(user["username"]), password, token))
        except Exception as exc:  # an adapter's own error is reported, not raised
            self.seen[:] = [(0, f"{type(exc).__name__}: {exc}")]
            return False
