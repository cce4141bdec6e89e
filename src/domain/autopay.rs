//! Autopay: which of the user's own balances pay a due bill on its due date: the wallet,
//! and only if the user opts in, then the vault that backs the line (the contract's two
//! orders, `["wallet"]` and `["wallet", "vault"]`).

use super::account::Source;

/// The wallet, or the wallet then the vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutopaySources(Vec<Source>);

impl AutopaySources {
    pub fn new(sources: Vec<Source>) -> Result<Self, String> {
        if !matches!(sources[..], [Source::Wallet] | [Source::Wallet, Source::Vault]) {
            return Err(
                "sources must be [\"wallet\"] or [\"wallet\", \"vault\"]: the wallet first, then the vault".into()
            );
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
    fn sources_are_the_wallet_then_maybe_the_vault() {
        for ok in [&["wallet"][..], &["wallet", "vault"]] {
            let sources = AutopaySources::from_names(ok).unwrap();
            assert_eq!(sources.names(), ok);
            assert_eq!(AutopaySources::from_db(&sources.as_db()), Some(sources));
        }
        for wrong in [&[][..], &["vault"], &["vault", "wallet"], &["wallet", "wallet"], &["bank"], &["Wallet"]] {
            assert!(AutopaySources::from_names(wrong).is_err(), "{wrong:?}");
        }
    }
}
