"""``crmload adapter check``: each operation the adapter declares, called once against the target, as the
role whose journeys call it, with arguments from the test data (and from what earlier calls created):
what answered, how fast, in what shape, and whether the answer holds what the journeys read from it.

Run in a child process (Locust's HTTP client patches the process it runs in):

    python -m crmload.loadtests.preflight check ADAPTER TARGET TESTDATA

prints one JSON object: ``{"rows": [...]}`` (one per canonical operation) or ``{"error": ...}``.
It writes to the CRM (a lead, a customer, a ticket...): check a test instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from crmload.core.operations import OPERATIONS, PERSONAS
from crmload.core.personas import JOURNEYS, journey_operations
from crmload.loadtests.adapter import CrmAdapter, NotSupported
from crmload.loadtests.sessions import TargetSessions

Args = Callable[["_Check"], tuple[Any, ...] | None]


def shape(answer: Any, depth: int = 0) -> str:
    """A short picture of a JSON answer: ``{id, name, results[25]: {id, name}}``."""
    if isinstance(answer, dict):
        if depth > 1:
            return "{…}"
        parts = []
        for k, v in list(answer.items())[:8]:
            parts.append(f"{k}{shape(v, depth + 1)}" if isinstance(v, list | dict) else str(k))
        return "{" + ", ".join(parts) + (", …" if len(answer) > 8 else "") + "}"
    if isinstance(answer, list):
        inner = shape(answer[0], depth + 1) if answer and isinstance(answer[0], dict | list) else ""
        return f"[{len(answer)}]" + (f": {inner}" if inner else "")
    if isinstance(answer, bytes):
        return f"{len(answer)} bytes"
    return type(answer).__name__


def missing_reads(operation: str, answer: Any) -> list[str]:
    """The fields the journeys read from ``operation``'s answer (``Operation.reads``) that it lacks."""
    out = []
    for read in OPERATIONS[operation].reads:
        head, _, field = read.partition("[].")
        value = answer.get(head) if isinstance(answer, dict) else None
        if field:  # results[].id: a list whose items have the field (an empty list cannot say)
            ok = isinstance(value, list) and all(isinstance(i, dict) and field in i for i in value[:1])
        else:
            ok = value is not None
        if not ok:
            out.append(read)
    return out


