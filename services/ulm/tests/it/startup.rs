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
