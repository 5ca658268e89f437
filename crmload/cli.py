"""The ``crmload`` command line. The only place that prints errors and chooses exit codes.

Exit codes: 0 PASS · 1 FAIL (or, with a baseline, a regression) · 2 usage, configuration or target
error · 3 INCONCLUSIVE · 130 interrupted (what was recorded is kept and judged).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from crmload import __version__
from crmload.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, ConfigErrors, CrmloadError
from crmload.core.resources import default_standard, scenario_names, scenario_path
from crmload.loadtests.settings import DEFAULT_ADAPTER, check_adapter
from crmload.safety import scrub

if TYPE_CHECKING:
    from crmload.analysis.compare import Comparison
    from crmload.analysis.thresholds import Thresholds
    from crmload.core.scenario import Scenario


def _fault_pairs(values: list[str] | None, option: str, rate: bool = False) -> dict[str, float]:
    from crmload.democrm.faults import parse_op_rate, parse_op_value

    out: dict[str, float] = {}
    for v in values or []:
        try:
            op, num = parse_op_rate(v) if rate else parse_op_value(v)
        except ValueError as exc:
            raise CrmloadError(f"{option}: {exc}") from None
        out[op] = num
    return out


def _duration_option(text: str, option: str) -> float:
    """Seconds from a time option (``90``, ``90s``, ``5m``); a located error naming ``option`` otherwise."""
    from crmload.core.units import parse_duration_s

    try:
        return float(parse_duration_s(text))
    except ValueError as exc:
        raise CrmloadError(f"{option}: {exc}".split(" | ")[0]) from None


def _fault_time(text: str | None, option: str) -> float:
    if not text:
        return 0.0
    value = _duration_option(text, option)
    if not math.isfinite(value) or value < 0:
        raise CrmloadError(f"{option}: must be a time of at least 0 (got {text!r}) — fix: write e.g. 30s")
    return value


def _faults_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The fault options as the reference CRM's faults; a bad one is an error naming the option as given
    (``--crm-NAME`` to ``crmload run``, ``--NAME`` to ``crmload demo-crm``)."""
    prefix: str = getattr(args, "fault_prefix", "--crm-")
    faults: dict[str, Any] = {}
    latency: dict[str, dict[str, float]] = {}
    for option, key in (("latency", "fixed_ms"), ("latency_exp", "exp_mean_ms"), ("latency_growth", "growth_ms_per_s")):
        for op, ms in _fault_pairs(getattr(args, option), prefix + option.replace("_", "-")).items():
            latency.setdefault(op, {})[key] = ms
    if latency:
        faults["latency"] = latency
    errs = _fault_pairs(args.error_rate, f"{prefix}error-rate", rate=True)
    if errs:
        faults["errors"] = {op: {"rate": r, "status": 503} for op, r in errs.items()}
    throttle = _fault_pairs(args.throttle, f"{prefix}throttle", rate=True)
    if throttle:
        faults["throttle"] = throttle
    if args.concurrency_limit is not None:
        faults["concurrency_limit"] = args.concurrency_limit
        faults["service_time_ms"] = args.service_time_ms
    if args.drop_write_rate:
        from crmload.democrm.faults import parse_rate

        try:
            faults["drop_write_rate"] = parse_rate(args.drop_write_rate)
        except ValueError as exc:
            raise CrmloadError(f"{prefix}drop-write-rate: {exc}") from None
    faults.update(_fault_times(args, prefix))
    if args.grant_forbidden:
        faults["grant_forbidden"] = True
    if args.crm_limits:
        from crmload.core.limits import parse_limits

        parse_limits(args.crm_limits, f"{prefix}limits")
        faults["limits"] = args.crm_limits
    return _validated_faults(faults, prefix, f"crmload {args.command} --help")


# the fault options whose names are not their field's
_FAULT_OPTIONS = {
    "stall_at_s": "stall-at",
    "latency_at_s": "latency-at",
    "token_ttl_s": "token-ttl",
    "errors": "error-rate",
}


def _fault_times(args: argparse.Namespace, prefix: str) -> dict[str, float]:
    out = {}
    for key in ("stall_s", "stall_at_s", "latency_at_s", "token_ttl_s"):
        option = _FAULT_OPTIONS.get(key, key.replace("_", "-"))
        text = getattr(args, option.replace("-", "_"))
        if text:
            out[key] = _fault_time(text, prefix + option)
    return out


