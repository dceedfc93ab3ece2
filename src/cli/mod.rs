//! Command-line interface: argument parsing with clap and one function per subcommand.

mod commands;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Default directory of `idgraph demo`: its data files and its store.
pub const DEMO_DIR: &str = "idgraph-demo";

#[derive(Parser)]
#[command(
    name = "idgraph",
    version,
    about = "Resolve records into entities and qualify them"
)]
struct Cli {
    /// Log progress to standard error (-v for debug, -vv for trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a sample of multi-channel customer data, ingest it and show what was built.
    Demo {
        /// Directory for the sample files (DIR/data) and the store (DIR/store).
        #[arg(long, default_value = DEMO_DIR)]
        dir: PathBuf,
        /// Seed of the generator; the same seed gives the same data.
        #[arg(long, default_value_t = idgraph::demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Load CSV or JSON Lines files into a store (created if missing).
    Ingest(Box<commands::IngestArgs>),
    /// Find records that are likely the same person from their attributes (unsupervised
    /// Fellegi-Sunter model) and link them with weighted evidence edges.
    Match {
        /// Store directory.
        store: PathBuf,
        /// Matcher configuration (TOML); the default for person records when missing.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Train a new model even when the stored one has the same configuration. Without
        /// it, a run with the stored model scores only pairs that involve new records.
        #[arg(long)]
        retrain: bool,
        /// Hide the progress spinner.
        #[arg(long)]
        no_progress: bool,
        /// Output format of the report.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run one statement and print its result.
    Query {
        /// Store directory.
        store: PathBuf,
        /// The statement, such as `find email ann@example.com`.
        statement: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run the statements of a script file (`-` reads standard input); stop at the first error.
    Run {
        /// Store directory.
        store: PathBuf,
        /// Script file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Explore a store interactively.
    Repl {
        /// Store directory.
        store: PathBuf,
    },
    /// Print store statistics.
    Stats {
        /// Store directory.
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Write every record's source, key and entity with the entity's score and tier.
    Export {
        /// Store directory.
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Output file; standard output when missing.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Score the entities against ground truth: pairwise precision, recall and F1.
    Eval {
        /// Store directory.
        store: PathBuf,
        /// Attribute or key column that contains each record's true label.
        #[arg(long)]
        truth_column: String,
        /// Regular expression that extracts the label from the column (its first group),
        /// such as 'rec-(\d+)-' for FEBRL.
        #[arg(long)]
        truth_pattern: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

impl From<Format> for idgraph::query::OutputMode {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => idgraph::query::OutputMode::Table,
            Format::Json => idgraph::query::OutputMode::Json,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Csv,
    Jsonl,
}

/// Parses the arguments, runs the subcommand and returns the process exit code.
pub fn main() -> u8 {
    restore_sigpipe();
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let result = match cli.command {
        Command::Demo { dir, seed } => commands::demo(&dir, seed),
        Command::Ingest(args) => commands::ingest(*args),
        Command::Match {
            store,
            config,
            retrain,
            no_progress,
            format,
        } => {
            let options = idgraph::matching::MatchOptions {
                retrain,
                progress: !no_progress,
            };
            commands::match_records(&store, config.as_deref(), options, format.into())
        }
        Command::Query {
            store,
            statement,
            format,
        } => commands::query(&store, &statement, format.into()),
        Command::Run {
            store,
            file,
            format,
        } => commands::run_script(&store, &file, format.into()),
        Command::Repl { store } => commands::repl(&store),
        Command::Stats { store, format } => commands::query(&store, "stats", format.into()),
        Command::Export {
            store,
            format,
            output,
        } => commands::export(&store, format == ExportFormat::Jsonl, output.as_deref()),
        Command::Eval {
            store,
            truth_column,
            truth_pattern,
            format,
        } => commands::eval(
            &store,
            &truth_column,
            truth_pattern.as_deref(),
            format.into(),
        ),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            use std::io::Write;
            // Standard error may be closed too; there is nowhere left to report that.
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            1
        }
    }
}

/// Turns transparent huge pages off for this process. The allocator requests huge pages from
/// the kernel, and zeroing a fresh 2 MiB page on first touch took about a third of a short
/// `idgraph match` run in a profile on this project's 2-core test machine.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and changes only this
    // process's memory policy; a failure leaves the default in place, which is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Restores the default action of SIGPIPE, which the Rust runtime ignores, so that
/// `idgraph export STORE | head` ends quietly like other Unix filters instead of failing
/// on a closed pipe.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
