"""Faults the reference CRM can be given, so that the analysis meets known answers.

| fault | effect |
|---|---|
| ``latency[op] = {"fixed_ms": 50}`` | every call of ``op`` waits 50 ms more |
| ``latency[op] = {"exp_mean_ms": 20}`` | waits an exponentially distributed extra time (mean 20 ms) |
| ``latency[op] = {"growth_ms_per_s": 0.5}`` | waits 0.5 ms more for each second since the fault was set |
| ``errors[op] = {"rate": 0.05, "status": 503}`` | exactly 1 in 20 calls of ``op`` answers 503 (evenly spread) |
| ``concurrency_limit=4, service_time_ms=100`` | at most 4 requests in service at once, each held 100 ms |
|  | (a capacity of 40 requests/s) |
| ``stall_s=5`` | every request arriving in the 5 s from the start of the load waits until the stall ends |
| ``stall_s=5, stall_at_s=30`` | the same stall, 30 s after the start of the load |
| ``latency_at_s=30`` | the latency faults take effect 30 s after the start of the load (growth counts from then) |
| ``throttle[op] = 0.2`` | exactly 1 in 5 calls of ``op`` answers 429 with ``Retry-After: 1`` |
| ``grant_forbidden=true`` | role checks are off: every role may call every operation (an access-control breach) |
| ``drop_write_rate=0.01`` | 1 % of writes answer 2xx but are rolled back (a lost write, for the DATA-01 audit) |
| ``token_ttl_s=30`` | login tokens expire 30 s after they were issued (default 48 h): a user's next request gets 401 |

``"*"`` as the operation applies to every operation. Set from the command line
(``crmload demo-crm --latency customer.view=50``) or at run time by an admin
(``PUT /api/admin/faults``).

When the times count from. Faults given when the CRM starts wait for the load: their clock starts
at the first operation request it serves, or when ``crmload run`` says the load started
(:meth:`FaultState.load_started`, Locust's test start). Faults set at run time count from then.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crmload.core.limits import parse_limits
from crmload.democrm.limits import PlatformGate
from crmload.democrm.operations import OPERATIONS


async def sleep_at_least(seconds: float) -> None:
    """Wait ``seconds`` or a little more, never less: uvloop's timers count whole milliseconds and
    may fire up to one early, which would make an injected 200 ms fault 199.98 ms."""
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(left)


class Latency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fixed_ms: float = Field(0.0, ge=0)
    exp_mean_ms: float = Field(0.0, ge=0)
    growth_ms_per_s: float = Field(0.0, ge=0)


class ErrorFault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float = Field(ge=0, le=1)
    status: int = Field(500)

    @field_validator("status")
    @classmethod
    def _server_error(cls, v: int) -> int:
        if v not in (500, 502, 503, 504):
            raise ValueError("status must be one of 500, 502, 503, 504")
        return v


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    latency: dict[str, Latency] = Field(default_factory=dict)
    errors: dict[str, ErrorFault] = Field(default_factory=dict)
    concurrency_limit: int | None = Field(None, ge=1)
    service_time_ms: float = Field(0.0, ge=0)
    stall_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    stall_at_s: float = Field(0.0, ge=0, allow_inf_nan=False, description="the stall starts this long into the load")
    latency_at_s: float = Field(0.0, ge=0, allow_inf_nan=False, description="the latency faults start then")
    drop_write_rate: float = Field(0.0, ge=0, le=1)
    grant_forbidden: bool = False
    throttle: dict[str, float] = Field(default_factory=dict, description="op -> share of calls answered 429")
    token_ttl_s: float | None = Field(None, gt=0, allow_inf_nan=False, description="tokens live this long")
    limits: str | None = Field(None, description="emulate a platform's limits: a preset of crmload.core.limits")

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, v: str | None) -> str | None:
        if v is not None:
            from crmload.core.errors import CrmloadError

            try:
                parse_limits(v)
            except CrmloadError as exc:
                raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return v

    @field_validator("latency", "errors", "throttle")
    @classmethod
    def _known_ops(cls, v: dict[str, Any]) -> dict[str, Any]:
        for op in v:
            if op != "*" and op not in OPERATIONS:
                raise ValueError(f"unknown operation {op!r}")
        return v


class FaultState:
    """The faults in force, and the clocks and semaphore that carry them out."""

    def __init__(self, faults: Faults | None = None, rng_seed: int = 7) -> None:
        self._rng = random.Random(rng_seed)
        self.faults = Faults()
        self._semaphore: asyncio.Semaphore | None = None
        self._anchor: float | None = None  # monotonic time the faults' times count from
        self._told = False  # the load's start will be told (load_started): no request marks it
        self._calls: dict[str, int] = {}
        self.set(faults or Faults(), now=False)  # given at start: they wait for the load

    def set(self, faults: Faults, now: bool = True) -> None:
        """Put ``faults`` in force; their times count from now, or (``now=False``) from the load's start."""
        self.faults = faults
        self._calls = {}
        self._anchor = time.monotonic() if now else None
        self._semaphore = asyncio.Semaphore(faults.concurrency_limit) if faults.concurrency_limit else None
        self.gate = PlatformGate(parse_limits(faults.limits)) if faults.limits else None

    def wait_for_load(self) -> None:
        """The start of the load will be told (:meth:`load_started`): until then, no timed fault
        is in force (a preflight before the load meets none)."""
        self._told = True

    def load_started(self, wall_ts: float) -> None:
        """The load started at ``wall_ts`` (Unix seconds): the faults' times count from then."""
        self._anchor = time.monotonic() - max(0.0, time.time() - wall_ts)

    def _since_anchor(self) -> float:
        if self._anchor is None:
            if self._told:
                return -math.inf
            self._anchor = time.monotonic()  # the first operation request marks the start of the load
        return time.monotonic() - self._anchor

    def error_status(self, op: str) -> int | None:
        """The injected status for this call of ``op``, if any.

        Deterministic: the k-th call fails when ``floor(k * rate)`` steps up, so exactly ``rate`` of the
        calls fail, evenly spread — a known answer for the analysis, whatever the request order.
        """
        key = op if op in self.faults.errors else "*"
        fault = self.faults.errors.get(key)
        if fault is None or fault.rate <= 0:
            return None
        k = self._calls[key] = self._calls.get(key, 0) + 1
        if int(k * fault.rate) > int((k - 1) * fault.rate):
            return fault.status
        return None

    def throttled(self, op: str) -> bool:
        """Deterministic like :meth:`error_status`: exactly ``rate`` of the calls of ``op`` are throttled."""
        key = op if op in self.faults.throttle else "*"
        rate = self.faults.throttle.get(key, 0.0)
        if rate <= 0:
            return False
        k = self._calls["throttle:" + key] = self._calls.get("throttle:" + key, 0) + 1
        return int(k * rate) > int((k - 1) * rate)

    def drop_write(self) -> bool:
        return self.faults.drop_write_rate > 0 and self._rng.random() < self.faults.drop_write_rate

    def _extra_delay_s(self, op: str, elapsed: float) -> float:
        lat = self.faults.latency.get(op) or self.faults.latency.get("*")
        since = elapsed - self.faults.latency_at_s
        if lat is None or since < 0:
            return 0.0
        ms = lat.fixed_ms + lat.growth_ms_per_s * since
        if lat.exp_mean_ms:
            ms += self._rng.expovariate(1.0 / lat.exp_mean_ms)
        return ms / 1000.0

    async def before(self, op: str) -> None:
        """Delay a request as the faults say: stall, then extra latency."""
        elapsed = self._since_anchor()
        f = self.faults
        if f.stall_s > 0 and f.stall_at_s <= elapsed < f.stall_at_s + f.stall_s:
            await sleep_at_least(f.stall_at_s + f.stall_s - elapsed)
        delay = self._extra_delay_s(op, self._since_anchor())
        if delay > 0:
            await sleep_at_least(delay)

    @property
    def semaphore(self) -> asyncio.Semaphore | None:
        return self._semaphore

    @property
    def service_time_s(self) -> float:
        return self.faults.service_time_ms / 1000.0


def parse_op_value(text: str) -> tuple[str, float]:
    """``"customer.view=50"`` → ``("customer.view", 50.0)``, for command-line fault options."""
    op, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"expected OPERATION=VALUE, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a number (in {text!r})") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value.strip()!r} must be a finite number of at least 0 (in {text!r})")
    return op.strip(), number


def parse_rate(text: str) -> float:
    """A share of calls written one unambiguous way: ``"2%"`` or ``"0.02"`` → 0.02.

    A bare number must be a fraction below 1: ``1`` could mean 1 % or every call, so it is
    refused with the fix (``1%`` or ``100%``)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a rate — fix: write a percentage ('2%') or a fraction ('0.02')") from None
    if not raw.endswith("%") and value >= 1:
        raise ValueError(f"{raw!r} is ambiguous (a percentage or a fraction?) — fix: write '{raw}%' or '0.02'")
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{raw!r} is not between 0 and 100 % — fix: write e.g. '2%' or '0.02'")
    return value


def parse_op_rate(text: str) -> tuple[str, float]:
    """``"customer.view=2%"`` → ``("customer.view", 0.02)`` (see :func:`parse_rate`)."""
    op, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"expected OPERATION=RATE, got {text!r}")
    return op.strip(), parse_rate(value)
