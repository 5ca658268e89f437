"""Scenario model: stage timeline and command-line scaling."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmload.core.scenario import Scenario, load_scenario
from crmload.core.units import parse_duration_s

REPO = Path(__file__).resolve().parent.parent


def _scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "s",
            "personas": {"sales": {}, "integration": {}},
            "stages": [
                {"name": "a", "users": 10, "duration": "1m"},
                {"name": "b", "users": 40, "arrival_rate": 5, "duration": "2m", "warmup": "30s"},
            ],
        }
    )


def test_timeline() -> None:
    s = _scenario()
    assert s.total_duration_s == 180
    assert s.stage_at(0)[0] == 0 and s.stage_at(59.9)[0] == 0 and s.stage_at(60)[0] == 1  # type: ignore[index]
    assert s.stage_at(180) is None


def test_scaling_from_the_command_line() -> None:
    scaled = _scenario().scaled(users=20, rate_factor=2.0, duration_s=90)
    assert [st.users for st in scaled.stages] == [5, 20]  # peak 40 -> 20, everything in proportion
    assert [st.arrival_rate for st in scaled.stages] == [0.0, 10.0]
    assert [st.duration for st in scaled.stages] == [30.0, 60.0] and scaled.stages[1].warmup == 15.0


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("2.5", 2.5)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


def test_every_shipped_scenario_loads_and_is_bounded() -> None:
    for path in (REPO / "scenarios").glob("*.yaml"):
        s = load_scenario(path)
        assert 0 < s.total_duration_s <= 48 * 3600, path
