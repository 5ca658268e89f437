"""The server's state: the store, the faults in force, tokens and served-request counters."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crmload.democrm.faults import FaultState
from crmload.democrm.http import User
from crmload.democrm.seed import hash_password

# How long a token is good for unless told otherwise: 48 h, the longest run a scenario may ask for, so
# that no run of crmload meets an expiry it did not set (the ``token_ttl_s`` fault sets another)
DEFAULT_TOKEN_TTL_S = 48 * 3600.0


class CRM:
    """One server process's view of the store. Used from the event loop's thread only.

    Sessions live in this process only, as in a CRM with in-memory sessions: a restart signs every
    user out (their next request gets a 401), even on a kept store.
    """

    def __init__(self, db_path: Path, conn: sqlite3.Connection, faults: FaultState) -> None:
        self.db_path = db_path
        self.conn = conn
        self.faults = faults
        self.served: Counter[str] = Counter()
        self.served_by_status: Counter[tuple[str, int]] = Counter()
        self.writes_dropped = 0
        self._tokens: dict[str, tuple[User, float]] = {}
        self._round_robin = 0

    def login(self, username: str, password: str) -> tuple[str, User] | None:
        row = self.conn.execute(
            "SELECT id, username, role, password_sha256 FROM users WHERE username = ?", (username,)
        ).fetchone()
        if row is None or not secrets.compare_digest(row["password_sha256"], hash_password(password)):
            return None
        user = User(row["id"], row["username"], row["role"])
        return self.issue_token(user), user

    def issue_token(self, user: User) -> str:
        """A new token for ``user`` (signed in by password, or by a refresh token), good for :attr:`token_ttl_s`."""
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (user, time.time() + self.token_ttl_s)
        return token

    @property
    def token_ttl_s(self) -> float:
        """How long a token issued now lives: the ``token_ttl_s`` fault, else 48 h."""
        return self.faults.faults.token_ttl_s or DEFAULT_TOKEN_TTL_S

    def user_for_token(self, token: str) -> User | str:
        """The token's user, or why there is none (the 401's detail)."""
        found = self._tokens.get(token)
        if found is None:
            return "unknown token (never issued by this server, or it restarted since): log in again"
        user, expires = found
        if time.time() >= expires:
            del self._tokens[token]
            return f"token expired {time.time() - expires:.0f} s ago (tokens live {self.token_ttl_s:g} s): log in again"
        return user

    def next_user_of_role(self, role: str) -> int:
        ids = [int(r[0]) for r in self.conn.execute("SELECT id FROM users WHERE role = ? ORDER BY id", (role,))]
        self._round_robin += 1
        return ids[self._round_robin % len(ids)]

    @contextmanager
    def write(self, user: User | None, action: str, entity: str) -> Iterator[list[int]]:
        """A write transaction with its audit-log row.

        Yields a list the caller appends the touched entity ids to. Commits on success, unless the
        ``drop_write_rate`` fault picks this write: then it rolls back but still answers 2xx.
        """
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        ids: list[int] = []
        try:
            yield ids
            now = time.time()
            conn.executemany(
                "INSERT INTO audit_log(ts, user_id, action, entity, entity_id) VALUES (?,?,?,?,?)",
                [(now, user.id if user else None, action, entity, i) for i in ids[:100]],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if self.faults.drop_write():
            conn.execute("ROLLBACK")
            self.writes_dropped += 1
        else:
            conn.execute("COMMIT")
