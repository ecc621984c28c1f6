//! Row sources: CSV, whitespace-separated columns, and JSON Lines, read as a stream.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use crate::error::{Error, Result};

use super::InputFormat;

/// A column as the mapping names it, resolved against the input's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Col {
    Index(usize),
    Key(String),
}

/// Counts the bytes read through it, for progress reports.
struct CountingReader<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A stream of rows with a current row.
pub(crate) struct RowSource<R: Read> {
    kind: Kind<CountingReader<R>>,
    header: Option<Vec<String>>,
    line: u64,
    bytes: Rc<Cell<u64>>,
}

enum Kind<R: Read> {
    Csv {
        reader: csv::Reader<R>,
        record: csv::StringRecord,
        delimiter: u8,
    },
    Whitespace {
        reader: BufReader<R>,
        buf: Vec<u8>,
        text: String,
        fields: Vec<(usize, usize)>,
    },
    JsonLines {
        reader: BufReader<R>,
        buf: Vec<u8>,
        text: String,
        object: serde_json::Map<String, serde_json::Value>,
    },
}

fn utf8_error(line: u64) -> Error {
    Error::Malformed {
        message: format!("line {line} is not valid UTF-8 (crmkit reads UTF-8 files)"),
    }
}

impl<R: Read> RowSource<R> {
    /// Opens a source and reads its header (if the format has one and `has_header`).
    pub(crate) fn new(input: R, format: InputFormat, has_header: bool) -> Result<Self> {
        let bytes = Rc::new(Cell::new(0));
        let counting = CountingReader { inner: input, count: bytes.clone() };
        let kind = match format {
            InputFormat::Csv { delimiter } => Kind::Csv {
                reader: csv::ReaderBuilder::new()
                    .delimiter(delimiter)
                    .has_headers(false)
                    .flexible(false)
                    .from_reader(counting),
                record: csv::StringRecord::new(),
                delimiter,
            },
            InputFormat::Whitespace => Kind::Whitespace {
                reader: BufReader::with_capacity(1 << 16, counting),
                buf: Vec::new(),
                text: String::new(),
                fields: Vec::new(),
            },
            InputFormat::JsonLines => Kind::JsonLines {
                reader: BufReader::with_capacity(1 << 16, counting),
                buf: Vec::new(),
                text: String::new(),
                object: serde_json::Map::new(),
            },
        };
        let mut source = RowSource { kind, header: None, line: 0, bytes };
        if has_header && !matches!(format, InputFormat::JsonLines) {
            if !source.advance()? {
                return Err(Error::Malformed {
                    message: "the file is empty: expected a header line".into(),
                });
            }
            let n = source.width();
            source.header = Some(
                (0..n)
                    .map(|i| source.get(&Col::Index(i)).unwrap_or_default().into_owned())
                    .collect(),
            );
        }
        Ok(source)
    }

    /// Resolves a column name (or `#N`, 1-based) against the header.
    pub(crate) fn resolve(&self, name: &str) -> Result<Col> {
        if let Kind::JsonLines { .. } = self.kind {
            return Ok(Col::Key(name.to_owned()));
        }
        if let Some(n) = name.strip_prefix('#') {
            return match n.parse::<usize>() {
                Ok(i) if i >= 1 => Ok(Col::Index(i - 1)),
                _ => Err(Error::validation("column", format!("{name:?}: expected #1, #2, ..."))),
            };
        }
        match &self.header {
            Some(h) => {
                h.iter().position(|c| c == name).map(Col::Index).ok_or_else(|| Error::Malformed {
                    message: format!(
                        "no column {name:?} in the header (columns: {})",
                        h.join(", ")
                    ),
                })
            }
            None => Err(Error::validation(
                "column",
                format!(
                    "{name:?}: the input has no header, name columns by position (#1, #2, ...)"
                ),
            )),
        }
    }

