"""Output formats: the files a judged run writes, each a module of this package.

A format is a class registered with :func:`register`: it writes its file(s) into the run
directory from an :class:`OutputContext` (the verdict, the tables, the kinds' sections, the run's
meta). Formats marked ``report`` (the HTML page and its charts) are written only when a report is
asked for. Every file is written atomically (a temporary file, then a rename).

Adding a format is one module here (found and imported by :func:`registry`) plus its tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from crmload.analysis.registry import Registry
from crmload.analysis.run import RunData
from crmload.analysis.tables import Row
from crmload.analysis.verdict import Verdict


@dataclass
class OutputContext:
    run_dir: Path
    run: RunData
    verdict: Verdict
    tables: dict[str, list[Row]]
    sections: dict[str, Any]  # the kinds' sections, by kind name
    failure_outcomes: list[str]
    charts: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (caption, PNG)
    extra_html: str = ""  # sections placed after the verdict (a comparison with a baseline)


class OutputFormat(ABC):
    """One output format. Subclass it in a module of this package and :func:`register` it."""

    name: ClassVar[str]
    order: ClassVar[int]  # formats are written in this order
    report: ClassVar[bool]  # part of the report (charts, HTML): skipped with --no-report

    @abstractmethod
    def write(self, ctx: OutputContext) -> list[Path]:
        """Write this format's file(s) into ``ctx.run_dir`` (atomically); the paths written."""


_REGISTRY: Registry[OutputFormat] = Registry(__name__)
register = _REGISTRY.register  # class decorator: make an OutputFormat subclass one of them


def registry() -> list[OutputFormat]:
    """Every output format of this package, in order (its modules are imported on first use)."""
    return _REGISTRY.all()


def write_outputs(ctx: OutputContext, report: bool) -> list[Path]:
    """Write every format (the report's too when ``report``); the files written."""
    written: list[Path] = []
    for fmt in registry():
        if fmt.report and not report:
            continue
        written += fmt.write(ctx)
    return written
