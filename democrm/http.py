"""Request plumbing of the reference CRM: errors, JSON bodies, validation and pagination helpers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAGE_SIZE = 200
# the store's ids are SQLite integers: anything above is refused as a 422, not a 500 from the driver
MAX_ID = 2**63 - 1
# a request's body must arrive within this (a client trickling bytes holds a connection at most so long)
BODY_TIMEOUT_S = 30.0
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An answer other than 2xx, with a machine-readable body ``{"error", "detail", "field"}``."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field

    def response(self) -> Response:
        body: dict[str, Any] = {"error": _REASONS.get(self.status, "error"), "detail": self.detail}
        if self.field is not None:
            body["field"] = self.field
        return json_response(body, self.status)


_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    413: "too_large",
    422: "validation_error",
    429: "throttled",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, counted while it arrives: a declared or chunked body over ``limit`` is a 413
    as soon as it passes the limit (never buffered whole), one slower than ``BODY_TIMEOUT_S`` a 408."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body is {declared} bytes; the limit is {limit}")
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"body is over {limit} bytes, the limit")
                parts.append(chunk)
    except TimeoutError as exc:
        raise ApiError(408, f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from exc
    return b"".join(parts)


async def json_body(request: Request) -> Any:
    raw = await read_body(request)
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc


async def json_object(request: Request) -> dict[str, Any]:
    """A JSON body that must be an object (a list, a string or a number is a 422 naming the body)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(422, f"body: must be a JSON object, not {type(body).__name__}", "body")
    return body


def validate(model: type[M], data: Any, prefix: str = "") -> M:
    """Parse ``data`` into ``model``; the first problem becomes a 422 naming the field and the reason."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = prefix + ".".join(str(p) for p in err["loc"])
        raise ApiError(422, f"{field or 'body'}: {err['msg']}", field or "body") from exc


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(422, f"{name} must be an integer (got {raw!r})", name) from exc
    if not lo <= value <= hi:
        raise ApiError(422, f"{name} must be between {lo} and {hi} (got {value})", name)
    return value


def path_id(request: Request) -> int:
    raw = request.path_params["id"]
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(422, f"id must be an integer (got {raw!r})", "id") from exc
    if not 1 <= value <= MAX_ID:
        raise ApiError(422, f"id must be between 1 and {MAX_ID} (got {raw})", "id")
    return value


def page_params(request: Request) -> tuple[int, int]:
    page = int_param(request, "page", 1, 1, 1_000_000)
    size = int_param(request, "page_size", 25, 1, MAX_PAGE_SIZE)
    return page, size
