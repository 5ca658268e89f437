"""Personas and their journeys: Locust users that behave like a CRM's real users.

Each user logs in once as its own identity from the test data, then runs journeys: multi-step
sequences of canonical operations with think times between steps. Every request is recorded by
its operation; every journey also becomes one ``journey`` sample (first step start to last step
end, outcome = the first failing step's outcome). A step whose operation the adapter does not
support is skipped and counted, and its journey is counted as incomplete instead of recorded as a
journey (its time is not the journey's); a journey none of whose operations the adapter has is not
picked at all, so its persona's iterations (the integration persona's arrivals too) go to the others.

Closed personas (sales, service, marketing, manager) are shared among the stage's ``users`` by
weight. The integration persona is open-model: its users start iterations on the arrival schedule
(:mod:`loadtests.arrivals`).
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import gevent
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

from crmload.core.operations import PROBED_RECORD
from crmload.core.personas import JOURNEYS, option_value, weight_option
from crmload.core.rundir import Outcome
from crmload.loadtests import runtime
from crmload.loadtests.adapter import CrmAdapter, NotSupported

T = TypeVar("T")

SUBJECTS = ("Intro call", "Pricing follow-up", "Renewal check", "Demo recap", "Contract questions")
STAGE_FLOW = {
    "prospecting": "qualification",
    "qualification": "proposal",
    "proposal": "negotiation",
    "negotiation": "proposal",
}


def unique_phone(kind: str, tag: str) -> str:
    """A phone number of this record alone (a CRM that refuses duplicates must not refuse the journeys')."""
    return f"+1{zlib.crc32(f'{kind}:{tag}'.encode()) % 10**10:010d}"


class JourneyRun:
    """One journey in progress: its name, start and the first failing outcome of its steps."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.outcome: str = Outcome.OK
        self.skipped = False  # a step's operation is one the adapter does not have
        self.start_ts = time.time()
        self._t0 = time.perf_counter()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0


class CrmUser(FastHttpUser):
    """Base of every persona: identity, adapter, think time, journey recording."""

    abstract = True
    persona: ClassVar[str] = ""
    role: ClassVar[str] = ""
    journeys: ClassVar[dict[str, float]] = {}
    network_timeout = 60.0
    connection_timeout = 10.0
    max_retries = 0

    def on_start(self) -> None:
        rt = runtime.get()
        cfg = rt.scenario.personas.get(self.persona)  # type: ignore[call-overload]
        self.think_range = cfg.think_time if cfg else (0.0, 0.0)
        self.options: dict[str, Any] = dict(cfg.options) if cfg else {}
        self.rng = random.Random()
        self.data = rt.testdata
        self.identity = self.data.next_identity(self.role)
        self.context_: dict[str, Any] = {"persona": self.persona, "journey": "login"}
        self.adapter: CrmAdapter = rt.adapter_class(self.client, self.context_)
        self.adapter.testdata = self.data.raw
        self.adapter.sign_in(self.identity.username, self.identity.password, self.identity.token)
        self.setup()

    def setup(self) -> None:
        """Per-user data choices, after login."""

    # -- helpers used by journeys ------------------------------------------------------------------
    def option(self, name: str) -> float:
        """A persona option (crmload/personas.py): the scenario's value or the default."""
        return option_value(self.persona, self.options, name)

    def think(self) -> None:
        lo, hi = self.think_range
        if hi > 0:
            gevent.sleep(self.rng.uniform(lo, hi))

    def step(self, operation: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Run one step: the operation's answer (typed as the journeys read it), None when it failed or the
        adapter lacks it (the step is skipped and counted)."""
        try:
            return fn(*args)
        except NotSupported:
            runtime.get().capture.skip(operation)
            run = self.context_.get("journey_obj")
            if isinstance(run, JourneyRun):
                run.skipped = True
            return None

    def ack(self, entity: str, result: Any, field: str, value: Any, id_key: str = "id") -> None:
        """Remember an acknowledged write for the DATA-01 audit (it is read back after the load)."""
        if isinstance(result, dict) and result.get(id_key) is not None:
            runtime.get().capture.acknowledged(entity, result[id_key], field, value, result.get("version"))

    @contextmanager
    def journey(self, name: str, schedule_lag_ms: float | None = None) -> Iterator[JourneyRun]:
        run = JourneyRun(name)
        self.context_["journey"] = name
        self.context_["journey_obj"] = run
        if schedule_lag_ms is not None:
            self.context_["schedule_lag_ms"] = round(float(schedule_lag_ms), 3)
        try:
            yield run
        finally:
            self.context_.pop("journey_obj", None)
            self.context_.pop("schedule_lag_ms", None)
            if run.skipped:  # not the journey the standard times: counted apart, its requests kept
                runtime.get().capture.incomplete(name)
            else:
                runtime.get().capture.journey(
                    run.start_ts, name, self.persona, run.elapsed_ms(), run.outcome, schedule_lag_ms
                )

    def pick_journey(self) -> str:
        """A journey by weight, among those the adapter can run at all (the preflight said which)."""
        names = runtime.get().runnable_journeys(self.journeys)
        weights = [self.option(weight_option(n)) for n in names]
        if not any(weights):  # the scenario weighs only journeys the adapter cannot run: the preflight said so
            names = list(self.journeys)
            weights = [self.option(weight_option(n)) for n in names]
        return self.rng.choices(names, weights)[0]

    @task
    def run_journey(self) -> None:
        self.iterate()

    def iterate(self) -> None:
        """One iteration: a journey picked by weight (closed model: back to back, with pacing)."""
        if not self.adapter.signed_in and not self.adapter.sign_in(
            self.identity.username, self.identity.password, self.identity.token
        ):
            gevent.sleep(1.0)
            return
        if self.rng.random() < self.option("probe_share"):
            self.probe_access()
            return
        name = self.pick_journey()
        with self.journey(name):
            getattr(self, name.split(".", 1)[1])()

    # -- access-control probes (SEC-AC-01) ---------------------------------------------------------
    def forbidden(self) -> list[tuple[str, tuple[Any, ...]]]:
        """What this persona's role must be refused, with arguments: the target's declared access rules
        (``CrmAdapter.access_rules``) for the role, each where the test data has a record to try."""
        out: list[tuple[str, tuple[Any, ...]]] = []
        supported = self.adapter.supported_operations()
        for rule in self.adapter.access_rules:
            if rule.role == self.role and rule.operation in supported:
                args = self._probe_args(rule.operation, rule.records)
                if args is not None:
                    out.append((rule.operation, args))
        return out

    def _probe_args(self, operation: str, records: str) -> tuple[Any, ...] | None:
        """Arguments for a probe of ``operation`` (crmload.core.operations.PROBE_OPERATIONS) on a record
        of another user (``others``), of another organisation (``tenant``: the test data's
        ``other_tenant``) or any record; None when the test data has none."""
        kind = PROBED_RECORD[operation]
        rid = self._tenant_record(kind) if records == "tenant" else self._probed_record(kind, records == "others")
        if rid is None:
            return None
        if operation == "opportunity.update_stage":
            return (rid, "won")
        if operation == "ticket.comment":
            return (rid, f"{self.persona} was here")
        if operation == "opportunity.create":
            return ({"account_id": rid, "name": f"Probe {self.rng.randrange(10**9)}", "amount": 1.0},)
        return (rid,)

    def _probed_record(self, kind: str, others: bool) -> Any:
        """A record of this CRM's test data to probe: an opportunity, a ticket (any: tickets have no owner
        in the test data) or an account, of another user when ``others``."""
        if kind == "opportunity":
            return self._other_reps_opportunity() if others else self._any_opportunity()
        if kind == "ticket":
            tickets = self.data.items("open_ticket_ids")
            return self.rng.choice(tickets) if tickets else None
        accounts = self._other_users_accounts() if others else self.data.items("account_ids")
        return self.rng.choice(accounts) if accounts else None

    def _tenant_record(self, kind: str) -> Any:
        """A record of another organisation (the test data's ``other_tenant``)."""
        ids = list((self.data.raw.get("other_tenant") or {}).get(f"{kind}_ids") or [])
        return self.rng.choice(ids) if ids else None

    def probe_access(self) -> None:
        """Attempt one forbidden action (or one without credentials): the CRM must refuse it."""
        choices = self.forbidden()
        with self.journey(f"probe.{self.persona}"):
            if not choices or self.rng.random() < 0.25:
                self.step("customer.search", lambda: self.adapter.probe("customer.search", "A", "name", anonymous=True))
                return
            operation, args = self.rng.choice(choices)
            self.step(operation, self.adapter.probe, operation, *args)

    def _any_opportunity(self) -> Any:
        opps = [o for owned in self.data.raw.get("opportunities_by_owner", {}).values() for o in owned]
        return self.rng.choice(opps) if opps else None

    def _other_users_accounts(self) -> list[Any]:
        by_owner = self.data.raw.get("accounts_by_owner", {})
        return [a for user, owned in by_owner.items() if user != self.identity.username for a in owned]

    def _other_reps_opportunity(self) -> Any:
        owners = [u for u in self.data.raw.get("opportunities_by_owner", {}) if u != self.identity.username]
        if not owners:
            return None
        opps = self.data.owned("opportunities_by_owner", self.rng.choice(owners))
        return self.rng.choice(opps) if opps else None


def _ids(result: Any, key: str) -> list[Any]:
    """The ids of the list ``key`` of an answer, as the CRM gave them (whole numbers, UUIDs...)."""
    if not isinstance(result, dict):
        return []
    return [item["id"] for item in result.get(key, []) if isinstance(item, dict) and "id" in item]


class SalesUser(CrmUser):
    """Sales rep: pipeline, customer lookups and calls, leads to deals."""

    persona = "sales"
    role = "sales"
    weight = 4
    journeys: ClassVar[dict[str, float]] = JOURNEYS["sales"]

    def setup(self) -> None:
        u = self.identity.username
        self.my_accounts = self.data.owned("accounts_by_owner", u)
        self.my_keys = self.data.owned("search_keys_by_owner", u)
        self.my_opps = self.data.owned("opportunities_by_owner", u)
        self.created = 0

    def customer_call(self) -> None:
        a = self.adapter
        self.step("opportunity.list", a.opportunity_list, 1, 25)
        self.think()
        account_id = self.rng.choice(self.my_accounts) if self.my_accounts else None
        if self.my_keys:
            name, phone, _email = self.rng.choice(self.my_keys)
            by, q = ("phone", phone) if self.rng.random() < 0.3 else ("name", name)
            found = _ids(self.step("customer.search", a.customer_search, q, by), "results")
            account_id = found[0] if found else account_id
        self.think()
        if account_id is None:
            return
        self.step("customer.view", a.customer_view, account_id)
        self.think()
        subject = f"{self.rng.choice(SUBJECTS)} {self.rng.randrange(10**9)}"
        logged = self.step(
            "activity.log", a.activity_log, account_id, self.rng.choice(("call", "email", "meeting")), subject
        )
        self.ack("activities", logged, "subject", subject)
        if self.my_opps:
            self.think()
            opp = self.rng.choice(self.my_opps)
            current = self.step("opportunity.view", a.opportunity_view, opp)
            stage = current.get("stage", "prospecting") if isinstance(current, dict) else "prospecting"
            new_stage = STAGE_FLOW.get(stage, "proposal")
            moved = self.step("opportunity.update_stage", a.opportunity_update_stage, opp, new_stage)
            self.ack("opportunities", moved, "stage", new_stage)
        if self.rng.random() < self.option("report_share"):
            self.think()
            self.step("report.pipeline", a.report_pipeline)

    def lead_to_deal(self) -> None:
        a = self.adapter
        self.created += 1
        tag = f"{self.identity.username}-{self.identity.slot}-{self.created}-{self.rng.randrange(10**6)}"
        company = f"Prospect {tag}"
        lead = self.step(
            "lead.create",
            a.lead_create,
            {
                "name": f"Pat Lee {tag}",
                "company": company,
                "email": f"pat.{tag}@prospect.example",
                "phone": unique_phone("lead", tag),
                "source": "call",
            },
        )
        self.ack("leads", lead, "company", company)
        self.think()
        if isinstance(lead, dict) and "id" in lead:
            converted = self.step("lead.convert", a.lead_convert, lead["id"])
            self.think()
            account_id = converted.get("account_id") if isinstance(converted, dict) else None
            if account_id is not None:
                updated = self.step("customer.update", a.customer_update, account_id, {"city": "Lisbon"})
                self.ack("accounts", updated, "city", "Lisbon")
                email = f"sam.{tag}@prospect.example"
                contact = self.step(
                    "contact.create",
                    a.contact_create,
                    {"account_id": account_id, "first_name": "Sam", "last_name": f"Ortiz {tag}", "email": email},
                )
                self.ack("contacts", contact, "email", email)
                self.think()
                opp_name = f"Expansion {tag}"
                opp = self.step(
                    "opportunity.create",
                    a.opportunity_create,
                    {"account_id": account_id, "name": opp_name, "amount": round(self.rng.uniform(1e3, 1e5), 2)},
                )
                self.ack("opportunities", opp, "name", opp_name)
                if isinstance(opp, dict):
                    moved = self.step(
                        "opportunity.update_stage", a.opportunity_update_stage, opp["id"], "qualification"
                    )
                    self.ack("opportunities", moved, "stage", "qualification")
        if self.rng.random() < self.option("walk_in_share"):
            name = f"Walk-in {tag}"
            created = self.step(
                "customer.create",
                a.customer_create,
                {"name": name, "phone": unique_phone("walk-in", tag), "email": f"walkin.{tag}@mail.example"},
            )
            self.ack("accounts", created, "name", name)


class ServiceUser(CrmUser):
    """Service agent: ticket queue, screen-pop lookup, history, comments, resolution, knowledge base."""

    persona = "service"
    role = "service"
    weight = 3
    journeys: ClassVar[dict[str, float]] = JOURNEYS["service"]

    def setup(self) -> None:
        tickets = self.data.items("open_ticket_ids")
        stride = 97  # partition the open tickets so that agents do not work the same ticket
        mine = tickets[self.identity.slot % stride :: stride]
        self.my_tickets = mine or tickets
        self.agents = [u.get("id") for u in self.data.users("service") if u.get("id") is not None]
        self.phones = self.data.items("search_phones")
        self.terms = self.data.items("kb_terms") or ["password"]
        self.accounts = self.data.items("account_ids")

    def work_ticket(self) -> None:
        a = self.adapter
        self.step("ticket.queue", a.ticket_queue, "open", self.rng.randint(1, 5))
        self.think()
        if not self.my_tickets:
            return
        tid = self.rng.choice(self.my_tickets)
        ticket = self.step("ticket.view", a.ticket_view, tid)
        self.think()
        if self.phones:
            self.step("customer.search", a.customer_search, self.rng.choice(self.phones), "phone")
        account_id = ticket.get("account_id") if isinstance(ticket, dict) else None
        if account_id:
            self.step("service.history", a.service_history, account_id)
        self.think()
        body = f"Called the customer; sent the steps. ({self.rng.randrange(10**9)})"
        self.ack("ticket_comments", self.step("ticket.comment", a.ticket_comment, tid, body), "body", body)
        self.think()
        if self.rng.random() < 0.5 and self.agents:
            self.step("ticket.assign", a.ticket_assign, tid, self.rng.choice(self.agents))
        else:
            self.ack("tickets", self.step("ticket.resolve", a.ticket_resolve, tid), "status", "resolved")
            if self.rng.random() < 0.3:
                score = self.rng.randint(1, 5)
                self.ack("surveys", self.step("survey.submit", a.survey_submit, tid, score, "thanks"), "score", score)
        self.step("kb.search", a.kb_search, self.rng.choice(self.terms).split()[0])

    def new_ticket(self) -> None:
        a = self.adapter
        found: list[int] = []
        if self.phones:
            found = _ids(
                self.step("customer.search", a.customer_search, self.rng.choice(self.phones), "phone"), "results"
            )
        account_id = found[0] if found else (self.rng.choice(self.accounts) if self.accounts else None)
        if account_id is None:
            return
        self.step("customer.view", a.customer_view, account_id)
        self.think()
        subject = f"Cannot log in to the portal ({self.rng.randrange(10**9)})"
        created = self.step(
            "ticket.create", a.ticket_create, account_id, subject, self.rng.choice(("low", "normal", "high"))
        )
        self.ack("tickets", created, "subject", subject)
        if isinstance(created, dict):
            body = f"Asked for a screenshot. ({self.rng.randrange(10**9)})"
            self.ack(
                "ticket_comments", self.step("ticket.comment", a.ticket_comment, created["id"], body), "body", body
            )
            self.my_tickets.append(created["id"])


class MarketingUser(CrmUser):
    """Marketer: segments, campaigns, reports; now and then a bulk lead import and a contact export."""

    persona = "marketing"
    role = "marketing"
    weight = 1
    journeys: ClassVar[dict[str, float]] = JOURNEYS["marketing"]
    FILTERS: ClassVar[list[dict[str, Any]]] = [
        {"industry": i, "opted_in": True} for i in ("retail", "health", "finance", "media")
    ] + [{"city": c, "opted_in": True} for c in ("Lisbon", "Oslo", "Graz")]

    def setup(self) -> None:
        self.runs = 0

    def campaign(self) -> None:
        a = self.adapter
        f = self.rng.choice(self.FILTERS)
        self.step("segment.preview", a.segment_preview, f)
        self.think()
        self.runs += 1
        name = f"Promo {self.identity.slot}-{self.runs}-{self.rng.randrange(10**6)}"
        created = self.step("campaign.create", a.campaign_create, name, f)
        self.ack("campaigns", created, "name", name)
        self.think()
        if isinstance(created, dict):
            self.step("campaign.launch", a.campaign_launch, created["id"])
            self.think()
            self.step("campaign.report", a.campaign_report, created["id"])
        self.step("report.campaign", a.report_campaign)

    def bulk(self) -> None:
        a = self.adapter
        rows = int(self.option("import_rows"))
        tag = f"{self.identity.slot}-{self.rng.randrange(10**9)}"
        lines = ["name,company,email,phone"] + [
            f"Lead {i},Co {tag},l{i}.{tag}@bulk.example,+1444{i:07d}" for i in range(rows)
        ]
        imported = self.step("import.bulk", a.import_bulk, "\n".join(lines))
        self.ack("leads", imported, "company", f"Co {tag}", id_key="first_id")
        self.ack("leads", imported, "company", f"Co {tag}", id_key="last_id")
        self.think()
        self.step("export.bulk", a.export_bulk, "contacts", int(self.option("export_rows")))


class ManagerUser(CrmUser):
    """Manager: dashboards and reports."""

    persona = "manager"
    role = "manager"
    weight = 1
    journeys: ClassVar[dict[str, float]] = JOURNEYS["manager"]

    def setup(self) -> None:
        self.accounts = self.data.items("account_ids")

    def dashboard(self) -> None:
        a = self.adapter
        self.step("report.pipeline", a.report_pipeline)
        self.think()
        self.step("report.service", a.report_service)
        self.think()
        self.step("report.campaign", a.report_campaign)
        self.step("opportunity.list", a.opportunity_list, self.rng.randint(1, 20), 50)
        if self.accounts:
            self.think()
            self.step("customer.view", a.customer_view, self.rng.choice(self.accounts))


class IntegrationUser(CrmUser):
    """Machine clients of the open model: order batches from the shop/ERP and web-form leads."""

    persona = "integration"
    role = "integration"
    fixed_count = 0
    wait_time = constant(0)
    journeys: ClassVar[dict[str, float]] = JOURNEYS["integration"]

    def setup(self) -> None:
        self.sent = 0

    def iterate(self) -> None:
        """One arrival: wait for the next scheduled start, then run a journey (open model)."""
        rt = runtime.get()
        slot = rt.scheduler.next_slot() if rt.scheduler is not None else None
        if slot is None:
            gevent.sleep(0.5)
            return
        _intended, lag_ms = slot
        if not self.adapter.signed_in:
            self.adapter.sign_in(self.identity.username, self.identity.password, self.identity.token)
        name = self.pick_journey()
        rt.capture.open_iteration(+1)  # an active user from here to the iteration's end
        try:
            with self.journey(name, schedule_lag_ms=lag_ms):
                getattr(self, name.split(".", 1)[1])()
        finally:
            rt.capture.open_iteration(-1)

    def order_sync(self) -> None:
        batch = int(self.option("batch_size"))
        self.sent += 1
        base = f"{runtime.get().capture.worker}-{self.identity.slot}-{self.sent}"
        orders = [
            {
                "external_id": f"ord-{base}-{i}",
                "amount": round(self.rng.uniform(5, 500), 2),
                "currency": "EUR",
                "status": self.rng.choice(("placed", "paid", "shipped")),
            }
            for i in range(batch)
        ]
        synced = self.step("order.sync", self.adapter.order_sync, orders)
        if isinstance(synced, dict):
            for order, oid in zip(orders, synced.get("ids", []), strict=False):
                self.ack("orders", {"id": oid}, "external_id", order["external_id"])

    def webform(self) -> None:
        self.sent += 1
        tag = f"{runtime.get().capture.worker}-{self.identity.slot}-{self.sent}"
        company = f"Visitor Co {tag}"
        lead = self.step(
            "webform.submit",
            self.adapter.webform_submit,
            {"name": "Web Visitor", "company": company, "email": f"v.{tag}@web.example"},
        )
        self.ack("leads", lead, "company", company)


PERSONA_CLASSES: dict[str, type[CrmUser]] = {
    c.persona: c for c in (SalesUser, ServiceUser, MarketingUser, ManagerUser, IntegrationUser)
}
