//! The nginx configuration of the frontend: one pure renderer, used by the operator (into a
//! ConfigMap) and by the local stack (`ovu-operator render-nginx`).
//!
//! Sites, for a domain `d`: `d` and `www.d` redirect to `ulm.d`; `ulm.d` and `aam.d` serve
//! their web app with SPA fallback and proxy `/api/` to their service; `api.d` proxies to ULM
//! (API and docs at `/api/docs`) and `/aam/` to AAM. With TLS, plain HTTP redirects to HTTPS
//! and HSTS is sent. Every path the config names comes from [`NginxInput`], so tests can point
//! them at a temporary directory and run the real `nginx -t`.
//!
//! Inputs that come from users (domain, CORS origins) are validated by the CRD schema to a
//! character set that cannot break out of an nginx token; [`render`] checks again and refuses.
//!
//! Client addresses: nginx is the only hop ULM and AAM believe (see `backend.rs`), so it
//! never passes on what a client wrote. It *sets* `X-Forwarded-For` and `X-Real-IP` to its own
//! `$remote_addr`, which is the TCP peer (the Service keeps the client's source address with
//! `externalTrafficPolicy: Local`), or, with [`ProxyProtocol`], the address in the PROXY
//! header of a connection from a trusted load balancer.

use super::backend::API_BODY_LIMIT_BYTES;
use std::fmt::Write;

/// Certificate files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: String,
    pub key: String,
}

/// PROXY protocol on the public listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// Addresses/CIDRs whose PROXY header names the client (`set_real_ip_from`).
    pub trusted: Vec<String>,
    /// A plain-HTTP port for the kubelet's probes, which cannot speak PROXY protocol.
    pub listen_health: u16,
}

/// One HTTP-01 challenge in flight: cert-manager's solver for `token` listens on `upstream`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AcmeChallenge {
    /// The token: the last segment of `/.well-known/acme-challenge/<token>`.
    pub token: String,
    /// `address:port` of the solver's Service (an address: nginx resolves names only at
    /// start, and a solver lives for minutes).
    pub upstream: String,
}

/// The path the ACME CA fetches a token from (RFC 8555, 8.3).
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Everything the nginx config depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NginxInput {
    pub domain: String,
    /// `host:port` of ULM.
    pub ulm_upstream: String,
    /// `host:port` of AAM.
    pub aam_upstream: String,
    /// Directory holding `ulm/` and `aam/` (each a built web app with `index.html`).
    pub html_root: String,
    /// Writable directory for nginx's temp files.
    pub temp_dir: String,
    pub pid_file: String,
    /// `off`, `/dev/stdout` or a file.
    pub access_log: String,
    pub listen_http: u16,
    pub listen_https: u16,
    /// Port browsers reach the sites on: the HTTPS port with TLS, else the HTTP port (see
    /// [`site_origin`]; the scheme's default port is left out of URLs).
    pub public_port: u16,
    pub tls: Option<TlsFiles>,
    /// Origins allowed by CORS on `/api/` (exact match).
    pub cors_origins: Vec<String>,
    /// Every public connection starts with a PROXY header (a load balancer in front).
    pub proxy_protocol: Option<ProxyProtocol>,
    /// HTTP-01 challenges answered on the plain-HTTP port, before its redirect to HTTPS
    /// (only with TLS: without it there is no certificate to ask for).
    pub acme_challenges: Vec<AcmeChallenge>,
    /// Requests per second (and bursts) per client address: `spec.frontend.rateLimits`.
    pub rate_limits: ovu_crds::RateLimits,
}

/// Why a config cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NginxError {
    #[error("{field} contains characters that are not allowed in the nginx config: {value:?}")]
    Unsafe { field: &'static str, value: String },
}

fn safe(field: &'static str, value: &str, extra: &[u8]) -> Result<(), NginxError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b) || extra.contains(&b));
    if ok {
        Ok(())
    } else {
        Err(NginxError::Unsafe {
            field,
            value: value.to_string(),
        })
    }
}

