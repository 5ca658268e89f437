"""Figures over time and over load: the numbers behind the report's charts (pure numpy, no plotting).

Time is cut into equal bins (about 120 over the run, at least one second each). Per bin: request
count, throughput, failure rate, active users, and nearest-rank percentiles of the successful
requests' latency — exact, from every sample in the bin, never from a sample of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.frame import Codes, Samples
from crmload.analysis.selection import CHUNK, percentiles_of_parts


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
    """Per-bin figures of the ``mask`` rows for each group code, a slice of the rows at a time
    (percentiles exact, by :func:`crmload.analysis.selection.percentiles_of_parts`)."""
    span = max(1.0, t1 - t0)
    bin_s = max(1.0, math.ceil(span / target_bins))
    n_bins = max(1, math.ceil(span / bin_s))
    ts = s["ts"]
    size = n_groups * n_bins

    def slices() -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """(row numbers, cell keys) of the counted rows, a slice of the run at a time."""
        for a in range(0, len(ts), CHUNK):
            t = ts[a : a + CHUNK]
            rows = np.flatnonzero(mask[a : a + CHUNK] & (t >= t0) & (t < t0 + n_bins * bin_s)) + a
            key = ((ts[rows] - t0) // bin_s).astype(np.intp)
            key += codes[rows].astype(np.intp) * n_bins
            yield rows, key

    requests = np.zeros(size, dtype=np.int64)
    failures = np.zeros(size, dtype=np.int64)
    users_sum = np.zeros(size)
    for rows, key in slices():
        requests += np.bincount(key, minlength=size)
        failures += np.bincount(key[failed[rows]], minlength=size)
        users_sum += np.bincount(key, weights=s["users"][rows], minlength=size)

    def good() -> Iterator[tuple[NDArray[np.intp], NDArray[np.float64]]]:
        for rows, key in slices():
            ok_rows = ok[rows]
            yield key[ok_rows], latency[rows[ok_rows]]

    # the whole column's range bounds the counted values': the slices are made twice, not three times
    bounds = (float(np.min(latency)), float(np.max(latency))) if len(latency) else None
    pct = percentiles_of_parts(good, size, (50.0, 95.0, 99.0), bounds)
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
    """One :class:`Timeline` per label of ``by`` (e.g. persona), from one pass for all of them."""
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