def _validated_faults(faults: dict[str, Any], prefix: str, help_command: str) -> dict[str, Any]:
    """The faults as the reference CRM will take them; a value it refuses is an error naming the option."""
    from pydantic import ValidationError

    from crmload.democrm.faults import Faults

    try:
        Faults.model_validate(faults)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "faults"
        field = _FAULT_OPTIONS.get(key, key.replace("_", "-"))
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CrmloadError(f"{prefix}{field}: {message} — fix: see {help_command}") from None
    return faults


def _add_fault_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    g = p.add_argument_group("faults of the reference CRM (for known-answer tests)")
    g.add_argument(
        f"--{prefix}latency",
        dest="latency",
        action="append",
        metavar="OP=MS",
        help="add MS milliseconds to every call of OP ('*' for all; an operation's own entry wins); repeatable",
    )
    g.add_argument(
        f"--{prefix}latency-exp",
        dest="latency_exp",
        action="append",
        metavar="OP=MS",
        help="add an exponentially distributed time of mean MS to every call of OP; repeatable",
    )
    g.add_argument(
        f"--{prefix}latency-growth",
        dest="latency_growth",
        action="append",
        metavar="OP=MS",
        help="add MS milliseconds more for every second since the CRM started (a slow leak); repeatable",
    )
    g.add_argument(
        f"--{prefix}error-rate",
        dest="error_rate",
        action="append",
        metavar="OP=RATE",
        help="answer 503 to this share of calls of OP, written 2%% or 0.02 (a bare 1 is refused); repeatable",
    )
    g.add_argument(
        f"--{prefix}concurrency-limit",
        dest="concurrency_limit",
        type=int,
        default=None,
        help="serve at most N requests at once...",
    )
    g.add_argument(
        f"--{prefix}service-time-ms",
        dest="service_time_ms",
        type=float,
        default=0.0,
        help="...each held this long (a known capacity of N / service time)",
    )
    g.add_argument(
        f"--{prefix}stall-s",
        dest="stall_s",
        metavar="TIME",
        help="hold every request arriving in this long (e.g. 5s) from the start of the load, or of --crm-stall-at",
    )
    g.add_argument(
        f"--{prefix}stall-at", dest="stall_at", metavar="TIME", help="start the stall this long into the load"
    )
    g.add_argument(
        f"--{prefix}latency-at",
        dest="latency_at",
        metavar="TIME",
        help="start the latency faults this long into the load",
    )
    g.add_argument(
        f"--{prefix}drop-write-rate",
        dest="drop_write_rate",
        metavar="RATE",
        help="silently roll back this share of acknowledged writes (2%% or 0.02)",
    )
    g.add_argument(
        f"--{prefix}token-ttl",
        dest="token_ttl",
        metavar="TIME",
        help="login tokens expire this long after they were issued (default 48h); the next request gets 401",
    )
    g.add_argument(
        f"--{prefix}throttle",
        dest="throttle",
        action="append",
        metavar="OP=RATE",
        help="answer 429 (Retry-After: 1) to this share of calls of OP (2%% or 0.02); repeatable",
    )
    g.add_argument(
        f"--{prefix}grant-forbidden",
        dest="grant_forbidden",
        action="store_true",
        help="turn role checks off (every role may call every operation)",
    )
    g.add_argument(
        f"--{prefix}limits",
        dest="crm_limits",
        metavar="PRESET[,daily=N][,window=N/Ss][,concurrency=N]",
        help="emulate a platform's limits, answered as it answers (salesforce, dataverse, hubspot, zoho)",
    )


