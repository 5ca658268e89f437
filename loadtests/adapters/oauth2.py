"""A base for CRMs that sign in through an OAuth2 token endpoint (RFC 6749), with refresh.

Salesforce, Dynamics 365 (Microsoft Entra ID), HubSpot and Zoho CRM all hand out short-lived bearer
tokens this way. :class:`OAuth2Adapter` signs a user in with the ``password`` grant (the test data's
username and password) or the ``client_credentials`` grant (the username and password as the client's
id and secret, sent with HTTP Basic as RFC 6749 section 2.3.1 prefers), keeps the refresh token, and
renews the access token:

- **before it expires**, when the answer said ``expires_in``: the first request within
  :attr:`OAuth2Adapter.refresh_margin_s` of the end (a quarter of the token's life when that is
  shorter) renews it first, as OAuth client libraries do, so a run longer than a token's life meets
  no expiry at all;
- **after a 401** (the token was revoked, the CRM restarted, or the margin is ``None``): that request is
  recorded as ``auth_lost`` and the refresh token is tried before a new sign-in.

Every token request is named ``auth.login`` (a renewal is a sign-in, in the LOGIN class of the
standard); a refused grant's reason is the endpoint's ``error`` and ``error_description``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from crmload.loadtests.adapter import Answer, CrmAdapter

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class OAuth2Adapter(CrmAdapter):
    """Subclasses set :attr:`token_path` and :attr:`grant` and map the operations (bearer-token requests)."""

    name = "oauth2"
    token_path: ClassVar[str] = "/oauth/token"
    grant: ClassVar[Literal["password", "client_credentials"]] = "password"
    # an app's registration sent with the password grant (None: not sent), and the scope asked for
    client_id: ClassVar[str | None] = None
    client_secret: ClassVar[str | None] = None
    scope: ClassVar[str | None] = None
    # renew this many seconds before the token's end (None: only when a request is refused with 401)
    refresh_margin_s: ClassVar[float | None] = 30.0

    _refresh_token: str | None = None
    _renew_at: float | None = None  # time.monotonic() at which the access token is renewed (from expires_in)
    _renewing = False

    def login(self, username: str, password: str) -> bool:
        if self.grant == "client_credentials":
            return self._token({"grant_type": "client_credentials"}, auth=(username, password))
        params = {"grant_type": "password", "username": username, "password": password}
        if self.client_id is not None:
            params["client_id"] = self.client_id
        if self.client_secret is not None:
            params["client_secret"] = self.client_secret
        return self._token(params)

    def refresh(self) -> bool:
        """Renew the access token with the refresh token; False when there is none or it was refused."""
        if not self._refresh_token:
            return False
        params = {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        if self.client_id is not None:
            params["client_id"] = self.client_id
        self._refresh_token = None  # spent, whatever the answer (a rotating server issues a new one)
        return self._token(params)

    def _token(self, params: dict[str, str], auth: tuple[str, str] | None = None) -> bool:
        if self.scope is not None:
            params["scope"] = self.scope
        self._renewing = True
        try:
            body = urlencode(params).encode()
            answer = self.call(
                "auth.login", "POST", self.token_path, data=body, headers=dict(FORM), auth=auth, expect=(200,)
            )
        finally:
            self._renewing = False
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            return False
        kind = str(answer.get("token_type") or "Bearer")
        self.client.auth_header = f"{'Bearer' if kind.lower() == 'bearer' else kind} {answer['access_token']}"
        self._refresh_token = answer.get("refresh_token") or self._refresh_token
        life = answer.get("expires_in")
        self._renew_at = None
        if isinstance(life, int | float) and life > 0 and self.refresh_margin_s is not None:
            # a token shorter-lived than the margin is renewed at three quarters of its life
            self._renew_at = time.monotonic() + float(life) - min(self.refresh_margin_s, float(life) / 4)
        return True

    def call(self, operation: str, method: str, path: str, **kwargs: Any) -> Answer:
        """:meth:`CrmAdapter.call`, after renewing a token that is about to expire."""
        if not self._renewing and self.signed_in and self._renew_at is not None and time.monotonic() >= self._renew_at:
            self._renew_at = None
            if not self.refresh() and self._credentials is not None:
                self.sign_in(*self._credentials)
        return super().call(operation, method, path, **kwargs)

    def on_session_lost(self) -> None:
        """A 401 after sign-in: the refresh token first, a new sign-in when it is refused."""
        self.signed_in = False
        if self.refresh():
            self.signed_in = True
        elif self._credentials is not None:
            self.sign_in(*self._credentials)
