"""The preflight of any adapter: each role the scenario needs logs in once, through the adapter and
Locust's own HTTP client, before any load. Run in a child process by ``crmload run`` (Locust's client
patches the process it runs in):

    python -m crmload.loadtests.preflight ADAPTER TARGET TESTDATA ROLE [ROLE ...]

prints one JSON object: per role, the user tried, whether the login succeeded, and if not why (the
status and the CRM's own words, or the connection error), with the time it took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from crmload.core.errors import CrmloadError
from crmload.core.testdata import password_of
from crmload.loadtests.runtime import load_adapter
from crmload.loadtests.testdata import check_testdata


def login_each_role(adapter_spec: str, target: str, testdata_path: str, roles: list[str]) -> dict[str, Any]:
    adapter_class = load_adapter(adapter_spec)
    data = check_testdata(Path(testdata_path))
    env = Environment()
    seen: list[tuple[int, str | None]] = []

    def on_request(response: Any = None, exception: BaseException | None = None, **_kw: Any) -> None:
        status = getattr(response, "status_code", 0) or 0
        seen.append((status, None if exception is None else str(exception) or type(exception).__name__))

    env.events.request.add_listener(on_request)
    out: dict[str, Any] = {}
    for role in roles:
        user = next((u for u in data["users"] if u.get("role") == role), None)
        if user is None:
            out[role] = {"user": None, "ok": False, "reason": f"the test data has no user with role {role!r}"}
            continue
        session = FastHttpSession(target, env.events.request, user=None, network_timeout=10.0, connection_timeout=5.0)
        adapter = adapter_class(session, {"persona": role, "journey": "preflight"})
        seen.clear()
        started = time.perf_counter()
        try:
            ok = bool(adapter.login(str(user["username"]), password_of(str(user["password"]))))
        except Exception as exc:  # an adapter's own error is reported, not raised
            ok, seen[:] = False, [(0, f"{type(exc).__name__}: {exc}")]
        took_ms = (time.perf_counter() - started) * 1000.0
        status, said = seen[-1] if seen else (0, None)
        reason = None
        if not ok:
            reason = said or "the adapter's login answered False"
            if status and not reason.startswith("HTTP"):
                reason = f"HTTP {status}: {reason}"
        out[role] = {"user": user["username"], "ok": ok, "status": status, "reason": reason, "ms": round(took_ms, 1)}
    return out


def main(argv: list[str]) -> int:
    adapter, target, testdata, *roles = argv
    try:
        print(json.dumps({"roles": login_each_role(adapter, target, testdata, roles)}))
    except CrmloadError as exc:
        print(json.dumps({"error": str(exc)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
