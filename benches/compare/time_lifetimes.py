#!/usr/bin/env python3
"""Time lifetimes 0.11.3 on the full CDNOW log, for the benchmark table.

    benches/compare/setup-venv.sh && benches/compare/.venv/bin/python benches/compare/time_lifetimes.py

Times (time.perf_counter, best of 3; the Pareto/NBD fit only once if it takes more than 10 s):
  * summary_data_from_transaction_data on examples/data/CDNOW_master.txt (69,659 transactions,
    23,570 customers), freq='D', observation_period_end='1998-06-30', on an already parsed frame
    (dates already datetime64), without and with a monetary column;
  * BetaGeoFitter().fit and ParetoNBDFitter().fit on that summary (recency and T in weeks).
Reading and parsing the text file is timed separately and is not part of the summary's time.
Prints a table and writes benches/compare/lifetimes_timings.json.
"""

import importlib.metadata as md
import json
import os
import platform
import time

import numpy as np
import pandas as pd

from lifetimes import BetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MASTER = os.path.join(REPO, "examples", "data", "CDNOW_master.txt")
OUT = os.path.join(HERE, "lifetimes_timings.json")
REPEATS = 3
SLOW_S = 10.0
PARETO_SEED = 0


def read_master():
    tx = pd.read_csv(
        MASTER,
        sep=r"\s+",
        dtype={"customer_id": int, "date": str, "number_of_cds": int, "dollar_value": float},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


def timed(fn, repeats=REPEATS, once_if_over=None):
    """Best wall time of `repeats` runs (one run if the first exceeds once_if_over)."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if once_if_over is not None and times[0] > once_if_over:
            break
    return min(times), times, result


def summarize(tx, monetary):
    return summary_data_from_transaction_data(
        tx,
        "customer_id",
        "date",
        monetary_value_col="dollar_value" if monetary else None,
        freq="D",
        observation_period_end="1998-06-30",
    )


def main():
    load_before = os.getloadavg()
    rows = []

    best, runs, tx = timed(read_master)
    rows.append(("read + parse CDNOW_master.txt (pandas.read_csv, to_datetime)", best, runs, {}))

    best, runs, summ = timed(lambda: summarize(tx, monetary=False))
    rows.append(("summary_data_from_transaction_data, master, freq='D'", best, runs,
                 {"customers": int(len(summ)), "sum_frequency": float(summ["frequency"].sum())}))

    best, runs, summ_m = timed(lambda: summarize(tx, monetary=True))
    rows.append(("summary_data_from_transaction_data, master, freq='D', with monetary_value", best, runs,
                 {"customers": int(len(summ_m)), "sum_monetary_value": float(summ_m["monetary_value"].sum())}))

    x = summ["frequency"]
    t_x = summ["recency"] / 7.0
    T = summ["T"] / 7.0

    best, runs, bgf = timed(lambda: BetaGeoFitter(penalizer_coef=0.0).fit(x, t_x, T))
    bg_params = {k: float(v) for k, v in bgf.params_.items()}
    bg_ll = -float(BetaGeoFitter._negative_log_likelihood(
        np.log(bgf.params_[["r", "alpha", "a", "b"]].values), x.to_numpy(int), t_x.to_numpy(), T.to_numpy(),
        np.ones(len(x), dtype=int), 0.0)) * len(x)
    rows.append(("BetaGeoFitter.fit, master summary (weeks)", best, runs,
                 {"params": bg_params, "log_likelihood_total": bg_ll}))

    def fit_pareto():
        np.random.seed(PARETO_SEED)
        return ParetoNBDFitter(penalizer_coef=0.0).fit(x, t_x, T)

    best, runs, pnf = timed(fit_pareto, once_if_over=SLOW_S)
    pn_params = {k: float(v) for k, v in pnf.params_.items()}
    pn_ll = -float(ParetoNBDFitter._negative_log_likelihood(
        pnf.params_[["r", "alpha", "s", "beta"]].values, x.to_numpy(int), t_x.to_numpy(), T.to_numpy(),
        np.ones(len(x), dtype=np.int64), 0.0))
    rows.append(("ParetoNBDFitter.fit, master summary (weeks)", best, runs,
                 {"params": pn_params, "log_likelihood_total": pn_ll,
                  "fit": f"lifetimes defaults (Nelder-Mead, tol=1e-4, maxiter=2000), np.random.seed({PARETO_SEED})"}))

    def v(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    try:
        from threadpoolctl import threadpool_info  # optional
        blas = threadpool_info()
    except Exception:
        blas = None
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                                          "OPENBLAS_NUM_THREADS") if os.environ.get(k) is not None}
    out = {
        "about": "Wall times of lifetimes 0.11.3 on the full CDNOW log; produced by benches/compare/time_lifetimes.py.",
        "method": (f"time.perf_counter around one call, best of {REPEATS} runs in one process "
                   f"(Pareto/NBD: one run if the first exceeds {SLOW_S:.0f} s); seconds."),
        "data": {"file": "examples/data/CDNOW_master.txt", "transactions": int(len(tx)),
                 "customers": int(len(summ)), "observation_period_end": "1998-06-30", "freq": "D",
                 "fit_units": "recency and T in weeks (days / 7)"},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "env": env, "blas": blas,
                    "loadavg_1_5_15_before": list(load_before), "loadavg_1_5_15_after": list(os.getloadavg())},
        "versions": {"lifetimes": v("lifetimes"), "numpy": np.__version__, "scipy": v("scipy"),
                     "pandas": pd.__version__, "autograd": v("autograd")},
        "results": [
            {"what": what, "best_s": best, "runs_s": runs, **extra} for (what, best, runs, extra) in rows
        ],
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    w = max(len(r[0]) for r in rows)
    print(f"lifetimes {v('lifetimes')}, numpy {np.__version__}, scipy {v('scipy')}, pandas {pd.__version__}, "
          f"python {platform.python_version()}; {len(tx)} transactions, {len(summ)} customers")
    print(f"| {'operation':<{w}} | {'best (s)':>9} | runs |")
    print(f"|{'-' * (w + 2)}|{'-' * 11}|------|")
    for what, best, runs, _ in rows:
        print(f"| {what:<{w}} | {best:>9.4f} | {len(runs):>4} |")
    print(f"BG/NBD params   : {', '.join(f'{k}={v:.6g}' for k, v in bg_params.items())}; LL={bg_ll:.4f}")
    print(f"Pareto/NBD params: {', '.join(f'{k}={v:.6g}' for k, v in pn_params.items())}; LL={pn_ll:.4f}")
    print(f"wrote {os.path.relpath(OUT, REPO)}")


if __name__ == "__main__":
    main()
