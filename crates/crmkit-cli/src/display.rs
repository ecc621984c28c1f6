//! Printing customers, interactions and numbers for people (tables) and programs (JSON).

use crmkit::{Crm, Customer, Interaction, InteractionKind, Page};
use rust_decimal::Decimal;
use serde_json::json;

use crate::CliResult;

/// `1234567` -> `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An exact amount with thousands separators and two decimals: `2500315.63` -> `2,500,315.63`.
pub(crate) fn money_amount(d: Decimal) -> String {
    let rounded = d.round_dp(2);
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let abs = rounded.abs();
    let units = abs.trunc();
    let cents = ((abs - units) * Decimal::from(100)).trunc();
    let units: u64 = units.to_string().parse().unwrap_or(0);
    format!("{}{}.{:02}", if negative { "-" } else { "" }, thousands(units), cents)
}

pub(crate) fn print_json(value: &serde_json::Value) -> CliResult {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn key_of(c: &Customer) -> String {
    c.identities.first().map_or_else(|| c.id.to_string(), ToString::to_string)
}

pub(crate) fn customer_page(page: &Page<Customer>, as_json: bool) -> CliResult {
    if as_json {
        return print_json(&json!({ "items": page.items, "next": page.next }));
    }
    out!("{:<36}  {:<28}  {:<10}  key", "id", "name", "stage");
    for c in &page.items {
        out!("{:<36}  {:<28}  {:<10}  {}", c.id, truncate(&c.name, 28), c.stage, key_of(c));
    }
    match page.next {
        Some(next) => out!("(more: --after {next})"),
        None => out!("({} customers)", page.items.len()),
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

pub(crate) fn customer(crm: &Crm, c: &Customer, as_json: bool) -> CliResult {
    if as_json {
        return print_json(&serde_json::to_value(c)?);
    }
    out!("{} ({})", c.name, c.kind);
    out!("  id          {}", c.id);
    out!("  stage       {}", c.stage);
    for k in &c.identities {
        out!("  key         {k}");
    }
    if !c.tags.is_empty() {
        out!("  tags        {}", c.tags.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    for (name, value) in &c.attributes {
        out!("  {name:<11} {value}");
    }
    for consent in &c.consents {
        out!(
            "  consent     {} via {}: {} ({}, {})",
            consent.purpose,
            consent.channel,
            consent.status,
            consent.at.format("%Y-%m-%d"),
            consent.source
        );
    }
    out!("  created     {}", c.created_at.to_rfc3339());
    out!("  updated     {} (revision {})", c.updated_at.to_rfc3339(), c.revision);
    for s in &c.stage_history {
        let from = s.from.as_ref().map_or("-".to_owned(), ToString::to_string);
        out!("  stage log   {} {from} -> {} ({})", s.at.format("%Y-%m-%d"), s.to, s.source);
    }
    let interactions = crm.interactions(c.id, Default::default())?;
    out!("  interactions {}", interactions.len());
    Ok(())
}

fn describe(kind: &InteractionKind) -> String {
    match kind {
        InteractionKind::Purchase { total, items } | InteractionKind::Refund { total, items } => {
            let mut s = format!("{} {}", money_amount(total.amount), total.currency);
            if !items.is_empty() {
                s.push_str(&format!(" ({} items)", items.len()));
            }
            s
        }
        InteractionKind::Email { direction, subject } => {
            format!("{direction:?} {}", subject.as_deref().unwrap_or(""))
        }
        InteractionKind::Call { direction, duration_secs, outcome } => {
            format!("{direction:?} {duration_secs}s {}", outcome.as_deref().unwrap_or(""))
        }
        InteractionKind::Meeting { subject, .. } => subject.clone().unwrap_or_default(),
        InteractionKind::TicketOpened { ticket, subject } => {
            format!("{ticket} {}", subject.as_deref().unwrap_or(""))
        }
        InteractionKind::TicketResolved { ticket } => ticket.clone(),
        InteractionKind::WebVisit { url } => url.clone().unwrap_or_default(),
        InteractionKind::Note { text } => text.clone(),
        InteractionKind::Custom { .. } => String::new(),
    }
}

pub(crate) fn interactions(c: &Customer, list: &[Interaction], as_json: bool) -> CliResult {
    if as_json {
        return print_json(&serde_json::to_value(list)?);
    }
    out!("{} — {} interactions", c.name, list.len());
    for i in list {
        out!(
            "  {:>8}  {}  {:<15}  {}",
            i.id,
            i.occurred_at.format("%Y-%m-%d %H:%M"),
            i.kind.name(),
            describe(&i.kind)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(23_570), "23,570");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(money_amount("2500315.63".parse().unwrap()), "2,500,315.63");
        assert_eq!(money_amount("0.5".parse().unwrap()), "0.50");
        assert_eq!(money_amount("-1234.005".parse().unwrap()), "-1,234.00");
    }
}
