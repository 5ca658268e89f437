"""The target-adapter protocol: canonical operations on one CRM's API, through Locust's HTTP client.

A journey never builds a URL. It calls ``adapter.customer_view(account_id)``; the adapter sends the
request with :meth:`CrmAdapter.call`, which names it by its canonical operation (so it is timed and
recorded as ``customer.view``), marks it failed by content when :meth:`check_failed` says so, and
reports 429 as ``throttled`` after honouring ``Retry-After``.

To test another CRM, subclass :class:`CrmAdapter`, implement :meth:`login` and the operations your
CRM has, and run ``crmload run --adapter mymodule:MyCrm --target https://crm.example``. An
operation you leave out raises :class:`NotSupported`; the journey skips that step and the report
lists it. See ``README.md`` for a worked example.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, TypeAlias

import gevent
import orjson
from locust.contrib.fasthttp import FastHttpSession, FastResponse, ResponseContextManager

from crmload.core.operations import (
    REFERENCE_ACCESS_RULES,
    AccessRule,
    Converted,
    Found,
    OpportunityRead,
    RecordRef,
    Synced,
    TicketRead,
    Written,
)
from crmload.core.rundir import Outcome
from crmload.loadtests.capture import AuthLost, CheckFailed, Throttled, UnexpectedStatus
from crmload.loadtests.settings import platform_limits
from crmload.loadtests.wire import build_request

MAX_RETRY_AFTER_S = 30.0

# What call() returns: the CRM's answer as parsed JSON (a dict for most operations), its raw body when
# that is not JSON, or None when the call failed (already recorded). Raw JSON is a true edge: its shape
# is the CRM's. Each operation below is typed with what the journeys read of it (crmload.core.operations:
# Written, Found, ...); an operation the journeys read nothing of answers Answer.
Answer: TypeAlias = Any


_SESSION_LOST: Any = object()  # what _judge returns for a 401 after a successful login


_HEAD = re.compile(r"<(head|script|style|nav)\b.*?</\1>", re.S | re.I)
_TAGS = re.compile(r"<[^>]*>")


def _detail(resp: FastResponse) -> str:
    """What the answer says went wrong: a JSON body's ``detail``, ``message`` or ``error``, else its first words."""
    body = resp.content or b""
    if body[:1] == b"{":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            for key in ("detail", "message", "error_description", "error", "faultString"):
                if isinstance(data.get(key), str):
                    return str(data[key])[:200]
    if body.lstrip()[:1] == b"<":  # a page: its words, not its markup
        text = _TAGS.sub(" ", _HEAD.sub(" ", body[:4096].decode("utf-8", "replace")))
    else:
        text = body[:200].decode("utf-8", "replace")
    return " ".join(text.split())[:120] or f"{len(body)} bytes"


class NotSupported(Exception):
    """This adapter has no mapping for the canonical operation."""

    def __init__(self, operation: str) -> None:
        super().__init__(operation)
        self.operation = operation