const MIME_TYPES: &str = "\
        text/html                 html htm;
        text/css                  css;
        text/plain                txt;
        application/javascript    js mjs;
        application/json          json map;
        application/manifest+json webmanifest;
        application/wasm          wasm;
        image/svg+xml             svg;
        image/png                 png;
        image/jpeg                jpg jpeg;
        image/webp                webp;
        image/x-icon              ico;
        font/woff2                woff2;
        font/woff                 woff;
";

/// Render `nginx.conf`.
pub fn render(i: &NginxInput) -> Result<String, NginxError> {
    safe("domain", &i.domain, &[])?;
    safe("ulm_upstream", &i.ulm_upstream, b":")?;
    safe("aam_upstream", &i.aam_upstream, b":")?;
    for (f, v) in [
        ("html_root", &i.html_root),
        ("temp_dir", &i.temp_dir),
        ("pid_file", &i.pid_file),
        ("access_log", &i.access_log),
    ] {
        safe(f, v, b"/")?;
    }
    if let Some(t) = &i.tls {
        safe("tls.cert", &t.cert, b"/")?;
        safe("tls.key", &t.key, b"/")?;
    }
    for o in &i.cors_origins {
        safe("cors_origins", o, b":/")?;
    }
    if let Some(pp) = &i.proxy_protocol {
        for t in &pp.trusted {
            safe("proxy_protocol.trusted", t, b":/")?;
        }
    }
    for a in &i.acme_challenges {
        // A token is base64url (RFC 8555); an upstream an IPv4 or bracketed IPv6 address.
        safe("acme_challenges.token", &a.token, &[])?;
        if a.token.contains('.') {
            return Err(NginxError::Unsafe {
                field: "acme_challenges.token",
                value: a.token.clone(),
            });
        }
        safe("acme_challenges.upstream", &a.upstream, b":[]")?;
    }

    let d = &i.domain;
    let tls = i.tls.is_some();
    let scheme = if tls { "https" } else { "http" };
    let port_suffix = port_suffix(tls, i.public_port);
    let t = &i.temp_dir;
    // Every public listener takes the same PROXY flag: the port belongs to the load balancer.
    let pp = if i.proxy_protocol.is_some() {
        " proxy_protocol"
    } else {
        ""
    };
    let mut c = String::new();
    let w = &mut c;

    let _ = write!(
        w,
        "# Rendered by ovu-operator from the OvuSystem spec; do not edit.
worker_processes auto;
pid {pid};
error_log stderr warn;
daemon off;

events {{
    worker_connections 1024;
}}

http {{
    types {{
{MIME_TYPES}    }}
    default_type application/octet-stream;
    charset utf-8;

    # The access log never holds a query string: verification and reset links carried their
    # token as `?token=` before it moved to the fragment, and old mails still do. So the
    # request line is logged as method, path as sent (before any rewrite) and protocol, and the
    # Referer without its query.
    map $request_uri $ovu_path {{
        default '';
        '~^(?<ovu_req_path>[^?#]*)' $ovu_req_path;
    }}
    map $http_referer $ovu_referer {{
        default '';
        '~^(?<ovu_ref_path>[^?#]*)' $ovu_ref_path;
    }}
    log_format ovu '$remote_addr - $remote_user [$time_local] \"$request_method $ovu_path $server_protocol\" '
                   '$status $body_bytes_sent \"$ovu_referer\" \"$http_user_agent\"';
    access_log {log} ovu;
    server_tokens off;
    sendfile on;
    tcp_nopush on;

    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;

    # Timeouts and body limits: small requests, bounded waits.
    client_max_body_size 10m;
    client_body_timeout 30s;
    client_header_timeout 30s;
    send_timeout 30s;
    keepalive_timeout 65s;
    proxy_connect_timeout 5s;
    proxy_send_timeout 60s;
    proxy_read_timeout 60s;

    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 5;
    gzip_min_length 1024;
    gzip_types text/plain text/css application/javascript application/json image/svg+xml application/manifest+json;

    # Per client address (spec.frontend.rateLimits): {api_rate}/s and bursts of {api_burst} on
    # the API, {auth_rate}/s and bursts of {auth_burst} on sign-in and registration.
    limit_req_zone $binary_remote_addr zone=ovu_api:10m rate={api_rate}r/s;
    limit_req_zone $binary_remote_addr zone=ovu_auth:10m rate={auth_rate}r/s;
    limit_req_status 429;

",
        pid = i.pid_file,
        log = i.access_log,
        api_rate = i.rate_limits.api_per_second,
        api_burst = i.rate_limits.api_burst,
        auth_rate = i.rate_limits.sign_in_per_second,
        auth_burst = i.rate_limits.sign_in_burst,
    );
    if let Some(p) = &i.proxy_protocol {
        // $remote_addr (and so the rate limits, the access log and the X-Forwarded-For sent
        // upstream) becomes the PROXY header's client, but only on connections from the load
        // balancers; anyone else's header is not believed and their own address counts.
        let _ = writeln!(
            w,
            "\n    # PROXY protocol: the client address from the trusted load balancers' header."
        );
        for t in &p.trusted {
            let _ = writeln!(w, "    set_real_ip_from {t};");
        }
        let _ = writeln!(w, "    real_ip_header proxy_protocol;\n");
    }
    // API responses: the service's security headers are the ones sent (see
    // `api_security_headers`); nginx adds a header only when the upstream sent none.
    for (name, value) in API_SECURITY_HEADERS {
        let v = header_var(name);
        let _ = writeln!(
            w,
            "    map $upstream_http_{v} $ovu_api_{v} {{\n        \"\" \"{value}\";\n        default \"\";\n    }}"
        );
    }
    let _ = write!(
        w,
        "    map $http_origin $ovu_cors_origin {{
        default \"\";
"
    );
    for o in &i.cors_origins {
        let _ = writeln!(w, "        \"{o}\" $http_origin;");
    }
    let _ = write!(
        w,
        "    }}

    upstream ovu_ulm {{
        server {ulm};
        keepalive 16;
    }}
    upstream ovu_aam {{
        server {aam};
        keepalive 16;
    }}
",
        ulm = i.ulm_upstream,
        aam = i.aam_upstream,
    );
    if tls {
        let tf = i.tls.as_ref().expect("tls checked");
        let _ = write!(
            w,
            "
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:ovu_tls:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;
",
            cert = tf.cert,
            key = tf.key,
        );
    }

    // Default server: health endpoint for the kubelet, nothing else.
    let health_listen = match &i.proxy_protocol {
        Some(p) => format!("\n        listen {} default_server;", p.listen_health),
        None => String::new(),
    };
    let _ = write!(
        w,
        "
    server {{
        listen {http}{pp} default_server;{health_listen}
        server_name _;
        location = /healthz {{
            access_log off;
            default_type text/plain;
            return 200 \"ok\\n\";
        }}
        location / {{
            return 404;
        }}
    }}
",
        http = i.listen_http,
    );
    if tls {
        let acme = acme_locations(&i.acme_challenges);
        let _ = write!(
            w,
            "
    # Plain HTTP on the system's names goes to HTTPS.
    server {{
        listen {http}{pp};
        server_name {d} www.{d} ulm.{d} aam.{d} api.{d};
{acme}        location / {{
            return 301 https://$host{port_suffix}$request_uri;
        }}
    }}
",
            http = i.listen_http,
        );
    }

    let listen = if tls {
        format!("listen {} ssl http2{pp};", i.listen_https)
    } else {
        format!("listen {}{pp};", i.listen_http)
    };
    let headers = security_headers(i, tls);
    let api_headers = api_security_headers(tls);
    // nginx's own 429, 413 and 503 are API responses too: the API's headers, filled in by nginx.
    let limited = nginx_error_locations(&api_headers);

    // Apex and www redirect to the ULM app.
    let _ = write!(
        w,
        "
    server {{
        {listen}
        server_name {d} www.{d};
        location / {{
{headers}            return 301 {scheme}://ulm.{d}{port_suffix}$request_uri;
        }}
    }}
"
    );
    for (site, upstream) in [("ulm", "ovu_ulm"), ("aam", "ovu_aam")] {
        let api = api_location("/api/", upstream, "", &api_headers, &i.rate_limits);
        let _ = write!(
            w,
            "
    server {{
        {listen}
        server_name {site}.{d};
        root {root}/{site};
        index index.html;

        location / {{
{headers}            try_files $uri $uri/ /index.html;
        }}
        location = /index.html {{
{headers}            add_header Cache-Control \"no-cache\" always;
        }}
        location /assets/ {{
{headers}            add_header Cache-Control \"public, max-age=31536000, immutable\" always;
            try_files $uri =404;
        }}
{api}{limited}    }}
",
            root = i.html_root,
        );
    }
    let ulm_api = api_location("/", "ovu_ulm", "", &api_headers, &i.rate_limits);
    let aam_api = api_location("/aam/", "ovu_aam", "/", &api_headers, &i.rate_limits);
    let _ = write!(
        w,
        "
    # API host: ULM's API and docs (/api/docs), AAM's under /aam/.
    server {{
        {listen}
        server_name api.{d};
        # Metrics are scraped from the pods (port 8001/8002), never served to the public.
        location = /metrics {{
{headers}            return 404;
        }}
        location = /aam/metrics {{
{headers}            return 404;
        }}
{ulm_api}{aam_api}{limited}    }}
}}
"
    );
    Ok(c)
}

