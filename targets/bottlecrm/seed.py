"""Seed a BottleCRM (PyPI ``django-crm``) database for crmload, in two steps, run with the Python that
has django-crm:

    python seed.py users USERS_OUT [--grant ROLE:RIGHT ...]     (Django's ORM, as the database owner)
    python seed.py records URL USERS_IN TESTDATA_OUT             (the CRM's own REST API, as its users)

``users`` creates two organisations: "crmload Org A", where every crmload role has users, and
"crmload Org B", a second tenant whose records no user of Org A may ever reach. BottleCRM's roles are
ADMIN and USER per organisation (``common.models.Profile.role``): the manager and the admin are
ADMINs, sales, service, marketing and integration users USERs (sales and integration with
``has_sales_access``, marketing with ``has_marketing_access``). Its users sign in with tokens, not
passwords: each gets a personal access token (``PersonalAccessToken.generate``, ``bcrm_pat_...``).

``records`` creates, through the API and as the user who owns them: each sales rep's customers
(accounts, each with a contact carrying its phone and e-mail, assigned to the rep and to the service
agents, who work their tickets), the rep's opportunities, open tickets (cases on those customers,
assigned to the service agents), a lead webhook per integration user (``/api/leads/intakes/``), and
Org B's customers and deals; then writes the test-data file crmload reads.

BottleCRM's read rules for what crmload exercises: an ADMIN reads every record of its organisation, a
USER the records it created or is assigned (``accounts/access.py``, ``opportunity/access.py``,
``cases/access.py``), and a record it may not open answers 404, exactly like a missing one; no one
reaches another organisation's rows (row-level security keyed on the token's organisation,
``common/rls``). ``--grant sales:admin`` makes the sales reps ADMINs (for the tests that expect SEC-AC-01
to FAIL).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROLES = {  # crmload role -> (users, BottleCRM role, has_sales_access, has_marketing_access)
    "sales": (4, "USER", True, False),
    "service": (2, "USER", False, False),
    "marketing": (1, "USER", False, True),
    "manager": (1, "ADMIN", True, True),
    "integration": (2, "USER", True, False),
    "admin": (1, "ADMIN", True, True),
}
GRANTS = {"admin": "ADMIN"}  # --grant ROLE:admin
CUSTOMERS = 120
OPPORTUNITIES_PER_REP = 8
TICKETS = 40
OTHER_TENANT_CUSTOMERS = 10
STAGES = ("PROSPECTING", "QUALIFICATION", "PROPOSAL", "NEGOTIATION")


def users(out: Path, grants: dict[str, str]) -> None:
    import django

    django.setup()
    from common.models import Org, PersonalAccessToken, Profile, User

    made: list[dict[str, Any]] = []

    def member(org: Any, login: str, name: str, role: str, sales: bool, marketing: bool, crm_role: str) -> None:
        user = User.objects.create(email=f"{login}@crmload.example", name=name)
        profile = Profile.objects.create(
            user=user, org=org, role=role, has_sales_access=sales, has_marketing_access=marketing, is_active=True
        )
        raw, _ = PersonalAccessToken.generate(profile, "crmload")
        made.append({"username": login, "token": raw, "role": crm_role, "id": str(profile.id), "org": str(org.id)})

    org_a = Org.objects.create(name="crmload Org A", default_currency="EUR", default_country="PT")
    for crm_role, (count, role, sales, marketing) in ROLES.items():
        for n in range(1, count + 1):
            login = crm_role if crm_role == "admin" else f"{crm_role}{n:03d}"
            member(org_a, login, f"{crm_role.title()} {n}", grants.get(crm_role, role), sales, marketing, crm_role)
    org_b = Org.objects.create(name="crmload Org B", default_currency="EUR", default_country="PT")
    member(org_b, "tenant-b-admin", "Org B Admin", "ADMIN", True, True, "tenant-b")
    out.write_text(json.dumps(made, indent=1))


class Api:
    def __init__(self, url: str, token: str) -> None:
        import requests

        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(self.url + path, json=body, timeout=30)
        if r.status_code not in (200, 201):
            sys.exit(f"seed: POST {path} gave {r.status_code}: {r.text[:300]}")
        return dict(r.json())


def records(url: str, users_in: Path, out: Path) -> None:
    rng = random.Random(20261202)
    people = json.loads(users_in.read_text())
    by_role: dict[str, list[dict[str, Any]]] = {}
    for u in people:
        by_role.setdefault(u["role"], []).append(u)
    agents = [u["id"] for u in by_role["service"]]
    admin = Api(url, by_role["admin"][0]["token"])
    data: dict[str, Any] = {
        "users": [{k: u[k] for k in ("username", "token", "role", "id")} for u in people if u["role"] != "tenant-b"],
        "accounts_by_owner": {},
        "search_keys_by_owner": {},
        "opportunities_by_owner": {},
    }
    customers: list[tuple[str, str, str, str]] = []  # (id, name, phone, email)
    reps = by_role["sales"]
    for i in range(1, CUSTOMERS + 1):
        rep = reps[(i - 1) % len(reps)]
        api = Api(url, rep["token"])
        name = f"Customer {i:04d} {rng.choice(['Ltd', 'GmbH', 'SA', 'BV'])}"
        phone, email = f"+3519{i:08d}", f"c{i:04d}@customer.example"
        city = rng.choice(["Porto", "Lyon", "Graz", "Ghent"])
        account = api.post(
            "/api/accounts/",
            {"name": name, "phone": phone, "email": email, "city": city, "assigned_to": [rep["id"], *agents]},
        )
        api.post(
            "/api/contacts/",
            {
                "first_name": "Alex",
                "last_name": f"Buyer {i:04d}",
                "email": email,
                "phone": phone,
                "account": account["id"],
                "assigned_to": [rep["id"], *agents],
            },
        )
        customers.append((account["id"], name, phone, email))
        data["accounts_by_owner"].setdefault(rep["username"], []).append(account["id"])
        data["search_keys_by_owner"].setdefault(rep["username"], []).append([name, phone, email])
    for rep in reps:
        api = Api(url, rep["token"])
        for j, account_id in enumerate(data["accounts_by_owner"][rep["username"]][:OPPORTUNITIES_PER_REP]):
            opp = api.post(
                "/api/opportunities/",
                {
                    "name": f"Deal {rep['username']} {j}",
                    "account": account_id,
                    "stage": rng.choice(STAGES),
                    "amount": str(rng.randrange(1000, 90000)),
                    "currency": "EUR",
                    "probability": 20,
                    "assigned_to": [rep["id"]],
                },
            )
            data["opportunities_by_owner"].setdefault(rep["username"], []).append(opp["id"])
    tickets = []
    for t in range(TICKETS):
        account_id = customers[t % len(customers)][0]
        case = admin.post(
            "/api/cases/",
            {
                "name": f"Printer offline {t:03d}",
                "account": account_id,
                "priority": "Normal",
                "status": "New",
                "case_type": "Problem",
                "assigned_to": agents,
            },
        )
        tickets.append(case["id"])
    data["open_ticket_ids"] = tickets
    intakes = {}
    for u in by_role["integration"]:
        made = admin.post("/api/leads/intakes/", {"name": f"crmload {u['username']}", "preset": "generic"})
        intakes[u["username"]] = {"id": made["id"], "key": made["key"]}
    data["lead_intakes"] = intakes
    data["account_ids"] = [c[0] for c in customers]
    data["search_names"] = [c[1] for c in customers]
    data["search_phones"] = [c[2] for c in customers]
    data["search_emails"] = [c[3] for c in customers]
    other = Api(url, by_role["tenant-b"][0]["token"])
    foreign_accounts = [
        other.post("/api/accounts/", {"name": f"Org B Customer {i:03d}", "city": "Oslo"})["id"]
        for i in range(OTHER_TENANT_CUSTOMERS)
    ]
    foreign_opps = [
        other.post(
            "/api/opportunities/",
            {
                "name": f"Org B Deal {i:03d}",
                "account": a,
                "stage": "PROPOSAL",
                "amount": "5000",
                "currency": "EUR",
                "probability": 50,
            },
        )["id"]
        for i, a in enumerate(foreign_accounts)
    ]
    data["other_tenant"] = {"account_ids": foreign_accounts, "opportunity_ids": foreign_opps}
    out.write_text(json.dumps(data, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="step", required=True)
    u = sub.add_parser("users")
    u.add_argument("out", type=Path)
    u.add_argument("--grant", action="append", default=[], help="ROLE:admin, a right the matrix refuses")
    r = sub.add_parser("records")
    r.add_argument("url")
    r.add_argument("users_in", type=Path)
    r.add_argument("out", type=Path)
    args = ap.parse_args()
    if args.step == "users":
        grants = {}
        for g in args.grant:
            role, _, right = g.partition(":")
            if role not in ROLES or right not in GRANTS:
                sys.exit(f"seed: --grant {g}: ROLE:RIGHT with ROLE one of {', '.join(ROLES)} and RIGHT admin")
            grants[role] = GRANTS[right]
        users(args.out, grants)
    else:
        records(args.url, args.users_in, args.out)


if __name__ == "__main__":
    main()
