#!/usr/bin/env python3
"""Reference values from the Python package lifetimes 0.11.3, for crmkit-clv's tests.

Run from anywhere (paths are resolved against the repository root):

    benches/compare/setup-venv.sh && benches/compare/.venv/bin/python benches/compare/make_fixtures.py

Reads  <tests-dir>/data/{cdnow_customers_summary.csv,
                         cdnow_customers_summary_with_transactions.csv, donations.csv}
       examples/data/CDNOW_sample.txt
Writes <tests-dir>/fixtures/lifetimes.json   (default tests-dir: crates/crmkit-clv/tests)

Every float is written with Python's repr (shortest string that round-trips to the same
f64), so the JSON holds lifetimes' values bit for bit. Values that lifetimes returns as
NaN or +-inf are written as null and listed in the `notes` of their section.
"""

import argparse
import hashlib
import importlib.metadata as md
import json
import math
import os
import platform
import sys
import warnings

import numpy as np
import pandas as pd

import lifetimes
from lifetimes import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# (t, x, t_x, T) cases, T and t in weeks.
CASES = [
    (39, 0, 0, 39),
    (39, 1, 30, 39),
    (39, 2, 5, 39),
    (39, 5, 35, 38),
    (39, 10, 38, 39),
    (39, 20, 39, 39),
    (52, 3, 20, 30),
    (1, 0, 0, 1),
    (100, 7, 35, 39),
    (39, 50, 30, 39),
]
UNCONDITIONAL_T = [1, 10, 39, 52, 78]
PMF_T = [39, 78]
PMF_N = [0, 1, 2, 5]
PARETO_SEED = 0


# ---------------------------------------------------------------------------- helpers


def num(value, notes, what):
    """A finite float, or None (and a note) for NaN/inf or a failed call."""
    try:
        v = float(np.asarray(value).reshape(-1)[0]) if np.ndim(value) else float(value)
    except Exception as exc:  # pragma: no cover - depends on lifetimes' numerics
        notes.append(f"{what}: lifetimes failed ({type(exc).__name__}: {exc}); recorded as null")
        return None
    if not math.isfinite(v):
        notes.append(f"{what}: lifetimes returned {v!r}; recorded as null")
        return None
    return v


