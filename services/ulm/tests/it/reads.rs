//! Reads that requests in flight together share (`ovu_ulm::reads`): each request still gets
//! its own answer, a session that ended before a request is refused by it whatever shares
//! its statement, and the statements are fewer than the requests.

use crate::common;

use common::*;
use futures::future::join_all;
use sqlx::PgPool;

/// `(reads, statements)` of one kind of read, from `/metrics`.
async fn coalesced(t: &T, read: &str) -> (u64, u64) {
    let m = t.send(req("GET", "/metrics")).await.expect(200);
    let text = m.body.as_str().unwrap().to_string();
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("read=\"{read}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} for {read} in:\n{text}"))
    };
    (
        value("db_batched_reads_total{"),
        value("db_batch_statements_total{"),
    )
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn requests_in_flight_together_share_statements_and_each_gets_its_own_answer(db: PgPool) {
    // The /users/me cache off: every request reads the database.
    let t = setup_with(db, &[("ULM_ME_CACHE_MS", "0")]).await;
    let (_, admin) = t.with_role("batchadmin", "admin").await;
    let mut people = Vec::new();
    for n in 0..6 {
        let name = format!("batch{n}");
        let id = t.user(&name, PW).await;
        people.push((id, name.clone(), t.token(&name, PW).await));
    }
    // The last one signs out first: their token must be refused, whoever shares a statement.
    t.send(req("POST", "/api/v1/auth/logout").bearer(&people[5].2))
        .await
        .expect(204);

    let mut sent = 0u64;
    for _round in 0..3 {
        let mut calls = Vec::new();
        for (id, _, tok) in &people {
            calls.push(t.send(req("GET", "/api/v1/users/me").bearer(tok)));
            calls.push(t.send(req("GET", "/api/v1/auth/session").bearer(tok)));
            calls.push(t.send(req("GET", &format!("/api/v1/users/{id}")).bearer(&admin)));
        }
        let answers = join_all(calls).await;
        sent += answers.len() as u64;
        for (n, three) in answers.chunks(3).enumerate() {
            let (id, name, _) = &people[n];
            let [me, session, by_id] = three else {
                unreachable!()
            };
            if n == 5 {
                assert_eq!(me.status, 401, "{}", me.body);
                assert_eq!(me.body["error"]["details"]["reason"], "session_ended");
                assert_eq!(session.status, 401, "{}", session.body);
            } else {
                assert_eq!(me.status, 200, "{}", me.body);
                assert_eq!(me.body["id"], id.to_string());
                assert_eq!(me.body["username"], name.as_str());
                assert_eq!(session.status, 200, "{}", session.body);
                assert_eq!(session.body["user_id"], id.to_string());
            }
            // The account itself is there, signed out or not.
            assert_eq!(by_id.status, 200, "{}", by_id.body);
            assert_eq!(by_id.body["id"], id.to_string());
            assert_eq!(by_id.body["username"], name.as_str());
        }
    }
    assert_eq!(sent, 54);

    // Every kind of read was coalesced: fewer statements than requests that read.
    for read in ["me", "session", "user"] {
        let (reads, statements) = coalesced(&t, read).await;
        assert!(reads > 0, "{read}: no batched reads");
        assert!(
            statements < reads,
            "{read}: {statements} statements for {reads} reads"
        );
    }
}