/// The HTTP-01 challenges: each token to its own solver (one cert-manager solver answers only
/// its token, so they cannot share an upstream), the Host kept (the solver checks it).
fn acme_locations(challenges: &[AcmeChallenge]) -> String {
    let mut out = String::new();
    for a in challenges {
        let _ = write!(
            out,
            "        location = {ACME_CHALLENGE_PREFIX}{token} {{
            proxy_pass http://{upstream};
            proxy_set_header Host $host;
            proxy_connect_timeout 2s;
            proxy_read_timeout 5s;
        }}
",
            token = a.token,
            upstream = a.upstream,
        );
    }
    out
}

/// `:port` when browsers need it in a URL: not for 443 with TLS or 80 without.
fn port_suffix(tls: bool, port: u16) -> String {
    if port == if tls { 443 } else { 80 } {
        String::new()
    } else {
        format!(":{port}")
    }
}

/// The origin a browser sends (`Origin`) from one of the system's sites (`ulm`, `aam`, `api`)
/// reached on `public_port`: the one derivation of the system's public URLs (CORS in nginx and
/// the services, redirects, mail links, `status.endpoints`). An origin carries its port, so
/// `https://aam.d` does not match a page served from `https://aam.d:30443`.
pub fn site_origin(tls: bool, site: &str, domain: &str, public_port: u16) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!(
        "{scheme}://{site}.{domain}{}",
        port_suffix(tls, public_port)
    )
}

