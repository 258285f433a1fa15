//! Bad input everywhere gets the error shape and the right 4xx, never a 500; plus the
//! operational endpoints (health, ready, metrics, OpenAPI, docs).

use crate::common;

use common::*;
use ovu_kit::jwt::AccessClaims;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn malformed_bodies(db: PgPool) {
    let t = setup(db).await;
    let tok = {
        t.user("badin", PW).await;
        t.token("badin", PW).await
    };
    let posts = [
        "/api/v1/auth/register",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/login",
        "/api/v1/auth/login/mfa",
        "/api/v1/auth/refresh",
        "/api/v1/auth/forgot-password",
        "/api/v1/auth/reset-password",
        "/api/v1/auth/mfa/enable",
        "/api/v1/auth/mfa/disable",
        "/api/v1/users/me/password",
        "/api/v1/api-keys",
        "/api/v1/users",
        "/api/v1/roles",
    ];
    for url in posts {
        t.send(
            req("POST", url)
                .bearer(&tok)
                .raw(Some("application/json"), "{not json"),
        )
        .await
        .error(400, "malformed_json");
        t.send(
            req("POST", url)
                .bearer(&tok)
                .raw(Some("application/json"), "{}"),
        )
        .await
        .error(422, "validation_failed");
        t.send(
            req("POST", url)
                .bearer(&tok)
                .raw(Some("application/json"), "[1,2]"),
        )
        .await
        .error(422, "validation_failed");
        t.send(req("POST", url).bearer(&tok).raw(Some("text/plain"), "{}"))
            .await
            .error(415, "unsupported_media_type");
        t.send(req("POST", url).bearer(&tok).raw(None, ""))
            .await
            .error(415, "unsupported_media_type");
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(70 * 1024));
        t.send(
            req("POST", url)
                .bearer(&tok)
                .raw(Some("application/json"), big),
        )
        .await
        .error(413, "payload_too_large");
    }
    // Wrong types name the field.
    let r = t
        .post("/api/v1/auth/login", json!({"login": 5, "password": PW}))
        .await
        .error(422, "validation_failed");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("login")
    );
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"display_name": ["x"]})),
    )
    .await
    .error(422, "validation_failed");
    t.send(
        req("PUT", "/api/v1/admin/token-policy")
            .bearer(&tok)
            .json(json!({"access_ttl_minutes": "15"})),
    )
    .await
    .error(422, "validation_failed");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn routing_errors_use_the_shape(db: PgPool) {
    let t = setup(db).await;
    t.send(req("GET", "/api/v1/nope"))
        .await
        .error(404, "not_found");
    t.send(req("GET", "/")).await.error(404, "not_found");
    t.send(req("DELETE", "/api/v1/auth/login"))
        .await
        .error(405, "method_not_allowed");
    t.send(req("GET", "/api/v1/auth/register"))
        .await
        .error(405, "method_not_allowed");
    let (_, admin) = t.with_role("router", "admin").await;
    t.send(req("GET", "/api/v1/users/not-a-uuid").bearer(&admin))
        .await
        .error(400, "invalid_path");
    t.send(req("GET", &format!("/api/v1/users/{}", Uuid::new_v4())).bearer(&admin))
        .await
        .error(404, "not_found");
    t.send(req("GET", &format!("/api/v1/roles/{}", Uuid::new_v4())).bearer(&admin))
        .await
        .error(404, "not_found");
    t.send(req("DELETE", &format!("/api/v1/api-keys/{}", Uuid::new_v4())).bearer(&admin))
        .await
        .error(404, "not_found");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn bad_and_expired_tokens(db: PgPool) {
    let t = setup(db).await;
    let id = t.user("tok", PW).await;
    let good = t.token("tok", PW).await;
    for h in [
        "Bearer",
        "Bearer ",
        "Bearer abc.def.ghi",
        "Basic dXNlcjpwYXNz",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
    ] {
        let r = t
            .send(req("GET", "/api/v1/users/me").header("authorization", h))
            .await;
        assert_eq!(r.status, 401, "{h}: {}", r.body);
        assert!(["invalid_token", "unauthorized"].contains(&r.code()), "{h}");
    }
    // A token signed by another key (same kid claimed).
    let stranger = ovu_ulm::signing::Signer::ephemeral();
    let claims: AccessClaims = (*t.state.verifier.verify(&good).unwrap()).clone();
    let forged = stranger.sign(&claims).unwrap();
    t.send(req("GET", "/api/v1/users/me").bearer(&forged))
        .await
        .error(401, "invalid_token");
    // Expired, properly signed.
    let mut old = claims.clone();
    old.exp = chrono::Utc::now().timestamp() - 120;
    old.iat = old.exp - 900;
    old.nbf = old.iat;
    let expired = t.state.signer.sign(&old).unwrap();
    t.send(req("GET", "/api/v1/users/me").bearer(&expired))
        .await
        .error(401, "token_expired");
    t.send(req("GET", "/api/v1/users/me/sessions").bearer(&expired))
        .await
        .error(401, "token_expired");
    // Wrong audience.
    let mut aud = claims.clone();
    aud.aud = "someone-else".into();
    t.send(req("GET", "/api/v1/users/me").bearer(&t.state.signer.sign(&aud).unwrap()))
        .await
        .error(401, "invalid_token");
    // A valid token for a session that does not exist.
    let mut ghost = claims;
    ghost.sid = Uuid::new_v4();
    t.send(req("GET", "/api/v1/users/me").bearer(&t.state.signer.sign(&ghost).unwrap()))
        .await
        .error(401, "invalid_token");
    // A deleted user's token.
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&t.db)
        .await
        .unwrap();
    t.send(req("GET", "/api/v1/users/me").bearer(&good))
        .await
        .error(401, "invalid_token");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn operational_endpoints_and_headers(db: PgPool) {
    let t = setup(db).await;
    let r = t.send(req("GET", "/api/health")).await.expect(200);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(
        r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(r.headers.contains_key("x-request-id"));
    let r = t.send(req("GET", "/api/ready")).await.expect(200);
    assert_eq!(r.body["postgres"]["ok"], true);
    assert_eq!(r.body["redis"]["ok"], true);
    let r = t
        .send(req("GET", "/api/health").header("x-request-id", "trace-me-42"))
        .await;
    assert_eq!(r.headers["x-request-id"], "trace-me-42");

    let doc = t
        .send(req("GET", "/api/openapi.json"))
        .await
        .expect(200)
        .body;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{}", paths.len());
    for p in [
        "/api/v1/auth/login",
        "/api/v1/users/{id}",
        "/api/v1/admin/token-policy",
        "/api/v1/.well-known/jwks.json",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    // Every $ref resolves (a dangling one makes clients and schemathesis give up).
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = vec![];
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("local schema ref");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling {r}"
        );
    }
    assert!(doc["paths"]["/api/v1/users"]["get"]["responses"]["403"].is_object());
    let r = t.send(req("GET", "/api/docs")).await.expect(200);
    assert!(r.body.as_str().unwrap().contains("/api/openapi.json"));
    assert!(
        r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    t.send(req("GET", "/api/docs/docs.js")).await.expect(200);

    let jwks = t
        .send(req("GET", "/.well-known/jwks.json"))
        .await
        .expect(200)
        .body;
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "private key material published"
    );

    let m = t.send(req("GET", "/metrics")).await.expect(200);
    let text = m.body.as_str().unwrap();
    assert!(text.contains(r#"path="/api/ready""#), "{text}");
    assert!(text.contains("http_request_duration_seconds"));
}
