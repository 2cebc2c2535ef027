"""EventBridge event patterns: validation and matching. Pure: no database, no HTTP.

A pattern mirrors the event. Every field it names must be present and match (AND); fields it does
not name are ignored. Each leaf is an array of alternatives (OR): literal values (strings, numbers
compared by their JSON form, booleans, ``null``) or one-key operator objects: ``prefix``,
``suffix`` (both also with ``equals-ignore-case``), ``equals-ignore-case``, ``wildcard``,
``anything-but`` (a value, a list, or a ``prefix``/``suffix``/``wildcard``/``equals-ignore-case``
object), ``numeric``, ``cidr`` and ``exists``. ``$or`` takes two or more sub-patterns. An event
value that is an array matches when any element does; arrays of objects match a nested pattern
when one element matches all of it, never by combining fields of different elements.

:func:`compile_pattern` validates once and raises :class:`InvalidEventPattern` naming the path of
the problem; :meth:`Pattern.matches` is then cheap and never raises.
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlgov.errors import ErrorCode, InvalidRequest

MAX_PATTERN_CHARS = 4096
NUMERIC_LIMIT = 5e9
_MISSING = object()
Leaf = Callable[[Any], bool]
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class InvalidEventPattern(InvalidRequest):
    default_code = ErrorCode.INVALID_EVENT_PATTERN


def _fail(path: str, message: str) -> InvalidEventPattern:
    where = path or "the pattern"
    return InvalidEventPattern(
        f"invalid event pattern at {where}: {message}", details={"path": path}
    )


# --- literal values ------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _literal_key(value: Any) -> str:
    """Values compare by their JSON form: 300 and 300.0 differ, "300" and 300 differ."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _leaves(value: Any) -> list[Any]:
    """The leaf values of an event field: arrays are flattened, objects are not leaves."""
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_leaves(item))
        return out
    if isinstance(value, dict):
        return []
    return [value]


# --- operators -----------------------------------------------------------------------------------


def _string(path: str, operator: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"{operator} takes a string, got {_literal_key(value)}")
    return value


def _ignore_case_or_plain(path: str, operator: str, value: Any) -> tuple[str, bool]:
    """``"x"`` or ``{"equals-ignore-case": "x"}``: the text, and whether case is ignored."""
    if isinstance(value, dict):
        if set(value) != {"equals-ignore-case"}:
            raise _fail(path, f'{operator} takes a string or {{"equals-ignore-case": string}}')
        return _string(path, operator, value["equals-ignore-case"]), True
    return _string(path, operator, value), False


