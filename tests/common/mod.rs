//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// Returns the folder of public datasets beside the repository (`../shared/data`), or `None`
/// when it is missing. Under CI (the `CI` variable set) a missing folder fails the test
/// instead, so that the quality checks never pass by being skipped.
pub fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "dataset folder {} is missing; CI must provide it",
        dir.display()
    );
    eprintln!("skipped: dataset folder {} is missing", dir.display());
    None
}
