//! `crmkit fit` and `crmkit score`: customer value from the command line.

use std::path::PathBuf;

use clap::Args;
use crmkit::valuation::parse_time_unit;
use crmkit::{
    Crm, Currency, IdentityKind, ImportOptions, InputFormat, InteractionField, InteractionMapping,
    PurchaseModelKind, ValueOptions, ValueReport,
};
use serde_json::json;

use crate::{CliResult, Format};

/// Options shared by `fit` and `score`.
#[derive(Debug, Args)]
pub(crate) struct ValueArgs {
    /// Observation end (date or date-time); default: the end of the day of the last purchase.
    #[arg(long)]
    as_of: Option<String>,
    /// day, week, month, year, or a number of days.
    #[arg(long, default_value = "week")]
    time_unit: String,
    /// bgnbd, mbgnbd or paretonbd.
    #[arg(long, default_value = "bgnbd")]
    model: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// `crmkit fit`.
#[derive(Debug, Args)]
pub(crate) struct FitArgs {
    #[command(flatten)]
    value: ValueArgs,
    /// Fit straight from a transaction file instead of the database (nothing is stored).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// With --csv: csv, tsv, semicolon, whitespace or jsonl (default: from the extension).
    #[arg(long)]
    input_format: Option<String>,
    /// With --csv: map a field to a column (customer, timestamp, amount, currency...).
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    maps: Vec<String>,
    /// With --csv: the currency when there is no currency column.
    #[arg(long, default_value = "USD")]
    currency: String,
    /// With --csv: the file has no header (name columns #1, #2, ...).
    #[arg(long)]
    no_header: bool,
}

/// `crmkit score`.
#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    #[command(flatten)]
    value: ValueArgs,
    /// Explain one customer's value (id or identity key) from the stored scores.
    customer: Option<String>,
    /// How many customers to list, by CLV.
    #[arg(long, default_value_t = 20)]
    top: usize,
}

pub(crate) fn options(
    crm: &Crm,
    args: &ValueArgs,
) -> Result<ValueOptions, Box<dyn std::error::Error>> {
    let as_of = match &args.as_of {
        Some(text) => end_of_day_if_date(text)?,
        None => {
            let last = crm.summary(0)?.last_purchase.ok_or_else(|| {
                crmkit::Error::validation("purchases", "the database has no purchases to fit")
            })?;
            last.date_naive().and_hms_opt(23, 59, 59).map_or(last, |d| d.and_utc())
        }
    };
    let mut o = ValueOptions::new(as_of).time_unit(parse_time_unit(&args.time_unit)?);
    o.model = args.model.parse::<PurchaseModelKind>()?;
    Ok(o)
}

/// A bare date means the end of that day (its purchases count).
fn end_of_day_if_date(text: &str) -> Result<chrono::DateTime<chrono::Utc>, crmkit::Error> {
    let t = crmkit::time::parse_timestamp("--as-of", text, None)?;
    let date_only = text.trim().len() <= 10;
    Ok(if date_only { t + chrono::Duration::seconds(86_399) } else { t })
}

pub(crate) fn fit(db: &Option<PathBuf>, args: FitArgs) -> CliResult {
    let crm = match &args.csv {
        Some(path) => {
            let crm = Crm::in_memory();
            let format = match &args.input_format {
                Some(f) => f.parse()?,
                None => InputFormat::from_path(&path.to_string_lossy())
                    .unwrap_or(InputFormat::Csv { delimiter: b',' }),
            };
            let mut mapping = InteractionMapping::new(format)
                .has_header(!args.no_header)
                .customer_key(IdentityKind::External("file".into()))
                .default_currency(Currency::new(&args.currency)?);
            for m in &args.maps {
                let (field, column) = m.split_once('=').ok_or_else(|| {
                    crmkit::Error::validation("--map", format!("{m:?}: expected FIELD=COLUMN"))
                })?;
                mapping = mapping.column(field.parse::<InteractionField>()?, column);
            }
            if !mapping.columns.contains_key(&InteractionField::Amount) {
                mapping = mapping.column(InteractionField::Amount, "amount");
            }
            let input = crate::import_cmd::open_input(path)?;
            let opts =
                ImportOptions::new(path.display().to_string()).create_missing_customers(true);
            crm.import_interactions(input, &mapping, opts)?;
            crm
        }
        None => crate::open(db)?,
    };
    let options = options(&crm, &args.value)?;
    let report = crm.fit_value(&options)?;
    match args.value.format {
        Format::Json => crate::display::print_json(&fit_json(&report)),
        Format::Table => print_fit(&report),
    }
}

