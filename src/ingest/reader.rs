//! Row readers for CSV and JSON Lines files.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ingest::{Format, Mapping, RecordInput, parse_timestamp};
use crate::model::IdentifierKind;

/// One input row turned into a record.
pub(super) struct Row {
    /// 1-based line number where the row starts.
    pub line: u64,
    /// Byte offset after the row, for the progress bar.
    pub offset: u64,
    pub record: RecordInput,
}

pub(super) struct Rows {
    path: PathBuf,
    mapping: Mapping,
    kinds: Vec<(String, IdentifierKind)>,
    len_bytes: u64,
    input: Input,
}

enum Input {
    Csv {
        reader: csv::Reader<File>,
        header: Vec<String>,
        row: csv::ByteRecord,
        /// Whether the file's last character, line breaks aside, is a quote: a quoted field
        /// that reaches the end of the file is unterminated otherwise.
        ends_in_quote: bool,
    },
    Jsonl {
        reader: BufReader<File>,
        line: u64,
        offset: u64,
        buffer: Vec<u8>,
    },
}

pub(super) fn open(path: &Path, mapping: &Mapping) -> Result<Rows> {
    let io_error = |io_error| Error::Io {
        path: path.to_path_buf(),
        io_error,
    };
    let file = File::open(path).map_err(io_error)?;
    let len_bytes = file.metadata().map_err(io_error)?.len();
    let format = mapping.format.unwrap_or_else(|| Format::from_path(path));
    let input = match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(mapping.delimiter.unwrap_or(',') as u8)
                .trim(csv::Trim::All)
                .flexible(true)
                .from_reader(file);
            let header = reader
                .byte_headers()
                .map_err(|error| csv_error(path, error))?;
            let header: Vec<String> = header
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    String::from_utf8(name.to_vec()).map_err(|_| Error::InvalidRow {
                        path: path.to_path_buf(),
                        line: 1,
                        message: format!("header column {} is not valid UTF-8", index + 1),
                    })
                })
                .collect::<Result<_>>()?;
            mapping.check_columns(&header, path)?;
            Input::Csv {
                reader,
                header,
                row: csv::ByteRecord::new(),
                ends_in_quote: ends_in_quote(path).map_err(io_error)?,
            }
        }
        Format::Jsonl => Input::Jsonl {
            reader: BufReader::new(file),
            line: 0,
            offset: 0,
            buffer: Vec::new(),
        },
    };
    Ok(Rows {
        path: path.to_path_buf(),
        kinds: mapping.identifier_kinds(),
        mapping: mapping.clone(),
        len_bytes,
        input,
    })
}

/// Returns whether the file's last character, line breaks aside, is a double quote.
fn ends_in_quote(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let tail_len = len.min(16);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    file.read_to_end(&mut tail)?;
    let text = tail.trim_ascii_end();
    Ok(text.last() == Some(&b'"'))
}

fn csv_error(path: &Path, error: csv::Error) -> Error {
    let line = error.position().map_or(0, |position| position.line());
    match error.into_kind() {
        csv::ErrorKind::Io(io_error) => Error::Io {
            path: path.to_path_buf(),
            io_error,
        },
        kind => Error::InvalidRow {
            path: path.to_path_buf(),
            line,
            message: format!("invalid CSV: {kind:?}"),
        },
    }
}

