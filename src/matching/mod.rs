//! Probabilistic matching: finds records that are likely the same person from their
//! attributes, with an unsupervised Fellegi-Sunter model, and adds the likely pairs to the
//! graph as weighted record-to-record evidence edges.
//!
//! Blocking picks candidate pairs ([`blocking`]), and each pair gets one agreement level per
//! comparison ([`compare`]). `u` is estimated from random pairs and `m` by
//! expectation-maximisation on the candidates ([`fellegi_sunter`]). Each candidate's match
//! weight, with optional term-frequency adjustment, gives its probability. Pairs at or above
//! the threshold become edges whose evidence keeps each comparison's level and weight.

pub mod blocking;
pub mod compare;
pub mod fellegi_sunter;

use rustc_hash::FxHashMap;

use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{ComparisonOutcome, Evidence, NodeId};
use crate::resolve::MatchLink;
use crate::store::{Store, Writer};
use blocking::{KeyPart, SkippedBlock};
use compare::Method;
use fellegi_sunter::{Parameters, Pattern};

/// One attribute comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonConfig {
    /// Name shown in explanations; the column name when missing.
    #[serde(default)]
    pub name: String,
    /// Attribute compared.
    pub column: String,
    /// Comparison method and its levels.
    #[serde(flatten)]
    pub method: Method,
    /// Adjust exact agreement by how common the value is, so that agreeing on a rare value
    /// counts more than agreeing on a common one.
    #[serde(default)]
    pub term_frequency: bool,
    /// A column whose value may have been swapped with this one, such as the surname for a
    /// first name: when each record's value equals the other record's value of that column,
    /// the comparison counts as exact agreement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_with: Option<String>,
}

impl ComparisonConfig {
    /// Returns the agreement level of two records' values, or `None` when either is missing.
    /// `left_swap` and `right_swap` are the records' values of the `swap_with` column.
    pub fn level(
        &self,
        left: Option<&str>,
        right: Option<&str>,
        left_swap: Option<&str>,
        right_swap: Option<&str>,
    ) -> Option<u8> {
        let (x, y) = (left?, right?);
        let level = self.method.compare(x, y);
        let top = self.method.levels() - 1;
        let swapped = self.swap_with.is_some() && left_swap == Some(y) && right_swap == Some(x);
        Some(if level < top && swapped { top } else { level } as u8)
    }
}

/// Configuration of the matcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Match probability at or above which a pair becomes an edge.
    pub threshold: f64,
    /// Blocks with more records than this are skipped with a warning.
    pub max_block_size: usize,
    /// Random pairs drawn to estimate `u`.
    pub random_pairs: usize,
    /// Maximum expectation-maximisation iterations.
    pub max_iterations: usize,
    /// Seed of the random pair sample, so that training is repeatable.
    pub seed: u64,
    /// Blocking rules; each is a list of key parts such as `surname` or `first3(given_name)`.
    pub blocking: Vec<Vec<String>>,
    /// Comparisons.
    pub comparisons: Vec<ComparisonConfig>,
}

fn jaro_winkler(column: &str, thresholds: &[f64], term_frequency: bool) -> ComparisonConfig {
    ComparisonConfig {
        name: column.to_owned(),
        column: column.to_owned(),
        method: Method::JaroWinkler {
            thresholds: thresholds.to_vec(),
        },
        term_frequency,
        swap_with: None,
    }
}

fn levenshtein(column: &str, distances: &[usize]) -> ComparisonConfig {
    ComparisonConfig {
        name: column.to_owned(),
        column: column.to_owned(),
        method: Method::Levenshtein {
            distances: distances.to_vec(),
        },
        term_frequency: false,
        swap_with: None,
    }
}

