//! The interactive shell behind `idgraph repl`: [`Session`] runs statements and
//! meta-commands, and [`run`] drives it from a rustyline editor with history.
//!
//! Meta-commands start with `.`, which no statement can start with.

use std::path::PathBuf;

use crate::query::{self, OutputMode};
use crate::store::Store;

/// Help printed by `.help`.
pub const HELP: &str = "\
Statements (end with ; to put several on one line):
  find email ann@example.com          look up an identifier and its entity
  find record crm C-000123            look up a record and its entity
  entity 42 | entity of phone \"+1 415 555 0142\"
                                      an entity's records, identifiers, score, tier, conflicts
  path email a@x.com to record web s-9
                                      the strongest evidence path between two nodes
  explain record crm C-1 and record web s-9
                                      why two records match or not (after `idgraph match`)
  conflicts [kind national_id] [limit 20]
                                      entities with conflicts
  stats                               store statistics
  entities [tier low] [conflict hub] [size at least 2] [by score|size] [limit 20]
                                      entities, lowest score or most records first
  why entity 42 | why entity of email ann@example.com
                                      the parts of an entity's score and what set its tier
  bridges [limit 20]                  links held back between two entities
  hubs [kind device_id] [limit 20]    identifiers shared by too many records to link them
  audit [entity 42] [limit 20]        audit log events, newest first
  link record crm C-1 and record web s-9 because \"same passport\"
  unlink record crm C-1 and record crm C-2 because \"twins\"
                                      keep two records together or apart
  split entity 42 [apply because \"two people\"]
                                      preview or apply a split at the weakest link
Meta-commands:
  .help                               this text
  .mode table | .mode json            output format
  .quit                               leave (also Ctrl-D)
";

/// Action for the caller after one line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Print this text and go on.
    Print(String),
    /// Print this error and go on.
    Error(String),
    /// Leave the shell.
    Quit,
}

/// The access a session has to its store.
pub enum StoreAccess<'a> {
    /// Read access: statements that change the store fail (see
    /// [`Statement::needs_write`](crate::query::Statement::needs_write)).
    Read(&'a Store),
    /// Read and write access: every statement runs.
    Write(&'a mut Store),
}

impl StoreAccess<'_> {
    fn store(&self) -> &Store {
        match self {
            StoreAccess::Read(store) => store,
            StoreAccess::Write(store) => store,
        }
    }
}

impl<'a> From<&'a Store> for StoreAccess<'a> {
    fn from(store: &'a Store) -> Self {
        StoreAccess::Read(store)
    }
}

impl<'a> From<&'a mut Store> for StoreAccess<'a> {
    fn from(store: &'a mut Store) -> Self {
        StoreAccess::Write(store)
    }
}

/// A shell session on one store.
pub struct Session<'a> {
    store: StoreAccess<'a>,
    mode: OutputMode,
}

impl<'a> Session<'a> {
    /// Starts a session that prints tables. Given `&Store`, the session only reads, and
    /// `link`, `unlink` and `split` fail. Given `&mut Store`, it runs every statement.
    pub fn new(store: impl Into<StoreAccess<'a>>) -> Session<'a> {
        Session {
            store: store.into(),
            mode: OutputMode::Table,
        }
    }

    /// Returns the current output mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// Runs one line of input: a meta-command, or one or more statements.
    pub fn handle(&mut self, line: &str) -> Reply {
        let trimmed = line.trim();
        if let Some(command) = trimmed.strip_prefix('.') {
            return self.meta(command);
        }
        // Newcomers type these without the dot; no statement starts with them.
        if matches!(trimmed, "help" | "quit" | "exit") {
            return self.meta(trimmed);
        }
        let statements = match query::parse_script(line) {
            Ok(statements) => statements,
            Err(error) => return Reply::Error(error.render(line)),
        };
        let mut text = String::new();
        for statement in &statements {
            let result = match &mut self.store {
                StoreAccess::Read(store) => query::execute(store, statement),
                StoreAccess::Write(store) => query::execute_mut(store, statement),
            };
            match result {
                Ok(output) => text.push_str(&query::render(&output, self.mode)),
                Err(error) => return Reply::Error(format!("{text}error: {error}")),
            }
        }
        Reply::Print(text)
    }

    fn meta(&mut self, command: &str) -> Reply {
        let mut words = command.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("help"), None, _) => Reply::Print(HELP.to_owned()),
            (Some("quit" | "exit"), None, _) => Reply::Quit,
            (Some("mode"), None, _) => Reply::Print(format!("mode is {:?}\n", self.mode)),
            (Some("mode"), Some(mode), None) => match mode.parse() {
                Ok(mode) => {
                    self.mode = mode;
                    Reply::Print(String::new())
                }
                Err(message) => Reply::Error(message),
            },
            _ => Reply::Error(format!(
                "unknown meta-command .{command}; type .help for the list"
            )),
        }
    }
}

