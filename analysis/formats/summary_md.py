"""``summary.md``: the verdict for a pull request or a CI job summary."""

from __future__ import annotations

from pathlib import Path

from crmload.analysis.formats import OutputContext, OutputFormat, register
from crmload.analysis.outputs import summary_markdown
from crmload.core.rundir import write_text_atomic


@register
class SummaryMarkdown(OutputFormat):
    name = "summary.md"
    order = 30
    report = False

    def write(self, ctx: OutputContext) -> list[Path]:
        path = ctx.run_dir / "summary.md"
        write_text_atomic(path, summary_markdown(ctx.verdict, ctx.tables, ctx.run.meta))
        return [path]
