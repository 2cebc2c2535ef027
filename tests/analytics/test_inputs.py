"""Every source as bounded record batches; SageMaker captures decoded vectorised."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.analytics import profile
from mlgov.analytics.inputs import (
    DataFormat,
    ReadOptions,
    decode_base64,
    detect_format,
    iter_batches,
    prefetched,
    resolve_paths,
)
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.capture import CaptureEncoding, CaptureRecord


def _table(batches: Sequence[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(list(batches))


def _capture_line(
    inputs: str | None,
    outputs: str | None,
    *,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    event_id: str = "e",
) -> str:
    capture: dict[str, Any] = {}
    if inputs is not None:
        capture["endpointInput"] = {
            "observedContentType": content_type,
            "mode": "INPUT",
            "data": inputs,
            "encoding": encoding,
        }
    if outputs is not None:
        capture["endpointOutput"] = {
            "observedContentType": content_type,
            "mode": "OUTPUT",
            "data": outputs,
            "encoding": encoding,
        }
    return json.dumps(
        {
            "captureData": capture,
            "eventMetadata": {
                "eventId": event_id,
                "inferenceId": f"i-{event_id}",
                "inferenceTime": "2022-02-14T17:25:49Z",
            },
            "eventVersion": "0",
        }
    )


def _write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestInMemorySources:
    @pytest.fixture
    def table(self) -> pa.Table:
        rng = np.random.default_rng(0)
        return pa.table({"x": rng.normal(size=1000), "c": rng.choice(["a", "b"], 1000)})

    def test_table_batches_respect_the_batch_size_and_keep_every_row(self, table: pa.Table) -> None:
        batches = list(iter_batches(table, ReadOptions(batch_size=128)))
        assert max(batch.num_rows for batch in batches) <= 128
        assert _table(batches).equals(table)

    def test_one_large_record_batch_is_sliced(self, table: pa.Table) -> None:
        batch = table.combine_chunks().to_batches()[0]
        batches = list(iter_batches(batch, ReadOptions(batch_size=300)))
        assert [b.num_rows for b in batches] == [300, 300, 300, 100]

    def test_reader_dataset_dict_and_iterables(self, table: pa.Table) -> None:
        options = ReadOptions(batch_size=250)
        sources: list[Any] = [
            pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
            pads.dataset(table),
            {"x": table.column("x").to_pylist(), "c": table.column("c").to_pylist()},
            iter(table.to_batches(max_chunksize=400)),
            [table],
        ]
        for source in sources:
            assert _table(list(iter_batches(source, options))).equals(table)

    def test_pandas_frames_convert_slice_by_slice(self, table: pa.Table) -> None:
        frame = table.to_pandas()
        batches = list(iter_batches(frame, ReadOptions(batch_size=256)))
        assert max(batch.num_rows for batch in batches) <= 256
        assert _table(batches).to_pandas().equals(frame)

    def test_pandas_object_column_with_mixed_types_becomes_text(self) -> None:
        frame = pd.DataFrame({"mixed": [1, "two", 3.5, None], "n": [1, 2, 3, 4]})
        (batch,) = iter_batches(frame)
        assert batch.column("mixed").to_pylist() == ["1", "two", "3.5", None]
        assert batch.column("n").to_pylist() == [1, 2, 3, 4]

    def test_polars_eager_and_lazy(self, table: pa.Table) -> None:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        for source in (frame, frame.lazy()):
            batches = list(iter_batches(source, ReadOptions(batch_size=300)))
            assert max(batch.num_rows for batch in batches) <= 300
            result = _table(batches)
            assert result.column("x").to_pylist() == table.column("x").to_pylist()
            assert result.column("c").to_pylist() == table.column("c").to_pylist()

    def test_empty_table_still_shows_its_columns(self) -> None:
        empty = pa.table({"x": pa.array([], pa.float64()), "c": pa.array([], pa.string())})
        (batch,) = iter_batches(empty)
        assert batch.num_rows == 0
        assert batch.schema.names == ["x", "c"]

    @pytest.mark.parametrize("source", [42, b"bytes", object()])
    def test_unsupported_sources_are_invalid_data(self, source: object) -> None:
        with pytest.raises(InvalidRequest) as raised:
            list(iter_batches(source))
        assert raised.value.code is ErrorCode.INVALID_DATA

    def test_iterable_of_other_things_is_rejected(self) -> None:
        with pytest.raises(InvalidRequest, match="record batches, tables or paths"):
            list(iter_batches([1, 2, 3]))

    def test_batch_size_must_be_positive(self) -> None:
        with pytest.raises(InvalidRequest, match="batch_size"):
            ReadOptions(batch_size=0)


class TestFiles:
    @pytest.fixture
    def table(self) -> pa.Table:
        return pa.table({"a": [1, 2, 3, 4, 5], "b": ["x", "y", None, "x", "z"]})

    def test_parquet_file_directory_and_glob(self, tmp_path: Path, table: pa.Table) -> None:
        (tmp_path / "day=1").mkdir()
        pq.write_table(table.slice(0, 3), tmp_path / "day=1" / "part.parquet")
        (tmp_path / "day=2").mkdir()
        pq.write_table(table.slice(3), tmp_path / "day=2" / "part.parquet")
        (tmp_path / "notes.txt").write_text("not data")
        for source in (tmp_path, str(tmp_path / "**" / "*.parquet")):
            assert _table(list(iter_batches(source))).to_pydict() == table.to_pydict()
        (single,) = iter_batches(tmp_path / "day=2" / "part.parquet")
        assert single.to_pydict() == table.slice(3).to_pydict()
        # Text comes back dictionary-encoded, as Parquet stores it.
        assert pa.types.is_dictionary(single.schema.field("b").type)

    def test_partitioned_parquet_dataset_streams_in_small_batches(self, tmp_path: Path) -> None:
        big = pa.table({"v": np.arange(6_000), "day": np.repeat([1, 2, 3], 2_000)})
        pads.write_dataset(big, tmp_path / "ds", format="parquet", partitioning=["day"])
        dataset = pads.dataset(tmp_path / "ds", format="parquet", partitioning=["day"])
        batches = list(iter_batches(dataset, ReadOptions(batch_size=700, columns=["v", "day"])))
        assert max(batch.num_rows for batch in batches) <= 700
        got = _table(batches).sort_by("v")
        assert got.column("v").to_pylist() == list(range(6_000))
        assert got.column("day").to_pylist() == big.column("day").to_pylist()
        statistics = profile(dataset, options=ReadOptions(batch_size=700))
        assert statistics.dataset.item_count == 6_000

    def test_parquet_reads_hold_a_few_row_groups_not_the_file(self, tmp_path: Path) -> None:
        # Pre-buffering would read every row group up front: memory would follow the file.
        rng = np.random.default_rng(0)
        columns = {f"x{i}": rng.normal(size=200_000) for i in range(5)}
        path = tmp_path / "long.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=5_000, compression="none")
        file_bytes = path.stat().st_size
        start = pa.total_allocated_bytes()
        peak, rows = 0, 0
        for batch in iter_batches(path, ReadOptions(batch_size=5_000)):
            rows += batch.num_rows
            peak = max(peak, pa.total_allocated_bytes() - start)
        assert rows == 200_000
        assert peak < file_bytes / 8

    def test_parquet_projection(self, tmp_path: Path, table: pa.Table) -> None:
        pq.write_table(table, tmp_path / "t.parquet")
        (batch,) = iter_batches(tmp_path / "t.parquet", ReadOptions(columns=["b"]))
        assert batch.schema.names == ["b"]
        with pytest.raises(InvalidRequest, match="no column"):
            list(iter_batches(tmp_path / "t.parquet", ReadOptions(columns=["nope"])))

    def test_parquet_small_batches_from_row_groups(self, tmp_path: Path) -> None:
        big = pa.table({"v": np.arange(10_000)})
        pq.write_table(big, tmp_path / "big.parquet", row_group_size=3000)
        batches = list(iter_batches(tmp_path / "big.parquet", ReadOptions(batch_size=1000)))
        assert max(batch.num_rows for batch in batches) <= 1000
        assert _table(batches).column("v").to_pylist() == list(range(10_000))

    def test_csv_columns_are_read_as_text(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv"
        path.write_text("a,b\n1,x\n2,\nthree,z\n")
        (batch,) = iter_batches(path)
        assert batch.schema.names == ["a", "b"]
        assert batch.column("a").to_pylist() == ["1", "2", "three"]
        assert batch.column("b").to_pylist() == ["x", None, "z"]

    def test_headerless_csv_gets_positional_or_given_names(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv"
        path.write_text("1;x;5\n2;y;6\n")
        options = ReadOptions(csv_header=False, csv_delimiter=";")
        (batch,) = iter_batches(path, options)
        assert batch.schema.names == ["_c0", "_c1", "_c2"]
        named = ReadOptions(csv_header=False, csv_delimiter=";", column_names=["id", "kind"])
        (batch,) = iter_batches(path, named)
        assert batch.schema.names == ["id", "kind", "_c2"]

    def test_gzipped_csv(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv.gz"
        path.write_bytes(gzip.compress(b"a\n1\n2\n"))
        (batch,) = iter_batches(path)
        assert batch.column("a").to_pylist() == ["1", "2"]

    def test_plain_json_lines_flatten_nested_objects(self, tmp_path: Path) -> None:
        path = _write_lines(
            tmp_path / "rows.jsonl",
            [json.dumps({"a": 1, "f": {"g": "x"}}), json.dumps({"a": 2, "f": {"g": "y"}})],
        )
        assert detect_format(path) is DataFormat.JSONL
        (batch,) = iter_batches(path)
        assert batch.schema.names == ["a", "f.g"]
        assert batch.column("f.g").to_pylist() == ["x", "y"]

    def test_missing_path_and_empty_directory(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidRequest, match="no such file"):
            list(iter_batches(tmp_path / "absent.parquet"))
        (tmp_path / "empty").mkdir()
        with pytest.raises(InvalidRequest, match="no data files"):
            resolve_paths(tmp_path / "empty")

    def test_unknown_suffix_and_corrupt_parquet(self, tmp_path: Path) -> None:
        (tmp_path / "data.bin").write_bytes(b"\x00\x01")
        with pytest.raises(InvalidRequest, match="cannot tell the format"):
            list(iter_batches(tmp_path / "data.bin"))
        (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
        with pytest.raises(InvalidRequest, match="not a readable Parquet"):
            list(iter_batches(tmp_path / "bad.parquet"))

    def test_explicit_format_overrides_the_suffix(self, tmp_path: Path) -> None:
        path = tmp_path / "data.bin"
        pacsv.write_csv(pa.table({"a": [1, 2]}), path)
        (batch,) = iter_batches(path, ReadOptions(format=DataFormat.CSV))
        assert batch.column("a").to_pylist() == ["1", "2"]


class TestCaptures:
    def test_csv_captures_put_outputs_first(self, tmp_path: Path) -> None:
        path = _write_lines(
            tmp_path / "ep" / "AllTraffic" / "2022" / "02" / "14" / "17" / "c.jsonl",
            [_capture_line("1,2.5,a", "0.9"), _capture_line("3,4.5,b", "0.1")],
        )
        assert detect_format(path) is DataFormat.CAPTURE
        (batch,) = iter_batches(tmp_path)
        assert batch.schema.names == ["_c0", "_c1", "_c2", "_c3"]
        assert batch.column("_c0").to_pylist() == [0.9, 0.1]
        assert batch.column("_c3").to_pylist() == ["a", "b"]

    def test_column_names_apply_by_position(self, tmp_path: Path) -> None:
        path = _write_lines(
            tmp_path / "c.jsonl", [_capture_line("1,2", "0"), _capture_line("3,4", "1")]
        )
        options = ReadOptions(column_names=["label", "f1", "f2"])
        (batch,) = iter_batches(path, options)
        assert batch.schema.names == ["label", "f1", "f2"]

    def test_input_only_captures(self, tmp_path: Path) -> None:
        path = _write_lines(
            tmp_path / "c.jsonl", [_capture_line("1,2", None), _capture_line("3,4", None)]
        )
        (batch,) = iter_batches(path)
        assert batch.to_pydict() == {"_c0": [1, 3], "_c1": [2, 4]}
        only_inputs = ReadOptions(capture_index_names=("endpointInput",))
        path2 = _write_lines(tmp_path / "d.jsonl", [_capture_line("1,2", "9")])
        (batch,) = iter_batches(path2, only_inputs)
        assert batch.to_pydict() == {"_c0": [1], "_c1": [2]}

    def test_json_object_payloads_keep_their_keys(self, tmp_path: Path) -> None:
        lines = [
            _capture_line(
                json.dumps({"age": 30, "city": "Bern"}),
                json.dumps({"score": 0.7}),
                encoding="JSON",
                content_type="application/json",
            ),
            _capture_line(
                json.dumps({"age": 41, "city": "Zug"}),
                json.dumps({"score": 0.2}),
                encoding="JSON",
                content_type="application/json",
            ),
        ]
        (batch,) = iter_batches(_write_lines(tmp_path / "c.jsonl", lines))
        assert batch.to_pydict() == {"score": [0.7, 0.2], "age": [30, 41], "city": ["Bern", "Zug"]}

    def test_json_array_and_scalar_payloads_become_positional_columns(self, tmp_path: Path) -> None:
        lines = [
            _capture_line(
                "[1.0, 2.0, 3.0]", "0.5", encoding="JSON", content_type="application/json"
            ),
            _capture_line(
                "[4.0, 5.0, 6.0]", "0.25", encoding="JSON", content_type="application/json"
            ),
        ]
        (batch,) = iter_batches(_write_lines(tmp_path / "c.jsonl", lines))
        assert batch.to_pydict() == {
            "_c0": [0.5, 0.25],
            "_c1": [1.0, 4.0],
            "_c2": [2.0, 5.0],
            "_c3": [3.0, 6.0],
        }

    def test_base64_payloads_decode_by_content_type(self, tmp_path: Path) -> None:
        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        lines = [
            _capture_line(b64("1,ä,2"), b64("0.5"), encoding="BASE64", content_type="text/csv"),
            _capture_line(b64("7,ö,8"), b64("0.75"), encoding="BASE64", content_type="text/csv"),
        ]
        (batch,) = iter_batches(_write_lines(tmp_path / "c.jsonl", lines))
        assert batch.to_pydict() == {
            "_c0": [0.5, 0.75],
            "_c1": [1, 7],
            "_c2": ["ä", "ö"],
            "_c3": [2, 8],
        }

    def test_gzipped_capture_file(self, tmp_path: Path) -> None:
        path = tmp_path / "c.jsonl.gz"
        path.write_bytes(gzip.compress((_capture_line("1,2", "0") + "\n").encode()))
        assert detect_format(path) is DataFormat.CAPTURE
        (batch,) = iter_batches(path)
        assert batch.num_rows == 1

    @pytest.mark.parametrize(
        ("lines", "message"),
        [
            ([_capture_line("1,2", "0"), _capture_line("3,4", None)], "cannot be aligned"),
            ([_capture_line("1,2\n3,4", "0")], "multi-row payloads"),
            (
                [_capture_line("1,2", "0"), _capture_line("[1]", "0", encoding="JSON")],
                "mixed encoding",
            ),
            (
                [
                    _capture_line(
                        base64.b64encode(b"\x89PNG").decode(),
                        base64.b64encode(b"0").decode(),
                        encoding="BASE64",
                        content_type="image/png",
                    )
                ],
                "preprocess_handler",
            ),
            ([_capture_line('[{"a": 1}, {"a": 2}]', "0", encoding="JSON")], "preprocess_handler"),
            (
                [
                    _capture_line("[1, 2]", "0", encoding="JSON"),
                    _capture_line("[1]", "0", encoding="JSON"),
                ],
                "differ in length",
            ),
            ([_capture_line("1,2", "0", encoding="XML")], "unknown capture encoding"),
        ],
    )
    def test_payloads_that_are_not_rows_say_what_to_do(
        self, tmp_path: Path, lines: list[str], message: str
    ) -> None:
        with pytest.raises(InvalidRequest, match=message) as raised:
            list(iter_batches(_write_lines(tmp_path / "c.jsonl", lines)))
        assert raised.value.code is ErrorCode.INVALID_DATA

    def test_preprocess_handler_sees_sagemaker_attributes(self, tmp_path: Path) -> None:
        lines = [
            _capture_line(
                json.dumps({"instances": [[1, 2], [3, 4]]}),
                "[0.1, 0.9]",
                encoding="JSON",
                event_id="a",
            ),
            _capture_line(json.dumps({"instances": []}), "[]", encoding="JSON", event_id="skip"),
            _capture_line(
                json.dumps({"instances": [[5, 6]]}), "[0.3]", encoding="JSON", event_id="c"
            ),
        ]
        seen: list[str] = []

        def handler(record: CaptureRecord) -> list[Mapping[str, Any]] | None:
            assert record.endpoint_input is not None
            assert record.endpoint_output is not None
            seen.append(str(record.event_metadata.event_id))
            rows = record.endpoint_input.payload_json()["instances"]
            scores = record.endpoint_output.payload_json()
            if not rows:
                return None
            return [
                {"score": score, "f0": row[0], "f1": row[1]}
                for row, score in zip(rows, scores, strict=True)
            ]

        path = _write_lines(tmp_path / "c.jsonl", lines)
        batches = list(iter_batches(path, ReadOptions(preprocess_handler=handler, batch_size=2)))
        assert seen == ["a", "skip", "c"]
        assert [batch.num_rows for batch in batches] == [2, 1]
        assert _table(batches).to_pydict() == {
            "score": [0.1, 0.9, 0.3],
            "f0": [1, 3, 5],
            "f1": [2, 4, 6],
        }

    def test_sagemaker_style_handler_with_logger_runs_unchanged(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Written as the SageMaker record-preprocessor guide writes them: two arguments, the
        # camelCase content type, zero-padded keys, and an empty answer to skip a record.
        def preprocess_handler(inference_record: Any, logger: Any) -> Any:
            content_type = inference_record.endpoint_input.observedContentType
            logger.info("content type %s", content_type)
            if content_type != "text/csv":
                return []
            input_data = inference_record.endpoint_input.data.rstrip("\n").split(",")
            output_data = inference_record.endpoint_output.data.rstrip("\n")
            values = [output_data, *input_data]
            return {str(i).zfill(20): float(d) for i, d in enumerate(values)}

        path = _write_lines(
            tmp_path / "c.jsonl",
            [
                _capture_line("1,2.5", "0.9"),
                _capture_line('{"a": 1}', "0.5", encoding="JSON", content_type="application/json"),
                _capture_line("3,4.5", "0.1"),
            ],
        )
        with caplog.at_level("INFO", logger="mlgov.preprocess_handler"):
            (batch,) = iter_batches(path, ReadOptions(preprocess_handler=preprocess_handler))
        assert batch.to_pydict() == {
            "00000000000000000000": [0.9, 0.1],
            "00000000000000000001": [1.0, 3.0],
            "00000000000000000002": [2.5, 4.5],
        }
        assert caplog.messages.count("content type text/csv") == 2

    def test_handler_rows_with_mixed_value_types_become_text(self, tmp_path: Path) -> None:
        path = _write_lines(
            tmp_path / "c.jsonl", [_capture_line("1", "0"), _capture_line("x", "1")]
        )

        def handler(record: CaptureRecord) -> Mapping[str, Any]:
            assert record.endpoint_input is not None
            text = record.endpoint_input.payload_text()
            return {"v": int(text) if text.isdigit() else text}

        (batch,) = iter_batches(path, ReadOptions(preprocess_handler=handler))
        assert batch.column("v").to_pylist() == ["1", "x"]

    def test_handler_must_return_dicts(self, tmp_path: Path) -> None:
        path = _write_lines(tmp_path / "c.jsonl", [_capture_line("1", "0")])
        options = ReadOptions(preprocess_handler=lambda record: [42])  # type: ignore[list-item]
        with pytest.raises(InvalidRequest, match="flat dict"):
            list(iter_batches(path, options))

    def test_capture_record_round_trip_keeps_wire_names(self) -> None:
        line = _capture_line("1,2", "0.5")
        record = CaptureRecord.model_validate_json(line)
        assert record.endpoint_input is not None
        assert record.endpoint_input.encoding is CaptureEncoding.CSV
        assert record.event_metadata.inference_id == "i-e"
        assert json.loads(record.to_json_line()) == json.loads(line)

    def test_invalid_base64_payload_is_invalid_data(self) -> None:
        record = CaptureRecord.model_validate_json(
            _capture_line("not*base64", "0", encoding="BASE64")
        )
        assert record.endpoint_input is not None
        with pytest.raises(InvalidRequest, match="base64"):
            record.endpoint_input.payload_bytes()


class TestBase64Decoder:
    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=30))
    def test_matches_the_standard_library(self, payloads: list[bytes | None]) -> None:
        encoded = pa.array(
            [None if p is None else base64.b64encode(p).decode() for p in payloads], pa.string()
        )
        decoded = decode_base64(encoded).to_pylist()
        assert decoded == payloads

    def test_sliced_arrays(self) -> None:
        payloads = [b"a", b"bc", b"def", b"ghij"]
        encoded = pa.array([base64.b64encode(p).decode() for p in payloads]).slice(1, 2)
        assert decode_base64(encoded).to_pylist() == [b"bc", b"def"]

    @pytest.mark.parametrize("bad", ["abc", "ab=c", "a$bc", "=abc"])
    def test_rejects_malformed_input(self, bad: str) -> None:
        with pytest.raises(InvalidRequest):
            decode_base64(pa.array(["QUJD", bad]))


class TestReadAhead:
    def test_keeps_order_and_every_batch(self) -> None:
        batches = [pa.record_batch({"i": [i]}) for i in range(50)]
        assert [b.column(0)[0].as_py() for b in prefetched(iter(batches))] == list(range(50))

    def test_reader_errors_surface_in_the_caller(self) -> None:
        def failing() -> Iterator[pa.RecordBatch]:
            yield pa.record_batch({"i": [1]})
            raise InvalidRequest("broken file", code=ErrorCode.INVALID_DATA)

        stream = prefetched(failing())
        assert next(stream).num_rows == 1
        with pytest.raises(InvalidRequest, match="broken file"):
            next(stream)

    def test_stopping_early_releases_the_reader(self) -> None:
        produced: list[int] = []

        def endless() -> Iterator[pa.RecordBatch]:
            for i in range(10_000):
                produced.append(i)
                yield pa.record_batch({"i": [i]})

        stream = prefetched(endless(), depth=2)
        assert next(stream).num_rows == 1
        stream.close()
        # The reader stopped a few batches ahead instead of draining the source.
        assert len(produced) < 10
