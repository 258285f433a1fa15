//! Test harness: the real app over a per-test database (from `#[sqlx::test]`) and the
//! real Redis with a per-test key prefix, driven through `oneshot` without a port, with its
//! mail worker delivering to the real Mailpit of `scripts/services.sh` (`SMTP_URL`,
//! `MAILPIT_API`). Tests read their mail there, like a person would.
//!
//! The Mailpit instance is shared by every test running at once, and many tests use the same
//! addresses (`maya@example.com`), so each test's ULM sends from its own address
//! (`SMTP_FROM`) and reads only mail from it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use ovu_kit::config::Env;
use ovu_ulm::signing::Signer;
use ovu_ulm::startup::Workers;
use ovu_ulm::{AppState, Application, Config};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub struct T {
    pub app: Router,
    pub state: AppState,
    pub db: PgPool,
    pub mailbox: Mailbox,
    /// The mail worker; dropping it (with `T`) stops it.
    mailer: Option<Workers>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }
    /// Asserts an error response in the one shape with the given status and code.
    #[track_caller]
    pub fn error(self, status: u16, code: &str) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert!(
            self.body["error"]["message"].is_string(),
            "body: {}",
            self.body
        );
        assert!(
            self.body["error"]["details"].is_object(),
            "body: {}",
            self.body
        );
        self
    }
}

static IP: AtomicU32 = AtomicU32::new(1);

