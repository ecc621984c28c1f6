//! Streaming imports of CSV, whitespace-separated logs and JSON Lines, from a file or from text.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::Arc;

use crate::customer::IdentityKind;
use crate::error::{CrmError, CrmResult};

/// How the input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum InputFormat {
    /// Comma-separated values (RFC 4180 quoting).
    Csv,
    /// Tab-separated values.
    Tsv,
    /// Semicolon-separated values.
    Semicolon,
    /// Columns separated by runs of spaces or tabs (logs such as CDNOW's).
    Whitespace,
    /// One JSON object per line; columns are the objects' keys.
    JsonLines,
}

impl From<InputFormat> for crmkit::InputFormat {
    fn from(f: InputFormat) -> Self {
        match f {
            InputFormat::Csv => crmkit::InputFormat::Csv { delimiter: b',' },
            InputFormat::Tsv => crmkit::InputFormat::Csv { delimiter: b'\t' },
            InputFormat::Semicolon => crmkit::InputFormat::Csv { delimiter: b';' },
            InputFormat::Whitespace => crmkit::InputFormat::Whitespace,
            InputFormat::JsonLines => crmkit::InputFormat::JsonLines,
        }
    }
}

/// Where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ImportSource {
    /// A file on the device.
    File {
        /// Its path.
        path: String,
    },
    /// Text in memory (a download, an asset, a share-sheet payload).
    Text {
        /// The name errors and the audit log use for it.
        name: String,
        /// The content.
        text: String,
    },
}

impl ImportSource {
    fn name(&self) -> &str {
        match self {
            ImportSource::File { path } => path,
            ImportSource::Text { name, .. } => name,
        }
    }

    fn open(self) -> CrmResult<Box<dyn Read>> {
        Ok(match self {
            ImportSource::File { path } => {
                let file = File::open(&path)
                    .map_err(|source| crmkit::Error::Io { path: path.clone(), source })?;
                Box::new(BufReader::new(file))
            }
            ImportSource::Text { text, .. } => Box::new(std::io::Cursor::new(text.into_bytes())),
        })
    }
}

/// Which columns hold which interaction fields.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InteractionMapping {
    /// The layout.
    pub format: InputFormat,
    /// Field → column. Fields: `customer`, `timestamp`, `kind`, `amount`, `currency`, `sku`,
    /// `quantity`, `unit_price`, `channel`, `direction`, `duration`, `outcome`, `subject`,
    /// `ticket`, `url`, `text`, `idempotency_key`. Columns are header names, or `#1`, `#2`...
    /// without a header. Unmapped `customer` and `timestamp` read the columns of those names.
    pub columns: HashMap<String, String>,
    /// Which kind of identity key the `customer` column holds.
    pub customer_key: IdentityKind,
    /// Whether the first line names the columns (ignored for JSON Lines).
    #[uniffi(default = true)]
    pub has_header: bool,
    /// Columns kept as properties of each interaction.
    #[uniffi(default)]
    pub properties: Vec<String>,
    /// The kind of rows without a `kind` column.
    #[uniffi(default = "purchase")]
    pub default_kind: String,
    /// The currency of amounts without a `currency` column.
    #[uniffi(default = None)]
    pub default_currency: Option<String>,
    /// A chrono format for the timestamps (`"%Y%m%d"`); `null`: RFC 3339 or `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub timestamp_format: Option<String>,
}

impl InteractionMapping {
    fn into_core(self) -> CrmResult<crmkit::InteractionMapping> {
        let InteractionMapping {
            format,
            columns,
            customer_key,
            has_header,
            properties,
            default_kind,
            default_currency,
            timestamp_format,
        } = self;
        let mut m = crmkit::InteractionMapping::new(format.into())
            .has_header(has_header)
            .customer_key(customer_key.into())
            .default_kind(default_kind);
        for (field, column) in columns {
            m = m.column(field.parse::<crmkit::InteractionField>()?, column);
        }
        for p in properties {
            m = m.property(p);
        }
        if let Some(code) = default_currency {
            m = m.default_currency(crmkit::Currency::new(&code)?);
        }
        if let Some(f) = timestamp_format {
            m = m.timestamp_format(f);
        }
        Ok(m)
    }
}

/// Which columns hold which customer fields. Customers are upserted on the key column.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CustomerMapping {
    /// The layout.
    pub format: InputFormat,
    /// The kind of identity key the `key` column holds; customers are matched on it.
    pub key: IdentityKind,
    /// Field → column. Fields: `key`, `name`, `kind`, `email`, `phone`, `stage`, `tags`.
    pub columns: HashMap<String, String>,
    /// Custom field → column (the fields must be declared).
    #[uniffi(default)]
    pub attributes: HashMap<String, String>,
    /// Whether the first line names the columns (ignored for JSON Lines).
    #[uniffi(default = true)]
    pub has_header: bool,
}

