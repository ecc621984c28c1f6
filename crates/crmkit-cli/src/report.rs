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
    // The demo runs on CDNOW's calendar: "now" is the day after the log ends, so that relative
    // rules ("no purchase in the last 90 days") mean what they would have meant then.
    let now = match crate::NOW.get().copied().flatten() {
        Some(t) => t,
        None => crmkit::time::parse_timestamp("now", "1998-07-01", None)?,
    };
    let crm = Crm::open(&db)?.with_clock(std::sync::Arc::new(crmkit::FixedClock::new(now)));
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
    print_base_report(&crm, args.top)?;
    let defined = Instant::now();
    define_demo_segments(&crm)?;
    let define_secs = defined.elapsed().as_secs_f64();
    print_value_report(&crm, "1997-09-30", "1998-06-30")?;
    print_segment_report(&crm, define_secs)
}

/// The demo's segments and playbook. Defined before the models are fitted, so that storing the
/// scores is what fills the score-based segments and fires the playbook.
const DEMO_SEGMENTS: &[(&str, &str, &str)] = &[
    ("active", "count(purchase, 90d) >= 1", "bought in the last 90 days"),
    (
        "lapsed-regulars",
        "count(purchase) >= 3 and days_since(purchase) >= 180",
        "3+ purchases, none for 6 months",
    ),
    ("top-value", "decile(clv) = 10", "the top tenth by 12-month CLV"),
    ("champions", "rfm.segment = \"champions\"", "RFM champions"),
    (
        "top-value-at-risk",
        "segment(\"top-value\") and p_alive < 0.5",
        "valuable, and probably slipping away",
    ),
];

fn define_demo_segments(crm: &Crm) -> CliResult {
    use crmkit::automation::{Action, Playbook, Segment};
    for (name, rule, description) in DEMO_SEGMENTS {
        crm.define_segment(Segment::dynamic(name, rule)?.describe(*description))?;
    }
    crm.define_playbook(
        Playbook::new("win-back", "top-value-at-risk")
            .action(Action::CreateTask {
                title: "Call: win back a top customer".into(),
                due_in_days: 3,
                assignee: Some("retention-team".into()),
            })
            .action(Action::Emit {
                action: "send_winback_offer".into(),
                payload: serde_json::json!({"discount_pct": 15}),
            }),
    )?;
    Ok(())
}

