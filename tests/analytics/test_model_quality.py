"""Model-quality metrics against scikit-learn, deviations, constraints and violations."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from mlgov.analytics.model_quality import (
    compute_model_quality,
    evaluate_model_quality,
    suggest_model_quality_constraints,
    with_custom_metrics,
)
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.model_quality import (
    BinaryClassificationMetrics,
    ComparisonOperator,
    MetricConstraint,
    ModelQualityConstraints,
    ModelQualityStatistics,
    MulticlassClassificationMetrics,
    ProblemType,
    RegressionMetrics,
)

DATA = Path(__file__).parent / "data"
BINARY = ProblemType.BINARY_CLASSIFICATION
MULTICLASS = ProblemType.MULTICLASS_CLASSIFICATION
REGRESSION = ProblemType.REGRESSION


def binary_data(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    # Rounded so that scores tie, which exercises the per-threshold grouping.
    scores = np.clip(labels * 0.25 + rng.random(n) * 0.75, 0, 1).round(2)
    return labels, scores


def binary_section(stats: ModelQualityStatistics) -> BinaryClassificationMetrics:
    section = stats.metrics
    assert isinstance(section, BinaryClassificationMetrics)
    return section


def values(stats: ModelQualityStatistics) -> dict[str, float]:
    return {name: metric.value for name, metric in stats.metrics.scalar_metrics().items()}


def sklearn_binary(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    matrix = sk.confusion_matrix(labels, predicted, labels=[0, 1])
    tn, fp, fn, tp = matrix.ravel()
    zero = {"zero_division": 0}
    return {
        "recall": sk.recall_score(labels, predicted, **zero),
        "precision": sk.precision_score(labels, predicted, **zero),
        "accuracy": sk.accuracy_score(labels, predicted),
        "true_positive_rate": sk.recall_score(labels, predicted, **zero),
        "true_negative_rate": tn / (tn + fp) if tn + fp else 0.0,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "false_negative_rate": fn / (fn + tp) if fn + tp else 0.0,
        "f0_5": sk.fbeta_score(labels, predicted, beta=0.5, **zero),
        "f1": sk.f1_score(labels, predicted, **zero),
        "f2": sk.fbeta_score(labels, predicted, beta=2, **zero),
    }


def spark_style_pr_area(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the PR curve with one point per distinct threshold, from (0, first precision)."""
    thresholds = np.unique(scores)[::-1]
    precisions = [sk.precision_score(labels, scores >= t, zero_division=0) for t in thresholds]
    recalls = [sk.recall_score(labels, scores >= t) for t in thresholds]
    return float(sk.auc([0.0, *recalls], [precisions[0], *precisions]))


