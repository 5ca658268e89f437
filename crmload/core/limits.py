"""A target platform's own limits, which decide what a load test against a SaaS CRM measures: how many
requests may run at once, how many per window, how many per day (or how many credits, when operations
cost more than one), and how the platform says "too many".

``--limits NAME`` (``crmload run`` and ``crmload plan``) names a preset, optionally with figures of your
org's own: ``salesforce,daily=150000`` or ``hubspot,window=190/10s``. The presets hold the vendors'
published figures, each with where it was read (``sources``); a figure whose source could not be read
here says so (``unverified``) — check it against your contract before you rely on it.

The reference CRM emulates a preset (``crmload run --crm-limits NAME``): the same window, allocation and
concurrency, answered as the vendor answers (status, body, limit headers), so that the budget, the
throttle recognition and the limit headers are tested for real.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from crmload.core.errors import CrmloadError


@dataclass(frozen=True)
class Window:
    """At most ``requests`` requests in any ``seconds`` (a sliding window)."""

    requests: int
    seconds: float

    def text(self) -> str:
        return f"{self.requests}/{self.seconds:g}s"


@dataclass(frozen=True)
class Limits:
    name: str
    concurrency: int | None = None  # requests in flight at once (None: not limited)
    window: Window | None = None
    daily: int | None = None  # requests, or credits, per rolling 24 h
    cost: dict[str, int] = field(default_factory=dict)  # operation -> credits (default 1)
    # how the platform says "too many": (status, a word its body carries; "" for any body)
    throttle_answers: tuple[tuple[int, str], ...] = ((429, ""),)
    # how it tells usage, for the emulation and the report: header -> what it carries
    headers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()  # figures no source here confirmed

    def cost_of(self, operation: str) -> int:
        return self.cost.get(operation, 1)

    def is_throttle(self, status: int, body: bytes) -> bool:
        return any(status == s and (not word or word.encode() in body) for s, word in self.throttle_answers)


PRESETS: dict[str, Limits] = {
    "salesforce": Limits(
        "salesforce",
        concurrency=25,  # long-running (20 s or more) requests per org
        daily=100_000,  # Enterprise base; + 1,000 per Salesforce licence
        throttle_answers=((403, "REQUEST_LIMIT_EXCEEDED"), (429, "")),
        headers=("Sforce-Limit-Info",),
        sources=(
            "https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/headers_api_usage.htm "
            "(Sforce-Limit-Info: api-usage=USED/LIMIT on every REST answer)",
            "https://trailhead.salesforce.com/content/learn/modules/app-development-without-limits "
            "(total calls per rolling 24 h by edition and licences; concurrent long-running calls)",
        ),
        unverified=(
            "25 concurrent long-running requests and 100,000 + 1,000 per licence (Enterprise): not found verbatim "
            "in the pages read here",
        ),
    ),
    "dataverse": Limits(
        "dataverse",
        concurrency=52,  # per user, per web server
        window=Window(6000, 300.0),  # requests per user in a 5-minute sliding window
        throttle_answers=((429, ""),),
        headers=("x-ms-ratelimit-burst-remaining-xrm-requests", "x-ms-ratelimit-time-remaining-xrm-requests"),
        sources=(
            "https://learn.microsoft.com/power-apps/maker/data-platform/api-limits-overview "
            "(service protection: 429 Too Many Requests at once, evaluated in a 5-minute sliding window)",
            "https://learn.microsoft.com/power-apps/developer/data-platform/api-limits (Retry-After on 429)",
        ),
        unverified=(
            "6,000 requests, 1,200 s of execution and 52 concurrent requests per user per 5 minutes: the pages "
            "read here state the window and the 429, not these figures; 1,200 s of execution is not emulated",
        ),
    ),
    "hubspot": Limits(
        "hubspot",
        window=Window(190, 10.0),  # Professional/Enterprise private apps, per portal
        daily=650_000,  # Professional; Enterprise 1,000,000
        throttle_answers=((429, ""),),
        headers=(
            "X-HubSpot-RateLimit-Daily",
            "X-HubSpot-RateLimit-Daily-Remaining",
            "X-HubSpot-RateLimit-Max",
            "X-HubSpot-RateLimit-Remaining",
        ),
        sources=(
            "https://developers.hubspot.com/changelog/increasing-our-api-limits "
            "(private apps: 190 per 10 s; 650,000 a day on Professional, 1,000,000 on Enterprise)",
            "https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase "
            "(CRM search: 4 requests per second per token; not emulated apart)",
            "https://developers.hubspot.com/changelog/"
            "2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses (X-HubSpot-RateLimit-*)",
        ),
    ),
    "zoho": Limits(
        "zoho",
        concurrency=15,  # Professional, per org per app
        daily=55_000,  # Professional: 50,000 + 500 per licence, here 10 licences
        cost={"lead.convert": 5},
        throttle_answers=((429, ""),),
        headers=("X-RATELIMIT-LIMIT", "X-RATELIMIT-REMAINING", "X-RATELIMIT-RESET"),
        sources=(
            "https://www.zoho.com/crm/developer/docs/api/v4/api-limits.html "
            "(credits per rolling 24 h by edition and licences; Convert Lead costs 5 credits)",
        ),
        unverified=("15 concurrent calls per app (Professional) and the X-RATELIMIT-* header names",),
    ),
}

_OVERRIDE = re.compile(r"^(concurrency|daily)=(\d+)$|^window=(\d+)/(\d+(?:\.\d+)?)s$")


def parse_limits(spec: str, option: str = "--limits") -> Limits:
    """``NAME[,daily=N][,window=N/Ss][,concurrency=N]`` -> the preset with those figures of your own."""
    name, *overrides = [p.strip() for p in spec.split(",")]
    base = PRESETS.get(name.lower())
    if base is None:
        raise CrmloadError(f"{option}: no preset {name!r} — fix: one of {', '.join(PRESETS)}")
    for item in overrides:
        m = _OVERRIDE.match(item)
        if m is None:
            raise CrmloadError(f"{option}: {item!r} — fix: write daily=N, concurrency=N or window=N/Ss")
        if m.group(1) == "daily":
            base = replace(base, daily=int(m.group(2)))
        elif m.group(1) == "concurrency":
            base = replace(base, concurrency=int(m.group(2)))
        else:
            base = replace(base, window=Window(int(m.group(3)), float(m.group(4))))
        figures = [base.daily, base.concurrency, base.window.requests if base.window else None]
        if any(f is not None and f < 1 for f in figures) or (base.window is not None and base.window.seconds <= 0):
            raise CrmloadError(f"{option}: {item!r}: each figure must be at least 1")
    return base
