"""CDNOW with crmkit, notebook style: the customer base of Fader & Hardie's CDNOW log.

    pip install './bindings/python[pandas,plotting]'      # or: scripts/test-python.sh
    python examples/python/cdnow.py [--plots DIR]

Each "cell" below is what a data scientist would run in a notebook: load the transaction log,
summarise it (RFM), fit the purchase and spend models, check the forecast on a holdout period,
value every customer (CLV), find the valuable customers at risk, segment the base, and keep
segments current in the CRM with a playbook for the valuable customers slipping away. With
``--plots DIR`` the usual figures are written there as PNG files.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import crmkit

REPO = Path(__file__).resolve().parents[2]
MASTER = REPO / "examples" / "data" / "CDNOW_master.txt"

parser = argparse.ArgumentParser()
parser.add_argument("--plots", type=Path, help="write the figures to this directory")
args = parser.parse_args()
pd.set_option("display.width", 120)

# %% Load the transaction log: 69,659 purchases of 23,570 customers, 1997-01 to 1998-06.
tx = pd.read_csv(MASTER, sep=r"\s+", dtype={"customer_id": int, "date": str})
tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
print(f"{len(tx):,} transactions, {tx['customer_id'].nunique():,} customers, "
      f"{tx['date'].min():%Y-%m-%d} to {tx['date'].max():%Y-%m-%d}, "
      f"revenue {tx['dollar_value'].sum():,.2f} USD")

# %% RFM summary as of the end of the log, in weeks.
t0 = time.perf_counter()
summary = crmkit.rfm_summary(tx, customer="customer_id", timestamp="date", amount="dollar_value",
                             as_of="1998-06-30", time_unit="W")
print(f"\nRFM summary in {1e3 * (time.perf_counter() - t0):.1f} ms:")
print(summary.describe().round(2))

# %% Calibration (first 39 weeks) and holdout (next 39 weeks).
ch = crmkit.calibration_holdout(tx, customer="customer_id", timestamp="date", amount="dollar_value",
                                calibration_end="1997-09-30", observation_end="1998-06-30",
                                time_unit="W")
cal = dict(frequency="frequency_cal", recency="recency_cal", T="T_cal")

# %% BG/NBD and Pareto/NBD on the calibration period; which forecasts the holdout better?
for model in (crmkit.BgNbd(), crmkit.ParetoNbd()):
    t0 = time.perf_counter()
    model.fit(ch, **cal)
    fit_ms = 1e3 * (time.perf_counter() - t0)
    predicted = model.predict(39, ch, **cal)
    m = crmkit.holdout_metrics(predicted, ch["frequency_holdout"])
    params = ", ".join(f"{k}={v:.3f}" for k, v in model.params.items())
    print(f"\n{type(model).__name__} ({params}) fitted in {fit_ms:.1f} ms")
    print(f"  holdout purchases: predicted {m.sum_predicted:,.0f}, actual {m.sum_actual:,.0f}; "
          f"MAE {m.mae:.3f}, correlation {m.correlation:.3f}")
print("\nBy calibration frequency (BG/NBD):")
bgf = crmkit.BgNbd().fit(ch, **cal)
print(crmkit.holdout_by_frequency(bgf.predict(39, ch, **cal), ch["frequency_holdout"],
                                  ch["frequency_cal"]).round(3))

# %% Tracking: cumulative repeat purchases, expected against actual, week by week.
curve = crmkit.tracking_curve(tx, bgf, customer="customer_id", timestamp="date", periods=78,
                              start="1997-01-01")
print("\nCumulative repeat purchases at weeks 13, 39, 52, 78:")
print(curve.set_index("period").loc[[13, 39, 52, 78], ["expected", "actual"]].round(0))

# %% The whole log: purchase and spend models, P(alive), 12-month CLV.
bgf = crmkit.BgNbd().fit(summary)
returning = summary[summary["frequency"] > 0]
ggf = crmkit.GammaGamma().fit(returning)
print(f"\nGamma-Gamma: {ggf}, population mean spend {ggf.expected_spend():.2f} USD")
scores = summary.assign(
    p_alive=bgf.probability_alive(summary),
    next_year=bgf.predict(52, summary),
    clv=crmkit.customer_lifetime_value(bgf, ggf, summary, months=12, monthly_discount_rate=0.01),
)
print(f"12-month CLV of the base: {scores['clv'].sum():,.0f} USD")
print("\nTop customers by CLV:")
print(scores.sort_values("clv", ascending=False).head(8).round(3))

# %% Valuable customers at risk: high spend, probably gone.
at_risk = scores[(scores["monetary_value"] > scores["monetary_value"].quantile(0.9))
                 & (scores["p_alive"] < 0.3)]
print(f"\n{len(at_risk):,} high spenders with P(alive) < 0.3, "
      f"{at_risk['monetary_value'].mul(at_risk['frequency']).sum():,.0f} USD of past repeat spend")

# %% RFM segments.
segmented = crmkit.rfm_scores(summary)
sizes = crmkit.segment_sizes(segmented["segment"])
revenue = segmented.assign(value=scores["clv"]).groupby("segment")["value"].sum()
print("\nRFM segments (share of customers, share of 12-month CLV):")
print(sizes.assign(clv_share=(revenue / revenue.sum()).reindex(sizes.index)).round(3))

# %% The same numbers through the lifetimes API (one changed import).
import crmkit.lifetimes as lifetimes  # noqa: E402  (was: import lifetimes)

lt_summary = lifetimes.utils.summary_data_from_transaction_data(
    tx, "customer_id", "date", monetary_value_col="dollar_value",
    observation_period_end="1998-06-30", freq="W")
lt_bgf = lifetimes.BetaGeoFitter(penalizer_coef=0.0).fit(
    lt_summary["frequency"], lt_summary["recency"], lt_summary["T"])
print(f"\nlifetimes API: {lt_bgf}")
print(lt_bgf.summary.round(4))

# %% The CRM: segments kept current as purchases and scores arrive, and a playbook.
# The clock is fixed the day after the log ends, so "days since" rules are reproducible.
crm = crmkit.Crm(now="1998-07-01")          # crmkit.Crm("cdnow.db", now=...) for a file
for name, rule in [
    ("champions", 'rfm.segment = "champions"'),
    ("top-value", "decile(clv) >= 9"),
    ("lapsed", "count(purchase) > 0 and days_since(purchase) >= 180"),
    ("slipping-away", 'segment("top-value") and p_alive < 0.5'),
]:
    crm.define_segment(name, rule)
crm.define_playbook("win-back", "slipping-away",
                    [crmkit.Action.create_task("Call to win back", due_in_days=7,
                                               assignee="retention")])
t0 = time.perf_counter()
orders = tx.assign(customer=tx["customer_id"].astype(str), date=tx["date"].dt.tz_localize("UTC"))
crm.import_interactions(orders, columns={"customer": "customer", "timestamp": "date",
                                         "amount": "dollar_value"},
                        customer_key="ext:cdnow", currency="USD", create_customers=True)
report = crm.fit_value("1998-06-30", time_unit="week")   # storing the scores fills the segments
print(f"\nSegments in the CRM (import, fit and segment upkeep in "
      f"{time.perf_counter() - t0:.1f} s):")
for name, size in sorted(crm.segment_sizes().items(), key=lambda kv: -kv[1]):
    print(f"  {name:<15} {size:>7,}  {crm.segment(name).rule}")
tasks = crm.tasks(playbook="win-back", limit=100_000)
print(f"win-back playbook: {len(tasks):,} open tasks, e.g. {tasks[0].title!r} for "
      f"{crm.customer(tasks[0].customer).identities[0]}")
print(crm.explain_segment("slipping-away", tasks[0].customer))

# %% Figures.
if args.plots:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crmkit import plotting

    args.plots.mkdir(parents=True, exist_ok=True)
    figures = {
        "frequency_recency.png": lambda ax: plotting.plot_frequency_recency_matrix(
            bgf, T=52, max_frequency=30, max_recency=77, ax=ax),
        "p_alive.png": lambda ax: plotting.plot_probability_alive_matrix(
            bgf, max_frequency=30, max_recency=77, ax=ax),
        "calibration_vs_holdout.png": lambda ax: plotting.plot_calibration_purchases_vs_holdout_purchases(
            crmkit.BgNbd().fit(ch, **cal), ch, ax=ax),
        "tracking.png": lambda ax: plotting.plot_tracking_curve(curve, calibration_period=39, ax=ax),
        "segments.png": lambda ax: plotting.plot_segment_sizes(sizes, ax=ax),
    }
    for name, draw in figures.items():
        fig, ax = plt.subplots(figsize=(8, 5))
        draw(ax)
        fig.tight_layout()
        fig.savefig(args.plots / name, dpi=90)
        plt.close(fig)
    print(f"\nfigures written to {args.plots}")
