"""``verdict.json``: the verdict for machines (its schema: ``crmload/core/schemas/verdict-*.schema.json``)."""

from __future__ import annotations

from pathlib import Path

from crmload.analysis.formats import OutputContext, OutputFormat, register
from crmload.analysis.outputs import write_verdict_json


@register
class VerdictJson(OutputFormat):
    name = "verdict.json"
    order = 20
    report = False

    def write(self, ctx: OutputContext) -> list[Path]:
        path = ctx.run_dir / "verdict.json"
        write_verdict_json(path, ctx.verdict, ctx.tables, ctx.run.meta, ctx.sections, ctx.run.capture.failure_reasons)
        return [path]
