//! Secrets: password hashes (argon2id), enrollment tokens (HMAC-SHA256, never stored),
//! session and invitation tokens (random, stored only as SHA-256).

use std::fmt;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

/// A secret value: shows as `[redacted]`.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// argon2id cost. The default is OWASP's recommendation (m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl PasswordParams {
    /// OWASP's parameters, or stronger ones from `CANOPY_ARGON2_MEMORY_KIB`,
    /// `CANOPY_ARGON2_ITERATIONS` and `CANOPY_ARGON2_PARALLELISM`. Weaker values than
    /// OWASP's are ignored with a warning: stored hashes must stay honest. Hashes made with
    /// other parameters are upgraded at the next successful sign-in.
    pub fn from_env() -> Self {
        let owasp = Self::default();
        let read = |name: &str, floor: u32| match std::env::var(name).ok().map(|v| v.parse::<u32>()) {
            None => floor,
            Some(Ok(v)) if v >= floor => v,
            Some(_) => {
                tracing::warn!(variable = name, "ignoring an argon2 parameter below OWASP's recommendation");
                floor
            }
        };
        Self {
            memory_kib: read("CANOPY_ARGON2_MEMORY_KIB", owasp.memory_kib),
            iterations: read("CANOPY_ARGON2_ITERATIONS", owasp.iterations),
            parallelism: read("CANOPY_ARGON2_PARALLELISM", owasp.parallelism),
        }
    }

    fn argon2(&self) -> AppResult<Argon2<'static>> {
        let params =
            Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(AppError::internal)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashing is CPU-bound and memory-hungry: it runs on the blocking pool, at most one hash
/// per core at once, so a storm of logins queues instead of starving the server. The queue
/// is bounded too: past `limit` waiting or running checks, a new one answers RATE_LIMITED at
/// once instead of holding a request (and its memory) for seconds.
pub struct HashingQueue {
    slots: Arc<Semaphore>,
    queued: std::sync::atomic::AtomicUsize,
    limit: usize,
    /// Checks refused because the queue was full, since start (for the metrics).
    refused: std::sync::atomic::AtomicU64,
}

/// Counts a check in the queue until it is dropped.
struct Queued<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl HashingQueue {
    pub fn new(running: usize, limit: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(running.max(1))),
            queued: Default::default(),
            limit,
            refused: Default::default(),
        }
    }

    /// Runs `work` on the blocking pool once a slot is free, or refuses when the queue is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        use std::sync::atomic::Ordering;
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(AppError::RateLimited { retry_after: std::time::Duration::from_secs(1) });
        }
        let _queued = Queued(&self.queued);
        let _slot = self.slots.clone().acquire_owned().await.map_err(AppError::internal)?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }

    /// Checks refused because the queue was full, since the process started.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks waiting or running now.
    pub fn len(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process's queue: one running check per core, at most 32 per core waiting or running.
pub static HASHING: LazyLock<HashingQueue> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    HashingQueue::new(cores, (cores * 32).max(64))
});

async fn on_hashing_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    HASHING.run(work).await
}

pub async fn hash_password(password: String, params: PasswordParams) -> AppResult<String> {
    on_hashing_pool(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        params
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(AppError::internal)
    })
    .await?
}

thread_local! {
    /// argon2's working memory (19 MiB with the default cost), kept by each hashing
    /// thread: allocating and faulting in a fresh 19 MiB for every check doubled a login's
    /// time (measured under mimalloc). argon2 writes every block before it reads it, so
    /// reuse is safe.
    static ARGON2_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `password` against a parsed argon2 PHC string, in constant time, with the thread's
/// reused working memory.
fn matches_with_reused_memory(password: &[u8], parsed: &PasswordHash<'_>) -> bool {
    use subtle::ConstantTimeEq;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(stored) = Params::try_from(parsed) else { return false };
    let Ok(params) = Params::new(stored.m_cost(), stored.t_cost(), stored.p_cost(), Some(expected.len())) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else { return false };
    let argon2 = Argon2::new(algorithm, version, params);
    let hashed = ARGON2_BLOCKS.with_borrow_mut(|blocks| {
        let needed = argon2.params().block_count();
        if blocks.len() < needed {
            blocks.resize(needed, argon2::Block::new());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..needed]).is_ok()
    });
    hashed && bool::from(out.ct_eq(expected.as_bytes()))
}

/// What a password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Wrong,
    Right,
    /// Right, but hashed with older parameters: store a fresh hash.
    RightNeedsRehash,
}

/// Checks a password against a stored hash. With `None` (an unknown login) it checks
/// against a dummy hash of the same cost, so both cases take the same time.
pub async fn verify_password(
    password: String,
    stored: Option<String>,
    params: PasswordParams,
) -> AppResult<PasswordCheck> {
    let known = stored.is_some();
    let stored = match stored {
        Some(hash) => hash,
        None => dummy_hash(params).await?,
    };
    on_hashing_pool(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return PasswordCheck::Wrong;
        };
        if !matches_with_reused_memory(password.as_bytes(), &parsed) || !known {
            return PasswordCheck::Wrong;
        }
        let current = Params::try_from(&parsed).ok().map(|p| (p.m_cost(), p.t_cost(), p.p_cost()));
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || current != Some((params.memory_kib, params.iterations, params.parallelism))
        {
            PasswordCheck::RightNeedsRehash
        } else {
            PasswordCheck::Right
        }
    })
    .await
}

