"""The columnar decoder agrees with the Pydantic models, or steps aside for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlgov.errors import InvalidRequest
from mlgov.server.metrics import batch, schemas

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def columns(b: batch.Batch) -> dict[str, Any]:
    owner_order = np.lexsort((b.samples, b.sample_owner))
    return {
        "namespace": b.namespace,
        "series": [b.series[i] for i in b.series_of],
        "timestamps": b.timestamps,
        "stats": np.stack([b.count, b.total, b.low, b.high]),
        "sketchable": b.sketchable,
        "suspect": b.suspect,
        "samples": b.samples[owner_order],
        "owner": b.sample_owner[owner_order],
    }


VALID = [
    {"metric_name": "m", "value": 1},
    {"metric_name": "m", "value": 2.5, "timestamp": "2026-11-22T11:59:00Z", "unit": "Seconds"},
    {"metric_name": "m", "value": -3.0, "timestamp": "2026-11-22T13:30:00.5+01:30"},
    {"metric_name": "m", "value": 4.0, "timestamp": "2026-11-21T23:00:00.123456-05:00"},
    {
        "metric_name": "m",
        "value": 5,
        "dimensions": [{"name": "b", "value": "2"}, {"name": "a", "value": "1"}],
    },
    {
        "metric_name": "m",
        "value": 6,
        "dimensions": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
    },
    {"metric_name": "m", "values": [1.0, 2.0, 3.0], "counts": [1, 2, 0.5]},
    {"metric_name": "m", "values": [1.0, 2.0], "counts": [3, 1], "storage_resolution": 1},
    {"metric_name": "m", "values": [7.0]},
    {
        "metric_name": "m",
        "statistic_values": {"sample_count": 4, "sum": 40, "minimum": 10, "maximum": 10},
    },
    {
        "metric_name": "m",
        "statistic_values": {"sample_count": 2, "sum": 3, "minimum": 1, "maximum": 2},
    },
    {"metric_name": "m", "value": 8, "counts": [1]},
    # Well formed, refused by ingest: flagged for the per-datum checks.
    {"metric_name": "m", "value": 1e200},
    {"metric_name": "m"},
    {"metric_name": "m", "value": 1, "values": [1]},
    {"metric_name": "m", "values": []},
    {"metric_name": "m", "values": [1, 2], "counts": [1]},
    {"metric_name": "m", "value": 1, "storage_resolution": 5},
    {
        "metric_name": "m",
        "value": 1,
        "dimensions": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}],
    },
]


@pytest.mark.parametrize("datum", VALID)
def test_decode_matches_the_model(datum: dict[str, Any]) -> None:
    document = {"namespace": "NS", "metric_data": [{"metric_name": "x", "value": 0.5}, datum]}
    decoded = batch.decode(document)
    assert decoded is not None
    expected = batch.from_model(schemas.PutMetricData.model_validate(document))
    got, want = columns(decoded), columns(expected)
    np.testing.assert_array_equal(got["suspect"], want["suspect"])
    # A suspect datum's columns are never stored: ingest raises naming it.
    for key, value in ({} if want["suspect"].any() else want).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value, key
    if want["suspect"].any():
        index = int(np.argmax(want["suspect"]))
        with pytest.raises(InvalidRequest) as from_decoded:
            batch.check_structure(index, decoded.datum(index))
        with pytest.raises(InvalidRequest) as from_model:
            batch.check_structure(index, expected.datum(index))
        assert str(from_decoded.value) == str(from_model.value)


INVALID_OR_UNUSUAL = [
    {"metric_name": "m", "value": float("nan")},
    {"metric_name": "m", "value": "1.5"},
    {"metric_name": "m", "value": True},
    {"metric_name": "m", "value": 1, "extra": 1},
    {"metric_name": "", "value": 1},
    {"metric_name": "m", "value": 1, "unit": "Parsecs"},
    {"metric_name": "m", "value": 1, "timestamp": "2026-11-22T12:00:00"},
    {"metric_name": "m", "value": 1, "timestamp": "2026-02-30T12:00:00Z"},
    {"metric_name": "m", "value": 1, "timestamp": "2026-11-22 12:00:00Z"},
    {"metric_name": "m", "value": 1, "timestamp": 1_700_000_000},
    {"metric_name": "m", "value": 1, "dimensions": [{"name": ":a", "value": "1"}]},
    {"metric_name": "m", "value": 1, "dimensions": [{"name": "a", "value": ""}]},
    {"metric_name": "m", "value": 1, "dimensions": [{"name": "a", "value": "1", "x": 1}]},
    {"metric_name": "m", "value": 1, "dimensions": None},
    {"metric_name": "m", "values": [1, 2], "counts": [1, 0]},
    {
        "metric_name": "m",
        "statistic_values": {"sample_count": 0, "sum": 1, "minimum": 1, "maximum": 1},
    },
    {"metric_name": "m", "value": 1, "storage_resolution": 60.0},
    {"metric_name": "m", "value": 1, "timestamp": ""},
]


@pytest.mark.parametrize("datum", INVALID_OR_UNUSUAL)
def test_decode_steps_aside_when_unsure(datum: dict[str, Any]) -> None:
    document = {"namespace": "NS", "metric_data": [datum]}
    assert batch.decode(document) is None
    try:
        model = schemas.PutMetricData.model_validate(document)
    except ValidationError:
        return
    batch.from_model(model)  # the few the models accept still ingest the usual way


def test_decode_refuses_bad_envelopes() -> None:
    good = [{"metric_name": "m", "value": 1}]
    assert batch.decode({"namespace": "bad namespace!", "metric_data": good}) is None
    assert batch.decode({"namespace": "NS", "metric_data": []}) is None
    assert batch.decode({"namespace": "NS", "metric_data": good * 1001}) is None
    assert batch.decode({"namespace": "NS", "metric_data": good, "x": 1}) is None
    assert batch.decode([good]) is None


def test_parse_timestamps_agrees_with_datetime() -> None:
    rng = np.random.default_rng(3)
    moments = [NOW + timedelta(seconds=float(s)) for s in rng.uniform(-3e8, 3e8, 500)]
    stamps = [m.isoformat() for m in moments]
    stamps += [m.astimezone().isoformat() for m in moments[:50]]
    stamps += [m.isoformat().replace("+00:00", "Z") for m in moments[:50]]
    stamps += [
        "2024-02-29T23:59:59.9-23:59",
        "1970-01-01T00:00:00Z",
        "2000-03-01T00:00:00.05+00:00",
    ]
    parsed = batch.parse_timestamps(stamps)
    expected = [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in stamps]
    assert parsed.tolist() == expected


@pytest.mark.parametrize(
    "stamp", ["2026-11-22T11:59:00.123Z", "2026-11-22T11:59:00.123456Z", "2026-11-22T11:59:00Z"]
)
def test_a_batch_whose_stamps_all_end_in_z_decodes(stamp: str) -> None:
    # JavaScript's toISOString() shape. With every stamp alike, the columnar parser once indexed
    # past its character columns (IndexError: a 500 instead of a stored batch).
    expected = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert batch.parse_timestamps([stamp] * 3).tolist() == [expected] * 3
    document = {
        "namespace": "a",
        "metric_data": [{"metric_name": "m", "value": 1.0, "timestamp": stamp}] * 2,
    }
    decoded = batch.decode(document)
    assert decoded is not None
    assert decoded.timestamps.tolist() == [expected] * 2


_STAMPS = [
    "2026-11-22T11:59:00Z",
    "2026-11-22T13:30:00.5+01:30",
    "2026-11-21T23:00:00.123456-05:00",
    "2026-11-22T12:00:00",  # no offset: the models refuse it
    "2026-02-30T12:00:00Z",  # no such day
    "",
]
_plain_datum = st.fixed_dictionaries(
    {
        "metric_name": st.sampled_from(["latency", "errors"]),
        "value": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False, width=64),
            st.integers(-(10**6), 10**6),
            st.sampled_from([1e200, True, "1.5", None, float("nan")]),
        ),
    },
    optional={
        "dimensions": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["Model", "Variant", ":x"]),
                    "value": st.sampled_from(["m0", "m1", ""]),
                }
            ),
            max_size=3,
        ),
        "timestamp": st.sampled_from(_STAMPS),
        "unit": st.sampled_from(["Milliseconds", "Count", "None", "Parsecs"]),
        "storage_resolution": st.sampled_from([60, 1, 5]),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain_datum, min_size=1, max_size=30))
def test_the_columnar_fast_path_agrees_with_the_models(data: list[dict[str, Any]]) -> None:
    # Batches of plain `value` datums take the column-by-column decoder: whatever it accepts
    # must equal what the models make of the same document, and what they refuse it must refuse
    # or flag as suspect.
    document = {"namespace": "NS", "metric_data": data}
    decoded = batch.decode(document)
    try:
        expected = batch.from_model(schemas.PutMetricData.model_validate(document))
    except ValidationError:
        assert decoded is None or decoded.suspect.any()
        return
    if decoded is None:
        return  # stepping aside is always allowed
    got, want = columns(decoded), columns(expected)
    np.testing.assert_array_equal(got["suspect"], want["suspect"])
    if not want["suspect"].any():
        for key, value in want.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(got[key], value, err_msg=key)
            else:
                assert got[key] == value, key


def test_clean_plain_batches_take_the_fast_path() -> None:
    data = [
        {"metric_name": "latency", "value": float(i), "timestamp": _STAMPS[i % 3],
         "dimensions": [{"name": "Model", "value": f"m{i % 2}"}]}
        for i in range(50)
    ]  # fmt: skip
    assert batch._decode_simple("NS", data) is not None


_alike_stamps = st.builds(
    lambda moments, zone, digits: [
        m.replace(microsecond=0).isoformat()
        + (f".{m.microsecond:06d}"[: digits + 1] if digits else "")
        + zone
        for m in moments
    ],
    st.lists(
        # Where microseconds since 1970 fit a double exactly (as on the general path); the
        # bounds of hypothesis's datetimes are naive.
        st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2250, 1, 1)),  # noqa: DTZ001
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["Z", "+00:00", "-05:30", "+23:59", "+14:00"]),
    st.integers(0, 6),
)


@settings(max_examples=300, deadline=None)
@given(_alike_stamps)
def test_stamps_written_alike_parse_as_datetime_reads_them(stamps: list[str]) -> None:
    expected = [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in stamps]
    alike = batch._parse_alike(stamps)
    assert alike is not None
    assert alike.tolist() == expected
    assert batch.parse_timestamps(stamps).tolist() == expected


@pytest.mark.parametrize(
    "stamps",
    [
        ["2026-11-22T11:59:00Z", "2026-11-22T11:59:00+00:00"],  # two zone forms
        ["2026-11-22T11:59:00+01:00", "2026-11-22T11:59:00+02:00"],  # two offsets
        ["2026-11-22T11:59:00.5Z", "2026-11-22T11:59:00.25Z"],  # two widths
        ["2026-11-22T11:59:00.12", "Z2026-11-22T11:59:00.1Z"],  # alike only when run together
        ["2026-11-22T11:59:00Z", "2026-11-22t11:59:00Z"],
        ["2026-11-22T11:59:00Z", "2026-11-22T11:5a:00Z"],
        ["2026-11-22T11:59:00Z", "2026-11-22T11:59:0\u00e9Z"],
        ["0000-11-22T11:59:00Z"],
        ["2026-11-22T11:59:00.1234567Z"],
        ["2026-11-22T11:59:00.Z"],
        [""],
        ["", "2026-11-22T11:59:00Z"],
    ],
)
def test_stamps_not_alike_are_left_to_the_general_path(stamps: list[str]) -> None:
    assert batch._parse_alike(stamps) is None


@pytest.mark.parametrize(
    "stamp", ["2026-02-29T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T11:59:60+01:00"]
)
def test_out_of_range_fields_written_alike_are_refused(stamp: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        batch._parse_alike([stamp, stamp])
    datum = {"metric_name": "m", "value": 1, "timestamp": stamp}
    assert batch.decode({"namespace": "NS", "metric_data": [datum]}) is None


def test_an_offset_out_of_range_written_alike_is_refused() -> None:
    with pytest.raises(batch._Unsure):
        batch._parse_alike(["2026-11-22T11:59:00+24:00"])
