"""The adapter's one request path, over real HTTP with Locust's own client: an answer whose status the
operation does not expect is never a silent success, and what the CRM said is the failure's reason."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from crmload.democrm.server import EmbeddedCRM

# run in a child: Locust's client patches the process (gevent)
_PROBE = """
import json, sys
from locust.env import Environment
from locust.contrib.fasthttp import FastHttpSession
from crmload.loadtests.adapter import CrmAdapter
from crmload.loadtests.capture import outcome_of

env = Environment()
seen = []
env.events.request.add_listener(
    lambda name, exception=None, response=None, **kw: seen.append(
        [name, response.status_code if response is not None else 0, type(exception).__name__ if exception else None,
         str(exception) if exception else None,
         str(outcome_of(response.status_code if response is not None else 0, exception)) if exception else "ok"]
    )
)
session = FastHttpSession(sys.argv[1], env.events.request, user=None)
adapter = CrmAdapter(session, {})
answers = [
    adapter.call("customer.view", "GET", "/health", expect=(201,)),   # 200 where 201 is expected
    adapter.call("customer.view", "GET", "/api/customers/1"),          # 401: not logged in
    adapter.call("customer.view", "GET", "/health"),                   # 200 as expected
]
print(json.dumps({"answers": [a if not isinstance(a, bytes) else a.decode() for a in answers], "seen": seen}))
"""


def test_a_status_the_operation_does_not_expect_is_a_failure_with_the_crms_reason() -> None:
    with EmbeddedCRM(size="tiny") as crm:
        done = subprocess.run([sys.executable, "-c", _PROBE, crm.base_url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    unexpected, unauthorised, fine = out["seen"]
    assert out["answers"][0] is None and out["answers"][1] is None and out["answers"][2]["status"] == "ok"
    assert unexpected[1:] == [200, "UnexpectedStatus", unexpected[3], "check_failed"]
    assert unexpected[3].startswith("HTTP 200: ")
    assert unauthorised[1:3] == [401, "UnexpectedStatus"] and unauthorised[4] == "http_4xx"
    assert "missing bearer token" in unauthorised[3]  # the CRM's own detail is the reason
    assert fine[2] is None and fine[4] == "ok"


def test_every_role_logs_in_once_before_the_load_and_a_refused_one_is_named(tmp_path: Path) -> None:
    """Through an adapter of one's own (not the shipped one): the preflight logs each role the
    scenario needs in once; a wrong password exits 2 in seconds naming role, user and the CRM's answer."""
    (tmp_path / "mycrm.py").write_text(
        "from crmload.loadtests.adapters.reference import ReferenceCRM\n\n\n"
        "class Mine(ReferenceCRM):\n    name = 'mine'\n"
    )
    with EmbeddedCRM(size="small") as crm:
        data = json.loads(crm.manifest_path.read_text())
        service = next(u for u in data["users"] if u["role"] == "service")
        service["password"] = "not-the-password"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(data))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "crmload.cli", "run", "smoke", "--target", crm.base_url, "--adapter", "mycrm:Mine",
             "--testdata", str(bad), "--results", str(tmp_path / "r")],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
        served = dict(crm.state.served)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"service ({service['username']}): HTTP 401: wrong username or password" in done.stderr, done.stderr
    assert "1 of 5 roles could not log in" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists() and took < 30
    assert set(served) == {"auth.login"} and served["auth.login"] == 5  # one login per role, no load


_ANONYMOUS = """
import json, sys, threading
from http.cookiejar import Cookie
from http.server import BaseHTTPRequestHandler, HTTPServer
from locust.env import Environment
from locust.contrib.fasthttp import FastHttpSession
from crmload.loadtests.adapter import CrmAdapter

heard = []

class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        heard.append({"cookie": self.headers.get("cookie"), "authorization": self.headers.get("authorization")})
        self.send_response(401); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a):
        pass

server = HTTPServer(("127.0.0.1", 0), Echo)
threading.Thread(target=server.serve_forever, daemon=True).start()
session = FastHttpSession(f"http://127.0.0.1:{server.server_port}", Environment().events.request, user=None)
session.auth_header = "Bearer secret-token"
session.cookiejar.set_cookie(Cookie(0, "sid", "secret-session", None, False, "127.0.0.1", False, False, "/", True,
                                    False, None, False, None, None, {}))

class Probe(CrmAdapter):
    def customer_search(self, q, by="name"):
        return self.call("customer.search", "GET", "/search")

adapter = Probe(session, {})
print(json.dumps({"anonymous": adapter.probe("customer.search", "A", anonymous=True),
                  "signed": adapter.probe("customer.search", "A"), "heard": heard}))
"""


