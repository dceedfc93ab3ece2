//! One function per subcommand.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use idgraph::ingest::{self, IngestOptions, Mapping, OnError};
use idgraph::query::{self, OutputMode};
use idgraph::{Config, Store};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ErrorPolicy {
    /// Stop at the first invalid row; rows before it stay stored.
    Stop,
    /// Skip invalid rows and count them.
    Skip,
}

#[derive(Args)]
pub struct IngestArgs {
    /// Store directory; created when missing.
    store: PathBuf,
    /// Input files (CSV, or JSON Lines when named .jsonl, .ndjson or .json).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// TOML mapping file; the flags below override or complete it.
    #[arg(long, short)]
    mapping: Option<PathBuf>,
    /// Source name of the records; the file name without extension when missing.
    #[arg(long)]
    source: Option<String>,
    /// Column holding the record key.
    #[arg(long)]
    key: Option<String>,
    /// Identifier column and its kind, as COLUMN=KIND (such as soc_sec_id=national_id).
    #[arg(long = "id", value_name = "COLUMN=KIND")]
    identifiers: Vec<String>,
    /// Attribute column; when none is given, every other column is an attribute.
    #[arg(long = "attr", value_name = "COLUMN")]
    attributes: Vec<String>,
    /// Column to drop.
    #[arg(long, value_name = "COLUMN")]
    ignore: Vec<String>,
    /// Column with each record's observation time.
    #[arg(long, value_name = "COLUMN")]
    timestamp: Option<String>,
    /// CSV field delimiter.
    #[arg(long)]
    delimiter: Option<char>,
    /// Store configuration (TOML). Given to an existing store with another configuration, it
    /// replaces it and resolves every entity again.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Policy for invalid rows.
    #[arg(long, value_enum, default_value_t = ErrorPolicy::Stop)]
    on_error: ErrorPolicy,
    /// Rows per atomic commit.
    #[arg(long, default_value_t = 10_000)]
    batch_size: usize,
    /// Hide the progress bar.
    #[arg(long)]
    no_progress: bool,
    /// After loading, link likely matches as `idgraph match` does, in the same run.
    #[arg(long = "match")]
    run_matcher: bool,
    /// Matcher configuration (TOML) for --match; the default for person records when missing.
    #[arg(long, value_name = "FILE", requires = "run_matcher")]
    match_config: Option<PathBuf>,
}

/// Opens a store that must already exist, so that a mistyped path is an error rather than a
/// new empty store.
fn open_existing(path: &Path) -> Result<Store> {
    Ok(Store::open_existing(path)?)
}

fn build_mapping(args: &IngestArgs, file: &Path) -> Result<Mapping> {
    let mut mapping = match &args.mapping {
        Some(path) => Mapping::from_toml_file(path)?,
        None => Mapping::default(),
    };
    if let Some(source) = &args.source {
        mapping.source = source.clone();
    }
    if mapping.source.is_empty() {
        mapping.source = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("input")
            .to_owned();
    }
    if let Some(key) = &args.key {
        mapping.key = key.clone();
    }
    if mapping.key.is_empty() {
        bail!(
            "no key column for {}: pass --key COLUMN or a --mapping file",
            file.display()
        );
    }
    for pair in &args.identifiers {
        let Some((column, kind)) = pair.split_once('=') else {
            bail!("--id {pair:?} is invalid: write COLUMN=KIND, such as --id email=email");
        };
        mapping
            .identifiers
            .insert(column.trim().to_owned(), kind.trim().to_owned());
    }
    if !args.attributes.is_empty() {
        mapping.attributes = Some(args.attributes.clone());
    }
    mapping.ignore.extend(args.ignore.iter().cloned());
    if args.timestamp.is_some() {
        mapping.timestamp = args.timestamp.clone();
    }
    if args.delimiter.is_some() {
        mapping.delimiter = args.delimiter;
    }
    mapping.validate()?;
    Ok(mapping)
}

