//! The `idgraph` command: ingest records, resolve them into entities and explore them.

mod cli;

// mimalloc frees the many small strings of an ingest batch much faster than the system
// allocator (about a third of ingest time in the ingest bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = cli::main();
    use std::io::Write;
    // Standard output may be closed, and then there is nowhere left to report that.
    let _ = std::io::stdout().flush();
    // Every command has flushed its store by now, so the exit handlers would only free memory
    // that the operating system takes back anyway. The allocator's took about 20 ms after an
    // ingest, so the process ends without them.
    // SAFETY: _exit takes a plain integer and does not return.
    unsafe { libc::_exit(i32::from(code)) }
}
