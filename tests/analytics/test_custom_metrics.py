"""Custom metric plugins and the built-in forecasting metrics (wQL, MAPE, sMAPE)."""

from __future__ import annotations

import math
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.analytics import custom
from mlgov.analytics.custom import (
    BUILTIN_METRICS,
    compute_custom_metrics,
    load_metric,
    validate_metric_values,
)
from mlgov.errors import ErrorCode, InvalidRequest

# Two items, three horizons each, with Amazon Forecast-style quantile columns.
FORECAST = pa.table(
    {
        "item_id": ["A", "A", "A", "B", "B", "B"],
        "horizon": [1, 2, 3, 1, 2, 3],
        "target": [10.0, 12.0, 8.0, 0.0, 5.0, 4.0],
        "p10": [8.0, 9.0, 7.0, 0.0, 3.0, 4.0],
        "p50": [10.0, 11.0, 9.0, 1.0, 5.0, 5.0],
        "p90": [12.0, 14.0, 11.0, 2.0, 7.0, 6.0],
        "mean": [10.0, 11.5, 9.0, 1.0, 5.0, 5.0],
    }
)
# By hand, sum |y| = 39:
#   p10 errors y - q: 2, 3, 1, 0, 2, 0 (all under-forecast): loss 0.1 * 8 = 0.8
#   p50 errors: 0, 1, -1, -1, 0, -1: loss 0.5 * 4 = 2
#   p90 errors: -2, -2, -3, -2, -2, -2 (all over-forecast): loss 0.1 * 13 = 1.3
HAND_WQL = {"wQL[0.1]": 1.6 / 39, "wQL[0.5]": 4 / 39, "wQL[0.9]": 2.6 / 39}
# MAPE on the mean forecast skips item B's zero target: 0, .5/12, 1/8, 0, 1/4 over 5 rows.
HAND_MAPE = (0 + 0.5 / 12 + 1 / 8 + 0 + 1 / 4) / 5
# sMAPE: 0, 1/23.5, 2/17, 2 (y = 0, f = 1), 0, 2/9 over 6 rows.
HAND_SMAPE = (0 + 1 / 23.5 + 2 / 17 + 2 + 0 + 2 / 9) / 6


