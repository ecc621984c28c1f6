//! Import behaviour on both stores: the bad-input table (each case a typed error that names the
//! place and writes nothing), batch atomicity, rejects, idempotency, JSON Lines and customers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crmkit::{
    Crm, CustomerField, CustomerMapping, Error, ErrorKind, FieldDef, FieldType, IdentityKind,
    ImportOptions, InputFormat, InteractionField as F, InteractionMapping, NewCustomer, StoreExt,
};

/// Runs a test body on a MemoryStore, an in-memory SQLite and a SQLite file.
fn on_each_store(test: impl Fn(Crm)) {
    test(Crm::in_memory());
    test(Crm::open_in_memory().unwrap());
    let dir = tempfile::tempdir().unwrap();
    test(Crm::open(dir.path().join("crm.db")).unwrap());
}

fn csv_mapping() -> InteractionMapping {
    InteractionMapping::new(InputFormat::Csv { delimiter: b',' })
        .column(F::Amount, "amount")
        .column(F::Currency, "currency")
}

/// Everything observable, to compare before and after a failed write.
fn snapshot(crm: &Crm) -> String {
    let s = crm.store();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        s.stats().unwrap(),
        s.all_customers().unwrap(),
        s.full_audit_log().unwrap(),
        s.scan_purchases().unwrap()
    )
}

fn import_err(crm: &Crm, data: &[u8], mapping: &InteractionMapping) -> Box<crmkit::ImportError> {
    let before = snapshot(crm);
    let opts = ImportOptions::new("orders.csv").create_missing_customers(true);
    let err = crm.import_interactions(data, mapping, opts).unwrap_err();
    assert_eq!(snapshot(crm), before, "a failed import must write nothing");
    match err {
        Error::Import(e) => e,
        other => panic!("expected an import error, got {other:?}"),
    }
}

#[test]
fn bad_rows_name_file_line_and_field_and_write_nothing() {
    on_each_store(|crm| {
        let cases: &[(&str, u64, Option<&str>, &str, ErrorKind)] = &[
            (
                "customer,timestamp,amount,currency\na@x.org,2024-01-01,1.00,EUR,extra\n",
                2,
                None,
                "fields",
                ErrorKind::Validation,
            ),
            (
                "customer,timestamp,amount,currency\na@x.org,2024-01-01,1.00,EUX\n",
                2,
                Some("currency"),
                "ISO 4217",
                ErrorKind::Validation,
            ),
            (
                "customer,timestamp,amount,currency\na@x.org,2024-01-01,12;50,EUR\n",
                2,
                Some("amount"),
                "not a number",
                ErrorKind::Validation,
            ),
            (
                "customer,timestamp,amount,currency\na@x.org,2024-01-01,-3.00,EUR\n",
                2,
                Some("amount"),
                "negative",
                ErrorKind::Validation,
            ),
            (
                "customer,timestamp,amount,currency\na@x.org,01.02.2024,1.00,EUR\n",
                2,
                Some("timestamp"),
                "date/time",
                ErrorKind::Validation,
            ),
            (
                "customer,timestamp,amount,currency\nnot-an-email,2024-01-01,1.00,EUR\n",
                2,
                Some("customer"),
                "@",
                ErrorKind::Validation,
            ),
            (
                "customer,timestamp,amount,currency\n",
                1,
                None,
                "no data rows",
                ErrorKind::Validation,
            ),
            ("", 1, None, "empty", ErrorKind::Validation),
        ];
        for (data, line, field, needle, kind) in cases {
            let e = import_err(&crm, data.as_bytes(), &csv_mapping());
            assert_eq!(e.location.line, *line, "{data:?}: {e}");
            assert_eq!(e.location.field.as_deref(), *field, "{data:?}: {e}");
            assert_eq!(e.location.source, "orders.csv");
            assert!(e.to_string().contains(needle), "{data:?}: {e} should mention {needle:?}");
            assert_eq!(Error::Import(e).kind(), *kind);
        }
    });
}

#[test]
fn negative_quantity_and_line_items() {
    on_each_store(|crm| {
        let mapping = csv_mapping()
            .column(F::Sku, "sku")
            .column(F::Quantity, "qty")
            .column(F::UnitPrice, "price");
        let ok = "customer,timestamp,amount,currency,sku,qty,price\na@x.org,2024-01-01,,EUR,CD-1,2,9.50\n";
        let opts = ImportOptions::new("items.csv").create_missing_customers(true);
        crm.import_interactions(ok.as_bytes(), &mapping, opts).unwrap();
        let c = crm.lookup("a@x.org").unwrap();
        let log = crm.interactions(c.id, Default::default()).unwrap();
        assert_eq!(log[0].amount().unwrap().to_string(), "19.00 EUR");
        let bad = "customer,timestamp,amount,currency,sku,qty,price\na@x.org,2024-01-02,,EUR,CD-1,-2,9.50\n";
        let e = import_err(&crm, bad.as_bytes(), &mapping);
        assert_eq!(e.location.field.as_deref(), Some("qty"), "{e}"); // the file's column name
        assert!(e.to_string().contains("-2 for sku CD-1 must be positive"), "{e}");
    });
}

