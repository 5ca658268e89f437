"""Bad scenario and thresholds files: one message each, naming file, line, field and fix; never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmload.analysis.thresholds import load_thresholds
from crmload.core.errors import ConfigError
from crmload.core.scenario import load_scenario

CORPUS = Path(__file__).parent / "corpus"
REPO = Path(__file__).parent.parent

# file -> (line, field, words the message must contain)
SCENARIOS = {
    "unknown_key.yaml": (7, "stages[0].userz", "did you mean 'users'?"),
    "negative_duration.yaml": (5, "stages[0].duration", "greater than 0"),
    "wrong_type.yaml": (6, "stages[0].users", "write a whole number"),
    "empty_stages.yaml": (4, "stages", "at least 1 item"),
    "unknown_persona.yaml": (3, "personas.salez", "did you mean 'sales'?"),
    "yaml_syntax.yaml": (6, None, "YAML syntax error"),
    "bad_duration.yaml": (5, "stages[0].duration", "'5m'"),
    "no_load.yaml": (5, "stages[0]", "set users or arrival_rate"),
    "arrivals_without_integration.yaml": (5, "stages", "add 'integration: {}' under personas"),
    "missing_name.yaml": (1, "name", "Field required"),
    "think_time_reversed.yaml": (3, "personas.sales.think_time", "[1s, 3s]"),
    "not_a_mapping.yaml": (1, None, "top level must be a mapping"),
    "empty_file.yaml": (1, None, "file is empty"),
    "too_long.yaml": (5, "stages", "48 h bound"),
    "unknown_option.yaml": (5, "personas.sales.options.walk_in_shar", "did you mean 'walk_in_share'?"),
    "option_out_of_range.yaml": (6, "personas.sales.options.probe_share", "between 0 and 1 (got 5)"),
    "no_journey_weight.yaml": (5, "personas.manager.options", "every journey weight is 0"),
    "duplicate_key.yaml": (6, "stages", "'stages' is also given on line 4"),
    "held_without_max.yaml": (5, "stages[0]", "needs a max"),
    "max_below_duration.yaml": (5, "stages[0]", "shorter than duration"),
    "search_without_capacity.yaml": (4, "search", "only with kind: capacity"),
    "infinite_duration.yaml": (5, "stages[0].duration", "finite number"),
    "nan_think_time.yaml": (3, "personas.sales.think_time[1]", "finite number"),
    "nested_too_deep.yaml": (2, None, "nested more than 50 deep"),
    "nul_byte.yaml": (1, None, "is not allowed in YAML"),
    "judge_empty.yaml": (6, "judge", "would judge nothing"),
    "judge_twice.yaml": (6, "judge", "names PERF-RT-01 twice"),
    "warmup_too_long.yaml": (6, "stages", "leaves nothing of its 20 s to judge"),
}
THRESHOLDS: dict[str, tuple[int, str | None, str]] = {
    "metric_mismatch.yaml": (3, "clauses[0].limits", "which is not a rate limit"),
    "apdex_range.yaml": (3, "clauses[0].limits", "between 0 and 1"),
    "duplicate_limit.yaml": (6, "clauses[0].limit", "'limit' is also given on line 5"),
    "bad_expression.yaml": (3, "clauses[0].limits", "cannot read 'p(95) < 3 parsecs'"),
    "percentile_range.yaml": (3, "clauses[0].limits", "0 < N < 100"),
    "unknown_operation.yaml": (5, "clauses[0].select.operations", "did you mean 'customer.search'?"),
    "unknown_key.yaml": (3, "defaults.confidnce", "did you mean 'confidence'?"),
    "duplicate_ids.yaml": (3, "clauses", "repeated: PERF-RT-01"),
    "rate_range.yaml": (6, "classes[0].error_rate", "less than or equal to 1"),
    "no_limit.yaml": (3, "clauses[0]", "has no limit"),
    "unknown_metric.yaml": (5, "clauses[0].metric", "did you mean 'latency'?"),
    "zero_tolerance_limit.yaml": (3, "clauses[0].limits", "metric: lost_writes takes no limit"),
    "nan_limit.yaml": (3, "clauses[0].limits", "cannot read 'p(95) < nan s'"),
    "infinite_percentile_time.yaml": (3, "clauses[0].limits", "cannot read 'p(95) < .inf'"),
    "confidence_range.yaml": (3, "defaults.confidence", "less than 1 (got 1.5)"),
    "unknown_failure_outcome.yaml": (3, "defaults.failure_outcomes[1]", "(got 'teapot')"),
    "per_unknown.yaml": (5, "clauses[0].per", "did you mean 'operation'?"),
    "required_users_zero.yaml": (6, "clauses[0].required_users", "greater than or equal to 1 (got 0)"),
    "bad_clause_id.yaml": (3, "clauses[0].id", "write e.g. PERF-RT-01"),
    "class_unknown_operation.yaml": (5, "classes[0].operations", "did you mean 'customer.view'?"),
    "duplicate_clauses.yaml": (4, "clauses", "'clauses' is also given on line 2"),
    "not_a_mapping.yaml": (1, None, "top level must be a mapping"),
    "empty_file.yaml": (1, None, "file is empty"),
    "apdex_t_negative.yaml": (6, "clauses[0].apdex_t", "cannot read '-1s' as a duration"),
    "version_two.yaml": (1, "version", "Input should be 1 (got 2)"),
}


def test_corpus_is_complete() -> None:
    assert {p.name for p in (CORPUS / "scenarios").glob("*.yaml")} == set(SCENARIOS)
    assert {p.name for p in (CORPUS / "thresholds").glob("*.yaml")} == set(THRESHOLDS)


@pytest.mark.parametrize(("name", "expected"), sorted(SCENARIOS.items()))
def test_bad_scenario(name: str, expected: tuple[int, str | None, str]) -> None:
    line, field, words = expected
    path = CORPUS / "scenarios" / name
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field)
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}:")
    assert err.fix, "every message says how to fix it"


@pytest.mark.parametrize(("name", "expected"), sorted(THRESHOLDS.items()))
def test_bad_thresholds(name: str, expected: tuple[int, str, str]) -> None:
    line, field, words = expected
    path = CORPUS / "thresholds" / name
    with pytest.raises(ConfigError) as info:
        load_thresholds(path)
    assert (info.value.line, info.value.field) == (line, field)
    assert words in str(info.value) and info.value.fix


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_scenario(CORPUS / "no-such.yaml")


def test_validate_command_exit_codes() -> None:
    ok = subprocess.run([sys.executable, "-m", "crmload.cli", "validate"], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert "ok  " in ok.stdout and "thresholds.yaml" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "validate", str(CORPUS / "scenarios" / "unknown_key.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0, "one message, one line"
    assert "Traceback" not in bad.stderr and "did you mean 'users'?" in bad.stderr


# fuzzing: whatever the input, the loaders answer with a ConfigError or a model -------------------------
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["30s", "5m", "1h", "p(95) < 3s", "rate < 1%", "-1", "sales", "integration", "customer.view"]),
)
_keys = st.sampled_from(
    [
        "name",
        "personas",
        "stages",
        "users",
        "duration",
        "arrival_rate",
        "sales",
        "weight",
        "think_time",
        "open_model",
        "clauses",
        "classes",
        "id",
        "title",
        "limit",
        "select",
        "operations",
        "defaults",
        "p95",
        "error_rate",
        "spawn_rate",
        "judge",
        "x",
    ]
)
_docs = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_docs)
def test_fuzzed_structures_never_raise_anything_else(tmp_path: Path, doc: object) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(doc))
    for loader in (load_scenario, load_thresholds):
        try:
            loader(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}'\"\n #&*!|>%@`,0123456789")), max_size=80))
def test_fuzzed_text_never_raises_anything_else(tmp_path: Path, text: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    for loader in (load_scenario, load_thresholds):
        try:
            loader(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path))


def test_a_judge_list_naming_a_clause_the_standard_lacks_is_refused_before_any_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    scenario = tmp_path / "typo.yaml"
    scenario.write_text(
        "name: typo\npersonas:\n  sales: {weight: 1}\nstages:\n  - {name: a, users: 1, duration: 5s}\n"
        "judge: [PERF-RT-1, DATA-01]\n"
    )
    results = ["--results", str(tmp_path / "r")]
    for cmd in (["validate", str(scenario)], ["plan", str(scenario)], ["run", str(scenario), *results]):
        done = subprocess.run(
            [sys.executable, "-m", "crmload.cli", *cmd], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert done.returncode == 2, (cmd, done.stderr)
        assert (
            f"{scenario}:6:9: judge[0]: no clause 'PERF-RT-1'" in done.stderr
            and "did you mean 'PERF-RT-01'?" in done.stderr
        )
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()  # refused before the CRM started
    # against another standard given with --thresholds, its own ids count
    own = tmp_path / "own.yaml"
    own.write_text("version: 1\nclauses:\n  - {id: PERF-RT-1, title: t, limit: 'p(95) < 3s'}\n"
                   "  - {id: DATA-01, title: d, metric: lost_writes}\n")  # fmt: skip
    ok = subprocess.run([sys.executable, "-m", "crmload.cli", "plan", str(scenario), "--thresholds", str(own)],
                        capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["plan", "smoke", "--users", "1000000"], "--users 1000000: the scaled scenario breaks its bounds"),
        (["plan", "smoke", "--duration", "100h"], "over the 48 h bound"),
        (["plan", "smoke", "--duration", "inf"], "--duration: must be a time above 0"),
        (["plan", "smoke", "--duration", "nan"], "--duration: must be a time above 0"),
        (["plan", "smoke", "--duration", "0"], "--duration: must be a time above 0"),
        (["plan", "smoke", "--rate-scale", "0"], "--rate-scale: must be a number above 0"),
        (["run", "smoke", "--processes", "999"], "--processes: must be between 1 and"),
        (["run", "smoke", "--crm-concurrency-limit", "0"], "--crm-concurrency-limit"),
        (["run", "smoke", "--target", "ftp://127.0.0.1:1"], "is not an http(s) URL"),
        (["run", "smoke", "--target", "http://127.0.0.1:99999"], "its port is not a number between 1 and 65535"),
        (["run", "smoke", "--target", "http://10.1.2.3:80"], "refusing to load 10.1.2.3"),
        (["run", "smoke", "--target", "http://127.0.0.1:9"], "needs --testdata FILE"),
        (["run", "smoke", "--users", "0"], "--users must be at least 1"),
        (["run", "smoke", "--users", "abc"], "argument --users: invalid int value"),
        (["run", "smoke", "--duration", "abc"], "--duration: cannot read 'abc' as a duration"),
        (["run", "smoke", "--processes", "0"], "--processes: must be between 1 and"),
        (["run", "smoke", "--results", "{file}"], "is a file, not a directory"),
        (["run", "smoke", "--thresholds", "/no/such.yaml"], "/no/such.yaml: file not found"),
        (["run", "smoke", "--baseline", "no-such-baseline"], "neither a run directory nor a saved baseline"),
        (["run", "smoke", "--on-worker-loss", "bogus"], "invalid choice: 'bogus'"),
        (["run", "smoke", "--crm-error-rate", "2"], "--crm-error-rate: expected OPERATION=RATE"),
        (["run", "smoke", "--rate-scale", "nan"], "--rate-scale: must be a number above 0"),
        (["run", "smoke", "--adapter", "no_such_mod:Crm"], "no module 'no_such_mod'"),
        (["plan", "smok"], "smok: no scenario file or name like that"),
        (["analyze", "/no/such/run"], "does not exist"),
        (["analyze", "{file}"], "is a file, not a run directory"),
        (["compare", "nope1", "nope2"], "'nope1' is neither a run directory nor a saved baseline"),
        (["baseline", "save", "bad name!", "/tmp"], "baseline name 'bad name!'"),
        (["demo-crm", "--token-ttl", "0"], "--token-ttl: Input should be greater than 0"),
        (["demo-crm", "--error-rate", "x"], "--error-rate: expected OPERATION=RATE"),
        (["demo-crm", "--port", "99999"], "--port: must be between 0 and 65535"),
        (["demo-crm", "--host", "10.0.0.1"], "refusing to listen on 10.0.0.1"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_command_line_values_beyond_the_bounds_are_refused_naming_the_option(
    args: list[str], words: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    args = [str(a_file) if a == "{file}" else a for a in args]
    extra = ["--results", str(tmp_path / "r")] if args[0] == "run" and "--results" not in args else []
    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", *args, *extra], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()


TESTDATA = {  # file -> (line, field, words): test data for a CRM of one's own (README, "Testing your own CRM")
    "a_list.json": (1, None, "must be a JSON object, not a list"),
    "no_password.json": (None, "users[0]", "password or token: required for 'alice'"),
    "no_username.json": (None, "users[1].username", "Field required"),
    "empty_password.json": (None, "users[0].password", "at least 1 character"),
    "users_a_string.json": (None, "users", "valid list"),
    "no_users.json": (None, "users", "at least 1 item"),
    "owner_map_a_list.json": (None, "accounts_by_owner", "valid dictionary"),
    "id_a_bool.json": (None, "users[0].id", "a record id is a whole number from 1 or a non-empty text (got True)"),
    "not_json.json": (2, None, "not JSON"),
    "a_string.json": (1, None, "must be a JSON object, not a str"),
    "account_id_null.json": (None, "account_ids[1]", "a record id is a whole number from 1 or a non-empty text"),
    "duplicate_key.json": (None, None, "the key 'password' is given twice"),
    "empty_file.json": (1, None, "the file is empty"),
    "empty_object.json": (None, "users", "Field required"),
    "nan_id.json": (None, None, "NaN is not a JSON number"),
    "negative_id.json": (None, "users[0].id", "(got -4)"),
    "no_role.json": (None, "users[0].role", "Field required"),
    "not_utf8.json": (None, None, "not UTF-8 text"),
    "nul_byte.json": (1, None, "Invalid control character"),
    "owner_ids_a_number.json": (None, "accounts_by_owner.alice", "valid list"),
    "password_env_unset.json": (None, "users[0].password", "$CRMLOAD_NO_SUCH_VAR, which is not set"),
    "same_user_twice.json": (None, "users", "'alice' is also users[0]"),
    "search_names_a_string.json": (None, "search_names", "valid list"),
    "tickets_a_mapping.json": (None, "open_ticket_ids", "valid list"),
    "users_strings.json": (None, "users[0]", "valid dictionary"),
}


def test_testdata_corpus_is_complete() -> None:
    assert {p.name for p in (CORPUS / "testdata").glob("*.json")} == set(TESTDATA)


@pytest.mark.parametrize(("name", "expected"), sorted(TESTDATA.items()))
def test_bad_testdata(name: str, expected: tuple[int | None, str | None, str]) -> None:
    from crmload.loadtests.testdata import check_testdata

    line, field, words = expected
    with pytest.raises(ConfigError) as info:
        check_testdata(CORPUS / "testdata" / name)
    assert (info.value.line, info.value.field) == (line, field) and words in str(info.value) and info.value.fix


_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=12)
)
_td_keys = st.sampled_from(
    ["users", "username", "password", "role", "id", "account_ids", "accounts_by_owner", "open_ticket_ids",
     "search_names", "kb_terms", "x"]
)  # fmt: skip
_td_docs = st.recursive(
    _json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_td_keys, inner, max_size=5)),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_td_docs, raw=st.binary(max_size=40))
def test_fuzzed_test_data_never_raises_anything_else(tmp_path: Path, doc: object, raw: bytes) -> None:
    import json

    from crmload.loadtests.testdata import check_testdata

    path = tmp_path / "t.json"
    for content in (json.dumps(doc).encode(), raw):
        path.write_bytes(content)
        try:
            checked = check_testdata(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)) and exc.fix
        else:  # accepted: then every user has what a login needs
            assert all(u["username"] and u["password"] and u["role"] for u in checked["users"])


def test_bad_testdata_is_refused_before_any_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", "smoke", "--target", "http://127.0.0.1:9", "--testdata",
         str(CORPUS / "testdata" / "no_password.json"), "--results", str(tmp_path / "r")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "users[0]: password or token: required" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no.such.module:Crm", "no module 'no.such.module'"),
        (
            "crmload.loadtests.adapters.reference:ReferenceCrm",
            "did you mean 'crmload.loadtests.adapters.reference:ReferenceCRM'?",
        ),
        ("crmload.loadtests.adapters.reference", "must be 'module:Class'"),
        (":ReferenceCRM", "must be 'module:Class'"),
    ],
)
def test_an_adapter_that_cannot_load_is_refused_without_importing_locust(spec: str, words: str) -> None:
    from crmload.loadtests.settings import check_adapter

    with pytest.raises(ConfigError, match=re.escape(words)):
        check_adapter(spec)
    check_adapter("crmload.loadtests.adapters.reference:ReferenceCRM")  # the shipped one is found


_MISSPELT = """from crmload.loadtests.adapter import CrmAdapter