class _Check:
    """Arguments for each operation, from the test data and what earlier calls made."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.made: dict[str, Any] = {}
        self.tag = f"check-{int(time.time())}"
        self.user = ""  # the calling user's username

    def first(self, key: str) -> Any:
        items = self.data.get(key) or []
        return items[0] if items else None

    def owned(self, key: str) -> Any:
        """The first record of ``key`` the calling user owns (else anyone's)."""
        by_owner = self.data.get(key) or {}
        for items in [by_owner.get(self.user) or [], *by_owner.values()]:
            if items:
                return items[0]
        return None

    def account(self) -> Any:
        return self.made.get("account_id") or self.owned("accounts_by_owner") or self.first("account_ids")

    def ticket(self) -> Any:
        return self.made.get("ticket_id") or self.first("open_ticket_ids")


def _record(c: _Check, kind: str) -> dict[str, Any]:
    return {"name": f"Check {kind} {c.tag}", "company": f"Check Co {c.tag}", "email": f"{kind}.{c.tag}@check.example",
            "phone": "+15550000000", "source": "call"}  # fmt: skip


def _name_key(c: _Check) -> tuple[Any, ...] | None:
    by_owner = c.data.get("search_keys_by_owner") or {}
    for keys in [by_owner.get(c.user) or [], *by_owner.values()]:
        if keys:
            return (keys[0][0], "name")
    name = c.first("search_names")
    return None if name is None else (name, "name")


# operation -> its arguments (None: the test data has nothing to call it with)
ARGS: dict[str, Args] = {
    "customer.search": _name_key,
    "customer.view": lambda c: None if c.account() is None else (c.account(),),
    "customer.create": lambda c: (_record(c, "customer"),),
    "customer.update": lambda c: None if c.account() is None else (c.account(), {"city": "Lisbon"}),
    "contact.create": lambda c: None if c.account() is None else (
        {"account_id": c.account(), "first_name": "Sam", "last_name": c.tag, "email": f"sam.{c.tag}@check.example"},),
    "lead.create": lambda c: (_record(c, "lead"),),
    "lead.convert": lambda c: None if c.made.get("lead_id") is None else (c.made["lead_id"],),
    "opportunity.list": lambda c: (1, 25),
    "opportunity.view": lambda c: None if c.owned("opportunities_by_owner") is None else (
        c.owned("opportunities_by_owner"),),
    "opportunity.create": lambda c: None if c.account() is None else (
        {"account_id": c.account(), "name": f"Check deal {c.tag}", "amount": 1000.0},),
    "opportunity.update_stage": lambda c: None if (c.made.get("opportunity_id") or c.owned("opportunities_by_owner"))
    is None else (c.made.get("opportunity_id") or c.owned("opportunities_by_owner"), "qualification"),
    "activity.log": lambda c: None if c.account() is None else (c.account(), "call", f"Check call {c.tag}"),
    "ticket.queue": lambda c: ("open", 1),
    # on a customer of the test data, as the service journeys do (the one a sales rep just created may be
    # closed to a service agent: a CRM with per-owner records refuses it)
    "ticket.create": lambda c: None
    if (a := c.first("account_ids") or c.account()) is None
    else (a, f"Check ticket {c.tag}", "normal"),
    "ticket.view": lambda c: None if c.ticket() is None else (c.ticket(),),
    "ticket.comment": lambda c: None if c.ticket() is None else (c.ticket(), f"Check comment {c.tag}"),
    "ticket.assign": lambda c: None if c.ticket() is None or not _user_id(c) else (c.ticket(), _user_id(c)),
    "ticket.resolve": lambda c: None if c.ticket() is None else (c.ticket(),),
    "service.history": lambda c: None if c.account() is None else (c.account(),),
    "kb.search": lambda c: (str(c.first("kb_terms") or "refund").split()[0],),
    "survey.submit": lambda c: None if c.ticket() is None else (c.ticket(), 5, "check"),
    "segment.preview": lambda c: ({"city": "Porto"},),
    "campaign.create": lambda c: (f"Check campaign {c.tag}", {"city": "Porto"}, "email"),
    "campaign.launch": lambda c: None if c.made.get("campaign_id") is None else (c.made["campaign_id"],),
    "campaign.report": lambda c: None if c.made.get("campaign_id") is None else (c.made["campaign_id"],),
    "import.bulk": lambda c: (f"name,company,email\nCheck,Check Co {c.tag},imp.{c.tag}@check.example\n",),
    "export.bulk": lambda c: ("contacts", 100),
    "report.pipeline": lambda c: (),
    "report.service": lambda c: (),
    "report.campaign": lambda c: (),
    "order.sync": lambda c: ([{"external_id": f"ord-{c.tag}", "amount": 10.0, "currency": "EUR", "status": "paid"}],),
    "webform.submit": lambda c: (
        {"name": "Web Visitor", "company": f"Web Co {c.tag}", "email": f"w.{c.tag}@check.example"},),
}  # fmt: skip
# what an answer adds for later calls: operation -> (made key, answer field)
MAKES = {
    "lead.create": ("lead_id", "id"),
    "lead.convert": ("account_id", "account_id"),
    "opportunity.create": ("opportunity_id", "id"),
    "ticket.create": ("ticket_id", "id"),
    "campaign.create": ("campaign_id", "id"),
}


def _user_id(c: _Check) -> Any:
    return next((u.get("id") for u in c.data.get("users", []) if u.get("role") == "service" and u.get("id")), None)


def role_of(operation: str) -> str:
    """The role whose journeys call ``operation`` (the first persona's, in the personas' order)."""
    for persona, journeys in JOURNEYS.items():
        if any(operation in journey_operations(j) for j in journeys):
            return PERSONAS[persona].role
    return "admin"


def check(adapter_spec: str, target: str, testdata_path: str) -> dict[str, Any]:
    t = TargetSessions(adapter_spec, target, testdata_path)
    problem = t.session("check").check_target()
    if problem:
        return {"target": problem}
    cls = t.adapter_class
    supported = cls.supported_operations()
    c = _Check(t.data)
    sessions: dict[str, CrmAdapter | str] = {}
    rows: list[dict[str, Any]] = []
    for op in OPERATIONS:
        if op == "auth.login":
            continue
        row: dict[str, Any] = {"operation": op, "role": role_of(op)}
        rows.append(row)
        if op not in supported:
            row["result"] = "not declared" + (f": {cls.lacks[op]}" if op in cls.lacks else "")
            continue
        adapter = _session(t, sessions, row["role"])
        if isinstance(adapter, str):
            row["result"] = adapter
            continue
        c.user = str((t.user(row["role"]) or {}).get("username", ""))
        args = ARGS[op](c)
        if args is None:
            row["result"] = "not called: the test data has nothing to call it with"
            continue
        t.seen.clear()
        started = time.perf_counter()
        try:
            answer = getattr(adapter, op.replace(".", "_", 1))(*args)
        except NotSupported:
            answer, row["result"] = None, "not supported"
        except Exception as exc:  # an adapter's own error is reported, not raised
            answer, row["result"] = None, f"the adapter raised {type(exc).__name__}: {exc}"
        row["ms"] = round((time.perf_counter() - started) * 1000.0, 1)
        row["requests"] = len(t.seen)
        row["status"] = t.seen[-1][0] if t.seen else 0
        if "result" in row:
            continue
        if answer is None:
            row["result"] = f"failed: {t.why('the adapter answered None')}"
            continue
        row["shape"] = shape(answer)
        lacking = missing_reads(op, answer)
        row["result"] = "ok" if not lacking else f"answered without {', '.join(lacking)} (the journeys read it)"
        if op in MAKES and isinstance(answer, dict) and answer.get(MAKES[op][1]) is not None:
            c.made[MAKES[op][0]] = answer[MAKES[op][1]]
    return {"rows": rows, "adapter": adapter_spec, "supported": len(supported)}


def _session(t: TargetSessions, sessions: dict[str, CrmAdapter | str], role: str) -> CrmAdapter | str:
    """A signed-in adapter for ``role`` (once per role), or why there is none."""
    if role not in sessions:
        user = t.user(role)
        if user is None:
            sessions[role] = f"not called: the test data has no user with role {role!r}"
        else:
            adapter = t.session(role)
            ok = t.login(adapter, user)
            sessions[role] = (
                adapter if ok else f"not called: {role} ({user['username']}) could not log in: {t.why('refused')}"
            )
    return sessions[role]
