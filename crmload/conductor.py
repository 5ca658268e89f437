"""The conductor: ends held stages once decided and steers a ceiling search, from the run's files.

It runs in the ``crmload run`` process beside the Locust child, reads what the run writes
(``stages.json``, the sample segments) and writes its decisions to ``control.json``, which the load
shape applies (:mod:`crmload.core.control`). A Locust process never judges: judging would stall the
event loop that times the requests.

**Held stages** (``hold: until-decided``). Looks are planned in steady seconds: the first at the
stage's ``duration`` less its warm-up, then doubling, the last at ``max`` less its warm-up; K looks
in all. Each look judges the stage's steady samples so far at confidence ``1 − α/K``
(:mod:`crmload.analysis.sequential`: Bonferroni over the K looks, so the stage's decision is wrong
with probability at most α whichever look makes it). The stage ends at the first look at which it
is decided, else at its last; ``stages.json`` records the looks, the deciding look and the level,
and the verdict judges the stage at that level on exactly the samples of that look.

**A capacity step is decided** when it shows a breach (a clause FAILs) or passes: the ceiling's
clauses (:func:`crmload.analysis.capacity.ceiling_clauses`) and every limit the step can bound
show compliance, and the limits it cannot bound even at its longest show no breach.

**Ceiling search** (``search:``). The staircase climbs as planned until a step breaks. Then each
next step lies halfway between the highest passing and the lowest broken load, replacing the rest
of the staircase, until the gap is at most ``resolution`` of the passing load; then the run ends.
A step that cannot be decided ends the search: it ends what can be claimed. ``budget``: the run
ends when it has lasted that long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crmload.analysis.capacity import judge_step, step_clause_ids, step_thresholds
from crmload.analysis.run import load_run, stage_of
from crmload.analysis.sequential import look_confidence
from crmload.analysis.thresholds import Thresholds
from crmload.analysis.verdict import FAIL, PASS
from crmload.core.control import Decision, write_decisions
from crmload.core.errors import RunError
from crmload.core.rundir import RunStatus, StageRecord, read_stages
from crmload.core.scenario import Scenario, Stage

FLUSH_S = 1.5  # the capture writes samples once a second: a look waits this long past its cut


@dataclass
class _Step:
    users: int
    status: str


@dataclass
class Conductor:
    run_dir: Path
    scenario: Scenario
    thresholds: Thresholds
    judge_ids: list[str] | None = None
    stages: list[Stage] = field(default_factory=list)  # the timeline's stages, as the shape has them
    decisions: list[Decision] = field(default_factory=list)
    steps: list[_Step] = field(default_factory=list)
    _look: dict[int, int] = field(default_factory=dict)  # stage -> index of its next look
    _started: float | None = None

    def __post_init__(self) -> None:
        self.stages = list(self.scenario.stages)
        wanted = set(self.judge_ids or self.scenario.judge or []) or None
        self._step_ids = step_clause_ids(self.thresholds, wanted)
        # a staircase's steps are judged as the capacity analysis judges them; any other held stage
        # as the verdict will judge it
        capacity = self.scenario.kind == "capacity"
        self._per_step = step_thresholds(self.thresholds) if capacity else self.thresholds
        # a staircase's steps must show its ceiling's clauses compliant; any other held stage all of them
        ceiling = self.thresholds.ceiling_clauses(self.scenario.ceiling_clauses)
        self._defining = ceiling if capacity else set(self._step_ids)

    @property
    def decided(self) -> set[int]:
        return {d.stage for d in self.decisions}

    def awaits(self, index: int) -> bool:
        return self.stages[index].decided_as_it_runs(self.scenario.search is not None)

    def poll(self, now: float | None = None) -> str | None:
        """Judge the current stage if a look is due; a line saying what was decided, or None."""
        now = time.time() if now is None else now
        records = read_stages(self.run_dir)
        if not records or records[-1].end is not None:
            return None
        cur = records[-1]
        self._started = self._started or records[0].start
        i = cur.index
        if i in self.decided or i >= len(self.stages):
            return None
        budget = self.scenario.budget
        if budget is not None and now - self._started >= budget:
            record: dict[str, Any] = {"budget_s": budget}
            stage = self.stages[i]
            if stage.held:  # looked at already: judged at the looks' level, the budget's cut as its last look
                looks = len(stage.look_seconds(self.scenario.warmup_s(stage)))
                record.update(looks=looks, confidence=self._level(looks), decided=False)
            return self._decide(i, now, record, None, True, f"budget of {budget:g} s reached: the run ends")
        if not self.awaits(i):
            return None
        return self._look_at(cur, i, now)

    def _look_at(self, cur: StageRecord, i: int, now: float) -> str | None:
        stage = self.stages[i]
        warmup = self.scenario.warmup_s(stage)
        looks = stage.look_seconds(warmup)  # one look, after its duration, for a step that is not held
        k = self._look.get(i, 0)
        cut = cur.start + warmup + looks[k]
        if now < cut + FLUSH_S:
            return None
        level = self._level(len(looks))
        status = self._judge(cur, cut, level)
        last = k == len(looks) - 1
        if status not in (PASS, FAIL) and not last:
            self._look[i] = k + 1
            return None
        record: dict[str, Any] = {"looks": len(looks), "look": k + 1, "confidence": level}
        record.update(decided=status in (PASS, FAIL), step_status=status)
        nxt, stop, why = self._next(i, stage, status)
        what = f"look {k + 1} of {len(looks)} at {looks[k]:.0f} s steady"
        return self._decide(i, cut, record, nxt, stop, f"stage {stage.name}: {status} at {what}{why}")

    def _level(self, looks: int) -> float:
        return look_confidence(self._per_step.defaults.confidence, looks)

    def _judge(self, cur: StageRecord, cut: float, level: float) -> str:
        try:
            run = load_run(self.run_dir, live=True)
        except RunError:
            return "INCONCLUSIVE"
        # a look judges a run in progress as if it ended at the cut
        run = replace(run, meta=run.meta.model_copy(update={"status": RunStatus.COMPLETED}), has_meta=True)
        st = replace(stage_of(cur, {}, cut), judged=True, confidence=level)
        step, _thin = judge_step(run, st, self._per_step, self._step_ids, self._defining)
        return step.status

    def _next(self, i: int, stage: Stage, status: str) -> tuple[list[Stage] | None, bool, str]:
        """What follows a decided stage: (the stages after it, or None for the plan; stop; why)."""
        search = self.scenario.search
        if search is None or not (stage.judged and stage.users > 0):
            return None, False, ""
        self.steps.append(_Step(stage.users, status))
        broken = [s.users for s in self.steps if s.status == FAIL]
        if status not in (PASS, FAIL):
            return None, True, ": undecided, the search ends here"
        if not broken:
            return None, False, ""
        hi = min(broken)
        passing = [s.users for s in self.steps if s.status == PASS and s.users < hi]
        if not passing:
            return None, True, f": the first step broke, the ceiling is below {hi} users"
        lo = max(passing)
        if search.resolved(lo, hi):
            return None, True, f": ceiling {lo} users, next tested {hi} broke (resolution {(hi - lo) / lo:.0%})"
        mid = search.midpoint(lo, hi)
        template = next((s for s in reversed(self.stages[: i + 1]) if s.users == hi), stage)
        refine = template.model_copy(update={"name": f"refine-u{mid}", "users": mid})
        return [refine], False, f": refining between {lo} and {hi} users, next {mid}"

    def _decide(
        self, i: int, cut: float, record: dict[str, Any], nxt: list[Stage] | None, stop: bool, line: str
    ) -> str:
        if nxt is not None:
            self.stages = self.stages[: i + 1] + nxt
        d = Decision(
            seq=len(self.decisions) + 1,
            stage=i,
            cut=cut,
            record=record,
            next=None if nxt is None else [s.model_dump(mode="json") for s in nxt],
            stop=stop,
        )
        self.decisions.append(d)
        write_decisions(self.run_dir, self.decisions)
        return line
