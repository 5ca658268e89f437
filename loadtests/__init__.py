"""Everything that runs inside Locust: journeys, target adapters, load shapes and sample capture."""
