"""The reference CRM's server-rendered pages: the HTML door to the same operations as the JSON API.

A browser (or crmload's HTML adapter) signs in with a form, keeps a session cookie and sends a CSRF
token with every form it posts, as in a CRM that has no JSON API. Each page or form is one of the
canonical operations and goes through the same role check, faults, limits and counters as the JSON
API (:func:`crmload.democrm.app.operate`); the page renders what the operation's handler answered.

What a page answers, as such CRMs do:
- not signed in (no session, an expired or unknown one): ``302`` to ``/ui/login?next=...``;
- a role or record the user may not reach: ``403`` with an error page;
- a form posted without the session's CSRF token: ``403`` ("CSRF verification failed");
- a form posted and accepted: ``302`` to the new record's page (its id only in ``Location``);
- a form posted with a mistake: ``200`` with the form shown again and the mistake in
  ``<ul class="errorlist">`` (the answer of a framework such as Django).

Sessions are the API's tokens, carried in the ``crm_session`` cookie (HttpOnly, SameSite=Lax), so
they expire with the ``token_ttl_s`` fault and end when the server restarts. The login form's CSRF
token is a double-submit cookie (``csrftoken``), as before a session exists.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crmload.democrm.handlers import HANDLERS, Handler
from crmload.democrm.http import ApiError, User, json_response, path_id, read_body
from crmload.democrm.operations import ACTIVITY_KINDS, OPERATIONS, Operation
from crmload.democrm.pipeline import Answered, answered, operate, signing_in
from crmload.democrm.state import CRM

SESSION_COOKIE = "crm_session"
CSRF_COOKIE = "csrftoken"
CSRF_FIELD = "csrf_token"
FORM_LIMIT_BYTES = 1024 * 1024
PRIORITIES = ("low", "normal", "high")
LEAD_SOURCES = ("manual", "web", "call", "event", "referral")
# the tables an admin may read a record of (the lost-write audit's pages)
RECORD_TABLES = frozenset(
    {"accounts", "contacts", "leads", "opportunities", "activities", "tickets", "ticket_comments", "surveys"}
)

# what a page does with an operation's answer: (the handler's JSON, the request, the user, its CSRF token)
Render = Callable[[Any, Request, User, str], str]


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, user: User | None = None) -> str:
    who = (
        f"<p class='who'>{_e(user.username)} ({_e(user.role)}) · <a href='/ui/logout'>Sign out</a></p>" if user else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)} · Reference CRM</title></head><body>"
        "<nav><a href='/ui/'>Reference CRM</a> · <a href='/ui/customers/search'>Customers</a> · "
        f"<a href='/ui/leads/new'>New lead</a></nav>{who}<main><h1>{_e(title)}</h1>{body}</main></body></html>"
    )


def html_response(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/html; charset=utf-8")


def error_page(status: int, detail: str, user: User | None = None) -> Response:
    titles = {403: "Forbidden", 404: "Not found", 422: "Not accepted", 429: "Too many requests"}
    title = f"{status} {titles.get(status, 'Error')}"
    return html_response(page(title, f"<p class='error'>{_e(detail)}</p>", user), status)


def _errors(problem: str | None) -> str:
    return f"<ul class='errorlist'><li>{_e(problem)}</li></ul>" if problem else ""


def _select(name: str, options: tuple[str, ...], chosen: str) -> str:
    opts = "".join(f"<option value='{_e(o)}'{' selected' if o == chosen else ''}>{_e(o)}</option>" for o in options)
    return f"<select name='{_e(name)}' id='{_e(name)}'>{opts}</select>"


def _input(name: str, value: object = "", kind: str = "text", label: str | None = None) -> str:
    field = f"<input type='{kind}' name='{_e(name)}' id='{_e(name)}' value='{_e(value)}'>"
    return field if kind == "hidden" else f"<p><label for='{_e(name)}'>{_e(label or name)}</label> {field}</p>"


def form(action: str, csrf: str, fields: str, submit: str, form_id: str) -> str:
    return (
        f"<form id='{form_id}' method='post' action='{_e(action)}'>{_input(CSRF_FIELD, csrf, 'hidden')}"
        f"{fields}<p><button type='submit'>{_e(submit)}</button></p></form>"
    )


def _dl(row: dict[str, Any]) -> str:
    return "<dl class='record'>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in row.items()) + "</dl>"


# -- sessions and CSRF ---------------------------------------------------------------------------


class Sessions:
    """Who a request's session cookie signs in, and each session's CSRF token."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.csrf: dict[str, str] = {}  # session (a token of the CRM) -> its CSRF token

    def user(self, request: Request) -> tuple[User, str] | None:
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        user = self.crm.user_for_token(sid)
        if isinstance(user, str):  # expired, or issued before a restart
            self.csrf.pop(sid, None)
            return None
        return user, self.csrf.setdefault(sid, secrets.token_urlsafe(18))

    def open(self, username: str, password: str) -> str | None:
        found = self.crm.login(username, password)
        if found is None:
            return None
        sid, _user = found
        self.csrf[sid] = secrets.token_urlsafe(18)
        return sid


