use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} (source .run/env)"))
}

/// `export NAME='value'` lines as the launcher writes them.
fn read_env(file: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn launcher(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ovu-stack"));
    c.args(args)
        .env("DATABASE_URL", env("DATABASE_URL"))
        .env("REDIS_URL", env("REDIS_URL"))
        .env("SMTP_URL", env("SMTP_URL"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    c
}

/// The launcher, killed if the test fails before it has stopped it (std's `Child` does not
/// end the process when dropped).
struct Launched(Child);

impl Drop for Launched {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits (bounded) for the child to exit.
fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < until,
            "ovu-stack did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The next line of `out` that starts with `prefix` (log lines skipped).
fn next_line_starting(out: &mut impl BufRead, prefix: &str) -> String {
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "no line starting {prefix:?}"
        );
        if line.starts_with(prefix) {
            return line;
        }
    }
}

async fn databases_like(prefix: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&env("DATABASE_URL")).await.unwrap();
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE $1 || '%' ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(&pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn starts_both_serves_the_admin_and_stops_on_sigterm() {
    let run = format!("stack_test_{}", uuid::Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join(&run);
    let mut child = Launched(
        launcher(&[
            "--ulm",
            "--aam",
            "--db-prefix",
            &run,
            "--drop-db",
            "--dir",
            dir.to_str().unwrap(),
            "--admin-email",
            "root@ovu.test",
            // Cheap hashing: the test is about the launcher, not argon2's cost.
            "--ulm-env",
            "ULM_ARGON2_M_KIB=64",
            "--ulm-env",
            "ULM_ARGON2_T=1",
        ])
        .spawn()
        .unwrap(),
    );
    let child = &mut child.0;

    // One line on stdout when ready (after the services' log lines, which go to stdout too);
    // the env file exists by then.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = next_line_starting(&mut out, "ovu-stack ");
    assert!(
        line.starts_with("ovu-stack ready: ULM http://127.0.0.1:"),
        "{line}"
    );
    let vars = read_env(&dir.join("stack.env"));
    let (ulm, aam) = (&vars["STACK_ULM_URL"], &vars["STACK_AAM_URL"]);
    assert!(
        line.contains(ulm.as_str()) && line.contains(aam.as_str()),
        "{line}"
    );
    assert_eq!(vars["STACK_ADMIN_EMAIL"], "root@ovu.test");
    assert_eq!(vars["STACK_PID"], child.id().to_string());
    assert_eq!(
        databases_like(&run).await,
        vec![format!("{run}_aam"), format!("{run}_ulm")]
    );

    let http = reqwest::Client::new();
    for base in [ulm, aam] {
        for path in ["/api/health", "/api/ready"] {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{base}{path}");
        }
    }
    // The bootstrap admin signs in at ULM with the written password, and AAM (which found
    // ULM's keys at the address the launcher gave it) accepts the token.
    let r = http
        .post(format!("{ulm}/api/v1/auth/login"))
        .json(&json!({"login": "root@ovu.test", "password": vars["STACK_ADMIN_PASSWORD"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["user"]["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("super_admin"))
    );
    let token = body["access_token"].as_str().unwrap();
    let r = http
        .get(format!("{aam}/api/v1/apps"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pw_file = std::fs::read_to_string(dir.join("admin-password")).unwrap();
    assert_eq!(pw_file.trim_end(), vars["STACK_ADMIN_PASSWORD"]);

    // SIGTERM: a clean exit, both ports free again, the env file and databases gone.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_exit(child, Duration::from_secs(30));
    assert!(exit.success(), "{exit}");
    assert_eq!(
        next_line_starting(&mut out, "ovu-stack "),
        "ovu-stack stopped\n"
    );
    for base in [ulm, aam] {
        let addr = base.trim_start_matches("http://");
        std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("{addr} still taken: {e}"));
    }
    assert!(!dir.join("stack.env").exists());
    assert!(databases_like(&run).await.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn aam_without_ulm_is_refused_with_a_reason() {
    let out = launcher(&["--aam"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ulm"), "{err}");
}
