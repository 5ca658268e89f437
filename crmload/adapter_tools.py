"""``crmload adapter new`` and ``crmload adapter check``: a skeleton to start an adapter from, and each
declared operation called once against the target (in a child process, through the adapter)."""

from __future__ import annotations

import keyword
from pathlib import Path
from typing import Any

from crmload.core.errors import CrmloadError, TargetError
from crmload.core.operations import OPERATIONS
from crmload.loadtests.settings import check_adapter
from crmload.loadtests.testdata import check_testdata
from crmload.safety import check_target_allowed, redact

# the signature of each operation's method, as the journeys call it: CrmAdapter's own (loadtests/adapter.py,
# where each is typed with its answer; a test keeps the two the same). Text, so that the CLI imports no Locust
SIGNATURES: dict[str, str] = {
    "customer.search": 'q: str, by: str = "name"',
    "customer.view": "account_id: RecordRef",
    "customer.create": "record: dict[str, Any]",
    "customer.update": "account_id: RecordRef, patch: dict[str, Any]",
    "contact.create": "record: dict[str, Any]",
    "lead.create": "record: dict[str, Any]",
    "lead.convert": "lead_id: RecordRef",
    "opportunity.list": "page: int = 1, page_size: int = 25",
    "opportunity.view": "opp_id: RecordRef",
    "opportunity.create": "record: dict[str, Any]",
    "opportunity.update_stage": "opp_id: RecordRef, stage: str",
    "activity.log": "account_id: RecordRef, kind: str, subject: str",
    "ticket.queue": 'status: str = "open", page: int = 1',
    "ticket.create": 'account_id: RecordRef, subject: str, priority: str = "normal"',
    "ticket.view": "ticket_id: RecordRef",
    "ticket.comment": "ticket_id: RecordRef, body: str",
    "ticket.assign": "ticket_id: RecordRef, assignee_id: RecordRef",
    "ticket.resolve": "ticket_id: RecordRef",
    "service.history": "account_id: RecordRef",
    "kb.search": "q: str",
    "survey.submit": 'ticket_id: RecordRef, score: int, comment: str = ""',
    "segment.preview": "filter_: dict[str, Any]",
    "campaign.create": 'name: str, filter_: dict[str, Any], channel: str = "email"',
    "campaign.launch": "campaign_id: RecordRef",
    "campaign.report": "campaign_id: RecordRef",
    "import.bulk": "csv_text: str",
    "export.bulk": 'entity: str = "contacts", limit: int = 10_000',
    "report.pipeline": "",
    "report.service": "",
    "report.campaign": "",
    "order.sync": "orders: list[dict[str, Any]]",
    "webform.submit": "record: dict[str, Any]",
}


def class_name(module: str) -> str:
    return "".join(part.capitalize() for part in module.split("_")) or "MyCrm"


