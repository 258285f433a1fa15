//! `Application`: what `ovu-ulm serve` and the `ovu-stack` launcher run, over a real socket.

use std::time::Duration;

use ovu_ulm::Application;
use ovu_ulm::signing::Signer;
use sqlx::PgPool;

use crate::common::setup;

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn serves_on_the_port_it_reports_and_stops_when_told(db: PgPool) {
    // The test harness's settings (ULM_LISTEN_ADDR=127.0.0.1:0), on a pool of its own so
    // the shutdown's closing of it is observable.
    let t = setup(db.clone()).await;
    let pool = PgPool::connect_with((*db.connect_options()).clone())
        .await
        .unwrap();
    let app = Application::build_with(
        t.state.cfg.clone(),
        pool.clone(),
        t.state.redis.clone(),
        Signer::ephemeral(),
    )
    .await
    .unwrap();
    let addr = app.addr();
    assert!(addr.ip().is_loopback() && app.port() != 0, "{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    for path in ["/api/health", "/api/ready", "/api/v1/.well-known/jwks.json"] {
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // Metrics count the requests just served.
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("/api/ready"), "{metrics}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("stops within 10 s")
        .unwrap()
        .unwrap();
    assert!(pool.is_closed(), "the pool is closed on the way out");
    std::net::TcpListener::bind(addr).expect("the port is free again");
}

/// `ovu-ulm migrate` on a database whose last applied migration no longer matches this
/// version's (its checksum changed, as when the database or the file was edited): the process
/// exits with its own code for a failed migration, and the container's termination message
/// (what the operator shows in the system's status) names the migration. A failure that is not
/// a migration's still writes its message, with exit code 1.
#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn a_modified_migration_stops_migrate_with_its_own_exit_code_and_names_it(db: PgPool) {
    use ovu_kit::startup::{MIGRATION_FAILED_EXIT, TERMINATION_LOG_ENV};
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (source .run/env)");
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!(
        "/{}",
        db.connect_options().get_database().unwrap()
    ));
    let log =
        std::env::temp_dir().join(format!("ovu-termination-{}", uuid::Uuid::new_v4().simple()));
    let migrate = |vars: &[(&str, &str)]| {
        // The kubelet creates the file before the container starts; the service only writes.
        std::fs::write(&log, "").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovu-ulm"))
            .arg("migrate")
            .env(TERMINATION_LOG_ENV, &log)
            .envs(vars.iter().copied())
            .output()
            .expect("running ovu-ulm migrate");
        let message = std::fs::read_to_string(&log).unwrap();
        (
            out.status.code(),
            message,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let db_url = [("DATABASE_URL", url.as_str())];
    let (code, message, stderr) = migrate(&db_url);
    assert_eq!(code, Some(0), "an up-to-date database: {stderr}");
    assert_eq!(message, "", "nothing to report");

    let last = ovu_ulm::MIGRATOR.iter().last().unwrap();
    sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea || checksum WHERE version = $1",
    )
    .bind(last.version)
    .execute(&db)
    .await
    .unwrap();
    let (code, message, stderr) = migrate(&db_url);
    assert_eq!(
        code,
        Some(i32::from(MIGRATION_FAILED_EXIT)),
        "a modified migration: {stderr}"
    );
    let named = format!("migration {} ({})", last.version, last.description);
    assert!(
        message.starts_with("ovu-ulm: ") && message.contains(&named),
        "{message:?} does not name {named:?}"
    );
    assert!(message.contains("checksum mismatch"), "{message}");
    assert_eq!(stderr.trim_end().lines().last(), Some(message.as_str()));

    // Repaired, it migrates again.
    sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = substring(checksum from 2) WHERE version = $1",
    )
    .bind(last.version)
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(migrate(&db_url).0, Some(0));

    // A bad setting is not a migration's fault: exit code 1, and still a message.
    let (code, message, _) = migrate(&[db_url[0], ("REDIS_URL", "")]);
    assert_eq!(code, Some(1), "{message}");
    assert_eq!(
        message,
        "ovu-ulm: invalid configuration: REDIS_URL is required"
    );
    let _ = std::fs::remove_file(&log);
}