def _add_compare_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("comparison with a baseline")
    g.add_argument(
        "--min-effect",
        action="append",
        default=[],
        metavar="[METRIC=]SIZE",
        help="smallest change worth calling: '10%%' for latency and throughput, or per metric "
        "(p50, p95, p99, throughput, failure_rate), e.g. p99=10%% or failure_rate=0.2%%; "
        "default 5%% and 0.5 percentage points for the failure rate",
    )
    g.add_argument("--alpha", type=float, default=0.05, help="family error rate of the comparison (default 0.05)")
    g.add_argument("--force", action="store_true", help="compare runs that are not comparable (and say why)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmload", description="Performance and load testing for CRM systems.")
    parser.add_argument("--version", action="version", version=f"crmload {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and judge it")
    run.add_argument(
        "scenario",
        nargs="?",
        help="scenario file, or a name: ./scenarios/NAME.yaml, else a shipped one (default: smoke)",
    )
    run.add_argument("--target", default="embedded", help="'embedded' (default) or the base URL of a CRM")
    run.add_argument("--adapter", default=DEFAULT_ADAPTER, help="module:Class")
    run.add_argument("--testdata", type=Path, help="test-data JSON for a --target URL (users, record ids)")
    run.add_argument("--users", type=int, help="scale every stage so the peak closed users are N")
    run.add_argument("--rate-scale", type=float, help="multiply every arrival rate by this factor")
    run.add_argument("--duration", help="scale the stages so the whole run lasts this long (e.g. 90s, 10m)")
    run.add_argument("--processes", type=int, default=1, help="load-generator processes on this machine")
    run.add_argument(
        "--thresholds",
        type=Path,
        help="the standard to judge against (default: ./thresholds.yaml, else the shipped one)",
    )
    run.add_argument("--results", type=Path, default=Path("results"), help="where run directories go")
    run.add_argument("--allow-remote", action="store_true", help="allow a target off the loopback range")
    run.add_argument("--size", choices=["tiny", "small", "default"], help="embedded CRM data size")
    run.add_argument("--quiet", action="store_true", help="no live progress")
    run.add_argument(
        "--on-worker-loss",
        choices=["continue", "abort"],
        default="continue",
        help="when a load-generator process dies mid-run (default: continue, and report it)",
    )
    run.add_argument("--baseline", metavar="RUN_OR_NAME", help="compare the run with this run or saved baseline")
    run.add_argument(
        "--limits",
        metavar="PRESET[,daily=N][,window=N/Ss][,concurrency=N]",
        help="the target platform's limits: the budget said before the load, its throttle answers counted as "
        "throttled (default with --crm-limits: the emulated ones)",
    )
    run.add_argument(
        "--strict", action="store_true", help="refuse (exit 2) a scenario whose plan leaves a judged clause undecidable"
    )
    _add_compare_options(run)
    _add_fault_options(run, prefix="crm-")

    cmp_ = sub.add_parser("compare", help="compare a candidate run with a baseline run: regressions that are real")
    cmp_.add_argument("baseline", help="baseline run directory or saved baseline name")
    cmp_.add_argument("candidate", help="candidate run directory or saved baseline name")
    cmp_.add_argument("--results", type=Path, default=Path("results"), help="where saved baselines are looked up")
    cmp_.add_argument("--all", action="store_true", help="list unchanged metrics too")
    cmp_.add_argument("--no-report", action="store_true", help="do not add the comparison to the candidate's report")
    _add_compare_options(cmp_)

    base = sub.add_parser("baseline", help="save or list named baselines")
    base_sub = base.add_subparsers(dest="baseline_command", required=True)
    save = base_sub.add_parser("save", help="keep a run directory as a named baseline")
    save.add_argument("name")
    save.add_argument("run_dir", type=Path)
    save.add_argument("--replace", action="store_true", help="overwrite a baseline of that name")
    save.add_argument("--results", type=Path, default=Path("results"))
    lst = base_sub.add_parser("list", help="list saved baselines")
    lst.add_argument("--results", type=Path, default=Path("results"))

    pl = sub.add_parser("plan", help="the samples each judged clause will get, against those it needs")
    pl.add_argument("scenario", nargs="?", help="scenario file or name (default: smoke)")
    pl.add_argument("--thresholds", type=Path, help="the standard (default: ./thresholds.yaml, else the shipped one)")
    pl.add_argument("--limits", metavar="PRESET[,...]", help="also the budget against a platform's limits")
    pl.add_argument("--users", type=int, help="as for crmload run")
    pl.add_argument("--rate-scale", type=float, help="as for crmload run")
    pl.add_argument("--duration", help="as for crmload run")
    pl.add_argument(
        "--response-time", help="mean response time per request to plan with (e.g. 200ms; default 0: upper bounds)"
    )
    pl.add_argument(
        "--like", type=Path, metavar="RUN_DIR", help="plan with the mean response time measured in this run"
    )
    pl.add_argument("--all", action="store_true", help="list every clause group, not only the undecidable ones")
    pl.add_argument("--json", action="store_true", help="the plan as JSON")

    an = sub.add_parser("analyze", help="judge a recorded run again and rewrite its verdict")
    an.add_argument("run_dir", type=Path)
    an.add_argument("--thresholds", type=Path, help="default: the copy in the run directory")
    an.add_argument("--clauses", help="comma-separated clause ids to judge (default: the scenario's)")
    an.add_argument("--no-report", action="store_true", help="verdict files only: no charts, no report.html")

    va = sub.add_parser("validate", help="check scenario and thresholds files")
    va.add_argument("files", nargs="*", type=Path)

    ad = sub.add_parser("adapter", help="write or check a target adapter for another CRM")
    ad_sub = ad.add_subparsers(dest="adapter_command", required=True)
    new = ad_sub.add_parser("new", help="write the skeleton of an adapter: NAME.py in --dir")
    new.add_argument("name", help="the module's name (a Python identifier), e.g. mycrm")
    new.add_argument("--dir", type=Path, default=Path("."), help="where NAME.py goes (default: here)")
    new.add_argument(
        "--kind",
        choices=("rest", "jsonrpc", "html", "oauth2"),
        default="rest",
        help="how the CRM speaks: REST/JSON with a token (default), JSON-RPC, HTML pages and forms "
        "(session cookie, CSRF), or REST behind an OAuth2 token endpoint",
    )
    chk = ad_sub.add_parser("check", help="call each operation the adapter declares once; show what answered")
    chk.add_argument("--target", required=True, help="the CRM's base URL")
    chk.add_argument("--adapter", required=True, help="module:Class")
    chk.add_argument("--testdata", type=Path, required=True, help="test-data JSON (users, record ids)")
    chk.add_argument("--allow-remote", action="store_true", help="allow a target off the loopback range")
    chk.add_argument("--json", action="store_true", help="print the rows as JSON")

    td = sub.add_parser("testdata", help="build a test-data file through the adapter")
    td_sub = td.add_subparsers(dest="testdata_command", required=True)
    build = td_sub.add_parser(
        "build", help="sign in each user of a file and collect what it works on (records, search keys, tickets)"
    )
    build.add_argument("--target", required=True, help="the CRM's base URL")
    build.add_argument("--adapter", required=True, help="module:Class (with collect_testdata)")
    build.add_argument(
        "--users", type=Path, required=True, help="test-data JSON with the users (its other keys are kept)"
    )
    build.add_argument("--out", type=Path, required=True, help="the test-data file to write")
    build.add_argument("--allow-remote", action="store_true", help="allow a target off the loopback range")

    demo = sub.add_parser("demo-crm", help="serve the embedded reference CRM")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--size", choices=["tiny", "small", "default"], default="default")
    demo.add_argument("--data-dir", type=Path, default=Path(".democrm"))
    demo.add_argument("--durable", action="store_true", help="fsync every commit (synchronous=FULL)")
    demo.add_argument("--allow-remote", action="store_true", help="listen on a non-loopback address")
    demo.add_argument(
        "--keep", action="store_true", help="serve the store already in --data-dir with its data (a restart)"
    )
    _add_fault_options(demo)
    demo.set_defaults(fault_prefix="--")
    return parser