/// A fresh client address from the test range for each request, so per-IP limits only
/// bite in tests that pin an address.
pub fn next_ip() -> String {
    let n = IP.fetch_add(1, Ordering::Relaxed);
    format!("198.18.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

pub async fn setup(db: PgPool) -> T {
    setup_with(db, &[]).await
}

pub async fn setup_with(db: PgPool, overrides: &[(&str, &str)]) -> T {
    ovu_kit::telemetry::init_for_tests();
    let redis_url = std::env::var("REDIS_URL").expect("REDIS_URL (source .run/env)");
    let smtp_url = std::env::var("SMTP_URL").expect("SMTP_URL (source .run/env)");
    let test_id = Uuid::new_v4().simple().to_string();
    let prefix = format!("test:{test_id}:");
    let from = format!("ulm-{test_id}@tests.ovu.localhost");
    let mut vars: Vec<(String, String)> = vec![
        (
            "DATABASE_URL".into(),
            "postgres://unused@127.0.0.1/unused".into(),
        ),
        ("REDIS_URL".into(), redis_url),
        ("REDIS_KEY_PREFIX".into(), prefix),
        // Cheap hashing for tests; production defaults are asserted in a unit test.
        ("ULM_ARGON2_M_KIB".into(), "64".into()),
        ("ULM_ARGON2_T".into(), "1".into()),
        ("TRUSTED_PROXIES".into(), "127.0.0.1/32".into()),
        ("ULM_PUBLIC_URL".into(), "https://ulm.example".into()),
        ("SMTP_URL".into(), smtp_url),
        ("SMTP_FROM".into(), format!("OVU test <{from}>")),
        ("SMTP_TIMEOUT_SECS".into(), "5".into()),
        ("ULM_MAIL_POLL_MS".into(), "200".into()),
        // Most tests act as admins with password-only sessions; the MFA policy (required by
        // default) has its own tests, which set ULM_ADMIN_MFA=required.
        ("ULM_ADMIN_MFA".into(), "optional".into()),
        ("ULM_LISTEN_ADDR".into(), "127.0.0.1:0".into()),
    ];
    for (k, v) in overrides {
        vars.retain(|(n, _)| n != k);
        vars.push(((*k).into(), (*v).into()));
    }
    let cfg = Config::from(Env::from_map(vars)).expect("test config");
    let redis = ovu_kit::db::connect_redis(&cfg.db).await.expect("redis");
    // Production's wiring (state, bootstrap admin), driven without a socket: the listener
    // it bound on a free port closes when `built` is dropped below. Of the background
    // workers only mail runs, so the tests run the jobs' ticks themselves, deterministically.
    let built = Application::build_with(cfg, db.clone(), redis, Signer::ephemeral())
        .await
        .expect("ulm");
    let state = built.state().clone();
    let app = built
        .router()
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let mailer = Some(built.spawn_mailer());
    T {
        app,
        state,
        db,
        mailbox: Mailbox::new(&from),
        mailer,
    }
}

/// A closed port on loopback: a mail server that is down. The port stays bound to a socket
/// that never listens (connections are refused) for the rest of the test process, so no other
/// test's listener can be given it, as one could a port bound and released.
pub async fn closed_smtp_url() -> String {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = s.local_addr().unwrap().port();
    // Held until the process exits (closing it would free the port for someone else).
    std::mem::forget(s);
    format!("smtp://127.0.0.1:{port}")
}

/// One message as Mailpit lists it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub id: String,
    pub subject: String,
    pub to: Vec<String>,
}

/// Mailpit's HTTP API, limited to the mail one test's ULM sent.
#[derive(Debug, Clone)]
pub struct Mailbox {
    api: String,
    from: String,
    http: reqwest::Client,
}

impl Mailbox {
    pub fn new(from: &str) -> Self {
        Self {
            api: std::env::var("MAILPIT_API")
                .expect("MAILPIT_API (source .run/env)")
                .trim_end_matches('/')
                .to_string(),
            from: from.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Every message this test's ULM sent to `to` (exactly that address), newest first.
    pub async fn to(&self, to: &str) -> Vec<Mail> {
        // Mailpit's `to:` and `from:` match substrings; filter exactly below.
        let query = format!("from:{} to:{}", self.from, to);
        let v: Value = self
            .http
            .get(format!("{}/api/v1/search", self.api))
            .query(&[("query", query.as_str()), ("limit", "200")])
            .send()
            .await
            .expect("mailpit search")
            .error_for_status()
            .expect("mailpit search status")
            .json()
            .await
            .expect("mailpit search json");
        v["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|m| Mail {
                id: m["ID"].as_str().unwrap_or_default().to_string(),
                subject: m["Subject"].as_str().unwrap_or_default().to_string(),
                to: m["To"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|a| a["Address"].as_str().map(str::to_lowercase))
                    .collect(),
            })
            .filter(|m| m.to.contains(&to.to_lowercase()))
            .collect()
    }

    /// The plain-text body of a message.
    pub async fn text(&self, id: &str) -> String {
        let v: Value = self
            .http
            .get(format!("{}/api/v1/message/{id}", self.api))
            .send()
            .await
            .expect("mailpit message")
            .error_for_status()
            .expect("mailpit message status")
            .json()
            .await
            .expect("mailpit message json");
        v["Text"].as_str().unwrap_or_default().to_string()
    }
}

/// The subject each kind of mail carries, to tell them apart in the mailbox.
pub fn subject_of(kind: &str) -> &'static str {
    match kind {
        "verify_email" => "Confirm your e-mail address",
        "reset_password" => "Reset your OVU password",
        "register_existing" => "Someone tried to register with your address",
        "register_username_taken" => "Choose another username",
        other => panic!("no mail kind {other}"),
    }
}

/// The token in the link of a mail body (`…#token=<token>`).
pub fn token_in(text: &str) -> String {
    let start = text
        .find("#token=")
        .expect("a link with #token= in the mail")
        + 7;
    text[start..].split_whitespace().next().unwrap().to_string()
}

pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Body,
    json: bool,
}

pub fn req(method: &str, uri: &str) -> Req {
    Req {
        method: method.parse().unwrap(),
        uri: uri.into(),
        headers: vec![],
        body: Body::empty(),
        json: false,
    }
}

impl Req {
    pub fn json(mut self, v: Value) -> Self {
        self.body = Body::from(v.to_string());
        self.json = true;
        self
    }
    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Body>) -> Self {
        self.body = body.into();
        if let Some(ct) = content_type {
            self.headers.push(("content-type".into(), ct.into()));
        }
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn ip(self, ip: &str) -> Self {
        self.header("x-forwarded-for", ip)
    }
}

