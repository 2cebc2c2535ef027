"""Invocation bodies: the accepted shapes parse to the same rows; everything else is a 4xx."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.serving.payloads import (
    CSV,
    JSON,
    encode_predictions,
    media_type,
    parse_rows,
)

ROWS = [[1.0, 2.5, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"1,2.5,3\n4,5,6\n", CSV),
        (b"1,2.5,3\r\n4,5,6", CSV),
        (json.dumps({"instances": ROWS}).encode(), JSON),
        (json.dumps({"inputs": ROWS}).encode(), JSON),
        (json.dumps(ROWS).encode(), JSON),
        (
            json.dumps(
                {"instances": [{"b": 2.5, "a": 1, "c": 3}, {"a": 4, "b": 5, "c": 6}]}
            ).encode(),
            JSON,
        ),
    ],
)
def test_accepted_shapes(body: bytes, content_type: str) -> None:
    np.testing.assert_array_equal(parse_rows(body, content_type, ["a", "b", "c"]), ROWS)


def test_single_rows() -> None:
    assert parse_rows(b"1,2", CSV).tolist() == [[1.0, 2.0]]
    assert parse_rows(b"[1, 2]", JSON).tolist() == [[1.0, 2.0]]
    assert parse_rows(b'{"a": 1, "b": 2}', JSON, ["a", "b"]).tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("body", "content_type", "columns", "fragment"),
    [
        (b"", CSV, [], "empty"),
        (b"1,x\n", CSV, [], "not rows of numbers"),
        (b"1,2\n3\n", CSV, [], "not rows of numbers"),
        (b"{oops", JSON, [], "does not parse"),
        (b'{"instances": []}', JSON, [], "no rows"),
        (b"[[1, 2], [3]]", JSON, [], "not all numbers of one length"),
        (b'[["a", "b"]]', JSON, [], "not all numbers"),
        (b'{"instances": [{"a": 1}]}', JSON, [], "signature"),
        (b'{"instances": [{"a": 1}]}', JSON, ["a", "b"], "lacks the column(s) b"),
    ],
)
def test_bad_bodies(body: bytes, content_type: str, columns: list[str], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_rows(body, content_type, columns)
    assert error.value.code == ErrorCode.INVALID_DATA
    assert fragment in error.value.message


def test_media_types() -> None:
    assert media_type(None) == JSON
    assert media_type("text/csv; charset=utf-8") == CSV
    assert media_type("application/json, text/csv") == JSON
    assert media_type("*/*", default=CSV) == CSV
    with pytest.raises(InvalidRequest):
        media_type("application/x-protobuf")


def test_encode_predictions() -> None:
    predictions = np.array([1, 0, 2])
    assert json.loads(encode_predictions(predictions, JSON)) == {"predictions": [1, 0, 2]}
    assert encode_predictions(predictions, CSV) == b"1\n0\n2\n"
    matrix = np.array([[0.25, 0.75], [0.5, 0.5]])
    assert encode_predictions(matrix, CSV) == b"0.25,0.75\n0.5,0.5\n"
