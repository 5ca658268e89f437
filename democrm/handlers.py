"""One handler per canonical operation. Each takes the CRM, the request and the caller.

Row-level rules live here: a sales rep reads and changes only the accounts and opportunities they
own (403 otherwise, never an empty answer that hides the denial); service agents never see
opportunity amounts. Every statement is parameterised.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from crmload.democrm.http import (
    ApiError,
    Id,
    User,
    int_param,
    json_body,
    json_object,
    json_response,
    page_params,
    path_id,
    read_body,
    validate,
)
from crmload.democrm.operations import ACTIVITY_KINDS, CUSTOMER_VIEW_SECTIONS, PIPELINE_STAGES
from crmload.democrm.state import CRM

Handler = Callable[[CRM, Request, User], Awaitable[Response]]
MAX_IMPORT_ROWS = 10_000
MAX_SYNC_ORDERS = 1_000

Str = Field(min_length=1, max_length=200)
EmailStr = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerIn(_In):
    name: str = Str
    phone: str = Field(min_length=3, max_length=32)
    email: EmailStr
    industry: str = Field("other", max_length=50)
    city: str = Field("", max_length=80)


class CustomerPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=200)
    phone: str | None = Field(None, min_length=3, max_length=32)
    email: EmailStr | None = None
    industry: str | None = Field(None, max_length=50)
    city: str | None = Field(None, max_length=80)


class ContactIn(_In):
    account_id: Id
    first_name: str = Str
    last_name: str = Str
    email: EmailStr
    phone: str = Field("", max_length=32)
    opted_in: bool = True


class LeadIn(_In):
    name: str = Str
    company: str = Str
    email: EmailStr
    phone: str = Field("", max_length=32)
    source: str = Field("manual", max_length=40)


class OpportunityIn(_In):
    account_id: Id
    name: str = Str
    amount: float = Field(ge=0, le=1e12)
    stage: Literal["prospecting", "qualification", "proposal", "negotiation"] = "prospecting"
    close_date: str = Field("2030-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")


class StageIn(_In):
    stage: Literal["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]


class ActivityIn(_In):
    account_id: Id
    kind: Literal["call", "email", "meeting"]
    subject: str = Str


class TicketIn(_In):
    account_id: Id
    subject: str = Str
    priority: Literal["low", "normal", "high"] = "normal"


class CommentIn(_In):
    body: str = Field(min_length=1, max_length=10_000)


class AssignIn(_In):
    assignee_id: Id


class SurveyIn(_In):
    ticket_id: Id
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2_000)


class SegmentFilter(_In):
    model_config = ConfigDict(extra="forbid")
    industry: str | None = Field(None, max_length=50)
    city: str | None = Field(None, max_length=80)
    opted_in: bool | None = None


class PreviewIn(_In):
    filter: SegmentFilter


class CampaignIn(_In):
    name: str = Str
    channel: Literal["email", "sms"] = "email"
    filter: SegmentFilter | None = None
    segment_id: Id | None = None


class OrderIn(_In):
    external_id: str = Field(min_length=1, max_length=64)
    account_id: Id | None = None
    amount: float = Field(ge=0, le=1e12)
    currency: str = Field("EUR", min_length=3, max_length=3)
    status: Literal["placed", "paid", "shipped", "cancelled", "returned"] = "placed"


class OrderBatch(_In):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_SYNC_ORDERS)


class ImportLead(_In):
    name: str = Str
    company: str = Str
    email: EmailStr
    phone: str = Field("", max_length=32)


def _row(row: Any) -> dict[str, Any]:
    return dict(row) if row is not None else {}


def _account(crm: CRM, account_id: int, user: User) -> dict[str, Any]:
    row = crm.conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"account {account_id} does not exist")
    if user.role == "sales" and row["owner_id"] != user.id:
        raise ApiError(403, f"account {account_id} belongs to another sales rep")
    return dict(row)


def _opportunity(crm: CRM, opp_id: int, user: User) -> dict[str, Any]:
    row = crm.conn.execute("SELECT * FROM opportunities WHERE id = ?", (opp_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"opportunity {opp_id} does not exist")
    if user.role == "sales" and row["owner_id"] != user.id:
        raise ApiError(403, f"opportunity {opp_id} belongs to another sales rep")
    return dict(row)


def _ticket(crm: CRM, ticket_id: int) -> dict[str, Any]:
    row = crm.conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"ticket {ticket_id} does not exist")
    return dict(row)


def _hide_amounts(opps: list[dict[str, Any]], user: User) -> list[dict[str, Any]]:
    if user.role == "service":
        for o in opps:
            o.pop("amount", None)
    return opps


# --- customers ------------------------------------------------------------------------------------


async def customer_search(crm: CRM, request: Request, user: User) -> Response:
    q = request.query_params.get("q", "").strip()
    by = request.query_params.get("by", "name")
    if not 1 <= len(q) <= 100:
        raise ApiError(422, "q must be 1 to 100 characters", "q")
    if by == "name":
        where, arg = "name LIKE ? ESCAPE '\\'", q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    elif by in ("phone", "email"):
        where, arg = f"{by} = ?", q
    else:
        raise ApiError(422, f"by must be name, phone or email (got {by!r})", "by")
    sql = f"SELECT id, name, phone, email, city, owner_id FROM accounts WHERE {where}"
    args: tuple[Any, ...] = (arg,)
    if user.role == "sales":
        sql += " AND owner_id = ?"
        args += (user.id,)
    rows = crm.conn.execute(sql + " ORDER BY name LIMIT 20", args).fetchall()
    if by == "phone" and not rows:  # a caller may be a contact rather than the account's switchboard
        rows = crm.conn.execute(
            "SELECT a.id, a.name, a.phone, a.email, a.city, a.owner_id FROM contacts c"
            " JOIN accounts a ON a.id = c.account_id WHERE c.phone = ?"
            + (" AND a.owner_id = ?" if user.role == "sales" else "")
            + " LIMIT 20",
            args,
        ).fetchall()
    return json_response({"results": [dict(r) for r in rows], "count": len(rows)})


_VIEW_QUERIES: dict[str, str] = {
    "contacts": "SELECT id, first_name, last_name, email, phone FROM contacts WHERE account_id = ? LIMIT 50",
    "open_opportunities": "SELECT id, name, stage, amount, owner_id, close_date FROM opportunities"
    " WHERE account_id = ? AND stage NOT IN ('won','lost') LIMIT 50",
    "recent_activities": "SELECT id, kind, subject, user_id, created_at FROM activities WHERE account_id = ?"
    " ORDER BY created_at DESC LIMIT 10",
    "tickets": "SELECT id, subject, status, priority, created_at FROM tickets WHERE account_id = ?"
    " ORDER BY created_at DESC LIMIT 10",
}


async def customer_view(crm: CRM, request: Request, user: User) -> Response:
    """The customer 360 view: the account, and each section the caller's role may read."""
    aid = path_id(request)
    view: dict[str, Any] = {"account": _account(crm, aid, user)}
    for section, sql in _VIEW_QUERIES.items():
        if user.role in CUSTOMER_VIEW_SECTIONS[section]:
            view[section] = [dict(r) for r in crm.conn.execute(sql, (aid,))]
    if "open_opportunities" in view:
        view["open_opportunities"] = _hide_amounts(view["open_opportunities"], user)
    return json_response(view)