static DUMMY_HASH: tokio::sync::OnceCell<(PasswordParams, String)> = tokio::sync::OnceCell::const_new();

async fn dummy_hash(params: PasswordParams) -> AppResult<String> {
    let (made_with, hash) = DUMMY_HASH
        .get_or_try_init(|| async {
            let hash = hash_password("canopy-dummy-password-for-timing".to_owned(), params).await?;
            Ok::<_, AppError>((params, hash))
        })
        .await?;
    if *made_with == params {
        Ok(hash.clone())
    } else {
        hash_password("canopy-dummy-password-for-timing".to_owned(), params).await
    }
}

/// Hex SHA-256, the stored form of session and invitation tokens.
pub fn sha256_hex(value: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(value.as_bytes()))
}

/// A fresh random bearer token: 32 random bytes, URL-safe base64.
pub fn new_random_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", data_encoding::BASE64URL_NOPAD.encode(&bytes))
}

/// Length of an enrollment token in bytes before encoding: 15 bytes are 120 bits, 24
/// base32 characters, printed as six groups of four.
const ENROLLMENT_TOKEN_BYTES: usize = 15;

/// The current enrollment token of an account: HMAC-SHA256(secret, "enroll:{id}:{version}"),
/// truncated to 120 bits, in grouped base32 (no 0/1/8/9 confusion: RFC 4648 alphabet).
pub fn enrollment_token(secret: &Secret, account_id: i64, token_version: i32) -> String {
    let raw = enrollment_token_bytes(secret, account_id, token_version);
    let text = data_encoding::BASE32_NOPAD.encode(&raw);
    text.as_bytes().chunks(4).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect::<Vec<_>>().join("-")
}

fn enrollment_token_bytes(secret: &Secret, account_id: i64, token_version: i32) -> [u8; ENROLLMENT_TOKEN_BYTES] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(format!("enroll:{account_id}:{token_version}").as_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; ENROLLMENT_TOKEN_BYTES];
    out.copy_from_slice(&full[..ENROLLMENT_TOKEN_BYTES]);
    out
}

/// Checks a typed enrollment token in constant time. Case, spaces and dashes are ignored,
/// as people type them from paper.
pub fn enrollment_token_matches(secret: &Secret, account_id: i64, token_version: i32, typed: &str) -> bool {
    let cleaned: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    let Ok(decoded) = data_encoding::BASE32_NOPAD.decode(cleaned.as_bytes()) else {
        return false;
    };
    let expected = enrollment_token_bytes(secret, account_id, token_version);
    decoded.len() == expected.len() && bool::from(decoded.ct_eq(&expected))
}

/// Signature of a download link: hex HMAC-SHA256(secret, "download:{path}:{expires}").
pub fn download_signature(secret: &Secret, path: &str, expires: i64) -> String {
    data_encoding::HEXLOWER.encode(&download_mac(secret, path, expires))
}

fn download_mac(secret: &Secret, path: &str, expires: i64) -> Vec<u8> {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(format!("download:{path}:{expires}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks a download link's signature in constant time.
pub fn download_signature_matches(secret: &Secret, path: &str, expires: i64, given: &str) -> bool {
    let Ok(given) = data_encoding::HEXLOWER_PERMISSIVE.decode(given.as_bytes()) else {
        return false;
    };
    let expected = download_mac(secret, path, expires);
    given.len() == expected.len() && bool::from(given.ct_eq(&expected))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_full_hashing_queue_refuses_at_once_and_frees_its_places() {
        let queue = std::sync::Arc::new(HashingQueue::new(1, 2));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
        let hold = |queue: std::sync::Arc<HashingQueue>,
                    wait: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>| {
            tokio::spawn(async move { queue.run(move || wait.lock().map(|w| w.recv().is_ok()).unwrap_or(false)).await })
        };
        let first = hold(queue.clone(), wait.clone());
        let second = hold(queue.clone(), wait.clone());
        while queue.len() < 2 {
            tokio::task::yield_now().await;
        }
        let refused = queue.run(|| ()).await;
        assert!(matches!(refused, Err(AppError::RateLimited { .. })), "the third check is refused at once");
        release.send(()).unwrap();
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap() && second.await.unwrap().unwrap());
        assert!(queue.is_empty());
        assert!(queue.run(|| ()).await.is_ok(), "places are free again");
    }

    use super::*;

    fn secret() -> Secret {
        Secret::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    #[test]
    fn enrollment_token_is_grouped_and_checks_back() {
        let token = enrollment_token(&secret(), 42, 1);
        assert_eq!(token.len(), 24 + 5);
        assert!(enrollment_token_matches(&secret(), 42, 1, &token));
        assert!(enrollment_token_matches(&secret(), 42, 1, &token.to_lowercase().replace('-', " ")));
        assert!(!enrollment_token_matches(&secret(), 42, 2, &token));
        assert!(!enrollment_token_matches(&secret(), 43, 1, &token));
        assert!(!enrollment_token_matches(&secret(), 42, 1, "not a token"));
    }
}
