"""statistics.json, constraints.json and constraint_violations.json in SageMaker's shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlgov.analytics import profile, suggest_constraints
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.baseline import (
    ComparisonMethod,
    Constraints,
    ConstraintViolations,
    InferredType,
    Statistics,
)

DATA = Path(__file__).parent / "data"
FILES = {
    "sagemaker_statistics.json": Statistics,
    "sagemaker_constraints.json": Constraints,
    "sagemaker_constraint_violations.json": ConstraintViolations,
}


def _key_paths(value: Any, prefix: str = "") -> list[str]:
    """Every key in document order, with its path: equal lists mean equal key order."""
    paths: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.append(f"{prefix}/{key}")
            paths.extend(_key_paths(item, f"{prefix}/{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.extend(_key_paths(item, f"{prefix}[{index}]"))
    return paths


def _typed(value: Any) -> Any:
    """The document with every number tagged int/float, so 0 and 0.0 compare unequal."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return (type(value).__name__, value)
    return value


class TestSageMakerFilesRoundTrip:
    @pytest.mark.parametrize("name", sorted(FILES))
    def test_parse_and_dump_keeps_values_numbers_and_key_order(self, name: str) -> None:
        original = json.loads((DATA / name).read_text())
        model = FILES[name].read(DATA / name)
        dumped = json.loads(model.dump_json())
        assert _typed(dumped) == _typed(original)
        assert _key_paths(dumped) == _key_paths(original)

    def test_statistics_fields_are_typed(self) -> None:
        statistics = Statistics.read(DATA / "sagemaker_statistics.json")
        assert statistics.dataset.item_count == 20
        day = statistics.feature("day_mins")
        assert day is not None
        assert day.inferred_type is InferredType.FRACTIONAL
        assert day.numerical_statistics is not None
        kll = day.numerical_statistics.distribution.kll  # type: ignore[union-attr]
        assert kll is not None
        assert len(kll.buckets) == 10
        assert sum(bucket.count for bucket in kll.buckets) == 20
        assert kll.sketch is not None
        assert kll.sketch.parameters.k == 2048.0
        assert statistics.feature("nope") is None

    def test_constraints_resolve_enums(self) -> None:
        constraints = Constraints.read(DATA / "sagemaker_constraints.json")
        config = constraints.monitoring_config
        assert config is not None
        assert config.distribution_constraints is not None
        assert config.distribution_constraints.comparison_method is ComparisonMethod.ROBUST
        state = constraints.feature("state")
        assert state is not None
        assert state.string_constraints is not None
        assert state.string_constraints.domains == ["CA", "NY", "TX", "WA"]


class TestLenientReading:
    def test_old_schema_spelling_comparion_method_is_read_and_written_correctly(self) -> None:
        text = json.dumps(
            {
                "version": 0,
                "features": [{"name": "x", "inferred_type": "Fractional"}],
                "monitoring_config": {
                    "distribution_constraints": {"comparion_method": "linf_robust"}
                },
            }
        )
        constraints = Constraints.parse_json(text)
        distribution = constraints.monitoring_config.distribution_constraints  # type: ignore[union-attr]
        assert distribution is not None
        assert distribution.comparison_method is ComparisonMethod.LINF_ROBUST
        assert distribution.comparison_method.is_robust
        dumped = json.loads(constraints.dump_json())
        assert dumped["monitoring_config"]["distribution_constraints"] == {
            "comparison_method": "linf_robust"
        }

    def test_unknown_keys_survive_a_round_trip(self) -> None:
        document = {
            "version": 0,
            "dataset": {"item_count": 1, "custom_dataset_stat": 7},
            "features": [
                {
                    "name": "x",
                    "inferred_type": "String",
                    "string_statistics": {"common": {"num_present": 1, "num_missing": 0}},
                    "my_custom_statistic": {"p99_length": 12},
                }
            ],
        }
        dumped = json.loads(Statistics.parse_json(json.dumps(document)).dump_json())
        assert dumped == document

    @pytest.mark.parametrize(
        ("cls", "text", "fragment"),
        [
            (Statistics, "{not json", "statistics.json"),
            (Statistics, json.dumps({"version": 0, "features": []}), "dataset"),
            (Constraints, json.dumps({"features": [{"name": "x"}]}), "inferred_type"),
            (
                Constraints,
                json.dumps({"features": [{"name": "x", "inferred_type": "Decimal"}]}),
                "inferred_type",
            ),
            (
                ConstraintViolations,
                json.dumps({"violations": [{"feature_name": "x"}]}),
                "description",
            ),
        ],
    )
    def test_malformed_files_raise_invalid_data(self, cls: Any, text: str, fragment: str) -> None:
        with pytest.raises(InvalidRequest) as raised:
            cls.parse_json(text)
        assert raised.value.code is ErrorCode.INVALID_DATA
        assert fragment in raised.value.message

    def test_unreadable_path_raises_invalid_data(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidRequest, match=r"cannot read statistics\.json"):
            Statistics.read(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def statistics() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "label": rng.integers(0, 2, 500),
            "amount": rng.gamma(2.0, 10.0, 500),
            "country": rng.choice(["DE", "FR", "CH"], 500),
        }
    )
    return json.loads(profile(table).dump_json())


