"""Seed a Tryton database for crmload (run with the Python that has trytond, after ``trytond-admin``):

    python seed.py CONFIG DATABASE TESTDATA_OUT [--grant ROLE:GROUP ...]

Creates the company, one Tryton user per crmload role with the groups that role has in Tryton,
customers (parties with an address, a phone and an e-mail) and opportunities owned by the sales
users' employees, and writes the test-data file crmload reads (``users``, ``accounts_by_owner``,
``search_keys_by_owner``, ``opportunities_by_owner``, ``account_ids``...). ``--grant service:opportunity``
gives a role a group its matrix says it must not have (for the tests that expect SEC-AC-01 to FAIL).

Tryton's access rules for what crmload exercises (``sale_opportunity/opportunity.xml``,
``ir.model.access`` of ``sale.opportunity``): no group reads nothing, ``sale.group_sale`` reads,
``sale_opportunity.group_opportunity`` reads and writes. The roles here: sales and integration have
both, the manager ``group_sale`` only (reads, never writes), service and marketing neither.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

from trytond.config import config

ROLES = {  # role -> (users, Tryton groups by module.xml_id)
    "sales": (4, ["sale.group_sale", "sale_opportunity.group_opportunity"]),
    "service": (2, []),
    "marketing": (1, []),
    "manager": (1, ["sale.group_sale"]),
    "integration": (2, ["sale.group_sale", "sale_opportunity.group_opportunity"]),
}
GROUPS = {"opportunity": "sale_opportunity.group_opportunity", "sale": "sale.group_sale"}
CUSTOMERS = 120
TODAY = dt.date(2026, 1, 5)
OPPORTUNITIES_PER_REP = 8


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("database")
    ap.add_argument("out")
    ap.add_argument("--grant", action="append", default=[], help="ROLE:GROUP (opportunity or sale)")
    args = ap.parse_args()
    config.update_etc(args.config)

    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError

    Pool.start()
    pool = Pool(args.database)
    pool.init()
    grants: dict[str, list[str]] = {}
    for g in args.grant:
        role, _, group = g.partition(":")
        grants.setdefault(role, []).append(GROUPS[group])
    extras: dict = {}  # type: ignore[type-arg]
    while True:  # as Tryton's own dispatcher does: a transaction that needs a table lock starts again with it
        try:
            with Transaction().start(args.database, 0, context={}, **extras) as transaction:
                data = _seed(pool, grants)
                transaction.commit()
            break
        except TransactionError as exc:
            exc.fix(extras)
    Path(args.out).write_text(json.dumps(data, indent=1))


def _ref(pool, xml_id: str):  # type: ignore[no-untyped-def]
    ModelData = pool.get("ir.model.data")
    module, _, fs_id = xml_id.partition(".")
    return ModelData.get_id(module, fs_id)


def _seed(pool, grants: dict[str, list[str]]) -> dict:  # type: ignore[no-untyped-def, type-arg]
    rng = random.Random(20261202)
    Party, Currency, Company = pool.get("party.party"), pool.get("currency.currency"), pool.get("company.company")
    Employee, User, Opportunity = pool.get("company.employee"), pool.get("res.user"), pool.get("sale.opportunity")
    # party codes are given by the client (Tryton's "no party sequence" set-up): on SQLite, Tryton's
    # incremental sequence reads and then writes its next number, and concurrent creates got the same code
    # ("The code on party must be unique", 1 of 7 customer.create in a smoke run); PostgreSQL's nextval has no such race
    Configuration = pool.get("party.configuration")
    Configuration.write([Configuration(1)], {"party_sequence": None})
    (eur,) = Currency.create([{"name": "Euro", "code": "EUR", "symbol": "€", "rounding": Decimal("0.01"), "digits": 2}])
    (company_party,) = Party.create([{"name": "crmload Test Company", "code": "C-COMPANY"}])
    (company,) = Company.create([{"party": company_party.id, "currency": eur.id}])
    (admin,) = User.search([("login", "=", "admin")])
    User.write([admin], {"companies": [("add", [company.id])], "company": company.id})
    users, reps = [], {}
    for role, (count, groups) in ROLES.items():
        for n in range(1, count + 1):
            login = f"{role}{n:03d}"
            (person,) = Party.create([{"name": f"{role.title()} {n}", "code": f"E-{login}"}])
            (employee,) = Employee.create([{"party": person.id, "company": company.id}])
            group_ids = [_ref(pool, g) for g in groups + grants.get(role, [])]
            (user,) = User.create([{
                "name": f"{role.title()} {n}", "login": login, "password": f"{login}-pw-Tryton",
                "groups": [("add", group_ids)], "companies": [("add", [company.id])], "company": company.id,
                "employees": [("add", [employee.id])], "employee": employee.id,
            }])  # fmt: skip
            users.append({"username": login, "password": f"{login}-pw-Tryton", "role": role, "id": user.id})
            if role == "sales":
                reps[login] = employee
    users.append({"username": "admin", "password": "admin-pw-Tryton", "role": "admin", "id": admin.id})
    User.write([admin], {"password": "admin-pw-Tryton"})
    customers = Party.create([{
        "name": f"Customer {i:04d} {rng.choice(['Ltd', 'GmbH', 'SA', 'BV'])}", "code": f"C-{i:06d}",
        "addresses": [("create", [{"city": rng.choice(["Porto", "Lyon", "Graz", "Ghent"])}])],
        "contact_mechanisms": [("create", [
            {"type": "phone", "value": f"+3519{i:08d}"}, {"type": "email", "value": f"c{i:04d}@customer.example"}])],
    } for i in range(1, CUSTOMERS + 1)])  # fmt: skip
    data: dict = {"users": users, "accounts_by_owner": {}, "search_keys_by_owner": {}, "opportunities_by_owner": {}}
    for k, (login, employee) in enumerate(sorted(reps.items())):
        mine = customers[k :: len(reps)]
        opps = Opportunity.create([{
            "description": f"Deal {login} {j}", "party": c.id, "employee": employee.id, "company": company.id,
            "currency": eur.id, "amount": Decimal(rng.randrange(1000, 90000)), "conversion_probability": 0.2,
            "state": "opportunity", "start_date": TODAY,
        } for j, c in enumerate(mine[:OPPORTUNITIES_PER_REP])])  # fmt: skip
        data["accounts_by_owner"][login] = [c.id for c in mine]
        data["search_keys_by_owner"][login] = [
            [c.name, f"+3519{customers.index(c) + 1:08d}", f"c{customers.index(c) + 1:04d}@customer.example"]
            for c in mine
        ]
        data["opportunities_by_owner"][login] = [o.id for o in opps]
    data["account_ids"] = [c.id for c in customers]
    data["search_names"] = [c.name for c in customers]
    data["search_phones"] = [f"+3519{i:08d}" for i in range(1, CUSTOMERS + 1)]
    data["search_emails"] = [f"c{i:04d}@customer.example" for i in range(1, CUSTOMERS + 1)]
    return data


if __name__ == "__main__":
    main()
