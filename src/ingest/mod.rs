//! Ingest: turns CSV and JSON Lines rows, or [`RecordInput`]s built in code, into records of
//! the graph.
//!
//! Rows are normalized, upserted and resolved in batches; each batch is one atomic commit.

mod mapping;
mod reader;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub use mapping::{Format, Mapping};

use crate::error::{Error, Result};
use crate::model::{IdentifierKind, Timestamp};
use crate::normalize::{Normalized, Normalizer};
use crate::resolve::{PreparedIdentifier, PreparedRecord, UpsertOutcome, upsert_record};
use crate::store::{SourceInfo, Store};

/// A record as a caller supplies it, with raw identifier values.
///
/// ```
/// use idgraph::ingest::RecordInput;
/// let record = RecordInput::new("crm", "C-1")
///     .identifier("email", "Ann.Lee@Example.com")
///     .attribute("name", "Ann Lee");
/// assert_eq!(record.identifiers.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordInput {
    /// Source name.
    pub source: String,
    /// Record key within the source.
    pub key: String,
    /// Identifiers as (kind, raw value).
    pub identifiers: Vec<(String, String)>,
    /// Attributes as (name, value).
    pub attributes: Vec<(String, String)>,
    /// Observation time in seconds since the Unix epoch.
    pub timestamp: Option<Timestamp>,
}

impl RecordInput {
    /// Creates a record with no identifiers or attributes.
    pub fn new(source: impl Into<String>, key: impl Into<String>) -> RecordInput {
        RecordInput {
            source: source.into(),
            key: key.into(),
            ..RecordInput::default()
        }
    }

    /// Adds an identifier of `kind` with its raw value.
    pub fn identifier(mut self, kind: impl Into<String>, value: impl Into<String>) -> RecordInput {
        self.identifiers.push((kind.into(), value.into()));
        self
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> RecordInput {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Sets the observation time.
    pub fn timestamp(mut self, timestamp: Timestamp) -> RecordInput {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Counts of what an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    /// Rows read from the input, including skipped ones.
    pub rows: u64,
    /// Records that were new.
    pub inserted: u64,
    /// Records that replaced a record with the same source and key.
    pub updated: u64,
    /// Rows skipped because they were invalid (only with [`OnError::Skip`]).
    pub skipped: u64,
    /// Identifier values dropped as empty or placeholders.
    pub placeholders: u64,
    /// Identifier values dropped as invalid for their kind.
    pub invalid_values: u64,
    /// The first few row errors and invalid values, for the user to read.
    pub messages: Vec<String>,
}

/// Maximum number of messages kept in an [`IngestReport`].
pub const MAX_REPORT_MESSAGES: usize = 20;

impl IngestReport {
    /// Adds the dropped values and messages of one row's `dropped` report.
    fn absorb(&mut self, dropped: IngestReport) {
        self.placeholders += dropped.placeholders;
        self.invalid_values += dropped.invalid_values;
        for message in dropped.messages {
            self.note(message);
        }
    }

    fn note(&mut self, message: String) {
        if self.messages.len() < MAX_REPORT_MESSAGES {
            self.messages.push(message);
        }
    }
}

/// Policy for invalid rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first invalid row. Rows before it are stored.
    #[default]
    Stop,
    /// Skip invalid rows, count them, and go on.
    Skip,
}

/// Settings of a file ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestOptions {
    /// Policy for invalid rows.
    pub on_error: OnError,
    /// Show a progress bar on standard error when it is a terminal.
    pub progress: bool,
    /// Rows per atomic commit.
    pub batch_size: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            on_error: OnError::Stop,
            progress: false,
            batch_size: 10_000,
        }
    }
}

impl Store {
    /// Inserts or replaces records in one atomic batch and resolves their entities.
    ///
    /// Identifier values are normalized for their kind. Empty values, placeholders and values
    /// invalid for their kind are dropped and counted in the report.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::InvalidRecord`] when a record has an empty source or key, or an
    /// invalid identifier kind; nothing of the batch is stored then. Also fails on I/O errors.
    pub fn upsert(
        &mut self,
        records: impl IntoIterator<Item = RecordInput>,
    ) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let now = now();
        let mut writer = self.writer();
        for record in records {
            report.rows += 1;
            let prepared = prepare(writer.store().normalizer()?, record, &mut report)?;
            count(&mut report, upsert_record(&mut writer, prepared, now)?);
        }
        writer.commit()?;
        Ok(report)
    }
}

