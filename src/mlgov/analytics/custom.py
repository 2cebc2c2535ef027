"""Custom metrics: plugins that see the merged data, in any shape, and return named numbers.

A plugin is a function ``metric(data: pyarrow.Table, **params) -> Mapping[str, float]``. The table
is whatever the monitor merged (tabular features and labels, or a forecast per item and horizon
with quantile columns, ...); the plugin decides what the rows mean. It is addressed by:

- a built-in name: ``wql`` (weighted quantile loss), ``mape``, ``smape``;
- an entry point in the ``mlgov.metrics`` group, by its name, e.g. in a plugin's pyproject::

      [project.entry-points."mlgov.metrics"]
      gini = "my_package.metrics:gini"

- a ``module:function`` path (``my_package.metrics:gini``).

Results are checked: a mapping of non-empty string names to finite numbers, or a clear error that
names the plugin. A value that cannot be computed is an error, not a NaN.
"""

from __future__ import annotations

import importlib
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlgov.errors import ErrorCode, InvalidRequest

ENTRY_POINT_GROUP = "mlgov.metrics"

MetricFunction = Callable[..., Mapping[str, Any]]
FloatArray = npt.NDArray[np.float64]


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


@dataclass(frozen=True)
class CustomMetric:
    """A resolved plugin: how it was asked for, where it came from, and the function."""

    spec: str
    source: str  # "builtin", "entry point <value>" or "module:function"
    function: MetricFunction

    def __call__(self, data: pa.Table, **params: Any) -> dict[str, float]:
        try:
            result = self.function(data, **params)
        except InvalidRequest:
            raise
        except Exception as error:
            raise _invalid(
                f"custom metric {self.spec!r} failed: {type(error).__name__}: {error}"
            ) from error
        return validate_metric_values(self.spec, result)


def validate_metric_values(plugin: str, result: object) -> dict[str, float]:
    """The plugin's result as ``{name: float}``, or an InvalidRequest naming the plugin."""
    if not isinstance(result, Mapping):
        raise _invalid(
            f"custom metric {plugin!r} must return a mapping of names to numbers, "
            f"not {type(result).__name__}"
        )
    if not result:
        raise _invalid(f"custom metric {plugin!r} returned no values")
    values: dict[str, float] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not name:
            raise _invalid(f"custom metric {plugin!r} returned a non-string or empty name {name!r}")
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise _invalid(
                f"custom metric {plugin!r} returned {type(value).__name__} for {name!r}; "
                "values must be numbers"
            )
        number = float(value)
        if not math.isfinite(number):
            raise _invalid(
                f"custom metric {plugin!r} returned {number} for {name!r}; values must be finite"
            )
        values[name] = number
    return values


