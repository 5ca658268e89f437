"""The reference CRM's OAuth2 token endpoint (RFC 6749), beside its own login: ``POST /oauth/token``.

Grants, with the parameters form-encoded as RFC 6749 says:
- ``password`` (section 4.3): ``username``, ``password`` -> an access token and a refresh token;
- ``client_credentials`` (4.4): the client authenticates with HTTP Basic or ``client_id`` and
  ``client_secret`` (here a user's name and password: the client acts as that user, as a CRM's
  integration user does) -> an access token, no refresh token (4.4.3);
- ``refresh_token`` (6): ``refresh_token`` -> a new access token and a new refresh token (the old one is
  spent: rotation, as the OAuth 2.0 Security BCP recommends).

Access tokens are the CRM's own tokens (they expire with the ``token_ttl_s`` fault; ``expires_in``
says when); refresh tokens live 48 h and end with the server, like its sessions. A refused grant is
``400 {"error": "invalid_grant"}`` (or ``invalid_request``, ``unsupported_grant_type``), a client
that failed to authenticate ``401 {"error": "invalid_client"}`` with ``WWW-Authenticate: Basic``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmload.democrm.http import ApiError, User, json_response, read_body
from crmload.democrm.operations import OPERATIONS
from crmload.democrm.pipeline import answered, signing_in
from crmload.democrm.state import CRM

REFRESH_TTL_S = 48 * 3600.0


class _Refused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> Response:
        response = json_response({"error": self.error, "error_description": self.description}, self.status)
        if self.status == 401:
            response.headers["www-authenticate"] = 'Basic realm="crm"'
        response.headers["cache-control"] = "no-store"
        return response


class TokenEndpoint:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self._refresh: dict[str, tuple[User, float]] = {}  # refresh token -> (its user, expiry)

    def routes(self) -> list[Route]:
        return [Route("/oauth/token", self.token, methods=["POST"])]

    async def token(self, request: Request) -> Response:
        op = OPERATIONS["auth.login"]
        start = time.perf_counter()
        try:
            await signing_in(self.crm)
            params = await self._params(request)
            response = self._grant(params, request)
        except ApiError as exc:
            response = exc.response()
        except _Refused as refused:
            response = refused.response()
        return answered(self.crm, op, response, start)

    @staticmethod
    async def _params(request: Request) -> dict[str, str]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise _Refused(400, "invalid_request", "parameters are sent as application/x-www-form-urlencoded")
        raw = await read_body(request, 64 * 1024)
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

    def _grant(self, params: dict[str, str], request: Request) -> Response:
        grant = params.get("grant_type", "")
        if grant == "password":
            return self._issue(params.get("username", ""), params.get("password", ""), refresh=True)
        if grant == "client_credentials":
            client_id, secret = _client(params, request)
            try:
                return self._issue(client_id, secret, refresh=False)
            except _Refused as refused:
                raise _Refused(401, "invalid_client", "unknown client or wrong secret") from refused
        if grant == "refresh_token":
            found = self._refresh.pop(params.get("refresh_token", ""), None)
            if found is None or time.time() >= found[1]:
                raise _Refused(400, "invalid_grant", "unknown, spent or expired refresh token")
            return self._tokens(found[0], refresh=True)
        if not grant:
            raise _Refused(400, "invalid_request", "grant_type is required")
        raise _Refused(
            400, "unsupported_grant_type", f"grant_type {grant!r}: use password, client_credentials or refresh_token"
        )

    def _issue(self, username: str, password: str, *, refresh: bool) -> Response:
        found = self.crm.login(username, password) if username and password else None
        if found is None:
            raise _Refused(400, "invalid_grant", "wrong username or password")
        return self._tokens(found[1], refresh=refresh, token=found[0])

    def _tokens(self, user: User, *, refresh: bool, token: str | None = None) -> Response:
        token = token or self.crm.issue_token(user)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": int(self.crm.token_ttl_s)}
        if refresh:
            rt = secrets.token_urlsafe(24)
            self._refresh[rt] = (user, time.time() + REFRESH_TTL_S)
            body["refresh_token"] = rt
        response = json_response(body)
        response.headers["cache-control"] = "no-store"
        return response


def _client(params: dict[str, str], request: Request) -> tuple[str, str]:
    """The client's id and secret: HTTP Basic (RFC 6749 2.3.1), else the body's client_id and client_secret."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            user, _, secret = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _Refused(401, "invalid_client", "the Basic credentials are not base64 of id:secret") from exc
        return user, secret
    return params.get("client_id", ""), params.get("client_secret", "")