/// Reads `path` with `mapping` and upserts every row into `store`.
///
/// Every `options.batch_size` rows are committed as one atomic batch, and the store is
/// flushed to disk at the end.
///
/// # Errors
///
/// Fails when the file cannot be read, the mapping names a missing column, or (with
/// [`OnError::Stop`]) a row is invalid: rows before the invalid one are stored and the error
/// names the file, line and value.
pub fn ingest_file(
    store: &mut Store,
    path: &Path,
    mapping: &Mapping,
    options: &IngestOptions,
) -> Result<IngestReport> {
    mapping.validate()?;
    let rows = reader::open(path, mapping)?;
    let progress = progress_bar(options.progress, rows.len_bytes());
    let now = now();
    let normalizer = store.normalizer()?.clone();
    let mut report = IngestReport::default();
    let outcome = std::thread::scope(|scope| {
        // Reading and normalizing run on a second thread, ahead of the upserts and commits.
        let (sender, receiver) = std::sync::mpsc::sync_channel(READ_AHEAD_CHUNKS);
        scope.spawn(move || read_and_prepare(rows, &normalizer, sender));
        let job = FileJob {
            path,
            mapping,
            options,
            now,
            progress: &progress,
        };
        upsert_rows(store, &job, receiver, &mut report)
    });
    store.flush()?;
    progress.finish_and_clear();
    tracing::debug!(path = %path.display(), rows = report.rows, inserted = report.inserted, "ingested file");
    outcome.map(|()| report)
}

/// Checks that `path` can be read with `mapping`: the mapping is valid and the file names
/// every column it uses. [`ingest_file`] checks the same, so calling this first only moves a
/// failure before any other work, such as creating a store.
///
/// # Errors
///
/// As [`ingest_file`] before it reads the first row.
pub fn check_file(path: &Path, mapping: &Mapping) -> Result<()> {
    mapping.validate()?;
    reader::open(path, mapping).map(drop)
}

/// Rows the reading thread sends in one message, and messages it may send ahead.
const READ_AHEAD_ROWS: usize = 256;
const READ_AHEAD_CHUNKS: usize = 8;

/// A row as the reading thread hands it over.
enum ReadRow {
    /// A row that was read, with its normalized record or the reason it is invalid, and the
    /// values it dropped.
    Read {
        line: u64,
        offset: u64,
        prepared: Result<PreparedRecord>,
        dropped: IngestReport,
    },
    /// A row that could not be read.
    Unreadable(Error),
}

/// Reads and normalizes rows until the file ends or the receiving side hangs up.
fn read_and_prepare(
    mut rows: reader::Rows,
    normalizer: &Normalizer,
    sender: std::sync::mpsc::SyncSender<Vec<ReadRow>>,
) {
    let mut chunk = Vec::with_capacity(READ_AHEAD_ROWS);
    loop {
        let item = match rows.next_row() {
            Ok(Some(row)) => {
                let mut dropped = IngestReport::default();
                let prepared = prepare(normalizer, row.record, &mut dropped);
                ReadRow::Read {
                    line: row.line,
                    offset: row.offset,
                    prepared,
                    dropped,
                }
            }
            Ok(None) => break,
            Err(error) => ReadRow::Unreadable(error),
        };
        chunk.push(item);
        if chunk.len() == READ_AHEAD_ROWS {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_AHEAD_ROWS));
            if sender.send(full).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        // The receiving side may have stopped at an invalid row, so a failed send is expected.
        let _ = sender.send(chunk);
    }
}

/// The file an ingest reads, how, and what it shows meanwhile.
struct FileJob<'a> {
    path: &'a Path,
    mapping: &'a Mapping,
    options: &'a IngestOptions,
    /// The time that records without a timestamp are stamped with.
    now: Timestamp,
    progress: &'a indicatif::ProgressBar,
}

