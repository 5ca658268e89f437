"""The test-data file (``testdata.json``): who logs in, which records each user works on, what to
search for. One definition for its writer (the reference CRM's seed) and its reader (the journeys'
:mod:`crmload.loadtests.testdata`, which checks it before any load)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


def _record_id(value: Any) -> Any:
    if isinstance(value, bool) or not ((isinstance(value, int) and value >= 1) or (isinstance(value, str) and value)):
        raise ValueError(f"a record id is a whole number from 1 or a non-empty text (got {value!r})")
    return value


# a record's id in the CRM: a whole number from 1, or a non-empty text (a UUID, a key)
RecordId = Annotated[Any, AfterValidator(_record_id)]


def password_of(text: str) -> str:
    """A test user's password: ``"env:VAR"`` reads ``$VAR`` (so that no password sits in the file)."""
    return os.environ.get(text[4:], "") if text.startswith("env:") else text


def secrets_of(user: dict[str, Any]) -> tuple[str, str | None]:
    """A test-data user's (password, token), each read from ``$VAR`` when written ``"env:VAR"``:
    the password is ``""`` for a user with a token, the token None for a user with a password."""
    password = password_of(str(user["password"])) if user.get("password") else ""
    token = password_of(str(user["token"])) if user.get("token") else None
    return password, token


class TestUser(BaseModel):
    """One test user: a password, or a token (an API key, a personal access token) for a CRM whose
    users sign in with one; either may be ``"env:VAR"``."""

    model_config = ConfigDict(extra="allow")
    username: str = Field(min_length=1)
    password: str | None = Field(None, min_length=1, description='the password, or "env:VAR" to read $VAR')
    token: str | None = Field(None, min_length=1, description='a token instead of a password, or "env:VAR"')
    role: str = Field(min_length=1)
    id: RecordId | None = None

    @field_validator("password", "token")
    @classmethod
    def _env_set(cls, v: str | None) -> str | None:
        if v is not None and v.startswith("env:") and not password_of(v):
            raise ValueError(f"the secret is read from ${v[4:]}, which is not set (or empty) here")
        return v

    @model_validator(mode="after")
    def _a_secret(self) -> TestUser:
        if self.password is None and self.token is None:
            raise ValueError(f'password or token: required for {self.username!r} (either may be "env:VAR")')
        return self


class TestDataFile(BaseModel):
    """The keys the journeys read (others are kept, for adapters of their own)."""

    model_config = ConfigDict(extra="allow")

    users: list[dict[str, Any]] = Field(default_factory=list, description="TestUser entries")
    accounts_by_owner: dict[str, list[Any]] = Field(default_factory=dict)
    search_keys_by_owner: dict[str, list[Any]] = Field(default_factory=dict)
    opportunities_by_owner: dict[str, list[Any]] = Field(default_factory=dict)
    search_names: list[Any] = Field(default_factory=list)
    search_phones: list[Any] = Field(default_factory=list)
    search_emails: list[Any] = Field(default_factory=list)
    account_ids: list[Any] = Field(default_factory=list)
    open_ticket_ids: list[Any] = Field(default_factory=list)
    kb_terms: list[Any] = Field(default_factory=list)


# what an adapter's collect_testdata() may answer for one signed-in user (crmload testdata build)
COLLECTED_KEYS: tuple[str, ...] = ("accounts", "search_keys", "opportunities", "open_tickets")


def assemble_testdata(base: dict[str, Any], collected: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """A test-data file from ``base`` (its ``users`` and any keys of its own, kept) and what each user's
    session collected (:data:`COLLECTED_KEYS`): the records each user owns (``accounts_by_owner``,
    ``search_keys_by_owner`` [name, phone, email], ``opportunities_by_owner``), every account and open
    ticket once, in the order first seen, and the search keys of all. A user who owns nothing gets no
    entry (so the probes of others' records never pick a record of one's own from an empty owner)."""
    data = dict(base)
    by_owner: dict[str, dict[str, list[Any]]] = {"accounts_by_owner": {}, "search_keys_by_owner": {},
                                                 "opportunities_by_owner": {}}  # fmt: skip
    accounts: dict[str, Any] = {}
    tickets: dict[str, Any] = {}
    keys: list[list[Any]] = []
    for username, got in collected.items():
        for key, field in (("accounts", "accounts_by_owner"), ("search_keys", "search_keys_by_owner"),
                           ("opportunities", "opportunities_by_owner")):  # fmt: skip
            if got.get(key):
                by_owner[field][username] = list(got[key])
        for rid in got.get("accounts", []):
            accounts.setdefault(str(rid), rid)
        for rid in got.get("open_tickets", []):
            tickets.setdefault(str(rid), rid)
        keys.extend(list(k) for k in got.get("search_keys", []))
    data.update(by_owner)
    data["account_ids"] = list(accounts.values())
    data["open_ticket_ids"] = list(tickets.values())
    data["search_names"] = [k[0] for k in keys if k and k[0]]
    data["search_phones"] = [k[1] for k in keys if len(k) > 1 and k[1]]
    data["search_emails"] = [k[2] for k in keys if len(k) > 2 and k[2]]
    return data
