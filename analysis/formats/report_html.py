"""``report.html`` and ``charts/*.png``: one self-contained page for people (:mod:`crmload.analysis.report`)."""

from __future__ import annotations

from pathlib import Path

from crmload.analysis.formats import OutputContext, OutputFormat, register
from crmload.analysis.kinds import sections_html
from crmload.analysis.report import render
from crmload.core.rundir import write_bytes_atomic, write_text_atomic


@register
class ReportHtml(OutputFormat):
    name = "report.html"
    order = 10
    report = True

    def write(self, ctx: OutputContext) -> list[Path]:
        chart_dir = ctx.run_dir / "charts"
        chart_dir.mkdir(exist_ok=True)
        written = []
        for name, (_caption, png) in ctx.charts.items():
            path = chart_dir / f"{name}.png"
            write_bytes_atomic(path, png)
            written.append(path)
        page = render(
            ctx.verdict,
            ctx.tables,
            ctx.charts,
            ctx.run.meta,
            ctx.failure_outcomes,
            ctx.extra_html + sections_html(ctx.sections),
            ctx.run.capture.failure_reasons,
        )
        path = ctx.run_dir / "report.html"
        write_text_atomic(path, page)
        return [*written, path]