def _wildcard_regex(path: str, text: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    previous_star = False
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "*\\":
                raise _fail(path, "wildcard escapes may only be \\* or \\\\")
            parts.append(re.escape(text[i + 1]))
            previous_star = False
            i += 2
            continue
        if char == "*":
            if previous_star:
                raise _fail(path, "wildcard may not contain consecutive * characters")
            parts.append(".*")
            previous_star = True
        else:
            parts.append(re.escape(char))
            previous_star = False
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _string_test(path: str, operator: str, value: Any) -> Callable[[str], bool]:
    """A test on strings for prefix, suffix, wildcard and equals-ignore-case."""
    if operator == "prefix":
        text, folded = _ignore_case_or_plain(path, operator, value)
        if folded:
            low = text.casefold()
            return lambda s: s.casefold().startswith(low)
        return lambda s: s.startswith(text)
    if operator == "suffix":
        text, folded = _ignore_case_or_plain(path, operator, value)
        if folded:
            low = text.casefold()
            return lambda s: s.casefold().endswith(low)
        return lambda s: s.endswith(text)
    if operator == "equals-ignore-case":
        low = _string(path, operator, value).casefold()
        return lambda s: s.casefold() == low
    if operator == "wildcard":
        regex = _wildcard_regex(path, _string(path, operator, value))
        return lambda s: regex.fullmatch(s) is not None
    raise _fail(path, f"unknown operator {operator}")


def _numeric(path: str, spec: Any) -> Leaf:
    if not isinstance(spec, list) or not spec or len(spec) % 2:
        raise _fail(path, 'numeric takes pairs of operator and number, e.g. [">", 0, "<=", 5]')
    checks: list[tuple[Callable[[float, float], bool], float]] = []
    lower = upper = equal = False
    for op, bound in zip(spec[::2], spec[1::2], strict=True):
        if not _is_number(bound) or not math.isfinite(bound) or abs(bound) > NUMERIC_LIMIT:
            raise _fail(path, f"numeric bounds must be numbers within ±{NUMERIC_LIMIT:g}")
        if op not in _COMPARISONS:
            raise _fail(path, f"unknown numeric operator {op!r}; use = < <= > >=")
        if op in (">", ">="):
            if lower:
                raise _fail(path, "numeric takes at most one lower bound")
            lower = True
        elif op in ("<", "<="):
            if upper:
                raise _fail(path, "numeric takes at most one upper bound")
            upper = True
        else:
            equal = True
        checks.append((_COMPARISONS[op], float(bound)))
    if equal and len(checks) > 1:
        raise _fail(path, 'numeric "=" stands alone')

    def test(value: Any) -> bool:
        return _is_number(value) and all(compare(float(value), b) for compare, b in checks)

    return test


def _cidr(path: str, spec: Any) -> Leaf:
    try:
        network = ipaddress.ip_network(_string(path, "cidr", spec), strict=False)
    except ValueError as exc:
        raise _fail(path, f"cidr {spec!r} is not an IP network: {exc}") from exc

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in network
        except ValueError:
            return False

    return test


def _anything_but(path: str, spec: Any) -> Leaf:
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise _fail(path, "anything-but takes one operator object")
        ((operator, value),) = spec.items()
        if operator not in ("prefix", "suffix", "wildcard", "equals-ignore-case"):
            raise _fail(path, f"anything-but does not take {operator}")
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and operator == "prefix":
            raise _fail(path, "anything-but prefix takes a single string, not a list")
        if not values:
            raise _fail(path, f"anything-but {operator} needs at least one value")
        tests = [_string_test(path, operator, v) for v in values]

        def test_op(value: Any) -> bool:
            return isinstance(value, str) and not any(t(value) for t in tests)

        return test_op
    values = spec if isinstance(spec, list) else [spec]
    if not values:
        raise _fail(path, "anything-but needs at least one value")
    if not (all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values)):
        raise _fail(path, "anything-but takes a string, a number, or a list of all one of those")
    keys = {_literal_key(v) for v in values}
    numbers = {float(v) for v in values if _is_number(v)}

    def test(value: Any) -> bool:
        if _is_number(value) and numbers:
            return float(value) not in numbers
        return _literal_key(value) not in keys

    return test


# --- compiled patterns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """One field of a pattern: the leaf alternatives, or a nested pattern."""

    name: str
    nested: _Object | None = None
    literals: frozenset[str] = frozenset()
    tests: tuple[Leaf, ...] = ()
    exists: bool | None = None  # when the leaf is [{"exists": ...}]

    def matches(self, event: Mapping[str, Any]) -> bool:
        value = event.get(self.name, _MISSING)
        if self.nested is not None:
            if value is _MISSING:
                return False
            candidates = value if isinstance(value, list) else [value]
            return any(isinstance(c, dict) and self.nested.matches(c) for c in candidates)
        leaves = [] if value is _MISSING else _leaves(value)
        if self.exists is not None:
            return bool(leaves) == self.exists
        for leaf in leaves:
            if self.literals and _literal_key(leaf) in self.literals:
                return True
            if any(test(leaf) for test in self.tests):
                return True
        return False


