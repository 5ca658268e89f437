"""``surge: true`` on a stage (``kind: surge``): the surge judged alone, arrivals, recovery time
(the analysis itself: :mod:`crmload.analysis.surge`)."""

from __future__ import annotations

from typing import Any

from crmload.analysis import surge
from crmload.analysis.kinds import KindAnalysis, KindContext, KindOutcome, register
from crmload.analysis.report import esc, num
from crmload.analysis.verdict import Result


@register
class Surge(KindAnalysis):
    name = "surge"
    clause_ids = ("SURGE-RECOVERY",)
    order = 20

    def applies(self, ctx: KindContext) -> bool:
        return any(st.surge for st in ctx.run.stages)

    def analyse(self, ctx: KindContext, results: list[Result], warnings: list[str]) -> KindOutcome:
        window_s = float(ctx.scenario.get("recovery_window", 10.0))
        found = surge.analyse(ctx.run, ctx.thresholds, ctx.judge_ids, window_s, ctx.judge)
        if found is None:
            return KindOutcome(results, warnings)
        charts = {}
        if ctx.charts_wanted:
            from crmload.analysis import charts as plots

            charts["surge"] = ("Surge: arrivals, p95 and failures over time, recovery marked", plots.surge(found))
        return KindOutcome([*results, *found.results, found.result], warnings, found.to_dict(), charts)

    def html(self, sg: Any) -> str:
        rec = sg["recovery"]
        arr = "".join(
            f"<tr><td>{esc(a['stage'])}</td><td class=n>{a['planned_rate']:g}</td>"
            f"<td class=n>{a['achieved_rate']:g}</td>"
            f"<td class=n>{a['started']}</td><td class=n>{a['dropped']}</td><td class=n>{a['late']}</td>"
            f"<td class=n>{num(a['lag_p95_ms'])}</td></tr>"
            for a in sg["arrivals"]
        )
        when = (
            f"recovered <b>{rec['seconds']:.0f} s</b> after the surge"
            if rec["seconds"] is not None
            else f"<b>not recovered</b> in the {rec['observed_s']:.0f} s observed"
        )
        return (
            f"<h2 id=surge>Surge ({esc(sg['stage'])})</h2><p>{when} (rolling {rec['window_s']:g} s window"
            f"{'' if rec['breached'] else '; the limits were never exceeded after the surge'}).</p>"
            "<table><tr><th>stage</th><th>planned/s</th><th>achieved/s</th><th>started</th><th>dropped</th>"
            f"<th>late (&gt;100 ms)</th><th>lag p95 (ms)</th></tr>{arr}</table>"
        )
