"""Adapter for Tryton (``trytond`` 7.0 with ``party``, ``company``, ``sale`` and ``sale_opportunity``),
over its JSON-RPC protocol. The target is the database's URL: ``--target http://127.0.0.1:8000/crm``.

How the canonical operations map (the model methods every Tryton client calls, ``trytond/model``):

| operation | Tryton |
|---|---|
| auth.login | ``common.db.login``, then ``model.res.user.get_preferences`` for the user's context (company, employee) |
| customer.search / view / create / update | ``party.party`` ``search_read`` / ``read`` / ``create`` / |
| | ``write``; the city is that of the party's first ``party.address`` |
| contact.create | an e-mail ``party.contact_mechanism`` of the party |
| lead.create, webform.submit | a ``sale.opportunity`` in state ``lead`` (the company in its description) |
| lead.convert | a party for the lead's company, then the ``opportunity`` button (state ``opportunity``) |
| opportunity.list / view / create | ``sale.opportunity`` ``search_read`` / ``read`` / ``create`` |

What Tryton has not, in these modules, is declared in :attr:`TrytonCRM.lacks` and never faked.
Tryton answers a refused right as HTTP 200 with a ``UserError`` in the body ("You are not allowed to
access ..."): a probe reads that as a denial. Its access matrix (:attr:`TrytonCRM.access_rules`) is
the one its modules ship (``sale_opportunity/opportunity.xml``, ``ir.model.access``).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any, ClassVar

from crmload.core.operations import AccessRule, RecordRef
from crmload.loadtests.adapter import Answer
from crmload.loadtests.adapters.jsonrpc import JsonRpcAdapter

_OPPORTUNITY_ACCESS = (
    "trytond-sale-opportunity 7.0, opportunity.xml: ir.model.access of sale.opportunity — no group reads "
    "nothing, sale.group_sale reads, sale_opportunity.group_opportunity reads and writes"
)
_NO_MODULE = "not in Tryton's party, company, sale and sale_opportunity modules"
_PARTY_FIELDS = ["id", "name", "code", "phone", "email"]
_OPPORTUNITY_FIELDS = ["id", "number", "description", "state", "party", "employee", "amount"]


def _date(day: dt.date) -> dict[str, Any]:
    return {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}


def _party_code() -> str:
    """A new party's code: the seed sets Tryton up without a party sequence (see targets/tryton/seed.py)."""
    return f"C-{uuid.uuid4().hex[:16]}"


def _decimal(value: Any) -> float | None:
    if isinstance(value, dict) and value.get("__class__") == "Decimal":
        return float(value["decimal"])
    return float(value) if isinstance(value, int | float) else None


