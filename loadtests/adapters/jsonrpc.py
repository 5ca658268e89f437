"""A base for CRMs that speak JSON-RPC over HTTP (one URL, ``{"id", "method", "params"}`` in the body):
every operation is one or more :meth:`JsonRpcAdapter.rpc` calls, named by the operation.

JSON-RPC servers answer an error with HTTP 200 and an ``error`` member in the body: :meth:`rpc`
records such an answer as a failure (``check_failed``, with the server's own message as the reason),
and a probe's answer is a denial when the error says access was refused (:attr:`denial_words`).
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import orjson
from locust.contrib.fasthttp import FastResponse

from crmload.loadtests.adapter import CrmAdapter


def rpc_error(response: FastResponse) -> str | None:
    """The error a JSON-RPC answer carries, in words; None when it carries a result."""
    try:
        body = orjson.loads(response.content or b"null")
    except orjson.JSONDecodeError:
        return "the answer is not JSON"
    if not isinstance(body, dict):
        return "the answer is not a JSON-RPC object"
    error = body.get("error")
    if error is None:
        return None if "result" in body else "the answer has neither result nor error"
    if isinstance(error, dict):  # JSON-RPC 2.0: {"code", "message", "data"}
        return str(error.get("message") or error)[:300]
    if isinstance(error, list):  # e.g. Tryton: ["UserError", [message, description, domain]]
        words = [str(x) for part in error for x in (part if isinstance(part, list) else [part]) if x]
        return " ".join(" ".join(words).split())[:300]
    return str(error)[:300]


class JsonRpcAdapter(CrmAdapter):
    """Subclasses set :attr:`rpc_path` (relative to the target) and map operations onto :meth:`rpc`."""

    name = "jsonrpc"
    rpc_path: ClassVar[str] = "/"
    # words of an error that mean "you may not": a probe answered so is a denial
    denial_words: ClassVar[tuple[str, ...]] = ("not allowed", "access denied", "forbidden", "permission")
    _ids = itertools.count(1)
    rpc_ok = False  # did the last rpc() succeed

    def rpc(self, operation: str, method: str, *params: Any, expect: tuple[int, ...] = (200,)) -> Any:
        """Call ``method`` with ``params``; the ``result`` (None for a failure, already recorded; a null
        result too, so :attr:`rpc_ok` says which).

        In a probe, the answer is ``{"denied": ..., "status": ...}`` as :meth:`CrmAdapter.probe` gives it."""
        payload = {"id": next(self._ids), "method": method, "params": list(params)}
        answer = self.call(operation, "POST", self.rpc_path, json=payload, expect=expect)
        # a result may be null (a write): rpc_ok tells it from a failure
        self.rpc_ok = isinstance(answer, dict)
        if self._probing or not isinstance(answer, dict):
            return answer
        return answer.get("result")

    def check_failed(self, operation: str, response: FastResponse) -> str | None:
        return rpc_error(response)

    def probe_verdict(self, operation: str, response: FastResponse) -> bool | None:
        if response.status_code != 200:
            return super().probe_verdict(operation, response)
        error = rpc_error(response)
        if error is None:
            return False  # a result: the CRM did what it should have refused
        return True if any(word in error.lower() for word in self.denial_words) else None
