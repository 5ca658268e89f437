"""The reference CRM's pages with two faults of its user's making: a matrix that also forbids sales to
comment on tickets (a probe whose form must be fetched first), and every second lead sent with an
e-mail address the CRM refuses (its form shown again)."""

from __future__ import annotations

from typing import Any, ClassVar

from crmload.core.operations import AccessRule
from crmload.loadtests.adapter import Answer
from crmload.loadtests.adapters.reference_html import ReferenceCrmPages

_TEST = "tests/pages_adapter.py: the reference CRM's role table (sales reads and comments on no ticket)"


class PagesWithMistakes(ReferenceCrmPages):
    name = "pages-with-mistakes"
    access_rules: ClassVar[tuple[AccessRule, ...]] = (
        AccessRule("sales", "ticket.view", "any", _TEST),
        AccessRule("sales", "ticket.comment", "any", _TEST),
    )
    _leads = 0

    def lead_create(self, record: dict[str, Any]) -> Answer:
        self._leads += 1
        if self._leads % 2 == 0:
            record = {**record, "email": "not an address"}
        return super().lead_create(record)
