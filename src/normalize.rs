//! TODO: normalize (temporary stand-in with the agreed API, so the crate builds; the normalize
//! author replaces this whole file).
#![allow(missing_docs)]
use crate::config::NormalizeConfig;
use crate::model::IdentifierKind;
pub struct Normalizer;
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Normalized {
    Value(String),
    Placeholder,
    Invalid(String),
}
impl Normalizer {
    pub fn new(_config: &NormalizeConfig) -> Result<Normalizer, String> {
        Ok(Normalizer)
    }
    pub fn identifier(&self, _kind: &IdentifierKind, raw: &str) -> Normalized {
        let value = raw.trim().to_lowercase();
        if self.is_placeholder(&value) { Normalized::Placeholder } else { Normalized::Value(value) }
    }
    pub fn attribute(&self, raw: &str) -> Option<String> {
        let value = raw.trim();
        (!self.is_placeholder(value)).then(|| value.to_owned())
    }
    pub fn is_placeholder(&self, text: &str) -> bool {
        text.trim().is_empty()
    }
}
