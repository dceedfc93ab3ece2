//! [`Mapping`]: which input column is the record key, which are identifiers, which are
//! attributes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::IdentifierKind;

/// Input file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header row (or another delimiter).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// Guesses the format from a file name: `.jsonl`, `.ndjson` and `.json` are JSON Lines,
    /// everything else is CSV.
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(ext) if ext == "jsonl" || ext == "ndjson" || ext == "json" => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// Column roles of one input file: key, identifiers, attributes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Name of the source the records belong to, such as `crm`. The command line fills in
    /// the file name without its extension when a mapping file leaves it out.
    #[serde(default)]
    pub source: String,
    /// File format; guessed from the file name when missing.
    #[serde(default)]
    pub format: Option<Format>,
    /// Column that contains the record key, unique within the source.
    pub key: String,
    /// Column holding the observation time (RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` in
    /// UTC, or seconds since the Unix epoch).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Identifier columns: column name to identifier kind.
    #[serde(default)]
    pub identifiers: BTreeMap<String, String>,
    /// Attribute columns. When missing, every column that is not the key, the timestamp, an
    /// identifier or ignored is an attribute. An identifier column listed here is both.
    #[serde(default)]
    pub attributes: Option<Vec<String>>,
    /// Columns to drop.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// CSV field delimiter, one ASCII character; `,` when missing.
    #[serde(default)]
    pub delimiter: Option<char>,
}

impl Mapping {
    /// Reads a mapping from a TOML file.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read, is not valid TOML, or the mapping is invalid.
    pub fn from_toml_file(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|io_error| Error::Io {
            path: path.to_path_buf(),
            io_error,
        })?;
        let mapping: Mapping = toml::from_str(&text).map_err(|error| Error::Mapping {
            path: Some(path.to_path_buf()),
            message: error.to_string(),
        })?;
        mapping.validate_columns().map_err(|error| match error {
            Error::Mapping { message, .. } => Error::Mapping {
                path: Some(PathBuf::from(path)),
                message,
            },
            other => other,
        })?;
        Ok(mapping)
    }

    /// Checks the names in the mapping.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Mapping`] naming the invalid value.
    pub fn validate(&self) -> Result<()> {
        if self.source.trim().is_empty() || self.source.contains('\0') {
            return Err(Error::Mapping {
                path: None,
                message: format!(
                    "source name {:?} is invalid: give a non-empty name without NUL characters",
                    self.source
                ),
            });
        }
        self.validate_columns()
    }

    /// Checks everything but the source name, which a caller may still fill in.
    fn validate_columns(&self) -> Result<()> {
        let invalid = |message: String| {
            Err(Error::Mapping {
                path: None,
                message,
            })
        };
        if self.key.trim().is_empty() {
            return invalid(
                "the key column is missing: name the column that identifies each record".into(),
            );
        }
        for (column, kind) in &self.identifiers {
            if IdentifierKind::new(kind).is_none() {
                return invalid(format!(
                    "identifier kind {kind:?} of column {column:?} is invalid: use ASCII letters, \
                     digits and _ (such as email, phone, national_id)"
                ));
            }
            if column == &self.key {
                return invalid(format!(
                    "column {column:?} is both the key and an identifier: map it once"
                ));
            }
        }
        if let Some(delimiter) = self.delimiter {
            if !delimiter.is_ascii() {
                return invalid(format!("delimiter {delimiter:?} is not an ASCII character"));
            }
        }
        Ok(())
    }

    /// Returns the identifier kinds by column, validated.
    pub(crate) fn identifier_kinds(&self) -> Vec<(String, IdentifierKind)> {
        self.identifiers
            .iter()
            .filter_map(|(column, kind)| Some((column.clone(), IdentifierKind::new(kind)?)))
            .collect()
    }

    /// Returns whether `column` becomes an attribute.
    /// An identifier column is an attribute too only when `attributes` lists it, so that the
    /// matcher can compare it.
    pub(crate) fn is_attribute(&self, column: &str) -> bool {
        if column == self.key
            || self.timestamp.as_deref() == Some(column)
            || self.ignore.iter().any(|ignored| ignored == column)
        {
            return false;
        }
        match &self.attributes {
            Some(attributes) => attributes.iter().any(|attribute| attribute == column),
            None => !self.identifiers.contains_key(column),
        }
    }

    /// Checks that every column the mapping names exists in `header`.
    pub(crate) fn check_columns(&self, header: &[String], path: &Path) -> Result<()> {
        let mut named: Vec<&str> = vec![self.key.as_str()];
        named.extend(self.timestamp.as_deref());
        named.extend(self.identifiers.keys().map(String::as_str));
        named.extend(self.attributes.iter().flatten().map(String::as_str));
        if header.iter().all(|name| name.trim().is_empty()) {
            return Err(Error::Mapping {
                path: Some(path.to_path_buf()),
                message: "the file is empty: the first line should be a header that names the \
                          columns"
                    .to_owned(),
            });
        }
        for column in named {
            if !header.iter().any(|h| h == column) {
                return Err(Error::Mapping {
                    path: Some(path.to_path_buf()),
                    message: format!(
                        "column {column:?} is not in the header; the columns are: {}",
                        header.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_mapping_parses() {
        let mapping: Mapping = toml::from_str(
            "source = \"crm\"\nkey = \"id\"\nignore = [\"x\"]\n[identifiers]\nmail = \"email\"\n",
        )
        .unwrap();
        assert_eq!(mapping.source, "crm");
        assert!(mapping.validate().is_ok());
        assert!(mapping.is_attribute("name"));
        assert!(!mapping.is_attribute("mail"));
        assert!(!mapping.is_attribute("x"));
        assert!(!mapping.is_attribute("id"));
    }

    #[test]
    fn invalid_kind_is_rejected() {
        let mapping = Mapping {
            source: "crm".into(),
            key: "id".into(),
            identifiers: [("mail".to_owned(), "e mail".to_owned())].into(),
            ..Mapping::default()
        };
        let message = mapping.validate().unwrap_err().to_string();
        assert!(message.contains("\"e mail\""), "{message}");
    }

    #[test]
    fn format_follows_extension() {
        assert_eq!(Format::from_path(Path::new("a.jsonl")), Format::Jsonl);
        assert_eq!(Format::from_path(Path::new("a.CSV")), Format::Csv);
    }
}
