"""Segments, playbooks, tasks and events (issue 4) through the Python API, on a SQLite file."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List

import pytest

import crmkit
from crmkit import Action, Crm, NewInteraction

from conftest import DATA

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(n: int, hour: int = 0) -> datetime:
    return T0 + timedelta(days=n, hours=hour)


def test_dynamic_segment_is_filled_by_recorded_purchases(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with Crm(db, now=day(10)) as crm:
        seg = crm.define_segment("big-spenders", "sum(purchase, 90d) >= 500 EUR",
                                 description="spent 500 EUR in 90 days")
        assert (seg.name, seg.kind, seg.version, seg.description) == (
            "big-spenders", "dynamic", 1, "spent 500 EUR in 90 days")
        assert seg.rule == "sum(purchase, 90d) >= 500 EUR"
        assert seg.created_at == seg.updated_at == day(10)
        ada = crm.create_customer("Ada", email="ada@example.org")
        bo = crm.create_customer("Bo", email="bo@example.org")
        assert crm.segments_of(ada) == []
        crm.record(NewInteraction.purchase(ada, day(2), "300.00", "EUR"))
        assert crm.segments_of(ada) == []
        crm.record_all([
            NewInteraction.purchase(ada, day(5), "250.00", "EUR"),
            NewInteraction.purchase(bo, day(5), "900.00", "USD"),  # another currency
        ])
        assert crm.segments_of(ada) == ["big-spenders"]
        assert crm.segments_of(bo.id) == []
        assert crm.segment_members("big-spenders") == [ada.id]
        assert crm.segment_sizes() == {"big-spenders": 1}
        (row,) = crm.memberships(str(ada.id))
        assert (row.segment, row.customer, row.member, row.version, row.leaves) == (
            "big-spenders", ada.id, True, 1, 1)
        # The purchase of day 2 leaves the 90-day window on day 92: that is when it is re-checked.
        assert row.next_check == day(92)
        assert crm.verify_segments() == []
        # Editing the rule versions the segment and recomputes it.
        edited = crm.define_segment("big-spenders", "sum(purchase, 90d) >= 800 USD")
        assert edited.version == 2 and edited.created_at == seg.created_at
        assert crm.segment_members("big-spenders") == [bo.id]
        # Defining the same segment again writes nothing.
        assert crm.define_segment("big-spenders", "sum(purchase, 90d) >= 800 USD").version == 2
    with Crm(db) as crm:
        (seg,) = crm.segments()
        assert seg == crm.segment("big-spenders")
        assert (seg.version, seg.rule) == (2, "sum(purchase, 90d) >= 800 USD")
        assert crm.segment_sizes() == {"big-spenders": 1}
        with pytest.raises(crmkit.NotFoundError, match="nope"):
            crm.segment("nope")


def test_segment_members_pages(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        crm.define_segment("everyone", "true")
        ids = sorted(crm.create_customer(f"C{i}").id for i in range(7))
        first = crm.segment_members("everyone", limit=3)
        second = crm.segment_members("everyone", after=first[-1], limit=3)
        rest = crm.segment_members("everyone", after=second[-1])
        assert first + second + rest == ids
        assert all(isinstance(i, uuid.UUID) for i in first)


def test_explain_segment(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db", now=day(30)) as crm:
        crm.define_field("plan", "string")
        crm.define_segment("upsell", 'attr.plan = "pro" and (tag "vip" or count(purchase, 30d) >= 2)')
        ada = crm.create_customer("Ada", attributes={"plan": "pro"})
        e = crm.explain_segment("upsell", ada)
        assert (e.segment, e.version, e.member, e.matches_now) == ("upsell", 1, False, False)
        assert e.predicates == [
            ('attr.plan = "pro"', True),
            ('tag "vip"', False),
            ("count(purchase, 30d) >= 2", False),
        ]
        crm.record_all([NewInteraction.purchase(ada, day(d), "10", "EUR") for d in (20, 25)])
        e = crm.explain_segment("upsell", ada.id)
        assert (e.member, e.matches_now) == (True, True)
        assert e.predicates[2] == ("count(purchase, 30d) >= 2", True)
        assert e.next_check == day(50)  # the purchase of day 20 leaves the window
        assert "yes  count(purchase, 30d) >= 2" in str(e)
        # A manual segment has no predicates; its stored membership is the answer.
        crm.define_segment("beta")
        e = crm.explain_segment("beta", ada)
        assert (e.member, e.predicates) == (False, [])


def test_manual_and_snapshot_segments(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        ada = crm.create_customer("Ada", tags=["vip"])
        beta = crm.define_segment("beta")
        assert (beta.kind, beta.rule, beta.rule_ast) == ("manual", None, None)
        assert crm.add_to_segment("beta", ada) is True
        assert crm.add_to_segment("beta", ada) is False
        snap = crm.define_segment("vips-in-january", 'tag "vip"', kind="snapshot")
        assert snap.kind == "snapshot"
        bo = crm.create_customer("Bo", tags=["vip"])  # after the snapshot: not in it
        assert sorted(crm.segments_of(ada)) == ["beta", "vips-in-january"]
        assert crm.segments_of(bo) == []
        assert crm.remove_from_segment("beta", ada) is True
        assert crm.segments_of(ada) == ["vips-in-january"]
        with pytest.raises(crmkit.ValidationError, match="only manual segments"):
            crm.add_to_segment("vips-in-january", bo)
        with pytest.raises(crmkit.ValidationError, match="manual: it has no rule"):
            crm.define_segment("x", 'tag "a"', kind="manual")
        with pytest.raises(crmkit.ValidationError, match="expected manual, dynamic or snapshot"):
            crm.define_segment("x", 'tag "a"', kind="sometimes")
        # Deleting: refused while referred to, then the members get an exit event.
        crm.define_segment("beta-vips", 'segment("beta") and tag "vip"')
        with pytest.raises(crmkit.ConflictError, match="beta-vips"):
            crm.delete_segment("beta")
        crm.delete_segment("beta-vips")
        crm.delete_segment("beta")
        assert [s.name for s in crm.segments()] == ["vips-in-january"]
        exits = [e for e in crm.events_after(0, 1000) if e.type == "segment_exited"]
        assert [e.payload["reason"] for e in exits] == [["removed by hand"]]


def test_rule_ast_round_trips(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        text = crm.define_segment("a", 'tag "vip" and p_alive < 0.3')
        ast = text.rule_ast
        assert ast is not None and ast["op"] == "and"
        from_ast = crm.define_segment("b", ast)
        assert from_ast.rule == text.rule
        assert from_ast.rule_ast == ast
        json.dumps(ast)  # plain JSON data
        with pytest.raises(crmkit.ValidationError, match="rule: not a rule AST"):
            crm.define_segment("c", {"op": "maybe"})
        with pytest.raises(crmkit.ValidationError, match="expected the rule's text or its AST"):
            crm.define_segment("c", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rule, line, column, message",
    [
        ("count(purchase, 30d) >=", 1, 24, "expected a value to compare with, found end of rule"),
        ("tag vip", 1, 5, 'expected a quoted tag, e.g. "vip", found `vip`'),
        ("count(purchase, 30x) > 1", 1, 17, "expected a duration such as 90d or 4w, found `30x`"),
        ('tag "a" and\n  p_alive <', 2, 12, "expected a value to compare with"),
    ],
)
def test_bad_rules_raise_validation_error_naming_line_and_column(
    tmp_path: Path, rule: str, line: int, column: int, message: str
) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        with pytest.raises(crmkit.ValidationError) as info:
            crm.define_segment("bad", rule)
        assert (info.value.line, info.value.column) == (line, column)
        assert str(info.value).startswith(f"rule, line {line}, column {column}: {message}")
        assert isinstance(info.value, crmkit.CrmError)
        assert crm.segments() == [] and crm.events_after(0) == []


def test_rules_that_do_not_check_raise_validation_error_and_change_nothing(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        crm.define_field("plan", "string")
        cases = [
            ("attr.plan > 3", "attr.plan is a text, and 3 is not one"),
            ("attr.seats = 3", "attr.seats: no such field (declared: plan)"),
            ("sum(purchase, 30d) > 3", "is a money (e.g. 100 USD), and 3 is not one"),
            ('segment("nope")', 'segment("nope"): no such segment'),
        ]
        for rule, message in cases:
            with pytest.raises(crmkit.ValidationError, match="^invalid rule: ") as info:
                crm.define_segment("bad", rule)
            assert message in str(info.value)
            assert info.value.line is None and info.value.column is None
        crm.define_segment("a", 'tag "x"')
        crm.define_segment("b", 'segment("a")')
        with pytest.raises(crmkit.ValidationError, match="cycle: a → b → a"):
            crm.define_segment("a", 'segment("b")')
        assert [(s.name, s.version) for s in crm.segments()] == [("a", 1), ("b", 1)]
        with pytest.raises(crmkit.ValidationError, match="^rule, line 1, column 11: ") as info:
            crm.define_playbook("p", "a", when="p_alive < ")
        assert (info.value.line, info.value.column) == (1, 11)


def test_playbook_creates_tasks_once_per_entry(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with Crm(db, now=day(0)) as crm:
        crm.define_field("tier", "integer")
        crm.define_segment("vip", 'tag "vip"')
        book = crm.define_playbook("welcome-vip", "vip", [
            Action.create_task("Welcome call", due_in_days=2, assignee="sam"),
            Action.add_tag("welcomed"),
            {"do": "set_attribute", "field": "tier", "value": "3"},  # text parsed as the field's type
            {"do": "emit", "action": "send_gift", "payload": {"value": 20, "currency": "EUR"}},
        ], when="not tag \"staff\"")
        assert (book.name, book.segment, book.condition, book.enabled) == (
            "welcome-vip", "vip", 'not tag "staff"', True)
        assert [a.kind for a in book.actions] == ["create_task", "add_tag", "set_attribute", "emit"]
        assert book.actions[2].to_dict() == {"do": "set_attribute", "field": "tier", "value": 3}
        assert crm.playbooks() == [book]

        ada = crm.create_customer("Ada")
        staff = crm.create_customer("Sam", tags=["vip", "staff"])  # the condition fails
        crm.update_customer(ada, add_tags=["vip"])
        (task,) = crm.tasks(customer=ada)
        assert (task.title, task.assignee, task.status, task.playbook) == (
            "Welcome call", "sam", "open", "welcome-vip")
        assert task.due == day(2) and task.customer == ada.id and task.completed_at is None
        ada = crm.customer(ada)
        assert ada.tags == ["vip", "welcomed"] and ada.attributes == {"tier": 3}
        assert crm.tasks(customer=staff) == []
        actions = [e for e in crm.events_after(0, 1000) if e.type == "action"]
        assert [(e.customer, e.payload["action"], e.payload["payload"]) for e in actions] == [
            (ada.id, "send_gift", {"currency": "EUR", "value": 20})]

        # Staying in the segment does not fire again; leaving and re-entering does.
        crm.update_customer(ada, name="Ada L.")
        assert len(crm.tasks(customer=ada)) == 1
        crm.update_customer(ada, remove_tags=["vip"])
        crm.update_customer(ada, add_tags=["vip"])
        assert len(crm.tasks(customer=ada)) == 2

        done = crm.complete_task(task)
        assert (done.status, done.completed_at) == ("done", day(0))
        assert crm.complete_task(str(task.id)) == done  # completing again changes nothing
        assert [t.status for t in crm.tasks(customer=ada, status="open")] == ["open"]
        assert len(crm.tasks(playbook="welcome-vip", status="done")) == 1
        assert len(crm.tasks(assignee="sam")) == 2 and crm.tasks(assignee="kim") == []
        manual = crm.create_task(staff, "Ask about the badge", 5)
        assert (manual.playbook, manual.assignee, manual.due) == (None, None, day(5))
        assert len(crm.tasks(limit=1)) == 1

        with pytest.raises(crmkit.ConflictError, match="welcome-vip"):
            crm.delete_segment("vip")
        with pytest.raises(crmkit.NotFoundError):
            crm.complete_task(uuid.uuid4())
    with Crm(db) as crm:  # tasks and playbooks are stored
        assert len(crm.tasks()) == 3
        crm.delete_playbook("welcome-vip")
        assert crm.playbooks() == []


def test_bad_playbooks_are_refused(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        crm.define_segment("s")
        with pytest.raises(crmkit.NotFoundError, match="nope"):
            crm.define_playbook("p", "nope")
        with pytest.raises(crmkit.ValidationError, match="task title"):
            crm.define_playbook("p", "s", [Action.create_task("  ")])
        with pytest.raises(crmkit.ValidationError, match="plan"):
            crm.define_playbook("p", "s", [Action.set_attribute("plan", "pro")])  # not declared
        with pytest.raises(crmkit.ValidationError, match='unknown action "explode"'):
            crm.define_playbook("p", "s", [{"do": "explode"}])
        with pytest.raises(crmkit.ValidationError, match="needs \"tag\""):
            crm.define_playbook("p", "s", [{"do": "add_tag"}])
        with pytest.raises(crmkit.ValidationError, match="expected an Action or a dict"):
            crm.define_playbook("p", "s", ["add_tag vip"])  # type: ignore[list-item]
        with pytest.raises(crmkit.ValidationError, match="payload"):
            Action.emit("a", {"when": object()})
        assert crm.playbooks() == []


def test_subscribe_receives_segment_entered(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        crm.define_segment("vip", 'tag "vip"')
        seen: List[crmkit.Event] = []
        sub = crm.subscribe(seen.append)
        assert sub.active
        ada = crm.create_customer("Ada", tags=["vip"])
        assert [e.type for e in seen] == ["customer_created", "segment_entered"]
        entered = seen[1]
        assert entered.customer == ada.id
        assert entered.payload == {"type": "segment_entered", "segment": "vip", "version": 1,
                                   "reason": ['tag "vip" became true']}
        assert entered.at.tzinfo is not None and entered.at.utcoffset() == timedelta(0)
        assert entered == crm.events_after(entered.seq - 1, 1)[0]
        assert json.loads(entered.to_json())["payload"]["segment"] == "vip"
        sub.close()
        sub.close()  # idempotent
        assert not sub.active
        crm.create_customer("Bo", tags=["vip"])
        assert len(seen) == 2
        # As a context manager.
        with crm.subscribe(lambda e: seen.append(e)) as sub2:
            crm.update_customer(ada, remove_tags=["vip"])
        assert not sub2.active
        assert [e.type for e in seen[2:]] == ["customer_updated", "segment_exited"]
        with pytest.raises(TypeError, match="callable"):
            crm.subscribe(42)  # type: ignore[arg-type]
    # Closing the Crm ends its subscriptions.
    crm2 = Crm(tmp_path / "crm.db")
    later = crm2.subscribe(seen.append)
    crm2.close()
    assert not later.active


def test_a_failing_subscriber_does_not_break_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append((u.exc_type, u.object)))
    with Crm(tmp_path / "crm.db") as crm:
        crm.define_segment("vip", 'tag "vip"')
        good: List[str] = []

        def bad(event: crmkit.Event) -> None:
            raise RuntimeError(f"boom on {event.type}")

        with crm.subscribe(bad), crm.subscribe(lambda e: good.append(e.type)):
            ada = crm.create_customer("Ada", tags=["vip"])  # no exception here
        assert crm.segments_of(ada) == ["vip"]
        assert good == ["customer_created", "segment_entered"]  # the other subscriber still ran
        assert [t for t, _ in reported] == [RuntimeError, RuntimeError]
        assert all(o is bad for _, o in reported)


def test_subscribers_and_threads(tmp_path: Path) -> None:
    with Crm(tmp_path / "crm.db") as crm:
        crm.define_segment("buyers", "count(purchase) >= 1")
        counted: List[int] = []
        lock = threading.Lock()

        def on_event(e: crmkit.Event) -> None:
            # The callback may call back into the Crm (it runs after the write's lock is released).
            if e.type == "segment_entered" and e.customer is not None:
                assert e.payload["segment"] in crm.segments_of(e.customer)
            with lock:
                counted.append(e.seq)

        def worker(n: int) -> None:
            for i in range(10):
                c = crm.create_customer(f"W{n}-{i}")
                crm.record(NewInteraction.purchase(c, day(i), "5", "EUR"))

        with crm.subscribe(on_event):
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert sorted(counted) == [e.seq for e in crm.events_after(0, 10_000)]
        assert crm.segment_sizes() == {"buyers": 40}


def test_poll_and_ack_are_at_least_once_across_reopening(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with Crm(db) as crm:
        crm.define_segment("vip", 'tag "vip"')
        crm.create_customer("Ada", tags=["vip"])
        crm.create_customer("Bo")
        batch = crm.poll_events("mailer", limit=2)
        assert [e.type for e in batch] == ["customer_created", "segment_entered"]
        assert crm.consumer_cursor("mailer") == 0
    # Crash before the ack: the same events come back after reopening.
    with Crm(db) as crm:
        again = crm.poll_events("mailer", limit=2)
        assert again == batch
        crm.ack_events("mailer", again[-1].seq)
        assert crm.consumer_cursor("mailer") == again[-1].seq
    with Crm(db) as crm:
        rest = crm.poll_events("mailer")
        assert [e.type for e in rest] == ["customer_created"] and rest[0].seq == 3
        assert len(crm.poll_events("billing")) == 3  # consumers are independent
        crm.ack_events("mailer", rest[-1].seq)
        assert crm.poll_events("mailer") == []
        assert [e.seq for e in crm.events_after(1, 1)] == [2]
        with pytest.raises(crmkit.CrmError):
            crm.ack_events("mailer", 99)  # there is no event 99
        with pytest.raises(crmkit.ValidationError, match="consumer"):
            crm.ack_events(" ", 1)


def test_advance_to_moves_a_time_based_segment(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with Crm(db, now=day(0)) as crm:
        assert crm.now() == day(0)
        crm.define_segment("lapsed", "count(purchase) > 0 and days_since(purchase) >= 90")
        crm.define_segment("active", "count(purchase, 30d) >= 1")
        ada = crm.create_customer("Ada")
        crm.record(NewInteraction.purchase(ada, day(0), "5", "USD"))
        assert crm.segments_of(ada) == ["active"]
        assert crm.advance_to(day(29)) == 0
        assert crm.now() == day(29)  # the fixed clock moved
        assert crm.advance_to(day(30)) == 1  # the purchase left the 30-day window
        assert crm.segments_of(ada) == []
        assert crm.advance_to(day(89)) == 0
        assert crm.advance_to(day(90)) == 1
        assert crm.segments_of(ada) == ["lapsed"]
        assert crm.explain_segment("lapsed", ada).matches_now
        assert crm.verify_segments() == []
        types = [e.type for e in crm.events_after(0, 100)]
        assert types.count("segment_exited") == 1 and types.count("segment_entered") == 2
        # A new purchase brings her back at once.
        crm.record(NewInteraction.purchase(ada, day(90), "5", "USD"))
        assert crm.segments_of(ada) == ["active"]
        assert crm.advance_to() == 0  # nothing due at the clock's time
        assert crm.advance_to(day(10)) == 0 and crm.now() == day(90)  # never moves back
    with Crm(db, now="2024-06-01") as crm:  # reopened later: the due re-check happens
        assert crm.advance_to() == 1
        assert crm.segments_of(ada) == []
    with pytest.raises(crmkit.ValidationError, match="now: naive datetime"):
        Crm(now=datetime(2024, 1, 1))


def test_score_based_segments_after_fit_value_on_the_cdnow_sample(tmp_path: Path) -> None:
    with Crm(tmp_path / "cdnow.db", now="1997-10-01") as crm:
        crm.define_segment("likely-gone", "count(purchase) >= 2 and p_alive < 0.3")
        crm.define_segment("top-clv", "decile(clv) >= 9")
        crm.define_segment("champions", 'rfm.segment = "champions"')
        crm.define_playbook("win-back", "likely-gone", [Action.create_task("Win back", 7)],
                            when="decile(monetary) >= 8")
        crm.import_interactions(DATA / "CDNOW_sample.txt", has_header=False,
                                columns={"customer": "#1", "timestamp": "#3", "amount": "#5"},
                                customer_key="ext:cdnow", currency="USD", create_customers=True)
        assert crm.segment_sizes() == {}  # nothing scored yet
        consumer_start = crm.events_after(0, 1_000_000)[-1].seq
        report = crm.fit_value("1997-09-30", time_unit="week")
        scores = report.scores
        assert len(scores) == 2357
        purchases = crm.purchases()
        counts: dict = {}
        for i in purchases["customer_index"]:
            counts[i] = counts.get(i, 0) + 1
        by_id = {uuid.UUID(c): counts.get(i, 0) for i, c in enumerate(purchases["customers"])}
        sizes = crm.segment_sizes()
        # The same selection computed from the stored scores in Python.
        gone = {s.customer for s in scores if s.p_alive < 0.3 and by_id.get(s.customer, 0) >= 2}
        assert gone and sizes["likely-gone"] == len(gone)
        assert set(crm.segment_members("likely-gone", limit=10_000)) == gone
        champions = {s.customer for s in scores if s.segment == "champions"}
        assert sizes.get("champions", 0) == len(champions) > 0
        assert 0.15 * len(scores) <= sizes["top-clv"] <= 0.25 * len(scores)
        member = next(iter(gone))
        e = crm.explain_segment("likely-gone", member)
        assert e.member and e.predicates == [("count(purchase) >= 2", True), ("p_alive < 0.3", True)]
        # Scoring fired the playbook for the valuable ones only, once each.
        tasks = crm.tasks(playbook="win-back", limit=10_000)
        assert 0 < len(tasks) < len(gone)
        assert {t.customer for t in tasks} <= gone
        assert len({t.customer for t in tasks}) == len(tasks)
        # Each entry is an event, after the score changes that caused it.
        entered = [e for e in crm.events_after(consumer_start, 1_000_000)
                   if e.type == "segment_entered" and e.payload["segment"] == "likely-gone"]
        assert len(entered) == len(gone)
        assert crm.verify_segments() == []
