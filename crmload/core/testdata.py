"""The test-data file (``testdata.json``): who logs in, which records each user works on, what to
search for. One definition for its writer (the reference CRM's seed) and its reader (the journeys'
:mod:`crmload.loadtests.testdata`, which checks it before any load)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TestUser(BaseModel):
    model_config = ConfigDict(extra="allow")

    username: str = Field(min_length=1)
    password: str = Field(min_length=1, description='the password, or "env:VAR" to read $VAR')
    role: str = Field(min_length=1)
    id: int | None = None


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
