"""Platform limits: presets with their sources, the budget before any load (known answers), and each
preset emulated by the reference CRM for real — answered as the platform answers, its throttle answer
counted as throttled (apart from failures), its usage headers read, its throttle ceiling found."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e import crmload

from crmload.analysis.budget import budget
from crmload.core.errors import CrmloadError
from crmload.core.limits import PRESETS, Window, parse_limits
from crmload.core.scenario import load_scenario


def test_every_preset_names_its_sources_and_overrides_parse() -> None:
    assert set(PRESETS) == {"salesforce", "dataverse", "hubspot", "zoho"}
    for preset in PRESETS.values():
        assert preset.sources and all(s.startswith("https://") for s in preset.sources), preset.name
    assert PRESETS["salesforce"].is_throttle(403, b'[{"errorCode":"REQUEST_LIMIT_EXCEEDED"}]')
    assert not PRESETS["salesforce"].is_throttle(403, b'{"detail":"role may not"}')  # a plain 403 is a denial
    assert PRESETS["zoho"].cost_of("lead.convert") == 5 and PRESETS["zoho"].cost_of("customer.view") == 1
    mine = parse_limits("hubspot,window=20/2s,daily=500")
    assert mine.window == Window(20, 2.0) and mine.daily == 500 and mine.headers == PRESETS["hubspot"].headers
    for bad, said in (("nosuch", "no preset 'nosuch'"), ("zoho,daily=0", "at least 1"), ("zoho,hourly=3", "daily=N")):
        with pytest.raises(CrmloadError, match=said):
            parse_limits(bad)


def test_the_budget_of_an_open_model_scenario_is_its_arrivals_times_their_cost(tmp_path: Path) -> None:
    """Known answer: web-form leads only, 2 arrivals/s for 30 s = 60 requests; 25 % of 240 a day; 20 per
    10 s offered against 10 allowed."""
    path = tmp_path / "webforms.yaml"
    path.write_text(
        "name: webforms\nsize: tiny\npersonas:\n  integration: {options: {weight_order_sync: 0}}\n"
        "open_model: {max_users: 4}\nstages:\n  - {name: hold, users: 0, arrival_rate: 2, duration: 30s}\n"
    )
    found = budget(load_scenario(path), parse_limits("hubspot,daily=240,window=10/10s"))
    assert found.cost == pytest.approx(60.0) and found.daily_share == pytest.approx(0.25)
    lines = found.lines()
    assert "spends at most 25% of the daily allocation" in lines[0]
    assert any("offers about 20 requests per 10 s, over the 10 allowed" in line for line in lines)


_SCENARIO = (
    "name: limits-{name}\nsize: tiny\n"
    "personas:\n  sales: {{weight: 1, think_time: [0.02s, 0.05s], options: {{probe_share: 0}}}}\n"
    "stages:\n  - {{name: hold, users: 4, spawn_rate: 4, duration: 12s}}\njudge: [PERF-ERR-01]\n"
)


@pytest.mark.parametrize(
    ("preset", "spec", "status", "header", "ceiling"),
    [
        ("salesforce", "salesforce,daily=60", 403, "sforce-limit-info", None),
        ("dataverse", "dataverse,window=20/2s", 429, "x-ms-ratelimit-burst-remaining-xrm-requests", 10.0),
        ("hubspot", "hubspot,window=20/2s", 429, "x-hubspot-ratelimit-remaining", 10.0),
        ("zoho", "zoho,daily=60", 429, "x-ratelimit-remaining", None),
    ],
)
def test_each_preset_emulated_is_throttled_apart_with_its_headers_read(
    preset: str, spec: str, status: int, header: str, ceiling: float | None, tmp_path: Path
) -> None:
    scenario = tmp_path / f"{preset}.yaml"
    scenario.write_text(_SCENARIO.format(name=preset))
    run = crmload("run", str(scenario), "--crm-limits", spec, results=tmp_path / "r")
    assert run.code in (0, 3), run.stdout + run.stderr  # throttled requests are not failures
    assert f"BUDGET {preset}: " in run.stderr  # the budget, said before the load
    requests = run.samples().query("kind == 'request' and operation != 'auth.login'")
    throttled = requests[requests["outcome"] == "throttled"]
    assert len(throttled) >= 10 and set(throttled["status"]) == {status}, requests["outcome"].value_counts()
    assert not (requests["outcome"].isin(["http_4xx", "http_5xx", "check_failed"])).any()
    capture = run.json("capture.json")
    assert header in capture["limit_headers"], capture["limit_headers"]
    if preset == "salesforce":  # the allocation spent, as the platform says it
        assert capture["limit_headers"][header] == "api-usage=60/60"
    warnings = run.json("verdict.json")["warnings"]
    said = next(w for w in warnings if w.startswith("throttled: "))
    if ceiling is not None:  # 20 per 2 s: the platform lets 10 requests/s through
        rate = float(said.split(" let ")[1].split(" requests/s")[0])
        assert ceiling * 0.7 <= rate <= ceiling * 1.3, said
