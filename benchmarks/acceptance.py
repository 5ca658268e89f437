"""Acceptance at shipped length (not in CI): the shipped ``capacity`` and ``peak-promotion`` with
the shipped ``thresholds.yaml`` on a healthy embedded reference CRM.

    python benchmarks/acceptance.py [capacity] [peak-promotion] [--results DIR]

For ``capacity``: PERF-CONC-01 must PASS with a ceiling at or above ``required_users`` within the
scenario's ``budget``. For ``peak-promotion``: no judged clause INCONCLUSIVE for thin data.
Prints one JSON line per scenario (figures for benchmarks/README.md) and exits 1 when one is not met.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _thin(leaf: dict[str, Any], confidence: float) -> bool:
    """INCONCLUSIVE with fewer samples than its limit needs even when every one is within it."""
    from crmload.analysis.expr import parse_limit
    from crmload.analysis.plan import samples_needed

    if leaf["status"] != "INCONCLUSIVE":
        return False
    try:
        need = samples_needed(parse_limit(leaf["limit"]), 5, confidence)
    except ValueError:
        return "too few samples" in leaf["reason"]
    return int(leaf["samples"]) < need or "too few samples" in leaf["reason"]


def _leaves(clause: dict[str, Any]) -> list[dict[str, Any]]:
    """The groups a clause is decided on: a rate on its pooled requests (its per-operation parts
    only say whether one operation is significantly above), anything else on each of its parts."""
    parts = clause.get("parts") or []
    if not parts or clause.get("metric") == "rate":
        return [clause]
    return [leaf for p in parts for leaf in _leaves(p)]


def run(name: str, results: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", name, "--results", str(results), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - t0
    run_dir = sorted(p for p in results.glob(f"{name}-*") if p.is_dir())[-1]
    return {"scenario": name, "exit": proc.returncode, "wall_s": round(took), **summary(run_dir)}


def summary(run_dir: Path) -> dict[str, Any]:
    """What the acceptance looks at in a run's verdict.json."""
    verdict = json.loads((run_dir / "verdict.json").read_text())
    thin = [
        {"id": c["id"], "scope": leaf["scope"], "limit": leaf["limit"], "samples": leaf["samples"]}
        for c in verdict["clauses"]
        for leaf in _leaves(c)
        if _thin(leaf, 0.95)
    ]
    out: dict[str, Any] = {
        "status": verdict["status"],
        "run_dir": str(run_dir),
        "clauses": {c["id"]: c["status"] for c in verdict["clauses"]},
        "thin": thin,
    }
    cap = verdict.get("capacity")
    if cap:
        out["ceiling_users"] = cap["ceiling_users"]
        out["steps"] = [(s["name"], s["users"], s["status"], round(s["seconds"]), s["n"]) for s in cap["steps"]]
        out["resolution"] = cap["resolution"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", default=["capacity", "peak-promotion"])
    ap.add_argument("--results", type=Path, default=REPO / "results" / "acceptance")
    args = ap.parse_args()
    ok = True
    for name in args.scenarios:
        got = run(name, args.results)
        print(json.dumps(got), flush=True)
        if name == "capacity":
            from crmload.core.resources import scenario_path
            from crmload.core.scenario import load_scenario

            sc = load_scenario(scenario_path(name))
            budget = sc.budget or float("inf")
            ok &= got["clauses"].get("PERF-CONC-01") == "PASS" and got["wall_s"] <= budget + 120
            ok &= (got["ceiling_users"] or 0) >= (sc.required_users or 0)
        else:
            ok &= not got["thin"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
