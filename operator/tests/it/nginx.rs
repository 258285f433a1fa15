//! The rendered nginx configs pass the real `nginx -t` (Debian's nginx), with and without TLS,
//! and the self-signed chain verifies with openssl.

use crate::common;

use std::path::Path;
use std::process::Command;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use ovu_operator::render::{self, Ctx, Facts, frontend, nginx};
use ovu_operator::tls;

const NGINX: &str = "/usr/sbin/nginx";

struct Tmp(std::path::PathBuf);
impl Tmp {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "ovu-nginx-{tag}-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn path(&self, rel: &str) -> String {
        self.0.join(rel).to_string_lossy().into_owned()
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sample's own input, with every path moved into `dir` and upstreams on loopback
/// (nginx -t resolves upstream names; cluster DNS does not exist here).
fn localize(mut i: nginx::NginxInput, dir: &Tmp) -> nginx::NginxInput {
    i.ulm_upstream = "127.0.0.1:8001".into();
    i.aam_upstream = "127.0.0.1:8002".into();
    i.html_root = dir.path("html");
    i.temp_dir = dir.path("tmp");
    i.pid_file = dir.path("nginx.pid");
    i.access_log = dir.path("access.log");
    if i.tls.is_some() {
        i.tls = Some(nginx::TlsFiles {
            cert: dir.path("tls.crt"),
            key: dir.path("tls.key"),
        });
    }
    i
}

fn nginx_t(input: &nginx::NginxInput, dir: &Tmp) -> String {
    std::fs::create_dir_all(dir.path("html/ulm")).unwrap();
    std::fs::create_dir_all(dir.path("html/aam")).unwrap();
    std::fs::create_dir_all(dir.path("tmp")).unwrap();
    if let Some(t) = &input.tls {
        let now = Timestamp::now();
        let ca = tls::generate_ca("ovu", now).unwrap();
        let leaf = tls::issue_leaf(&ca, "ovu", &frontend::dns_names(&input.domain), now).unwrap();
        std::fs::write(&t.cert, &leaf.pem.cert).unwrap();
        std::fs::write(&t.key, &leaf.pem.key).unwrap();
    }
    let conf = nginx::render(input).unwrap();
    let conf_path = dir.path("nginx.conf");
    std::fs::write(&conf_path, &conf).unwrap();
    let out = Command::new(NGINX)
        .args(["-t", "-e", "stderr", "-p", &dir.path(""), "-c", &conf_path])
        .output()
        .expect("run /usr/sbin/nginx (Debian package nginx)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "nginx -t failed:\n{stderr}\n--- config ---\n{conf}"
    );
    assert!(stderr.contains("test is successful"), "{stderr}");
    conf
}

fn input_for(sys: &ovu_crds::OvuSystem) -> nginx::NginxInput {
    let facts = Facts::default();
    let ctx = Ctx::new(sys, &facts).unwrap();
    frontend::nginx_input(&ctx)
}

#[test]
fn minimal_sample_with_tls_passes_nginx_t() {
    let dir = Tmp::new("tls");
    let i = localize(input_for(&common::minimal()), &dir);
    assert!(i.tls.is_some());
    let conf = nginx_t(&i, &dir);
    assert!(conf.contains("return 301 https://$host$request_uri;"));
    assert!(conf.contains("Strict-Transport-Security"));
    assert!(conf.contains("server_name ulm.ovu.co.il;"));
    assert!(conf.contains("try_files $uri $uri/ /index.html;"));
}

#[test]
fn full_sample_passes_nginx_t_and_redirects_to_its_node_port() {
    let dir = Tmp::new("full");
    let i = localize(input_for(&common::full()), &dir);
    let conf = nginx_t(&i, &dir);
    assert!(conf.contains("return 301 https://$host:30443$request_uri;"));
    assert!(conf.contains("\"https://portal.ovu.co.il\" $http_origin;"));
}

#[test]
fn the_specs_rate_limits_set_both_zones_and_every_bursts() {
    let default = localize(input_for(&common::minimal()), &Tmp::new("rl-default"));
    let conf = nginx::render(&default).unwrap();
    assert!(conf.contains("zone=ovu_auth:10m rate=1r/s;"), "{conf}");
    assert!(conf.contains("zone=ovu_api:10m rate=10r/s;"), "{conf}");

    let mut sys = common::minimal();
    sys.spec.frontend.rate_limits = ovu_crds::RateLimits {
        sign_in_per_second: 40,
        sign_in_burst: 0,
        api_per_second: 300,
        api_burst: 600,
    };
    let dir = Tmp::new("rl");
    let conf = nginx_t(&localize(input_for(&sys), &dir), &dir);
    assert!(conf.contains("zone=ovu_auth:10m rate=40r/s;"), "{conf}");
    assert!(conf.contains("zone=ovu_api:10m rate=300r/s;"), "{conf}");
    // The sign-in locations of the ULM and AAM sites, and ULM's and AAM's on the API host.
    // nginx refuses `burst=0`: no burst at all is the same limit.
    assert_eq!(conf.matches("limit_req zone=ovu_auth nodelay;").count(), 4);
    assert_eq!(
        conf.matches("limit_req zone=ovu_api burst=600 nodelay;")
            .count(),
        4
    );
    assert!(
        !conf.contains("burst=2 ") && !conf.contains("burst=20 "),
        "{conf}"
    );
}

#[test]
fn tls_disabled_passes_nginx_t_without_hsts() {
    let mut sys = common::minimal();
    sys.spec.frontend.tls.mode = ovu_crds::TlsMode::Disabled;
    let dir = Tmp::new("plain");
    let i = localize(input_for(&sys), &dir);
    assert!(i.tls.is_none());
    let conf = nginx_t(&i, &dir);
    assert!(!conf.contains("Strict-Transport-Security"));
    assert!(!conf.contains("ssl_certificate"));
    assert!(conf.contains("X-Content-Type-Options \"nosniff\""));
    assert!(conf.contains("frame-ancestors 'none'"));
}

#[test]
fn renderer_refuses_injection() {
    let dir = Tmp::new("bad");
    let mut i = localize(input_for(&common::minimal()), &dir);
    i.domain = "ovu.co.il; include /etc/passwd".into();
    assert!(nginx::render(&i).is_err());
    let mut i = localize(input_for(&common::minimal()), &dir);
    i.cors_origins.push("https://x.com\" $x; #".into());
    assert!(nginx::render(&i).is_err());
}

#[test]
fn the_configmap_holds_the_same_renderer_output() {
    let sys = common::minimal();
    let facts = Facts::default();
    let d = render::build(&sys, &facts).unwrap();
    let cm = d.all().find(|c| c.name == "ovu-nginx").unwrap();
    let ctx = Ctx::new(&sys, &facts).unwrap();
    let want = nginx::render(&frontend::nginx_input(&ctx)).unwrap();
    assert_eq!(cm.object["data"]["nginx.conf"], want);
}

/// A leaf issued later, from the CA key alone, still chains to the stored CA certificate.
#[test]
fn renewed_leaf_verifies_against_the_original_ca() {
    let dir = Tmp::new("chain");
    let t0 = Timestamp::now() - SignedDuration::from_hours(24 * 30);
    let ca = tls::generate_ca("ovu", t0).unwrap();
    let leaf = tls::issue_leaf(
        &ca,
        "ovu",
        &frontend::dns_names("ovu.co.il"),
        Timestamp::now(),
    )
    .unwrap();
    std::fs::write(dir.path("ca.crt"), &ca.cert).unwrap();
    std::fs::write(dir.path("leaf.crt"), &leaf.pem.cert).unwrap();
    let out = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            &dir.path("ca.crt"),
            "-verify_hostname",
            "ulm.ovu.co.il",
            &dir.path("leaf.crt"),
        ])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(&dir.path("leaf.crt")).exists());
}

