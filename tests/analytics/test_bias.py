"""Clarify bias metrics against hand-computed values, bootstrap intervals and drift checks."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import KNeighborsClassifier

from mlgov.analytics.bias import BiasConfig, allowed_range, bias_drift_check, bias_report
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.bias import BiasAnalysis, BiasStageReport

# Ten applicants. Facet d = "F" (rows 0-3), facet a = "M" (rows 4-9).
#   labels       F: 1 0 0 1          M: 1 1 1 0 0 1
#   predictions  F: 1 0 1 0          M: 1 1 0 1 1 1
#   group        F: x x x y          M: x y y y x y
#   feature x    F: 1 2 3 4          M: 1.1 2.1 3.1 4.1 5 6
# Counts: n_a=6, n_d=4; n_a(1)=4, n_d(1)=2; n'_a(1)=5, n'_d(1)=2;
#   TP_a=3 FN_a=1 FP_a=2 TN_a=0; TP_d=1 FN_d=1 FP_d=1 TN_d=1.
APPLICANTS = pa.table(
    {
        "sex": ["F", "F", "F", "F", "M", "M", "M", "M", "M", "M"],
        "approved": [1, 0, 0, 1, 1, 1, 1, 0, 0, 1],
        "predicted": [1, 0, 1, 0, 1, 1, 0, 1, 1, 1],
        "branch": ["x", "x", "x", "y", "x", "y", "y", "y", "x", "y"],
        "x": [1.0, 2.0, 3.0, 4.0, 1.1, 2.1, 3.1, 4.1, 5.0, 6.0],
    }
)
CONFIG = BiasConfig(
    label="approved",
    label_values=[1],
    facet="sex",
    facet_values=["F"],
    predicted_label="predicted",
    group_variable="branch",
)


def kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


P_A, P_D = [1 / 3, 2 / 3], [1 / 2, 1 / 2]
MIXTURE = [5 / 12, 7 / 12]
BENEFITS = [1, 1, 2, 0, 1, 1, 0, 2, 2, 1]  # y_hat - y + 1 per row
MEAN_BENEFIT = sum(BENEFITS) / 10
HAND_COMPUTED = {
    "CI": (6 - 4) / 10,
    "DPL": 4 / 6 - 2 / 4,
    "KL": kl(P_A, P_D),
    "JS": (kl(P_A, MIXTURE) + kl(P_D, MIXTURE)) / 2,
    "LP": math.sqrt(2 * (1 / 6) ** 2),
    "TVD": 1 / 6,
    "KS": 1 / 6,
    # Group x: d's share of negatives 2/3, of positives 1/2; group y: 0 and 1/4; 5 rows each.
    "CDDL": (5 * (2 / 3 - 1 / 2) + 5 * (0 - 1 / 4)) / 10,
    "DPPL": 5 / 6 - 2 / 4,
    "DI": (2 / 4) / (5 / 6),
    "DCA": 4 / 5 - 2 / 2,
    "DCR": 2 / 2 - 2 / 1,
    "RD": 3 / 4 - 1 / 2,
    "DAR": 3 / 5 - 1 / 2,
    "DRR": 1 / 2 - 0 / 1,
    "SD": 1 / 2 - 0 / 2,
    "AD": 3 / 6 - 2 / 4,
    "TE": 1 / 1 - 1 / 2,
    # Predicted: group x: d's share of negatives 1, of positives 2/4; group y: 1/2 and 0.
    "CDDPL": (5 * (1 - 1 / 2) + 5 * (1 / 2 - 0)) / 10,
    # Nearest M neighbour of each F row: predictions 1, 1, 0, 1 against F's own 1, 0, 1, 0:
    # two flips up (rows 1 and 3), one down (row 2).
    "FT": (2 - 1) / 4,
    "GE": sum((b / MEAN_BENEFIT) ** 2 - 1 for b in BENEFITS) / (10 * 2 * 1),
}


def metric_values(report: BiasAnalysis, facet_value: str = "F") -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for stage in (report.pre_training_bias_metrics, report.post_training_bias_metrics):
        if stage is None:
            continue
        facet = stage.facet_value(next(iter(stage.facets)), facet_value)
        assert facet is not None
        found.update({m.name: m.value for m in facet.metrics})
    return found


class TestDefinitions:
    def test_every_metric_matches_the_hand_computed_value(self) -> None:
        got = metric_values(bias_report(APPLICANTS, CONFIG))
        assert set(got) == set(HAND_COMPUTED)
        for name, expected in HAND_COMPUTED.items():
            assert got[name] == pytest.approx(expected, abs=1e-12), name

    def test_report_shape_is_clarifys(self) -> None:
        report = bias_report(APPLICANTS, CONFIG, methods=["CI", "DPPL"])
        document = report.to_dict()
        assert document["pre_training_bias_metrics"] == {
            "label": "approved",
            "label_value_or_threshold": "1",
            "facets": {
                "sex": [
                    {
                        "value_or_threshold": "F",
                        "metrics": [
                            {"name": "CI", "description": "Class Imbalance (CI)", "value": 0.2}
                        ],
                    }
                ]
            },
        }
        assert [
            m["name"] for m in document["post_training_bias_metrics"]["facets"]["sex"][0]["metrics"]
        ] == ["DPPL"]

    def test_facet_threshold_selects_values_above_it(self) -> None:
        config = BiasConfig(label="approved", label_values=[1], facet="x", facet_threshold=3.5)
        got = metric_values(bias_report(APPLICANTS, config), "3.5")
        above = [4.0, 4.1, 5.0, 6.0]  # facet d: four rows
        assert got["CI"] == pytest.approx((10 - 2 * len(above)) / 10)

    def test_label_threshold_makes_positive_the_values_above_it(self) -> None:
        table = pa.table({"score": [0.2, 0.9, 0.7, 0.1, 0.8, 0.6], "g": list("aabbbb")})
        config = BiasConfig(label="score", label_threshold=0.65, facet="g", facet_values=["a"])
        got = metric_values(bias_report(table, config), "a")
        # Positive: 0.9, 0.7, 0.8 -> q_d (a) = 1/2, q_a (b) = 2/4.
        assert got["DPL"] == pytest.approx(0.0)
        report = bias_report(table, config)
        assert report.pre_training_bias_metrics is not None
        assert report.pre_training_bias_metrics.label_value_or_threshold == "0.65"

    def test_without_facet_values_each_value_is_compared_with_the_rest(self) -> None:
        table = pa.table({"y": [1, 0, 1, 1, 0, 0], "region": ["n", "n", "s", "s", "s", "w"]})
        config = BiasConfig(label="y", label_values=[1], facet="region")
        report = bias_report(table, config)
        assert report.pre_training_bias_metrics is not None
        reports = report.pre_training_bias_metrics.facets["region"]
        assert [r.value_or_threshold for r in reports] == ["n", "s", "w"]
        north = metric_values(report, "n")
        assert north["CI"] == pytest.approx((4 - 2) / 6)

    def test_numbers_as_text_match_numeric_facet_values(self) -> None:
        table = pa.table({"y": ["1", "0", "1", "0"], "age_band": ["40", "40", "50", "50"]})
        config = BiasConfig(label="y", label_values=[1], facet="age_band", facet_values=[40])
        assert metric_values(bias_report(table, config), "40")["DPL"] == pytest.approx(0.0)

    def test_a_probability_threshold_turns_scores_into_predictions(self) -> None:
        table = APPLICANTS.set_column(
            2, "predicted", pa.array([0.9, 0.1, 0.6, 0.4, 0.8, 0.7, 0.2, 0.5, 0.99, 0.51])
        )
        config = BiasConfig(
            label="approved",
            label_values=[1],
            facet="sex",
            facet_values=["F"],
            predicted_label="predicted",
            probability_threshold=0.5,
        )
        got = metric_values(bias_report(table, config, methods=["DPPL"]))
        assert got["DPPL"] == pytest.approx(HAND_COMPUTED["DPPL"])

    def test_flip_test_with_five_neighbours_matches_scikit_learn(self) -> None:
        rng = np.random.default_rng(3)
        n = 200
        features = rng.normal(size=(n, 3))
        sensitive = rng.random(n) < 0.3
        predicted = (features[:, 0] + 0.5 * sensitive + rng.normal(0, 0.5, n) > 0).astype(int)
        table = pa.table(
            {
                "f0": features[:, 0],
                "f1": features[:, 1],
                "f2": features[:, 2],
                "group": np.where(sensitive, "d", "a"),
                "label": rng.integers(0, 2, n),
                "predicted": predicted,
            }
        )
        config = BiasConfig(
            label="label",
            label_values=[1],
            facet="group",
            facet_values=["d"],
            predicted_label="predicted",
        )
        got = metric_values(bias_report(table, config, methods=["FT"]), "d")
        knn = KNeighborsClassifier(n_neighbors=5).fit(features[~sensitive], predicted[~sensitive])
        counterfactual = knn.predict(features[sensitive])
        own = predicted[sensitive]
        expected = (
            np.sum((own == 0) & (counterfactual == 1)) - np.sum((own == 1) & (counterfactual == 0))
        ) / sensitive.sum()
        assert got["FT"] == pytest.approx(expected)

    def test_infinite_and_undefined_values_follow_clarify(self) -> None:
        # Facet a never predicted positive: DI = q'_d / 0 is infinite.
        table = pa.table({"y": [1, 0, 1, 0], "yhat": [1, 0, 0, 0], "f": ["d", "d", "a", "a"]})
        config = BiasConfig(
            label="y", label_values=[1], facet="f", facet_values=["d"], predicted_label="yhat"
        )
        got = metric_values(bias_report(table, config, methods=["DI", "DCA"]), "d")
        assert got["DI"] == math.inf
        # Facet a has one positive label and no predicted positive: 1/0 - 1/1.
        assert got["DCA"] == math.inf
        assert '"value": "Infinity"' in bias_report(table, config, methods=["DI"]).to_json()

    def test_an_empty_facet_group_is_reported_per_metric(self) -> None:
        config = BiasConfig(label="approved", label_values=[1], facet="sex", facet_values=["X"])
        report = bias_report(APPLICANTS, config, methods=["CI", "KL"])
        assert report.pre_training_bias_metrics is not None
        (facet,) = report.pre_training_bias_metrics.facets["sex"]
        assert all(m.value is None and "facet d" in (m.error or "") for m in facet.metrics)

    def test_rows_with_missing_values_are_left_out(self) -> None:
        table = pa.table({"y": [1, None, 0, 1], "f": ["d", "d", None, "a"]})
        config = BiasConfig(label="y", label_values=[1], facet="f", facet_values=["d"])
        assert metric_values(bias_report(table, config, methods=["CI"]), "d")["CI"] == 0.0


class TestBadInput:
    @pytest.mark.parametrize(
        ("config", "methods", "message"),
        [
            (BiasConfig(label="nope", label_values=[1], facet="sex"), "all", "missing column"),
            (BiasConfig(label="approved", label_values=[1], facet="sex"), ["XYZ"], "unknown"),
            (BiasConfig(label="approved", label_values=[1], facet="sex"), ["CDDL"], "group"),
            (BiasConfig(label="approved", label_values=[1], facet="sex"), ["DPPL"], "predicted"),
            (
                BiasConfig(label="approved", label_values=[1], facet="sex", facet_threshold=1.0),
                "all",
                "must hold numbers",
            ),
        ],
    )
    def test_clear_errors(self, config: BiasConfig, methods: list[str] | str, message: str) -> None:
        with pytest.raises(InvalidRequest, match=message) as raised:
            bias_report(APPLICANTS, config, methods=methods)
        assert raised.value.code is ErrorCode.INVALID_DATA

    def test_config_needs_exactly_one_positive_rule(self) -> None:
        with pytest.raises(InvalidRequest, match="either"):
            BiasConfig(label="y", facet="f")
        with pytest.raises(InvalidRequest, match="either"):
            BiasConfig(label="y", facet="f", label_values=[1], label_threshold=0.5)

    def test_nan_in_a_threshold_column(self) -> None:
        table = pa.table({"y": [1, 0], "age": [30.0, float("nan")]})
        config = BiasConfig(label="y", label_values=[1], facet="age", facet_threshold=40)
        with pytest.raises(InvalidRequest, match="NaN"):
            bias_report(table, config)


class TestBootstrap:
    def test_intervals_contain_the_value_and_repeat_with_the_seed(self) -> None:
        first = bias_report(APPLICANTS, CONFIG, bootstrap_samples=100, seed=5)
        again = bias_report(APPLICANTS, CONFIG, bootstrap_samples=100, seed=5)
        assert first == again
        assert first.post_training_bias_metrics is not None
        for metric in first.post_training_bias_metrics.facets["sex"][0].metrics:
            if metric.name == "FT":
                assert metric.confidence_interval is None
            elif metric.confidence_interval is not None:
                low, high = metric.confidence_interval
                assert metric.value is not None
                assert low <= metric.value <= high

    def test_interval_width_matches_the_normal_approximation_for_dpl(self) -> None:
        rng = np.random.default_rng(11)
        n = 20000
        facet = rng.random(n) < 0.3
        labels = rng.random(n) < np.where(facet, 0.4, 0.55)
        table = pa.table({"y": labels.astype(int), "f": np.where(facet, "d", "a")})
        config = BiasConfig(label="y", label_values=[1], facet="f", facet_values=["d"])
        report = bias_report(table, config, methods=["DPL"], bootstrap_samples=400, seed=1)
        assert report.pre_training_bias_metrics is not None
        (metric,) = report.pre_training_bias_metrics.facets["f"][0].metrics
        assert metric.confidence_interval is not None
        half_width = (metric.confidence_interval[1] - metric.confidence_interval[0]) / 2
        q_a, q_d = labels[~facet].mean(), labels[facet].mean()
        standard_error = math.sqrt(q_a * (1 - q_a) / (~facet).sum() + q_d * (1 - q_d) / facet.sum())
        assert half_width == pytest.approx(1.96 * standard_error, rel=0.15)


def stage(values: dict[str, float], interval: tuple[float, float] | None = None) -> BiasAnalysis:
    metrics = [
        {"name": name, "description": name, "value": value, "confidence_interval": interval}
        for name, value in values.items()
    ]
    return BiasAnalysis(
        post_training_bias_metrics=BiasStageReport.model_validate(
            {
                "label": "y",
                "label_value_or_threshold": "1",
                "facets": {"sex": [{"value_or_threshold": "F", "metrics": metrics}]},
            }
        )
    )


class TestDriftCheck:
    @pytest.mark.parametrize(
        ("metric", "baseline", "current", "violated"),
        [
            ("DPPL", 0.2, 0.1, False),  # the Developer Guide's example
            ("DPPL", 0.2, -0.3, True),
            ("DPPL", -0.2, 0.19, False),
            ("KL", 0.1, 0.05, False),
            ("KL", 0.1, 0.2, True),
            ("DI", 0.8, 1.2, False),
            ("DI", 0.8, 1.3, True),
            ("DI", 0.8, 0.7, True),
            ("DI", 1.25, 0.81, False),
        ],
    )
    def test_farther_from_no_bias_than_the_baseline_violates(
        self, metric: str, baseline: float, current: float, violated: bool
    ) -> None:
        violations = bias_drift_check(stage({metric: current}), stage({metric: baseline}))
        assert bool(violations.violations) is violated
        if violated:
            (violation,) = violations.violations
            assert (violation.facet, violation.facet_value, violation.metric_name) == (
                "sex",
                "F",
                metric,
            )
            assert violation.constraint_check_type == "bias_drift_check"
            assert violation.description.startswith(
                f"Value {current} does not meet the constraint requirement"
            )

    def test_an_overlapping_interval_is_not_a_violation(self) -> None:
        baseline = stage({"DPPL": 0.2})
        assert not bias_drift_check(stage({"DPPL": -0.3}, (-0.35, -0.1)), baseline).violations
        assert bias_drift_check(stage({"DPPL": -0.3}, (-0.4, -0.25)), baseline).violations

    def test_allowed_ranges(self) -> None:
        assert allowed_range("CI", -0.3) == (-0.3, 0.3)
        assert allowed_range("JS", 0.05) == (0.0, 0.05)
        assert allowed_range("DI", 0.5) == (0.5, 2.0)
        assert allowed_range("DI", 0.0) == (0.0, math.inf)

    def test_labels_must_match(self) -> None:
        current = stage({"DPPL": 0.1})
        other = current.model_copy(deep=True)
        assert other.post_training_bias_metrics is not None
        other.post_training_bias_metrics.label_value_or_threshold = "0"
        with pytest.raises(InvalidRequest, match="does not match"):
            bias_drift_check(current, other)

    def test_end_to_end_a_model_that_starts_favouring_one_facet(self) -> None:
        rng = np.random.default_rng(4)
        n = 4000
        facet = rng.random(n) < 0.4
        labels = rng.random(n) < 0.5
        fair = np.where(rng.random(n) < 0.85, labels, ~labels)
        biased = fair & ~(facet & (rng.random(n) < 0.5))
        config = BiasConfig(
            label="y", label_values=[1], facet="f", facet_values=["d"], predicted_label="yhat"
        )

        def report(predicted: np.ndarray, seed: int) -> BiasAnalysis:
            table = pa.table(
                {
                    "y": labels.astype(int),
                    "yhat": predicted.astype(int),
                    "f": np.where(facet, "d", "a"),
                }
            )
            return bias_report(
                table, config, methods=["DPPL", "DI", "RD"], bootstrap_samples=200, seed=seed
            )

        baseline = report(fair, 1)
        assert not bias_drift_check(report(fair, 2), baseline).violations
        drifted = {v.metric_name for v in bias_drift_check(report(biased, 3), baseline).violations}
        assert drifted == {"DPPL", "DI", "RD"}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=2, max_size=40))
def test_property_relations_between_metrics(rows: list[tuple[bool, bool, bool]]) -> None:
    facet = ["d" if f else "a" for f, _, _ in rows]
    table = pa.table(
        {
            "f": facet,
            "y": [int(y) for _, y, _ in rows],
            "yhat": [int(p) for _, _, p in rows],
        }
    )
    config = BiasConfig(
        label="y", label_values=[1], facet="f", facet_values=["d"], predicted_label="yhat"
    )
    swapped = BiasConfig(
        label="y", label_values=[1], facet="f", facet_values=["a"], predicted_label="yhat"
    )
    got = metric_values(bias_report(table, config), "d")
    mirror = metric_values(bias_report(table, swapped), "a")
    if "d" not in facet or "a" not in facet:
        assert all(got[name] is None for name in ("CI", "DPL", "KL", "DPPL", "DI"))
        return
    values = {k: v for k, v in got.items() if v is not None}
    assert -1 <= values["CI"] <= 1
    assert -1 <= values["DPL"] <= 1
    assert values["TVD"] == pytest.approx(abs(values["DPL"]))
    assert values["KS"] == pytest.approx(abs(values["DPL"]))
    assert values["LP"] == pytest.approx(math.sqrt(2) * abs(values["DPL"]))
    assert 0 <= values["JS"] <= math.log(2) + 1e-12
    assert values["KL"] >= -1e-12
    # Swapping which facet is sensitive mirrors the signed metrics.
    assert mirror["CI"] == pytest.approx(-values["CI"])
    assert mirror["DPL"] == pytest.approx(-values["DPL"])
    assert mirror["DPPL"] == pytest.approx(-values["DPPL"])
    assert mirror["AD"] == pytest.approx(-values["AD"])
    di, di_mirror = values["DI"], mirror["DI"]
    assert di_mirror is not None
    if 0 < di < math.inf:
        assert di_mirror == pytest.approx(1 / di)