def _run_scenario(args: argparse.Namespace) -> tuple[Path, Scenario]:
    """The scenario ``crmload run`` was given, loaded and scaled by ``--users``, ``--rate-scale``, ``--duration``."""
    from crmload.core.scenario import load_scenario

    path = scenario_path(args.scenario)
    if not path.exists():
        names = ", ".join(scenario_names())
        raise CrmloadError(f"{args.scenario}: no scenario file or name like that — fix: give a path, or one of {names}")
    scenario = load_scenario(path)
    duration_s = _duration_option(args.duration, "--duration") if args.duration else None
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise CrmloadError(f"--duration: must be a time above 0 (got {args.duration!r}) — fix: write e.g. 5m")
    if args.users is not None and args.users < 1:
        raise CrmloadError("--users must be at least 1")
    if args.rate_scale is not None and not (math.isfinite(args.rate_scale) and args.rate_scale > 0):
        raise CrmloadError(f"--rate-scale: must be a number above 0 (got {args.rate_scale!r}) — fix: write e.g. 2")
    from pydantic import ValidationError

    try:
        return path, scenario.scaled(users=args.users, rate_factor=args.rate_scale, duration_s=duration_s)
    except ValidationError as exc:  # scaling validates again: name the options that broke the bounds
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ").split(" | ")[0]
        given = [
            f"--{o.replace('_', '-')} {v}"
            for o, v in vars(args).items()
            if o in ("users", "rate_scale", "duration") and v is not None
        ]
        raise CrmloadError(
            f"{' '.join(given)}: the scaled scenario breaks its bounds at {where}: {msg}"
            " — fix: scale less (the bounds: README, Scenarios)"
        ) from None


