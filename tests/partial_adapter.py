"""A deliberately partial adapter: logs in and looks customers up, nothing else."""

from __future__ import annotations

from typing import Any

from crmload.loadtests.adapter import CrmAdapter
from crmload.loadtests.adapters.reference import ReferenceCRM


class LookupsOnly(CrmAdapter):
    name = "lookups-only"

    def login(self, username: str, password: str) -> bool:
        return ReferenceCRM.login(self, username, password)  # type: ignore[arg-type]

    def customer_search(self, q: str, by: str = "name") -> Any:
        return self.call("customer.search", "GET", "/api/customers/search", params={"q": q, "by": by})

    def customer_view(self, account_id: int) -> Any:
        return self.call("customer.view", "GET", f"/api/customers/{account_id}")