fn security_headers(i: &NginxInput, tls: bool) -> String {
    let d = &i.domain;
    let scheme = if tls { "https" } else { "http" };
    let mut h = String::new();
    let p = "            ";
    if tls {
        let _ = writeln!(
            h,
            "{p}add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\" always;"
        );
    }
    let _ = writeln!(
        h,
        "{p}add_header X-Content-Type-Options \"nosniff\" always;"
    );
    let _ = writeln!(h, "{p}add_header X-Frame-Options \"DENY\" always;");
    let _ = writeln!(
        h,
        "{p}add_header Referrer-Policy \"strict-origin-when-cross-origin\" always;"
    );
    // `:*` because the public port is not known here: a NodePort, a port-forward or a
    // local run on a high port must still let ULM's app call AAM and the reverse.
    let _ = writeln!(
        h,
        "{p}add_header Content-Security-Policy \"default-src 'self'; connect-src 'self' {scheme}://ulm.{d}:* {scheme}://aam.{d}:* {scheme}://api.{d}:*; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'\" always;"
    );
    h
}

/// The security headers of an API response, as ULM and AAM send them (services/kit/src/http.rs
/// `observe`): `(nginx variable, upstream header as nginx spells it, value)`.
///
/// One source of truth: nginx used to add its site headers to proxied API responses on top
/// of the service's, so a response carried two of each, two of them disagreeing
/// (`Referrer-Policy: strict-origin-when-cross-origin` and `no-referrer`) and two CSPs (which
/// browsers both enforce). The service owns its responses' headers: it sends them on every
/// path (also to in-cluster callers that bypass nginx) and sets the right CSP per response (a
/// JSON API's `default-src 'none'`, the docs page its own). nginx fills in the same values only
/// where the service said nothing, e.g. nginx's own 502/504 when the service is down.
const API_SECURITY_HEADERS: [(&str, &str); 5] = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
];