def to_login(request: Request) -> Response:
    """Where an anonymous request is sent: the login page, with the page it asked for as ``next``."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(wanted, safe='')}", status_code=302)


async def form_fields(request: Request) -> dict[str, str]:
    """A posted ``application/x-www-form-urlencoded`` body (the last of a field given twice)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ApiError(415, f"a form is posted as application/x-www-form-urlencoded, not {kind or 'nothing'}")
    raw = await read_body(request, FORM_LIMIT_BYTES)
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def _json_request(request: Request, data: dict[str, Any]) -> Request:
    """The same request with ``data`` as its JSON body: what the operation's handler reads."""
    body = orjson.dumps(data)
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = dict(request.scope)
    scope["headers"] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return Request(scope, receive)


async def _no_answer(crm: CRM, request: Request, user: User) -> Response:
    """A form's blank page: the operation is checked (role, faults) but nothing is read."""
    return json_response({})


def _fields(fields: dict[str, str], request: Request) -> dict[str, Any]:
    return dict(fields)


def _activity_json(fields: dict[str, str], request: Request) -> dict[str, Any]:
    return {"account_id": request.path_params["id"], "kind": fields.get("kind"), "subject": fields.get("subject")}


def _comment_json(fields: dict[str, str], request: Request) -> dict[str, Any]:
    return {"body": fields.get("body", "")}


