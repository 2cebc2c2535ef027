"""Invocation bodies in and out: CSV or JSON rows to a 2-D array, predictions back to either.

Accepted request bodies, as SageMaker's built-in containers and MLflow's scoring server take them:

- ``text/csv``: one row per line, numbers separated by commas, no header;
- ``application/json``: ``{"instances": rows}``, ``{"inputs": rows}``, a bare list of rows, or
  one row; a row is a list of numbers, or an object keyed by the model's input column names
  (from the version's signature).

Predictions answer as ``{"predictions": [...]}`` (JSON) or one line per row (CSV).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlgov.errors import ErrorCode, InvalidRequest

CSV = "text/csv"
JSON = "application/json"
CONTENT_TYPES = (CSV, JSON)


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


def media_type(header: str | None, default: str = JSON) -> str:
    """The bare media type of a Content-Type or Accept header; 415-like error when unsupported."""
    if not header or header.strip() in ("*/*", ""):
        return default
    for part in header.split(","):
        media = part.split(";")[0].strip().lower()
        if media in CONTENT_TYPES:
            return media
        if media in ("*/*", "application/*", "text/*"):
            return default if media == "*/*" else (JSON if media == "application/*" else CSV)
    raise InvalidRequest(
        f"content type {header!r} is not supported; use {' or '.join(CONTENT_TYPES)}",
        code=ErrorCode.INVALID_REQUEST,
    )


def parse_rows(body: bytes, content_type: str, columns: Sequence[str] = ()) -> np.ndarray:
    """The request's rows as a float 2-D array (rows x features)."""
    if not body.strip():
        raise _invalid("the request body is empty: send at least one row")
    if content_type == CSV:
        return _csv_rows(body)
    return _json_rows(body, columns)


def _csv_rows(body: bytes) -> np.ndarray:
    try:
        rows = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise _invalid(f"the CSV body is not rows of numbers: {exc}") from exc
    return rows


def _json_rows(body: bytes, columns: Sequence[str]) -> np.ndarray:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _invalid(f"the JSON body does not parse: {exc}") from exc
    rows: Any = document
    if isinstance(document, dict):
        key = next((k for k in ("instances", "inputs") if k in document), None)
        rows = [document] if key is None else document[key]  # no key: one row keyed by column
    if isinstance(rows, list) and rows and not isinstance(rows[0], list | dict):
        rows = [rows]  # one row of numbers
    if not isinstance(rows, list) or not rows:
        raise _invalid('the JSON body has no rows: send {"instances": [[...], ...]}')
    if isinstance(rows[0], dict):
        rows = _keyed_rows(rows, columns)
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _invalid(f"the JSON rows are not all numbers of one length: {exc}") from exc
    if array.ndim != 2:
        raise _invalid(f"the JSON rows must be a list of equal-length lists, got {array.ndim}-D")
    return array


def _keyed_rows(rows: list[Any], columns: Sequence[str]) -> list[list[Any]]:
    if not columns:
        raise _invalid(
            "rows keyed by column name need the model version's signature to order the columns; "
            "send lists of numbers instead"
        )
    ordered = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _invalid(f"row {index} is not an object like the first row")
        missing = [c for c in columns if c not in row]
        if missing:
            raise _invalid(f"row {index} lacks the column(s) {', '.join(missing)}")
        ordered.append([row[c] for c in columns])
    return ordered


def encode_predictions(predictions: np.ndarray, accept: str) -> bytes:
    """The response body for ``predictions`` in the accepted media type."""
    if accept == CSV:
        out = io.StringIO()
        flat = predictions.reshape(predictions.shape[0], -1)
        np.savetxt(out, flat, delimiter=",", fmt="%s")
        return out.getvalue().encode()
    return json.dumps({"predictions": predictions.tolist()}).encode()
