"""What a Locust process learns from ``crmload run`` (environment variables), with defaults that let
``locust -f loadtests/locustfile.py`` work on its own.

| variable | meaning | default |
|---|---|---|
| ``CRMLOAD_SCENARIO`` | scenario file or name | ``smoke`` (``./scenarios/smoke.yaml``, else the shipped one) |
| ``CRMLOAD_RUN_DIR`` | run directory the samples go to | ``results/locust-<UTC time>/`` |
| ``CRMLOAD_TESTDATA`` | test-data manifest (credentials, record ids, search keys) | ``testdata.json`` |
| ``CRMLOAD_ADAPTER`` | target adapter, ``module:Class`` | ``crmload.loadtests.adapters.reference:ReferenceCRM`` |
| ``CRMLOAD_FAILURE_OUTCOMES`` | outcomes that count as failures, comma-separated | the default set |
| ``CRMLOAD_CONDUCTED`` | ``1``: a conductor ends held stages and search steps | unset: they run their longest |
| ``CRMLOAD_LIMITS`` | the target platform's limits (``crmload.core.limits``): throttle answers, usage headers | unset |
"""

from __future__ import annotations

import ast
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from crmload.core.errors import ConfigError
from crmload.core.limits import Limits, parse_limits
from crmload.core.resources import scenario_path as find_scenario
from crmload.core.rundir import Outcome, failure_outcomes, upgrade_module_name
from crmload.core.scenario import Scenario, load_scenario

# the shipped adapter, for the reference CRM (the command line's default too; importing this module
# imports no Locust)
DEFAULT_ADAPTER = "crmload.loadtests.adapters.reference:ReferenceCRM"


def split_adapter_spec(spec: str) -> tuple[str, str]:
    """``"module:Class"`` → (module, class); a :class:`ConfigError` naming ``--adapter`` otherwise."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError("--adapter", None, None, None, f"must be 'module:Class' (got {spec!r})", "e.g. mycrm:MyCrm")
    return module_name, class_name


# the public methods of CrmAdapter itself that an adapter may override: every other public method of
# an adapter must be a canonical operation's (``customer.view`` -> ``customer_view``); helpers of its
# own start with "_" (tests/test_config_errors.py keeps this list equal to CrmAdapter's)
ADAPTER_HOOKS: frozenset[str] = frozenset(
    {
        "call",
        "check_failed",
        "check_target",
        "collect_testdata",
        "login",
        "login_with_token",
        "on_session_lost",
        "probe",
        "probe_verdict",
        "read_back",
        "session_expired",
        "sign_in",
        "supported_operations",
    }
)


def method_problem(method: str) -> str | None:
    """Why an adapter's public method ``method`` names no operation (with "did you mean"); None when it does."""
    import difflib

    from crmload.core.operations import OPERATION_NAMES

    if method.startswith("_") or method in ADAPTER_HOOKS:
        return None
    known = {op.replace(".", "_", 1) for op in OPERATION_NAMES}
    if method in known:
        return None
    close = difflib.get_close_matches(method, sorted(known | ADAPTER_HOOKS), n=1)
    hint = (
        f"did you mean '{close[0]}'?" if close else "name it after a canonical operation (crmload/core/operations.py)"
    )
    return (
        f"{method}: no canonical operation {method.replace('_', '.', 1)!r} — fix: {hint}"
        " (a helper of the adapter's own starts with '_')"
    )


def check_adapter(spec: str) -> None:
    """Before any load, without importing it (an adapter imports Locust, which patches the process):
    ``module:Class`` must name a module that exists and, when its source is at hand, a class it defines.
    Raises :class:`ConfigError` naming ``--adapter`` and the fix."""
    import ast
    import importlib.util

    spec = upgrade_module_name(spec)
    module_name, class_name = split_adapter_spec(spec)
    import sys

    here = os.getcwd()
    added = here not in sys.path
    if added:  # the Locust child finds modules in the working directory too
        sys.path.insert(0, here)
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    finally:
        if added:
            sys.path.remove(here)
    if found is None:
        raise ConfigError(
            "--adapter", None, None, None, f"{spec}: no module {module_name!r} on the path",
            "put the module on PYTHONPATH (or in the working directory)",
        )  # fmt: skip
    origin = Path(found.origin) if found.origin and found.origin.endswith(".py") else None
    if origin is None:
        return
    try:
        tree = ast.parse(origin.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(origin, line, None, None, f"the adapter module does not parse: {exc}", "fix it") from None
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    names |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    if class_name not in names:
        import difflib

        close = difflib.get_close_matches(class_name, sorted(names), n=1)
        fix = f"did you mean '{module_name}:{close[0]}'?" if close else "name a CrmAdapter subclass the module defines"
        raise ConfigError("--adapter", None, None, None, f"{spec}: {module_name} defines no {class_name!r}", fix)
    _check_methods(tree, class_name, origin)


def _check_methods(tree: ast.Module, class_name: str, origin: Path) -> None:
    """Every public method the adapter class defines names a canonical operation or a hook."""
    import ast

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    problem = method_problem(item.name)
                    if problem:
                        msg, _, fix = problem.partition(" — fix: ")
                        raise ConfigError(origin, item.lineno, item.col_offset + 1, f"{class_name}.{item.name}",
                                          msg.split(": ", 1)[1], fix)  # fmt: skip


@cache
def platform_limits() -> Limits | None:
    """The target platform's limits this run was told (``CRMLOAD_LIMITS``, from ``--limits``)."""
    spec = os.environ.get("CRMLOAD_LIMITS")
    return parse_limits(spec) if spec else None


@dataclass(frozen=True)
class Settings:
    scenario_path: Path
    scenario: Scenario
    run_dir: Path
    testdata_path: Path
    adapter: str
    failure_outcomes: frozenset[Outcome]
    conducted: bool = False


@cache
def settings() -> Settings:
    scenario_path = find_scenario(os.environ.get("CRMLOAD_SCENARIO"))
    run_dir = os.environ.get("CRMLOAD_RUN_DIR")
    named = os.environ.get("CRMLOAD_FAILURE_OUTCOMES")
    try:
        failures = failure_outcomes([v.strip() for v in named.split(",") if v.strip()] if named else None)
    except ValueError as exc:
        raise ConfigError(
            "CRMLOAD_FAILURE_OUTCOMES", None, None, None, str(exc), "name outcomes of the samples"
        ) from None
    return Settings(
        scenario_path=scenario_path,
        scenario=load_scenario(scenario_path),
        run_dir=Path(run_dir) if run_dir else Path("results") / time.strftime("locust-%Y%m%dT%H%M%SZ", time.gmtime()),
        testdata_path=Path(os.environ.get("CRMLOAD_TESTDATA", "testdata.json")),
        adapter=upgrade_module_name(os.environ.get("CRMLOAD_ADAPTER", DEFAULT_ADAPTER)),
        failure_outcomes=failures,
        conducted=os.environ.get("CRMLOAD_CONDUCTED") == "1",
    )
