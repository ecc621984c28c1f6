//! `crmkit`: the command line of the crmkit CRM library.

/// `println!` that returns the write error instead of panicking (a closed pipe must not crash us).
macro_rules! out {
    () => {{
        use std::io::Write as _;
        writeln!(std::io::stdout())?
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

mod automation_cmd;
mod display;
mod import_cmd;
mod objects_cmd;
mod report;
mod value_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use crmkit::{Crm, CustomerQuery, FieldDef, FieldType, LifecycleStage, TimeRange};

/// An embeddable CRM, on the command line.
#[derive(Debug, Parser)]
#[command(name = "crmkit", version, about, long_about = None)]
struct Cli {
    /// The SQLite database file (created if missing).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Run as if it were this instant (relative rules such as "last 90 days" use it).
    #[arg(long, global = true, value_name = "TIMESTAMP")]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import customers or interactions from CSV, whitespace-separated columns or JSON Lines.
    #[command(subcommand)]
    Import(import_cmd::ImportCommand),
    /// List or show customers.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Show a customer's interactions.
    Interactions(InteractionsArgs),
    /// Declare or list custom fields.
    #[command(subcommand)]
    Fields(FieldsCommand),
    /// Fit the customer-value models (as of a date) and store them with every customer's scores.
    Fit(value_cmd::FitArgs),
    /// Score customers (fits first), or explain one customer's value from the stored scores.
    Score(value_cmd::ScoreArgs),
    /// Print the report of the customer base in the database.
    Report(ReportArgs),
    /// Import the shipped CDNOW transaction log into a SQLite file and print the report.
    Demo(report::DemoArgs),
    /// Define, list, inspect and explain segments.
    #[command(subcommand)]
    Segment(automation_cmd::SegmentCommand),
    /// Define or list playbooks (what to do when a customer enters a segment).
    #[command(subcommand)]
    Playbook(automation_cmd::PlaybookCommand),
    /// List or complete tasks.
    #[command(subcommand)]
    Tasks(automation_cmd::TasksCommand),
    /// Read the event outbox.
    #[command(subcommand)]
    Events(automation_cmd::EventsCommand),
    /// Re-check the memberships that time alone can have changed.
    Advance(automation_cmd::AdvanceArgs),
    /// Define user-defined object types; create, change, delete, show and list their objects.
    #[command(subcommand)]
    Objects(objects_cmd::ObjectsCommand),
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub(crate) enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum CustomersCommand {
    /// One page of customers, ordered by id.
    List {
        /// Only this lifecycle stage.
        #[arg(long)]
        stage: Option<String>,
        /// Only customers with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only names containing this text (case-insensitive).
        #[arg(long)]
        name: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Continue after this customer id (the `next` of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// One customer, by id or identity key (email:…, phone:…, ext:SYSTEM:ID).
    Show {
        /// Id or identity key.
        customer: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
struct InteractionsArgs {
    /// Customer id or identity key.
    customer: String,
    /// From this date/time (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// Until this date/time (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum FieldsCommand {
    /// Declare a custom field.
    Define {
        /// Field name.
        name: String,
        /// string, integer, decimal, bool, date, datetime or string_list.
        field_type: String,
    },
    /// List the declared fields.
    List,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// How many top customers to show.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&*e);
            while let Some(s) = source {
                // Our own messages already include their cause; show only foreign causes.
                if !e.to_string().contains(&s.to_string()) {
                    eprintln!("  caused by: {s}");
                }
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Whether the error is stdout's reader having gone away (`crmkit report | head`).
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) fn open(db: &Option<PathBuf>) -> Result<Crm, crmkit::Error> {
    let crm = Crm::open(db.clone().unwrap_or_else(|| PathBuf::from("crmkit.db")))?;
    Ok(match NOW.get().copied().flatten() {
        Some(t) => crm.with_clock(std::sync::Arc::new(crmkit::FixedClock::new(t))),
        None => crm,
    })
}

/// `--now`, parsed once.
pub(crate) static NOW: std::sync::OnceLock<Option<chrono::DateTime<chrono::Utc>>> =
    std::sync::OnceLock::new();

fn run(cli: Cli) -> CliResult {
    let now =
        cli.now.as_deref().map(|t| crmkit::time::parse_timestamp("--now", t, None)).transpose()?;
    let _ = NOW.set(now);
    match cli.command {
        Command::Segment(cmd) => automation_cmd::segment(&open(&cli.db)?, cmd),
        Command::Playbook(cmd) => automation_cmd::playbook(&open(&cli.db)?, cmd),
        Command::Tasks(cmd) => automation_cmd::tasks(&open(&cli.db)?, cmd),
        Command::Events(cmd) => automation_cmd::events(&open(&cli.db)?, cmd),
        Command::Advance(args) => automation_cmd::advance(&open(&cli.db)?, args),
        Command::Import(cmd) => import_cmd::run(&open(&cli.db)?, cmd),
        Command::Objects(cmd) => objects_cmd::run(&open(&cli.db)?, cmd),
        Command::Customers(CustomersCommand::List { stage, tag, name, limit, after, format }) => {
            let crm = open(&cli.db)?;
            let mut query = CustomerQuery::new().limit(limit);
            if let Some(s) = stage {
                query = query.stage(s.parse::<LifecycleStage>()?);
            }
            if let Some(t) = tag {
                query = query.tag(t);
            }
            if let Some(n) = name {
                query = query.name_contains(n);
            }
            if let Some(a) = after {
                query = query.after(a.parse()?);
            }
            let page = crm.list_customers(&query)?;
            display::customer_page(&page, matches!(format, Format::Json))
        }
        Command::Customers(CustomersCommand::Show { customer, format }) => {
            let crm = open(&cli.db)?;
            let c = crm.lookup(&customer)?;
            display::customer(&crm, &c, matches!(format, Format::Json))
        }
        Command::Interactions(args) => {
            let crm = open(&cli.db)?;
            let c = crm.lookup(&args.customer)?;
            let mut range = TimeRange::new();
            if let Some(f) = &args.from {
                range = range.from(crmkit::time::parse_timestamp("--from", f, None)?);
            }
            if let Some(t) = &args.to {
                range = range.to(crmkit::time::parse_timestamp("--to", t, None)?);
            }
            let list = crm.interactions(c.id, range)?;
            display::interactions(&c, &list, matches!(args.format, Format::Json))
        }
        Command::Fields(FieldsCommand::Define { name, field_type }) => {
            let crm = open(&cli.db)?;
            crm.define_field(FieldDef::new(name.clone(), field_type.parse::<FieldType>()?))?;
            out!("field {name} declared");
            Ok(())
        }
        Command::Fields(FieldsCommand::List) => {
            for f in open(&cli.db)?.fields()? {
                out!("{}\t{}", f.name, f.field_type);
            }
            Ok(())
        }
        Command::Report(args) => {
            let crm = open(&cli.db)?;
            report::print_base_report(&crm, args.top)
        }
        Command::Demo(args) => report::demo(cli.db, args),
        Command::Fit(args) => value_cmd::fit(&cli.db, args),
        Command::Score(args) => value_cmd::score(&cli.db, args),
    }
}
