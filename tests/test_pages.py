"""The HTML path, for real: the reference CRM's pages (session cookie, CSRF, forms, 302 answers), its OAuth2
token endpoint, the form and CSRF helpers, and crmload runs through the HTML and OAuth2 adapters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e import REPO, crmload

from crmload.democrm.faults import Faults
from crmload.democrm.server import EmbeddedCRM
from crmload.loadtests.htmlforms import (
    Form,
    csrf_from_cookie,
    csrf_from_page,
    parse_page,
    redirect_location,
    to_login_page,
)

PAGES = "crmload.loadtests.adapters.reference_html:ReferenceCrmPages"
OAUTH2 = "crmload.loadtests.adapters.reference:ReferenceCrmOAuth2"
SCENARIO = REPO / "tests" / "scenarios" / "pages.yaml"
CSRF = re.compile(r"name='csrf_token' id='csrf_token' value='([^']+)'")


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


@contextmanager
def sign_in(base_url: str, username: str, password: str | None = None) -> Iterator[httpx.Client]:
    """A browser-like client signed in through the login form (no redirect followed)."""
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        yield _signed_in(client, username, password)


def _signed_in(client: httpx.Client, username: str, password: str | None) -> httpx.Client:
    form = client.get("/ui/login")
    assert form.status_code == 200 and "csrftoken" in client.cookies
    fields = {"csrf_token": _csrf(form), "username": username, "password": password or f"{username}-pw", "next": "/ui/"}
    answer = client.post("/ui/login", data=fields)
    assert answer.status_code == 302 and answer.headers["location"] == "/ui/", answer.text[:300]
    return client


def _errors(page: httpx.Response) -> list[str]:
    return re.findall(r"<ul class='errorlist'><li>([^<]*)</li>", page.text)


def _user(crm: EmbeddedCRM, role: str) -> str:
    return next(u["username"] for u in crm.manifest.users if u["role"] == role)


@pytest.fixture(scope="module")
def pages_crm() -> Iterator[EmbeddedCRM]:
    with EmbeddedCRM(size="tiny") as server:
        yield server


# -- the reference CRM's pages --------------------------------------------------------------------


def test_an_anonymous_page_is_sent_to_the_login_page_with_where_it_was_going(pages_crm: EmbeddedCRM) -> None:
    with httpx.Client(base_url=pages_crm.base_url, follow_redirects=False) as anonymous:
        for method, path in (("GET", "/ui/customers/search?q=A"), ("GET", "/ui/tickets/1"), ("POST", "/ui/leads")):
            r = anonymous.request(method, path)
            assert r.status_code == 302, (method, path, r.status_code)
            assert r.headers["location"].startswith("/ui/login?next=%2Fui%2F"), r.headers["location"]


def test_the_login_form_needs_its_csrf_cookie_and_the_right_password(pages_crm: EmbeddedCRM) -> None:
    name = _user(pages_crm, "service")
    with httpx.Client(base_url=pages_crm.base_url, follow_redirects=False) as client:
        token = _csrf(client.get("/ui/login"))
        forged = client.post("/ui/login", data={"csrf_token": "forged", "username": name, "password": f"{name}-pw"})
        assert forged.status_code == 403 and "CSRF verification failed" in forged.text
        wrong = client.post("/ui/login", data={"csrf_token": token, "username": name, "password": "nope"})
        assert wrong.status_code == 200 and _errors(wrong) == ["Wrong user name or password."]
        assert "crm_session" not in client.cookies
        ok = client.post("/ui/login", data={"csrf_token": token, "username": name, "password": f"{name}-pw"})
        assert ok.status_code == 302 and "crm_session" in client.cookies


def test_a_posted_form_answers_302_to_its_record_and_a_mistake_shows_the_form_again(pages_crm: EmbeddedCRM) -> None:
    with sign_in(pages_crm.base_url, _user(pages_crm, "service")) as agent:
        account = pages_crm.manifest.account_ids[0]
        form = agent.get(f"/ui/tickets/new?account_id={account}")
        assert form.status_code == 200
        token = _csrf(form)
        served_before = pages_crm.state.served["ticket.create"]
        made = agent.post(
            "/ui/tickets", data={"csrf_token": token, "account_id": account, "subject": "Printer", "priority": "high"}
        )
        assert made.status_code == 302
        tid = int(re.fullmatch(r"/ui/tickets/(\d+)", made.headers["location"]).group(1))  # type: ignore[union-attr]
        row = pages_crm.state.conn.execute(
            "SELECT account_id, subject, priority FROM tickets WHERE id = ?", (tid,)
        ).fetchone()
        assert tuple(row) == (account, "Printer", "high")
        # the form page and its post are both the operation, counted as such by the CRM
        assert pages_crm.state.served["ticket.create"] == served_before + 1
        again = agent.post(
            "/ui/tickets", data={"csrf_token": token, "account_id": account, "subject": " ", "priority": "high"}
        )
        assert again.status_code == 200 and _errors(again) == ["subject: String should have at least 1 character"]
        assert "id='ticket'" in again.text  # the form again, to be corrected
        no_token = agent.post("/ui/tickets", data={"account_id": account, "subject": "x"})
        assert no_token.status_code == 403 and "CSRF verification failed" in no_token.text
        comment = agent.post(f"/ui/tickets/{tid}/comments", data={"csrf_token": token, "body": "On it"})
        assert comment.status_code == 302 and re.fullmatch(
            rf"/ui/tickets/{tid}#comment-\d+", comment.headers["location"]
        )
        page = agent.get(f"/ui/tickets/{tid}")
        assert page.status_code == 200 and "On it" in page.text


def test_pages_refuse_what_the_role_or_the_record_forbids_with_403(pages_crm: EmbeddedCRM) -> None:
    m = pages_crm.manifest
    with sign_in(pages_crm.base_url, _user(pages_crm, "service")) as service:
        assert service.get("/ui/leads/new").status_code == 403  # service may not create leads: nor see the form
        rep = next(iter(m.accounts_by_owner))
        others = next(a for owner, owned in m.accounts_by_owner.items() if owner != rep for a in owned)
        with sign_in(pages_crm.base_url, rep) as sales:
            refused = sales.get(f"/ui/customers/{others}")
            assert refused.status_code == 403 and "belongs to another sales rep" in refused.text
            assert sales.get(f"/ui/customers/{m.accounts_by_owner[rep][0]}").status_code == 200
            assert sales.get(f"/ui/tickets/{m.open_ticket_ids[0]}").status_code == 403  # sales reads no tickets
            assert sales.get("/ui/admin/records/tickets/1").status_code == 403


def test_an_expired_session_is_sent_to_the_login_page() -> None:
    with (
        EmbeddedCRM(size="tiny", faults=Faults(token_ttl_s=1.0)) as crm,
        sign_in(crm.base_url, _user(crm, "service")) as agent,
    ):
        assert agent.get("/ui/customers/search", params={"q": "A"}).status_code == 200
        time.sleep(1.2)
        r = agent.get("/ui/customers/search", params={"q": "A"})
        assert r.status_code == 302 and r.headers["location"].startswith("/ui/login?next=")


# -- the OAuth2 token endpoint ----------------------------------------------------------------------


def test_oauth2_grants_refresh_with_rotation_and_refuse_in_rfc_6749s_words(pages_crm: EmbeddedCRM) -> None:
    name = _user(pages_crm, "sales")
    with httpx.Client(base_url=pages_crm.base_url) as http:
        got = http.post("/oauth/token", data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
        assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
        body = got.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 48 * 3600 and body["refresh_token"]
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        assert http.get("/api/customers/search", params={"q": "A"}, headers=bearer).status_code == 200
        renewed = http.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
        )
        assert renewed.status_code == 200 and renewed.json()["refresh_token"] != body["refresh_token"]
        spent = http.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
        assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
        wrong = http.post("/oauth/token", data={"grant_type": "password", "username": name, "password": "nope"})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        client = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(name, f"{name}-pw"))
        assert client.status_code == 200 and "refresh_token" not in client.json()  # RFC 6749 4.4.3
        bad_client = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(name, "nope"))
        assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
        assert bad_client.headers["www-authenticate"].startswith("Basic")
        other = http.post("/oauth/token", data={"grant_type": "implicit"})
        assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"
        as_json = http.post("/oauth/token", json={"grant_type": "password"})
        assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


# -- the helpers ------------------------------------------------------------------------------------


PAGE = b"""<!doctype html><html><head><meta name="csrf-token" content="meta-token"></head><body>
<form id="deal" method="post" action="save?step=2">
  <input type="hidden" name="csrfmiddlewaretoken" value="hidden-token">
  <input name="name" value="Acme renewal"><input name="amount">
  <select name="stage"><option value="new">New</option><option value="won" selected>Won</option></select>
  <select name="owner"><option value="7">Ann</option><option value="8">Bo</option></select>
  <input type="checkbox" name="notify" value="yes" checked><input type="checkbox" name="archive" value="yes">
  <input type="checkbox" name="vip" checked><input name="locked" value="x" disabled>
  <textarea name="note">first line</textarea>
  <input type="submit" name="go" value="Save">
