"""``junit.xml``: one test case per clause, for CI test reports."""

from __future__ import annotations

from pathlib import Path

from crmload.analysis.formats import OutputContext, OutputFormat, register
from crmload.analysis.outputs import junit_xml
from crmload.core.rundir import write_text_atomic


@register
class JunitXml(OutputFormat):
    name = "junit.xml"
    order = 40
    report = False

    def write(self, ctx: OutputContext) -> list[Path]:
        path = ctx.run_dir / "junit.xml"
        write_text_atomic(path, junit_xml(ctx.verdict, ctx.run.meta))
        return [path]
