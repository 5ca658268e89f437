"""Adapter for the embedded reference CRM (``democrm``): bearer-token login and JSON operations."""

from __future__ import annotations

from typing import Any

from locust.contrib.fasthttp import FastResponse

from crmload.core.operations import RecordRef
from crmload.loadtests.adapter import Answer, CrmAdapter
from crmload.loadtests.adapters.oauth2 import OAuth2Adapter


class ReferenceCRM(CrmAdapter):
    name = "reference"

    def login(self, username: str, password: str) -> bool:
        r = self.call("auth.login", "POST", "/api/auth/login", json={"username": username, "password": password})
        if not r:
            return False
        self.client.auth_header = f"Bearer {r['token']}"
        return True

    def login_with_token(self, username: str, token: str) -> bool:
        """A user with a token (one the CRM issued before): checked with one search every role may make,
        named ``auth.login`` (it is this user's sign-in), so that a bad token fails the preflight."""
        self.client.auth_header = f"Bearer {token}"
        return self.call("auth.login", "GET", "/api/customers/search", params={"q": "a", "by": "name"}) is not None

    def check_target(self) -> str | None:
        r = self.client.get("/health", name="preflight.health")
        try:
            said = r.json() if r.status_code == 200 else None
        except ValueError:
            said = None
        if isinstance(said, dict) and said.get("service") == "democrm":
            return None
        return (
            f"answers HTTP but is not the reference CRM (GET /health gave {r.status_code}); "
            "for another CRM pass --adapter module:Class"
        )

    def read_back(self, entity: str, ids: list[int]) -> dict[int, dict[str, Any]] | None:
        r = self.call("audit.read_back", "POST", f"/api/admin/records/{entity}", json={"ids": ids})
        if not isinstance(r, dict) or not isinstance(r.get("records"), dict):
            return None
        return {int(k): v for k, v in r["records"].items()}

    def check_failed(self, operation: str, response: FastResponse) -> str | None:
        if response.content[:9] == b'{"error":':
            return "answer carries an error object"
        return None

    # customers
    def customer_search(self, q: str, by: str = "name") -> Answer:
        return self.call("customer.search", "GET", "/api/customers/search", params={"q": q, "by": by})

    def customer_view(self, account_id: RecordRef) -> Answer:
        return self.call("customer.view", "GET", f"/api/customers/{account_id}")

    def customer_create(self, record: dict[str, Any]) -> Answer:
        return self.call("customer.create", "POST", "/api/customers", json=record)

    def customer_update(self, account_id: RecordRef, patch: dict[str, Any]) -> Answer:
        return self.call("customer.update", "PATCH", f"/api/customers/{account_id}", json=patch)

    def contact_create(self, record: dict[str, Any]) -> Answer:
        return self.call("contact.create", "POST", "/api/contacts", json=record)

    def service_history(self, account_id: RecordRef) -> Answer:
        return self.call("service.history", "GET", f"/api/customers/{account_id}/history")

    # sales
    def lead_create(self, record: dict[str, Any]) -> Answer:
        return self.call("lead.create", "POST", "/api/leads", json=record)

    def lead_convert(self, lead_id: RecordRef) -> Answer:
        return self.call("lead.convert", "POST", f"/api/leads/{lead_id}/convert")

    def opportunity_list(self, page: int = 1, page_size: int = 25) -> Answer:
        return self.call("opportunity.list", "GET", "/api/opportunities", params={"page": page, "page_size": page_size})

    def opportunity_view(self, opp_id: RecordRef) -> Answer:
        return self.call("opportunity.view", "GET", f"/api/opportunities/{opp_id}")

    def opportunity_create(self, record: dict[str, Any]) -> Answer:
        return self.call("opportunity.create", "POST", "/api/opportunities", json=record)

    def opportunity_update_stage(self, opp_id: RecordRef, stage: str) -> Answer:
        return self.call(
            "opportunity.update_stage", "PATCH", f"/api/opportunities/{opp_id}/stage", json={"stage": stage}
        )

    def activity_log(self, account_id: RecordRef, kind: str, subject: str) -> Answer:
        return self.call(
            "activity.log", "POST", "/api/activities", json={"account_id": account_id, "kind": kind, "subject": subject}
        )

    # service
    def ticket_queue(self, status: str = "open", page: int = 1) -> Answer:
        return self.call("ticket.queue", "GET", "/api/tickets", params={"status": status, "page": page})

    def ticket_create(self, account_id: RecordRef, subject: str, priority: str = "normal") -> Answer:
        return self.call(
            "ticket.create",
            "POST",
            "/api/tickets",
            json={"account_id": account_id, "subject": subject, "priority": priority},
        )

    def ticket_view(self, ticket_id: RecordRef) -> Answer:
        return self.call("ticket.view", "GET", f"/api/tickets/{ticket_id}")

    def ticket_comment(self, ticket_id: RecordRef, body: str) -> Answer:
        return self.call("ticket.comment", "POST", f"/api/tickets/{ticket_id}/comments", json={"body": body})

    def ticket_assign(self, ticket_id: RecordRef, assignee_id: RecordRef) -> Answer:
        return self.call("ticket.assign", "POST", f"/api/tickets/{ticket_id}/assign", json={"assignee_id": assignee_id})

    def ticket_resolve(self, ticket_id: RecordRef) -> Answer:
        return self.call("ticket.resolve", "POST", f"/api/tickets/{ticket_id}/resolve")

    def kb_search(self, q: str) -> Answer:
        return self.call("kb.search", "GET", "/api/kb/search", params={"q": q})

    def survey_submit(self, ticket_id: RecordRef, score: int, comment: str = "") -> Answer:
        return self.call(
            "survey.submit", "POST", "/api/surveys", json={"ticket_id": ticket_id, "score": score, "comment": comment}
        )

    # marketing
    def segment_preview(self, filter_: dict[str, Any]) -> Answer:
        return self.call("segment.preview", "POST", "/api/segments/preview", json={"filter": filter_})

    def campaign_create(self, name: str, filter_: dict[str, Any], channel: str = "email") -> Answer:
        return self.call(
            "campaign.create", "POST", "/api/campaigns", json={"name": name, "filter": filter_, "channel": channel}
        )

    def campaign_launch(self, campaign_id: RecordRef) -> Answer:
        return self.call("campaign.launch", "POST", f"/api/campaigns/{campaign_id}/launch")

    def campaign_report(self, campaign_id: RecordRef) -> Answer:
        return self.call("campaign.report", "GET", f"/api/reports/campaigns/{campaign_id}")

    def import_bulk(self, csv_text: str) -> Answer:
        return self.call(
            "import.bulk", "POST", "/api/import/leads", data=csv_text.encode(), headers={"Content-Type": "text/csv"}
        )

    def export_bulk(self, entity: str = "contacts", limit: int = 10_000) -> Answer:
        return self.call("export.bulk", "GET", f"/api/export/{entity}.csv", params={"limit": limit})

    # reports
    def report_pipeline(self) -> Answer:
        return self.call("report.pipeline", "GET", "/api/reports/pipeline")

    def report_service(self) -> Answer:
        return self.call("report.service", "GET", "/api/reports/service")

    def report_campaign(self) -> Answer:
        return self.call("report.campaign", "GET", "/api/reports/campaigns")

    # integration
    def order_sync(self, orders: list[dict[str, Any]]) -> Answer:
        return self.call("order.sync", "POST", "/api/orders/sync", json={"orders": orders})

    def webform_submit(self, record: dict[str, Any]) -> Answer:
        return self.call("webform.submit", "POST", "/api/webforms/lead", json=record)


class ReferenceCrmOAuth2(OAuth2Adapter, ReferenceCRM):
    """The reference CRM signed in through its OAuth2 token endpoint (``POST /oauth/token``, the password
    grant) instead of its own login, with the access token renewed before it expires (or after a 401)
    by the refresh token: the OAuth2 path, worked on a CRM crmload can check end to end."""

    name = "reference-oauth2"
    token_path = "/oauth/token"
    grant = "password"
