"""The plots analysts use, with matplotlib (``pip install 'crmkit[plotting]'``).

Each function draws on ``ax`` (a new figure's axes by default) and returns the axes. The
models can be crmkit's (:class:`crmkit.BgNbd`, ...) or the :mod:`crmkit.lifetimes` fitters; the
names and arguments of the first four are lifetimes' ``lifetimes.plotting`` ones.

- :func:`plot_frequency_recency_matrix`: expected purchases by frequency and recency;
- :func:`plot_probability_alive_matrix`: P(alive) by frequency and recency;
- :func:`plot_calibration_purchases_vs_holdout_purchases`: model against actual holdout
  purchases by calibration frequency;
- :func:`plot_cumulative_transactions` / :func:`plot_tracking_curve`: the cumulative tracking
  curve, expected against actual;
- :func:`plot_segment_sizes`: customers per RFM segment.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _crmkit, analytics
from ._crmkit import ValidationError

__all__ = [
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_cumulative_transactions",
    "plot_tracking_curve",
    "plot_segment_sizes",
]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "crmkit.plotting needs matplotlib: pip install 'crmkit[plotting]'"
        ) from None
    return plt


def _axes(ax: Any) -> Any:
    return ax if ax is not None else _pyplot().subplots()[1]


def _native(model: Any) -> Any:
    """The native model of a crmkit model or a crmkit.lifetimes fitter."""
    inner = getattr(model, "_native", None)
    if callable(inner):
        return inner()
    if inner is not None:
        return inner
    return model._model()


def _limits(model: Any, max_frequency: Optional[int], max_recency: Optional[int]) -> Tuple[int, int]:
    data = getattr(model, "data", None)
    if max_frequency is None:
        if data is None:
            raise ValidationError("max_frequency: required for a model without data")
        max_frequency = int(data["frequency"].max())
    if max_recency is None:
        if data is None:
            raise ValidationError("max_recency: required for a model without data")
        max_recency = int(data["T"].max())
    return int(max_frequency), int(max_recency)


def _grid(max_frequency: int, max_recency: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx = np.meshgrid(
        np.arange(max_frequency + 1, dtype=np.float64),
        np.arange(max_recency + 1, dtype=np.float64),
    )
    x, tx = x.ravel(), tx.ravel()
    tx = np.where(x == 0, 0.0, tx)
    t = np.full(x.shape, float(max_recency))
    return np.ascontiguousarray(x), np.ascontiguousarray(tx), t


def frequency_recency_matrix(
    model: Any, T: float = 1, max_frequency: Optional[int] = None, max_recency: Optional[int] = None
) -> np.ndarray:
    """Expected purchases in the next ``T`` by recency (rows) and frequency (columns), for a
    customer of age ``max_recency``."""
    mf, mr = _limits(model, max_frequency, max_recency)
    x, tx, t = _grid(mf, mr)
    z = _native(model).conditional_expected_purchases(float(T), x, tx, t)
    return np.asarray(z).reshape(mr + 1, mf + 1)


def probability_alive_matrix(
    model: Any, max_frequency: Optional[int] = None, max_recency: Optional[int] = None
) -> np.ndarray:
    """P(alive) by recency (rows) and frequency (columns), for a customer of age
    ``max_recency``."""
    mf, mr = _limits(model, max_frequency, max_recency)
    x, tx, t = _grid(mf, mr)
    z = _native(model).probability_alive(x, tx, t)
    return np.asarray(z).reshape(mr + 1, mf + 1)


def _matrix_plot(z: np.ndarray, title: str, xlabel: str, ylabel: str, ax: Any, **kwargs: Any) -> Any:
    ax = _axes(ax)
    image = ax.imshow(z, aspect="auto", **kwargs)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.figure.colorbar(image, ax=ax)
    return ax


def plot_frequency_recency_matrix(
    model: Any,
    T: float = 1,
    max_frequency: Optional[int] = None,
    max_recency: Optional[int] = None,
    title: Optional[str] = None,
    xlabel: str = "Customer's Historical Frequency",
    ylabel: str = "Customer's Recency",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """The frequency/recency matrix of expected purchases in the next ``T`` time units."""
    z = frequency_recency_matrix(model, T, max_frequency, max_recency)
    if title is None:
        title = (
            "Expected Number of Future Purchases for {} Unit{} of Time,".format(
                T, "s"[T == 1 :]
            )
            + "\nby Frequency and Recency of a Customer"
        )
    return _matrix_plot(z, title, xlabel, ylabel, ax, **kwargs)


def plot_probability_alive_matrix(
    model: Any,
    max_frequency: Optional[int] = None,
    max_recency: Optional[int] = None,
    title: str = "Probability Customer is Alive,\nby Frequency and Recency of a Customer",
    xlabel: str = "Customer's Historical Frequency",
    ylabel: str = "Customer's Recency",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """The P(alive) matrix by frequency and recency."""
    z = probability_alive_matrix(model, max_frequency, max_recency)
    return _matrix_plot(z, title, xlabel, ylabel, ax, **kwargs)


def plot_calibration_purchases_vs_holdout_purchases(
    model: Any,
    calibration_holdout_matrix: Any,
    kind: str = "frequency_cal",
    n: int = 7,
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Mean actual and predicted holdout purchases by calibration frequency (``0 … n−1`` and
    ``n`` or more). ``calibration_holdout_matrix`` is a pandas frame from
    :func:`crmkit.calibration_holdout` or ``calibration_and_holdout_data``."""
    if kind != "frequency_cal":
        raise ValidationError(f"kind: only 'frequency_cal' is supported, got {kind!r}")
    summary = calibration_holdout_matrix
    x = np.ascontiguousarray(summary["frequency_cal"].to_numpy(dtype=np.float64))
    tx = np.ascontiguousarray(summary["recency_cal"].to_numpy(dtype=np.float64))
    t = np.ascontiguousarray(summary["T_cal"].to_numpy(dtype=np.float64))
    duration = summary["duration_holdout"].to_numpy(dtype=np.float64)
    native = _native(model)
    predicted = np.empty_like(x)
    for d in np.unique(duration):
        mask = duration == d
        predicted[mask] = native.conditional_expected_purchases(
            float(d),
            np.ascontiguousarray(x[mask]),
            np.ascontiguousarray(np.where(x[mask] == 0, 0.0, tx[mask])),
            np.ascontiguousarray(t[mask]),
        )
    bins = analytics.holdout_by_frequency(
        predicted, summary["frequency_holdout"].to_numpy(dtype=np.float64), x, n
    )
    ax = _axes(ax)
    ax.plot(bins.index, bins["mean_actual"], label="frequency_holdout", marker="o", **kwargs)
    ax.plot(bins.index, bins["mean_predicted"], label="model_predictions", marker="o", **kwargs)
    ax.set_title("Actual Purchases in Holdout Period vs Predicted Purchases")
    ax.set_xlabel("Purchases in calibration period")
    ax.set_ylabel("Average of Purchases in Holdout Period")
    ax.legend()
    return ax


