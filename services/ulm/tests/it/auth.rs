//! Registration, verification, login, refresh rotation, logout, reset, throttling.

use crate::common;

use common::*;
use ovu_kit::jwt::{Jwks, JwtVerifier};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn register_verify_login_and_jwks(db: PgPool) {
    let t = setup(db).await;
    let r = t
        .post(
            "/api/v1/auth/register",
            json!({"email": "Dana@Example.com", "username": "dana", "password": PW}),
        )
        .await
        .expect(202);
    assert_eq!(r.body["status"], "accepted");
    // Unverified: the right password is told why it cannot sign in.
    t.post(
        "/api/v1/auth/login",
        json!({"login": "dana", "password": PW}),
    )
    .await
    .error(403, "email_not_verified");
    let token = t.mailed_token("dana@example.com", "verify_email").await;
    t.post("/api/v1/auth/verify-email", json!({"token": token}))
        .await
        .expect(200);
    // Single use.
    t.post("/api/v1/auth/verify-email", json!({"token": token}))
        .await
        .error(400, "invalid_token");

    // Login by e-mail (any case) or username.
    let body = t.login("DANA@example.com", PW).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["username"], "dana");
    assert_eq!(body["user"]["roles"], json!(["user"]));
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let access = t.token("dana", PW).await;

    // The token verifies with the published JWKS, as AAM will do it.
    let jwks: Jwks = serde_json::from_value(
        t.send(req("GET", "/api/v1/.well-known/jwks.json"))
            .await
            .expect(200)
            .body,
    )
    .unwrap();
    assert_eq!(jwks.keys[0].alg, "EdDSA");
    let v = JwtVerifier::new("ovu-ulm", "ovu");
    v.set_jwks(&jwks).unwrap();
    let claims = v.verify(&access).unwrap();
    assert_eq!(claims.username, "dana");
    assert!(!claims.mfa);
    assert!(claims.permissions.contains(&"api_keys:read".to_string()));
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(jwks.keys[0].kid.as_str()));

    let me = t
        .send(req("GET", "/api/v1/users/me").bearer(&access))
        .await
        .expect(200);
    assert_eq!(me.body["email"], "Dana@Example.com");
    assert_eq!(me.body["email_verified"], true);
    assert_eq!(t.audit_count("user_registered").await, 1);
    assert_eq!(t.audit_count("email_verified").await, 1);
    assert_eq!(t.audit_count("login_succeeded").await, 2);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn registration_does_not_enumerate(db: PgPool) {
    let t = setup(db).await;
    t.user("erez", PW).await;
    // Same e-mail, other case: same 202, no second account, a warning mail instead.
    let r = t
        .post(
            "/api/v1/auth/register",
            json!({"email": "EREZ@example.com", "username": "erez2", "password": PW}),
        )
        .await
        .expect(202);
    assert_eq!(r.body["status"], "accepted");
    // Taken username: also 202.
    t.post(
        "/api/v1/auth/register",
        json!({"email": "other@example.com", "username": "EREZ", "password": PW}),
    )
    .await
    .expect(202);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM outbox ORDER BY created_at")
        .fetch_all(&t.db)
        .await
        .unwrap();
    assert!(kinds.contains(&"register_existing".to_string()));
    assert!(kinds.contains(&"register_username_taken".to_string()));
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn registration_validates_input(db: PgPool) {
    let t = setup(db).await;
    let cases = [
        (
            json!({"email": "nope", "username": "abc", "password": PW}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "username": "a b", "password": PW}),
            "username",
        ),
        (
            json!({"email": "a@example.com", "username": "abc", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "username": "abc", "password": "password123"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "username": "abc", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "username": "abc", "password": PW, "preferred_language": "fr"}),
            "preferred_language",
        ),
    ];
    for (body, field) in cases {
        let r = t
            .post("/api/v1/auth/register", body)
            .await
            .error(422, "validation_failed");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    // 128 characters of anything is fine (no composition rules).
    t.post(
        "/api/v1/auth/register",
        json!({"email": "a@example.com", "username": "abc", "password": "y".repeat(128)}),
    )
    .await
    .expect(202);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn optional_verification_allows_login_at_once(db: PgPool) {
    let t = setup_with(db, &[("ULM_EMAIL_VERIFICATION", "optional")]).await;
    t.post(
        "/api/v1/auth/register",
        json!({"email": "o@example.com", "username": "opt", "password": PW}),
    )
    .await
    .expect(202);
    t.login("opt", PW).await;
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn wrong_password_and_unknown_user_look_the_same(db: PgPool) {
    let t = setup(db).await;
    t.user("gil", PW).await;
    let a = t
        .post(
            "/api/v1/auth/login",
            json!({"login": "gil", "password": "wrong password!"}),
        )
        .await
        .error(401, "invalid_credentials");
    let b = t
        .post(
            "/api/v1/auth/login",
            json!({"login": "nobody", "password": "wrong password!"}),
        )
        .await
        .error(401, "invalid_credentials");
    assert_eq!(a.body, b.body);
    assert_eq!(t.audit_count("login_failed").await, 2);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn login_is_throttled_per_account_and_per_ip(db: PgPool) {
    let t = setup(db).await;
    t.user("hila", PW).await;
    // Per account: 5 a minute, from any address.
    for _ in 0..5 {
        t.post(
            "/api/v1/auth/login",
            json!({"login": "hila", "password": "wrong password!"}),
        )
        .await
        .expect(401);
    }
    let r = t
        .post(
            "/api/v1/auth/login",
            json!({"login": "hila", "password": PW}),
        )
        .await
        .error(429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Per IP: 5 a minute across accounts.
    for i in 0..5 {
        t.send(
            req("POST", "/api/v1/auth/login")
                .ip("203.0.113.7")
                .json(json!({"login": format!("u{i}"), "password": "whatever1"})),
        )
        .await
        .expect(401);
    }
    t.send(
        req("POST", "/api/v1/auth/login")
            .ip("203.0.113.7")
            .json(json!({"login": "u9", "password": "whatever1"})),
    )
    .await
    .error(429, "rate_limited");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn repeated_failures_lock_the_account(db: PgPool) {
    let t = setup_with(
        db,
        &[
            ("ULM_LOCKOUT_THRESHOLD", "3"),
            ("ULM_RATE_LOGIN_PER_MIN", "100"),
        ],
    )
    .await;
    let id = t.user("ido", PW).await;
    for _ in 0..2 {
        t.post(
            "/api/v1/auth/login",
            json!({"login": "ido", "password": "wrong password!"}),
        )
        .await
        .expect(401);
    }
    let r = t
        .post(
            "/api/v1/auth/login",
            json!({"login": "ido", "password": "wrong password!"}),
        )
        .await
        .error(429, "account_locked");
    assert!(r.headers.contains_key("retry-after"));
    // Even the right password is refused while locked.
    t.post(
        "/api/v1/auth/login",
        json!({"login": "ido", "password": PW}),
    )
    .await
    .error(429, "account_locked");
    let locked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE event_type = 'account_locked' AND subject_id = $1",
    )
    .bind(id)
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert_eq!(locked, 1);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn register_and_reset_are_throttled_per_ip(db: PgPool) {
    let t = setup(db).await;
    for i in 0..3 {
        t.send(req("POST", "/api/v1/auth/register").ip("203.0.113.9").json(json!({"email": format!("r{i}@example.com"), "username": format!("reg{i}"), "password": PW})))
            .await
            .expect(202);
    }
    t.send(
        req("POST", "/api/v1/auth/register")
            .ip("203.0.113.9")
            .json(json!({"email": "r9@example.com", "username": "reg9", "password": PW})),
    )
    .await
    .error(429, "rate_limited");
    for _ in 0..3 {
        t.send(
            req("POST", "/api/v1/auth/forgot-password")
                .ip("203.0.113.10")
                .json(json!({"email": "x@example.com"})),
        )
        .await
        .expect(202);
    }
    t.send(
        req("POST", "/api/v1/auth/forgot-password")
            .ip("203.0.113.10")
            .json(json!({"email": "y@example.com"})),
    )
    .await
    .error(429, "rate_limited");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn refresh_rotates_and_reuse_revokes_the_family(db: PgPool) {
    let t = setup(db).await;
    let id = t.user("keren", PW).await;
    let first = t.login("keren", PW).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let second = t
        .post("/api/v1/auth/refresh", json!({"refresh_token": rt1}))
        .await
        .expect(200)
        .body;
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    let at2 = second["access_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    t.send(req("GET", "/api/v1/users/me").bearer(&at2))
        .await
        .expect(200);

    // The old token comes back: the family dies, including the newest tokens.
    t.post("/api/v1/auth/refresh", json!({"refresh_token": rt1}))
        .await
        .error(401, "invalid_token");
    t.post("/api/v1/auth/refresh", json!({"refresh_token": rt2}))
        .await
        .error(401, "invalid_token");
    t.send(req("GET", "/api/v1/users/me").bearer(&at2))
        .await
        .error(401, "invalid_token");
    let reused: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE event_type = 'refresh_token_reused' AND subject_id = $1")
        .bind(id)
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(reused, 1);
    // Refresh tokens are stored hashed, never in plaintext.
    let plain: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'")
        .bind(&rt2)
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(plain, 0);
    t.post("/api/v1/auth/refresh", json!({"refresh_token": "garbage"}))
        .await
        .error(401, "invalid_token");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn logout_one_and_all_devices(db: PgPool) {
    let t = setup(db).await;
    t.user("lior", PW).await;
    let a = t.login("lior", PW).await;
    let b = t.login("lior", PW).await;
    let c = t.login("lior", PW).await;
    // By refresh token.
    t.post(
        "/api/v1/auth/logout",
        json!({"refresh_token": a["refresh_token"]}),
    )
    .await
    .expect(204);
    t.post(
        "/api/v1/auth/refresh",
        json!({"refresh_token": a["refresh_token"]}),
    )
    .await
    .error(401, "invalid_token");
    t.send(req("GET", "/api/v1/users/me").bearer(a["access_token"].as_str().unwrap()))
        .await
        .expect(401);
    // Bearer only, no body: this session.
    t.send(req("POST", "/api/v1/auth/logout").bearer(b["access_token"].as_str().unwrap()))
        .await
        .expect(204);
    t.send(req("GET", "/api/v1/users/me").bearer(c["access_token"].as_str().unwrap()))
        .await
        .expect(200);
    // All devices.
    let d = t.login("lior", PW).await;
    t.send(
        req("POST", "/api/v1/auth/logout")
            .bearer(d["access_token"].as_str().unwrap())
            .json(json!({"all_devices": true})),
    )
    .await
    .expect(204);
    t.send(req("GET", "/api/v1/users/me").bearer(c["access_token"].as_str().unwrap()))
        .await
        .expect(401);
    // Nothing to identify the session.
    t.post("/api/v1/auth/logout", json!({}))
        .await
        .error(401, "unauthorized");
    t.post("/api/v1/auth/logout", json!({"all_devices": "yes"}))
        .await
        .error(422, "validation_failed");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn forgot_and_reset_password(db: PgPool) {
    let t = setup(db).await;
    t.user("maya", PW).await;
    let session = t.login("maya", PW).await;
    // Unknown address: same answer, no mail.
    t.post(
        "/api/v1/auth/forgot-password",
        json!({"email": "ghost@example.com"}),
    )
    .await
    .expect(202);
    let ghost: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE to_email = 'ghost@example.com'")
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!(ghost, 0);
    t.post(
        "/api/v1/auth/forgot-password",
        json!({"email": "MAYA@example.com"}),
    )
    .await
    .expect(202);
    let token = t.mailed_token("maya@example.com", "reset_password").await;
    // The current password counts as recently used.
    t.post(
        "/api/v1/auth/reset-password",
        json!({"token": token, "new_password": PW}),
    )
    .await
    .error(422, "validation_failed");
    t.post(
        "/api/v1/auth/reset-password",
        json!({"token": token, "new_password": "a brand new secret"}),
    )
    .await
    .expect(200);
    // Single use, and every session ended.
    t.post(
        "/api/v1/auth/reset-password",
        json!({"token": token, "new_password": "another new secret"}),
    )
    .await
    .error(400, "invalid_token");
    t.send(req("GET", "/api/v1/users/me").bearer(session["access_token"].as_str().unwrap()))
        .await
        .expect(401);
    t.post(
        "/api/v1/auth/login",
        json!({"login": "maya", "password": PW}),
    )
    .await
    .error(401, "invalid_credentials");
    t.login("maya", "a brand new secret").await;
    t.post(
        "/api/v1/auth/reset-password",
        json!({"token": "nope", "new_password": "a brand new secret"}),
    )
    .await
    .error(400, "invalid_token");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn deactivated_accounts_cannot_sign_in(db: PgPool) {
    let t = setup(db).await;
    let id = t.user("noa", PW).await;
    sqlx::query("UPDATE users SET status = 'deactivated' WHERE id = $1")
        .bind(id)
        .execute(&t.db)
        .await
        .unwrap();
    t.post(
        "/api/v1/auth/login",
        json!({"login": "noa", "password": PW}),
    )
    .await
    .error(403, "account_disabled");
    // A wrong password still gets the generic answer.
    t.post(
        "/api/v1/auth/login",
        json!({"login": "noa", "password": "wrong password!"}),
    )
    .await
    .error(401, "invalid_credentials");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn access_ttl_override_shortens_login_and_refresh_tokens(db: PgPool) {
    let t = setup_with(db, &[("ULM_ACCESS_TTL_SECS", "20")]).await;
    t.user("tal", PW).await;
    let body = t.login("tal", PW).await;
    assert_eq!(
        body["expires_in"], 20,
        "the override beats the policy's 15 minutes"
    );
    let jwks: Jwks = serde_json::from_value(
        t.send(req("GET", "/api/v1/.well-known/jwks.json"))
            .await
            .expect(200)
            .body,
    )
    .unwrap();
    let v = JwtVerifier::new("ovu-ulm", "ovu");
    v.set_jwks(&jwks).unwrap();
    let claims = v.verify(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.exp - claims.iat, 20);
    let r = t
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": body["refresh_token"]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["expires_in"], 20, "refreshed tokens too");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn lockout_counts_per_account_whatever_name_is_used(db: PgPool) {
    let t = setup_with(
        db,
        &[
            ("ULM_LOCKOUT_THRESHOLD", "3"),
            ("ULM_RATE_LOGIN_PER_MIN", "100"),
        ],
    )
    .await;
    t.user("dvir", PW).await;
    for login in ["dvir", "dvir@example.com"] {
        t.post(
            "/api/v1/auth/login",
            json!({"login": login, "password": "wrong password!"}),
        )
        .await
        .expect(401);
    }
    // The third failure locks the one account, though no single name failed three times.
    t.post(
        "/api/v1/auth/login",
        json!({"login": "DVIR", "password": "wrong password!"}),
    )
    .await;
    t.post(
        "/api/v1/auth/login",
        json!({"login": "dvir@example.com", "password": PW}),
    )
    .await
    .error(429, "account_locked");
}

/// A Redis of one test's own on a Unix socket (stopping it disturbs no other test), stopped
/// on drop.
struct OwnRedis {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl OwnRedis {
    async fn start(socket: &std::path::Path) -> Self {
        let _ = std::fs::remove_file(socket);
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/deps.sh installs it)");
        // Owned from here, so a panic below still stops it (Drop).
        let me = Self {
            child,
            socket: socket.to_path_buf(),
        };
        for _ in 0..100 {
            if tokio::net::UnixStream::connect(socket).await.is_ok() {
                return me;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not listen on {}", socket.display());
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis down: sign-in fails closed — the throttle and lockout cannot be consulted, so no
/// one signs in, with a clear 503 `upstream_unavailable` (never a 500, never a token) — and
/// sign-in works again by itself once Redis is back.
///
/// Every answer must come promptly (`ANSWER_WITHIN`, ten times the configured Redis
/// timeout): before `connect_redis` stopped retrying inside the shared reconnect, the
/// second request waited about 118 s for its 503, and the first one after Redis returned
/// as long again. The bound is a hang detector, not a latency target.
#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn with_redis_down_sign_in_fails_closed_and_recovers(db: PgPool) {
    let dir = std::env::temp_dir().join(format!("ovu-ulm-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("redis.sock");
    let redis = OwnRedis::start(&socket).await;
    let t = setup_with(
        db,
        &[("REDIS_URL", &redis.url()), ("REDIS_TIMEOUT_MS", "500")],
    )
    .await;
    t.user("noa", PW).await;
    t.login("noa", PW).await;

    const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);
    let login = |password: &'static str, what: &'static str| {
        let t = &t;
        async move {
            let sent = t.send_expecting_5xx(
                req("POST", "/api/v1/auth/login")
                    .json(json!({"login": "noa", "password": password})),
            );
            tokio::time::timeout(ANSWER_WITHIN, sent)
                .await
                .unwrap_or_else(|_| panic!("{what}: no answer within {ANSWER_WITHIN:?}"))
        }
    };

    drop(redis);
    // Three tries: the first notices the dead connection, the next ones reconnect.
    for (password, what) in [
        (PW, "the right password"),
        ("wrong password!", "a wrong one"),
        (PW, "the right password again"),
    ] {
        let r = login(password, what).await;
        assert!(
            r.body.get("access_token").is_none(),
            "{what}: signed in without Redis"
        );
        r.error(503, "upstream_unavailable");
    }

    let _redis = OwnRedis::start(&socket).await;
    let mut last = None;
    for _ in 0..100 {
        let r = login(PW, "after Redis came back").await;
        if r.status == 200 {
            assert!(r.body["access_token"].is_string());
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        last = Some((r.status, r.body));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("sign-in did not recover after Redis came back: {last:?}");
}
