//! The quickstart: open a CRM on a SQLite file, add customers, record interactions, find them,
//! change them, and read the audit log.
//!
//! Run with `cargo run -p crmkit-examples --example quickstart`.

use crmkit::{
    AttributeValue, Channel, ConsentStatus, Crm, CustomerUpdate, Direction, FieldDef, FieldType,
    InteractionKind, LifecycleStage, Money, NewCustomer, NewInteraction,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("crmkit-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let crm = Crm::open(dir.join("crm.db"))?;

    // Custom fields are declared once; attributes are checked against them.
    crm.define_field(FieldDef::new("plan", FieldType::String))?;

    let ada = crm.create_customer(
        NewCustomer::person("Ada Lovelace")
            .email("Ada@Example.org")
            .phone("+44 20 7946 0018")
            .attribute("plan", AttributeValue::String("pro".into()))
            .consent("newsletter", Channel::Email, ConsentStatus::Granted)
            .source("signup-form"),
    )?;
    println!("created {} ({})", ada.name, ada.id);

    let now = crm.now();
    crm.record(NewInteraction::purchase(ada.id, now, Money::parse("49.90", "EUR")?))?;
    crm.record(NewInteraction::new(
        ada.id,
        now,
        InteractionKind::Call {
            direction: Direction::Outbound,
            duration_secs: 240,
            outcome: Some("reached".into()),
        },
    ))?;

    let ada = crm.update_customer(
        ada.id,
        CustomerUpdate::new().stage(LifecycleStage::Customer).add_tag("vip").source("agent:sam"),
    )?;
    println!("stage now {}, tags {:?}", ada.stage, ada.tags);

    let found = crm.lookup("phone:+442079460018")?;
    println!("found by phone: {}", found.name);
    for i in crm.interactions(found.id, Default::default())? {
        println!("  {} {}", i.occurred_at.format("%Y-%m-%d %H:%M"), i.kind.name());
    }
    for e in crm.audit_log(Some(found.id), 0, 100)? {
        println!("  audit #{} {} by {}: {:?} -> {:?}", e.seq, e.field, e.actor, e.old, e.new);
    }

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
