"""The canonical operations and the personas: one table each, read by every layer.

Journeys speak in canonical operations, adapters map them onto a CRM, the standard judges them.
This table is the one place that says which operations exist, whether each writes, which class
of the shipped standard it belongs to by default, and what the journeys read from its answer;
the reference CRM adds its own routes and role rules on top (``crmload.democrm.operations``),
and the standard's validation (``crmload.analysis.thresholds``) checks names against it. A
user's ``thresholds.yaml`` stays the authority on classes: the ``default_class`` here is what the
shipped standard says, and a test ties the two together.

Adding an operation: a row here, a route and handler in the reference CRM, a method on the
reference adapter, and the journey step that calls it (README, "Development").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypedDict, get_args

ClassId = Literal["LOGIN", "READ", "WRITE", "LIST", "REPORT", "BULK"]


@dataclass(frozen=True)
class Operation:
    """One canonical operation.

    ``reads``: the fields of the answer the journeys use (``results[].id``: the ``id`` of each item
    of the list ``results``); an adapter must return them for the journeys to go on. A write's
    answer may also carry ``version``, which the lost-write audit (DATA-01) then checks.
    """

    name: str
    write: bool
    default_class: ClassId
    reads: tuple[str, ...] = ()

    @property
    def method_name(self) -> str:
        """The adapter method that implements it: ``customer.view`` -> ``customer_view``."""
        return self.name.replace(".", "_")


def _ops(*rows: Operation) -> dict[str, Operation]:
    return {o.name: o for o in rows}


_R, _W = False, True

OPERATIONS: dict[str, Operation] = _ops(
    Operation("auth.login", _W, "LOGIN"),
    Operation("customer.search", _R, "LIST", ("results[].id",)),
    Operation("customer.view", _R, "READ"),
    Operation("customer.create", _W, "WRITE", ("id",)),
    Operation("customer.update", _W, "WRITE", ("id",)),
    Operation("contact.create", _W, "WRITE", ("id",)),
    Operation("lead.create", _W, "WRITE", ("id",)),
    Operation("lead.convert", _W, "WRITE", ("account_id",)),
    Operation("opportunity.list", _R, "LIST"),
    Operation("opportunity.view", _R, "READ", ("stage",)),
    Operation("opportunity.create", _W, "WRITE", ("id",)),
    Operation("opportunity.update_stage", _W, "WRITE", ("id",)),
    Operation("activity.log", _W, "WRITE", ("id",)),
    Operation("ticket.queue", _R, "LIST"),
    Operation("ticket.create", _W, "WRITE", ("id",)),
    Operation("ticket.view", _R, "READ", ("account_id",)),
    Operation("ticket.comment", _W, "WRITE", ("id",)),
    Operation("ticket.assign", _W, "WRITE", ("id",)),
    Operation("ticket.resolve", _W, "WRITE", ("id",)),
    Operation("service.history", _R, "READ"),
    Operation("kb.search", _R, "LIST"),
    Operation("survey.submit", _W, "WRITE", ("id",)),
    Operation("segment.preview", _R, "LIST"),
    Operation("campaign.create", _W, "WRITE", ("id",)),
    Operation("campaign.launch", _W, "WRITE"),
    Operation("campaign.report", _R, "READ"),
    Operation("import.bulk", _W, "BULK"),
    Operation("export.bulk", _R, "BULK"),
    Operation("report.pipeline", _R, "REPORT"),
    Operation("report.service", _R, "REPORT"),
    Operation("report.campaign", _R, "REPORT"),
    Operation("order.sync", _W, "WRITE", ("ids",)),
    Operation("webform.submit", _W, "WRITE", ("id",)),
)
OPERATION_NAMES: tuple[str, ...] = tuple(OPERATIONS)


# -- what the journeys read from each answer, as types (``reads`` above, in words) ---------------------------
# An adapter's operation returns the CRM's answer (more fields are fine) or None when the call failed; the
# journeys read these fields and nothing else (crmload.loadtests.adapter.CrmAdapter types each operation).

# a record's id as the CRM gives it: a whole number or a text (a UUID, a composite key)
RecordRef: TypeAlias = int | str


class Written(TypedDict, total=False):
    """A write's answer: the record's ``id``; ``version`` when the CRM versions records (DATA-01 checks it)."""

    id: RecordRef
    version: int


class Found(TypedDict, total=False):
    """A search's answer: ``results``, each with the found record's ``id``."""

    results: list[dict[str, Any]]


class Converted(TypedDict, total=False):
    """A converted lead: the ``account_id`` it became."""

    account_id: RecordRef


class OpportunityRead(TypedDict, total=False):
    """An opportunity: its ``stage`` in crmload's stage names (``prospecting`` ... ``won``, ``lost``)."""

    stage: str


