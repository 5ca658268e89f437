"""Request plumbing of the reference CRM: errors, JSON bodies, validation and pagination helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAGE_SIZE = 200

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
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body is {declared} bytes; the limit is {limit}")
    body = await request.body()
    if len(body) > limit:
        raise ApiError(413, f"body is {len(body)} bytes; the limit is {limit}")
    return body


async def json_body(request: Request) -> Any:
    raw = await read_body(request)
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc


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
        return int(raw)
    except ValueError as exc:
        raise ApiError(422, f"id must be an integer (got {raw!r})", "id") from exc


def page_params(request: Request) -> tuple[int, int]:
    page = int_param(request, "page", 1, 1, 1_000_000)
    size = int_param(request, "page_size", 25, 1, MAX_PAGE_SIZE)
    return page, size