fn print_segment_report(crm: &Crm, define_secs: f64) -> CliResult {
    use crmkit::automation::TaskQuery;
    let sizes = crm.segment_sizes()?;
    out!();
    out!(
        "Segments, kept current as events arrive (as of {}; defined in {:.0} ms)",
        crm.now().format("%Y-%m-%d"),
        define_secs * 1000.0
    );
    out!("  {:<20} {:>9}  rule", "segment", "members");
    for (name, rule, _) in DEMO_SEGMENTS {
        let n = crate::automation_cmd::size_of(&sizes, name);
        out!("  {:<20} {:>9}  {}", name, thousands(n), rule);
    }
    let tasks = crm.tasks(&TaskQuery::new().playbook("win-back").limit(usize::MAX))?;
    out!();
    out!(
        "Playbook win-back (on entering top-value-at-risk: a task for retention-team and a send_winback_offer event): {} tasks",
        thousands(tasks.len() as u64)
    );
    for t in tasks.iter().take(5) {
        crate::automation_cmd::print_task(crm, t)?;
    }
    let verify = crm.verify_segments()?;
    out!(
        "  incremental membership {} a full re-evaluation",
        if verify.is_empty() { "equals" } else { "DIFFERS FROM" }
    );
    Ok(())
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

/// The value part of the demo: models, RFM segments, valuable customers at risk, and the
/// holdout forecast against what happened (CDNOW: 39 weeks of calibration, 39 of holdout).
pub(crate) fn print_value_report(crm: &Crm, calibration_end: &str, end: &str) -> CliResult {
    use crmkit::{PurchaseModelKind, ValueOptions};
    let end = crmkit::time::parse_timestamp("end", end, None)? + chrono::Duration::seconds(86_399);
    let cal_end = crmkit::time::parse_timestamp("calibration end", calibration_end, None)?
        + chrono::Duration::seconds(86_399);
    let started = Instant::now();
    let report = crm.fit_value(&ValueOptions::new(end))?;
    let fit_secs = started.elapsed().as_secs_f64();
    out!();
    out!(
        "Customer value as of {} (fitted and scored in {:.0} ms, stored as model version {})",
        end.format("%Y-%m-%d"),
        fit_secs * 1000.0,
        report.record.version
    );
    crate::value_cmd::print_fit(&report)?;

    // RFM segments: size and share of revenue.
    let mut segments: Vec<(String, usize, f64)> = Vec::new();
    let total_revenue: f64 = report.revenue.iter().sum();
    for (s, rev) in report.scores.iter().zip(&report.revenue) {
        match segments.iter_mut().find(|(name, _, _)| *name == s.segment) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += rev;
            }
            None => segments.push((s.segment.clone(), 1, *rev)),
        }
    }
    segments.sort_by(|a, b| b.2.total_cmp(&a.2));
    out!();
    out!("RFM segments (5x5 recency/frequency grid)");
    out!("  {:<20} {:>9} {:>8} {:>14}", "segment", "customers", "share", "revenue share");
    for (name, count, rev) in &segments {
        out!(
            "  {:<20} {:>9} {:>7.1}% {:>13.1}%",
            name,
            thousands(*count as u64),
            100.0 * *count as f64 / report.scores.len().max(1) as f64,
            100.0 * rev / total_revenue.max(f64::MIN_POSITIVE)
        );
    }

    // Valuable customers at risk: the top decile by revenue whose P(alive) has fallen but who
    // are not yet lost (0.1 ≤ P(alive) < 0.6), most valuable first: the ones worth a call.
    let mut by_revenue: Vec<usize> = (0..report.scores.len()).collect();
    by_revenue.sort_by(|&a, &b| report.revenue[b].total_cmp(&report.revenue[a]));
    by_revenue.truncate((report.scores.len() / 10).max(1));
    by_revenue.retain(|&i| (0.1..0.6).contains(&report.scores[i].p_alive));
    let at_risk = by_revenue.len();
    by_revenue.truncate(10);
    out!();
    out!(
        "Valuable customers at risk: {} of the top 10% by revenue have 0.1 <= P(alive) < 0.6; the first {}",
        thousands(at_risk as u64),
        by_revenue.len()
    );
    crate::value_cmd::print_score_rows(crm, &report, &by_revenue)?;

    // The holdout forecast.
    let check =
        crm.holdout_check(cal_end, &ValueOptions::new(end).model(PurchaseModelKind::BgNbd))?;
    let m = &check.metrics;
    out!();
    out!(
        "Forecast check: BG/NBD fitted on purchases to {}, repeat purchases {} to {}",
        cal_end.format("%Y-%m-%d"),
        (cal_end + chrono::Duration::days(1)).format("%Y-%m-%d"),
        end.format("%Y-%m-%d")
    );
    for (name, value) in check.model.parameters() {
        write!(std::io::stdout(), "  {name} = {value:.3}")?;
    }
    out!("  (LL {:.1})", check.fit.log_likelihood);
    out!(
        "  {} customers: predicted {:.0}, actual {:.0} repeat purchases ({:+.1}%); MAE {:.3}, RMSE {:.3} per customer",
        thousands(m.n as u64),
        m.sum_predicted,
        m.sum_actual,
        100.0 * (m.sum_predicted - m.sum_actual) / m.sum_actual.max(1.0),
        m.mae,
        m.rmse
    );
    out!("  by repeat purchases in calibration:");
    out!("    {:>5} {:>9} {:>10} {:>10}", "x", "customers", "predicted", "actual");
    let b = &check.by_frequency;
    for i in 0..b.frequency.len() {
        let label = if i + 1 == b.frequency.len() {
            format!("{}+", b.frequency[i])
        } else {
            b.frequency[i].to_string()
        };
        out!(
            "    {:>5} {:>9} {:>10.2} {:>10.2}",
            label,
            b.customers[i],
            b.mean_predicted[i],
            b.mean_actual[i]
        );
    }
    let t = &check.tracking;
    out!(
        "  cumulative repeat purchases, every 13th week (holdout starts at week {}):",
        check.holdout_starts_at_period + 1
    );
    out!("    {:>5} {:>10} {:>10}", "week", "expected", "actual");
    for i in (0..t.period.len()).filter(|i| (i + 1) % 13 == 0 || *i + 1 == t.period.len()) {
        out!("    {:>5} {:>10.0} {:>10.0}", i + 1, t.expected[i], t.actual[i]);
    }
    Ok(())
}
