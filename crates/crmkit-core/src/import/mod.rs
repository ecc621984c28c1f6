//! Streaming, idempotent import of customers and interactions from CSV, whitespace-separated
//! columns and JSON Lines.
//!
//! Rows are read one at a time and written in batches (constant memory). A bad row is an
//! [`Error::Import`] naming the file, line and field; by default the import stops there and the
//! failing batch writes nothing (earlier batches stay committed, and the error says how many rows
//! they hold). With [`ImportOptions::rejects`] set, bad rows go to that CSV writer with the reason
//! and the rest is imported.
//!
//! Interactions are idempotent: each gets the key from the mapped `idempotency_key` column, or
//! else one derived from its line number and content, so importing the same file twice writes
//! nothing the second time. Customers are upserted on their identity key.

mod source;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::crm::{Crm, CustomerUpdate, NewCustomer};
use crate::customer::{Customer, CustomerKind, FieldDef, LifecycleStage};
use crate::error::{Error, ImportError, Location, Result};
use crate::identity::{IdentityKey, IdentityKind};
use crate::ids::CustomerId;
use crate::interaction::{Direction, InteractionKind, LineItem, NewInteraction};
use crate::money::{Currency, Money, parse_decimal};
use crate::store::{AuditRecord, WriteBatch, WriteOp};

use source::{Col, RowSource};

/// A hash map with a fast (foldhash) hasher: the import's caches are on the per-row path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// How the input is laid out.
///
/// # Examples
///
/// ```
/// use crmkit_core::InputFormat;
/// assert_eq!("jsonl".parse::<InputFormat>()?, InputFormat::JsonLines);
/// assert_eq!(InputFormat::from_path("orders.tsv"), Some(InputFormat::Csv { delimiter: b'\t' }));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Comma- (or other single-byte-) separated values, RFC 4180 quoting.
    Csv {
        /// The separator byte.
        delimiter: u8,
    },
    /// Columns separated by runs of spaces or tabs (fixed-width logs such as CDNOW's).
    Whitespace,
    /// One JSON object per line.
    JsonLines,
}

impl InputFormat {
    /// Guesses the format from a file name's extension (`.csv`, `.tsv`, `.txt`, `.jsonl`, `.ndjson`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::InputFormat::from_path("x.bin"), None);
    /// ```
    pub fn from_path(path: &str) -> Option<InputFormat> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(InputFormat::Csv { delimiter: b',' }),
            "tsv" => Some(InputFormat::Csv { delimiter: b'\t' }),
            "txt" => Some(InputFormat::Whitespace),
            "jsonl" | "ndjson" => Some(InputFormat::JsonLines),
            _ => None,
        }
    }
}

impl FromStr for InputFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(InputFormat::Csv { delimiter: b',' }),
            "tsv" => Ok(InputFormat::Csv { delimiter: b'\t' }),
            "semicolon" | "csv;" => Ok(InputFormat::Csv { delimiter: b';' }),
            "whitespace" | "ws" | "txt" => Ok(InputFormat::Whitespace),
            "jsonl" | "ndjson" | "json-lines" => Ok(InputFormat::JsonLines),
            _ => Err(Error::validation(
                "format",
                format!("{s:?}: expected csv, tsv, semicolon, whitespace or jsonl"),
            )),
        }
    }
}

macro_rules! field_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every field, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The field's name in mappings and on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::validation("mapping", format!(
                        "unknown field {s:?}; expected one of: {}",
                        $name::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

field_enum! {
    /// What an interaction-file column means.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::InteractionField;
    /// assert_eq!("unit_price".parse::<InteractionField>()?, InteractionField::UnitPrice);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    InteractionField {
        /// The customer's identity key (required).
        Customer => "customer",
        /// When it happened (required).
        Timestamp => "timestamp",
        /// The kind (`purchase`, `refund`, `email`, `call`, ...; else the mapping's default).
        Kind => "kind",
        /// Total of a purchase or refund.
        Amount => "amount",
        /// Its currency (else the mapping's default).
        Currency => "currency",
        /// A line item's SKU.
        Sku => "sku",
        /// A line item's quantity.
        Quantity => "quantity",
        /// A line item's unit price.
        UnitPrice => "unit_price",
        /// The channel.
        Channel => "channel",
        /// `inbound` / `outbound` for e-mails and calls.
        Direction => "direction",
        /// Duration in seconds (calls, meetings).
        Duration => "duration",
        /// A call's outcome.
        Outcome => "outcome",
        /// Subject (e-mail, meeting, ticket).
        Subject => "subject",
        /// Ticket id.
        Ticket => "ticket",
        /// Web visit URL.
        Url => "url",
        /// Note text.
        Text => "text",
        /// An explicit idempotency key.
        IdempotencyKey => "idempotency_key",
    }
}

field_enum! {
    /// What a customer-file column means.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!("email".parse::<crmkit_core::CustomerField>()?.as_str(), "email");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    CustomerField {
        /// The identity key the rows are upserted on (required).
        Key => "key",
        /// Display name (else the key's value, for new customers).
        Name => "name",
        /// `person` or `organisation`.
        Kind => "kind",
        /// An e-mail address to add.
        Email => "email",
        /// A phone number to add.
        Phone => "phone",
        /// Lifecycle stage.
        Stage => "stage",
        /// Tags, `;`-separated.
        Tags => "tags",
    }
}

