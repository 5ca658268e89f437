"""BottleCRM (PyPI ``django-crm``), a real open-source multi-tenant CRM, as a target: its backend from PyPI
on Python 3.12, PostgreSQL and Redis from Debian, seeded with two organisations and loaded through its
REST adapter with personal access tokens (``targets/bottlecrm``, ``crmload.loadtests.adapters.bottlecrm``).

With no fault, smoke PASSes with every clause decided: DATA-01 by reading the acknowledged writes back
(UUID ids), SEC-AC-01 on the access matrix BottleCRM's source states (a USER opens only its own
records, no one another organisation's; a hidden record answers 404). Granting the sales reps the
ADMIN role in BottleCRM makes SEC-AC-01 FAIL naming the role and the operation.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e import REPO, Finished, adapter_check_rows, declared_by, run_on

# its latencies and counts are its own speed's (gunicorn, Celery and PostgreSQL on two cores): quiet phase
pytestmark = [pytest.mark.quiet, pytest.mark.timeout(720)]  # the smoke holds its steady stage up to 360 s

ADAPTER = "crmload.loadtests.adapters.bottlecrm:BottleCRM"
SMOKE = REPO / "targets" / "bottlecrm" / "smoke.yaml"


def _target_module() -> ModuleType:
    """targets/bottlecrm/target.py (not a package of crmload's; Tryton's has the same file name)."""
    spec = importlib.util.spec_from_file_location("bottlecrm_target", REPO / "targets" / "bottlecrm" / "target.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bottlecrm = _target_module()


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    return declared_by(ADAPTER)


def _run(target: Any, scenario: Path, results: Path) -> Finished:
    return run_on(target, ADAPTER, scenario, results, timeout_s=600)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with bottlecrm.running(tmp_path_factory.mktemp("bottlecrm")) as target:
        yield target


@pytest.fixture(scope="module")
def smoke(served: Any, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    return _run(served, SMOKE, tmp_path_factory.mktemp("bottlecrm-smoke"))


def test_adapter_check_on_bottlecrm_calls_what_it_declares_and_names_what_it_lacks(
    served: Any,
    declared: dict[str, Any],
) -> None:
    rows = adapter_check_rows(served, ADAPTER)
    for op in declared["supported"]:
        assert rows[op]["result"] == "ok", rows[op]
    assert rows["campaign.create"]["result"] == "not declared: BottleCRM has no campaigns"
    assert rows["activity.log"]["status"] == 201 and rows["webform.submit"]["status"] == 201


def test_testdata_build_collects_each_users_records_through_the_adapter(served: Any, tmp_path: Path) -> None:
    seeded = json.loads(served.testdata.read_text())
    users = tmp_path / "users.json"  # what one writes by hand: the users, and the keys no list gives
    users.write_text(json.dumps({k: seeded[k] for k in ("users", "lead_intakes", "other_tenant")}))
    out = tmp_path / "built.json"
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "testdata", "build", "--target", served.url, "--adapter", ADAPTER,
         "--users", str(users), "--out", str(out)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    built = json.loads(out.read_text())
    assert built["lead_intakes"] == seeded["lead_intakes"] and built["users"] == seeded["users"]  # kept
    # each rep owns what the seed created as that rep (and what the other tests created since); only the reps
    # created customers and deals, so no one else is an owner and no record has two owners
    assert set(built["accounts_by_owner"]) == set(seeded["accounts_by_owner"])
    for rep, accounts in seeded["accounts_by_owner"].items():
        assert set(accounts) <= set(built["accounts_by_owner"][rep])
        assert set(seeded["opportunities_by_owner"][rep]) <= set(built["opportunities_by_owner"][rep])
        keys = {tuple(k) for k in built["search_keys_by_owner"][rep]}
        assert {tuple(k) for k in seeded["search_keys_by_owner"][rep]} <= keys
    owned = [a for accounts in built["accounts_by_owner"].values() for a in accounts]
    assert len(owned) == len(set(owned)) == len(built["account_ids"])
    assert set(seeded["open_ticket_ids"]) <= set(built["open_ticket_ids"])  # the agents' New cases
    assert f"{len(built['account_ids'])} accounts (4 owners)" in done.stdout


def test_smoke_on_bottlecrm_passes_with_every_clause_decided(smoke: Finished, declared: dict[str, Any]) -> None:
    assert smoke.code == 0, smoke.stdout + smoke.stderr
    verdict = smoke.json("verdict.json")
    assert verdict["status"] == "PASS" and all(c["status"] == "PASS" for c in verdict["clauses"]), verdict
    requests = smoke.samples().query("kind == 'request'")
    work = requests[~requests["journey"].str.startswith("probe.")]
    called = set(work["operation"])
    # every declared operation the smoke's journeys call was recorded (kb.search ends work_ticket, and the
    # marketing persona, which has none of BottleCRM's operations, has weight 0)
    assert {"auth.login", "customer.search", "customer.view", "lead.convert", "opportunity.update_stage",
            "ticket.comment", "ticket.resolve", "webform.submit", "report.service"} <= called, called  # fmt: skip
    assert (work["outcome"] == "ok").all(), work[work["outcome"] != "ok"][["operation", "status"]].head()
    audit = smoke.json("audit.json")
    # the acknowledged writes carry UUIDs (and composite ids for comments and logged calls): all read back
    assert audit["checked"] == audit["acknowledged"] >= 100 and audit["breaches"] == 0, audit


def test_probes_on_bottlecrm_test_its_matrix_and_read_a_hidden_records_404_as_denial(
    smoke: Finished,
    declared: dict[str, Any],
) -> None:
    probes = smoke.samples().query("kind == 'request' and journey.str.startswith('probe.')", engine="python")
    ruled = probes[probes["operation"] != "customer.search"]  # the anonymous probes aside
    tried = set(zip(ruled["persona"], ruled["operation"], strict=True))
    assert tried <= {(role, op) for role, op, _records in declared["rules"]}  # the declared matrix, nothing else
    assert {p for p, _op in tried} == {"sales", "service", "manager"}
    assert (ruled["status"] == 404).all() and (ruled["outcome"] == "denied").all()
    anonymous = probes[probes["operation"] == "customer.search"]
    assert len(anonymous) > 0 and (anonymous["status"] == 403).all() and (anonymous["outcome"] == "denied").all()
    assert smoke.clause("SEC-AC-01")["samples"] >= 20


def test_sales_reps_made_admins_in_bottlecrm_fail_sec_ac_01_naming_the_right(tmp_path: Path) -> None:
    scenario = tmp_path / "probes.yaml"
    scenario.write_text(
        "name: bottlecrm-probes\nsize: small\n"
        "personas:\n  sales: {weight: 1, think_time: [0.1s, 0.2s], options: {probe_share: 0.7}}\n"
        "  service: {weight: 0}\n  marketing: {weight: 0}\n  manager: {weight: 0}\n"
        "stages:\n  - {name: hold, users: 4, spawn_rate: 4, duration: 15s}\njudge: [SEC-AC-01]\n"
    )
    with bottlecrm.running(tmp_path / "crm", grants=("sales:admin",)) as target:
        run = _run(target, scenario, tmp_path / "r")
    clause = run.clause("SEC-AC-01")
    assert run.code == 1 and clause["status"] == "FAIL", run.stdout + run.stderr
    assert (
        "sales was granted customer.view" in clause["reason"] or "sales was granted opportunity" in clause["reason"]
    ), clause["reason"]