class TestForecastMetrics:
    def test_wql_matches_the_hand_computed_values(self) -> None:
        got = load_metric("wql")(FORECAST)
        for name, expected in HAND_WQL.items():
            assert got[name] == pytest.approx(expected), name
        assert got["mean_wQL"] == pytest.approx(sum(HAND_WQL.values()) / 3)
        assert list(got) == ["wQL[0.1]", "wQL[0.5]", "wQL[0.9]", "mean_wQL"]

    def test_mape_and_smape_match_the_hand_computed_values(self) -> None:
        assert load_metric("mape")(FORECAST) == {"mape": pytest.approx(HAND_MAPE)}
        assert load_metric("smape")(FORECAST) == {"smape": pytest.approx(HAND_SMAPE)}
        on_median = load_metric("mape")(FORECAST, forecast="p50")
        assert on_median["mape"] == pytest.approx((0 + 1 / 12 + 1 / 8 + 0 + 1 / 4) / 5)

    def test_gluonts_style_and_named_quantile_columns(self) -> None:
        renamed = FORECAST.rename_columns(
            ["item_id", "horizon", "target", "0.1", "0.5", "0.9", "mean"]
        )
        assert load_metric("wql")(renamed)["mean_wQL"] == pytest.approx(8.2 / 117)
        named = FORECAST.rename_columns(["item_id", "horizon", "actual", "lo", "mid", "hi", "m"])
        got = load_metric("wql")(
            named, target="actual", quantiles={"lo": 0.1, "mid": 0.5, "hi": 0.9}
        )
        assert got["wQL[0.5]"] == pytest.approx(4 / 39)
        only_median = load_metric("wql")(FORECAST, quantiles="p50")
        assert set(only_median) == {"wQL[0.5]", "mean_wQL"}

    def test_rows_not_yet_observed_are_left_out(self) -> None:
        future = pa.table(
            {
                "target": pa.array([None, None], pa.float64()),
                "p10": [1.0, 2.0],
                "p50": [3.0, 4.0],
                "p90": [5.0, 6.0],
                "mean": [3.0, 4.0],
            }
        )
        extended = pa.concat_tables([FORECAST.select(future.column_names), future])
        assert load_metric("wql")(extended) == pytest.approx(load_metric("wql")(FORECAST))

    def test_independent_loop_oracle_on_a_generated_dataset(self) -> None:
        rng = np.random.default_rng(12)
        items, horizons = 20, 12
        level = rng.uniform(5, 50, items).repeat(horizons)
        target = rng.poisson(level).astype(float)
        quantiles = {
            f"p{q}": level + rng.normal(0, 3, level.size) * (q - 50) / 40 for q in (10, 50, 90)
        }
        table = pa.table({"target": target, **quantiles})
        got = load_metric("wql")(table)
        for column, tau in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
            loss = 0.0
            for y, q in zip(target, quantiles[column], strict=True):
                loss += tau * max(y - q, 0) + (1 - tau) * max(q - y, 0)
            assert got[f"wQL[{tau}]"] == pytest.approx(2 * loss / np.abs(target).sum())

    @pytest.mark.parametrize(
        ("metric", "table", "message"),
        [
            ("wql", pa.table({"target": [1.0], "x": [1.0]}), "no quantile"),
            ("wql", pa.table({"target": [0.0, 0.0], "p50": [1.0, 2.0]}), "sum of |target|"),
            ("mape", pa.table({"target": [0.0, 0.0], "mean": [1.0, 2.0]}), "every observed"),
            ("mape", pa.table({"target": [1.0]}), "no point forecast"),
            ("smape", pa.table({"target": [1.0, float("nan")], "mean": [1.0, 2.0]}), "NaN"),
            ("wql", pa.table({"target": [1.0, 2.0], "p50": [1.0, None]}), "missing values"),
            ("wql", pa.table({"target": pa.array([None], pa.float64()), "p50": [1.0]}), "every"),
            ("wql", pa.table({"target": [1.0], "p150": [1.0]}), r"must be in \(0, 1\)"),
        ],
    )
    def test_clear_errors(self, metric: str, table: pa.Table, message: str) -> None:
        with pytest.raises(InvalidRequest, match=message) as raised:
            load_metric(metric)(table)
        assert raised.value.code is ErrorCode.INVALID_DATA

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.floats(0.5, 1e4),
                st.floats(-1e3, 1e3),
                st.floats(0, 1e3),
                st.floats(0, 1e3),
            ),
            min_size=1,
            max_size=30,
        ),
        st.floats(0.01, 100),
    )
    def test_property_wql_is_non_negative_scale_free_and_zero_when_exact(
        self, rows: list[tuple[float, float, float, float]], scale: float
    ) -> None:
        target = np.array([r[0] for r in rows])
        median = target + np.array([r[1] for r in rows])
        table = pa.table(
            {
                "target": target,
                "p10": median - np.array([r[2] for r in rows]),
                "p50": median,
                "p90": median + np.array([r[3] for r in rows]),
            }
        )
        got = load_metric("wql")(table)
        assert all(value >= 0 for value in got.values())
        scaled = pa.table(
            {name: pc_multiply(table.column(name), scale) for name in table.column_names}
        )
        assert load_metric("wql")(scaled) == pytest.approx(got, rel=1e-9, abs=1e-12)
        exact = pa.table({"target": target, "p10": target, "p50": target, "p90": target})
        assert load_metric("wql")(exact)["mean_wQL"] == 0.0


def pc_multiply(column: pa.ChunkedArray, factor: float) -> np.ndarray:
    return column.to_numpy() * factor


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