class TestBinary:
    def test_every_metric_matches_scikit_learn(self) -> None:
        labels, scores = binary_data(500)
        table = pa.table({"label": labels, "probability": scores})
        stats = compute_model_quality(
            table,
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            probability_threshold=0.6,
        )
        predicted = (scores >= 0.6).astype(int)
        got = values(stats)
        for name, expected in sklearn_binary(labels, predicted).items():
            assert got[name] == pytest.approx(expected, abs=1e-12), name
        assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
        assert got["au_prc"] == pytest.approx(spark_style_pr_area(labels, scores), abs=1e-12)
        tn, fp, fn, tp = sk.confusion_matrix(labels, predicted).ravel()
        assert binary_section(stats).confusion_matrix == {
            "0": {"0": tn, "1": fp},
            "1": {"0": fn, "1": tp},
        }
        assert stats.dataset is not None
        assert stats.dataset.item_count == 500

    def test_best_constant_classifier_always_predicts_the_positive_class(self) -> None:
        labels, scores = binary_data(300, seed=3)
        table = pa.table({"label": labels, "probability": scores})
        got = values(
            compute_model_quality(
                table, BINARY, ground_truth_attribute="label", probability_attribute="probability"
            )
        )
        constant = sklearn_binary(labels, np.ones_like(labels))
        for name in ("recall", "precision", "accuracy", "f0_5", "f1", "f2"):
            key = f"{name}_best_constant_classifier"
            assert got[key] == pytest.approx(constant[name], abs=1e-12), key

    def test_developer_guide_example_values_are_reproduced(self) -> None:
        # Confusion matrix of the SageMaker example: actual 0 -> (1, 2), actual 1 -> (0, 1).
        table = pa.table({"label": [0, 0, 0, 1], "prediction": [0, 1, 1, 1]})
        got = values(
            compute_model_quality(
                table, BINARY, ground_truth_attribute="label", inference_attribute="prediction"
            )
        )
        expected = ModelQualityStatistics.model_validate_json(
            (DATA / "mq_binary_statistics.json").read_text()
        )
        documented = values(expected)
        for name in (
            "recall",
            "precision",
            "accuracy",
            "true_positive_rate",
            "true_negative_rate",
            "false_positive_rate",
            "false_negative_rate",
            "f0_5",
            "f1",
            "f2",
            *(f"{m}_best_constant_classifier" for m in ("recall", "precision", "accuracy")),
            *(f"{m}_best_constant_classifier" for m in ("f0_5", "f1", "f2")),
        ):
            assert got[name] == pytest.approx(documented[name], abs=1e-12), name

    def test_roc_curve_matches_scikit_learn_between_spark_end_points(self) -> None:
        labels, scores = binary_data(400, seed=11)
        stats = compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            curve_points=None,
        )
        roc = binary_section(stats).receiver_operating_characteristic_curve
        assert roc is not None
        fpr, tpr, _ = sk.roc_curve(labels, scores, drop_intermediate=False)
        assert roc.false_positive_rates[0] == 0.0
        assert roc.true_positive_rates[0] == 0.0
        assert roc.false_positive_rates[-1] == 1.0
        assert roc.true_positive_rates[-1] == 1.0
        np.testing.assert_allclose(roc.false_positive_rates[1:-1], fpr[1:], atol=1e-12)
        np.testing.assert_allclose(roc.true_positive_rates[1:-1], tpr[1:], atol=1e-12)

    def test_precision_recall_curve_has_one_point_per_threshold(self) -> None:
        labels, scores = binary_data(200, seed=5)
        stats = compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            curve_points=None,
        )
        curve = binary_section(stats).precision_recall_curve
        assert curve is not None
        thresholds = np.unique(scores)[::-1]
        expected_precision = [sk.precision_score(labels, scores >= t) for t in thresholds]
        expected_recall = [sk.recall_score(labels, scores >= t) for t in thresholds]
        np.testing.assert_allclose(curve.precisions[1:], expected_precision, atol=1e-12)
        np.testing.assert_allclose(curve.recalls[1:], expected_recall, atol=1e-12)
        assert curve.recalls[0] == 0.0
        assert curve.precisions[0] == curve.precisions[1]

    def test_pr_curve_starts_with_the_precision_of_the_top_threshold(self) -> None:
        # The top score is a negative, so the curve starts at precision 0, not 1. By hand:
        # thresholds 0.9, 0.8, 0.7, 0.1 give (recall, precision) (0, 0), (.5, .5), (1, 2/3),
        # (1, .5); with the (0, 0) start the trapezoids add up to 0.125 + 0.2916... = 5/12.
        stats = compute_model_quality(
            pa.table({"label": [0, 1, 1, 0], "probability": [0.9, 0.8, 0.7, 0.1]}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
        )
        curve = binary_section(stats).precision_recall_curve
        assert curve is not None
        assert curve.precisions == pytest.approx([0.0, 0.0, 0.5, 2 / 3, 0.5])
        assert curve.recalls == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
        assert values(stats)["au_prc"] == pytest.approx(5 / 12)

    def test_pr_area_counts_the_first_segment_from_recall_zero(self) -> None:
        # A tie at the top: threshold 0.9 already has recall 0.5 at precision 0.5, so the curve
        # runs (0, .5) -> (.5, .5) -> (1, 2/3) -> (1, .5): area 0.25 + 0.2916... = 13/24.
        stats = compute_model_quality(
            pa.table({"label": [1, 0, 1, 0], "probability": [0.9, 0.9, 0.5, 0.1]}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
        )
        assert values(stats)["au_prc"] == pytest.approx(13 / 24)
        assert values(stats)["auc"] == pytest.approx(
            sk.roc_auc_score([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1])
        )

    def test_curves_are_thinned_to_the_requested_points_keeping_the_ends(self) -> None:
        rng = np.random.default_rng(2)
        labels = rng.integers(0, 2, 5000)
        scores = rng.random(5000)
        full = compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            curve_points=None,
        )
        thin = compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            curve_points=50,
        )
        full_roc = binary_section(full).receiver_operating_characteristic_curve
        thin_roc = binary_section(thin).receiver_operating_characteristic_curve
        assert full_roc is not None
        assert thin_roc is not None
        assert len(full_roc.false_positive_rates) == 5002
        assert len(thin_roc.false_positive_rates) == 52
        assert thin_roc.true_positive_rates[-2] == full_roc.true_positive_rates[-2]
        assert thin_roc.true_positive_rates[1] == full_roc.true_positive_rates[1]
        # The AUC is always computed at full resolution.
        assert values(thin)["auc"] == values(full)["auc"]

    def test_hard_predictions_alone_give_auc_over_the_labels_as_scores(self) -> None:
        labels, scores = binary_data(250, seed=9)
        predicted = (scores >= 0.5).astype(int)
        got = values(
            compute_model_quality(
                pa.table({"label": labels, "prediction": predicted}),
                BINARY,
                ground_truth_attribute="label",
                inference_attribute="prediction",
            )
        )
        assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, predicted), abs=1e-12)

    def test_inference_attribute_wins_over_the_threshold_for_the_predicted_label(self) -> None:
        labels, scores = binary_data(250, seed=4)
        predicted = (scores >= 0.8).astype(int)  # a cutoff the threshold would not give
        got = values(
            compute_model_quality(
                pa.table({"label": labels, "prediction": predicted, "probability": scores}),
                BINARY,
                ground_truth_attribute="label",
                inference_attribute="prediction",
                probability_attribute="probability",
            )
        )
        assert got["f1"] == pytest.approx(sk.f1_score(labels, predicted), abs=1e-12)
        assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)

    def test_string_labels_with_a_named_positive_class(self) -> None:
        labels = np.array(["yes", "no", "no", "yes", "yes", "no", "no", "no"])
        predicted = np.array(["yes", "yes", "no", "no", "yes", "no", "no", "yes"])
        stats = compute_model_quality(
            pa.table({"label": labels, "prediction": predicted}),
            BINARY,
            ground_truth_attribute="label",
            inference_attribute="prediction",
            positive_label="yes",
        )
        got = values(stats)
        assert got["precision"] == pytest.approx(
            sk.precision_score(labels, predicted, pos_label="yes")
        )
        assert got["recall"] == pytest.approx(sk.recall_score(labels, predicted, pos_label="yes"))
        assert binary_section(stats).confusion_matrix == {
            "no": {"no": 3, "yes": 2},
            "yes": {"no": 1, "yes": 2},
        }

    def test_labels_spelled_differently_name_the_same_class(self) -> None:
        # Ground truth arrives as CSV strings, predictions as floats from the endpoint.
        table = pa.table(
            {"label": ["1", "0", "1.0", "0"], "prediction": pa.array([1.0, 0.0, 0.0, 1.0])}
        )
        stats = compute_model_quality(
            table, BINARY, ground_truth_attribute="label", inference_attribute="prediction"
        )
        assert binary_section(stats).confusion_matrix == {
            "0": {"0": 1, "1": 1},
            "1": {"0": 1, "1": 1},
        }

    def test_rows_missing_a_label_or_prediction_are_left_out(self) -> None:
        table = pa.table(
            {"label": pa.array([1, None, 0, 1, 0]), "prediction": pa.array([1, 0, None, 0, 0])}
        )
        stats = compute_model_quality(
            table, BINARY, ground_truth_attribute="label", inference_attribute="prediction"
        )
        assert stats.dataset is not None
        assert stats.dataset.item_count == 3
        assert values(stats)["accuracy"] == pytest.approx(2 / 3)

    def test_one_class_only_has_no_auc_and_no_curves(self) -> None:
        table = pa.table({"label": [1, 1, 1, 1], "probability": [0.9, 0.2, 0.7, 0.4]})
        stats = compute_model_quality(
            table, BINARY, ground_truth_attribute="label", probability_attribute="probability"
        )
        got = values(stats)
        assert math.isnan(got["auc"])
        assert binary_section(stats).receiver_operating_characteristic_curve is None
        assert got["recall"] == 0.5
        assert got["precision"] == 1.0
        assert '"auc": {\n      "value": "NaN"' in stats.to_json()

    def test_no_predicted_positives_gives_zero_precision_like_scikit_learn(self) -> None:
        table = pa.table({"label": [1, 0, 1, 0], "prediction": [0, 0, 0, 0]})
        got = values(
            compute_model_quality(
                table, BINARY, ground_truth_attribute="label", inference_attribute="prediction"
            )
        )
        assert got["precision"] == 0.0
        assert got["f1"] == 0.0
        assert got["false_positive_rate"] == 0.0

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.35, 0.5, 0.5, 0.8, 1.0])),
            min_size=1,
            max_size=60,
        )
    )
    def test_property_agrees_with_scikit_learn_on_any_small_sample(
        self, rows: list[tuple[int, float]]
    ) -> None:
        labels = np.array([label for label, _ in rows])
        scores = np.array([score for _, score in rows])
        got = values(
            compute_model_quality(
                pa.table({"label": labels, "probability": scores}),
                BINARY,
                ground_truth_attribute="label",
                probability_attribute="probability",
            )
        )
        predicted = (scores >= 0.5).astype(int)
        for name, expected in sklearn_binary(labels, predicted).items():
            assert got[name] == pytest.approx(expected, abs=1e-12), name
        if len(set(labels.tolist())) == 2:
            assert got["auc"] == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
        else:
            assert math.isnan(got["auc"])
        assert all(0.0 <= v <= 1.0 for k, v in got.items() if not math.isnan(v)), got


