//! The `idgraph` command: ingest records, resolve them into entities and explore them.

mod cli;

// mimalloc frees the many small strings of an ingest batch much faster than the system
// allocator (about a third of ingest time in the ingest bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
