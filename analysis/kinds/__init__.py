"""Scenario kinds: the analyses a scenario's ``kind`` adds to the verdict, each a module of this package.

A kind analysis is a class registered with :func:`register`: it says whether it applies to a run
(:meth:`KindAnalysis.applies`), amends the verdict's results and warnings and returns its section
of ``verdict.json`` and its charts (:meth:`KindAnalysis.analyse`), and renders its section of
``report.html`` from that JSON (:meth:`KindAnalysis.html`, so that a re-rendered report needs no
recomputation). Analyses run in ``order``; each sees what the ones before it made of the verdict.

Adding a kind is one module here (it is found and imported by :func:`registry`) plus its tests;
the scenario model's ``kind`` field names the kinds a scenario may ask for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from crmload.analysis.registry import Registry
from crmload.analysis.run import RunData
from crmload.analysis.thresholds import Thresholds
from crmload.analysis.verdict import Judge, Result, Verdict


@dataclass
class KindContext:
    """What a kind analysis works from."""

    run: RunData
    judge: Judge  # the whole run judged against the standard; ``judge.p`` its prepared samples
    thresholds: Thresholds
    judge_ids: list[str] | None  # the clauses the scenario (or the command line) asks for
    charts_wanted: bool

    @property
    def scenario(self) -> dict[str, Any]:
        return self.run.scenario

    @property
    def kind(self) -> str:
        return str(self.scenario.get("kind", "steady"))


@dataclass
class KindOutcome:
    """What a kind analysis adds: the results and warnings it leaves, its JSON section, its charts."""

    results: list[Result]
    warnings: list[str]
    section: Any = None  # JSON-ready; None: no section
    charts: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (caption, PNG)


class KindAnalysis(ABC):
    """One scenario kind's analysis. Subclass it in a module of this package and :func:`register` it."""

    name: ClassVar[str]  # its section's key in verdict.json
    order: ClassVar[int]  # analyses run in this order
    clause_ids: ClassVar[tuple[str, ...]] = ()  # clauses of its own (not in the standard) a judge list may name

    @abstractmethod
    def applies(self, ctx: KindContext) -> bool:
        """Does this analysis apply to the run (its scenario's kind, its stages)?"""

    @abstractmethod
    def analyse(self, ctx: KindContext, results: list[Result], warnings: list[str]) -> KindOutcome:
        """Given the verdict's results and warnings so far, those it leaves, its section and charts."""

    @abstractmethod
    def html(self, section: Any) -> str:
        """Its section of report.html, from its verdict.json section."""


_REGISTRY: Registry[KindAnalysis] = Registry(__name__)
register = _REGISTRY.register  # class decorator: make a KindAnalysis subclass one of them


def own_clause_ids() -> set[str]:
    """The clause ids the kinds judge on their own (SURGE-RECOVERY, PERF-DRIFT-01)."""
    return {cid for kind in registry() for cid in kind.clause_ids}


def registry() -> list[KindAnalysis]:
    """Every kind analysis of this package, in order (its modules are imported on first use)."""
    return _REGISTRY.all()


@dataclass(frozen=True)
class KindResults:
    verdict: Verdict
    sections: dict[str, Any]
    charts: dict[str, tuple[str, bytes]]


def analyse_kinds(ctx: KindContext, verdict: Verdict) -> KindResults:
    """Run every analysis that applies; the verdict they amend, their sections and their charts."""
    results, warnings = list(verdict.results), list(verdict.warnings)
    sections: dict[str, Any] = {}
    charts: dict[str, tuple[str, bytes]] = {}
    for kind in registry():
        if not kind.applies(ctx):
            continue
        out = kind.analyse(ctx, results, warnings)
        results, warnings = out.results, out.warnings
        if out.section is not None:
            sections[kind.name] = out.section
        charts.update(out.charts)
    if results != list(verdict.results) or warnings != list(verdict.warnings):
        verdict = ctx.judge.finish(results, warnings)
    return KindResults(verdict, sections, charts)


def sections_html(sections: dict[str, Any]) -> str:
    """The report's sections of the kinds, from their ``verdict.json`` form, in order."""
    return "".join(kind.html(sections[kind.name]) for kind in registry() if sections.get(kind.name))
