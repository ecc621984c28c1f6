#!/usr/bin/env python3
"""Time the Python peers of crmkit-clv (lifetimes, polars, duckdb) on the workloads of
benches/examples/clv_timings.rs, on the same data, for benches/compare/table.py.

    benches/compare/setup-venv.sh && benches/compare/.venv/bin/python benches/compare/time_peers.py

Prints JSON and writes benches/compare/peer_timings.json. Every time is the best of 3
time.perf_counter runs of one call in one process (one run when the first takes more than 10 s);
building the input data is never timed. Workloads (same keys as the Rust program's, without `_s`):

  rfm_summary_10m      RFM summary of the synthetic 10M-row log (below): lifetimes
                       summary_data_from_transaction_data(freq='D', freq_multiplier=7, monetary),
                       polars (lazy query, default threads and POLARS_MAX_THREADS=1 in a
                       subprocess), duckdb SQL with SET threads=1 (and with default threads).
                       The summaries' column sums are recorded and must agree.
  rfm_summary_cdnow_master   the same three on CDNOW_master.txt (observation end 1998-06-30).
  bgnbd_fit_cdnow_master, paretonbd_fit_cdnow_master   lifetimes fits, as time_lifetimes.py.
  clv_12_months_1m     lifetimes GammaGammaFitter(p=6.25, q=3.74, v=15.44).customer_lifetime_value
                       with a BetaGeoFitter(r=0.243, alpha=4.414, a=0.793, b=2.426), both with
                       params_ set (no fit), time=12, discount_rate=0.01, freq='W', on the 1M
                       customers of the synthetic summary.
  bgnbd_no_dropout_1m  BetaGeoFitter().fit on 1M customers with x = 20 + i mod 30,
                       T = 40 + i mod 13, t_x = T; in a subprocess with a 120 s timeout, recording
                       the time, the exception, or the timeout.

The synthetic log (benches/examples/clv_timings.rs, `synthetic`): row i in 0..10,000,000 belongs
to customer (i * 7919) mod 1,000,000, on day (i * 104729) mod 540 after 2023-01-01 UTC (a
microsecond timestamp at midnight), spending ((i * 31) mod 10000) / 100 + 1. The rows are not
sorted. The observation end is 2023-01-01 + 540 days. Recency and T are in weeks (days / 7).

Options: --skip-lifetimes-10m (skip the slow lifetimes summary of the 10M rows),
--out PATH (default benches/compare/peer_timings.json).
"""

import argparse
import datetime as dt
import importlib.metadata as md
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(HERE, "peer_timings.json")
sys.path.insert(0, HERE)

REPEATS = 3
SLOW_S = 10.0
NO_DROPOUT_TIMEOUT_S = 120.0
# lifetimes' summary of the 10M rows runs in a subprocess; past this it is stopped and the
# summary is timed on 1M rows instead (100,000 customers, 10 rows each, same formulas).
LIFETIMES_10M_TIMEOUT_S = 240.0

ROWS = 10_000_000
CUSTOMERS = 1_000_000
SYNTH_DAYS = 540
SYNTH_START = np.datetime64("2023-01-01T00:00:00", "us")
SYNTH_END = SYNTH_START + np.timedelta64(SYNTH_DAYS, "D")  # 2024-06-24
SYNTH_END_DAY = int(SYNTH_END.astype("datetime64[D]").astype(np.int64))  # days since 1970-01-01
CDNOW_END = "1998-06-30"
CDNOW_END_DAY = int(np.datetime64(CDNOW_END, "D").astype(np.int64))

BG_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG_PARAMS = {"p": 6.25, "q": 3.74, "v": 15.44}


# ---------------------------------------------------------------------------------------------
# data


