//! The Fellegi-Sunter model: per comparison level, the probability `m` of that level among
//! matching pairs and `u` among non-matching pairs, and the prior probability `lambda` that a
//! candidate pair matches.
//!
//! `u` is estimated from random record pairs, almost all of which are non-matches. `m` and
//! `lambda` are estimated by expectation-maximisation over the blocked candidate pairs, with
//! `u` held fixed, as in the usual unsupervised Fellegi-Sunter training. No labels are used.

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

/// Smallest probability a level may take, so that log weights stay finite.
const MIN_PROBABILITY: f64 = 1e-6;

/// A comparison vector: one level per comparison, `None` where a value is missing.
pub type Pattern = Vec<Option<u8>>;

/// Trained parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// `m[c][level]`: probability of `level` in comparison `c` among matches.
    pub m: Vec<Vec<f64>>,
    /// `u[c][level]`: probability of `level` in comparison `c` among non-matches.
    pub u: Vec<Vec<f64>>,
    /// Prior probability that a candidate pair matches.
    pub lambda: f64,
}

impl Parameters {
    /// Returns the match weight (log2 Bayes factor) of `level` in comparison `c`.
    ///
    /// Both probabilities are floored at 1e-6, so that a level never seen in training gives
    /// a large but finite weight rather than an infinite one.
    pub fn level_weight(&self, c: usize, level: usize) -> f64 {
        (self.m[c][level].max(1e-6) / self.u[c][level].max(1e-6)).log2()
    }

    /// Returns the prior weight, log2 of the prior odds.
    pub fn prior_weight(&self) -> f64 {
        (self.lambda / (1.0 - self.lambda)).log2()
    }
}

/// Converts a match weight to a probability.
pub fn probability(weight: f64) -> f64 {
    let odds = weight.exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

/// Estimates `u` from level counts over random pairs; missing values are not counted.
pub fn estimate_u(levels: &[usize], counts: &[Vec<u64>]) -> Vec<Vec<f64>> {
    levels
        .iter()
        .zip(counts)
        .map(|(&n, counts)| normalize(counts.iter().map(|&c| c as f64 + 1.0).take(n).collect()))
        .collect()
}

fn normalize(mut values: Vec<f64>) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    for value in &mut values {
        *value = (*value / total).max(MIN_PROBABILITY);
    }
    values
}

/// Starting `m`: most of the mass on the top (exact) level, falling off towards "else".
pub fn initial_m(levels: &[usize]) -> Vec<Vec<f64>> {
    levels
        .iter()
        .map(|&n| normalize((0..n).map(|level| 2f64.powi(level as i32 * 2)).collect()))
        .collect()
}

