"""Wire formats: SageMaker model-quality files, Clarify bias files, ground-truth JSON lines."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlgov.errors import InvalidRequest
from mlgov.formats.bias import BiasAnalysis, BiasViolations
from mlgov.formats.ground_truth import (
    GroundTruthRecord,
    ground_truth_table,
    read_ground_truth,
    write_ground_truth,
)
from mlgov.formats.model_quality import (
    BinaryClassificationMetrics,
    MetricValue,
    ModelQualityConstraints,
    ModelQualityStatistics,
    ModelQualityViolations,
    ProblemType,
)

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("mq_binary_statistics.json", ModelQualityStatistics),
        ("mq_multiclass_statistics.json", ModelQualityStatistics),
        ("mq_regression_statistics.json", ModelQualityStatistics),
        ("mq_binary_constraints.json", ModelQualityConstraints),
        ("mq_regression_constraints.json", ModelQualityConstraints),
        ("mq_violations.json", ModelQualityViolations),
        ("bias_analysis.json", BiasAnalysis),
        ("bias_violations.json", BiasViolations),
    ],
)
def test_sample_files_round_trip_unchanged(name: str, model: type[ModelQualityStatistics]) -> None:
    original = json.loads((DATA / name).read_text())
    parsed = model.model_validate(original)
    written = parsed.to_json()
    assert json.loads(written) == original
    assert model.model_validate_json(written) == parsed


def test_problem_type_and_sections() -> None:
    stats = ModelQualityStatistics.model_validate_json(
        (DATA / "mq_multiclass_statistics.json").read_text()
    )
    assert stats.problem_type is ProblemType.MULTICLASS_CLASSIFICATION
    assert stats.dataset is not None
    assert stats.dataset.item_count == 2096
    assert set(stats.metrics.scalar_metrics()) >= {"accuracy", "weighted_f2"}
    constraints = ModelQualityConstraints.model_validate_json(
        (DATA / "mq_regression_constraints.json").read_text()
    )
    assert constraints.problem_type is ProblemType.REGRESSION
    assert constraints.constraints["r2"].comparison_operator == "LessThanThreshold"


def test_nan_and_infinity_are_written_as_sagemaker_tokens_and_stay_valid_json() -> None:
    metric = MetricValue(value=math.inf, standard_deviation=math.nan)
    text = metric.model_dump_json()
    assert json.loads(text) == {"value": "Infinity", "standard_deviation": "NaN"}
    again = MetricValue.model_validate_json(text)
    assert again.value == math.inf
    assert math.isnan(again.standard_deviation)
    assert MetricValue.model_validate({"value": "-Infinity"}).value == -math.inf
    # In Python mode the floats stay floats.
    assert math.isnan(metric.model_dump()["standard_deviation"])


def test_exactly_one_metrics_section() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ModelQualityStatistics.model_validate({"version": 0.0})
    with pytest.raises(ValidationError, match="exactly one"):
        ModelQualityStatistics.model_validate(
            {
                "regression_metrics": {"mae": {"value": 1.0}},
                "binary_classification_metrics": {"auc": {"value": 0.5}},
            }
        )
    with pytest.raises(ValidationError, match="exactly one"):
        ModelQualityConstraints.model_validate({"version": 0.0})


def test_unknown_operators_are_refused() -> None:
    with pytest.raises(ValidationError):
        ModelQualityConstraints.model_validate(
            {"regression_constraints": {"mae": {"threshold": 1, "comparison_operator": "Above"}}}
        )


def test_custom_metrics_in_a_section_are_typed() -> None:
    section = BinaryClassificationMetrics.model_validate(
        {"auc": {"value": 0.9}, "gini": {"value": 0.8, "standard_deviation": 0.01}}
    )
    assert section.scalar_metrics()["gini"] == MetricValue(value=0.8, standard_deviation=0.01)
    with pytest.raises(ValidationError):
        BinaryClassificationMetrics.model_validate({"gini": "high"})


def test_bias_report_keeps_errors_and_infinities() -> None:
    report = BiasAnalysis.model_validate_json((DATA / "bias_analysis.json").read_text())
    stage = report.post_training_bias_metrics
    assert stage is not None
    facet = stage.facet_value("Age", "40")
    assert facet is not None
    di = facet.metric("DI")
    ft = facet.metric("FT")
    assert di is not None
    assert di.value == math.inf
    assert ft is not None
    assert ft.value is None
    assert ft.error is not None


class TestGroundTruth:
    def test_reads_the_sagemaker_layout_skipping_blank_lines(self) -> None:
        table = read_ground_truth(DATA / "ground_truth.jsonl")
        assert table.column_names == ["eventId", "label"]
        assert table.column("eventId").to_pylist() == [
            "b4e7f9a2-0001",
            "b4e7f9a2-0002",
            "caller-id-17",
        ]
        assert table.column("label").to_pylist() == ["1", "0", "1"]

    def test_records_written_are_read_back(self) -> None:
        records = [GroundTruthRecord.for_label(f"id-{i}", i % 2) for i in range(5)]
        buffer = io.StringIO()
        assert write_ground_truth(records, buffer) == 5
        first = json.loads(buffer.getvalue().splitlines()[0])
        assert first == {
            "groundTruthData": {"data": "0", "encoding": "CSV"},
            "eventMetadata": {"eventId": "id-0"},
            "eventVersion": "0",
        }
        table = read_ground_truth(buffer.getvalue().encode())
        assert table.equals(ground_truth_table(records))

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ('{"groundTruthData": {"data": "1", "encoding": "CSV"}}', "no eventMetadata.eventId"),
            ('{"eventMetadata": {"eventId": "x"}}', "no groundTruthData.data"),
            (
                '{"groundTruthData": {"data": "1", "encoding": "JSON"}, '
                '"eventMetadata": {"eventId": "x"}}',
                "encoding other than CSV",
            ),
            (
                '{"groundTruthData": {"data": 1, "encoding": "CSV"}, '
                '"eventMetadata": {"eventId": "x"}}',
                "must be a string",
            ),
        ],
    )
    def test_malformed_records_are_refused_with_their_position(
        self, line: str, message: str
    ) -> None:
        good = GroundTruthRecord.for_label("ok", 1).to_line()
        with pytest.raises(InvalidRequest, match=message) as raised:
            read_ground_truth(f"{good}\n{line}\n".encode())
        if "string" not in message:
            assert "record 2" in raised.value.message
