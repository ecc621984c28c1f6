"""crmkit.lifetimes against lifetimes 0.11.3 itself (installed in the test venv) and its fixtures."""

from __future__ import annotations

import warnings
from typing import Any, Dict

import numpy as np
import pandas as pd
import pytest

import crmkit
import crmkit.lifetimes as clt
from crmkit.lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

lifetimes = pytest.importorskip("lifetimes")
from lifetimes import utils as lt_utils  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)


def rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300)


@pytest.fixture(scope="module")
def master_summary(cdnow_master: pd.DataFrame) -> pd.DataFrame:
    return lt_utils.summary_data_from_transaction_data(
        cdnow_master, "customer_id", "date", monetary_value_col="dollars",
        observation_period_end="1998-06-30", freq="D",
    )


def test_summary_is_lifetimes_to_the_last_bit(cdnow_master, master_summary) -> None:
    got = summary_data_from_transaction_data(
        cdnow_master, "customer_id", "date", monetary_value_col="dollars",
        observation_period_end="1998-06-30", freq="D",
    )
    pd.testing.assert_frame_equal(got, master_summary, check_exact=True)


@pytest.mark.parametrize("freq, multiplier", [("W", 1), ("D", 7), ("M", 1)])
def test_summary_other_periods(cdnow_sample, freq, multiplier) -> None:
    kw: Dict[str, Any] = dict(monetary_value_col="dollars", observation_period_end="1997-09-30",
                              freq=freq, freq_multiplier=multiplier)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = lt_utils.summary_data_from_transaction_data(cdnow_sample, "sample_id", "date", **kw)
        except Exception as e:  # lifetimes cannot divide by np.timedelta64(1, 'M') on new pandas
            pytest.skip(f"lifetimes fails here: {e}")
    got = summary_data_from_transaction_data(cdnow_sample, "sample_id", "date", **kw)
    pd.testing.assert_frame_equal(got, want, rtol=1e-13)


def test_summary_string_dates_and_first_transaction(cdnow_sample) -> None:
    tx = cdnow_sample.assign(date=cdnow_sample["date"].dt.strftime("%Y%m%d"))
    kw: Dict[str, Any] = dict(monetary_value_col="dollars", datetime_format="%Y%m%d",
                              observation_period_end="19970930", include_first_transaction=True)
    want = lt_utils.summary_data_from_transaction_data(tx, "sample_id", "date", **kw)
    got = summary_data_from_transaction_data(tx, "sample_id", "date", **kw)
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


@pytest.mark.parametrize("freq", ["D", "W"])
def test_calibration_and_holdout_is_lifetimes(cdnow_sample, freq) -> None:
    kw: Dict[str, Any] = dict(calibration_period_end="1997-09-30", observation_period_end="1998-06-30",
                              freq=freq, monetary_value_col="dollars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = lt_utils.calibration_and_holdout_data(cdnow_sample, "sample_id", "date", **kw)
    got = calibration_and_holdout_data(cdnow_sample, "sample_id", "date", **kw)
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


def test_bgnbd_fit_and_predictions_match_lifetimes(master_summary) -> None:
    s = master_summary.assign(recency=master_summary["recency"] / 7, T=master_summary["T"] / 7)
    ours = clt.BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
    theirs = lifetimes.BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
    assert list(ours.params_.index) == ["r", "alpha", "a", "b"]
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=1e-4)
    assert ours.summary.shape == theirs.summary.shape == (4, 4)
    assert list(ours.summary.columns) == list(theirs.summary.columns)
    np.testing.assert_allclose(ours.standard_errors_, theirs.standard_errors_, rtol=2e-3)
    assert rel(ours._negative_log_likelihood_, theirs._negative_log_likelihood_) < 1e-6
    pd.testing.assert_frame_equal(ours.data, theirs.data)
    assert repr(ours).startswith("<lifetimes.BetaGeoFitter: fitted with 23570 subjects, a: 0.")
    # Same parameters, same predictions, same types.
    ours.params_ = theirs.params_.copy()
    for t in (1, 10.5, 52):
        e_ours = ours.conditional_expected_number_of_purchases_up_to_time(t, s["frequency"], s["recency"], s["T"])
        e_theirs = theirs.conditional_expected_number_of_purchases_up_to_time(t, s["frequency"], s["recency"], s["T"])
        assert isinstance(e_ours, pd.Series)
        pd.testing.assert_series_equal(e_ours, e_theirs, rtol=1e-9)
    p_ours = ours.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    p_theirs = theirs.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    assert type(p_ours) is type(p_theirs) is np.ndarray
    np.testing.assert_allclose(p_ours, p_theirs, rtol=1e-9)
    scalar = ours.predict(10, 2, 30.43, 38.86)
    assert isinstance(scalar, np.floating)
    assert rel(scalar, theirs.predict(10, 2, 30.43, 38.86)) < 1e-9
    ts = np.array([1.0, 5.0, 10.0])
    np.testing.assert_allclose(ours.predict(ts, 2, 30.43, 38.86), theirs.predict(ts, 2, 30.43, 38.86), rtol=1e-9)
    np.testing.assert_allclose(
        ours.expected_number_of_purchases_up_to_time(ts),
        theirs.expected_number_of_purchases_up_to_time(ts), rtol=1e-9,
    )
    assert rel(ours.probability_of_n_purchases_up_to_time(39, 2),
               theirs.probability_of_n_purchases_up_to_time(39, 2)) < 1e-9
    m_ours = ours.conditional_probability_alive_matrix(max_frequency=10, max_recency=20)
    m_theirs = theirs.conditional_probability_alive_matrix(max_frequency=10, max_recency=20)
    assert m_ours.shape == m_theirs.shape == (21, 11)
    np.testing.assert_allclose(m_ours, m_theirs, rtol=1e-9)


