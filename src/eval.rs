//! Evaluation against ground truth: pairwise precision, recall and F1 of the entities.
//!
//! A pair of records is predicted when both are in one entity, and true when both have the
//! same ground-truth label. Pairs are counted over all records that have a label, so pairs
//! that resolution never considered count as misses.

use std::collections::HashMap;

use regex::Regex;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::Store;

/// Pairwise counts and the scores derived from them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PairwiseMetrics {
    /// Records with a label.
    pub records: u64,
    /// Records without a label, left out of every count.
    pub unlabelled: u64,
    /// Distinct entities among the labelled records.
    pub entities: u64,
    /// Distinct labels.
    pub labels: u64,
    /// Pairs in one entity.
    pub predicted_pairs: u64,
    /// Pairs with one label.
    pub true_pairs: u64,
    /// Pairs in one entity and with one label.
    pub true_positives: u64,
    /// Pairs in one entity with different labels.
    pub false_positives: u64,
    /// Pairs with one label in different entities.
    pub false_negatives: u64,
    /// `true_positives / predicted_pairs`, 1.0 when nothing is predicted.
    pub precision: f64,
    /// `true_positives / true_pairs`, 1.0 when there are no true pairs.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Computes pairwise metrics from (predicted cluster, true label) per record.
pub fn pairwise<P, T>(assignments: impl IntoIterator<Item = (P, T)>) -> PairwiseMetrics
where
    P: std::hash::Hash + Eq + Clone,
    T: std::hash::Hash + Eq + Clone,
{
    let mut predicted: HashMap<P, u64> = HashMap::new();
    let mut truth: HashMap<T, u64> = HashMap::new();
    let mut cells: HashMap<(P, T), u64> = HashMap::new();
    let mut records = 0;
    for (cluster, label) in assignments {
        records += 1;
        *predicted.entry(cluster.clone()).or_default() += 1;
        *truth.entry(label.clone()).or_default() += 1;
        *cells.entry((cluster, label)).or_default() += 1;
    }
    let predicted_pairs: u64 = predicted.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = truth.values().map(|&n| pairs(n)).sum();
    let true_positives: u64 = cells.values().map(|&n| pairs(n)).sum();
    let ratio = |num: u64, den: u64| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    let precision = ratio(true_positives, predicted_pairs);
    let recall = ratio(true_positives, true_pairs);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PairwiseMetrics {
        records,
        unlabelled: 0,
        entities: predicted.len() as u64,
        labels: truth.len() as u64,
        predicted_pairs,
        true_pairs,
        true_positives,
        false_positives: predicted_pairs - true_positives,
        false_negatives: true_pairs - true_positives,
        precision,
        recall,
        f1,
    }
}

/// Source of each record's ground-truth label.
#[derive(Clone, Debug)]
pub struct Truth {
    /// Attribute name, or the key column of the record's source (the record key).
    pub column: String,
    /// Pattern that extracts the label from the column: its first capture group, or the whole
    /// match when it has no group. Records whose value does not match have no label.
    pub pattern: Option<Regex>,
}

impl Truth {
    /// Creates a truth specification.
    ///
    /// # Errors
    ///
    /// Fails when `pattern` is not a valid regular expression.
    pub fn new(column: &str, pattern: Option<&str>) -> Result<Truth> {
        let pattern = pattern
            .map(Regex::new)
            .transpose()
            .map_err(|error| Error::Config(format!("invalid truth pattern: {error}")))?;
        Ok(Truth {
            column: column.to_owned(),
            pattern,
        })
    }

    fn label(&self, value: &str) -> Option<String> {
        match &self.pattern {
            None => (!value.is_empty()).then(|| value.to_owned()),
            Some(pattern) => {
                let captures = pattern.captures(value)?;
                let found = captures.get(1).or_else(|| captures.get(0))?;
                Some(found.as_str().to_owned())
            }
        }
    }
}

/// Scores the store's entities against the labels `truth` reads from each record.
///
/// # Errors
///
/// Fails on store errors, and with [`Error::NotFound`] when no record has a label, which
/// usually means the column name is wrong.
pub fn evaluate(store: &Store, truth: &Truth) -> Result<PairwiseMetrics> {
    let key_sources: Vec<String> = store
        .sources()?
        .into_iter()
        .filter(|source| source.key_column.as_deref() == Some(truth.column.as_str()))
        .map(|source| source.name)
        .collect();
    let mut assignments = Vec::new();
    let mut unlabelled = 0;
    for item in store.records() {
        let (_, record) = item?;
        let value = if key_sources.contains(&record.source) {
            Some(record.key.as_str())
        } else {
            record.attribute(&truth.column)
        };
        match value.and_then(|value| truth.label(value)) {
            Some(label) => assignments.push((record.entity, label)),
            None => unlabelled += 1,
        }
    }
    if assignments.is_empty() {
        return Err(Error::Query(format!(
            "no record has a label in column {:?}: check the column name (an attribute or the \
             key column) and that the pattern matches its values",
            truth.column
        )));
    }
    let mut metrics = pairwise(assignments);
    metrics.unlabelled = unlabelled;
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_clustering_scores_one() {
        let metrics = pairwise([(1, "a"), (1, "a"), (2, "b"), (2, "b"), (2, "b")]);
        assert_eq!(metrics.true_pairs, 4);
        assert_eq!(metrics.true_positives, 4);
        assert_eq!(metrics.f1, 1.0);
    }

    #[test]
    fn counts_false_positives_and_negatives() {
        // Predicted {r1, r2, r3} and {r4}; truth {r1, r2} and {r3, r4}.
        let metrics = pairwise([(1, "a"), (1, "a"), (1, "b"), (2, "b")]);
        assert_eq!(metrics.predicted_pairs, 3);
        assert_eq!(metrics.true_pairs, 2);
        assert_eq!(metrics.true_positives, 1);
        assert_eq!(metrics.false_positives, 2);
        assert_eq!(metrics.false_negatives, 1);
        assert!((metrics.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((metrics.recall - 0.5).abs() < 1e-12);
        assert!((metrics.f1 - 0.4).abs() < 1e-12);
    }

    #[test]
    fn pattern_extracts_first_group() {
        let truth = Truth::new("rec_id", Some(r"rec-(\d+)-")).unwrap();
        assert_eq!(truth.label("rec-17-dup-2").as_deref(), Some("17"));
        assert_eq!(truth.label("rec-17-org").as_deref(), Some("17"));
        assert_eq!(truth.label("other"), None);
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        let error = Truth::new("rec_id", Some("rec-(")).unwrap_err();
        assert!(
            error.to_string().contains("invalid truth pattern"),
            "{error}"
        );
    }
}