@dataclass(frozen=True)
class _Object:
    fields: tuple[_Field, ...]
    alternatives: tuple[tuple[_Object, ...], ...] = ()  # each $or: one of these must match

    def matches(self, event: Mapping[str, Any]) -> bool:
        return all(f.matches(event) for f in self.fields) and all(
            any(option.matches(event) for option in group) for group in self.alternatives
        )


@dataclass(frozen=True)
class Pattern:
    source: dict[str, Any]
    root: _Object

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self.root.matches(event)


def _on_strings(check: Callable[[str], bool]) -> Leaf:
    def test(value: Any) -> bool:
        return isinstance(value, str) and check(value)

    return test


def _leaf(path: str, name: str, alternatives: list[Any]) -> _Field:
    if not alternatives:
        raise _fail(path, "a leaf must list at least one value")
    literals: set[str] = set()
    tests: list[Leaf] = []
    exists: bool | None = None
    for item in alternatives:
        if isinstance(item, list):
            raise _fail(path, "leaf values may not be arrays")
        if not isinstance(item, dict):
            if _is_number(item) and not math.isfinite(item):
                raise _fail(path, "numbers must be finite")
            literals.add(_literal_key(item))
            continue
        if len(item) != 1:
            raise _fail(path, f"an operator object has exactly one key, got {sorted(item)}")
        ((name_of_op, spec),) = item.items()
        if name_of_op == "exists":
            if not isinstance(spec, bool):
                raise _fail(path, "exists takes true or false")
            if len(alternatives) != 1:
                raise _fail(path, "exists must be the only value of its field")
            exists = spec
        elif name_of_op in ("prefix", "suffix", "wildcard", "equals-ignore-case"):
            tests.append(_on_strings(_string_test(path, name_of_op, spec)))
        elif name_of_op == "anything-but":
            tests.append(_anything_but(path, spec))
        elif name_of_op == "numeric":
            tests.append(_numeric(path, spec))
        elif name_of_op == "cidr":
            tests.append(_cidr(path, spec))
        else:
            raise _fail(path, f"unknown operator {name_of_op!r}")
    return _Field(name=name, literals=frozenset(literals), tests=tuple(tests), exists=exists)


def _object(path: str, pattern: Any) -> _Object:
    if not isinstance(pattern, dict):
        raise _fail(path, "must be a JSON object")
    if not pattern:
        raise _fail(path, "must name at least one field")
    fields: list[_Field] = []
    alternatives: list[tuple[_Object, ...]] = []
    for name, value in pattern.items():
        where = f"{path}.{name}" if path else name
        if name == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise _fail(where, "$or takes an array of at least two patterns")
            alternatives.append(tuple(_object(f"{where}[{i}]", v) for i, v in enumerate(value)))
        elif isinstance(value, dict):
            fields.append(_Field(name=name, nested=_object(where, value)))
        elif isinstance(value, list):
            fields.append(_leaf(where, name, value))
        else:
            raise _fail(where, "must be an array of values or a nested object")
    return _Object(fields=tuple(fields), alternatives=tuple(alternatives))


def compile_pattern(pattern: Any) -> Pattern:
    """Validate a pattern (a dict or its JSON text) and build its matcher."""
    if isinstance(pattern, str):
        if len(pattern) > MAX_PATTERN_CHARS:
            raise _fail("", f"longer than {MAX_PATTERN_CHARS} characters")
        try:
            pattern = json.loads(pattern)
        except ValueError as exc:
            raise _fail("", f"not valid JSON: {exc}") from exc
    elif len(_literal_key(pattern)) > MAX_PATTERN_CHARS:
        raise _fail("", f"longer than {MAX_PATTERN_CHARS} characters")
    return Pattern(source=pattern, root=_object("", pattern))


def matches(pattern: Any, event: Mapping[str, Any]) -> bool:
    """One-off check; compile once with :func:`compile_pattern` for repeated use."""
    return compile_pattern(pattern).matches(event)
