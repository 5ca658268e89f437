"""The reference CRM's ASGI application: routing, authentication, roles, faults and Server-Timing.

Every canonical operation goes through :func:`_endpoint`, which authenticates the bearer token (401)
and then :func:`crmload.democrm.pipeline.operate`: checks the role (403), applies the faults in force
(stall, extra latency, concurrency limit with service time, injected 5xx), runs the handler, counts the
answer and adds ``Server-Timing: app;dur=<ms>`` — the time from the handler's start to the response
(for a streamed export, to its first byte). The server-rendered pages (``/ui/``,
:mod:`crmload.democrm.web`) are a second door to the same operations, signed in by session cookie.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmload.democrm import db
from crmload.democrm.faults import Faults, FaultState
from crmload.democrm.handlers import HANDLERS, Handler
from crmload.democrm.http import MAX_ID, ApiError, User, json_body, json_object, json_response, path_id, validate
from crmload.democrm.oauth import TokenEndpoint
from crmload.democrm.openapi import openapi_document
from crmload.democrm.operations import OPERATIONS, Operation
from crmload.democrm.pipeline import Answered, answered, operate, signing_in
from crmload.democrm.state import CRM
from crmload.democrm.web import Pages

_READABLE = {
    "accounts",
    "contacts",
    "leads",
    "opportunities",
    "activities",
    "tickets",
    "ticket_comments",
    "surveys",
    "campaigns",
    "orders",
}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authenticate(crm: CRM, request: Request) -> User:
    token = _bearer(request)
    if token is None:
        raise ApiError(401, "missing bearer token: log in at POST /api/auth/login")
    user = crm.user_for_token(token)
    if isinstance(user, str):
        raise ApiError(401, user)
    return user


def _endpoint(crm: CRM, op: Operation, handler: Handler) -> Any:
    async def endpoint(request: Request) -> Response:
        start = time.perf_counter()
        try:
            response = await operate(crm, op, request, _authenticate(crm, request), handler)
        except ApiError as exc:
            response = exc.response()
        except Answered as answer:
            response = answer.response
        return answered(crm, op, response, start)

    return endpoint


def _login_endpoint(crm: CRM) -> Any:
    op = OPERATIONS["auth.login"]

    async def login(request: Request) -> Response:
        start = time.perf_counter()
        try:
            await signing_in(crm)
            body = await json_object(request)
            username, password = body.get("username"), body.get("password")
            if not isinstance(username, str) or not username:
                raise ApiError(422, "username: required", "username")
            if not isinstance(password, str) or not password:
                raise ApiError(422, "password: required", "password")
            result = crm.login(username, password)
            if result is None:
                raise ApiError(401, "wrong username or password")
            token, user = result
            response = json_response({"token": token, "user_id": user.id, "role": user.role})
        except ApiError as exc:
            response = exc.response()
        return answered(crm, op, response, start)

    return login


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _admin(crm: CRM, request: Request) -> User:
    user = _authenticate(crm, request)
    if user.role != "admin":
        raise ApiError(403, "admin only")
    return user


class _Admin:
    """The admin and service endpoints: faults, stats, the audit's read-back, health, OpenAPI."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health),
            Route("/openapi.json", self.openapi),
            Route("/api/admin/faults", self.faults, methods=["GET", "PUT"]),
            Route("/api/admin/stats", self.stats),
            Route("/api/admin/records/{entity}/{id}", self.record),
            Route("/api/admin/records/{entity}", self.records, methods=["POST"]),
        ]

    async def faults(self, request: Request) -> Response:
        crm = self.crm
        try:
            _admin(crm, request)
            if request.method == "PUT":
                crm.faults.set(validate(Faults, await json_body(request)))
            return json_response(crm.faults.faults.model_dump())
        except ApiError as exc:
            return exc.response()

    async def stats(self, request: Request) -> Response:
        crm = self.crm
        try:
            _admin(crm, request)
        except ApiError as exc:
            return exc.response()
        return json_response(
            {
                "served": dict(crm.served),
                "writes_dropped": crm.writes_dropped,
                "served_by_status": [[op, st, n] for (op, st), n in crm.served_by_status.items()],
            }
        )

    def readable_table(self, request: Request) -> str:
        """The admin-only table named in the path, one of the tables the audit may read."""
        _admin(self.crm, request)
        table = str(request.path_params["entity"])
        if table not in _READABLE:
            raise ApiError(422, f"entity must be one of {', '.join(sorted(_READABLE))}", "entity")
        return table

    async def record(self, request: Request) -> Response:
        """Read one record back by table and id (the lost-write audit's read path)."""
        try:
            table = self.readable_table(request)
            rid = path_id(request)
            row = self.crm.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (rid,)).fetchone()
            if row is None:
                raise ApiError(404, f"{table} {rid} does not exist")
            return json_response(dict(row))
        except ApiError as exc:
            return exc.response()

    async def records(self, request: Request) -> Response:
        """Read up to 1,000 records of one table back at once: ``{"ids": [...]}`` -> ``{"records": {id: row}}``."""
        try:
            table = self.readable_table(request)
            ids = (await json_object(request)).get("ids")
            if not isinstance(ids, list) or not 1 <= len(ids) <= 1000 or not all(_is_id(i) for i in ids):
                raise ApiError(422, f"ids must be a list of 1 to 1000 integers between 1 and {MAX_ID}", "ids")
            marks = ",".join("?" * len(ids))
            rows = self.crm.conn.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", ids).fetchall()
            return json_response({"records": {str(r["id"]): dict(r) for r in rows}})
        except ApiError as exc:
            return exc.response()

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok", "service": "democrm"})

    async def openapi(self, request: Request) -> Response:
        return Response(orjson.dumps(openapi_document()), media_type="application/json")


def _admin_routes(crm: CRM) -> list[Route]:
    return _Admin(crm).routes()


def create_app(db_path: Path, faults: Faults | None = None, *, durable: bool = False) -> tuple[Starlette, CRM]:
    """The app over an existing (seeded) store; returns the app and its :class:`CRM` state."""
    conn = db.connect(db_path, durable=durable)
    db.create_schema(conn)
    crm = CRM(db_path, conn, FaultState(faults))
    routes = [Route(OPERATIONS["auth.login"].path, _login_endpoint(crm), methods=["POST"])]
    for name, handler in HANDLERS.items():
        op = OPERATIONS[name]
        routes.append(Route(op.path, _endpoint(crm, op, handler), methods=[op.method], name=name))
    routes += _admin_routes(crm)
    routes += Pages(crm).routes() + TokenEndpoint(crm).routes()
    return Starlette(routes=routes), crm