</form><form action="/search"><input name="q"></form>
<a href="/deals/41">A</a><a href="/deals/42?tab=x">B</a><a href="/accounts/9">C</a>
<dl><dt>account_id</dt><dd> 17 </dd><dt>status</dt><dd>open</dd></dl></body></html>"""


def test_a_form_is_replayed_as_a_browser_sends_it_with_its_defaults() -> None:
    page = parse_page(PAGE, "/deals/41/edit")
    assert page is not None
    form = page.form(id="deal")
    assert form is not None and form.method == "POST" and form.action == "/deals/41/save?step=2"
    # a browser sends the hidden token, an empty input empty, each select's chosen (else first) option,
    # checked boxes only (without a value: "on"), the textarea, nothing disabled, and no button it did not press
    assert form.values == [
        ("csrfmiddlewaretoken", "hidden-token"),
        ("name", "Acme renewal"),
        ("amount", ""),
        ("stage", "won"),
        ("owner", "7"),
        ("notify", "yes"),
        ("vip", "on"),
        ("note", "first line"),
    ]
    assert form.filled(amount=1200, notify=None, extra="x") == [
        ("csrfmiddlewaretoken", "hidden-token"),
        ("name", "Acme renewal"),
        ("amount", "1200"),
        ("stage", "won"),
        ("owner", "7"),
        ("vip", "on"),
        ("note", "first line"),
        ("extra", "x"),
    ]
    assert page.form(action="/search") == Form("/search", "GET", [("q", "")], "")
    assert [m.group(1) for m in page.links(r"^/deals/(\d+)")] == ["41", "42"]
    assert page.pairs() == {"account_id": "17", "status": "open"}
    assert not page.is_login()
    assert csrf_from_page(page) == "hidden-token"
    assert csrf_from_page(page, names=("nothing",)) == "meta-token"
    assert parse_page(b'{"json": true}') is None


def test_csrf_cookies_redirects_and_login_pages_are_recognised() -> None:
    jar = httpx.Cookies()
    jar.set("sessionid", "s")
    jar.set("XSRF-TOKEN", "from-cookie")
    assert csrf_from_cookie(jar.jar) == "from-cookie"
    assert csrf_from_cookie(httpx.Cookies().jar) is None

    class Answer:
        def __init__(self, status: int, location: str | None) -> None:
            self.status_code = status
            self.headers = {"location": location} if location else {}

    assert redirect_location(Answer(302, "https://crm.example/ui/leads/5?x=1")) == "/ui/leads/5?x=1"
    assert redirect_location(Answer(303, "/accounts/3")) == "/accounts/3"
    assert redirect_location(Answer(200, "/accounts/3")) is None
    assert to_login_page("/ui/login?next=%2Fui%2F") and to_login_page("/users/sign_in")
    assert not to_login_page("/ui/leads/5?next=login") and not to_login_page(None)


# -- crmload through the HTML and OAuth2 adapters ----------------------------------------------------


def _by(samples: Any, *keys: str) -> dict[Any, int]:
    return {k: int(v) for k, v in samples.groupby(list(keys)).size().items()}


def test_smoke_through_the_pages_passes_with_every_declared_operation_and_the_read_back(tmp_path: Path) -> None:
    run = crmload("run", str(SCENARIO), "--adapter", PAGES, results=tmp_path / "r", timeout_s=240)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    samples = run.samples()
    requests = samples[samples["kind"] == "request"]
    ops = set(requests["operation"])
    declared = {"auth.login", "customer.search", "customer.view", "activity.log", "lead.create", "ticket.create",
                "ticket.view", "ticket.comment"}  # fmt: skip
    assert declared <= ops, declared - ops
    work = requests[~requests["journey"].str.startswith("probe.")]
    statuses = _by(work, "operation", "status")
    # each form is fetched (200) and posted (302: its record's id is only in Location)
    for op in ("lead.create", "ticket.create", "auth.login"):
        assert statuses.get((op, 200), 0) > 0 and statuses.get((op, 302), 0) > 0, (op, statuses)
    assert set(work["outcome"]) == {"ok"}, _by(work, "operation", "outcome")
    data = run.clause("DATA-01")
    assert data["status"] == "PASS" and data["samples"] > 100  # decided by reading each record's page back
    probes = requests[requests["journey"].str.startswith("probe.")]
    sec = run.clause("SEC-AC-01")
    assert sec["status"] == "PASS" and sec["samples"] == len(probes) > 10, sec
    assert sec["reason"] == f"0 of {len(probes)} checks breached"  # none unclear
    # an anonymous search is sent to the login page (a denial); sales may not read a ticket (403)
    assert _by(probes, "operation", "status", "outcome").keys() <= {
        ("customer.search", 302, "denied"),
        ("ticket.view", 403, "denied"),
    }


def test_through_the_pages_a_granted_right_a_lost_session_and_a_refused_form_are_each_reported(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    run = crmload(
        "run", str(SCENARIO), "--adapter", "pages_adapter:PagesWithMistakes", "--crm-grant-forbidden",
        "--crm-token-ttl", "8s", results=tmp_path / "r", timeout_s=240, env=env,
    )  # fmt: skip
    assert run.code == 1, run.stdout[-3000:] + run.stderr[-2000:]
    verdict = run.json("verdict.json")
    sec = run.clause("SEC-AC-01")
    assert sec["status"] == "FAIL"
    assert (
        "sales was granted ticket.view (HTTP 200)" in sec["reason"]
        or "sales was granted ticket.comment (HTTP 302)" in sec["reason"]
    )
    samples = run.samples()
    probes = samples[(samples["kind"] == "request") & samples["journey"].str.startswith("probe.")]
    # the comment probe's form was served (granted CRM): an ordinary request, not counted as a probe
    served_forms = probes[(probes["operation"] == "ticket.comment") & (probes["status"] == 200)]
    assert len(served_forms) > 0 and set(served_forms["outcome"]) == {"ok"}
    assert sec["samples"] == len(probes) - len(served_forms)
    granted = probes[probes["outcome"] == "granted"]
    assert set(zip(granted["operation"], granted["status"], strict=True)) <= {
        ("ticket.view", 200),
        ("ticket.comment", 302),
    }
    # a session that expired sends each page to the login page: counted as lost, then signed in again
    sess = run.clause("SEC-SESS-01")
    assert sess["status"] == "FAIL", sess
    lost = samples[(samples["kind"] == "request") & (samples["outcome"] == "auth_lost")]
    assert len(lost) > 0 and set(lost["status"]) == {302}
    reasons = verdict["failure_reasons"]
    assert any("302 to the login page after a successful login" in r["example"] for r in reasons), reasons
    # the CRM's own words on a refused form, by operation, status and count
    refused = [r for r in reasons if r["operation"] == "lead.create" and r["outcome"] == "check_failed"]
    assert refused and refused[0]["status"] == 200 and refused[0]["count"] > 0
    assert "the form was shown again: email: String should match pattern" in refused[0]["example"], refused


def test_oauth2_tokens_are_renewed_before_they_expire_so_no_session_is_lost(tmp_path: Path) -> None:
    run = crmload("run", "smoke", "--adapter", OAUTH2, "--crm-token-ttl", "6s", results=tmp_path / "r", timeout_s=240)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.clause("SEC-SESS-01")["status"] == "PASS"
    samples = run.samples()
    logins = samples[samples["operation"] == "auth.login"]
    # 12 closed users over 40 s, each renewing about every 4.5 s (6 s tokens, renewed at three quarters
    # of their life): well over 60 token requests, every one answered, and not one request refused
    assert len(logins) > 60, len(logins)
    assert set(logins["status"]) == {200} and (samples["outcome"] == "auth_lost").sum() == 0


_HTML_READINGS = """
import json, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from locust.env import Environment
from locust.contrib.fasthttp import FastHttpSession
from crmload.loadtests.adapters.html import HtmlAdapter

