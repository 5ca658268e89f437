"""How the reference CRM serves the canonical operations: route, method, and which role may call which.

The operations themselves (their names, which write) are :mod:`crmload.core.operations`'; this
table adds the reference CRM's own routes and role rules, and is the single source for its
routing, permission checks, OpenAPI document and the tests' role-boundary matrix. It serves every
canonical operation (checked when it loads). Row-level rules (a sales rep only touches what they
own; service never sees opportunity amounts) live in the handlers, because they depend on the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmload.core import operations as canonical

ROLES: tuple[str, ...] = ("sales", "service", "marketing", "manager", "admin", "integration")

ALL = frozenset(ROLES) - {"integration"}


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    roles: frozenset[str]
    write: bool
    summary: str


def _op(name: str, method: str, path: str, roles: set[str] | frozenset[str], summary: str) -> Operation:
    write = canonical.OPERATIONS[name].write  # a KeyError here: not a canonical operation
    return Operation(name, method, path, frozenset(roles) | {"admin"}, write, summary)


OPERATIONS: dict[str, Operation] = {
    o.name: o
    for o in [
        _op("auth.login", "POST", "/api/auth/login", set(ROLES), "Exchange username and password for a token"),
        _op(
            "customer.search",
            "GET",
            "/api/customers/search",
            ALL,
            "Search customers by name prefix, phone or e-mail (q, by=name|phone|email)",
        ),
        _op(
            "customer.view",
            "GET",
            "/api/customers/{id}",
            ALL,
            "Customer 360: account, contacts, open opportunities, recent activities and tickets",
        ),
        _op("customer.create", "POST", "/api/customers", {"sales", "marketing"}, "Create an account"),
        _op("customer.update", "PATCH", "/api/customers/{id}", {"sales", "service"}, "Update an account"),
        _op("contact.create", "POST", "/api/contacts", {"sales", "service", "marketing"}, "Create a contact"),
        _op("lead.create", "POST", "/api/leads", {"sales", "marketing", "integration"}, "Create a lead"),
        _op(
            "lead.convert",
            "POST",
            "/api/leads/{id}/convert",
            {"sales"},
            "Convert a lead into an account, a contact and an opportunity",
        ),
        _op(
            "opportunity.list",
            "GET",
            "/api/opportunities",
            {"sales", "manager"},
            "Paginated opportunities (sales: own only)",
        ),
        _op("opportunity.view", "GET", "/api/opportunities/{id}", {"sales", "manager"}, "One opportunity"),
        _op("opportunity.create", "POST", "/api/opportunities", {"sales"}, "Create an opportunity"),
        _op(
            "opportunity.update_stage",
            "PATCH",
            "/api/opportunities/{id}/stage",
            {"sales"},
            "Move an opportunity to another pipeline stage",
        ),
        _op("activity.log", "POST", "/api/activities", {"sales", "service"}, "Log a call, e-mail or meeting"),
        _op("ticket.queue", "GET", "/api/tickets", {"service", "manager"}, "Paginated ticket queue"),
        _op("ticket.create", "POST", "/api/tickets", {"service"}, "Open a ticket"),
        _op("ticket.view", "GET", "/api/tickets/{id}", {"service", "manager"}, "A ticket with its comments"),
        _op("ticket.comment", "POST", "/api/tickets/{id}/comments", {"service"}, "Comment on a ticket"),
        _op("ticket.assign", "POST", "/api/tickets/{id}/assign", {"service"}, "Assign a ticket to an agent"),
        _op("ticket.resolve", "POST", "/api/tickets/{id}/resolve", {"service"}, "Resolve a ticket"),
        _op(
            "service.history",
            "GET",
            "/api/customers/{id}/history",
            {"service", "manager"},
            "A customer's tickets, comments and activities, newest first",
        ),
        _op("kb.search", "GET", "/api/kb/search", {"service", "sales", "manager"}, "Search knowledge-base articles"),
        _op("survey.submit", "POST", "/api/surveys", {"service"}, "Record a satisfaction survey for a ticket"),
        _op(
            "segment.preview",
            "POST",
            "/api/segments/preview",
            {"marketing", "manager"},
            "Count and sample the contacts a filter selects",
        ),
        _op("campaign.create", "POST", "/api/campaigns", {"marketing"}, "Create a campaign over a segment filter"),
        _op(
            "campaign.launch",
            "POST",
            "/api/campaigns/{id}/launch",
            {"marketing"},
            "Launch a campaign: one send per contact in its segment",
        ),
        _op(
            "campaign.report",
            "GET",
            "/api/reports/campaigns/{id}",
            {"marketing", "manager"},
            "Sends, opens and conversions of one campaign",
        ),
        _op(
            "import.bulk",
            "POST",
            "/api/import/{entity}",
            {"marketing"},
            "Bulk import of up to 10,000 leads or contacts (CSV or JSON)",
        ),
        _op("export.bulk", "GET", "/api/export/{entity}", {"marketing", "manager"}, "Streaming CSV export"),
        _op(
            "report.pipeline",
            "GET",
            "/api/reports/pipeline",
            {"sales", "manager"},
            "Pipeline by stage: count and amount",
        ),
        _op(
            "report.service",
            "GET",
            "/api/reports/service",
            {"service", "manager"},
            "Service SLA: open, breached, median time to resolve",
        ),
        _op(
            "report.campaign",
            "GET",
            "/api/reports/campaigns",
            {"marketing", "manager"},
            "Performance of every campaign",
        ),
        _op(
            "order.sync",
            "POST",
            "/api/orders/sync",
            {"integration"},
            "Upsert a batch of orders from an ERP or shop by external id",
        ),
        _op("webform.submit", "POST", "/api/webforms/lead", {"integration"}, "A web-form lead from the website"),
    ]
}

_missing = set(canonical.OPERATION_NAMES) - set(OPERATIONS)
if _missing:
    raise ImportError(f"the reference CRM serves no route for the canonical operations {sorted(_missing)}")


def _readers(*names: str) -> frozenset[str]:
    return frozenset().union(*(OPERATIONS[n].roles for n in names))


# The customer 360 view's sections and the roles that see each: the roles that may read that kind of
# record through its own operation. Service sees open opportunities without their amounts (the
# handlers' row rule); marketing, which reads no tickets, opportunities or activities, sees the
# account and its contacts. A section a role may not read is left out of the answer.
CUSTOMER_VIEW_SECTIONS: dict[str, frozenset[str]] = {
    "contacts": OPERATIONS["customer.view"].roles,
    "open_opportunities": _readers("opportunity.view") | {"service"},
    "recent_activities": _readers("activity.log", "service.history"),
    "tickets": _readers("ticket.view"),
}

PIPELINE_STAGES: tuple[str, ...] = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
TICKET_STATUSES: tuple[str, ...] = ("open", "pending", "resolved")
ACTIVITY_KINDS: tuple[str, ...] = ("call", "email", "meeting")
