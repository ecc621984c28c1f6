"""The CRM API end to end on a SQLite file."""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crmkit
from crmkit import Crm, Money, NewInteraction

from conftest import DATA

UTC = timezone.utc


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2024, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


def test_customers_interactions_and_summary_survive_reopening(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with Crm(db) as crm:
        assert crm.path == str(db)
        crm.define_field("seats", "integer")
        crm.define_field("renewal", "date")
        crm.define_field("budget", "decimal")
        ada = crm.create_customer(
            "Ada Lovelace",
            email=" Ada@Example.org ",
            phone="+44 20 7946 0018",
            external_ids={"billing": "C-1"},
            tags=["newsletter", "vip"],
            attributes={"seats": 40, "renewal": "2025-03-01", "budget": Decimal("1200.50")},
            consents=[("marketing", "email", "granted")],
        )
        assert ada.email == "ada@example.org"
        assert ada.identities == [
            "email:ada@example.org",
            "ext:billing:C-1",
            "phone:+442079460018",
        ]
        assert ada.attributes == {
            "budget": Decimal("1200.50"),
            "renewal": date(2025, 3, 1),
            "seats": 40,
        }
        assert ada.tags == ["newsletter", "vip"]
        assert ada.consent("marketing", "email") == "granted"
        assert ada.consent("marketing", "sms") == "unknown"
        assert (ada.stage, ada.kind, ada.revision) == ("prospect", "person", 1)
        assert isinstance(ada.id, uuid.UUID)

        ids = crm.record_all(
            [
                NewInteraction.purchase(ada, at(0), "49.90", "EUR", idempotency_key="o-1"),
                NewInteraction.purchase(ada.id, at(3), Decimal("0.10"), "EUR"),
                NewInteraction(ada, at(5), "call", direction="inbound", duration_secs=300,
                               outcome="renewed", channel="phone"),
                NewInteraction(ada, at(6), "note", text="prefers e-mail",
                               properties={"source": "crm", "score": 3, "ratio": 0.5}),
            ]
        )
        assert ids == [1, 2, 3, 4]
        # The same idempotency key again writes nothing.
        assert crm.record(NewInteraction.purchase(ada, at(0), "49.90", "EUR", idempotency_key="o-1")) is None

        updated = crm.update_customer(
            ada, stage="customer", add_tags=["enterprise"], remove_tags=["newsletter"],
            attributes={"seats": 42, "budget": None},
        )
        assert (updated.stage, updated.revision) == ("customer", 2)
        assert updated.tags == ["enterprise", "vip"]
        assert updated.attributes == {"renewal": date(2025, 3, 1), "seats": 42}
        assert [h["to"] for h in updated.stage_history] == ["prospect", "customer"]
        # Nothing changes: nothing is written.
        assert crm.update_customer(ada, stage="customer").revision == 2

        crm.create_customer("Initech", kind="organisation", email="it@initech.example",
                            stage="lead", tags=["vip"])

    with Crm.open(db) as crm:
        ada2 = crm.lookup("ADA@example.org")
        assert ada2 == crm.customer(str(ada.id)) == crm.find("email:ada@example.org")
        assert crm.lookup("ext:billing:C-1").id == ada.id
        assert crm.find("bo@example.org") is None
        its = crm.interactions(ada.id)
        assert [i.kind for i in its] == ["purchase", "purchase", "call", "note"]
        assert its[0].amount == Money("49.90", "EUR")
        assert its[0].amount is not None and its[0].amount.amount == Decimal("49.90")
        assert its[0].idempotency_key == "o-1"
        assert its[2].details == {"direction": "inbound", "duration_secs": 300, "outcome": "renewed"}
        assert its[2].channel == "phone"
        assert its[3].properties == {"source": "crm", "score": 3, "ratio": 0.5}
        assert its[0].occurred_at == at(0)
        window = crm.interactions(ada, start=at(3), end=at(6))
        assert [i.id for i in window] == [2, 3]

        s = crm.summary(top=5)
        assert (s.customers, s.interactions, s.purchases, s.purchasing_customers) == (2, 4, 2, 1)
        assert [str(m) for m in s.revenue] == ["50.00 EUR"]
        assert s.revenue[0].amount == Decimal("50.00")
        assert (s.first_purchase, s.last_purchase) == (at(0), at(3))
        assert s.top_customers[0].customer.name == "Ada Lovelace"
        assert s.top_customers[0].purchases == 2

        page = crm.list_customers(tag="vip", limit=1)
        assert len(page) == 1 and page.next is not None
        rest = crm.list_customers(tag="vip", after=page.next)
        assert {c.name for c in page.items + rest.items} == {"Ada Lovelace", "Initech"}
        assert [c.name for c in crm.list_customers(stage="lead").items] == ["Initech"]
        assert [c.name for c in crm.list_customers(name_contains="lovel").items] == ["Ada Lovelace"]

        log = crm.audit_log(ada)
        fields = [e.field for e in log]
        assert fields[0] == "customer" and "stage" in fields
        stage = next(e for e in log if e.field == "stage")
        assert (stage.old, stage.new) == ("prospect", "customer")
        assert crm.fields() == [("budget", "decimal"), ("renewal", "date"), ("seats", "integer")]
    assert crm.closed
    with pytest.raises(crmkit.CrmError, match="closed"):
        crm.summary()


def test_import_files_and_frames_is_idempotent_and_names_bad_rows(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "email,date,total,currency\n"
        "ada@example.org,2024-01-05,19.99,EUR\n"
        "bo@example.org,2024-01-06T10:00:00Z,5.00,EUR\n"
    )
    columns = {"customer": "email", "timestamp": "date", "amount": "total", "currency": "currency"}
    with Crm(tmp_path / "crm.db") as crm:
        seen = []
        r = crm.import_interactions(csv, columns=columns, create_customers=True, progress=seen.append)
        assert (r.rows_read, r.interactions_written, r.customers_created) == (2, 2, 2)
        assert seen and seen[-1]["rows_committed"] == 2
        again = crm.import_interactions(str(csv), columns=columns, create_customers=True)
        assert (again.interactions_written, again.duplicates_skipped) == (0, 2)

        frame = pd.DataFrame(
            {
                "email": ["ada@example.org", "cy@example.org"],
                "date": pd.to_datetime(["2024-02-01 12:00", "2024-02-02"]).tz_localize("UTC"),
                "total": [Decimal("10.10"), Decimal("3.00")],
                "currency": ["EUR", "EUR"],
            }
        )
        r = crm.import_interactions(frame, columns=columns, create_customers=True)
        assert (r.interactions_written, r.customers_created) == (2, 1)
        assert crm.import_interactions(frame, columns=columns, create_customers=True).duplicates_skipped == 2

        plf = pl.DataFrame(
            {"email": ["bo@example.org"], "date": [datetime(2024, 3, 1, 8, tzinfo=UTC)],
             "total": [7.25], "currency": ["EUR"]}
        )
        assert crm.import_interactions(plf, columns=columns).interactions_written == 1
        table = pa.table({"email": ["cy@example.org"], "date": pa.array([date(2024, 3, 2)]),
                          "total": pa.array([Decimal("1.01")], type=pa.decimal128(10, 2)),
                          "currency": ["EUR"]})
        assert crm.import_interactions(table, columns=columns).interactions_written == 1

        s = crm.summary()
        assert [str(m) for m in s.revenue] == ["46.35 EUR"]
        bo = crm.lookup("bo@example.org")
        assert [i.amount for i in crm.interactions(bo)] == [Money("5.00", "EUR"), Money("7.25", "EUR")]

        bad = pd.DataFrame({"email": ["ada@example.org", "ada@example.org"],
                            "date": pd.to_datetime(["2024-04-01", "2024-04-02"]).tz_localize("UTC"),
                            "total": [1.0, float("nan")], "currency": ["EUR", "EUR"]})
        with pytest.raises(crmkit.ValidationError, match=r"DataFrame row 1, column `total`"):
            crm.import_interactions(bad, columns=columns)
        naive = bad.assign(date=bad["date"].dt.tz_localize(None))
        with pytest.raises(crmkit.ValidationError, match=r"column `date`: naive timestamps"):
            crm.import_interactions(naive, columns=columns)
        rejects = tmp_path / "rejects.csv"
        r = crm.import_interactions(bad, columns=columns, rejects=rejects)
        assert (r.interactions_written, r.rejected) == (1, 1)
        assert "total" in rejects.read_text()

        people = pd.DataFrame({"email": ["dee@example.org", "ada@example.org"],
                               "name": ["Dee", "Ada L."], "seats": ["3", "12"]})
        crm.define_field("seats", "integer")
        r = crm.import_customers(people, columns={"key": "email", "name": "name"},
                                 attributes={"seats": "seats"})
        assert (r.customers_created, r.customers_updated) == (1, 1)
        assert crm.lookup("ada@example.org").attributes == {"seats": 12}


def test_customer_value_on_cdnow(tmp_path: Path) -> None:
    with Crm(tmp_path / "cdnow.db") as crm:
        r = crm.import_interactions(
            DATA / "CDNOW_sample.txt",
            columns={"customer": "#1", "timestamp": "#3", "amount": "#5"},
            has_header=False,
            customer_key="ext:cdnow",
            currency="USD",
            create_customers=True,
        )
        assert (r.rows_read, r.customers_created) == (6919, 2357)
        report = crm.fit_value("1997-09-30", time_unit="week")
        assert report.model == "bgnbd" and report.version == 1
        params = dict(report.parameters)
        # FHL 2005 on the CDNOW sample (39 weeks): r 0.243, alpha 4.414, a 0.793, b 2.426.
        assert round(params["r"], 3) == 0.243
        assert round(params["alpha"], 2) == 4.41
        assert round(params["a"], 2) == 0.79
        assert round(params["b"], 2) == 2.43
        assert report.purchase_fit.converged and report.purchase_fit.boundary == []
        assert report.spend_parameters is not None
        assert len(report.scores) == 2357
        model = crm.value_models()
        assert model is not None and model.version == 1 and model.currency == "USD"
        first = crm.lookup("ext:cdnow:00004")  # sample id 1
        e = crm.explain_value(first)
        assert e.score.frequency == 2.0
        assert "P(alive)" in e.text and e.score.clv is not None and e.score.clv > 0
        check = crm.holdout_check("1997-09-30", "1998-06-30", time_unit="week")
        assert check.customers == 2357
        assert check.metrics.sum_actual == 1882.0
        # lifetimes' BG/NBD forecast of the 39-week holdout on the same data: 1,653.42.
        assert abs(check.metrics.sum_predicted - 1653.42) < 0.05
        cols = crm.purchases()
        assert len(cols["customer_index"]) == len(cols["amount"]) == 6919
        assert len(cols["customers"]) == 2357 and cols["currencies"] == ["USD"]
        assert round(float(cols["amount"].sum()), 2) == 244_091.94
        with pytest.raises(crmkit.NotFoundError):
            crm.explain_value(crm.create_customer("No Purchases"))


def test_threads_share_one_crm(tmp_path: Path) -> None:
    crm = Crm(tmp_path / "threads.db")
    errors = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                c = crm.create_customer(f"P{k}-{i}", email=f"p{k}-{i}@example.org")
                crm.record(NewInteraction.purchase(c, at(i), "1.00", "EUR"))
        except Exception as e:  # pragma: no cover - shows up in the assert below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = crm.summary()
    assert (s.customers, s.purchases, str(s.revenue[0])) == (80, 80, "80.00 EUR")
    crm.close()


def test_memory_stores() -> None:
    for crm in (Crm(), Crm(":memory:"), Crm.open_in_memory(), Crm.in_memory()):
        c = crm.create_customer("Bo", external_ids=[("shop", "17")])
        assert crm.lookup("ext:shop:17") == c
        assert crm.path is None
