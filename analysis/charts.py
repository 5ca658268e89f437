"""The report's charts (matplotlib, Agg): titles, units, legends, stages shaded, limits drawn as lines.

Each function takes figures already computed (:mod:`analysis.timeline`, :mod:`analysis.tables`)
and returns PNG bytes; nothing here computes a statistic.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from crmload.analysis import capacity
from crmload.analysis import drift as drift_analysis
from crmload.analysis import surge as surge_analysis
from crmload.analysis.run import Stage
from crmload.analysis.timeline import Timeline

COLORS = {"p50": "#2b8cbe", "p95": "#e6550d", "p99": "#a50f15"}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _shade_stages(ax: Axes, stages: Sequence[Stage], t0: float) -> None:
    for i, st in enumerate(stages):
        ax.axvspan(st.start - t0, st.end - t0, color="#f0f0f0" if i % 2 else "#e0ecf4", alpha=0.6, lw=0)
        ax.text(
            st.start - t0, 1.0, f" {st.name}", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="#555555"
        )


def load_over_time(tl: Timeline, stages: Sequence[Stage]) -> bytes:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    _shade_stages(ax, stages, tl.t0)
    ax.plot(tl.start_s, tl.throughput_rps, color="#31a354", label="throughput (requests/s)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("requests/s")
    ax2 = ax.twinx()
    ax2.plot(tl.start_s, tl.users, color="#756bb1", ls="--", label="active users")
    ax2.set_ylabel("users")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="lower right", fontsize=8)
    ax.set_title("Users and throughput over time (stages shaded)")
    return _png(fig)


def latency_over_time(series: dict[str, Timeline], stages: Sequence[Stage], limit_ms: float | None) -> bytes:
    """p50/p95/p99 per persona over time; ``limit_ms`` drawn as a line (e.g. the p95 limit)."""
    n = max(1, len(series))
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.1 * n + 0.6), sharex=True, squeeze=False)
    for ax, (persona, tl) in zip(axes[:, 0], sorted(series.items()), strict=False):
        _shade_stages(ax, stages, tl.t0)
        for key, values in tl.percentiles_ms.items():
            ax.plot(tl.start_s, values, color=COLORS.get(key), label=key, lw=1.2)
        if limit_ms is not None:
            ax.axhline(limit_ms, color="black", ls=":", lw=1, label=f"PERF-RT-01 p95 limit {limit_ms:g} ms")
        ax.set_ylabel(f"{persona}\nms")
        ax.set_yscale("log")
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("time since start (s)")
    axes[0, 0].set_title("Latency percentiles over time per persona (successful requests, log scale)")
    return _png(fig)


def errors_over_time(tl: Timeline, stages: Sequence[Stage], limit: float | None) -> bytes:
    fig, ax = plt.subplots(figsize=(9, 2.8))
    _shade_stages(ax, stages, tl.t0)
    ax.plot(tl.start_s, 100.0 * tl.failure_rate, color="#de2d26", label="failure rate")
    if limit is not None:
        ax.axhline(100.0 * limit, color="black", ls=":", lw=1, label=f"limit {100 * limit:g} %")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("% of requests")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Failure rate over time")
    return _png(fig)


def latency_distribution(per_operation: dict[str, dict[str, float]]) -> bytes:
    """One box per operation (box p25–p75, line p50, whiskers p1–p99), operations sorted by median."""
    items = sorted(per_operation.items(), key=lambda kv: kv[1]["p50"])
    fig, ax = plt.subplots(figsize=(9, 0.28 * max(4, len(items)) + 1))
    if items:
        stats = [
            {
                "label": f"{op} (n={int(st['n'])})",
                "whislo": st["p1"],
                "q1": st["p25"],
                "med": st["p50"],
                "q3": st["p75"],
                "whishi": st["p99"],
                "fliers": [],
            }
            for op, st in items
        ]
        ax.bxp(stats, orientation="horizontal", showfliers=False)
        ax.set_xscale("log")
    ax.set_xlabel("response time of successful requests in the steady state (ms, log scale)")
    ax.set_title("Latency distribution per operation (box: p25–p75, whiskers: p1–p99)")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def latency_vs_concurrency(users: np.ndarray, p95_ms: np.ndarray, throughput: np.ndarray) -> bytes:
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    keep = np.isfinite(users) & np.isfinite(p95_ms)
    sc = ax.scatter(users[keep], p95_ms[keep], c=throughput[keep], cmap="viridis", s=14)
    fig.colorbar(sc, ax=ax, label="requests/s")
    ax.set_xlabel("active users")
    ax.set_ylabel("p95 latency (ms)")
    ax.set_title("Latency against concurrency (one dot per time bin)")
    return _png(fig)


def staircase(cap: capacity.Capacity) -> bytes:
    """Throughput and p95 against users per step; ceiling, knee and the fitted USL curve marked."""
    users = np.array([s.users for s in cap.steps], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    colors = ["#2e7d32" if s.status == "PASS" else "#c62828" if s.status == "FAIL" else "#ef6c00" for s in cap.steps]
    ax.plot(users, [s.throughput_rps for s in cap.steps], color="#31a354", lw=1, zorder=1)
    ax.scatter(
        users, [s.throughput_rps for s in cap.steps], c=colors, zorder=2, label="throughput (step verdict colour)"
    )
    if cap.usl is not None:
        grid = np.linspace(1.0, max(users.max(), 1.0) * 1.25, 200)
        ax.plot(grid, cap.usl.predict(grid), color="#888888", ls=":", label="USL fit")
    ax.set_xlabel("users")
    ax.set_ylabel("successful requests/s")
    ax2 = ax.twinx()
    ax2.plot(users, [s.p95_ms for s in cap.steps], color=COLORS["p95"], marker="s", ms=4, label="p95 (ms)")
    ax2.set_ylabel("p95 (ms)")
    if cap.ceiling_users is not None:
        ax.axvline(cap.ceiling_users, color="#2e7d32", ls="--", lw=1.2, label=f"ceiling {cap.ceiling_users} users")
    if cap.knee_users is not None:
        ax.axvline(cap.knee_users, color="#756bb1", ls="-.", lw=1, label=f"knee {cap.knee_users} users")
    lines, labels = ax.get_legend_handles_labels()
    lines2, labels2 = ax2.get_legend_handles_labels()
    ax.legend(lines + lines2, labels + labels2, loc="upper left", fontsize=8)
    ax.set_title("Staircase: throughput and p95 against users")
    return _png(fig)


def surge(found: surge_analysis.Surge) -> bytes:
    """Rolling p95 and failure rate around the surge, its window shaded, recovery marked."""
    rec = found.recovery
    t = np.asarray(rec.t)
    fig, (ax, ax_err) = plt.subplots(2, 1, figsize=(9, 4.4), sharex=True)
    ax.axvspan(found.start - found.end, 0.0, color="#fde0dd", alpha=0.7, lw=0, label="surge")
    ax.plot(t, rec.p95_ms, color=COLORS["p95"], label=f"rolling p95 ({rec.window_s:g} s window)")
    if rec.p95_limit_ms is not None:
        ax.axhline(rec.p95_limit_ms, color="#c62828", ls="--", lw=1, label="p95 limit")
    ax.set_ylabel("ms")
    ax_err.axvspan(found.start - found.end, 0.0, color="#fde0dd", alpha=0.7, lw=0)
    ax_err.plot(t, np.asarray(rec.failure_rate) * 100, color="#c62828", label="rolling failure rate")
    if rec.rate_limit is not None:
        ax_err.axhline(rec.rate_limit * 100, color="#c62828", ls="--", lw=1, label="failure-rate limit")
    ax_err.set_ylabel("%")
    ax_err.set_xlabel("seconds since the surge ended")
    if rec.seconds is not None:
        for a in (ax, ax_err):
            a.axvline(rec.seconds, color="#2e7d32", lw=1.5, label=f"recovered after {rec.seconds:.0f} s")
    ax.legend(fontsize=8, loc="upper right")
    ax_err.legend(fontsize=8, loc="upper right")
    ax.set_title("Surge and recovery")
    return _png(fig)


def drift(trends: Sequence[drift_analysis.Trend]) -> bytes:
    fig, axes = plt.subplots(len(trends), 1, figsize=(9, 2.2 * len(trends) + 0.4), sharex=True, squeeze=False)
    for ax, tr in zip(axes[:, 0], trends, strict=True):
        t = np.asarray(tr.t)
        scale = 100.0 if tr.metric == "failure_rate" else 1.0
        ax.plot(t, np.asarray(tr.values) * scale, marker=".", color="#2b8cbe", label=tr.metric)
        if np.isfinite(tr.slope_per_s):
            ax.plot(t, (tr.start_level + tr.slope_per_s * t) * scale, color="#c62828" if tr.drift else "#888888",
                    ls="--", label="Theil–Sen trend" + (" (drift)" if tr.drift else ""))  # fmt: skip
        ax.set_ylabel("%" if tr.metric == "failure_rate" else "p95 (ms)")
        ax.legend(fontsize=8, loc="upper left")
    axes[-1, 0].set_xlabel("seconds into the judged window")
    axes[0, 0].set_title("Drift over the run")
    return _png(fig)
