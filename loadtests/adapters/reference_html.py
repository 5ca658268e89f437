"""Adapter for the reference CRM's pages (``/ui/``): a session cookie, a CSRF token in every form, forms
replayed with their defaults, a ``302`` to the new record as the answer — the HTML path, worked through
:class:`~crmload.loadtests.adapters.html.HtmlAdapter` on a CRM crmload can check end to end.

The pages cover signing in, customer search and the customer page (with its activity form), the lead
and ticket forms and the ticket page (with its comment form); the rest of the reference CRM is its JSON
API (``reference.py``). A form on a record's page is posted from the page the user is on; the adapter
fetches it first (a request of the same operation, a prelude in a probe) unless that page is the last
one it fetched.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from crmload.core.operations import RecordRef
from crmload.loadtests.adapter import Answer
from crmload.loadtests.adapters.html import HtmlAdapter
from crmload.loadtests.htmlforms import Form, Page

_PAGES = "the reference CRM's pages have no {}: its JSON API (--adapter reference) does"


_WHAT = {
    "customer.create": "customer form",
    "customer.update": "customer edit form",
    "contact.create": "contact form",
    "lead.convert": "lead conversion",
    "opportunity.list": "opportunity list",
    "opportunity.view": "opportunity page",
    "opportunity.create": "opportunity form",
    "opportunity.update_stage": "stage form",
    "ticket.queue": "ticket queue",
    "ticket.assign": "assignment form",
    "ticket.resolve": "resolve button",
    "service.history": "history page",
    "kb.search": "knowledge base",
    "survey.submit": "survey form",
    "segment.preview": "segment builder",
    "campaign.create": "campaign form",
    "campaign.launch": "campaign launch",
    "campaign.report": "campaign report page",
    "import.bulk": "import page",
    "export.bulk": "export page",
    "report.pipeline": "pipeline report page",
    "report.service": "service report page",
    "report.campaign": "campaign reports page",
    "order.sync": "order sync (an integration's call)",
    "webform.submit": "web-to-lead intake (an integration's API)",
}


def _id(pattern: str, location: Any) -> int | None:
    found = re.search(pattern, location) if isinstance(location, str) else None
    return int(found.group(1)) if found else None


class ReferenceCrmPages(HtmlAdapter):
    name = "reference-html"
    lacks: ClassVar[dict[str, str]] = {op: _PAGES.format(what) for op, what in _WHAT.items()}
    _last: Page | None = None

    def check_target(self) -> str | None:
        r = self.client.get("/ui/login", name="preflight.login_page")
        if r.status_code == 200 and b"Reference CRM" in (r.content or b"") and b"id='login'" in (r.content or b""):
            return None
        return f"GET /ui/login gave {r.status_code}, not the reference CRM's login page; is this the reference CRM?"

    def login(self, username: str, password: str) -> bool:
        page = self.page("auth.login", "/ui/login")  # sets the csrftoken cookie the form's token must match
        form = page.form(id="login") if isinstance(page, Page) else None
        if form is None:
            return False
        return self.submit("auth.login", form, username=username, password=password) is not None

    # -- pages ------------------------------------------------------------------------------------
    def _page(self, operation: str, path: str, **params: Any) -> Page | Answer:
        page = self.page(operation, path, params=params or None)
        self._last = page if isinstance(page, Page) else None
        return page

    def _form(self, operation: str, path: str, form_id: str) -> Form | Answer:
        """The form ``form_id`` of the page at ``path``: from the last page fetched when it is that page,
        else fetched (a prelude of ``operation``); a probe's answer or None when it could not be had."""
        page = self._last if self._last is not None and self._last.path == path else None
        if page is None:
            fetched = self.page(operation, path, prelude=True)
            if not isinstance(fetched, Page):
                return fetched
            page = self._last = fetched
        return page.form(id=form_id)

    def customer_search(self, q: str, by: str = "name") -> Answer:
        page = self._page("customer.search", "/ui/customers/search", q=q, by=by)
        if not isinstance(page, Page):
            return page
        ids = [int(m.group(1)) for m in page.links(r"^/ui/customers/(\d+)$")]
        return {"results": [{"id": i} for i in ids], "count": len(ids)}

    def customer_view(self, account_id: RecordRef) -> Answer:
        page = self._page("customer.view", f"/ui/customers/{account_id}")
        return {"account": page.pairs()} if isinstance(page, Page) else page

    def ticket_view(self, ticket_id: RecordRef) -> Answer:
        page = self._page("ticket.view", f"/ui/tickets/{ticket_id}")
        if not isinstance(page, Page):
            return page
        record = page.pairs()
        account = record.get("account_id", "")
        return {
            "id": ticket_id,
            "account_id": int(account) if account.isdigit() else None,
            "status": record.get("status"),
        }

    # -- forms ------------------------------------------------------------------------------------
    def _post(self, operation: str, form: Form | Answer, pattern: str, **values: Any) -> Answer:
        if not isinstance(form, Form):
            return form  # the probe's answer, or None (failed, recorded)
        location = self.submit(operation, form, **values)
        if not isinstance(location, str):
            return location
        self._last = None  # the page changed
        rid = _id(pattern, location)
        return {"id": rid} if rid is not None else None

    def lead_create(self, record: dict[str, Any]) -> Answer:
        form = self._form("lead.create", "/ui/leads/new", "lead")
        return self._post("lead.create", form, r"/ui/leads/(\d+)", **record)

    def ticket_create(self, account_id: RecordRef, subject: str, priority: str = "normal") -> Answer:
        form = self._form("ticket.create", f"/ui/tickets/new?account_id={account_id}", "ticket")
        return self._post("ticket.create", form, r"/ui/tickets/(\d+)", subject=subject, priority=priority)

    def ticket_comment(self, ticket_id: RecordRef, body: str) -> Answer:
        form = self._form("ticket.comment", f"/ui/tickets/{ticket_id}", "comment")
        return self._post("ticket.comment", form, r"#comment-(\d+)", body=body)

    def activity_log(self, account_id: RecordRef, kind: str, subject: str) -> Answer:
        form = self._form("activity.log", f"/ui/customers/{account_id}", "activity")
        return self._post("activity.log", form, r"#activity-(\d+)", kind=kind, subject=subject)

    # -- the lost-write audit -----------------------------------------------------------------------
    def read_back(self, entity: str, ids: list[Any]) -> dict[Any, dict[str, Any]] | None:
        """Each record's admin page (``/ui/admin/records/<table>/<id>``), one request per record."""
        found: dict[Any, dict[str, Any]] = {}
        for rid in ids:
            page = self.page("audit.read_back", f"/ui/admin/records/{entity}/{rid}", expect=(200, 404))
            if not isinstance(page, Page):
                return None  # the read failed: nothing is counted lost
            if self.last_response is not None and self.last_response.status_code == 200:
                found[rid] = page.pairs()
        return found
