"""A base for CRMs whose operations are HTML pages and forms: a session cookie, a CSRF token, forms
replayed with their defaults, a ``302`` to the new record as the answer.

:meth:`HtmlAdapter.page` fetches a page (``GET``, no redirect followed: a redirect to the login page is
a lost session, not a page), :meth:`HtmlAdapter.submit` posts a :class:`~crmload.loadtests.htmlforms.Form`
and returns the ``Location`` it answered with, and a form shown again with a mistake (``200`` with an
error list, as Django, Rails and most frameworks answer) is a failure whose reason is the CRM's own
words. Every request of an operation is named by that operation (a form fetched and then posted is two
``lead.create`` requests), so it stays in its operation's class of the standard; in a probe, the
fetched form is a prelude (:meth:`CrmAdapter.call`'s ``prelude``): a refusal there is the probe's
answer, a form served is an ordinary request and the probe is decided by the post. The pieces
(forms, CSRF, redirects) are :mod:`crmload.loadtests.htmlforms`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlencode

from locust.contrib.fasthttp import FastResponse

from crmload.loadtests.adapter import Answer, CrmAdapter
from crmload.loadtests.htmlforms import (
    ERROR_XPATH,
    Form,
    Page,
    csrf_from_cookie,
    parse_page,
    redirect_location,
    to_login_page,
)

# a cheap look before a page is parsed for a login form
_PASSWORD_FIELD = re.compile(rb"type\s*=\s*[\"']?password", re.I)


class HtmlAdapter(CrmAdapter):
    """Subclasses map operations onto :meth:`page` and :meth:`submit`; see the module's docstring."""

    name = "html"
    # where the CRM's mistakes are listed in a form shown again (an XPath)
    error_xpath: ClassVar[str] = ERROR_XPATH
    # the header a CRM reads a cookie's CSRF token from, when it wants one (Django: X-CSRFToken)
    csrf_header: ClassVar[str | None] = None
    # the last answer parsed, and its document: an answer is read once however many hooks look at it
    _parsed: tuple[FastResponse, Any] | None = None

    def _read(self, response: FastResponse, path: str = "/") -> Page | None:
        """``response`` as a :class:`Page` at ``path``, parsed once (None when it is not HTML)."""
        if self._parsed is None or self._parsed[0] is not response:
            page = parse_page(response.content, path)
            self._parsed = (response, None if page is None else page.doc)
        doc = self._parsed[1]
        return None if doc is None else Page(path, doc)

    def page(
        self,
        operation: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        prelude: bool = False,
        expect: tuple[int, ...] = (200,),
    ) -> Page | Answer:
        """``GET path`` as ``operation``: the page, or None when the request failed (recorded).

        ``prelude``: the page only prepares the operation (a form fetched before it is posted); in a
        probe, a refusal here is the probe's answer (returned as such) and a page served is an ordinary
        request."""
        answer = self.call(operation, "GET", path, params=params, expect=expect, allow_redirects=False, prelude=prelude)
        if answer is None or isinstance(answer, dict):  # failed, or the probe's answer
            return answer
        return self._read(self.last_response, path) if self.last_response is not None else None

    def submit(self, operation: str, form: Form, *, expect: tuple[int, ...] = (302, 303), **changes: Any) -> Answer:
        """Post ``form`` with ``changes`` as ``operation``; the ``Location`` it answered with (a path), or None.

        A ``200`` (the form shown again) is a failure whose reason is the page's error list; in a probe
        the answer is the probe's (a dict)."""
        body = urlencode(form.filled(**changes)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        token = csrf_from_cookie(self.client.cookiejar) if self.csrf_header else None
        if token and self.csrf_header:
            headers[self.csrf_header] = token
        answer = self.call(operation, form.method, form.action, data=body, headers=headers, expect=expect,
                           allow_redirects=False)  # fmt: skip
        if answer is None or isinstance(answer, dict):
            return answer
        return redirect_location(self.last_response) or form.action

    # -- how such a CRM answers ------------------------------------------------------------------
    def check_failed(self, operation: str, response: FastResponse) -> str | None:
        """A page that lists mistakes (a form shown again), or the login page served as the answer."""
        if not 200 <= response.status_code < 300:
            return None
        page = self._read(response)
        if page is None:
            return None
        errors = [t for t in page.text(self.error_xpath) if t]
        if errors:
            return "the form was shown again: " + "; ".join(errors)[:200]
        if operation != "auth.login" and page.is_login():
            return "the login page was served"
        return None

    def session_expired(self, response: FastResponse) -> bool:
        """401, a redirect to the login page, or the login page itself served with 200 (a page with a
        password field: override for a CRM whose own pages have one, such as a settings page)."""
        status = response.status_code
        if status == 401 or to_login_page(redirect_location(response)):
            return True
        if status == 200 and _PASSWORD_FIELD.search(response.content or b""):
            page = self._read(response)
            return page is not None and page.is_login()
        return False

    def probe_verdict(self, operation: str, response: FastResponse) -> bool | None:
        status = response.status_code
        if status == 200:
            page = self._read(response)
            if page is not None and page.is_login():
                return True  # the login page instead of what was asked: refused
            if page is not None and [t for t in page.text(self.error_xpath) if t]:
                return None  # a form shown again: neither done nor refused
        if 300 <= status < 400:
            if to_login_page(redirect_location(response)):
                return True
            # a posted form sent on to its record: it was accepted (a grant); a page sent elsewhere: unclear
            return False if str(getattr(response.request, "method", "")).upper() == "POST" else None
        return super().probe_verdict(operation, response)
