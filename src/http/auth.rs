//! Who is asking: the client's address and the signed-in viewer of a request.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, header};

use super::HttpState;
use crate::domain::access::Viewer;
use crate::domain::identity;
use crate::error::AppError;
use crate::graphql::context::AppState;

/// The client a request counts against (rate limits, lockouts): the TCP peer, or, when
/// the peer is a trusted reverse proxy, the right-most `X-Forwarded-For` address that is
/// not a trusted proxy (the left part of that header is whatever the client wrote). An
/// IPv6 client is counted per /64, the block one subscriber gets: rotating addresses
/// inside it is free, so they must not be free guesses.
pub fn client_key(peer: Option<std::net::IpAddr>, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = peer else { return "local".to_owned() };
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if is_trusted(&peer) {
        let hops: Vec<Option<std::net::IpAddr>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().parse().ok())
            .collect();
        // Right to left: the first hop no trusted proxy vouches for is the client. A hop
        // that is not an address ends the walk (trusted proxies write addresses): the
        // last trusted hop, or the peer, is all that can be believed.
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if is_trusted(ip) => client = *ip,
                Some(ip) => {
                    client = *ip;
                    break;
                }
                None => break,
            }
        }
    }
    match client {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, 64).map(|net| net.trunc().to_string()).unwrap_or_else(|_| v6.to_string()),
        },
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Resolves a bearer token to the viewer. `Ok(None)` is anonymous; a token that does not
/// resolve is UNAUTHENTICATED rather than silently anonymous.
pub async fn viewer_for_token(state: &AppState, token: Option<&str>) -> Result<Option<(Viewer, i64)>, AppError> {
    identity::live_viewer(&state.reads, &state.settings, token).await
}

pub(super) fn client_of(state: &HttpState, request: &axum::extract::Request) -> String {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    client_key(peer, request.headers(), &state.app.settings.server.trusted_proxies)
}
