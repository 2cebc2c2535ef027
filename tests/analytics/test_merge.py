"""Merging captured predictions with ground truth: keys, window, counts, laws."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.analytics.merge import (
    MergeWindow,
    merge_ground_truth,
    parse_offset,
    read_capture_metadata,
)
from mlgov.errors import ErrorCode, InvalidRequest

T0 = datetime(2020, 1, 9, 13, 0, tzinfo=UTC)


def predictions(**columns: list[object]) -> pa.Table:
    return pa.table(columns)


class TestKeys:
    def test_inference_id_first_else_event_id(self) -> None:
        captured = predictions(
            eventId=["e1", "e2", "e3", "e4"],
            inferenceId=["caller-1", None, "", "caller-4"],
            prediction=[0.9, 0.1, 0.7, 0.2],
        )
        labels = pa.table(
            {
                "eventId": ["caller-1", "e2", "e3", "e4"],  # e4's capture has an inferenceId
                "label": ["1", "0", "1", "0"],
            }
        )
        result = merge_ground_truth(captured, labels)
        assert result.table.column("eventId").to_pylist() == ["e1", "e2", "e3"]
        assert result.table.column("label").to_pylist() == ["1", "0", "1"]
        assert (result.matched, result.unmatched_predictions, result.unmatched_labels) == (3, 1, 1)

    def test_only_inference_ids_or_only_event_ids(self) -> None:
        labels = pa.table({"eventId": ["a", "b"], "label": [1, 0]})
        by_inference = merge_ground_truth(predictions(inferenceId=["b", "a"], p=[1, 2]), labels)
        assert by_inference.table.column("label").to_pylist() == [0, 1]
        by_event = merge_ground_truth(predictions(eventId=["a", "z"], p=[1, 2]), labels)
        assert by_event.table.column("label").to_pylist() == [1]
        assert by_event.unmatched_predictions == 1

    def test_the_last_label_for_a_key_wins(self) -> None:
        labels = pa.table({"eventId": ["a", "b", "a"], "label": ["0", "1", "1"]})
        result = merge_ground_truth(predictions(eventId=["a", "b"]), labels)
        assert result.table.column("label").to_pylist() == ["1", "1"]
        assert result.duplicate_labels == 1
        assert result.unmatched_labels == 0

    def test_labels_without_a_key_are_unmatched(self) -> None:
        labels = pa.table({"eventId": ["a", None], "label": [1, 0]})
        result = merge_ground_truth(predictions(eventId=["a"]), labels)
        assert result.matched == 1
        assert result.unmatched_labels == 1

    def test_clashing_column_names_get_a_suffix(self) -> None:
        captured = predictions(eventId=["a"], label=["predicted"])
        labels = pa.table({"eventId": ["a"], "label": ["actual"], "source": ["audit"]})
        merged = merge_ground_truth(captured, labels).table
        assert merged.column_names == ["eventId", "label", "label_ground_truth", "source"]
        assert merged.column("label_ground_truth").to_pylist() == ["actual"]

    def test_nested_prediction_columns_survive(self) -> None:
        captured = pa.table(
            {
                "eventId": ["a", "b"],
                "probabilities": pa.array([[0.1, 0.9], [0.8, 0.2]], pa.list_(pa.float64())),
            }
        )
        labels = pa.table({"eventId": ["b"], "label": [0]})
        merged = merge_ground_truth(captured, labels).table
        assert merged.column("probabilities").to_pylist() == [[0.8, 0.2]]

    def test_integer_keys_are_compared_as_text(self) -> None:
        result = merge_ground_truth(
            predictions(eventId=[1, 2]), pa.table({"eventId": ["2"], "label": [1]})
        )
        assert result.matched == 1


class TestWindow:
    def test_offsets_as_sagemaker_documents_them(self) -> None:
        window = MergeWindow.from_offsets(T0, "-P8D", "-P1D")
        assert window.start == datetime(2020, 1, 1, 13, 0, tzinfo=UTC)
        assert window.end == datetime(2020, 1, 8, 13, 0, tzinfo=UTC)

    def test_start_is_inclusive_and_end_exclusive(self) -> None:
        window = MergeWindow.from_offsets(T0, "-PT2H", "-PT1H")
        times = [
            T0 - timedelta(hours=2, microseconds=1),
            T0 - timedelta(hours=2),
            T0 - timedelta(hours=1, microseconds=1),
            T0 - timedelta(hours=1),
        ]
        captured = pa.table(
            {
                "eventId": ["a", "b", "c", "d"],
                "inferenceTime": pa.array(times, pa.timestamp("us", tz="UTC")),
            }
        )
        labels = pa.table({"eventId": ["a", "b", "c", "d"], "label": [1, 1, 1, 1]})
        result = merge_ground_truth(captured, labels, window=window)
        assert result.table.column("eventId").to_pylist() == ["b", "c"]
        assert result.predictions_outside_window == 2
        assert result.unmatched_predictions == 0
        # Labels of predictions outside the window have nothing to join in this run.
        assert result.unmatched_labels == 2

    def test_iso_strings_and_naive_timestamps_are_utc(self) -> None:
        window = MergeWindow(
            start=datetime(2022, 2, 14, 17, 0, tzinfo=UTC),
            end=datetime(2022, 2, 14, 18, 0, tzinfo=UTC),
        )
        labels = pa.table({"eventId": ["a", "b"], "label": [1, 0]})
        as_strings = predictions(
            eventId=["a", "b"], inferenceTime=["2022-02-14T17:25:49Z", "2022-02-14T18:00:00Z"]
        )
        assert merge_ground_truth(as_strings, labels, window=window).matched == 1
        naive = pa.table(
            {
                "eventId": ["a", "b"],
                "inferenceTime": pa.array(
                    [datetime(2022, 2, 14, 17, 30), datetime(2022, 2, 14, 16, 59)],  # noqa: DTZ001
                    pa.timestamp("ms"),
                ),
            }
        )
        assert merge_ground_truth(naive, labels, window=window).matched == 1

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("-PT7H", timedelta(hours=-7)),
            ("-P8D", timedelta(days=-8)),
            ("-P1DT12H", timedelta(days=-1, hours=-12)),
            ("-PT1H30M", timedelta(hours=-1, minutes=-30)),
            ("-PT90.5S", timedelta(seconds=-90.5)),
            ("-P2W", timedelta(weeks=-2)),
            ("PT0H", timedelta(0)),
        ],
    )
    def test_parse_offset(self, text: str, expected: timedelta) -> None:
        assert parse_offset(text) == expected

    @pytest.mark.parametrize("text", ["-P1M", "-P1Y", "P", "-PT", "7H", "-P1H", ""])
    def test_bad_offsets(self, text: str) -> None:
        with pytest.raises(InvalidRequest, match="ISO-8601") as raised:
            parse_offset(text)
        assert raised.value.code is ErrorCode.INVALID_DATA

    def test_an_empty_window_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="empty"):
            MergeWindow.from_offsets(T0, "-P1D", "-P2D")


def test_capture_metadata_pairs_row_for_row_with_the_records(tmp_path: Path) -> None:
    lines = [
        {
            "captureData": {},
            "eventMetadata": {"eventId": "e1", "inferenceTime": "2022-02-14T17:25:49Z"},
        },
        {
            "captureData": {},
            "eventMetadata": {
                "eventId": "e2",
                "inferenceId": "caller-2",
                "inferenceTime": "2022-02-14T17:26:00Z",
                "customAttributes": ["x"],
            },
            "eventVersion": "0",
        },
    ]
    path = tmp_path / "capture.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    metadata = read_capture_metadata(path)
    assert metadata.to_pylist() == [
        {"eventId": "e1", "inferenceId": None, "inferenceTime": "2022-02-14T17:25:49Z"},
        {"eventId": "e2", "inferenceId": "caller-2", "inferenceTime": "2022-02-14T17:26:00Z"},
    ]
    (tmp_path / "broken.jsonl").write_text('{"eventMetadata": 3}\n')
    with pytest.raises(InvalidRequest, match="not SageMaker capture"):
        read_capture_metadata(tmp_path / "broken.jsonl")


class TestBadInput:
    def test_predictions_need_a_key(self) -> None:
        with pytest.raises(InvalidRequest, match="inferenceId"):
            merge_ground_truth(predictions(p=[1]), pa.table({"eventId": ["a"]}))

    def test_ground_truth_needs_its_key(self) -> None:
        with pytest.raises(InvalidRequest, match="no 'eventId' column"):
            merge_ground_truth(predictions(eventId=["a"]), pa.table({"id": ["a"]}))

    def test_window_needs_inference_time(self) -> None:
        with pytest.raises(InvalidRequest, match="inferenceTime"):
            merge_ground_truth(
                predictions(eventId=["a"]),
                pa.table({"eventId": ["a"]}),
                window=MergeWindow.from_offsets(T0, "-P1D", "PT0S"),
            )

    def test_unparseable_times(self) -> None:
        with pytest.raises(InvalidRequest, match="not ISO-8601"):
            merge_ground_truth(
                predictions(eventId=["a"], inferenceTime=["yesterday"]),
                pa.table({"eventId": ["a"]}),
                window=MergeWindow.from_offsets(T0, "-P1D", "PT0S"),
            )


keys = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@settings(max_examples=80, deadline=None)
@given(
    captured=st.lists(st.tuples(keys, st.one_of(st.none(), keys), st.integers(0, 47)), max_size=25),
    labelled=st.lists(st.tuples(st.one_of(st.none(), keys), st.integers(0, 9)), max_size=25),
    window_hours=st.tuples(st.integers(0, 47), st.integers(1, 48)),
)
def test_merge_laws(
    captured: list[tuple[str, str | None, int]],
    labelled: list[tuple[str | None, int]],
    window_hours: tuple[int, int],
) -> None:
    start = T0 + timedelta(hours=window_hours[0])
    end = start + timedelta(hours=window_hours[1])
    table = pa.table(
        {
            "eventId": pa.array([c[0] for c in captured], pa.string()),
            "inferenceId": pa.array([c[1] for c in captured], pa.string()),
            "inferenceTime": pa.array(
                [T0 + timedelta(hours=c[2]) for c in captured], pa.timestamp("us", tz="UTC")
            ),
            "row": pa.array(range(len(captured)), pa.int64()),
        }
    )
    truth = pa.table(
        {
            "eventId": pa.array([k for k, _ in labelled], pa.string()),
            "label": pa.array([v for _, v in labelled], pa.int64()),
        }
    )
    result = merge_ground_truth(table, truth, window=MergeWindow(start=start, end=end))

    # Oracle: plain Python dictionaries and sets.
    latest = {k: v for k, v in labelled if k is not None}
    in_window = [
        (row, inference or event)
        for row, (event, inference, hour) in enumerate(captured)
        if start <= T0 + timedelta(hours=hour) < end
    ]
    expected = [(row, latest[key]) for row, key in in_window if key in latest]
    merged = list(
        zip(
            result.table.column("row").to_pylist(),
            result.table.column("label").to_pylist(),
            strict=True,
        )
    )
    assert merged == expected
    assert result.matched + result.unmatched_predictions == len(in_window)
    assert result.predictions_outside_window == len(captured) - len(in_window)
    window_keys = {key for _, key in in_window}
    assert result.unmatched_labels == len(set(latest) - window_keys) + sum(
        k is None for k, _ in labelled
    )
    assert result.duplicate_labels == sum(k is not None for k, _ in labelled) - len(latest)
