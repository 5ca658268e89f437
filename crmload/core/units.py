"""Parsing of durations and rates as people write them: ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2.5%"``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(
    r"^\s*(?:(?P<h>\d+(?:\.\d+)?)h)?\s*(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?\s*(?:(?P<ms>\d+(?:\.\d+)?)ms)?\s*$"
)


def parse_duration_s(value: Any) -> Any:
    """Seconds from a number or a string like ``"1h30m"``, ``"45s"``, ``"250ms"``. Other types pass through."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '30s', '5m', '1h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        m = _DURATION.match(text)
        if not text or m is None or not any(m.groupdict().values()):
            raise ValueError(f"cannot read {value!r} as a duration | fix: write seconds (90) or '90s', '5m', '1h'")
        g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
        return g["h"] * 3600 + g["m"] * 60 + g["s"] + g["ms"] / 1000
    return value


def parse_fraction(value: Any) -> Any:
    """A 0–1 fraction from ``0.01`` or ``"1%"``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a percentage | fix: write e.g. '1%' or 0.01") from None
    return value


DurationS = Annotated[float, BeforeValidator(parse_duration_s)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"
