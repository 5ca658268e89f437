"""Reading JSON files that people and programs other than crmload may have written: with a size limit
applied while reading, and refusing what :func:`json.loads` would accept silently (a key given twice,
of which it keeps the last; ``NaN`` and ``Infinity``, which are not JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 64 * 1024 * 1024


class JsonError(ValueError):
    """Why a file is not the JSON it should be (with its line and column when the parser knows them)."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonError(f"the key {key!r} is given twice in one object (JSON readers keep the last one)")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonError(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise JsonError("nested too deep") from None


def load(path: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON value in ``path``; OSError when it cannot be read, :class:`JsonError` when it is not JSON."""
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise JsonError(f"larger than {limit >> 20} MB, the limit for this file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise JsonError("the file is empty", 1, 1)
    return loads(text)
