//! Every route's happy path against a real ULM (its router on a loopback port), real
//! PostgreSQL and Redis.

use crate::common;

use std::collections::HashSet;

use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

struct World {
    ulm: Ulm,
    t: Aam,
    admin: String,
    admin_id: Uuid,
}

async fn world(db: PgPool) -> World {
    let ulm = Ulm::start(&db).await;
    let t = aam(db, &ulm.url(), &[]).await;
    let (admin_id, admin) = ulm.user("root", Some("super_admin")).await;
    World {
        ulm,
        t,
        admin,
        admin_id,
    }
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn ops_endpoints_answer_without_a_token(db: PgPool) {
    let w = world(db).await;
    let t = &w.t;
    let r = t.send(req("GET", "/api/health")).await.expect(200);
    assert_eq!(r.body["status"], "ok");
    let r = t.send(req("GET", "/api/ready")).await.expect(200);
    assert_eq!(r.body["postgres"]["ok"], true);
    assert_eq!(r.body["redis"]["ok"], true);
    assert_eq!(r.body["ulm"]["ok"], true);
    t.get("/api/v1/apps", &w.admin).await.expect(200);
    let m = t.send(req("GET", "/metrics")).await.expect(200);
    assert!(m.text.contains("http_requests_total"), "{}", m.text);
    let doc = t.send(req("GET", "/api/openapi.json")).await.expect(200);
    for p in [
        "/api/v1/dashboard",
        "/api/v1/apps/{id}/dependencies",
        "/api/v1/settings/{category}/{key}/reset",
        "/api/v1/audit/export.csv",
    ] {
        assert!(doc.body["paths"][p].is_object(), "{p} missing");
    }
    assert!(doc.body["paths"]["/api/v1/apps"]["get"]["responses"]["403"].is_object());
    let page = t.send(req("GET", "/api/docs")).await.expect(200);
    assert!(page.text.contains("openapi.json"));
    t.send(req("GET", "/api/v1/nope"))
        .await
        .error(404, "not_found");
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn a_plain_ulm_user_is_refused(db: PgPool) {
    let w = world(db).await;
    let (_, plain) = w.ulm.user("plain", None).await;
    let r =
        w.t.get("/api/v1/users", &plain)
            .await
            .error(403, "forbidden");
    assert_eq!(r.body["error"]["details"]["permission"], "aam:access");
    w.t.get("/api/v1/dashboard", &plain)
        .await
        .error(403, "forbidden");
    // Support has admin-area access and user reads, but no writes.
    let (_, support) = w.ulm.user("helpdesk", Some("support")).await;
    w.t.get("/api/v1/users", &support).await.expect(200);
    let r =
        w.t.with(
            "POST",
            "/api/v1/users",
            &support,
            json!({"email": "x@example.com", "username": "xx", "password": PW}),
        )
        .await
        .error(403, "forbidden");
    assert_eq!(r.body["error"]["details"]["permission"], "users:write");
    w.t.get("/api/v1/roles", &support)
        .await
        .error(403, "forbidden");
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn registry_crud_filters_dependencies_and_audit(db: PgPool) {
    let w = world(db).await;
    let (t, a) = (&w.t, w.admin.as_str());

    let r = t.get("/api/v1/apps", a).await.expect(200);
    assert_eq!(r.total(), 2);
    let codes: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ulm", "aam"]);
    let ulm_id = r.body[0]["id"].as_str().unwrap().to_string();
    let aam_id = r.body[1]["id"].as_str().unwrap().to_string();

    let created = t
        .with(
            "POST",
            "/api/v1/apps",
            a,
            json!({"code": "billing", "name": "Billing", "type": "api", "status": "development",
                   "category": "finance", "owner": "Team B", "version": "1.2.0",
                   "backend_url": "https://billing.example/api", "tech_stack": ["go"],
                   "color": "#112233", "tags": ["money", "core"], "display_order": 30}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["display_name"], "Billing");
    assert_eq!(created.body["type"], "api");

    // Bad input: clear 4xx, never a 500.
    t.with(
        "POST",
        "/api/v1/apps",
        a,
        json!({"code": "billing", "name": "Again", "type": "api"}),
    )
    .await
    .error(409, "conflict");
    for bad in [
        json!({"code": "Bad Code", "name": "x", "type": "web"}),
        json!({"code": "okcode", "name": "", "type": "web"}),
        json!({"code": "okcode", "name": "x", "type": "web", "color": "red"}),
        json!({"code": "okcode", "name": "x", "type": "web", "docs_url": "javascript:alert(1)"}),
        json!({"code": "okcode", "name": "x", "type": "web", "tags": [""]}),
        json!({"code": "okcode", "name": "x", "type": "web", "display_order": 100001}),
        json!({"code": "okcode", "name": "x\u{0000}", "type": "web"}),
        json!({"code": "okcode", "name": "x", "type": "web", "frontend_url": "https://a.example/\u{0000}"}),
        json!({"code": "okcode", "name": "x", "type": "web", "description": "nul \u{0000} inside"}),
    ] {
        t.with("POST", "/api/v1/apps", a, bad)
            .await
            .error(422, "validation_failed");
    }
    t.with(
        "POST",
        "/api/v1/apps",
        a,
        json!({"code": "okcode", "name": "x", "type": "spaceship"}),
    )
    .await
    .error(422, "validation_failed");
    t.get("/api/v1/apps/not-a-uuid", a)
        .await
        .error(400, "invalid_path");
    t.get(&format!("/api/v1/apps/{}", Uuid::new_v4()), a)
        .await
        .error(404, "not_found");

    // Filters.
    let r = t
        .get("/api/v1/apps?status=development", a)
        .await
        .expect(200);
    assert_eq!(
        (r.total(), r.body[0]["code"].as_str()),
        (1, Some("billing"))
    );
    let r = t
        .get("/api/v1/apps?type=web&sort=code", a)
        .await
        .expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    assert_eq!(r.body[0]["code"], "aam");
    let r = t.get("/api/v1/apps?tag=money", a).await.expect(200);
    assert_eq!(r.total(), 1);
    let r = t.get("/api/v1/apps?q=BILL", a).await.expect(200);
    assert_eq!(r.total(), 1);
    let r = t.get("/api/v1/apps?category=identity", a).await.expect(200);
    assert_eq!(r.body[0]["code"], "ulm");
    let r = t.get("/api/v1/apps?limit=1&offset=1", a).await.expect(200);
    assert_eq!((r.total(), r.body.as_array().unwrap().len()), (3, 1));
    let r = t.get("/api/v1/apps?limit=5&offset=10", a).await.expect(200);
    assert_eq!((r.total(), r.body.as_array().unwrap().len()), (3, 0));
    let r = t.get("/api/v1/apps?tag=nothing", a).await.expect(200);
    assert_eq!((r.total(), r.body.as_array().unwrap().len()), (0, 0));
    t.get("/api/v1/apps?limit=0", a)
        .await
        .error(422, "validation_failed");
    t.get("/api/v1/apps?status=nope", a)
        .await
        .error(400, "invalid_query");

    // Update: fields change, "" clears a URL, absent fields stay.
    let r = t
        .with(
            "PATCH",
            &format!("/api/v1/apps/{id}"),
            a,
            json!({"status": "active", "backend_url": "", "version": "1.3.0"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["backend_url"].is_null());
    assert_eq!(r.body["owner"], "Team B");
    t.with(
        "PATCH",
        &format!("/api/v1/apps/{id}"),
        a,
        json!({"color": "#zzzzzz"}),
    )
    .await
    .error(422, "validation_failed");
    let got = t.get(&format!("/api/v1/apps/{id}"), a).await.expect(200);
    assert_eq!(got.body["version"], "1.3.0");

    // Dependencies: billing → ulm; the seeded aam → ulm edge exists already.
    let deps = t
        .get(&format!("/api/v1/apps/{ulm_id}/dependencies"), a)
        .await
        .expect(200);
    assert_eq!(deps.body["used_by"][0]["consumer_code"], "aam");
    let dep = t
        .with(
            "POST",
            &format!("/api/v1/apps/{id}/dependencies"),
            a,
            json!({"provider_id": ulm_id, "dependency_type": "auth", "criticality": "high"}),
        )
        .await
        .expect(201);
    assert_eq!(dep.body["provider_code"], "ulm");
    t.with(
        "POST",
        &format!("/api/v1/apps/{id}/dependencies"),
        a,
        json!({"provider_id": ulm_id, "dependency_type": "auth"}),
    )
    .await
    .error(409, "conflict");
    t.with(
        "POST",
        &format!("/api/v1/apps/{id}/dependencies"),
        a,
        json!({"provider_id": id, "dependency_type": "data"}),
    )
    .await
    .error(422, "validation_failed");
    t.with(
        "POST",
        &format!("/api/v1/apps/{id}/dependencies"),
        a,
        json!({"provider_id": Uuid::new_v4(), "dependency_type": "data"}),
    )
    .await
    .error(422, "validation_failed");
    let deps = t
        .get(&format!("/api/v1/apps/{ulm_id}/dependencies"), a)
        .await
        .expect(200);
    assert_eq!(deps.body["used_by"].as_array().unwrap().len(), 2);
    let deps = t
        .get(&format!("/api/v1/apps/{aam_id}/dependencies"), a)
        .await
        .expect(200);
    assert_eq!(deps.body["depends_on"][0]["provider_code"], "ulm");
    let dep_id = dep.body["id"].as_str().unwrap();
    t.send(req("DELETE", &format!("/api/v1/dependencies/{dep_id}")).bearer(a))
        .await
        .expect(204);
    t.send(req("DELETE", &format!("/api/v1/dependencies/{dep_id}")).bearer(a))
        .await
        .error(404, "not_found");

    t.send(req("DELETE", &format!("/api/v1/apps/{id}")).bearer(a))
        .await
        .expect(204);
    t.get(&format!("/api/v1/apps/{id}"), a)
        .await
        .error(404, "not_found");

    // Every write is in AAM's audit log with the real actor and the old/new values.
    for action in [
        "app.create",
        "app.update",
        "app.delete",
        "dependency.create",
        "dependency.delete",
    ] {
        let rows = t.audit_rows(action).await;
        assert_eq!(rows.len(), 1, "{action}");
        assert_eq!(rows[0].0, Some(w.admin_id), "{action}");
    }
    let upd = &t.audit_rows("app.update").await[0];
    assert_eq!(upd.2.as_ref().unwrap()["status"], "development");
    assert_eq!(upd.3.as_ref().unwrap()["status"], "active");
    let (ip, ua, rid): (String, String, String) = sqlx::query_as(
        "SELECT ip, user_agent, request_id FROM audit_log WHERE action = 'app.delete'",
    )
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert_eq!((ip.as_str(), ua.as_str()), ("198.18.0.7", "aam-tests"));
    assert_eq!(rid.len(), 32);
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn settings_are_typed_masked_and_kept_in_history(db: PgPool) {
    let w = world(db).await;
    let (t, a) = (&w.t, w.admin.as_str());

    let all = t.get("/api/v1/settings", a).await.expect(200);
    let list = all.body.as_array().unwrap();
    assert!(list.len() >= 9);
    let lang = list
        .iter()
        .find(|s| s["key"] == "default_language")
        .unwrap();
    assert_eq!(
        (lang["value"].as_str(), lang["is_default"].as_bool()),
        (Some("en"), Some(true))
    );
    // ULM's token policy, read through ULM with the caller's token.
    let policy = list.iter().find(|s| s["key"] == "session_policy").unwrap();
    assert_eq!(policy["source"], "ulm");
    assert!(
        policy["value"]["access_ttl_minutes"].is_number(),
        "{policy}"
    );
    t.with(
        "PUT",
        "/api/v1/settings/security/session_policy",
        a,
        json!({"value": {}}),
    )
    .await
    .error(409, "read_only");

    let r = t
        .with(
            "PUT",
            "/api/v1/settings/general/default_language",
            a,
            json!({"value": "he"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (r.body["value"].as_str(), r.body["is_default"].as_bool()),
        (Some("he"), Some(false))
    );
    let r = t
        .get("/api/v1/settings/general/default_language", a)
        .await
        .expect(200);
    assert_eq!(r.body["value"], "he");
    // Typed: wrong type, out of range, unknown value, unknown key.
    for (path, v) in [
        ("general/default_language", json!("fr")),
        ("general/default_language", json!(1)),
        ("audit/retention_days", json!(10)),
        ("audit/retention_days", json!("365")),
        ("maintenance/banner_enabled", json!("yes")),
        ("general/support_email", json!("nobody")),
    ] {
        let r = t
            .with(
                "PUT",
                &format!("/api/v1/settings/{path}"),
                a,
                json!({"value": v}),
            )
            .await
            .error(422, "validation_failed");
        assert!(r.body["error"]["details"]["schema"].is_object());
    }
    t.with(
        "PUT",
        "/api/v1/settings/general/nope",
        a,
        json!({"value": 1}),
    )
    .await
    .error(404, "not_found");
    t.with(
        "PUT",
        "/api/v1/settings/general/site_name",
        a,
        json!({"nothing": 1}),
    )
    .await
    .error(422, "validation_failed");

    // Sensitive: masked on read, in history, and in the audit log.
    let secret = "https://hooks.example/x?token=s3cret";
    let r = t
        .with(
            "PUT",
            "/api/v1/settings/notifications/alert_webhook_url",
            a,
            json!({"value": secret}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["value"], "********");
    let r = t
        .get("/api/v1/settings/notifications/alert_webhook_url", a)
        .await
        .expect(200);
    assert_eq!(r.body["value"], "********");
    let h = t
        .get(
            "/api/v1/settings/notifications/alert_webhook_url/history",
            a,
        )
        .await
        .expect(200);
    assert!(!h.text.contains("s3cret"));
    let audit: String =
        sqlx::query_scalar("SELECT string_agg(coalesce(new_value::text, ''), ' ') FROM audit_log")
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert!(!audit.contains("s3cret"));
    // …but stored in full for AAM's own use.
    let stored: Value =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'alert_webhook_url'")
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!(stored, json!(secret));

    // History newest first, then reset.
    t.with(
        "PUT",
        "/api/v1/settings/general/default_language",
        a,
        json!({"value": "ar"}),
    )
    .await
    .expect(200);
    let r = t
        .send(req("POST", "/api/v1/settings/general/default_language/reset").bearer(a))
        .await
        .expect(200);
    assert_eq!(
        (r.body["value"].as_str(), r.body["is_default"].as_bool()),
        (Some("en"), Some(true))
    );
    let h = t
        .get("/api/v1/settings/general/default_language/history", a)
        .await
        .expect(200);
    let pairs: Vec<(String, String)> = h
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["old_value"].as_str().unwrap().into(),
                e["new_value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("ar".into(), "en".into()),
            ("he".into(), "ar".into()),
            ("en".into(), "he".into())
        ] as [(String, String); 3]
    );
    assert_eq!(h.body[0]["changed_by_name"], "root");
    let h = t
        .get(
            "/api/v1/settings/general/default_language/history?limit=1",
            a,
        )
        .await
        .expect(200);
    assert_eq!(h.body.as_array().unwrap().len(), 1);
    assert_eq!(t.audit_rows("setting.reset").await.len(), 1);
    assert_eq!(t.audit_rows("setting.update").await.len(), 3);
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn users_and_roles_go_through_ulm_as_the_caller(db: PgPool) {
    let w = world(db).await;
    let (t, a) = (&w.t, w.admin.as_str());

    let created = t
        .with(
            "POST",
            "/api/v1/users",
            a,
            json!({"email": "dana@example.com", "username": "dana", "password": PW, "display_name": "Dana", "phone": "+972 50-123-4567"}),
        )
        .await
        .expect(201);
    let uid = created.body["id"].as_str().unwrap().to_string();
    // The phone crosses AAM both ways, as ULM normalised it.
    assert_eq!(created.body["phone"], "+972501234567");
    // ULM's errors pass through in the shared shape.
    t.with(
        "POST",
        "/api/v1/users",
        a,
        json!({"email": "dana@example.com", "username": "dana2", "password": PW}),
    )
    .await
    .error(409, "conflict");
    t.with(
        "POST",
        "/api/v1/users",
        a,
        json!({"email": "x@example.com"}),
    )
    .await
    .error(422, "validation_failed");

    let r = t
        .get("/api/v1/users?q=dana&sort=-created_at&limit=10", a)
        .await
        .expect(200);
    assert_eq!(r.total(), 1);
    assert_eq!(r.body[0]["username"], "dana");
    let r = t.get("/api/v1/users?status=active", a).await.expect(200);
    assert_eq!(r.total(), 2);
    t.get("/api/v1/users?limit=500", a)
        .await
        .error(422, "validation_failed");
    t.get(&format!("/api/v1/users/{uid}"), a).await.expect(200);
    t.get(&format!("/api/v1/users/{}", Uuid::new_v4()), a)
        .await
        .error(404, "not_found");
    let r = t
        .with(
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            a,
            json!({"display_name": "Dana K"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["display_name"], "Dana K");
    assert_eq!(r.body["phone"], "+972501234567", "untouched by the edit");
    let r = t.get(&format!("/api/v1/users/{uid}"), a).await.expect(200);
    assert_eq!(r.body["phone"], "+972501234567");
    let r = t
        .with(
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            a,
            json!({"phone": "+1 (415) 555-0100"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "+14155550100");
    // ULM's refusal keeps its shape, field and reason through AAM.
    let bad = t
        .with(
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            a,
            json!({"phone": "0501234567"}),
        )
        .await
        .error(422, "validation_failed");
    assert_eq!(bad.body["error"]["details"]["field"], "phone");
    assert_eq!(bad.body["error"]["details"]["reason"], "invalid_phone");
    let r = t
        .with(
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            a,
            json!({"phone": ""}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["phone"], "", "empty clears it");

    // ULM's audit names the admin as the actor: AAM used the caller's own token.
    let actor: Option<Uuid> =
        sqlx::query_scalar("SELECT actor_id FROM audit_events WHERE event_type = 'user_created'")
            .fetch_one(&w.ulm.db)
            .await
            .unwrap();
    assert_eq!(actor, Some(w.admin_id));
    // …and sees the admin's address and browser, not AAM's.
    let (ip, ua, rid): (String, String, String) = sqlx::query_as(
        "SELECT ip, user_agent, request_id FROM audit_events WHERE event_type = 'user_created'",
    )
    .fetch_one(&w.ulm.db)
    .await
    .unwrap();
    assert_eq!((ip.as_str(), ua.as_str()), ("198.18.0.7", "aam-tests"));
    // One request id across both services.
    assert_eq!(rid, created.headers["x-request-id"].to_str().unwrap());

    // Roles and permissions.
    let perms = t.get("/api/v1/permissions", a).await.expect(200);
    assert!(
        perms
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "aam:access")
    );
    let roles = t.get("/api/v1/roles", a).await.expect(200);
    assert!(
        roles
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "super_admin")
    );
    let role = t
        .with("POST", "/api/v1/roles", a, json!({"name": "auditor", "description": "reads audit", "permissions": ["audit:read", "aam:access"]}))
        .await
        .expect(201);
    let rid = role.body["id"].as_str().unwrap().to_string();
    t.get(&format!("/api/v1/roles/{rid}"), a).await.expect(200);
    let r = t
        .with(
            "PATCH",
            &format!("/api/v1/roles/{rid}"),
            a,
            json!({"description": "reads the audit log"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["description"], "reads the audit log");
    t.send(req("PUT", &format!("/api/v1/users/{uid}/roles/{rid}")).bearer(a))
        .await
        .expect(204);
    let r = t.get(&format!("/api/v1/users/{uid}"), a).await.expect(200);
    assert!(
        r.body["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("auditor"))
    );
    t.send(req("DELETE", &format!("/api/v1/users/{uid}/roles/{rid}")).bearer(a))
        .await
        .expect(204);
    t.send(req("DELETE", &format!("/api/v1/roles/{rid}")).bearer(a))
        .await
        .expect(204);

    // Sessions: dana logs in at ULM, the admin sees and ends the session.
    let _ = w.ulm.user("erez", None).await;
    let eid: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE username = 'erez'")
        .fetch_one(&w.ulm.db)
        .await
        .unwrap();
    let s = t
        .get(&format!("/api/v1/users/{eid}/sessions"), a)
        .await
        .expect(200);
    assert_eq!(s.body.as_array().unwrap().len(), 1);
    t.send(req("DELETE", &format!("/api/v1/users/{eid}/sessions")).bearer(a))
        .await
        .expect(204);
    let s = t
        .get(&format!("/api/v1/users/{eid}/sessions"), a)
        .await
        .expect(200);
    assert!(s.body.as_array().unwrap().is_empty());

    // Password reset: ULM mails dana a reset link over SMTP (read from Mailpit).
    let r = t
        .send(req("POST", &format!("/api/v1/users/{uid}/password-reset")).bearer(a))
        .await
        .expect(202);
    assert_eq!(r.body["status"], "sent");
    let mails = w.ulm.mail_to("dana@example.com").await;
    let resets: Vec<_> = mails
        .iter()
        .filter(|(subject, _)| subject == "Reset your OVU password")
        .collect();
    assert_eq!(resets.len(), 1, "{mails:?}");
    assert!(
        resets[0]
            .1
            .contains("https://ulm.example/reset-password#token="),
        "{}",
        resets[0].1
    );

    // Deactivation: scheduled, then immediate, then reactivation.
    let at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let r = t
        .with(
            "POST",
            &format!("/api/v1/users/{uid}/deactivate"),
            a,
            json!({"reason": "contract ends", "at": at}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["scheduled_deactivation_at"].is_string());
    let r = t
        .with(
            "POST",
            &format!("/api/v1/users/{uid}/deactivate"),
            a,
            json!({"reason": "left"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "deactivated");
    let r = t
        .send(req("POST", &format!("/api/v1/users/{uid}/reactivate")).bearer(a))
        .await
        .expect(200);
    assert_eq!(r.body["status"], "active");
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn dashboard_combines_ulm_and_aam_figures(db: PgPool) {
    let w = world(db).await;
    let (t, a) = (&w.t, w.admin.as_str());
    w.ulm.user("uno", None).await;
    // One failed login.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", w.ulm.url()))
        .json(&json!({"login": "uno", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let d = t.get("/api/v1/dashboard", a).await.expect(200);
    let b = &d.body;
    assert_eq!(b["ulm_available"], true);
    assert_eq!(b["users"]["total"], 2);
    assert_eq!(b["users"]["active"], 2);
    assert_eq!(b["logins_24h"], 2);
    assert_eq!(b["failed_logins_24h"], 1);
    assert_eq!(b["active_sessions"], 2);
    assert_eq!(b["api_keys"], 0);
    let daily = b["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    let today = daily.last().unwrap();
    assert_eq!(
        (
            today["signups"].as_i64(),
            today["logins"].as_i64(),
            today["failures"].as_i64()
        ),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(b["apps"]["total"], 2);
    let services: HashSet<&str> = b["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["component"].as_str().unwrap())
        .collect();
    assert_eq!(services, HashSet::from(["ulm", "aam", "postgres", "redis"]));
    assert!(
        b["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "healthy"),
        "{b}"
    );
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn system_health_reports_components_history_and_no_cluster(db: PgPool) {
    let w = world(db).await;
    let (t, a) = (&w.t, w.admin.as_str());
    let h = t.get("/api/v1/system/health", a).await.expect(200);
    assert_eq!(h.body["status"], "healthy");
    assert_eq!(h.body["components"].as_array().unwrap().len(), 4);
    assert!(h.body["cluster"].is_null());
    let c = &h.body["components"][0];
    assert!(c["latency_ms"].is_number() && c["checked_at"].is_string());
    assert_eq!(h.body["last_24h"].as_array().unwrap().len(), 4);
    // A poll stores samples; old ones are pruned by the next.
    ovu_aam::poller::sample(&t.state).await;
    sqlx::query("UPDATE health_samples SET checked_at = now() - interval '25 hours' WHERE id = (SELECT min(id) FROM health_samples)")
        .execute(&t.db)
        .await
        .unwrap();
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM health_samples")
        .fetch_one(&t.db)
        .await
        .unwrap();
    ovu_aam::poller::sample(&t.state).await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM health_samples")
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(after, before + 4 - 1);
    let hist = t
        .get("/api/v1/system/health/history?component=ulm&hours=24", a)
        .await
        .expect(200);
    assert!(hist.body.as_array().unwrap().len() >= 2);
    assert!(
        hist.body
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["component"] == "ulm")
    );
    t.get("/api/v1/system/health/history?hours=48", a)
        .await
        .error(422, "validation_failed");

    // ULM stopped: the next sample says so.
    let mut ulm = w.ulm;
    ulm.stop().await;
    let s = ovu_aam::poller::sample(&t.state).await;
    let u = s.iter().find(|c| c.component == "ulm").unwrap();
    assert_eq!(u.status, "unhealthy");
}

async fn feed_all(t: &Aam, a: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let uri = match &cursor {
            Some(c) => format!("/api/v1/audit?{query}{sep}limit=2&cursor={c}"),
            None => format!("/api/v1/audit?{query}{sep}limit=2"),
        };
        let r = t.get(&uri, a).await.expect(200);
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn audit_feed_merges_both_services_and_csv_keeps_the_filters(db: PgPool) {
    let w = world(db).await;
    let (t, a) = (&w.t, w.admin.as_str());
    for code in ["one", "two", "three"] {
        t.with(
            "POST",
            "/api/v1/apps",
            a,
            json!({"code": code, "name": code, "type": "service"}),
        )
        .await
        .expect(201);
    }
    t.with(
        "PUT",
        "/api/v1/settings/general/site_name",
        a,
        json!({"value": "Acme, \"Inc\""}),
    )
    .await
    .expect(200);
    t.with(
        "POST",
        "/api/v1/users",
        a,
        json!({"email": "f@example.com", "username": "fay", "password": PW}),
    )
    .await
    .expect(201);

    let first = t.get("/api/v1/audit", a).await.expect(200);
    assert_eq!(first.body["sources"]["ulm"], "ok");
    let items = first.body["items"].as_array().unwrap();
    let sources: HashSet<&str> = items
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, HashSet::from(["ulm", "aam"]));
    // Newest first across both.
    let times: Vec<&str> = items
        .iter()
        .map(|i| i["occurred_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert!(
        times.windows(2).all(|p| parse(p[0]) >= parse(p[1])),
        "{times:?}"
    );

    // Cursor paging visits every event exactly once.
    let paged = feed_all(t, a, "").await;
    assert_eq!(paged.len(), items.len());
    let ids: HashSet<&str> = paged.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), paged.len());

    // Filters.
    let creates = feed_all(t, a, "action=app.create").await;
    assert_eq!(creates.len(), 3);
    let ulm_only = feed_all(t, a, "source=ulm&action=user_created").await;
    assert_eq!(ulm_only.len(), 1);
    assert_eq!(ulm_only[0]["actor_id"], json!(w.admin_id));
    let settings = feed_all(t, a, "resource=setting").await;
    assert_eq!(settings.len(), 1);
    let mine = feed_all(t, a, &format!("actor={}", w.admin_id)).await;
    assert!(mine.len() >= 5);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    assert!(feed_all(t, a, &format!("since={future}")).await.is_empty());
    t.get("/api/v1/audit?cursor=garbage", a)
        .await
        .error(422, "validation_failed");
    t.get("/api/v1/audit?limit=501", a)
        .await
        .error(422, "validation_failed");

    // CSV: same filters, same rows.
    let csv = t
        .get("/api/v1/audit/export.csv?action=app.create", a)
        .await
        .expect(200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.text.trim_end().split("\r\n").collect();
    assert!(lines[0].starts_with("occurred_at,source,id,"));
    assert_eq!(lines.len(), 1 + creates.len());
    for c in &creates {
        assert!(csv.text.contains(c["id"].as_str().unwrap()));
    }
    assert!(lines[1..].iter().all(|l| l.contains(",app.create,")));
    let csv = t
        .get("/api/v1/audit/export.csv?resource=setting", a)
        .await
        .expect(200);
    // The quoted value survives CSV quoting.
    assert!(csv.text.contains("Acme"), "{}", csv.text);
    assert_eq!(csv.text.trim_end().split("\r\n").count(), 2);
    let all = t.get("/api/v1/audit/export.csv", a).await.expect(200);
    assert_eq!(all.text.trim_end().split("\r\n").count(), 1 + paged.len());
    t.get(
        "/api/v1/audit/export.csv?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z",
        a,
    )
    .await
    .error(422, "validation_failed");
}

/// Polls `f` until it gives `want` (bounded at 15 s), returning the status seen last.
async fn eventually(t: &Aam, path: &str, token: &str, want: u16) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let got = t.get(path, token).await.status.as_u16();
        if got == want || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A still-valid access token stops working on AAM's own routes (registry, settings) within
/// seconds once ULM removes the role that gave admin-area access, ends the session, or
/// deactivates the account — not when the token expires.
#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn revocations_reach_aams_own_routes_within_seconds(db: PgPool) {
    let ulm = Ulm::start(&db).await;
    let t = aam(db.clone(), &ulm.url(), &[("AAM_SESSION_CHECK_SECS", "1")]).await;
    let (demoted, tok_demoted) = ulm.user("demoted", Some("admin")).await;
    let (_, tok_out) = ulm.user("signedout", Some("admin")).await;
    let (gone, tok_gone) = ulm.user("gone", Some("admin")).await;
    for tok in [&tok_demoted, &tok_out, &tok_gone] {
        t.get("/api/v1/apps", tok).await.expect(200);
        t.get("/api/v1/settings", tok).await.expect(200);
    }

    sqlx::query("DELETE FROM user_roles ur USING roles r WHERE r.id = ur.role_id AND r.name = 'admin' AND ur.user_id = $1")
        .bind(demoted)
        .execute(&ulm.db)
        .await
        .unwrap();
    assert_eq!(eventually(&t, "/api/v1/apps", &tok_demoted, 403).await, 403);
    let r = t
        .get("/api/v1/settings", &tok_demoted)
        .await
        .error(403, "forbidden");
    assert_eq!(r.body["error"]["details"]["permission"], "aam:access");

    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/logout", ulm.url()))
        .bearer_auth(&tok_out)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "logout: {}", r.status());
    assert_eq!(eventually(&t, "/api/v1/apps", &tok_out, 401).await, 401);

    sqlx::query("UPDATE users SET status = 'deactivated' WHERE id = $1")
        .bind(gone)
        .execute(&ulm.db)
        .await
        .unwrap();
    assert_eq!(
        eventually(&t, "/api/v1/settings", &tok_gone, 401).await,
        401
    );
    t.get("/api/v1/apps", &tok_gone)
        .await
        .error(401, "invalid_token");
}

/// The alert webhook setting is real: a change of a component's health is posted to it once,
/// an unchanged status is not posted again; and the audit retention setting prunes AAM's audit
/// log.
#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn the_alert_webhook_and_audit_retention_settings_take_effect(db: PgPool) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let health = |ulm: &str| {
        ["ulm", "aam", "postgres", "redis"]
            .iter()
            .map(|c| ovu_aam::poller::ComponentHealth {
                component: c.to_string(),
                status: if *c == "ulm" {
                    ulm.into()
                } else {
                    "healthy".into()
                },
                latency_ms: 1.0,
                checked_at: chrono::Utc::now(),
                message: String::new(),
            })
            .collect::<Vec<_>>()
    };
    let mut alerts = ovu_aam::alerts::Alerts::new().unwrap();
    // Without a URL nothing is sent, and nothing is lost by it either.
    assert_eq!(alerts.observe(&db, &health("healthy")).await, 0);
    sqlx::query("INSERT INTO settings (category, key, value) VALUES ('notifications', 'alert_webhook_url', $1)")
        .bind(json!(url))
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(alerts.observe(&db, &health("healthy")).await, 0);
    assert_eq!(alerts.observe(&db, &health("unhealthy")).await, 1);
    assert_eq!(alerts.observe(&db, &health("unhealthy")).await, 0);
    assert_eq!(alerts.observe(&db, &health("healthy")).await, 1);
    let posted = got.lock().unwrap().clone();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert_eq!(
        (
            &posted[0]["component"],
            &posted[0]["status"],
            &posted[0]["previous"]
        ),
        (&json!("ulm"), &json!("unhealthy"), &json!("healthy"))
    );
    assert_eq!(posted[1]["status"], "healthy");

    // Retention: 30 days keeps last week's row and drops last year's.
    for age in ["400 days", "7 days"] {
        sqlx::query(&format!("INSERT INTO audit_log (action, resource_type, occurred_at) VALUES ('test.age', 'test', now() - interval '{age}')"))
            .execute(&db)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO settings (category, key, value) VALUES ('audit', 'retention_days', '30')",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(ovu_aam::alerts::prune_audit(&db).await.unwrap(), 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'test.age'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 1);
}
