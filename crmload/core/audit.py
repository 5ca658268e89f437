"""The lost-write audit (DATA-01): read back what the CRM acknowledged and compare.

During the load every acknowledged create or update is remembered in ``writes.csv`` (entity, id,
field, value, and the record version the CRM reported). After the load, the audit keeps the
latest acknowledged value of each (entity, id, field) — the highest version, or the latest
acknowledgement where the CRM reports none — reads the records back and counts each one that is
missing or holds another value. Huge runs are audited on a uniform random sample (``max_checks``,
fixed seed); ``audit.json`` states the sample size and the total.

The records are read back through the target's adapter (:meth:`CrmAdapter.read_back`, signed in as
its ``readback_role``; the reference CRM's admin record endpoint for the shipped adapter); an adapter
that cannot read records back leaves DATA-01 INCONCLUSIVE, and ``audit.json`` says why.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmload.core.rundir import write_json_atomic

DEFAULT_MAX_CHECKS = 100_000


@dataclass(frozen=True)
class Expected:
    entity: str
    record_id: int | str  # as the CRM gave it: a whole number, or a text (a UUID)
    field: str
    value: str
    version: int


def expected_writes(writes_csv: Path) -> list[Expected]:
    """The latest acknowledged value per (entity, id, field)."""
    latest: dict[tuple[str, int | str, str], tuple[int, float, str]] = {}
    if not writes_csv.exists():
        return []
    with writes_csv.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                key = (row["entity"], _record_id(row["id"]), row["field"])
                version = int(row["version"]) if row.get("version") else 0
                ts = float(row["ts"])
            except (KeyError, TypeError, ValueError):
                continue  # a torn last line
            seen = latest.get(key)
            if seen is None or (version, ts) > (seen[0], seen[1]):
                latest[key] = (version, ts, row["value"])
    return [Expected(e, i, f, v[2], v[0]) for (e, i, f), v in latest.items()]


def _record_id(text: str) -> int | str:
    """A record id as written to writes.csv: a whole number back as one, any other text as it is."""
    if not text:
        raise ValueError("no id")
    return int(text) if text.isdigit() else text


def _same(stored: Any, expected: str) -> bool:
    if stored is None:
        return False
    if isinstance(stored, float):
        try:
            return abs(stored - float(expected)) < 1e-9
        except ValueError:
            return False
    return str(stored) == expected


def _check(exp: Expected, row: dict[str, Any] | None, result: dict[str, Any]) -> None:
    result["checked"] += 1
    if row is None:
        result["missing"] += 1
        problem = f"{exp.entity} {exp.record_id} is missing (acknowledged {exp.field}={exp.value!r})"
    elif not _same(row.get(exp.field), exp.value):
        result["stale"] += 1
        problem = f"{exp.entity} {exp.record_id}: {exp.field} is {row.get(exp.field)!r}, acknowledged {exp.value!r}" + (
            f" (version {exp.version})" if exp.version else ""
        )
    else:
        return
    result["breaches"] += 1
    if len(result["examples"]) < 20:
        result["examples"].append(problem)


# reads records back: (entity, ids) -> {id: record} of those it found, or None when the read failed
ReadBack = Callable[[str, list[Any]], "dict[Any, dict[str, Any]] | None"]


class ReadBackFailed(Exception):
    """A read-back request failed: the audit stops (a record it could not read is not a lost write)."""


def run_audit(run_dir: Path, read: ReadBack, batch: int = 1000, max_checks: int = DEFAULT_MAX_CHECKS) -> dict[str, Any]:
    """Read back the acknowledged writes of ``run_dir`` with ``read``, ``batch`` ids a request; write and
    return ``audit.json``. Raises :class:`ReadBackFailed` when a read fails (nothing is written then)."""
    expected = expected_writes(run_dir / "writes.csv")
    total = len(expected)
    sample = expected if total <= max_checks else random.Random(20261122).sample(expected, max_checks)
    result: dict[str, Any] = {
        "acknowledged": total,
        "checked": 0,
        "breaches": 0,
        "sampled": total > max_checks,
        "missing": 0,
        "stale": 0,
        "examples": [],
    }
    by_entity: dict[str, list[Expected]] = {}
    for exp in sample:
        by_entity.setdefault(exp.entity, []).append(exp)
    for entity, items in sorted(by_entity.items()):
        for k in range(0, len(items), batch):
            chunk = items[k : k + batch]
            stored = read(entity, sorted({e.record_id for e in chunk}, key=lambda i: (type(i).__name__, i)))
            if stored is None:
                raise ReadBackFailed(f"reading {entity} back failed")
            found = {str(k): v for k, v in stored.items()}  # an id the adapter gave back as text or number
            for exp in chunk:
                _check(exp, found.get(str(exp.record_id)), result)
    write_json_atomic(run_dir / "audit.json", result)
    return result
