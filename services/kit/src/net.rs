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

/// At most this many `X-Forwarded-For` hops are examined: a chain of trusted proxies is a
/// handful long, and a header stuffed with thousands of entries must not cost more.
const MAX_HOPS: usize = 32;

/// One `X-Forwarded-For` entry as proxies write it: an address, optionally with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`) or in brackets. Anything else is not an address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<std::net::Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// Resolves the client IP from the TCP peer and the `X-Forwarded-For` values (all header
/// lines, in order).
///
/// Each proxy appends the address it received the request from, so only the right end of the
/// header was written by proxies we trust; everything to the left of the first untrusted
/// address may be the client's own invention. So: believe the header only when the peer
/// itself is a trusted proxy, walk it right to left past trusted hops, and take the first
/// untrusted address — never the leftmost. A hop that is not an address stops the walk at
/// the nearest address we could vouch for (fail closed: a proxy that passes garbage along
/// cannot be used to pick someone else's rate-limit bucket).
pub fn resolve_client_ip<'a>(
    peer: IpAddr,
    xff: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    // A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`; trust lists name them as IPv4.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let values: Vec<&str> = xff.into_iter().collect();
    let mut last = peer;
    let hops = values.iter().rev().flat_map(|v| v.rsplit(','));
    for hop in hops.take(MAX_HOPS) {
        let Some(ip) = parse_hop(hop) else {
            return last;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        last = ip;
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
        // Every header line counts (a client may send its own line before the proxy's); a
        // line that is not text becomes an empty, unparseable hop and stops the walk there.
        let xff = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""));
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|n| n.parse().unwrap()).collect()
    }

    /// The frontend node's pod network (nginx) and the backend's (AAM), as the operator sets them.
    fn cluster() -> Vec<IpNet> {
        nets(&["198.19.1.0/24", "198.19.2.0/24"])
    }

    const NGINX: &str = "198.19.1.7";

    fn resolve(peer: &str, xff: &[&str]) -> IpAddr {
        resolve_client_ip(ip(peer), xff.iter().copied(), &cluster())
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        // A pod that is not nginx (or a client reaching the service directly) cannot name
        // another address.
        assert_eq!(resolve("198.19.3.4", &["203.0.113.1"]), ip("198.19.3.4"));
        assert_eq!(
            resolve("203.0.113.9", &["198.19.1.7, 203.0.113.1"]),
            ip("203.0.113.9")
        );
        // No trust configured: the peer, always.
        assert_eq!(
            resolve_client_ip(ip(NGINX), ["203.0.113.1"], &[]),
            ip(NGINX)
        );
    }

    #[test]
    fn client_supplied_forwarded_for_is_never_believed() {
        // nginx overwrites the header with the address it saw: one hop.
        assert_eq!(resolve(NGINX, &["203.0.113.7"]), ip("203.0.113.7"));
        // A proxy that appends instead: whatever the client prepended stays to the left of
        // the address the proxy saw, and the walk stops there.
        assert_eq!(resolve(NGINX, &["1.2.3.4, 203.0.113.7"]), ip("203.0.113.7"));
        // Claiming to be a trusted proxy does not help either: the proxy's own entry is the
        // client's real address, which is untrusted.
        assert_eq!(
            resolve(NGINX, &["198.19.1.9, 1.2.3.4, 203.0.113.7"]),
            ip("203.0.113.7")
        );
        // A client's own header line before the proxy's line counts as further left.
        assert_eq!(
            resolve(NGINX, &["1.2.3.4", "203.0.113.7"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn multiple_trusted_hops_are_walked_right_to_left() {
        // client → nginx (frontend) → AAM (backend) → ULM: AAM's entry is trusted and so is
        // nginx's, the next one is the client.
        assert_eq!(
            resolve("198.19.2.5", &["1.2.3.4, 203.0.113.7, 198.19.1.7"]),
            ip("203.0.113.7")
        );
        // Every hop trusted: the leftmost trusted one (nothing further can be vouched for).
        assert_eq!(
            resolve("198.19.2.5", &["198.19.1.8, 198.19.1.7"]),
            ip("198.19.1.8")
        );
        // No header: the proxy itself.
        assert_eq!(resolve(NGINX, &[]), ip(NGINX));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_nearest_vouched_address() {
        assert_eq!(resolve(NGINX, &["junk"]), ip(NGINX));
        assert_eq!(resolve(NGINX, &[""]), ip(NGINX));
        assert_eq!(resolve(NGINX, &["203.0.113.7,"]), ip(NGINX));
        assert_eq!(resolve(NGINX, &["unknown, 198.19.1.8"]), ip("198.19.1.8"));
        // Garbage to the left of the client's address is never reached.
        assert_eq!(
            resolve(NGINX, &["<script>, 999.1.1.1, 203.0.113.7"]),
            ip("203.0.113.7")
        );
        // CIDRs, hostnames and obfuscated ids are not addresses.
        for junk in ["203.0.113.0/24", "example.com", "_hidden", "203.0.113.7 x"] {
            assert_eq!(resolve(NGINX, &[junk]), ip(NGINX), "{junk}");
        }
    }

    #[test]
    fn ports_brackets_and_ipv6() {
        assert_eq!(resolve(NGINX, &["203.0.113.7:51234"]), ip("203.0.113.7"));
        assert_eq!(resolve(NGINX, &["[2001:db8::7]:443"]), ip("2001:db8::7"));
        assert_eq!(resolve(NGINX, &["[2001:db8::7]"]), ip("2001:db8::7"));
        assert_eq!(resolve(NGINX, &[" 2001:db8::7 "]), ip("2001:db8::7"));
        // An IPv6 proxy network.
        let v6 = nets(&["fd00:1::/64"]);
        assert_eq!(
            resolve_client_ip(ip("fd00:1::5"), ["2001:db8::1, 2001:db8::7"], &v6),
            ip("2001:db8::7")
        );
        assert_eq!(
            resolve_client_ip(ip("fd00:2::5"), ["2001:db8::7"], &v6),
            ip("fd00:2::5")
        );
        // IPv4-mapped addresses (a dual-stack listener) count as the IPv4 they carry, for the
        // peer and for hops.
        assert_eq!(
            resolve("::ffff:198.19.1.7", &["::ffff:203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            resolve("::ffff:198.19.1.7", &["::ffff:198.19.1.8, 203.0.113.7"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_header_of_thousands_of_trusted_hops_is_cut_short() {
        let many = vec!["198.19.1.9"; 5000].join(",");
        let xff = format!("203.0.113.7,{many}");
        assert_eq!(resolve(NGINX, &[&xff]), ip("198.19.1.9"));
    }

    #[tokio::test]
    async fn extractor_reads_every_header_line_and_the_peer() {
        use axum::http::Request;
        let (mut parts, ()) = Request::get("/")
            .header("x-forwarded-for", "1.2.3.4")
            .header("x-forwarded-for", "203.0.113.7")
            .extension(ConnectInfo(SocketAddr::from(([198, 19, 1, 7], 40000))))
            .extension(TrustedProxies(Arc::new(cluster())))
            .body(())
            .unwrap()
            .into_parts();
        let ClientIp(got) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(got, ip("203.0.113.7"));
    }
}
