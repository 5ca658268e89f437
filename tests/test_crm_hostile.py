"""The reference CRM under malformed and hostile requests: every one a 4xx, never a 5xx; bounded in
memory and connections (body limit while reading, header timeout, idle connections closed); tokens
that expire and say so; the customer 360 view within each role's rights. Real server, real sockets."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmload.democrm.faults import Faults
from crmload.democrm.operations import CUSTOMER_VIEW_SECTIONS, OPERATIONS
from crmload.democrm.server import EmbeddedCRM

BIG = 2**63  # one above the largest id the store can hold
ROLE_USERS = {r: f"{r}001" for r in ("sales", "service", "marketing", "manager", "admin", "integration")}


@pytest.fixture(scope="module")
def hostile() -> Iterator[EmbeddedCRM]:
    with EmbeddedCRM(size="tiny", header_timeout_s=1.0, idle_timeout_s=2) as server:
        yield server


@pytest.fixture(scope="module")
def tokens(hostile: EmbeddedCRM) -> dict[str, str]:
    out = {}
    with httpx.Client(base_url=hostile.base_url) as http:
        for role, name in ROLE_USERS.items():
            r = http.post("/api/auth/login", json={"username": name, "password": f"{name}-pw"})
            assert r.status_code == 200, r.text
            out[role] = r.json()["token"]
    return out


# (role or None, method, path, body: JSON value, or bytes sent as they are) -> expected status, words
_J = "application/json"
# fmt: off
HTTP_CORPUS: list[tuple[str, str | None, str, str, Any, int, str]] = [
    ("id above 2^63", "sales", "GET", f"/api/customers/{BIG}", None, 422, "id must be between 1 and"),
    ("id 2^64 in a ticket", "service", "POST", "/api/tickets", {"account_id": 2**64, "subject": "x"}, 422,
     "account_id"),
    ("id 2^63 in a read-back", "admin", "POST", "/api/admin/records/accounts", {"ids": [BIG]}, 422, "ids must be"),
    ("negative id", "sales", "GET", "/api/customers/-1", None, 422, "id must be between"),
    ("id zero", "service", "GET", "/api/tickets/0", None, 422, "id must be between"),
    ("id a word", "sales", "GET", "/api/customers/abc", None, 422, "id must be an integer"),
    ("id of 5,000 digits", "sales", "GET", "/api/customers/" + "9" * 5000, None, 422, "id must be an integer"),
    ("export limit a word", "marketing", "GET", "/api/export/leads?limit=abc", None, 422, "limit must be an integer"),
    ("export limit negative", "marketing", "GET", "/api/export/leads?limit=-5", None, 422, "limit must be between"),
    ("export of an unknown entity", "marketing", "GET", "/api/export/secrets", None, 422, "entity must be one of"),
    ("page a word", "sales", "GET", "/api/opportunities?page=abc", None, 422, "page must be an integer"),
    ("page size too big", "sales", "GET", "/api/opportunities?page_size=100000", None, 422, "page_size must be"),
    ("login body a list", None, "POST", "/api/auth/login", [1, 2], 422, "must be a JSON object, not list"),
    ("login body a string", None, "POST", "/api/auth/login", "alice", 422, "must be a JSON object, not str"),
    ("login username a number", None, "POST", "/api/auth/login", {"username": 5, "password": "x"}, 422, "username"),
    ("login body not JSON", None, "POST", "/api/auth/login", b"{", 400, "not valid JSON"),
    ("login body not UTF-8", None, "POST", "/api/auth/login", b'{"username": "\xff\xfe"}', 400, "not valid JSON"),
    ("JSON nested 5,000 deep", None, "POST", "/api/auth/login", b"[" * 5000 + b"]" * 5000, 400, "not valid JSON"),
    ("body over 8 MB", None, "POST", "/api/auth/login", b"x" * (8 * 1024 * 1024 + 1), 413, "the limit is"),
    ("web-form body a list", "integration", "POST", "/api/webforms/lead", [1], 422, "must be a JSON object"),
    ("no token", None, "GET", "/api/customers/1", None, 401, "missing bearer token"),
    ("a token never issued", "forged", "GET", "/api/customers/1", None, 401, "unknown token"),
    ("a role beyond its rights", "marketing", "GET", "/api/tickets/1", None, 403, "may not call ticket.view"),
    ("patch body a list", "sales", "PATCH", "/api/customers/1", [], 422, "body"),
    ("amount infinite", "sales", "POST", "/api/opportunities", b'{"account_id":1,"name":"n","amount":1e999}', 400,
     "infinity"),
    ("survey score 99", "service", "POST", "/api/surveys", {"ticket_id": 1, "score": 99}, 422, "score"),
    ("order batch empty", "integration", "POST", "/api/orders/sync", {"orders": []}, 422, "orders"),
    ("read-back ids a string", "admin", "POST", "/api/admin/records/accounts", {"ids": "1,2"}, 422, "ids must be"),
    ("read-back body a list", "admin", "POST", "/api/admin/records/accounts", [1], 422, "must be a JSON object"),
    ("read-back of a table outside the audit", "admin", "GET", "/api/admin/records/users/1", None, 422, "entity"),
    ("import of binary bytes", "marketing", "POST", "/api/import/leads", b"\x00\x01\x02\xff", 400, ""),
    ("unknown method", "sales", "DELETE", "/api/customers/1", None, 405, ""),
    ("unknown path", "sales", "GET", "/api/everything", None, 404, ""),
]
# fmt: on


def _send(base_url: str, tokens: dict[str, str], role: str | None, method: str, path: str, body: Any) -> httpx.Response:
    headers = {}
    if role is not None:
        headers["authorization"] = f"Bearer {tokens.get(role, 'forged-token-0123456789')}"
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    if content is not None:
        headers["content-type"] = _J
    with httpx.Client(base_url=base_url, timeout=30) as http:
        return http.request(method, path, content=content, headers=headers)


def test_the_http_corpus_has_twenty_or_more_cases() -> None:
    assert len(HTTP_CORPUS) >= 20 and len({c[0] for c in HTTP_CORPUS}) == len(HTTP_CORPUS)


@pytest.mark.parametrize(
    ("what", "role", "method", "path", "body", "status", "words"), HTTP_CORPUS, ids=[c[0] for c in HTTP_CORPUS]
)
def test_a_malformed_request_gets_its_4xx(
    hostile: EmbeddedCRM, tokens: dict[str, str], what: str, role: str | None, method: str, path: str, body: Any,
    status: int, words: str,
) -> None:  # fmt: skip
    r = _send(hostile.base_url, tokens, role, method, path, body)
    assert r.status_code == status, (what, r.status_code, r.text[:300])
    assert words in r.text, (what, r.text[:300])
    # the server is still well afterwards
    assert _send(hostile.base_url, tokens, None, "GET", "/health", None).status_code == 200


_ids = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=12))
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_fields = st.sampled_from(
    ["account_id", "ids", "name", "email", "amount", "orders", "filter", "stage", "score", "ticket_id", "subject",
     "username", "password", "phone", "x"]
)  # fmt: skip
_json = st.recursive(
    _leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_fields, inner, max_size=5)),
    max_leaves=12,
)  # fmt: skip
_query = st.dictionaries(
    st.sampled_from(["q", "by", "page", "page_size", "limit", "status", "x"]), st.text(max_size=10), max_size=3
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    op=st.sampled_from(sorted(OPERATIONS)),
    role=st.sampled_from([*ROLE_USERS, None]),
    ident=_ids,
    query=_query,
    body=st.one_of(_json, st.binary(max_size=64)),
)
def test_fuzzed_requests_never_get_a_5xx(
    hostile: EmbeddedCRM, tokens: dict[str, str], op: str, role: str | None, ident: object, query: dict[str, str],
    body: object,
) -> None:  # fmt: skip
    spec = OPERATIONS[op]
    path = re.sub(
        r"\{(id|entity)\}", lambda m: quote(str(ident), safe="") if m.group(1) == "id" else "leads", spec.path
    )
    headers = {"authorization": f"Bearer {tokens[role]}"} if role else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with httpx.Client(base_url=hostile.base_url, timeout=30) as http:
        r = http.request(spec.method, path, params=query, content=content, headers=headers)
    assert r.status_code < 500, (op, role, path, query, body, r.status_code, r.text[:300])


def test_the_customer_360_view_shows_only_what_each_role_may_read(hostile: EmbeddedCRM, tokens: dict[str, str]) -> None:
    # whether a role may read tickets at all (ticket.view answers it 403 or not) decides whether the
    # view shows them: checked against the server's own answers, not the table that drives the view
    ticket = int(hostile.manifest.open_ticket_ids[0])
    for role in ("sales", "service", "marketing", "manager", "admin"):
        aid = int(hostile.manifest.accounts_by_owner["sales001"][0])  # sales001 owns it; other roles see all
        view = _send(hostile.base_url, tokens, role, "GET", f"/api/customers/{aid}", None)
        assert view.status_code == 200, (role, view.text)
        may_read_tickets = _send(hostile.base_url, tokens, role, "GET", f"/api/tickets/{ticket}", None).status_code
        assert ("tickets" in view.json()) == (may_read_tickets != 403), (role, sorted(view.json()))
        if role == "marketing":
            assert sorted(view.json()) == ["account", "contacts"]
        if role == "service":
            assert all("amount" not in o for o in view.json()["open_opportunities"])
        # every section a role may read is in its view; none it may not (the table and the answers agree)
        shown = set(view.json()) - {"account"}
        assert shown == {s for s, roles in CUSTOMER_VIEW_SECTIONS.items() if role in roles}, (role, sorted(shown))


def test_a_token_expires_and_the_401_says_so() -> None:
    with EmbeddedCRM(size="tiny", faults=Faults(token_ttl_s=1.0)) as crm, httpx.Client(base_url=crm.base_url) as http:
        token = http.post("/api/auth/login", json={"username": "sales001", "password": "sales001-pw"}).json()["token"]
        aid = crm.manifest.accounts_by_owner["sales001"][0]
        assert http.get(f"/api/customers/{aid}", headers={"authorization": f"Bearer {token}"}).status_code == 200
        time.sleep(1.2)
        r = http.get(f"/api/customers/{aid}", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "token expired" in r.json()["detail"], r.text


def test_slow_partial_requests_are_closed_after_the_header_timeout(hostile: EmbeddedCRM) -> None:
    socks = []
    for _ in range(100):
        s = socket.create_connection((hostile.host, hostile.port), timeout=10)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # a head that never ends
        socks.append(s)
    started = time.monotonic()
    answers = []
    for s in socks:
        answers.append(s.recv(200))
        assert s.recv(10) == b""  # and then closed
        s.close()
    waited = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert 0.5 < waited < 5, waited  # the header timeout is 1 s here
    # a request whose head trickles in within the timeout is served
    with socket.create_connection((hostile.host, hostile.port), timeout=10) as s:
        for part in (b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            s.sendall(part)
            time.sleep(0.2)
        assert s.recv(200).startswith(b"HTTP/1.1 200")


def test_an_idle_connection_and_an_oversized_head_are_closed(hostile: EmbeddedCRM) -> None:
    with socket.create_connection((hostile.host, hostile.port), timeout=10) as s:
        started = time.monotonic()
        assert s.recv(10) == b""  # nothing sent: closed after the idle timeout (2 s here)
        assert 1.5 < time.monotonic() - started < 6
    with socket.create_connection((hostile.host, hostile.port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        assert s.recv(200).startswith(b"HTTP/1.1 431")


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def test_a_200_mb_chunked_body_leaves_the_crm_memory_where_it_was(tmp_path: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmload.cli", "demo-crm", "--port", "0", "--size", "tiny", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        for _ in range(20):  # warm the server up
            httpx.post(
                f"http://127.0.0.1:{port}/api/auth/login", json={"username": "sales001", "password": "sales001-pw"}
            )
        before = _rss_mb(proc.pid)
        chunk = b"a" * (1 << 20)
        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
            try:
                for _ in range(200):
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server may stop reading once it has answered
            answer = s.recv(400)
        after = _rss_mb(proc.pid)
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert sent >= 8 << 20
        assert after - before < 20, (before, after)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
