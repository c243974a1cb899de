//! Typed configuration from flags and the environment. Secrets are wrapped so they never
//! print in logs or debug output.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::crypto::PasswordParams;

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://...`. Default: `canopy.db` here.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://canopy.db?mode=rwc")]
    pub database_url: String,
    /// Server secret that derives enrollment tokens. Default: generated once and kept in
    /// the data folder (development only).
    #[arg(long, env = "CANOPY_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Folder for the generated development secret.
    #[arg(long, env = "CANOPY_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
}

pub use crate::crypto::Secret;

/// How much the server shows and allows: development is friendly, production is tight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Introspection, field suggestions and GraphiQL on.
    Development,
    /// Anonymous introspection and suggestions off; GraphiQL only with `--graphiql`.
    Production,
}

/// Limits and switches of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub profile: Profile,
    /// Serve GraphiQL on `/`.
    pub graphiql: bool,
    /// Origins allowed to open websockets besides the server's own.
    pub allowed_origins: Vec<String>,
    /// The longest one GraphQL request may run.
    pub request_timeout: std::time::Duration,
    /// Requests per client address.
    pub rate_per_client: crate::rate_limit::Rate,
    /// Requests per signed-in user.
    pub rate_per_user: crate::rate_limit::Rate,
    /// Reverse proxies whose `X-Forwarded-For` is believed: the client is the right-most
    /// address of that header that is not one of them. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// In production, `/metrics` on the API's own address answers only with this bearer
    /// token (else only on `CANOPY_METRICS_LISTEN`). Development serves it to anyone.
    pub metrics_token: Option<Secret>,
    /// The clients' registered operations (`--trusted-documents`), if any.
    pub trusted_documents: Option<std::sync::Arc<crate::trusted_documents::TrustedDocuments>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            graphiql: true,
            allowed_origins: Vec::new(),
            request_timeout: std::time::Duration::from_secs(30),
            rate_per_client: crate::rate_limit::Rate { per_second: 50.0, burst: 200.0 },
            rate_per_user: crate::rate_limit::Rate { per_second: 25.0, burst: 100.0 },
            trusted_proxies: Vec::new(),
            metrics_token: None,
            trusted_documents: None,
        }
    }
}

/// Everything the running server needs besides its database connection.
#[derive(Debug, Clone)]
pub struct Settings {
    pub secret: Secret,
    pub password_params: PasswordParams,
    /// How long a session lives without use.
    pub session_idle: chrono::Duration,
    /// How long a session lives at most.
    pub session_max: chrono::Duration,
    /// How long a DataLoader gathers keys before it runs its batch. Longer waits make
    /// bigger batches on slow machines; every level of a tree query waits this once.
    pub loader_delay: std::time::Duration,
    pub server: ServerOptions,
    /// Where the outbox worker sends mail (`smtp://host:port`, `smtps://user:pass@host`,
    /// `smtp://host?tls=required`); without it mail is written to the log.
    pub smtp_url: Option<Secret>,
    /// The sender of every mail.
    pub mail_from: String,
}

impl Settings {
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            password_params: PasswordParams::from_env(),
            session_idle: chrono::Duration::days(7),
            session_max: chrono::Duration::days(30),
            loader_delay: std::time::Duration::from_millis(
                std::env::var("CANOPY_LOADER_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(2),
            ),
            server: ServerOptions::default(),
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
        }
    }
}

pub const DEFAULT_MAIL_FROM: &str = "Canopy <no-reply@canopy.invalid>";

const SECRET_FILE: &str = "canopy-secret.key";

/// The server secret: `CANOPY_SECRET`, else a development secret kept in the data folder.
pub fn load_secret(args: &DatabaseArgs) -> anyhow::Result<Secret> {
    if let Some(secret) = &args.secret {
        anyhow::ensure!(secret.len() >= 32, "CANOPY_SECRET must be at least 32 characters");
        return Ok(Secret::new(secret.as_bytes().to_vec()));
    }
    let path = args.data_dir.join(SECRET_FILE);
    load_or_create_dev_secret(&path)
}

fn load_or_create_dev_secret(path: &Path) -> anyhow::Result<Secret> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    if let Ok(text) = std::fs::read_to_string(path) {
        let bytes = engine.decode(text.trim())?;
        tracing::warn!(path = %path.display(), "CANOPY_SECRET is not set: using the development secret from this file. Set CANOPY_SECRET in production.");
        return Ok(Secret::new(bytes));
    }
    let bytes: [u8; 32] = rand::random();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, engine.encode(bytes))?;
    tracing::warn!(path = %path.display(), "CANOPY_SECRET is not set: GENERATED A DEVELOPMENT SECRET and saved it to this file. Set CANOPY_SECRET in production.");
    Ok(Secret::new(bytes.to_vec()))
}