/// Returns where the shell keeps its history: `$IDGRAPH_HISTORY`, else
/// `$HOME/.idgraph_history`, else none.
pub fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("IDGRAPH_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".idgraph_history"))
}

/// Runs the interactive shell until `.quit` or end of input. As with [`Session::new`], a
/// `&Store` gives a shell that only reads, and a `&mut Store` one that runs every statement.
///
/// # Errors
///
/// Fails when the terminal cannot be read.
pub fn run<'a>(store: impl Into<StoreAccess<'a>>) -> Result<(), rustyline::error::ReadlineError> {
    use rustyline::error::ReadlineError;

    let mut editor = rustyline::DefaultEditor::new()?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    let mut session = Session::new(store);
    println!(
        "idgraph shell on {}; type .help for help",
        session.store.store().path().display()
    );
    loop {
        match editor.readline("idgraph> ") {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                match session.handle(&line) {
                    Reply::Print(text) => print!("{text}"),
                    Reply::Error(text) => eprintln!("{text}"),
                    Reply::Quit => break,
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(error),
        }
    }
    if let Some(path) = &history {
        if let Err(error) = editor.save_history(path) {
            eprintln!("warning: history not saved to {}: {error}", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RecordInput;

    fn store(dir: &std::path::Path) -> Store {
        let mut store = Store::open(dir).unwrap();
        store
            .upsert([RecordInput::new("crm", "1").identifier("email", "ann@example.com")])
            .unwrap();
        store
    }

    #[test]
    fn meta_commands() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut session = Session::new(&store);
        assert_eq!(session.handle(".help"), Reply::Print(HELP.to_owned()));
        assert_eq!(session.handle("  .quit "), Reply::Quit);
        assert_eq!(session.handle(".exit"), Reply::Quit);
        assert_eq!(session.handle("quit"), Reply::Quit);
        assert_eq!(session.handle("help"), Reply::Print(HELP.to_owned()));
        assert_eq!(session.handle(".mode json"), Reply::Print(String::new()));
        assert_eq!(session.mode(), OutputMode::Json);
        let Reply::Error(message) = session.handle(".mode xml") else {
            panic!("an unknown mode must be an error");
        };
        assert!(message.contains("\"xml\""), "{message}");
        let Reply::Error(message) = session.handle(".load x") else {
            panic!("an unknown meta-command must be an error");
        };
        assert!(message.contains(".help"), "{message}");
    }

    #[test]
    fn statements_print_in_current_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut session = Session::new(&store);
        let Reply::Print(table) = session.handle("find email ANN@example.com") else {
            panic!("find must succeed");
        };
        assert!(table.starts_with("node (1 rows)"), "{table}");
        session.handle(".mode json");
        let Reply::Print(json) = session.handle("stats; stats") else {
            panic!("stats must succeed");
        };
        assert_eq!(json.lines().count(), 2, "one JSON document per statement");
        assert!(json.contains("\"records\":1"), "{json}");
    }

    #[test]
    fn read_session_rejects_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(dir.path());
        store
            .upsert([RecordInput::new("crm", "2").identifier("email", "bo@example.com")])
            .unwrap();
        let link = "link record crm 1 and record crm 2 because same";
        let mut session = Session::new(&store);
        let Reply::Error(message) = session.handle(link) else {
            panic!("a read session must reject link");
        };
        assert!(message.contains("needs write access"), "{message}");

        let mut session = Session::new(&mut store);
        let Reply::Print(table) = session.handle(link) else {
            panic!("a write session must run link");
        };
        assert!(table.starts_with("linked (2 rows)"), "{table}");
        let Reply::Print(audit) = session.handle("audit") else {
            panic!("audit must succeed");
        };
        assert!(audit.contains("operator linked"), "{audit}");
    }

    #[test]
    fn errors_show_position_and_cause() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut session = Session::new(&store);
        let Reply::Error(message) = session.handle("find emial") else {
            panic!("a syntax error must be an error");
        };
        assert!(message.contains("line 1, column 11"), "{message}");
        assert!(message.contains('^'), "{message}");
        let Reply::Error(message) = session.handle("entity 99") else {
            panic!("a missing entity must be an error");
        };
        assert_eq!(message, "error: entity 99 not found");
    }
}