@pytest.mark.parametrize(
    "ours_cls, key",
    [(clt.BetaGeoFitter, "bgnbd"), (clt.ModifiedBetaGeoFitter, "mbgnbd"), (clt.ParetoNBDFitter, "paretonbd")],
)
def test_fitters_against_the_fixtures(ours_cls, key, cdnow_summary, fixtures) -> None:
    f = fixtures[key]
    m = ours_cls().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    for p, v in f["params"].items():
        assert rel(m.params_[p], v) < 1e-4, p
    assert rel(m._negative_log_likelihood_, f["fitter_negative_log_likelihood_attr"]) < 1e-6
    m.params_ = pd.Series(f["params"])
    for c in f["cases"]:
        e = m.conditional_expected_number_of_purchases_up_to_time(c["t"], c["x"], c["t_x"], c["T"])
        assert rel(e, c["conditional_expected_number_of_purchases_up_to_time"]) < 1e-9
        assert rel(m.conditional_probability_alive(c["x"], c["t_x"], c["T"])[0],
                   c["conditional_probability_alive"]) < 1e-9


def test_bgbb_against_lifetimes(donations, fixtures) -> None:
    f = fixtures["bgbb"]
    ours = clt.BetaGeoBetaBinomFitter().fit(
        donations["frequency"], donations["recency"], donations["periods"], weights=donations["weights"]
    )
    for p, v in f["params"].items():
        assert rel(ours.params_[p], v) < 1e-4, p
    theirs = lifetimes.BetaGeoBetaBinomFitter().fit(
        donations["frequency"], donations["recency"], donations["periods"], weights=donations["weights"]
    )
    ours.params_ = theirs.params_.copy()
    for n in (6, 10):
        pd.testing.assert_frame_equal(
            ours.expected_number_of_transactions_in_first_n_periods(n),
            theirs.expected_number_of_transactions_in_first_n_periods(n), rtol=1e-9,
        )
    for m in (0, 1, 5):
        np.testing.assert_allclose(
            ours.conditional_probability_alive(m, donations["frequency"], donations["recency"], donations["periods"]),
            theirs.conditional_probability_alive(m, donations["frequency"], donations["recency"], donations["periods"]),
            rtol=1e-9,
        )
        pd.testing.assert_series_equal(
            ours.conditional_expected_number_of_purchases_up_to_time(
                m, donations["frequency"], donations["recency"], donations["periods"]),
            theirs.conditional_expected_number_of_purchases_up_to_time(
                m, donations["frequency"], donations["recency"], donations["periods"]),
            rtol=1e-9,
        )


