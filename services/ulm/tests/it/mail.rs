//! Real mail: ULM's worker delivers over SMTP to Mailpit, the outbox holds no secret, and a
//! mail server outage delays mail without losing or duplicating it.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;
use sqlx::PgPool;

async fn register(t: &T, name: &str) -> String {
    let email = format!("{name}@example.com");
    t.post(
        "/api/v1/auth/register",
        json!({ "email": email, "username": name, "password": PW }),
    )
    .await
    .expect(202);
    email
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn registration_mail_arrives_over_smtp_and_its_fragment_token_verifies(db: PgPool) {
    let t = setup(db).await;
    let started = std::time::Instant::now();
    let email = register(&t, "noa").await;
    let text = t.mail(&email, "verify_email").await;
    // Woken by the commit, not found by a poll minutes later.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The token rides in the fragment, which browsers never send to a server.
    assert!(
        text.contains("https://ulm.example/verify-email#token="),
        "{text}"
    );
    assert!(!text.contains("?token="), "{text}");
    let token = token_in(&text);
    // Signing in waits for the address.
    t.post(
        "/api/v1/auth/login",
        json!({ "login": "noa", "password": PW }),
    )
    .await
    .error(403, "email_not_verified");
    t.post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .expect(200);
    t.login("noa", PW).await;
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM outbox WHERE to_email = $1")
            .bind(&email)
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("sent", 1));

    // A reset link arrives the same way, and works once.
    t.post("/api/v1/auth/forgot-password", json!({ "email": email }))
        .await
        .expect(202);
    let text = t.mail(&email, "reset_password").await;
    assert!(
        text.contains("https://ulm.example/reset-password#token="),
        "{text}"
    );
    let token = token_in(&text);
    let reset = json!({ "token": token, "new_password": "a brand new secret" });
    t.post("/api/v1/auth/reset-password", reset.clone())
        .await
        .expect(200);
    t.post("/api/v1/auth/reset-password", reset)
        .await
        .error(400, "invalid_token");
    assert_eq!(t.mailbox.to(&email).await.len(), 2);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn the_outbox_holds_no_token_and_no_link(db: PgPool) {
    let t = setup(db).await;
    let email = register(&t, "lior").await;
    let token = t.mailed_token(&email, "verify_email").await;
    t.post("/api/v1/auth/forgot-password", json!({ "email": email }))
        .await
        .expect(202);
    let reset = t.mailed_token(&email, "reset_password").await;
    // Every column of every row, as text: a database dump holds nothing a link needs.
    let rows: Vec<String> = sqlx::query_scalar("SELECT o::text FROM outbox o")
        .fetch_all(&t.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert!(!row.contains(&token) && !row.contains(&reset), "{row}");
        assert!(
            !row.contains("token=") && !row.contains("https://"),
            "{row}"
        );
    }
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'outbox' ORDER BY 1",
    )
    .fetch_all(&t.db)
    .await
    .unwrap();
    assert!(
        !columns.iter().any(|c| c == "body" || c == "subject"),
        "{columns:?}"
    );
    // The token tables keep only hashes, as before.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM one_time_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind(&token)
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    // The admin view shows delivery metadata only.
    let (_, root) = t.with_role("root", "super_admin").await;
    let mail = t
        .send(req("GET", &format!("/api/v1/admin/outbox?to={email}")).bearer(&root))
        .await
        .expect(200)
        .body;
    let rows = mail.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{mail}");
    for m in rows {
        assert_eq!(m["state"], "sent", "{m}");
        assert_eq!(m["attempts"], 1, "{m}");
        assert!(m["sent_at"].is_string(), "{m}");
        assert!(m.get("body").is_none() && m.get("subject").is_none(), "{m}");
        assert!(!m.to_string().contains("token"), "{m}");
    }
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn an_outage_delays_mail_and_loses_none(db: PgPool) {
    let closed = closed_smtp_url().await;
    let mut down = setup_with(db.clone(), &[("SMTP_URL", &closed)]).await;
    let email = register(&down, "tamar").await;
    // The worker tries, fails, keeps the row queued with the reason, and backs off.
    let mut row = None;
    for _ in 0..100 {
        let r: (String, i32, Option<String>, bool) = sqlx::query_as(
            "SELECT state, attempts, last_error, next_attempt_at > now() FROM outbox WHERE to_email = $1",
        )
        .bind(&email)
        .fetch_one(&db)
        .await
        .unwrap();
        if r.1 > 0 && r.2.is_some() {
            row = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    down.stop_mailer().await;
    let (state, attempts, last_error, later) = row.expect("a failed attempt was recorded");
    assert_eq!(state, "queued");
    assert!(attempts >= 1);
    assert!(later, "the retry is scheduled in the future");
    let last_error = last_error.unwrap();
    assert!(!last_error.contains("token"), "{last_error}");
    // The token minted for the failed attempt no longer works: no valid link exists that is
    // not in somebody's mailbox.
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM one_time_tokens t JOIN users u ON u.id = t.user_id
         WHERE u.email = $1 AND t.used_at IS NULL",
    )
    .bind(&email)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(live, 0);

    // The server is back (a replica with working SMTP); the retry falls due.
    let up = setup(db.clone()).await;
    assert!(up.mailbox.to(&email).await.is_empty());
    sqlx::query("UPDATE outbox SET next_attempt_at = now()")
        .execute(&db)
        .await
        .unwrap();
    up.state.mailer.wake();
    let token = up.mailed_token(&email, "verify_email").await;
    up.post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .expect(200);
    let (state, attempts2, last_error): (String, i32, Option<String>) =
        sqlx::query_as("SELECT state, attempts, last_error FROM outbox WHERE to_email = $1")
            .bind(&email)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(state, "sent");
    assert_eq!(attempts2, attempts + 1);
    assert_eq!(last_error, None);
    // A few more worker passes, run here rather than waited for: none finds anything to
    // send, so nothing is delivered twice.
    for _ in 0..3 {
        let attempted = ovu_ulm::mail::deliver_due(&up.state).await.unwrap();
        assert_eq!(
            attempted, 0,
            "a pass after delivery found mail to send again"
        );
    }
    assert_eq!(up.mailbox.to(&email).await.len(), 1);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn without_smtp_mail_stays_queued(db: PgPool) {
    // Empty values count as unset.
    let t = setup_with(db, &[("SMTP_URL", ""), ("SMTP_FROM", "")]).await;
    assert!(!t.state.mailer.configured());
    let email = register(&t, "gal").await;
    // A worker pass, run here rather than waited for, sends nothing without SMTP.
    assert_eq!(ovu_ulm::mail::deliver_due(&t.state).await.unwrap(), 0);
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM outbox WHERE to_email = $1")
            .bind(&email)
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 0));
    // And no token exists yet: it is minted only when a mail goes out.
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM one_time_tokens")
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn a_verification_link_only_goes_to_the_current_address(db: PgPool) {
    let mut t = setup(db.clone()).await;
    t.user("yael", PW).await;
    let tok = t.token("yael", PW).await;
    // Change the address while the mail worker is down, then change it again.
    t.stop_mailer().await;
    for to in ["first@example.com", "second@example.com"] {
        t.send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({ "email": to, "current_password": PW })),
        )
        .await
        .expect(200);
    }
    let t2 = setup(db).await;
    t2.mailed_token("second@example.com", "verify_email").await;
    t2.mail_settled("first@example.com").await;
    assert!(t2.mailbox.to("first@example.com").await.is_empty());
    let (state, err): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM outbox WHERE to_email = 'first@example.com'")
            .fetch_one(&t2.db)
            .await
            .unwrap();
    assert_eq!(state, "failed");
    assert!(err.unwrap().contains("address changed"));
}