/// Runs expectation-maximisation on pattern counts and returns the trained parameters.
///
/// `u` stays fixed; `m` and `lambda` are re-estimated until they change by less than
/// `tolerance` or `max_iterations` is reached.
pub fn train(
    patterns: &FxHashMap<Pattern, u64>,
    levels: &[usize],
    u: Vec<Vec<f64>>,
    initial_lambda: f64,
    max_iterations: usize,
    tolerance: f64,
) -> (Parameters, usize) {
    let mut parameters = Parameters {
        m: initial_m(levels),
        u,
        lambda: initial_lambda.clamp(MIN_PROBABILITY, 0.5),
    };
    let total: f64 = patterns.values().map(|&n| n as f64).sum();
    if total == 0.0 {
        return (parameters, 0);
    }
    let mut iterations = 0;
    for _ in 0..max_iterations {
        iterations += 1;
        let mut m_counts: Vec<Vec<f64>> = levels.iter().map(|&n| vec![0.0; n]).collect();
        let mut matched = 0.0;
        for (pattern, &count) in patterns {
            let posterior = posterior(&parameters, pattern);
            let weight = posterior * count as f64;
            matched += weight;
            for (c, level) in pattern.iter().enumerate() {
                if let Some(level) = level {
                    m_counts[c][*level as usize] += weight;
                }
            }
        }
        let m: Vec<Vec<f64>> = m_counts
            .into_iter()
            .map(|counts| {
                let smoothed: Vec<f64> = counts.iter().map(|c| c + 1e-3).collect();
                normalize(smoothed)
            })
            .collect();
        let lambda = (matched / total).clamp(MIN_PROBABILITY, 1.0 - MIN_PROBABILITY);
        let change = m
            .iter()
            .flatten()
            .zip(parameters.m.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold((lambda - parameters.lambda).abs(), f64::max);
        parameters.m = m;
        parameters.lambda = lambda;
        if change < tolerance {
            break;
        }
    }
    (parameters, iterations)
}

/// Estimates the prior `lambda` over all `total_pairs` record pairs, with `m` and `u` fixed,
/// assuming every match is among the candidates: iterates `lambda = expected matches among
/// the candidates / total_pairs` to a fixed point.
pub fn estimate_lambda(
    parameters: &Parameters,
    patterns: &FxHashMap<Pattern, u64>,
    total_pairs: f64,
    max_iterations: usize,
) -> f64 {
    let candidates: f64 = patterns.values().map(|&n| n as f64).sum();
    let mut lambda = (candidates / total_pairs).clamp(MIN_PROBABILITY * MIN_PROBABILITY, 0.5);
    let mut current = parameters.clone();
    for _ in 0..max_iterations {
        current.lambda = lambda;
        let expected: f64 = patterns
            .iter()
            .map(|(pattern, &count)| posterior(&current, pattern) * count as f64)
            .sum();
        let next = (expected / total_pairs).clamp(1e-12, 0.5);
        if (next - lambda).abs() <= lambda * 1e-4 {
            return next;
        }
        lambda = next;
    }
    lambda
}

/// Returns the probability that a pair with `pattern` matches.
pub fn posterior(parameters: &Parameters, pattern: &[Option<u8>]) -> f64 {
    let mut weight = parameters.prior_weight();
    for (c, level) in pattern.iter().enumerate() {
        if let Some(level) = level {
            weight += parameters.level_weight(c, *level as usize);
        }
    }
    probability(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator, so the test does not depend on a seed library.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        fn draw(&mut self, probabilities: &[f64]) -> u8 {
            let mut x = self.next();
            for (level, p) in probabilities.iter().enumerate() {
                if x < *p {
                    return level as u8;
                }
                x -= p;
            }
            (probabilities.len() - 1) as u8
        }
    }

    #[test]
    fn em_recovers_known_m_and_lambda() {
        // Three comparisons with known m and u, 20% matches among 50,000 candidate pairs.
        let true_m = [
            vec![0.05, 0.15, 0.8],
            vec![0.1, 0.9],
            vec![0.02, 0.08, 0.2, 0.7],
        ];
        let true_u = [
            vec![0.9, 0.08, 0.02],
            vec![0.95, 0.05],
            vec![0.85, 0.1, 0.04, 0.01],
        ];
        let levels: Vec<usize> = true_m.iter().map(Vec::len).collect();
        let mut random = Lcg(7);
        let mut patterns: FxHashMap<Pattern, u64> = FxHashMap::default();
        for _ in 0..50_000 {
            let is_match = random.next() < 0.2;
            let source = if is_match { &true_m } else { &true_u };
            let pattern = source.iter().map(|p| Some(random.draw(p))).collect();
            *patterns.entry(pattern).or_default() += 1;
        }

        let u = true_u.to_vec();
        let (trained, iterations) = train(&patterns, &levels, u, 0.1, 200, 1e-7);
        assert!(iterations > 1);
        assert!(
            (trained.lambda - 0.2).abs() < 0.02,
            "lambda {}",
            trained.lambda
        );
        for (c, levels) in true_m.iter().enumerate() {
            for (level, expected) in levels.iter().enumerate() {
                let found = trained.m[c][level];
                assert!(
                    (found - expected).abs() < 0.03,
                    "m[{c}][{level}] = {found}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn u_from_counts_is_smoothed() {
        let u = estimate_u(&[2], &[vec![98, 0]]);
        assert!((u[0][0] - 0.99).abs() < 1e-9);
        assert!((u[0][1] - 0.01).abs() < 1e-9);
    }

    #[test]
    fn probability_of_weights() {
        assert_eq!(probability(0.0), 0.5);
        assert!((probability(10.0) - 1024.0 / 1025.0).abs() < 1e-12);
        assert_eq!(probability(5000.0), 1.0);
    }
}