def synthetic(rows=ROWS, customers=CUSTOMERS):
    """The Rust program's synthetic log as numpy columns: customer (uint32), timestamp
    (datetime64[us], UTC), amount (float64). Vectorised; the row order is the formula's."""
    i = np.arange(rows, dtype=np.int64)
    c = ((i * 7919) % customers).astype(np.uint32)
    ts = SYNTH_START + ((i * 104_729) % SYNTH_DAYS) * np.timedelta64(1, "D").astype("timedelta64[us]")
    a = ((i * 31) % 10_000).astype(np.float64) / 100.0 + 1.0
    return c, ts, a


def cdnow_columns():
    from time_lifetimes import read_master

    tx = read_master()
    c = tx["customer_id"].to_numpy(np.uint32)
    ts = tx["date"].to_numpy().astype("datetime64[us]")
    a = tx["dollar_value"].to_numpy(np.float64)
    return tx, c, ts, a


# ---------------------------------------------------------------------------------------------
# timing


def timed(fn, repeats=REPEATS, once_if_over=SLOW_S):
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


def entry(best, runs, **extra):
    return {"best_s": best, "runs_s": runs, **extra}


def sums(frequency, recency, T, monetary):
    """Column sums of a summary (math.fsum: exact, so independent of the row order)."""
    return {
        "customers": int(len(frequency)),
        "sum_frequency": math.fsum(np.asarray(frequency, dtype=np.float64)),
        "sum_recency_weeks": math.fsum(np.asarray(recency, dtype=np.float64)),
        "sum_T_weeks": math.fsum(np.asarray(T, dtype=np.float64)),
        "sum_monetary": math.fsum(np.asarray(monetary, dtype=np.float64)),
    }


def agreement(by_peer):
    """Largest relative difference of each sum between the peers (None if only one)."""
    peers = {k: v for k, v in by_peer.items() if v is not None}
    out = {}
    if len(peers) < 2:
        return out
    for key in next(iter(peers.values())):
        vals = [p[key] for p in peers.values()]
        hi, lo = max(vals), min(vals)
        scale = max(abs(hi), abs(lo), 1e-300)
        out[key] = (hi - lo) / scale
    return out


# ---------------------------------------------------------------------------------------------
# the three summaries


def polars_frame(c, ts, a):
    import polars as pl

    return pl.DataFrame({"customer": c, "ts": ts, "amount": a})


def polars_summary(df, end_day):
    """Lazy polars: sum each customer's day, then per customer count/min/max days, total spend
    and the first day's spend. monetary = (total - first day) / (days - 1), 0 for one day."""
    import polars as pl

    n = pl.col("days")
    return (
        df.lazy()
        .group_by("customer", pl.col("ts").dt.epoch("d").alias("day"))
        .agg(pl.col("amount").sum())
        .group_by("customer")
        .agg(
            days=pl.len(),
            first=pl.col("day").min(),
            last=pl.col("day").max(),
            total=pl.col("amount").sum(),
            # min_by is much faster than .get(arg_min()) in polars 2.1 (2.7 s against 5.6 s here)
            first_spend=(pl.col("amount").min_by("day") if hasattr(pl.Expr, "min_by")
                         else pl.col("amount").sort_by("day").first()),
        )
        .select(
            "customer",
            frequency=n - 1,
            recency=(pl.col("last") - pl.col("first")) / 7.0,
            T=(end_day - pl.col("first")) / 7.0,
            monetary=pl.when(n > 1).then((pl.col("total") - pl.col("first_spend")) / (n - 1)).otherwise(0.0),
        )
        .collect()
    )


def polars_sums(out):
    return sums(out["frequency"].to_numpy(), out["recency"].to_numpy(), out["T"].to_numpy(),
                out["monetary"].to_numpy())


DUCKDB_SQL = """
WITH per_day AS (
    SELECT customer, CAST(ts AS DATE) AS day, SUM(amount) AS spend
    FROM {table}
    GROUP BY customer, day
)
SELECT customer,
       COUNT(*) - 1 AS frequency,
       (MAX(day) - MIN(day)) / 7.0 AS recency,
       (DATE '{end}' - MIN(day)) / 7.0 AS T,
       CASE WHEN COUNT(*) > 1
            THEN (SUM(spend) - ARG_MIN(spend, day)) / (COUNT(*) - 1)
            ELSE 0.0 END AS monetary
FROM per_day
GROUP BY customer
"""


