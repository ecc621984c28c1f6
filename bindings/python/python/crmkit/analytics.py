"""Customer-base analytics on DataFrames: RFM summaries, calibration/holdout splits, RFM scores
and segments, holdout evaluation and tracking curves.

Frames of pandas, polars or pyarrow go in; a frame of the same library comes out. Columns cross
into Rust as numpy buffers (never a Python object per row) and the work runs without the GIL.

Time: timestamps are instants; days are UTC calendar days (naive timestamps are taken as UTC).
A transaction happens "on" its day, and purchases on the same day are one purchase period, as in
lifetimes' ``summary_data_from_transaction_data(freq="D")``. ``time_unit`` (``"D"``, ``"W"``,
``"M"``, ``"Y"``, or a number of days) only scales recency and ``T``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _crmkit, _frames
from ._crmkit import HoldoutMetrics, ValidationError

__all__ = [
    "rfm_summary",
    "calibration_holdout",
    "rfm_scores",
    "rfm_segments",
    "segment_sizes",
    "DEFAULT_SEGMENTS",
    "holdout_metrics",
    "holdout_by_frequency",
    "tracking_curve",
]

TimeUnit = Union[str, float]

#: The default segment rules: ``(name, (r_lo, r_hi), (f_lo, f_hi), None)``, first match wins.
DEFAULT_SEGMENTS: List[Tuple[str, Tuple[int, int], Tuple[int, int], Optional[Tuple[int, int]]]] = [
    ("hibernating", (1, 2), (1, 2), None),
    ("at risk", (1, 2), (3, 4), None),
    ("can't lose them", (1, 2), (5, 5), None),
    ("about to sleep", (3, 3), (1, 2), None),
    ("need attention", (3, 3), (3, 3), None),
    ("loyal customers", (3, 4), (4, 5), None),
    ("promising", (4, 4), (1, 1), None),
    ("new customers", (5, 5), (1, 1), None),
    ("potential loyalists", (4, 5), (2, 3), None),
    ("champions", (5, 5), (4, 5), None),
]


def _unit(time_unit: TimeUnit) -> str:
    """The time unit as the text the native module parses (a number of days as its repr)."""
    if isinstance(time_unit, (int, float)) and not isinstance(time_unit, bool):
        return repr(float(time_unit))
    if not isinstance(time_unit, str):
        raise ValidationError(f"time_unit: expected 'D', 'W', 'M', 'Y' or a number of days")
    return time_unit


def _transactions(
    frame: Any, customer: str, timestamp: str, amount: Optional[str]
) -> Tuple[str, np.ndarray, Any, np.ndarray, str, Optional[str], Optional[np.ndarray]]:
    lib = _frames.library(frame)
    codes, uniques = _frames.customer_codes(_frames.column(frame, customer), customer)
    ticks, unit, tz = _frames.timestamps(_frames.column(frame, timestamp), timestamp)
    amounts = None
    if amount is not None:
        amounts = _frames.numbers(_frames.column(frame, amount), amount)
    return lib, codes, uniques, ticks, unit, tz, amounts


def rfm_summary(
    frame: Any,
    customer: str = "customer",
    timestamp: str = "timestamp",
    amount: Optional[str] = None,
    as_of: Any = None,
    time_unit: TimeUnit = "D",
    non_positive: str = "keep",
) -> Any:
    """The RFM summary of a transaction log, one row per customer who had bought by ``as_of``.

    Columns: ``frequency`` (repeat purchase days), ``recency`` (first to last purchase),
    ``T`` (first purchase to ``as_of``), and with ``amount`` ``monetary_value`` (mean spend of the
    repeat purchase days), recency and ``T`` in ``time_unit``. The same numbers as lifetimes'
    ``summary_data_from_transaction_data`` (to the last bit on CDNOW). ``as_of`` defaults to the
    last transaction. pandas in, pandas out (customers as the index, like lifetimes); polars or
    pyarrow in, the same out (customers as the first column).

    ``non_positive`` says what zero and negative amounts do: ``keep`` (like lifetimes),
    ``exclude`` (drop the row) or ``exclude_from_monetary`` (a purchase day, no spend).

    >>> import pandas as pd
    >>> import crmkit
    >>> log = pd.DataFrame({
    ...     "customer": ["a", "a", "a", "b"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-10"]),
    ...     "total": [10.0, 20.0, 40.0, 5.0],
    ... })
    >>> crmkit.rfm_summary(log, customer="customer", timestamp="date", amount="total",
    ...                    as_of="2024-01-29", time_unit="W")
              frequency  recency         T  monetary_value
    customer
    a               2.0      2.0  4.000000            30.0
    b               0.0      0.0  2.714286             0.0
    """
    lib, codes, uniques, ticks, unit, tz, amounts = _transactions(
        frame, customer, timestamp, amount
    )
    if as_of is None:
        if len(ticks) == 0:
            raise ValidationError(f"column `{timestamp}`: no transactions")
        as_of_us = _frames.max_micros(ticks, unit)
    else:
        as_of_us = _frames.instant_micros(as_of, "as_of", tz, timestamp)
    cols = _crmkit.summary_columns(
        codes,
        ticks,
        unit,
        amounts,
        as_of_us,
        _unit(time_unit),
        non_positive,
        (customer, timestamp, amount or "amount"),
    )
    data: Dict[str, Any] = {customer: _frames.take(uniques, cols["customer"])}
    data["frequency"] = cols["frequency"]
    data["recency"] = cols["recency"]
    data["T"] = cols["T"]
    if amount is not None:
        data["monetary_value"] = cols["monetary_value"]
    return _frames.make_frame(lib, data, index=customer)


def calibration_holdout(
    frame: Any,
    customer: str = "customer",
    timestamp: str = "timestamp",
    amount: Optional[str] = None,
    calibration_end: Any = None,
    observation_end: Any = None,
    time_unit: TimeUnit = "D",
    non_positive: str = "keep",
) -> Any:
    """The calibration summary up to ``calibration_end`` with what each customer did in the
    holdout up to ``observation_end`` (default: the last transaction).

    Columns: ``frequency_cal``, ``recency_cal``, ``T_cal``, (``monetary_value_cal``),
    ``frequency_holdout`` (purchase days in the holdout), (``monetary_value_holdout``: mean per
    holdout transaction, as lifetimes) and ``duration_holdout``, as lifetimes'
    ``calibration_and_holdout_data``. Customers who first bought after ``calibration_end`` are
    not in it.
    """
    if calibration_end is None:
        raise ValidationError("calibration_end: required")
    lib, codes, uniques, ticks, unit, tz, amounts = _transactions(
        frame, customer, timestamp, amount
    )
    cal = _frames.instant_micros(calibration_end, "calibration_end", tz, timestamp)
    if observation_end is None:
        end = _frames.max_micros(ticks, unit)
    else:
        end = _frames.instant_micros(observation_end, "observation_end", tz, timestamp)
    cols = _crmkit.calibration_holdout_columns(
        codes,
        ticks,
        unit,
        amounts,
        cal,
        end,
        _unit(time_unit),
        non_positive,
        (customer, timestamp, amount or "amount"),
    )
    data: Dict[str, Any] = {customer: _frames.take(uniques, cols["customer"])}
    names = ["frequency_cal", "recency_cal", "T_cal"]
    if amount is not None:
        names.append("monetary_value_cal")
    names.append("frequency_holdout")
    if amount is not None:
        names.append("monetary_value_holdout")
    names.append("duration_holdout")
    for n in names:
        data[n] = cols[n]
    return _frames.make_frame(lib, data, index=customer)


def _get(frame: Any, name: str) -> np.ndarray:
    return _frames.numbers(_frames.column(frame, name), name, "value")


def rfm_scores(
    summary: Any,
    frequency: str = "frequency",
    recency: str = "recency",
    T: str = "T",
    monetary_value: str = "monetary_value",
    segments: Optional[Sequence[Any]] = None,
) -> Any:
    """The summary with RFM scores ``r``, ``f``, ``m`` (1–5 each, quintiles with ties sharing the
    lowest rank) and the ``segment`` name under ``segments`` (:data:`DEFAULT_SEGMENTS` when
    ``None``). R scores time since the last purchase (``T − recency``), F ``frequency``,
    M ``monetary_value`` (all 0 when the summary has no such column).

    >>> import pandas as pd
    >>> import crmkit
    >>> s = pd.DataFrame({"frequency": [0.0, 3.0, 8.0], "recency": [0.0, 20.0, 38.0],
    ...                   "T": [40.0, 39.0, 39.0], "monetary_value": [0.0, 12.0, 30.0]})
    >>> crmkit.rfm_scores(s)[["r", "f", "m", "segment"]]
       r  f  m         segment
    0  1  1  1     hibernating
    1  2  2  2     hibernating
    2  4  4  4  loyal customers
    """
    lib = _frames.library(summary)
    x, tx, t = _get(summary, frequency), _get(summary, recency), _get(summary, T)
    names = _frames._names(summary)
    m = _get(summary, monetary_value) if monetary_value in names else np.zeros_like(x)
    r, f, mm = _crmkit.rfm_scores(x, tx, t, m)
    codes, seg_names = _crmkit.rfm_segments(
        r, f, mm, list(segments) if segments is not None else None
    )
    labels = np.array(seg_names + [None], dtype=object)[codes]
    if lib == "pandas":
        out = summary.copy()
        out["r"], out["f"], out["m"] = r, f, mm
        out["segment"] = labels
        return out
    if lib == "polars":
        import polars as pl

        return summary.with_columns(
            pl.Series("r", r),
            pl.Series("f", f),
            pl.Series("m", mm),
            pl.Series("segment", labels.tolist(), dtype=pl.String),
        )
    import pyarrow as pa

    out = summary
    for name, values in (("r", r), ("f", f), ("m", mm)):
        out = out.append_column(name, pa.array(values))
    return out.append_column("segment", pa.array(labels.tolist(), type=pa.string()))


def rfm_segments(
    r: Any, f: Any, m: Any = None, segments: Optional[Sequence[Any]] = None
) -> List[Optional[str]]:
    """The segment name of each customer from R, F (and M) scores under ``segments`` (rules
    ``(name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) or None)``, first match wins;
    :data:`DEFAULT_SEGMENTS` when ``None``); ``None`` where no rule matches.

    >>> rfm_segments([5, 1], [5, 1])
    ['champions', 'hibernating']
    """
    rs = np.ascontiguousarray(np.asarray(r, dtype=np.uint8))
    fs = np.ascontiguousarray(np.asarray(f, dtype=np.uint8))
    ms = None if m is None else np.ascontiguousarray(np.asarray(m, dtype=np.uint8))
    codes, names = _crmkit.rfm_segments(
        rs, fs, ms, list(segments) if segments is not None else None
    )
    table = names + [None]
    return [table[c] for c in codes.tolist()]


def segment_sizes(segments: Any) -> Any:
    """Customers per segment and their share, largest first (a pandas DataFrame, or polars for a
    polars input). ``segments`` is a column of segment names, e.g. ``rfm_scores(s)["segment"]``.

    >>> segment_sizes(["champions", "at risk", "champions", "champions"])
                 customers  share
    segment
    champions            3   0.75
    at risk              1   0.25
    """
    lib = type(segments).__module__.split(".")[0]
    if lib == "polars":
        import polars as pl

        counts = segments.alias("segment").value_counts(sort=True, name="customers")
        total = counts["customers"].sum()
        return counts.with_columns((pl.col("customers") / total).alias("share"))
    import pandas as pd

    values = pd.Series(list(segments) if lib != "pandas" else segments, name="segment")
    counts = values.value_counts(sort=True)
    out = pd.DataFrame({"customers": counts.to_numpy(), "share": counts.to_numpy() / len(values)},
                       index=pd.Index(counts.index, name="segment"))
    return out


def holdout_metrics(predicted: Any, actual: Any) -> HoldoutMetrics:
    """Error metrics of predicted against actual holdout purchases: ``n``, sums and means, MAE,
    RMSE, mean bias (positive: over-prediction) and the correlation.

    >>> m = holdout_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    >>> (m.n, m.mae, round(m.mean_bias, 4))
    (3, 0.6666666666666666, -0.6667)
    """
    return _crmkit.holdout_metrics(
        _frames.array(predicted, "predicted"), _frames.array(actual, "actual")
    )


def holdout_by_frequency(
    predicted: Any, actual: Any, frequency_cal: Any, max_frequency: int = 7
) -> Any:
    """Mean predicted and actual holdout purchases by calibration frequency ``0 … max_frequency−1``
    and ``max_frequency`` or more (what lifetimes' calibration-vs-holdout plot shows), as a pandas
    DataFrame indexed by frequency."""
    import pandas as pd

    d = _crmkit.by_calibration_frequency(
        _frames.array(predicted, "predicted"),
        _frames.array(actual, "actual"),
        _frames.array(frequency_cal, "frequency_cal"),
        int(max_frequency),
    )
    return pd.DataFrame(
        {
            "customers": d["customers"],
            "mean_predicted": d["mean_predicted"],
            "mean_actual": d["mean_actual"],
        },
        index=pd.Index(d["frequency"].astype(np.int64), name="frequency_cal"),
    )


def tracking_curve(
    frame: Any,
    model: Any,
    customer: str = "customer",
    timestamp: str = "timestamp",
    periods: Optional[int] = None,
    period_days: int = 7,
    time_unit: TimeUnit = "W",
    start: Any = None,
) -> Any:
    """Cumulative repeat purchases of the cohort in ``frame``, expected by ``model`` (a fitted
    :class:`crmkit.BgNbd`, ``MbgNbd`` or ``ParetoNbd`` in ``time_unit``) against actual, at the end
    of each of ``periods`` periods of ``period_days`` days from ``start`` (the first purchase day by
    default; ``periods`` defaults to the last transaction). Returns a frame with ``period``, ``t``,
    ``expected``, ``actual``."""
    lib = _frames.library(frame)
    codes, _ = _frames.customer_codes(_frames.column(frame, customer), customer)
    ticks, unit, tz = _frames.timestamps(_frames.column(frame, timestamp), timestamp)
    if len(ticks) == 0:
        raise ValidationError(f"column `{timestamp}`: no transactions")
    micros_per_day = _crmkit.MICROS_PER_DAY
    if start is None:
        start_day = int(_frames.to_micros(np.asarray([ticks.min()]), unit)[0] // micros_per_day)
    else:
        start_day = _frames.instant_micros(start, "start", tz, timestamp) // micros_per_day
    if periods is None:
        last_day = _frames.max_micros(ticks, unit) // micros_per_day
        periods = max(1, -(-(last_day + 1 - start_day) // int(period_days)))
    native = getattr(model, "_native", model)
    d = _crmkit.tracking_curve(
        codes,
        ticks,
        unit,
        native,
        int(periods),
        int(period_days),
        _unit(time_unit),
        int(start_day),
        (customer, timestamp, "amount"),
    )
    data = {k: d[k] for k in ("period", "t", "expected", "actual")}
    return _frames.make_frame("pandas" if lib == "pyarrow" else lib, data)
