//! `crmkit import customers|interactions`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use crmkit::{
    Crm, Currency, CustomerField, CustomerMapping, IdentityKind, ImportOptions, ImportProgress,
    ImportReport, InputFormat, InteractionField, InteractionMapping,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::CliResult;

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Upsert customers on an identity key.
    Customers(CustomerArgs),
    /// Append interactions (idempotent: importing the same file twice writes nothing the second time).
    Interactions(InteractionArgs),
}

/// Options common to both imports.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The file to import.
    file: PathBuf,
    /// csv, tsv, semicolon, whitespace or jsonl (default: from the file's extension).
    #[arg(long)]
    format: Option<String>,
    /// The input has no header line: name columns by position (#1, #2, ...).
    #[arg(long)]
    no_header: bool,
    /// What the customer key column holds: email, phone or external:SYSTEM.
    #[arg(long, default_value = "email")]
    key: String,
    /// Map a field to a column, e.g. --map amount=total (repeatable).
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    maps: Vec<String>,
    /// Rows per atomic batch.
    #[arg(long, default_value_t = 50_000)]
    batch_size: usize,
    /// Send bad rows to this CSV file (with the reason) and import the rest, instead of stopping.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Print a line per committed batch (to stderr).
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CustomerArgs {
    #[command(flatten)]
    common: Common,
    /// Map a declared custom field to a column, e.g. --attr plan=plan_name (repeatable).
    #[arg(long = "attr", value_name = "FIELD=COLUMN")]
    attrs: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InteractionArgs {
    #[command(flatten)]
    common: Common,
    /// Copy a column into the interactions' properties (repeatable).
    #[arg(long = "property", value_name = "COLUMN")]
    properties: Vec<String>,
    /// Currency when there is no currency column.
    #[arg(long)]
    currency: Option<String>,
    /// Kind when there is no kind column.
    #[arg(long, default_value = "purchase")]
    kind: String,
    /// Timestamp format (chrono strftime, e.g. %d/%m/%Y); default: several common formats.
    #[arg(long)]
    date_format: Option<String>,
    /// Create a customer for each unknown key instead of rejecting the row.
    #[arg(long)]
    create_customers: bool,
}

fn split_map(m: &str) -> Result<(&str, &str), crmkit::Error> {
    m.split_once('=')
        .ok_or_else(|| crmkit::Error::validation("--map", format!("{m:?}: expected FIELD=COLUMN")))
}

fn format_of(common: &Common) -> Result<InputFormat, crmkit::Error> {
    match &common.format {
        Some(f) => f.parse(),
        None => InputFormat::from_path(&common.file.to_string_lossy()).ok_or_else(|| {
            crmkit::Error::validation(
                "--format",
                format!("cannot tell the format of {} from its extension", common.file.display()),
            )
        }),
    }
}

pub(crate) fn run(crm: &Crm, cmd: ImportCommand) -> CliResult {
    let report = match cmd {
        ImportCommand::Customers(args) => {
            let c = &args.common;
            let mut mapping = CustomerMapping::new(format_of(c)?, c.key.parse::<IdentityKind>()?)
                .has_header(!c.no_header);
            for m in &c.maps {
                let (field, column) = split_map(m)?;
                mapping = mapping.column(field.parse::<CustomerField>()?, column);
            }
            for a in &args.attrs {
                let (field, column) = split_map(a)?;
                mapping = mapping.attribute(field, column);
            }
            with_options(c, false, |input, opts| crm.import_customers(input, &mapping, opts))?
        }
        ImportCommand::Interactions(args) => {
            let c = &args.common;
            let mut mapping = InteractionMapping::new(format_of(c)?)
                .has_header(!c.no_header)
                .customer_key(c.key.parse::<IdentityKind>()?)
                .default_kind(args.kind.clone());
            if let Some(cur) = &args.currency {
                mapping = mapping.default_currency(Currency::new(cur)?);
            }
            if let Some(f) = &args.date_format {
                mapping = mapping.timestamp_format(f.clone());
            }
            for m in &c.maps {
                let (field, column) = split_map(m)?;
                mapping = mapping.column(field.parse::<InteractionField>()?, column);
            }
            for p in &args.properties {
                mapping = mapping.property(p.clone());
            }
            with_options(c, args.create_customers, |input, opts| {
                crm.import_interactions(input, &mapping, opts)
            })?
        }
    };
    print_import_report(&report)
}

/// Opens the file, the rejects file and the progress display, and runs `f`.
fn with_options(
    c: &Common,
    create_customers: bool,
    f: impl FnOnce(std::io::BufReader<File>, ImportOptions<'_>) -> crmkit::Result<ImportReport>,
) -> Result<ImportReport, Box<dyn std::error::Error>> {
    let input = open_input(&c.file)?;
    let total = input.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
    let mut rejects = match &c.rejects {
        Some(p) => Some(BufWriter::new(
            File::create(p)
                .map_err(|e| crmkit::Error::Io { path: p.display().to_string(), source: e })?,
        )),
        None => None,
    };
    let bar = progress_bar(total);
    let verbose = c.verbose;
    let mut on_progress = |p: &ImportProgress| {
        bar.set_position(p.bytes_read);
        if verbose {
            eprintln!("committed batch {}: {} rows", p.batches_committed, p.rows_committed);
        }
    };
    let name = c.file.display().to_string();
    let mut opts = ImportOptions::new(name)
        .batch_size(c.batch_size)
        .create_missing_customers(create_customers)
        .progress(&mut on_progress);
    if let Some(w) = rejects.as_mut() {
        opts = opts.rejects(w);
    }
    let result = f(input, opts);
    bar.finish_and_clear();
    if let Some(mut w) = rejects {
        w.flush().map_err(|e| crmkit::Error::Io { path: "rejects file".into(), source: e })?;
    }
    Ok(result?)
}

pub(crate) fn open_input(path: &Path) -> Result<std::io::BufReader<File>, crmkit::Error> {
    File::open(path)
        .map(|f| std::io::BufReader::with_capacity(1 << 16, f))
        .map_err(|e| crmkit::Error::Io { path: path.display().to_string(), source: e })
}

/// A byte-based progress bar on stderr; invisible when stderr is not a terminal.
pub(crate) fn progress_bar(total_bytes: u64) -> ProgressBar {
    let bar = ProgressBar::new(total_bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} importing [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub(crate) fn print_import_report(r: &ImportReport) -> CliResult {
    use crate::display::thousands;
    out!(
        "{} rows read: {} interactions written, {} duplicates skipped, {} customers created, {} updated, {} rejected ({} batches)",
        thousands(r.rows_read),
        thousands(r.interactions_written),
        thousands(r.duplicates_skipped),
        thousands(r.customers_created),
        thousands(r.customers_updated),
        thousands(r.rejected),
        r.batches
    );
    Ok(())
}
