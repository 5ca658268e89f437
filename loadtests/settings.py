"""What a Locust process learns from ``crmload run`` (environment variables), with defaults that let
``locust -f loadtests/locustfile.py`` work on its own.

| variable | meaning | default |
|---|---|---|
| ``CRMLOAD_SCENARIO`` | scenario file | ``scenarios/smoke.yaml`` |
| ``CRMLOAD_RUN_DIR`` | run directory the samples go to | ``results/locust-<UTC time>/`` |
| ``CRMLOAD_TESTDATA`` | test-data manifest (credentials, record ids, search keys) | ``testdata.json`` |
| ``CRMLOAD_ADAPTER`` | target adapter, ``module:Class`` | ``loadtests.adapters.reference:ReferenceCRM`` |
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from crmload.scenario import Scenario, load_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADAPTER = "loadtests.adapters.reference:ReferenceCRM"


@dataclass(frozen=True)
class Settings:
    scenario_path: Path
    scenario: Scenario
    run_dir: Path
    testdata_path: Path
    adapter: str


@cache
def settings() -> Settings:
    scenario_path = Path(os.environ.get("CRMLOAD_SCENARIO", REPO_ROOT / "scenarios" / "smoke.yaml"))
    run_dir = os.environ.get("CRMLOAD_RUN_DIR")
    return Settings(
        scenario_path=scenario_path,
        scenario=load_scenario(scenario_path),
        run_dir=Path(run_dir) if run_dir else Path("results") / time.strftime("locust-%Y%m%dT%H%M%SZ", time.gmtime()),
        testdata_path=Path(os.environ.get("CRMLOAD_TESTDATA", "testdata.json")),
        adapter=os.environ.get("CRMLOAD_ADAPTER", DEFAULT_ADAPTER),
    )
