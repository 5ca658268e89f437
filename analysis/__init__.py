"""Pure data work on recorded runs: statistics, the standard, the verdict. Never imports ``locust``."""