# what a skeleton starts from, by how the CRM speaks: (import, base class, login and the two operations)
_REST = (
    "from crmload.loadtests.adapter import Answer, CrmAdapter",
    "CrmAdapter",
    """    def login(self, username: str, password: str) -> bool:
        answer = self.call("auth.login", "POST", "/api/login", json={"username": username, "password": password})
        if not isinstance(answer, dict):
            return False
        self.client.auth_header = f"Bearer {answer['token']}"
        return True

    def customer_search(self, q: str, by: str = "name") -> Answer:
        found = self.call("customer.search", "GET", "/api/accounts", params={by: q})
        return {"results": found} if isinstance(found, list) else None  # the journeys read results[].id

    def customer_view(self, account_id: Any) -> Answer:
        return self.call("customer.view", "GET", f"/api/accounts/{account_id}")
""",
)
_JSONRPC = (
    "from crmload.loadtests.adapter import Answer\nfrom crmload.loadtests.adapters.jsonrpc import JsonRpcAdapter",
    "JsonRpcAdapter",
    """    rpc_path = "/jsonrpc"  # the one URL every call is posted to

    def login(self, username: str, password: str) -> bool:
        session = self.rpc("auth.login", "common.login", username, password)
        if not isinstance(session, str):
            return False
        self.client.auth_header = f"Session {session}"
        return True

    def customer_search(self, q: str, by: str = "name") -> Answer:
        found = self.rpc("customer.search", "model.party.search", [[by, "ilike", f"{q}%"]], 0, 20)
        return {"results": [{"id": i} for i in found]} if isinstance(found, list) else None

    def customer_view(self, account_id: Any) -> Answer:
        return self.rpc("customer.view", "model.party.read", [account_id], ["name", "phone"])
""",
)
_HTML = (
    "from crmload.loadtests.adapter import Answer\nfrom crmload.loadtests.adapters.html import HtmlAdapter\n"
    "from crmload.loadtests.htmlforms import Page",
    "HtmlAdapter",
    """    def login(self, username: str, password: str) -> bool:
        page = self.page("auth.login", "/login")  # sets the session (and CSRF) cookies
        form = page.form(id="login") if isinstance(page, Page) else None
        # posted with its hidden fields (the CSRF token) and the two filled in; a 302 is the answer
        return form is not None and self.submit("auth.login", form, username=username, password=password) is not None

    def customer_search(self, q: str, by: str = "name") -> Answer:
        page = self.page("customer.search", "/accounts", params={"q": q})
        if not isinstance(page, Page):
            return page  # None (failed, recorded) or a probe's answer
        return {"results": [{"id": m.group(1)} for m in page.links(r"^/accounts/(\\d+)$")]}

    def customer_view(self, account_id: Any) -> Answer:
        page = self.page("customer.view", f"/accounts/{account_id}")
        return {"account": page.pairs()} if isinstance(page, Page) else page
""",
)
_OAUTH2 = (
    "from crmload.loadtests.adapter import Answer\nfrom crmload.loadtests.adapters.oauth2 import OAuth2Adapter",
    "OAuth2Adapter",
    """    token_path = "/oauth/token"  # login is the password grant there; tokens are renewed before they expire
    grant = "password"  # or "client_credentials": the user's name and password as the client's id and secret

    def customer_search(self, q: str, by: str = "name") -> Answer:
        found = self.call("customer.search", "GET", "/api/accounts", params={by: q})
        return {"results": found} if isinstance(found, list) else None  # the journeys read results[].id

    def customer_view(self, account_id: Any) -> Answer:
        return self.call("customer.view", "GET", f"/api/accounts/{account_id}")
""",
)
KINDS: dict[str, tuple[str, str, str]] = {"rest": _REST, "jsonrpc": _JSONRPC, "html": _HTML, "oauth2": _OAUTH2}


def skeleton(module: str, kind: str = "rest") -> str:
    """The source of a new adapter on the base for ``kind`` (one of :data:`KINDS`): login, the preflight and
    audit hooks, two operations written out and every other one listed with its signature and what the
    journeys read from its answer."""
    cls = class_name(module)
    imports, base, written = KINDS[kind]
    listed = []
    for op in OPERATIONS.values():
        if op.name in ("auth.login", "customer.search", "customer.view"):
            continue
        reads = f"  # reads {', '.join(op.reads)}" if op.reads else ""
        listed.append(
            f"    # def {op.method_name}(self, {SIGNATURES[op.name]}) -> Answer:{reads}".replace("(self, )", "(self)")
        )
    others = "\n".join(listed)
    return f'''"""Target adapter for <your CRM>: crmload's canonical operations on its API.

Check it against a test instance, then run a scenario through it:

    crmload adapter check --target URL --adapter {module}:{cls} --testdata testdata.json
    crmload run smoke --target URL --adapter {module}:{cls} --testdata testdata.json
"""

from __future__ import annotations

from typing import Any, ClassVar

from crmload.core.operations import AccessRule, RecordRef  # noqa: F401  (for access_rules, record ids)
{imports}


class {cls}({base}):
    name = "{module}"
    # what the CRM promises to refuse whom (SEC-AC-01 probes these and nothing else), with where it says so;
    # until you declare them, the reference CRM's matrix applies (its rules on operations you have)
    # access_rules: ClassVar[tuple[AccessRule, ...]] = (  # records: "any", "others" or "tenant"
    #     AccessRule("service", "opportunity.view", "any", "<the CRM's documentation: service has no deals>"),
    # )
    # what the CRM does not have, and why (reported before the load; never faked)
    lacks: ClassVar[dict[str, str]] = {{}}

    def check_target(self) -> str | None:
        """Is this the CRM the adapter speaks to? None when it is (called before any login)."""
        return None

    # def read_back(self, entity: str, ids: list[Any]) -> dict[Any, dict[str, Any]] | None:
    #     """The stored records for the lost-write audit (DATA-01): {{id: {{field: value}}}} (the entities and
    #     fields of writes.csv); None when the read failed. Without it DATA-01 stays INCONCLUSIVE."""

{written}
    # The other operations, each a method of this name (leave out those your CRM has not):
{others}
'''


