"""evaluate/check: each SageMaker check fires when it should, and only then."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from datasketches import kll_doubles_sketch

from mlgov.analytics import (
    DriftMethod,
    DriftSpec,
    ReadOptions,
    check,
    evaluate,
    profile,
    resolve_config,
    suggest_constraints,
)
from mlgov.formats.baseline import (
    CategoricalDriftMethod,
    ComparisonMethod,
    ConstraintCheckType,
    Constraints,
    ConstraintViolations,
    MonitoringConfig,
    Statistics,
)

DATA = Path(__file__).parent / "data"
N = 4000
RANK_ERROR = 2 * kll_doubles_sketch(200).normalized_rank_error(False)


def _baseline_table(rng: np.random.Generator, n: int = N) -> pa.Table:
    return pa.table(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.gamma(3.0, 20_000.0, n),
            "score": rng.normal(0.0, 1.0, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def baseline() -> tuple[Statistics, Constraints]:
    statistics = profile(_baseline_table(np.random.default_rng(1)))
    return statistics, suggest_constraints(statistics)


def _kinds(violations: ConstraintViolations) -> set[tuple[str, str]]:
    return {(v.feature_name, str(v.constraint_check_type)) for v in violations.violations}


def _with_config(constraints: Constraints, **changes: Any) -> Constraints:
    document = json.loads(constraints.dump_json())
    for dotted, value in changes.items():
        target = document["monitoring_config"]
        *parents, leaf = dotted.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return Constraints.model_validate(document)


class TestCleanData:
    def test_a_fresh_sample_of_the_same_population_passes(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        current = _baseline_table(np.random.default_rng(2))
        report = check(current, *baseline)
        assert report.violations.violations == []
        assert not report.has_violations
        assert {result.feature_name for result in report.drift} == {
            "age",
            "income",
            "score",
            "plan",
        }
        assert all(result.chosen_by == "constraints" for result in report.drift)
        assert {result.method for result in report.drift} == {DriftMethod.LINF_ROBUST}

    def test_evaluate_returns_the_violations_file(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        violations = evaluate(_baseline_table(np.random.default_rng(3)), *baseline)
        assert json.loads(violations.dump_json()) == {"violations": []}


class TestEachCheck:
    def test_data_type_check_uses_the_required_share(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        rng = np.random.default_rng(4)
        age = np.where(rng.random(N) < 0.1, 30.5, 40.0)
        current = _baseline_table(rng).set_column(0, "age", pa.array(age))
        violations = evaluate(current, *baseline)
        (violation,) = violations.of_type(ConstraintCheckType.DATA_TYPE)
        assert violation.feature_name == "age"
        share = np.mean(age == 40.0) * 100
        assert violation.description == (
            "Data type match requirement is not met. Expected data type: Integral, "
            f"Expected match: 100.0%. Observed: Only {share:.1f}% of data is Integral."
        )
        relaxed = _with_config(baseline[1], datatype_check_threshold=0.85)
        assert not evaluate(current, baseline[0], relaxed).of_type(ConstraintCheckType.DATA_TYPE)

    def test_text_in_a_numeric_column_is_a_type_violation_not_an_error(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        rng = np.random.default_rng(5)
        income = rng.gamma(3.0, 20_000.0, N).astype(str).astype(object)
        income[:4] = "n/a"
        current = _baseline_table(rng).set_column(1, "income", pa.array(income.tolist()))
        violations = evaluate(current, *baseline)
        (violation,) = violations.of_type(ConstraintCheckType.DATA_TYPE)
        assert "Only 99.9% of data is Fractional" in violation.description

    def test_completeness_check(self, baseline: tuple[Statistics, Constraints]) -> None:
        rng = np.random.default_rng(6)
        table = _baseline_table(rng)
        score = table.column("score").to_numpy().copy()
        score[:200] = np.nan
        current = table.set_column(2, "score", pa.array(score))
        (violation,) = evaluate(current, *baseline).of_type(ConstraintCheckType.COMPLETENESS)
        assert violation.feature_name == "score"
        assert violation.description == (
            "Data completeness requirement is not met. Expected: 100.0%. "
            "Observed: Only 95.0% of data is non-null."
        )

    def test_categorical_values_check(self, baseline: tuple[Statistics, Constraints]) -> None:
        rng = np.random.default_rng(7)
        plan = rng.choice(["basic", "plus", "pro"], N).astype(object)
        plan[:40] = "enterprise"
        plan[40:44] = "trial"
        current = _baseline_table(rng).set_column(3, "plan", pa.array(plan.tolist()))
        (violation,) = evaluate(current, *baseline).of_type(ConstraintCheckType.CATEGORICAL_VALUES)
        assert "Only 98.9% of data is in the domain" in violation.description
        assert "2 unknown value(s), most frequent: 'enterprise', 'trial'" in violation.description
        relaxed = _with_config(baseline[1], domain_content_threshold=0.9)
        assert not evaluate(current, baseline[0], relaxed).of_type(
            ConstraintCheckType.CATEGORICAL_VALUES
        )

    def test_numerical_drift(self, baseline: tuple[Statistics, Constraints]) -> None:
        rng = np.random.default_rng(8)
        current = _baseline_table(rng).set_column(2, "score", pa.array(rng.normal(0.6, 1.0, N)))
        report = check(current, *baseline)
        (violation,) = report.violations.of_type(ConstraintCheckType.BASELINE_DRIFT)
        assert violation.feature_name == "score"
        assert violation.description.startswith("Numerical drift (linf_robust): distance: 0.2")
        assert violation.description.endswith("exceeds threshold: 0.1")
        score = next(result for result in report.drift if result.feature_name == "score")
        assert score.drifted
        assert score.value > 0.2

    def test_simple_and_robust_differ_on_small_samples(self) -> None:
        rng = np.random.default_rng(9)
        statistics = profile(pa.table({"x": rng.normal(0, 1, 60)}))
        current = pa.table({"x": rng.normal(0.35, 1, 60)})
        robust = suggest_constraints(statistics)
        simple = _with_config(robust, distribution_constraints__comparison_method="Simple")
        simple_report = check(current, statistics, simple)
        robust_report = check(current, statistics, robust)
        (simple_result,) = simple_report.drift
        (robust_result,) = robust_report.drift
        assert simple_result.method is DriftMethod.LINF_SIMPLE
        assert robust_result.method is DriftMethod.LINF_ROBUST
        correction = 1.8 * np.sqrt(120 / 3600)
        assert robust_result.value == pytest.approx(max(0.0, simple_result.value - correction))
        assert simple_result.drifted
        assert not robust_result.drifted

    def test_categorical_drift_by_linf_or_chi_squared(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        rng = np.random.default_rng(10)
        plan = rng.choice(["basic", "plus", "pro"], N, p=[0.36, 0.34, 0.30])
        current = _baseline_table(rng).set_column(3, "plan", pa.array(plan))
        linf = check(current, *baseline)
        result = next(r for r in linf.drift if r.feature_name == "plan")
        assert result.method is DriftMethod.LINF_ROBUST
        assert result.value == pytest.approx(0.14, abs=0.03)
        assert ("plan", "baseline_drift_check") in _kinds(linf.violations)
        chi = _with_config(
            baseline[1],
            distribution_constraints__categorical_drift_method="ChiSquared",
            distribution_constraints__categorical_comparison_threshold=0.05,
        )
        report = check(current, baseline[0], chi)
        result = next(r for r in report.drift if r.feature_name == "plan")
        assert result.method is DriftMethod.CHI_SQUARED
        assert result.threshold == 0.05
        assert result.p_value is not None
        assert result.p_value < 1e-10
        violation = next(v for v in report.violations.violations if v.feature_name == "plan")
        assert "p-value" in violation.description

    def test_missing_and_extra_columns(self, baseline: tuple[Statistics, Constraints]) -> None:
        current = _baseline_table(np.random.default_rng(11)).drop_columns(["income"])
        current = current.append_column("region", pa.array(["eu"] * N))
        violations = evaluate(current, *baseline)
        assert _kinds(violations) == {
            ("income", "missing_column_check"),
            ("region", "extra_column_check"),
        }
        (missing,) = violations.of_type(ConstraintCheckType.MISSING_COLUMN)
        assert "Number of columns in current dataset: 4" in missing.description

    def test_non_negative_check(self, baseline: tuple[Statistics, Constraints]) -> None:
        rng = np.random.default_rng(12)
        income = rng.gamma(3.0, 20_000.0, N)
        income[:40] = -5.0
        current = _baseline_table(rng).set_column(1, "income", pa.array(income))
        (violation,) = evaluate(current, *baseline).of_type(ConstraintCheckType.NON_NEGATIVE)
        assert violation.feature_name == "income"
        assert "Observed minimum: -5." in violation.description
        # The share comes from the quantile sketch: 1% give or take its rank error.
        match = re.search(r"About ([\d.]+)% of values are negative", violation.description)
        assert match is not None
        assert float(match.group(1)) == pytest.approx(1.0, abs=100 * RANK_ERROR)


class TestConfiguration:
    def test_defaults_and_categorical_threshold_inheritance(self) -> None:
        config = resolve_config(None)
        assert config.datatype_check_threshold == 1.0
        assert config.comparison_method is ComparisonMethod.ROBUST
        assert config.categorical_drift_method is CategoricalDriftMethod.LINFINITY
        inherited = resolve_config(
            MonitoringConfig.model_validate(
                {"distribution_constraints": {"comparison_threshold": 0.3}}
            )
        )
        assert inherited.categorical_comparison_threshold == 0.3

    def test_feature_overrides_win(self) -> None:
        base = MonitoringConfig.model_validate(
            {
                "datatype_check_threshold": 1.0,
                "distribution_constraints": {"comparison_threshold": 0.1},
            }
        )
        override = MonitoringConfig.model_validate(
            {
                "distribution_constraints": {
                    "comparison_threshold": 0.5,
                    "perform_comparison": "Disabled",
                }
            }
        )
        config = resolve_config(base, override)
        assert config.comparison_threshold == 0.5
        assert not config.perform_comparison
        assert config.datatype_check_threshold == 1.0

    def test_per_feature_override_in_constraints(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        rng = np.random.default_rng(13)
        current = _baseline_table(rng).set_column(2, "score", pa.array(rng.normal(0.6, 1.0, N)))
        document = json.loads(baseline[1].dump_json())
        for feature in document["features"]:
            if feature["name"] == "score":
                feature["monitoringConfigOverrides"] = {
                    "distribution_constraints": {"comparison_threshold": 0.5}
                }
        report = check(current, baseline[0], Constraints.model_validate(document))
        assert not report.violations.of_type(ConstraintCheckType.BASELINE_DRIFT)
        score = next(r for r in report.drift if r.feature_name == "score")
        assert score.threshold == 0.5

    def test_disabled_toggles(self, baseline: tuple[Statistics, Constraints]) -> None:
        rng = np.random.default_rng(14)
        current = (
            _baseline_table(rng)
            .set_column(2, "score", pa.array(rng.normal(0.6, 1.0, N)))
            .drop_columns(["income"])
        )
        no_constraints = _with_config(baseline[1], evaluate_constraints="Disabled")
        assert _kinds(evaluate(current, baseline[0], no_constraints)) == {
            ("score", "baseline_drift_check")
        }
        no_drift = _with_config(
            baseline[1], distribution_constraints__perform_comparison="Disabled"
        )
        report = check(current, baseline[0], no_drift)
        assert report.drift == []
        assert _kinds(report.violations) == {("income", "missing_column_check")}


class TestDriftSelection:
    def test_auto_uses_the_choice_table_for_every_feature(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        report = check(_baseline_table(np.random.default_rng(15)), *baseline, drift="auto")
        methods = {result.feature_name: result.method for result in report.drift}
        assert methods == {
            "age": DriftMethod.WASSERSTEIN,
            "income": DriftMethod.WASSERSTEIN,
            "score": DriftMethod.WASSERSTEIN,
            "plan": DriftMethod.JENSEN_SHANNON,
        }
        assert all(result.chosen_by == "auto" for result in report.drift)
        assert not report.has_violations

    def test_a_numbers_only_method_for_all_leaves_categories_to_the_constraints(
        self, baseline: tuple[Statistics, Constraints]
    ) -> None:
        report = check(_baseline_table(np.random.default_rng(18)), *baseline, drift=DriftMethod.KS)
        methods = {result.feature_name: result.method for result in report.drift}
        assert methods["score"] is DriftMethod.KS
        assert methods["plan"] is DriftMethod.LINF_ROBUST

    def test_per_feature_methods(self, baseline: tuple[Statistics, Constraints]) -> None:
        rng = np.random.default_rng(16)
        current = _baseline_table(rng).set_column(2, "score", pa.array(rng.normal(0.1, 1.0, N)))
        report = check(
            current,
            *baseline,
            drift_features={"score": DriftSpec(DriftMethod.KS, 0.01), "plan": DriftSpec("auto")},
        )
        by_name = {result.feature_name: result for result in report.drift}
        assert by_name["score"].method is DriftMethod.KS
        assert by_name["score"].drifted
        assert by_name["plan"].method is DriftMethod.JENSEN_SHANNON
        assert by_name["age"].method is DriftMethod.LINF_ROBUST
        (violation,) = report.violations.of_type(ConstraintCheckType.BASELINE_DRIFT)
        assert violation.description.startswith("Numerical drift (ks): p-value: ")


class TestSageMakerBaselines:
    """A baseline made by SageMaker (no mlgov sketches) is accepted unchanged."""

    @pytest.fixture
    def sagemaker(self) -> tuple[Statistics, Constraints]:
        return (
            Statistics.read(DATA / "sagemaker_statistics.json"),
            Constraints.read(DATA / "sagemaker_constraints.json"),
        )

    def _current(self, **columns: Any) -> pa.Table:
        data: dict[str, Any] = {
            "churn": [0] * 17 + [1] * 3,
            "account_length": [101, 77, 128, 65, 142, 99, 118, 84, 137, 112] * 2,
            "day_mins": [180.0 + i for i in range(20)],
            "state": ["CA"] * 8 + ["NY"] * 6 + ["TX"] * 4 + ["WA"] * 2,
            "intl_plan": ["no"] * 17 + ["yes"] * 3,
        }
        data.update(columns)
        return pa.table(data)

    def test_matching_data_passes(self, sagemaker: tuple[Statistics, Constraints]) -> None:
        report = check(self._current(), *sagemaker)
        assert report.violations.violations == []
        assert {result.feature_name for result in report.drift} == {
            "churn",
            "account_length",
            "day_mins",
            "state",
            "intl_plan",
        }

    def test_the_checks_fire_on_a_sagemaker_baseline(
        self, sagemaker: tuple[Statistics, Constraints]
    ) -> None:
        current = self._current(
            churn=[0.0] * 10 + [1.0] * 9 + [0.5],
            day_mins=[400.0 + i for i in range(20)],
            state=["CA"] * 8 + ["NY"] * 6 + ["TX"] * 4 + ["OR"] * 2,
        ).drop_columns(["intl_plan"])
        report = check(current, *sagemaker)
        # With 20 rows on each side the Robust method subtracts 1.8 * sqrt(40 / 400) = 0.57:
        # only the wholesale shift of day_mins (distance 1.0) survives as drift.
        assert _kinds(report.violations) == {
            ("churn", "data_type_check"),
            ("day_mins", "baseline_drift_check"),
            ("state", "categorical_values_check"),
            ("intl_plan", "missing_column_check"),
        }
        by_name = {result.feature_name: result for result in report.drift}
        assert by_name["day_mins"].value == pytest.approx(1.0 - 1.8 * np.sqrt(40 / 400))
        assert by_name["churn"].value == 0.0

    def test_sagemaker_current_statistics_are_accepted_too(
        self, sagemaker: tuple[Statistics, Constraints]
    ) -> None:
        statistics, constraints = sagemaker
        assert evaluate(statistics, statistics, constraints).violations == []


class TestCaptures:
    def test_capture_columns_take_the_baseline_names_by_position(self, tmp_path: Path) -> None:
        rng = np.random.default_rng(17)
        statistics = profile(
            pa.table(
                {
                    "prediction": rng.random(300),
                    "f1": rng.normal(size=300),
                    "f2": rng.integers(0, 5, 300),
                }
            )
        )
        constraints = suggest_constraints(statistics)
        lines = []
        for _ in range(300):
            record = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": f"{rng.normal():.6f},{rng.integers(0, 5)}",
                        "encoding": "CSV",
                    },
                    "endpointOutput": {
                        "observedContentType": "text/csv",
                        "mode": "OUTPUT",
                        "data": f"{rng.random():.6f}",
                        "encoding": "CSV",
                    },
                },
                "eventMetadata": {"eventId": "x", "inferenceTime": "2024-01-01T00:00:00Z"},
                "eventVersion": "0",
            }
            lines.append(json.dumps(record))
        path = tmp_path / "capture.jsonl"
        path.write_text("\n".join(lines) + "\n")
        report = check(path, statistics, constraints, options=ReadOptions(batch_size=128))
        assert [feature.name for feature in report.statistics.features] == [
            "prediction",
            "f1",
            "f2",
        ]
        assert report.violations.violations == []