/// Where each interaction field is in the input, and the defaults for what is not.
///
/// # Examples
///
/// ```
/// use crmkit_core::{InputFormat, InteractionField as F, InteractionMapping, IdentityKind, Currency};
/// // The CDNOW log: "customer_id date number_of_cds dollar_value"
/// let mapping = InteractionMapping::new(InputFormat::Whitespace)
///     .customer_key(IdentityKind::External("cdnow".into()))
///     .column(F::Customer, "customer_id")
///     .column(F::Timestamp, "date")
///     .column(F::Amount, "dollar_value")
///     .default_currency(Currency::USD)
///     .property("number_of_cds");
/// assert_eq!(mapping.columns.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionMapping {
    /// The layout.
    pub format: InputFormat,
    /// Whether the first line names the columns (ignored for JSON Lines).
    pub has_header: bool,
    /// Field → column name (or `#N`, 1-based, or the JSON key).
    pub columns: BTreeMap<InteractionField, String>,
    /// Columns copied into the interaction's properties, under their own names.
    pub properties: Vec<String>,
    /// What the customer column holds.
    pub customer_key: IdentityKind,
    /// The kind when there is no kind column (default `purchase`).
    pub default_kind: String,
    /// The currency when there is no currency column or it is empty.
    pub default_currency: Option<Currency>,
    /// A chrono format for timestamps; without it several common formats are tried.
    pub timestamp_format: Option<String>,
}

impl InteractionMapping {
    /// A mapping with the conventional column names (`customer`, `timestamp`, and `kind`, `amount`,
    /// `currency`... only once mapped) and customer keys taken as e-mail addresses.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::JsonLines);
    /// assert_eq!(m.default_kind, "purchase");
    /// ```
    pub fn new(format: InputFormat) -> Self {
        let mut columns = BTreeMap::new();
        columns.insert(InteractionField::Customer, "customer".to_owned());
        columns.insert(InteractionField::Timestamp, "timestamp".to_owned());
        InteractionMapping {
            format,
            has_header: true,
            columns,
            properties: Vec::new(),
            customer_key: IdentityKind::Email,
            default_kind: "purchase".into(),
            default_currency: None,
            timestamp_format: None,
        }
    }

    /// Maps a field to a column.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{InputFormat, InteractionField, InteractionMapping};
    /// let m = InteractionMapping::new(InputFormat::Csv { delimiter: b',' }).column(InteractionField::Amount, "total");
    /// assert_eq!(m.columns[&InteractionField::Amount], "total");
    /// ```
    pub fn column(mut self, field: InteractionField, column: impl Into<String>) -> Self {
        self.columns.insert(field, column.into());
        self
    }

    /// Copies a column into the properties.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::JsonLines).property("store");
    /// assert_eq!(m.properties, vec!["store".to_string()]);
    /// ```
    pub fn property(mut self, column: impl Into<String>) -> Self {
        self.properties.push(column.into());
        self
    }

    /// Says what the customer column holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::JsonLines)
    ///     .customer_key(crmkit_core::IdentityKind::Phone);
    /// assert_eq!(m.customer_key, crmkit_core::IdentityKind::Phone);
    /// ```
    pub fn customer_key(mut self, kind: IdentityKind) -> Self {
        self.customer_key = kind;
        self
    }

    /// Sets the default currency.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::JsonLines)
    ///     .default_currency(crmkit_core::Currency::EUR);
    /// assert!(m.default_currency.is_some());
    /// ```
    pub fn default_currency(mut self, currency: Currency) -> Self {
        self.default_currency = Some(currency);
        self
    }

    /// Sets the default kind.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::JsonLines).default_kind("web_visit");
    /// assert_eq!(m.default_kind, "web_visit");
    /// ```
    pub fn default_kind(mut self, kind: impl Into<String>) -> Self {
        self.default_kind = kind.into();
        self
    }

    /// Sets the timestamp format (chrono `strftime` syntax).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::JsonLines).timestamp_format("%d/%m/%Y");
    /// assert!(m.timestamp_format.is_some());
    /// ```
    pub fn timestamp_format(mut self, format: impl Into<String>) -> Self {
        self.timestamp_format = Some(format.into());
        self
    }

    /// Whether the first line is a header.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::InteractionMapping::new(crmkit_core::InputFormat::Whitespace).has_header(false);
    /// assert!(!m.has_header);
    /// ```
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }
}

/// Where each customer field is in the input.
///
/// # Examples
///
/// ```
/// use crmkit_core::{CustomerField as F, CustomerMapping, InputFormat, IdentityKind};
/// let m = CustomerMapping::new(InputFormat::Csv { delimiter: b',' }, IdentityKind::Email)
///     .column(F::Key, "email")
///     .column(F::Name, "full_name")
///     .attribute("plan", "plan");
/// assert_eq!(m.attributes.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMapping {
    /// The layout.
    pub format: InputFormat,
    /// Whether the first line names the columns.
    pub has_header: bool,
    /// Field → column.
    pub columns: BTreeMap<CustomerField, String>,
    /// (declared attribute field, column) pairs; values are parsed as the field's type.
    pub attributes: Vec<(String, String)>,
    /// What the key column holds.
    pub key: IdentityKind,
}

impl CustomerMapping {
    /// A mapping with the key in a column named `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::CustomerMapping::new(crmkit_core::InputFormat::JsonLines, crmkit_core::IdentityKind::Email);
    /// assert_eq!(m.columns.len(), 1);
    /// ```
    pub fn new(format: InputFormat, key: IdentityKind) -> Self {
        let mut columns = BTreeMap::new();
        columns.insert(CustomerField::Key, "key".to_owned());
        CustomerMapping { format, has_header: true, columns, attributes: Vec::new(), key }
    }

