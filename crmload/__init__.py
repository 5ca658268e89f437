"""crmload: performance and load-testing harness for CRM systems.

The package is layered (README, "Development"): :mod:`crmload.core` at the bottom; the reference
CRM (:mod:`crmload.democrm`), what runs inside Locust (:mod:`crmload.loadtests`) and the analysis of
recorded runs (:mod:`crmload.analysis`) on it; the command line and the runner on top. This module
holds only the version, so that importing any layer imports nothing else.
"""

__version__ = "0.2.0"