def _is_id(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 2**63 - 1


# -- the pages --------------------------------------------------------------------------------


def _search(data: Any, request: Request, user: User, csrf: str) -> str:
    q, by = request.query_params.get("q", ""), request.query_params.get("by", "name")
    rows = "".join(
        f"<tr><td><a class='customer' href='/ui/customers/{r['id']}'>{_e(r['name'])}</a></td>"
        f"<td>{_e(r['phone'])}</td><td>{_e(r['email'])}</td><td>{_e(r['city'])}</td></tr>"
        for r in data["results"]
    )
    search = (
        f"<form id='search' method='get' action='/ui/customers/search'>{_input('q', q, label='Search')}"
        f"{_select('by', ('name', 'phone', 'email'), by)}<button>Search</button></form>"
    )
    table = f"<table id='results'><tr><th>Name</th><th>Phone</th><th>E-mail</th><th>City</th></tr>{rows}</table>"
    return page("Customers", f"{search}<p class='count'>{data['count']} found</p>{table}", user)


def _customer(data: Any, request: Request, user: User, csrf: str, problem: str | None = None) -> str:
    account = data["account"]
    aid = account["id"]
    parts = [_dl(account)]
    for section in ("contacts", "open_opportunities", "tickets"):
        if section in data:
            items = "".join(f"<li>{_e(' · '.join(str(v) for v in row.values()))}</li>" for row in data[section])
            parts.append(f"<h2>{section.replace('_', ' ').capitalize()}</h2><ul class='{section}'>{items}</ul>")
    if user.role in OPERATIONS["activity.log"].roles:
        fields = _select("kind", ACTIVITY_KINDS, "call") + _input("subject", label="Subject")
        parts.append(_errors(problem) + form(f"/ui/customers/{aid}/activities", csrf, fields, "Log", "activity"))
    if user.role in OPERATIONS["ticket.create"].roles:
        parts.append(f"<p><a class='new-ticket' href='/ui/tickets/new?account_id={aid}'>New ticket</a></p>")
    return page(str(account["name"]), "".join(parts), user)


def _lead_form(data: Any, request: Request, user: User, csrf: str, problem: str | None = None, sent: Any = None) -> str:
    sent = sent or {}
    fields = (
        _input("name", sent.get("name", ""), label="Name")
        + _input("company", sent.get("company", ""), label="Company")
        + _input("email", sent.get("email", ""), "email", "E-mail")
        + _input("phone", sent.get("phone", ""), label="Phone")
        + _select("source", LEAD_SOURCES, sent.get("source", "manual"))
    )
    return page("New lead", _errors(problem) + form("/ui/leads", csrf, fields, "Create lead", "lead"), user)


def _ticket_form(
    data: Any, request: Request, user: User, csrf: str, problem: str | None = None, sent: Any = None
) -> str:
    sent = sent or {}
    account = sent.get("account_id", request.query_params.get("account_id", ""))
    fields = (
        _input("account_id", account, "hidden")
        + _input("subject", sent.get("subject", ""), label="Subject")
        + _select("priority", PRIORITIES, sent.get("priority", "normal"))
    )
    return page("New ticket", _errors(problem) + form("/ui/tickets", csrf, fields, "Open ticket", "ticket"), user)


def _ticket(data: Any, request: Request, user: User, csrf: str, problem: str | None = None) -> str:
    comments = data.pop("comments", [])
    items = "".join(f"<li id='comment-{c['id']}'>{_e(c['body'])}</li>" for c in comments)
    parts = [_dl(data), f"<h2>Comments</h2><ul class='comments'>{items}</ul>"]
    if user.role in OPERATIONS["ticket.comment"].roles:
        fields = "<p><label for='body'>Comment</label> <textarea name='body' id='body'></textarea></p>"
        parts.append(_errors(problem) + form(f"/ui/tickets/{data['id']}/comments", csrf, fields, "Comment", "comment"))
    return page(f"Ticket {data['id']}: {data['subject']}", "".join(parts), user)


class Pages:
    """The routes of the pages, each an operation's door (see the module's docstring)."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.sessions = Sessions(crm)

    def routes(self) -> list[Route]:
        view, post = self.view, self.post
        return [
            Route("/ui/login", self.login_form, methods=["GET"]),
            Route("/ui/login", self.login, methods=["POST"]),
            Route("/ui/logout", self.logout, methods=["GET"]),
            Route("/ui/", self.home, methods=["GET"]),
            Route("/ui/customers/search", view("customer.search", _search), methods=["GET"]),
            Route("/ui/customers/{id}", view("customer.view", _customer), methods=["GET"]),
            Route(
                "/ui/customers/{id}/activities",
                post(
                    "activity.log",
                    _activity_json,
                    lambda d, r: f"/ui/customers/{r.path_params['id']}#activity-{d['id']}",
                ),
                methods=["POST"],
            ),
            Route("/ui/leads/new", view("lead.create", _lead_form, _no_answer), methods=["GET"]),
            Route(
                "/ui/leads",
                post("lead.create", _fields, lambda d, r: f"/ui/leads/{d['id']}", _lead_form),
                methods=["POST"],
            ),
            Route("/ui/leads/{id}", self.lead, methods=["GET"]),
            Route("/ui/tickets/new", view("ticket.create", _ticket_form, _no_answer), methods=["GET"]),
            Route(
                "/ui/tickets",
                post("ticket.create", _fields, lambda d, r: f"/ui/tickets/{d['id']}", _ticket_form),
                methods=["POST"],
            ),
            Route("/ui/tickets/{id}", view("ticket.view", _ticket), methods=["GET"]),
            Route(
                "/ui/tickets/{id}/comments",
                post("ticket.comment", _comment_json, lambda d, r: f"/ui/tickets/{d['ticket_id']}#comment-{d['id']}"),
                methods=["POST"],
            ),
            Route("/ui/admin/records/{entity}/{id}", self.record, methods=["GET"]),
        ]

    # -- signing in ------------------------------------------------------------------------------
    async def login_form(self, request: Request, problem: str | None = None, status: int = 200) -> Response:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(18)
        nxt = request.query_params.get("next", "/ui/")
        fields = (
            _input("next", nxt, "hidden")
            + _input("username", request.query_params.get("username", ""), label="User name")
            + _input("password", "", "password", "Password")
        )
        response = html_response(
            page("Sign in", _errors(problem) + form("/ui/login", token, fields, "Sign in", "login")), status
        )
        response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="lax", path="/ui/")
        return response

    async def login(self, request: Request) -> Response:
        op = OPERATIONS["auth.login"]
        start = time.perf_counter()
        try:
            await signing_in(self.crm)
            fields = await form_fields(request)
            cookie = request.cookies.get(CSRF_COOKIE, "")
            if not cookie or not secrets.compare_digest(cookie, fields.get(CSRF_FIELD, "")):
                raise ApiError(403, "CSRF verification failed: the form's token does not match the csrftoken cookie")
            sid = self.sessions.open(fields.get("username", ""), fields.get("password", ""))
            if sid is None:
                response = await self.login_form(request, "Wrong user name or password.")
            else:
                nxt = fields.get("next", "/ui/")
                response = RedirectResponse(nxt if nxt.startswith("/ui/") else "/ui/", status_code=302)
                response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", path="/")
        except ApiError as exc:
            response = error_page(exc.status, exc.detail)
        return answered(self.crm, op, response, start)

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/ui/login", status_code=302)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(self, request: Request) -> Response:
        signed = self.sessions.user(request)
        if signed is None:
            return to_login(request)
        return html_response(page("Reference CRM", "<p>Search customers, or open a new lead.</p>", signed[0]))

    async def lead(self, request: Request) -> Response:
        """A lead's page (where a created lead's form leads; not an operation of its own)."""
        signed = self.sessions.user(request)
        if signed is None:
            return to_login(request)
        user = signed[0]
        if user.role not in OPERATIONS["lead.create"].roles:
            return error_page(403, f"role {user.role!r} may not see leads", user)
        try:
            row = self.crm.conn.execute("SELECT * FROM leads WHERE id = ?", (path_id(request),)).fetchone()
        except ApiError as exc:
            return error_page(exc.status, exc.detail, user)
        if row is None:
            return error_page(404, "no such lead", user)
        return html_response(page(f"Lead {row['id']}", _dl(dict(row)), user))

    async def record(self, request: Request) -> Response:
        """An admin's page of one stored record (the lost-write audit reads acknowledged writes back here)."""
        signed = self.sessions.user(request)
        if signed is None:
            return to_login(request)
        user = signed[0]
        table, rid = str(request.path_params["entity"]), str(request.path_params["id"])
        if user.role != "admin":
            return error_page(403, "admin only", user)
        if table not in RECORD_TABLES or not _is_id(rid):
            return error_page(404, f"no {table} {rid}", user)
        row = self.crm.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (int(rid),)).fetchone()
        if row is None:
            return error_page(404, f"{table} {rid} does not exist", user)
        return html_response(page(f"{table} {rid}", _dl(dict(row)), user))

    # -- an operation's page and form ---------------------------------------------------------------
    def view(
        self, name: str, render: Render, handler: Handler | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        """A page: the operation (its handler's answer) rendered."""
        op, handler = OPERATIONS[name], handler or HANDLERS[name]

        async def endpoint(request: Request) -> Response:
            signed = self.sessions.user(request)
            if signed is None:
                return to_login(request)
            (user, csrf), start = signed, time.perf_counter()
            response = await self._run(op, request, user, handler)
            if response.status_code == 200:
                response = html_response(render(orjson.loads(bytes(response.body)), request, user, csrf))
            return answered(self.crm, op, response, start)

        return endpoint

    def post(
        self,
        name: str,
        to_json: Callable[[dict[str, str], Request], dict[str, Any]],
        then: Callable[[Any, Request], str],
        again: Callable[..., str] | None = None,
    ) -> Callable[[Request], Awaitable[Response]]:
        """A form posted: CSRF checked, the fields given to the operation as JSON; accepted, a 302 to the
        record (``then``); a mistake (422), the form again (``again``) with 200 and the mistake."""
        op, handler = OPERATIONS[name], HANDLERS[name]

        async def endpoint(request: Request) -> Response:
            signed = self.sessions.user(request)
            if signed is None:
                return to_login(request)
            (user, csrf), start = signed, time.perf_counter()
            try:
                fields = await form_fields(request)
                if not secrets.compare_digest(fields.get(CSRF_FIELD, ""), csrf):
                    raise ApiError(403, "CSRF verification failed: the form's token is missing or not this session's")
            except ApiError as exc:
                return answered(self.crm, op, error_page(exc.status, exc.detail, user), start)
            data = to_json(fields, request)
            response = await self._run(op, _json_request(request, data), user, handler, forms=True)
            if response.status_code in (200, 201):
                response = RedirectResponse(then(orjson.loads(bytes(response.body)), request), status_code=302)
            elif response.status_code == 422:
                detail = orjson.loads(bytes(response.body)).get("detail", "not accepted")
                response = html_response(self._again(again, request, user, csrf, detail, fields))
            return answered(self.crm, op, response, start)

        return endpoint

    @staticmethod
    def _again(
        again: Callable[..., str] | None, request: Request, user: User, csrf: str, problem: str, sent: Any
    ) -> str:
        if again is not None:
            return again(None, request, user, csrf, problem, sent)
        # a form on a record's page (an activity, a comment): the mistake, and the way back
        back = f"<p><a href='{_e(request.url.path.rsplit('/', 1)[0])}'>Back</a></p>"
        return page("Not accepted", _errors(problem) + back, user)

    async def _run(
        self, op: Operation, request: Request, user: User, handler: Handler, forms: bool = False
    ) -> Response:
        """The operation through the API's own path; a refusal as an error page (a form's 422 kept as JSON
        so that the form can be shown again; a 429 as it is, with its Retry-After)."""
        try:
            return await operate(self.crm, op, request, user, handler)
        except ApiError as exc:
            if forms and exc.status == 422:
                return exc.response()
            return error_page(exc.status, exc.detail, user)
        except Answered as answer:
            return answer.response