    /// Maps a field to a column.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerField, CustomerMapping, InputFormat, IdentityKind};
    /// let m = CustomerMapping::new(InputFormat::JsonLines, IdentityKind::Email).column(CustomerField::Stage, "stage");
    /// assert_eq!(m.columns.len(), 2);
    /// ```
    pub fn column(mut self, field: CustomerField, column: impl Into<String>) -> Self {
        self.columns.insert(field, column.into());
        self
    }

    /// Maps a declared custom field to a column.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerMapping, InputFormat, IdentityKind};
    /// let m = CustomerMapping::new(InputFormat::JsonLines, IdentityKind::Email).attribute("seats", "seat_count");
    /// assert_eq!(m.attributes[0], ("seats".to_string(), "seat_count".to_string()));
    /// ```
    pub fn attribute(mut self, field: impl Into<String>, column: impl Into<String>) -> Self {
        self.attributes.push((field.into(), column.into()));
        self
    }

    /// Whether the first line is a header.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerMapping, InputFormat, IdentityKind};
    /// assert!(!CustomerMapping::new(InputFormat::Whitespace, IdentityKind::Phone).has_header(false).has_header);
    /// ```
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }
}

/// Progress of a running import, reported after every committed batch.
///
/// # Examples
///
/// ```
/// let p = crmkit_core::ImportProgress::default();
/// assert_eq!(p.rows_committed, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    /// Rows read so far.
    pub rows_read: u64,
    /// Rows in committed batches (written, skipped as duplicates, or rejected).
    pub rows_committed: u64,
    /// Batches committed.
    pub batches_committed: u64,
    /// Bytes of input consumed.
    pub bytes_read: u64,
}

/// How to run an import.
///
/// # Examples
///
/// ```
/// let mut rejects = Vec::new();
/// let opts = crmkit_core::ImportOptions::new("orders.csv").batch_size(500).rejects(&mut rejects);
/// assert_eq!(opts.batch_size, 500);
/// ```
pub struct ImportOptions<'a> {
    /// The name used in errors and audit entries (usually the file name).
    pub source_name: String,
    /// Rows per atomic batch (at least 1; default 50,000: SQLite rewrites every index page a
    /// batch touches, so bigger batches write far less; 50,000 rows hold about 15 MB).
    pub batch_size: usize,
    /// Create a customer for an unknown key instead of rejecting the row (interactions only).
    pub create_missing_customers: bool,
    /// Where bad rows go (as CSV: line, field, error, record). `None`: the first bad row stops the import.
    pub rejects: Option<&'a mut dyn Write>,
    /// Called after each committed batch.
    pub progress: Option<&'a mut dyn FnMut(&ImportProgress)>,
}

impl<'a> ImportOptions<'a> {
    /// Defaults: 50,000 rows per batch, stop at the first bad row, unknown customers are errors.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::ImportOptions::new("x").batch_size, 50_000);
    /// ```
    pub fn new(source_name: impl Into<String>) -> Self {
        ImportOptions {
            source_name: source_name.into(),
            batch_size: 50_000,
            create_missing_customers: false,
            rejects: None,
            progress: None,
        }
    }

    /// Sets the batch size.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::ImportOptions::new("x").batch_size(0).batch_size, 1);
    /// ```
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Creates customers for unknown keys.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::ImportOptions::new("x").create_missing_customers(true).create_missing_customers);
    /// ```
    pub fn create_missing_customers(mut self, yes: bool) -> Self {
        self.create_missing_customers = yes;
        self
    }

    /// Sends bad rows to `writer` and goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut sink = Vec::new();
    /// assert!(crmkit_core::ImportOptions::new("x").rejects(&mut sink).rejects.is_some());
    /// ```
    pub fn rejects(mut self, writer: &'a mut dyn Write) -> Self {
        self.rejects = Some(writer);
        self
    }

    /// Reports progress after each batch.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut seen = 0;
    /// let mut cb = |p: &crmkit_core::ImportProgress| seen = p.rows_committed;
    /// let _ = crmkit_core::ImportOptions::new("x").progress(&mut cb);
    /// ```
    pub fn progress(mut self, callback: &'a mut dyn FnMut(&ImportProgress)) -> Self {
        self.progress = Some(callback);
        self
    }
}

/// What an import did.
///
/// # Examples
///
/// ```
/// let r = crmkit_core::ImportReport::default();
/// assert_eq!(r.rows_read, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read.
    pub rows_read: u64,
    /// Interactions written.
    pub interactions_written: u64,
    /// Interactions skipped because their idempotency key was already stored.
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

/// A problem with one row: which field, and why.
struct RowError {
    field: Option<String>,
    cause: Error,
}

impl RowError {
    fn at(field: &str, cause: Error) -> Self {
        RowError { field: Some(field.to_owned()), cause }
    }
}

/// Shared batching, rejects and progress logic of both importers.
struct Batcher<'c, 'o> {
    crm: &'c Crm,
    options: ImportOptions<'o>,
    rejects: Option<csv::Writer<&'o mut dyn Write>>,
    report: ImportReport,
    /// Rows of the batch being built (written or rejected).
    batch_rows: u64,
    committed_rows: u64,
}

