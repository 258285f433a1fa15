//! AAM passes on the client address it resolved, never the raw header: behind a trusted
//! proxy (the mock peer 198.18.0.7 stands for nginx) the rightmost untrusted address is the
//! client, and ULM's audit records that address for the admin's action.

use crate::common;

use common::*;
use serde_json::json;
use sqlx::PgPool;

/// The address of ULM's newest `user_created` event.
async fn audited_ip(ulm: &Ulm) -> String {
    sqlx::query_scalar(
        "SELECT ip FROM audit_events WHERE event_type = 'user_created' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&ulm.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn aam_forwards_the_resolved_client_not_the_clients_header(db: PgPool) {
    let ulm = Ulm::start(&db).await;
    let t = aam(db, &ulm.url(), &[("TRUSTED_PROXIES", "198.18.0.7/32")]).await;
    let (_, admin) = ulm.user("root", Some("super_admin")).await;
    // A chain of appending proxies: the client's own claim, the address the outer proxy saw,
    // then the trusted inner hop. Passing this header on as is would make ULM (which trusts
    // only AAM) take the inner hop for the client.
    let r = t
        .send(
            req("POST", "/api/v1/users")
                .bearer(&admin)
                .header("x-forwarded-for", "198.18.251.1, 198.18.250.9, 198.18.0.7")
                .json(json!({"email": "dana@example.com", "username": "dana", "password": PW})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(audited_ip(&ulm).await, "198.18.250.9");
}
