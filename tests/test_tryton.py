"""Tryton, a real open-source CRM, as a target: installed from PyPI, seeded, served on 127.0.0.1 and
loaded through its JSON-RPC adapter (``targets/tryton``, ``crmload.loadtests.adapters.tryton``).

With no fault, smoke PASSes with every clause decided: DATA-01 by reading the acknowledged writes back
through the adapter, SEC-AC-01 on the access matrix Tryton's modules ship (a denial arrives as HTTP 200
with an error in the body). For each rule of that matrix, the right granted in Tryton (a group given to
the role) makes SEC-AC-01 FAIL naming the role and the operation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e import REPO, Finished, adapter_check_rows, declared_by, run_on

sys.path.insert(0, str(REPO / "targets" / "tryton"))
import target as tryton  # targets/tryton/target.py: not a package of crmload's

# Tryton's sample counts and latencies are its own speed's (a single werkzeug process on SQLite): they run
# in the quiet phase, with the machine to themselves (in the two-worker phase smoke got 77 lookups, not 158)
pytestmark = pytest.mark.quiet

ADAPTER = "crmload.loadtests.adapters.tryton:TrytonCRM"
SMOKE = REPO / "targets" / "tryton" / "smoke.yaml"


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    return declared_by(ADAPTER)


def _run(target: tryton.Tryton, scenario: Path, results: Path) -> Finished:
    return run_on(target, ADAPTER, scenario, results, timeout_s=300)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tryton.Tryton]:
    with tryton.running(tmp_path_factory.mktemp("tryton")) as target:
        yield target


@pytest.fixture(scope="module")
def smoke(served: tryton.Tryton, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    return _run(served, SMOKE, tmp_path_factory.mktemp("tryton-smoke"))


def test_adapter_check_on_tryton_calls_what_it_declares_and_names_what_it_lacks(
    served: tryton.Tryton,
    smoke: Finished,
    declared: dict[str, Any],
) -> None:
    rows = adapter_check_rows(served, ADAPTER)
    for op in declared["supported"]:
        if op == "opportunity.view":  # Tryton's opportunities have no stage: said, not faked
            assert rows[op]["result"] == "answered without stage (the journeys read it)", rows[op]
        else:
            assert rows[op]["result"] == "ok", rows[op]
    assert rows["ticket.view"]["result"].startswith("not declared: not in Tryton's")
    assert rows["lead.convert"]["requests"] == 4  # read the lead, create its party, set it, press the button


def test_smoke_on_tryton_passes_with_every_clause_decided(smoke: Finished, declared: dict[str, Any]) -> None:
    assert smoke.code == 0, smoke.stdout + smoke.stderr
    verdict = smoke.json("verdict.json")
    assert verdict["status"] == "PASS" and all(c["status"] == "PASS" for c in verdict["clauses"]), verdict
    requests = smoke.samples().query("kind == 'request'")
    work = requests[~requests["journey"].str.startswith("probe.")]
    # every operation the adapter declares that the smoke journeys call was recorded, all of them answered
    called = {"auth.login"} | set(declared["supported"])
    assert called <= set(work["operation"]), called - set(work["operation"])
    assert (work["outcome"] == "ok").all(), work[work["outcome"] != "ok"][["operation", "status"]].head()
    audit = smoke.json("audit.json")
    assert audit["checked"] == audit["acknowledged"] >= 50 and audit["breaches"] == 0, audit


def test_probes_on_tryton_test_its_own_matrix_and_read_a_200_error_as_denial(
    smoke: Finished, declared: dict[str, Any]
) -> None:
    probes = smoke.samples().query("kind == 'request' and journey.str.startswith('probe.')", engine="python")
    ruled = probes[probes["operation"] != "customer.search"]  # the anonymous probes aside
    tried = set(zip(ruled["persona"], ruled["operation"], strict=True))
    assert tried == {(role, op) for role, op, _records in declared["rules"]}  # the declared matrix, nothing else
    assert (ruled["status"] == 200).all() and (ruled["outcome"] == "denied").all()  # Tryton's AccessError body
    assert smoke.clause("SEC-AC-01")["samples"] >= 20


@pytest.mark.parametrize(("grant", "breach"), [
    ("service:opportunity", "service was granted opportunity.view"),
    ("manager:opportunity", "manager was granted opportunity.create"),
])  # fmt: skip
def test_a_right_the_matrix_refuses_granted_in_tryton_fails_sec_ac_01(grant: str, breach: str, tmp_path: Path) -> None:
    scenario = tmp_path / "probes.yaml"
    scenario.write_text(
        "name: tryton-probes\nsize: small\n"
        "personas:\n  sales: {weight: 1, think_time: [0.1s, 0.2s]}\n"
        "  service: {weight: 2, think_time: [0.1s, 0.2s], options: {probe_share: 0.6}}\n  marketing: {weight: 0}\n"
        "  manager: {weight: 2, think_time: [0.1s, 0.2s], options: {probe_share: 0.6}}\n"
        "stages:\n  - {name: hold, users: 5, spawn_rate: 5, duration: 12s}\njudge: [SEC-AC-01]\n"
    )
    with tryton.running(tmp_path / "crm", grants=(grant,)) as target:
        run = _run(target, scenario, tmp_path / "r")
    clause = run.clause("SEC-AC-01")
    assert run.code == 1 and clause["status"] == "FAIL", run.stdout + run.stderr
    assert breach in clause["reason"], clause["reason"]