async def customer_create(crm: CRM, request: Request, user: User) -> Response:
    data = validate(CustomerIn, await json_body(request))
    now = time.time()
    owner = user.id if user.role == "sales" else crm.next_user_of_role("sales")
    with crm.write(user, "create", "account") as ids:
        cur = crm.conn.execute(
            "INSERT INTO accounts(name, phone, email, industry, city, owner_id, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (data.name, data.phone, data.email, data.industry, data.city, owner, now, now),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0], "owner_id": owner, "version": 1}, 201)


async def customer_update(crm: CRM, request: Request, user: User) -> Response:
    aid = path_id(request)
    patch = validate(CustomerPatch, await json_body(request)).model_dump(exclude_none=True)
    if not patch:
        raise ApiError(422, "give at least one of name, phone, email, industry, city", "body")
    _account(crm, aid, user)
    sets = ", ".join(f"{k} = ?" for k in patch)  # keys come from the model, never from the request
    with crm.write(user, "update", "account") as ids:
        crm.conn.execute(
            f"UPDATE accounts SET {sets}, updated_at = ?, version = version + 1 WHERE id = ?",
            (*patch.values(), time.time(), aid),
        )
        ids.append(aid)
    version = crm.conn.execute("SELECT version FROM accounts WHERE id = ?", (aid,)).fetchone()[0]
    return json_response({"id": aid, "version": version, **patch})


async def contact_create(crm: CRM, request: Request, user: User) -> Response:
    data = validate(ContactIn, await json_body(request))
    acc = _account(crm, data.account_id, user)
    with crm.write(user, "create", "contact") as ids:
        cur = crm.conn.execute(
            "INSERT INTO contacts(account_id, first_name, last_name, email, phone, city, industry, opted_in,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                data.account_id,
                data.first_name,
                data.last_name,
                data.email,
                data.phone,
                acc["city"],
                acc["industry"],
                int(data.opted_in),
                time.time(),
            ),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0]}, 201)


