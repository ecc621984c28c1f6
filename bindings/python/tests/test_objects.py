"""User-defined objects through ``crmkit.Crm``: types, typed values, queries, updates, history,
events, errors and persistence."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

import crmkit
from crmkit import ConflictError, Crm, NotFoundError, ValidationError

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)

INVOICE_FIELDS = {
    "number": "string",
    "total": "decimal",
    "lines": "integer",
    "paid": "bool",
    "due": "date",
    "sent_at": "datetime",
    "labels": "string_list",
    "customer": "customer",
}


@pytest.fixture
def crm() -> Crm:
    c = Crm(now=NOW)
    yield c
    c.close()


@pytest.fixture
def ada(crm: Crm) -> crmkit.Customer:
    return crm.create_customer("Ada Lovelace", email="ada@example.org")


@pytest.fixture
def invoices(crm: Crm) -> dict:
    return crm.define_object_type(
        "invoice", INVOICE_FIELDS, required=["number"], indexed=["number", "total", "due"]
    )


def test_define_object_type_describes_the_type(crm: Crm, invoices: dict) -> None:
    assert invoices["name"] == "invoice"
    assert invoices["revision"] == 1
    assert invoices["created_at"] == NOW and invoices["updated_at"] == NOW
    assert invoices["created_at"].tzinfo is timezone.utc
    fields = {f["name"]: f for f in invoices["fields"]}
    assert [f["name"] for f in invoices["fields"]] == list(INVOICE_FIELDS)  # the dict's order
    assert {n: f["type"] for n, f in fields.items()} == INVOICE_FIELDS
    assert fields["number"]["required"] and fields["number"]["indexed"]
    assert not fields["total"]["required"] and fields["total"]["indexed"]
    assert not fields["lines"]["indexed"]
    assert fields["customer"]["indexed"]  # customer links are always indexed
    assert crm.object_type("invoice") == invoices
    assert crm.object_type("nope") is None
    crm.define_object_type("account", {"name": "string"})
    assert [t["name"] for t in crm.object_types()] == ["account", "invoice"]


def test_define_object_type_refusals(crm: Crm) -> None:
    with pytest.raises(ValidationError, match="field type"):
        crm.define_object_type("t", {"a": "money"})
    with pytest.raises(ValidationError, match=r"t\.tags.*cannot be indexed"):
        crm.define_object_type("t", {"tags": "string_list"}, indexed=["tags"])
    with pytest.raises(ValidationError, match=r"t\.b.*required"):
        crm.define_object_type("t", {"a": "string"}, required=["b"])
    with pytest.raises(ValidationError, match="object type"):
        crm.define_object_type("bad name!", {"a": "string"})
    assert crm.object_types() == []


def test_every_field_type_round_trips_exactly(crm: Crm, ada: crmkit.Customer, invoices: dict) -> None:
    sent = datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    o = crm.create_object(
        "invoice",
        {
            "number": "  INV-1 ",  # a string field keeps its text as given
            "total": Decimal("49.90"),
            "lines": 3,
            "paid": False,
            "due": date(2024, 6, 30),
            "sent_at": sent,
            "labels": ["q2", "eu"],
            "customer": "ada@example.org",  # an identity key
        },
        id="INV-1",
        source="billing",
    )
    assert o["object_type"] == "invoice" and o["id"] == "INV-1" and o["revision"] == 1
    assert o["created_at"] == NOW and o["updated_at"] == NOW
    f = o["fields"]
    assert f["number"] == "  INV-1 "
    assert isinstance(f["total"], Decimal) and str(f["total"]) == "49.90"  # scale kept
    assert f["lines"] == 3 and type(f["lines"]) is int
    assert f["paid"] is False
    assert f["due"] == date(2024, 6, 30) and type(f["due"]) is date
    assert f["sent_at"] == sent
    assert f["sent_at"].tzinfo is timezone.utc and f["sent_at"].microsecond == 123456
    assert f["sent_at"].hour == 7
    assert f["labels"] == ["q2", "eu"]
    assert f["customer"] == str(ada.id) and isinstance(f["customer"], str)
    assert crm.object("invoice", "INV-1") == o
    assert crm.object("invoice", "INV-2") is None


def test_values_from_text_and_other_python_types(crm: Crm, ada: crmkit.Customer, invoices: dict) -> None:
    o = crm.create_object(
        "invoice",
        {
            "number": "INV-2",
            "total": "12.500",  # text parsed as the field's type
            "lines": "7",
            "paid": "yes",
            "due": "2024-07-01",
            "sent_at": "2024-05-01T09:30:00.5Z",
            "labels": "a; b",
            "customer": str(ada.id),  # the id's text
        },
    )
    f = o["fields"]
    assert str(f["total"]) == "12.500"
    assert f["lines"] == 7 and f["paid"] is True and f["due"] == date(2024, 7, 1)
    assert f["sent_at"] == datetime(2024, 5, 1, 9, 30, 0, 500000, tzinfo=timezone.utc)
    assert f["labels"] == ["a", "b"]
    assert f["customer"] == str(ada.id)
    uuid.UUID(o["id"])  # a generated id is a UUID
    by_customer = crm.create_object("invoice", {"number": "INV-3", "customer": ada, "total": 5})
    assert by_customer["fields"]["customer"] == str(ada.id)
    assert by_customer["fields"]["total"] == Decimal(5)  # an int for a decimal field
    by_uuid = crm.create_object("invoice", {"number": "INV-4", "customer": ada.id, "lines": None})
    assert by_uuid["fields"] == {"number": "INV-4", "customer": str(ada.id)}  # None: no value


def test_wrong_values_are_refused_naming_type_and_field(crm: Crm, ada: crmkit.Customer, invoices: dict) -> None:
    cases = [
        ({"number": "X", "total": 49.9}, ValidationError, r"invoice\.total.*float"),
        ({"number": "X", "nope": 1}, ValidationError, r"invoice\.nope.*not a declared field"),
        ({"number": "X", "nope": "text"}, ValidationError, r"invoice\.nope.*not a declared field"),
        ({"number": "X", "lines": "many"}, ValidationError, r"invoice\.lines.*not an integer"),
        ({"number": "X", "lines": True}, ValidationError, r"invoice\.lines.*expected a integer"),
        ({"number": "X", "due": NOW}, ValidationError, r"invoice\.due.*expected a date"),
        ({"number": "X", "paid": 1}, ValidationError, r"invoice\.paid.*expected a bool"),
        ({"number": "X", "sent_at": datetime(2024, 1, 1)}, ValidationError, r"invoice\.sent_at.*naive"),
        ({"number": "X", "labels": [1, 2]}, ValidationError, r"invoice\.labels"),
        ({"number": 17}, ValidationError, r"invoice\.number.*expected a string"),
        ({"total": Decimal("1")}, ValidationError, r"invoice\.number.*is required"),
        ({"number": "X", "customer": "bo@example.org"}, NotFoundError, "bo@example.org"),
        ({"number": "X", "customer": str(uuid.UUID(int=7))}, NotFoundError, "customer"),
    ]
    for fields, error, message in cases:
        with pytest.raises(error, match=message):
            crm.create_object("invoice", fields)
    with pytest.raises(NotFoundError, match="object type.*nope"):
        crm.create_object("nope", {"a": 1})
    with pytest.raises(NotFoundError, match="object type.*nope"):
        crm.create_object("nope", {"a": "text"})
    with pytest.raises(ValidationError, match="object id"):
        crm.create_object("invoice", {"number": "X"}, id="has space")
    crm.create_object("invoice", {"number": "X"}, id="INV-9")
    with pytest.raises(ConflictError, match="INV-9"):
        crm.create_object("invoice", {"number": "Y"}, id="INV-9")
    assert [o["id"] for o in crm.objects("invoice")] == ["INV-9"]  # nothing else written


def test_query_by_equality_and_range(crm: Crm, ada: crmkit.Customer, invoices: dict) -> None:
    bo = crm.create_customer("Bo", email="bo@example.org")
    for i, (total, who) in enumerate([("10.00", ada), ("25.50", bo), ("25.50", ada), ("99", bo)]):
        crm.create_object("invoice", {"number": f"N{i}", "total": Decimal(total), "customer": who}, id=f"i{i}")
    ids = lambda objs: [o["id"] for o in objs]  # noqa: E731
    assert ids(crm.objects("invoice")) == ["i0", "i1", "i2", "i3"]
    assert ids(crm.objects("invoice", where={"number": "N2"})) == ["i2"]
    assert ids(crm.objects("invoice", where={"total": Decimal("25.5")})) == ["i1", "i2"]
    assert ids(crm.objects("invoice", where={"total": "25.50"})) == ["i1", "i2"]  # text parsed
    assert ids(crm.objects("invoice", where={"customer": "ada@example.org"})) == ["i0", "i2"]
    assert ids(crm.objects("invoice", where={"customer": bo})) == ["i1", "i3"]
    # Ranges are inclusive and ordered by value, then id.
    assert ids(crm.objects("invoice", min={"total": Decimal("25.50")})) == ["i1", "i2", "i3"]
    assert ids(crm.objects("invoice", max={"total": 25})) == ["i0"]
    assert ids(crm.objects("invoice", min={"total": "10"}, max={"total": "25.50"})) == ["i0", "i1", "i2"]
    assert crm.objects("invoice", where={"number": "none"}) == []
    with pytest.raises(ValidationError, match=r"invoice\.lines.*not indexed"):
        crm.objects("invoice", where={"lines": 1})
    with pytest.raises(ValidationError, match=r"invoice\.total.*a bound of bool"):
        crm.objects("invoice", min={"total": True})
    with pytest.raises(ValidationError, match="one"):
        crm.objects("invoice", where={"number": "N1", "total": 1})
    with pytest.raises(ValidationError, match="not both"):
        crm.objects("invoice", where={"number": "N1"}, min={"number": "N0"})
    with pytest.raises(ValidationError, match="same field"):
        crm.objects("invoice", min={"number": "N0"}, max={"total": 1})
    with pytest.raises(NotFoundError, match="nope"):
        crm.objects("nope")


def test_queries_read_every_page_or_stop_at_the_limit(crm: Crm) -> None:
    crm.define_object_type("plan", {"seats": "integer"}, indexed=["seats"])
    for i in range(250):
        crm.create_object("plan", {"seats": i % 50}, id=f"p{i:03d}")
    everything = crm.objects("plan")
    assert len(everything) == 250  # three pages of 100
    assert [o["id"] for o in everything] == [f"p{i:03d}" for i in range(250)]
    assert crm.objects("plan", limit=10) == everything[:10]
    assert crm.objects("plan", limit=130) == everything[:130]  # the follow-up page too
    assert crm.objects("plan", limit=1000) == everything
    assert crm.objects("plan", limit=0) == []
    # 30..49 hold 20 values x 5 objects = 100, plus 5 with seats 29: more than a page.
    wide = crm.objects("plan", min={"seats": 29})
    assert len(wide) == 105
    keys = [(o["fields"]["seats"], o["id"]) for o in wide]
    assert keys == sorted(keys) and keys[0][0] == 29 and keys[-1][0] == 49
    assert crm.objects("plan", min={"seats": 29}, limit=101) == wide[:101]
    assert len(crm.objects("plan", where={"seats": 7})) == 5


def test_update_with_revisions(crm: Crm, ada: crmkit.Customer, invoices: dict) -> None:
    crm.create_object("invoice", {"number": "INV-1", "total": Decimal("10.00"), "lines": 1}, id="INV-1")
    o = crm.update_object(
        "invoice", "INV-1", set={"paid": True, "total": "12.30", "customer": ada}, unset=["lines"],
        revision=1, source="sam",
    )
    assert o["revision"] == 2
    assert o["fields"] == {"number": "INV-1", "total": Decimal("12.30"), "paid": True, "customer": str(ada.id)}
    same = crm.update_object("invoice", "INV-1", set={"paid": True})
    assert same == o  # nothing changed: nothing written
    with pytest.raises(ConflictError, match="expected revision 1, found revision 2"):
        crm.update_object("invoice", "INV-1", set={"paid": False}, revision=1)
    with pytest.raises(ValidationError, match=r"invoice\.number.*cannot be unset"):
        crm.update_object("invoice", "INV-1", unset=["number"])
    with pytest.raises(ValidationError, match=r"invoice\.number.*cannot be unset"):
        crm.update_object("invoice", "INV-1", set={"number": None})
    with pytest.raises(ValidationError, match=r"invoice\.paid.*expected a bool"):
        crm.update_object("invoice", "INV-1", set={"paid": 3})
    with pytest.raises(NotFoundError, match="INV-404"):
        crm.update_object("invoice", "INV-404", set={"paid": True})
    cleared = crm.update_object("invoice", "INV-1", set={"customer": None}, revision=2)
    assert cleared["revision"] == 3 and "customer" not in cleared["fields"]
    assert crm.object("invoice", "INV-1") == cleared


def test_delete_and_history(crm: Crm, invoices: dict) -> None:
    crm.create_object("invoice", {"number": "INV-1", "lines": 1}, id="INV-1", source="import")
    crm.update_object("invoice", "INV-1", set={"lines": 2}, source="sam")
    with pytest.raises(ConflictError):
        crm.delete_object("invoice", "INV-1", revision=1)
    deleted = crm.delete_object("invoice", "INV-1", revision=2)
    assert deleted["revision"] == 2 and deleted["fields"] == {"number": "INV-1", "lines": 2}
    assert crm.object("invoice", "INV-1") is None
    assert crm.objects("invoice") == []
    with pytest.raises(NotFoundError):
        crm.delete_object("invoice", "INV-1")
    history = crm.object_history("invoice", "INV-1")  # it outlives the object
    assert [(h["kind"], h["revision"], h["actor"]) for h in history] == [
        ("created", 1, "import"),
        ("updated", 2, "sam"),
        ("deleted", 2, "crmkit"),
    ]
    assert history[0]["fields"] == [("lines", None, 1), ("number", None, "INV-1")]
    assert history[1]["fields"] == [("lines", 1, 2)]
    assert history[2]["fields"] == [("lines", 2, None), ("number", "INV-1", None)]
    assert all(h["at"] == NOW for h in history)
    assert crm.object_history("invoice", "never") == []


def test_redefinition_adds_a_field(crm: Crm, invoices: dict) -> None:
    crm.create_object("invoice", {"number": "OLD"}, id="old")
    wider = crm.define_object_type(
        "invoice", {**INVOICE_FIELDS, "notes": "string"}, required=["number"],
        indexed=["number", "total", "due"],
    )
    assert wider["revision"] == 2 and wider["fields"][-1]["name"] == "notes"
    assert wider["created_at"] == invoices["created_at"]
    same = crm.define_object_type(
        "invoice", {**INVOICE_FIELDS, "notes": "string"}, required=["number"],
        indexed=["number", "total", "due"],
    )
    assert same["revision"] == 2  # the same definition writes nothing
    assert crm.object("invoice", "old")["fields"] == {"number": "OLD"}
    new = crm.create_object("invoice", {"number": "NEW", "notes": "hello"})
    assert new["fields"]["notes"] == "hello"
    changed = {**INVOICE_FIELDS, "notes": "integer"}
    with pytest.raises(ConflictError, match="invoice.notes"):
        crm.define_object_type("invoice", changed, required=["number"])
    with pytest.raises(ValidationError, match=r"invoice\.notes.*cannot be removed"):
        crm.define_object_type("invoice", INVOICE_FIELDS, required=["number"], indexed=["number", "total", "due"])
    with pytest.raises(ValidationError, match=r"invoice\.lines.*cannot be required"):
        crm.define_object_type(
            "invoice", {**INVOICE_FIELDS, "notes": "string"}, required=["number", "lines"],
            indexed=["number", "total", "due"],
        )
    assert crm.object_type("invoice")["revision"] == 2


def test_object_events(crm: Crm, ada: crmkit.Customer, invoices: dict) -> None:
    start = crm.events_after(0, limit=1000)[-1].seq
    seen = []
    with crm.subscribe(lambda e: seen.append(e.type)):
        crm.create_object("invoice", {"number": "INV-1", "customer": ada, "total": Decimal("1.50")}, id="INV-1")
        crm.update_object("invoice", "INV-1", set={"paid": True})
        crm.delete_object("invoice", "INV-1")
    events = crm.events_after(start)
    assert [e.type for e in events] == ["object_created", "object_updated", "object_deleted"]
    assert seen == ["object_created", "object_updated", "object_deleted"]
    assert all(e.customer == ada.id for e in events)  # addressed to the linked customer
    created, updated, deleted = (e.payload for e in events)
    assert created["type"] == "object_created"
    assert created["object"]["id"] == "INV-1" and created["object"]["object_type"] == "invoice"
    assert created["object"]["fields"]["total"] == {"type": "decimal", "value": "1.50"}
    assert created["object"]["fields"]["customer"] == {"type": "customer", "value": str(ada.id)}
    assert "paid" not in updated["before"]["fields"]
    assert updated["after"]["fields"]["paid"] == {"type": "bool", "value": True}
    assert updated["after"]["revision"] == 2
    assert deleted["object"]["revision"] == 2
    batch = crm.poll_events("objects-consumer", limit=1000)
    assert [e.type for e in batch][-3:] == ["object_created", "object_updated", "object_deleted"]


def test_objects_persist_in_a_file_database(tmp_path) -> None:
    path = tmp_path / "crm.db"
    sent = datetime(2024, 5, 1, 9, 30, 0, 654321, tzinfo=timezone.utc)
    with Crm(path) as crm:
        ada = crm.create_customer("Ada", email="ada@example.org")
        crm.define_object_type("invoice", INVOICE_FIELDS, required=["number"], indexed=["total"])
        first = crm.create_object(
            "invoice",
            {"number": "INV-1", "total": Decimal("49.90"), "sent_at": sent, "labels": ["x"], "customer": ada},
            id="INV-1",
        )
        crm.update_object("invoice", "INV-1", set={"paid": True}, revision=1)
        types = crm.object_types()
    with Crm(str(path)) as crm:
        assert crm.object_types() == types
        stored = crm.object("invoice", "INV-1")
        assert stored["revision"] == 2
        assert stored["fields"] == {**first["fields"], "paid": True}
        assert str(stored["fields"]["total"]) == "49.90" and stored["fields"]["sent_at"] == sent
        assert [o["id"] for o in crm.objects("invoice", min={"total": "40"})] == ["INV-1"]
        assert [o["id"] for o in crm.objects("invoice", where={"customer": "ada@example.org"})] == ["INV-1"]
        assert [h["kind"] for h in crm.object_history("invoice", "INV-1")] == ["created", "updated"]
        crm.update_object("invoice", "INV-1", set={"lines": 4}, revision=2)
        assert [e.type for e in crm.events_after(0, limit=100)][-3:] == [
            "object_created", "object_updated", "object_updated"
        ]
