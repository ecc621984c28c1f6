"""crmkit.plotting draws what it computes (matplotlib with the Agg backend)."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import crmkit  # noqa: E402
import crmkit.lifetimes as clt  # noqa: E402
import crmkit.lifetimes.plotting  # noqa: E402,F401
from crmkit import plotting  # noqa: E402


@pytest.fixture(scope="module")
def bgf(cdnow_summary):
    return crmkit.BgNbd().fit(cdnow_summary)


def test_matrices(bgf, cdnow_summary) -> None:
    ax = plotting.plot_frequency_recency_matrix(bgf, T=39, max_frequency=10, max_recency=39)
    z = ax.images[0].get_array()
    assert z.shape == (40, 11)
    # The customer who bought 10 times, last at T, is expected to buy the most.
    assert np.unravel_index(np.argmax(z), z.shape) == (39, 10)
    want = bgf.predict(39, frequency=[10.0], recency=[39.0], T=[39.0])[0]
    assert z[39, 10] == pytest.approx(want)
    ax = plotting.plot_probability_alive_matrix(bgf, max_frequency=10, max_recency=39)
    p = ax.images[0].get_array()
    assert p[:, 0].min() == 1.0 and 0 < p.min() < 0.01
    lt = clt.BetaGeoFitter().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    ax = clt.plotting.plot_probability_alive_matrix(lt)
    assert ax.images[0].get_array().shape == (int(cdnow_summary["T"].max()) + 1, int(cdnow_summary["frequency"].max()) + 1)


def test_calibration_tracking_and_segments(cdnow_sample, bgf) -> None:
    ch = crmkit.calibration_holdout(cdnow_sample, customer="sample_id", timestamp="date",
                                    calibration_end="1997-09-30", observation_end="1998-06-30",
                                    time_unit="W")
    ax = plotting.plot_calibration_purchases_vs_holdout_purchases(bgf, ch, n=7)
    actual, model = ax.lines
    assert list(actual.get_xdata()) == list(range(8))
    assert actual.get_ydata()[0] == pytest.approx(ch.loc[ch["frequency_cal"] == 0, "frequency_holdout"].mean())
    curve = crmkit.tracking_curve(cdnow_sample, bgf, customer="sample_id", timestamp="date", periods=78)
    ax = plotting.plot_tracking_curve(curve, calibration_period=39)
    assert ax.lines[0].get_ydata()[-1] == curve["actual"].iloc[-1]
    ax = clt.plotting.plot_cumulative_transactions(bgf, cdnow_sample, "date", "sample_id", 78, 39, freq="W")
    assert len(ax.lines[0].get_xdata()) == 78
    s = crmkit.rfm_scores(crmkit.rfm_summary(cdnow_sample, customer="sample_id", timestamp="date",
                                             amount="dollars", as_of="1997-09-30", time_unit="W"))
    ax = plotting.plot_segment_sizes(s["segment"])
    widths = [bar.get_width() for bar in ax.patches]
    assert sum(widths) == 2357 and widths[-1] == max(widths)
