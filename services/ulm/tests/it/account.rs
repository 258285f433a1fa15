//! The signed-in person: profile, password, sessions, MFA and API keys.

use crate::common;

use common::*;
use ovu_ulm::totp;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn profile_update_and_conflicts(db: PgPool) {
    let t = setup(db).await;
    t.user("omer", PW).await;
    t.user("taken", PW).await;
    let tok = t.token("omer", PW).await;
    let r = t
        .send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({"display_name": "Omer L", "preferred_language": "he"})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["display_name"], "Omer L");
    assert_eq!(r.body["preferred_language"], "he");
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"username": "TAKEN"})),
    )
    .await
    .error(409, "conflict");
    // E-mail change needs the current password, then a new verification.
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"email": "new@example.com"})),
    )
    .await
    .error(422, "validation_failed");
    let r = t
        .send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({"email": "new@example.com", "current_password": PW})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["email_verified"], false);
    t.mailed_token("new@example.com", "verify_email").await;
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"preferred_language": "xx"})),
    )
    .await
    .error(422, "validation_failed");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn password_change_rules_and_session_ending(db: PgPool) {
    // Re-entering the password counts towards the account's login limit (see
    // reentering_the_password_is_rate_limited_per_account); this test is about the rules.
    let t = setup_with(db, &[("ULM_RATE_LOGIN_PER_MIN", "100")]).await;
    t.user("pnina", PW).await;
    let other = t.login("pnina", PW).await;
    let tok = t.token("pnina", PW).await;
    let url = "/api/v1/users/me/password";
    t.send(
        req("POST", url)
            .bearer(&tok)
            .json(json!({"current_password": "not it at all", "new_password": "fresh secret one"})),
    )
    .await
    .error(422, "validation_failed");
    t.send(
        req("POST", url)
            .bearer(&tok)
            .json(json!({"current_password": PW, "new_password": "qwertyuiop"})),
    )
    .await
    .error(422, "validation_failed");
    t.send(
        req("POST", url)
            .bearer(&tok)
            .json(json!({"current_password": PW, "new_password": "fresh secret one"})),
    )
    .await
    .expect(204);
    // Other sessions end; this one survives.
    t.send(req("GET", "/api/v1/users/me").bearer(other["access_token"].as_str().unwrap()))
        .await
        .expect(401);
    t.send(req("GET", "/api/v1/users/me").bearer(&tok))
        .await
        .expect(200);
    // None of the last five may come back.
    let mut current = "fresh secret one".to_string();
    for n in 2..=5 {
        let next = format!("fresh secret {n}x");
        t.send(
            req("POST", url)
                .bearer(&tok)
                .json(json!({"current_password": current, "new_password": next})),
        )
        .await
        .expect(204);
        current = next;
    }
    let r = t
        .send(
            req("POST", url)
                .bearer(&tok)
                .json(json!({"current_password": current, "new_password": "fresh secret one"})),
        )
        .await
        .error(422, "validation_failed");
    assert_eq!(r.body["error"]["details"]["reason"], "reused");
    // Six changes ago is allowed again.
    t.send(
        req("POST", url)
            .bearer(&tok)
            .json(json!({"current_password": current, "new_password": PW})),
    )
    .await
    .expect(204);
    assert_eq!(t.audit_count("password_changed").await, 6);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn list_and_end_own_sessions(db: PgPool) {
    let t = setup(db).await;
    t.user("rina", PW).await;
    let a = t.login("rina", PW).await;
    let tok = t.token("rina", PW).await;
    let list = t
        .send(req("GET", "/api/v1/users/me/sessions").bearer(&tok))
        .await
        .expect(200)
        .body;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.send(req("DELETE", &format!("/api/v1/users/me/sessions/{other}")).bearer(&tok))
        .await
        .expect(204);
    t.send(req("GET", "/api/v1/users/me").bearer(a["access_token"].as_str().unwrap()))
        .await
        .expect(401);
    t.send(req("DELETE", &format!("/api/v1/users/me/sessions/{other}")).bearer(&tok))
        .await
        .error(404, "not_found");
    t.send(
        req(
            "DELETE",
            &format!("/api/v1/users/me/sessions/{}", Uuid::new_v4()),
        )
        .bearer(&tok),
    )
    .await
    .error(404, "not_found");
    t.send(req("DELETE", "/api/v1/users/me/sessions/not-a-uuid").bearer(&tok))
        .await
        .error(400, "invalid_path");
    // Someone else's session is not yours to end.
    t.user("sara", PW).await;
    let sara = t.token("sara", PW).await;
    let mine = t
        .send(req("GET", "/api/v1/users/me/sessions").bearer(&tok))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.send(req("DELETE", &format!("/api/v1/users/me/sessions/{mine}")).bearer(&sara))
        .await
        .error(404, "not_found");
}

fn now_step() -> u64 {
    chrono::Utc::now().timestamp() as u64 / totp::STEP
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn mfa_enrolment_login_replay_recovery_and_disable(db: PgPool) {
    let t = setup_with(db, &[("ULM_RATE_LOGIN_PER_MIN", "100")]).await;
    let id = t.user("tamar", PW).await;
    let other = t.login("tamar", PW).await;
    let tok = t.token("tamar", PW).await;
    t.send(
        req("POST", "/api/v1/auth/mfa/enable")
            .bearer(&tok)
            .json(json!({"code": "123456"})),
    )
    .await
    .error(409, "conflict");
    let setup = t
        .send(req("POST", "/api/v1/auth/mfa/setup").bearer(&tok))
        .await
        .expect(200)
        .body;
    assert!(
        setup["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/OVU:")
    );
    let secret: Vec<u8> = sqlx::query_scalar("SELECT mfa_pending_secret FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(totp::base32(&secret), setup["secret"]);
    let step = now_step();
    t.send(
        req("POST", "/api/v1/auth/mfa/enable")
            .bearer(&tok)
            .json(json!({"code": "000000"})),
    )
    .await
    .error(422, "validation_failed");
    let codes = t
        .send(
            req("POST", "/api/v1/auth/mfa/enable")
                .bearer(&tok)
                .json(json!({"code": totp::code_at_step(&secret, step)})),
        )
        .await
        .expect(200)
        .body["recovery_codes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(codes.len(), 10);
    // Enabling MFA ended the other session.
    t.send(req("GET", "/api/v1/users/me").bearer(other["access_token"].as_str().unwrap()))
        .await
        .expect(401);
    t.send(req("POST", "/api/v1/auth/mfa/setup").bearer(&tok))
        .await
        .error(409, "conflict");

    // Login now needs the second step.
    let ch = t
        .post(
            "/api/v1/auth/login",
            json!({"login": "tamar", "password": PW}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(ch["mfa_required"], true);
    assert!(ch.get("access_token").is_none());
    let mfa_token = ch["mfa_token"].as_str().unwrap();
    // The code used for enabling cannot be replayed.
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": mfa_token, "code": totp::code_at_step(&secret, step)}),
    )
    .await
    .error(401, "invalid_code");
    let ok = t
        .post(
            "/api/v1/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": totp::code_at_step(&secret, step + 1)}),
        )
        .await
        .expect(200)
        .body;
    let claims = t
        .state
        .verifier
        .verify(ok["access_token"].as_str().unwrap())
        .unwrap();
    assert!(claims.mfa);
    // The challenge is single-use.
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": mfa_token, "code": totp::code_at_step(&secret, step + 1)}),
    )
    .await
    .error(401, "invalid_token");

    // A recovery code works once.
    let rc = codes[0].as_str().unwrap();
    let ch = t.login("tamar", PW).await;
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": ch["mfa_token"], "code": rc.to_uppercase()}),
    )
    .await
    .expect(200);
    let ch = t.login("tamar", PW).await;
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": ch["mfa_token"], "code": rc}),
    )
    .await
    .error(401, "invalid_code");
    // Recovery codes are stored hashed.
    let plain: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE encode(code_hash, 'escape') LIKE '%' || $1 || '%'")
        .bind(rc.replace('-', ""))
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(plain, 0);

    // Too many wrong codes: see mfa_failures_count_per_account_across_logins.

    // Disable: needs the password and a code.
    let tok = ok["access_token"].as_str().unwrap();
    t.send(
        req("POST", "/api/v1/auth/mfa/disable")
            .bearer(tok)
            .json(json!({"password": "wrong one!", "code": codes[1]})),
    )
    .await
    .error(422, "validation_failed");
    t.send(
        req("POST", "/api/v1/auth/mfa/disable")
            .bearer(tok)
            .json(json!({"password": PW, "code": codes[1]})),
    )
    .await
    .expect(204);
    t.login("tamar", PW).await["access_token"].as_str().unwrap();
    assert_eq!(t.audit_count("mfa_enabled").await, 1);
    assert_eq!(t.audit_count("mfa_disabled").await, 1);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn api_keys_scoped_hashed_revocable(db: PgPool) {
    let t = setup(db).await;
    let (_, admin) = t.with_role("uri", "admin").await;
    let url = "/api/v1/api-keys";
    let created = t
        .send(
            req("POST", url)
                .bearer(&admin)
                .json(json!({"name": "ci", "scopes": ["users:read"]})),
        )
        .await
        .expect(201)
        .body;
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("ovuk_") && key.len() > 40);
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    // Duplicate name, scope not held, past expiry.
    t.send(
        req("POST", url)
            .bearer(&admin)
            .json(json!({"name": "CI", "scopes": []})),
    )
    .await
    .error(409, "conflict");
    t.send(
        req("POST", url)
            .bearer(&admin)
            .json(json!({"name": "x", "scopes": ["settings:write"]})),
    )
    .await
    .error(422, "validation_failed");
    t.send(
        req("POST", url)
            .bearer(&admin)
            .json(json!({"name": "y", "scopes": [], "expires_at": "2000-01-01T00:00:00Z"})),
    )
    .await
    .error(422, "validation_failed");

    // The key works both ways, within its scopes only.
    t.send(req("GET", "/api/v1/users/me").header("x-api-key", &key))
        .await
        .expect(200);
    let r = t
        .send(req("GET", "/api/v1/users").header("authorization", &format!("ApiKey {key}")))
        .await
        .expect(200);
    assert!(r.headers.contains_key("x-total-count"));
    t.send(req("GET", "/api/v1/roles").header("x-api-key", &key))
        .await
        .error(403, "forbidden");
    // A key cannot mint keys or change credentials.
    t.send(
        req("POST", url)
            .header("x-api-key", &key)
            .json(json!({"name": "z", "scopes": []})),
    )
    .await
    .error(403, "forbidden");
    t.send(
        req("POST", "/api/v1/users/me/password")
            .header("x-api-key", &key)
            .json(json!({"current_password": PW, "new_password": "zzz zzz zzz"})),
    )
    .await
    .error(403, "forbidden");

    let list = t
        .send(req("GET", url).bearer(&admin))
        .await
        .expect(200)
        .body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("key").is_none());
    assert!(list[0]["last_used_at"].is_string());
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE encode(key_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind(&key[5..])
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    let id = created["id"].as_str().unwrap();
    t.send(req("DELETE", &format!("{url}/{id}")).bearer(&admin))
        .await
        .expect(204);
    t.send(req("DELETE", &format!("{url}/{id}")).bearer(&admin))
        .await
        .error(404, "not_found");
    t.send(req("GET", "/api/v1/users/me").header("x-api-key", &key))
        .await
        .error(401, "invalid_token");
    t.send(req("GET", "/api/v1/users/me").header("x-api-key", "ovuk_nonsense"))
        .await
        .error(401, "invalid_token");

    // An expired key is refused as expired.
    let k2 = t
        .send(
            req("POST", url)
                .bearer(&admin)
                .json(json!({"name": "short", "scopes": []})),
        )
        .await
        .expect(201)
        .body;
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(k2["id"].as_str().unwrap())
        .execute(&t.db)
        .await
        .unwrap();
    t.send(req("GET", "/api/v1/users/me").header("x-api-key", k2["key"].as_str().unwrap()))
        .await
        .error(401, "token_expired");
    assert_eq!(t.audit_count("api_key_created").await, 2);
    assert_eq!(t.audit_count("api_key_revoked").await, 1);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn me_is_fresh_after_writes_through_this_replica(db: PgPool) {
    let t = setup(db).await;
    t.user("vika", PW).await;
    let tok = t.token("vika", PW).await;
    assert_eq!(
        t.send(req("GET", "/api/v1/users/me").bearer(&tok))
            .await
            .expect(200)
            .body["display_name"],
        ""
    );
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"display_name": "Vika"})),
    )
    .await
    .expect(200);
    assert_eq!(
        t.send(req("GET", "/api/v1/users/me").bearer(&tok))
            .await
            .expect(200)
            .body["display_name"],
        "Vika"
    );
    t.send(req("POST", "/api/v1/auth/logout").bearer(&tok))
        .await
        .expect(204);
    t.send(req("GET", "/api/v1/users/me").bearer(&tok))
        .await
        .error(401, "invalid_token");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn profile_phone_is_normalised_validated_and_cleared(db: PgPool) {
    let t = setup(db).await;
    t.user("noa", PW).await;
    let tok = t.token("noa", PW).await;
    let me = t
        .send(req("GET", "/api/v1/users/me").bearer(&tok))
        .await
        .expect(200);
    assert_eq!(me.body["phone"], "", "no phone until one is set");

    let r = t
        .send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({"phone": " +972 (50) 123-4567 "})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "+972501234567");
    let me = t
        .send(req("GET", "/api/v1/users/me").bearer(&tok))
        .await
        .expect(200);
    assert_eq!(me.body["phone"], "+972501234567");

    // Another field's edit leaves the phone alone.
    let r = t
        .send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({"display_name": "Noa"})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "+972501234567");

    // Bad input: the shared shape, the field, a stable reason, and a message naming it.
    for bad in [
        json!("0501234567"),
        json!("+123"),
        json!("+9725012345678901"),
        json!("+972-50-CALL-ME"),
    ] {
        let e = t
            .send(
                req("PATCH", "/api/v1/users/me")
                    .bearer(&tok)
                    .json(json!({ "phone": bad })),
            )
            .await
            .error(422, "validation_failed");
        assert_eq!(e.body["error"]["details"]["field"], "phone", "{bad}");
        assert_eq!(
            e.body["error"]["details"]["reason"], "invalid_phone",
            "{bad}"
        );
        assert!(
            e.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("phone"),
            "{}",
            e.body
        );
    }
    // A wrong type is refused before it reaches the rules, still in the shared shape.
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"phone": 972501234567_u64})),
    )
    .await
    .error(422, "validation_failed");
    // A refused edit changed nothing.
    let me = t
        .send(req("GET", "/api/v1/users/me").bearer(&tok))
        .await
        .expect(200);
    assert_eq!(me.body["phone"], "+972501234567");

    // The audit names the field, never the number.
    let details: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE event_type = 'profile_updated' ORDER BY id LIMIT 1",
    )
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert_eq!(details["fields"], json!(["phone"]));

    let r = t
        .send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({"phone": ""})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "", "empty clears it");
}