def duckdb_table(c, ts, a, name):
    """An in-memory duckdb connection with the columns loaded as a native table (TIMESTAMP, µs)."""
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    frame = pd.DataFrame({"customer": c, "ts": ts.astype("datetime64[ns]"), "amount": a})
    con.register("frame_view", frame)
    con.execute(f"CREATE TABLE {name} AS SELECT customer, CAST(ts AS TIMESTAMP) AS ts, amount FROM frame_view")
    con.unregister("frame_view")
    return con


def duckdb_summary(con, table, end):
    return con.execute(DUCKDB_SQL.format(table=table, end=end)).fetchnumpy()


def duckdb_sums(out):
    return sums(out["frequency"], out["recency"], out["T"], out["monetary"])


def lifetimes_frame(c, ts, a):
    import pandas as pd

    return pd.DataFrame({"customer": c, "date": ts.astype("datetime64[ns]"), "amount": a})


def lifetimes_summary(frame, end):
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        frame, "customer", "date", monetary_value_col="amount", observation_period_end=end,
        freq="D", freq_multiplier=7,
    )


def lifetimes_sums(out):
    return sums(out["frequency"].to_numpy(), out["recency"].to_numpy(), out["T"].to_numpy(),
                out["monetary_value"].to_numpy())


# ---------------------------------------------------------------------------------------------
# workers (run in subprocesses)


def worker_polars_1_thread():
    """POLARS_MAX_THREADS=1 is read when polars starts, hence a process of its own."""
    import polars as pl

    out = {"thread_pool_size": pl.thread_pool_size()}
    df = polars_frame(*synthetic())
    best, runs, res = timed(lambda: polars_summary(df, SYNTH_END_DAY))
    out["rfm_summary_10m"] = entry(best, runs, sums=polars_sums(res))
    _, c, ts, a = cdnow_columns()
    df = polars_frame(c, ts, a)
    best, runs, res = timed(lambda: polars_summary(df, CDNOW_END_DAY))
    out["rfm_summary_cdnow_master"] = entry(best, runs, sums=polars_sums(res))
    return out


def worker_lifetimes_summary(rows, customers):
    frame = lifetimes_frame(*synthetic(rows, customers))
    end = str(SYNTH_END.astype("datetime64[D]"))
    best, runs, res = timed(lambda: lifetimes_summary(frame, end))
    return entry(best, runs, rows=rows, customers=customers, sums=lifetimes_sums(res))


def worker_no_dropout():
    import pandas as pd
    from lifetimes import BetaGeoFitter

    n = 1_000_000
    i = np.arange(n)
    x = pd.Series(20.0 + (i % 30))
    T = pd.Series(40.0 + (i % 13))
    t_x = T.copy()
    t0 = time.perf_counter()
    try:
        bgf = BetaGeoFitter().fit(x, t_x, T)
    except Exception as e:  # noqa: BLE001 - the failure is the result
        return {"outcome": "exception", "elapsed_s": time.perf_counter() - t0,
                "exception": type(e).__name__, "message": str(e).strip()}
    elapsed = time.perf_counter() - t0
    return {"outcome": "fitted", "elapsed_s": elapsed, "best_s": elapsed, "runs_s": [elapsed],
            "params": {k: float(v) for k, v in bgf.params_.items()}}


WORKERS = {
    "polars_1_thread": worker_polars_1_thread,
    "no_dropout": worker_no_dropout,
}


def run_worker(args, timeout, env_extra=None):
    """Run this script with --worker ARGS in a subprocess; its last stdout line is JSON."""
    env = dict(os.environ, **(env_extra or {}))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *args]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "timeout_s": timeout, "elapsed_s": time.perf_counter() - t0}
    if p.returncode != 0:
        tail = (p.stderr or "").strip().splitlines()[-3:]
        return {"outcome": "crashed", "returncode": p.returncode, "stderr_tail": tail,
                "elapsed_s": time.perf_counter() - t0}
    return json.loads(p.stdout.strip().splitlines()[-1])