/// A free loopback port (bound and released; nginx takes it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx running a rendered config, stopped on drop.
struct RunningNginx(std::process::Child);
impl Drop for RunningNginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master then stops its workers (a killed master leaves them
        // running, holding the ports and the test's output pipes).
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// An upstream that answers every request with 200 and hands over the request heads it got.
fn recording_upstream() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            if tx.send(head).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

fn start_nginx(i: &nginx::NginxInput, dir: &Tmp) -> RunningNginx {
    nginx_t(i, dir);
    let child = Command::new(NGINX)
        .args([
            "-e",
            "stderr",
            "-p",
            &dir.path(""),
            "-c",
            &dir.path("nginx.conf"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let n = RunningNginx(child);
    let port = i.listen_http;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nginx did not listen on {port}");
}

/// Sends raw bytes to nginx on `port` and returns its whole answer.
fn send(port: u16, bytes: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(bytes.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

const FORGED: &str = "GET /api/v1/me HTTP/1.1\r\nHost: ulm.ovu.co.il\r\nX-Forwarded-For: 203.0.113.66, 198.19.1.9\r\nX-Real-IP: 203.0.113.66\r\nConnection: close\r\n\r\n";

fn forwarded(head: &str) -> (String, String) {
    let get = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (get("x-forwarded-for:"), get("x-real-ip:"))
}

fn plain_input(dir: &Tmp) -> (nginx::NginxInput, std::sync::mpsc::Receiver<String>) {
    let mut sys = common::minimal();
    sys.spec.frontend.tls.mode = ovu_crds::TlsMode::Disabled;
    let mut i = localize(input_for(&sys), dir);
    let (up, rx) = recording_upstream();
    i.ulm_upstream = format!("127.0.0.1:{up}");
    i.aam_upstream = format!("127.0.0.1:{up}");
    i.listen_http = free_port();
    (i, rx)
}

/// nginx replaces whatever X-Forwarded-For / X-Real-IP a client sends with the address it
/// saw; it never appends to the client's list.
#[test]
fn nginx_overwrites_forwarded_for_with_the_peer_address() {
    let dir = Tmp::new("xff");
    let (i, rx) = plain_input(&dir);
    let _n = start_nginx(&i, &dir);
    let answer = send(i.listen_http, FORGED);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(
        forwarded(&head),
        ("127.0.0.1".into(), "127.0.0.1".into()),
        "{head}"
    );
}

/// With PROXY protocol the client address comes from the header, but only when the load
/// balancer sending it is trusted; the kubelet's probes use the plain health port.
#[test]
fn nginx_takes_the_client_from_a_trusted_proxy_protocol_header_only() {
    for (trusted, want) in [
        ("127.0.0.1/32", "198.18.7.7"),
        ("198.18.0.0/24", "127.0.0.1"),
    ] {
        let dir = Tmp::new("pp");
        let (mut i, rx) = plain_input(&dir);
        let health = free_port();
        i.proxy_protocol = Some(nginx::ProxyProtocol {
            trusted: vec![trusted.into()],
            listen_health: health,
        });
        let _n = start_nginx(&i, &dir);
        let answer = send(
            i.listen_http,
            &format!("PROXY TCP4 198.18.7.7 198.18.0.11 40000 443\r\n{FORGED}"),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{trusted}: {answer}");
        let head = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(
            forwarded(&head),
            (want.into(), want.into()),
            "{trusted}: {head}"
        );
        // A connection without the PROXY header is refused on the public port ...
        assert!(!send(i.listen_http, FORGED).starts_with("HTTP/1.1 200"));
        // ... and the probes' plain port answers.
        let probe = send(
            health,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(probe.starts_with("HTTP/1.1 200"), "{probe}");
    }
}

/// The values of every `name:` header line in an HTTP answer's head.
fn header_values(answer: &str, name: &str) -> Vec<String> {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .collect()
}

/// API responses carry one of each security header (issue 17 found two Referrer-Policy
/// headers that disagreed): the service's when it answered (tested through nginx against the
/// real services in e2e/tests/it/real.rs), and the same values from nginx itself when it answers
/// for an API (here its 502: nothing listens upstream). Site pages keep nginx's own headers.
#[test]
fn nginx_sends_one_set_of_security_headers_on_api_and_site_answers() {
    let dir = Tmp::new("hdrs");
    let mut sys = common::minimal();
    sys.spec.frontend.tls.mode = ovu_crds::TlsMode::Disabled;
    let mut i = localize(input_for(&sys), &dir);
    // Held for the whole test (bound, never listening: refused), so no listener can take it.
    let dead_socket = tokio::net::TcpSocket::new_v4().unwrap();
    dead_socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = dead_socket.local_addr().unwrap().port();
    i.ulm_upstream = format!("127.0.0.1:{dead}");
    i.aam_upstream = format!("127.0.0.1:{dead}");
    i.listen_http = free_port();
    let _n = start_nginx(&i, &dir);
    std::fs::write(dir.path("html/ulm/index.html"), "<!doctype html>").unwrap();

    let get = |host: &str, path: &str| {
        send(
            i.listen_http,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    for (host, path) in [
        ("ulm.ovu.co.il", "/api/v1/me"),
        ("aam.ovu.co.il", "/api/v1/me"),
        ("api.ovu.co.il", "/api/health"),
        ("api.ovu.co.il", "/aam/api/health"),
    ] {
        let a = get(host, path);
        // nginx's own answer for a dead upstream (its JSON 503), with the same headers.
        assert!(a.starts_with("HTTP/1.1 503"), "{host}{path}: {a}");
        for (name, want) in [
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            (
                "Content-Security-Policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ] {
            assert_eq!(header_values(&a, name), [want], "{host}{path} {name}: {a}");
        }
    }
    let page = get("ulm.ovu.co.il", "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert_eq!(
        header_values(&page, "Referrer-Policy"),
        ["strict-origin-when-cross-origin"]
    );
    assert_eq!(header_values(&page, "Content-Security-Policy").len(), 1);
}

/// A body over the services' limit is refused by nginx itself, as JSON in the error shape,
/// every time, and never reaches the service. (With nginx forwarding up to 10 MB, a service
/// that answered early and closed turned 17 of 20 such requests into 502 pages.) The
/// recording upstream here answers without reading bodies, as the services used to.
#[test]
fn nginx_answers_an_oversize_api_body_with_a_json_413_every_time() {
    use std::io::{Read, Write};
    let dir = Tmp::new("413");
    let (i, rx) = plain_input(&dir);
    let _n = start_nginx(&i, &dir);
    let body = vec![b'x'; 3 * 1024 * 1024];
    // Twenty tries on the login-rate-limited path: the size is judged before the rate.
    for attempt in 0..20 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", i.listen_http)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: ulm.ovu.co.il\r\n\
             Origin: https://ulm.ovu.co.il\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut w = s.try_clone().unwrap();
        let b = body.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(head.as_bytes())?;
            w.write_all(&b)
        });
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let answer = String::from_utf8_lossy(&out);
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "attempt {attempt}: {answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{answer}"
        );
        let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large", "{answer}");
        let _ = writer.join();
    }
    assert!(
        rx.try_recv().is_err(),
        "an oversize request reached the service"
    );
    // A body within the limit still goes through.
    let small = r#"{"a":"b"}"#;
    let answer = send(
        i.listen_http,
        &format!(
            "POST /api/v1/users HTTP/1.1\r\nHost: ulm.ovu.co.il\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{small}",
            small.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// With no service to proxy to (every pod not ready while PostgreSQL restarts), an API
/// client gets the services' 503 in the error shape with Retry-After, not nginx's HTML 502.
#[test]
fn nginx_answers_for_an_absent_service_with_a_json_503() {
    let dir = Tmp::new("503");
    let (mut i, _rx) = plain_input(&dir);
    // A port nobody listens on: connections are refused, as with no ready endpoint.
    let closed = free_port();
    i.ulm_upstream = format!("127.0.0.1:{closed}");
    let _n = start_nginx(&i, &dir);
    let answer = send(
        i.listen_http,
        "GET /api/v1/users/me HTTP/1.1\r\nHost: ulm.ovu.co.il\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/json"), "{answer}");
    assert!(lower.contains("retry-after: 1"), "{answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["error"]["code"], "upstream_unavailable", "{answer}");
}

/// The access log holds no query string, of the request or of its Referer: old verification
/// and reset mails carry their token as `?token=`, and a log must not collect live tokens.
#[test]
fn the_access_log_holds_no_query_string() {
    let dir = Tmp::new("log");
    let (i, _rx) = plain_input(&dir);
    let _n = start_nginx(&i, &dir);
    for (path, referer) in [
        (
            "/verify-email?token=SECRET-A",
            "https://ulm.ovu.co.il/reset?token=SECRET-B",
        ),
        (
            "/api/v1/auth/verify-email?token=SECRET-C&x=1",
            "https://elsewhere.example/p?SECRET-D",
        ),
    ] {
        let answer = send(
            i.listen_http,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: ulm.ovu.co.il\r\nReferer: {referer}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    // nginx writes the line when the request ends; the answers above have all been read.
    let log = std::fs::read_to_string(dir.path("access.log")).unwrap();
    assert!(
        log.contains("\"GET /verify-email HTTP/1.1\"")
            && log.contains("\"GET /api/v1/auth/verify-email HTTP/1.1\"")
            && log.contains("\"https://ulm.ovu.co.il/reset\"")
            && log.contains("\"https://elsewhere.example/p\""),
        "the log lost the paths: {log}"
    );
    assert!(
        !log.contains("SECRET"),
        "a query string reached the access log: {log}"
    );
}

/// CertManager mode: each HTTP-01 token cert-manager's solver Ingresses name is proxied on
/// port 80 to its solver's address, before the redirect to HTTPS; a token that could break
/// out of the config is refused; other modes route none.
#[test]
fn acme_challenges_are_routed_on_port_80_before_the_redirect() {
    let mut sys = common::minimal();
    sys.spec.frontend.tls.mode = ovu_crds::TlsMode::CertManager;
    let facts = Facts {
        acme_challenges: vec![
            nginx::AcmeChallenge {
                token: "Tok_en-1".into(),
                upstream: "198.18.130.7:8089".into(),
            },
            nginx::AcmeChallenge {
                token: "tok2".into(),
                upstream: "[fd00::7]:8089".into(),
            },
        ],
        ..Facts::default()
    };
    let ctx = Ctx::new(&sys, &facts).unwrap();
    let dir = Tmp::new("acme");
    let i = localize(frontend::nginx_input(&ctx), &dir);
    let conf = nginx_t(&i, &dir);
    let http = conf
        .split("# Plain HTTP on the system's names goes to HTTPS.")
        .nth(1)
        .and_then(|s| s.split("\n    }\n").next())
        .expect("the port-80 server");
    let first = http
        .find("location = /.well-known/acme-challenge/Tok_en-1 {")
        .expect("token 1 routed in the port-80 server");
    assert!(http[first..].contains("proxy_pass http://198.18.130.7:8089;"));
    assert!(http.contains("proxy_pass http://[fd00::7]:8089;"));
    assert!(first < http.find("return 301").unwrap(), "{http}");

    for bad in ["a;b", "a/../b", "..", "a b", "x}"] {
        let mut i = i.clone();
        i.acme_challenges[0].token = bad.into();
        assert!(nginx::render(&i).is_err(), "{bad:?} rendered");
    }
    sys.spec.frontend.tls.mode = ovu_crds::TlsMode::SelfSigned;
    let ctx = Ctx::new(&sys, &facts).unwrap();
    assert!(frontend::nginx_input(&ctx).acme_challenges.is_empty());
}

/// The frontend's nginx container starts through `frontend::start_script` (the DNS wait
/// below) on the ConfigMap's path, and liveness waits for that start (a startup probe that
/// outlasts the wait), so the kubelet never kills a pod that is only waiting for DNS.
#[test]
fn the_frontend_starts_nginx_through_the_dns_wait() {
    let sys = common::minimal();
    let d = render::build(&sys, &Facts::default()).unwrap();
    let dep = d
        .all()
        .find(|c| c.name == "ovu-frontend" && c.object["kind"] == "Deployment")
        .unwrap();
    let c = &dep.object["spec"]["template"]["spec"]["containers"][0];
    let script = frontend::start_script("/etc/ovu/nginx/nginx.conf", None);
    assert_eq!(c["command"], serde_json::json!(["/bin/sh", "-c", script]));
    let p = &c["startupProbe"];
    assert_eq!(p["httpGet"]["path"], "/healthz", "{c}");
    let patience = p["periodSeconds"].as_u64().unwrap() * p["failureThreshold"].as_u64().unwrap();
    assert!(
        patience > u64::from(frontend::START_WAIT_SECS),
        "the startup probe gives up after {patience} s, before the start's own wait ends"
    );
}

/// `writableWebRoot` (development) mounts a size-capped emptyDir where nginx's config serves
/// from and the start copies the image's apps into it; the root filesystem stays read-only.
/// Off (the default) nothing of it is rendered: the image's read-only bundle is served.
#[test]
fn the_writable_web_root_is_rendered_only_when_asked_for() {
    let frontend = |sys: &ovu_crds::OvuSystem| {
        let d = render::build(sys, &Facts::default()).unwrap();
        let dep = d
            .all()
            .find(|c| c.name == "ovu-frontend" && c.object["kind"] == "Deployment")
            .unwrap()
            .object
            .clone();
        let conf = d
            .all()
            .find(|c| c.object["kind"] == "ConfigMap" && c.object["data"]["nginx.conf"].is_string())
            .unwrap()
            .object["data"]["nginx.conf"]
            .as_str()
            .unwrap()
            .to_string();
        (dep, conf)
    };
    let mut sys = common::minimal();
    let (dep, conf) = frontend(&sys);
    let pod = &dep["spec"]["template"]["spec"];
    assert!(
        conf.contains(&format!("root {}/", frontend::HTML_ROOT)),
        "{conf}"
    );
    assert!(!conf.contains(frontend::WRITABLE_HTML_ROOT), "{conf}");
    assert!(
        !pod.to_string().contains(frontend::WRITABLE_HTML_ROOT),
        "{pod}"
    );

    sys.spec.frontend.writable_web_root = true;
    let (dep, conf) = frontend(&sys);
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert!(
        conf.contains(&format!("root {}/", frontend::WRITABLE_HTML_ROOT)),
        "{conf}"
    );
    assert!(!conf.contains(frontend::HTML_ROOT), "{conf}");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == frontend::WRITABLE_HTML_ROOT)
        .unwrap_or_else(|| panic!("no mount at {}: {c}", frontend::WRITABLE_HTML_ROOT));
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert!(volume["emptyDir"]["sizeLimit"].is_string(), "{volume}");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true, "{c}");
    let script = frontend::start_script(
        "/etc/ovu/nginx/nginx.conf",
        Some((frontend::HTML_ROOT, frontend::WRITABLE_HTML_ROOT)),
    );
    assert_eq!(c["command"], serde_json::json!(["/bin/sh", "-c", script]));
}

/// Runs the container's start script (`/bin/sh -c`, as the Deployment does) on `conf`, its
/// stderr handed over line by line.
fn run_start_script(conf: &str) -> (RunningNginx, std::sync::mpsc::Receiver<String>) {
    run_start_script_copying(conf, None)
}

/// `run_start_script` with the development copy of the web apps (`writableWebRoot`).
fn run_start_script_copying(
    conf: &str,
    web_copy: Option<(&str, &str)>,
) -> (RunningNginx, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new("/bin/sh")
        .args(["-c", &frontend::start_script(conf, web_copy)])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (RunningNginx(child), rx)
}

/// Before the start script, a frontend pod that started while cluster DNS did not answer yet
/// (every pod of a restarted cluster starts at once) exited at once on nginx's "host not
/// found in upstream" and the kubelet's back-off kept the sites down ~2 minutes. Now the
/// start waits, still running, and says why.
#[test]
fn nginx_start_waits_while_an_upstream_name_does_not_resolve() {
    let dir = Tmp::new("dns-wait");
    let (mut i, _rx) = plain_input(&dir);
    // RFC 6761: `.invalid` never resolves.
    i.ulm_upstream = "ovu-ulm.ovu.svc.invalid:8001".into();
    for d in ["html/ulm", "html/aam", "tmp"] {
        std::fs::create_dir_all(dir.path(d)).unwrap();
    }
    std::fs::write(dir.path("nginx.conf"), nginx::render(&i).unwrap()).unwrap();
    let (mut n, lines) = run_start_script(&dir.path("nginx.conf"));
    let said = lines
        .recv_timeout(std::time::Duration::from_secs(90))
        .expect("the start script said nothing in 90 s");
    assert!(said.starts_with("waiting for cluster DNS:"), "{said}");
    assert!(said.contains("host not found in upstream"), "{said}");
    assert!(
        n.0.try_wait().unwrap().is_none(),
        "the start script exited instead of waiting"
    );
}

/// Names that resolve: nginx serves at once (the script execs it: same PID, so the kubelet's
/// signals and the preStop hook's `kill -0 1` reach nginx itself).
#[test]
fn nginx_start_serves_at_once_when_the_names_resolve() {
    let dir = Tmp::new("dns-ok");
    let (i, _rx) = plain_input(&dir);
    nginx_t(&i, &dir);
    let (mut n, _lines) = run_start_script(&dir.path("nginx.conf"));
    let port = i.listen_http;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Through to the (recording) ULM upstream and back.
            let answer = send(
                port,
                "GET /api/health HTTP/1.1\r\nHost: ulm.ovu.co.il\r\nConnection: close\r\n\r\n",
            );
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            let pid = n.0.id();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
            assert_eq!(comm.trim(), "nginx", "the script did not exec nginx");
            assert!(n.0.try_wait().unwrap().is_none());
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nginx did not listen on {port} after its start script");
}

/// Any other config error is not waited on: nginx starts at once and fails with its own
/// message, so a bad config shows in the pod's log and status immediately.
#[test]
fn nginx_start_fails_at_once_on_any_other_config_error() {
    let dir = Tmp::new("bad-conf");
    let conf = dir.path("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {};\nevents {{}}\nhttp {{ no_such_directive on; }}\n",
            dir.path("nginx.pid")
        ),
    )
    .unwrap();
    let (mut n, lines) = run_start_script(&conf);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = n.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the start script still runs 30 s after a config error: {:?}",
            lines.try_iter().collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The reader thread ends with the pipe.
    let mut said = Vec::new();
    while let Ok(l) = lines.recv_timeout(std::time::Duration::from_secs(5)) {
        said.push(l);
    }
    let said = said.join("\n");
    assert!(!status.success());
    assert!(
        said.contains("unknown directive \"no_such_directive\""),
        "{said}"
    );
    assert!(!said.contains("waiting for cluster DNS"), "{said}");
}

/// GET `path` on the ULM site of a plain-HTTP nginx on `port`, once it listens.
fn get_ulm(port: u16, path: &str) -> String {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return send(
                port,
                &format!("GET {path} HTTP/1.1\r\nHost: ulm.ovu.co.il\r\nConnection: close\r\n\r\n"),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nginx did not listen on {port}");
}

/// `spec.frontend.writableWebRoot` (Tilt's live_update): the start copies the image's apps
/// into the writable root nginx serves, a file changed there is served at once (no reload),
/// and a restarted container keeps what was synced instead of copying the image's over it.
#[test]
fn the_writable_web_root_serves_what_is_synced_into_it() {
    let dir = Tmp::new("web-copy");
    let (mut i, _rx) = plain_input(&dir);
    for app in ["ulm", "aam"] {
        std::fs::create_dir_all(dir.path(&format!("image/{app}"))).unwrap();
        std::fs::write(
            dir.path(&format!("image/{app}/index.html")),
            format!("<p>{app} from the image</p>"),
        )
        .unwrap();
    }
    std::fs::create_dir_all(dir.path("web")).unwrap();
    std::fs::create_dir_all(dir.path("tmp")).unwrap();
    i.html_root = dir.path("web");
    std::fs::write(dir.path("nginx.conf"), nginx::render(&i).unwrap()).unwrap();
    let (image, web) = (dir.path("image"), dir.path("web"));
    let copy = Some((image.as_str(), web.as_str()));

    let (n, _lines) = run_start_script_copying(&dir.path("nginx.conf"), copy);
    let first = get_ulm(i.listen_http, "/");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.contains("ulm from the image"), "{first}");
    // What a live_update sync does: write into the running pod's copy.
    std::fs::write(dir.path("web/ulm/index.html"), "<p>ulm synced</p>").unwrap();
    let synced = get_ulm(i.listen_http, "/");
    assert!(
        synced.contains("ulm synced"),
        "not served at once: {synced}"
    );
    drop(n);

    // The container restarts; the emptyDir (here: the folder) stays.
    let (_n, _lines) = run_start_script_copying(&dir.path("nginx.conf"), copy);
    let again = get_ulm(i.listen_http, "/");
    assert!(
        again.contains("ulm synced"),
        "the restart copied the image over the sync: {again}"
    );
}

/// A copy that cannot be made stops the start with a message naming both places, instead of
/// nginx serving an empty root.
#[test]
fn the_writable_web_root_start_fails_when_the_copy_fails() {
    let dir = Tmp::new("web-copy-fails");
    let (i, _rx) = plain_input(&dir);
    nginx_t(&i, &dir);
    let (missing, web) = (dir.path("no-such-image-dir"), dir.path("web"));
    let (mut n, lines) = run_start_script_copying(&dir.path("nginx.conf"), Some((&missing, &web)));
    let status = n.0.wait().unwrap();
    assert!(!status.success());
    let said: Vec<String> = lines.iter().collect();
    let said = said.join("\n");
    assert!(
        said.contains(&format!("cannot copy the web apps from {missing} to {web}")),
        "{said}"
    );
}
