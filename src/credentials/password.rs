//! Argon2id password hashing at OWASP parameters (the argon2 0.6 defaults), run on the
//! blocking pool behind a semaphore so a login flood queues instead of starving money calls.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::domain::user::Password;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task was cancelled")]
    Cancelled,
    #[error("too many password checks are queued; try again shortly")]
    Busy,
}

/// Argon2's working memory (19 MiB at the default parameters), allocated once and reused
/// for every hash, so hashing does not churn the allocator with a 19 MiB buffer each time.
pub struct Workspace {
    blocks: Vec<Block>,
}

/// A stored hash demanding more memory than this is treated as not matching.
const MAX_BLOCKS: usize = 256 * 1024;

impl Default for Workspace {
    fn default() -> Self {
        Self { blocks: vec![Block::default(); Params::DEFAULT.block_count()] }
    }
}

impl Workspace {
    fn blocks_for(&mut self, params: &Params) -> Option<&mut [Block]> {
        let needed = params.block_count();
        if needed > MAX_BLOCKS {
            return None;
        }
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::default());
        }
        Some(&mut self.blocks[..needed])
    }

    /// Argon2id at the OWASP defaults with a fresh random salt, as a PHC string.
    pub fn hash(&mut self, password: &Password) -> Result<String, PasswordError> {
        let fail = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
        let params = Params::DEFAULT;
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| fail(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let blocks = self.blocks_for(&params).ok_or_else(|| PasswordError::Hash("memory cost too high".into()))?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password.expose().as_bytes(), &salt, &mut out, blocks)
            .map_err(|e| fail(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
            hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Checks a candidate against a PHC string (constant-time comparison of the outputs);
    /// anything malformed simply does not match.
    pub fn verify(&mut self, candidate: &str, phc: &str) -> bool {
        let Ok(stored) = PasswordHash::new(phc) else { return false };
        let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(stored.algorithm.as_str()), Params::try_from(&stored))
        else {
            return false;
        };
        let version = match stored.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else { return false };
        let mut out = vec![0u8; expected.len()];
        let Some(blocks) = self.blocks_for(&params) else { return false };
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(candidate.as_bytes(), salt.as_ref(), &mut out, blocks)
            .is_ok()
            && Output::new(&out).is_ok_and(|computed| computed == expected)
    }
}

/// Hashes synchronously (CLI use).
pub fn hash_blocking(password: &Password) -> Result<String, PasswordError> {
    Workspace::default().hash(password)
}

/// Verifies synchronously; a malformed stored hash simply does not match.
pub fn verify_blocking(candidate: &str, phc: &str) -> bool {
    Workspace::default().verify(candidate, phc)
}

/// A real hash of a random password, verified against when the username is unknown so
/// that the answer takes as long as for a known one.
fn dummy_hash(workspace: &mut Workspace) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let password = Password::parse(&random).expect("48 hex characters make a valid password");
        workspace.hash(&password).expect("hashing a fixed-size password succeeds")
    })
}

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

/// Hashes and verifies on a few dedicated threads, first come first served. Argon2 needs
/// 19 MiB of working memory per hash and the allocator keeps it per thread, so hashing on
/// the shared blocking pool (hundreds of threads) would grow the process by that much per
/// thread; here it is bounded by the number of hashing threads. A login flood queues here
/// instead of taking CPU from money calls.
#[derive(Clone)]
pub struct PasswordService {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

/// Hashes waiting beyond this are refused (503) rather than queued without bound.
const QUEUE_LIMIT: usize = 1024;

impl PasswordService {
    /// `concurrency` 0 means one hashing thread per CPU core.
    pub fn new(concurrency: usize) -> Self {
        let n =
            if concurrency == 0 { std::thread::available_parallelism().map_or(2, |n| n.get()) } else { concurrency };
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE_LIMIT);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..n {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("vaultline-hash-{i}"))
                .spawn(move || {
                    let mut workspace = Workspace::default();
                    loop {
                        // The lock is held only while taking the next job.
                        let job = match queue.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut workspace),
                            Err(_) => return, // every sender is gone: the service stopped
                        }
                    }
                })
                .expect("the OS can start a hashing thread");
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Workspace) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |workspace| {
            let _ = tx.send(work(workspace));
        });
        self.jobs.try_send(job).map_err(|_| PasswordError::Busy)?;
        rx.await.map_err(|_| PasswordError::Cancelled)
    }

    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run(move |workspace| workspace.hash(&password)).await?
    }

    /// `stored` is `None` for an unknown user: a dummy hash is checked and `false` returned.
    pub async fn verify(&self, candidate: String, stored: Option<String>) -> Result<bool, PasswordError> {
        self.run(move |workspace| {
            let known = stored.is_some();
            let matched = match &stored {
                Some(phc) => workspace.verify(&candidate, phc),
                None => {
                    let dummy = dummy_hash(workspace);
                    workspace.verify(&candidate, dummy)
                }
            };
            matched && known
        })
        .await
    }

    /// Computes the dummy hash ahead of the first login, on a hashing thread.
    pub fn warm_up(&self) {
        let _ = self.jobs.try_send(Box::new(|workspace| {
            dummy_hash(workspace);
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interoperates_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let password = Password::parse("correct horse battery").unwrap();
        let ours = hash_blocking(&password).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", ours.as_str()).is_ok());
        let theirs = Argon2::default().hash_password(b"correct horse battery").unwrap().to_string();
        assert!(verify_blocking("correct horse battery", &theirs));
        assert!(!verify_blocking("correct horse batterY", &theirs));
        // One workspace serves many hashes.
        let mut workspace = Workspace::default();
        let a = workspace.hash(&password).unwrap();
        assert!(workspace.verify("correct horse battery", &a) && workspace.verify("correct horse battery", &ours));
    }

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let password = Password::parse("correct horse battery").unwrap();
        let phc = hash_blocking(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse battery", &phc));
        assert!(!verify_blocking("correct horse battery!", &phc));
        assert!(!verify_blocking("correct horse battery", "not a hash"));
        assert_ne!(phc, hash_blocking(&password).unwrap(), "salts differ");
    }
}
