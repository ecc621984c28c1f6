"""lifetimes 0.11.3's ``lifetimes.utils`` on crmkit: RFM summaries and calibration/holdout
splits of a pandas transaction log, computed in Rust.

``freq`` is ``"D"`` (days), ``"W"`` (weeks starting on Monday, as pandas' ``W`` periods) or
``"M"`` (calendar months; recency and T in units of ``np.timedelta64(1, "M")``, 30.436875 days,
as lifetimes). Timestamps with a time zone are counted on their local calendar, like lifetimes
(pandas drops the zone when it forms periods).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import pandas as pd

from .. import _crmkit, _frames
from .fitters import ValidationError, _value_errors

__all__ = [
    "summary_data_from_transaction_data",
    "calibration_and_holdout_data",
    "ConvergenceError",
]

_NS_PER_DAY = 86_400_000_000_000
_US_PER_DAY = 86_400_000_000


class ConvergenceError(ValueError):
    """Kept for compatibility: crmkit's fits do not raise it (a boundary optimum is a fitted
    model with ``fit_info_.boundary`` set)."""


def _period_days(days: np.ndarray, freq: str) -> Tuple[np.ndarray, float]:
    """The first day of each day's period, and the length of ``np.timedelta64(1, freq)`` in
    days."""
    if freq == "D":
        return days, 1.0
    if freq == "W":
        # pandas' "W" periods end on Sunday; 1970-01-05 (day 4) was a Monday.
        return (days - 4) // 7 * 7 + 4, 7.0
    if freq == "M":
        d = days.astype("datetime64[D]")
        return d.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64), 365.2425 / 12
    raise ValidationError(
        f"freq: {freq!r} is not supported by crmkit.lifetimes (use 'D', 'W' or 'M')"
    )


def _days(values: Any, name: str, datetime_format: Optional[str]) -> np.ndarray:
    """Calendar days (since 1970-01-01) of a datetime column, on its local wall clock."""
    s = pd.to_datetime(values, format=datetime_format)
    if isinstance(s, pd.Series):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        if s.isna().any():
            row = int(np.flatnonzero(s.isna().to_numpy())[0])
            raise ValidationError(f"column `{name}`, row {row}: missing timestamp (NaT)")
        ns = s.to_numpy().astype("datetime64[ns]").view(np.int64)
    else:
        ts = pd.Timestamp(s)
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        ns = np.asarray([ts.value], dtype=np.int64)
    return np.floor_divide(ns, _NS_PER_DAY)


def _customers(transactions: pd.DataFrame, col: str) -> Tuple[np.ndarray, Any]:
    return _frames.customer_codes(_frames.column(transactions, col), col)


@_value_errors
def summary_data_from_transaction_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: Optional[str] = None,
    datetime_format: Optional[str] = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: int = 1,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Per customer: ``frequency``, ``recency``, ``T`` (and ``monetary_value``), as lifetimes.

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"id": [1, 1, 2], "date": ["2024-01-01", "2024-01-08", "2024-01-03"]})
    >>> summary_data_from_transaction_data(tx, "id", "date", observation_period_end="2024-01-15")
        frequency  recency     T
    id
    1         1.0      7.0  14.0
    2         0.0      0.0  12.0
    """
    codes, uniques = _customers(transactions, customer_id_col)
    days = _days(_frames.column(transactions, datetime_col), datetime_col, datetime_format)
    if observation_period_end is None:
        end_day = int(days.max()) if days.size else 0
    else:
        end_day = int(_days(observation_period_end, "observation_period_end", datetime_format)[0])
    days, unit = _period_days(days, freq)
    end_day = int(_period_days(np.asarray([end_day]), freq)[0][0])
    amounts = None
    if monetary_value_col:
        amounts = _frames.numbers(
            _frames.column(transactions, monetary_value_col), monetary_value_col
        )
    cols = _crmkit.summary_columns(
        np.ascontiguousarray(codes),
        np.ascontiguousarray(days),
        "D",
        amounts,
        end_day * _US_PER_DAY,
        repr(unit * freq_multiplier),
        "keep",
        (customer_id_col, datetime_col, monetary_value_col or "amount"),
    )
    index = pd.Index(_frames.take(uniques, cols["customer"]), name=customer_id_col)
    frequency = cols["frequency"]
    out = {"frequency": frequency, "recency": cols["recency"], "T": cols["T"]}
    if include_first_transaction:
        out["frequency"] = frequency + 1
    if monetary_value_col:
        monetary = cols["monetary_value"]
        if include_first_transaction:
            # The mean over every period, the first included: total spend / periods.
            assert amounts is not None
            inside = days <= end_day
            slot = np.searchsorted(cols["customer"], codes[inside])
            totals = np.bincount(slot, weights=amounts[inside], minlength=len(frequency))
            monetary = totals / (frequency + 1)
        out["monetary_value"] = monetary
    return pd.DataFrame(out, index=index).astype(float)


