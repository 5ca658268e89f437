"""Target adapters shipped with crmload."""
