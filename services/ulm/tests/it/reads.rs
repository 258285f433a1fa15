//! Reads that requests in flight together share (`ovu_ulm::reads`): each request still gets
//! its own answer, a session that ended before a request is refused by it whatever shares
//! its statement, and the statements are fewer than the requests. `GET /users/{id}` reads the
//! caller's session and the account in one statement: each caller is judged by their own
//! session and rank, whoever shares it.

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
    let (admin_id, admin) = t.with_role("batchadmin", "admin").await;
    // Outranked by the admin: reads plain accounts, never the admin's.
    let (_, support) = t.with_role("batchhelp", "support").await;
    // An admin who signed out: their token is refused even beside live ones.
    let (_, gone) = t.with_role("batchgone", "admin").await;
    t.send(req("POST", "/api/v1/auth/logout").bearer(&gone))
        .await
        .expect(204);
    let nobody = uuid::Uuid::new_v4();
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
        // By id, in the same flight: the outranked, the signed out, the missing.
        let by_id = |tok: &str, id: uuid::Uuid| {
            t.send(req("GET", &format!("/api/v1/users/{id}")).bearer(tok))
        };
        let others = join_all([
            by_id(&support, admin_id),
            by_id(&support, people[0].0),
            by_id(&gone, people[1].0),
            by_id(&admin, nobody),
            by_id(&admin, admin_id),
            // No users:read at all: refused though the account is found with their session.
            by_id(&people[1].2, people[0].0),
        ]);
        let (answers, others) = tokio::join!(join_all(calls), others);
        sent += (answers.len() + others.len()) as u64;
        let [outranked, plain, signed_out, missing, own, unprivileged] = &others[..] else {
            unreachable!()
        };
        assert_eq!(outranked.status, 403, "{}", outranked.body);
        assert_eq!(
            outranked.body["error"]["details"]["reason"],
            "target_outranks_you"
        );
        assert_eq!(plain.status, 200, "{}", plain.body);
        assert_eq!(plain.body["id"], people[0].0.to_string());
        assert_eq!(signed_out.status, 401, "{}", signed_out.body);
        assert_eq!(
            signed_out.body["error"]["details"]["reason"],
            "session_ended"
        );
        assert_eq!(missing.status, 404, "{}", missing.body);
        assert_eq!(own.status, 200, "{}", own.body);
        assert_eq!(own.body["id"], admin_id.to_string());
        assert_eq!(unprivileged.status, 403, "{}", unprivileged.body);
        assert_eq!(unprivileged.body["error"]["code"], "forbidden");
        assert_eq!(
            unprivileged.body["error"]["details"]["permission"],
            "users:read"
        );
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
    assert_eq!(sent, 72);

    // The account alone ("user") is read only where the combined read found nothing and the
    // caller then proved live: the missing account, once a round.
    assert_eq!(coalesced(&t, "user").await.0, 3);
    // Every kind of read was coalesced: fewer statements than requests that read.
    for read in ["me", "session", "session_and_user"] {
        let (reads, statements) = coalesced(&t, read).await;
        assert!(reads > 0, "{read}: no batched reads");
        assert!(
            statements < reads,
            "{read}: {statements} statements for {reads} reads"
        );
    }
}