def test_an_anonymous_probe_carries_no_credentials_not_even_the_sessions_cookies() -> None:
    done = subprocess.run([sys.executable, "-c", _ANONYMOUS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    anonymous, signed = out["heard"]
    assert anonymous == {"cookie": None, "authorization": None}
    assert signed["authorization"] == "Bearer secret-token" and "secret-session" in signed["cookie"]  # put back
    assert out["anonymous"] == {"denied": True, "status": 401}


def test_any_adapter_with_read_back_decides_data_01_by_reading_the_writes_back(tmp_path: Path) -> None:
    """DATA-01 is not the shipped adapter's alone: an adapter of one's own that reads records back has
    its acknowledged writes audited through it (signed in as its readback_role), rolled-back ones found."""
    (tmp_path / "mycrm.py").write_text(
        "from crmload.loadtests.adapters.reference import ReferenceCRM\n\n\n"
        "class Mine(ReferenceCRM):\n    name = 'mine'\n"
    )
    scenario = tmp_path / "writes.yaml"
    scenario.write_text(
        "name: own-adapter-writes\nsize: tiny\n"
        "personas:\n  sales: {weight: 1, think_time: [0.02s, 0.05s]}\n"
        "stages:\n  - {name: hold, users: 4, spawn_rate: 4, duration: 8s}\njudge: [DATA-01]\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", str(scenario), "--adapter", "mycrm:Mine",
         "--crm-drop-write-rate", "0.2", "--results", str(tmp_path / "r"), "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    run_dir = next((tmp_path / "r").iterdir())
    audit = json.loads((run_dir / "audit.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    data01 = next(c for c in verdict["clauses"] if c["id"] == "DATA-01")
    assert audit["acknowledged"] >= 20 and audit["checked"] == audit["acknowledged"], audit
    assert 0 < audit["breaches"] < audit["checked"], audit  # one write in five rolled back, found by read-back
    assert data01["status"] == "FAIL" and done.returncode == 1, done.stdout + done.stderr


_VERDICTS = """
import json, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from locust.env import Environment
from locust.contrib.fasthttp import FastHttpSession
from crmload.loadtests.adapter import CrmAdapter

ANSWERS = {"/forbidden": (403, None), "/login-page": (302, "/accounts/login/?next=/x"), "/granted": (200, None),
           "/elsewhere": (302, "/x/2"), "/missing": (404, None)}

class Crm(BaseHTTPRequestHandler):
    def do_GET(self):
        status, location = ANSWERS[self.path]
        self.send_response(status)
        if location:
            self.send_header("location", location)
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a):
        pass

server = HTTPServer(("127.0.0.1", 0), Crm)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = Environment()
seen = []
env.events.request.add_listener(lambda context=None, exception=None, **kw: seen.append(
    [context.get("probe_outcome"), exception is None]))
session = FastHttpSession(f"http://127.0.0.1:{server.server_port}", env.events.request, user=None)

class Probe(CrmAdapter):
    def customer_view(self, path):  # a probe follows no redirect: the 302 is the answer
        return self.call("customer.view", "GET", path)

adapter = Probe(session, {})
answers = [adapter.probe("customer.view", path) for path in ANSWERS]
location = adapter.last_response.headers.get("location")  # the last call's response, for the adapter
print(json.dumps({"answers": answers, "seen": seen, "location": location}))
"""


def test_a_probe_is_read_as_denied_granted_or_unclear_and_recorded_so() -> None:
    """A redirect to the login page is a denial, a 2xx a grant, anything else unclear; the sample carries
    the reading (its outcome), and no probe is ever a failure of the load."""
    done = subprocess.run([sys.executable, "-c", _VERDICTS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert [a["denied"] for a in out["answers"]] == [True, True, False, None, None]
    assert out["seen"] == [["denied", True], ["denied", True], ["granted", True], ["unclear", True], ["unclear", True]]
    assert out["location"] is None  # /missing: a 404 without one (the 302s' Location was read before)


def test_adapter_new_writes_a_skeleton_that_loads_and_check_calls_every_operation_once(tmp_path: Path) -> None:
    new = subprocess.run([sys.executable, "-m", "crmload.cli", "adapter", "new", "mycrm", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert new.returncode == 0 and (tmp_path / "mycrm.py").exists(), new.stderr
    again = subprocess.run([sys.executable, "-m", "crmload.cli", "adapter", "new", "mycrm", "--dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 2 and "exists" in again.stderr  # nothing overwritten
    loads = subprocess.run(
        [sys.executable, "-c", "from crmload.loadtests.runtime import load_adapter as l; "
         "print(sorted(l('mycrm:Mycrm').supported_operations()))"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert loads.returncode == 0 and "['customer.search', 'customer.view']" in loads.stdout, loads.stderr
    with EmbeddedCRM(size="tiny") as crm:
        done = subprocess.run(
            [sys.executable, "-m", "crmload.cli", "adapter", "check", "--target", crm.base_url, "--adapter",
             "crmload.loadtests.adapters.reference:ReferenceCRM", "--testdata", str(crm.manifest_path), "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        served = dict(crm.state.served)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 32 and all(r["result"] == "ok" and r["requests"] == 1 for r in rows), rows
    assert all(served.get(r["operation"], 0) >= 1 for r in rows)  # each one reached the CRM


def test_users_with_tokens_sign_in_with_them_and_a_bad_token_fails_the_preflight(tmp_path: Path) -> None:
    """Credentials as tokens: a user the test data gives a token (here one the CRM issued) signs in with it,
    never with a password; a token the CRM refuses exits 2 before any load, naming the role."""
    import os

    import httpx

    scenario = tmp_path / "tokens.yaml"
    scenario.write_text(
        "name: tokens\nsize: tiny\npersonas:\n  sales: {weight: 1, think_time: [0.05s, 0.1s]}\n"
        "stages:\n  - {name: hold, users: 2, spawn_rate: 2, duration: 5s}\njudge: [SEC-SESS-01]\n"
    )
    with EmbeddedCRM(size="tiny") as crm:
        data = json.loads(crm.manifest_path.read_text())
        env = dict(os.environ)
        for i, user in enumerate(u for u in data["users"] if u["role"] == "sales"):
            said = httpx.post(f"{crm.base_url}/api/auth/login", json={"username": user["username"],
                                                                        "password": user.pop("password")})  # fmt: skip
            env[f"CRM_TOKEN_{i}"] = said.json()["token"]
            user["token"] = f"env:CRM_TOKEN_{i}"
        good = tmp_path / "tokens.json"
        good.write_text(json.dumps(data))
        served_before = crm.state.served.get("auth.login", 0)

        def run(path: Path, results: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "crmload.cli", "run", str(scenario), "--target", crm.base_url,
                 "--testdata", str(path), "--results", str(tmp_path / results), "--quiet"],
                capture_output=True, text=True, timeout=120, env=env,
            )  # fmt: skip

        done = run(good, "good")
        logins = crm.state.served.get("auth.login", 0) - served_before
        for i in range(len([u for u in data["users"] if u.get("token")])):
            env[f"CRM_TOKEN_{i}"] = "not-a-token"
        refused = run(good, "bad")
    assert done.returncode == 0, done.stdout + done.stderr
    assert logins == 1  # no sales user exchanged a password: the one login is the audit's admin, after the load
    assert refused.returncode == 2 and "sales (" in refused.stderr and "could not log in" in refused.stderr
    assert not (tmp_path / "bad").exists()


def test_an_adapter_whose_read_back_raises_leaves_data_01_undecided_with_its_words(tmp_path: Path) -> None:
    (tmp_path / "mycrm.py").write_text(
        "from crmload.loadtests.adapters.reference import ReferenceCRM\n\n\n"
        "class Broken(ReferenceCRM):\n    name = 'broken'\n\n"
        "    def read_back(self, entity, ids):\n        raise RuntimeError('no such table')\n"
    )
    scenario = tmp_path / "writes.yaml"
    scenario.write_text(
        "name: broken-read-back\nsize: tiny\npersonas:\n  sales: {weight: 1, think_time: [0.02s, 0.05s]}\n"
        "stages:\n  - {name: hold, users: 2, spawn_rate: 2, duration: 5s}\njudge: [DATA-01]\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", str(scenario), "--adapter", "mycrm:Broken",
         "--results", str(tmp_path / "r"), "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    run_dir = next((tmp_path / "r").iterdir())
    audit = json.loads((run_dir / "audit.json").read_text())
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert audit["checked"] == 0 and "the adapter raised RuntimeError: no such table" in audit["reason"], audit


def test_adapter_new_writes_a_skeleton_on_the_base_of_each_way_a_crm_speaks(tmp_path: Path) -> None:
    bases = {"rest": "CrmAdapter", "jsonrpc": "JsonRpcAdapter", "html": "HtmlAdapter", "oauth2": "OAuth2Adapter"}
    for kind in bases:
        command = ["adapter", "new", f"crm_{kind}", "--dir", str(tmp_path), "--kind", kind]
        new = subprocess.run(
            [sys.executable, "-m", "crmload.cli", *command], capture_output=True, text=True, timeout=60
        )
        assert new.returncode == 0, new.stderr
    code = (
        "from crmload.loadtests.runtime import load_adapter as l\n"
        "for kind in ('rest', 'jsonrpc', 'html', 'oauth2'):\n"
        "    cls = l(f'crm_{kind}:Crm' + kind.capitalize())\n"
        "    print(kind, [k.__name__ for k in cls.__mro__[1:3]], sorted(cls.supported_operations()))\n"
    )
    loads = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert loads.returncode == 0, loads.stderr
    for line, (kind, base) in zip(loads.stdout.splitlines(), bases.items(), strict=True):
        assert line.startswith(f"{kind} ['{base}'") and line.endswith("['customer.search', 'customer.view']"), line
