//! `crmkit demo` and `crmkit report`: the readable report of a customer base.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use crmkit::{
    Crm, Currency, IdentityKind, ImportOptions, InputFormat, InteractionField as F,
    InteractionMapping,
};

use crate::CliResult;
use crate::display::{money_amount, thousands};
use crate::import_cmd::{open_input, print_import_report, progress_bar};

/// The CDNOW transaction log (Fader & Hardie), shipped in the binary so the demo runs anywhere.
const CDNOW_MASTER: &[u8] = include_bytes!("../../../examples/data/CDNOW_master.txt");

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Use this CDNOW-format file instead of the shipped CDNOW master log.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// How many top customers to show.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

/// The mapping of the CDNOW log: `customer_id date number_of_cds dollar_value`.
fn cdnow_mapping() -> InteractionMapping {
    InteractionMapping::new(InputFormat::Whitespace)
        .customer_key(IdentityKind::External("cdnow".into()))
        .column(F::Customer, "customer_id")
        .column(F::Timestamp, "date")
        .column(F::Amount, "dollar_value")
        .timestamp_format("%Y%m%d")
        .default_currency(Currency::USD)
        .property("number_of_cds")
}

pub(crate) fn demo(db: Option<PathBuf>, args: DemoArgs) -> CliResult {
    let db = db.unwrap_or_else(|| PathBuf::from("crmkit-demo.db"));
    out!("crmkit demo: the CDNOW customer base (Fader & Hardie), stored in {}", db.display());
    out!();
    let crm = Crm::open(&db)?;
    let mapping = cdnow_mapping();
    let started = Instant::now();
    let report = match &args.data {
        Some(path) => {
            let input = open_input(path)?;
            let bar = progress_bar(input.get_ref().metadata().map(|m| m.len()).unwrap_or(0));
            let mut on_progress = |p: &crmkit::ImportProgress| bar.set_position(p.bytes_read);
            let opts = ImportOptions::new(path.display().to_string())
                .create_missing_customers(true)
                .progress(&mut on_progress);
            let r = crm.import_interactions(input, &mapping, opts);
            bar.finish_and_clear();
            r?
        }
        None => {
            let bar = progress_bar(CDNOW_MASTER.len() as u64);
            let mut on_progress = |p: &crmkit::ImportProgress| bar.set_position(p.bytes_read);
            let opts = ImportOptions::new("CDNOW_master.txt")
                .create_missing_customers(true)
                .progress(&mut on_progress);
            let r = crm.import_interactions(CDNOW_MASTER, &mapping, opts);
            bar.finish_and_clear();
            r?
        }
    };
    write!(std::io::stdout(), "Import: ")?;
    print_import_report(&report)?;
    out!(
        "        in {:.2} s{}",
        started.elapsed().as_secs_f64(),
        if report.interactions_written == 0 && report.duplicates_skipped > 0 {
            " (already imported: the import is idempotent, nothing was written twice)"
        } else {
            ""
        }
    );
    out!();
    print_base_report(&crm, args.top)
}

pub(crate) fn print_base_report(crm: &Crm, top: usize) -> CliResult {
    let s = crm.summary(top)?;
    out!("Customer base");
    out!("  customers              {:>14}", thousands(s.customers));
    out!("  with a purchase        {:>14}", thousands(s.purchasing_customers));
    out!("  transactions           {:>14}", thousands(s.purchases));
    out!("  interactions (all)     {:>14}", thousands(s.interactions));
    for m in &s.revenue {
        out!("  revenue                {:>14} {}", money_amount(m.amount), m.currency);
        if s.purchasing_customers > 0 {
            let per = m.amount / rust_decimal::Decimal::from(s.purchasing_customers);
            out!("  revenue per customer   {:>14} {}", money_amount(per), m.currency);
        }
    }
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d").to_string())
    };
    out!("  first purchase         {:>14}", day(s.first_purchase));
    out!("  last purchase          {:>14}", day(s.last_purchase));
    if !s.top_customers.is_empty() {
        out!();
        out!("Top {} customers by revenue", s.top_customers.len());
        out!("  {:>4}  {:<24}  {:>9}  {:>14}", "rank", "customer", "purchases", "revenue");
        for (rank, t) in s.top_customers.iter().enumerate() {
            let key = t
                .customer
                .identities
                .first()
                .map_or_else(|| t.customer.name.clone(), ToString::to_string);
            let revenue = t
                .revenue
                .iter()
                .map(|m| format!("{} {}", money_amount(m.amount), m.currency))
                .collect::<Vec<_>>()
                .join(" + ");
            out!("  {:>4}  {:<24}  {:>9}  {:>14}", rank + 1, key, thousands(t.purchases), revenue);
        }
    }
    Ok(())
}
