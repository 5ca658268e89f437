"""Reading run directories: large multi-block files decode exactly; torn and empty files are handled."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synth import S, write_run

from crmload.analysis.analyze import analyze
from crmload.analysis.run import load_run
from crmload.analysis.thresholds import Thresholds
from crmload.core.errors import RunError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from analysis_scale import make_run


def test_multi_block_csv_decodes_exactly_like_pandas(tmp_path: Path) -> None:
    make_run(tmp_path / "run", 300_000, form="csv")  # ~38 MB: many blocks, each with its own dictionary
    run = load_run(tmp_path / "run")
    ref = pd.read_csv(tmp_path / "run" / "samples.csv")
    every = np.arange(len(run.samples))
    ops = run.samples.t("operation")
    assert {label: len(g) for label, g in ops.group_rows(every)} == ref["operation"].value_counts().to_dict()
    personas = run.samples.t("persona")
    for label, g in personas.group_rows(every):
        expected = ref.loc[ref["persona"] == label, "response_time_ms"].to_numpy()
        assert np.array_equal(run.samples["response_time_ms"][g], expected)
    assert np.allclose(np.nan_to_num(run.samples["schedule_lag_ms"]), ref["schedule_lag_ms"].fillna(0).to_numpy())


def test_torn_last_line_is_left_out(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", [S(float(i)) for i in range(1, 101)])
    samples = run_dir / "samples.csv"
    samples.write_bytes(samples.read_bytes() + b"1700000099.5,request,customer.sea")  # killed mid-line
    run = load_run(run_dir)
    assert len(run.samples) == 100
    assert Counter(run.samples.t("operation").labels) == Counter(["customer.search"])


def test_header_only_is_inconclusive_and_empty_file_is_an_error(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", [])
    res = analyze(
        run_dir,
        report=False,
        thresholds=Thresholds.model_validate({"clauses": [{"id": "A-1", "title": "a", "limit": "p(95) < 3s"}]}),
    )
    assert res.verdict.status == "INCONCLUSIVE" and "not exercised" in res.verdict.results[0].reason
    (run_dir / "samples.csv").write_bytes(b"")
    with pytest.raises(RunError, match="empty"):
        load_run(run_dir)


def _damaged(tmp_path: Path, name: str, content: str | None) -> Path:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "golden" / "smoke", run)
    if content is None:
        (run / name).unlink()
        (run / name).mkdir()
    else:
        (run / name).write_text(content)
    return run


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("meta.json", "[1, 2]", "meta.json: not a JSON object"),
        ("meta.json", '{"schema_version": 2, "started_utc": []}', "meta.json: started_utc"),
        ("stages.json", '{"a": 1}', "stages.json: not a JSON list"),
        ("stages.json", '[{"index": "x"}]', "stages.json: index"),
        ("capture.json", "[]", "capture.json: not a JSON object"),
        ("capture.json", '{"rows_by_worker": 5}', "capture.json: rows_by_worker"),
        ("audit.json", "[1]", "audit.json: not a JSON object"),
        ("audit.json", '{"checked": "many"}', "audit.json: checked"),
        ("security.json", '{"breaches": -1}', "security.json: breaches"),
        ("samples.csv", None, "samples.csv: a directory"),
        ("meta.json", "{not json", "meta.json: unreadable JSON"),
        ("meta.json", '{"schema_version": 99}', "schema_version 99 is newer than this crmload"),
        ("meta.json", '{"schema_version": 2, "schema_version": 2}', "the key 'schema_version' is given twice"),
        ("stages.json", "[1]", "stages.json: (top level): Input should be a valid dictionary"),
        ("stages.json", "", "stages.json: unreadable JSON at line 1 (the file is empty)"),
        ("capture.json", '{"rows_by_worker": {"local": NaN}}', "capture.json: unreadable JSON (NaN is not"),
        ("security.json", '{"checked": 5, "checked": 0}', "the key 'checked' is given twice"),
        ("audit.json", "[" * 100_000 + "]" * 100_000, "audit.json: unreadable JSON (nested too deep)"),
        ("generators.csv", None, "generators.csv: cannot be read"),
        ("audit.json", " " * (64 * 1024 * 1024 + 1), "audit.json: unreadable JSON (larger than 64 MB"),
    ],
)
def test_a_damaged_run_directory_exits_2_naming_the_file_and_field(
    tmp_path: Path, name: str, content: str | None, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from crmload import cli

    run = _damaged(tmp_path, name, content)
    assert cli.main(["analyze", str(run), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert words in err and "failed unexpectedly" not in err, err


def _edit_rows(run: Path, column: str, values: list[str]) -> None:
    lines = (run / "samples.csv").read_text().splitlines()
    i = lines[0].split(",").index(column)
    for k, v in enumerate(values, start=1):
        row = lines[k].split(",")
        row[i] = v
        lines[k] = ",".join(row)
    (run / "samples.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("column", "values", "words"),
    [
        ("response_time_ms", ["nan", "inf"], "2 row(s) with a time or response time that is not a finite number"),
        ("outcome", ["weird"], "1 row(s) with an unknown outcome"),
        ("ts", ["2100000000"], "past the run's end"),
    ],
)
def test_rows_left_out_are_said_and_the_run_cannot_pass_on_the_rest(
    tmp_path: Path, column: str, values: list[str], words: str
) -> None:
    import json

    from crmload.analysis.analyze import analyze
    from crmload.analysis.thresholds import load_thresholds

    run = _damaged(tmp_path, "audit.json", (Path(__file__).parent / "golden" / "smoke" / "audit.json").read_text())
    _edit_rows(run, column, values)
    result = analyze(run, load_thresholds(run / "thresholds.yaml"), report=False)
    assert result.verdict.status != "PASS"
    verdict = json.loads((run / "verdict.json").read_text())
    assert any(words in w for w in verdict["warnings"]), verdict["warnings"]


def test_a_garbled_generators_file_makes_latency_inconclusive(tmp_path: Path) -> None:
    from crmload.analysis.analyze import analyze
    from crmload.analysis.thresholds import load_thresholds

    run = _damaged(tmp_path, "generators.csv", "ts,worker\nxx,yy,zz\n")
    result = analyze(run, load_thresholds(run / "thresholds.yaml"), report=False)
    rt = next(r for r in result.verdict.results if r.clause_id == "PERF-RT-01")
    assert rt.status == "INCONCLUSIVE" and "generators.csv is unreadable" in rt.reason


def test_group_rows_are_the_rows_each_label_picks_and_narrow_columns_keep_their_values(tmp_path: Path) -> None:
    """One sort of the codes gives each label the rows a comparison with the file's column picks
    (in row order, labels in order); text codes and small integer columns are held in the narrowest
    type, with the same values as the file's."""
    make_run(tmp_path / "run", 50_000)
    s = load_run(tmp_path / "run").samples
    ref = pd.read_parquet(tmp_path / "run" / "samples.parquet")
    rng = np.random.default_rng(5)
    within = rng.random(len(s)) < 0.3
    for name in ("operation", "persona", "outcome"):
        text = s.t(name)
        assert text.codes.dtype == np.uint8
        by_rows = {label: rows for label, rows in text.group_rows(np.flatnonzero(within))}
        column = ref[name].to_numpy()
        expected = {label: np.flatnonzero(within & (column == label)) for label in sorted(set(column[within]))}
        assert list(by_rows) == list(expected) and all(np.array_equal(by_rows[k], expected[k]) for k in expected)
        assert list(np.asarray(text.labels)[text.codes]) == ref[name].tolist()
    assert s["status"].dtype == np.int16 and np.array_equal(s["status"], ref["status"].to_numpy())
    assert s["stage"].dtype == np.int8 and np.array_equal(s["stage"], ref["stage"].to_numpy())
    assert list(s.t("persona").group_rows(np.zeros(0, dtype=np.intp))) == []


def test_a_light_read_holds_only_the_columns_asked_for_and_screens_alike(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", [S(float(i)) for i in range(1, 101)] + [S(-1.0)])
    light = load_run(run_dir, columns=("ts", "response_time_ms", "kind", "outcome"))
    full = load_run(run_dir)
    assert set(light.samples.num) == {"ts", "response_time_ms"} and set(light.samples.text) == {"kind", "outcome"}
    assert np.array_equal(light.samples["ts"], full.samples["ts"]) and len(light.samples) == 100
    assert light.samples.skipped_rows == full.samples.skipped_rows == ["1 row(s) with a negative response time"]
