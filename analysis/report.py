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

from crmload.analysis.outputs import MAX_REASONS_SHOWN
from crmload.analysis.tables import PCT_COLUMNS, Row
from crmload.analysis.verdict import Verdict
from crmload.core.rundir import FailureReason, Meta

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#fafafa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;color:#fff}
.PASS,.improved{background:#2e7d32}.FAIL,.regressed{background:#c62828}.INCONCLUSIVE,.noisy{background:#ef6c00}
.unchanged{background:#607d8b}
.big{font-size:22px;padding:2px 14px}
.warn{background:#fff8e1;border-left:4px solid #ef6c00;padding:6px 10px;margin:4px 0}
figure{margin:14px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:12px}
pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px}.muted{color:#666}
"""


def esc(text: Any) -> str:
    return html.escape(str(text))


def _ms(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def _table(rows: list[Row], title: str) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{esc(c)}</th>" for c in ["n", "req/s", *PCT_COLUMNS, "max", "failures", "outcomes"])
    body = []
    for r in rows:
        rps = "—" if math.isnan(r.throughput_rps) else f"{r.throughput_rps:.2f}"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
        cells = [f"<td class=n>{r.n}</td>", f"<td class=n>{rps}</td>"]
        cells += [f"<td class=n>{_ms(r.percentiles_ms[c])}</td>" for c in PCT_COLUMNS]
        cells += [
            f"<td class=n>{_ms(r.max_ms)}</td>",
            f"<td class=n>{r.failures} ({r.failure_rate * 100:.2f} %)</td>",
            f"<td>{esc(outcomes)}</td>",
        ]
        body.append(f"<tr><td><code>{esc(r.key)}</code></td>{''.join(cells)}</tr>")
        if r.co_percentiles_ms is not None:  # the open model's corrected figures, right under the raw ones
            co = r.co_percentiles_ms
            label = "corrected for coordinated omission" + (f", with {r.dropped} dropped arrivals" if r.dropped else "")
            body.append(
                "<tr class=muted><td>↳ corrected</td><td></td><td></td>"
                + "".join(f"<td class=n>{_ms(co[c])}</td>" for c in PCT_COLUMNS)
                + f"<td></td><td></td><td>{esc(label)}</td></tr>"
            )
    return (
        f"<h3>{esc(title)}</h3><table><tr><th>{esc(title.split()[0].lower())}</th>{head}</tr>"
        + "".join(body)
        + "</table>"
    )


def _reasons_table(reasons: list[FailureReason]) -> str:
    """Why requests failed: operation, status, outcome, reason, count and the first example."""
    if not reasons:
        return ""
    rows = "".join(
        f"<tr><td><code>{esc(r.operation)}</code></td><td class=n>{r.status or '—'}</td><td>{esc(r.outcome)}</td>"
        f"<td>{esc(r.reason)}</td><td class=n>{r.count:,}</td><td class=muted>{esc(r.example)}</td></tr>"
        for r in reasons[:MAX_REASONS_SHOWN]
    )
    more = (
        f"<p class=muted>{len(reasons) - MAX_REASONS_SHOWN} more in capture.json</p>"
        if len(reasons) > MAX_REASONS_SHOWN
        else ""
    )
    return (
        "<h2 id=failure-reasons>Why requests failed</h2><table><tr><th>operation</th><th>status</th>"
        f"<th>outcome</th><th>reason</th><th>count</th><th>first example</th></tr>{rows}</table>{more}"
    )


def render(
    verdict: Verdict,
    tables: dict[str, list[Row]],
    charts: dict[str, tuple[str, bytes]],
    meta: Meta,
    failure_outcomes: list[str],
    comparison_html: str = "",
    reasons: list[FailureReason] | None = None,
) -> str:
    """The whole page. ``charts``: name -> (caption, PNG bytes); ``comparison_html``: a comparison
    with a baseline, placed after the verdict."""
    status = verdict.status
    rows = []
    for r in verdict.results:
        rows.append(
            f"<tr><td><code>{esc(r.clause_id)}</code><br><span class=muted>{esc(r.title)}</span></td>"
            f"<td><span class='badge {r.status}'>{r.status}</span></td><td class=n>{esc(r.measured_text())}</td>"
            f"<td><code>{esc(r.limit)}</code></td><td class=n>{esc(r.margin_text())}</td>"
            f"<td class=n>{r.samples}</td><td>{esc(r.scope)}: {esc(r.reason)}</td></tr>"
        )
    warnings = "".join(f"<div class=warn>{esc(w)}</div>" for w in verdict.warnings)
    figures = "".join(
        f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<figcaption>{esc(caption)}</figcaption></figure>"
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
<title>crmload {esc(meta.scenario_name or "run")}: {status}</title><style>{CSS}</style></head><body>
<header><h1>Verdict: <span id="verdict" class="badge big {status}">{status}</span></h1>
<p class=muted>Scenario <b>{esc(meta.scenario_name or "?")}</b> · run {esc(verdict.run_status)} ·
steady-state window {verdict.window_s:.0f} s · target {esc(meta.target or "?")} ·
started {esc(meta.started_utc or "?")} · exit code {verdict.exit_code}</p></header>
<h2>Clauses of the standard</h2>
<table><tr><th>clause</th><th>status</th><th>measured</th><th>limit</th><th>margin</th><th>samples</th><th>why</th></tr>
{"".join(rows)}</table>{warnings}
{comparison_html}
{_reasons_table(reasons or [])}
<h2>Figures per scope</h2><p class=muted>Latencies in ms, of successful requests; exact nearest-rank percentiles
from raw samples (response times as measured); for the open model a second line, "corrected", adds each
request's schedule lag and counts the arrivals dropped beyond max_lag at their lag (a lower bound), as the
verdict judges them; failures are {esc(", ".join(failure_outcomes))}.</p>
{scopes}
<h2>Charts</h2>{figures}
<h2>Provenance</h2><pre>{esc(json.dumps(meta.model_dump(mode="json"), indent=1, default=str))}</pre>
<footer class=muted><p>Method: {esc(verdict.method)}.</p></footer>
</body></html>
"""


def num(v: Any, fmt: str = "{:.1f}") -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)
