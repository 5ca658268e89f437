"""Verdict outputs for people and machines: terminal table, ``verdict.json``, ``summary.md``, ``junit.xml``."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from crmload.analysis.tables import PCT_COLUMNS, Row
from crmload.analysis.verdict import Result, Verdict
from crmload.core.rundir import VERDICT_FORMAT, VERDICT_FORMAT_VERSION, FailureReason, Meta, write_json_atomic

MARK = {"PASS": "PASS", "FAIL": "FAIL", "INCONCLUSIVE": "INCONCLUSIVE"}


def _ms(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def terminal_table(verdict: Verdict, color: bool = False) -> str:
    """A short verdict table for the end of ``crmload run`` and ``crmload analyze``."""
    colors = {"PASS": "\033[32m", "FAIL": "\033[31m", "INCONCLUSIVE": "\033[33m"}
    reset = "\033[0m" if color else ""
    rows = [("clause", "status", "measured", "limit", "margin", "n", "why")]
    for r in verdict.results:
        rows.append(
            (r.clause_id, r.status, r.measured_text(), r.limit, r.margin_text(), str(r.samples), _short(r.reason, 70))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[j].ljust(widths[j]) for j in range(6)]
        if i and color:
            cells[1] = colors[row[1]] + cells[1] + reset
        lines.append("  ".join(cells) + "  " + row[6])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
    overall = verdict.status
    head = (colors[overall] if color else "") + f"VERDICT: {overall}" + reset
    tail = [f"  ! {w}" for w in verdict.warnings]
    return "\n".join([head, *lines, *tail])


MAX_REASONS_SHOWN = 20  # rows of the failure-reasons table in verdict.json and the report


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def write_verdict_json(
    path: Path,
    verdict: Verdict,
    tables: dict[str, list[Row]],
    meta: Meta,
    sections: dict[str, Any] | None = None,
    reasons: list[FailureReason] | None = None,
) -> None:
    """``sections``: the scenario kind's own analyses (capacity, surge, drift), each a JSON-ready dict;
    ``reasons``: why requests failed (``capture.json``), the most frequent first."""
    reasons = reasons or []
    data: dict[str, Any] = {"format": VERDICT_FORMAT, "format_version": VERDICT_FORMAT_VERSION}
    data.update(verdict.to_dict())
    data.update(sections or {})
    data["tables"] = {scope: [_row_dict(r) for r in rows] for scope, rows in tables.items()}
    data["failure_reasons"] = [r.model_dump(mode="json") for r in reasons[:MAX_REASONS_SHOWN]]
    recorded = meta.model_dump(mode="json")
    data["run"] = {
        k: recorded.get(k)
        for k in (
            "scenario_name",
            "started_utc",
            "ended_utc",
            "status",
            "target",
            "adapter",
            "crmload_version",
            "schema_version",
        )
    }
    write_json_atomic(path, data)


def _row_dict(r: Row) -> dict[str, Any]:
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    return {
        "key": r.key,
        "n": r.n,
        "throughput_rps": clean(r.throughput_rps),
        "percentiles_ms": {k: clean(v) for k, v in r.percentiles_ms.items()},
        "max_ms": clean(r.max_ms),
        "co_p99_ms": clean(r.co_p99_ms),
        "co_percentiles_ms": None
        if r.co_percentiles_ms is None
        else {k: clean(v) for k, v in r.co_percentiles_ms.items()},
        "dropped": r.dropped,
        "failures": r.failures,
        "failure_rate": r.failure_rate,
        "failure_rate_high": r.failure_rate_high,
        "outcomes": r.outcomes,
        "server_p50_ms": r.server_p50_ms,
    }


def summary_markdown(verdict: Verdict, tables: dict[str, list[Row]], meta: Meta) -> str:
    out = [f"## crmload verdict: **{verdict.status}**", ""]
    out.append(
        f"Scenario `{meta.scenario_name or '?'}` · run `{verdict.run_status}` · steady-state window "
        f"{verdict.window_s:.0f} s · target `{meta.target or '?'}`"
    )
    out.append("")
    out.append("| clause | status | measured | limit | margin | samples | why |")
    out.append("|---|---|---|---|---|---:|---|")
    for r in verdict.results:
        out.append(
            f"| `{r.clause_id}` {r.title} | **{r.status}** | {r.measured_text()} | `{r.limit}` | "
            f"{r.margin_text()} | {r.samples} | {_md(r.reason)} |"
        )
    if verdict.warnings:
        out += ["", *[f"> **Warning:** {_md(w)}" for w in verdict.warnings]]
    ops = tables.get("operation", [])
    if ops:
        out += [
            "",
            "### Operations (steady state, successful requests; ms)",
            "",
            "| operation | n | req/s | " + " | ".join(PCT_COLUMNS) + " | max | failures | p99 corrected |",
            "|---|---:|---:|" + "---:|" * (len(PCT_COLUMNS) + 3),
        ]
        for row in ops:
            co = "" if row.co_percentiles_ms is None else _ms(row.co_percentiles_ms["p99"])
            out.append(
                f"| `{row.key}` | {row.n} | {row.throughput_rps:.2f} | "
                + " | ".join(_ms(row.percentiles_ms[c]) for c in PCT_COLUMNS)
                + f" | {_ms(row.max_ms)} | {row.failures} ({row.failure_rate * 100:.2f} %) | {co} |"
            )
    out += ["", f"<sub>Method: {verdict.method}.</sub>", ""]
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def junit_xml(verdict: Verdict, meta: Meta) -> str:
    """One test case per clause: FAIL → failure, INCONCLUSIVE → skipped (with the reason)."""
    failures = sum(r.status == "FAIL" for r in verdict.results)
    skipped = sum(r.status == "INCONCLUSIVE" for r in verdict.results)
    suite = ET.Element(
        "testsuite",
        name=f"crmload.{meta.scenario_name or 'run'}",
        tests=str(len(verdict.results)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
    )
    for r in verdict.results:
        case = ET.SubElement(suite, "testcase", classname="crmload.standard", name=f"{r.clause_id} {r.title}")
        text = _case_text(r)
        if r.status == "FAIL":
            ET.SubElement(case, "failure", message=_short(r.reason, 200)).text = text
        elif r.status == "INCONCLUSIVE":
            ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {_short(r.reason, 200)}")
        ET.SubElement(case, "system-out").text = text
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _case_text(r: Result) -> str:
    lines = [
        f"{r.clause_id}: {r.status}; measured {r.measured_text()} (scope {r.scope}), limit {r.limit}, "
        f"margin {r.margin_text()}, samples {r.samples}",
        r.reason,
    ]
    lines += [f"  {p.scope}: {p.status} {p.measured_text()} n={p.samples} — {p.reason}" for p in r.parts]
    return "\n".join(lines)