async def service_history(crm: CRM, request: Request, user: User) -> Response:
    aid = path_id(request)
    _account(crm, aid, user)
    c = crm.conn
    tickets = [
        dict(r)
        for r in c.execute(
            "SELECT id, subject, status, priority, created_at, resolved_at FROM tickets WHERE account_id = ?"
            " ORDER BY created_at DESC LIMIT 50",
            (aid,),
        )
    ]
    ids = [t["id"] for t in tickets]
    comments: list[dict[str, Any]] = []
    if ids:
        marks = ",".join("?" * len(ids))
        comments = [
            dict(r)
            for r in c.execute(
                f"SELECT id, ticket_id, body, created_at FROM ticket_comments WHERE ticket_id IN ({marks})"
                " ORDER BY created_at DESC LIMIT 100",
                ids,
            )
        ]
    activities = [
        dict(r)
        for r in c.execute(
            "SELECT id, kind, subject, created_at FROM activities WHERE account_id = ? ORDER BY created_at DESC"
            " LIMIT 50",
            (aid,),
        )
    ]
    return json_response({"account_id": aid, "tickets": tickets, "comments": comments, "activities": activities})


# --- leads and opportunities -----------------------------------------------------------------------


def _insert_lead(crm: CRM, data: LeadIn, owner: int | None) -> int:
    cur = crm.conn.execute(
        "INSERT INTO leads(name, company, email, phone, source, status, owner_id, created_at)"
        " VALUES (?,?,?,?,?,'new',?,?)",
        (data.name, data.company, data.email, data.phone, data.source, owner, time.time()),
    )
    return int(cur.lastrowid or 0)


async def lead_create(crm: CRM, request: Request, user: User) -> Response:
    data = validate(LeadIn, await json_body(request))
    owner = user.id if user.role == "sales" else crm.next_user_of_role("sales")
    with crm.write(user, "create", "lead") as ids:
        ids.append(_insert_lead(crm, data, owner))
    return json_response({"id": ids[0], "owner_id": owner}, 201)


async def webform_submit(crm: CRM, request: Request, user: User) -> Response:
    data = validate(LeadIn, {"source": "web", **(await json_object(request))})
    owner = crm.next_user_of_role("sales")
    with crm.write(user, "create", "lead") as ids:
        ids.append(_insert_lead(crm, data, owner))
    return json_response({"id": ids[0], "owner_id": owner}, 201)


