"""``kind: soak`` (and steady runs of ten minutes or more, as a warning): PERF-DRIFT-01, the trend of
p95 and of the failure rate over the run (the analysis itself: :mod:`crmload.analysis.drift`)."""

from __future__ import annotations

from typing import Any

from crmload.analysis import drift
from crmload.analysis.kinds import KindAnalysis, KindContext, KindOutcome, register
from crmload.analysis.report import esc
from crmload.analysis.verdict import Result

LONG_RUN_S = 600.0  # steady runs at least this long get the soak's drift analysis too


@register
class Drift(KindAnalysis):
    name = "drift"
    clause_ids = ("PERF-DRIFT-01",)
    order = 30

    def applies(self, ctx: KindContext) -> bool:
        # a staircase or a surge changes the load on purpose: a trend there is no drift
        return ctx.kind == "soak" or (ctx.kind == "steady" and ctx.judge.window_s >= LONG_RUN_S)

    def analyse(self, ctx: KindContext, results: list[Result], warnings: list[str]) -> KindOutcome:
        run, p = ctx.run, ctx.judge.p
        windows = [(st.steady_start, st.end) for st in run.stages if st.judged] or [
            (float(run.samples["ts"].min()), float(run.samples["ts"].max()))
        ]
        req = p.all_requests()
        max_drift = float(ctx.scenario.get("max_drift", 0.1))
        trends = drift.drift(run.samples["ts"], p.latency, p.ok, p.failed, windows, max_drift, rows=req)
        charts = {}
        if ctx.kind == "soak":
            results = [*results, drift.result(trends)]
            if ctx.charts_wanted and trends:
                from crmload.analysis import charts as plots

                caption = "Drift: p95 and failure rate per bin with their Theil–Sen trend"
                charts["drift"] = (caption, plots.drift(trends))
        else:
            warnings = warnings + [f"{t.metric} {t.reason}" for t in trends if t.drift]
        return KindOutcome(results, warnings, [t.to_dict() for t in trends], charts)

    def html(self, trends: Any) -> str:
        items = "".join(f"<li><b>{esc(t['metric'])}</b>: {esc(t['reason'])}</li>" for t in trends)
        return f"<h2 id=drift>Drift</h2><ul>{items}</ul>"