impl CustomerMapping {
    fn into_core(self) -> CrmResult<crmkit::CustomerMapping> {
        let CustomerMapping { format, key, columns, attributes, has_header } = self;
        let mut m = crmkit::CustomerMapping::new(format.into(), key.into()).has_header(has_header);
        for (field, column) in columns {
            m = m.column(field.parse::<crmkit::CustomerField>()?, column);
        }
        let mut attributes: Vec<(String, String)> = attributes.into_iter().collect();
        attributes.sort();
        for (field, column) in attributes {
            m = m.attribute(field, column);
        }
        Ok(m)
    }
}

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportOptions {
    /// Create a customer for an unknown key instead of rejecting the row (interactions only).
    #[uniffi(default = false)]
    pub create_missing_customers: bool,
    /// Write bad rows to this CSV file (line, field, error, record) and import the rest;
    /// `null`: the first bad row stops the import (earlier batches stay committed).
    #[uniffi(default = None)]
    pub rejects_path: Option<String>,
    /// Rows per atomic batch; `null`: crmkit's default (50,000).
    #[uniffi(default = None)]
    pub batch_size: Option<u32>,
}

/// Progress of an import, after each committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ImportProgress {
    /// Data rows read so far.
    pub rows_read: u64,
    /// Rows committed so far.
    pub rows_committed: u64,
    /// Batches committed so far.
    pub batches_committed: u64,
    /// Bytes of input read so far.
    pub bytes_read: u64,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// Data rows read.
    pub rows_read: u64,
    /// Interactions written.
    pub interactions_written: u64,
    /// Interactions skipped: already imported (imports are idempotent).
    pub duplicates_skipped: u64,
    /// Customers created.
    pub customers_created: u64,
    /// Customers changed.
    pub customers_updated: u64,
    /// Rows sent to the rejects file.
    pub rejected: u64,
    /// Batches committed.
    pub batches: u64,
}

impl From<crmkit::ImportReport> for ImportReport {
    fn from(r: crmkit::ImportReport) -> Self {
        let crmkit::ImportReport {
            rows_read,
            interactions_written,
            duplicates_skipped,
            customers_created,
            customers_updated,
            rejected,
            batches,
        } = r;
        ImportReport {
            rows_read,
            interactions_written,
            duplicates_skipped,
            customers_created,
            customers_updated,
            rejected,
            batches,
        }
    }
}

/// Implemented by the app to follow an import (a progress bar). Called on the importing thread,
/// after each committed batch.
///
/// An exception thrown here cannot cross back into Rust: crmkit stops the import and the call
/// throws `CrmException.Internal` (Swift `CrmError.Internal`). Batches already committed stay.
#[uniffi::export(foreign)]
pub trait ImportListener: Send + Sync {
    /// A batch was committed.
    fn on_progress(&self, progress: ImportProgress);
}

/// Which importer to run.
pub(crate) enum Importer {
    Interactions(InteractionMapping),
    Customers(CustomerMapping),
}

/// Runs an import with the options and listener of the FFI.
pub(crate) fn run(
    crm: &crmkit::Crm,
    source: ImportSource,
    importer: Importer,
    options: ImportOptions,
    listener: Option<Arc<dyn ImportListener>>,
) -> CrmResult<ImportReport> {
    let ImportOptions { create_missing_customers, rejects_path, batch_size } = options;
    let name = source.name().to_owned();
    let mut rejects = match &rejects_path {
        Some(path) => Some(BufWriter::new(
            File::create(path)
                .map_err(|source| crmkit::Error::Io { path: path.clone(), source })?,
        )),
        None => None,
    };
    let mut on_progress = |p: &crmkit::ImportProgress| {
        if let Some(l) = &listener {
            l.on_progress(ImportProgress {
                rows_read: p.rows_read,
                rows_committed: p.rows_committed,
                batches_committed: p.batches_committed,
                bytes_read: p.bytes_read,
            });
        }
    };
    let mut opts = crmkit::ImportOptions::new(name)
        .create_missing_customers(create_missing_customers)
        .progress(&mut on_progress);
    if let Some(n) = batch_size {
        if n == 0 {
            return Err(CrmError::invalid("batch_size", "must be at least 1"));
        }
        opts = opts.batch_size(n as usize);
    }
    if let Some(w) = rejects.as_mut() {
        opts = opts.rejects(w);
    }
    let input = source.open()?;
    let report = match importer {
        Importer::Interactions(m) => crm.import_interactions(input, &m.into_core()?, opts)?,
        Importer::Customers(m) => crm.import_customers(input, &m.into_core()?, opts)?,
    };
    if let (Some(w), Some(path)) = (rejects.as_mut(), &rejects_path) {
        w.flush().map_err(|source| crmkit::Error::Io { path: path.clone(), source })?;
    }
    Ok(report.into())
}