class TrytonCRM(JsonRpcAdapter):
    name = "tryton"
    rpc_path = "/"
    readback_role = "admin"
    readback_batch = 500
    denial_words = ("not allowed to",)  # Tryton's AccessError: "You are not allowed to access/create ..."
    access_rules: ClassVar[tuple[AccessRule, ...]] = (
        AccessRule("service", "opportunity.view", "any", _OPPORTUNITY_ACCESS),  # no sale group: no read
        AccessRule("manager", "opportunity.create", "any", _OPPORTUNITY_ACCESS),  # group_sale: read only
    )
    lacks: ClassVar[dict[str, str]] = {
        "opportunity.update_stage": "Tryton's opportunities have states (lead, opportunity, converted, won, lost), "
        "no pipeline stages",
        "activity.log": "Tryton's activity module is not installed",
        **{
            op: _NO_MODULE
            for op in (
                "ticket.queue",
                "ticket.create",
                "ticket.view",
                "ticket.comment",
                "ticket.assign",
                "ticket.resolve",
                "service.history",
                "kb.search",
                "survey.submit",
                "segment.preview",
                "campaign.create",
                "campaign.launch",
                "campaign.report",
                "report.service",
                "report.campaign",
                "import.bulk",
                "export.bulk",
                "report.pipeline",
            )
        },
        "order.sync": "a sale needs products, prices and a price list that this seed does not set up",
    }

    def __init__(self, client: Any, context: dict[str, Any]) -> None:
        super().__init__(client, context)
        self._ctx: dict[str, Any] = {}  # the signed-in user's Tryton context (company, employee), set by login

    # -- session ----------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> bool:
        self._ctx = {}
        session = self.rpc("auth.login", "common.db.login", username, {"password": password})
        if not (isinstance(session, list) and len(session) == 2):
            return False
        user_id, key = session
        token = base64.b64encode(f"{username}:{user_id}:{key}".encode()).decode()
        self.client.auth_header = f"Session {token}"
        prefs = self.rpc("auth.login", "model.res.user.get_preferences", True, {})
        if not isinstance(prefs, dict):
            return False
        self._ctx = {k: prefs[k] for k in ("company", "employee", "language") if prefs.get(k) is not None}
        return True

    def _model(self, operation: str, model: str, method: str, *params: Any) -> Any:
        return self.rpc(operation, f"model.{model}.{method}", *params, self._ctx)

    # -- the preflight and the audit ---------------------------------------------------------------
    def check_target(self) -> str | None:
        r = self.client.post("/", json={"id": 0, "method": "system.listMethods", "params": []},
                             name="preflight.methods")  # fmt: skip
        if r.status_code == 401 or (r.status_code == 200 and b"result" in (r.content or b"")):
            return None  # Tryton answers listMethods only to a signed-in user: 401 is its voice too
        return f"answers HTTP but not as a Tryton database (POST {self.rpc_path} gave {r.status_code})"

    def read_back(self, entity: str, ids: list[int]) -> dict[int, dict[str, Any]] | None:
        if entity == "accounts":
            found = self._search_read(
                "audit.read_back", "party.party", [("id", "in", ids)], ["id", "name", "addresses"]
            )
            if found is None:
                return None
            cities = self._first_cities([a for p in found for a in p.get("addresses", [])[:1]])
            if cities is None:
                return None
            return {p["id"]: {"name": p["name"], "city": cities.get((p.get("addresses") or [0])[0])} for p in found}
        if entity in ("leads", "opportunities"):
            rows = self._search_read("audit.read_back", "sale.opportunity", [("id", "in", ids)], ["id", "description"])
            if rows is None:
                return None
            field = "company" if entity == "leads" else "name"
            return {r["id"]: {field: r["description"]} for r in rows}
        if entity == "contacts":
            rows = self._search_read("audit.read_back", "party.contact_mechanism", [("id", "in", ids)], ["id", "value"])
            return None if rows is None else {r["id"]: {"email": r["value"]} for r in rows}
        return None  # an entity this adapter never acknowledges

    def _search_read(self, operation: str, model: str, domain: list[Any], fields: list[str],
                     offset: int = 0, limit: int | None = None) -> list[dict[str, Any]] | None:  # fmt: skip
        rows = self._model(operation, model, "search_read", domain, offset, limit, None, fields)
        return rows if isinstance(rows, list) else None

    def _first_cities(self, address_ids: list[int]) -> dict[int, str] | None:
        if not address_ids:
            return {}
        rows = self._search_read("audit.read_back", "party.address", [("id", "in", address_ids)], ["id", "city"])
        return None if rows is None else {r["id"]: r["city"] for r in rows}

    # -- customers --------------------------------------------------------------------------------
    def customer_search(self, q: str, by: str = "name") -> Answer:
        domain = [("name", "ilike", f"%{q}%")] if by == "name" else [("contact_mechanisms.value", "=", q)]
        rows = self._search_read("customer.search", "party.party", domain, ["id", "name"], 0, 25)
        return None if rows is None else {"results": rows}

    def customer_view(self, account_id: RecordRef) -> Answer:
        rows = self._model("customer.view", "party.party", "read", [account_id], [*_PARTY_FIELDS, "addresses"])
        return rows[0] if isinstance(rows, list) and rows else None

    def customer_create(self, record: dict[str, Any]) -> Answer:
        mechanisms = [{"type": t, "value": record[t]} for t in ("phone", "email") if record.get(t)]
        values = {"name": record["name"], "code": _party_code(),
                  "addresses": [("create", [{"city": record.get("city") or ""}])],
                  "contact_mechanisms": [("create", mechanisms)]}  # fmt: skip
        ids = self._model("customer.create", "party.party", "create", [values])
        return {"id": ids[0]} if isinstance(ids, list) and ids else None

    def customer_update(self, account_id: RecordRef, patch: dict[str, Any]) -> Answer:
        if "city" in patch:
            found = self._search_read("customer.update", "party.address", [("party", "=", account_id)], ["id"], 0, 1)
            if not found:
                return None
            self._model("customer.update", "party.address", "write", [found[0]["id"]], {"city": patch["city"]})
            if not self.rpc_ok:
                return None
        rest = {k: v for k, v in patch.items() if k == "name"}
        if rest:
            self._model("customer.update", "party.party", "write", [account_id], rest)
            if not self.rpc_ok:
                return None
        return {"id": account_id}

    def contact_create(self, record: dict[str, Any]) -> Answer:
        name = " ".join(str(record.get(k, "")) for k in ("first_name", "last_name")).strip()
        values = {"party": record["account_id"], "type": "email", "value": record["email"], "name": name}
        ids = self._model("contact.create", "party.contact_mechanism", "create", [values])
        return {"id": ids[0]} if isinstance(ids, list) and ids else None

    # -- leads and opportunities ------------------------------------------------------------------
    def _new_opportunity(self, operation: str, values: dict[str, Any]) -> Answer:
        base = {"company": self._ctx.get("company"), "start_date": _date(dt.date.today()),
                "conversion_probability": 0.1}  # fmt: skip
        ids = self._model(operation, "sale.opportunity", "create", [{**base, **values}])
        return {"id": ids[0]} if isinstance(ids, list) and ids else None

    def lead_create(self, record: dict[str, Any]) -> Answer:
        about = " / ".join(str(record[k]) for k in ("name", "email", "phone", "source") if record.get(k))
        return self._new_opportunity("lead.create", {"description": record["company"], "comment": about,
                                                     "state": "lead"})  # fmt: skip

    def webform_submit(self, record: dict[str, Any]) -> Answer:
        about = " / ".join(str(record[k]) for k in ("name", "email") if record.get(k))
        return self._new_opportunity("webform.submit", {"description": record["company"], "comment": about,
                                                        "state": "lead"})  # fmt: skip

    def lead_convert(self, lead_id: RecordRef) -> Answer:
        rows = self._model("lead.convert", "sale.opportunity", "read", [lead_id], ["description"])
        if not (isinstance(rows, list) and rows):
            return None
        party = self._model(
            "lead.convert", "party.party", "create", [{"name": rows[0]["description"], "code": _party_code()}]
        )
        if not (isinstance(party, list) and party):
            return None
        values = {"party": party[0], "employee": self._ctx.get("employee")}
        self._model("lead.convert", "sale.opportunity", "write", [lead_id], values)
        if not self.rpc_ok:
            return None
        self._model("lead.convert", "sale.opportunity", "opportunity", [lead_id])
        if not self.rpc_ok:
            return None
        return {"id": lead_id, "account_id": party[0], "opportunity_id": lead_id}

    def opportunity_list(self, page: int = 1, page_size: int = 25) -> Answer:
        offset = max(page - 1, 0) * page_size
        rows = self._search_read("opportunity.list", "sale.opportunity", [], _OPPORTUNITY_FIELDS, offset, page_size)
        return None if rows is None else {"results": [self._opportunity(r) for r in rows]}

    def opportunity_view(self, opp_id: RecordRef) -> Answer:
        rows = self._model("opportunity.view", "sale.opportunity", "read", [opp_id], _OPPORTUNITY_FIELDS)
        if self._probing:
            return rows
        return self._opportunity(rows[0]) if isinstance(rows, list) and rows else None

    def opportunity_create(self, record: dict[str, Any]) -> Answer:
        values = {"description": record["name"], "party": record["account_id"], "state": "opportunity",
                  "employee": self._ctx.get("employee"),
                  "amount": {"__class__": "Decimal", "decimal": str(record.get("amount", 0))}}  # fmt: skip
        return self._new_opportunity("opportunity.create", values)

    @staticmethod
    def _opportunity(row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row.get("description"), "state": row.get("state"),
                "account_id": row.get("party"), "amount": _decimal(row.get("amount"))}  # fmt: skip
