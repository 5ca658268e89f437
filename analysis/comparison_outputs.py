"""A comparison for people and machines: terminal table, Markdown, JUnit, JSON, and the report's HTML section."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from itertools import groupby
from pathlib import Path

from crmload.analysis.compare import IMPROVED, NOISY, REGRESSED, UNCHANGED, Change, Comparison
from crmload.core.rundir import write_text_atomic

ORDER = {REGRESSED: 0, IMPROVED: 1, NOISY: 2, UNCHANGED: 3}
COLORS = {REGRESSED: "\033[31m", IMPROVED: "\033[32m", NOISY: "\033[33m", UNCHANGED: ""}


def _notable(comp: Comparison, everything: bool) -> list[Change]:
    """Every metric, or only the called ones (regressed, improved): noisy ones are counted, not listed."""
    rows = comp.changes if everything else [c for c in comp.changes if c.status in (REGRESSED, IMPROVED)]
    return sorted(rows, key=lambda c: (ORDER[c.status], c.scope, c.key, c.metric))


def _cells(c: Change) -> tuple[str, ...]:
    return (
        f"{c.scope}={c.key}",
        c.metric,
        c.status,
        c.value_text(c.base),
        c.value_text(c.cand),
        c.change_text(),
        f"{c.base_n}/{c.cand_n}",
    )


def _headline(comp: Comparison) -> str:
    counts = comp.counts()
    could_not_tell = " (could not tell: every figure too noisy to call)" if comp.status == NOISY else ""
    return f"COMPARISON: {comp.status.upper()}{could_not_tell} — " + ", ".join(f"{n} {s}" for s, n in counts.items())


def terminal(comp: Comparison, color: bool = False, everything: bool = False) -> str:
    """The headline, then one line per metric that is not unchanged (every metric with ``everything``)."""
    reset = "\033[0m" if color else ""
    head = ("scope", "metric", "status", "baseline", "candidate", "change [95 % interval]", "n base/cand")
    rows = [head, *(_cells(c) for c in _notable(comp, everything))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [(COLORS[comp.status] if color else "") + _headline(comp) + reset]
    for i, row in enumerate(rows):
        cells = [row[j].ljust(widths[j]) for j in range(len(head))]
        if i and color:
            cells[2] = COLORS[row[2]] + cells[2] + reset
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not everything and comp.counts()[NOISY]:
        lines.append(
            f"  {comp.counts()[NOISY]} metrics too noisy to call (too few samples or too much spread; --all lists them)"
        )
    for d in comp.differences:
        lines.append(f"  ! compared although not comparable: {d}")
    for note in comp.notes():
        lines.append(f"  ! {note}")
    lines.append(f"  baseline {comp.base}; candidate {comp.cand}")
    return "\n".join(lines)


def markdown(comp: Comparison) -> str:
    out = [
        f"## Comparison: **{comp.status}**",
        "",
        f"Baseline `{comp.base}` · candidate `{comp.cand}` · "
        + ", ".join(f"{n} {s}" for s, n in comp.counts().items()),
        "",
    ]
    rows = _notable(comp, everything=False)
    if rows:
        out += [
            "| scope | metric | status | baseline | candidate | change [95 % interval] | n | why |",
            "|---" * 8 + "|",
        ]
        out += [f"| {' | '.join(_cells(c))} | {c.reason} |" for c in rows]
    else:
        out.append("No change called: every metric unchanged or too noisy to call.")
    out += ["", *(f"> compared although not comparable: {d}" for d in comp.differences)]
    out += [*(f"> {note}" for note in comp.notes()), f"Method: {comp.method}."]
    return "\n".join(out) + "\n"


def junit(comp: Comparison) -> str:
    """One test case per scope: failed when one of its metrics regressed, skipped when one is noisy."""
    suite = ET.Element("testsuite", name="crmload comparison", tests="0", failures="0", skipped="0")
    tests = failures = skipped = 0
    for (scope, key), group in groupby(
        sorted(comp.changes, key=lambda c: (c.scope, c.key)), lambda c: (c.scope, c.key)
    ):
        metrics = list(group)
        case = ET.SubElement(suite, "testcase", classname=f"compare.{scope}", name=key)
        tests += 1
        text = "\n".join(f"{c.metric}: {c.status}, {c.change_text()} ({c.reason})" for c in metrics)
        if any(c.status == REGRESSED for c in metrics):
            failures += 1
            ET.SubElement(case, "failure", message="regressed").text = text
        elif any(c.status == NOISY for c in metrics):
            skipped += 1
            ET.SubElement(case, "skipped", message="too noisy to call").text = text
        ET.SubElement(case, "system-out").text = text
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def html_section(comp: Comparison) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td><code>{e(c.scope)}={e(c.key)}</code></td><td>{e(c.metric)}</td>"
        f"<td><span class='badge {e(c.status)}'>{e(c.status)}</span></td><td class=n>{e(c.value_text(c.base))}</td>"
        f"<td class=n>{e(c.value_text(c.cand))}</td><td class=n>{e(c.change_text())}</td>"
        f"<td class=n>{c.base_n} / {c.cand_n}</td><td>{e(c.reason)}</td></tr>"
        for c in _notable(comp, everything=False)
    )
    noisy = [c for c in comp.changes if c.status == NOISY]
    if noisy:
        items = "".join(f"<li><code>{e(c.scope)}={e(c.key)}</code> {e(c.metric)}: {e(c.reason)}</li>" for c in noisy)
        rows_noisy = f"<details><summary>{len(noisy)} metrics too noisy to call</summary><ul>{items}</ul></details>"
    else:
        rows_noisy = ""
    counts = ", ".join(f"{n} {s}" for s, n in comp.counts().items())
    warn = "".join(f"<div class=warn>compared although not comparable: {e(d)}</div>" for d in comp.differences)
    warn += "".join(f"<div class=warn>{e(note)}</div>" for note in comp.notes())
    table = (
        "<table><tr><th>scope</th><th>metric</th><th>status</th><th>baseline</th><th>candidate</th>"
        f"<th>change [95 % interval]</th><th>n</th><th>why</th></tr>{rows}</table>"
        if rows
        else "<p>No change called: every metric unchanged or too noisy to call.</p>"
    )
    return (
        "<h2 id=comparison>Comparison with the baseline: "
        f"<span class='badge {e(comp.status)}'>{e(comp.status)}</span></h2>"
        f"<p class=muted>Baseline <code>{e(str(comp.base))}</code> · {e(counts)}</p>{warn}{table}"
        f"{rows_noisy}<p class=muted>Method: {e(comp.method)}.</p>"
    )


def write_all(comp: Comparison, out_dir: Path) -> list[Path]:
    """``comparison.json``, ``comparison.md`` and ``comparison-junit.xml`` in ``out_dir``."""
    files = {
        "comparison.json": json.dumps(comp.to_dict(), indent=1),
        "comparison.md": markdown(comp),
        "comparison-junit.xml": junit(comp),
    }
    paths = []
    for name, text in files.items():
        path = out_dir / name
        write_text_atomic(path, text)
        paths.append(path)
    return paths
