"""Bad inputs raise crmkit errors that name the column (or field) and the problem; each Rust
error kind maps to its exception class."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
import polars as pl
import pytest

import crmkit
from crmkit import Crm, NewInteraction

LOG = pd.DataFrame(
    {
        "customer": [1, 1, 2],
        "date": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-03"]),
        "total": [10.0, 20.0, 5.0],
    }
)


def summary(frame, **kw):
    args = dict(customer="customer", timestamp="date", amount="total", as_of="2024-02-01")
    args.update(kw)
    return crmkit.rfm_summary(frame, **args)


def test_hierarchy() -> None:
    for cls in (crmkit.NotFoundError, crmkit.ConflictError, crmkit.ValidationError, crmkit.StorageError):
        assert issubclass(cls, crmkit.CrmError) and issubclass(cls, Exception)
    from crmkit import exceptions

    assert exceptions.ValidationError is crmkit.ValidationError


def test_each_kind_maps_to_its_class(tmp_path) -> None:
    crm = Crm()
    crm.create_customer("Ada", email="ada@example.org")
    with pytest.raises(crmkit.ConflictError, match="already belongs"):
        crm.create_customer("Imposter", email="ADA@example.org")
    with pytest.raises(crmkit.NotFoundError, match="customer not found"):
        crm.lookup("nobody@example.org")
    with pytest.raises(crmkit.ValidationError, match="invalid name: is empty"):
        crm.create_customer("  ")
    crm.define_field("seats", "integer")
    with pytest.raises(crmkit.ConflictError, match="already defined"):
        crm.define_field("seats", "string")
    with pytest.raises(crmkit.ValidationError, match="not a declared field|undeclared|not declared"):
        crm.create_customer("Bo", attributes={"color": "red"})
    with pytest.raises(crmkit.StorageError):
        Crm(tmp_path / "missing-dir" / "x" / "crm.db")
    with pytest.raises(crmkit.ValidationError, match="format"):
        crm.import_interactions(tmp_path / "orders.unknown")


def test_money_stays_exact() -> None:
    crm = Crm()
    c = crm.create_customer("Bo")
    at = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(crmkit.ValidationError, match=r"amount: float 0.1 is not exact"):
        NewInteraction.purchase(c, at, 0.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(crmkit.ValidationError, match="negative"):
        NewInteraction.purchase(c, at, "-1", "EUR")
    with pytest.raises(crmkit.ValidationError, match="currency"):
        crmkit.Money("1", "EURO")
    with pytest.raises(crmkit.ValidationError, match="not a finite"):
        crmkit.Money(__import__("decimal").Decimal("NaN"), "EUR")


def test_naive_datetimes_are_refused_where_the_zone_matters() -> None:
    crm = Crm()
    c = crm.create_customer("Bo")
    with pytest.raises(crmkit.ValidationError, match="occurred_at: naive datetime"):
        NewInteraction.purchase(c, datetime(2024, 1, 1), "1", "EUR")
    # A date is midnight UTC; text without an offset is UTC.
    assert NewInteraction.purchase(c, date(2024, 1, 1), "1", "EUR").occurred_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    aware = LOG.assign(date=LOG["date"].dt.tz_localize("UTC"))
    with pytest.raises(crmkit.ValidationError, match=r"as_of: naive datetime .* column `date` is timezone-aware"):
        summary(aware, as_of=datetime(2024, 2, 1))
    with pytest.raises(crmkit.ValidationError, match=r"as_of: timezone-aware datetime .* column `date` holds naive"):
        summary(LOG, as_of=datetime(2024, 2, 1, tzinfo=timezone.utc))
    assert len(summary(aware, as_of=datetime(2024, 2, 1, tzinfo=timezone.utc))) == 2


def test_missing_columns_and_wrong_dtypes() -> None:
    with pytest.raises(crmkit.ValidationError, match=r"column `amount`: missing; the frame has 'customer', 'date', 'total'"):
        summary(LOG, amount="amount")
    with pytest.raises(crmkit.ValidationError, match=r"column `date`: dtype object is not a datetime"):
        summary(LOG.assign(date=LOG["date"].dt.strftime("%Y-%m-%d")))
    with pytest.raises(crmkit.ValidationError, match=r"column `total`: not numeric"):
        summary(LOG.assign(total=["a", "b", "c"]))
    with pytest.raises(crmkit.ValidationError, match=r"column `customer`: bool is not a customer id"):
        summary(LOG.assign(customer=[True, False, True]))
    with pytest.raises(crmkit.ValidationError, match=r"column `date`: dtype String is not a datetime"):
        summary(pl.from_pandas(LOG).with_columns(pl.col("date").dt.strftime("%Y")))
    with pytest.raises(crmkit.ValidationError, match="expected a pandas or polars DataFrame"):
        crmkit.rfm_summary({"customer": [1]})


def test_nan_and_missing_values_name_the_row() -> None:
    with pytest.raises(crmkit.ValidationError, match=r"column `total`, row 1: missing amount"):
        summary(LOG.assign(total=[1.0, np.nan, 2.0]))
    with pytest.raises(crmkit.ValidationError, match=r"column `total`, row 2: amount is infinite"):
        summary(LOG.assign(total=[1.0, 2.0, np.inf]))
    with pytest.raises(crmkit.ValidationError, match=r"column `date`, row 0: missing timestamp"):
        summary(LOG.assign(date=[pd.NaT, *LOG["date"][1:]]))
    with pytest.raises(crmkit.ValidationError, match=r"column `customer`, row 2: missing customer"):
        summary(LOG.assign(customer=["a", "b", None]))
    with pytest.raises(crmkit.ValidationError, match=r"column `total`, row 0: missing amount"):
        summary(pl.from_pandas(LOG).with_columns(pl.lit(None, dtype=pl.Float64).alias("total")))


def test_model_inputs_are_checked() -> None:
    with pytest.raises(crmkit.ValidationError, match=r"recency at row 0"):
        crmkit.BgNbd().fit(frequency=[1.0], recency=[5.0], T=[2.0])
    m = crmkit.BgNbd(r=0.24, alpha=4.4, a=0.79, b=2.4)
    with pytest.raises(crmkit.ValidationError, match=r"frequency at row 1"):
        m.predict(1, frequency=[1.0, 1.5], recency=[1.0, 1.0], T=[2.0, 2.0])
    with pytest.raises(crmkit.ValidationError, match="alpha"):
        crmkit.BgNbd(r=0.24, alpha=-1, a=0.79, b=2.4)
    with pytest.raises(crmkit.ValidationError, match="invalid time unit: \"fortnight\""):
        summary(LOG, time_unit="fortnight")
    with pytest.raises(crmkit.ValidationError, match="non_positive"):
        summary(LOG, non_positive="drop")