/// The JSON of a fit: each parameter by name with its standard error, and the total log-likelihood.
pub(crate) fn fit_json(r: &ValueReport) -> serde_json::Value {
    let m = &r.models;
    let params = |values: &[(&str, f64)], se: &[Option<f64>]| {
        let mut map = serde_json::Map::new();
        for (i, (name, value)) in values.iter().enumerate() {
            map.insert(
                (*name).to_owned(),
                json!({ "value": value, "standard_error": se.get(i).copied().flatten() }),
            );
        }
        serde_json::Value::Object(map)
    };
    let purchase = json!({
        "model": m.purchase.kind().to_string(),
        "parameters": params(&m.purchase.parameters(), &m.purchase_fit.standard_errors),
        "log_likelihood": m.purchase_fit.log_likelihood,
        "customers": m.purchase_fit.customers,
        "cells": m.purchase_fit.cells,
        "converged": m.purchase_fit.converged,
        "iterations": m.purchase_fit.iterations,
        "boundary": m.purchase_fit.boundary,
    });
    let spend = match (&m.spend, &m.spend_fit) {
        (Some(gg), Some(fit)) => json!({
            "model": "gammagamma",
            "parameters": params(&[("p", gg.p), ("q", gg.q), ("v", gg.v)], &fit.standard_errors),
            "log_likelihood": fit.log_likelihood,
            "customers": fit.customers,
            "converged": fit.converged,
            "boundary": fit.boundary,
        }),
        _ => serde_json::Value::Null,
    };
    json!({
        "version": r.record.version,
        "as_of": r.record.as_of.to_rfc3339(),
        "time_unit": r.record.time_unit,
        "currency": r.record.currency.map(|c| c.code().to_owned()),
        "customers_scored": r.scores.len(),
        "purchase_model": purchase,
        "spend_model": spend,
        "horizon": m.horizon,
        "clv_months": m.clv_months,
        "monthly_discount_rate": m.monthly_discount_rate,
    })
}

pub(crate) fn print_fit(r: &ValueReport) -> CliResult {
    let m = &r.models;
    out!(
        "Model version {} fitted on {} customers as of {} ({}s)",
        r.record.version,
        r.scores.len(),
        r.record.as_of.format("%Y-%m-%d"),
        r.record.time_unit
    );
    out!(
        "  {} ({} cells, {} iterations{})",
        m.purchase.kind(),
        m.purchase_fit.cells,
        m.purchase_fit.iterations,
        if m.purchase_fit.converged { "" } else { ", NOT converged" }
    );
    for (i, (name, value)) in m.purchase.parameters().iter().enumerate() {
        let se = m.purchase_fit.standard_errors.get(i).copied().flatten();
        out!(
            "    {name:<6} {value:>10.4}  {}",
            se.map_or("(se n/a)".to_owned(), |s| format!("± {s:.4}"))
        );
    }
    out!("    log-likelihood {:.2}", m.purchase_fit.log_likelihood);
    for b in &m.purchase_fit.boundary {
        out!("    boundary: {b}");
    }
    if let (Some(gg), Some(fit)) = (&m.spend, &m.spend_fit) {
        out!("  gamma-gamma spend model ({} repeat customers)", fit.customers);
        for (i, (name, value)) in [("p", gg.p), ("q", gg.q), ("v", gg.v)].iter().enumerate() {
            let se = fit.standard_errors.get(i).copied().flatten();
            out!(
                "    {name:<6} {value:>10.4}  {}",
                se.map_or("(se n/a)".to_owned(), |s| format!("± {s:.4}"))
            );
        }
        out!("    log-likelihood {:.2}", fit.log_likelihood);
    }
    Ok(())
}

pub(crate) fn score(db: &Option<PathBuf>, args: ScoreArgs) -> CliResult {
    let crm = crate::open(db)?;
    if let Some(who) = &args.customer {
        let c = crm.lookup(who)?;
        let e = crm.explain_value(c.id)?;
        return match args.value.format {
            Format::Json => crate::display::print_json(&json!({
                "customer": c.id, "name": c.name, "scores": e.score, "model_version": e.model.version,
                "clv_horizon_purchases": e.clv_horizon_purchases, "discount_factor": e.discount_factor,
                "explanation": e.text,
            })),
            Format::Table => {
                out!("{} ({})", c.name, c.id);
                out!("{}", e.text);
                Ok(())
            }
        };
    }
    let options = options(&crm, &args.value)?;
    let report = crm.fit_value(&options)?;
    let mut order: Vec<usize> = (0..report.scores.len()).collect();
    order.sort_by(|&a, &b| {
        let v = |i: usize| report.scores[i].clv.unwrap_or(report.scores[i].expected_purchases);
        v(b).total_cmp(&v(a))
    });
    order.truncate(args.top);
    match args.value.format {
        Format::Json => {
            let rows: Vec<_> = order.iter().map(|&i| &report.scores[i]).collect();
            crate::display::print_json(&json!({ "version": report.record.version, "scores": rows }))
        }
        Format::Table => {
            print_fit(&report)?;
            out!();
            out!("Top {} customers by CLV", order.len());
            print_score_rows(&crm, &report, &order)
        }
    }
}

pub(crate) fn print_score_rows(crm: &Crm, r: &ValueReport, rows: &[usize]) -> CliResult {
    let cur = r.record.currency.map_or(String::new(), |c| c.code().to_owned());
    out!(
        "  {:<22} {:>5} {:>8} {:>8} {:>10} {:>12}  {:<6} segment",
        "customer",
        "freq",
        "P(alive)",
        "E[purch]",
        "E[spend]",
        format!("CLV {cur}"),
        "RFM"
    );
    for &i in rows {
        let s = &r.scores[i];
        let c = crm.customer(s.customer)?;
        let key = c.identities.first().map_or_else(|| c.name.clone(), ToString::to_string);
        out!(
            "  {:<22} {:>5} {:>8.3} {:>8.2} {:>10} {:>12}  {}{}{}    {}",
            key,
            s.frequency,
            s.p_alive,
            s.expected_purchases,
            s.expected_spend.map_or("-".to_owned(), |v| format!("{v:.2}")),
            s.clv.map_or("-".to_owned(), |v| format!("{v:.2}")),
            s.rfm[0],
            s.rfm[1],
            s.rfm[2],
            s.segment
        );
    }
    Ok(())
}
