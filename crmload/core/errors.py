"""The exception tree of crmload. Only the command line prints these and turns them into exit codes.

CrmloadError                 exit 2 unless said otherwise
├── ConfigError              a scenario or thresholds file is wrong: file, line, field, fix
├── TargetError              the target cannot be used: unreachable, not a CRM, wrong credentials
├── SafetyError              the run would load a host crmload was not allowed to load
└── RunError                 a run or run directory cannot be used (missing samples, bad meta.json)
"""

from __future__ import annotations

from pathlib import Path

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERRUPTED = 130


class CrmloadError(Exception):
    exit_code = EXIT_USAGE


class ConfigError(CrmloadError):
    """A mistake in a configuration file, located as ``file:line:col: field: problem. fix``."""

    def __init__(
        self,
        file: Path | str,
        line: int | None,
        col: int | None,
        field: str | None,
        problem: str,
        fix: str | None = None,
    ) -> None:
        self.file, self.line, self.col, self.field = str(file), line, col, field
        self.problem, self.fix = problem, fix
        where = self.file + (f":{line}" if line else "") + (f":{col}" if line and col else "")
        text = f"{where}: " + (f"{field}: " if field else "") + problem
        if fix:
            text += f" — fix: {fix}"
        super().__init__(text)


class ConfigErrors(ConfigError):
    """Several mistakes in one file; the message lists each on its own line."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.file, first.line, first.col, first.field, first.problem, first.fix)
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class TargetError(CrmloadError):
    pass


class SafetyError(CrmloadError):
    pass


class RunError(CrmloadError):
    pass