LOGIN = b"<html><body><form action='/login' method='post'><input name='u'><input type='password' name='p'></form>"
PAGES = {"/login-page": (200, None, LOGIN), "/page": (200, None, b"<html><body><h1>Acme</h1></body></html>"),
         "/again": (200, None, b"<html><body><ul class='errorlist'><li>Name: required</li></ul><form></form>"),
         "/to-login": (302, "/users/sign_in", b""), "/to-record": (302, "/deals/5", b""), "/no": (403, None, b""),
         "/gone": (401, None, b"")}

class Crm(BaseHTTPRequestHandler):
    def answer(self):
        status, location, body = PAGES[self.path]
        self.send_response(status)
        if location:
            self.send_header("location", location)
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *a):
        pass

server = HTTPServer(("127.0.0.1", 0), Crm)
threading.Thread(target=server.serve_forever, daemon=True).start()
session = FastHttpSession(f"http://127.0.0.1:{server.server_port}", Environment().events.request, user=None)
adapter = HtmlAdapter(session, {})
out = {}
for method in ("GET", "POST"):
    for path in PAGES:
        r = session.request(method, path, allow_redirects=False)
        out[f"{method} {path}"] = [adapter.session_expired(r), adapter.probe_verdict("customer.view", r),
                                   adapter.check_failed("customer.view", r)]
print(json.dumps(out))
"""


def test_how_the_html_base_reads_a_lost_session_a_probe_and_a_form_shown_again() -> None:
    done = subprocess.run([sys.executable, "-c", _HTML_READINGS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # [session lost?, probe: denied / granted (False) / unclear (None), failure reason of a 2xx]
    assert out["GET /login-page"] == [True, True, "the login page was served"]
    assert out["GET /page"] == [False, False, None]
    assert out["GET /again"] == [False, None, "the form was shown again: Name: required"]
    assert out["GET /to-login"][:2] == [True, True] and out["POST /to-login"][:2] == [True, True]
    assert out["POST /to-record"][:2] == [False, False]  # a posted form sent on to its record: done
    assert out["GET /to-record"][:2] == [False, None]  # a page sent elsewhere: neither
    assert out["GET /no"][:2] == [False, True] and out["GET /gone"][:2] == [True, True]
