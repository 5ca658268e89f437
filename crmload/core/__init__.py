"""The shared core: what every other layer of crmload stands on, importing nothing above it.

| module | owns |
|---|---|
| ``errors`` | the exception tree and the exit codes |
| ``units`` | durations and rates as people write them |
| ``yamlio`` | YAML read once, at the boundary, with located errors |
| ``operations`` | the canonical operations and the personas |
| ``personas`` | each persona's journeys and scenario options |
| ``scenario`` | the scenario model |
| ``rundir`` | the run directory: its records, vocabulary and versions |
| ``resources`` | where the shipped scenarios and standard are |
"""
