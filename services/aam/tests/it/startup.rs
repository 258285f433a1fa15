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