def judge_errors(
    path: Path, scenario: Scenario, standards: list[Thresholds], standard: Path | str
) -> list[ConfigError]:
    """The ids of the scenario's ``judge:`` list that the standard in use does not have (any of
    ``standards``), each located in the scenario file with "did you mean" (a typo would drop a
    clause from the verdict unseen)."""
    import difflib

    from crmload.analysis.kinds import own_clause_ids

    known = list(dict.fromkeys([*(i for t in standards for i in t.all_ids()), *sorted(own_clause_ids())]))
    unknown = [(i, cid) for i, cid in enumerate(scenario.judge or []) if cid not in known]
    if not unknown:
        return []
    from crmload.core.yamlio import compose, locate

    try:
        _data, node = compose(path)
    except ConfigError:
        node = None
    out = []
    for i, cid in unknown:
        line, col, _ = locate(node, ("judge", i))
        close = difflib.get_close_matches(cid, known, n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'?" if close else f"{standard} has " + ", ".join(known)
        out.append(ConfigError(path, line, col, f"judge[{i}]", f"no clause {cid!r} in the standard {standard}", fix))
    return out


def _check_judge(path: Path, scenario: Scenario, thresholds: Thresholds, standard: Path) -> None:
    errors = judge_errors(path, scenario, [thresholds], standard)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)