async def lead_convert(crm: CRM, request: Request, user: User) -> Response:
    lid = path_id(request)
    lead = crm.conn.execute("SELECT * FROM leads WHERE id = ?", (lid,)).fetchone()
    if lead is None:
        raise ApiError(404, f"lead {lid} does not exist")
    if lead["owner_id"] != user.id and user.role != "admin":
        raise ApiError(403, f"lead {lid} belongs to another sales rep")
    if lead["status"] == "converted":
        raise ApiError(409, f"lead {lid} is already converted (account {lead['converted_account_id']})")
    now = time.time()
    with crm.write(user, "convert", "lead") as ids:
        c = crm.conn
        aid = int(
            c.execute(
                "INSERT INTO accounts(name, phone, email, industry, city, owner_id, created_at, updated_at)"
                " VALUES (?,?,?,'other','',?,?,?)",
                (lead["company"], lead["phone"] or "n/a", lead["email"], user.id, now, now),
            ).lastrowid
            or 0
        )
        first, _, last = lead["name"].partition(" ")
        cid = int(
            c.execute(
                "INSERT INTO contacts(account_id, first_name, last_name, email, phone, city, industry, opted_in,"
                " created_at) VALUES (?,?,?,?,?,'','other',1,?)",
                (aid, first, last or "-", lead["email"], lead["phone"], now),
            ).lastrowid
            or 0
        )
        oid = int(
            c.execute(
                "INSERT INTO opportunities(account_id, name, stage, amount, owner_id, close_date, created_at,"
                " updated_at) VALUES (?,?,'qualification',0,?,?,?,?)",
                (
                    aid,
                    f"{lead['company']} first deal",
                    user.id,
                    time.strftime("%Y-%m-%d", time.gmtime(now + 90 * 86400)),
                    now,
                    now,
                ),
            ).lastrowid
            or 0
        )
        c.execute("UPDATE leads SET status = 'converted', converted_account_id = ? WHERE id = ?", (aid, lid))
        ids.append(lid)
    return json_response({"lead_id": lid, "account_id": aid, "contact_id": cid, "opportunity_id": oid}, 201)


async def opportunity_list(crm: CRM, request: Request, user: User) -> Response:
    page, size = page_params(request)
    stage = request.query_params.get("stage")
    where: list[str] = []
    args: list[Any] = []
    if user.role == "sales":
        where.append("owner_id = ?")
        args.append(user.id)
    if stage is not None:
        if stage not in PIPELINE_STAGES:
            raise ApiError(422, f"stage must be one of {', '.join(PIPELINE_STAGES)}", "stage")
        where.append("stage = ?")
        args.append(stage)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = crm.conn.execute(
        f"SELECT id, account_id, name, stage, amount, owner_id, close_date FROM opportunities{clause}"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        (*args, size, (page - 1) * size),
    ).fetchall()
    return json_response({"page": page, "page_size": size, "items": [dict(r) for r in rows]})


async def opportunity_view(crm: CRM, request: Request, user: User) -> Response:
    return json_response(_opportunity(crm, path_id(request), user))


async def opportunity_create(crm: CRM, request: Request, user: User) -> Response:
    data = validate(OpportunityIn, await json_body(request))
    _account(crm, data.account_id, user)
    now = time.time()
    with crm.write(user, "create", "opportunity") as ids:
        cur = crm.conn.execute(
            "INSERT INTO opportunities(account_id, name, stage, amount, owner_id, close_date, created_at,"
            " updated_at) VALUES (?,?,?,?,?,?,?,?)",
            (data.account_id, data.name, data.stage, data.amount, user.id, data.close_date, now, now),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0], "version": 1}, 201)


async def opportunity_update_stage(crm: CRM, request: Request, user: User) -> Response:
    oid = path_id(request)
    data = validate(StageIn, await json_body(request))
    _opportunity(crm, oid, user)
    with crm.write(user, "update_stage", "opportunity") as ids:
        crm.conn.execute(
            "UPDATE opportunities SET stage = ?, updated_at = ?, version = version + 1 WHERE id = ?",
            (data.stage, time.time(), oid),
        )
        ids.append(oid)
    version = crm.conn.execute("SELECT version FROM opportunities WHERE id = ?", (oid,)).fetchone()[0]
    return json_response({"id": oid, "stage": data.stage, "version": version})


async def activity_log(crm: CRM, request: Request, user: User) -> Response:
    data = validate(ActivityIn, await json_body(request))
    if data.kind not in ACTIVITY_KINDS:
        raise ApiError(422, "kind must be call, email or meeting", "kind")
    _account(crm, data.account_id, user)
    with crm.write(user, "create", "activity") as ids:
        cur = crm.conn.execute(
            "INSERT INTO activities(account_id, kind, subject, user_id, created_at) VALUES (?,?,?,?,?)",
            (data.account_id, data.kind, data.subject, user.id, time.time()),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0]}, 201)


