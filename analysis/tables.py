"""Per-scope statistics tables (operation, persona, journey, stage): the numbers behind a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.stats import PERCENTILES, latency_summary, pct_key, wilson


@dataclass(frozen=True)
class Row:
    scope: str
    key: str
    n: int
    throughput_rps: float
    percentiles_ms: dict[str, float]
    max_ms: float
    co_p99_ms: float | None  # coordinated-omission-corrected p99 (open model), None for closed
    failures: int
    failure_rate: float
    failure_rate_high: float | None
    outcomes: dict[str, int]
    server_p50_ms: float | None


def scope_table(
    df: pd.DataFrame, by: str, window_s: float | dict[str, float], failure_outcomes: list[str], confidence: float = 0.95
) -> list[Row]:
    """One row per value of ``by``; latency percentiles of successful samples, rates of all.

    ``window_s``: the seconds the rows' samples span (one figure, or one per key) for throughput.
    """
    rows: list[Row] = []
    if len(df) == 0:
        return rows
    for key, g in df.groupby(by, observed=True, sort=True):
        ok = g["outcome"].to_numpy() == "ok"
        rt = g["response_time_ms"].to_numpy(dtype=float)
        lag = g["schedule_lag_ms"].to_numpy(dtype=float)
        summ = latency_summary(np.sort(rt[ok]))
        has_lag = bool(np.isfinite(lag).any())
        co = None
        if has_lag:
            corrected = np.sort((rt + np.nan_to_num(lag, nan=0.0))[ok])
            co = latency_summary(corrected).percentiles_ms["p99"]
        outcomes = {str(k): int(v) for k, v in g["outcome"].value_counts().items() if v}
        failures = int(g["outcome"].isin(failure_outcomes).sum())
        ci = wilson(failures, len(g), confidence)
        srv = g["server_ms"].to_numpy(dtype=float)
        srv = srv[ok & np.isfinite(srv)]
        span = window_s.get(str(key), 0.0) if isinstance(window_s, dict) else window_s
        rows.append(
            Row(
                by,
                str(key),
                len(g),
                len(g) / span if span > 0 else math.nan,
                summ.percentiles_ms,
                summ.max_ms,
                co,
                failures,
                failures / len(g),
                ci.high,
                outcomes,
                float(np.median(srv)) if len(srv) else None,
            )
        )
    return rows


PCT_COLUMNS = [pct_key(p) for p in PERCENTILES]