impl Default for MatchConfig {
    /// Returns the default for person records, with FEBRL's column names.
    fn default() -> Self {
        let blocking = [
            vec!["surname"],
            vec!["given_name"],
            vec!["date_of_birth"],
            vec!["postcode", "first1(surname)"],
            vec!["soundex(surname)", "year(date_of_birth)"],
            vec!["soundex(given_name)", "suburb"],
            vec!["street_number", "postcode"],
            vec!["soc_sec_id"],
        ];
        MatchConfig {
            threshold: 0.5,
            max_block_size: 1000,
            random_pairs: 50_000,
            max_iterations: 100,
            seed: 1,
            blocking: blocking
                .iter()
                .map(|rule| rule.iter().map(|part| (*part).to_owned()).collect())
                .collect(),
            comparisons: vec![
                jaro_winkler("given_name", &[0.92, 0.8], true),
                jaro_winkler("surname", &[0.92, 0.8], true),
                ComparisonConfig {
                    name: "date_of_birth".into(),
                    column: "date_of_birth".into(),
                    method: Method::Date,
                    term_frequency: false,
                    swap_with: None,
                },
                levenshtein("street_number", &[1]),
                jaro_winkler("address_1", &[0.9, 0.75], false),
                jaro_winkler("suburb", &[0.9], true),
                levenshtein("postcode", &[1]),
                ComparisonConfig {
                    name: "state".into(),
                    column: "state".into(),
                    method: Method::Exact,
                    term_frequency: false,
                    swap_with: None,
                },
                levenshtein("soc_sec_id", &[1, 2]),
            ],
        }
    }
}

impl MatchConfig {
    /// Parses a matcher configuration from TOML. Missing settings take their defaults.
    ///
    /// # Errors
    ///
    /// Returns the TOML error, which names the line and setting.
    pub fn from_toml(text: &str) -> Result<MatchConfig, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }
}

/// Settings of one matcher run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchOptions {
    /// Train a new model even when the stored one has the same configuration.
    pub retrain: bool,
    /// Show the current step on standard error when it is a terminal.
    pub progress: bool,
}

/// A spinner that names the current step, hidden unless standard error is a terminal.
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new(enabled: bool) -> Progress {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(bar)
    }

    fn step(&self, name: &'static str) {
        self.0.set_message(name);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A trained model, saved in the store so that explanations use the same numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// The configuration it was trained with.
    pub config: MatchConfig,
    /// The trained parameters.
    pub parameters: Parameters,
    /// Per term-frequency comparison, the share of records holding each value.
    pub term_frequencies: Vec<FxHashMap<String, f64>>,
    /// Node id below which every record was scored by an earlier run. A later run with the
    /// same model scores only the pairs that involve a newer record.
    #[serde(default)]
    pub scored_below: NodeId,
}

/// Outcome of a matcher run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MatchReport {
    /// Records considered.
    pub records: usize,
    /// Distinct candidate pairs from blocking.
    pub candidate_pairs: usize,
    /// Blocks skipped for being larger than the cap.
    pub skipped_blocks: Vec<(String, String, usize)>,
    /// Expectation-maximisation iterations run.
    pub iterations: usize,
    /// Estimated share of candidate pairs that match.
    pub lambda: f64,
    /// Pairs at or above the threshold, added as edges.
    pub edges: usize,
    /// Whether this run trained a new model; `false` when it reused the stored one.
    pub trained: bool,
    /// Candidate pairs scored: all of them after training, else only those with a new record.
    pub scored_pairs: usize,
}

/// Minimum number of candidate pairs that expectation-maximisation trains on. With fewer, the
/// estimates rest on a handful of pairs and a saved model would mislead later runs.
const MIN_TRAINING_PAIRS: usize = 20;

/// Column values of one record, lowercased, `None` when missing.
type Values = Vec<Option<String>>;

/// Prepared inputs: the columns used, each record's values, and parsed blocking rules.
struct Prepared {
    ids: Vec<NodeId>,
    records: Vec<Values>,
    comparison_columns: Vec<usize>,
    /// Per comparison, the column of its `swap_with` setting.
    swap_columns: Vec<Option<usize>>,
    rules: Vec<Vec<KeyPart>>,
}

