//! Whose login budget and audit trail a request lands in: the client address the trusted
//! proxy saw, whatever the client writes into X-Forwarded-For itself. The app runs behind a
//! simulated proxy on 127.0.0.1 (`TRUSTED_PROXIES=127.0.0.1/32`, peer 127.0.0.1).

use crate::common;

use common::{req, setup, setup_with};
use serde_json::json;
use sqlx::PgPool;

fn failed_login(i: usize) -> serde_json::Value {
    // A different account each time: only the per-address limit can trip.
    json!({"login": format!("nobody{i}@example.com"), "password": "wrong-password-1"})
}

async fn audit_ips(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT ip FROM audit_events WHERE event_type = 'login_failed' ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn forged_forwarded_for_does_not_choose_the_bucket(db: PgPool) {
    let t = setup(db.clone()).await;
    let client = "198.18.250.7";
    // A proxy that appends (the chain ends with the address it saw): whatever the client
    // put in front, and a new value each time, counts against the same address.
    for i in 0..5 {
        t.send(
            req("POST", "/api/v1/auth/login")
                .json(failed_login(i))
                .ip(&format!("198.18.251.{i}, {client}")),
        )
        .await
        .expect(401);
    }
    t.send(
        req("POST", "/api/v1/auth/login")
            .json(failed_login(5))
            .ip(&format!("198.18.251.99, {client}")),
    )
    .await
    .error(429, "rate_limited");
    // A second header line before the proxy's is just as far left.
    let r = t
        .send(
            req("POST", "/api/v1/auth/login")
                .json(failed_login(6))
                .header("x-forwarded-for", "198.18.251.100")
                .ip(client),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    // Another client behind the same proxy has its own budget.
    t.send(
        req("POST", "/api/v1/auth/login")
            .json(failed_login(7))
            .ip("198.18.250.8"),
    )
    .await
    .expect(401);
    let mut want = vec![client.to_string(); 5];
    want.push("198.18.250.8".into());
    assert_eq!(audit_ips(&db).await, want);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn without_trusted_proxies_the_peer_is_the_client(db: PgPool) {
    let t = setup_with(db.clone(), &[("TRUSTED_PROXIES", "")]).await;
    for i in 0..5 {
        t.send(
            req("POST", "/api/v1/auth/login")
                .json(failed_login(i))
                .ip(&format!("198.18.252.{i}")),
        )
        .await
        .expect(401);
    }
    // Every header named another address; they all counted against the peer.
    t.send(
        req("POST", "/api/v1/auth/login")
            .json(failed_login(5))
            .ip("198.18.252.200"),
    )
    .await
    .error(429, "rate_limited");
    assert_eq!(audit_ips(&db).await, vec!["127.0.0.1".to_string(); 5]);
}
