//! Every error says its cause once: in the message or as the `source`, never both.
#![allow(clippy::unwrap_used)]

use std::error::Error as _;

use crmkit_core::{Crm, Error, ErrorKind, ImportOptions, InputFormat, InteractionMapping};

/// The messages of an error and of every source below it.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut s = e.source();
    while let Some(next) = s {
        out.push(next.to_string());
        s = next.source();
    }
    out
}

fn assert_each_cause_once(e: &Error) {
    let messages = chain(e);
    for (i, m) in messages.iter().enumerate() {
        for later in &messages[i + 1..] {
            assert!(!m.contains(later.as_str()), "{m:?} repeats its source {later:?}");
        }
    }
}

#[test]
fn a_storage_error_keeps_its_cause_as_the_source() {
    let e = Error::storage("committing a batch", std::io::Error::other("disk full"));
    assert_eq!(e.to_string(), "storage error: committing a batch");
    assert_eq!(e.source().unwrap().to_string(), "disk full");
    assert_eq!(e.report(), "storage error: committing a batch: disk full");
    assert_each_cause_once(&e);
}

#[test]
fn an_io_error_names_the_file_and_keeps_the_os_error() {
    let e = Error::Io { path: "people.csv".into(), source: std::io::Error::other("no such file") };
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert_eq!(e.report(), "cannot read or write people.csv: no such file");
    assert_each_cause_once(&e);
}

#[test]
fn an_import_error_does_not_repeat_its_cause() {
    let crm = Crm::in_memory();
    let mapping = InteractionMapping::new(InputFormat::Csv { delimiter: b',' });
    let data = "customer,timestamp,amount,currency\nnobody@example.org,2024-05-01,1,EUR\n";
    let e = crm
        .import_interactions(data.as_bytes(), &mapping, ImportOptions::new("o.csv"))
        .unwrap_err();
    assert!(e.location().is_some(), "{e:?}");
    assert!(e.to_string().contains("o.csv, line 2"), "{e}");
    assert_each_cause_once(&e);
    assert_eq!(e.report(), e.to_string(), "a cause without a source of its own adds nothing");
}

#[test]
fn a_model_error_keeps_its_kind_and_source() {
    use crmkit_core::clv::ClvError;
    let e =
        Error::from(ClvError::InvalidParameter { name: "r".into(), message: "must be > 0".into() });
    assert_eq!(e.kind(), ErrorKind::Validation);
    let source = e.source().unwrap().downcast_ref::<ClvError>().unwrap();
    assert!(matches!(source, ClvError::InvalidParameter { name, .. } if name == "r"));
    assert_eq!(e.report(), "the customer-value model refused r: invalid r: must be > 0");
    assert_each_cause_once(&e);
}