# --- service ----------------------------------------------------------------------------------------


async def ticket_queue(crm: CRM, request: Request, user: User) -> Response:
    page, size = page_params(request)
    status = request.query_params.get("status", "open")
    if status not in ("open", "pending", "resolved"):
        raise ApiError(422, "status must be open, pending or resolved", "status")
    args: list[Any] = [status]
    sql = "SELECT id, account_id, subject, status, priority, assignee_id, sla_due_at FROM tickets WHERE status = ?"
    if request.query_params.get("mine") == "1":
        sql += " AND assignee_id = ?"
        args.append(user.id)
    rows = crm.conn.execute(sql + " ORDER BY sla_due_at LIMIT ? OFFSET ?", (*args, size, (page - 1) * size))
    return json_response({"page": page, "page_size": size, "items": [dict(r) for r in rows]})


async def ticket_create(crm: CRM, request: Request, user: User) -> Response:
    data = validate(TicketIn, await json_body(request))
    _account(crm, data.account_id, user)
    now = time.time()
    sla_h = {"high": 4, "normal": 24, "low": 72}[data.priority]
    with crm.write(user, "create", "ticket") as ids:
        cur = crm.conn.execute(
            "INSERT INTO tickets(account_id, subject, status, priority, assignee_id, created_at, sla_due_at,"
            " updated_at) VALUES (?,?,'open',?,?,?,?,?)",
            (data.account_id, data.subject, data.priority, user.id, now, now + sla_h * 3600, now),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0], "status": "open", "version": 1}, 201)


async def ticket_view(crm: CRM, request: Request, user: User) -> Response:
    tid = path_id(request)
    ticket = _ticket(crm, tid)
    ticket["comments"] = [
        dict(r)
        for r in crm.conn.execute(
            "SELECT id, user_id, body, created_at FROM ticket_comments WHERE ticket_id = ? ORDER BY id", (tid,)
        )
    ]
    return json_response(ticket)


async def ticket_comment(crm: CRM, request: Request, user: User) -> Response:
    tid = path_id(request)
    data = validate(CommentIn, await json_body(request))
    ticket = _ticket(crm, tid)
    now = time.time()
    with crm.write(user, "comment", "ticket") as ids:
        cur = crm.conn.execute(
            "INSERT INTO ticket_comments(ticket_id, user_id, body, created_at) VALUES (?,?,?,?)",
            (tid, user.id, data.body, now),
        )
        if ticket["first_response_at"] is None:
            crm.conn.execute("UPDATE tickets SET first_response_at = ? WHERE id = ?", (now, tid))
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0], "ticket_id": tid}, 201)


async def ticket_assign(crm: CRM, request: Request, user: User) -> Response:
    tid = path_id(request)
    data = validate(AssignIn, await json_body(request))
    _ticket(crm, tid)
    role = crm.conn.execute("SELECT role FROM users WHERE id = ?", (data.assignee_id,)).fetchone()
    if role is None or role[0] != "service":
        raise ApiError(422, f"assignee_id {data.assignee_id} is not a service agent", "assignee_id")
    with crm.write(user, "assign", "ticket") as ids:
        crm.conn.execute(
            "UPDATE tickets SET assignee_id = ?, updated_at = ?, version = version + 1 WHERE id = ?",
            (data.assignee_id, time.time(), tid),
        )
        ids.append(tid)
    return json_response({"id": tid, "assignee_id": data.assignee_id})


async def ticket_resolve(crm: CRM, request: Request, user: User) -> Response:
    tid = path_id(request)
    ticket = _ticket(crm, tid)
    if ticket["status"] == "resolved":
        return json_response({"id": tid, "status": "resolved", "resolved_at": ticket["resolved_at"]})
    now = time.time()
    with crm.write(user, "resolve", "ticket") as ids:
        crm.conn.execute(
            "UPDATE tickets SET status = 'resolved', resolved_at = ?, updated_at = ?,"
            " version = version + 1 WHERE id = ?",
            (now, now, tid),
        )
        ids.append(tid)
    return json_response({"id": tid, "status": "resolved", "resolved_at": now})


