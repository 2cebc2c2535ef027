"""What a target receives: the whole event, a constant, a JSONPath slice, or a template.

EventBridge's input transformer: ``input_paths_map`` names values by JSONPath (``$.detail.x``,
``$.resources[0]``), ``input_template`` substitutes ``<name>`` placeholders. Reserved names:
``<mlgov.events.rule-name>``, ``<mlgov.events.event.ingestion-time>``, ``<mlgov.events.event>``
(the event without ``detail``) and ``<mlgov.events.event.json>`` (the whole event); the
``aws.events.*`` spellings work too, so existing templates port unchanged. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlgov.errors import ErrorCode, InvalidRequest

_PATH = re.compile(r"^\$(\.[A-Za-z0-9_\-$@]+|\[\d+\])*$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-$@]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
MAX_TEMPLATE_CHARS = 8192
MAX_PATHS = 100
_UNDEFINED = object()


def invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_TARGET)


def check_path(path: str) -> None:
    if not _PATH.match(path):
        raise invalid(f"{path!r} is not a JSONPath like $.detail.field or $.resources[0]")


def select(document: Any, path: str) -> Any:
    """The value at ``path``, or a private marker when it does not exist."""
    value = document
    for name, index in _STEP.findall(path[1:]):
        if name:
            if not isinstance(value, dict) or name not in value:
                return _UNDEFINED
            value = value[name]
        else:
            position = int(index)
            if not isinstance(value, list) or position >= len(value):
                return _UNDEFINED
            value = value[position]
    return value


def check_transformer(paths: dict[str, str], template: str) -> None:
    if len(paths) > MAX_PATHS:
        raise invalid(f"input_paths_map takes at most {MAX_PATHS} entries")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise invalid(f"input_template is longer than {MAX_TEMPLATE_CHARS} characters")
    for name, path in paths.items():
        if name.lower().startswith(("aws.", "mlgov.")):
            raise invalid(f"input_paths_map key {name!r} uses a reserved prefix")
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            raise invalid(f"input_paths_map key {name!r} must be letters, digits, _ or -")
        check_path(path)


@dataclass(frozen=True)
class Rendered:
    """The body a target sends: JSON when the result parses as JSON, else plain text."""

    text: str
    is_json: bool

    def value(self) -> Any:
        return json.loads(self.text) if self.is_json else self.text


def _reserved(name: str, event: dict[str, Any], rule_name: str, ingestion_time: str) -> Any:
    short = name.split(".", 1)[1] if name.startswith(("aws.", "mlgov.")) else None
    if short == "events.rule-name":
        return rule_name
    if short == "events.event.ingestion-time":
        return ingestion_time
    if short == "events.event":
        return {k: v for k, v in event.items() if k != "detail"}
    if short == "events.event.json":
        return event
    return _UNDEFINED


def render(
    event: dict[str, Any],
    *,
    rule_name: str,
    ingestion_time: str,
    input: Any = None,
    input_path: str | None = None,
    paths: dict[str, str] | None = None,
    template: str | None = None,
) -> Rendered:
    if input is not None:
        return Rendered(json.dumps(input), True)
    if input_path is not None:
        selected = select(event, input_path)
        return Rendered(json.dumps(None if selected is _UNDEFINED else selected), True)
    if template is None:
        return Rendered(json.dumps(event), True)
    values = {name: select(event, path) for name, path in (paths or {}).items()}
    stripped = template.strip()
    json_template = stripped.startswith(("{", "["))

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name, _UNDEFINED)
        if value is _UNDEFINED:
            value = _reserved(name, event, rule_name, ingestion_time)
        if value is _UNDEFINED:
            return "null" if json_template and not _quoted(match) else ""
        if isinstance(value, str) and (_quoted(match) or not json_template):
            return value  # EventBridge does not escape extracted strings inside quotes
        return json.dumps(value)

    text = _PLACEHOLDER.sub(substitute, template)
    if json_template:
        try:
            json.loads(text)
            return Rendered(text, True)
        except ValueError:
            return Rendered(text, False)
    return Rendered(text, False)


def _quoted(match: re.Match[str]) -> bool:
    text = match.string
    return (
        match.start() > 0
        and text[match.start() - 1] == '"'
        and match.end() < len(text)
        and text[match.end()] == '"'
    )
