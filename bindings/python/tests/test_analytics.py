"""The analytics against the literature, the lifetimes fixtures the Rust tests use, and CDNOW."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crmkit


def rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300)


def sample_summary(cdnow_sample: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    return crmkit.rfm_summary(
        cdnow_sample, customer="sample_id", timestamp="date", amount="dollars",
        as_of="1997-09-30", **kw,
    )


def test_rfm_summary_equals_lifetimes_to_the_last_bit(cdnow_sample, fixtures) -> None:
    f = fixtures["rfm_sample"]
    s = sample_summary(cdnow_sample, time_unit="W")
    assert list(s.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert s.index.name == "sample_id" and len(s) == f["n_customers"] == 2357
    assert s["frequency"].sum() == f["sum_frequency"]
    assert s["recency"].sum() == pytest.approx(f["sum_recency"], rel=1e-15)
    assert s["T"].sum() == pytest.approx(f["sum_T"], rel=1e-15)
    assert s["monetary_value"].sum() == f["sum_monetary_value"]
    for row in f["first_20_by_id"]:
        got = s.loc[row["id"]]
        assert got["frequency"] == row["frequency"]
        assert got["recency"] == row["recency"]
        assert got["T"] == row["T"]
        assert got["monetary_value"] == row["monetary_value"]
    days = sample_summary(cdnow_sample)
    assert (days["recency"].sum(), days["T"].sum()) == (f["sum_recency_days"], f["sum_T_days"])


def test_rfm_summary_polars_and_pyarrow_give_their_own_frames(cdnow_sample) -> None:
    want = sample_summary(cdnow_sample, time_unit="W")
    pl_in = pl.from_pandas(cdnow_sample)
    got = crmkit.rfm_summary(pl_in, customer="sample_id", timestamp="date", amount="dollars",
                             as_of="1997-09-30", time_unit="W")
    assert isinstance(got, pl.DataFrame)
    assert got.columns == ["sample_id", "frequency", "recency", "T", "monetary_value"]
    np.testing.assert_array_equal(got["sample_id"].to_numpy(), want.index.to_numpy())
    np.testing.assert_array_equal(got["monetary_value"].to_numpy(), want["monetary_value"].to_numpy())
    table = pa.Table.from_pandas(cdnow_sample, preserve_index=False)
    got = crmkit.rfm_summary(table, customer="sample_id", timestamp="date", amount="dollars",
                             as_of="1997-09-30", time_unit="W")
    assert isinstance(got, pa.Table)
    np.testing.assert_array_equal(got.column("T").to_numpy(), want["T"].to_numpy())


def test_string_ids_aware_timestamps_and_sparse_ids(cdnow_sample) -> None:
    want = sample_summary(cdnow_sample)
    tx = cdnow_sample.assign(
        sample_id=cdnow_sample["sample_id"].map(lambda i: f"c{i:05d}"),
        date=cdnow_sample["date"].dt.tz_localize("UTC"),
    )
    for frame in (tx, pl.from_pandas(tx)):
        got = crmkit.rfm_summary(frame, customer="sample_id", timestamp="date", amount="dollars",
                                 as_of="1997-09-30")
        ids = got.index if isinstance(got, pd.DataFrame) else got["sample_id"].to_list()
        assert list(ids[:2]) == ["c00001", "c00002"]
        t = got["T"] if isinstance(got, pd.DataFrame) else got["T"].to_pandas()
        np.testing.assert_array_equal(np.asarray(t), want["T"].to_numpy())
    sparse = cdnow_sample.assign(sample_id=cdnow_sample["sample_id"] * 10**12 - 7)
    got = crmkit.rfm_summary(sparse, customer="sample_id", timestamp="date", amount="dollars",
                             as_of="1997-09-30")
    assert got.index[0] == 10**12 - 7
    np.testing.assert_array_equal(got["monetary_value"].to_numpy(), want["monetary_value"].to_numpy())


def test_rfm_summary_master_as_of_default_and_policies(cdnow_master) -> None:
    s = crmkit.rfm_summary(cdnow_master, customer="customer_id", timestamp="date",
                           amount="dollars", as_of="1998-06-30", time_unit="W")
    # docs/benchmarks.md: 23,570 customers, Σ frequency 44,021, Σ monetary 414,282.38439722353.
    assert len(s) == 23570
    assert s["frequency"].sum() == 44021
    assert s["recency"].sum() == pytest.approx(454133.142857142857, rel=1e-14)
    assert s["T"].sum() == pytest.approx(1690620.857142857, rel=1e-14)
    assert s["monetary_value"].sum() == pytest.approx(414282.38439722353, rel=1e-14)
    default = crmkit.rfm_summary(cdnow_master, customer="customer_id", timestamp="date",
                                 time_unit="W")
    assert "monetary_value" not in default.columns
    np.testing.assert_array_equal(default["T"].to_numpy(), s["T"].to_numpy())
    excl = crmkit.rfm_summary(cdnow_master, customer="customer_id", timestamp="date",
                              amount="dollars", as_of="1998-06-30", non_positive="exclude")
    # The 80 zero-dollar rows are dropped entirely.
    assert excl["frequency"].sum() < s["frequency"].sum()


def test_calibration_holdout_equals_lifetimes(cdnow_sample, fixtures) -> None:
    f = fixtures["calibration_holdout"]
    ch = crmkit.calibration_holdout(
        cdnow_sample, customer="sample_id", timestamp="date", amount="dollars",
        calibration_end="1997-09-30", observation_end="1998-06-30",
    )
    assert list(ch.columns) == f["columns"]
    assert len(ch) == f["n_customers"]
    for col, total in f["sums"].items():
        assert ch[col].sum() == pytest.approx(total, rel=1e-13), col
    for row in f["first_20_by_id"]:
        for col in f["columns"]:
            assert ch.loc[row["id"], col] == pytest.approx(row[col], rel=1e-13), (row["id"], col)


def fit_columns(summary: pd.DataFrame) -> Dict[str, np.ndarray]:
    return {k: summary[k].to_numpy(dtype=float) for k in ("frequency", "recency", "T")}


@pytest.mark.parametrize(
    "model, key, names",
    [
        (crmkit.BgNbd, "bgnbd", ("r", "alpha", "a", "b")),
        (crmkit.MbgNbd, "mbgnbd", ("r", "alpha", "a", "b")),
        (crmkit.ParetoNbd, "paretonbd", ("r", "alpha", "s", "beta")),
    ],
)
def test_purchase_models_match_lifetimes(model, key, names, cdnow_summary, fixtures) -> None:
    f = fixtures[key]
    fitted = model().fit(cdnow_summary)
    assert fitted.fit_info is not None and fitted.fit_info.converged
    for p in names:
        assert rel(fitted.params[p], f["params"][p]) < 1e-4, p
    assert rel(fitted.fit_info.log_likelihood, f["log_likelihood_total"]) < 1e-6
    # With lifetimes' own parameters, the predictions agree to 1e-9.
    lt = model(**f["params"])
    assert rel(lt.log_likelihood(cdnow_summary), f["log_likelihood_total"]) < 1e-10
    for c in f["cases"]:
        e = lt.predict(c["t"], frequency=[c["x"]], recency=[c["t_x"]], T=[c["T"]])[0]
        assert rel(e, c["conditional_expected_number_of_purchases_up_to_time"]) < 1e-9
        p = lt.probability_alive(frequency=[c["x"]], recency=[c["t_x"]], T=[c["T"]])[0]
        assert rel(p, c["conditional_probability_alive"]) < 1e-9
    for c in f["expected_number_of_purchases_up_to_time"]:
        assert rel(lt.expected_purchases(c["t"]), c["value"]) < 1e-9
    for c in f["probability_of_n_purchases_up_to_time"] or []:
        assert rel(lt.probability_of_purchases(c["t"], c["n"]), c["value"]) < 1e-9
    agg = f["aggregates_over_all_customers"]
    e = lt.predict(39, cdnow_summary)
    assert isinstance(e, pd.Series) and e.index.equals(cdnow_summary.index)
    assert rel(e.sum(), agg["sum_conditional_expected_number_of_purchases_up_to_time_t39"]) < 1e-9
    assert rel(lt.probability_alive(cdnow_summary).sum(), agg["sum_conditional_probability_alive"]) < 1e-9


def test_literature_values(cdnow_summary, cdnow_summary_spend, donations) -> None:
    # Fader, Hardie & Lee (2005): BG/NBD on the CDNOW sample.
    bg = crmkit.BgNbd().fit(cdnow_summary)
    assert [round(bg.params[k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    assert round(float(bg.predict(39, frequency=[2], recency=[30.43], T=[38.86])[0]), 3) == 1.226
    # Fader & Hardie's Pareto/NBD note: r 0.553, alpha 10.578, s 0.606, beta 11.669.
    pn = crmkit.ParetoNbd().fit(cdnow_summary)
    assert [round(pn.params[k], 2) for k in ("r", "alpha", "s", "beta")] == [0.55, 10.58, 0.61, 11.67]
    # Gamma-Gamma note: p 6.25, q 3.74, v 15.44; mean spend 35.17.
    repeat = cdnow_summary_spend[cdnow_summary_spend["x"] > 0]
    gg = crmkit.GammaGamma().fit(repeat, frequency="x", monetary_value="zbar")
    assert [round(gg.params[k], 2) for k in ("p", "q", "v")] == [6.25, 3.74, 15.45]
    assert round(gg.expected_spend() or 0, 2) == 35.17
    # Fader, Hardie & Shang (2010): BG/BB on the donations.
    bb = crmkit.BgBb().fit(donations, n_periods="periods", weights="weights")
    assert [round(bb.params[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == [1.204, 0.75, 0.657, 2.783]
    assert bb.fit_info is not None and bb.fit_info.customers == 11104


def test_bgbb_and_gammagamma_match_lifetimes(donations, cdnow_summary_spend, fixtures) -> None:
    f = fixtures["bgbb"]
    bb = crmkit.BgBb(**f["params"])
    for row in f["rows"]:
        cols = dict(frequency=[row["frequency"]], recency=[row["recency"]], n_periods=[row["periods"]])
        for m, want in row["conditional_expected_number_of_purchases_up_to_time"].items():
            assert rel(bb.predict(float(m), **cols)[0], want) < 1e-9
        for m, want in row["conditional_probability_alive"].items():
            assert rel(bb.probability_alive(float(m), **cols)[0], want) < 1e-9
    g = fixtures["gammagamma"]
    gg = crmkit.GammaGamma(**g["params"])
    bgf = crmkit.BgNbd(**g["clv_transaction_model"]["params"])
    rows = pd.DataFrame(g["customers"])
    spend = gg.conditional_expected_spend(rows, frequency="x", monetary_value="zbar")
    np.testing.assert_allclose(spend, rows["conditional_expected_average_profit"], rtol=1e-12)
    clv = crmkit.customer_lifetime_value(
        bgf, gg, rows, frequency="x", recency="t_x", T="T", monetary_value="zbar",
        months=12, monthly_discount_rate=0.01, period_length=4.345,
    )
    np.testing.assert_allclose(clv, rows["customer_lifetime_value"], rtol=1e-9)
    # With an exact month (365.25/12 days = 4.348 weeks) the values move a little.
    exact = crmkit.customer_lifetime_value(bgf, gg, rows, frequency="x", recency="t_x", T="T",
                                           monetary_value="zbar", time_unit="W")
    assert 0 < np.max(np.abs(exact / rows["customer_lifetime_value"] - 1)) < 0.01


def test_rfm_scores_segments_and_sizes(cdnow_sample) -> None:
    s = sample_summary(cdnow_sample, time_unit="W")
    scored = crmkit.rfm_scores(s)
    assert set(scored.columns) >= {"r", "f", "m", "segment"}
    assert scored["r"].between(1, 5).all() and scored["f"].between(1, 5).all()
    # 1,411 of 2,357 customers never came back: they share the lowest F score.
    assert (scored["frequency"] == 0).sum() == 1411
    assert (scored.loc[scored["frequency"] == 0, "f"] == 1).all()
    assert scored.loc[scored["frequency"] > 0, "f"].min() == 3
    sizes = crmkit.segment_sizes(scored["segment"])
    assert sizes["customers"].sum() == 2357
    assert sizes["share"].sum() == pytest.approx(1.0)
    assert sizes.index[0] == "hibernating"
    assert crmkit.rfm_segments([5, 3, 1], [5, 3, 5]) == ["champions", "need attention", "can't lose them"]
    custom = [("best", (4, 5), (4, 5), (4, 5)), ("rest", (1, 5), (1, 5), (1, 5))]
    assert crmkit.rfm_segments([5, 5], [5, 5], [5, 1], custom) == ["best", "rest"]
    pl_scored = crmkit.rfm_scores(pl.from_pandas(s.reset_index()))
    assert pl_scored["segment"].to_list() == scored["segment"].tolist()
    with pytest.raises(crmkit.ValidationError):
        crmkit.rfm_segments([1], [1], None, [("a", (1, 2), (1, 5), None)] * 0 + [("a", (0, 9), (1, 5), None)])


def test_holdout_evaluation_and_tracking(cdnow_sample) -> None:
    ch = crmkit.calibration_holdout(
        cdnow_sample, customer="sample_id", timestamp="date",
        calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W",
    )
    bg = crmkit.BgNbd().fit(ch, frequency="frequency_cal", recency="recency_cal", T="T_cal")
    predicted = bg.predict(39, ch, frequency="frequency_cal", recency="recency_cal", T="T_cal")
    m = crmkit.holdout_metrics(predicted, ch["frequency_holdout"])
    assert m.n == 2357 and m.sum_actual == 1882.0
    # The BG/NBD forecast of the 39-week holdout: 1,653.4 (lifetimes: 1,653.42); truth 1,882.
    assert abs(m.sum_predicted - 1653.42) < 0.05
    assert m.correlation is not None and m.correlation > 0.5
    bins = crmkit.holdout_by_frequency(predicted, ch["frequency_holdout"], ch["frequency_cal"])
    assert list(bins.index) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert bins["customers"].sum() == 2357
    assert bins.loc[0, "customers"] == 1411
    curve = crmkit.tracking_curve(cdnow_sample, bg, customer="sample_id", timestamp="date",
                                  periods=78, start="1997-01-01")
    assert list(curve.columns) == ["period", "t", "expected", "actual"]
    assert len(curve) == 78 and curve["t"].iloc[-1] == 78.0
    # Every repeat purchase day of the cohort by week 78: 2,457 in calibration + 1,882 after
    # (days of 1997-01-01 + 78 weeks = 1998-06-30 included).
    assert curve["actual"].iloc[-1] == 2457 + 1882
    assert abs(curve["expected"].iloc[-1] / curve["actual"].iloc[-1] - 1) < 0.05
    assert crmkit.holdout_metrics([1, 2, 3, 4], [2, 2, 1, 7]).mae == 1.5


def test_models_pickle_and_repr(cdnow_summary) -> None:
    import pickle

    bg = crmkit.BgNbd().fit(cdnow_summary)
    again = pickle.loads(pickle.dumps(bg))
    assert again.params == bg.params
    assert repr(bg).startswith("BgNbd(r=0.2425")
    with pytest.raises(crmkit.ValidationError, match="not fitted"):
        crmkit.BgNbd().predict(1, cdnow_summary)
