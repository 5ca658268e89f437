"""The reference CRM emulating a platform's limits (``--crm-limits NAME``, :mod:`crmload.core.limits`):
a sliding window of requests, a daily allocation of requests or credits, a cap on requests in flight,
each answered as the platform answers it, with its usage headers on every answer.

The answers carry what crmload's recognition depends on and the presets cite (Salesforce: 403 with
``REQUEST_LIMIT_EXCEEDED`` and ``Sforce-Limit-Info: api-usage=USED/LIMIT``; the others: 429 with
``Retry-After``); the rest of each body is the reference CRM's own wording, not the vendor's. The
allocation counts from the CRM's start (a "day" is the emulation's whole life).
"""

from __future__ import annotations

import collections
import math
import time

from starlette.responses import Response

from crmload.core.limits import Limits
from crmload.democrm.http import json_response


class PlatformGate:
    """One platform's limits over every operation request of the reference CRM (logins aside)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._window: collections.deque[float] = collections.deque()
        self.spent = 0  # credits (or requests) of the allocation
        self.in_flight = 0
        self.refused = 0

    def _slide(self, now: float) -> None:
        w = self.limits.window
        while w is not None and self._window and self._window[0] <= now - w.seconds:
            self._window.popleft()

    def admit(self, operation: str) -> Response | None:
        """None when the request may run (it is counted; call :meth:`done` after it), else the refusal."""
        lim, now = self.limits, time.monotonic()
        self._slide(now)
        cost = lim.cost_of(operation)
        if lim.daily is not None and self.spent + cost > lim.daily:
            return self._refuse("daily", f"the daily allocation of {lim.daily} is spent", retry_s=None)
        if lim.window is not None and len(self._window) >= lim.window.requests:
            wait = self._window[0] + lim.window.seconds - now
            return self._refuse("window", f"{lim.window.requests} requests per {lim.window.seconds:g} s", wait)
        if lim.concurrency is not None and self.in_flight >= lim.concurrency:
            return self._refuse("concurrency", f"{lim.concurrency} concurrent requests", retry_s=1.0)
        self._window.append(now)
        self.spent += cost
        self.in_flight += 1
        return None

    def done(self) -> None:
        self.in_flight -= 1

    def _refuse(self, which: str, what: str, retry_s: float | None) -> Response:
        self.refused += 1
        if self.limits.name == "salesforce":
            code = "TotalRequests" if which == "daily" else "ConcurrentPerOrgLongTxn"
            response = json_response(
                [{"message": f"{code} Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403
            )
        else:
            response = json_response({"error": "throttled", "detail": f"rate limit exceeded: {what}"}, 429)
            if retry_s is not None:  # a spent allocation says no time: it is the emulation's whole life
                response.headers["retry-after"] = str(max(1, math.ceil(retry_s)))
        self.stamp(response)
        return response

    def stamp(self, response: Response) -> None:
        """The platform's usage headers on ``response``."""
        lim, h = self.limits, response.headers
        daily_left = max(0, lim.daily - self.spent) if lim.daily is not None else None
        window_left = max(0, lim.window.requests - len(self._window)) if lim.window is not None else None
        if lim.name == "salesforce" and lim.daily is not None:
            h["sforce-limit-info"] = f"api-usage={self.spent}/{lim.daily}"
        elif lim.name == "dataverse" and window_left is not None:
            h["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(window_left)
        elif lim.name == "hubspot":
            if lim.daily is not None:
                h["x-hubspot-ratelimit-daily"] = str(lim.daily)
                h["x-hubspot-ratelimit-daily-remaining"] = str(daily_left)
            if lim.window is not None:
                h["x-hubspot-ratelimit-max"] = str(lim.window.requests)
                h["x-hubspot-ratelimit-remaining"] = str(window_left)
        elif lim.name == "zoho" and lim.daily is not None:
            h["x-ratelimit-limit"] = str(lim.daily)
            h["x-ratelimit-remaining"] = str(daily_left)
