"""The shipped scenarios, as package data (``crmload.scenarios``): read them with
:func:`crmload.core.resources.scenario_path`, never through a path relative to the source tree."""