impl<'c, 'o> Batcher<'c, 'o> {
    fn new(crm: &'c Crm, mut options: ImportOptions<'o>) -> Result<Self> {
        let rejects = match options.rejects.take() {
            Some(w) => {
                let mut writer = csv::Writer::from_writer(w);
                writer
                    .write_record(["line", "field", "error", "record"])
                    .map_err(|e| Error::storage("writing the rejects file", e))?;
                Some(writer)
            }
            None => None,
        };
        Ok(Batcher {
            crm,
            options,
            rejects,
            report: ImportReport::default(),
            batch_rows: 0,
            committed_rows: 0,
        })
    }

    fn location(&self, line: u64, field: Option<String>) -> Location {
        Location { source: self.options.source_name.clone(), line, field }
    }

    /// Handles a bad row: to the rejects file, or the end of the import.
    fn bad_row(&mut self, line: u64, raw: impl FnOnce() -> String, err: RowError) -> Result<()> {
        match &mut self.rejects {
            Some(w) => {
                let field = err.field.clone().unwrap_or_default();
                w.write_record([line.to_string(), field, err.cause.to_string(), raw()])
                    .map_err(|e| Error::storage("writing the rejects file", e))?;
                self.report.rejected += 1;
                self.batch_rows += 1;
                Ok(())
            }
            None => Err(Error::Import(Box::new(ImportError {
                location: self.location(line, err.field),
                cause: err.cause,
                committed_rows: self.committed_rows,
            }))),
        }
    }

    /// Books a committed batch: counts, the rejects file, progress.
    fn committed(
        &mut self,
        outcome: &crate::BatchOutcome,
        created: u64,
        updated: u64,
        bytes_read: u64,
    ) -> Result<()> {
        self.report.interactions_written += outcome.written() as u64;
        self.report.duplicates_skipped += outcome.skipped() as u64;
        self.report.customers_created += created;
        self.report.customers_updated += updated;
        self.report.batches += 1;
        self.committed_rows += self.batch_rows;
        self.batch_rows = 0;
        if let Some(w) = &mut self.rejects {
            w.flush().map_err(|e| Error::storage("writing the rejects file", e))?;
        }
        let progress = ImportProgress {
            rows_read: self.report.rows_read,
            rows_committed: self.committed_rows,
            batches_committed: self.report.batches,
            bytes_read,
        };
        if let Some(cb) = &mut self.options.progress {
            cb(&progress);
        }
        Ok(())
    }
}

/// Turns rows into writes for [`run_import`].
trait RowHandler<R: Read> {
    /// Adds the row's writes to `ops`, or says what is wrong with it.
    fn row(
        &mut self,
        row: &RowSource<R>,
        ops: &mut WriteBatch,
    ) -> std::result::Result<(), RowError>;
    /// Called after each committed batch.
    fn committed(&mut self);
}

/// Reads every row, hands it to `handler`, and commits a batch every `batch_size` rows.
///
/// Each batch is read and resolved (which customers exist, which to create) as the store's only
/// writer, so concurrent imports that create the same new customers end as if they had run one
/// after another: the second finds the customers the first created.
fn run_import<R: Read>(
    source: &mut RowSource<R>,
    batcher: &mut Batcher<'_, '_>,
    handler: &mut impl RowHandler<R>,
) -> Result<ImportReport> {
    let crm = batcher.crm;
    loop {
        let mut first_line = 0;
        let mut more = true;
        let built = crm.commit_with(|| {
            let batch = read_batch(source, batcher, handler, &mut first_line, &mut more)?;
            let count =
                |f: fn(&WriteOp) -> bool| batch.ops.iter().filter(|op| f(op)).count() as u64;
            let created = count(|op| matches!(op, WriteOp::InsertCustomer(_)));
            let updated = count(|op| matches!(op, WriteOp::UpdateCustomer { .. }));
            Ok((batch, (created, updated)))
        });
        let (outcome, (created, updated)) = match built {
            Ok(done) => done,
            // A bad row already says where it is; a failed write is located at the batch.
            Err(e @ Error::Import(_)) => return Err(e),
            Err(cause) => {
                return Err(Error::Import(Box::new(ImportError {
                    location: batcher.location(first_line, None),
                    cause,
                    committed_rows: batcher.committed_rows,
                })));
            }
        };
        if batcher.report.rows_read == 0 {
            return Err(Error::Import(Box::new(ImportError {
                location: batcher.location(1, None),
                cause: Error::Malformed { message: "the file has no data rows".into() },
                committed_rows: 0,
            })));
        }
        if batcher.batch_rows > 0 {
            batcher.committed(&outcome, created, updated, source.bytes_read())?;
        }
        handler.committed();
        if !more {
            return Ok(batcher.report);
        }
    }
}