impl Rows {
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Reads the next row. Returns `Ok(None)` at the end of the input.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        match &mut self.input {
            Input::Csv {
                reader,
                header,
                row,
                ends_in_quote,
            } => {
                match reader.read_byte_record(row) {
                    Ok(true) => {}
                    Ok(false) => return Ok(None),
                    Err(error) => return Err(csv_error(&self.path, error)),
                }
                let line = row.position().map_or(0, csv::Position::line);
                let invalid = |message: String| Error::InvalidRow {
                    path: self.path.clone(),
                    line,
                    message,
                };
                // The csv reader ends a quoted field without its closing quote at the end of
                // the file, which swallows every row after the quote into one field.
                let at_end = reader.position().byte() >= self.len_bytes;
                let last_field_breaks = row
                    .iter()
                    .next_back()
                    .is_some_and(|field| field.contains(&b'\n'));
                if at_end && last_field_breaks && !*ends_in_quote {
                    return Err(invalid(
                        "a quoted field starts on this line and runs to the end of the file; \
                         add the missing closing quote"
                            .to_owned(),
                    ));
                }
                if row.len() != header.len() {
                    return Err(invalid(format!(
                        "the row has {} fields, expected {} as in the header; check for an \
                         unquoted delimiter or a missing field",
                        row.len(),
                        header.len()
                    )));
                }
                let mut fields = Vec::with_capacity(row.len());
                for (index, bytes) in row.iter().enumerate() {
                    let text = std::str::from_utf8(bytes).map_err(|_| {
                        invalid(format!(
                            "column {:?} is not valid UTF-8: {}; convert the file to UTF-8",
                            header[index],
                            String::from_utf8_lossy(bytes)
                        ))
                    })?;
                    fields.push((header[index].as_str(), vec![text.to_owned()]));
                }
                let record = build(&self.mapping, &self.kinds, fields).map_err(invalid)?;
                Ok(Some(Row {
                    line,
                    offset: reader.position().byte(),
                    record,
                }))
            }
            Input::Jsonl {
                reader,
                line,
                offset,
                buffer,
            } => loop {
                buffer.clear();
                let read = reader
                    .read_until(b'\n', buffer)
                    .map_err(|io_error| Error::Io {
                        path: self.path.clone(),
                        io_error,
                    })?;
                if read == 0 {
                    return Ok(None);
                }
                *line += 1;
                *offset += read as u64;
                let line = *line;
                let invalid = |message: String| Error::InvalidRow {
                    path: self.path.clone(),
                    line,
                    message,
                };
                let text = std::str::from_utf8(buffer).map_err(|_| {
                    invalid(format!(
                        "the line is not valid UTF-8: {}; convert the file to UTF-8",
                        shorten(&String::from_utf8_lossy(buffer))
                    ))
                })?;
                if text.trim().is_empty() {
                    continue;
                }
                let fields = json_fields(text).map_err(invalid)?;
                let fields = fields
                    .iter()
                    .map(|(name, values)| (name.as_str(), values.clone()))
                    .collect();
                let record = build(&self.mapping, &self.kinds, fields).map_err(invalid)?;
                return Ok(Some(Row {
                    line,
                    offset: *offset,
                    record,
                }));
            },
        }
    }
}

/// Splits a JSON object into fields. Strings, numbers and booleans are values, arrays hold
/// several values, and `null` is no value.
fn json_fields(text: &str) -> std::result::Result<Vec<(String, Vec<String>)>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        // serde_json counts lines within the row, which would contradict the file's line.
        let message = error.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        format!(
            "invalid JSON at column {}: {message}: {}",
            error.column(),
            shorten(text)
        )
    })?;
    let serde_json::Value::Object(object) = value else {
        return Err(format!("expected a JSON object, found {}", shorten(text)));
    };
    let mut fields = Vec::with_capacity(object.len());
    for (name, value) in object {
        let values = match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|item| scalar(&name, item))
                .collect::<std::result::Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
            other => scalar(&name, other)?.into_iter().collect(),
        };
        fields.push((name, values));
    }
    Ok(fields)
}

fn scalar(name: &str, value: serde_json::Value) -> std::result::Result<Option<String>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) => Ok(Some(text)),
        serde_json::Value::Number(number) => Ok(Some(number.to_string())),
        serde_json::Value::Bool(flag) => Ok(Some(flag.to_string())),
        other => Err(format!(
            "field {name:?} holds a nested object {}; flatten it into top-level fields",
            shorten(&other.to_string())
        )),
    }
}

/// Builds a record from the fields of one row.
fn build(
    mapping: &Mapping,
    kinds: &[(String, IdentifierKind)],
    fields: Vec<(&str, Vec<String>)>,
) -> std::result::Result<RecordInput, String> {
    let mut record = RecordInput::new(mapping.source.clone(), String::new());
    for (name, values) in fields {
        if name == mapping.key {
            record.key = values.into_iter().next().unwrap_or_default();
        } else if mapping.timestamp.as_deref() == Some(name) {
            let Some(text) = values.first().filter(|text| !text.trim().is_empty()) else {
                continue;
            };
            let timestamp = parse_timestamp(text).ok_or_else(|| {
                format!(
                    "timestamp {text:?} in column {name:?} is invalid: use RFC 3339, \
                     YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or epoch seconds"
                )
            })?;
            record.timestamp = Some(timestamp);
        } else {
            if mapping.is_attribute(name) {
                if let Some(value) = values.first() {
                    record.attributes.push((name.to_owned(), value.clone()));
                }
            }
            if let Some((_, kind)) = kinds.iter().find(|(column, _)| column == name) {
                for value in values {
                    record.identifiers.push((kind.as_str().to_owned(), value));
                }
            }
        }
    }
    if record.key.trim().is_empty() {
        return Err(format!(
            "the key column {:?} is empty or missing; every record needs a key",
            mapping.key
        ));
    }
    Ok(record)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    let text = text.trim_end();
    match text.char_indices().nth(MAX) {
        Some((index, _)) => format!("{}...", &text[..index]),
        None => text.to_owned(),
    }
}
