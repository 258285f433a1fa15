//! Who is calling: the client IP (socket peer, or `X-Forwarded-For` only when the peer is
//! a trusted proxy), the user agent and the request id, as extractors.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

/// Request extension carrying the configured trusted proxies.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpNet>>);

/// The request id, set by the observe middleware.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

/// The client address as far as we can trust it.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// `User-Agent`, truncated; empty when absent.
#[derive(Clone, Debug, Default)]
pub struct UserAgent(pub String);

/// Resolves the client IP: walk `X-Forwarded-For` from the right while hops are trusted.
pub fn resolve_client_ip(peer: IpAddr, xff: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(xff) = xff else { return peer };
    let mut last = peer;
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                last = ip;
                if !is_trusted(&ip) {
                    return ip;
                }
            }
            // A garbage hop: stop and use the last address we could read.
            Err(_) => return last,
        }
    }
    last
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The extractor (not the raw extension) also honours `MockConnectInfo` in tests.
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let trusted = parts
            .extensions
            .get::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        let xff = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(resolve_client_ip(peer, xff, &trusted.0)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ua = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(UserAgent(ua.chars().take(256).collect()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(Arc::from(""))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["198.18.0.0/15".parse().unwrap()];
        let proxy: IpAddr = "198.18.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        // Untrusted peer: its header is ignored.
        assert_eq!(
            resolve_client_ip(stranger, Some("1.2.3.4"), &trusted),
            stranger
        );
        // Trusted peer: the right-most untrusted hop wins (a client cannot spoof past it).
        assert_eq!(
            resolve_client_ip(proxy, Some("1.2.3.4, 203.0.113.7, 198.18.0.9"), &trusted),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve_client_ip(proxy, None, &trusted), proxy);
        assert_eq!(resolve_client_ip(proxy, Some("junk"), &trusted), proxy);
    }
}
