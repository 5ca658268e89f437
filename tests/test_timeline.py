"""The run's timeline (held stages, a ceiling search's steps), the scenario fields that drive it, and
how a capacity step is decided from its clause results — worked by hand."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from crmload.analysis.capacity import Step, ceiling_of, step_status
from crmload.analysis.verdict import FAIL, INCONCLUSIVE, PASS, Result
from crmload.core.scenario import Scenario, Stage
from crmload.core.timeline import Timeline

PERSONAS = {"sales": {"weight": 1}}


def _scenario(*stages: dict[str, object], **extra: object) -> Scenario:
    return Scenario.model_validate({"name": "t", "personas": PERSONAS, "stages": list(stages), **extra})


def test_a_timeline_follows_the_plan_and_the_conductor() -> None:
    sc = _scenario(
        {"name": "a", "users": 1, "duration": 10},
        {"name": "b", "users": 2, "duration": 5, "hold": "until-decided", "max": 40},
        {"name": "c", "users": 3, "duration": 10},
    )
    plain = Timeline.of(sc)  # no conductor: a held stage runs for its max
    assert plain.at(9.9) == (0, sc.stages[0]) and plain.at(10)[0] == 1  # type: ignore[index]
    assert plain.at(49.9)[0] == 1 and plain.at(50)[0] == 2 and plain.at(60) is None  # type: ignore[index]
    tl = Timeline.of(sc, awaited=True)  # with one: it runs until ended
    assert tl.end_s(1) == math.inf and tl.at(10_000)[0] == 1  # type: ignore[index]
    tl.end_stage(1, 23.0)
    assert tl.at(22.9)[0] == 1 and tl.at(23.0)[0] == 2 and tl.start_s(2) == 23.0 and tl.at(33.0) is None  # type: ignore[index]
    tl.end_stage(1, 99.0)  # a stage ends once
    assert tl.start_s(2) == 23.0
    refine = Stage(name="r", users=7, duration=5)
    tl.replace_after(0, [refine])  # a search replaces what follows
    assert [s.name for s in tl.stages] == ["a", "r"] and 1 not in tl.ended
    tl.stop(12.0)
    assert tl.at(11.9)[0] == 1 and tl.at(12.0) is None  # type: ignore[index]


def test_a_timeline_crosses_processes_in_wall_time() -> None:
    sc = _scenario({"name": "a", "users": 1, "duration": 5, "hold": "until-decided", "max": 60})
    master = Timeline.of(sc, awaited=True)
    master.end_stage(0, 17.5)
    # the worker started its clock 0.25 s after the master: the same wall moment is 17.25 s for it
    worker = Timeline.from_data(master.to_data(1000.0), 1000.25)
    assert worker.ended == {0: pytest.approx(17.25)} and worker.awaited and worker.version == master.version
    assert worker.stages == master.stages


@pytest.mark.parametrize(
    ("stage", "problem"),
    [
        ({"hold": "until-decided"}, "needs a max"),
        ({"hold": "until-decided", "max": 5}, "shorter than duration"),
        ({"max": 60}, "only read with hold: until-decided"),
    ],
)
def test_a_held_stage_needs_a_max_at_least_its_duration(stage: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _scenario({"name": "a", "users": 1, "duration": 10, **stage})


def test_looks_double_from_duration_to_max() -> None:
    st = Stage(name="a", users=1, duration=90, hold="until-decided", max=210)
    assert st.look_seconds(30.0) == [60.0, 120.0, 180.0]
    assert Stage(name="b", users=1, duration=10, hold="until-decided", max=10).look_seconds(0.0) == [10.0]


def test_a_search_adds_at_most_the_bisections_of_its_widest_gap() -> None:
    stages = [{"name": f"u{u}", "users": u, "duration": 60} for u in (10, 20, 40)]
    sc = _scenario(*stages, kind="capacity", search={"resolution": "10%"}, budget="1h")
    # 20 → 40: 30, 25, 22 (gap 2 <= 10 % of 20); the worst case is every refinement breaking
    assert sc.refinements() == 3
    assert sc.worst_case_s == 6 * 60 and sc.longest_duration_s == 360
    assert _scenario(*stages, kind="capacity", search={"resolution": "10%"}, budget="4m").longest_duration_s == 240
    with pytest.raises(ValidationError, match="search is read only with kind: capacity"):
        _scenario(*stages, search={"resolution": 0.1})


def _r(cid: str, status: str, limit: str, samples: int, metric: str = "p95", parts: tuple[Result, ...] = ()) -> Result:
    return Result(cid, cid, status, "all", metric, 1.0, limit, 0.0, None, samples, "", parts)


def test_a_step_passes_on_its_ceiling_clauses_and_no_breach_of_what_it_cannot_bound() -> None:
    rt = _r("PERF-RT-01", PASS, "p(95) < 3s", 150)
    thin_rate = _r("CLS-READ", INCONCLUSIVE, "rate <= 0.1%", 1200, "rate")  # needs 3,838 at 95 %
    status, thin = step_status([rt, thin_rate], 1.0, 5, 0.95, {"PERF-RT-01"})
    assert status == PASS and thin == {"CLS-READ": ["rate <= 0.1% all"]}
    # held to its longest the step would have got 4 x 1,200 requests: it must show compliance then
    assert step_status([rt, thin_rate], 4.0, 5, 0.95, {"PERF-RT-01"})[0] == INCONCLUSIVE
    # a ceiling clause never passes on absence of evidence
    thin_rt = _r("PERF-RT-01", INCONCLUSIVE, "p(95) < 3s", 60)
    assert step_status([thin_rt, thin_rate], 1.0, 5, 0.95, {"PERF-RT-01"})[0] == INCONCLUSIVE
    # evidence of a breach breaks the step, whatever its samples
    breach = _r("CLS-READ", FAIL, "rate <= 0.1%", 1200, "rate")
    assert step_status([rt, breach], 1.0, 5, 0.95, {"PERF-RT-01"})[0] == FAIL
    # a generator that could not keep up: nothing can be claimed
    assert step_status([rt], 1.0, 5, 0.95, {"PERF-RT-01"}, trusted=False)[0] == INCONCLUSIVE


def _s(i: int, users: int, status: str) -> Step:
    return Step(i, f"s{i}", users, 60, 100, 10.0, 1.0, 2.0, 1.0, 0.0, status, ())


def test_the_ceiling_is_taken_in_order_of_users_not_of_time() -> None:
    # the staircase 10, 20, 30 broke at 30; the search then tried 25 (broke) and 22 (passed)
    steps = [_s(0, 10, PASS), _s(1, 20, PASS), _s(2, 30, FAIL), _s(3, 25, FAIL), _s(4, 22, PASS)]
    ceiling, breaking, unclear = ceiling_of(steps)
    assert ceiling == 22 and breaking is not None and breaking.users == 25 and unclear is None
    ceiling, breaking, unclear = ceiling_of([_s(0, 10, PASS), _s(1, 20, INCONCLUSIVE)])
    assert ceiling == 10 and breaking is None and unclear is not None and unclear.users == 20
