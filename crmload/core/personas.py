"""What each persona does: its journeys (with default weights) and the options a scenario may set.

The journeys in ``loadtests/journeys.py`` read their defaults from here, and scenario validation
checks every ``personas.<name>.options`` key and value against it, so a misspelt option is an
error with a fix instead of a setting that silently does nothing.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

JOURNEYS: dict[str, dict[str, float]] = {
    "sales": {"sales.customer_call": 3, "sales.lead_to_deal": 1},
    "service": {"service.work_ticket": 3, "service.new_ticket": 1},
    "marketing": {"marketing.campaign": 4, "marketing.bulk": 1},
    "manager": {"manager.dashboard": 1},
    "integration": {"integration.order_sync": 7, "integration.webform": 3},
}


@dataclass(frozen=True)
class Option:
    kind: Literal["share", "count", "weight"]
    default: float
    help: str

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not acceptable for this option, or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number (got {value!r})"
        if self.kind == "share" and not 0 <= value <= 1:
            return f"is a share of iterations between 0 and 1 (got {value!r})"
        if self.kind == "count" and (not float(value).is_integer() or value < 1):
            return f"must be a whole number of at least 1 (got {value!r})"
        if self.kind == "weight" and value < 0:
            return f"is a journey weight, 0 or more (got {value!r})"
        return None


_PROBE = Option("share", 0.05, "iterations that try something the role must be refused (SEC-AC-01)")

OPTIONS: dict[str, dict[str, Option]] = {
    "sales": {
        "probe_share": _PROBE,
        "report_share": Option("share", 0.1, "customer calls that end with the pipeline report"),
        "walk_in_share": Option("share", 0.2, "lead journeys that also create a walk-in customer"),
    },
    "service": {"probe_share": _PROBE},
    "marketing": {
        "probe_share": _PROBE,
        "import_rows": Option("count", 2000, "rows of each bulk lead import"),
        "export_rows": Option("count", 10_000, "rows of each bulk contact export"),
    },
    "manager": {"probe_share": _PROBE},
    "integration": {"batch_size": Option("count", 20, "orders in each order-sync batch")},
}


def weight_option(journey: str) -> str:
    """The option that weighs ``journey`` ("sales.customer_call" -> "weight_customer_call")."""
    return "weight_" + journey.split(".", 1)[1]


for _persona, _journeys in JOURNEYS.items():
    for _journey, _weight in _journeys.items():
        OPTIONS[_persona][weight_option(_journey)] = Option(
            "weight", _weight, f"relative weight of the {_journey} journey"
        )


def option_value(persona: str, options: Mapping[str, object], name: str) -> float:
    """The value of option ``name`` for ``persona``: the scenario's, else the default."""
    value = options.get(name, OPTIONS[persona][name].default)
    assert isinstance(value, int | float)
    return float(value)


@dataclass(frozen=True)
class Profile:
    """What one iteration of a journey does on average: requests per operation and think steps.

    The sample planner (``crmload plan``) predicts sample counts from these, the persona's think
    time and the stage's users or arrival rate. They restate ``loadtests/journeys.py`` (each
    journey's steps, branches weighted by their options' shares) and assume test data in which
    every user has records to work on; ``tests/test_plan.py`` checks them against a recorded run.
    """

    operations: dict[str, float]
    thinks: float  # think steps (each a uniform draw from the persona's think_time)

    @property
    def requests(self) -> float:
        return sum(self.operations.values())


def _ones(*operations: str) -> dict[str, float]:
    return dict.fromkeys(operations, 1.0)


Share = Callable[[str], float]  # an option of the persona, by name

# journey -> its profile, from the persona's options (the branches of loadtests/journeys.py)
_PROFILES: dict[str, Callable[[Share], Profile]] = {
    "sales.customer_call": lambda o: Profile(
        _ones("opportunity.list", "customer.search", "customer.view", "activity.log", "opportunity.view")
        | {"opportunity.update_stage": 1.0, "report.pipeline": o("report_share")},
        4.0 + o("report_share"),
    ),
    "sales.lead_to_deal": lambda o: Profile(
        _ones("lead.create", "lead.convert", "customer.update", "contact.create", "opportunity.create")
        | {"opportunity.update_stage": 1.0, "customer.create": o("walk_in_share")},
        3.0,
    ),
    "service.work_ticket": lambda o: Profile(
        _ones("ticket.queue", "ticket.view", "customer.search", "service.history", "ticket.comment", "kb.search")
        | {"ticket.assign": 0.5, "ticket.resolve": 0.5, "survey.submit": 0.5 * 0.3},
        4.0,
    ),
    "service.new_ticket": lambda o: Profile(
        _ones("customer.search", "customer.view", "ticket.create", "ticket.comment"), 1.0
    ),
    "marketing.campaign": lambda o: Profile(
        _ones("segment.preview", "campaign.create", "campaign.launch", "campaign.report", "report.campaign"), 3.0
    ),
    "marketing.bulk": lambda o: Profile(_ones("import.bulk", "export.bulk"), 1.0),
    "manager.dashboard": lambda o: Profile(
        _ones("report.pipeline", "report.service", "report.campaign", "opportunity.list", "customer.view"), 3.0
    ),
    "integration.order_sync": lambda o: Profile(_ones("order.sync"), 0.0),
    "integration.webform": lambda o: Profile(_ones("webform.submit"), 0.0),
}


def journey_operations(journey: str) -> frozenset[str]:
    """Every operation ``journey`` may send (each branch taken), e.g. to check an adapter has them."""
    return frozenset(_PROFILES[journey](lambda _name: 1.0).operations)


def journey_coverage(journey: str, supported: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    """How ``journey`` runs through an adapter that has the ``supported`` operations: ``"whole"``,
    ``"partly"`` (with the operations it lacks) or ``"not"`` (it has none of them; the journey is not
    picked, and a persona none of whose journeys can run cannot run)."""
    needs = journey_operations(journey)
    lacks = tuple(sorted(needs - supported))
    return ("whole" if not lacks else "not" if len(lacks) == len(needs) else "partly"), lacks


def profile(journey: str, options: Mapping[str, object]) -> Profile:
    """The :class:`Profile` of ``journey`` under a persona's ``options`` (defaults where unset)."""
    persona = journey.split(".", 1)[0]
    return _PROFILES[journey](lambda name: option_value(persona, options, name))


def class_weight(weight: float) -> int:
    """The Locust weight of a closed persona's user class for the scenario's ``weight``."""
    return max(1, round(weight * 10))


def allocate_users(users: int, weights: dict[str, float]) -> dict[str, int]:
    """How Locust shares ``users`` closed users among the persona classes of these scenario weights:
    the first ``users`` of its dispatcher's Kullback–Leibler sequence (``_kl_generator`` in Locust's
    ``locust/dispatch.py``; for weights 5 and 1 it gives AAABAAAAABAA), over the classes named
    ``<Persona>User``. Whole users: 8 users of weights 3, 3, 2, 1 are 3, 2, 2, 1, not 2.67 each of
    the first two."""
    heap = [
        (w * math.log2(w / (w + 1.0)), w + 1.0, w, f"{name.capitalize()}User", name)
        for name, weight in weights.items()
        if weight > 0
        for w in [float(class_weight(weight))]
    ]
    heapq.heapify(heap)
    out = dict.fromkeys(weights, 0)
    for _ in range(users if heap else 0):
        _kl, x, w, label, name = heap[0]
        out[name] += 1
        heapq.heapreplace(heap, (w * math.log2(x / (x + 1.0)), x + 1.0, w, label, name))
    return out
