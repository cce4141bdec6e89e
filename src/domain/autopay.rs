//! Autopay: which of the user's own balances pay a due bill on its due date, in the
//! user's order: the wallet, the vault (the collateral), or both in either order.

use super::account::Source;

/// One or both sources, each once, in the user's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutopaySources(Vec<Source>);

impl AutopaySources {
    pub fn new(sources: Vec<Source>) -> Result<Self, String> {
        let distinct = sources.len() < 2 || sources[0] != sources[1];
        if sources.is_empty() || sources.len() > 2 || !distinct {
            return Err("sources must name \"wallet\", \"vault\" or both, each once, in the order to pay from".into());
        }
        Ok(Self(sources))
    }

    /// From the API's list of names.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let parsed: Option<Vec<Source>> = names.iter().map(|n| source_named(n.as_ref())).collect();
        Self::new(parsed.ok_or_else(|| "a source is \"wallet\" or \"vault\"".to_owned())?)
    }

    /// Stored as the names joined by commas (`wallet,vault`).
    pub fn as_db(&self) -> String {
        self.names().join(",")
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::from_names(&text.split(',').collect::<Vec<_>>()).ok()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }

    pub fn in_order(&self) -> &[Source] {
        &self.0
    }
}

fn source_named(name: &str) -> Option<Source> {
    [Source::Wallet, Source::Vault].into_iter().find(|s| s.as_str() == name)
}

/// A user's autopay setting; off (wallet only) until they turn it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Autopay {
    pub enabled: bool,
    pub sources: AutopaySources,
}

impl Default for Autopay {
    fn default() -> Self {
        Autopay { enabled: false, sources: AutopaySources(vec![Source::Wallet]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_one_or_both_each_once() {
        for ok in [&["wallet"][..], &["vault"], &["wallet", "vault"], &["vault", "wallet"]] {
            let sources = AutopaySources::from_names(ok).unwrap();
            assert_eq!(sources.names(), ok);
            assert_eq!(AutopaySources::from_db(&sources.as_db()), Some(sources));
        }
        for wrong in [&[][..], &["wallet", "wallet"], &["bank"], &["wallet", "vault", "wallet"], &["Wallet"]] {
            assert!(AutopaySources::from_names(wrong).is_err(), "{wrong:?}");
        }
    }
}
