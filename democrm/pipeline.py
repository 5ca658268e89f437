"""What every operation goes through, whichever door it came in by (the JSON API or the pages): the role
check, the faults in force, the platform's limits, the handler, the counters and ``Server-Timing``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from crmload.democrm.faults import sleep_at_least
from crmload.democrm.handlers import Handler
from crmload.democrm.http import ApiError, User
from crmload.democrm.operations import Operation
from crmload.democrm.state import CRM


class Answered(Exception):
    """A finished response that ends the request early (e.g. 429 with its Retry-After header)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def answered(crm: CRM, op: Operation, response: Response, start: float) -> Response:
    """Every operation's answer: ``Server-Timing`` since ``start`` and the served-request counters."""
    response.headers["server-timing"] = f"app;dur={(time.perf_counter() - start) * 1000.0:.3f}"
    crm.served[op.name] += 1
    crm.served_by_status[(op.name, response.status_code)] += 1
    return response


async def _served(crm: CRM, request: Request, user: User, handler: Handler) -> Response:
    """The handler's answer, under the concurrency limit and its service time when one is set."""
    sem = crm.faults.semaphore
    if sem is None:
        return await handler(crm, request, user)
    async with sem:
        if crm.faults.service_time_s:
            await sleep_at_least(crm.faults.service_time_s)
        return await handler(crm, request, user)


async def operate(crm: CRM, op: Operation, request: Request, user: User, handler: Handler) -> Response:
    """One operation for an authenticated ``user``, whichever door it came through (the JSON API or the
    pages): the role check (403), the faults in force, the platform's limits, the handler. A refusal is
    raised (:class:`ApiError`, or :class:`Answered` with a finished response)."""
    faults = crm.faults
    if user.role not in op.roles and not faults.faults.grant_forbidden:
        raise ApiError(403, f"role {user.role!r} may not call {op.name}")
    await faults.before(op.name)
    status = faults.error_status(op.name)
    if status is not None:
        raise ApiError(status, f"injected fault on {op.name}")
    if faults.throttled(op.name):
        throttled = ApiError(429, f"too many requests for {op.name}; retry after 1 s").response()
        throttled.headers["retry-after"] = "1"
        raise Answered(throttled)
    gate = faults.gate
    if gate is not None:  # a platform's limits (--crm-limits): refused as the platform refuses
        refused = gate.admit(op.name)
        if refused is not None:
            raise Answered(refused)
    try:
        response = await _served(crm, request, user, handler)
    finally:
        if gate is not None:
            gate.done()
    if gate is not None:
        gate.stamp(response)
    return response


async def signing_in(crm: CRM) -> None:
    """The faults a sign-in meets, at any door (a sign-in has no role to check): its latency and stall, and
    an injected error status raised as :class:`ApiError`."""
    await crm.faults.before("auth.login")
    status = crm.faults.error_status("auth.login")
    if status is not None:
        raise ApiError(status, "injected fault on auth.login")
