"""``crmload run`` for real: the reference CRM, real Locust processes, recorded samples, a verdict.

Each test runs a bounded scenario (20–40 s) against the embedded CRM on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from e2e import REPO, crmload, request_rows, verdict_errors

from crmload.core.rundir import SCHEMA_VERSION
from crmload.core.scenario import load_scenario
from crmload.democrm.operations import OPERATIONS


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return crmload("run", results=tmp_path_factory.mktemp("smoke"))


def test_smoke_passes_and_covers_every_operation(smoke) -> None:  # type: ignore[no-untyped-def]
    assert smoke.code == 0, smoke.stdout + smoke.stderr
    assert "VERDICT: PASS" in smoke.stdout
    df = smoke.samples()
    requests = df[df["kind"] == "request"]
    assert set(requests["operation"]) == set(OPERATIONS)
    assert min(Counter(requests["operation"]).values()) >= 3
    work = requests[~requests["journey"].str.startswith("probe.")]  # probes try forbidden things on purpose
    for persona in ("sales", "service", "marketing", "manager", "integration"):
        ops = Counter(work[work["persona"] == persona]["operation"])
        del ops["auth.login"]  # each user logs in once
        assert ops and min(ops.values()) >= 3, (persona, ops)
    journeys = df[df["kind"] == "journey"]
    assert {
        "sales.customer_call",
        "service.work_ticket",
        "marketing.bulk",
        "manager.dashboard",
        "integration.order_sync",
    } <= set(journeys["operation"])
    probing = requests["journey"].str.startswith("probe.")
    assert (requests[~probing]["outcome"] == "ok").all()
    assert (requests[probing]["outcome"] == "denied").all() and probing.sum() >= 10  # the adapter's reading
    assert requests["server_ms"].notna().all() and (requests["server_ms"] <= requests["response_time_ms"]).all()


def test_sample_count_equals_requests_served(smoke) -> None:  # type: ignore[no-untyped-def]
    served = smoke.json("target_served.json")
    df = smoke.samples()
    recorded = Counter(df[df["kind"] == "request"]["operation"])
    assert dict(recorded) == served


def test_run_directory_describes_itself(smoke) -> None:  # type: ignore[no-untyped-def]
    meta = smoke.json("meta.json")
    assert meta["status"] == "completed" and meta["schema_version"] == SCHEMA_VERSION
    assert len(meta["scenario_sha256"]) == 64 and meta["locust_version"]
    stages = smoke.json("stages.json")
    assert [s["name"] for s in stages] == ["warm", "steady"]
    assert all(s["end"] > s["start"] for s in stages)
    verdict = smoke.json("verdict.json")
    assert verdict_errors(verdict) == []  # a real run's verdict matches the published schema
    assert verdict["status"] == "PASS"
    assert {c["id"] for c in verdict["clauses"]} == {"PERF-RT-01", "PERF-ERR-01", "SEC-AC-01", "DATA-01", "SEC-SESS-01"}
    audit = smoke.json("audit.json")
    assert audit["checked"] >= 100 and audit["breaches"] == 0
    probes = smoke.samples().query("kind == 'request' and journey.str.startswith('probe.')", engine="python")
    assert len(probes) >= 10 and set(probes["status"]) <= {401, 403}
    assert (smoke.run_dir / "junit.xml").exists() and (smoke.run_dir / "summary.md").exists()
    seeded_password = re.compile(rb"(sales|service|marketing|manager|admin|integration)\d{3}-pw")
    for path in smoke.run_dir.rglob("*"):  # credentials never reach the run directory
        if path.is_file():
            assert not seeded_password.search(path.read_bytes()), path
    gens = smoke.run_dir / "generators.csv"
    assert len(gens.read_text().splitlines()) > 10


def test_two_workers_lose_and_duplicate_nothing_and_hold_the_arrival_rate(tmp_path: Path) -> None:
    scenario_path = REPO / "tests" / "scenarios" / "distributed.yaml"
    run = crmload("run", str(scenario_path), "--processes", "2", results=tmp_path)
    assert run.code in (0, 3), run.stdout + run.stderr
    df = run.samples()
    recorded = Counter(df[df["kind"] == "request"]["operation"])
    assert dict(recorded) == run.json("target_served.json")
    assert set(df["worker"]) == {"w0", "w1"}
    capture = run.json("capture.json")
    assert capture["workers_missing_final"] == []
    # the open-model stage: 20 iterations/s over the steady window, within 3 %
    stage = run.json("stages.json")[0]
    scenario = load_scenario(scenario_path)
    start = stage["start"] + scenario.stages[0].warmup
    arrivals = df[(df["kind"] == "journey") & (df["persona"] == "integration")]
    dropped = df[df["kind"] == "dropped"]
    in_window = arrivals[(arrivals["ts"] >= start) & (arrivals["ts"] < stage["end"] - 1)]
    rate = (len(in_window) + len(dropped)) / (stage["end"] - 1 - start)
    assert rate == pytest.approx(20.0, rel=0.03)


def test_plain_locust_with_the_locustfile_records_and_can_be_judged(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from crmload.democrm.server import EmbeddedCRM

    run_dir = tmp_path / "run"
    with EmbeddedCRM(size="tiny") as crm:
        env = dict(
            os.environ,
            CRMLOAD_SCENARIO=str(REPO / "tests" / "scenarios" / "plain.yaml"),
            CRMLOAD_RUN_DIR=str(run_dir),
            CRMLOAD_TESTDATA=str(crm.manifest_path),
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(REPO / "loadtests" / "locustfile.py"),
                "--headless",
                "--host",
                crm.base_url,
                "--only-summary",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        served = sum(crm.state.served.values())
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run_dir / "samples.parquet").exists() and not (run_dir / "samples").exists()  # compacted at the end
    assert len(request_rows(run_dir)) == served
    analysed = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "analyze", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert analysed.returncode in (0, 3), analysed.stdout + analysed.stderr
    assert "PERF-ERR-01" in analysed.stdout and "no end record" not in analysed.stdout
    meta = json.loads((run_dir / "meta.json").read_text())  # the one meta.json writer, as for crmload run
    assert meta["source"] == "locust" and meta["schema_version"] == SCHEMA_VERSION and meta["status"] == "completed"
    assert meta["adapter"] == "crmload.loadtests.adapters.reference:ReferenceCRM" and meta["failure_outcomes"]


def test_the_locustfile_registers_its_event_listeners_once() -> None:
    """Locust imports the locustfile by path (as ``locustfile``); anything else may import it by its
    module name too: the listeners are registered once either way (else every sample is doubled)."""
    import subprocess
    import sys

    script = (
        "import importlib.util, sys\n"
        "from locust import events\n"
        "before = {n: len(getattr(events, n)._handlers) for n in ('init', 'test_start', 'quitting')}\n"
        f"spec = importlib.util.spec_from_file_location('locustfile', {str(REPO / 'loadtests' / 'locustfile.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "import crmload.loadtests.locustfile\n"
        "after = {n: len(getattr(events, n)._handlers) for n in before}\n"
        "print({n: after[n] - before[n] for n in before})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "{'init': 1, 'test_start': 1, 'quitting': 1}"


def test_operations_an_adapter_lacks_are_skipped_and_reported(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO / "tests"))
    run = crmload(
        "run",
        str(REPO / "tests" / "scenarios" / "plain.yaml"),
        "--adapter",
        "partial_adapter:LookupsOnly",
        results=tmp_path,
        env=env,
    )
    assert run.code in (0, 1, 3), run.stdout + run.stderr
    skipped = run.json("capture.json")["skipped_operations"]
    assert {"opportunity.list", "activity.log", "ticket.queue"} <= set(skipped)
    requests = run.samples().query("kind == 'request'")
    assert set(requests["operation"]) <= {"auth.login", "customer.search", "customer.view"}
    assert any("skipped" in w and "opportunity.list" in w for w in run.json("verdict.json")["warnings"])
    # a journey with a skipped step is counted apart, never recorded as a (fast, "ok") journey; a journey
    # the adapter has none of the operations of is not picked at all
    capture = run.json("capture.json")
    assert capture["incomplete_journeys"]["sales.customer_call"] >= 1, capture
    assert "sales.lead_to_deal" not in capture["incomplete_journeys"] and "lead.create" not in skipped
    journeys = run.samples().query("kind == 'journey'")["operation"]
    assert all(name.startswith("probe.") for name in journeys), sorted(set(journeys))  # probes run whole
    assert any("journeys with a skipped step are counted apart" in w for w in run.json("verdict.json")["warnings"])
    # no read_back: the lost-write audit says it could not run (DATA-01 is never decided without it)
    assert "cannot read records back (it has no read_back)" in run.json("audit.json")["reason"]


def test_a_persona_the_adapter_cannot_run_is_refused_before_the_load(tmp_path: Path) -> None:
    import os

    scenario = tmp_path / "marketing.yaml"
    scenario.write_text(
        "name: cannot-run\nsize: tiny\npersonas:\n  sales: {weight: 1}\n  marketing: {weight: 1}\n"
        "stages:\n  - {name: hold, users: 2, spawn_rate: 2, duration: 5s}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "tests"))
    run = crmload("run", str(scenario), "--adapter", "partial_adapter:LookupsOnly", results=tmp_path / "r", env=env)
    assert run.code == 2 and run.run_dir is None, run.stdout + run.stderr
    assert f"{scenario}: personas.marketing: cannot run through partial_adapter:LookupsOnly" in run.stderr
    assert "segment.preview" in run.stderr and "set personas.marketing.weight to 0" in run.stderr


@pytest.fixture(scope="module")
def faulted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One run against a CRM given four independent faults, each with a known answer."""
    return crmload(
        "run",
        str(REPO / "tests" / "scenarios" / "faults.yaml"),
        "--crm-error-rate",
        "customer.search=0.05",  # exactly 1 in 20 searches answers 503
        "--crm-throttle",
        "customer.view=0.5",  # exactly every second view answers 429
        "--crm-grant-forbidden",  # role checks off
        "--crm-drop-write-rate",
        "0.05",  # 5 % of writes acknowledged but rolled back
        results=tmp_path_factory.mktemp("faulted"),
    )