/// Upserts the rows the reading thread sends, committing every `options.batch_size` rows.
fn upsert_rows(
    store: &mut Store,
    job: &FileJob<'_>,
    receiver: std::sync::mpsc::Receiver<Vec<ReadRow>>,
    report: &mut IngestReport,
) -> Result<()> {
    let FileJob {
        path,
        mapping,
        options,
        now,
        progress,
    } = *job;
    let mut writer = store.writer();
    writer.save_source(SourceInfo {
        name: mapping.source.clone(),
        key_column: Some(mapping.key.clone()),
    });
    let mut in_batch = 0;
    let outcome = 'rows: {
        for item in receiver.iter().flatten() {
            report.rows += 1;
            let (line, prepared) = match item {
                ReadRow::Read {
                    line,
                    offset,
                    prepared,
                    dropped,
                } => {
                    progress.set_position(offset);
                    report.absorb(dropped);
                    (line, prepared)
                }
                ReadRow::Unreadable(error) => match (options.on_error, &error) {
                    (OnError::Skip, Error::InvalidRow { .. }) => {
                        report.skipped += 1;
                        tracing::warn!(%error, "skipped row");
                        report.note(error.to_string());
                        continue;
                    }
                    _ => break 'rows Err(error),
                },
            };
            let prepared = match prepared {
                Ok(prepared) => prepared,
                Err(error) => {
                    let error = Error::InvalidRow {
                        path: path.to_path_buf(),
                        line,
                        message: error.to_string(),
                    };
                    if options.on_error == OnError::Skip {
                        report.skipped += 1;
                        report.note(error.to_string());
                        continue;
                    }
                    break 'rows Err(error);
                }
            };
            count(report, upsert_record(&mut writer, prepared, now)?);
            in_batch += 1;
            if in_batch >= options.batch_size.max(1) {
                writer.commit()?;
                writer = store.writer();
                in_batch = 0;
            }
        }
        Ok(())
    };
    // Hang up first, so that a reading thread still sending stops.
    drop(receiver);
    writer.commit()?;
    outcome
}

fn count(report: &mut IngestReport, outcome: UpsertOutcome) {
    match outcome {
        UpsertOutcome::Inserted => report.inserted += 1,
        UpsertOutcome::Updated => report.updated += 1,
    }
}

/// Normalizes a record's identifiers and attributes.
fn prepare(
    normalizer: &Normalizer,
    record: RecordInput,
    report: &mut IngestReport,
) -> Result<PreparedRecord> {
    let invalid = |message: String| Error::InvalidRecord {
        source_name: record.source.clone(),
        key: record.key.clone(),
        message,
    };
    if record.source.is_empty() || record.source.contains('\0') {
        return Err(invalid("the source name is empty or contains NUL".into()));
    }
    let key = record.key.trim();
    if key.is_empty() {
        return Err(invalid(
            "the record key is empty: every record needs a key".into(),
        ));
    }

    let mut identifiers = Vec::with_capacity(record.identifiers.len());
    for (kind, raw) in &record.identifiers {
        let kind = IdentifierKind::new(kind).ok_or_else(|| {
            invalid(format!(
                "identifier kind {kind:?} is invalid: use ASCII letters, digits and _"
            ))
        })?;
        match normalizer.identifier(&kind, raw) {
            Normalized::Value(value) => identifiers.push(PreparedIdentifier {
                kind,
                value,
                raw: raw.trim().to_owned(),
            }),
            Normalized::Placeholder => report.placeholders += 1,
            Normalized::Invalid(reason) => {
                report.invalid_values += 1;
                report.note(format!("{}/{}: {kind}: {reason}", record.source, key));
            }
        }
    }
    let attributes = record
        .attributes
        .iter()
        .filter_map(|(name, value)| Some((name.clone(), normalizer.attribute(value)?)))
        .collect();
    Ok(PreparedRecord {
        source: record.source.clone(),
        key: key.to_owned(),
        identifiers,
        attributes,
        timestamp: record.timestamp,
    })
}

fn progress_bar(enabled: bool, len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

pub(crate) fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as Timestamp)
}

/// Parses an observation time: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` (UTC) or
/// seconds since the Unix epoch.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_second());
    }
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(datetime) = text.parse::<jiff::civil::DateTime>() {
        return utc.to_timestamp(datetime).ok().map(|t| t.as_second());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return utc
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok()
            .map(|t| t.as_second());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_each_format() {
        assert_eq!(parse_timestamp("0"), Some(0));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400));
        assert_eq!(parse_timestamp("1970-01-01 00:01:00"), Some(60));
        assert_eq!(parse_timestamp("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