/// nginx's spelling of a response header: `$upstream_http_<this>` and `$ovu_api_<this>`.
fn header_var(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// The `add_header` lines of a proxied API location (see [`API_SECURITY_HEADERS`]); HSTS
/// only over TLS, as on the sites.
fn api_security_headers(tls: bool) -> String {
    let p = "            ";
    let mut h = String::new();
    for (name, _) in API_SECURITY_HEADERS {
        if name == "Strict-Transport-Security" && !tls {
            continue;
        }
        let _ = writeln!(
            h,
            "{p}add_header {name} $ovu_api_{} always;",
            header_var(name)
        );
    }
    h
}

/// One of nginx's own answers on the API, in the services' error shape with the API's
/// headers, so clients handle it like the services' own.
struct OwnError {
    /// The named location (`@…`) that `error_page` sends to.
    location: &'static str,
    status: u16,
    code: &'static str,
    message: &'static str,
    /// `Retry-After: 1`: the answer is about now, not about the request.
    retry: bool,
}

/// nginx's own errors on the API:
/// - 429 from `limit_req`, like ULM's and AAM's own `rate_limited` (a 429 from the services
///   passes through untouched: `proxy_intercept_errors` stays off);
/// - 413 for a body over [`API_BODY_LIMIT_BYTES`]: nginx reads and discards it itself
///   (lingering close), so the client gets this answer, never a 502 from a service that
///   answered early and closed while nginx was still sending;
/// - its own 502/503/504 (no ready service pod, a refused or timed-out upstream) as the
///   services' `upstream_unavailable` 503: while PostgreSQL restarts the services turn
///   not-ready, and API clients must still get an answer they can read and retry.
const NGINX_ERRORS: [OwnError; 3] = [
    OwnError {
        location: "@ovu_rate_limited",
        status: 429,
        code: "rate_limited",
        message: "too many requests, try again later",
        retry: true,
    },
    OwnError {
        location: "@ovu_too_large",
        status: 413,
        code: "payload_too_large",
        message: "request body is too large",
        retry: false,
    },
    OwnError {
        location: "@ovu_unavailable",
        status: 503,
        code: "upstream_unavailable",
        message: "a dependency is unavailable, try again later",
        retry: true,
    },
];

/// The named locations of [`NGINX_ERRORS`].
fn nginx_error_locations(headers: &str) -> String {
    let p = "            ";
    let mut out = String::new();
    for e in &NGINX_ERRORS {
        let retry = if e.retry {
            format!(
                "{p}add_header Access-Control-Expose-Headers \"Retry-After\" always;\n\
                 {p}add_header Vary \"Origin\" always;\n{p}add_header Retry-After 1 always;\n"
            )
        } else {
            format!("{p}add_header Vary \"Origin\" always;\n")
        };
        let _ = write!(
            out,
            "        location {loc} {{
{headers}{p}add_header Access-Control-Allow-Origin $ovu_cors_origin always;
{p}add_header Access-Control-Allow-Credentials \"true\" always;
{retry}{p}default_type application/json;
{p}return {status} '{{\"error\":{{\"code\":\"{code}\",\"message\":\"{message}\",\"details\":{{}}}}}}';
        }}
",
            loc = e.location,
            status = e.status,
            code = e.code,
            message = e.message,
        );
    }
    out
}

