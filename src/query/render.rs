//! Rendering of a [`QueryOutput`] as text tables or JSON.

use comfy_table::{ContentArrangement, Table as TextTable, presets::UTF8_FULL_CONDENSED};

use crate::query::eval::QueryOutput;

/// Output format of results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Text tables for people.
    #[default]
    Table,
    /// One JSON document per statement, for programs.
    Json,
}

impl std::str::FromStr for OutputMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "table" => Ok(OutputMode::Table),
            "json" => Ok(OutputMode::Json),
            other => Err(format!(
                "output mode {other:?} is unknown; use table or json"
            )),
        }
    }
}

/// Renders an output in `mode`, ending with a newline.
pub fn render(output: &QueryOutput, mode: OutputMode) -> String {
    match mode {
        OutputMode::Json => format!("{}\n", output.json),
        OutputMode::Table => {
            let mut text = String::new();
            for table in &output.tables {
                text.push_str(&format!("{} ({} rows)\n", table.title, table.rows.len()));
                if table.rows.is_empty() {
                    continue;
                }
                let mut printed = TextTable::new();
                printed
                    .load_style(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Disabled)
                    .set_header(&table.columns);
                for row in &table.rows {
                    printed.add_row(row);
                }
                text.push_str(&printed.to_string());
                text.push('\n');
            }
            text
        }
    }
}
