"""``report.html``: one self-contained page (charts embedded) that opens offline in any browser.

Order: the verdict first (each clause with value, limit, margin, samples, status and why), the
warnings, then per-scope tables, then the charts, then the run's provenance (``meta.json``).
"""

from __future__ import annotations

import base64
import html
import json
import math
from typing import Any

from analysis.tables import PCT_COLUMNS, Row
from analysis.verdict import Verdict

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#fafafa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;color:#fff}
.PASS{background:#2e7d32}.FAIL{background:#c62828}.INCONCLUSIVE{background:#ef6c00}
.big{font-size:22px;padding:2px 14px}
.warn{background:#fff8e1;border-left:4px solid #ef6c00;padding:6px 10px;margin:4px 0}
figure{margin:14px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:12px}
pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px}.muted{color:#666}
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _ms(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def _table(rows: list[Row], title: str) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in ["n", "req/s", *PCT_COLUMNS, "max", "failures", "outcomes"])
    body = []
    for r in rows:
        rps = "—" if math.isnan(r.throughput_rps) else f"{r.throughput_rps:.2f}"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
        cells = [f"<td class=n>{r.n}</td>", f"<td class=n>{rps}</td>"]
        cells += [f"<td class=n>{_ms(r.percentiles_ms[c])}</td>" for c in PCT_COLUMNS]
        cells += [
            f"<td class=n>{_ms(r.max_ms)}</td>",
            f"<td class=n>{r.failures} ({r.failure_rate * 100:.2f} %)</td>",
            f"<td>{_e(outcomes)}</td>",
        ]
        body.append(f"<tr><td><code>{_e(r.key)}</code></td>{''.join(cells)}</tr>")
    return (
        f"<h3>{_e(title)}</h3><table><tr><th>{_e(title.split()[0].lower())}</th>{head}</tr>"
        + "".join(body)
        + "</table>"
    )


def render(
    verdict: Verdict,
    tables: dict[str, list[Row]],
    charts: dict[str, tuple[str, bytes]],
    meta: dict[str, Any],
    failure_outcomes: list[str],
) -> str:
    """The whole page. ``charts``: name -> (caption, PNG bytes)."""
    status = verdict.status
    rows = []
    for r in verdict.results:
        rows.append(
            f"<tr><td><code>{_e(r.clause_id)}</code><br><span class=muted>{_e(r.title)}</span></td>"
            f"<td><span class='badge {r.status}'>{r.status}</span></td><td class=n>{_e(r.measured_text())}</td>"
            f"<td><code>{_e(r.limit)}</code></td><td class=n>{_e(r.margin_text())}</td>"
            f"<td class=n>{r.samples}</td><td>{_e(r.scope)}: {_e(r.reason)}</td></tr>"
        )
    warnings = "".join(f"<div class=warn>{_e(w)}</div>" for w in verdict.warnings)
    figures = "".join(
        f"<figure><img alt='{_e(caption)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
        for caption, png in charts.values()
    )
    scopes = "".join(
        _table(tables.get(key, []), title)
        for key, title in (
            ("operation", "Operations (steady state)"),
            ("persona", "Personas (steady state)"),
            ("journey", "Journeys (steady state)"),
            ("stage", "Stages (whole stage, ramps included)"),
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>crmload {_e(meta.get("scenario_name", "run"))}: {status}</title><style>{CSS}</style></head><body>
<header><h1>Verdict: <span id="verdict" class="badge big {status}">{status}</span></h1>
<p class=muted>Scenario <b>{_e(meta.get("scenario_name", "?"))}</b> · run {_e(verdict.run_status)} ·
steady-state window {verdict.window_s:.0f} s · target {_e(meta.get("target", "?"))} ·
started {_e(meta.get("started_utc", "?"))} · exit code {verdict.exit_code}</p></header>
<h2>Clauses of the standard</h2>
<table><tr><th>clause</th><th>status</th><th>measured</th><th>limit</th><th>margin</th><th>samples</th><th>why</th></tr>
{"".join(rows)}</table>{warnings}
<h2>Figures per scope</h2><p class=muted>Latencies in ms, of successful requests; exact nearest-rank percentiles
from raw samples; failures are {_e(", ".join(failure_outcomes))}.</p>
{scopes}
<h2>Charts</h2>{figures}
<h2>Provenance</h2><pre>{_e(json.dumps(meta, indent=1, default=str))}</pre>
<footer class=muted><p>Method: {_e(verdict.method)}.</p></footer>
</body></html>
"""
