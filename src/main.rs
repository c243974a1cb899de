//! The `canopy` binary: parse the command line and hand over to the library.

use std::io::Read;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

use canopy::cli::{Cli, Command, ServeArgs};
use canopy::config::{DatabaseArgs, Settings, load_secret};

/// jemalloc instead of the system allocator. The tree query decodes and drops thousands
/// of small values per request. glibc's malloc once spent about 40% of the server's CPU on
/// them (arena locks, freed memory kept); mimalloc, which replaced it, about 13%, mostly
/// cache misses on its per-page free lists under load. jemalloc's per-thread caches hand
/// back recently freed memory, still hot: about 0.5 ms less server CPU per tree query at
/// c=32, and a lower peak (141 MB against 166 MB in bench/run.sh).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

async fn open(database: &DatabaseArgs) -> anyhow::Result<(sea_orm::DatabaseConnection, Settings)> {
    let db = canopy::db::connect_and_migrate(&database.database_url)
        .await
        .context("cannot open the database (check DATABASE_URL)")?;
    canopy::seed::ensure_default_products(&db).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let settings = Settings::new(load_secret(database)?);
    Ok((db, settings))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Some(Command::Serve(args)) => args.log_format.clone(),
        _ => cli.serve.log_format.clone(),
    };
    let _telemetry = canopy::telemetry::init(&log_format)?;
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Migrate(database)) => {
            canopy::db::connect_and_migrate(&database.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Some(Command::Schema) => {
            print!("{}", canopy::graphql::sdl());
            Ok(())
        }
        Some(Command::CreateStaff(args)) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let (db, settings) = open(&args.database).await?;
            let user = canopy::domain::identity::create_staff(&db, &settings, &args.login, password, &args.email)
                .await
                .map_err(|e| anyhow::anyhow!(e.public_message()))?;
            println!("staff login {} created", user.login_name);
            Ok(())
        }
        Some(Command::SeedDemo(database)) => {
            if std::env::var("CANOPY_PROFILE").is_ok_and(|p| p.eq_ignore_ascii_case("production")) {
                anyhow::bail!(
                    "seed-demo refuses to run with CANOPY_PROFILE=production: its logins and passwords are public"
                );
            }
            let (db, settings) = open(&database).await?;
            let logins = canopy::seed::seed_demo(&db, &settings).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            for login in logins {
                println!("{:<28} {:<18} {}", login.login_name, login.password, login.what);
            }
            Ok(())
        }
        Some(Command::Seed(args)) => {
            let (db, _) = open(&args.database).await?;
            let started = std::time::Instant::now();
            let report = canopy::seed::seed_bulk(&db, args.mains, args.secondaries, args.invoices)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            println!("{report} in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (db, mut settings) = open(&args.database).await?;
    settings.server = args.server_options();
    if let Some(path) = &args.trusted_documents {
        let documents = canopy::trusted_documents::TrustedDocuments::from_file(path, args.only_trusted_documents)
            .map_err(|e| anyhow::anyhow!(e))?;
        tracing::info!(count = documents.len(), only = documents.only, "trusted documents loaded");
        settings.server.trusted_documents = Some(std::sync::Arc::new(documents));
    }
    settings.smtp_url = args.smtp_url.map(|url| canopy::config::Secret::new(url.into_bytes()));
    settings.mail_from = args.mail_from.clone();
    // Demo families and their known passwords (a `staff` login among them) never go into a
    // production database, empty or not.
    let production = settings.server.profile == canopy::config::Profile::Production;
    if production && !args.no_demo {
        tracing::info!("production profile: no demo data is seeded");
    }
    let wants_demo = !args.no_demo && !production;
    if wants_demo && canopy::seed::is_empty(&db).await.map_err(|e| anyhow::anyhow!("{e:?}"))? {
        let logins = canopy::seed::seed_demo(&db, &settings).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tracing::info!("empty database: seeded demo data; demo logins (password {}):", canopy::seed::DEMO_PASSWORD);
        for login in logins {
            tracing::info!("  {:<24} {}", login.login_name, login.what);
        }
    }
    let state = canopy::state(db, settings);
    canopy::start_background(&state)
        .await
        .context("cannot start the mail worker (check CANOPY_SMTP_URL and CANOPY_MAIL_FROM)")?;
    if let Some(address) = &args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for metrics on {address}"))?;
        tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
        let metrics = canopy::http::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, metrics).await {
                tracing::error!(error = %err, "the metrics listener stopped");
            }
        });
    }
    let app = canopy::app(state);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!("Canopy listening: GraphiQL on http://{}/", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received: draining in-flight requests");
}