def _check_results_dir(results: Path) -> None:
    """Before any load: ``--results`` is a directory this process can write in, or can be made in one."""
    fix = "give a directory you can write in, e.g. --results results"
    if results.exists() and not results.is_dir():
        raise CrmloadError(f"--results {results}: is a file, not a directory — fix: {fix}")
    nearest = results
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent  # made by the run; checked here without making it
    if not nearest.is_dir():
        raise CrmloadError(f"--results {results}: {nearest} is a file, not a directory — fix: {fix}")
    try:
        with tempfile.TemporaryFile(dir=nearest):
            pass
    except OSError as exc:
        raise CrmloadError(f"--results {results}: cannot write there ({exc.strerror or exc}) — fix: {fix}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from crmload.analysis.analyze import analyze
    from crmload.analysis.outputs import terminal_table
    from crmload.analysis.thresholds import load_thresholds
    from crmload.runner import RunOptions, execute

    path, scenario = _run_scenario(args)
    thresholds_path = args.thresholds or default_standard()
    thresholds = load_thresholds(thresholds_path)
    _check_judge(path, scenario, thresholds, thresholds_path)
    cores = os.cpu_count() or 1
    if not 1 <= args.processes <= cores:
        raise CrmloadError(
            f"--processes: must be between 1 and this machine's {cores} cores (got {args.processes})"
            " — fix: one load generator per core at most; more machines for more load (README, distributed)"
        )
    _check_results_dir(args.results)
    baseline = None
    if args.baseline:
        from crmload.baselines import resolve

        baseline = resolve(args.baseline, args.results)  # before the load: a typo costs nothing
    check_adapter(args.adapter)
    faults = _faults_from_args(args)
    if faults and args.target != "embedded":
        raise CrmloadError("--crm-* fault options apply to the embedded reference CRM only")
    limits = args.limits or args.crm_limits
    if limits:
        _print_budget(scenario, limits, sys.stderr)
    _check_plan(scenario, thresholds, args)  # last: after every option is known to be right
    opts = RunOptions(
        scenario_path=path,
        scenario=scenario,
        thresholds_path=thresholds_path,
        target=args.target,
        adapter=args.adapter,
        processes=args.processes,
        results_dir=args.results,
        allow_remote=args.allow_remote,
        testdata_path=args.testdata,
        size=args.size,
        crm_faults=faults,
        quiet=args.quiet,
        on_worker_loss=args.on_worker_loss,
        failure_outcomes=[str(o) for o in thresholds.defaults.failure_outcomes],
        limits=limits,
    )
    outcome = execute(opts)
    comparison = None
    compare_error: CrmloadError | None = None
    if baseline is not None:
        try:
            comparison = _compare(baseline, outcome.run_dir, args)
        except CrmloadError as exc:  # the run and its verdict are kept whatever happens here
            compare_error = exc
    try:
        result = analyze(outcome.run_dir, thresholds, comparison=comparison)
    except OSError as exc:
        raise CrmloadError(
            f"the verdict could not be written to {outcome.run_dir}: {exc.strerror or exc} (run status "
            f"{outcome.status}: {outcome.reason}) — fix: free space, then crmload analyze {outcome.run_dir}"
        ) from None
    print(terminal_table(result.verdict, color=sys.stdout.isatty()))
    if comparison is not None:
        from crmload.analysis.comparison_outputs import terminal

        print(terminal(comparison, color=sys.stdout.isatty()))
    print(f"run directory: {outcome.run_dir}  (status {outcome.status}: {outcome.reason})")
    if compare_error is not None:
        raise compare_error
    if outcome.write_error:
        print(f"error: {outcome.reason}", file=sys.stderr)
    return result.verdict.exit_code  # a regression against the baseline is in the verdict (REG-01)


def _check_plan(scenario: Scenario, thresholds: Thresholds, args: argparse.Namespace) -> None:
    """Before any load: say which judged clauses the scenario cannot decide; ``--strict`` refuses it."""
    from crmload.analysis.plan import plan, text

    found = plan(scenario, thresholds)
    if not found.undecidable:
        return
    scaled = " after scaling" if args.duration or args.users or args.rate_scale else ""
    lines = text(found).splitlines()
    shown = [*lines[1:6], *([f"  … and {len(lines) - 6} more: crmload plan for all"] if len(lines) > 6 else [])]
    print("\n".join([f"{lines[0]}{scaled}", *shown]), file=sys.stderr)
    if args.strict:
        raise CrmloadError(
            f"--strict: {len(found.undecidable)} judged clause group(s) of {scenario.name}{scaled} cannot be decided "
            "— fix: hold the stages longer or raise the load as the plan says, or judge fewer clauses (judge:)"
        )


def cmd_plan(args: argparse.Namespace) -> int:
    from crmload.analysis.plan import plan, text
    from crmload.analysis.thresholds import load_thresholds

    path, scenario = _run_scenario(args)
    standard = args.thresholds or default_standard()
    thresholds = load_thresholds(standard)
    _check_judge(path, scenario, thresholds, standard)
    response_s = _duration_option(args.response_time, "--response-time") if args.response_time else 0.0
    if args.like:
        response_s = _measured_response_s(args.like)
    found = plan(scenario, thresholds, response_s)
    print(json.dumps(found.to_dict(), indent=1) if args.json else text(found, everything=args.all))
    if args.limits:
        _print_budget(scenario, args.limits, sys.stdout, response_s)
    return 0


def _print_budget(scenario: Scenario, spec: str, out: TextIO, response_s: float = 0.0) -> None:
    """The scenario against a platform's limits (:mod:`crmload.analysis.budget`), one line each."""
    from crmload.analysis.budget import budget
    from crmload.core.limits import parse_limits

    for line in budget(scenario, parse_limits(spec), response_s).lines():
        print(f"BUDGET {line}", file=out)


def _measured_response_s(run_dir: Path) -> float:
    """Mean response time of the successful steady-state requests of a recorded run, in seconds."""
    from crmload.analysis.prepared import Prepared
    from crmload.analysis.run import load_run

    p = Prepared(load_run(run_dir))
    chosen = p.requests & p.ok
    if not chosen.any():
        raise CrmloadError(f"--like {run_dir}: the run has no successful steady-state requests to measure")
    return float(p.s["response_time_ms"][chosen].mean()) / 1000.0


def _standard_of(run_dir: Path) -> Path:
    """The standard a run was judged against: its own copy, else the default one."""
    own = run_dir / "thresholds.yaml"
    return own if own.exists() else default_standard()


def _compare(base: Path, cand: Path, args: argparse.Namespace) -> Comparison:
    """Compare and write comparison.json/.md/-junit.xml into the candidate's directory."""
    from crmload.analysis.compare import compare, parse_min_effect
    from crmload.analysis.comparison_outputs import write_all

    if not 0 < args.alpha < 1:
        raise CrmloadError("--alpha must be between 0 and 1")
    comp = compare(
        base,
        cand,
        parse_min_effect(args.min_effect),
        args.alpha,
        force=args.force,
    )
    write_all(comp, cand)
    return comp


def cmd_compare(args: argparse.Namespace) -> int:
    from crmload.analysis.analyze import analyze
    from crmload.analysis.comparison_outputs import terminal
    from crmload.analysis.thresholds import load_thresholds
    from crmload.baselines import resolve

    base, cand = resolve(args.baseline, args.results), resolve(args.candidate, args.results)
    comp = _compare(base, cand, args)
    if not args.no_report:
        analyze(cand, load_thresholds(_standard_of(cand)), comparison=comp)
    print(terminal(comp, color=sys.stdout.isatty(), everything=args.all))
    print(f"comparison written to {cand / 'comparison.json'}, comparison.md and comparison-junit.xml")
    return int(comp.exit_code)


def cmd_baseline(args: argparse.Namespace) -> int:
    from crmload.baselines import list_baselines, save

    if args.baseline_command == "save":
        dest = save(args.name, args.run_dir, args.results, replace=args.replace)
        print(f"saved baseline {args.name!r}: {dest}")
        return 0
    rows = list_baselines(args.results)
    if not rows:
        print(f"no baselines saved under {args.results / 'baselines'}")
    for name, info in rows:
        print(
            f"{name:24}  {info.get('scenario_name') or '?':16}  "
            f"{info.get('started_utc') or '?':20}  {info.get('status')}"
        )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from crmload.analysis.analyze import analyze
    from crmload.analysis.outputs import terminal_table
    from crmload.analysis.thresholds import load_thresholds

    if not args.run_dir.is_dir():
        what = "does not exist" if not args.run_dir.exists() else "is a file, not a run directory"
        raise CrmloadError(f"{args.run_dir}: {what} — fix: give the directory a run wrote (results/<scenario>-<time>)")
    thresholds_path = args.thresholds or _standard_of(args.run_dir)
    thresholds = load_thresholds(thresholds_path)
    ids = [c.strip() for c in args.clauses.split(",") if c.strip()] if args.clauses else None
    if ids:
        unknown = [i for i in ids if i not in thresholds.all_ids()]
        if unknown:
            raise CrmloadError(
                f"--clauses: unknown clause id(s) {', '.join(unknown)}; "
                f"{thresholds_path} has {', '.join(thresholds.all_ids())}"
            )
    comparison = _kept_comparison(args.run_dir)
    result = analyze(args.run_dir, thresholds, ids, report=not args.no_report, comparison=comparison)
    print(terminal_table(result.verdict, color=sys.stdout.isatty()))
    if comparison is not None:
        print(f"the report keeps the comparison with {comparison.base} ({comparison.status}) from comparison.json")
    print(
        f"verdict written to {args.run_dir / 'verdict.json'}"
        + ("" if args.no_report else f"; report: {args.run_dir / 'report.html'}")
    )
    return result.verdict.exit_code


def _kept_comparison(run_dir: Path) -> Comparison | None:
    """The comparison a ``run --baseline`` or ``compare`` left in ``run_dir``, if it is readable."""
    from crmload.analysis.compare import Comparison

    path = run_dir / "comparison.json"
    try:
        return Comparison.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        print(f"warning: {path} is unreadable ({exc}); the report leaves the comparison out", file=sys.stderr)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    from crmload.analysis.thresholds import load_thresholds
    from crmload.core.scenario import load_scenario
    from crmload.core.yamlio import compose

    files = args.files or [default_standard(), *scenario_names().values()]
    errors: list[ConfigError] = []
    standards: list[tuple[Path, Thresholds]] = []
    scenarios: list[tuple[Path, Scenario]] = []
    for f in files:
        try:
            data, _node = compose(f)
            is_thresholds = "threshold" in f.name or (
                isinstance(data, dict) and bool({"clauses", "classes", "defaults"} & set(data))
            )
            if is_thresholds:
                t: Thresholds = load_thresholds(f)
                standards.append((f, t))
                print(f"ok  {f}  (standard: {len(t.all_ids())} clauses)")
            else:
                scenarios.append((f, load_scenario(f)))  # said ok once its judge list is checked too
        except ConfigError as exc:
            errors.append(exc)
            print(f"error: {exc}", file=sys.stderr)
    # a scenario's judge list against the standard a run would use and any given with it
    if scenarios and default_standard() not in [p for p, _t in standards]:
        with contextlib.suppress(ConfigError):
            standards.append((default_standard(), load_thresholds(default_standard())))
    named = " or ".join(str(p) for p, _t in standards)
    for f, s in scenarios:  # with several standards given, an id of any of them counts
        problems = judge_errors(f, s, [t for _p, t in standards], named) if standards else []
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        errors += problems
        if not problems:
            longest = f", up to {s.longest_duration_s:g} s" if s.conducted else ""
            print(f"ok  {f}  (scenario {s.name}: {len(s.stages)} stages, {s.total_duration_s:g} s{longest})")
    return EXIT_USAGE if errors else 0


def cmd_demo_crm(args: argparse.Namespace) -> int:
    from crmload.democrm.faults import Faults
    from crmload.democrm.server import serve
    from crmload.safety import is_loopback

    if not is_loopback(args.host) and not args.allow_remote:
        raise CrmloadError(f"refusing to listen on {args.host}: not a loopback address (pass --allow-remote)")
    faults = Faults.model_validate(_faults_from_args(args))
    if not 0 <= args.port <= 65535:
        raise CrmloadError(f"--port: must be between 0 and 65535 (got {args.port}) — fix: 0 picks a free port")
    serve(args.host, args.port, args.size, args.data_dir, faults, durable=args.durable, keep=args.keep)
    return 0


def cmd_adapter(args: argparse.Namespace) -> int:
    if args.adapter_command == "new":
        from crmload.adapter_tools import write_skeleton

        path = write_skeleton(args.name, args.dir, args.kind)
        print(f"wrote {path}: fill in login and the operations your CRM has, then")
        print(f"  crmload adapter check --target URL --adapter {args.name}:{_class_name(args.name)} --testdata FILE")
        return 0
    from crmload.adapter_tools import check_adapter_on_target, format_check

    answer = check_adapter_on_target(args.adapter, args.target, args.testdata, args.allow_remote)
    print(json.dumps(answer["rows"], indent=1) if args.json else format_check(answer))
    return 0


def cmd_testdata(args: argparse.Namespace) -> int:
    from crmload.adapter_tools import build_testdata

    data = build_testdata(args.adapter, args.target, args.users, args.out, args.allow_remote)
    owners = data.get("accounts_by_owner", {})
    print(
        f"wrote {args.out}: {len(data.get('users', []))} users, {len(data['account_ids'])} accounts "
        f"({len(owners)} owners), {sum(len(v) for v in data.get('opportunities_by_owner', {}).values())} "
        f"opportunities, {len(data['open_ticket_ids'])} open tickets, {len(data['search_names'])} search keys"
    )
    return 0


def _class_name(module: str) -> str:
    from crmload.adapter_tools import class_name

    return class_name(module)


COMMANDS = {
    "adapter": cmd_adapter,
    "testdata": cmd_testdata,
    "run": cmd_run,
    "compare": cmd_compare,
    "baseline": cmd_baseline,
    "analyze": cmd_analyze,
    "plan": cmd_plan,
    "validate": cmd_validate,
    "demo-crm": cmd_demo_crm,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CrmloadError as exc:
        print(f"error: {scrub(str(exc), getattr(args, 'target', None))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of our output went away (`crmload plan | head`): nothing more can be said there
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
    except Exception as exc:  # the last guard: a bug of ours, said in one line, its traceback kept
        kept = _keep_traceback(args)
        said = scrub(f"{type(exc).__name__}: {exc}", getattr(args, "target", None))
        print(
            f"error: crmload failed unexpectedly ({said}); the details are in {kept} — please report it with that file",
            file=sys.stderr,
        )
        return EXIT_USAGE


def _keep_traceback(args: argparse.Namespace) -> Path:
    """Write the current exception's traceback to a file (in the run directory named on the command
    line when there is one, else a temporary file); its path."""
    import tempfile
    import traceback

    text = scrub(traceback.format_exc(), getattr(args, "target", None))
    run_dir = getattr(args, "run_dir", None)
    if isinstance(run_dir, Path) and run_dir.is_dir():
        target = run_dir / "crmload-error.txt"
        try:
            target.write_text(text)
            return target
        except OSError:
            pass
    fd, name = tempfile.mkstemp(prefix="crmload-error-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return Path(name)


if __name__ == "__main__":
    sys.exit(main())