/// Reads rows until the batch is full or the source ends (`more` turns false).
fn read_batch<R: Read>(
    source: &mut RowSource<R>,
    batcher: &mut Batcher<'_, '_>,
    handler: &mut impl RowHandler<R>,
    first_line: &mut u64,
    more: &mut bool,
) -> Result<WriteBatch> {
    let mut batch = WriteBatch::new();
    while batcher.batch_rows < batcher.options.batch_size as u64 {
        *more = match source.advance() {
            Ok(more) => more,
            Err(e @ Error::Malformed { .. }) => {
                batcher.report.rows_read += 1;
                let line = source.line().max(1);
                batcher.bad_row(line, String::new, RowError { field: None, cause: e })?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if !*more {
            break;
        }
        batcher.report.rows_read += 1;
        if batcher.batch_rows == 0 {
            *first_line = source.line();
        }
        let mut row_ops = WriteBatch::new();
        match handler.row(source, &mut row_ops) {
            Ok(()) => {
                batch.ops.extend(row_ops.ops);
                batcher.batch_rows += 1;
            }
            Err(err) => batcher.bad_row(source.line(), || source.raw(), err)?,
        }
    }
    Ok(batch)
}

fn open_source<R: Read>(
    crm_source: &str,
    input: R,
    format: InputFormat,
    has_header: bool,
) -> Result<RowSource<R>> {
    RowSource::new(input, format, has_header).map_err(|cause| {
        Error::Import(Box::new(ImportError {
            location: Location { source: crm_source.to_owned(), line: 1, field: None },
            cause,
            committed_rows: 0,
        }))
    })
}

/// Resolves one mapped column against the header; the error names the column.
fn resolve_one<R: Read>(source: &RowSource<R>, column: &str, source_name: &str) -> Result<Col> {
    source.resolve(column).map_err(|cause| {
        Error::Import(Box::new(ImportError {
            location: Location {
                source: source_name.to_owned(),
                line: 1,
                field: Some(column.to_owned()),
            },
            cause,
            committed_rows: 0,
        }))
    })
}

fn resolve_all<R: Read, F: Copy + Ord>(
    source: &RowSource<R>,
    columns: &BTreeMap<F, String>,
    source_name: &str,
) -> Result<BTreeMap<F, (Col, String)>> {
    let mut out = BTreeMap::new();
    for (field, name) in columns {
        out.insert(*field, (resolve_one(source, name, source_name)?, name.clone()));
    }
    Ok(out)
}

/// FNV-1a, 64 bits: a stable (unlike `std`'s hasher) fingerprint of a row's content.
struct Fnv64(u64);

impl Fnv64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
}

/// The idempotency key of a row without one: its line number and a hash of its values.
/// Two rows collide only with the same line number and the same 64-bit hash. Leading with the
/// zero-padded line number makes a file's keys ascend, so a store's key index is appended to
/// rather than written all over.
fn derived_key<R: Read>(source: &RowSource<R>) -> String {
    let mut h = Fnv64(Fnv64::OFFSET);
    source.for_each_value(|v| {
        h.write(v.as_bytes());
        h.write(&[0x1f]);
    });
    // Hand-formatted: `format!` was a fifth of the import's time.
    let mut key = String::with_capacity(32);
    key.push_str("row:");
    let line = source.line().to_string();
    for _ in line.len()..10 {
        key.push('0');
    }
    key.push_str(&line);
    key.push(':');
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        key.push(HEX[((h.0 >> (shift * 4)) & 0xf) as usize] as char);
    }
    key
}

impl Crm {
    /// Imports interactions (see the [module docs](crate::import) for the guarantees).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, ImportOptions, InputFormat, InteractionField as F, InteractionMapping};
    ///
    /// let csv = "customer,date,total,currency\n\
    ///            ada@example.org,2024-01-05,19.99,EUR\n\
    ///            bo@example.org,2024-01-06,5.00,EUR\n";
    /// let mapping = InteractionMapping::new(InputFormat::Csv { delimiter: b',' })
    ///     .column(F::Timestamp, "date")
    ///     .column(F::Amount, "total")
    ///     .column(F::Currency, "currency");
    /// let crm = Crm::in_memory();
    /// let opts = || ImportOptions::new("orders.csv").create_missing_customers(true);
    /// let first = crm.import_interactions(csv.as_bytes(), &mapping, opts())?;
    /// assert_eq!((first.interactions_written, first.customers_created), (2, 2));
    /// let again = crm.import_interactions(csv.as_bytes(), &mapping, opts())?;
    /// assert_eq!((again.interactions_written, again.duplicates_skipped), (0, 2));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn import_interactions<R: Read>(
        &self,
        input: R,
        mapping: &InteractionMapping,
        options: ImportOptions<'_>,
    ) -> Result<ImportReport> {
        let source_name = options.source_name.clone();
        let mut source = open_source(&source_name, input, mapping.format, mapping.has_header)?;
        let cols = resolve_all(&source, &mapping.columns, &source_name)?;
        for required in [InteractionField::Customer, InteractionField::Timestamp] {
            if !cols.contains_key(&required) {
                return Err(Error::validation(
                    "mapping",
                    format!("the {required} column must be mapped"),
                ));
            }
        }
        let mut properties = Vec::new();
        for p in &mapping.properties {
            properties.push((p.clone(), resolve_one(&source, p, &source_name)?));
        }
        let mut handler = InteractionRows {
            mapping,
            cols,
            properties,
            customers: CustomerResolver {
                crm: self,
                key_kind: mapping.customer_key.clone(),
                create_missing: options.create_missing_customers,
                actor: format!("import:{source_name}"),
                known: FastMap::default(),
                by_key: FastMap::default(),
            },
        };
        let mut batcher = Batcher::new(self, options)?;
        run_import(&mut source, &mut batcher, &mut handler)
    }

    /// Imports customers, upserting on the mapped key: a new key creates a customer, a known one
    /// updates it (only what changed is written, with an audit entry per field).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, CustomerField as F, CustomerMapping, FieldDef, FieldType, ImportOptions, InputFormat, IdentityKind};
    ///
    /// let crm = Crm::in_memory();
    /// crm.define_field(FieldDef::new("seats", FieldType::Integer))?;
    /// let csv = "email,name,stage,seats\nada@example.org,Ada,lead,3\nbo@example.org,Bo,customer,10\n";
    /// let mapping = CustomerMapping::new(InputFormat::Csv { delimiter: b',' }, IdentityKind::Email)
    ///     .column(F::Key, "email").column(F::Name, "name").column(F::Stage, "stage")
    ///     .attribute("seats", "seats");
    /// let r = crm.import_customers(csv.as_bytes(), &mapping, ImportOptions::new("people.csv"))?;
    /// assert_eq!(r.customers_created, 2);
    /// let r = crm.import_customers(csv.as_bytes(), &mapping, ImportOptions::new("people.csv"))?;
    /// assert_eq!((r.customers_created, r.customers_updated), (0, 0));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn import_customers<R: Read>(
        &self,
        input: R,
        mapping: &CustomerMapping,
        options: ImportOptions<'_>,
    ) -> Result<ImportReport> {
        let source_name = options.source_name.clone();
        let mut source = open_source(&source_name, input, mapping.format, mapping.has_header)?;
        let cols = resolve_all(&source, &mapping.columns, &source_name)?;
        if !cols.contains_key(&CustomerField::Key) {
            return Err(Error::validation("mapping", "the key column must be mapped"));
        }
        let fields = self.field_types()?;
        let mut attributes = Vec::new();
        for (field, column) in &mapping.attributes {
            let def = fields.get(field).cloned().ok_or_else(|| {
                Error::validation(
                    format!("attributes.{field}"),
                    "is not a declared field (declare it with define_field first)",
                )
            })?;
            attributes.push((def, column.clone(), resolve_one(&source, column, &source_name)?));
        }
        let mut handler = CustomerRows {
            crm: self,
            mapping,
            cols,
            attributes,
            fields,
            actor: format!("import:{source_name}"),
            pending: HashMap::new(),
            pending_keys: HashMap::new(),
        };
        let mut batcher = Batcher::new(self, options)?;
        run_import(&mut source, &mut batcher, &mut handler)
    }
}

