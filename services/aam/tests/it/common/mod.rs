//! Test harness: AAM's real router over a per-test database (`#[sqlx::test]`), beside a real
//! ULM (its router served on a 127.0.0.1 port, its tables in schema `ulm` of the same test
//! database), the real Redis, and — for key-rotation tests — a small JWKS server whose keys
//! the test changes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ovu_aam::cluster::NoCluster;
use ovu_kit::config::Env;
use ovu_kit::jwt::{AccessClaims, Jwk, Jwks};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tower::ServiceExt;
use uuid::Uuid;

pub const PW: &str = "correct horse battery";

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self
    }
    /// An error in the one shape with this status and code.
    #[track_caller]
    pub fn error(self, status: u16, code: &str) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert!(
            self.body["error"]["message"].is_string(),
            "body: {}",
            self.text
        );
        assert!(
            self.body["error"]["details"].is_object(),
            "body: {}",
            self.text
        );
        self
    }
    pub fn total(&self) -> i64 {
        self.headers["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// A real ULM serving on a loopback port.
pub struct Ulm {
    pub addr: SocketAddr,
    pub db: PgPool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// This ULM's sender address: the Mailpit of `scripts/services.sh` is shared by every
    /// test, so a test reads only the mail its own ULM sent.
    pub mail_from: String,
}

impl Ulm {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts ULM with its schema inside the test database.
    pub async fn start(aam_db: &PgPool) -> Ulm {
        sqlx::query("CREATE SCHEMA IF NOT EXISTS ulm")
            .execute(aam_db)
            .await
            .unwrap();
        let opts = (*aam_db.connect_options())
            .clone()
            .options([("search_path", "ulm")]);
        let db = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(opts)
            .await
            .unwrap();
        ovu_ulm::MIGRATOR.run(&db).await.expect("ulm migrations");
        let mail_from = format!("ulm-{}@tests.ovu.localhost", Uuid::new_v4().simple());
        let vars: Vec<(String, String)> = vec![
            (
                "DATABASE_URL".into(),
                "postgres://unused@127.0.0.1/unused".into(),
            ),
            ("REDIS_URL".into(), redis_url()),
            (
                "REDIS_KEY_PREFIX".into(),
                format!("aamtest:{}:", Uuid::new_v4().simple()),
            ),
            ("ULM_ARGON2_M_KIB".into(), "64".into()),
            ("ULM_ARGON2_T".into(), "1".into()),
            ("ULM_EMAIL_VERIFICATION".into(), "optional".into()),
            ("ULM_RATE_LOGIN_PER_MIN".into(), "100000".into()),
            ("ULM_RATE_REGISTER_PER_HOUR".into(), "100000".into()),
            ("ULM_RATE_RESET_PER_HOUR".into(), "100000".into()),
            ("ULM_PUBLIC_URL".into(), "https://ulm.example".into()),
            // AAM calls from loopback: ULM believes its X-Forwarded-For, as in a cluster
            // where AAM's pods are ULM's trusted proxies.
            ("TRUSTED_PROXIES".into(), "127.0.0.1/32".into()),
            (
                "SMTP_URL".into(),
                std::env::var("SMTP_URL").expect("SMTP_URL (source .run/env)"),
            ),
            ("SMTP_FROM".into(), mail_from.clone()),
            ("ULM_MAIL_POLL_MS".into(), "200".into()),
            // Tests sign in with password-only sessions; the policy has tests of its own.
            ("ULM_ADMIN_MFA".into(), "optional".into()),
            ("ULM_LISTEN_ADDR".into(), "127.0.0.1:0".into()),
        ];
        let cfg = ovu_ulm::Config::from(Env::from_map(vars)).expect("ulm config");
        let redis = ovu_kit::db::connect_redis(&cfg.db).await.expect("redis");
        // ULM as `ovu-ulm serve` wires it, on a free port, with its background workers.
        let app = ovu_ulm::Application::build_with(
            cfg,
            db.clone(),
            redis,
            ovu_ulm::signing::Signer::ephemeral(),
        )
        .await
        .expect("ulm");
        let addr = app.addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ulm {
            addr,
            db,
            stop: Some(tx),
            task: Some(task),
            mail_from,
        }
    }

    /// The (subject, text) of every mail this ULM delivered to `to`, newest first, read from
    /// Mailpit (`MAILPIT_API`) once nothing to `to` is left queued (bounded wait).
    pub async fn mail_to(&self, to: &str) -> Vec<(String, String)> {
        for _ in 0..150 {
            let queued: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE lower(to_email) = lower($1) AND state = 'queued'",
            )
            .bind(to)
            .fetch_one(&self.db)
            .await
            .unwrap();
            if queued == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let api = std::env::var("MAILPIT_API").expect("MAILPIT_API (source .run/env)");
        let http = reqwest::Client::new();
        let found: Value = http
            .get(format!("{api}/api/v1/search"))
            .query(&[("query", format!("from:{} to:{to}", self.mail_from))])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut out = Vec::new();
        for m in found["messages"].as_array().cloned().unwrap_or_default() {
            // Mailpit's `to:` matches substrings: keep exactly `to`.
            let exact = m["To"].as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x["Address"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(to))
                })
            });
            if !exact {
                continue;
            }
            let id = m["ID"].as_str().unwrap_or_default();
            let full: Value = http
                .get(format!("{api}/api/v1/message/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            out.push((
                full["Subject"].as_str().unwrap_or_default().to_string(),
                full["Text"].as_str().unwrap_or_default().to_string(),
            ));
        }
        out
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}{path}", self.url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `name`, grants `role` (if any) and logs in: (user id, access token).
    pub async fn user(&self, name: &str, role: Option<&str>) -> (Uuid, String) {
        let r = self
            .post(
                "/api/v1/auth/register",
                json!({"email": format!("{name}@example.com"), "username": name, "password": PW}),
            )
            .await;
        assert_eq!(
            r.status().as_u16(),
            202,
            "register {name}: {}",
            r.text().await.unwrap()
        );
        let id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(name)
            .fetch_one(&self.db)
            .await
            .unwrap();
        if let Some(role) = role {
            sqlx::query("INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name = $2")
                .bind(id)
                .bind(role)
                .execute(&self.db)
                .await
                .unwrap();
        }
        let r = self
            .post("/api/v1/auth/login", json!({"login": name, "password": PW}))
            .await;
        assert_eq!(r.status().as_u16(), 200, "login {name}");
        let v: Value = r.json().await.unwrap();
        (id, v["access_token"].as_str().unwrap().to_string())
    }
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").expect("REDIS_URL (source .run/env)")
}