class TestMulticlass:
    def test_weighted_metrics_match_scikit_learn(self) -> None:
        rng = np.random.default_rng(21)
        labels = rng.choice([0, 1, 2, 3], size=600, p=[0.5, 0.3, 0.15, 0.05])
        noise = rng.integers(0, 4, size=600)
        predicted = np.where(rng.random(600) < 0.6, labels, noise)
        predicted[predicted == 3] = 2  # class 3 is never predicted: zero-division path
        stats = compute_model_quality(
            pa.table({"label": labels, "prediction": predicted}),
            MULTICLASS,
            ground_truth_attribute="label",
            inference_attribute="prediction",
        )
        got = values(stats)
        weighted = {"average": "weighted", "zero_division": 0}
        assert got["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
        assert got["weighted_recall"] == pytest.approx(
            sk.recall_score(labels, predicted, **weighted)
        )
        assert got["weighted_precision"] == pytest.approx(
            sk.precision_score(labels, predicted, **weighted)
        )
        for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
            assert got[f"weighted_{name}"] == pytest.approx(
                sk.fbeta_score(labels, predicted, beta=beta, **weighted)
            ), name
        matrix = sk.confusion_matrix(labels, predicted, labels=[0, 1, 2, 3])
        section = stats.metrics
        assert isinstance(section, MulticlassClassificationMetrics)
        assert section.confusion_matrix == {
            str(a): {str(p): int(matrix[a, p]) for p in range(4)} for a in range(4)
        }

    def test_best_constant_classifier_predicts_the_most_frequent_class(self) -> None:
        rng = np.random.default_rng(8)
        labels = rng.choice(["cat", "dog", "eel"], size=300, p=[0.2, 0.5, 0.3])
        predicted = rng.choice(["cat", "dog", "eel"], size=300)
        got = values(
            compute_model_quality(
                pa.table({"label": labels, "prediction": predicted}),
                MULTICLASS,
                ground_truth_attribute="label",
                inference_attribute="prediction",
            )
        )
        constant = np.full(300, "dog")
        weighted = {"average": "weighted", "zero_division": 0}
        assert got["accuracy_best_constant_classifier"] == pytest.approx(
            sk.accuracy_score(labels, constant)
        )
        assert got["weighted_recall_best_constant_classifier"] == pytest.approx(
            sk.recall_score(labels, constant, **weighted)
        )
        assert got["weighted_precision_best_constant_classifier"] == pytest.approx(
            sk.precision_score(labels, constant, **weighted)
        )
        for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
            assert got[f"weighted_{name}_best_constant_classifier"] == pytest.approx(
                sk.fbeta_score(labels, constant, beta=beta, **weighted)
            ), name

    def test_needs_predicted_labels(self) -> None:
        with pytest.raises(InvalidRequest, match="inference attribute"):
            compute_model_quality(
                pa.table({"label": [0, 1, 2]}), MULTICLASS, ground_truth_attribute="label"
            )


class TestRegression:
    def test_metrics_match_scikit_learn(self) -> None:
        rng = np.random.default_rng(5)
        actual = rng.normal(10, 3, 400)
        predicted = actual + rng.normal(0.5, 1.5, 400)
        stats = compute_model_quality(
            pa.table({"y": actual, "y_hat": predicted}),
            REGRESSION,
            ground_truth_attribute="y",
            inference_attribute="y_hat",
        )
        got = values(stats)
        assert isinstance(stats.metrics, RegressionMetrics)
        assert got["mae"] == pytest.approx(sk.mean_absolute_error(actual, predicted))
        assert got["mse"] == pytest.approx(sk.mean_squared_error(actual, predicted))
        assert got["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(actual, predicted)))
        assert got["r2"] == pytest.approx(sk.r2_score(actual, predicted))

    @pytest.mark.parametrize(("predicted", "r2"), [([4.0, 4.0, 4.0], 1.0), ([4.0, 5.0, 4.0], 0.0)])
    def test_constant_target_r2_follows_scikit_learn(
        self, predicted: list[float], r2: float
    ) -> None:
        got = values(
            compute_model_quality(
                pa.table({"y": [4.0, 4.0, 4.0], "y_hat": predicted}),
                REGRESSION,
                ground_truth_attribute="y",
                inference_attribute="y_hat",
            )
        )
        assert got["r2"] == r2 == sk.r2_score([4.0, 4.0, 4.0], predicted)

    def test_string_targets_from_ground_truth_files_are_numbers(self) -> None:
        got = values(
            compute_model_quality(
                pa.table({"y": ["1.5", "2.0", "3.5"], "y_hat": [1.0, 2.0, 4.0]}),
                REGRESSION,
                ground_truth_attribute="y",
                inference_attribute="y_hat",
            )
        )
        assert got["mae"] == pytest.approx(1 / 3)


class TestStandardDeviation:
    def test_not_reported_below_two_hundred_rows(self) -> None:
        labels, scores = binary_data(199)
        stats = compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
        )
        assert all(
            math.isnan(m.standard_deviation) for m in stats.metrics.scalar_metrics().values()
        )
        assert '"standard_deviation": "NaN"' in stats.to_json()

    def test_is_the_spread_of_five_seeded_eighty_percent_subsamples(self) -> None:
        labels, scores = binary_data(1000, seed=17)
        stats = compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            seed=42,
        )
        # The documented procedure, replayed with scikit-learn on the same seeded draws.
        rng = np.random.default_rng(42)
        auc, f1 = [], []
        for _ in range(5):
            rows = rng.choice(1000, size=800, replace=False)
            auc.append(sk.roc_auc_score(labels[rows], scores[rows]))
            f1.append(sk.f1_score(labels[rows], scores[rows] >= 0.5))
        metrics = stats.metrics.scalar_metrics()
        assert metrics["auc"].standard_deviation == pytest.approx(np.std(auc, ddof=1), abs=1e-12)
        assert metrics["f1"].standard_deviation == pytest.approx(np.std(f1, ddof=1), abs=1e-12)

    def test_same_seed_same_numbers_other_seed_other_numbers(self) -> None:
        rng = np.random.default_rng(0)
        table = pa.table({"y": rng.normal(size=500), "y_hat": rng.normal(size=500)})

        def deviation(seed: int) -> float:
            stats = compute_model_quality(
                table,
                REGRESSION,
                ground_truth_attribute="y",
                inference_attribute="y_hat",
                seed=seed,
            )
            return stats.metrics.scalar_metrics()["mae"].standard_deviation

        assert deviation(1) == deviation(1)
        assert deviation(1) != deviation(2)
        assert 0 < deviation(1) < 0.1


