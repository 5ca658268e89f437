"""A scenario against a platform's limits, before any load: what share of the daily allocation it spends,
whether a stage offers more requests per window than the platform allows, and whether more users would
be in flight than it lets run at once.

Method: the planner's request rates per stage and operation (:func:`crmload.analysis.plan.stage_rates`,
with a mean response time ``R``: 0 gives upper bounds), times each stage's longest length, times the
operation's cost (credits; 1 unless the preset says otherwise). A stage's offered requests per window are
its rate times the window; its users in flight at most its closed users plus the open model's pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmload.analysis.plan import stage_rates
from crmload.core.limits import Limits
from crmload.core.scenario import Scenario


@dataclass(frozen=True)
class Budget:
    limits: Limits
    cost: float  # credits (or requests) the whole scenario spends
    daily_share: float | None  # of the daily allocation
    over_window: tuple[str, ...]  # stages offering more per window than allowed
    over_concurrency: tuple[str, ...]
    response_s: float = 0.0

    def lines(self) -> list[str]:
        lim = self.limits
        out = []
        bound = "at most " if self.response_s == 0 else ""
        if self.daily_share is not None and lim.daily is not None:
            out.append(
                f"{lim.name}: this scenario spends {bound}{self.daily_share:.0%} of the daily allocation "
                f"({bound}about {self.cost:,.0f} of {lim.daily:,} {'credits' if lim.cost else 'requests'} a "
                "rolling 24 h" + (", response time taken as 0)" if bound else ")")
            )
        else:
            out.append(f"{lim.name}: this scenario sends about {self.cost:,.0f} requests (no daily allocation)")
        out += [f"{lim.name}: {s}" for s in (*self.over_window, *self.over_concurrency)]
        if self.daily_share is not None and self.daily_share > 1:
            out.append(f"{lim.name}: the allocation runs out before the end: expect the platform to refuse the rest")
        for u in lim.unverified:
            out.append(f"{lim.name}: unverified here: {u}")
        return out


def budget(scenario: Scenario, limits: Limits, response_s: float = 0.0) -> Budget:
    cost = 0.0
    over_window, over_conc = [], []
    for stage in scenario.stages:
        rates = stage_rates(scenario, stage, response_s)
        per_s = sum(rates.requests.values())
        cost += sum(r * limits.cost_of(op) for (_p, _j, op), r in rates.requests.items()) * stage.longest_s
        if limits.window is not None:
            offered = per_s * limits.window.seconds
            if offered > limits.window.requests:
                over_window.append(
                    f"stage {stage.name} offers about {offered:,.0f} requests per {limits.window.seconds:g} s, over "
                    f"the {limits.window.requests:,} allowed: expect throttling (reported apart, as throttled)"
                )
        in_flight = stage.users + (scenario.open_model.max_users if stage.arrival_rate > 0 else 0)
        if limits.concurrency is not None and in_flight > limits.concurrency:
            over_conc.append(
                f"stage {stage.name} may have {in_flight} users in flight, over the {limits.concurrency} concurrent "
                "requests allowed"
            )
    share = cost / limits.daily if limits.daily else None
    return Budget(limits, cost, share, tuple(over_window), tuple(over_conc), response_s)
