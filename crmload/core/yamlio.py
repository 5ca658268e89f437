"""Load YAML once, at the boundary, into frozen pydantic models, with errors that point at the line.

:func:`load_model` composes the YAML node tree (which keeps every value's line and column),
constructs plain data from it, validates that with a pydantic model and turns every validation
error into a :class:`~crmload.errors.ConfigError` naming file, line, field and fix, with
"did you mean" for misspelt keys.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from crmload.core.errors import ConfigError, ConfigErrors

M = TypeVar("M", bound=BaseModel)


def compose(path: Path) -> tuple[Any, yaml.Node | None]:
    """Read ``path``; return (data, node tree). YAML syntax errors become a located ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path,
            None,
            None,
            None,
            "file not found",
            "check the path; scenarios live in scenarios/, the standard in thresholds.yaml",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            path, None, None, None, f"cannot read file: {exc}", "give a readable UTF-8 YAML file"
        ) from None
    if len(text) > MAX_FILE_CHARS:
        raise ConfigError(
            path, None, None, None, f"file is {len(text):,} characters, over the {MAX_FILE_CHARS:,} read", "split it"
        )
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is not None:
            _check_tree(node, path)
        data = loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise ConfigError(
            path, None, None, None, "nested too deeply to read", f"nest mappings and lists at most {MAX_DEPTH} deep"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(
            path,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
            None,
            f"YAML syntax error: {problem}",
            "check indentation, colons and quoting on this line",
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a NUL byte)
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        what = f"character {exc.character!r} is not allowed in YAML"
        raise ConfigError(path, line, col, None, what, "remove control characters from the file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, None, None, f"YAML error: {exc}", "fix the YAML syntax") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


MAX_DEPTH = 50  # nesting of mappings and lists: the files crmload reads need fewer than ten
MAX_FILE_CHARS = 5_000_000  # a scenario of 1,000 stages is about 100,000 characters


def _check_tree(root: yaml.Node, path: Path) -> None:
    """Refuse what a loader would accept silently: a key given twice in one mapping (the last
    one would win without a word) and nesting deeper than :data:`MAX_DEPTH`."""
    stack: list[tuple[yaml.Node, int, tuple[int | str, ...]]] = [(root, 1, ())]
    seen_nodes: set[int] = set()  # an alias repeats a node: walk it once
    while stack:
        node, depth, loc = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if depth > MAX_DEPTH:
            m = node.start_mark
            raise ConfigError(
                path, m.line + 1, m.column + 1, None, f"nested more than {MAX_DEPTH} deep", "flatten the structure"
            )
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for key, value in node.value:
                name = str(key.value)
                if isinstance(key, yaml.ScalarNode) and name in seen:
                    first = seen[name].start_mark.line + 1
                    m = key.start_mark
                    raise ConfigError(
                        path,
                        m.line + 1,
                        m.column + 1,
                        field_name((*loc, name)),
                        f"duplicate key: '{name}' is also given on line {first}",
                        "keep one of them (YAML would silently use the last)",
                    )
                seen[name] = key
                stack.append((value, depth + 1, (*loc, name)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1, (*loc, i)) for i, child in enumerate(node.value))


def locate(node: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int | None, int | None, bool]:
    """Line and column (1-based) of the deepest node on ``loc``; the flag says whether loc's key exists."""
    if node is None:
        return None, None, False
    found = True
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child = value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            found = False
            break
        node = child
    return node.start_mark.line + 1, node.start_mark.column + 1, found


def key_mark(node: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
    """Line and column of the *key* ``loc[-1]`` (for unknown keys, where the key itself is wrong)."""
    parent_line, parent_col, _ = locate(node, loc[:-1])
    walk = node
    for part in loc[:-1]:
        if isinstance(walk, yaml.MappingNode):
            walk = next((v for k, v in walk.value if k.value == str(part)), None)
        elif isinstance(walk, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(walk.value):
            walk = walk.value[part]
    if isinstance(walk, yaml.MappingNode):
        for k, _v in walk.value:
            if k.value == str(loc[-1]):
                return k.start_mark.line + 1, k.start_mark.column + 1
    return parent_line, parent_col


def field_name(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (for "did you mean")."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            ann = current.model_fields[part].annotation
            current = _inner_model(ann)
        elif current is None:
            return None
        else:
            return current if isinstance(current, type) and issubclass(current, BaseModel) else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


_FIXES = {
    "missing": "add it",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than": "use a smaller value",
    "less_than_equal": "use a smaller value",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "float_type": "write a number",
    "string_type": "write a string",
    "list_type": "write a YAML list (lines starting with '- ')",
    "dict_type": "write a mapping (key: value lines)",
    "model_type": "write a mapping (key: value lines)",
    "too_short": "add at least one entry",
    "literal_error": "use one of the allowed values",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "finite_number": "write a finite number (not .nan or .inf)",
}


def _describe(model: type[BaseModel], err: Any, node: yaml.Node | None, path: Path) -> ConfigError:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    etype = err["type"]
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    msg, _, own_fix = msg.partition(" | fix: ")
    got = err.get("input")
    if etype == "extra_forbidden":
        line, col = key_mark(node, loc)
        owner = _model_at(model, loc)
        allowed = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else ("remove it; allowed keys: " + ", ".join(allowed))
        return ConfigError(path, line, col, field_name(loc), "unknown key", hint)
    line, col, _ = locate(node, loc)
    fix: str | None = own_fix or None
    if fix is None:
        fix = _FIXES.get(etype)
        if etype == "literal_error":
            expected = str(err.get("ctx", {}).get("expected", "the allowed values"))
            close = difflib.get_close_matches(str(got), re.findall(r"'([^']+)'", expected), n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else f"use one of {expected}"
    if etype != "missing" and got is not None and not isinstance(got, dict | list):
        msg += f" (got {got!r})"
    return ConfigError(path, line, col, field_name(loc) or None, msg, fix)


def load_model(model: type[M], path: Path, *, context: dict[str, Any] | None = None) -> M:
    """Read ``path`` and validate it as ``model``; every problem is reported, each located."""
    data, node = compose(path)
    if data is None:
        raise ConfigError(path, 1, 1, None, "file is empty", f"write a {model.__name__} mapping")
    if not isinstance(data, dict):
        raise ConfigError(
            path,
            1,
            1,
            None,
            f"top level must be a mapping, not {type(data).__name__}",
            "start the file with 'key: value' lines",
        )
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = [_describe(model, e, node, path) for e in exc.errors()]
        if len(errors) == 1:
            raise errors[0] from None
        raise ConfigErrors(errors) from None
