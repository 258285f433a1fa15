//! Test harness: the real app over a per-test database (from `#[sqlx::test]`) and the
//! real Redis with a per-test key prefix, driven through `oneshot` without a port.

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
use ovu_ulm::{AppState, Config, app};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub struct T {
    pub app: Router,
    pub state: AppState,
    pub db: PgPool,
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
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
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
        // Most tests act as admins with password-only sessions; the MFA policy (required by
        // default) has its own tests, which set ULM_ADMIN_MFA=required.
        ("ULM_ADMIN_MFA".into(), "optional".into()),
    ];
    for (k, v) in overrides {
        vars.retain(|(n, _)| n != k);
        vars.push(((*k).into(), (*v).into()));
    }
    let cfg = Config::from(Env::from_map(vars)).expect("test config");
    let redis = ovu_kit::db::connect_redis(&cfg.db).await.expect("redis");
    let state = AppState::new(cfg, db.clone(), redis, Signer::ephemeral()).expect("state");
    let app = app(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    T { app, state, db }
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
    pub async fn send(&self, r: Req) -> Resp {
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
        assert!(status.as_u16() < 500, "server error {status}: {body}");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, uri: &str, body: Value) -> Resp {
        self.send(req("POST", uri).json(body)).await
    }

    /// The newest mail to `to` of `kind`, and the token in its link.
    pub async fn mailed_token(&self, to: &str, kind: &str) -> String {
        let body: String = sqlx::query_scalar(
            "SELECT body FROM outbox WHERE lower(to_email) = lower($1) AND kind = $2 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(to)
        .bind(kind)
        .fetch_one(&self.db)
        .await
        .expect("mail in outbox");
        let start = body.find("token=").expect("link with token") + 6;
        body[start..].split_whitespace().next().unwrap().to_string()
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