def call(fn, notes, what):
    """Run fn() with numpy warnings captured; note any warning; return num(result)."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        try:
            result = fn()
        except Exception as exc:
            notes.append(f"{what}: lifetimes raised {type(exc).__name__}: {exc}; recorded as null")
            return None
    out = num(result, notes, what)
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    if msgs and out is not None:
        notes.append(f"{what}: numpy warned ({'; '.join(msgs)}) but the result is finite")
    return out


def sha256_12(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def floats(d):
    return {k: float(v) for k, v in d.items()}


def read_transactions_sample():
    path = os.path.join(REPO, "examples", "data", "CDNOW_sample.txt")
    tx = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "dollars"],
        dtype={"master_id": int, "sample_id": int, "date": str, "cds": int, "dollars": float},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return path, tx


def row_list(df, cols, id_name="id"):
    rows = []
    for idx, r in df.iterrows():
        row = {id_name: int(idx)}
        for c in cols:
            row[c] = float(r[c])
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- sections


def rfm_sample_section(tx, summary_csv):
    notes = []
    s = summary_data_from_transaction_data(
        tx,
        "sample_id",
        "date",
        monetary_value_col="dollars",
        freq="D",
        observation_period_end="1997-09-30",
    ).sort_index()
    days = s.copy()
    s["recency"] = s["recency"] / 7.0
    s["T"] = s["T"] / 7.0

    ref = pd.read_csv(summary_csv).set_index("ID").sort_index()
    joined = s.join(ref.add_suffix("_csv"), how="outer")
    missing = int(joined["frequency"].isna().sum() + joined["frequency_csv"].isna().sum())
    freq_mis = joined["frequency"] != joined["frequency_csv"]
    rec_mis = (joined["recency"].round(2) - joined["recency_csv"]).abs() > 1e-9
    t_mis = (joined["T"].round(2) - joined["T_csv"]).abs() > 1e-9
    any_mis = freq_mis | rec_mis | t_mis
    notes.append(
        "recency and T are lifetimes' day counts divided by 7 (weeks); frequency and "
        "monetary_value are unchanged. monetary_value = mean over the customer's repeat "
        "purchase days of the day's summed dollars (same-day transactions are summed first; "
        "the first purchase day is excluded; 0 when frequency = 0); dollar values <= 0 are kept."
    )
    notes.append(
        "check against cdnow_customers_summary.csv: frequency must be equal, recency and T "
        "must equal the csv after rounding the weeks to 2 decimals."
    )
    first20 = s.head(20)
    rows = []
    for idx, r in first20.iterrows():
        rows.append(
            {
                "id": int(idx),
                "frequency": float(r["frequency"]),
                "recency": float(r["recency"]),
                "T": float(r["T"]),
                "monetary_value": float(r["monetary_value"]),
                "recency_days": float(days.loc[idx, "recency"]),
                "T_days": float(days.loc[idx, "T"]),
            }
        )
    return {
        "input": "examples/data/CDNOW_sample.txt",
        "call": (
            "summary_data_from_transaction_data(tx, 'sample_id', 'date', monetary_value_col='dollars', "
            "freq='D', observation_period_end='1997-09-30'); then recency /= 7, T /= 7"
        ),
        "n_customers": int(len(s)),
        "sum_frequency": float(s["frequency"].sum()),
        "sum_recency": float(s["recency"].sum()),
        "sum_T": float(s["T"].sum()),
        "sum_monetary_value": float(s["monetary_value"].sum()),
        "sum_recency_days": float(days["recency"].sum()),
        "sum_T_days": float(days["T"].sum()),
        "first_20_by_id": rows,
        "check_vs_cdnow_customers_summary_csv": {
            "customers_missing_on_either_side": missing,
            "mismatch_count": int(any_mis.sum()),
            "frequency_mismatches": int(freq_mis.sum()),
            "recency_mismatches_after_round_2dp": int(rec_mis.sum()),
            "T_mismatches_after_round_2dp": int(t_mis.sum()),
            "max_abs_diff_recency_weeks_unrounded": float((joined["recency"] - joined["recency_csv"]).abs().max()),
            "max_abs_diff_T_weeks_unrounded": float((joined["T"] - joined["T_csv"]).abs().max()),
        },
        "notes": notes,
    }


def bg_family_section(cls, name, x, t_x, T):
    """BG/NBD and MBG/NBD share fit, likelihood convention and methods."""
    notes = []
    n = len(x)
    m = cls(penalizer_coef=0.0).fit(x, t_x, T)
    p = m.params_
    params = floats(p)
    ones = np.ones(n, dtype=int)
    xi = np.asarray(x).astype(int)
    mean_nll_weeks = cls._negative_log_likelihood(
        np.log(p[["r", "alpha", "a", "b"]].values), xi, np.asarray(t_x, float), np.asarray(T, float), ones, 0.0
    )
    ll_total = -float(mean_nll_weeks) * n
    attr = float(m._negative_log_likelihood_)
    ll_from_attr = -attr * n - float(xi.sum()) * math.log(float(np.max(T)))
    notes.append(
        f"log_likelihood_total = -{name}._negative_log_likelihood(log(params), x, t_x, T, weights=1, "
        "penalizer=0) * n_customers, evaluated on the unscaled data (weeks) with the reported params. "
        "lifetimes' _negative_log_likelihood returns the MEAN negative log-likelihood per customer. "
        "lifetimes 0.11.3 has no log_likelihood_ attribute; its _negative_log_likelihood_ attribute "
        "is that mean at the optimum but on time rescaled by 1/max(T), so "
        "total LL(weeks) = -n*_negative_log_likelihood_ - sum(x)*ln(max T) "
        f"(here {ll_from_attr!r})."
    )

    cases = []
    for (t, cx, ctx, cT) in CASES:
        what = f"case (t={t}, x={cx}, t_x={ctx}, T={cT})"
        cases.append(
            {
                "t": t,
                "x": cx,
                "t_x": ctx,
                "T": cT,
                "conditional_expected_number_of_purchases_up_to_time": call(
                    lambda: m.conditional_expected_number_of_purchases_up_to_time(
                        float(t), float(cx), float(ctx), float(cT)
                    ),
                    notes,
                    what + " conditional_expected_number_of_purchases_up_to_time",
                ),
                "conditional_probability_alive": call(
                    lambda: m.conditional_probability_alive(float(cx), float(ctx), float(cT)),
                    notes,
                    what + " conditional_probability_alive",
                ),
            }
        )
    unconditional = [
        {
            "t": t,
            "value": call(
                lambda: m.expected_number_of_purchases_up_to_time(float(t)),
                notes,
                f"expected_number_of_purchases_up_to_time(t={t})",
            ),
        }
        for t in UNCONDITIONAL_T
    ]
    pmf = [
        {
            "t": t,
            "n": k,
            "value": call(
                lambda: m.probability_of_n_purchases_up_to_time(float(t), k),
                notes,
                f"probability_of_n_purchases_up_to_time(t={t}, n={k})",
            ),
        }
        for t in PMF_T
        for k in PMF_N
    ]
    ce = m.conditional_expected_number_of_purchases_up_to_time(
        39.0, np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
    )
    pa = m.conditional_probability_alive(np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float))
    return m, {
        "input": "tests/data/cdnow_customers_summary.csv (frequency, recency, T; weeks)",
        "call": f"{name}(penalizer_coef=0.0).fit(frequency, recency, T)  # defaults: tol=1e-7, BFGS via scipy.optimize.minimize on log-params",
        "n_customers": n,
        "params": params,
        "log_likelihood_total": ll_total,
        "fitter_negative_log_likelihood_attr": attr,
        "cases": cases,
        "expected_number_of_purchases_up_to_time": unconditional,
        "probability_of_n_purchases_up_to_time": pmf,
        "aggregates_over_all_customers": {
            "sum_conditional_expected_number_of_purchases_up_to_time_t39": float(np.sum(ce)),
            "sum_conditional_probability_alive": float(np.sum(pa)),
        },
        "notes": notes,
    }


def pareto_section(x, t_x, T):
    notes = []
    n = len(x)
    np.random.seed(PARETO_SEED)
    m = ParetoNBDFitter(penalizer_coef=0.0).fit(x, t_x, T)
    p = m.params_
    params = floats(p)
    ones = np.ones(n, dtype=np.int64)
    xi = np.asarray(x).astype(int)
    nll = ParetoNBDFitter._negative_log_likelihood(
        p[["r", "alpha", "s", "beta"]].values, xi, np.asarray(t_x, float), np.asarray(T, float), ones, 0.0
    )
    ll_total = -float(nll)
    attr = float(m._negative_log_likelihood_)
    ll_from_attr = -attr - float(xi.sum()) * math.log(float(np.max(T)))
    notes.append(
        "log_likelihood_total = -ParetoNBDFitter._negative_log_likelihood(params, x, t_x, T, weights=1, "
        "penalizer=0) on the unscaled data (weeks). Unlike the BG fitters, the Pareto/NBD "
        "_negative_log_likelihood takes the params themselves (not their logs) and divides the sum by "
        "weights.mean() (= 1 here), so it is already the TOTAL. Its _negative_log_likelihood_ attribute is "
        "on time rescaled by 1/max(T): total LL(weeks) = -_negative_log_likelihood_ - sum(x)*ln(max T) "
        f"(here {ll_from_attr!r})."
    )
    notes.append(
        f"fit: lifetimes' defaults (Nelder-Mead, tol=1e-4, maxiter=2000, iterative_fitting=1) from a random "
        f"start N(1, 0.05) per parameter; np.random.seed({PARETO_SEED}) was set just before fit(). Nelder-Mead "
        "with tol=1e-4 stops short of the exact optimum, so a better optimiser finds params that differ in "
        "the 3rd-4th significant digit and a log-likelihood slightly above this one: compare predictions at "
        "THESE params, and compare fitted LL with a tolerance."
    )
    notes.append(
        "lifetimes 0.11.3's ParetoNBDFitter has no unconditional probability_of_n_purchases_up_to_time; "
        "probability_of_n_purchases_up_to_time is therefore absent. As an extra, "
        "conditional_probability_of_n_purchases_up_to_time(n, t, x, t_x, T) is recorded for the cases."
    )

    cases = []
    for (t, cx, ctx, cT) in CASES:
        what = f"case (t={t}, x={cx}, t_x={ctx}, T={cT})"
        case = {
            "t": t,
            "x": cx,
            "t_x": ctx,
            "T": cT,
            "conditional_expected_number_of_purchases_up_to_time": call(
                lambda: m.conditional_expected_number_of_purchases_up_to_time(
                    float(t), float(cx), float(ctx), float(cT)
                ),
                notes,
                what + " conditional_expected_number_of_purchases_up_to_time",
            ),
            "conditional_probability_alive": call(
                lambda: m.conditional_probability_alive(float(cx), float(ctx), float(cT)),
                notes,
                what + " conditional_probability_alive",
            ),
            "conditional_probability_of_n_purchases_up_to_time": [
                {
                    "n": k,
                    "value": call(
                        lambda: m.conditional_probability_of_n_purchases_up_to_time(
                            k, float(t), float(cx), float(ctx), float(cT)
                        ),
                        notes,
                        what + f" conditional_probability_of_n_purchases_up_to_time(n={k})",
                    ),
                }
                for k in PMF_N
            ],
        }
        cases.append(case)
    unconditional = [
        {
            "t": t,
            "value": call(
                lambda: m.expected_number_of_purchases_up_to_time(float(t)),
                notes,
                f"expected_number_of_purchases_up_to_time(t={t})",
            ),
        }
        for t in UNCONDITIONAL_T
    ]
    with np.errstate(all="ignore"):
        ce = m.conditional_expected_number_of_purchases_up_to_time(
            39.0, np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float)
        )
        pa = m.conditional_probability_alive(np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float))
    agg_notes_before = len(notes)
    aggregates = {
        "sum_conditional_expected_number_of_purchases_up_to_time_t39": num(np.sum(ce), notes, "aggregate sum E[X(39)|.]"),
        "sum_conditional_probability_alive": num(np.sum(pa), notes, "aggregate sum P(alive)"),
    }
    if len(notes) == agg_notes_before and not (np.all(np.isfinite(ce)) and np.all(np.isfinite(pa))):
        notes.append("aggregates: some per-customer values were not finite")
    return m, {
        "input": "tests/data/cdnow_customers_summary.csv (frequency, recency, T; weeks)",
        "call": f"np.random.seed({PARETO_SEED}); ParetoNBDFitter(penalizer_coef=0.0).fit(frequency, recency, T)",
        "n_customers": n,
        "params": params,
        "log_likelihood_total": ll_total,
        "fitter_negative_log_likelihood_attr": attr,
        "cases": cases,
        "expected_number_of_purchases_up_to_time": unconditional,
        "probability_of_n_purchases_up_to_time": None,
        "aggregates_over_all_customers": aggregates,
        "notes": notes,
    }


def bgbb_section(donations_csv):
    notes = []
    d = pd.read_csv(donations_csv)
    f = d["frequency"].to_numpy(int)
    r = d["recency"].to_numpy(int)
    n = d["periods"].to_numpy(int)
    w = d["weights"].to_numpy(int)
    m = BetaGeoBetaBinomFitter(penalizer_coef=0.0).fit(f, r, n, weights=w)
    p = m.params_
    params = floats(p)
    nll = BetaGeoBetaBinomFitter._negative_log_likelihood(
        np.log(p[["alpha", "beta", "gamma", "delta"]].values), f, r, n, w, 0.0
    )
    ll_total = -float(nll) * float(w.sum())
    notes.append(
        "log_likelihood_total = -BetaGeoBetaBinomFitter._negative_log_likelihood(log(params), frequency, "
        "recency, periods, weights, 0) * sum(weights): lifetimes returns the weighted MEAN negative "
        "log-likelihood. No time rescaling here, so -_negative_log_likelihood_attr * sum(weights) is the same "
        "number up to optimiser noise."
    )
    notes.append(
        "lifetimes' BG/BB _loglikelihood adds 1e-15 inside the second (sum over j) term before taking its log "
        "(B = 1e-15 + sum_j ...). This affects every value that uses the likelihood at the ~1e-12 relative level."
    )
    notes.append(
        "conditional_probability_alive(m, ...) is lifetimes' P(alive at opportunity n + m); m = 0 is accepted "
        "(probability alive at the end of the calibration period), so both m = 0 and m = 1 are recorded."
    )
    notes.append(
        "expected_number_of_transactions_in_first_n_periods(n) returns E[number of donors with x repeat "
        "transactions in the first n opportunities], only for the x values present in the fitted data "
        "(0..6), scaled by sum(weights); for n = 10 it therefore covers x = 0..6 only."
    )
    rows = []
    ce = {mm: m.conditional_expected_number_of_purchases_up_to_time(mm, f, r, n) for mm in (1, 5, 10)}
    pa = {mm: m.conditional_probability_alive(mm, f, r, n) for mm in (0, 1)}
    for i in range(len(d)):
        what = f"row {i} (x={f[i]}, t_x={r[i]}, n={n[i]})"
        rows.append(
            {
                "frequency": int(f[i]),
                "recency": int(r[i]),
                "periods": int(n[i]),
                "weights": int(w[i]),
                "conditional_expected_number_of_purchases_up_to_time": {
                    str(mm): num(ce[mm][i], notes, what + f" E[X(n, n+{mm})]") for mm in (1, 5, 10)
                },
                "conditional_probability_alive": {
                    str(mm): num(pa[mm][i], notes, what + f" P(alive at n+{mm})") for mm in (0, 1)
                },
            }
        )
    first_n = {}
    for k in (6, 10):
        df = m.expected_number_of_transactions_in_first_n_periods(k)
        first_n[str(k)] = [
            {"frequency": int(ix), "model": num(v, notes, f"first_n_periods({k}) x={ix}")}
            for ix, v in df["model"].items()
        ]
    return {
        "input": "tests/data/donations.csv",
        "call": "BetaGeoBetaBinomFitter(penalizer_coef=0.0).fit(frequency, recency, n_periods=periods, weights=weights)",
        "n_patterns": int(len(d)),
        "n_customers": int(w.sum()),
        "params": params,
        "log_likelihood_total": ll_total,
        "fitter_negative_log_likelihood_attr": float(m._negative_log_likelihood_),
        "rows": rows,
        "expected_number_of_transactions_in_first_n_periods": first_n,
        "notes": notes,
    }


def gammagamma_section(with_tx_csv):
    notes = []
    full = pd.read_csv(with_tx_csv)
    rep = full[full["x"] > 0]
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(rep["x"], rep["zbar"])
    p = ggf.params_
    nll = GammaGammaFitter._negative_log_likelihood(
        np.log(p[["p", "q", "v"]].values),
        rep["x"].to_numpy(float),
        rep["zbar"].to_numpy(float),
        np.ones(len(rep), dtype=int),
        0.0,
    )
    ll_total = -float(nll) * len(rep)
    notes.append(
        "log_likelihood_total = -GammaGammaFitter._negative_log_likelihood(log(params), x, zbar, weights=1, 0) "
        "* n_customers (lifetimes returns the MEAN). Note lifetimes' per-customer term is the density of the "
        "mean spend zbar: gammaln(px+q) - gammaln(px) - gammaln(q) + q ln v + (px-1) ln zbar + px ln x "
        "- (px+q) ln(x zbar + v)."
    )

    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(full["x"], full["t_x"], full["T"])
    bg_nll = BetaGeoFitter._negative_log_likelihood(
        np.log(bgf.params_[["r", "alpha", "a", "b"]].values),
        full["x"].to_numpy(int),
        full["t_x"].to_numpy(float),
        full["T"].to_numpy(float),
        np.ones(len(full), dtype=int),
        0.0,
    )

    first30 = rep.head(30)
    cap = ggf.conditional_expected_average_profit(first30["x"], first30["zbar"])
    clv = ggf.customer_lifetime_value(
        bgf,
        first30["x"],
        first30["t_x"],
        first30["T"],
        first30["zbar"],
        time=12,
        discount_rate=0.01,
        freq="W",
    )

    # Re-derive the CLV the way lifetimes' _customer_lifetime_value does, to document it exactly.
    factor = 4.345
    steps = np.arange(1, 12 + 1)
    mine = np.zeros(len(first30))
    breakdown = []
    for k, i in zip(steps, steps * factor):
        e_now = bgf.predict(i, first30["x"], first30["t_x"], first30["T"]).to_numpy()
        e_prev = bgf.predict(i - factor, first30["x"], first30["t_x"], first30["T"]).to_numpy()
        disc = (1 + 0.01) ** (i / factor)
        mine = mine + (cap.to_numpy() * (e_now - e_prev)) / disc
        breakdown.append(
            {
                "month": int(k),
                "t_end_weeks": float(i),
                "t_start_weeks": float(i - factor),
                "expected_transactions_in_month": float(e_now[0] - e_prev[0]),
                "discount_divisor": float(disc),
            }
        )
    max_diff = float(np.max(np.abs(mine - clv.to_numpy())))
    notes.append(
        "customer_lifetime_value (lifetimes/utils.py _customer_lifetime_value, called by "
        "GammaGammaFitter.customer_lifetime_value): m~ = gamma-gamma conditional_expected_average_profit(x, zbar) "
        "= (1 - w) * v p / (q - 1) + w * zbar with w = p x / (p x + q - 1). "
        "factor = {'W': 4.345, 'M': 1.0, 'D': 30, 'H': 720}[freq] (time units per month). For k = 1..time "
        "(time = months, here 12): i_k = k * factor (numpy float: np.arange(1, time+1) * factor), "
        "dE_k = model.predict(i_k, x, t_x, T) - model.predict(i_k - factor, x, t_x, T) where predict is the "
        "transaction model's conditional_expected_number_of_purchases_up_to_time (so month k covers "
        "(i_k - factor, i_k] time units after T; predict(0, ...) = 0 for k = 1); "
        "CLV = sum_k m~ * dE_k / (1 + discount_rate) ** (i_k / factor). "
        "i_k / factor is k up to float rounding, so each month's cash flow is discounted as if received at "
        "the END of month k at the monthly rate discount_rate (no discounting to mid-month, no period 0). "
        "To match to the last bit, compute i_k = (k as f64) * factor, the lower bound as i_k - factor "
        "(not (k-1)*factor), and the exponent as i_k / factor (not k), exactly like numpy does. "
        f"This script recomputed the 30 values that way: max |diff| vs lifetimes = {max_diff!r}."
    )
    customers = []
    for j, (idx, r) in enumerate(first30.iterrows()):
        customers.append(
            {
                "ID": int(r["ID"]),
                "x": float(r["x"]),
                "t_x": float(r["t_x"]),
                "T": float(r["T"]),
                "zbar": float(r["zbar"]),
                "conditional_expected_average_profit": float(cap.loc[idx]),
                "customer_lifetime_value": float(clv.loc[idx]),
            }
        )
    return {
        "input": "tests/data/cdnow_customers_summary_with_transactions.csv, rows with x > 0",
        "call": "GammaGammaFitter(penalizer_coef=0.0).fit(frequency=x, monetary_value=zbar)",
        "n_customers": int(len(rep)),
        "params": floats(p),
        "log_likelihood_total": ll_total,
        "fitter_negative_log_likelihood_attr": float(ggf._negative_log_likelihood_),
        "population_mean_spend": float(p["v"] * p["p"] / (p["q"] - 1)),
        "clv_transaction_model": {
            "call": "BetaGeoFitter(penalizer_coef=0.0).fit(x, t_x, T) on ALL 2357 rows of the same file",
            "params": floats(bgf.params_),
            "log_likelihood_total": -float(bg_nll) * len(full),
        },
        "clv_call": (
            "ggf.customer_lifetime_value(bgf, x, t_x, T, zbar, time=12, discount_rate=0.01, freq='W') "
            "for the first 30 customers with x > 0 (file order = ID order)"
        ),
        "clv_max_abs_diff_of_independent_recomputation": max_diff,
        "clv_breakdown_first_customer": breakdown,
        "customers": customers,
        "notes": notes,
    }


def calibration_holdout_section(tx):
    notes = []
    ch = calibration_and_holdout_data(
        tx,
        "sample_id",
        "date",
        calibration_period_end="1997-09-30",
        observation_period_end="1998-06-30",
        freq="D",
        monetary_value_col="dollars",
    ).sort_index()
    cols = list(ch.columns)
    notes.append(
        "all times in days (freq='D'; nothing divided by 7). *_cal columns are "
        "summary_data_from_transaction_data on transactions <= 1997-09-30. frequency_holdout = number of "
        "distinct purchase days in (1997-09-30, 1998-06-30]; monetary_value_holdout = mean of the raw holdout "
        "transactions' dollars (NOT summed per day first, unlike monetary_value_cal); customers without "
        "holdout purchases get 0 for both. duration_holdout = 1998-06-30 - 1997-09-30 = 273 days."
    )
    return {
        "input": "examples/data/CDNOW_sample.txt",
        "call": (
            "calibration_and_holdout_data(tx, 'sample_id', 'date', calibration_period_end='1997-09-30', "
            "observation_period_end='1998-06-30', freq='D', monetary_value_col='dollars')"
        ),
        "columns": cols,
        "n_customers": int(len(ch)),
        "sums": {c: float(ch[c].sum()) for c in cols},
        "first_20_by_id": row_list(ch.head(20), cols),
        "notes": notes,
    }


def versions_section():
    def v(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "lifetimes": v("lifetimes") or getattr(lifetimes, "__version__", None),
        "numpy": np.__version__,
        "scipy": v("scipy"),
        "pandas": pd.__version__,
        "autograd": v("autograd"),
        "dill": v("dill"),
    }


# ---------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--tests-dir",
        default=os.path.join("crates", "crmkit-clv", "tests"),
        help="folder with data/ (inputs) and fixtures/ (output); relative to the repository root",
    )
    ap.add_argument(
        "--allow-missing-crate",
        action="store_true",
        help="write under crates/<name>/ even if crates/<name>/Cargo.toml does not exist",
    )
    args = ap.parse_args()

    tests_dir = os.path.normpath(os.path.join(REPO, args.tests_dir))
    rel = os.path.relpath(tests_dir, REPO).split(os.sep)
    if rel[0] == "crates" and len(rel) >= 2 and not args.allow_missing_crate:
        manifest = os.path.join(REPO, "crates", rel[1], "Cargo.toml")
        if not os.path.exists(manifest):
            sys.exit(
                f"error: {manifest} does not exist. The workspace's members = [\"crates/*\"] glob makes every "
                f"folder under crates/ a member, so creating crates/{rel[1]}/ without a Cargo.toml breaks every "
                "cargo command in the workspace. Create the crate first, or pass --tests-dir elsewhere "
                "(or --allow-missing-crate)."
            )
    data_dir = os.path.join(tests_dir, "data")
    summary_csv = os.path.join(data_dir, "cdnow_customers_summary.csv")
    with_tx_csv = os.path.join(data_dir, "cdnow_customers_summary_with_transactions.csv")
    donations_csv = os.path.join(data_dir, "donations.csv")
    for p in (summary_csv, with_tx_csv, donations_csv):
        if not os.path.exists(p):
            sys.exit(f"error: missing input {p} (copy it from the lifetimes 0.11.3 datasets; see data/README.md)")

    sample_path, tx = read_transactions_sample()
    summary = pd.read_csv(summary_csv)
    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]

    out = {
        "about": (
            "Reference values computed with the Python package lifetimes 0.11.3 by "
            "benches/compare/make_fixtures.py. Floats are Python repr (round-trip exact). "
            "null = lifetimes gave NaN/inf or failed (see the section's notes). Times for the CDNOW models "
            "are in weeks unless a key says days."
        ),
        "inputs_sha256_12": {
            "examples/data/CDNOW_sample.txt": sha256_12(sample_path),
            "tests/data/cdnow_customers_summary.csv": sha256_12(summary_csv),
            "tests/data/cdnow_customers_summary_with_transactions.csv": sha256_12(with_tx_csv),
            "tests/data/donations.csv": sha256_12(donations_csv),
        },
        "versions": versions_section(),
    }
    out["rfm_sample"] = rfm_sample_section(tx, summary_csv)
    bgf, out["bgnbd"] = bg_family_section(BetaGeoFitter, "BetaGeoFitter", x, t_x, T)
    _, out["mbgnbd"] = bg_family_section(ModifiedBetaGeoFitter, "ModifiedBetaGeoFitter", x, t_x, T)
    _, out["paretonbd"] = pareto_section(x, t_x, T)
    out["bgbb"] = bgbb_section(donations_csv)
    out["gammagamma"] = gammagamma_section(with_tx_csv)
    out["calibration_holdout"] = calibration_holdout_section(tx)

    fixtures_dir = os.path.join(tests_dir, "fixtures")
    os.makedirs(fixtures_dir, exist_ok=True)
    path = os.path.join(fixtures_dir, "lifetimes.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, allow_nan=False)
        f.write("\n")

    # ------------------------------------------------------------------ human summary
    def fmt(d):
        return ", ".join(f"{k}={v:.6g}" for k, v in d.items())

    print(f"lifetimes {out['versions']['lifetimes']}  numpy {np.__version__}  scipy {out['versions']['scipy']}  "
          f"pandas {pd.__version__}  python {platform.python_version()}")
    rs = out["rfm_sample"]
    print(f"rfm_sample      : {rs['n_customers']} customers, sum x={rs['sum_frequency']:.0f}, "
          f"mismatches vs csv={rs['check_vs_cdnow_customers_summary_csv']['mismatch_count']}")
    for key, label in (("bgnbd", "BG/NBD"), ("mbgnbd", "MBG/NBD"), ("paretonbd", "Pareto/NBD"), ("bgbb", "BG/BB"),
                       ("gammagamma", "Gamma-Gamma")):
        sec = out[key]
        print(f"{label:<16}: {fmt(sec['params'])}; LL={sec['log_likelihood_total']:.4f}")
    gg = out["gammagamma"]
    print(f"CLV BG/NBD      : {fmt(gg['clv_transaction_model']['params'])}; "
          f"first CLV={gg['customers'][0]['customer_lifetime_value']:.6f}; recompute diff={gg['clv_max_abs_diff_of_independent_recomputation']:.3g}")
    ch = out["calibration_holdout"]
    print(f"cal/holdout     : {ch['n_customers']} customers, sums {fmt(ch['sums'])}")
    nulls = [n for k in ("bgnbd", "mbgnbd", "paretonbd", "bgbb", "gammagamma") for n in out[k]["notes"]
             if "null" in n and ("returned" in n or "raised" in n or "failed" in n)]
    print(f"null values     : {len(nulls)}")
    for n in nulls:
        print(f"  - {n}")
    print(f"wrote {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
