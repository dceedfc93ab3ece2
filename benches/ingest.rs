//! Guards ingest throughput: CSV rows with an email, a phone-like id and a customer id,
//! normalized, upserted and resolved into a fresh sled store, with about one in four people
//! seen twice so that merges happen.

use std::io::Write;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idgraph::Store;
use idgraph::ingest::{IngestOptions, Mapping, ingest_file};

const ROWS: usize = 50_000;

fn write_input(path: &std::path::Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,email,customer,first_name,last_name,city").unwrap();
    for row in 0..ROWS {
        // Rows past three quarters repeat an earlier person's email under a new key.
        let person = if row % 4 == 3 { row / 2 } else { row };
        writeln!(
            out,
            "r{row},person{person}@example.com,cust-{row},Name{},Surname{},City{}",
            person % 997,
            person % 1009,
            person % 101
        )
        .unwrap();
    }
}

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.csv");
    write_input(&input);
    let mapping = Mapping {
        source: "bench".into(),
        key: "id".into(),
        identifiers: [("email", "email"), ("customer", "customer_id")]
            .into_iter()
            .map(|(column, kind)| (column.to_owned(), kind.to_owned()))
            .collect(),
        ..Mapping::default()
    };

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("csv_50k_rows", |b| {
        b.iter_with_setup(
            || tempfile::tempdir().unwrap(),
            |store_dir| {
                let mut store = Store::open(store_dir.path()).unwrap();
                ingest_file(&mut store, &input, &mapping, &IngestOptions::default()).unwrap();
            },
        )
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