def load_metric(spec: str) -> CustomMetric:
    """Resolve a built-in name, an ``mlgov.metrics`` entry point name, or ``module:function``."""
    spec = spec.strip()
    if ":" in spec:
        return CustomMetric(spec=spec, source=spec, function=_import_function(spec))
    if spec in BUILTIN_METRICS:
        return CustomMetric(spec=spec, source="builtin", function=BUILTIN_METRICS[spec])
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == spec:
            try:
                function = entry_point.load()
            except Exception as error:
                raise _invalid(
                    f"custom metric {spec!r}: entry point {entry_point.value!r} failed to load: "
                    f"{type(error).__name__}: {error}"
                ) from error
            if not callable(function):
                raise _invalid(
                    f"custom metric {spec!r}: entry point {entry_point.value!r} is not callable"
                )
            return CustomMetric(
                spec=spec, source=f"entry point {entry_point.value}", function=function
            )
    available = sorted(
        set(BUILTIN_METRICS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    )
    raise _invalid(
        f"unknown custom metric {spec!r}: not a built-in or {ENTRY_POINT_GROUP} entry point "
        f"({', '.join(available)}), nor a module:function path"
    )


def compute_custom_metrics(
    data: pa.Table,
    specs: Sequence[str],
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, float]:
    """Run several plugins over the same data; ``params`` maps a spec to its keyword arguments.

    Two plugins returning the same name is an error: neither value would be trustworthy.
    """
    merged: dict[str, float] = {}
    origin: dict[str, str] = {}
    for spec in specs:
        metric = load_metric(spec)
        for name, value in metric(data, **dict((params or {}).get(spec, {}))).items():
            if name in merged:
                raise _invalid(f"custom metrics {origin[name]!r} and {spec!r} both return {name!r}")
            merged[name] = value
            origin[name] = spec
    return merged


def _import_function(spec: str) -> MetricFunction:
    module_name, _, attribute_path = spec.partition(":")
    if not module_name or not attribute_path:
        raise _invalid(f"custom metric {spec!r} is not a module:function path")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise _invalid(f"custom metric {spec!r}: cannot import {module_name!r}: {error}") from error
    for attribute in attribute_path.split("."):
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise _invalid(
                f"custom metric {spec!r}: {module_name!r} has no attribute {attribute_path!r}"
            ) from None
    if not callable(target):
        raise _invalid(f"custom metric {spec!r} is not callable")
    function: MetricFunction = target
    return function


# --------------------------------------------------------------------------------------------
# Built-in forecasting metrics (Amazon Forecast / GluonTS definitions)

_FORECAST_STYLE = re.compile(r"^p(\d+(?:\.\d+)?)$")  # p10, p50, p90: percent levels
_LEVEL_STYLE = re.compile(r"^(0?\.\d+)$")  # 0.1, 0.5, 0.9: GluonTS-style levels


def weighted_quantile_loss(
    data: pa.Table,
    *,
    target: str = "target",
    quantiles: Mapping[str, float] | Sequence[str] | str | None = None,
) -> dict[str, float]:
    """Weighted quantile loss per quantile level and their mean, for probabilistic forecasts.

    One row per item and time step (or horizon), the actual value in ``target`` and one column per
    forecast quantile: ``p10``/``p50``/``p90`` (Amazon Forecast) or ``0.1``/``0.5``/``0.9``
    (GluonTS) are recognised, or name them in ``quantiles`` (``{"low": 0.1, ...}`` or the column
    names). For level tau with forecast q::

        wQL[tau] = 2 * sum(tau * max(y - q, 0) + (1 - tau) * max(q - y, 0)) / sum(|y|)

    summed over all items and time steps; ``mean_wQL`` is the mean over the levels. Rows whose
    target is missing (not observed yet) are left out.
    """
    levels = _quantile_columns(data, quantiles)
    actual, forecasts = _observed(data, target, list(levels))
    scale = float(np.sum(np.abs(actual)))
    if scale == 0:
        raise _invalid("wQL is undefined: the sum of |target| over the observed rows is 0")
    values: dict[str, float] = {}
    for column, level in sorted(levels.items(), key=lambda item: item[1]):
        error = actual - forecasts[column]
        loss = np.sum(np.maximum(level * error, (level - 1) * error))
        values[f"wQL[{level:g}]"] = float(2 * loss / scale)
    values["mean_wQL"] = float(np.mean(list(values.values())))
    return values


def mean_absolute_percentage_error(
    data: pa.Table, *, target: str = "target", forecast: str | None = None
) -> dict[str, float]:
    """MAPE = mean(|y - f| / |y|) over observed rows with y != 0 (a fraction, not a percent).

    ``forecast`` defaults to the ``mean`` column, else ``p50``. Rows where the actual value is 0
    have no percentage error and are left out; if none remain, MAPE is undefined (an error).
    """
    column = _point_forecast(data, forecast)
    actual, forecasts = _observed(data, target, [column])
    predicted = forecasts[column]
    nonzero = actual != 0
    if not nonzero.any():
        raise _invalid("MAPE is undefined: every observed target is 0")
    return {
        "mape": float(
            np.mean(np.abs(actual[nonzero] - predicted[nonzero]) / np.abs(actual[nonzero]))
        )
    }


def symmetric_mean_absolute_percentage_error(
    data: pa.Table, *, target: str = "target", forecast: str | None = None
) -> dict[str, float]:
    """sMAPE = mean(2 |y - f| / (|y| + |f|)) over observed rows, in [0, 2].

    A row where both the actual and the forecast are 0 is a perfect forecast and counts as 0.
    """
    column = _point_forecast(data, forecast)
    actual, forecasts = _observed(data, target, [column])
    predicted = forecasts[column]
    denominator = np.abs(actual) + np.abs(predicted)
    terms = np.zeros_like(actual)
    np.divide(2 * np.abs(actual - predicted), denominator, out=terms, where=denominator > 0)
    return {"smape": float(np.mean(terms))}


BUILTIN_METRICS: dict[str, MetricFunction] = {
    "wql": weighted_quantile_loss,
    "mape": mean_absolute_percentage_error,
    "smape": symmetric_mean_absolute_percentage_error,
}


def _quantile_columns(
    data: pa.Table, quantiles: Mapping[str, float] | Sequence[str] | str | None
) -> dict[str, float]:
    if isinstance(quantiles, Mapping):
        levels = {str(column): float(level) for column, level in quantiles.items()}
    else:
        if isinstance(quantiles, str):
            names = [name.strip() for name in quantiles.split(",") if name.strip()]
        elif quantiles is None:
            names = [
                name
                for name in data.column_names
                if _FORECAST_STYLE.match(name) or _LEVEL_STYLE.match(name)
            ]
        else:
            names = list(quantiles)
        levels = {}
        for name in names:
            level = _level_of(name)
            if level is None:
                raise _invalid(
                    f"cannot tell the quantile level of column {name!r}: name it p10 or 0.1, "
                    "or pass quantiles as {column: level}"
                )
            levels[name] = level
    if not levels:
        raise _invalid(
            "no quantile forecast columns: expected columns such as p10, p50, p90 (or 0.1, 0.5, "
            f"0.9); columns are {', '.join(data.column_names)}"
        )
    for column, level in levels.items():
        if not 0 < level < 1:
            raise _invalid(f"quantile level of {column!r} must be in (0, 1), not {level}")
    return levels


def _level_of(name: str) -> float | None:
    percent = _FORECAST_STYLE.match(name)
    if percent:
        return float(percent.group(1)) / 100
    if _LEVEL_STYLE.match(name):
        return float(name)
    return None


def _point_forecast(data: pa.Table, forecast: str | None) -> str:
    if forecast is not None:
        return forecast
    for candidate in ("mean", "p50", "0.5"):
        if candidate in data.column_names:
            return candidate
    raise _invalid(
        "no point forecast column: name one with forecast=..., or provide a mean or p50 column"
    )


def _observed(
    data: pa.Table, target: str, columns: list[str]
) -> tuple[FloatArray, dict[str, FloatArray]]:
    missing = [name for name in [target, *columns] if name not in data.column_names]
    if missing:
        raise _invalid(
            f"missing column(s) {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(data.column_names)})"
        )
    target_array = data.column(target).combine_chunks()
    observed = pc.is_valid(target_array)
    if not pc.any(observed).as_py():
        raise _invalid(f"no observed values in {target!r}: every target is missing")
    actual = _finite(target_array.filter(observed), target)
    forecasts: dict[str, FloatArray] = {}
    for column in columns:
        array = data.column(column).combine_chunks().filter(observed)
        if array.null_count:
            raise _invalid(
                f"forecast column {column!r} is missing values where the target is observed"
            )
        forecasts[column] = _finite(array, column)
    return actual, forecasts


def _finite(array: pa.Array, name: str) -> FloatArray:
    try:
        values: FloatArray = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise _invalid(f"column {name!r} must hold numbers: {error}") from error
    if not np.all(np.isfinite(values)):
        raise _invalid(f"column {name!r} has NaN or infinite values")
    return values.astype(np.float64, copy=False)