/// Interaction rows: parse, find or create the customer, append.
struct InteractionRows<'a> {
    mapping: &'a InteractionMapping,
    cols: BTreeMap<InteractionField, (Col, String)>,
    properties: Vec<(String, Col)>,
    customers: CustomerResolver<'a>,
}

/// Finds the customer of each row's key, creating it if asked to, with caches.
struct CustomerResolver<'a> {
    crm: &'a Crm,
    key_kind: IdentityKind,
    create_missing: bool,
    actor: String,
    /// Customers known to exist (committed, or created earlier in the current batch), by the
    /// key as written in the file, so a known customer costs no normalisation.
    known: FastMap<String, CustomerId>,
    /// The same by normalised key, so `A@x.org` and `a@x.org` are one customer.
    by_key: FastMap<IdentityKey, CustomerId>,
}

impl<R: Read> RowHandler<R> for InteractionRows<'_> {
    fn row(
        &mut self,
        row: &RowSource<R>,
        ops: &mut WriteBatch,
    ) -> std::result::Result<(), RowError> {
        let Some((col, col_name)) = self.cols.get(&F::Customer) else {
            return Err(RowError::at("customer", Error::validation("customer", "is not mapped")));
        };
        let key_text = row
            .get(col)
            .ok_or_else(|| RowError::at(col_name, Error::validation(col_name, "is empty")))?;
        let mut interaction = parse_interaction(row, self.mapping, &self.cols, &self.properties)?;
        interaction.customer = self.customers.resolve(key_text, &interaction, col_name, ops)?;
        if interaction.idempotency_key.is_none() {
            interaction.idempotency_key = Some(derived_key(row));
        }
        ops.push(WriteOp::AppendInteraction(interaction));
        Ok(())
    }

    fn committed(&mut self) {
        // Bound memory on huge customer bases; nothing is pending right after a commit.
        if self.customers.known.len() > 1_000_000 {
            self.customers.known.clear();
            self.customers.by_key.clear();
        }
    }
}

impl CustomerResolver<'_> {
    /// The customer of a row's key (as written), creating it in `ops` if missing and asked to.
    fn resolve(
        &mut self,
        key_text: std::borrow::Cow<'_, str>,
        interaction: &NewInteraction,
        col_name: &str,
        ops: &mut WriteBatch,
    ) -> std::result::Result<CustomerId, RowError> {
        if let Some(id) = self.known.get(key_text.as_ref()) {
            return Ok(*id);
        }
        let at = |e: Error| RowError::at(col_name, e);
        let key = self.key_kind.key(&key_text).map_err(at)?;
        let id = match self.by_key.get(&key) {
            Some(id) => *id,
            None => match self.crm.store().customer_id_by_key(&key).map_err(at)? {
                Some(id) => id,
                None if self.create_missing => {
                    let stage = match interaction.kind {
                        InteractionKind::Purchase { .. } => LifecycleStage::Customer,
                        _ => LifecycleStage::Prospect,
                    };
                    let new = NewCustomer::person(key.value())
                        .identity(key.kind(), key.value())
                        .stage(stage)
                        .source(self.actor.clone());
                    let (c, audit) = self.crm.build_customer(new, &HashMap::new()).map_err(at)?;
                    let id = c.id;
                    ops.push(WriteOp::InsertCustomer(c));
                    ops.push(WriteOp::Audit(audit));
                    id
                }
                None => {
                    return Err(at(Error::NotFound { entity: "customer", key: key.to_string() }));
                }
            },
        };
        self.by_key.insert(key, id);
        self.known.insert(key_text.into_owned(), id);
        Ok(id)
    }
}