class TestPlugins:
    @pytest.fixture
    def plugins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        write_module(
            tmp_path,
            "mlgov_test_plugins",
            """
            import numpy as np
            import pyarrow.compute as pc

            def mae_by_horizon(data, *, target="target", forecast="p50"):
                # Time-series shaped data: one value per forecast horizon.
                out = {}
                for horizon in sorted(set(data.column("horizon").to_pylist())):
                    rows = data.filter(pc.equal(data.column("horizon"), horizon))
                    error = rows.column(target).to_numpy() - rows.column(forecast).to_numpy()
                    out[f"mae_h{horizon}"] = np.float64(np.abs(error).mean())
                return out

            def not_a_mapping(data):
                return [1.0]

            def nan_value(data):
                return {"score": float("nan")}

            def boolean_value(data):
                return {"ok": True}

            def integer_key(data):
                return {1: 0.5}

            def nothing(data):
                return {}

            def broken(data):
                raise ZeroDivisionError("no rows")

            class Holder:
                @staticmethod
                def rows(data):
                    return {"rows": data.num_rows}

            not_callable = 3
            """,
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        return "mlgov_test_plugins"

    def test_module_function_sees_time_series_shaped_data(self, plugins: str) -> None:
        got = load_metric(f"{plugins}:mae_by_horizon")(FORECAST)
        assert got == {"mae_h1": 0.5, "mae_h2": 0.5, "mae_h3": 1.0}
        assert all(type(v) is float for v in got.values())
        assert load_metric(f"{plugins}:Holder.rows")(FORECAST) == {"rows": 6.0}

    def test_entry_points_are_addressed_by_name(
        self, plugins: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        entry = EntryPoint(name="mae-h", value=f"{plugins}:mae_by_horizon", group="mlgov.metrics")

        def fake_entry_points(*, group: str) -> list[EntryPoint]:
            return [entry] if group == "mlgov.metrics" else []

        monkeypatch.setattr(custom, "entry_points", fake_entry_points)
        metric = load_metric("mae-h")
        assert metric.source == f"entry point {plugins}:mae_by_horizon"
        assert metric(FORECAST)["mae_h3"] == 1.0
        with pytest.raises(InvalidRequest, match="mae-h"):
            load_metric("unknown-metric")

    def test_entry_points_of_an_installed_distribution_are_discovered(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A real (if tiny) installed distribution on sys.path, found through importlib.metadata
        # exactly as `pip install my-plugin` would make it found.
        write_module(
            tmp_path,
            "mlgov_fake_dist_metrics",
            """
            def rows(data, *, scale=1):
                return {"rows": data.num_rows * scale}

            def explodes(data):
                raise RuntimeError("boom")

            NOT_CALLABLE = 3
            """,
        )
        dist_info = tmp_path / "mlgov_fake_dist-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: mlgov-fake-dist\nVersion: 1.0\n"
        )
        (dist_info / "entry_points.txt").write_text(
            "[mlgov.metrics]\n"
            "fake-rows = mlgov_fake_dist_metrics:rows\n"
            "fake-explodes = mlgov_fake_dist_metrics:explodes\n"
            "fake-missing = mlgov_fake_dist_metrics:no_such_function\n"
            "fake-not-callable = mlgov_fake_dist_metrics:NOT_CALLABLE\n"
            "[other.group]\n"
            "fake-other = mlgov_fake_dist_metrics:rows\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))

        metric = load_metric("fake-rows")
        assert metric.source == "entry point mlgov_fake_dist_metrics:rows"
        assert metric(FORECAST, scale=2) == {"rows": 12.0}
        assert compute_custom_metrics(FORECAST, ["fake-rows", "mape"])["rows"] == 6.0
        with pytest.raises(InvalidRequest, match=r"fake-explodes.*RuntimeError: boom"):
            load_metric("fake-explodes")(FORECAST)
        with pytest.raises(InvalidRequest, match="failed to load: AttributeError"):
            load_metric("fake-missing")
        with pytest.raises(InvalidRequest, match="is not callable"):
            load_metric("fake-not-callable")
        # Only the mlgov.metrics group counts; the error lists what is available.
        with pytest.raises(InvalidRequest, match="unknown custom metric") as raised:
            load_metric("fake-other")
        assert "fake-rows" in raised.value.message and "wql" in raised.value.message

    def test_a_builtin_name_wins_over_an_entry_point_of_the_same_name(
        self, plugins: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        entry = EntryPoint(name="mape", value=f"{plugins}:nothing", group="mlgov.metrics")
        monkeypatch.setattr(custom, "entry_points", lambda *, group: [entry])
        assert load_metric("mape").source == "builtin"

    def test_builtins_are_addressable_by_name(self) -> None:
        assert set(BUILTIN_METRICS) == {"wql", "mape", "smape"}
        assert load_metric("wql").source == "builtin"

    @pytest.mark.parametrize(
        ("function", "message"),
        [
            ("not_a_mapping", "must return a mapping"),
            ("nan_value", "must be finite"),
            ("boolean_value", "must be numbers"),
            ("integer_key", "non-string"),
            ("nothing", "no values"),
            ("broken", "failed: ZeroDivisionError: no rows"),
        ],
    )
    def test_bad_results_name_the_plugin(self, plugins: str, function: str, message: str) -> None:
        spec = f"{plugins}:{function}"
        with pytest.raises(InvalidRequest, match=message) as raised:
            load_metric(spec)(FORECAST)
        assert spec in raised.value.message
        assert raised.value.code is ErrorCode.INVALID_DATA

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("no_such_module_xyz:f", "cannot import"),
            ("mlgov_test_plugins:missing", "no attribute"),
            ("mlgov_test_plugins:not_callable", "not callable"),
            (":f", "not a module:function"),
            ("wqll", "unknown custom metric"),
        ],
    )
    def test_unresolvable_specs(self, plugins: str, spec: str, message: str) -> None:
        with pytest.raises(InvalidRequest, match=message):
            load_metric(spec)

    def test_several_plugins_with_parameters(self, plugins: str) -> None:
        got = compute_custom_metrics(
            FORECAST,
            ["wql", "smape", f"{plugins}:mae_by_horizon"],
            params={f"{plugins}:mae_by_horizon": {"forecast": "mean"}},
        )
        assert got["mae_h2"] == 0.25  # |12 - 11.5| and |5 - 5| on the mean forecast
        assert got["smape"] == pytest.approx(HAND_SMAPE)
        with pytest.raises(InvalidRequest, match="both return 'mape'"):
            compute_custom_metrics(FORECAST, ["mape", "mape"])

    def test_numpy_numbers_are_accepted_and_made_floats(self) -> None:
        assert validate_metric_values("p", {"a": np.float32(0.5), "b": np.int64(2)}) == {
            "a": 0.5,
            "b": 2.0,
        }
        with pytest.raises(InvalidRequest, match="finite"):
            validate_metric_values("p", {"a": math.inf})
