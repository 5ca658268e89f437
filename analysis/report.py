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

from analysis.capacity import PEAK_REACH
from analysis.tables import PCT_COLUMNS, Row
from analysis.verdict import Verdict

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
    comparison_html: str = "",
) -> str:
    """The whole page. ``charts``: name -> (caption, PNG bytes); ``comparison_html``: a comparison
    with a baseline, placed after the verdict."""
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
{comparison_html}
<h2>Figures per scope</h2><p class=muted>Latencies in ms, of successful requests; exact nearest-rank percentiles
from raw samples; failures are {_e(", ".join(failure_outcomes))}.</p>
{scopes}
<h2>Charts</h2>{figures}
<h2>Provenance</h2><pre>{_e(json.dumps(meta, indent=1, default=str))}</pre>
<footer class=muted><p>Method: {_e(verdict.method)}.</p></footer>
</body></html>
"""


def _n(v: Any, fmt: str = "{:.1f}") -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def kind_html(sections: dict[str, Any]) -> str:
    """The capacity, surge and drift sections of the page, from their ``verdict.json`` form."""
    out = []
    cap = sections.get("capacity")
    if cap:
        rows = "".join(
            f"<tr><td>{_e(s['name'])}</td><td class=n>{s['users']}</td>"
            f"<td class=n>{_n(s['throughput_rps'], '{:.2f}')}</td>"
            f"<td class=n>{_n(s['p50_ms'])}</td><td class=n>{_n(s['p95_ms'])}</td>"
            f"<td class=n>{_n((s['failure_rate'] or 0) * 100, '{:.2f} %')}</td><td class=n>{s['n']}</td>"
            f"<td class=n>{_n(s['implied_think_s'], '{:.3f} s')}</td>"
            f"<td><span class='badge {s['status']}'>{s['status']}</span> "
            + _e(", ".join(f"{cid} {c['status']}" for cid, c in s["clauses"].items() if c["status"] != "PASS"))
            + "</td></tr>"
            for s in cap["steps"]
        )
        brk = cap.get("break")
        usl = cap.get("usl")
        facts = [
            "ceiling: <b>"
            + _e(cap["ceiling_users"] if cap["ceiling_users"] is not None else "below the first step")
            + "</b> users",
            "break: "
            + (
                f"<b>{brk['users']}</b> users ({_e(brk['step'])}): "
                + _e(
                    ", ".join(
                        f"{c['id']} measured {_n(c['measured'], '{:.4g}')} against {c['limit']}"
                        + (f" ({c['excess'] * 100:+.0f} %)" if c["excess"] is not None else "")
                        for c in brk["clauses"]
                    )
                )
                if brk
                else "none within the staircase"
            ),
            f"throughput knee: {_e(cap['knee_users'] if cap['knee_users'] is not None else 'not reached')} users",
        ]
        if usl:
            iv = usl.get("intervals") or {}

            def ci(k: str) -> str:
                return f" [{_n(iv[k][0], '{:.3g}')}, {_n(iv[k][1], '{:.3g}')}]" if k in iv else ""

            peak = (
                f"peak {_n(usl['peak_users'], '{:.0f}')}{ci('peak_users')} users at "
                f"{_n(usl['peak_rps'], '{:.1f}')}{ci('peak_rps')} requests/s"
                if usl["peak_users"] is not None
                else f"no peak within {PEAK_REACH:g}× the highest step: throughput still grows with users"
            )
            facts.append(f"USL: σ = {usl['sigma']:.3g}{ci('sigma')}, κ = {usl['kappa']:.3g}{ci('kappa')}, {peak}")
        if cap.get("configured_think_s") is not None:
            facts.append(f"Little's law: configured mean think time {cap['configured_think_s']:.3f} s per request "
                         "against the implied one per step (column 'implied think')")  # fmt: skip
        if cap.get("stopped_early"):
            facts.append(f"<b>stopped early</b>: {_e(cap['stopped_early'])}")
        out.append(
            "<h2 id=capacity>Capacity: the concurrency ceiling</h2><ul>"
            + "".join(f"<li>{f}</li>" for f in facts)
            + "</ul><table><tr><th>step</th><th>users</th><th>req/s</th><th>p50</th><th>p95</th><th>failures</th>"
            "<th>n</th><th>implied think</th><th>verdict</th></tr>" + rows + "</table>"
        )
    sg = sections.get("surge")
    if sg:
        rec = sg["recovery"]
        arr = "".join(
            f"<tr><td>{_e(a['stage'])}</td><td class=n>{a['planned_rate']:g}</td>"
            f"<td class=n>{a['achieved_rate']:g}</td>"
            f"<td class=n>{a['started']}</td><td class=n>{a['dropped']}</td><td class=n>{a['late']}</td>"
            f"<td class=n>{_n(a['lag_p95_ms'])}</td></tr>"
            for a in sg["arrivals"]
        )
        when = (
            f"recovered <b>{rec['seconds']:.0f} s</b> after the surge"
            if rec["seconds"] is not None
            else f"<b>not recovered</b> in the {rec['observed_s']:.0f} s observed"
        )
        out.append(
            f"<h2 id=surge>Surge ({_e(sg['stage'])})</h2><p>{when} (rolling {rec['window_s']:g} s window"
            f"{'' if rec['breached'] else '; the limits were never exceeded after the surge'}).</p>"
            "<table><tr><th>stage</th><th>planned/s</th><th>achieved/s</th><th>started</th><th>dropped</th>"
            f"<th>late (&gt;100 ms)</th><th>lag p95 (ms)</th></tr>{arr}</table>"
        )
    dr = sections.get("drift")
    if dr:
        out.append(
            "<h2 id=drift>Drift</h2><ul>"
            + "".join(f"<li><b>{_e(t['metric'])}</b>: {_e(t['reason'])}</li>" for t in dr)
            + "</ul>"
        )
    return "".join(out)
