"""The one table of canonical operations (crmload.core.operations) and everything that reads it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from crmload.analysis.thresholds import load_thresholds
from crmload.core import operations as canonical
from crmload.core.personas import JOURNEYS, OPTIONS
from crmload.core.resources import shipped_standard
from crmload.democrm.operations import OPERATIONS as SERVED
from crmload.democrm.operations import ROLES

# read as source, not imported: importing Locust monkey-patches this process (it runs in subprocesses)
LOADTESTS = Path(canonical.__file__).resolve().parents[2] / "loadtests"
JOURNEYS_SOURCE = LOADTESTS / "journeys.py"


def _methods(path: Path, cls: str) -> set[str]:
    tree = ast.parse(path.read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    return {f.name for f in node.body if isinstance(f, ast.FunctionDef)}


def test_every_operation_has_its_default_class_in_the_shipped_standard() -> None:
    classes = {k.id: set(k.operations) for k in load_thresholds(shipped_standard()).classes}
    for op in canonical.OPERATIONS.values():
        holding = [cid for cid, ops in classes.items() if op.name in ops]
        assert holding == [op.default_class], op.name
    assert set().union(*classes.values()) == set(canonical.OPERATION_NAMES)


def test_the_reference_crm_serves_exactly_the_canonical_operations() -> None:
    assert list(SERVED) == list(canonical.OPERATION_NAMES)
    for name, op in SERVED.items():
        assert op.write == canonical.OPERATIONS[name].write


def test_the_reference_adapter_implements_every_operation() -> None:
    methods = _methods(LOADTESTS / "adapters" / "reference.py", "ReferenceCRM")
    missing = [
        op.name for op in canonical.OPERATIONS.values() if op.name != "auth.login" and op.method_name not in methods
    ]
    assert missing == []


def test_the_journeys_call_only_canonical_operations_and_each_one_at_least_once() -> None:
    called = set(re.findall(r'self\.step\(\s*"([a-z_]+\.[a-z_]+)"', JOURNEYS_SOURCE.read_text()))
    assert called <= set(canonical.OPERATION_NAMES)
    assert set(canonical.OPERATION_NAMES) - called == {"auth.login"}  # logging in is the adapter's login()


def test_the_personas_table_is_the_one_every_layer_reads() -> None:
    assert set(canonical.PERSONA_NAMES) == set(JOURNEYS) == set(OPTIONS)
    assert set(canonical.CLOSED_PERSONAS) | set(canonical.OPEN_PERSONAS) == set(canonical.PERSONA_NAMES)
    assert {p.role for p in canonical.PERSONAS.values()} <= set(ROLES)
    assert get_args(canonical.PersonaName) == canonical.PERSONA_NAMES  # the type says the same names


def _steps_of_each_journey() -> dict[str, set[str]]:
    """journey -> the operations its method in loadtests/journeys.py steps through (read from the source)."""
    tree = ast.parse(JOURNEYS_SOURCE.read_text())
    found: dict[str, set[str]] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        persona = next(
            (a.value.value for a in cls.body if isinstance(a, ast.Assign) and isinstance(a.value, ast.Constant)
             and any(isinstance(t, ast.Name) and t.id == "persona" for t in a.targets)),
            None,
        )  # fmt: skip
        for fn in (f for f in cls.body if isinstance(f, ast.FunctionDef) and persona):
            if f"{persona}.{fn.name}" in JOURNEYS.get(str(persona), {}):
                found[f"{persona}.{fn.name}"] = {
                    c.args[0].value for c in ast.walk(fn)
                    if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "step"
                    and c.args and isinstance(c.args[0], ast.Constant)
                }  # fmt: skip
    return found


def test_what_each_journey_needs_of_an_adapter_is_what_its_steps_call() -> None:
    from crmload.core.personas import journey_coverage, journey_operations

    steps = _steps_of_each_journey()
    assert set(steps) == {j for p in JOURNEYS.values() for j in p}
    for journey, ops in steps.items():
        assert journey_operations(journey) == ops, journey
    assert journey_coverage("integration.order_sync", frozenset({"webform.submit"})) == ("not", ("order.sync",))
    how, lacks = journey_coverage("sales.customer_call", frozenset({"customer.search", "customer.view"}))
    assert how == "partly" and "opportunity.list" in lacks and "customer.view" not in lacks


def test_the_published_signatures_are_the_adapter_contracts() -> None:
    """``crmload adapter new`` writes each operation's signature from one table: CrmAdapter's typed methods."""
    from crmload.adapter_tools import SIGNATURES

    tree = ast.parse((LOADTESTS / "adapter.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "CrmAdapter")
    methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}
    assert set(SIGNATURES) == set(canonical.OPERATION_NAMES) - {"auth.login"}
    for op, published in SIGNATURES.items():
        args = methods[canonical.OPERATIONS[op].method_name].args
        params = args.args[1:]
        defaults = [None] * (len(params) - len(args.defaults)) + list(args.defaults)
        written = ", ".join(
            f"{a.arg}: {ast.unparse(a.annotation)}" + (f" = {ast.unparse(d)}" if d is not None else "")  # type: ignore[arg-type]
            for a, d in zip(params, defaults, strict=True)
        )
        assert written.replace("'", '"') == published.replace("10_000", "10000"), op


def test_each_answer_type_carries_the_fields_the_journeys_read() -> None:
    """The answer types of crmload.core.operations and each operation's ``reads``: one the other in types."""
    from typing import get_type_hints

    tree = ast.parse((LOADTESTS / "adapter.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "CrmAdapter")
    returns = {f.name: ast.unparse(f.returns) for f in cls.body if isinstance(f, ast.FunctionDef) and f.returns}
    by_name = {t.__name__: fields for t, fields in canonical.ANSWER_TYPES.items()}
    for t, fields in canonical.ANSWER_TYPES.items():
        assert {f.split("[")[0] for f in fields} <= set(get_type_hints(t)), t
    for op in canonical.OPERATIONS.values():
        if op.name == "auth.login":
            continue
        answer = returns[op.method_name].removesuffix(" | None")
        if op.reads:
            assert answer in by_name and set(op.reads) <= set(by_name[answer]), (op.name, answer)
        else:
            assert answer == "Answer", (op.name, answer)  # the journeys read nothing of it
