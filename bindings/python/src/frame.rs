//! Import sources: a file, or a DataFrame received over the Arrow C data interface and streamed
//! to the importer as CSV text (formatted in Rust, batch by batch), so a frame import has exactly
//! the semantics of a file import: the same mapping, validation, idempotency keys and rejects.

use std::io::Read;
use std::path::PathBuf;

use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, SchemaRef};
use crmkit::InputFormat;
use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::error::{Failure, ValidationError, invalid};

/// Rows formatted per chunk of CSV text.
const ROWS_PER_CHUNK: usize = 4096;

/// What an import reads.
pub(crate) enum Input {
    /// A file in a text format.
    File {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: InputFormat,
    },
    /// A table received over the Arrow C data interface.
    Frame {
        /// Its record batches.
        batches: Vec<RecordBatch>,
        /// Its schema.
        schema: SchemaRef,
    },
}

impl Input {
    /// A path (`str` or `os.PathLike`) or a frame: anything with `__arrow_c_stream__` (polars,
    /// pyarrow, pandas ≥ 2.2 with pyarrow installed), or a pandas DataFrame (converted by
    /// `crmkit._frames.to_arrow`).
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>, format: Option<&str>) -> PyResult<Input> {
        let py = obj.py();
        let os = py.import("os")?;
        let is_path = obj.is_instance_of::<pyo3::types::PyString>()
            || obj.is_instance(&os.getattr("PathLike")?)?;
        if is_path {
            let path: PathBuf = obj.extract()?;
            let format = match format {
                Some(f) => crate::crm::input_format(f)?,
                None => InputFormat::from_path(&path.to_string_lossy()).ok_or_else(|| {
                    invalid(format!(
                        "format: cannot tell the format of {} from its extension; pass format= (csv, tsv, semicolon, whitespace or jsonl)",
                        path.display()
                    ))
                })?,
            };
            return Ok(Input::File { path, format });
        }
        let arrow = if obj.hasattr("__arrow_c_stream__")? {
            obj.clone()
        } else {
            py.import("crmkit._frames")?.call_method1("to_arrow", (obj,))?
        };
        let table: PyTable = arrow.extract().map_err(|e| {
            invalid(format!(
                "source: cannot read it as a table over the Arrow C stream interface: {e}"
            ))
        })?;
        let (batches, schema) = table.into_inner();
        Ok(Input::Frame { batches, schema })
    }

    /// Whether this is a frame.
    pub(crate) fn is_frame(&self) -> bool {
        matches!(self, Input::Frame { .. })
    }

    /// The format the importer reads.
    pub(crate) fn format(&self) -> InputFormat {
        match self {
            Input::File { format, .. } => *format,
            Input::Frame { .. } => InputFormat::Csv { delimiter: b',' },
        }
    }

    /// The name errors and audit entries use.
    pub(crate) fn source_name(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::Frame { .. } => "DataFrame".to_owned(),
        }
    }

    /// Refuses a naive timestamp column (its time zone would be a guess).
    pub(crate) fn check_timestamp_column(&self, column: Option<&str>) -> PyResult<()> {
        let Input::Frame { schema, .. } = self else { return Ok(()) };
        let name = column.unwrap_or("timestamp");
        if let Ok(field) = schema.field_with_name(name)
            && let DataType::Timestamp(_, None) = field.data_type()
        {
            return Err(ValidationError::new_err(format!(
                "column `{name}`: naive timestamps (no time zone); make them timezone-aware first \
                 (pandas: .dt.tz_localize(\"UTC\"), polars: .dt.replace_time_zone(\"UTC\"))"
            )));
        }
        Ok(())
    }

    /// The bytes the importer reads.
    pub(crate) fn reader(&self) -> crmkit::Result<Box<dyn Read + Send + '_>> {
        match self {
            Input::File { path, .. } => {
                let file = std::fs::File::open(path).map_err(|e| crmkit::Error::Io {
                    path: path.display().to_string(),
                    source: e,
                })?;
                Ok(Box::new(file))
            }
            Input::Frame { batches, schema } => Ok(Box::new(FrameReader::new(batches, schema))),
        }
    }

    /// The error of a failed import; for a frame, the row (0-based) and column instead of a
    /// line of the generated text.
    pub(crate) fn explain(&self, e: crmkit::Error) -> Failure {
        match (self, e) {
            (Input::Frame { .. }, crmkit::Error::Import(ie)) => {
                let row = ie.location.line.saturating_sub(2);
                let column = ie
                    .location
                    .field
                    .as_ref()
                    .map(|f| format!(", column `{f}`"))
                    .unwrap_or_default();
                let message = format!(
                    "DataFrame row {row}{column}: {} (import stopped; {} rows committed before the failing batch, which wrote nothing)",
                    ie.cause, ie.committed_rows
                );
                let err = match ie.cause.kind() {
                    crmkit::ErrorKind::NotFound => crate::error::NotFoundError::new_err(message),
                    crmkit::ErrorKind::Conflict => crate::error::ConflictError::new_err(message),
                    crmkit::ErrorKind::Storage => crate::error::StorageError::new_err(message),
                    _ => ValidationError::new_err(message),
                };
                Failure::Python(err)
            }
            (_, e) => Failure::Crm(e),
        }
    }
}

/// CSV text of record batches, produced lazily chunk by chunk.
struct FrameReader<'a> {
    batches: &'a [RecordBatch],
    header: Option<Vec<String>>,
    batch: usize,
    row: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a> FrameReader<'a> {
    fn new(batches: &'a [RecordBatch], schema: &SchemaRef) -> FrameReader<'a> {
        FrameReader {
            batches,
            header: Some(schema.fields().iter().map(|f| f.name().clone()).collect()),
            batch: 0,
            row: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Formats the next chunk of rows into `buf`; false at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        let mut writer = csv::WriterBuilder::new().from_writer(Vec::with_capacity(1 << 16));
        if let Some(header) = self.header.take() {
            writer.write_record(&header).map_err(std::io::Error::other)?;
        }
        while self.batch < self.batches.len() && self.batches[self.batch].num_rows() <= self.row {
            self.batch += 1;
            self.row = 0;
        }
        if let Some(batch) = self.batches.get(self.batch) {
            let options = FormatOptions::default()
                .with_null("")
                .with_timestamp_format(Some("%Y-%m-%dT%H:%M:%S%.f"))
                .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.f%:z"));
            let columns: Vec<&dyn Array> = batch.columns().iter().map(|c| c.as_ref()).collect();
            let formatters = columns
                .iter()
                .map(|c| ArrayFormatter::try_new(*c, &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(std::io::Error::other)?;
            let end = (self.row + ROWS_PER_CHUNK).min(batch.num_rows());
            let mut record: Vec<String> = Vec::with_capacity(columns.len());
            for i in self.row..end {
                record.clear();
                for f in &formatters {
                    record.push(f.value(i).try_to_string().map_err(std::io::Error::other)?);
                }
                writer.write_record(&record).map_err(std::io::Error::other)?;
            }
            self.row = end;
        }
        self.buf = writer.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        self.pos = 0;
        Ok(!self.buf.is_empty())
    }
}

impl Read for FrameReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