pub fn ingest(args: IngestArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration {}", path.display()))?;
            let config = Config::from_toml(&text).map_err(|message| {
                anyhow::anyhow!("invalid configuration {}: {message}", path.display())
            })?;
            Some(config)
        }
        None => None,
    };
    // Check the inputs first, so that a typo does not leave an empty store behind.
    for file in &args.files {
        if !file.is_file() {
            bail!(
                "input file {} not found or not a file; check the path",
                file.display()
            );
        }
    }
    let match_config = if args.run_matcher {
        Some(read_match_config(args.match_config.as_deref())?)
    } else {
        None
    };
    // A file that cannot be read with its mapping fails before the store is created.
    for file in &args.files {
        ingest::check_file(file, &build_mapping(&args, file)?)?;
    }
    let mut store = Store::open_with(&args.store, config)?;
    let options = IngestOptions {
        on_error: match args.on_error {
            ErrorPolicy::Stop => OnError::Stop,
            ErrorPolicy::Skip => OnError::Skip,
        },
        progress: !args.no_progress,
        batch_size: args.batch_size,
    };
    for file in &args.files {
        let mapping = build_mapping(&args, file)?;
        warn_about_kind_typos(&mapping, store.config());
        let started = std::time::Instant::now();
        let report = ingest::ingest_file(&mut store, file, &mapping, &options)?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{}: {} rows, {} new records, {} updated, {} skipped, {} placeholder and {} invalid \
             identifier values dropped ({:.2} s)",
            file.display(),
            report.rows,
            report.inserted,
            report.updated,
            report.skipped,
            report.placeholders,
            report.invalid_values,
            seconds
        );
        for message in &report.messages {
            eprintln!("  {message}");
        }
    }
    if let Some(match_config) = &match_config {
        let options = idgraph::matching::MatchOptions {
            retrain: false,
            progress: !args.no_progress,
        };
        run_matcher(&mut store, match_config, &options, OutputMode::Table)?;
    }
    let counters = store.counters();
    println!(
        "store {}: {} records, {} identifiers, {} entities",
        args.store.display(),
        counters.records,
        counters.identifiers,
        counters.entities
    );
    finish(store)
}

pub fn match_records(
    path: &Path,
    config: Option<&Path>,
    options: idgraph::matching::MatchOptions,
    mode: OutputMode,
) -> Result<()> {
    let config = read_match_config(config)?;
    let mut store = open_existing(path)?;
    run_matcher(&mut store, &config, &options, mode)?;
    finish(store)
}

/// Ends a command that changed `store`: flushes it, then leaves its memory, its caches and
/// sled's threads to the operating system, which takes them back when the process exits
/// right after. Freeing a large store one allocation at a time took tens of milliseconds.
fn finish(store: Store) -> Result<()> {
    store.flush()?;
    std::mem::forget(store);
    Ok(())
}

/// Warns about identifier kinds that are one or two edits from a kind the configuration
/// weights, such as `emial`: such a kind gets the default weight and generic normalization.
fn warn_about_kind_typos(mapping: &Mapping, config: &Config) {
    for (column, kind) in &mapping.identifiers {
        if config.kind_weights.contains_key(kind) {
            continue;
        }
        let args = rapidfuzz::distance::osa::Args::default().score_cutoff(2);
        let close = config.kind_weights.keys().find(|known| {
            rapidfuzz::distance::osa::distance_with_args(kind.chars(), known.chars(), &args)
                .is_some()
        });
        if let Some(known) = close {
            eprintln!(
                "warning: column {column:?} has kind {kind:?}, which is not a configured kind; \
                 it gets default_kind_weight {} and no {known} normalization. Did you mean \
                 {known:?}?",
                config.default_kind_weight
            );
        }
    }
}