async def kb_search(crm: CRM, request: Request, user: User) -> Response:
    q = request.query_params.get("q", "").strip()
    if not 1 <= len(q) <= 100:
        raise ApiError(422, "q must be 1 to 100 characters", "q")
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = crm.conn.execute(
        "SELECT id, title, substr(body, 1, 200) AS snippet FROM kb_articles"
        " WHERE title LIKE ? ESCAPE '\\' OR tags LIKE ? ESCAPE '\\' LIMIT 10",
        (pattern, pattern),
    ).fetchall()
    return json_response({"results": [dict(r) for r in rows]})


async def survey_submit(crm: CRM, request: Request, user: User) -> Response:
    data = validate(SurveyIn, await json_body(request))
    _ticket(crm, data.ticket_id)
    with crm.write(user, "create", "survey") as ids:
        cur = crm.conn.execute(
            "INSERT INTO surveys(ticket_id, score, comment, created_at) VALUES (?,?,?,?)",
            (data.ticket_id, data.score, data.comment, time.time()),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0]}, 201)


# --- marketing --------------------------------------------------------------------------------------


def _segment_where(f: SegmentFilter) -> tuple[str, list[Any]]:
    where, args = [], []
    for key in ("industry", "city"):
        value = getattr(f, key)
        if value is not None:
            where.append(f"{key} = ?")
            args.append(value)
    if f.opted_in is not None:
        where.append("opted_in = ?")
        args.append(int(f.opted_in))
    return (" WHERE " + " AND ".join(where)) if where else "", args


async def segment_preview(crm: CRM, request: Request, user: User) -> Response:
    data = validate(PreviewIn, await json_body(request))
    where, args = _segment_where(data.filter)
    count = crm.conn.execute(f"SELECT count(*) FROM contacts{where}", args).fetchone()[0]
    sample = [
        dict(r)
        for r in crm.conn.execute(f"SELECT id, first_name, last_name, email, city FROM contacts{where} LIMIT 20", args)
    ]
    return json_response({"count": count, "sample": sample})


async def campaign_create(crm: CRM, request: Request, user: User) -> Response:
    data = validate(CampaignIn, await json_body(request))
    if (data.filter is None) == (data.segment_id is None):
        raise ApiError(422, "give exactly one of filter or segment_id", "filter")
    now = time.time()
    with crm.write(user, "create", "campaign") as ids:
        segment_id = data.segment_id
        if data.filter is not None:
            segment_id = int(
                crm.conn.execute(
                    "INSERT INTO segments(name, filter_json, owner_id, created_at) VALUES (?,?,?,?)",
                    (f"{data.name} audience", data.filter.model_dump_json(exclude_none=True), user.id, now),
                ).lastrowid
                or 0
            )
        elif crm.conn.execute("SELECT 1 FROM segments WHERE id = ?", (segment_id,)).fetchone() is None:
            raise ApiError(422, f"segment {segment_id} does not exist", "segment_id")
        cur = crm.conn.execute(
            "INSERT INTO campaigns(name, segment_id, channel, status, owner_id, created_at) VALUES (?,?,?,'draft',?,?)",
            (data.name, segment_id, data.channel, user.id, now),
        )
        ids.append(int(cur.lastrowid or 0))
    return json_response({"id": ids[0], "segment_id": segment_id, "status": "draft"}, 201)


async def campaign_launch(crm: CRM, request: Request, user: User) -> Response:
    cid = path_id(request)
    row = crm.conn.execute(
        "SELECT c.status, s.filter_json FROM campaigns c JOIN segments s ON s.id = c.segment_id WHERE c.id = ?", (cid,)
    ).fetchone()
    if row is None:
        raise ApiError(404, f"campaign {cid} does not exist")
    if row["status"] != "draft":
        raise ApiError(409, f"campaign {cid} is already {row['status']}")
    where, args = _segment_where(SegmentFilter.model_validate(orjson.loads(row["filter_json"])))
    now = time.time()
    with crm.write(user, "launch", "campaign") as ids:
        cur = crm.conn.execute(
            f"INSERT INTO campaign_sends(campaign_id, contact_id, status, created_at)"
            f" SELECT ?, id, 'sent', ? FROM contacts{where}",
            (cid, now, *args),
        )
        sends = cur.rowcount
        crm.conn.execute("UPDATE campaigns SET status = 'launched', launched_at = ? WHERE id = ?", (now, cid))
        ids.append(cid)
    return json_response({"id": cid, "status": "launched", "sends": sends})