#[test]
fn not_utf8_is_a_clear_error() {
    on_each_store(|crm| {
        let mut data =
            b"customer,timestamp,amount,currency\na@x.org,2024-01-01,1.00,EUR\n".to_vec();
        data.extend_from_slice(b"b@x.org,2024-01-01,\xff\xfe,EUR\n");
        let e = import_err(&crm, &data, &csv_mapping());
        assert_eq!(e.location.line, 3);
        assert!(e.to_string().contains("UTF-8"), "{e}");
        let e = import_err(
            &crm,
            b"customer timestamp\n\xe9t\xe9 2024-01-01\n",
            &InteractionMapping::new(InputFormat::Whitespace),
        );
        assert!(e.to_string().contains("UTF-8"), "{e}");
    });
}

#[test]
fn unknown_customer_is_not_found_unless_asked_to_create() {
    on_each_store(|crm| {
        let data = "customer,timestamp,amount,currency\nghost@x.org,2024-01-01,1.00,EUR\n";
        let before = snapshot(&crm);
        let err = crm
            .import_interactions(data.as_bytes(), &csv_mapping(), ImportOptions::new("o.csv"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.location().unwrap().field.as_deref(), Some("customer"));
        assert!(err.to_string().contains("email:ghost@x.org"), "{err}");
        assert_eq!(snapshot(&crm), before);
    });
}

#[test]
fn missing_column_in_mapping_is_reported_before_reading_rows() {
    on_each_store(|crm| {
        let data = "customer,timestamp,total\na@x.org,2024-01-01,1\n";
        let err = crm
            .import_interactions(data.as_bytes(), &csv_mapping(), ImportOptions::new("o.csv"))
            .unwrap_err();
        assert!(err.to_string().contains("no column \"amount\""), "{err}");
        assert!(err.to_string().contains("customer, timestamp, total"), "{err}");
    });
}

#[test]
fn a_bad_row_stops_the_import_after_the_last_whole_batch() {
    on_each_store(|crm| {
        let mut data = String::from("customer,timestamp,amount,currency\n");
        for i in 0..25 {
            data.push_str(&format!("c{}@x.org,2024-01-{:02},{}.00,EUR\n", i % 4, i % 28 + 1, i));
        }
        data.push_str("c1@x.org,2024-02-01,oops,EUR\n"); // line 27, in the third batch of 10
        for i in 0..5 {
            data.push_str(&format!("c9@x.org,2024-03-{:02},1.00,EUR\n", i + 1));
        }
        let opts = ImportOptions::new("big.csv").batch_size(10).create_missing_customers(true);
        let err = crm.import_interactions(data.as_bytes(), &csv_mapping(), opts).unwrap_err();
        let Error::Import(e) = err else { panic!("expected an import error") };
        assert_eq!((e.location.line, e.location.field.as_deref()), (27, Some("amount")));
        assert_eq!(e.committed_rows, 20);
        // Exactly the two whole batches are there, and none of the failing batch.
        assert_eq!(crm.store().stats().unwrap().interactions, 20);
        assert!(crm.lookup("c9@x.org").is_err());
    });
}

#[test]
fn rejects_mode_imports_the_good_rows_and_explains_the_bad_ones() {
    on_each_store(|crm| {
        let data = "customer,timestamp,amount,currency\n\
                    a@x.org,2024-01-01,1.00,EUR\n\
                    b@x.org,2024-01-02,abc,EUR\n\
                    c@x.org,2024-01-03,2.00,XXY\n\
                    d@x.org,2024-01-04,3.00,EUR,too,many\n\
                    e@x.org,2024-01-05,4.00,EUR\n";
        let mut rejects = Vec::new();
        let opts = ImportOptions::new("o.csv")
            .batch_size(2)
            .create_missing_customers(true)
            .rejects(&mut rejects);
        let report = crm.import_interactions(data.as_bytes(), &csv_mapping(), opts).unwrap();
        assert_eq!((report.rows_read, report.interactions_written, report.rejected), (5, 2, 3));
        let rejects = String::from_utf8(rejects).unwrap();
        let lines: Vec<&str> = rejects.lines().collect();
        assert_eq!(lines[0], "line,field,error,record");
        assert!(lines[1].starts_with("3,amount,"), "{rejects}");
        assert!(lines[1].contains("b@x.org"), "{rejects}");
        assert!(lines[2].starts_with("4,currency,"), "{rejects}");
        assert!(lines[3].starts_with("5,,"), "{rejects}");
        assert_eq!(crm.store().stats().unwrap().interactions, 2);
    });
}

#[test]
fn importing_the_same_file_twice_writes_nothing_the_second_time() {
    on_each_store(|crm| {
        let data = "customer,timestamp,amount,currency\n\
                    a@x.org,2024-01-01,1.00,EUR\n\
                    a@x.org,2024-01-01,1.00,EUR\n\
                    b@x.org,2024-01-02,2.50,EUR\n";
        let opts = || ImportOptions::new("o.csv").create_missing_customers(true);
        let first = crm.import_interactions(data.as_bytes(), &csv_mapping(), opts()).unwrap();
        // Identical rows on different lines are different purchases.
        assert_eq!((first.interactions_written, first.customers_created), (3, 2));
        let before = snapshot(&crm);
        let again = crm.import_interactions(data.as_bytes(), &csv_mapping(), opts()).unwrap();
        assert_eq!(
            (again.interactions_written, again.duplicates_skipped, again.customers_created),
            (0, 3, 0)
        );
        assert_eq!(snapshot(&crm), before);
    });
}

#[test]
fn json_lines_with_kinds_channels_and_properties() {
    on_each_store(|crm| {
        let data = r#"{"customer": "+44 20 7946 0018", "timestamp": "2024-03-01T10:00:00Z", "kind": "call", "direction": "outbound", "duration": 300, "channel": "phone", "agent": "sam"}
{"customer": "+442079460018", "timestamp": "2024-03-02T09:00:00+01:00", "kind": "purchase", "amount": 12.5, "currency": "GBP", "id": "order-1"}

{"customer": "+442079460018", "timestamp": "2024-03-03", "kind": "ticket_opened", "ticket": "T-9", "subject": "broken"}
{"customer": "+442079460018", "timestamp": "2024-03-04", "kind": "note", "text": "happy now", "agent": null}
"#;
        let mapping = InteractionMapping::new(InputFormat::JsonLines)
            .customer_key(IdentityKind::Phone)
            .column(F::Kind, "kind")
            .column(F::Amount, "amount")
            .column(F::Currency, "currency")
            .column(F::Direction, "direction")
            .column(F::Duration, "duration")
            .column(F::Channel, "channel")
            .column(F::Ticket, "ticket")
            .column(F::Subject, "subject")
            .column(F::Text, "text")
            .column(F::IdempotencyKey, "id")
            .property("agent");
        let opts = ImportOptions::new("events.jsonl").create_missing_customers(true);
        let r = crm.import_interactions(data.as_bytes(), &mapping, opts).unwrap();
        assert_eq!((r.rows_read, r.interactions_written, r.customers_created), (4, 4, 1));
        let c = crm.lookup("phone:+442079460018").unwrap();
        let log = crm.interactions(c.id, Default::default()).unwrap();
        let kinds: Vec<&str> = log.iter().map(|i| i.kind.name()).collect();
        assert_eq!(kinds, ["call", "purchase", "ticket_opened", "note"]);
        assert_eq!(log[0].properties["agent"], "sam");
        assert_eq!(log[0].channel, Some(crmkit::Channel::Phone));
        assert_eq!(log[1].idempotency_key.as_deref(), Some("order-1"));
        assert_eq!(log[1].occurred_at.to_rfc3339(), "2024-03-02T08:00:00+00:00");
        assert!(log[3].properties.is_empty());
    });
}

#[test]
fn customers_upsert_with_typed_attributes_and_audit() {
    on_each_store(|crm| {
        crm.define_field(FieldDef::new("seats", FieldType::Integer)).unwrap();
        crm.define_field(FieldDef::new("renewal", FieldType::Date)).unwrap();
        let mapping = CustomerMapping::new(
            InputFormat::Csv { delimiter: b',' },
            IdentityKind::External("crm".into()),
        )
        .column(CustomerField::Key, "id")
        .column(CustomerField::Name, "name")
        .column(CustomerField::Email, "email")
        .column(CustomerField::Stage, "stage")
        .column(CustomerField::Tags, "tags")
        .attribute("seats", "seats")
        .attribute("renewal", "renewal");
        let v1 = "id,name,email,stage,tags,seats,renewal\n\
                  1,Initech,it@initech.example,lead,b2b;trial,40,2025-01-31\n\
                  2,Hooli,,customer,,,\n";
        let r =
            crm.import_customers(v1.as_bytes(), &mapping, ImportOptions::new("crm.csv")).unwrap();
        assert_eq!((r.customers_created, r.customers_updated), (2, 0));
        let initech = crm.lookup("ext:crm:1").unwrap();
        assert_eq!(crm.lookup("it@initech.example").unwrap().id, initech.id);
        assert_eq!(initech.attributes["seats"], crmkit::AttributeValue::Integer(40));
        assert_eq!(initech.tags.len(), 2);
        // Same file again: nothing changes, nothing is written.
        let before = snapshot(&crm);
        let r =
            crm.import_customers(v1.as_bytes(), &mapping, ImportOptions::new("crm.csv")).unwrap();
        assert_eq!((r.customers_created, r.customers_updated), (0, 0));
        assert_eq!(snapshot(&crm), before);
        // A changed row updates, with an audit entry per changed field.
        let v2 = "id,name,email,stage,tags,seats,renewal\n1,Initech,,customer,,45,\n";
        let r = crm
            .import_customers(v2.as_bytes(), &mapping, ImportOptions::new("crm-v2.csv"))
            .unwrap();
        assert_eq!(r.customers_updated, 1);
        let log = crm.audit_log(Some(initech.id), 0, 100).unwrap();
        let fields: Vec<&str> = log.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["customer", "stage", "attributes.seats"]);
        assert!(log.iter().skip(1).all(|e| e.actor == "import:crm-v2.csv"));
        // Wrong type, undeclared field, duplicate key: typed errors, nothing written.
        let before = snapshot(&crm);
        let bad = "id,name,email,stage,tags,seats,renewal\n3,Acme,,lead,,many,\n";
        let err = crm
            .import_customers(bad.as_bytes(), &mapping, ImportOptions::new("bad.csv"))
            .unwrap_err();
        assert_eq!(err.location().unwrap().field.as_deref(), Some("seats"), "{err}");
        let dup = "id,name,email,stage,tags,seats,renewal\n3,Acme,IT@initech.example,lead,,,\n";
        let err = crm
            .import_customers(dup.as_bytes(), &mapping, ImportOptions::new("dup.csv"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(err.location().unwrap().field.as_deref(), Some("email"));
        let undeclared = mapping.clone().attribute("plan", "stage");
        let err = crm
            .import_customers(v1.as_bytes(), &undeclared, ImportOptions::new("x.csv"))
            .unwrap_err();
        assert!(err.to_string().contains("attributes.plan"), "{err}");
        assert_eq!(snapshot(&crm), before);
    });
}

#[test]
fn creating_a_customer_with_a_taken_key_is_a_conflict() {
    on_each_store(|crm| {
        crm.create_customer(NewCustomer::person("Ada").email("ada@example.org")).unwrap();
        let before = snapshot(&crm);
        let err = crm
            .create_customer(
                NewCustomer::person("Eve").email("eve@example.org").email(" ADA@EXAMPLE.org"),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("email:ada@example.org"), "{err}");
        assert_eq!(snapshot(&crm), before);
        assert!(crm.lookup("eve@example.org").is_err(), "the other key must not be half-written");
    });
}

#[test]
fn attribute_of_the_wrong_type_is_rejected() {
    on_each_store(|crm| {
        crm.define_field(FieldDef::new("vip", FieldType::Bool)).unwrap();
        let err = crm
            .create_customer(
                NewCustomer::person("Bo")
                    .attribute("vip", crmkit::AttributeValue::String("yes".into())),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.to_string().contains("attributes.vip"), "{err}");
        assert!(err.to_string().contains("expected a bool"), "{err}");
        assert_eq!(crm.store().stats().unwrap().customers, 0);
    });
}

#[test]
fn cdnow_sample_imports_with_the_published_totals() {
    // The 1/10 sample of Fader & Hardie's CDNOW log (no header: master id, sample id, date, cds, dollars).
    let data =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/CDNOW_sample.txt"))
            .unwrap();
    on_each_store(|crm| {
        let mapping = InteractionMapping::new(InputFormat::Whitespace)
            .has_header(false)
            .customer_key(IdentityKind::External("cdnow".into()))
            .column(F::Customer, "#2")
            .column(F::Timestamp, "#3")
            .column(F::Amount, "#5")
            .default_currency(crmkit::Currency::USD);
        let opts = ImportOptions::new("CDNOW_sample.txt").create_missing_customers(true);
        let r = crm.import_interactions(&data[..], &mapping, opts).unwrap();
        assert_eq!(
            (r.rows_read, r.interactions_written, r.customers_created),
            (6_919, 6_919, 2_357)
        );
        let s = crm.summary(1).unwrap();
        assert_eq!(s.revenue[0].to_string(), "244091.94 USD");
        assert_eq!(s.first_purchase.unwrap().to_rfc3339(), "1997-01-01T00:00:00+00:00");
        assert_eq!(s.last_purchase.unwrap().to_rfc3339(), "1998-06-30T00:00:00+00:00");
    });
}