def _clause(run, clause_id: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return next(c for c in run.json("verdict.json")["clauses"] if c["id"] == clause_id)


def _work(run, operation: str):  # type: ignore[no-untyped-def]
    """Requests of ``operation`` made by journeys, not by the access probes."""
    df = run.samples().query(f"kind == 'request' and operation == '{operation}'")
    return df[~df["journey"].str.startswith("probe.")]


def test_injected_errors_fail_perf_err_01_naming_the_operation(faulted) -> None:  # type: ignore[no-untyped-def]
    assert faulted.code == 1, faulted.stdout + faulted.stderr
    clause = _clause(faulted, "PERF-ERR-01")
    assert clause["status"] == "FAIL"
    assert "customer.search" in clause["reason"]
    named = [p["scope"] for p in clause["parts"] if p["status"] == "FAIL"]
    assert named == ["operation=customer.search"]
    # the clause shows the failing operation's figure (5 %, beyond the limit), not the pooled one
    assert clause["scope"] == "operation=customer.search" and clause["margin"] < 0 and clause["measured"] > 0.01
    searches = _work(faulted, "customer.search")
    failed = (searches["outcome"] == "http_5xx").sum()
    assert len(searches) >= 100 and abs(failed - len(searches) / 20) <= 1
    # and why they failed, in verdict.json and the report: the CRM's own reason, counted exactly
    everyone = faulted.samples().query("kind == 'request' and operation == 'customer.search'")
    reasons = faulted.json("verdict.json")["failure_reasons"]
    row = next(r for r in reasons if r["operation"] == "customer.search" and r["outcome"] == "http_5xx")
    assert row["status"] == 503 and row["reason"] == "HTTP 503: injected fault on customer.search"
    assert row["count"] == (everyone["outcome"] == "http_5xx").sum()
    assert "injected fault on customer.search" in (faulted.run_dir / "report.html").read_text()


def test_throttling_is_reported_apart_from_failures(faulted) -> None:  # type: ignore[no-untyped-def]
    views = _work(faulted, "customer.view")
    throttled = views[views["outcome"] == "throttled"]
    assert len(throttled) >= 5 and set(throttled["status"]) == {429}
    # exactly every second call, by construction (probes by a role that may view count too)
    everyone = faulted.samples().query("kind == 'request' and operation == 'customer.view'")
    assert abs(len(everyone[everyone["outcome"] == "throttled"]) - len(everyone) / 2) <= 1
    part = next(p for p in _clause(faulted, "PERF-ERR-01")["parts"] if p["scope"] == "operation=customer.view")
    assert part["status"] != "FAIL" and part["measured"] == 0.0  # 429s are not failures


def test_access_granted_to_forbidden_actions_fails_sec_ac_01_naming_role_and_operation(faulted) -> None:  # type: ignore[no-untyped-def]
    clause = _clause(faulted, "SEC-AC-01")
    assert clause["status"] == "FAIL"
    assert "was granted" in clause["reason"]
    assert any(f"{role} was granted" in clause["reason"] for role in ("sales", "service", "marketing", "manager"))


def test_silently_dropped_writes_fail_data_01_with_their_ids(faulted) -> None:  # type: ignore[no-untyped-def]
    clause = _clause(faulted, "DATA-01")
    audit = faulted.json("audit.json")
    assert clause["status"] == "FAIL" and audit["breaches"] >= 1
    assert audit["examples"] and audit["examples"][0].split()[0] in clause["reason"]


def test_a_stall_starts_when_asked_relative_to_the_load(tmp_path: Path) -> None:
    """``--crm-stall-s 3s --crm-stall-at 8s``: requests before 8 s into the load are not held (the
    stall no longer happens when the CRM is built, before any load); a request that starts inside
    the stall waits for its end, 11 s into the load."""
    run = crmload(
        "run",
        str(REPO / "tests" / "scenarios" / "plain.yaml"),
        "--duration",
        "16s",
        "--crm-stall-s",
        "3s",
        "--crm-stall-at",
        "8s",
        results=tmp_path,
    )
    assert run.code in (0, 1, 3), run.stdout + run.stderr
    start = run.json("locust.json")["started"]  # the load's start: Locust's test start, its first request
    df = run.samples()
    req = df[df["kind"] == "request"]
    into = req["ts"] - start
    end_ms = (start + 11.0 - req["ts"]) * 1000.0
    before = req[into < 7.95]
    assert len(before) > 50 and before["response_time_ms"].max() < 1000.0
    inside = req[(into >= 8.0) & (into < 10.9)]  # each user is held by its first request in the stall
    assert len(inside) >= 2
    assert (inside["response_time_ms"] >= end_ms[inside.index] - 300.0).all()  # held to the stall's end
    assert (req[into > 11.2]["response_time_ms"] < 1000.0).all()


def test_concurrency_counts_active_users_not_the_idle_open_model_pool(tmp_path: Path) -> None:
    """4 closed users and an open-model pool of 30 that carries 2 arrivals/s of millisecond
    iterations: about 4 users are active at any time, never 34. PERF-CONC-01 asking for 10 is
    not tested, and says the idle pool was not counted."""
    scenario = tmp_path / "pool.yaml"
    scenario.write_text(
        "name: pool\nsize: tiny\nrequired_users: 10\n"
        "personas:\n  sales: {weight: 1, think_time: [0.05s, 0.1s]}\n  integration: {}\n"
        "open_model: {max_users: 30, max_lag: 2s}\n"
        "stages:\n  - {name: hold, users: 4, spawn_rate: 4, arrival_rate: 2, duration: 10s, warmup: 2s}\n"
        "judge: [PERF-CONC-01, PERF-ERR-01]\n"
    )
    run = crmload("run", str(scenario), results=tmp_path / "results")
    assert run.code in (0, 3), run.stdout + run.stderr
    df = run.samples()
    steady = df[(df["kind"] == "request") & (df["ts"] > df["ts"].min() + 3)]
    assert steady["users"].max() <= 8 and steady["users"].median() >= 4
    conc = next(c for c in run.json("verdict.json")["clauses"] if c["id"] == "PERF-CONC-01")
    assert conc["status"] == "INCONCLUSIVE" and conc["measured"] < 10
    assert "idle pool of 30 is not counted" in conc["reason"]


def test_dropped_arrivals_enter_the_corrected_percentiles(tmp_path: Path) -> None:
    """Coordinated omission, known answer: 20 arrivals/s, a pool of 5 users, max_lag 2 s (the
    shipped scenarios'), a 3 s stall 12 s into the load. An arrival u seconds into the stall
    waits 3 − u; with 5 users busy after 0.25 s, those of u < 1 s wait more than 2 s and are dropped
    (at the stall's end, at their lag: 2–2.75 s). Over a judged window of D = 28 s at 20/s the
    latencies above x are the stall's arrivals with 3 − u > x: P = (3 − x) / D, so the p99 is
    3 − 0.01·D = 2.72 s. Left out, the dropped arrivals would put it near 2.0 s (26 % low)."""
    scenario = tmp_path / "co.yaml"
    scenario.write_text(
        "name: co\nsize: tiny\n"
        "personas:\n  integration: {options: {batch_size: 1}}\n"
        "open_model: {max_users: 5, max_lag: 2s}\n"
        "stages:\n  - {name: arrivals, arrival_rate: 20, duration: 30s, warmup: 2s}\n"
        "judge: [CLS-WRITE]\n"
    )
    run = crmload("run", str(scenario), "--crm-stall-s", "3s", "--crm-stall-at", "12s", results=tmp_path / "r")
    assert run.code in (0, 1, 3), run.stdout + run.stderr
    verdict = run.json("verdict.json")
    (row,) = [r for r in verdict["tables"]["persona"] if r["key"] == "integration"]
    assert 10 <= row["dropped"] <= 20  # u in [0.25 s, 1 s): about 15
    theory_ms = (3.0 - 0.01 * 28.0) * 1000.0
    assert row["co_percentiles_ms"]["p99"] == pytest.approx(theory_ms, rel=0.10), row
    assert row["percentiles_ms"]["p99"] < 0.5 * theory_ms  # the raw figure misses the lag entirely
    write = next(c for c in verdict["clauses"] if c["id"] == "CLS-WRITE")
    assert any("arrivals dropped beyond max_lag" in p["reason"] for p in write["parts"]), write


def test_a_stage_held_until_decided_ends_at_its_first_deciding_look(tmp_path: Path) -> None:
    done = crmload("run", str(REPO / "tests" / "scenarios" / "held.yaml"), "--thresholds",
                   str(REPO / "tests" / "scenarios" / "capacity-thresholds.yaml"), results=tmp_path)  # fmt: skip
    assert done.code == 0, done.stdout + done.stderr
    (stage,) = done.json("stages.json")
    # looks at 2, 4, 8, 16 and 32 steady seconds; the first holds about 55 samples, fewer than a p95
    # needs at the looks' level of 1 - 0.05/5 = 99 %
    assert stage["looks"] == 5 and stage["confidence"] == pytest.approx(0.99)
    assert 1 < stage["look"] < 5 and stage["decided"] is True, stage
    ran = stage["end"] - stage["start"]
    assert ran == pytest.approx(1.0 + 2.0 * 2 ** (stage["look"] - 1), abs=0.01)  # warm-up + the look's steady seconds
    verdict = done.json("verdict.json")
    clause = verdict["clauses"][0]
    assert clause["status"] == "PASS" and clause["samples"] >= 100
    assert any("held until decided" in w and "99.00 %" in w for w in verdict["warnings"]), verdict["warnings"]
    assert done.json("meta.json")["status"] == "completed"