async def campaign_report(crm: CRM, request: Request, user: User) -> Response:
    cid = path_id(request)
    camp = crm.conn.execute("SELECT id, name, status, launched_at FROM campaigns WHERE id = ?", (cid,)).fetchone()
    if camp is None:
        raise ApiError(404, f"campaign {cid} does not exist")
    sends, opened = crm.conn.execute(
        "SELECT count(*), coalesce(sum(contact_id % 3 = 0), 0) FROM campaign_sends WHERE campaign_id = ?", (cid,)
    ).fetchone()
    return json_response(
        {**dict(camp), "sends": sends, "opened": opened, "open_rate": (opened / sends) if sends else None}
    )


async def report_campaign(crm: CRM, request: Request, user: User) -> Response:
    rows = crm.conn.execute(
        "SELECT c.id, c.name, c.status, count(s.id) AS sends FROM campaigns c"
        " LEFT JOIN campaign_sends s ON s.campaign_id = c.id GROUP BY c.id ORDER BY c.id DESC LIMIT 100"
    ).fetchall()
    return json_response({"campaigns": [dict(r) for r in rows]})


def _parse_import(raw: bytes, content_type: str) -> list[Any]:
    if content_type.startswith("text/csv"):
        try:
            return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ApiError(400, f"body is not UTF-8 CSV with a header row: {exc}") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ApiError(422, 'JSON body must be a list of records or {"records": [...]}', "records")
    return records


async def import_bulk(crm: CRM, request: Request, user: User) -> Response:
    entity = request.path_params["entity"]
    if entity != "leads":
        raise ApiError(422, f"entity must be 'leads' (got {entity!r})", "entity")
    records = _parse_import(await read_body(request), request.headers.get("content-type", "application/json"))
    if not 1 <= len(records) <= MAX_IMPORT_ROWS:
        raise ApiError(422, f"an import holds 1 to {MAX_IMPORT_ROWS} records (got {len(records)})", "records")
    parsed = [validate(ImportLead, r, prefix=f"records[{i}].") for i, r in enumerate(records)]
    now = time.time()
    owner = user.id if user.role == "sales" else crm.next_user_of_role("sales")
    with crm.write(user, "import", "lead") as ids:
        first = crm.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM leads").fetchone()[0]
        crm.conn.executemany(
            "INSERT INTO leads(id, name, company, email, phone, source, status, owner_id, created_at)"
            " VALUES (?,?,?,?,?,'import','new',?,?)",
            [(first + i, p.name, p.company, p.email, p.phone, owner, now) for i, p in enumerate(parsed)],
        )
        ids.extend((first, first + len(parsed) - 1))
    return json_response({"imported": len(parsed), "first_id": ids[0], "last_id": ids[1]}, 201)


_EXPORTS = {
    "contacts": "SELECT id, account_id, first_name, last_name, email, phone, city, opted_in FROM contacts",
    "accounts": "SELECT id, name, phone, email, industry, city, owner_id FROM accounts",
    "leads": "SELECT id, name, company, email, phone, source, status FROM leads",
}