class TestBadInput:
    @pytest.mark.parametrize(
        ("table", "kwargs", "message"),
        [
            (pa.table({"label": pa.array([], pa.int64())}), {}, "no rows"),
            (pa.table({"label": pa.array([None, None], pa.int64())}), {}, "every row is null"),
            (pa.table({"label": [0, 1]}), {"probability_attribute": "missing"}, "missing column"),
            (pa.table({"label": [0, 1, 2]}), {}, "other labels"),
            (pa.table({"label": [0.5, 1.0]}), {}, "fractional"),
            (pa.table({"label": [0.0, float("nan")]}), {}, "NaN"),
        ],
    )
    def test_clear_errors(self, table: pa.Table, kwargs: dict[str, str], message: str) -> None:
        inference = {} if kwargs else {"inference_attribute": "label"}
        with pytest.raises(InvalidRequest, match=message) as raised:
            compute_model_quality(
                table, BINARY, ground_truth_attribute="label", **inference, **kwargs
            )
        assert raised.value.code is ErrorCode.INVALID_DATA

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
    def test_non_finite_scores_are_refused(self, bad: float) -> None:
        with pytest.raises(InvalidRequest, match="NaN or infinite"):
            compute_model_quality(
                pa.table({"label": [0, 1, 1], "p": [0.2, bad, 0.9]}),
                BINARY,
                ground_truth_attribute="label",
                probability_attribute="p",
            )

    def test_probabilities_are_for_binary_problems_only(self) -> None:
        with pytest.raises(InvalidRequest, match="BinaryClassification only"):
            compute_model_quality(
                pa.table({"y": [1.0], "p": [0.5]}),
                REGRESSION,
                ground_truth_attribute="y",
                inference_attribute="y",
                probability_attribute="p",
            )

    def test_unknown_problem_type(self) -> None:
        with pytest.raises(InvalidRequest, match="unknown problem type"):
            compute_model_quality(
                pa.table({"label": [0]}), "Ranking", ground_truth_attribute="label"
            )