/// Customer rows: upsert on the key.
struct CustomerRows<'a> {
    crm: &'a Crm,
    mapping: &'a CustomerMapping,
    cols: BTreeMap<CustomerField, (Col, String)>,
    attributes: Vec<(FieldDef, String, Col)>,
    fields: HashMap<String, FieldDef>,
    actor: String,
    /// Customers written earlier in the current batch, as they will be after it.
    pending: HashMap<CustomerId, Customer>,
    pending_keys: HashMap<IdentityKey, CustomerId>,
}

impl CustomerRows<'_> {
    fn lookup(&self, key: &IdentityKey) -> Result<Option<Customer>> {
        match self.pending_keys.get(key) {
            Some(id) => Ok(self.pending.get(id).cloned()),
            None => self.crm.find(key),
        }
    }
}

impl<R: Read> RowHandler<R> for CustomerRows<'_> {
    fn row(
        &mut self,
        row: &RowSource<R>,
        ops: &mut WriteBatch,
    ) -> std::result::Result<(), RowError> {
        type C = CustomerField;
        let get = |f: C| self.cols.get(&f).and_then(|(c, _)| row.get(c));
        let name = |f: C| self.cols.get(&f).map_or(f.as_str(), |(_, n)| n.as_str());
        let at = |f: C| move |e: Error| RowError::at(name(f), e);

        let key_text = get(C::Key).ok_or_else(|| {
            RowError::at(name(C::Key), Error::validation(name(C::Key), "is empty"))
        })?;
        let key = self.mapping.key.key(&key_text).map_err(at(C::Key))?;
        let mut update = CustomerUpdate::new().source(self.actor.clone());
        let mut extra_keys = Vec::new();
        if let Some(n) = get(C::Name) {
            update = update.name(n.trim());
        }
        if let Some(k) = get(C::Kind) {
            update = update.kind(k.parse::<CustomerKind>().map_err(at(C::Kind))?);
        }
        if let Some(s) = get(C::Stage) {
            update = update.stage(s.parse::<LifecycleStage>().map_err(at(C::Stage))?);
        }
        for (f, kind) in [(C::Email, IdentityKind::Email), (C::Phone, IdentityKind::Phone)] {
            if let Some(v) = get(f) {
                let k = kind.key(&v).map_err(at(f))?;
                extra_keys.push((f, k.clone()));
                update = update.add_identity(kind, k.value());
            }
        }
        if let Some(tags) = get(C::Tags) {
            for t in tags.split(';').map(str::trim).filter(|t| !t.is_empty()) {
                update = update.add_tag(t);
            }
        }
        for (def, column, col) in &self.attributes {
            if let Some(v) = row.get(col) {
                let value =
                    def.field_type.parse_value(column, &v).map_err(|e| RowError::at(column, e))?;
                update = update.attribute(def.name.clone(), value);
            }
        }
        let existing = self.lookup(&key).map_err(at(C::Key))?;
        let owner = existing.as_ref().map(|c| c.id);
        for (f, k) in &extra_keys {
            if let Some(other) = self.lookup(k).map_err(at(*f))?
                && Some(other.id) != owner
            {
                return Err(RowError::at(
                    name(*f),
                    Error::DuplicateIdentityKey { key: k.to_string(), owner: other.id },
                ));
            }
        }
        let next = match existing {
            Some(current) => {
                let (next, audit) =
                    self.crm.apply_update(&current, update, &self.fields).map_err(at(C::Key))?;
                if audit.is_empty() {
                    return Ok(());
                }
                ops.push(WriteOp::UpdateCustomer {
                    customer: next.clone(),
                    expected_revision: current.revision,
                });
                ops.extend_audit(audit);
                next
            }
            None => {
                let display =
                    get(C::Name).map_or_else(|| key.value().to_owned(), |n| n.trim().to_owned());
                let base = NewCustomer::person(display)
                    .identity(key.kind(), key.value())
                    .source(self.actor.clone());
                let (created, audit) =
                    self.crm.build_customer(base, &self.fields).map_err(at(C::Key))?;
                // Apply the row's other values as part of the creation (one record, one audit entry).
                let (next, _) =
                    self.crm.apply_update(&created, update, &self.fields).map_err(at(C::Key))?;
                let next = Customer { revision: 1, updated_at: created.updated_at, ..next };
                let audit = AuditRecord {
                    new: Some(
                        serde_json::json!({ "name": next.name, "identities": next.identities }),
                    ),
                    ..audit
                };
                ops.push(WriteOp::InsertCustomer(next.clone()));
                ops.push(WriteOp::Audit(audit));
                next
            }
        };
        for k in &next.identities {
            self.pending_keys.insert(k.clone(), next.id);
        }
        self.pending.insert(next.id, next);
        Ok(())
    }

    fn committed(&mut self) {
        self.pending.clear();
        self.pending_keys.clear();
    }
}

trait ExtendAudit {
    fn extend_audit(&mut self, audit: Vec<AuditRecord>);
}

impl ExtendAudit for WriteBatch {
    fn extend_audit(&mut self, audit: Vec<AuditRecord>) {
        self.ops.extend(audit.into_iter().map(WriteOp::Audit));
    }
}

use InteractionField as F;

