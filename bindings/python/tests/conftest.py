"""Shared data for the crmkit Python tests: the repository's CDNOW logs and lifetimes fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "data"
CLV_TESTS = REPO / "crates" / "crmkit-clv" / "tests"


def read_cdnow(name: str) -> pd.DataFrame:
    """A CDNOW transaction log with parsed dates (``customer_id``, ``date``, ``cds``, ``dollars``;
    the sample also has ``sample_id``)."""
    path = DATA / name
    first = path.read_text().split("\n", 1)[0].split()
    names = (
        ["customer_id", "sample_id", "date", "cds", "dollars"]
        if len(first) == 5
        else ["customer_id", "date", "cds", "dollars"]
    )
    header = 0 if not first[0].isdigit() else None
    df = pd.read_csv(path, sep=r"\s+", header=None, skiprows=1 if header == 0 else 0,
                     names=names, dtype={"date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


@pytest.fixture(scope="session")
def cdnow_master() -> pd.DataFrame:
    return read_cdnow("CDNOW_master.txt")


@pytest.fixture(scope="session")
def cdnow_sample() -> pd.DataFrame:
    return read_cdnow("CDNOW_sample.txt")


@pytest.fixture(scope="session")
def fixtures() -> Dict[str, Any]:
    return json.loads((CLV_TESTS / "fixtures" / "lifetimes.json").read_text())


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(CLV_TESTS / "data" / "cdnow_customers_summary.csv", index_col="ID")


@pytest.fixture(scope="session")
def cdnow_summary_spend() -> pd.DataFrame:
    return pd.read_csv(
        CLV_TESTS / "data" / "cdnow_customers_summary_with_transactions.csv", index_col="ID"
    )


@pytest.fixture(scope="session")
def donations() -> pd.DataFrame:
    return pd.read_csv(CLV_TESTS / "data" / "donations.csv")