@_value_errors
def calibration_and_holdout_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    calibration_period_end: Any,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: int = 1,
    datetime_format: Optional[str] = None,
    monetary_value_col: Optional[str] = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """The calibration summary up to ``calibration_period_end`` joined with the holdout
    (``frequency_holdout``, ``monetary_value_holdout``, ``duration_holdout``), as lifetimes."""
    stamps = pd.to_datetime(_frames.column(transactions, datetime_col), format=datetime_format)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    cal_end = pd.Timestamp(pd.to_datetime(calibration_period_end, format=datetime_format))
    obs_end = (
        stamps.max()
        if observation_period_end is None
        else pd.Timestamp(pd.to_datetime(observation_period_end, format=datetime_format))
    )
    if cal_end.tzinfo is not None:
        cal_end = cal_end.tz_localize(None)
    if obs_end.tzinfo is not None:
        obs_end = obs_end.tz_localize(None)
    raw = stamps.to_numpy().astype("datetime64[ns]")
    in_cal = raw <= cal_end.to_datetime64()
    in_hold = (~in_cal) & (raw <= obs_end.to_datetime64())
    if not in_hold.any():
        raise ValidationError(
            "There is no data available. Check the `observation_period_end` and  "
            "`calibration_period_end` and confirm that values in `transactions` occur prior to "
            "those dates."
        )
    cal = summary_data_from_transaction_data(
        transactions.loc[in_cal],
        customer_id_col,
        datetime_col,
        datetime_format=datetime_format,
        observation_period_end=cal_end,
        freq=freq,
        freq_multiplier=freq_multiplier,
        monetary_value_col=monetary_value_col,
        include_first_transaction=include_first_transaction,
    )
    cal.columns = [c + "_cal" for c in cal.columns]
    # The holdout: distinct periods and mean amount per transaction, per customer (vectorised).
    hold = transactions.loc[in_hold]
    codes, uniques = _customers(hold, customer_id_col)
    days = np.floor_divide(raw[in_hold].view(np.int64), _NS_PER_DAY)
    periods, _ = _period_days(days, freq)
    pairs = np.unique(np.stack([codes, periods]), axis=1)
    ids, counts = np.unique(pairs[0], return_counts=True)
    hold_index = pd.Index(_frames.take(uniques, ids))
    result = cal.copy()
    result["frequency_holdout"] = pd.Series(counts.astype(float), index=hold_index).reindex(
        result.index
    ).fillna(0).to_numpy()
    if monetary_value_col:
        amounts = _frames.numbers(_frames.column(hold, monetary_value_col), monetary_value_col)
        order = np.searchsorted(ids, codes)
        sums = np.bincount(order, weights=amounts, minlength=len(ids))
        rows = np.bincount(order, minlength=len(ids))
        result["monetary_value_holdout"] = pd.Series(sums / rows, index=hold_index).reindex(
            result.index
        ).fillna(0).to_numpy()
    cal_period = int(_period_days(_days(cal_end, "calibration_period_end", None), freq)[0][0])
    obs_period = int(_period_days(_days(obs_end, "observation_period_end", None), freq)[0][0])
    if freq == "M":
        a = np.datetime64(cal_period, "D").astype("datetime64[M]").astype(np.int64)
        b = np.datetime64(obs_period, "D").astype("datetime64[M]").astype(np.int64)
        delta = float(b - a)
    else:
        delta = (obs_period - cal_period) / (7.0 if freq == "W" else 1.0)
    result["duration_holdout"] = delta / freq_multiplier
    return result


def _customer_lifetime_value(
    transaction_prediction_model: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    time: int = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
) -> pd.Series:
    """lifetimes' CLV: ``time`` months of ``factor`` time units (W 4.345, M 1, D 30, H 720),
    each month's expected purchases times ``monetary_value`` discounted at the month's end.
    crmkit's own models are valued in Rust in one pass; other models through their ``predict``."""
    factor = _crmkit.lifetimes_units_per_month(freq)
    index = frequency.index if isinstance(frequency, pd.Series) else None
    native = None
    native_of = getattr(transaction_prediction_model, "_native", None)
    if callable(native_of) and getattr(transaction_prediction_model, "_native_type", None) in (
        _crmkit.BgNbd,
        _crmkit.MbgNbd,
        _crmkit.ParetoNbd,
        _crmkit.BgBb,
    ):
        native = native_of()
    if native is not None:
        x = np.ascontiguousarray(np.asarray(frequency, dtype=np.float64))
        tx = np.ascontiguousarray(np.where(x == 0, 0.0, np.asarray(recency, dtype=np.float64)))
        t = np.ascontiguousarray(np.asarray(T, dtype=np.float64))
        m = np.ascontiguousarray(np.asarray(monetary_value, dtype=np.float64))
        values = _crmkit.customer_lifetime_value(
            native, m, x, tx, t, float(discount_rate), int(time), float(factor)
        )
        return pd.Series(values, index=index, name="clv")
    df = pd.DataFrame(index=index if index is not None else range(len(np.asarray(frequency))))
    df["clv"] = 0.0
    for i in np.arange(1, time + 1) * factor:
        expected = transaction_prediction_model.predict(
            i, frequency, recency, T
        ) - transaction_prediction_model.predict(i - factor, frequency, recency, T)
        df["clv"] += (np.asarray(monetary_value) * np.asarray(expected)) / (1 + discount_rate) ** (
            i / factor
        )
    return df["clv"]