/// Enrols `name` (password PW) in MFA; returns the TOTP secret and the step used.
async fn enrol(t: &T, id: Uuid, name: &str) -> (Vec<u8>, u64) {
    let tok = t.token(name, PW).await;
    t.send(req("POST", "/api/v1/auth/mfa/setup").bearer(&tok))
        .await
        .expect(200);
    let secret: Vec<u8> = sqlx::query_scalar("SELECT mfa_pending_secret FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&t.db)
        .await
        .unwrap();
    let step = now_step();
    t.send(
        req("POST", "/api/v1/auth/mfa/enable")
            .bearer(&tok)
            .json(json!({"code": totp::code_at_step(&secret, step)})),
    )
    .await
    .expect(200);
    (secret, step)
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn mfa_failures_count_per_account_across_logins(db: PgPool) {
    let t = setup_with(db, &[("ULM_RATE_LOGIN_PER_MIN", "100")]).await;
    let id = t.user("noa", PW).await;
    let (secret, step) = enrol(&t, id, "noa").await;
    let wrong = |ch: &serde_json::Value| json!({"mfa_token": ch["mfa_token"], "code": "000000"});
    let first = t.login("noa", PW).await;
    for _ in 0..3 {
        t.post("/api/v1/auth/login/mfa", wrong(&first))
            .await
            .error(401, "invalid_code");
    }
    // A new password login (by the other name, too) gives no fresh set of attempts.
    let second = t.login("noa@example.com", PW).await;
    assert_eq!(second["mfa_required"], true);
    t.post("/api/v1/auth/login/mfa", wrong(&second))
        .await
        .error(401, "invalid_code");
    let r = t
        .post("/api/v1/auth/login/mfa", wrong(&second))
        .await
        .error(429, "account_locked");
    assert!(r.headers.contains_key("retry-after"));
    // Locked: the right code on the other live challenge is refused, and a new password
    // login gets no challenge at all.
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": first["mfa_token"], "code": totp::code_at_step(&secret, step + 1)}),
    )
    .await
    .error(429, "account_locked");
    t.post(
        "/api/v1/auth/login",
        json!({"login": "noa", "password": PW}),
    )
    .await
    .error(429, "account_locked");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn old_80_bit_recovery_codes_no_longer_sign_in(db: PgPool) {
    let t = setup_with(db, &[("ULM_RATE_LOGIN_PER_MIN", "100")]).await;
    let id = t.user("ziv", PW).await;
    let tok = t.token("ziv", PW).await;
    t.send(req("POST", "/api/v1/auth/mfa/setup").bearer(&tok))
        .await
        .expect(200);
    let secret: Vec<u8> = sqlx::query_scalar("SELECT mfa_pending_secret FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&t.db)
        .await
        .unwrap();
    let codes = t
        .send(
            req("POST", "/api/v1/auth/mfa/enable")
                .bearer(&tok)
                .json(json!({"code": totp::code_at_step(&secret, now_step())})),
        )
        .await
        .expect(200)
        .body["recovery_codes"]
        .as_array()
        .unwrap()
        .clone();
    // A code as ULM issued them before: 16 base32 characters (80 bits) in four groups,
    // stored as the SHA-256 of the user id and the normalised code, beside the new ones.
    let old = "k7qa-m2xr-p4zt-b6wd";
    sqlx::query("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
        .bind(id)
        .bind(totp::recovery_hash(id, old))
        .execute(&t.db)
        .await
        .unwrap();

    // A new code signs in.
    let ch = t.login("ziv", PW).await;
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": ch["mfa_token"], "code": codes[0]}),
    )
    .await
    .expect(200);
    // The old one, in any spelling, is a wrong code: same answer, and it counts towards the
    // lockout like any other wrong code (5 per account).
    let ch = t.login("ziv", PW).await;
    for code in [old, &old.to_uppercase(), &old.replace('-', ""), old] {
        t.post(
            "/api/v1/auth/login/mfa",
            json!({"mfa_token": ch["mfa_token"], "code": code}),
        )
        .await
        .error(401, "invalid_code");
    }
    assert_eq!(t.audit_count("mfa_failed").await, 4);
    t.post(
        "/api/v1/auth/login/mfa",
        json!({"mfa_token": ch["mfa_token"], "code": old}),
    )
    .await
    .error(429, "account_locked");
    // Refused, not consumed: the row is still there, unused, and simply never matches.
    let unused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
            .bind(id)
            .bind(totp::recovery_hash(id, old))
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!(unused, 1);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn reentering_the_password_shares_the_login_lockout(db: PgPool) {
    let t = setup_with(
        db,
        &[
            ("ULM_LOCKOUT_THRESHOLD", "3"),
            ("ULM_RATE_LOGIN_PER_MIN", "100"),
        ],
    )
    .await;
    t.user("rina", PW).await;
    let tok = t.token("rina", PW).await;
    let change = |current: &str| {
        req("POST", "/api/v1/users/me/password")
            .bearer(&tok)
            .json(json!({"current_password": current, "new_password": "fresh secret one"}))
    };
    // Change password, change e-mail and disable MFA all ask for the password: one counter.
    t.send(change("wrong guess one"))
        .await
        .error(422, "validation_failed");
    t.send(
        req("PATCH", "/api/v1/users/me")
            .bearer(&tok)
            .json(json!({"email": "rina2@example.com", "current_password": "wrong guess two"})),
    )
    .await
    .error(422, "validation_failed");
    let r = t
        .send(
            req("POST", "/api/v1/auth/mfa/disable")
                .bearer(&tok)
                .json(json!({"password": "wrong guess three", "code": "000000"})),
        )
        .await
        .error(429, "account_locked");
    assert!(r.headers.contains_key("retry-after"));
    // The same lock as login's: the right password is refused everywhere while it lasts.
    t.send(change(PW)).await.error(429, "account_locked");
    t.post(
        "/api/v1/auth/login",
        json!({"login": "rina", "password": PW}),
    )
    .await
    .error(429, "account_locked");
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn reentering_the_password_is_rate_limited_per_account(db: PgPool) {
    let t = setup_with(db, &[("ULM_RATE_LOGIN_PER_MIN", "3")]).await;
    t.user("yael", PW).await;
    // The login itself is the first of three attempts this minute.
    let tok = t.token("yael", PW).await;
    for _ in 0..2 {
        t.send(
            req("POST", "/api/v1/users/me/password").bearer(&tok).json(
                json!({"current_password": "wrong guess", "new_password": "fresh secret one"}),
            ),
        )
        .await
        .error(422, "validation_failed");
    }
    let r = t
        .send(
            req("POST", "/api/v1/users/me/password")
                .bearer(&tok)
                .json(json!({"current_password": PW, "new_password": "fresh secret one"})),
        )
        .await
        .error(429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
}