class TestOurFilesInSageMakerShape:
    """What SageMaker's readers look up must be where the documented schema puts it."""

    def test_statistics_follow_the_documented_schema(self, statistics: dict[str, Any]) -> None:
        assert list(statistics) == ["version", "dataset", "features"]
        assert statistics["dataset"] == {"item_count": 500}
        label, amount, country = statistics["features"]
        for numerical, kind in ((label, "Integral"), (amount, "Fractional")):
            assert list(numerical)[:3] == ["name", "inferred_type", "numerical_statistics"]
            assert numerical["inferred_type"] == kind
            stats = numerical["numerical_statistics"]
            assert list(stats) == ["common", "mean", "sum", "std_dev", "min", "max", "distribution"]
            assert list(stats["common"]) == ["num_present", "num_missing"]
            kll = stats["distribution"]["kll"]
            assert len(kll["buckets"]) == 10
            assert all(list(b) == ["lower_bound", "upper_bound", "count"] for b in kll["buckets"])
            assert sum(b["count"] for b in kll["buckets"]) == 500
            assert list(kll["sketch"]["parameters"]) == ["c", "k"]
            levels = kll["sketch"]["data"]
            assert sum(len(level) * 2**height for height, level in enumerate(levels)) == 500
        strings = country["string_statistics"]
        assert country["inferred_type"] == "String"
        assert list(strings) == ["common", "distinct_count", "distribution"]
        assert strings["distinct_count"] == 3
        buckets = strings["distribution"]["categorical"]["buckets"]
        assert {b["value"] for b in buckets} == {"DE", "FR", "CH"}
        assert sum(b["count"] for b in buckets) == 500

    def test_constraints_follow_the_documented_schema(self, statistics: dict[str, Any]) -> None:
        constraints = json.loads(
            suggest_constraints(Statistics.model_validate(statistics)).dump_json()
        )
        assert list(constraints) == ["version", "features", "monitoring_config"]
        label = constraints["features"][0]
        assert list(label) == [
            "name",
            "inferred_type",
            "completeness",
            "num_constraints",
            "monitoringConfigOverrides",
        ]
        config = constraints["monitoring_config"]
        assert list(config) == [
            "evaluate_constraints",
            "emit_metrics",
            "datatype_check_threshold",
            "domain_content_threshold",
            "distribution_constraints",
        ]
        assert list(config["distribution_constraints"]) == [
            "perform_comparison",
            "comparison_threshold",
            "comparison_method",
            "categorical_comparison_threshold",
            "categorical_drift_method",
        ]

    def test_write_and_read_back(self, statistics: dict[str, Any], tmp_path: Path) -> None:
        model = Statistics.model_validate(statistics)
        model.write(tmp_path / "statistics.json")
        assert Statistics.read(tmp_path / "statistics.json") == model