/// `limit_req`'s burst argument: none for 0 (nginx refuses `burst=0`; no burst is its default).
fn burst(n: i32) -> String {
    if n > 0 {
        format!(" burst={n}")
    } else {
        String::new()
    }
}

/// A proxied API location with CORS and rate limits. `strip` is the path that replaces the
/// location prefix upstream (empty: keep the path).
///
/// `X-Forwarded-For` is overwritten with `$remote_addr`, never appended to
/// (`$proxy_add_x_forwarded_for`): an appended header keeps whatever the client sent on its
/// left, and a service that trusts the whole chain would believe it.
fn api_location(
    prefix: &str,
    upstream: &str,
    strip: &str,
    headers: &str,
    limits: &ovu_crds::RateLimits,
) -> String {
    let p = "            ";
    let auth_prefix = if prefix == "/aam/" { "/aam" } else { "" };
    let common = format!(
        "{headers}{p}add_header Access-Control-Allow-Origin $ovu_cors_origin always;
{p}add_header Access-Control-Allow-Credentials \"true\" always;
{p}add_header Access-Control-Allow-Methods \"GET, POST, PUT, PATCH, DELETE, OPTIONS\" always;
{p}add_header Access-Control-Allow-Headers \"Authorization, Content-Type, X-Request-ID, X-API-Key, X-Language, Accept-Language\" always;
{p}add_header Access-Control-Expose-Headers \"X-Total-Count, X-Request-ID, Content-Language, X-Text-Direction, Retry-After\" always;
{p}add_header Access-Control-Max-Age \"600\" always;
{p}add_header Vary \"Origin\" always;
{p}if ($request_method = OPTIONS) {{
{p}    return 204;
{p}}}
{p}proxy_hide_header Access-Control-Allow-Origin;
{p}proxy_hide_header Access-Control-Allow-Credentials;
{p}proxy_hide_header Access-Control-Allow-Methods;
{p}proxy_hide_header Access-Control-Allow-Headers;
{p}proxy_hide_header Access-Control-Expose-Headers;
{p}proxy_hide_header Access-Control-Max-Age;
{p}proxy_http_version 1.1;
{p}proxy_set_header Connection \"\";
{p}proxy_set_header Host $host;
{p}proxy_set_header X-Real-IP $remote_addr;
{p}proxy_set_header X-Forwarded-For $remote_addr;
{p}proxy_set_header X-Forwarded-Proto $scheme;
{p}proxy_set_header X-Request-ID $request_id;
{p}client_max_body_size {limit}k;
{p}error_page 413 = @ovu_too_large;
{p}error_page 502 503 504 = @ovu_unavailable;
",
        limit = API_BODY_LIMIT_BYTES / 1024,
    );
    let (auth_re, auth_rewrite) = if auth_prefix.is_empty() {
        ("^/api/v1/auth/(login|register)$".to_string(), String::new())
    } else {
        // A regex location cannot carry a URI in proxy_pass; strip the prefix with a rewrite.
        (
            format!("^{auth_prefix}/api/v1/auth/(login|register)$"),
            format!("{p}rewrite ^{auth_prefix}(/.*)$ $1 break;\n"),
        )
    };
    format!(
        "        location ~ {auth_re} {{
{p}limit_req zone=ovu_auth{auth_burst} nodelay;
{p}error_page 429 = @ovu_rate_limited;
{common}{auth_rewrite}{p}proxy_pass http://{upstream};
        }}
        location {prefix} {{
{p}limit_req zone=ovu_api{api_burst} nodelay;
{p}error_page 429 = @ovu_rate_limited;
{common}{p}proxy_pass http://{upstream}{strip};
        }}
",
        auth_burst = burst(limits.sign_in_burst),
        api_burst = burst(limits.api_burst),
    )
}
