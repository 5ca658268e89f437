"""The columns of a run directory's CSV files, shared by the writer and every reader."""

SAMPLE_COLUMNS: tuple[str, ...] = (
    "ts",
    "kind",
    "operation",
    "persona",
    "journey",
    "response_time_ms",
    "schedule_lag_ms",
    "status",
    "outcome",
    "bytes",
    "stage",
    "users",
    "worker",
    "server_ms",
)
GENERATOR_COLUMNS: tuple[str, ...] = ("ts", "worker", "cpu_percent", "users")
# acknowledged writes, for the DATA-01 audit: what the CRM said it stored
WRITE_COLUMNS: tuple[str, ...] = ("ts", "worker", "entity", "id", "field", "value", "version")