    /// Moves to the next non-empty row; `false` at the end.
    pub(crate) fn advance(&mut self) -> Result<bool> {
        match &mut self.kind {
            Kind::Csv { reader, record, .. } => match reader.read_record(record) {
                Ok(more) => {
                    self.line = record.position().map_or(self.line + 1, |p| p.line());
                    Ok(more)
                }
                Err(e) => {
                    // A UTF-8 error carries the position of the record before; never go back.
                    let line = e.position().map_or(self.line + 1, |p| p.line().max(self.line + 1));
                    self.line = line;
                    Err(match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => utf8_error(line),
                        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                            Error::Malformed {
                                message: format!(
                                    "line {line} has {len} fields, expected {expected_len} like the lines before"
                                ),
                            }
                        }
                        _ => Error::Malformed { message: format!("line {line}: {e}") },
                    })
                }
            },
            Kind::Whitespace { reader, buf, text, fields } => loop {
                if read_line(reader, buf, text, &mut self.line)?.is_none() {
                    return Ok(false);
                }
                fields.clear();
                let base = text.as_ptr() as usize;
                for f in text.split_ascii_whitespace() {
                    let start = f.as_ptr() as usize - base;
                    fields.push((start, start + f.len()));
                }
                if fields.is_empty() {
                    continue;
                }
                if let Some(h) = &self.header
                    && h.len() != fields.len()
                {
                    return Err(Error::Malformed {
                        message: format!(
                            "line {} has {} fields, expected {} as in the header",
                            self.line,
                            fields.len(),
                            h.len()
                        ),
                    });
                }
                return Ok(true);
            },
            Kind::JsonLines { reader, buf, text, object } => loop {
                if read_line(reader, buf, text, &mut self.line)?.is_none() {
                    return Ok(false);
                }
                if text.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(serde_json::Value::Object(map)) => {
                        *object = map;
                        return Ok(true);
                    }
                    Ok(_) => {
                        return Err(Error::Malformed {
                            message: format!("line {} is not a JSON object", self.line),
                        });
                    }
                    Err(e) => {
                        return Err(Error::Malformed {
                            message: format!("line {} is not valid JSON: {e}", self.line),
                        });
                    }
                }
            },
        }
    }

    fn width(&self) -> usize {
        match &self.kind {
            Kind::Csv { record, .. } => record.len(),
            Kind::Whitespace { fields, .. } => fields.len(),
            Kind::JsonLines { object, .. } => object.len(),
        }
    }

    /// The current row's value in a column; `None` if absent, JSON null, or empty.
    pub(crate) fn get(&self, col: &Col) -> Option<Cow<'_, str>> {
        let v: Cow<'_, str> = match (&self.kind, col) {
            (Kind::Csv { record, .. }, Col::Index(i)) => Cow::Borrowed(record.get(*i)?),
            (Kind::Whitespace { text, fields, .. }, Col::Index(i)) => {
                let (s, e) = *fields.get(*i)?;
                Cow::Borrowed(&text[s..e])
            }
            (Kind::JsonLines { object, .. }, Col::Key(k)) => match object.get(k)? {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(other.to_string()),
            },
            _ => return None,
        };
        // Trimmed here rather than by the csv reader, whose trimming allocates per record.
        let v = match v {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        };
        if v.is_empty() { None } else { Some(v) }
    }

    /// The current row as text, for a rejects file.
    pub(crate) fn raw(&self) -> String {
        match &self.kind {
            Kind::Csv { record, delimiter, .. } => {
                let sep = (*delimiter as char).to_string();
                record.iter().collect::<Vec<_>>().join(&sep)
            }
            Kind::Whitespace { text, .. } | Kind::JsonLines { text, .. } => {
                text.trim_end().to_owned()
            }
        }
    }

    /// Every value of the current row, in order, for deriving an idempotency key.
    pub(crate) fn for_each_value(&self, mut f: impl FnMut(&str)) {
        match &self.kind {
            Kind::Csv { record, .. } => record.iter().for_each(f),
            Kind::Whitespace { text, fields, .. } => {
                fields.iter().for_each(|&(s, e)| f(&text[s..e]));
            }
            Kind::JsonLines { text, .. } => f(text.trim()),
        }
    }

    /// 1-based line of the current row.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Bytes consumed so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes.get()
    }
}

/// Reads one line into `text` (without the line end); `None` at the end of input.
fn read_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    text: &mut String,
    line: &mut u64,
) -> Result<Option<()>> {
    buf.clear();
    let n = reader
        .read_until(b'\n', buf)
        .map_err(|e| Error::Malformed { message: format!("reading line {}: {e}", *line + 1) })?;
    if n == 0 {
        return Ok(None);
    }
    *line += 1;
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    text.clear();
    text.push_str(std::str::from_utf8(buf).map_err(|_| utf8_error(*line))?);
    Ok(Some(()))
}