def write_skeleton(module: str, folder: Path, kind: str = "rest") -> Path:
    if not module.isidentifier() or keyword.iskeyword(module):
        raise CrmloadError(f"{module!r}: not a module name — fix: give a Python identifier, e.g. mycrm")
    path = folder / f"{module}.py"
    if path.exists():
        raise CrmloadError(f"{path} exists — fix: give another name or --dir (nothing was overwritten)")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(skeleton(module, kind))
    return path


def _on_target(what: str, adapter: str, target: str, testdata: Path, allow_remote: bool) -> dict[str, Any]:
    """The checks before any request (loopback unless allowed, the adapter found, the test data valid, the
    target reachable), then ``what`` through the adapter in a child (:mod:`crmload.loadtests.preflight`)."""
    from crmload.runner import _through_adapter, preflight_reach

    base_url = target.rstrip("/")
    check_target_allowed(base_url, allow_remote)
    check_adapter(adapter)
    check_testdata(testdata)
    preflight_reach(base_url)
    answer = _through_adapter(what, adapter, base_url, [str(testdata)], 300.0)
    if "target" in answer:
        raise TargetError(f"{redact(base_url)} {answer['target']}")
    if "reason" in answer:
        raise TargetError(f"{redact(base_url)}: {answer['reason']}")
    return answer


def check_adapter_on_target(adapter: str, target: str, testdata: Path, allow_remote: bool) -> dict[str, Any]:
    """Each operation the adapter declares, called once (:mod:`crmload.loadtests.check`, in a child)."""
    return _on_target("check", adapter, target, testdata, allow_remote)


def build_testdata(adapter: str, target: str, users: Path, out: Path, allow_remote: bool) -> dict[str, Any]:
    """``crmload testdata build``: the test-data file ``users`` (its users, and keys of its own, kept)
    completed with what each user's session collects through the adapter, written to ``out``."""
    import json

    from crmload.core.rundir import write_json_atomic
    from crmload.core.testdata import assemble_testdata

    answer = _on_target("collect", adapter, target, users, allow_remote)
    data = assemble_testdata(json.loads(users.read_text()), answer["collected"])
    write_json_atomic(out, data)
    check_testdata(out)
    return data


def format_check(answer: dict[str, Any]) -> str:
    rows = answer["rows"]
    called = [r for r in rows if "ms" in r]
    ok = sum(r["result"] == "ok" for r in rows)
    out = [f"{answer['adapter']}: {answer['supported']} operations declared, {len(called)} called, {ok} answered as "
           "the journeys need"]  # fmt: skip
    width = max(len(r["operation"]) for r in rows)
    for r in rows:
        timing = f"{r['status']:>3}  {r['ms']:>7.1f} ms  {r['requests']} req" if "ms" in r else " " * 25
        line = f"  {r['operation']:<{width}}  {r['role']:<11}  {timing}  {r['result']}"
        out.append(line + (f"  {r['shape']}" if r.get("shape") else ""))
    return "\n".join(out)