async def export_bulk(crm: CRM, request: Request, user: User) -> Response:
    entity = request.path_params["entity"].removesuffix(".csv")
    sql = _EXPORTS.get(entity)
    if sql is None:
        raise ApiError(422, f"entity must be one of {', '.join(_EXPORTS)} (got {entity!r})", "entity")
    limit = int_param(request, "limit", 0, 0, 10_000_000)  # 0: every row
    conn = crm.conn

    async def rows() -> AsyncIterator[bytes]:
        last_id, sent, chunk = 0, 0, 2_000
        header_done = False
        while True:
            take = chunk if not limit else min(chunk, limit - sent)
            if take <= 0:
                return
            cur = conn.execute(f"{sql} WHERE id > ? ORDER BY id LIMIT ?", (last_id, take))
            batch = cur.fetchall()
            buf = io.StringIO()
            writer = csv.writer(buf)
            if not header_done:
                writer.writerow([d[0] for d in cur.description])
                header_done = True
            if not batch:
                yield buf.getvalue().encode()
                return
            writer.writerows(tuple(r) for r in batch)
            last_id, sent = batch[-1][0], sent + len(batch)
            yield buf.getvalue().encode()

    return StreamingResponse(
        rows(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{entity}.csv"'}
    )


# --- reports ----------------------------------------------------------------------------------------


async def report_pipeline(crm: CRM, request: Request, user: User) -> Response:
    sql = "SELECT stage, count(*) AS count, round(sum(amount), 2) AS amount FROM opportunities"
    args: tuple[Any, ...] = ()
    if user.role == "sales":
        sql += " WHERE owner_id = ?"
        args = (user.id,)
    rows = crm.conn.execute(sql + " GROUP BY stage", args).fetchall()
    return json_response({"stages": [dict(r) for r in rows]})


async def report_service(crm: CRM, request: Request, user: User) -> Response:
    now = time.time()
    c = crm.conn
    by_status = {r[0]: r[1] for r in c.execute("SELECT status, count(*) FROM tickets GROUP BY status")}
    breached = c.execute(
        "SELECT count(*) FROM tickets WHERE status != 'resolved' AND sla_due_at < ?", (now,)
    ).fetchone()[0]
    n = c.execute("SELECT count(*) FROM tickets WHERE resolved_at IS NOT NULL").fetchone()[0]
    median_h = None
    if n:
        median_s = c.execute(
            "SELECT resolved_at - created_at AS d FROM tickets WHERE resolved_at IS NOT NULL"
            " ORDER BY d LIMIT 1 OFFSET ?",
            ((n - 1) // 2,),
        ).fetchone()[0]
        median_h = round(median_s / 3600, 2)
    avg_score = c.execute("SELECT avg(score), count(*) FROM surveys").fetchone()
    return json_response(
        {
            "by_status": by_status,
            "sla_breached": breached,
            "median_resolve_h": median_h,
            "resolved_n": n,
            "survey_avg": avg_score[0],
            "surveys_n": avg_score[1],
        }
    )


# --- integration ------------------------------------------------------------------------------------


async def order_sync(crm: CRM, request: Request, user: User) -> Response:
    batch = validate(OrderBatch, await json_body(request))
    now = time.time()
    with crm.write(user, "sync", "order") as ids:
        for o in batch.orders:
            row = crm.conn.execute(
                "INSERT INTO orders(external_id, account_id, amount, currency, status, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(external_id) DO UPDATE SET amount = excluded.amount,"
                " status = excluded.status, updated_at = excluded.updated_at RETURNING id",
                (o.external_id, o.account_id, o.amount, o.currency, o.status, now, now),
            ).fetchone()
            ids.append(int(row[0]))
    return json_response({"upserted": len(ids), "ids": ids})


HANDLERS: dict[str, Handler] = {
    "customer.search": customer_search,
    "customer.view": customer_view,
    "customer.create": customer_create,
    "customer.update": customer_update,
    "contact.create": contact_create,
    "lead.create": lead_create,
    "lead.convert": lead_convert,
    "opportunity.list": opportunity_list,
    "opportunity.view": opportunity_view,
    "opportunity.create": opportunity_create,
    "opportunity.update_stage": opportunity_update_stage,
    "activity.log": activity_log,
    "ticket.queue": ticket_queue,
    "ticket.create": ticket_create,
    "ticket.view": ticket_view,
    "ticket.comment": ticket_comment,
    "ticket.assign": ticket_assign,
    "ticket.resolve": ticket_resolve,
    "service.history": service_history,
    "kb.search": kb_search,
    "survey.submit": survey_submit,
    "segment.preview": segment_preview,
    "campaign.create": campaign_create,
    "campaign.launch": campaign_launch,
    "campaign.report": campaign_report,
    "import.bulk": import_bulk,
    "export.bulk": export_bulk,
    "report.pipeline": report_pipeline,
    "report.service": report_service,
    "report.campaign": report_campaign,
    "order.sync": order_sync,
    "webform.submit": webform_submit,
}