class CrmAdapter:
    """Base class of target adapters. ``client`` is the user's Locust HTTP client.

    Subclasses set :attr:`name` and implement the operations as methods named after the canonical
    operation with ``.`` replaced by ``_`` (``customer.view`` → ``customer_view``). Each returns
    the parsed answer (a dict) or ``None`` when the call failed (already recorded as a failure).
    """

    name = "abstract"
    # who reads acknowledged writes back after the load (DATA-01): a role of the test data, and how
    # many records one read asks for
    readback_role: ClassVar[str] = "admin"
    readback_batch: ClassVar[int] = 1000

    # what the CRM does not have, said in words: operation -> why (reported by the preflight and
    # ``crmload adapter check``); an operation neither implemented nor listed is simply not supported
    lacks: ClassVar[dict[str, str]] = {}
    # what the CRM promises to refuse whom: the rules the access-control probes test (SEC-AC-01), and
    # nothing else; the reference CRM's matrix unless the adapter declares its CRM's own
    access_rules: ClassVar[tuple[AccessRule, ...]] = REFERENCE_ACCESS_RULES

    @classmethod
    def supported_operations(cls) -> frozenset[str]:
        """The canonical operations this adapter implements (a method below :class:`CrmAdapter`)."""
        from crmload.core.operations import OPERATION_NAMES

        known = cls.__dict__.get("_supported")
        if known is None:
            methods = {name for klass in cls.__mro__[: cls.__mro__.index(CrmAdapter)] for name in vars(klass)}
            known = frozenset(op for op in OPERATION_NAMES if op.replace(".", "_", 1) in methods)
            cls._supported = known  # type: ignore[attr-defined]  # once per class
        return known

    def __init__(self, client: FastHttpSession, context: dict[str, Any]) -> None:
        self.client = client
        # Locust's request context (persona, journey, journey_obj): added to every sample
        self.context = context
        self._probing = False
        # signed in: the last login succeeded and no 401 has come since
        self.signed_in = False
        self._credentials: tuple[str, str, str | None] | None = None
        # the last call's response: status_code, headers (a redirect's Location), content
        self.last_response: FastResponse | None = None
        # the test-data file's contents, for an adapter that needs more than a user's credentials (a
        # webhook's key, a tenant's id); set before the first sign-in
        self.testdata: dict[str, Any] = {}

    # -- the one path every request takes --------------------------------------------------------
    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200, 201),
        expect_denied: bool = False,
        prelude: bool = False,
        **kwargs: Any,
    ) -> Answer:
        """Send one request named ``operation``; return parsed JSON (or raw bytes), or None on failure.

        ``expect_denied``: the request is a probe of access control; 401/403 is the right answer
        and is recorded as ``ok`` with ``denied=True`` in the returned dict; any 2xx is returned as
        ``{"denied": False}`` so the probe can report a breach.

        ``prelude``: in a probe, this request only prepares the probed one (a form fetched before it is
        posted): if the CRM refuses it (:meth:`probe_verdict` says denied), that is the probe's answer
        (the dict above); otherwise it is an ordinary request, judged by ``expect``, and the request
        that follows decides the probe.
        """
        context = self.context
        probe = expect_denied or self._probing
        if "json" in kwargs or "params" in kwargs:
            path = build_request(path, kwargs)
        if probe:  # a probe's redirect is its answer (to a login page: a denial)
            kwargs.setdefault("allow_redirects", False)
            # its reading goes into this request's context alone (a client without a user shares the dict)
            context = dict(context)
        # Locust copies the context into each request's event when the client has a user
        with self.client.request(method, path, name=operation, context=context, catch_response=True, **kwargs) as resp:
            if probe and prelude and resp.status_code and self.probe_verdict(operation, resp) is not True:
                probe = False  # served: an ordinary request of the probe's journey, not its answer
            answer = self._judge(operation, resp, expect, probe)
        self.last_response = resp  # its status, headers (a redirect's Location) and body, for the adapter
        if answer is _SESSION_LOST:
            self.on_session_lost()
            return None
        return answer

    def _judge(self, operation: str, resp: ResponseContextManager, expect: tuple[int, ...], probe: bool) -> Answer:
        status = resp.status_code
        if probe:
            if not status:  # no answer at all: the connection error is recorded as such
                return None
            denied = self.probe_verdict(operation, resp)
            # the probe's outcome is the adapter's reading of the answer, recorded with the sample
            outcome = Outcome.UNCLEAR if denied is None else Outcome.DENIED if denied else Outcome.GRANTED
            resp.request_meta["context"]["probe_outcome"] = str(outcome)
            resp.success()  # a probe is never a failure of the load: SEC-AC-01 judges it
            return {"denied": denied, "status": status}
        if status == 429 or self._platform_throttle(status, resp):
            said = "429 Too Many Requests" if status == 429 else f"HTTP {status}: {_detail(resp)}"
            resp.failure(Throttled(f"{operation}: {said}"))
            self._honour_retry_after(resp)
            return None
        if self.signed_in and operation != "auth.login" and self.session_expired(resp):
            said = (
                "401"
                if status == 401
                else f"HTTP {status} " + ("to" if 300 <= status < 400 else "with") + " the login page"
            )
            resp.failure(AuthLost(f"{operation}: {said} after a successful login: the session was lost"))
            return _SESSION_LOST
        if status not in expect:  # never a silent success; the outcome follows the status
            if status:  # (no status: Locust recorded the connection error or timeout itself)
                # a 2xx the operation did not expect (a form shown again): the adapter's reading, if it has one
                problem = self.check_failed(operation, resp) if 200 <= status < 300 else None
                resp.failure(
                    CheckFailed(f"{operation}: {problem}")
                    if problem
                    else UnexpectedStatus(f"HTTP {status}: {_detail(resp)}")
                )
            return None
        problem = self.check_failed(operation, resp)
        if problem:
            resp.failure(CheckFailed(f"{operation}: {problem}"))
            return None
        resp.success()
        body = resp.content
        if body[:1] in (b"{", b"["):
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
        return body

    # -- sessions ---------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, token: str | None = None) -> bool:
        """Log in through :meth:`login` (or :meth:`login_with_token` for a user with a token) and remember
        who, so that a lost session can be recovered."""
        self._credentials = (username, password, token)
        ok = self.login_with_token(username, token) if token is not None else self.login(username, password)
        self.signed_in = bool(ok)
        return self.signed_in

    def session_expired(self, response: FastResponse) -> bool:
        """Does this answer say the signed-in user's session is gone? By default a 401; a CRM that sends
        a lost session to its login page says so here (:class:`~crmload.loadtests.adapters.html.HtmlAdapter`
        does)."""
        return response.status_code == 401

    def on_session_lost(self) -> None:
        """A request got 401 (:meth:`session_expired`) after a successful login (a restarted CRM, an
        expired or revoked token).

        That request is recorded as ``auth_lost``; by default the user logs in again at once (its
        login is recorded like any other). Override for a CRM that renews sessions otherwise
        (a refresh token, a new cookie)."""
        self.signed_in = False
        if self._credentials is not None:
            self.sign_in(*self._credentials)

    def probe(self, operation: str, *args: Any, anonymous: bool = False) -> Answer:
        """Attempt an operation this user must not be allowed: ``{"denied": bool | None, "status": int}``.

        :meth:`probe_verdict` reads the answer: a denial is the right one, a grant a breach of access
        control (SEC-AC-01); the sample's outcome is ``denied``, ``granted`` or ``unclear``.
        ``anonymous`` sends the request without credentials: no token and none of the session's
        cookies (they are put back afterwards).
        """
        method = getattr(self, operation.replace(".", "_", 1))
        saved = self.client.auth_header
        jar = self.client.cookiejar
        cookies = list(jar)
        self._probing = True
        if anonymous:  # no credentials at all: neither the token nor the session's cookies
            self.client.auth_header = None
            jar.clear()
        try:
            return method(*args)
        finally:
            self._probing = False
            self.client.auth_header = saved
            if anonymous:
                jar.clear()
                for cookie in cookies:
                    jar.set_cookie(cookie)

    # -- the preflight and the audit (run in a child process of their own, before and after the load) --
    def check_target(self) -> str | None:
        """Is the target the CRM this adapter speaks to? Called once before any login; say what is wrong
        (e.g. "GET /health says it is not ..."), or None. The default checks nothing."""
        return None

    def read_back(self, entity: str, ids: list[Any]) -> dict[Any, dict[str, Any]] | None:
        """The stored records ``ids`` of ``entity`` (``leads``, ``opportunities``...: the entities the
        journeys acknowledge, with the acknowledged field under its canonical name), for the lost-write
        audit (DATA-01); a record the CRM does not have is left out. None when the read failed (it is
        not counted as a lost write). Called signed in as :attr:`readback_role`, up to
        :attr:`readback_batch` ids at a time. An adapter without it leaves DATA-01 INCONCLUSIVE."""
        raise NotSupported("read_back")

    def collect_testdata(self) -> dict[str, list[Any]]:
        """What this signed-in user works on, for ``crmload testdata build``: ``accounts`` it owns (ids),
        ``search_keys`` ([name, phone, email] of each), ``opportunities`` it owns, ``open_tickets`` it may
        work (any key may be left out). Read through the CRM's own lists; an adapter without it cannot
        build test data (write the file by hand or from the CRM's database)."""
        raise NotSupported("testdata.collect")

    def probe_verdict(self, operation: str, response: FastResponse) -> bool | None:
        """How the CRM answered a probe: True denied, False granted, None unclear (counted in neither).

        The default: 401 and 403 are denials, and so is a redirect to a login page; a 2xx is a grant.
        Override for a CRM that says no otherwise (an error in a 200 body, a form shown again)."""
        status = response.status_code
        if status in (401, 403):
            return True
        if 300 <= status < 400:
            location = str(response.headers.get("location", "") if response.headers else "").lower()
            return True if any(word in location for word in ("login", "signin", "sign-in", "auth")) else None
        if 200 <= status < 300:
            return False
        return None

    def check_failed(self, operation: str, response: FastResponse) -> str | None:
        """Say why a 2xx answer is a failure (e.g. an error page served with 200); None when it is fine."""
        return None

    @staticmethod
    def _platform_throttle(status: int, resp: FastResponse) -> bool:
        """The target platform's own "too many" (``--limits``: Salesforce's 403 REQUEST_LIMIT_EXCEEDED)."""
        limits = platform_limits()
        return limits is not None and status != 200 and limits.is_throttle(status, resp.content or b"")

    @staticmethod
    def _honour_retry_after(resp: FastResponse) -> None:
        raw = resp.headers.get("retry-after") if resp.headers else None
        if isinstance(raw, list):  # a header sent more than once: the first counts
            raw = raw[0] if raw else None
        try:
            delay = float(raw) if raw else 1.0
        except ValueError:
            delay = 1.0
        gevent.sleep(min(max(delay, 0.0), MAX_RETRY_AFTER_S))

    # -- protocol ---------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> bool:
        """Log in as this user (token, session cookie with CSRF, OAuth2...); True on success."""
        raise NotSupported("auth.login")

    def login_with_token(self, username: str, token: str) -> bool:
        """Sign in a user the test data gives a token (an API key, a personal access token) instead of a
        password. The default sends it as ``Authorization: Bearer``; override to exchange it for a session
        or to check it (a ``GET /me``), so that a bad token fails the preflight instead of the run."""
        self.client.auth_header = f"Bearer {token}"
        return True

    # -- the canonical operations ---------------------------------------------------------------
    # Each as the journeys call it, with the answer type whose fields they read
    # (crmload.core.operations: Written, Found, ...). An adapter overrides those its CRM has (its
    # supported_operations); the rest raise NotSupported and the journey skips that step.

    def customer_search(self, q: str, by: str = "name") -> Found | None:
        raise NotSupported("customer.search")

    def customer_view(self, account_id: RecordRef) -> Answer:
        raise NotSupported("customer.view")

    def customer_create(self, record: dict[str, Any]) -> Written | None:
        raise NotSupported("customer.create")

    def customer_update(self, account_id: RecordRef, patch: dict[str, Any]) -> Written | None:
        raise NotSupported("customer.update")

    def contact_create(self, record: dict[str, Any]) -> Written | None:
        raise NotSupported("contact.create")

    def lead_create(self, record: dict[str, Any]) -> Written | None:
        raise NotSupported("lead.create")

    def lead_convert(self, lead_id: RecordRef) -> Converted | None:
        raise NotSupported("lead.convert")

    def opportunity_list(self, page: int = 1, page_size: int = 25) -> Answer:
        raise NotSupported("opportunity.list")

    def opportunity_view(self, opp_id: RecordRef) -> OpportunityRead | None:
        raise NotSupported("opportunity.view")

    def opportunity_create(self, record: dict[str, Any]) -> Written | None:
        raise NotSupported("opportunity.create")

    def opportunity_update_stage(self, opp_id: RecordRef, stage: str) -> Written | None:
        raise NotSupported("opportunity.update_stage")

    def activity_log(self, account_id: RecordRef, kind: str, subject: str) -> Written | None:
        raise NotSupported("activity.log")

    def ticket_queue(self, status: str = "open", page: int = 1) -> Answer:
        raise NotSupported("ticket.queue")

    def ticket_create(self, account_id: RecordRef, subject: str, priority: str = "normal") -> Written | None:
        raise NotSupported("ticket.create")

    def ticket_view(self, ticket_id: RecordRef) -> TicketRead | None:
        raise NotSupported("ticket.view")

    def ticket_comment(self, ticket_id: RecordRef, body: str) -> Written | None:
        raise NotSupported("ticket.comment")

    def ticket_assign(self, ticket_id: RecordRef, assignee_id: RecordRef) -> Written | None:
        raise NotSupported("ticket.assign")

    def ticket_resolve(self, ticket_id: RecordRef) -> Written | None:
        raise NotSupported("ticket.resolve")

    def service_history(self, account_id: RecordRef) -> Answer:
        raise NotSupported("service.history")

    def kb_search(self, q: str) -> Answer:
        raise NotSupported("kb.search")

    def survey_submit(self, ticket_id: RecordRef, score: int, comment: str = "") -> Written | None:
        raise NotSupported("survey.submit")

    def segment_preview(self, filter_: dict[str, Any]) -> Answer:
        raise NotSupported("segment.preview")

    def campaign_create(self, name: str, filter_: dict[str, Any], channel: str = "email") -> Written | None:
        raise NotSupported("campaign.create")

    def campaign_launch(self, campaign_id: RecordRef) -> Answer:
        raise NotSupported("campaign.launch")

    def campaign_report(self, campaign_id: RecordRef) -> Answer:
        raise NotSupported("campaign.report")

    def import_bulk(self, csv_text: str) -> Answer:
        raise NotSupported("import.bulk")

    def export_bulk(self, entity: str = "contacts", limit: int = 10_000) -> Answer:
        raise NotSupported("export.bulk")

    def report_pipeline(self) -> Answer:
        raise NotSupported("report.pipeline")

    def report_service(self) -> Answer:
        raise NotSupported("report.service")

    def report_campaign(self) -> Answer:
        raise NotSupported("report.campaign")

    def order_sync(self, orders: list[dict[str, Any]]) -> Synced | None:
        raise NotSupported("order.sync")

    def webform_submit(self, record: dict[str, Any]) -> Written | None:
        raise NotSupported("webform.submit")
