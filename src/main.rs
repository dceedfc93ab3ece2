//! The `idgraph` command: ingest records, resolve them into entities and explore them.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
