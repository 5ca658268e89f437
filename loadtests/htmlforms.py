"""HTML pages and forms as a browser reads and sends them, for adapters of CRMs without a JSON API.

- :func:`parse_page` and :class:`Page`: an answer's HTML (lxml), its forms, links and record fields;
- :class:`Form`: one form as a browser would send it — its action, method and the values of its
  successful controls (hidden fields, the selected option of each select, checked boxes, textareas:
  :func:`form_values`, on lxml's form model), so that posting it with a few fields changed sends the
  CRM's own defaults and CSRF token;
- :func:`csrf_from_page` (a hidden field or a ``<meta name="csrf-token">``) and :func:`csrf_from_cookie`
  (a double-submit cookie such as Django's ``csrftoken`` or Angular's ``XSRF-TOKEN``);
- :func:`redirect_location`: where a ``302``/``303`` sends the client, the answer of a posted form
  (the new record's id is often only there), and :func:`to_login_page`.

Pure functions of what the CRM answered (no Locust here): :class:`~crmload.loadtests.adapters.html.HtmlAdapter`
puts them to work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

# hidden fields and meta tags that carry a CSRF token in common frameworks: Django, Flask-WTF and
# Rails (authenticity_token, csrf-token), Laravel (_token), ASP.NET (__RequestVerificationToken)
CSRF_FIELDS: tuple[str, ...] = (
    "csrfmiddlewaretoken",
    "csrf_token",
    "_csrf_token",
    "authenticity_token",
    "_token",
    "__RequestVerificationToken",
)
CSRF_COOKIES: tuple[str, ...] = ("csrftoken", "XSRF-TOKEN", "csrf_token", "_csrf")
# words of a location that is a login page
LOGIN_WORDS: tuple[str, ...] = ("login", "signin", "sign-in", "sign_in", "auth")
# where frameworks list a form's mistakes (Django's errorlist, Bootstrap's alerts and invalid-feedback)
ERROR_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' errorlist ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' alert-danger ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' invalid-feedback ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' form-errors ')]"
)


@dataclass
class Form:
    """One HTML form, as a browser would post it."""

    action: str  # a path (or URL) the form posts to
    method: str  # GET or POST
    values: list[tuple[str, str]] = field(default_factory=list)  # its successful controls, in order
    id: str = ""

    def filled(self, **changes: Any) -> list[tuple[str, str]]:
        """The form's values with ``changes`` (a field given replaces each value of that name; a new one is
        added; ``None`` removes it)."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, value in self.values:
            if name in changes:
                if name not in seen and changes[name] is not None:
                    out.append((name, str(changes[name])))
                seen.add(name)
            else:
                out.append((name, value))
        out += [(k, str(v)) for k, v in changes.items() if k not in seen and v is not None]
        return out

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.values if k == name), default)


@dataclass
class Page:
    """A page the CRM answered: its URL path and its document."""

    path: str
    doc: Any  # an lxml.html element (the document's root)

    def forms(self) -> list[Form]:
        out = []
        for f in self.doc.forms:
            action = _path(urljoin(self.path, f.get("action") or self.path))
            out.append(Form(action, (f.get("method") or "GET").upper(), form_values(f), f.get("id") or ""))
        return out

    def form(self, *, id: str | None = None, action: str | None = None) -> Form | None:
        """The form with this ``id`` or whose action ends with ``action`` (the first form without either)."""
        for f in self.forms():
            if (id is None or f.id == id) and (action is None or f.action.split("?")[0].endswith(action)):
                return f
        return None

    def links(self, pattern: str) -> list[re.Match[str]]:
        """The links whose ``href`` matches the regular expression ``pattern`` (its groups: the ids), in order."""
        rx = re.compile(pattern)
        return [m for href in self.doc.xpath("//a/@href") if (m := rx.search(str(href)))]

    def text(self, xpath: str) -> list[str]:
        """The text of each element ``xpath`` finds, whitespace collapsed."""
        return [
            " ".join(str(e.text_content() if hasattr(e, "text_content") else e).split()) for e in self.doc.xpath(xpath)
        ]

    def pairs(self, xpath: str = "//dl") -> dict[str, str]:
        """A definition list's ``<dt>``/``<dd>`` pairs (a record's page)."""
        out: dict[str, str] = {}
        for dl in self.doc.xpath(xpath)[:1]:
            terms = dl.xpath("./dt")
            for dt in terms:
                dd = dt.getnext()
                if dd is not None and dd.tag == "dd":
                    out[" ".join(dt.text_content().split())] = dd.text_content().strip()
        return out

    def is_login(self) -> bool:
        """Is this a login page (a form with a password field)?"""
        return bool(self.doc.xpath("//form//input[@type='password']"))


def form_values(form: Any) -> list[tuple[str, str]]:
    """The values a browser sends for an lxml form (the HTML standard's form data set, without the button
    that was not pressed): lxml's ``form_values``, except that an input without a ``value`` attribute is
    sent empty and a checked box without one as ``on``, as browsers do (lxml leaves both out)."""
    out: list[tuple[str, str]] = []
    for el in form.inputs:
        name = el.name
        if not name or "disabled" in el.attrib:
            continue
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag == "textarea":
            out.append((name, el.value or ""))
        elif tag == "select":
            chosen = el.value
            values = list(chosen) if el.multiple else [] if chosen is None else [chosen]
            out += [(name, str(v)) for v in values]
        elif el.checkable:
            if el.checked:
                out.append((name, el.get("value", "on")))
        elif (el.get("type") or "text").lower() not in ("submit", "image", "reset", "file", "button"):
            out.append((name, el.get("value", "")))
    return out


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") if parts.scheme or parts.netloc else url


def parse_page(content: bytes | None, path: str = "/") -> Page | None:
    """An answer's body as a :class:`Page` at ``path`` (None when it is not HTML)."""
    body = content or b""
    if not body.strip() or b"<" not in body[:2048]:
        return None
    try:
        return Page(path, lxml.html.document_fromstring(body))
    except (ValueError, lxml.etree.ParserError):
        return None


def csrf_from_page(page: Page, names: tuple[str, ...] = CSRF_FIELDS) -> str | None:
    """A CSRF token in a page: a hidden field of one of ``names``, or ``<meta name="csrf-token">``."""
    for name in names:
        found = page.doc.xpath("//input[@name=$n]/@value", n=name)
        if found:
            return str(found[0])
    meta = page.doc.xpath("//meta[@name='csrf-token' or @name='_csrf' or @name='csrf_token']/@content")
    return str(meta[0]) if meta else None


def csrf_from_cookie(jar: Any, names: tuple[str, ...] = CSRF_COOKIES) -> str | None:
    """A CSRF token in a double-submit cookie of the client's jar (send it back in a header)."""
    for cookie in jar:
        if cookie.name in names and cookie.value:
            return str(cookie.value)
    return None


def redirect_location(response: Any) -> str | None:
    """Where a redirect answer (a response with ``status_code`` and ``headers``) sends the client: its
    ``Location``, as a path; None for an answer that is no redirect."""
    if response is None or not 300 <= (response.status_code or 0) < 400 or not response.headers:
        return None
    raw = response.headers.get("location")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    return _path(str(raw)) if raw else None


def to_login_page(location: str | None) -> bool:
    """Is ``location`` a login page (a word of :data:`LOGIN_WORDS` in its path)?"""
    return location is not None and any(word in location.lower().split("?")[0] for word in LOGIN_WORDS)