fn prepare(writer: &Writer<'_>, config: &MatchConfig) -> Result<Prepared> {
    let mut columns: Vec<String> = Vec::new();
    let mut index_of = |name: &str| -> usize {
        match columns.iter().position(|c| c == name) {
            Some(index) => index,
            None => {
                columns.push(name.to_owned());
                columns.len() - 1
            }
        }
    };
    let swap_columns: Vec<Option<usize>> = config
        .comparisons
        .iter()
        .map(|c| c.swap_with.as_deref().map(&mut index_of))
        .collect();
    let comparison_columns: Vec<usize> = config
        .comparisons
        .iter()
        .map(|c| index_of(&c.column))
        .collect();
    let rules = config
        .blocking
        .iter()
        .map(|rule| {
            rule.iter()
                .map(|part| blocking::parse_part(part, &mut index_of))
                .collect::<Result<Vec<_>, String>>()
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(Error::Config)?;

    let mut ids = Vec::new();
    let mut records = Vec::new();
    let mut seen_columns = vec![false; columns.len()];
    for (id, record) in writer.cached_records() {
        let values: Values = columns
            .iter()
            .map(|column| record.attribute(column).map(str::to_lowercase))
            .collect();
        for (seen, value) in seen_columns.iter_mut().zip(&values) {
            *seen |= value.is_some();
        }
        ids.push(id);
        records.push(values);
    }
    let missing: Vec<&str> = columns
        .iter()
        .zip(&seen_columns)
        .filter(|(_, seen)| !**seen)
        .map(|(column, _)| column.as_str())
        .collect();
    if !missing.is_empty() && !records.is_empty() {
        tracing::warn!(
            columns = %missing.join(", "),
            "no record has these attributes, so their comparisons and blocking rules add \
             nothing; pass --config with your column names"
        );
    }
    Ok(Prepared {
        ids,
        records,
        comparison_columns,
        swap_columns,
        rules,
    })
}

fn pattern(config: &MatchConfig, prepared: &Prepared, i: usize, j: usize) -> Pattern {
    let (a, b) = (&prepared.records[i], &prepared.records[j]);
    config
        .comparisons
        .iter()
        .zip(&prepared.comparison_columns)
        .zip(&prepared.swap_columns)
        .map(|((comparison, &column), swap)| {
            comparison.level(
                a[column].as_deref(),
                b[column].as_deref(),
                swap.and_then(|s| a[s].as_deref()),
                swap.and_then(|s| b[s].as_deref()),
            )
        })
        .collect()
}

/// Scores candidate pairs and adds an edge for every likely match.
///
/// The first run, a run with a configuration that differs from the stored model's, and a run
/// with `retrain` train a new model on all records and score every candidate pair. Otherwise
/// the stored model is reused and only pairs that involve a record added since the last run
/// are scored, through the same blocking rules.
///
/// # Errors
///
/// Fails on an invalid blocking rule and on store errors.
pub fn run(store: &mut Store, config: &MatchConfig, options: &MatchOptions) -> Result<MatchReport> {
    let progress = Progress::new(options.progress);
    progress.step("loading records");
    let saved = store
        .match_model()?
        .filter(|model| !options.retrain && model.config == *config);
    let started = std::time::Instant::now();
    // The batch reads every record to compare them, and changes most of them when it links.
    let mut writer = store.writer();
    writer.load_all_nodes()?;
    let prepared = prepare(&writer, config)?;
    tracing::debug!(elapsed = ?started.elapsed(), "loaded records for matching");
    progress.step("blocking");
    let count = prepared.records.len();
    let mut report = MatchReport {
        records: count,
        ..MatchReport::default()
    };
    if count < 2 {
        return Ok(report);
    }

    let candidates =
        blocking::candidate_pairs(&prepared.rules, &prepared.records, config.max_block_size);
    let pairs = &candidates.pairs;
    for SkippedBlock { rule, key, size } in &candidates.skipped {
        tracing::warn!(rule = ?config.blocking[*rule], key, size, "skipped a block larger than max_block_size");
        report
            .skipped_blocks
            .push((config.blocking[*rule].join(" + "), key.clone(), *size));
    }
    report.candidate_pairs = pairs.len();
    tracing::debug!(elapsed = ?started.elapsed(), pairs = pairs.len(), "blocked");
    progress.step("comparing pairs and training");

    let (model, pairs, patterns) = match saved {
        Some(model) => {
            let (pairs, patterns): (Vec<(u32, u32)>, Vec<Pattern>) = pairs
                .iter()
                .filter(|&&(i, j)| {
                    let newest = prepared.ids[i as usize].max(prepared.ids[j as usize]);
                    newest >= model.scored_below
                })
                .map(|&(i, j)| ((i, j), pattern(config, &prepared, i as usize, j as usize)))
                .unzip();
            report.lambda = model.parameters.lambda;
            (model, pairs, patterns)
        }
        None => {
            if pairs.len() < MIN_TRAINING_PAIRS {
                return Err(Error::Query(format!(
                    "only {} candidate pairs among {count} records, too few to train a model \
                     (at least {MIN_TRAINING_PAIRS}); ingest more records or add blocking rules, \
                     then run match again",
                    pairs.len()
                )));
            }
            report.trained = true;
            let (model, patterns) = train_model(config, &prepared, &candidates, &mut report);
            (model, pairs.clone(), patterns)
        }
    };
    report.scored_pairs = pairs.len();
    tracing::debug!(elapsed = ?started.elapsed(), pairs = pairs.len(), "compared pairs");
    progress.step("scoring and linking");

    // Score every candidate and link the likely ones.
    let agreed_value = |i: u32, j: u32, c: usize| {
        let column = prepared.comparison_columns[c];
        let (a, b) = (&prepared.records[i as usize], &prepared.records[j as usize]);
        a[column].as_deref().or(b[column].as_deref())
    };
    // Score in parallel; only adding the edges to the batch is sequential.
    let links: Vec<(usize, f32, Evidence)> = pairs
        .par_iter()
        .zip(&patterns)
        .enumerate()
        .filter_map(|(index, (&(i, j), pattern))| {
            let weight = model.weight(pattern, |c| agreed_value(i, j, c));
            let probability = fellegi_sunter::probability(weight);
            if probability < config.threshold {
                return None;
            }
            let contributions: Vec<f32> = pattern
                .iter()
                .enumerate()
                .map(|(c, level)| match level {
                    Some(level) => {
                        model.contribution(c, usize::from(*level), agreed_value(i, j, c)) as f32
                    }
                    None => 0.0,
                })
                .collect();
            let evidence = Evidence::Match {
                weight: weight as f32,
                levels: pattern.clone(),
                contributions,
            };
            Some((index, probability as f32, evidence))
        })
        .collect();
    report.edges = links.len();
    let links = links
        .into_iter()
        .map(|(index, weight, evidence)| {
            let (i, j) = pairs[index];
            MatchLink {
                records: (prepared.ids[i as usize], prepared.ids[j as usize]),
                weight,
                evidence,
            }
        })
        .collect();
    if report.trained {
        // A new model replaces the links of the old one rather than adding to them.
        crate::resolve::remove_match_edges(&mut writer)?;
    }
    crate::resolve::add_match_edges(&mut writer, links, crate::ingest::now())?;
    tracing::debug!(elapsed = ?started.elapsed(), "scored and linked");
    progress.step("writing");
    let mut model = model;
    model.scored_below = writer.counters().next_node;
    writer.save_match_model(
        serde_json::to_vec(&model).map_err(|e| Error::corrupt("match model", e))?,
    );
    writer.commit()?;
    store.flush()?;
    tracing::debug!(
        candidates = report.candidate_pairs,
        edges = report.edges,
        "matched records"
    );
    Ok(report)
}

/// Trains a model on all records: `u` from random pairs, which are almost all non-matches,
/// then `m` and `lambda` from the candidates. Returns it with the candidates' patterns.
fn train_model(
    config: &MatchConfig,
    prepared: &Prepared,
    candidates: &blocking::Candidates,
    report: &mut MatchReport,
) -> (TrainedModel, Vec<Pattern>) {
    let count = prepared.records.len();
    let levels: Vec<usize> = config
        .comparisons
        .iter()
        .map(|c| c.method.levels())
        .collect();
    let pairs = &candidates.pairs;
    // u from random pairs, which are almost all non-matches.
    let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let sample: Vec<(usize, usize)> = (0..config.random_pairs)
        .map(|_| (random.random_range(0..count), random.random_range(0..count)))
        .filter(|(i, j)| i != j)
        .collect();
    let u_counts = sample
        .par_chunks(4096)
        .map(|chunk| {
            let mut counts: Vec<Vec<u64>> = levels.iter().map(|&n| vec![0; n]).collect();
            for &(i, j) in chunk {
                for (c, level) in pattern(config, prepared, i, j).into_iter().enumerate() {
                    if let Some(level) = level {
                        counts[c][level as usize] += 1;
                    }
                }
            }
            counts
        })
        .reduce(
            || levels.iter().map(|&n| vec![0; n]).collect(),
            |mut total, part| {
                for (t, p) in total.iter_mut().zip(part) {
                    for (a, b) in t.iter_mut().zip(p) {
                        *a += b;
                    }
                }
                total
            },
        );
    let mut u = fellegi_sunter::estimate_u(&levels, &u_counts);
    exact_u_from_frequencies(&mut u, prepared);

    // m and lambda by expectation-maximisation over the candidates' patterns.
    let patterns: Vec<Pattern> = pairs
        .par_iter()
        .map(|&(i, j)| pattern(config, prepared, i as usize, j as usize))
        .collect();
    let (parameters, iterations) =
        train_by_rule(config, prepared, candidates, &patterns, &levels, u);
    report.iterations = iterations;
    report.lambda = parameters.lambda;

    let term_frequencies = term_frequencies(config, prepared);
    let model = TrainedModel {
        config: config.clone(),
        parameters,
        term_frequencies,
        scored_below: 0,
    };
    (model, patterns)
}

/// Replaces each comparison's sampled `u` of exact agreement with its exact value, the chance
/// that two random records hold the same value (the sum of squared value shares), and scales
/// the other levels to fill the rest. Exact agreement is the rarest level for most columns, so
/// a sample estimates it worst.
fn exact_u_from_frequencies(u: &mut [Vec<f64>], prepared: &Prepared) {
    for (c, &column) in prepared.comparison_columns.iter().enumerate() {
        let mut counts: FxHashMap<&str, f64> = FxHashMap::default();
        let mut total = 0.0;
        for values in &prepared.records {
            if let Some(value) = values[column].as_deref() {
                *counts.entry(value).or_default() += 1.0;
                total += 1.0;
            }
        }
        if total < 2.0 {
            continue;
        }
        // Pairs of distinct records: n (n - 1) over N (N - 1), not (n / N) squared.
        let same: f64 =
            counts.values().map(|n| n * (n - 1.0)).sum::<f64>() / (total * (total - 1.0));
        let levels = &mut u[c];
        let top = levels.len() - 1;
        let exact = same.max(1e-6);
        let others: f64 = levels[..top].iter().sum();
        if others > 0.0 {
            for level in &mut levels[..top] {
                *level *= (1.0 - exact) / others;
            }
        }
        levels[top] = exact;
    }
}

/// Trains `m` with one expectation-maximisation session per blocking rule, on the pairs
/// that rule produced, leaving out the comparisons of the columns the rule blocks on: within a
/// block those always agree, so they carry no evidence about matching. Each comparison's `m` is the
/// average over the sessions that estimated it, weighted by their expected matches. `lambda`
/// is then estimated over all record pairs.
fn train_by_rule(
    config: &MatchConfig,
    prepared: &Prepared,
    candidates: &blocking::Candidates,
    patterns: &[Pattern],
    levels: &[usize],
    u: Vec<Vec<f64>>,
) -> (Parameters, usize) {
    let comparisons = config.comparisons.len();
    let mut m_sums: Vec<Vec<f64>> = levels.iter().map(|&n| vec![0.0; n]).collect();
    let mut m_weights = vec![0.0; comparisons];
    let mut iterations = 0;
    for (rule_index, rule) in prepared.rules.iter().enumerate() {
        let blocked: Vec<bool> = prepared
            .comparison_columns
            .iter()
            .map(|column| rule.iter().any(|part| part.column() == *column))
            .collect();
        let mut counts: FxHashMap<Pattern, u64> = FxHashMap::default();
        for (pattern, _) in patterns
            .iter()
            .zip(&candidates.rules)
            .filter(|(_, rule)| usize::from(**rule) == rule_index)
        {
            let masked: Pattern = pattern
                .iter()
                .zip(&blocked)
                .map(|(level, blocked)| if *blocked { None } else { *level })
                .collect();
            *counts.entry(masked).or_default() += 1;
        }
        let pairs: u64 = counts.values().sum();
        if pairs == 0 {
            continue;
        }
        // At most about one match per record is likely, which bounds the starting prior.
        let initial_lambda = prepared.records.len() as f64 / pairs as f64;
        let (session, used) = fellegi_sunter::train(
            &counts,
            levels,
            u.clone(),
            initial_lambda,
            config.max_iterations,
            1e-6,
        );
        iterations += used;
        let expected_matches = session.lambda * pairs as f64;
        for c in (0..comparisons).filter(|&c| !blocked[c]) {
            for (sum, m) in m_sums[c].iter_mut().zip(&session.m[c]) {
                *sum += m * expected_matches;
            }
            m_weights[c] += expected_matches;
        }
    }
    let initial = fellegi_sunter::initial_m(levels);
    let m: Vec<Vec<f64>> = m_sums
        .into_iter()
        .zip(&m_weights)
        .zip(initial)
        .map(|((sums, &weight), initial)| {
            if weight > 0.0 {
                sums.iter().map(|s| s / weight).collect()
            } else {
                initial
            }
        })
        .collect();
    let mut parameters = Parameters { m, u, lambda: 0.0 };
    let mut all: FxHashMap<Pattern, u64> = FxHashMap::default();
    for pattern in patterns {
        *all.entry(pattern.clone()).or_default() += 1;
    }
    let records = prepared.records.len() as f64;
    let total_pairs = records * (records - 1.0) / 2.0;
    parameters.lambda = fellegi_sunter::estimate_lambda(&parameters, &all, total_pairs, 200);
    (parameters, iterations)
}

fn term_frequencies(config: &MatchConfig, prepared: &Prepared) -> Vec<FxHashMap<String, f64>> {
    config
        .comparisons
        .iter()
        .zip(&prepared.comparison_columns)
        .map(|(comparison, &column)| {
            let mut counts: FxHashMap<String, f64> = FxHashMap::default();
            if !comparison.term_frequency {
                return counts;
            }
            let mut total = 0.0;
            for values in &prepared.records {
                if let Some(value) = &values[column] {
                    *counts.entry(value.clone()).or_default() += 1.0;
                    total += 1.0;
                }
            }
            for share in counts.values_mut() {
                *share /= total;
            }
            counts
        })
        .collect()
}

impl TrainedModel {
    /// Returns comparison `c`'s contribution to the match weight at `level`. `value` is the
    /// value both records agreed on, used for term-frequency adjustment.
    fn contribution(&self, c: usize, level: usize, value: Option<&str>) -> f64 {
        let comparison = &self.config.comparisons[c];
        if comparison.term_frequency && level == comparison.method.levels() - 1 {
            if let Some(share) = value.and_then(|v| self.term_frequencies[c].get(v)) {
                // The chance that two random records share this value is about its share.
                return (self.parameters.m[c][level].max(1e-6) / share.max(1e-6)).log2();
            }
        }
        self.parameters.level_weight(c, level)
    }

    /// Returns the match weight of a pattern. `value(c)` returns the value that comparison
    /// `c` agreed on.
    pub fn weight<'v>(
        &self,
        pattern: &[Option<u8>],
        value: impl Fn(usize) -> Option<&'v str>,
    ) -> f64 {
        let mut weight = self.parameters.prior_weight();
        for (c, level) in pattern.iter().enumerate() {
            if let Some(level) = level {
                weight += self.contribution(c, usize::from(*level), value(c));
            }
        }
        weight
    }

    /// Returns the match weight of a pattern and each comparison's level and contribution.
    pub fn explain<'v>(
        &self,
        pattern: &[Option<u8>],
        value: impl Fn(usize) -> Option<&'v str>,
    ) -> (f64, Vec<ComparisonOutcome>) {
        let mut weight = self.parameters.prior_weight();
        let mut outcomes = Vec::with_capacity(pattern.len());
        for (c, level) in pattern.iter().enumerate() {
            let comparison = &self.config.comparisons[c];
            let name = if comparison.name.is_empty() {
                &comparison.column
            } else {
                &comparison.name
            };
            let (label, contribution) = match level {
                Some(level) => {
                    let level = usize::from(*level);
                    (
                        comparison.method.level_label(level),
                        self.contribution(c, level, value(c)),
                    )
                }
                None => ("missing".to_owned(), 0.0),
            };
            weight += contribution;
            outcomes.push(ComparisonOutcome {
                name: name.clone(),
                level: label,
                weight: contribution as f32,
            });
        }
        (weight, outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_names_count_as_exact() {
        let first_name = ComparisonConfig {
            swap_with: Some("surname".into()),
            ..jaro_winkler("first_name", &[0.92, 0.8], false)
        };
        let exact = Some(3);
        assert_eq!(
            first_name.level(Some("caleb"), Some("caleb"), None, None),
            exact
        );
        assert_eq!(
            first_name.level(Some("caleb"), Some("rowe"), Some("rowe"), Some("caleb")),
            exact,
            "caleb rowe against rowe caleb"
        );
        assert_eq!(
            first_name.level(Some("caleb"), Some("rowe"), Some("rowe"), Some("smith")),
            Some(0),
            "only one side swapped"
        );
        assert_eq!(first_name.level(None, Some("rowe"), None, None), None);
        let plain = jaro_winkler("first_name", &[0.92, 0.8], false);
        assert_eq!(
            plain.level(Some("caleb"), Some("rowe"), Some("rowe"), Some("caleb")),
            Some(0)
        );
    }

    #[test]
    fn config_from_toml_with_defaults() {
        let config = MatchConfig::from_toml(
            "threshold = 0.9\n[[comparisons]]\ncolumn = \"dob\"\nmethod = \"date\"\n",
        )
        .unwrap();
        assert_eq!(config.threshold, 0.9);
        assert_eq!(config.comparisons.len(), 1);
        assert_eq!(config.comparisons[0].method, Method::Date);
        assert_eq!(config.max_block_size, MatchConfig::default().max_block_size);
        let error = MatchConfig::from_toml("treshold = 0.9\n").unwrap_err();
        assert!(error.contains("treshold"), "{error}");
    }
}
