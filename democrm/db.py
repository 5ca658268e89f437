"""Schema and connection settings of the reference CRM's SQLite store.

One connection per server process, used from the event loop's thread only: every statement runs
to completion before the next request's starts, so concurrent writers never see
``database is locked``. WAL mode keeps readers of other processes (audits, exports) off the
writer's back. ``synchronous=NORMAL`` in WAL mode keeps every committed transaction across a
crash of the process (not across a power cut; ``durable=True`` selects FULL for that).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    password_sha256 TEXT NOT NULL, full_name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, phone TEXT NOT NULL, email TEXT NOT NULL,
    industry TEXT NOT NULL, city TEXT NOT NULL, owner_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL, updated_at REAL NOT NULL, version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS ix_accounts_name ON accounts(name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS ix_accounts_phone ON accounts(phone);
CREATE INDEX IF NOT EXISTS ix_accounts_email ON accounts(email);
CREATE INDEX IF NOT EXISTS ix_accounts_owner ON accounts(owner_id);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
    first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT NOT NULL, phone TEXT NOT NULL,
    city TEXT NOT NULL, industry TEXT NOT NULL, opted_in INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_contacts_account ON contacts(account_id);
CREATE INDEX IF NOT EXISTS ix_contacts_phone ON contacts(phone);
CREATE INDEX IF NOT EXISTS ix_contacts_email ON contacts(email);
CREATE TABLE IF NOT EXISTS leads (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, company TEXT NOT NULL, email TEXT NOT NULL,
    phone TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL, owner_id INTEGER REFERENCES users(id),
    converted_account_id INTEGER REFERENCES accounts(id), created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_leads_owner ON leads(owner_id, status);
CREATE TABLE IF NOT EXISTS opportunities (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,
    stage TEXT NOT NULL, amount REAL NOT NULL, owner_id INTEGER NOT NULL REFERENCES users(id),
    close_date TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS ix_opps_owner ON opportunities(owner_id, stage);
CREATE INDEX IF NOT EXISTS ix_opps_account ON opportunities(account_id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), kind TEXT NOT NULL,
    subject TEXT NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id), created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_activities_account ON activities(account_id, created_at);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), subject TEXT NOT NULL,
    status TEXT NOT NULL, priority TEXT NOT NULL, assignee_id INTEGER REFERENCES users(id),
    created_at REAL NOT NULL, first_response_at REAL, resolved_at REAL, sla_due_at REAL NOT NULL,
    updated_at REAL NOT NULL, version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS ix_tickets_status ON tickets(status, assignee_id);
CREATE INDEX IF NOT EXISTS ix_tickets_account ON tickets(account_id);
CREATE TABLE IF NOT EXISTS ticket_comments (
    id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    user_id INTEGER NOT NULL REFERENCES users(id), body TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_comments_ticket ON ticket_comments(ticket_id);
CREATE TABLE IF NOT EXISTS kb_articles (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS surveys (
    id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id), score INTEGER NOT NULL,
    comment TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, filter_json TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id), created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, segment_id INTEGER NOT NULL REFERENCES segments(id),
    channel TEXT NOT NULL, status TEXT NOT NULL, owner_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL, launched_at REAL
);
CREATE TABLE IF NOT EXISTS campaign_sends (
    id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id), status TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_sends_campaign ON campaign_sends(campaign_id, status);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, account_id INTEGER REFERENCES accounts(id),
    amount REAL NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, user_id INTEGER, action TEXT NOT NULL,
    entity TEXT NOT NULL, entity_id INTEGER
);
"""


def connect(path: Path | str, *, durable: bool = False) -> sqlite3.Connection:
    """Open the store with the settings the server relies on (WAL, foreign keys, a busy timeout)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA mmap_size=268435456")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