def log(msg):
    print(f"[time_peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# main


def machine_info(load_before):
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpus": os.cpu_count(), "cpu_model": model or platform.processor() or platform.machine(),
        "memory_gib": mem_gib, "platform": platform.platform(), "python": platform.python_version(),
        "loadavg_1_5_15_before": list(load_before), "loadavg_1_5_15_after": list(os.getloadavg()),
    }


def versions():
    def v(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "numpy": np.__version__, "polars": v("polars"),
            "duckdb": v("duckdb"), "lifetimes": v("lifetimes"), "pandas": v("pandas"), "scipy": v("scipy"),
            "autograd": v("autograd")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--skip-lifetimes-10m", action="store_true")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    if args.worker:
        name, *rest = args.worker
        if name == "lifetimes_summary":
            res = worker_lifetimes_summary(int(rest[0]), int(rest[1]))
        else:
            res = WORKERS[name]()
        print(json.dumps(res))
        return

    import duckdb
    import pandas as pd
    import polars as pl
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    from time_lifetimes import PARETO_SEED, summarize

    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    W = {}

    # ---- rfm_summary_10m ----------------------------------------------------------------------
    log("building the synthetic 10M-row log")
    c, ts, a = synthetic()
    w = {"data": {"rows": ROWS, "customers": CUSTOMERS, "days": SYNTH_DAYS, "start": "2023-01-01",
                  "observation_end": str(SYNTH_END.astype("datetime64[D]")), "sorted": False,
                  "units": "recency and T in weeks (days / 7)"},
         "peers": {}, "sums": {}}

    log("polars (default threads), 10M")
    df = polars_frame(c, ts, a)
    best, runs, pl_out = timed(lambda: polars_summary(df, SYNTH_END_DAY))
    w["peers"]["polars"] = entry(best, runs, threads=pl.thread_pool_size(), how="lazy query, collect()")
    w["sums"]["polars"] = polars_sums(pl_out)
    del df

    log("duckdb, 10M")
    con = duckdb_table(c, ts, a, "tx")
    con.execute("SET threads=1")
    best, runs, dd_out = timed(lambda: duckdb_summary(con, "tx", w["data"]["observation_end"]))
    w["peers"]["duckdb_1_thread"] = entry(best, runs, threads=1, how="SQL on a native in-memory table, fetchnumpy()")
    w["sums"]["duckdb_1_thread"] = duckdb_sums(dd_out)
    con.execute("RESET threads")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    best, runs, dd_out2 = timed(lambda: duckdb_summary(con, "tx", w["data"]["observation_end"]))
    w["peers"]["duckdb"] = entry(best, runs, threads=int(threads), how="same query, default threads")
    w["sums"]["duckdb"] = duckdb_sums(dd_out2)
    con.close()
    del con, dd_out, dd_out2

    log("polars with POLARS_MAX_THREADS=1 (subprocess), 10M and CDNOW")
    p1 = run_worker(["polars_1_thread"], timeout=600, env_extra={"POLARS_MAX_THREADS": "1"})
    if "rfm_summary_10m" in p1:
        w["peers"]["polars_1_thread"] = {**p1["rfm_summary_10m"], "threads": p1["thread_pool_size"],
                                         "how": "same query, POLARS_MAX_THREADS=1 in a subprocess"}
        w["sums"]["polars_1_thread"] = p1["rfm_summary_10m"].pop("sums")
        w["peers"]["polars_1_thread"].pop("sums", None)
    else:
        w["peers"]["polars_1_thread"] = p1

    if args.skip_lifetimes_10m:
        w["peers"]["lifetimes"] = {"outcome": "skipped (--skip-lifetimes-10m)"}
    else:
        log(f"lifetimes summary, 10M (subprocess, timeout {LIFETIMES_10M_TIMEOUT_S:.0f} s)")
        lt = run_worker(["lifetimes_summary", str(ROWS), str(CUSTOMERS)], timeout=LIFETIMES_10M_TIMEOUT_S)
        if "best_s" not in lt:
            log(f"lifetimes on 10M rows: {lt.get('outcome')}; timing it on 1M rows (100,000 customers)")
            small = run_worker(["lifetimes_summary", str(1_000_000), str(100_000)], timeout=600)
            # the polars summary of the same 1M rows, to check lifetimes against
            df_small = polars_frame(*synthetic(1_000_000, 100_000))
            small["check_polars_sums_same_rows"] = polars_sums(polars_summary(df_small, SYNTH_END_DAY))
            small["note"] = (f"lifetimes on the 10M rows: {lt.get('outcome')} after {lt.get('elapsed_s', 0):.0f} s; "
                             "timed on rows 0..1,000,000 with 100,000 customers (10 rows each) instead")
            small["attempt_10m"] = lt
            lt = small
        if "sums" in lt:
            if lt["rows"] == ROWS:
                w["sums"]["lifetimes"] = lt.pop("sums")
            else:
                w["sums_lifetimes_1m"] = {"lifetimes": lt.pop("sums"),
                                          "polars": lt.pop("check_polars_sums_same_rows")}
                w["agreement_lifetimes_1m"] = agreement(w["sums_lifetimes_1m"])
        lt["how"] = "summary_data_from_transaction_data(freq='D', freq_multiplier=7, monetary_value_col)"
        w["peers"]["lifetimes"] = lt
    w["agreement_max_rel_diff"] = agreement(w["sums"])
    W["rfm_summary_10m"] = w

    # ---- clv_12_months_1m (on the polars summary, customers in id order) -----------------------
    log("lifetimes CLV, 1M customers")
    s = pl_out.sort("customer")
    frequency = pd.Series(s["frequency"].to_numpy().astype(np.float64))
    recency = pd.Series(s["recency"].to_numpy())
    T = pd.Series(s["T"].to_numpy())
    monetary = pd.Series(s["monetary"].to_numpy())
    del pl_out, s, c, ts, a
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(BG_PARAMS)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # what fit() would set
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(GG_PARAMS)
    best, runs, clv = timed(lambda: ggf.customer_lifetime_value(
        bgf, frequency, recency, T, monetary, time=12, discount_rate=0.01, freq="W"))
    from lifetimes.utils import _customer_lifetime_value
    spend = ggf.conditional_expected_average_profit(frequency, monetary)
    best2, runs2, clv2 = timed(lambda: _customer_lifetime_value(
        bgf, frequency, recency, T, spend, time=12, discount_rate=0.01, freq="W"))
    W["clv_12_months_1m"] = {
        "data": {"customers": int(len(frequency)), "from": "the polars summary of the synthetic 10M-row log",
                 "bg_params": BG_PARAMS, "gg_params": GG_PARAMS, "time_months": 12, "discount_rate": 0.01,
                 "freq": "W"},
        "peers": {
            "lifetimes": entry(best, runs, sum_clv=math.fsum(clv.to_numpy()),
                               how="GammaGammaFitter.customer_lifetime_value(bgf, ...) (includes the "
                                   "Gamma-Gamma expected spend)"),
            "lifetimes_spend_precomputed": entry(best2, runs2, sum_clv=math.fsum(clv2.to_numpy()),
                                                 how="lifetimes.utils._customer_lifetime_value with the "
                                                     "expected spend computed beforehand (as the Rust program)"),
        },
    }
    del frequency, recency, T, monetary, clv, clv2, spend

    # ---- CDNOW master: summary and fits (time_lifetimes.py's logic) -----------------------------
    log("CDNOW master: summaries")
    tx, c, ts, a = cdnow_columns()
    w = {"data": {"file": "examples/data/CDNOW_master.txt", "transactions": int(len(tx)),
                  "observation_end": CDNOW_END, "units": "recency and T in weeks (days / 7)"},
         "peers": {}, "sums": {}}
    best, runs, summ_m = timed(lambda: summarize(tx, monetary=True))
    w["peers"]["lifetimes"] = entry(best, runs, how="summary_data_from_transaction_data(freq='D', monetary_value_col)"
                                                    " as time_lifetimes.py; recency and T divided by 7 afterwards")
    w["sums"]["lifetimes"] = sums(summ_m["frequency"].to_numpy(), summ_m["recency"].to_numpy() / 7.0,
                                  summ_m["T"].to_numpy() / 7.0, summ_m["monetary_value"].to_numpy())
    df = polars_frame(c, ts, a)
    best, runs, res = timed(lambda: polars_summary(df, CDNOW_END_DAY))
    w["peers"]["polars"] = entry(best, runs, threads=pl.thread_pool_size())
    w["sums"]["polars"] = polars_sums(res)
    if "rfm_summary_cdnow_master" in p1:
        w["sums"]["polars_1_thread"] = p1["rfm_summary_cdnow_master"].pop("sums")
        w["peers"]["polars_1_thread"] = {**p1["rfm_summary_cdnow_master"], "threads": p1["thread_pool_size"]}
    con = duckdb_table(c, ts, a, "cdnow")
    con.execute("SET threads=1")
    best, runs, res = timed(lambda: duckdb_summary(con, "cdnow", CDNOW_END))
    w["peers"]["duckdb_1_thread"] = entry(best, runs, threads=1)
    w["sums"]["duckdb_1_thread"] = duckdb_sums(res)
    con.close()
    w["agreement_max_rel_diff"] = agreement(w["sums"])
    W["rfm_summary_cdnow_master"] = w

    x = summ_m["frequency"]
    t_x = summ_m["recency"] / 7.0
    TT = summ_m["T"] / 7.0
    log("CDNOW master: BG/NBD fit")
    best, runs, bgf = timed(lambda: BetaGeoFitter(penalizer_coef=0.0).fit(x, t_x, TT))
    W["bgnbd_fit_cdnow_master"] = {
        "data": {"customers": int(len(x))},
        "peers": {"lifetimes": entry(best, runs, params={k: float(v) for k, v in bgf.params_.items()})},
    }
    log("CDNOW master: Pareto/NBD fit")

    def fit_pareto():
        np.random.seed(PARETO_SEED)
        return ParetoNBDFitter(penalizer_coef=0.0).fit(x, t_x, TT)

    best, runs, pnf = timed(fit_pareto)
    W["paretonbd_fit_cdnow_master"] = {
        "data": {"customers": int(len(x))},
        "peers": {"lifetimes": entry(best, runs, params={k: float(v) for k, v in pnf.params_.items()},
                                     how=f"lifetimes defaults (Nelder-Mead), np.random.seed({PARETO_SEED})")},
    }

    # ---- bgnbd_no_dropout_1m --------------------------------------------------------------------
    log(f"lifetimes BG/NBD fit, 1M no-dropout customers (subprocess, timeout {NO_DROPOUT_TIMEOUT_S:.0f} s)")
    nd = run_worker(["no_dropout"], timeout=NO_DROPOUT_TIMEOUT_S)
    W["bgnbd_no_dropout_1m"] = {
        "data": {"customers": 1_000_000, "frequency": "20 + i mod 30", "T": "40 + i mod 13", "recency": "= T"},
        "peers": {"lifetimes": {**nd, "how": "BetaGeoFitter().fit(x, t_x, T), one run in a subprocess"}},
    }

    out = {
        "about": "Wall times of the Python peers of crmkit-clv; produced by benches/compare/time_peers.py.",
        "generated_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": (f"time.perf_counter around one call, best of {REPEATS} runs in one process (one run if the "
                   f"first exceeds {SLOW_S:.0f} s); seconds; building the input data is not timed."),
        "machine": machine_info(load_before),
        "versions": versions(),
        "workloads": W,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out, indent=2))
    log(f"wrote {os.path.relpath(args.out, REPO)}")


if __name__ == "__main__":
    main()
