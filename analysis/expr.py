"""Limits as k6 writes them: ``p(95) < 3s``, ``rate < 1%``, ``avg <= 800ms``, ``count == 0``, ``apdex >= 0.85``.

Grammar: ``METRIC OP VALUE`` with METRIC one of ``p(N)`` (0 < N < 100), ``avg``, ``med``, ``min``,
``max``, ``rate`` (failure rate), ``count`` (failures, or breaches for zero-tolerance clauses),
``apdex``; OP one of ``<  <=  >  >=  ==``; VALUE a number with an optional unit (``ms``, ``s``,
``m`` for times; ``%`` for rates). Times are normalised to milliseconds, rates to 0–1 fractions.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

_EXPR = re.compile(
    r"^\s*(?P<metric>p\(\s*(?P<pct>[0-9]+(?:\.[0-9]+)?)\s*\)|p[0-9]+(?:\.[0-9]+)?|avg|med|min|max"
    r"|rate|count|apdex)\s*(?P<op><=|>=|==|<|>)\s*(?P<value>-?[0-9]+(?:\.[0-9]+)?)\s*"
    r"(?P<unit>ms|s|m|%)?\s*$"
)
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
TIME_METRICS = {"avg", "med", "min", "max"}


class ExprError(ValueError):
    pass


@dataclass(frozen=True)
class Limit:
    """One limit: ``metric op value``; time values in ms, rates as fractions."""

    metric: str  # "p95", "p99.9", "avg", "med", "min", "max", "rate", "count", "apdex"
    op: str
    value: float
    text: str

    @property
    def percentile(self) -> float | None:
        return float(self.metric[1:]) if self.metric.startswith("p") else None

    @property
    def is_time(self) -> bool:
        return self.percentile is not None or self.metric in TIME_METRICS

    @property
    def upper(self) -> bool:
        """True when the limit caps the metric from above (``<``, ``<=``, ``==`` on counts)."""
        return self.op in ("<", "<=", "==")

    def holds(self, measured: float) -> bool:
        return OPS[self.op](measured, self.value)

    def margin(self, measured: float) -> float:
        """How far the measurement is inside the limit (positive) or outside it (negative), in its unit."""
        return self.value - measured if self.upper else measured - self.value

    def describe(self, value: float | None = None) -> str:
        v = self.value if value is None else value
        return format_value(self.metric, v)


def format_value(metric: str, v: float) -> str:
    if metric.startswith("p") or metric in TIME_METRICS:
        return f"{v / 1000:.3g} s" if v >= 1000 else f"{v:.4g} ms"
    if metric == "rate":
        return f"{v * 100:.3g} %"
    if metric == "count":
        return f"{v:.0f}"
    if metric == "seconds":
        return f"{v:.3g} s"
    return f"{v:.3g}"


def parse_limit(text: str) -> Limit:
    """Parse one k6-style expression; raises :class:`ExprError` with the fix."""
    m = _EXPR.match(text)
    if m is None:
        raise ExprError(
            f"cannot read {text!r} as a limit | fix: write e.g. 'p(95) < 3s', 'rate < 1%', "
            "'count == 0', 'apdex >= 0.85'"
        )
    metric = _metric(m["metric"].replace(" ", ""), m["pct"])
    value = _value(metric, float(m["value"]), m["unit"])
    if value < 0:
        raise ExprError(f"limit value must not be negative (got {value:g})")
    return Limit(metric, m["op"], value, text.strip())


def _metric(name: str, pct: str | None) -> str:
    """``p(95)`` / ``p95`` -> ``p95`` (checked to be a percentile between 0 and 100); others as written."""
    if pct is not None:
        name = f"p{_num(pct)}"
    elif name.startswith("p"):
        name = f"p{_num(name[1:])}"
    if name.startswith("p"):
        p = float(name[1:])
        if not 0 < p < 100:
            raise ExprError(f"percentile {p:g} is out of range | fix: use p(N) with 0 < N < 100, e.g. p(95)")
    return name


def _value(metric: str, value: float, unit: str | None) -> float:
    """The limit in the metric's unit: ms for times, a 0-1 fraction for rates."""
    if metric.startswith("p") or metric in TIME_METRICS:
        if unit == "%":
            raise ExprError(f"{metric} is a time, not a percentage | fix: write e.g. '{metric} < 3s'")
        return value * {"ms": 1.0, "s": 1000.0, "m": 60_000.0, None: 1.0}[unit]
    if metric == "rate":
        if unit in ("ms", "s", "m"):
            raise ExprError("rate is a fraction, not a time | fix: write e.g. 'rate < 1%' or 'rate < 0.01'")
        if unit == "%":
            value /= 100.0
        if not 0 <= value <= 1:
            raise ExprError(f"rate limit {value:g} is outside 0..1 | fix: write a percentage like 'rate < 1%'")
        return value
    if unit is not None:
        raise ExprError(f"{metric} takes no unit (got {unit!r}) | fix: write e.g. '{metric} >= 0.85'")
    return value


def _num(text: str) -> str:
    f = float(text)
    return f"{f:g}"
