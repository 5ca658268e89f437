"""The embedded reference CRM: a real web service (Starlette) on a real database (SQLite, WAL).

It is the default target of ``crmload run`` and the system the tests measure. Build an app with
:func:`democrm.app.create_app`, serve it with :func:`democrm.server.serve` or start it in a
background thread on a free loopback port with :class:`democrm.server.EmbeddedCRM`.
"""

from crmload.democrm.operations import OPERATIONS, ROLES

__all__ = ["OPERATIONS", "ROLES"]
