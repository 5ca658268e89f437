"""The OpenAPI 3.1 document of the reference CRM, built from the operations table."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from crmload.democrm.operations import OPERATIONS


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string" if p == "entity" else "integer"}}
            for p in re.findall(r"{(\w+)}", op.path)
        ]
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "x-roles": sorted(op.roles),
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "201": {"description": "Created"},
                "401": {"description": "Missing or bad token"},
                "403": {"description": "Role not allowed"},
                "422": {"description": "Validation error: {error, detail, field}"},
            },
        }
        if op.name != "auth.login":
            entry["security"] = [{"bearer": []}]
        if op.method != "GET":
            entry["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "crmload reference CRM", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