/// Reads a matcher configuration file, or gives the default for person records.
fn read_match_config(file: Option<&Path>) -> Result<idgraph::matching::MatchConfig> {
    let Some(file) = file else {
        return Ok(idgraph::matching::MatchConfig::default());
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read matcher configuration {}", file.display()))?;
    idgraph::matching::MatchConfig::from_toml(&text).map_err(|message| {
        anyhow::anyhow!(
            "invalid matcher configuration {}: {message}",
            file.display()
        )
    })
}

/// Runs the matcher on `store` and prints its report.
fn run_matcher(
    store: &mut Store,
    config: &idgraph::matching::MatchConfig,
    options: &idgraph::matching::MatchOptions,
    mode: OutputMode,
) -> Result<()> {
    let started = std::time::Instant::now();
    let report = idgraph::matching::run(store, config, options)?;
    let seconds = started.elapsed().as_secs_f64();
    match mode {
        OutputMode::Json => println!("{}", serde_json::to_string(&report)?),
        OutputMode::Table => {
            println!("records          {}", report.records);
            println!("candidate pairs  {}", report.candidate_pairs);
            for (rule, key, size) in &report.skipped_blocks {
                println!("skipped block    {rule} = {key:?} ({size} records)");
            }
            let model = if report.trained { "trained" } else { "reused" };
            println!(
                "model            {model}; {} pairs scored",
                report.scored_pairs
            );
            println!("prior (lambda)   {:.3e}", report.lambda);
            println!("links added      {}", report.edges);
            println!("time             {seconds:.2} s");
        }
    }
    Ok(())
}

pub fn query(path: &Path, statement: &str, mode: OutputMode) -> Result<()> {
    let mut store = open_existing(path)?;
    let statements = query::parse_script(statement)
        .map_err(|error| anyhow::anyhow!("{}", error.render(statement)))?;
    let mut stdout = std::io::stdout().lock();
    for statement in &statements {
        let output = query::execute_mut(&mut store, statement)?;
        stdout.write_all(query::render(&output, mode).as_bytes())?;
    }
    Ok(())
}

pub fn run_script(path: &Path, file: &Path, mode: OutputMode) -> Result<()> {
    let mut store = open_existing(path)?;
    let mut script = String::new();
    if file == Path::new("-") {
        std::io::stdin().lock().read_to_string(&mut script)?;
    } else {
        script = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read script {}", file.display()))?;
    }
    let statements = query::parse_script(&script)
        .map_err(|error| anyhow::anyhow!("{}: {}", file.display(), error.render(&script)))?;
    let mut stdout = std::io::stdout().lock();
    for (index, statement) in statements.iter().enumerate() {
        let output = query::execute_mut(&mut store, statement)
            .with_context(|| format!("statement {} (`{statement}`) failed", index + 1))?;
        stdout.write_all(query::render(&output, mode).as_bytes())?;
    }
    Ok(())
}

pub fn repl(path: &Path) -> Result<()> {
    let mut store = open_existing(path)?;
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        idgraph::repl::run(&mut store)?;
        return Ok(());
    }
    // Piped input: run each line as the shell would, without line editing.
    let mut session = idgraph::repl::Session::new(&mut store);
    let mut failed = false;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match session.handle(&line) {
            idgraph::repl::Reply::Print(text) => print!("{text}"),
            idgraph::repl::Reply::Error(text) => {
                failed = true;
                eprintln!("{text}");
            }
            idgraph::repl::Reply::Quit => break,
        }
    }
    if failed {
        bail!("some statements failed");
    }
    Ok(())
}

