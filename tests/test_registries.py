"""Scenario kinds and output formats are plug-ins: one module each, found by their package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crmload.analysis import formats, kinds
from crmload.analysis.registry import Registry


def test_the_shipped_kinds_and_formats_are_registered_in_order() -> None:
    assert [k.name for k in kinds.registry()] == ["capacity", "surge", "drift"]
    assert [f.name for f in formats.registry()] == ["report.html", "verdict.json", "summary.md", "junit.xml"]
    assert [f.name for f in formats.registry() if f.report] == ["report.html"]


def test_a_new_plugin_is_one_module_in_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "plugins_demo"
    package.mkdir()
    (package / "__init__.py").write_text("from crmload.analysis.registry import Registry\nREG = Registry(__name__)\n")
    for name, order in (("late", 20), ("early", 10)):
        (package / f"{name}.py").write_text(
            f"from plugins_demo import REG\n\n@REG.register\nclass P:\n    name = {name!r}\n    order = {order}\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        reg = __import__("plugins_demo").REG
        assert isinstance(reg, Registry)
        assert [p.name for p in reg.all()] == ["early", "late"]
    finally:
        for mod in [m for m in sys.modules if m.startswith("plugins_demo")]:
            del sys.modules[mod]
