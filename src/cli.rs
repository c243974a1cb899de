//! The `canopy` command line (DOMAIN.md, "The command line").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{DatabaseArgs, Profile, ServerOptions};
use crate::rate_limit::Rate;

#[derive(Debug, Parser)]
#[command(name = "canopy", version, about = "GraphQL backend for customer portals that manage families of accounts")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, the default command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL); `schema.graphql` must equal it.
    Schema,
    /// Create a staff login; the password is read from standard input.
    CreateStaff(CreateStaffArgs),
    /// Seed a few demo families with invoices and print their logins.
    SeedDemo(DatabaseArgs),
    /// Seed bulk data for benchmarks.
    Seed(SeedArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "CANOPY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Do not seed demo data into an empty database on start.
    #[arg(long, env = "CANOPY_NO_DEMO")]
    pub no_demo: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "CANOPY_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// `development` (introspection, suggestions, GraphiQL) or `production`.
    #[arg(long, env = "CANOPY_PROFILE", value_enum, default_value = "development")]
    pub profile: Profile,
    /// Serve GraphiQL in the production profile too.
    #[arg(long, env = "CANOPY_GRAPHIQL")]
    pub graphiql: bool,
    /// An origin allowed to open websockets besides the server's own (repeatable).
    #[arg(long = "allowed-origin", env = "CANOPY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// The longest one GraphQL request may run, in seconds.
    #[arg(long, env = "CANOPY_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Sustained requests per second per client address (burst: 4×).
    #[arg(long, env = "CANOPY_RATE_PER_CLIENT", default_value_t = 50.0)]
    pub rate_per_client: f64,
    /// Sustained requests per second per signed-in user (burst: 4×).
    #[arg(long, env = "CANOPY_RATE_PER_USER", default_value_t = 25.0)]
    pub rate_per_user: f64,
    /// SMTP server for outgoing mail: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
    /// or `smtps://user:pass@host`. Without it, mails are written to the log (recipient and
    /// subject only).
    #[arg(long, env = "CANOPY_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Reverse proxies in front of the server (comma-separated CIDRs, e.g.
    /// `10.0.0.0/8,::1/128`): their `X-Forwarded-For` names the client that rate limits and
    /// lockouts count. Leave empty when clients connect directly.
    #[arg(long, env = "CANOPY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Serve `/metrics` on this address of its own (e.g. `127.0.0.1:9100`, reachable only by
    /// the monitoring network). In production the API's address then has no `/metrics`.
    #[arg(long, env = "CANOPY_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// A bearer token that opens `/metrics` on the API's own address in production.
    #[arg(long, env = "CANOPY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A JSON manifest of trusted documents (`{"sha256:<hex>": "<document>"}`, as GraphQL
    /// codegen's client preset and Relay emit): requests may name them by `documentId` or
    /// Apollo's `persistedQuery` hash.
    #[arg(long, env = "CANOPY_TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,
    /// Run only the trusted documents (staff may still send any).
    #[arg(long, env = "CANOPY_ONLY_TRUSTED_DOCUMENTS", requires = "trusted_documents")]
    pub only_trusted_documents: bool,
    /// The From address of outgoing mail.
    #[arg(long, env = "CANOPY_MAIL_FROM", default_value = crate::config::DEFAULT_MAIL_FROM)]
    pub mail_from: String,
}

impl ServeArgs {
    pub fn server_options(&self) -> ServerOptions {
        let rate = |per_second: f64| Rate { per_second, burst: per_second * 4.0 };
        ServerOptions {
            profile: self.profile,
            graphiql: self.profile == Profile::Development || self.graphiql,
            allowed_origins: self.allowed_origins.clone(),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            rate_per_client: rate(self.rate_per_client),
            rate_per_user: rate(self.rate_per_user),
            trusted_proxies: self.trusted_proxies.clone(),
            metrics_token: self.metrics_token.clone().map(|t| crate::config::Secret::new(t.into_bytes())),
            // Loaded from `trusted_documents` by `serve`, which reports a bad manifest.
            trusted_documents: None,
        }
    }
}

/// A CIDR (`10.0.0.0/8`) or a single address (`10.1.2.3`, taken as /32 or /128).
fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not a CIDR such as 10.0.0.0/8"))
}

#[derive(Debug, Clone, Args)]
pub struct CreateStaffArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Login name of the new staff user.
    #[arg(long)]
    pub login: String,
    /// Read the password from standard input (the only way, so it stays out of shell history).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Email address of the staff user.
    #[arg(long, default_value = "staff@canopy.invalid")]
    pub email: String,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Number of main accounts.
    #[arg(long, default_value_t = 100)]
    pub mains: u32,
    /// Secondaries per main account.
    #[arg(long, default_value_t = 5)]
    pub secondaries: u32,
    /// Invoices per account.
    #[arg(long, default_value_t = 3)]
    pub invoices: u32,
}