pub fn export(path: &Path, jsonl: bool, output: Option<&Path>) -> Result<()> {
    let store = open_existing(path)?;
    let out: Box<dyn Write> = match output {
        Some(file) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(file)
                .with_context(|| format!("cannot create {}", file.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut entities: HashMap<u32, (f32, String)> = HashMap::new();
    for entity in store.entities() {
        let entity = entity?;
        entities.insert(entity.id, (entity.score, entity.tier.to_string()));
    }
    let rows = store.records().map(|item| {
        let (_, record) = item?;
        let (score, tier) = entities.get(&record.entity).cloned().with_context(|| {
            format!(
                "entity {} of record {}/{} is missing; the store may be corrupt",
                record.entity, record.source, record.key
            )
        })?;
        anyhow::Ok((record, score, tier))
    });

    if jsonl {
        let mut out = out;
        for row in rows {
            let (record, score, tier) = row?;
            let line = serde_json::json!({
                "source": record.source,
                "key": record.key,
                "entity": record.entity,
                "score": score,
                "tier": tier,
            });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    } else {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(["source", "key", "entity", "score", "tier"])?;
        for row in rows {
            let (record, score, tier) = row?;
            let entity = record.entity.to_string();
            let score = format!("{score:.4}");
            writer.write_record([&record.source, &record.key, &entity, &score, &tier])?;
        }
        writer.flush()?;
    }
    Ok(())
}

pub fn eval(path: &Path, column: &str, pattern: Option<&str>, mode: OutputMode) -> Result<()> {
    let store = open_existing(path)?;
    let truth = idgraph::eval::Truth::new(column, pattern)?;
    let metrics = idgraph::eval::evaluate(&store, &truth)?;
    match mode {
        OutputMode::Json => println!("{}", serde_json::to_string(&metrics)?),
        OutputMode::Table => {
            println!(
                "records      {} ({} without a label, left out)",
                metrics.records, metrics.unlabelled
            );
            println!(
                "entities     {} (true: {})",
                metrics.entities, metrics.labels
            );
            println!(
                "pairs        predicted {}, true {}",
                metrics.predicted_pairs, metrics.true_pairs
            );
            println!(
                "counts       TP {}, FP {}, FN {}",
                metrics.true_positives, metrics.false_positives, metrics.false_negatives
            );
            println!("precision    {:.4}", metrics.precision);
            println!("recall       {:.4}", metrics.recall);
            println!("F1           {:.4}", metrics.f1);
        }
    }
    Ok(())
}

pub fn demo(dir: &Path, seed: u64) -> Result<()> {
    let data = dir.join("data");
    let store_path = dir.join("store");
    if store_path.exists() {
        // Only remove what an earlier demo run created.
        if !store_path.join("conf").exists() {
            bail!(
                "{} exists and is not an idgraph store; pass --dir to choose another directory",
                store_path.display()
            );
        }
        std::fs::remove_dir_all(&store_path).with_context(|| {
            format!("cannot remove the old demo store {}", store_path.display())
        })?;
    }
    let sources = idgraph::demo::write_sample(&data, seed)
        .with_context(|| format!("cannot write the demo data to {}", data.display()))?;
    let mut store = Store::open(&store_path)?;
    let options = IngestOptions::default();
    println!(
        "idgraph demo: sample data in {}, store in {}\n",
        data.display(),
        store_path.display()
    );
    for source in &sources {
        let mapping_path = data.join(format!("{}.mapping.toml", source.name));
        std::fs::write(&mapping_path, &source.mapping_toml)?;
        let mapping: Mapping = Mapping::from_toml_file(&mapping_path)?;
        let report = ingest::ingest_file(&mut store, &source.path, &mapping, &options)?;
        println!(
            "  ingested {:<36} {:>5} records ({} empty or placeholder identifier values dropped)",
            source.path.display(),
            report.inserted + report.updated,
            report.placeholders
        );
    }
    println!();
    let stats = query::execute(&store, &query::Statement::Stats)?;
    print!("{}", query::render(&stats, OutputMode::Table));

    let store_arg = store_path.display();
    println!("\nTry:");
    for example in demo_examples(&store)? {
        println!("  idgraph query {store_arg} '{example}'");
    }
    println!("  idgraph repl {store_arg}");
    Ok(())
}

/// Picks example statements that return something on the demo store.
fn demo_examples(store: &Store) -> Result<Vec<String>> {
    let mut examples = vec![
        "stats".to_owned(),
        "conflicts limit 5".to_owned(),
        "bridges limit 5".to_owned(),
        "entities tier low limit 5".to_owned(),
        format!("find email {}", idgraph::demo::SUPPORT_MAILBOX),
    ];
    let mut largest: Option<(u64, u32)> = None;
    for entity in store.entities() {
        let entity = entity?;
        if entity.conflicts.is_empty()
            && largest.is_none_or(|(size, _)| entity.members.len() > size)
        {
            largest = Some((entity.members.len(), entity.id));
        }
    }
    if let Some((_, id)) = largest {
        examples.push(format!("entity {id}"));
        examples.push(format!("why entity {id}"));
    }
    if let Some(Ok((_, record))) = store.records().next() {
        examples.push(format!("find record {} \"{}\"", record.source, record.key));
    }
    Ok(examples)
}
