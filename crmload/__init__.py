"""crmload: performance and load-testing harness for CRM systems."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
