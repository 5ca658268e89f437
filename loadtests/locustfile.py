"""crmload's Locust entry point.

``crmload run`` starts Locust with this file; you can too, for Locust's own web UI:

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080

crmload must be installed (``pip install crmload``, or ``pip install -e .`` in a checkout): this
file imports it as the package ``crmload``. The scenario comes from ``$CRMLOAD_SCENARIO`` (a file
or a name; default ``smoke``), the test data
from ``$CRMLOAD_TESTDATA`` (the reference CRM writes it when seeding: ``crmload demo-crm`` prints
its path). Samples go to ``$CRMLOAD_RUN_DIR`` (default ``results/locust-<time>/``); judge them
with ``crmload analyze RUN_DIR``.
"""

from __future__ import annotations

from crmload.loadtests import runtime
from crmload.loadtests import shape as _shape
from crmload.loadtests.journeys import (
    PERSONA_CLASSES,
    IntegrationUser,
    ManagerUser,
    MarketingUser,
    SalesUser,
    ServiceUser,
)


class CrmScenarioShape(_shape.ScenarioShape):
    """The scenario's stages (only this one shape class may be visible to Locust in this module)."""


runtime.install(PERSONA_CLASSES, CrmScenarioShape)

__all__ = ["CrmScenarioShape", "IntegrationUser", "ManagerUser", "MarketingUser", "SalesUser", "ServiceUser"]
