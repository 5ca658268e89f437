"""Figures over time and over load: the numbers behind the report's charts (pure numpy, no plotting).

Time is cut into equal bins (about 120 over the run, at least one second each). Per bin: request
count, throughput, failure rate, active users, and nearest-rank percentiles of the successful
requests' latency — exact, from every sample in the bin, never from a sample of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.frame import Codes, Samples


@dataclass(frozen=True)
class Timeline:
    t0: float
    bin_s: float
    start_s: NDArray[np.float64]  # bin starts, seconds since t0
    requests: NDArray[np.int64]
    failures: NDArray[np.int64]
    users: NDArray[np.float64]
    percentiles_ms: dict[str, NDArray[np.float64]]  # "p50" ... per bin, NaN where a bin has no success

    @property
    def throughput_rps(self) -> NDArray[np.float64]:
        return self.requests / self.bin_s

    @property
    def failure_rate(self) -> NDArray[np.float64]:
        with np.errstate(invalid="ignore", divide="ignore"):
            rate: NDArray[np.float64] = np.where(self.requests > 0, self.failures / self.requests, np.nan)
        return rate


def binned_percentiles(
    bins: NDArray[np.intp], values: NDArray[np.float64], n_bins: int, ps: tuple[float, ...]
) -> dict[str, NDArray[np.float64]]:
    """Nearest-rank percentiles of ``values`` within each bin, from one sort.

    The sort key is ``bin * scale + value`` with ``scale`` above every value, so one plain float sort
    orders by bin, then value (several times faster than a two-key lexsort on ten million rows).
    """
    counts = np.bincount(bins, minlength=n_bins)
    out: dict[str, NDArray[np.float64]] = {}
    if len(values) == 0:
        return {f"p{p:g}": np.full(n_bins, np.nan) for p in ps}
    scale = float(np.nanmax(values)) + 1.0
    keys = bins.astype(np.float64)  # built and sorted in place: one array the size of ``values``
    keys *= scale
    keys += values
    keys.sort()
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for p in ps:
        rank = np.maximum(1, np.ceil(p / 100.0 * counts - 1e-9)).astype(np.int64)
        idx = np.clip(starts + rank - 1, 0, len(keys) - 1)
        vals = keys[idx] - np.arange(n_bins) * scale
        out[f"p{p:g}"] = np.where(counts > 0, vals, np.nan)
    return out


def window_bins(
    ts: NDArray[np.float64], windows: list[tuple[float, float]], width: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Cut each window ``(start, end)`` into whole bins of ``width`` seconds, numbered on from one
    window to the next; a window's last partial bin is left out (it would weigh its samples wrongly).

    Returns each timestamp's bin (-1 outside every bin) and the bins' centres, in seconds of the
    windows laid end to end.
    """
    bin_of = np.full(len(ts), -1, dtype=np.int64)
    centres: list[float] = []
    offset = 0.0
    for start, end in windows:
        k = math.floor((end - start) / width)
        index = np.floor((ts - start) / width)
        inside = (index >= 0) & (index < k)
        bin_of[inside] = len(centres) + index[inside].astype(np.int64)
        centres += [offset + (i + 0.5) * width for i in range(k)]
        offset += end - start
    return bin_of, np.asarray(centres, dtype=np.float64)


def _timelines(
    s: Samples,
    mask: NDArray[np.bool_],
    codes: Codes,
    n_groups: int,
    failed: NDArray[np.bool_],
    ok: NDArray[np.bool_],
    latency: NDArray[np.float64],
    t0: float,
    t1: float,
    target_bins: int,
) -> list[Timeline]:
    """Per-bin figures of the ``mask`` rows for each group code, from one sort."""
    span = max(1.0, t1 - t0)
    bin_s = max(1.0, math.ceil(span / target_bins))
    n_bins = max(1, math.ceil(span / bin_s))
    ts = s["ts"]
    rows = np.flatnonzero(mask & (ts >= t0) & (ts < t0 + n_bins * bin_s))
    key = ((ts[rows] - t0) // bin_s).astype(np.intp)
    key += codes[rows].astype(np.intp) * n_bins
    size = n_groups * n_bins
    requests = np.bincount(key, minlength=size).astype(np.int64)
    failures = np.bincount(key, weights=failed[rows], minlength=size).astype(np.int64)
    users_sum = np.bincount(key, weights=s["users"][rows], minlength=size)
    good = ok[rows]
    pct = binned_percentiles(key[good], latency[rows[good]], size, (50.0, 95.0, 99.0))
    starts: NDArray[np.float64] = np.arange(n_bins, dtype=np.float64) * bin_s
    out: list[Timeline] = []
    for group in range(n_groups):
        sl = slice(group * n_bins, (group + 1) * n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            users = np.where(requests[sl] > 0, users_sum[sl] / requests[sl], np.nan)
        out.append(Timeline(t0, bin_s, starts, requests[sl], failures[sl], users, {k: v[sl] for k, v in pct.items()}))
    return out


def grouped_timelines(
    s: Samples,
    mask: NDArray[np.bool_],
    by: str,
    failed: NDArray[np.bool_],
    ok: NDArray[np.bool_],
    latency: NDArray[np.float64],
    t0: float,
    t1: float,
    target_bins: int = 120,
) -> dict[str, Timeline]:
    """One :class:`Timeline` per label of ``by`` (e.g. persona), from one sort for all of them."""
    text = s.t(by)
    found = _timelines(s, mask, text.codes, len(text.labels) + 1, failed, ok, latency, t0, t1, target_bins)
    return {label: tl for label, tl in zip(text.labels, found, strict=False) if tl.requests.sum() > 0}


def timeline(
    s: Samples,
    mask: NDArray[np.bool_],
    failed: NDArray[np.bool_],
    ok: NDArray[np.bool_],
    latency: NDArray[np.float64],
    t0: float,
    t1: float,
    target_bins: int = 120,
) -> Timeline:
    """Per-bin figures of all the ``mask`` rows between ``t0`` and ``t1``."""
    return _timelines(s, mask, np.zeros(len(mask), dtype=np.uint8), 1, failed, ok, latency, t0, t1, target_bins)[0]
