"""What crmload asks of a target through its adapter outside the load, in a child process of its own
(Locust's HTTP client patches the process it runs in). Each prints one JSON object on its last line.

    python -m crmload.loadtests.preflight logins ADAPTER TARGET TESTDATA ROLE [ROLE ...]

is the preflight of every adapter: the adapter's :meth:`~CrmAdapter.check_target` once, then each role
the scenario needs logs in once; per role the user tried, whether the login succeeded and if not why
(the status and the CRM's own words, or the connection error), with the time it took.

    python -m crmload.loadtests.preflight readback ADAPTER TARGET TESTDATA RUN_DIR

and ``check`` (``crmload adapter check``, :mod:`crmload.loadtests.check`) is the third,
``collect`` (``crmload testdata build``: each user of the file signed in, its records collected through
:meth:`~CrmAdapter.collect_testdata`) the fourth.

is the lost-write audit (DATA-01): signed in as the adapter's ``readback_role``, the acknowledged writes
of ``RUN_DIR/writes.csv`` are read back through :meth:`~CrmAdapter.read_back` (``audit.json``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from crmload.core.audit import ReadBackFailed, run_audit
from crmload.core.errors import CrmloadError
from crmload.core.rundir import write_json_atomic
from crmload.loadtests.adapter import CrmAdapter, NotSupported
from crmload.loadtests.sessions import TargetSessions


def login_each_role(adapter_spec: str, target: str, testdata_path: str, roles: list[str]) -> dict[str, Any]:
    t = TargetSessions(adapter_spec, target, testdata_path)
    try:
        problem = t.session("preflight").check_target()
    except Exception as exc:  # an adapter's own error is reported, not raised
        problem = f"the adapter's check_target raised {type(exc).__name__}: {exc}"
    if problem:
        return {"target": problem}
    out: dict[str, Any] = {}
    for role in roles:
        user = t.user(role)
        if user is None:
            out[role] = {"user": None, "ok": False, "reason": f"the test data has no user with role {role!r}"}
            continue
        started = time.perf_counter()
        ok = t.login(t.session(role), user)
        took_ms = (time.perf_counter() - started) * 1000.0
        status = t.seen[-1][0] if t.seen else 0
        reason = None if ok else t.why("the adapter's login answered False")
        out[role] = {"user": user["username"], "ok": ok, "status": status, "reason": reason, "ms": round(took_ms, 1)}
    cls = t.adapter_class
    return {"roles": out, "supported": sorted(cls.supported_operations()), "lacks": dict(cls.lacks)}


def collect(adapter_spec: str, target: str, testdata_path: str) -> dict[str, Any]:
    """Each user of the file signed in once and asked what it works on (``crmload testdata build``)."""
    from crmload.core.testdata import COLLECTED_KEYS

    t = TargetSessions(adapter_spec, target, testdata_path)
    collected: dict[str, Any] = {}
    for user in t.data["users"]:
        who = f"{user['username']} ({user['role']})"
        adapter = t.session(str(user["role"]))
        if not t.login(adapter, user):
            why = t.why("its login answered False")
            return {"reason": f"{who} could not sign in: {why}"}
        try:
            got = adapter.collect_testdata()
        except NotSupported:
            return {"reason": f"{t.adapter_class.__name__} has no collect_testdata: it cannot list what a user owns"}
        except Exception as exc:  # an adapter's own error is reported, not raised
            return {"reason": f"collecting for {who}: {type(exc).__name__}: {exc}"}
        if got is None:
            return {"reason": f"collecting for {who} failed: {t.why('the adapter answered None')}"}
        unknown = set(got) - set(COLLECTED_KEYS) if isinstance(got, dict) else None
        if unknown is None or unknown or not all(isinstance(v, list) for v in got.values()):
            keys = ", ".join(COLLECTED_KEYS)
            said = f"{type(got).__name__} {sorted(unknown or [])}"
            return {"reason": f"collect_testdata for {who} answered {said}: a dict of lists under {keys}"}
        collected[str(user["username"])] = got
    return {"collected": collected}


def read_back(adapter_spec: str, target: str, testdata_path: str, run_dir: str) -> dict[str, Any]:
    """The lost-write audit through the adapter; ``audit.json`` is written, or its reason returned."""
    t = TargetSessions(adapter_spec, target, testdata_path)
    cls = t.adapter_class
    if getattr(cls.read_back, "__qualname__", "") == CrmAdapter.read_back.__qualname__:
        return {"reason": f"the adapter {adapter_spec} cannot read records back (it has no read_back)"}
    role = cls.readback_role
    user = t.user(role)
    if user is None:
        return {"reason": f"the test data has no user with role {role!r} to read records back with"}
    adapter = t.session(role)
    if not t.login(adapter, user):
        return {"reason": f"{role} ({user['username']}) could not log in to read records back: {t.why('refused')}"}

    raised: list[str] = []  # an adapter's own error: the audit's reason, not a traceback

    def read(entity: str, ids: list[int]) -> dict[int, dict[str, Any]] | None:
        t.seen.clear()
        try:
            return adapter.read_back(entity, ids)
        except NotSupported:
            return None
        except Exception as exc:
            raised.append(f"the adapter raised {type(exc).__name__}: {exc}")
            return None

    try:
        audit = run_audit(Path(run_dir), read, batch=max(1, int(cls.readback_batch)))
    except ReadBackFailed as exc:
        return {"reason": f"{exc}: {raised[-1] if raised else t.why('the adapter read nothing')}"}
    return {"checked": audit["checked"], "breaches": audit["breaches"]}


def main(argv: list[str]) -> int:
    command, adapter, target, testdata, *rest = argv
    try:
        if command == "logins":
            answer = login_each_role(adapter, target, testdata, rest)
        elif command == "check":  # crmload adapter check (crmload.loadtests.check builds on this module)
            from crmload.loadtests.check import check

            answer = check(adapter, target, testdata)
        elif command == "collect":
            answer = collect(adapter, target, testdata)
        else:
            answer = read_back(adapter, target, testdata, rest[0])
            if "reason" in answer:
                write_json_atomic(Path(rest[0]) / "audit.json", {"checked": 0, "reason": answer["reason"]})
        print(json.dumps(answer, default=str))
    except CrmloadError as exc:
        print(json.dumps({"error": str(exc)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
