"""Adapter for BottleCRM (PyPI ``django-crm`` 1.35, its Django REST API), signed in with personal
access tokens (``Authorization: Bearer bcrm_pat_...``). The target is the API's origin:
``--target http://127.0.0.1:8000``. Record ids are UUIDs.

How the canonical operations map (the paths BottleCRM's own web app calls, ``crm/urls.py``):

| operation | BottleCRM |
|---|---|
| auth.login | the token, checked with ``GET /api/profile/`` (a bad token answers 403) |
| customer.search | by name ``GET /api/accounts/?name=``; by phone or e-mail ``GET /api/contacts/?phone=`` |
| | (``?email=``): the accounts of the matching contacts |
| customer.view / create / update | ``/api/accounts/`` (``GET``, ``POST``, ``PATCH <id>/``) |
| contact.create | ``POST /api/contacts/`` with the account |
| lead.create / lead.convert | ``POST /api/leads/`` / ``PATCH /api/leads/<id>/ {"status": "converted"}`` |
| opportunity.list / view / create / update_stage | ``/api/opportunities/``; stages ``PROSPECTING`` ... ``CLOSED_WON`` |
| activity.log | ``POST /api/interactions/`` (a call, e-mail or meeting on the account) |
| ticket.queue / create / view / assign / resolve | ``/api/cases/`` (resolve: status ``Closed``) |
| ticket.comment | ``POST /api/cases/<id>/ {"comment": ...}`` |
| service.history | ``GET /api/cases/?account=`` |
| kb.search | ``GET /api/cases/solutions/?search=`` |
| report.pipeline / report.service | ``GET /api/opportunities/kanban/`` / ``GET /api/cases/analytics/service/`` |
| webform.submit | the integration user's lead webhook, ``POST /api/public/leads/<intake>/`` with its key |

What BottleCRM answers for a record the caller may not open is a 404, the same as for a missing id
("a hidden account is the same 404 as a missing one", ``accounts/access.py``; likewise deals and
cases): a probe of a record the test data knows to exist reads that 404 as the denial. Its access
matrix (:attr:`BottleCRM.access_rules`) is the one its source states: a USER opens only the records it
created or is assigned, an ADMIN all of its organisation's, and no one another organisation's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from locust.contrib.fasthttp import FastResponse

from crmload.core.operations import AccessRule
from crmload.loadtests.adapter import Answer, CrmAdapter

_OWN = (
    "django-crm 1.35 {}: a USER opens the records it created or is assigned, an ADMIN every record of "
    "its organisation; any other answers 404, like a missing id"
)
_TENANT = (
    "django-crm 1.35 common/rls and the GetProfileAndOrg middleware: every row is filtered by the "
    "token's organisation (PostgreSQL row-level security); another organisation's record is a 404"
)
_STAGES = {
    "prospecting": "PROSPECTING",
    "qualification": "QUALIFICATION",
    "proposal": "PROPOSAL",
    "negotiation": "NEGOTIATION",
    "won": "CLOSED_WON",
    "lost": "CLOSED_LOST",
}
_CANONICAL_STAGE = {v: k for k, v in _STAGES.items()}
_RECORD_OPERATIONS = frozenset(
    {"customer.view", "opportunity.view", "opportunity.update_stage", "ticket.view", "ticket.comment"}
)


def _deal(o: dict[str, Any]) -> dict[str, Any]:
    """A BottleCRM deal as the journeys read an opportunity (crmload's stage names)."""
    account = o.get("account")
    return {
        "id": o.get("id"),
        "name": o.get("name"),
        "stage": _canonical_stage(o.get("stage")),
        "account_id": account.get("id") if isinstance(account, dict) else account,
        "amount": o.get("amount"),
    }


def _opportunity_fields(d: dict[str, Any]) -> dict[str, Any]:
    deal = _deal(d["opportunity_obj"])
    return {"name": deal["name"], "stage": deal["stage"]}


def _ticket_fields(d: dict[str, Any]) -> dict[str, Any]:
    c = d["cases_obj"]
    return {"subject": c.get("name"), "status": "resolved" if c.get("status") == "Closed" else c.get("status")}


# the entities read back by id: the detail page, and the acknowledged fields under their canonical names
_DETAIL: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "accounts": ("/api/accounts/{}/", lambda d: {k: d["account_obj"].get(k) for k in ("name", "city")}),
    "leads": ("/api/leads/{}/", lambda d: {"company": d["lead_obj"].get("company_name")}),
    "contacts": ("/api/contacts/{}/", lambda d: {"email": d["contact_obj"].get("email")}),
    "opportunities": ("/api/opportunities/{}/", _opportunity_fields),
    "tickets": ("/api/cases/{}/", _ticket_fields),
}


