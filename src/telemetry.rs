//! The id of the request being served, for logs and the text of INTERNAL errors. It lives
//! in the base layer so that `error` can name it without reaching up into `http`, which
//! sets it for each request.

use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    pub static REQUEST_ID: String;
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The id of the request being served, or `-` outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_else(|_| "-".to_owned())
}

/// A new id: the process id and a counter, unique across replicas' logs in practice.
pub fn new_request_id() -> String {
    format!("{:x}-{:x}", std::process::id(), NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))
}

/// Whether spans go out over OTLP (set once, at start-up, by `init`).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Logs to stderr (text or JSON) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans over OTLP/HTTP: one for each HTTP
/// request, one for each GraphQL operation and one for each SQL statement. Keep the
/// returned guard alive for the life of the process: dropping it flushes the spans still
/// queued.
///
/// The two outputs filter separately. `RUST_LOG` chooses what is logged; the exporter
/// always takes Canopy's and SeaORM's spans at info, so turning logs down does not
/// thin out traces.
pub fn init(log_format: &str) -> anyhow::Result<TelemetryGuard> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match log_format {
        "json" => logs.json().with_filter(filter).boxed(),
        _ => logs.with_filter(filter).boxed(),
    };
    let provider = otlp_provider()?;
    let traces = provider.as_ref().map(|provider| {
        use opentelemetry::trace::TracerProvider as _;
        // SQL statements only inside a request's trace: the outbox worker's and the
        // metrics upkeep's polling would otherwise start a trace per statement.
        let spans = tracing_subscriber::filter::dynamic_filter_fn(|meta, cx| {
            let target = meta.target();
            *meta.level() <= tracing::Level::INFO
                && (target.starts_with("canopy") || (target.starts_with("sea_orm") && cx.lookup_current().is_some()))
        });
        tracing_opentelemetry::layer().with_tracer(provider.tracer("canopy")).with_filter(spans)
    });
    tracing_subscriber::registry().with(logs).with(traces).try_init()?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("OpenTelemetry: exporting spans over OTLP/HTTP");
    }
    Ok(TelemetryGuard { provider })
}

/// The tracer provider from the standard `OTEL_*` variables (endpoint, protocol
/// `http/protobuf` or `http/json`, headers, timeout, `OTEL_SERVICE_NAME`,
/// `OTEL_BSP_*`), or none when no endpoint is set.
fn otlp_provider() -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()));
    if !configured {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("canopy").build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    Ok(Some(provider))
}

/// Flushes queued spans when the process ends.
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The span of one HTTP request, continuing the caller's trace when it sent a W3C
/// `traceparent` and spans are being exported.
/// Without an exporter there is no span at all: the request costs nothing extra.
pub fn request_span(method: &axum::http::Method, path: &str, headers: &axum::http::HeaderMap) -> tracing::Span {
    if !EXPORTING.load(std::sync::atomic::Ordering::Relaxed) {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format_args!("{method} {path}"),
        otel.kind = "server",
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
    );
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let extractor = opentelemetry_http::HeaderExtractor(headers);
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&extractor));
    // A malformed traceparent is ignored: the request starts a trace of its own.
    let _ = span.set_parent(parent);
    span
}