impl T {
    /// Sends `r`; any 5xx fails the test (see [`Self::send_expecting_5xx`]).
    pub async fn send(&self, r: Req) -> Resp {
        let resp = self.send_expecting_5xx(r).await;
        assert!(
            resp.status.as_u16() < 500,
            "server error {}: {}",
            resp.status,
            resp.body
        );
        resp
    }

    /// Sends `r` and returns whatever came back, a 5xx included: for the tests that take a
    /// dependency away on purpose.
    pub async fn send_expecting_5xx(&self, r: Req) -> Resp {
        let mut b = Request::builder().method(r.method).uri(r.uri);
        if r.json {
            b = b.header("content-type", "application/json");
        }
        if !r.headers.iter().any(|(k, _)| k == "x-forwarded-for") {
            b = b.header("x-forwarded-for", next_ip());
        }
        for (k, v) in r.headers {
            b = b.header(k, v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(b.body(r.body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, uri: &str, body: Value) -> Resp {
        self.send(req("POST", uri).json(body)).await
    }

    /// Stops the mail worker and waits until it has (so another `T` over the same database
    /// can take over delivery deterministically).
    pub async fn stop_mailer(&mut self) {
        if let Some(w) = self.mailer.take() {
            w.stop().await.unwrap();
        }
    }

    /// Waits (bounded) until nothing to `to` is left queued, i.e. the worker has delivered
    /// every mail to it that the test's requests queued, and Mailpit has them.
    pub async fn mail_settled(&self, to: &str) {
        for _ in 0..150 {
            let queued: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE lower(to_email) = lower($1) AND state = 'queued'",
            )
            .bind(to)
            .fetch_one(&self.db)
            .await
            .unwrap();
            if queued == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("mail to {to} still queued after 15 s");
    }

    /// The newest mail of `kind` to `to`, read from Mailpit (waiting for its delivery), and
    /// its text.
    pub async fn mail(&self, to: &str, kind: &str) -> String {
        self.mail_settled(to).await;
        let subject = subject_of(kind);
        let newest = self
            .mailbox
            .to(to)
            .await
            .into_iter()
            .find(|m| m.subject == subject)
            .unwrap_or_else(|| panic!("no {kind} mail to {to} in Mailpit"));
        self.mailbox.text(&newest.id).await
    }

    /// The newest mail to `to` of `kind`, and the token in its link.
    pub async fn mailed_token(&self, to: &str, kind: &str) -> String {
        token_in(&self.mail(to, kind).await)
    }

    /// Registers and verifies a user; returns its id.
    pub async fn user(&self, name: &str, password: &str) -> Uuid {
        let email = format!("{name}@example.com");
        self.post(
            "/api/v1/auth/register",
            json!({ "email": email, "username": name, "password": password }),
        )
        .await
        .expect(202);
        let token = self.mailed_token(&email, "verify_email").await;
        self.post("/api/v1/auth/verify-email", json!({ "token": token }))
            .await
            .expect(200);
        sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(name)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn grant(&self, user: Uuid, role: &str) {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name = $2",
        )
        .bind(user)
        .bind(role)
        .execute(&self.db)
        .await
        .unwrap();
    }

    /// Logs in and returns the token response body.
    pub async fn login(&self, login: &str, password: &str) -> Value {
        self.post(
            "/api/v1/auth/login",
            json!({ "login": login, "password": password }),
        )
        .await
        .expect(200)
        .body
    }

    pub async fn token(&self, login: &str, password: &str) -> String {
        self.login(login, password).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A user with `role`, logged in: (id, access token).
    pub async fn with_role(&self, name: &str, role: &str) -> (Uuid, String) {
        let id = self.user(name, PW).await;
        self.grant(id, role).await;
        (id, self.token(name, PW).await)
    }

    pub async fn audit_count(&self, kind: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE event_type = $1")
            .bind(kind)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

pub const PW: &str = "correct horse battery";