def test_gamma_gamma_and_clv_against_lifetimes(cdnow_summary_spend) -> None:
    d = cdnow_summary_spend
    repeat = d[d["x"] > 0]
    ours = clt.GammaGammaFitter().fit(repeat["x"], repeat["zbar"])
    theirs = lifetimes.GammaGammaFitter().fit(repeat["x"], repeat["zbar"])
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=1e-4)
    ours.params_ = theirs.params_.copy()
    pd.testing.assert_series_equal(
        ours.conditional_expected_average_profit(d["x"], d["zbar"]),
        theirs.conditional_expected_average_profit(d["x"], d["zbar"]),
    )
    bgf = clt.BetaGeoFitter().fit(d["x"], d["t_x"], d["T"])
    lbgf = lifetimes.BetaGeoFitter().fit(d["x"], d["t_x"], d["T"])
    bgf.params_ = lbgf.params_.copy()
    for freq in ("W", "D"):
        c_ours = ours.customer_lifetime_value(bgf, repeat["x"], repeat["t_x"], repeat["T"], repeat["zbar"],
                                              time=12, discount_rate=0.01, freq=freq)
        c_theirs = theirs.customer_lifetime_value(lbgf, repeat["x"], repeat["t_x"], repeat["T"], repeat["zbar"],
                                                  time=12, discount_rate=0.01, freq=freq)
        assert c_ours.name == "clv"
        pd.testing.assert_series_equal(c_ours, c_theirs, rtol=1e-9)
    # A lifetimes model works too (through its predict), with the same result.
    c_mixed = ours.customer_lifetime_value(lbgf, repeat["x"], repeat["t_x"], repeat["T"], repeat["zbar"], freq="W")
    np.testing.assert_allclose(c_mixed, c_ours.to_numpy() if False else ours.customer_lifetime_value(
        bgf, repeat["x"], repeat["t_x"], repeat["T"], repeat["zbar"], freq="W"), rtol=1e-9)


def test_bad_inputs_raise_value_errors(cdnow_summary) -> None:
    s = cdnow_summary
    with pytest.raises(ValueError, match="recency vector are larger than T"):
        clt.BetaGeoFitter().fit(s["frequency"], s["T"] + 1, s["T"])
    with pytest.raises(crmkit.ValidationError, match="non-integer"):
        clt.GammaGammaFitter().fit(s["frequency"] + 0.5, s["T"])
    with pytest.raises(ValueError, match="has not been fit"):
        clt.BetaGeoFitter().conditional_expected_number_of_purchases_up_to_time(1, 1, 1, 2)
    with pytest.warns(UserWarning, match="penalizer_coef"):
        clt.BetaGeoFitter(penalizer_coef=0.01)
    with pytest.raises(NotImplementedError):
        clt.ParetoNBDFitter().conditional_probability_of_n_purchases_up_to_time(1, 1, 1, 1, 2)


def test_boundary_fit_succeeds_where_lifetimes_struggles() -> None:
    # Nobody drops out: the BG/NBD optimum is on the boundary (a -> 0 or b -> inf).
    i = np.arange(2000)
    x = 20 + i % 30
    T = 40.0 + i % 13
    ours = clt.BetaGeoFitter().fit(x, T, T)
    assert ours.fit_info_.boundary
    p = ours.conditional_probability_alive(x, T, T)
    assert np.all(p > 0.99)


SCRIPT = '''
summary = lifetimes.utils.summary_data_from_transaction_data(
    transactions, "customer_id", "date", monetary_value_col="dollars",
    observation_period_end="1997-09-30", freq="W")
bgf = lifetimes.BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(summary["frequency"], summary["recency"], summary["T"])
summary["predicted_purchases"] = bgf.conditional_expected_number_of_purchases_up_to_time(
    4, summary["frequency"], summary["recency"], summary["T"])
summary["p_alive"] = bgf.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
returning = summary[summary["frequency"] > 0]
ggf = lifetimes.GammaGammaFitter(penalizer_coef=0)
ggf.fit(returning["frequency"], returning["monetary_value"])
summary["clv"] = ggf.customer_lifetime_value(
    bgf, summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
    time=12, discount_rate=0.01, freq="W")
result = summary.sort_values("clv", ascending=False).head(10)
'''


def test_a_lifetimes_script_runs_with_one_changed_import(cdnow_sample) -> None:
    tx = cdnow_sample.rename(columns={"customer_id": "orig", "sample_id": "customer_id"})
    outputs = {}
    for name, module in (("lifetimes", lifetimes), ("crmkit", clt)):
        scope: Dict[str, Any] = {"lifetimes": module, "transactions": tx}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(SCRIPT, scope)
        outputs[name] = scope["result"]
    ours, theirs = outputs["crmkit"], outputs["lifetimes"]
    assert list(ours.index) == list(theirs.index)
    assert list(ours.columns) == list(theirs.columns)
    pd.testing.assert_frame_equal(ours, theirs, rtol=1e-3)
