"""Record ids as the CRM gives them (whole numbers, UUIDs, composite texts): the lost-write audit (DATA-01) on
a hand-worked writes.csv against a read-back that answers some records as written, one stale and one
missing (the read-back is the seam: ``crmload.core.audit.run_audit`` takes it as a function); and the
test data ``crmload testdata build`` assembles from what each user's session collected."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from crmload.core.audit import expected_writes, run_audit
from crmload.core.rundir import WriteRow

UUID_A = "742e0fa4-9ad2-4286-af37-a04b9bd21ba9"
UUID_B = "a316b80f-1bb0-4e6d-98c2-42cd13db74bf"
COMMENT = f"{UUID_A}:e9ce5513-e4ef-43aa-9c4f-17bb499caebd"


def _writes(path: Path) -> None:
    rows = [
        WriteRow(1.0, "w0", "accounts", 17, "city", "Lisbon", ""),
        WriteRow(2.0, "w0", "accounts", UUID_A, "city", "Porto", ""),
        WriteRow(3.0, "w0", "accounts", UUID_A, "city", "Lyon", ""),  # the later one is the one that counts
        WriteRow(4.0, "w1", "opportunities", UUID_B, "stage", "proposal", ""),
        WriteRow(5.0, "w1", "ticket_comments", COMMENT, "body", "Called the customer", ""),
        WriteRow(6.0, "w1", "leads", "9b1f0000-0000-4000-8000-000000000001", "company", "Prospect 1", ""),
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(WriteRow._fields)
        w.writerows(rows)


def test_text_ids_are_audited_as_the_crm_gave_them(tmp_path: Path) -> None:
    _writes(tmp_path / "writes.csv")
    expected = {(e.entity, e.record_id, e.field): e.value for e in expected_writes(tmp_path / "writes.csv")}
    assert expected == {
        ("accounts", 17, "city"): "Lisbon",  # a whole number stays one
        ("accounts", UUID_A, "city"): "Lyon",
        ("opportunities", UUID_B, "stage"): "proposal",
        ("ticket_comments", COMMENT, "body"): "Called the customer",
        ("leads", "9b1f0000-0000-4000-8000-000000000001", "company"): "Prospect 1",
    }
    asked: list[tuple[str, list[Any]]] = []
    stored = {
        "accounts": {"17": {"city": "Lisbon"}, UUID_A: {"city": "Porto"}},  # an id given back as text; one stale
        "opportunities": {UUID_B: {"stage": "proposal"}},
        "ticket_comments": {COMMENT: {"body": "Called the customer"}},
        "leads": {},  # the lead is missing
    }

    def read(entity: str, ids: list[Any]) -> dict[Any, dict[str, Any]]:
        asked.append((entity, ids))
        return {k: v for k, v in stored[entity].items() if k in {str(i) for i in ids}}

    result = run_audit(tmp_path, read, batch=10)
    assert dict(asked)["accounts"] == [17, UUID_A]  # numbers before texts, each ordered among its own
    assert (result["acknowledged"], result["checked"], result["breaches"]) == (5, 5, 2)
    assert (result["stale"], result["missing"]) == (1, 1)
    assert any(f"accounts {UUID_A}: city is 'Porto', acknowledged 'Lyon'" in e for e in result["examples"])
    assert any("leads 9b1f0000-0000-4000-8000-000000000001 is missing" in e for e in result["examples"])


def test_collected_records_assemble_into_a_test_data_file_by_owner() -> None:
    from crmload.core.testdata import TestDataFile, assemble_testdata

    base = {"users": [{"username": "rep1", "token": "t1", "role": "sales"}], "lead_intakes": {"i": 1}}
    collected = {
        "rep1": {"accounts": [UUID_A, UUID_B], "search_keys": [["A Ltd", "+1", "a@x"], ["B SA", "", "b@x"]],
                 "opportunities": ["o1"], "open_tickets": ["t1"]},
        "agent1": {"open_tickets": ["t1", "t2"]},  # owns nothing: no owner entry
        "rep2": {"accounts": [17], "search_keys": [["C BV", "+3", None]], "opportunities": []},
    }  # fmt: skip
    data = assemble_testdata(base, collected)
    TestDataFile.model_validate(data)
    assert data["lead_intakes"] == {"i": 1} and data["users"] == base["users"]
    assert data["accounts_by_owner"] == {"rep1": [UUID_A, UUID_B], "rep2": [17]}
    assert data["opportunities_by_owner"] == {"rep1": ["o1"]}  # an empty list makes no owner
    assert data["account_ids"] == [UUID_A, UUID_B, 17] and data["open_ticket_ids"] == ["t1", "t2"]
    assert data["search_names"] == ["A Ltd", "B SA", "C BV"]
    assert data["search_phones"] == ["+1", "+3"] and data["search_emails"] == ["a@x", "b@x"]
