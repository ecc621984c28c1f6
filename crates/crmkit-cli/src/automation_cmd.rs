//! `crmkit segment`, `playbook`, `tasks`, `events` and `advance`: segments, automation and the
//! event outbox on the command line.

use clap::{Args, Subcommand};
use crmkit::automation::{
    Action, EventPayload, Playbook, Segment, SegmentKind, TaskQuery, TaskStatus,
};
use crmkit::{Crm, CustomerId};

use crate::display::{print_json, thousands};
use crate::{CliResult, Format};

#[derive(Debug, Subcommand)]
pub(crate) enum SegmentCommand {
    /// Define a segment, or edit one (a changed rule makes a new version and recomputes it).
    Create {
        /// Its name.
        name: String,
        /// The rule, e.g. 'count(purchase, 90d) = 0 and decile(clv) >= 8' (see docs/rules.md).
        #[arg(long)]
        rule: Option<String>,
        /// dynamic (kept current), snapshot (evaluated once) or manual (a hand-kept list).
        #[arg(long, default_value = "dynamic")]
        kind: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// The segments, with their sizes.
    List,
    /// One segment: its definition and size.
    Show {
        /// The segment.
        name: String,
    },
    /// A page of a segment's members.
    Members {
        /// The segment.
        name: String,
        /// Page size.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Continue after this customer id.
        #[arg(long)]
        after: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Why a customer is (or is not) in a segment.
    Explain {
        /// The segment.
        name: String,
        /// Customer id or identity key.
        customer: String,
    },
    /// Add a customer to a manual segment.
    Add {
        /// The segment.
        name: String,
        /// Customer id or identity key.
        customer: String,
    },
    /// Remove a customer from a manual segment.
    Remove {
        /// The segment.
        name: String,
        /// Customer id or identity key.
        customer: String,
    },
    /// Delete a segment (refused while a rule or playbook refers to it).
    Delete {
        /// The segment.
        name: String,
    },
    /// Recompute every dynamic segment from scratch and compare with the stored membership.
    Verify,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PlaybookCommand {
    /// Define (or replace) a playbook: when a customer enters SEGMENT, do the actions in order.
    Create(PlaybookArgs),
    /// The playbooks.
    List,
    /// Delete a playbook.
    Delete {
        /// The playbook.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PlaybookArgs {
    /// Its name.
    name: String,
    /// The segment whose entries trigger it.
    #[arg(long)]
    segment: String,
    /// Only when this rule also holds at the entry.
    #[arg(long)]
    when: Option<String>,
    /// Create a task with this title.
    #[arg(long)]
    task: Option<String>,
    /// The task is due this many days after the entry.
    #[arg(long, default_value_t = 3)]
    due_days: u32,
    /// Who should do the task.
    #[arg(long)]
    assignee: Option<String>,
    /// Add this tag to the customer.
    #[arg(long)]
    add_tag: Vec<String>,
    /// Remove this tag from the customer.
    #[arg(long)]
    remove_tag: Vec<String>,
    /// Emit a custom action event with this name for the host application.
    #[arg(long)]
    emit: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TasksCommand {
    /// Tasks, by due date.
    List {
        /// Only this customer's (id or identity key).
        #[arg(long)]
        customer: Option<String>,
        /// open or done.
        #[arg(long)]
        status: Option<String>,
        /// Only this assignee's.
        #[arg(long)]
        assignee: Option<String>,
        /// Only those this playbook created.
        #[arg(long)]
        playbook: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Mark a task done.
    Done {
        /// The task id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// Print events from the outbox: all after --after, or a named consumer's unacknowledged ones.
    Tail {
        /// Start after this sequence number (ignored with --consumer).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Read as this named consumer (from its cursor).
        #[arg(long)]
        consumer: Option<String>,
        /// Acknowledge what was printed (with --consumer).
        #[arg(long)]
        ack: bool,
        /// Only events of this type (segment_entered, task_created, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        /// At most this many (before the type filter).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output format (json: one event per line).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// `crmkit advance`: re-check time-dependent memberships.
#[derive(Debug, Args)]
pub(crate) struct AdvanceArgs {
    /// Re-check as of this instant (default: now, or --now).
    #[arg(long)]
    to: Option<String>,
}

/// A segment's member count in `Crm::segment_sizes` (which omits empty segments).
pub(crate) fn size_of(sizes: &[(String, u64)], segment: &str) -> u64 {
    sizes.iter().find(|(name, _)| name == segment).map_or(0, |(_, n)| *n)
}

fn customer_id(crm: &Crm, text: &str) -> Result<CustomerId, crmkit::Error> {
    Ok(crm.lookup(text)?.id)
}

pub(crate) fn segment(crm: &Crm, cmd: SegmentCommand) -> CliResult {
    match cmd {
        SegmentCommand::Create { name, rule, kind, description } => {
            let kind: SegmentKind = kind.parse()?;
            let rule = rule.as_deref().map(crmkit::rules::Rule::parse).transpose()?;
            let s =
                crm.define_segment(Segment::with_rule(&name, kind, rule).describe(description))?;
            let size = size_of(&crm.segment_sizes()?, &s.name);
            out!(
                "segment {} ({}, version {}): {} members",
                s.name,
                s.kind,
                s.version,
                thousands(size)
            );
        }
        SegmentCommand::List => {
            let sizes = crm.segment_sizes()?;
            out!("{:<24} {:<9} {:>7} {:>10}  rule", "segment", "kind", "version", "members");
            for s in crm.segments()? {
                let n = size_of(&sizes, &s.name);
                let rule = s.rule.as_ref().map_or_else(String::new, ToString::to_string);
                out!(
                    "{:<24} {:<9} {:>7} {:>10}  {}",
                    s.name,
                    s.kind.to_string(),
                    s.version,
                    thousands(n),
                    rule
                );
            }
        }
        SegmentCommand::Show { name } => {
            let s = crm.segment(&name)?;
            let n = size_of(&crm.segment_sizes()?, &s.name);
            out!("segment      {}", s.name);
            out!("kind         {}", s.kind);
            out!("version      {}", s.version);
            if let Some(rule) = &s.rule {
                out!("rule         {rule}");
            }
            if !s.description.is_empty() {
                out!("description  {}", s.description);
            }
            out!("members      {}", thousands(n));
            out!("defined      {}", s.created_at.to_rfc3339());
            out!("edited       {}", s.updated_at.to_rfc3339());
            for p in crm.playbooks()?.iter().filter(|p| p.segment == s.name) {
                out!(
                    "playbook     {} ({} actions{})",
                    p.name,
                    p.actions.len(),
                    if p.enabled { "" } else { ", disabled" }
                );
            }
        }
        SegmentCommand::Members { name, limit, after, format } => {
            let after = after.map(|a| a.parse::<CustomerId>()).transpose()?;
            let ids = crm.segment_members(&name, after, limit)?;
            if matches!(format, Format::Json) {
                let mut out = Vec::new();
                for id in &ids {
                    out.push(serde_json::to_value(crm.customer(*id)?)?);
                }
                return print_json(
                    &serde_json::json!({ "segment": name, "members": out, "next": ids.last() }),
                );
            }
            for id in &ids {
                let c = crm.customer(*id)?;
                let key = c.identities.first().map_or_else(String::new, ToString::to_string);
                out!("{}  {:<28} {}", c.id, key, c.name);
            }
            if ids.len() == limit
                && let Some(last) = ids.last()
            {
                out!("(more: --after {last})");
            }
        }
        SegmentCommand::Explain { name, customer } => {
            let id = customer_id(crm, &customer)?;
            let e = crm.explain_segment(&name, id)?;
            out!(
                "{} is {}a member of {} (version {}); the rule {} now",
                customer,
                if e.member { "" } else { "not " },
                e.segment,
                e.version,
                if e.matches_now { "holds" } else { "does not hold" }
            );
            for (text, held) in &e.predicates {
                out!("  [{}] {text}", if *held { "x" } else { " " });
            }
            if let Some(t) = e.next_check {
                out!("  time alone can change this on {}", t.to_rfc3339());
            }
        }
        SegmentCommand::Add { name, customer } => {
            let id = customer_id(crm, &customer)?;
            let added = crm.add_to_segment(&name, id)?;
            out!("{}", if added { "added" } else { "already a member" });
        }
        SegmentCommand::Remove { name, customer } => {
            let id = customer_id(crm, &customer)?;
            let removed = crm.remove_from_segment(&name, id)?;
            out!("{}", if removed { "removed" } else { "not a member" });
        }
        SegmentCommand::Delete { name } => {
            crm.delete_segment(&name)?;
            out!("segment {name} deleted");
        }
        SegmentCommand::Verify => {
            let diffs = crm.verify_segments()?;
            if diffs.is_empty() {
                out!("every dynamic segment matches a full re-evaluation");
            }
            for d in &diffs {
                out!("{}: {} missing, {} extra", d.segment, d.missing.len(), d.extra.len());
            }
            if !diffs.is_empty() {
                return Err("stored membership differs from a full re-evaluation (run `crmkit advance` first if time has passed)".into());
            }
        }
    }
    Ok(())
}

pub(crate) fn playbook(crm: &Crm, cmd: PlaybookCommand) -> CliResult {
    match cmd {
        PlaybookCommand::Create(a) => {
            let mut p = Playbook::new(&a.name, &a.segment);
            if let Some(w) = &a.when {
                p = p.when(w)?;
            }
            if let Some(title) = a.task {
                p = p.action(Action::CreateTask {
                    title,
                    due_in_days: a.due_days,
                    assignee: a.assignee,
                });
            }
            for tag in a.add_tag {
                p = p.action(Action::AddTag { tag });
            }
            for tag in a.remove_tag {
                p = p.action(Action::RemoveTag { tag });
            }
            for action in a.emit {
                p = p.action(Action::Emit { action, payload: serde_json::Value::Null });
            }
            if p.actions.is_empty() {
                return Err("a playbook needs at least one action: --task, --add-tag, --remove-tag or --emit".into());
            }
            let p = crm.define_playbook(p)?;
            out!("playbook {} on segment {}: {} actions", p.name, p.segment, p.actions.len());
        }
        PlaybookCommand::List => {
            for p in crm.playbooks()? {
                let when = p.condition.as_ref().map_or_else(String::new, |c| format!(" when {c}"));
                out!("{}: on entering {}{when}", p.name, p.segment);
                for a in &p.actions {
                    out!("  - {}", serde_json::to_string(a)?);
                }
            }
        }
        PlaybookCommand::Delete { name } => {
            crm.delete_playbook(&name)?;
            out!("playbook {name} deleted");
        }
    }
    Ok(())
}

pub(crate) fn tasks(crm: &Crm, cmd: TasksCommand) -> CliResult {
    match cmd {
        TasksCommand::List { customer, status, assignee, playbook, limit } => {
            let mut q = TaskQuery::new().limit(limit);
            if let Some(c) = customer {
                q = q.customer(customer_id(crm, &c)?);
            }
            if let Some(s) = status {
                q = q.status(s.parse::<TaskStatus>()?);
            }
            if let Some(a) = assignee {
                q = q.assignee(a);
            }
            if let Some(p) = playbook {
                q = q.playbook(p);
            }
            for t in crm.tasks(&q)? {
                print_task(crm, &t)?;
            }
        }
        TasksCommand::Done { id } => {
            let t = crm.complete_task(id.parse()?)?;
            out!("task {} done", t.id);
        }
    }
    Ok(())
}

pub(crate) fn print_task(crm: &Crm, t: &crmkit::automation::Task) -> CliResult {
    let c = crm.customer(t.customer)?;
    let key = c.identities.first().map_or_else(|| c.name.clone(), ToString::to_string);
    out!(
        "{}  {:<4} due {}  {:<16} {:<20} {}",
        t.id,
        t.status.to_string(),
        t.due.format("%Y-%m-%d"),
        t.assignee.as_deref().unwrap_or("-"),
        key,
        t.title
    );
    Ok(())
}

pub(crate) fn events(crm: &Crm, cmd: EventsCommand) -> CliResult {
    let EventsCommand::Tail { after, consumer, ack, kind, limit, format } = cmd;
    if ack && consumer.is_none() {
        return Err("--ack needs --consumer NAME".into());
    }
    let events = match &consumer {
        Some(c) => crm.poll_events(c, limit)?,
        None => crm.events_after(after, limit)?,
    };
    for e in events.iter().filter(|e| kind.as_deref().is_none_or(|k| e.payload.type_name() == k)) {
        if matches!(format, Format::Json) {
            out!("{}", serde_json::to_string(e)?);
            continue;
        }
        let who = e.customer.map_or_else(String::new, |c| c.to_string());
        out!(
            "{:>8}  {}  {:<20} {:<36}  {}",
            e.seq,
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.payload.type_name(),
            who,
            summary(&e.payload)
        );
    }
    if ack && let (Some(c), Some(last)) = (&consumer, events.last()) {
        crm.ack_events(c, last.seq)?;
    }
    Ok(())
}

/// One line about an event's payload.
fn summary(p: &EventPayload) -> String {
    match p {
        EventPayload::CustomerCreated { customer } => customer.name.clone(),
        EventPayload::CustomerUpdated { after, .. } => format!("revision {}", after.revision),
        EventPayload::StageChanged { from, to } => format!("{from} -> {to}"),
        EventPayload::InteractionRecorded { interaction, kind, amount, .. } => {
            format!(
                "#{interaction} {kind}{}",
                amount.as_ref().map_or_else(String::new, |m| format!(" {m}"))
            )
        }
        EventPayload::SegmentEntered { segment, reason, .. } => {
            format!("{segment}: {}", reason.join("; "))
        }
        EventPayload::SegmentExited { segment, reason, .. } => {
            format!("{segment}: {}", reason.join("; "))
        }
        EventPayload::ScoreChanged { after, .. } => {
            format!(
                "p_alive {:.3}, clv {}",
                after.p_alive,
                after.clv.map_or_else(|| "-".into(), |c| format!("{c:.2}"))
            )
        }
        EventPayload::TaskCreated { task } | EventPayload::TaskCompleted { task } => {
            task.title.clone()
        }
        EventPayload::ObjectCreated { object } | EventPayload::ObjectDeleted { object } => {
            format!("{} {}", object.object_type, object.id)
        }
        EventPayload::ObjectUpdated { after, .. } => {
            format!("{} {} revision {}", after.object_type, after.id, after.revision)
        }
        EventPayload::Action { playbook, action, .. } => format!("{playbook}: {action}"),
    }
}

pub(crate) fn advance(crm: &Crm, args: AdvanceArgs) -> CliResult {
    let to = match &args.to {
        Some(t) => crmkit::time::parse_timestamp("--to", t, None)?,
        None => crm.now(),
    };
    let n = crm.advance_to(to)?;
    out!("re-checked {} memberships as of {}", thousands(n as u64), to.to_rfc3339());
    Ok(())
}
