//! `Application`: what `ovu-aam serve` and the `ovu-stack` launcher run, over a real socket.

use std::sync::Arc;
use std::time::Duration;

use ovu_aam::Application;
use ovu_aam::cluster::NoCluster;
use sqlx::PgPool;

use crate::common::{Ulm, aam};

#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn serves_on_the_port_it_reports_and_stops_when_told(db: PgPool) {
    let ulm = Ulm::start(&db).await;
    // The harness's settings (AAM_LISTEN_ADDR=127.0.0.1:0), beside a real ULM.
    let t = aam(db.clone(), &ulm.url(), &[]).await;
    let app = Application::build_with(
        t.state.cfg.clone(),
        db.clone(),
        t.state.redis.clone(),
        Arc::new(NoCluster),
    )
    .await
    .unwrap();
    let addr = app.addr();
    assert!(addr.ip().is_loopback() && app.port() != 0, "{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    for path in ["/api/health", "/api/ready"] {
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // /api/ready reports the ULM it was given.
    let ready: serde_json::Value = reqwest::get(format!("http://{addr}/api/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ulm"]["ok"], true, "{ready}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("stops within 10 s")
        .unwrap()
        .unwrap();
    std::net::TcpListener::bind(addr).expect("the port is free again");
}

/// `ovu-aam migrate` on a database whose last applied migration was changed: exit code 3
/// (the operator's `MigrationFailed`) and a termination message naming the migration.
#[sqlx::test(migrator = "ovu_aam::MIGRATOR")]
async fn a_modified_migration_stops_migrate_with_its_own_exit_code_and_names_it(db: PgPool) {
    use ovu_kit::startup::{MIGRATION_FAILED_EXIT, TERMINATION_LOG_ENV};
    let last = ovu_aam::MIGRATOR.iter().last().unwrap();
    sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea || checksum WHERE version = $1",
    )
    .bind(last.version)
    .execute(&db)
    .await
    .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (source .run/env)");
    let (head, _) = base.split_once('?').unwrap_or((base.as_str(), ""));
    let (server, _) = head.rsplit_once('/').unwrap();
    let database = db.connect_options().get_database().unwrap().to_string();
    let log =
        std::env::temp_dir().join(format!("ovu-termination-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&log, "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovu-aam"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("{server}/{database}?sslmode=disable"),
        )
        .env("ULM_URL", "http://127.0.0.1:1")
        .env(TERMINATION_LOG_ENV, &log)
        .output()
        .expect("running ovu-aam migrate");
    let message = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert_eq!(
        out.status.code(),
        Some(i32::from(MIGRATION_FAILED_EXIT)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let named = format!("migration {} ({})", last.version, last.description);
    assert!(
        message.starts_with("ovu-aam: ") && message.contains(&named),
        "{message:?} does not name {named:?}"
    );
}