def plot_tracking_curve(
    curve: Any, calibration_period: Optional[float] = None, ax: Any = None, **kwargs: Any
) -> Any:
    """A tracking curve from :func:`crmkit.tracking_curve` (columns ``t``, ``expected``,
    ``actual``), with a vertical line at the end of the calibration period if given."""
    ax = _axes(ax)
    t = np.asarray(curve["t"])
    ax.plot(t, np.asarray(curve["actual"]), label="actual", **kwargs)
    ax.plot(t, np.asarray(curve["expected"]), label="model", linestyle="--", **kwargs)
    if calibration_period is not None:
        ax.axvline(calibration_period, color="k", linestyle=":")
    ax.set_title("Tracking Cumulative Transactions")
    ax.set_xlabel("time")
    ax.set_ylabel("Cumulative Transactions")
    ax.legend()
    return ax


def plot_cumulative_transactions(
    model: Any,
    transactions: Any,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: Optional[str] = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Cumulative Transactions",
    xlabel: str = "day",
    ylabel: str = "Cumulative Transactions",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """The cumulative tracking curve of the cohort in ``transactions`` over ``t`` periods of
    ``freq`` (``D`` or ``W``), the model fitted in that unit, calibration ending at ``t_cal``."""
    import pandas as pd

    if freq not in ("D", "W"):
        raise ValidationError(f"freq: {freq!r}: expected 'D' or 'W'")
    period_days = int(_crmkit.time_unit_days(freq))
    frame = transactions[[customer_id_col, datetime_col]].copy()
    frame[datetime_col] = pd.to_datetime(frame[datetime_col], format=datetime_format)
    curve = analytics.tracking_curve(
        frame, model, customer=customer_id_col, timestamp=datetime_col, periods=int(t),
        period_days=period_days, time_unit=freq,
    )
    ax = plot_tracking_curve(curve, calibration_period=t_cal, ax=ax, **kwargs)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_segment_sizes(segments: Any, ax: Any = None, **kwargs: Any) -> Any:
    """Customers per RFM segment, as horizontal bars (largest on top). ``segments`` is a column
    of segment names (e.g. ``crmkit.rfm_scores(summary)["segment"]``) or the frame of
    :func:`crmkit.segment_sizes`."""
    sizes = segments
    if not (hasattr(segments, "columns") and "customers" in getattr(segments, "columns", [])):
        sizes = analytics.segment_sizes(segments)
    if type(sizes).__module__.split(".")[0] == "polars":
        names = [str(s) for s in sizes["segment"].to_list()]
        counts = sizes["customers"].to_numpy()
    else:
        names = [str(s) for s in sizes.index]
        counts = sizes["customers"].to_numpy()
    ax = _axes(ax)
    ax.barh(names[::-1], counts[::-1], **kwargs)
    ax.set_title("Customers per RFM segment")
    ax.set_xlabel("customers")
    return ax