class TestConstraints:
    @pytest.fixture
    def baseline(self) -> ModelQualityStatistics:
        labels, scores = binary_data(400)
        return compute_model_quality(
            pa.table({"label": labels, "probability": scores}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
            evaluation_time=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        )

    def test_suggestions_use_the_baseline_values_and_sagemaker_directions(
        self, baseline: ModelQualityStatistics
    ) -> None:
        constraints = suggest_model_quality_constraints(baseline).constraints
        assert set(constraints) == {
            "recall",
            "precision",
            "accuracy",
            "true_positive_rate",
            "true_negative_rate",
            "false_positive_rate",
            "false_negative_rate",
            "auc",
            "f0_5",
            "f1",
            "f2",
        }
        metrics = baseline.metrics.scalar_metrics()
        for name, constraint in constraints.items():
            assert constraint.threshold == metrics[name].value
        assert constraints["auc"].comparison_operator is ComparisonOperator.LESS_THAN
        assert constraints["false_positive_rate"].comparison_operator is (
            ComparisonOperator.GREATER_THAN
        )
        assert evaluate_model_quality(baseline, suggest_model_quality_constraints(baseline)) == (
            evaluate_model_quality(baseline, suggest_model_quality_constraints(baseline))
        )
        assert (
            evaluate_model_quality(baseline, suggest_model_quality_constraints(baseline)).violations
            == []
        )

    def test_deviations_loosen_each_threshold(self, baseline: ModelQualityStatistics) -> None:
        loose = suggest_model_quality_constraints(baseline, deviations=2).constraints
        metrics = baseline.metrics.scalar_metrics()
        assert loose["auc"].threshold == pytest.approx(
            metrics["auc"].value - 2 * metrics["auc"].standard_deviation
        )
        assert loose["false_negative_rate"].threshold == pytest.approx(
            metrics["false_negative_rate"].value
            + 2 * metrics["false_negative_rate"].standard_deviation
        )

    def test_a_degraded_model_violates_the_suggested_constraints(
        self, baseline: ModelQualityStatistics
    ) -> None:
        labels, _ = binary_data(400)
        noise = np.random.default_rng(99).random(400)
        current = compute_model_quality(
            pa.table({"label": labels, "probability": noise}),
            BINARY,
            ground_truth_attribute="label",
            probability_attribute="probability",
        )
        violations = evaluate_model_quality(
            current, suggest_model_quality_constraints(baseline, deviations=3)
        ).violations
        names = {v.metric_name for v in violations}
        assert "auc" in names
        auc = next(v for v in violations if v.metric_name == "auc")
        assert auc.constraint_check_type == "LessThanThreshold"
        value = current.metrics.scalar_metrics()["auc"]
        assert auc.description.startswith(
            f"Metric auc with {value.value} +/- {value.standard_deviation} was LessThanThreshold"
        )

    @pytest.mark.parametrize(
        ("operator", "value", "violated"),
        [
            ("LessThanThreshold", 0.5, False),
            ("LessThanThreshold", 0.49, True),
            ("LessThanOrEqualToThreshold", 0.5, True),
            ("LessThanOrEqualToThreshold", 0.51, False),
            ("GreaterThanThreshold", 0.5, False),
            ("GreaterThanThreshold", 0.51, True),
            ("GreaterThanOrEqualToThreshold", 0.5, True),
            ("GreaterThanOrEqualToThreshold", 0.49, False),
        ],
    )
    def test_every_operator(self, operator: str, value: float, violated: bool) -> None:
        stats = ModelQualityStatistics.model_validate(
            {"regression_metrics": {"r2": {"value": value, "standard_deviation": "NaN"}}}
        )
        constraints = ModelQualityConstraints.model_validate(
            {"regression_constraints": {"r2": {"threshold": 0.5, "comparison_operator": operator}}}
        )
        violations = evaluate_model_quality(stats, constraints).violations
        assert bool(violations) is violated
        if violated:
            assert violations[0].description == f"Metric r2 with {value} was {operator} 0.5"

    def test_a_nan_metric_cannot_be_shown_to_comply(self) -> None:
        stats = ModelQualityStatistics.model_validate(
            {"binary_classification_metrics": {"auc": {"value": "NaN"}}}
        )
        constraints = ModelQualityConstraints.for_problem(
            BINARY,
            {"auc": MetricConstraint(threshold=0.7, comparison_operator="LessThanThreshold")},
        )
        (violation,) = evaluate_model_quality(stats, constraints).violations
        assert "could not be computed" in violation.description

    def test_a_constraint_on_an_unknown_metric_is_a_configuration_error(self) -> None:
        stats = ModelQualityStatistics.model_validate(
            {"regression_metrics": {"mae": {"value": 1.0}}}
        )
        constraints = ModelQualityConstraints.for_problem(
            REGRESSION,
            {"mape": MetricConstraint(threshold=0.1, comparison_operator="GreaterThanThreshold")},
        )
        with pytest.raises(InvalidRequest, match="mape"):
            evaluate_model_quality(stats, constraints)

    def test_problem_types_must_agree(self, baseline: ModelQualityStatistics) -> None:
        constraints = ModelQualityConstraints.for_problem(REGRESSION, {})
        with pytest.raises(InvalidRequest, match="constraints are for Regression"):
            evaluate_model_quality(baseline, constraints)

    def test_sagemaker_sample_files_give_the_expected_verdict(self) -> None:
        stats = ModelQualityStatistics.model_validate_json(
            (DATA / "mq_binary_statistics.json").read_text()
        )
        constraints = ModelQualityConstraints.model_validate_json(
            (DATA / "mq_binary_constraints.json").read_text()
        )
        violated = {v.metric_name for v in evaluate_model_quality(stats, constraints).violations}
        # Every metric of the tiny sample is worse than the sample baseline except recall, TPR,
        # FNR and AUC, which are perfect in both.
        assert violated == {
            "precision",
            "accuracy",
            "true_negative_rate",
            "false_positive_rate",
            "f0_5",
            "f1",
            "f2",
        }

    def test_custom_metrics_join_the_section_and_can_be_constrained(
        self, baseline: ModelQualityStatistics
    ) -> None:
        extended = with_custom_metrics(baseline, {"gini": 0.4})
        assert extended.metrics.scalar_metrics()["gini"].value == 0.4
        assert (
            "gini"
            in ModelQualityStatistics.model_validate_json(
                extended.to_json()
            ).metrics.scalar_metrics()
        )
        constraints = ModelQualityConstraints.for_problem(
            BINARY,
            {"gini": MetricConstraint(threshold=0.5, comparison_operator="LessThanThreshold")},
        )
        (violation,) = evaluate_model_quality(extended, constraints).violations
        assert violation.metric_name == "gini"
        with pytest.raises(InvalidRequest, match="clash"):
            with_custom_metrics(baseline, {"auc": 0.1})

    def test_evaluation_time_is_written_like_sagemaker(
        self, baseline: ModelQualityStatistics
    ) -> None:
        assert baseline.dataset is not None
        assert baseline.dataset.evaluation_time == "2026-01-02T03:04:05.678Z"