/// An address where nothing listens, for the rest of the test process: the port stays bound
/// to a socket that never listens (connections are refused), so no other test's listener can
/// be given it, as one could a port bound and released.
pub async fn closed_port() -> String {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = s.local_addr().unwrap();
    // Held until the process exits (closing it would free the port for someone else).
    std::mem::forget(s);
    format!("http://{a}")
}

/// An address that accepts connections and never answers (a hung ULM).
pub async fn silent_port() -> (String, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (format!("http://{a}"), task)
}

/// AAM under test.
pub struct Aam {
    pub app: Router,
    pub state: ovu_aam::AppState,
    pub db: PgPool,
}

pub async fn aam(db: PgPool, ulm_url: &str, extra: &[(&str, &str)]) -> Aam {
    ovu_kit::telemetry::init_for_tests();
    let mut vars: Vec<(String, String)> = vec![
        (
            "DATABASE_URL".into(),
            "postgres://unused@127.0.0.1/unused".into(),
        ),
        ("REDIS_URL".into(), redis_url()),
        ("ULM_URL".into(), ulm_url.into()),
        ("AAM_JWKS_MIN_REFETCH_MS".into(), "0".into()),
        ("AAM_DASHBOARD_CACHE_MS".into(), "0".into()),
        ("AAM_ULM_TIMEOUT_MS".into(), "1500".into()),
        // Required by default; the policy's own tests set it.
        ("AAM_ADMIN_MFA".into(), "optional".into()),
        ("AAM_LISTEN_ADDR".into(), "127.0.0.1:0".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(n, _)| n != k);
        vars.push(((*k).into(), (*v).into()));
    }
    let cfg = ovu_aam::config::Config::from(Env::from_map(vars)).expect("aam config");
    let redis = ovu_kit::db::connect_redis(&cfg.db).await.expect("redis");
    // Production's wiring, driven without a socket (the listener it bound on a free port
    // closes with `built`); the poller does not run, so tests sample health themselves.
    let built = ovu_aam::Application::build_with(cfg, db.clone(), redis, Arc::new(NoCluster))
        .await
        .expect("aam");
    let state = built.state().clone();
    let app = built
        .router()
        .layer(MockConnectInfo(SocketAddr::from(([198, 18, 0, 7], 40000))));
    Aam { app, state, db }
}

pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Body,
}

pub fn req(method: &str, uri: &str) -> Req {
    Req {
        method: method.parse().unwrap(),
        uri: uri.into(),
        headers: vec![("user-agent".into(), "aam-tests".into())],
        body: Body::empty(),
    }
}

impl Req {
    pub fn json(mut self, v: Value) -> Self {
        self.body = Body::from(v.to_string());
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

impl Aam {
    pub async fn send(&self, r: Req) -> Resp {
        let mut b = Request::builder().method(r.method).uri(r.uri);
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
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(
            status.as_u16() < 500 || status.as_u16() == 503,
            "server error {status}: {text}"
        );
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, uri: &str, token: &str) -> Resp {
        self.send(req("GET", uri).bearer(token)).await
    }

    pub async fn with(&self, method: &str, uri: &str, token: &str, body: Value) -> Resp {
        self.send(req(method, uri).bearer(token).json(body)).await
    }

    pub async fn audit_rows(
        &self,
        action: &str,
    ) -> Vec<(Option<Uuid>, String, Option<Value>, Option<Value>)> {
        sqlx::query_as("SELECT actor_id, resource_id, old_value, new_value FROM audit_log WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(&self.db)
            .await
            .unwrap()
    }
}

// ---- a JWKS server of our own, for rotation tests --------------------------------------------

pub struct TestKey {
    pub kid: String,
    key: EncodingKey,
    pub jwk: Jwk,
}

impl TestKey {
    pub fn new(kid: &str) -> Self {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let der = sk.to_pkcs8_der().unwrap();
        TestKey {
            kid: kid.into(),
            key: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes()),
                kid: kid.into(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            },
        }
    }

    /// A token as ULM would mint it, with `permissions`, naming `kid`.
    pub fn token_as(&self, kid: &str, permissions: &[&str]) -> String {
        self.token_full(kid, permissions, true)
    }

    /// A token from a session that did not pass a second factor.
    pub fn token_without_mfa(&self, permissions: &[&str]) -> String {
        self.token_full(&self.kid.clone(), permissions, false)
    }

    fn token_full(&self, kid: &str, permissions: &[&str], mfa: bool) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: Uuid::new_v4(),
            iss: "ovu-ulm".into(),
            aud: "ovu".into(),
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            username: "tester".into(),
            email: "tester@example.com".into(),
            roles: vec!["super_admin".into()],
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            mfa,
        };
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.into());
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&h, &claims, &self.key).unwrap()
    }

    pub fn token(&self, permissions: &[&str]) -> String {
        self.token_as(&self.kid.clone(), permissions)
    }
}

pub const ALL: &[&str] = &[
    "aam:access",
    "users:read",
    "users:write",
    "roles:read",
    "roles:write",
    "audit:read",
    "settings:read",
    "settings:write",
];

pub struct JwksServer {
    pub url: String,
    pub keys: Arc<RwLock<Jwks>>,
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
    /// While true the server answers 503, like a ULM whose database is down.
    pub failing: Arc<std::sync::atomic::AtomicBool>,
}

impl JwksServer {
    pub async fn start(keys: Vec<Jwk>) -> JwksServer {
        let set = Arc::new(RwLock::new(Jwks { keys }));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, h2, f2) = (set.clone(), hits.clone(), failing.clone());
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                let (s, h, f) = (s2.clone(), h2.clone(), f2.clone());
                async move {
                    use axum::response::IntoResponse;
                    h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if f.load(std::sync::atomic::Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    axum::Json(s.read().unwrap().clone()).into_response()
                }
            }),
        );
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", l.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        JwksServer {
            url,
            keys: set,
            hits,
            failing,
        }
    }

    pub fn set(&self, keys: Vec<Jwk>) {
        self.keys.write().unwrap().keys = keys;
    }
}