class MyCrm(CrmAdapter):
    def login(self, username, password):
        return True

    def custmer_view(self, account_id):
        return None

    def _helper(self):
        return None
"""


def test_an_adapter_with_a_misspelt_operation_method_fails_at_load_with_did_you_mean(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from crmload.loadtests.settings import check_adapter

    (tmp_path / "mycrm.py").write_text(_MISSPELT)
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ConfigError) as info:
            check_adapter("mycrm:MyCrm")  # before any load, without importing it
    finally:
        sys.path.remove(str(tmp_path))
    err = info.value
    assert (err.line, err.field) == (8, "MyCrm.custmer_view") and "did you mean 'customer_view'?" in str(err)
    # the same check where Locust loads it (a plain `locust -f` run), and the hooks list kept true
    probe = (
        "from crmload.loadtests.runtime import load_adapter\n"
        "from crmload.loadtests.adapter import CrmAdapter\n"
        "from crmload.loadtests.settings import ADAPTER_HOOKS\n"
        "own = {n for n, v in vars(CrmAdapter).items() if callable(v) or isinstance(v, classmethod)}\n"
        "from crmload.core.operations import OPERATIONS\n"
        "own = {n for n in own if not n.startswith('_')} - {o.method_name for o in OPERATIONS.values()}\n"
        "assert own == set(ADAPTER_HOOKS), own ^ set(ADAPTER_HOOKS)\n"
        "load_adapter('mycrm:MyCrm')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode != 0 and "MyCrm.custmer_view" in done.stderr, done.stderr
    assert "did you mean 'customer_view'?" in done.stderr and "AssertionError" not in done.stderr
    run = subprocess.run(
        [sys.executable, "-m", "crmload.cli", "run", "smoke", "--adapter", "mycrm:MyCrm", "--target",
         "http://127.0.0.1:9", "--testdata", str(CORPUS / "testdata" / "no_role.json"),
         "--results", str(tmp_path / "r")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "did you mean 'customer_view'?" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "r").exists()


def test_an_unexpected_error_is_one_line_and_its_traceback_is_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from crmload import cli

    def broken(_args: object) -> int:
        raise RuntimeError("a bug of ours")

    monkeypatch.setitem(cli.COMMANDS, "analyze", broken)  # the seam: any command's body
    assert cli.main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RuntimeError: a bug of ours" in err[0] and "Traceback" not in err[0]
    kept = tmp_path / "crmload-error.txt"  # in the run directory the command was given
    assert str(kept) in err[0] and "raise RuntimeError" in kept.read_text()


_BAD_RULES = """from crmload.core.operations import AccessRule
from crmload.loadtests.adapter import CrmAdapter


class MyCrm(CrmAdapter):
    access_rules = ({rule},)

    def login(self, username, password):
        return True

    def customer_view(self, account_id):
        return None
"""


@pytest.mark.parametrize(("rule", "words"), [
    ('AccessRule("sales", "customer.view", "mine")', "records 'mine' is none crmload knows — fix: use one of any"),
    ('AccessRule("sales", "ticket.view", "tenant")', "the adapter has no method for ticket.view"),
    ('AccessRule("clerk", "customer.view", "tenant")', "no persona logs in as role 'clerk'"),
    ('AccessRule("sales", "customer.update", "any")', "crmload cannot probe 'customer.update'"),
])  # fmt: skip
def test_an_access_rule_the_probes_cannot_test_is_refused_at_load(rule: str, words: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "mycrm.py").write_text(_BAD_RULES.replace("{rule}", rule))
    done = subprocess.run(
        [sys.executable, "-c", "from crmload.loadtests.runtime import load_adapter\nload_adapter('mycrm:MyCrm')"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode != 0 and "MyCrm.access_rules[0]" in done.stderr, done.stderr
    assert words in done.stderr, done.stderr
