"""A run's samples prepared for analysis: the steady window, the probes, outcomes, latencies, groups.

Judging a clause (:mod:`crmload.analysis.verdict`), comparing two runs
(:mod:`crmload.analysis.compare`), the capacity, surge and drift analyses and the report all start
from the same view of a run: which rows are in the steady-state window, which are access-control
probes, which failed (by the standard's failure outcomes, or the default set when there is no
standard, as in a comparison), each row's latency corrected for coordinated omission, and the
order statistics of a group's latencies. :class:`Prepared` computes each once, as numpy columns, and needs no
standard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from crmload.analysis.frame import Rows, split_rows
from crmload.analysis.run import RunData, steady_mask, window_seconds
from crmload.analysis.stats import Ranked
from crmload.core.rundir import DEFAULT_FAILURE_OUTCOMES, Kind, Outcome

Mask = NDArray[np.bool_]


class Selection(Protocol):
    """Which samples to pick (a clause's ``select``); empty fields pick everything."""

    @property
    def operations(self) -> Sequence[str]: ...
    @property
    def persona(self) -> Sequence[str]: ...
    @property
    def journey(self) -> Sequence[str]: ...
    @property
    def stage(self) -> Sequence[str]: ...
    @property
    def kind(self) -> str: ...


class Prepared:
    """One run's samples, prepared. Build once per run (and per set of failure outcomes).

    Attributes (numpy columns over every row of ``run.samples``):

    - ``window``: inside a judged stage's steady-state window, and not a probe;
    - ``probes``: rows of access-control probe journeys (``probe.*``): judged by SEC-AC-01 alone;
    - ``kind``: the ``kind`` text column; ``requests``: steady-window requests;
    - ``failed`` / ``ok``: the outcome counts as a failure / is ``ok``;
    - ``latency``: response time plus schedule lag (coordinated-omission correction), ms.
    """

    def __init__(self, run: RunData, failure_outcomes: Iterable[str] | None = None) -> None:
        self.run = run
        self.s = s = run.samples
        self.failure_outcomes = sorted(str(o) for o in (failure_outcomes or DEFAULT_FAILURE_OUTCOMES))
        self.window_s = window_seconds(run)
        journeys = s.t("journey")
        self.probes: Mask = journeys.mask([label for label in journeys.labels if label.startswith("probe.")])
        self.window: Mask = steady_mask(run) & ~self.probes  # ANDed into every selection: no copy of the rows
        self.kind = s.t("kind")
        outcome = s.t("outcome")
        self.failed: Mask = outcome.mask(self.failure_outcomes)
        self.ok: Mask = outcome.eq(Outcome.OK)
        lag = s["schedule_lag_ms"]
        self.has_lag: Mask = np.isfinite(lag)
        rt = s["response_time_ms"]
        # a run without schedule lag (closed model only) has its response times as latencies: no copy
        self.latency: NDArray[np.float64] = rt
        if self.has_lag.any():
            self.latency = np.where(self.has_lag, lag, 0.0)
            self.latency += rt  # the lag plus the response time, added in place: one array
        self.requests: Mask = self.kind.eq(Kind.REQUEST) & self.window
        # open-model arrivals that never started (later than max_lag): their latency is at least
        # their lag, the one figure known of them; they enter the corrected figures as such
        self.dropped: Mask = self.kind.eq(Kind.DROPPED) & self.window
        self._ranked: dict[bytes, Ranked] = {}
        self._ranked_values = 0
        self._dropped_rows: Rows | None = None

    def all_requests(self) -> Mask:
        """Every request of the run but the probes, whatever its window (charts show the whole run)."""
        return self.kind.eq(Kind.REQUEST) & ~self.probes

    def select(self, sel: Selection) -> Mask:
        """Mask of the steady-window samples ``sel`` picks."""
        s = self.s
        mask = self.kind.eq(sel.kind) & self.window
        if sel.operations:
            mask &= s.t("operation").mask(sel.operations)
        if sel.persona:
            mask &= s.t("persona").mask(sel.persona)
        if sel.journey:
            mask &= s.t("journey").mask(sel.journey)
        if sel.stage:
            idx = [st.index for st in self.run.stages if st.name in sel.stage]
            mask &= np.isin(s["stage"], idx)
        return mask

    def select_rows(self, sel: Selection) -> Rows:
        """The rows :meth:`select` picks, as row numbers."""
        return np.flatnonzero(self.select(sel))

    def group_rows(self, rows: Rows, per: str) -> Iterator[tuple[str, Rows]]:
        """(label, rows) per group of ``per`` among ``rows``, from one stable sort of their keys:
        a group costs its own size, not a pass over every row of the run."""
        if per != "stage":
            yield from self.s.t(per).group_rows(rows)
            return
        for value, group in split_rows(rows, self.s["stage"][rows]):
            yield str(value), group

    def dropped_rows(self, rows: Rows) -> Rows:
        """The dropped arrivals that belong with the open-model requests among ``rows``: every
        dropped arrival of each open persona they hold requests of (which journey, and so which
        operation, a dropped arrival would have run is unknown: each group that could hold it counts
        it, which can only raise a percentile, never lower one)."""
        if self._dropped_rows is None:
            self._dropped_rows = np.flatnonzero(self.dropped)
        if len(self._dropped_rows) == 0 or len(rows) == 0:
            return self._dropped_rows[:0]
        persona = self.s.t("persona")
        open_rows = rows[self.has_lag[rows]]
        if len(open_rows) == 0:
            return self._dropped_rows[:0]
        present = np.unique(persona.codes[open_rows])
        return self._dropped_rows[np.isin(persona.codes[self._dropped_rows], present)]

    def ok_ranked(self, rows: Rows) -> Ranked:
        """The latencies of the successful rows among ``rows`` and of the dropped arrivals that belong
        with them (:meth:`dropped_rows`, at their lag), as order statistics (:class:`Ranked`: the
        value at any rank, found by selection rather than a sort).

        One per distinct set of rows, shared by whoever asks (the verdict's clauses, the tables):
        cached under a digest of the row numbers, the oldest dropped first once the cache holds as
        many values as the run has rows."""
        key = hashlib.blake2b(rows.tobytes(), digest_size=16).digest()
        found = self._ranked.get(key)
        if found is None:
            chosen = rows[self.ok[rows]]
            extra = self.dropped_rows(rows)
            if len(extra):
                chosen = np.union1d(chosen, extra)
            found = Ranked(self.latency[chosen], own=True)
            self._ranked[key] = found
            self._ranked_values += len(found)
            while self._ranked_values > max(len(self.s), 1) and len(self._ranked) > 1:
                oldest = next(iter(self._ranked))
                self._ranked_values -= len(self._ranked.pop(oldest))
        return found