def _absent(answer: Any) -> bool | None:
    """What a read-back answer that is no record means: None (a 404) the record is not there, anything
    else (a failed request, an answer of another shape) the read failed."""
    return None if answer is None else False


def _canonical_stage(stage: Any) -> str | None:
    return _CANONICAL_STAGE.get(str(stage), str(stage).lower() if stage else None)


class BottleCRM(CrmAdapter):
    name = "bottlecrm"
    readback_role = "admin"
    readback_batch = 50
    access_rules: ClassVar[tuple[AccessRule, ...]] = (
        AccessRule("sales", "customer.view", "others", _OWN.format("accounts/access.py")),
        AccessRule("sales", "opportunity.view", "others", _OWN.format("opportunity/access.py")),
        AccessRule("sales", "opportunity.update_stage", "others", _OWN.format("opportunity/access.py")),
        *(
            AccessRule(role, op, "tenant", _TENANT)
            for role in ("sales", "service", "manager")
            for op in ("customer.view", "opportunity.view")
        ),
    )
    lacks: ClassVar[dict[str, str]] = {
        "survey.submit": "BottleCRM's CSAT surveys are answered by the customer through an e-mailed link",
        "segment.preview": "BottleCRM has no marketing segments",
        "campaign.create": "BottleCRM has no campaigns",
        "campaign.launch": "BottleCRM has no campaigns",
        "campaign.report": "BottleCRM has no campaigns",
        "report.campaign": "BottleCRM has no campaigns",
        "import.bulk": "BottleCRM's CSV import is a two-step upload (preview, commit) not mapped here",
        "export.bulk": "BottleCRM's exports are not mapped here",
        "order.sync": "BottleCRM's orders have no batch intake from a shop",
    }

    def __init__(self, client: Any, context: dict[str, Any]) -> None:
        super().__init__(client, context)
        self.username = ""
        self.profile_id: str | None = None  # the membership (assignments name it)
        self.user_id: str | None = None  # the person (created_by names it)

    # -- session ----------------------------------------------------------------------------------
    def login_with_token(self, username: str, token: str) -> bool:
        """The token checked with one read every member may make, named ``auth.login``."""
        self.username = username
        self.client.auth_header = f"Bearer {token}"
        me = self.call("auth.login", "GET", "/api/profile/", expect=(200,))
        if not isinstance(me, dict):
            return False
        profile = me.get("user_obj") if isinstance(me.get("user_obj"), dict) else me
        self.profile_id = str(profile.get("id")) if isinstance(profile, dict) and profile.get("id") else None
        details = profile.get("user_details") if isinstance(profile, dict) else None
        self.user_id = str(details.get("id")) if isinstance(details, dict) and details.get("id") else None
        return True

    def check_target(self) -> str | None:
        r = self.client.get("/healthz/", name="preflight.health")
        if r.status_code == 200 and b"healthz" in (r.content or b""):
            return None
        return f"answers HTTP but not as BottleCRM (GET /healthz/ gave {r.status_code})"

    def check_failed(self, operation: str, response: FastResponse) -> str | None:
        body = response.content or b""
        if body[:14] == b'{"error":true,' or body[:15] == b'{"error": true,':
            return f"answer carries an error: {body[:160].decode('utf-8', 'replace')}"
        return None

    def probe_verdict(self, operation: str, response: FastResponse) -> bool | None:
        # a record the test data knows to exist, answered 404: BottleCRM's denial (it never says 403 for a
        # hidden record, so as not to confirm that the id exists)
        if response.status_code == 404 and operation in _RECORD_OPERATIONS:
            return True
        return super().probe_verdict(operation, response)

    # -- crmload testdata build --------------------------------------------------------------------
    def collect_testdata(self) -> dict[str, list[Any]]:
        """The accounts and deals this user created (BottleCRM's owner: ``created_by``), with each
        account's name, phone and e-mail, and the open cases it may work (its visible ``New`` cases)."""
        mine = [
            a for a in self._pages("/api/accounts/", lambda d: d["active_accounts"]["open_accounts"]) if self._own(a)
        ]
        deals = [o for o in self._pages("/api/opportunities/", lambda d: d["opportunities"]) if self._own(o)]
        cases = self._pages("/api/cases/", lambda d: d["cases"], status="New")
        return {
            "accounts": [a["id"] for a in mine],
            "search_keys": [[a.get("name"), a.get("phone"), a.get("email")] for a in mine],
            "opportunities": [o["id"] for o in deals],
            "open_tickets": [c["id"] for c in cases],
        }

    def _own(self, row: dict[str, Any]) -> bool:
        by = row.get("created_by")
        return self.user_id is not None and isinstance(by, dict) and str(by.get("id")) == self.user_id

    def _pages(self, path: str, rows_of: Any, **params: Any) -> list[dict[str, Any]]:
        """Every row of a BottleCRM list (limit and offset), as this user sees it."""
        out: list[dict[str, Any]] = []
        while True:
            d = self.call("testdata.collect", "GET", path, params={**params, "limit": 100, "offset": len(out)})
            if not isinstance(d, dict):
                raise RuntimeError(f"GET {path} failed")
            rows = list(rows_of(d))
            out.extend(rows)
            if len(rows) < 100:
                return out

    # -- the audit --------------------------------------------------------------------------------
    def read_back(self, entity: str, ids: list[Any]) -> dict[Any, dict[str, Any]] | None:
        found: dict[Any, dict[str, Any]] = {}
        for rid in ids:
            row = self._read_one(entity, str(rid))
            if row is False:
                return None  # the read failed: the audit stops, nothing is counted lost
            if isinstance(row, dict):
                found[rid] = row
        return found

    def _get(self, path: str, **params: Any) -> Any:
        """A read-back GET: the answer, None for a 404 (the record is not there), False when it failed."""
        with self.client.request("GET", path, name="audit.read_back", params=params or None, catch_response=True) as r:
            status = r.status_code
            r.success()
        if status == 404:
            return None
        if status != 200:
            return False
        try:
            return r.json()
        except ValueError:
            return False

    def _read_one(self, entity: str, rid: str) -> dict[str, Any] | bool | None:
        if entity in _DETAIL:  # a record read by its id
            path, fields = _DETAIL[entity]
            d = self._get(path.format(rid))
            return fields(d) if isinstance(d, dict) else _absent(d)
        if entity in ("ticket_comments", "activities"):  # composite ids: <the record it is on>:<its own id>
            home, _, own = rid.partition(":")
            if entity == "ticket_comments":
                d = self._get(f"/api/cases/{home}/")
                rows = d.get("comments", []) if isinstance(d, dict) else d
                field, key = "body", "comment"
            else:
                d = self._get("/api/interactions/", account=home, limit=200)
                rows = d.get("interactions", []) if isinstance(d, dict) else d
                field, key = "subject", "subject"
            if not isinstance(rows, list):
                return _absent(rows)
            mine = next((r for r in rows if str(r.get("id")) == own), None)
            return None if mine is None else {field: mine.get(key)}
        return False  # an entity this adapter never acknowledges

    # -- customers --------------------------------------------------------------------------------
    def customer_search(self, q: str, by: str = "name") -> Answer:
        if by == "name":
            d = self.call("customer.search", "GET", "/api/accounts/", params={"name": q, "limit": 25})
            if not isinstance(d, dict):
                return None
            found = d.get("active_accounts", {}).get("open_accounts", [])
            return {"results": [{"id": a["id"], "name": a.get("name")} for a in found]}
        d = self.call("customer.search", "GET", "/api/contacts/", params={by: q, "limit": 25})
        if not isinstance(d, dict):
            return None
        accounts = [c.get("account") for c in d.get("contact_obj_list", [])]
        return {"results": [{"id": a} for a in dict.fromkeys(a for a in accounts if a)]}

    def customer_view(self, account_id: Any) -> Answer:
        d = self.call("customer.view", "GET", f"/api/accounts/{account_id}/", expect=(200,))
        if self._probing or not isinstance(d, dict):
            return d
        return {"id": account_id, **{k: d["account_obj"].get(k) for k in ("name", "city", "phone", "email")}}

    def customer_create(self, record: dict[str, Any]) -> Answer:
        body = {k: record[k] for k in ("name", "phone", "email", "city") if record.get(k)}
        return self.call("customer.create", "POST", "/api/accounts/", json=body)

    def customer_update(self, account_id: Any, patch: dict[str, Any]) -> Answer:
        d = self.call("customer.update", "PATCH", f"/api/accounts/{account_id}/", json=patch, expect=(200,))
        return {"id": account_id} if isinstance(d, dict) else None

    def contact_create(self, record: dict[str, Any]) -> Answer:
        body = {
            "first_name": record.get("first_name", ""),
            "last_name": record.get("last_name", ""),
            "email": record["email"],
            "account": record["account_id"],
        }
        return self.call("contact.create", "POST", "/api/contacts/", json=body)

    def service_history(self, account_id: Any) -> Answer:
        return self.call("service.history", "GET", "/api/cases/", params={"account": account_id, "limit": 20})

    # -- sales ------------------------------------------------------------------------------------
    def lead_create(self, record: dict[str, Any]) -> Answer:
        first, _, last = str(record.get("name", "")).partition(" ")
        body = {
            "first_name": first,
            "last_name": last,
            "company_name": record["company"],
            "email": record.get("email"),
            "phone": record.get("phone"),
            "source": record.get("source", "call"),
        }
        return self.call("lead.create", "POST", "/api/leads/", json=body)

    def lead_convert(self, lead_id: Any) -> Answer:
        d = self.call("lead.convert", "PATCH", f"/api/leads/{lead_id}/", json={"status": "converted"}, expect=(200,))
        if not isinstance(d, dict):
            return None
        return {"id": lead_id, "account_id": d.get("account_id"), "opportunity_id": d.get("opportunity_id")}

    def opportunity_list(self, page: int = 1, page_size: int = 25) -> Answer:
        offset = max(page - 1, 0) * page_size
        d = self.call("opportunity.list", "GET", "/api/opportunities/", params={"offset": offset, "limit": page_size})
        if not isinstance(d, dict):
            return None
        rows = d.get("opportunities", [])
        return {"results": [_deal(o) for o in rows], "count": d.get("opportunities_count")}

    def opportunity_view(self, opp_id: Any) -> Answer:
        d = self.call("opportunity.view", "GET", f"/api/opportunities/{opp_id}/", expect=(200,))
        if self._probing or not isinstance(d, dict):
            return d
        return _deal(d["opportunity_obj"])

    def opportunity_create(self, record: dict[str, Any]) -> Answer:
        body = {
            "name": record["name"],
            "account": record["account_id"],
            "stage": "PROSPECTING",
            "amount": str(record.get("amount", 0)),
            "currency": "EUR",
            "probability": 10,
        }
        if self.profile_id:
            body["assigned_to"] = [self.profile_id]
        return self.call("opportunity.create", "POST", "/api/opportunities/", json=body)

    def opportunity_update_stage(self, opp_id: Any, stage: str) -> Answer:
        body = {"stage": _STAGES.get(stage, stage.upper())}
        d = self.call("opportunity.update_stage", "PATCH", f"/api/opportunities/{opp_id}/", json=body, expect=(200,))
        if self._probing:
            return d
        return {"id": opp_id, "stage": stage} if isinstance(d, dict) else None

    def activity_log(self, account_id: Any, kind: str, subject: str) -> Answer:
        body = {"kind": kind, "subject": subject, "account": account_id}
        d = self.call("activity.log", "POST", "/api/interactions/", json=body)
        return {"id": f"{account_id}:{d['id']}"} if isinstance(d, dict) and d.get("id") else None

    def report_pipeline(self) -> Answer:
        return self.call("report.pipeline", "GET", "/api/opportunities/kanban/", expect=(200,))

    # -- service ----------------------------------------------------------------------------------
    def ticket_queue(self, status: str = "open", page: int = 1) -> Answer:
        params = {"status": "New" if status == "open" else status, "offset": max(page - 1, 0) * 20, "limit": 20}
        d = self.call("ticket.queue", "GET", "/api/cases/", params=params)
        if not isinstance(d, dict):
            return None
        return {"results": [{"id": c.get("id"), "subject": c.get("name")} for c in d.get("cases", [])]}

    def ticket_create(self, account_id: Any, subject: str, priority: str = "normal") -> Answer:
        body = {
            "name": subject,
            "account": account_id,
            "priority": priority.title(),
            "status": "New",
            "case_type": "Question",
        }
        if self.profile_id:
            body["assigned_to"] = [self.profile_id]
        d = self.call("ticket.create", "POST", "/api/cases/", json=body)
        return {"id": d.get("id")} if isinstance(d, dict) else None

    def ticket_view(self, ticket_id: Any) -> Answer:
        d = self.call("ticket.view", "GET", f"/api/cases/{ticket_id}/", expect=(200,))
        if self._probing or not isinstance(d, dict):
            return d
        c = d["cases_obj"]
        account = c.get("account")
        return {
            "id": ticket_id,
            "subject": c.get("name"),
            "status": c.get("status"),
            "account_id": account.get("id") if isinstance(account, dict) else account,
        }

    def ticket_comment(self, ticket_id: Any, body: str) -> Answer:
        d = self.call("ticket.comment", "POST", f"/api/cases/{ticket_id}/", json={"comment": body}, expect=(200,))
        if self._probing or not isinstance(d, dict):
            return d
        mine = next((c for c in d.get("comments", []) if c.get("comment") == body), None)
        return {"id": f"{ticket_id}:{mine['id']}"} if mine else None

    def ticket_assign(self, ticket_id: Any, assignee_id: Any) -> Answer:
        # handed to the agent, the one handing over still on it (a USER sees only the cases it is on)
        agents = list(dict.fromkeys(a for a in (assignee_id, self.profile_id) if a))
        d = self.call("ticket.assign", "PATCH", f"/api/cases/{ticket_id}/", json={"assigned_to": agents}, expect=(200,))
        return {"id": ticket_id} if isinstance(d, dict) else None

    def ticket_resolve(self, ticket_id: Any) -> Answer:
        d = self.call("ticket.resolve", "PATCH", f"/api/cases/{ticket_id}/", json={"status": "Closed"}, expect=(200,))
        return {"id": ticket_id, "status": "resolved"} if isinstance(d, dict) else None

    def kb_search(self, q: str) -> Answer:
        return self.call("kb.search", "GET", "/api/cases/solutions/", params={"search": q})

    def report_service(self) -> Answer:
        return self.call("report.service", "GET", "/api/cases/analytics/service/", expect=(200,))

    # -- integration ------------------------------------------------------------------------------
    def webform_submit(self, record: dict[str, Any]) -> Answer:
        intake = self.testdata.get("lead_intakes", {}).get(self.username)
        if not isinstance(intake, dict):
            raise RuntimeError(f"the test data has no lead webhook (lead_intakes) for {self.username!r}")
        first, _, last = str(record.get("name", "")).partition(" ")
        body = {"first_name": first, "last_name": last, "company_name": record["company"], "email": record.get("email")}
        saved = self.client.auth_header
        self.client.auth_header = f"Bearer {intake['key']}"  # the webhook's key, not the user's token
        try:
            d = self.call("webform.submit", "POST", f"/api/public/leads/{intake['id']}/", json=body)
        finally:
            self.client.auth_header = saved
        return {"id": d.get("lead")} if isinstance(d, dict) and d.get("lead") else None
