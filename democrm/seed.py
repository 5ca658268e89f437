"""Deterministic seed data for the reference CRM, and the test-data manifest journeys read.

The same ``(size, seed)`` always gives the same rows, so two runs of a regression scenario meet the
same data. :func:`seed` returns a :class:`Manifest`: the users' credentials, the records each user
owns, and search keys (names, phones, e-mails) that are known to exist. Journeys draw from it so
that no two virtual users fight over the same record unless a scenario asks for that.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from crmload.core.testdata import TestDataFile
from crmload.democrm.operations import ACTIVITY_KINDS, PIPELINE_STAGES


@dataclass(frozen=True)
class Size:
    accounts: int
    contacts_per_account: int
    opportunities: int
    tickets: int
    activities: int
    leads: int
    users: dict[str, int]


SIZES: dict[str, Size] = {
    "tiny": Size(
        200,
        2,
        200,
        200,
        600,
        100,
        {"sales": 6, "service": 4, "marketing": 3, "manager": 2, "admin": 1, "integration": 2},
    ),
    "small": Size(
        2_000,
        3,
        2_000,
        2_000,
        10_000,
        1_000,
        {"sales": 20, "service": 12, "marketing": 6, "manager": 3, "admin": 1, "integration": 4},
    ),
    "default": Size(
        25_000,
        3,
        30_000,
        30_000,
        300_000,
        10_000,
        {"sales": 120, "service": 80, "marketing": 30, "manager": 10, "admin": 1, "integration": 10},
    ),
}

_FIRST = (
    "Anna",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
)
_LAST = (
    "Adams",
    "Brooks",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jansen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
)
_WORDS = (
    "Apex",
    "Blue",
    "Cedar",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nova",
    "Orbit",
    "Pine",
    "Quartz",
    "River",
    "Summit",
    "Tidal",
    "Union",
    "Vertex",
    "Willow",
    "Zenith",
)
_SUFFIX = (
    "Logistics",
    "Foods",
    "Health",
    "Systems",
    "Retail",
    "Energy",
    "Labs",
    "Motors",
    "Textiles",
    "Media",
    "Finance",
    "Travel",
)
_INDUSTRIES = ("retail", "manufacturing", "health", "finance", "logistics", "media", "energy", "travel")
_CITIES = ("Lisbon", "Oslo", "Lyon", "Leeds", "Gdansk", "Porto", "Graz", "Turku", "Ghent", "Bilbao")
_KB_TOPICS = (
    "password reset",
    "invoice copy",
    "delivery delay",
    "refund policy",
    "warranty claim",
    "change address",
    "cancel order",
    "account locked",
    "payment failed",
    "export data",
    "two-factor login",
    "damaged item",
    "upgrade plan",
    "api limits",
    "mobile app",
)


def password_for(username: str) -> str:
    """The seeded password of a user (the reference CRM is a test target, not a vault)."""
    return f"{username}-pw"


def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class Manifest(TestDataFile):
    """Everything a journey needs to know about the seeded data; written as ``testdata.json``."""

    size: str
    seed: int
    counts: dict[str, int] = Field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1))

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.model_validate_json(path.read_text())


def seed(conn: sqlite3.Connection, size: str = "small", seed: int = 42) -> Manifest:
    """Fill an empty store with ``size`` data; deterministic for a given ``seed``."""
    spec = SIZES[size]
    rng = random.Random(seed)
    now = time.time()
    day = 86_400.0
    manifest = Manifest(size=size, seed=seed)

    users: list[tuple[int, str, str, str, str]] = []
    for role, n in spec.users.items():
        for i in range(1, n + 1):
            username = f"{role}{i:03d}"
            uid = len(users) + 1
            users.append(
                (
                    uid,
                    username,
                    role,
                    hash_password(password_for(username)),
                    f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                )
            )
            manifest.users.append({"id": uid, "username": username, "role": role, "password": password_for(username)})
    sales_ids = [u[0] for u in users if u[2] == "sales"]
    service_ids = [u[0] for u in users if u[2] == "service"]
    marketing_ids = [u[0] for u in users if u[2] == "marketing"]
    username_of = {u[0]: u[1] for u in users}

    accounts = []
    contacts = []
    for aid in range(1, spec.accounts + 1):
        name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIX)} {aid}"
        phone = f"+1555{aid:07d}"
        email = f"info{aid}@{name.split()[0].lower()}{aid}.example"
        owner = sales_ids[aid % len(sales_ids)]
        created = now - rng.uniform(30, 1000) * day
        city = rng.choice(_CITIES)
        industry = rng.choice(_INDUSTRIES)
        accounts.append((aid, name, phone, email, industry, city, owner, created, created))
        for k in range(spec.contacts_per_account):
            cid = (aid - 1) * spec.contacts_per_account + k + 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            contacts.append(
                (
                    cid,
                    aid,
                    first,
                    last,
                    f"{first.lower()}.{last.lower()}{cid}@mail.example",
                    f"+1666{cid:07d}",
                    city,
                    industry,
                    int(rng.random() < 0.8),
                    created,
                )
            )

    opportunities = []
    for oid in range(1, spec.opportunities + 1):
        aid = rng.randint(1, spec.accounts)
        owner = accounts[aid - 1][6]
        created = now - rng.uniform(1, 365) * day
        opportunities.append(
            (
                oid,
                aid,
                f"Deal {oid}",
                rng.choice(PIPELINE_STAGES),
                round(rng.lognormvariate(9, 1.2), 2),
                owner,
                time.strftime("%Y-%m-%d", time.gmtime(created + 90 * day)),
                created,
                created,
            )
        )

    tickets = []
    for tid in range(1, spec.tickets + 1):
        aid = rng.randint(1, spec.accounts)
        created = now - rng.uniform(0, 180) * day
        status = rng.choices(("open", "pending", "resolved"), (2, 1, 7))[0]
        resolved = created + rng.uniform(0.05, 5) * day if status == "resolved" else None
        tickets.append(
            (
                tid,
                aid,
                f"{rng.choice(_KB_TOPICS).capitalize()} #{tid}",
                status,
                rng.choice(("low", "normal", "high")),
                rng.choice(service_ids),
                created,
                created + rng.uniform(0.01, 0.5) * day,
                resolved,
                created + 2 * day,
                created,
            )
        )

    comments = [
        (
            i,
            rng.randint(1, spec.tickets),
            rng.choice(service_ids),
            "Customer called about it again.",
            now - rng.uniform(0, 180) * day,
        )
        for i in range(1, spec.tickets * 2 + 1)
    ]
    activities = [
        (
            i,
            rng.randint(1, spec.accounts),
            rng.choice(ACTIVITY_KINDS),
            "Follow-up",
            rng.choice(sales_ids),
            now - rng.uniform(0, 365) * day,
        )
        for i in range(1, spec.activities + 1)
    ]
    leads = [
        (
            i,
            f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            f"{rng.choice(_WORDS)} {rng.choice(_SUFFIX)}",
            f"lead{i}@prospect.example",
            f"+1777{i:07d}",
            rng.choice(("web", "event", "referral", "import")),
            "new",
            rng.choice(sales_ids),
            None,
            now - rng.uniform(0, 60) * day,
        )
        for i in range(1, spec.leads + 1)
    ]
    kb = [
        (i + 1, f"How to handle {t}", f"Steps for {t}: check the account, confirm, then act. " * 5, t)
        for i, t in enumerate(_KB_TOPICS)
    ]
    segments = [
        (
            i + 1,
            f"{ind} opted-in",
            json.dumps({"industry": ind, "opted_in": True}),
            marketing_ids[i % len(marketing_ids)],
            now,
        )
        for i, ind in enumerate(_INDUSTRIES)
    ]

    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO users VALUES (?,?,?,?,?)", users)
        conn.executemany(
            "INSERT INTO accounts(id,name,phone,email,industry,city,owner_id,created_at,updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            accounts,
        )
        conn.executemany("INSERT INTO contacts VALUES (?,?,?,?,?,?,?,?,?,?)", contacts)
        conn.executemany(
            "INSERT INTO opportunities(id,account_id,name,stage,amount,owner_id,close_date,"
            "created_at,updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            opportunities,
        )
        conn.executemany(
            "INSERT INTO tickets(id,account_id,subject,status,priority,assignee_id,created_at,"
            "first_response_at,resolved_at,sla_due_at,updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            tickets,
        )
        conn.executemany("INSERT INTO ticket_comments VALUES (?,?,?,?,?)", comments)
        conn.executemany("INSERT INTO activities VALUES (?,?,?,?,?,?)", activities)
        conn.executemany("INSERT INTO leads VALUES (?,?,?,?,?,?,?,?,?,?)", leads)
        conn.executemany("INSERT INTO kb_articles VALUES (?,?,?,?)", kb)
        conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?)", segments)
        conn.execute("COMMIT")

    for aid, *_rest in accounts:
        owner_name = username_of[accounts[aid - 1][6]]
        owned = manifest.accounts_by_owner.setdefault(owner_name, [])
        if len(owned) < 50:
            owned.append(aid)
            name = accounts[aid - 1][1]
            manifest.search_keys_by_owner.setdefault(owner_name, []).append(
                [name.rsplit(" ", 1)[0], accounts[aid - 1][2], accounts[aid - 1][3]]
            )
    for o in opportunities:
        owned = manifest.opportunities_by_owner.setdefault(username_of[o[5]], [])
        if len(owned) < 50 and o[3] not in ("won", "lost"):
            owned.append(o[0])
    picks = rng.sample(accounts, min(500, len(accounts)))
    manifest.search_names = [a[1].rsplit(" ", 1)[0] for a in picks[:200]]
    manifest.search_phones = [a[2] for a in picks[200:350]] or [a[2] for a in picks]
    manifest.search_emails = [a[3] for a in picks[350:]] or [a[3] for a in picks]
    manifest.account_ids = [a[0] for a in picks]
    manifest.open_ticket_ids = [t[0] for t in tickets if t[3] != "resolved"][:2000]
    manifest.kb_terms = list(_KB_TOPICS)
    manifest.counts = {
        "accounts": len(accounts),
        "contacts": len(contacts),
        "opportunities": len(opportunities),
        "tickets": len(tickets),
        "activities": len(activities),
        "leads": len(leads),
        "users": len(users),
    }
    return manifest
