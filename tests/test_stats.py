"""Known answers for the statistics: values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crmload.analysis.expr import ExprError, parse_limit
from crmload.analysis.stats import (
    Ranked,
    apdex,
    latency_summary,
    min_samples_for,
    percentile,
    percentile_interval,
    percentile_ranks,
    wilson,
)

ONE_TO_THOUSAND = np.arange(1, 1001, dtype=float)


@pytest.mark.parametrize(
    ("p", "expected"), [(50, 500), (75, 750), (90, 900), (95, 950), (99, 990), (99.9, 999), (100, 1000), (0.01, 1)]
)
def test_nearest_rank_percentiles(p: float, expected: float) -> None:
    # rank ceil(p/100 * 1000) of 1..1000 is the value itself
    assert percentile(ONE_TO_THOUSAND, p) == expected


def test_percentile_of_small_sets() -> None:
    v = np.array([10.0, 20.0, 30.0, 40.0])
    assert percentile(v, 50) == 20.0  # ceil(0.5*4)=2nd
    assert percentile(v, 51) == 30.0  # ceil(2.04)=3rd
    assert percentile(v, 99) == 40.0
    assert math.isnan(percentile(np.array([]), 50))


@pytest.mark.parametrize("seed", range(6))
def test_ranked_gives_the_sorted_value_at_every_rank_asked_in_any_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    # ties and repeated values (whole milliseconds), as recorded latencies have them
    values = np.round(rng.lognormal(3.0, 1.0, n)) if seed % 2 else rng.lognormal(3.0, 1.0, n)
    expected = np.sort(values)
    ranked = Ranked(values)
    asked = [*rng.integers(1, n + 1, 60).tolist(), 1, n]
    for rank in asked:
        assert ranked.at(rank) == expected[rank - 1]
    for p in (50.0, 95.0, 99.0, 99.9):
        assert percentile(ranked, p) == percentile(expected, p)
        assert percentile_interval(ranked, p) == percentile_interval(expected, p)
    assert latency_summary(ranked).percentiles_ms == latency_summary(expected).percentiles_ms
    assert latency_summary(ranked).max_ms == expected[-1]
    assert math.isclose(ranked.mean(), float(expected.mean()), rel_tol=1e-12)
    with pytest.raises(IndexError):
        ranked.at(n + 1)


def test_ranked_leaves_the_callers_values_in_their_order() -> None:
    values = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    ranked = Ranked(values)
    assert [ranked.at(k) for k in (3, 5, 1)] == [3.0, 5.0, 1.0]
    assert values.tolist() == [5.0, 1.0, 4.0, 2.0, 3.0]


def test_median_interval_matches_the_textbook() -> None:
    # n = 100, 95 %: the distribution-free interval of the median is x(40) .. x(61)
    assert percentile_ranks(100, 50, 0.95) == (40, 61)
    ci = percentile_interval(np.arange(1, 101, dtype=float), 50)
    assert (ci.low, ci.high) == (40.0, 61.0)


def test_p99_of_40_samples_has_no_upper_bound() -> None:
    ci = percentile_interval(np.arange(1, 41, dtype=float), 99)
    assert ci.high is None and not ci.bounded


def test_minimum_samples_per_percentile() -> None:
    # five samples above the percentile: p95 needs 100, p99 needs 500, p99.9 needs 5000
    assert (min_samples_for(95), min_samples_for(99), min_samples_for(99.9)) == (100, 500, 5000)


def test_wilson_zero_failures_upper_bound() -> None:
    ci = wilson(0, 100)
    z = 1.959963984540054
    assert ci.low == pytest.approx(0.0, abs=1e-12)
    assert ci.high == pytest.approx(z * z / (100 + z * z))  # 0.036994


def test_wilson_five_percent() -> None:
    ci = wilson(5, 100)
    assert ci.low == pytest.approx(0.02154, abs=1e-4) and ci.high == pytest.approx(0.11175, abs=1e-4)


def test_apdex_by_hand() -> None:
    rt = np.array([100.0, 400.0, 600.0, 1500.0, 2500.0])
    a = apdex(rt, np.zeros(5, dtype=bool), 500.0)
    assert (a.satisfied, a.tolerating, a.score) == (2, 2, pytest.approx(0.6))
    # a failed fast request is frustrated: satisfied 1 (400), tolerating 2 -> (1 + 2/2) / 5 = 0.4
    failed = np.array([True, False, False, False, False])
    assert apdex(rt, failed, 500.0).score == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("p(95) < 3s", "p95", "<", 3000.0),
        ("p(99.9)<=250ms", "p99.9", "<=", 250.0),
        ("p95 < 1.5s", "p95", "<", 1500.0),
        ("rate < 1%", "rate", "<", 0.01),
        ("rate<=0.001", "rate", "<=", 0.001),
        ("count == 0", "count", "==", 0.0),
        ("apdex >= 0.85", "apdex", ">=", 0.85),
        ("avg < 2m", "avg", "<", 120_000.0),
        ("max < 60s", "max", "<", 60_000.0),
    ],
)
def test_k6_expressions(text: str, metric: str, op: str, value: float) -> None:
    lim = parse_limit(text)
    assert (lim.metric, lim.op, lim.value) == (metric, op, pytest.approx(value))


@pytest.mark.parametrize(
    "text", ["p(100) < 3s", "p(95) < 3%", "rate < 3s", "rate < 150%", "p95 3s", "latency < 3s", "apdex >= 0.8s", ""]
)
def test_bad_expressions_say_how_to_fix(text: str) -> None:
    with pytest.raises(ExprError, match=r"fix|out of range|outside|not a"):
        parse_limit(text)


@pytest.mark.parametrize("n", [1, 7, 40, 100, 999, 10_000, 1_000_003])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("prob", [0.025, 0.975])
def test_binomial_quantile_matches_scipy_stats(n: int, q: float, prob: float) -> None:
    from scipy.stats import binom

    from crmload.analysis.stats import binom_ppf

    assert binom_ppf(prob, n, q) == int(binom.ppf(prob, n, q))


def test_binned_percentiles_equal_per_bin_nearest_rank() -> None:
    from crmload.analysis.selection import grouped_percentiles

    rng = np.random.default_rng(1)
    bins = rng.integers(0, 30, 20_000).astype(np.intp)
    values = rng.lognormal(3, 1, 20_000)
    got = grouped_percentiles(bins, values, 31, (50.0, 95.0, 99.0))  # bin 30 stays empty
    for b in range(30):
        mine = np.sort(values[bins == b])
        for p in (50.0, 95.0, 99.0):
            assert got[f"p{p:g}"][b] == percentile(mine, p)  # exact: the same float
    assert np.isnan(got["p50"][30])


@pytest.mark.parametrize("seed", range(4))
def test_grouped_percentiles_equal_a_sort_with_ties_zeros_and_coarse_buckets(seed: int) -> None:
    from crmload.analysis import selection

    rng = np.random.default_rng(seed)
    n = 30_000
    cells = rng.integers(0, 700, n)
    values = rng.lognormal(2, 2.5, n)  # a wide range: many buckets
    values[rng.random(n) < 0.05] = 0.0
    values[:50] = -0.0
    tied = rng.random(n) < 0.3
    values[tied] = np.round(values[tied])  # whole numbers: many ties
    ps = (1.0, 50.0, 95.0, 99.0, 99.9, 100.0)
    old = selection.CHUNK, selection._MAX_CELLS_X_BUCKETS
    try:
        # small slices and a small count table: several slices per pass, buckets coarsened
        selection.CHUNK, selection._MAX_CELLS_X_BUCKETS = 4096, 1 << 14
        got = selection.grouped_percentiles(cells, values, 702, ps)
    finally:
        selection.CHUNK, selection._MAX_CELLS_X_BUCKETS = old
    for c in range(702):
        mine = np.sort(values[cells == c])
        for p in ps:
            want = percentile(mine, p) if len(mine) else math.nan
            assert got[f"p{p:g}"][c] == want or (math.isnan(want) and math.isnan(got[f"p{p:g}"][c]))
