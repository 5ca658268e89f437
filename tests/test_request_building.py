"""The adapter builds ``json=`` bodies and ``params=`` query strings itself (orjson, one ``urlencode``):
the request on the wire must say what the HTTP client would have said, checked against
geventhttpclient's own URL building and the JSON it would have sent."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from geventhttpclient.url import URL

from crmload.loadtests.wire import build_request

PARAMS: list[Any] = [
    {"q": "Apex Ltd", "by": "name"},
    {"q": "+44 20 7946 0000", "by": "phone"},
    {"q": "zoë@mail.example & co/?#", "page": 2},
    {"status": "open", "page": 1, "skip": None},
    {"ids": [1, 2, 3], "flag": True},
    [("a", "1"), ("a", "2"), ("b", "é")],
    {"q": "客户"},
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("path", ["/api/customers/search", "/api/tickets?view=all"])
def test_a_query_string_is_the_one_the_http_client_builds(path: str, params: Any) -> None:
    kwargs: dict[str, Any] = {"params": params}
    built = build_request(path, kwargs)
    assert kwargs == {}  # nothing left for the client to add again
    assert URL("http://h" + built).request_uri == URL("http://h" + path, params=params).request_uri


@pytest.mark.parametrize(
    "body", [{"name": "Zoë", "phone": "+1 555", "n": 3, "tags": ["a"], "nested": {"x": None}}, [1, 2], {1: "a"}]
)
def test_a_json_body_is_the_same_document_with_the_json_headers(body: Any) -> None:
    kwargs: dict[str, Any] = {"json": body}
    assert build_request("/api/customers", kwargs) == "/api/customers"
    assert json.loads(kwargs["data"]) == json.loads(json.dumps(body))
    assert kwargs["headers"] == {"Content-Type": "application/json", "Accept": "application/json"}


def test_headers_the_caller_gave_win_and_data_given_wins_over_json() -> None:
    kwargs: dict[str, Any] = {"json": {"a": 1}, "headers": {"content-type": "application/vnd.crm+json"}}
    build_request("/x", kwargs)
    assert kwargs["headers"] == {"Accept": "application/json", "content-type": "application/vnd.crm+json"}
    assert orjson.loads(kwargs["data"]) == {"a": 1}
    kwargs = {"json": {"a": 1}, "data": b"raw"}
    build_request("/x", kwargs)
    assert kwargs == {"data": b"raw"}  # as the client does: data is sent, json ignored
