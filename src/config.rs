//! Store policy: [`Config`] sets how evidence is weighted, when edges link, which kinds are
//! unique per person and how identifiers are normalized.
//!
//! A store keeps its configuration in its meta tree, so every process that opens it resolves
//! the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default confidence at or above which an edge links its two nodes into one entity.
pub const DEFAULT_LINK_THRESHOLD: f32 = 0.5;

/// The configuration of a store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Confidence at or above which an edge links two nodes into one entity.
    pub link_threshold: f32,
    /// Base confidence of the edge between a record and an identifier, per identifier kind.
    pub kind_weights: BTreeMap<String, f32>,
    /// Confidence of an identifier edge whose kind is not in `kind_weights`.
    pub default_kind_weight: f32,
    /// Kinds a person has at most one value of. Two values in one entity are a conflict.
    pub unique_kinds: Vec<String>,
    /// Local parts of email addresses that a team shares rather than a person (`support` in
    /// `support@shop.example`), compared in lowercase.
    pub role_mailboxes: Vec<String>,
    /// Confidence of the edge to a role mailbox, below the default link threshold so that a
    /// shared mailbox alone never joins two people.
    pub role_mailbox_weight: f32,
    /// Score cut-offs of the tiers.
    pub tiers: TierCutoffs,
    /// Identifier normalization.
    pub normalize: NormalizeConfig,
}

impl Default for Config {
    fn default() -> Self {
        let kind_weights = [
            ("national_id", 0.99),
            ("customer_id", 0.95),
            ("email", 0.9),
            ("phone", 0.85),
            ("device_id", 0.6),
            ("cookie", 0.6),
            ("ip", 0.2),
        ]
        .into_iter()
        .map(|(kind, weight)| (kind.to_owned(), weight))
        .collect();
        Config {
            link_threshold: DEFAULT_LINK_THRESHOLD,
            kind_weights,
            default_kind_weight: 0.7,
            unique_kinds: vec!["national_id".to_owned()],
            role_mailboxes: [
                "support",
                "info",
                "help",
                "helpdesk",
                "service",
                "customerservice",
                "contact",
                "sales",
                "orders",
                "billing",
                "accounts",
                "admin",
                "office",
                "team",
                "hello",
                "enquiries",
                "noreply",
                "no-reply",
                "donotreply",
                "webmaster",
                "postmaster",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            role_mailbox_weight: 0.3,
            tiers: TierCutoffs::default(),
            normalize: NormalizeConfig::default(),
        }
    }
}

impl Config {
    /// Returns the base confidence of an identifier edge of `kind`.
    pub fn kind_weight(&self, kind: &str) -> f32 {
        self.kind_weights
            .get(kind)
            .copied()
            .unwrap_or(self.default_kind_weight)
    }

    /// Returns the base confidence of the edge from a record to identifier `value` of `kind`:
    /// the kind's weight, or `role_mailbox_weight` for an email whose local part is a role
    /// mailbox.
    pub fn identifier_weight(&self, kind: &str, value: &str) -> f32 {
        if kind == "email" {
            let local = value.split('@').next().unwrap_or_default();
            if self
                .role_mailboxes
                .iter()
                .any(|role| role.eq_ignore_ascii_case(local))
            {
                return self.role_mailbox_weight;
            }
        }
        self.kind_weight(kind)
    }

    /// Returns whether a person has at most one value of `kind`.
    pub fn is_unique_kind(&self, kind: &str) -> bool {
        self.unique_kinds.iter().any(|unique| unique == kind)
    }

    /// Checks that every weight and cut-off is in range.
    ///
    /// # Errors
    ///
    /// Returns a message naming the setting and its invalid value.
    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |value: f32| value > 0.0 && value <= 1.0;
        if !in_unit(self.link_threshold) {
            return Err(format!(
                "link_threshold is {}, expected a number in (0, 1]",
                self.link_threshold
            ));
        }
        for (kind, weight) in &self.kind_weights {
            if !in_unit(*weight) {
                return Err(format!(
                    "kind_weights.{kind} is {weight}, expected a number in (0, 1]"
                ));
            }
        }
        if !in_unit(self.role_mailbox_weight) {
            return Err(format!(
                "role_mailbox_weight is {}, expected a number in (0, 1]",
                self.role_mailbox_weight
            ));
        }
        if !in_unit(self.default_kind_weight) {
            return Err(format!(
                "default_kind_weight is {}, expected a number in (0, 1]",
                self.default_kind_weight
            ));
        }
        let TierCutoffs { high, medium } = self.tiers;
        if !(0.0..=1.0).contains(&medium) || !(medium..=1.0).contains(&high) {
            return Err(format!(
                "tiers are high = {high}, medium = {medium}, expected 0 <= medium <= high <= 1"
            ));
        }
        Ok(())
    }

    /// Parses a configuration from TOML text. Missing settings take their defaults.
    ///
    /// # Errors
    ///
    /// Returns the TOML error, which names the line and the unknown or invalid setting, or the
    /// message of [`Config::validate`].
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|error| error.to_string())?;
        config.validate()?;
        Ok(config)
    }
}

/// Score cut-offs of the tiers: a score at or above `high` is high, at or above `medium` is
/// medium, anything lower is low.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierCutoffs {
    /// Lowest score of the high tier.
    pub high: f32,
    /// Lowest score of the medium tier.
    pub medium: f32,
}

impl Default for TierCutoffs {
    fn default() -> Self {
        TierCutoffs {
            high: 0.8,
            medium: 0.5,
        }
    }
}

/// Settings of identifier normalization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormalizeConfig {
    /// Region (ISO 3166-1 alpha-2, such as `GB`) assumed for phone numbers written without a
    /// country code. With `None`, such numbers are invalid.
    pub default_region: Option<String>,
    /// Named email rules to apply. The only rule so far is `gmail`: at gmail.com and
    /// googlemail.com, dots in the local part and any `+tag` are removed and the domain
    /// becomes gmail.com.
    pub email_rules: Vec<String>,
    /// Extra values, compared after trimming and case folding, that never become identifiers.
    pub placeholders: Vec<String>,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            default_region: Some("US".to_owned()),
            email_rules: vec!["gmail".to_owned()],
            placeholders: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn toml_overrides_some_settings() {
        let config = Config::from_toml("link_threshold = 0.7\n[kind_weights]\nip = 0.1\n").unwrap();
        assert_eq!(config.link_threshold, 0.7);
        assert_eq!(config.kind_weight("ip"), 0.1);
        assert_eq!(config.kind_weight("loyalty_card"), 0.7);
        assert!(config.is_unique_kind("national_id"));
    }

    #[test]
    fn role_mailbox_is_weak() {
        let config = Config::default();
        assert_eq!(
            config.identifier_weight("email", "support@shop.example"),
            0.3
        );
        assert_eq!(
            config.identifier_weight("email", "NoReply@shop.example"),
            0.3
        );
        assert_eq!(config.identifier_weight("email", "ann@shop.example"), 0.9);
        assert_eq!(config.identifier_weight("cookie", "support"), 0.6);
    }

    #[test]
    fn toml_rejects_out_of_range_weight() {
        let error = Config::from_toml("[kind_weights]\nemail = 1.5\n").unwrap_err();
        assert!(error.contains("kind_weights.email is 1.5"), "{error}");
    }

    #[test]
    fn toml_rejects_unknown_setting() {
        let error = Config::from_toml("link_treshold = 0.5\n").unwrap_err();
        assert!(error.contains("link_treshold"), "{error}");
    }
}
