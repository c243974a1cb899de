//! GraphiQL, served from the binary: no CDN, so it works air-gapped and under a strict
//! Content-Security-Policy (scripts and styles from this origin only).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Canopy · GraphiQL</title>
<link rel="stylesheet" href="/assets/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/assets/graphiql/canopy-graphiql.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/assets/graphiql/react.production.min.js"></script>
<script src="/assets/graphiql/react-dom.production.min.js"></script>
<script src="/assets/graphiql/graphiql.min.js"></script>
<script src="/assets/graphiql/canopy-graphiql.js"></script>
</body>
</html>
"#;

/// GraphiQL's editor sets inline styles, so styles allow 'unsafe-inline'; scripts do not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'";

const PAGE_CSS: &str = "body { margin: 0; } #graphiql { height: 100vh; }";

fn asset(name: &str) -> Option<(&'static [u8], &'static str)> {
    Some(match name {
        "graphiql.min.js" => (include_bytes!("../../assets/graphiql/graphiql.min.js"), "text/javascript"),
        "graphiql.min.css" => (include_bytes!("../../assets/graphiql/graphiql.min.css"), "text/css"),
        "react.production.min.js" => {
            (include_bytes!("../../assets/graphiql/react.production.min.js"), "text/javascript")
        }
        "react-dom.production.min.js" => {
            (include_bytes!("../../assets/graphiql/react-dom.production.min.js"), "text/javascript")
        }
        "canopy-graphiql.js" => (include_bytes!("../../assets/graphiql/canopy-graphiql.js"), "text/javascript"),
        "canopy-graphiql.css" => (PAGE_CSS.as_bytes(), "text/css"),
        "LICENSE-graphiql" => (include_bytes!("../../assets/graphiql/LICENSE-graphiql"), "text/plain"),
        "LICENSE-react" => (include_bytes!("../../assets/graphiql/LICENSE-react"), "text/plain"),
        "LICENSE-react-dom" => (include_bytes!("../../assets/graphiql/LICENSE-react-dom"), "text/plain"),
        _ => return None,
    })
}

/// The GraphiQL page.
pub fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, CSP)], PAGE).into_response()
}

async fn serve_asset(Path(name): Path<String>) -> Response {
    match asset(&name) {
        Some((bytes, content_type)) => {
            ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], bytes)
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The asset routes, `/assets/graphiql/{name}`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/graphiql/{name}", get(serve_asset))
}
