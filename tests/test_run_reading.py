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
    make_run(tmp_path / "run", 300_000)  # ~38 MB: many blocks, each with its own dictionary
    run = load_run(tmp_path / "run")
    ref = pd.read_csv(tmp_path / "run" / "samples.csv")
    ops = run.samples.t("operation")
    assert {label: int(m.sum()) for label, m in ops.groups()} == ref["operation"].value_counts().to_dict()
    personas = run.samples.t("persona")
    for label, m in personas.groups():
        expected = ref.loc[ref["persona"] == label, "response_time_ms"].to_numpy()
        assert np.array_equal(run.samples["response_time_ms"][m], expected)
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