fn parse_interaction<R: Read>(
    row: &RowSource<R>,
    mapping: &InteractionMapping,
    cols: &BTreeMap<InteractionField, (Col, String)>,
    properties: &[(String, Col)],
) -> std::result::Result<NewInteraction, RowError> {
    let get = |f: InteractionField| cols.get(&f).and_then(|(c, _)| row.get(c));
    let name = |f: InteractionField| cols.get(&f).map_or(f.as_str(), |(_, n)| n.as_str());
    let required = |f: InteractionField| {
        get(f).ok_or_else(|| RowError::at(name(f), Error::validation(name(f), "is empty")))
    };
    let at = |f: InteractionField| move |e: Error| RowError::at(name(f), e);

    let ts = required(F::Timestamp)?;
    let occurred_at =
        crate::time::parse_timestamp(name(F::Timestamp), &ts, mapping.timestamp_format.as_deref())
            .map_err(at(F::Timestamp))?;
    let kind_name =
        get(F::Kind).map_or_else(|| mapping.default_kind.clone(), |k| k.trim().to_lowercase());

    let money = |f: InteractionField, amount: &str| -> std::result::Result<Money, RowError> {
        let value = parse_decimal(name(f), amount).map_err(at(f))?;
        let currency = match get(F::Currency) {
            Some(c) => Currency::new(&c).map_err(at(F::Currency))?,
            None => mapping.default_currency.ok_or_else(|| {
                RowError::at(
                    name(F::Currency),
                    Error::validation(
                        name(F::Currency),
                        "is empty and the mapping has no default currency",
                    ),
                )
            })?,
        };
        Ok(Money::new(value, currency))
    };
    let direction = || -> std::result::Result<Direction, RowError> {
        match get(F::Direction).as_deref().map(str::trim).map(str::to_lowercase).as_deref() {
            None | Some("inbound") | Some("in") => Ok(Direction::Inbound),
            Some("outbound") | Some("out") => Ok(Direction::Outbound),
            Some(other) => Err(RowError::at(
                name(F::Direction),
                Error::validation(
                    name(F::Direction),
                    format!("{other:?}: expected inbound or outbound"),
                ),
            )),
        }
    };
    let seconds = |required_here: bool| -> std::result::Result<Option<u32>, RowError> {
        match get(F::Duration) {
            Some(d) => d.trim().parse::<u32>().map(Some).map_err(|_| {
                RowError::at(
                    name(F::Duration),
                    Error::validation(
                        name(F::Duration),
                        format!("{d:?} is not a whole number of seconds"),
                    ),
                )
            }),
            None if required_here => Ok(Some(0)),
            None => Ok(None),
        }
    };
    let opt = |f: InteractionField| get(f).map(|s| s.trim().to_owned());

    let kind = match kind_name.as_str() {
        "purchase" | "refund" => {
            let mut items = Vec::new();
            if let Some(sku) = get(F::Sku) {
                let quantity = match get(F::Quantity) {
                    Some(q) => parse_decimal(name(F::Quantity), &q).map_err(at(F::Quantity))?,
                    None => rust_decimal::Decimal::ONE,
                };
                let price_text = get(F::UnitPrice).ok_or_else(|| {
                    RowError::at(
                        name(F::UnitPrice),
                        Error::validation(name(F::UnitPrice), "is empty but a sku is given"),
                    )
                })?;
                items.push(LineItem {
                    sku: sku.trim().to_owned(),
                    quantity,
                    unit_price: money(F::UnitPrice, &price_text)?,
                });
            }
            let total = match get(F::Amount) {
                Some(a) => money(F::Amount, &a)?,
                None => match items.first() {
                    Some(item) => item.total().map_err(at(F::Amount))?,
                    None => {
                        return Err(RowError::at(
                            name(F::Amount),
                            Error::validation(name(F::Amount), "is empty"),
                        ));
                    }
                },
            };
            if kind_name == "purchase" {
                InteractionKind::Purchase { total, items }
            } else {
                InteractionKind::Refund { total, items }
            }
        }
        "email" => InteractionKind::Email { direction: direction()?, subject: opt(F::Subject) },
        "call" => InteractionKind::Call {
            direction: direction()?,
            duration_secs: seconds(true)?.unwrap_or(0),
            outcome: opt(F::Outcome),
        },
        "meeting" => {
            InteractionKind::Meeting { subject: opt(F::Subject), duration_secs: seconds(false)? }
        }
        "ticket_opened" => InteractionKind::TicketOpened {
            ticket: required(F::Ticket)?.trim().to_owned(),
            subject: opt(F::Subject),
        },
        "ticket_resolved" => {
            InteractionKind::TicketResolved { ticket: required(F::Ticket)?.trim().to_owned() }
        }
        "web_visit" => InteractionKind::WebVisit { url: opt(F::Url) },
        "note" => InteractionKind::Note { text: required(F::Text)?.trim().to_owned() },
        other => InteractionKind::Custom { name: other.to_owned() },
    };
    let mut new = NewInteraction::new(CustomerId::from_u128(0), occurred_at, kind);
    if let Some(c) = get(F::Channel) {
        new.channel = Some(c.parse().map_err(at(F::Channel))?);
    }
    new.idempotency_key = opt(F::IdempotencyKey);
    for (prop, col) in properties {
        if let Some(v) = row.get(col) {
            new.properties.insert(prop.clone(), serde_json::Value::String(v.trim().to_owned()));
        }
    }
    let kind_field = if cols.contains_key(&F::Kind) { F::Kind } else { F::Amount };
    new.validate().map_err(|e| {
        // Name the file's column, not the domain field ("qty", not "quantity").
        let field = match &e {
            Error::Validation { field, .. } => match field.parse::<InteractionField>() {
                Ok(f) => name(f).to_owned(),
                Err(_) => field.clone(),
            },
            _ => name(kind_field).to_owned(),
        };
        RowError { field: Some(field), cause: e }
    })?;
    Ok(new)
}
