"""``kind: capacity``: a staircase of users judged step by step, the ceiling, the break, knee and USL
(the analysis itself: :mod:`crmload.analysis.capacity`)."""

from __future__ import annotations

from typing import Any

from crmload.analysis import capacity
from crmload.analysis.kinds import KindAnalysis, KindContext, KindOutcome, register
from crmload.analysis.report import esc, num
from crmload.analysis.verdict import Result


@register
class Capacity(KindAnalysis):
    name = "capacity"
    order = 10

    def applies(self, ctx: KindContext) -> bool:
        return ctx.kind == "capacity"

    def analyse(self, ctx: KindContext, results: list[Result], warnings: list[str]) -> KindOutcome:
        cap, zero = capacity.analyse(ctx.run, ctx.thresholds, ctx.judge_ids, ctx.scenario.get("required_users"))
        # the other clauses are judged step by step (see capacity.py), and the closed model's
        # lower-bound caveat does not apply to a staircase
        kept = [w for w in warnings if w != ctx.judge.trust.lower_bound]
        charts = {}
        if ctx.charts_wanted and cap.steps:
            from crmload.analysis import charts as plots

            charts["staircase"] = ("Staircase: throughput and p95 against users", plots.staircase(cap))
        return KindOutcome([cap.result, *zero], kept, cap.to_dict(), charts)

    def html(self, cap: Any) -> str:
        rows = "".join(
            f"<tr><td>{esc(s['name'])}</td><td class=n>{s['users']}</td>"
            f"<td class=n>{num(s['throughput_rps'], '{:.2f}')}</td>"
            f"<td class=n>{num(s['p50_ms'])}</td><td class=n>{num(s['p95_ms'])}</td>"
            f"<td class=n>{num((s['failure_rate'] or 0) * 100, '{:.2f} %')}</td><td class=n>{s['n']}</td>"
            f"<td class=n>{num(s['implied_think_s'], '{:.3f} s')}</td>"
            f"<td><span class='badge {s['status']}'>{s['status']}</span> "
            + esc(", ".join(f"{cid} {c['status']}" for cid, c in s["clauses"].items() if c["status"] != "PASS"))
            + "</td></tr>"
            for s in cap["steps"]
        )
        resolution = cap.get("resolution")
        facts = [
            "ceiling: <b>"
            + esc(cap["ceiling_users"] if cap["ceiling_users"] is not None else "below the first step")
            + "</b> users"
            + (
                f" (resolution {resolution * 100:.0f} %: the next tested load above it did not pass)"
                if resolution
                else ""
            ),
            "break: " + _break_html(cap.get("break")),
            _knee_html(cap),
        ]
        if cap.get("usl"):
            facts.append(_usl_html(cap["usl"]))
        if cap.get("configured_think_s") is not None:
            facts.append(
                f"Little's law: configured mean think time {cap['configured_think_s']:.3f} s per request "
                "against the implied one per step (column 'implied think')"
            )
        if cap.get("breach_only"):
            facts.append(
                "tested at the steps for a breach only (no step could bound them), and judged for compliance "
                "on the steps up to the ceiling pooled: "
                + esc(
                    "; ".join(
                        f"{cid}: {', '.join(groups[:4])}" + (" …" if len(groups) > 4 else "")
                        for cid, groups in cap["breach_only"].items()
                    )
                )
            )
        if cap.get("stopped_early"):
            facts.append(f"<b>stopped early</b>: {esc(cap['stopped_early'])}")
        return (
            "<h2 id=capacity>Capacity: the concurrency ceiling</h2><ul>"
            + "".join(f"<li>{f}</li>" for f in facts)
            + "</ul><table><tr><th>step</th><th>users</th><th>req/s</th><th>p50</th><th>p95</th><th>failures</th>"
            "<th>n</th><th>implied think</th><th>verdict</th></tr>" + rows + "</table>"
        )


def _knee_html(cap: Any) -> str:
    slope = cap.get("knee_slope")
    if slope is None:
        return "throughput knee: not assessed (fewer than three steps)"
    what = f"elasticity after it {num(slope[0], '{:.2f}')} [{num(slope[1], '{:.2f}')}, {num(slope[2], '{:.2f}')}]"
    if cap["knee_users"] is None:
        return f"throughput knee: not reached ({what}: not significantly below 0.5)"
    text = f"throughput knee: <b>{esc(cap['knee_users'])}</b> users ({what})"
    if cap.get("plateau_rps") is not None:
        text += (
            f"; a <b>plateau</b> at {num(cap['plateau_rps'], '{:.1f}')} requests/s from there: a hard limit, "
            "which the USL curve models poorly"
        )
    return text


def _break_html(brk: Any) -> str:
    if not brk:
        return "none within the staircase"
    clauses = ", ".join(
        f"{c['id']} measured {num(c['measured'], '{:.4g}')} against {c['limit']}"
        + (f" ({c['excess'] * 100:+.0f} %)" if c["excess"] is not None else "")
        for c in brk["clauses"]
    )
    return f"<b>{brk['users']}</b> users ({esc(brk['step'])}): " + esc(clauses)


def _usl_html(usl: Any) -> str:
    iv = usl.get("intervals") or {}

    def ci(k: str) -> str:
        return f" [{num(iv[k][0], '{:.3g}')}, {num(iv[k][1], '{:.3g}')}]" if k in iv else ""

    peak = (
        f"peak {num(usl['peak_users'], '{:.0f}')}{ci('peak_users')} users at "
        f"{num(usl['peak_rps'], '{:.1f}')}{ci('peak_rps')} requests/s"
        if usl["peak_users"] is not None
        else f"no peak within {capacity.PEAK_REACH:g}× the highest step: throughput still grows with users"
    )
    return f"USL: σ = {usl['sigma']:.3g}{ci('sigma')}, κ = {usl['kappa']:.3g}{ci('kappa')}, {peak}"