class TicketRead(TypedDict, total=False):
    """A ticket: the ``account_id`` it is about."""

    account_id: RecordRef


class Synced(TypedDict, total=False):
    """A synced batch: the ``ids`` of the records it wrote."""

    ids: list[RecordRef]


# each answer type with the fields of ``reads`` it carries (a test keeps the two the same)
ANSWER_TYPES: dict[type, tuple[str, ...]] = {
    Written: ("id",),
    Found: ("results[].id",),
    Converted: ("account_id",),
    OpportunityRead: ("stage",),
    TicketRead: ("account_id",),
    Synced: ("ids",),
}


@dataclass(frozen=True)
class Persona:
    """One persona: the CRM role its users log in as, and how its load is offered.

    ``model``: ``closed`` personas share a stage's ``users`` by weight (think time between steps);
    ``open`` personas start iterations on the stage's ``arrival_rate`` (a pool of users, k6's
    constant-arrival-rate)."""

    name: str
    role: str
    model: Literal["closed", "open"]


PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona("sales", "sales", "closed"),
        Persona("service", "service", "closed"),
        Persona("marketing", "marketing", "closed"),
        Persona("manager", "manager", "closed"),
        Persona("integration", "integration", "open"),
    )
}
PERSONA_NAMES: tuple[str, ...] = tuple(PERSONAS)
CLOSED_PERSONAS: tuple[str, ...] = tuple(p.name for p in PERSONAS.values() if p.model == "closed")
OPEN_PERSONAS: tuple[str, ...] = tuple(p.name for p in PERSONAS.values() if p.model == "open")
PersonaName = Literal["sales", "service", "marketing", "manager", "integration"]


# whose records an access rule is about (AccessRule.records)
AccessRecords = Literal["any", "others", "tenant"]


@dataclass(frozen=True)
class AccessRule:
    """One right a CRM promises to refuse: users of ``role`` must be denied ``operation`` on ``records``
    (``any``: every record; ``others``: records another user owns; ``tenant``: records of another
    organisation of a multi-tenant CRM, the test data's ``other_tenant``). The access-control probes
    (SEC-AC-01) test a target's declared rules and nothing else; ``source`` says where the CRM
    promises it (its documentation or source), so a FAIL is the CRM's and not crmload's opinion."""

    role: str
    operation: str
    records: AccessRecords = "any"
    source: str = ""


ACCESS_RECORDS: tuple[str, ...] = get_args(AccessRecords)

# the operations a probe can attempt, each with the kind of record it is attempted on (the journeys build
# its arguments from the test data, loadtests/journeys.py)
PROBED_RECORD: dict[str, str] = {
    "customer.view": "account",
    "opportunity.view": "opportunity",
    "opportunity.create": "account",
    "opportunity.update_stage": "opportunity",
    "ticket.view": "ticket",
    "ticket.comment": "ticket",
}
PROBE_OPERATIONS: tuple[str, ...] = tuple(PROBED_RECORD)

_REFERENCE = "the reference CRM's role table (democrm/operations.py, ROLES and each operation's roles)"
# the reference CRM's matrix: the default of every adapter that declares none
REFERENCE_ACCESS_RULES: tuple[AccessRule, ...] = (
    AccessRule("sales", "opportunity.view", "others", _REFERENCE),  # another rep's opportunity
    AccessRule("sales", "ticket.view", "any", _REFERENCE),
    AccessRule("service", "opportunity.view", "any", _REFERENCE),  # opportunity amounts
    AccessRule("marketing", "ticket.view", "any", _REFERENCE),
    AccessRule("marketing", "ticket.comment", "any", _REFERENCE),
    AccessRule("manager", "opportunity.update_stage", "any", _REFERENCE),  # managers only read
)
