"""Test data for journeys: who logs in, which records each virtual user works on, what to search for.

The file is JSON (``testdata.json``): the embedded reference CRM writes it when it seeds; for another
CRM you write it yourself (see README, "Testing your own CRM"). Keys:

| key | meaning |
|---|---|
| ``users`` | ``[{"username", "password" or "token", "role", "id"}]``; either may be ``"env:VAR"`` to read ``$VAR`` |
| ``accounts_by_owner`` | ``{username: [account id, ...]}`` for sales reps |
| ``search_keys_by_owner`` | ``{username: [[name prefix, phone, email], ...]}`` |
| ``opportunities_by_owner`` | ``{username: [opportunity id, ...]}`` |
| ``search_names`` / ``search_phones`` / ``search_emails`` / ``account_ids`` | keys anyone may look up |
| ``open_ticket_ids`` | tickets service agents can work on |
| ``kb_terms`` | knowledge-base search terms |
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from crmload.core import jsonio
from crmload.core.errors import ConfigError
from crmload.core.testdata import RecordId, TestDataFile, TestUser, secrets_of
from crmload.core.yamlio import field_name


@dataclass(frozen=True)
class Identity:
    username: str
    password: str  # "" when the user signs in with a token
    role: str
    user_id: int | None
    slot: int  # this virtual user's index among all users of its persona in this process
    token: str | None = None  # a token instead of a password (TestUser.token)


class TestData:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._by_role: dict[str, list[dict[str, Any]]] = {}
        for u in raw.get("users", []):
            self._by_role.setdefault(u["role"], []).append(u)
        self._counters: dict[str, itertools.count[int]] = {}
        self.offset = 0  # set per load generator so generators take different users first

    def users(self, role: str) -> list[dict[str, Any]]:
        return self._by_role.get(role, [])

    def next_identity(self, role: str) -> Identity:
        pool = self._by_role.get(role)
        if not pool:
            raise LookupError(f"test data has no user with role {role!r}")
        slot = next(self._counters.setdefault(role, itertools.count()))
        u = pool[(slot + self.offset) % len(pool)]
        password, token = secrets_of(u)
        return Identity(u["username"], password, role, u.get("id"), slot + self.offset * 1000, token)

    def items(self, key: str) -> list[Any]:
        value = self.raw.get(key) or []
        return list(value)

    def owned(self, key: str, username: str) -> list[Any]:
        return list((self.raw.get(key) or {}).get(username, []))


class _Checked(TestDataFile):
    """The test data as the journeys will read it: each user, and each record id, checked."""

    users: list[TestUser] = Field(min_length=1)  # type: ignore[assignment]
    account_ids: list[RecordId] = Field(default_factory=list)  # type: ignore[assignment]
    open_ticket_ids: list[RecordId] = Field(default_factory=list)  # type: ignore[assignment]
    accounts_by_owner: dict[str, list[RecordId]] = Field(default_factory=dict)  # type: ignore[assignment]
    opportunities_by_owner: dict[str, list[RecordId]] = Field(default_factory=dict)  # type: ignore[assignment]

    @field_validator("users")
    @classmethod
    def _one_entry_per_user(cls, users: list[TestUser]) -> list[TestUser]:
        seen: dict[str, int] = {}
        for i, u in enumerate(users):
            if u.username in seen:
                raise ValueError(
                    f"users[{i}].username: {u.username!r} is also users[{seen[u.username]}] — give each user once"
                )
            seen[u.username] = i
        return users


def check_testdata(path: Path) -> dict[str, Any]:
    """Read and check a test-data file; a :class:`ConfigError` naming file, field and fix otherwise."""
    fix = "see README, 'Testing your own CRM', for the keys"
    try:
        raw = jsonio.load(path)
    except OSError as exc:
        raise ConfigError(path, None, None, None, f"cannot read the test data: {exc.strerror or exc}", fix) from None
    except jsonio.JsonError as exc:
        raise ConfigError(
            path, exc.line, exc.col, None, f"not JSON: {exc}", "write the test data as a JSON object"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, 1, 1, None, f"the test data must be a JSON object, not a {type(raw).__name__}", fix)
    try:
        _Checked.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(path, None, None, field_name(err["loc"]) or None, msg, fix) from None
    return raw


@cache
def load_testdata(path: Path) -> TestData:
    return TestData(check_testdata(path))
