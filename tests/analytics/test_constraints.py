"""suggest_constraints: Deequ's suggestion rules and SageMaker's container defaults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlgov.analytics import default_monitoring_config, profile, suggest_constraints
from mlgov.formats.baseline import (
    CategoricalDriftMethod,
    ComparisonMethod,
    FeatureConstraints,
    InferredType,
    Statistics,
    Toggle,
)

DATA = Path(__file__).parent / "data"


def _constraint(statistics: Statistics, name: str) -> FeatureConstraints:
    feature = suggest_constraints(statistics).feature(name)
    assert feature is not None
    return feature


class TestSuggestions:
    @pytest.fixture
    def statistics(self) -> Statistics:
        rng = np.random.default_rng(0)
        n = 1000
        amount = rng.gamma(2, 5, n)
        amount[:50] = np.nan
        return profile(
            pa.table(
                {
                    "amount": amount,
                    "delta": rng.normal(0, 1, n),
                    "count": rng.integers(0, 9, n),
                    "segment": rng.choice(["retail", "corporate", "sme"], n),
                    "user_id": [f"u{i}" for i in range(n)],
                    "nothing": pa.array([None] * n, pa.string()),
                }
            )
        )

    def test_completeness_is_the_observed_non_null_share(self, statistics: Statistics) -> None:
        assert _constraint(statistics, "amount").completeness == 0.95
        assert _constraint(statistics, "delta").completeness == 1.0
        assert _constraint(statistics, "nothing").completeness == 0.0

    def test_non_negativity_follows_the_minimum(self, statistics: Statistics) -> None:
        for name, expected in (("amount", True), ("count", True), ("delta", False)):
            constraint = _constraint(statistics, name)
            assert constraint.num_constraints is not None
            assert constraint.num_constraints.is_non_negative is expected
            assert constraint.string_constraints is None

    def test_domains_for_categorical_strings_only(self, statistics: Statistics) -> None:
        segment = _constraint(statistics, "segment")
        assert segment.string_constraints is not None
        assert sorted(segment.string_constraints.domains or []) == ["corporate", "retail", "sme"]
        assert _constraint(statistics, "user_id").string_constraints is None
        nothing = _constraint(statistics, "nothing")
        assert nothing.inferred_type is InferredType.UNKNOWN
        assert nothing.string_constraints is None
        assert nothing.num_constraints is None

    def test_domains_are_ordered_by_frequency(self) -> None:
        statistics = profile(pa.table({"s": ["b"] * 30 + ["a"] * 50 + ["c"] * 20}))
        constraint = _constraint(statistics, "s")
        assert constraint.string_constraints is not None
        assert constraint.string_constraints.domains == ["a", "b", "c"]

    def test_too_many_one_off_values_is_not_a_domain(self) -> None:
        # 20 categories, 3 of them seen once: 15% singletons is over Deequ's 10%.
        values = [f"v{i}" for i in range(17) for _ in range(5)] + ["x", "y", "z"]
        assert _constraint(profile(pa.table({"s": values})), "s").string_constraints is None
        values = [f"v{i}" for i in range(19) for _ in range(5)] + ["x"]
        assert _constraint(profile(pa.table({"s": values})), "s").string_constraints is not None

    def test_more_than_120_categories_is_not_a_domain(self) -> None:
        values = [f"v{i}" for i in range(121) for _ in range(3)]
        assert _constraint(profile(pa.table({"s": values})), "s").string_constraints is None
        values = [f"v{i}" for i in range(120) for _ in range(3)]
        assert _constraint(profile(pa.table({"s": values})), "s").string_constraints is not None

    def test_overrides_are_written_empty_like_sagemaker(self, statistics: Statistics) -> None:
        document = json.loads(suggest_constraints(statistics).dump_json())
        assert all(feature["monitoringConfigOverrides"] == {} for feature in document["features"])

    def test_works_on_a_sagemaker_made_profile(self) -> None:
        statistics = Statistics.read(DATA / "sagemaker_statistics.json")
        constraints = suggest_constraints(statistics)
        state = constraints.feature("state")
        assert state is not None
        assert state.string_constraints is not None
        assert state.string_constraints.domains == ["CA", "NY", "TX", "WA"]
        account = constraints.feature("account_length")
        assert account is not None
        assert account.completeness == 0.9


class TestMonitoringConfigDefaults:
    def test_values_of_sagemakers_container(self) -> None:
        config = default_monitoring_config()
        assert config.evaluate_constraints is Toggle.ENABLED
        assert config.emit_metrics is Toggle.ENABLED
        assert config.datatype_check_threshold == 1.0
        assert config.domain_content_threshold == 1.0
        distribution = config.distribution_constraints
        assert distribution is not None
        assert distribution.perform_comparison is Toggle.ENABLED
        assert distribution.comparison_threshold == 0.1
        assert distribution.comparison_method is ComparisonMethod.ROBUST
        assert distribution.categorical_comparison_threshold == 0.1
        assert distribution.categorical_drift_method is CategoricalDriftMethod.LINFINITY

    def test_suggested_constraints_carry_them(self) -> None:
        constraints = suggest_constraints(profile(pa.table({"x": [1.0, 2.0]})))
        assert constraints.monitoring_config == default_monitoring_config()
