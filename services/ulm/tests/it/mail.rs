//! Real mail: ULM's worker delivers over SMTP to Mailpit, the outbox holds no secret, and a
//! mail server outage delays mail without losing or duplicating it.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;
use sqlx::PgPool;

async fn register(t: &T, name: &str) -> String {
    let email = format!("{name}@example.com");
    t.post(
        "/api/v1/auth/register",
        json!({ "email": email, "username": name, "password": PW }),
    )
    .await
    .expect(202);
    email
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn registration_mail_arrives_over_smtp_and_its_fragment_token_verifies(db: PgPool) {
    let t = setup(db).await;
    let started = std::time::Instant::now();
    let email = register(&t, "noa").await;
    let text = t.mail(&email, "verify_email").await;
    // Woken by the commit, not found by a poll minutes later.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The token rides in the fragment, which browsers never send to a server.
    assert!(
        text.contains("https://ulm.example/verify-email#token="),
        "{text}"
    );
    assert!(!text.contains("?token="), "{text}");
    let token = token_in(&text);
    // Signing in waits for the address.
    t.post(
        "/api/v1/auth/login",
        json!({ "login": "noa", "password": PW }),
    )
    .await
    .error(403, "email_not_verified");
    t.post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .expect(200);
    t.login("noa", PW).await;
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM outbox WHERE to_email = $1")
            .bind(&email)
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("sent", 1));

    // A reset link arrives the same way, and works once.
    t.post("/api/v1/auth/forgot-password", json!({ "email": email }))
        .await
        .expect(202);
    let text = t.mail(&email, "reset_password").await;
    assert!(
        text.contains("https://ulm.example/reset-password#token="),
        "{text}"
    );
    let token = token_in(&text);
    let reset = json!({ "token": token, "new_password": "a brand new secret" });
    t.post("/api/v1/auth/reset-password", reset.clone())
        .await
        .expect(200);
    t.post("/api/v1/auth/reset-password", reset)
        .await
        .error(400, "invalid_token");
    assert_eq!(t.mailbox.to(&email).await.len(), 2);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn the_outbox_holds_no_token_and_no_link(db: PgPool) {
    let t = setup(db).await;
    let email = register(&t, "lior").await;
    let token = t.mailed_token(&email, "verify_email").await;
    t.post("/api/v1/auth/forgot-password", json!({ "email": email }))
        .await
        .expect(202);
    let reset = t.mailed_token(&email, "reset_password").await;
    // Every column of every row, as text: a database dump holds nothing a link needs.
    let rows: Vec<String> = sqlx::query_scalar("SELECT o::text FROM outbox o")
        .fetch_all(&t.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert!(!row.contains(&token) && !row.contains(&reset), "{row}");
        assert!(
            !row.contains("token=") && !row.contains("https://"),
            "{row}"
        );
    }
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'outbox' ORDER BY 1",
    )
    .fetch_all(&t.db)
    .await
    .unwrap();
    assert!(
        !columns.iter().any(|c| c == "body" || c == "subject"),
        "{columns:?}"
    );
    // The token tables keep only hashes, as before.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM one_time_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind(&token)
    .fetch_one(&t.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    // The admin view shows delivery metadata only.
    let (_, root) = t.with_role("root", "super_admin").await;
    let mail = t
        .send(req("GET", &format!("/api/v1/admin/outbox?to={email}")).bearer(&root))
        .await
        .expect(200)
        .body;
    let rows = mail.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{mail}");
    for m in rows {
        assert_eq!(m["state"], "sent", "{m}");
        assert_eq!(m["attempts"], 1, "{m}");
        assert!(m["sent_at"].is_string(), "{m}");
        assert!(m.get("body").is_none() && m.get("subject").is_none(), "{m}");
        assert!(!m.to_string().contains("token"), "{m}");
    }
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn an_outage_delays_mail_and_loses_none(db: PgPool) {
    let closed = closed_smtp_url().await;
    let mut down = setup_with(db.clone(), &[("SMTP_URL", &closed)]).await;
    let email = register(&down, "tamar").await;
    // The worker tries, fails, keeps the row queued with the reason, and backs off.
    let mut row = None;
    for _ in 0..100 {
        let r: (String, i32, Option<String>, bool) = sqlx::query_as(
            "SELECT state, attempts, last_error, next_attempt_at > now() FROM outbox WHERE to_email = $1",
        )
        .bind(&email)
        .fetch_one(&db)
        .await
        .unwrap();
        if r.1 > 0 && r.2.is_some() {
            row = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    down.stop_mailer().await;
    let (state, attempts, last_error, later) = row.expect("a failed attempt was recorded");
    assert_eq!(state, "queued");
    assert!(attempts >= 1);
    assert!(later, "the retry is scheduled in the future");
    let last_error = last_error.unwrap();
    assert!(!last_error.contains("token"), "{last_error}");
    // The token minted for the failed attempt no longer works: no valid link exists that is
    // not in somebody's mailbox.
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM one_time_tokens t JOIN users u ON u.id = t.user_id
         WHERE u.email = $1 AND t.used_at IS NULL",
    )
    .bind(&email)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(live, 0);

    // The server is back (a replica with working SMTP); the retry falls due.
    let up = setup(db.clone()).await;
    assert!(up.mailbox.to(&email).await.is_empty());
    sqlx::query("UPDATE outbox SET next_attempt_at = now()")
        .execute(&db)
        .await
        .unwrap();
    up.state.mailer.wake();
    let token = up.mailed_token(&email, "verify_email").await;
    up.post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .expect(200);
    let (state, attempts2, last_error): (String, i32, Option<String>) =
        sqlx::query_as("SELECT state, attempts, last_error FROM outbox WHERE to_email = $1")
            .bind(&email)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(state, "sent");
    assert_eq!(attempts2, attempts + 1);
    assert_eq!(last_error, None);
    // A few more worker passes, run here rather than waited for: none finds anything to
    // send, so nothing is delivered twice.
    for _ in 0..3 {
        let attempted = ovu_ulm::mail::deliver_due(&up.state).await.unwrap();
        assert_eq!(
            attempted, 0,
            "a pass after delivery found mail to send again"
        );
    }
    assert_eq!(up.mailbox.to(&email).await.len(), 1);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn without_smtp_mail_stays_queued(db: PgPool) {
    // Empty values count as unset.
    let t = setup_with(db, &[("SMTP_URL", ""), ("SMTP_FROM", "")]).await;
    assert!(!t.state.mailer.configured());
    let email = register(&t, "gal").await;
    // A worker pass, run here rather than waited for, sends nothing without SMTP.
    assert_eq!(ovu_ulm::mail::deliver_due(&t.state).await.unwrap(), 0);
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM outbox WHERE to_email = $1")
            .bind(&email)
            .fetch_one(&t.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 0));
    // And no token exists yet: it is minted only when a mail goes out.
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM one_time_tokens")
        .fetch_one(&t.db)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn a_verification_link_only_goes_to_the_current_address(db: PgPool) {
    let mut t = setup(db.clone()).await;
    t.user("yael", PW).await;
    let tok = t.token("yael", PW).await;
    // Change the address while the mail worker is down, then change it again.
    t.stop_mailer().await;
    for to in ["first@example.com", "second@example.com"] {
        t.send(
            req("PATCH", "/api/v1/users/me")
                .bearer(&tok)
                .json(json!({ "email": to, "current_password": PW })),
        )
        .await
        .expect(200);
    }
    let t2 = setup(db).await;
    t2.mailed_token("second@example.com", "verify_email").await;
    t2.mail_settled("first@example.com").await;
    assert!(t2.mailbox.to("first@example.com").await.is_empty());
    let (state, err): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM outbox WHERE to_email = 'first@example.com'")
            .fetch_one(&t2.db)
            .await
            .unwrap();
    assert_eq!(state, "failed");
    assert!(err.unwrap().contains("address changed"));
}

// --- SMTP with TLS and AUTH, against a Mailpit of the test's own ------------------------------
//
// The shared Mailpit of `scripts/services.sh` speaks plain SMTP and accepts any login, so it
// proves neither TLS nor AUTH. These tests start their own, with a certificate signed by a CA
// made here and a password file, in the mode each test needs, and read the mail from its API.

mod own {
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};
    use std::process::Stdio;
    use std::time::Duration;

    use serde_json::Value;
    use uuid::Uuid;

    pub const USER: &str = "ovu-mailer";

    /// How the test's Mailpit protects SMTP.
    #[derive(Clone, Copy)]
    pub enum Mode {
        /// `--smtp-require-starttls`: plain until STARTTLS, which it insists on.
        StartTls,
        /// `--smtp-require-tls`: TLS from the first byte.
        Tls,
    }

    /// A Mailpit process of this test (killed when dropped) and the files it and ULM read.
    pub struct Mailpit {
        pub smtp_port: u16,
        pub api: String,
        /// PEM of the CA that signed Mailpit's certificate: `SMTP_CA_FILE`.
        pub ca_file: String,
        /// The password Mailpit accepts for [`USER`], in a file: `SMTP_PASSWORD_FILE`.
        pub password: String,
        pub password_file: String,
        dir: PathBuf,
        _child: tokio::process::Child,
        http: reqwest::Client,
    }

    impl Drop for Mailpit {
        fn drop(&mut self) {
            // The child is killed by kill_on_drop; its files go with it.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// The TCP ports `pid` listens on, read from /proc: Mailpit is told to bind port 0 (so
    /// the kernel picks free ports and no other test or agent can race for them) and does not
    /// print what it got, so the test looks at the sockets the process holds.
    fn listening_ports(pid: u32) -> Vec<u16> {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return vec![];
        };
        let inodes: HashSet<String> = fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
            })
            .collect();
        let mut ports = vec![];
        for table in ["tcp", "tcp6"] {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // local_address is f[1] (hex ip:port), st is f[3] (0A = LISTEN), inode f[9].
                if f.len() > 9
                    && f[3] == "0A"
                    && inodes.contains(f[9])
                    && let Some(port) = f[1].rsplit(':').next()
                {
                    ports.push(u16::from_str_radix(port, 16).unwrap());
                }
            }
        }
        ports
    }

    impl Mailpit {
        pub async fn start(mode: Mode) -> Self {
            let bin = std::process::Command::new(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mailpit.sh"),
            )
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/mailpit.sh");
            assert!(bin.status.success(), "scripts/mailpit.sh failed");
            let bin = String::from_utf8(bin.stdout).unwrap().trim().to_string();

            let dir = std::env::temp_dir().join(format!("ulm-mailpit-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            // A CA, and a server certificate for 127.0.0.1 signed by it: ULM must trust the
            // CA (SMTP_CA_FILE) to accept the server, as with a private relay.
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca.distinguished_name
                .push(rcgen::DnType::CommonName, "OVU test mail CA");
            let ca = ca.self_signed(&ca_key).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let mut server =
                rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
                    .unwrap();
            server
                .distinguished_name
                .push(rcgen::DnType::CommonName, "mailpit test server");
            let server = server.signed_by(&key, &ca, &ca_key).unwrap();
            let ca_file = write(&dir, "ca.pem", &ca.pem());
            let cert_file = write(&dir, "server.pem", &server.pem());
            let key_file = write(&dir, "server.key", &key.serialize_pem());
            let password = format!("pw{}", Uuid::new_v4().simple());
            let password_file = write(&dir, "password", &format!("{password}\n"));
            let auth_file = write(&dir, "auth", &format!("{USER}:{password}\n"));

            // Its store in the test's directory: Mailpit deletes a temporary store only on
            // a clean exit, and this one is killed.
            let database = dir.join("mailpit.db");
            let mut cmd = tokio::process::Command::new(&bin);
            cmd.args([
                "--database",
                database.to_str().unwrap(),
                "--smtp",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                "--disable-version-check",
                "--smtp-disable-rdns",
                "--max",
                "0",
                "--smtp-tls-cert",
                &cert_file,
                "--smtp-tls-key",
                &key_file,
                "--smtp-auth-file",
                &auth_file,
                // Each message is tagged with the user that logged in: proof of the AUTH.
                "--tags-username",
                match mode {
                    Mode::StartTls => "--smtp-require-starttls",
                    Mode::Tls => "--smtp-require-tls",
                },
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("mailpit.log")).unwrap())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
            let child = cmd.spawn().expect("start mailpit");
            let pid = child.id().unwrap();
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            // Two listeners appear: SMTP and HTTP. The one that answers the API is HTTP.
            let mut ports = vec![];
            for _ in 0..100 {
                ports = listening_ports(pid);
                if ports.len() >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(ports.len(), 2, "mailpit's listeners: {ports:?}");
            let mut api = None;
            for _ in 0..50 {
                for &p in &ports {
                    let url = format!("http://127.0.0.1:{p}");
                    let ok = http
                        .get(format!("{url}/api/v1/info"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        api = Some((p, url));
                    }
                }
                if api.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let (http_port, api) = api.expect("mailpit's API answers");
            let smtp_port = ports.into_iter().find(|&p| p != http_port).unwrap();
            Self {
                smtp_port,
                api,
                ca_file,
                password,
                password_file,
                dir,
                _child: child,
                http,
            }
        }

        /// A file holding some other password.
        pub fn wrong_password_file(&self) -> String {
            write(&self.dir, "wrong", "not-the-password\n")
        }

        /// Every message Mailpit holds: (id, recipients, tags).
        pub async fn messages(&self) -> Vec<(String, Vec<String>, Vec<String>)> {
            let v: Value = self
                .http
                .get(format!("{}/api/v1/messages", self.api))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            let strings = |v: &Value, key: Option<&str>| -> Vec<String> {
                v.as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|x| match key {
                        Some(k) => x[k].as_str().map(str::to_string),
                        None => x.as_str().map(str::to_string),
                    })
                    .collect()
            };
            v["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    (
                        m["ID"].as_str().unwrap().to_string(),
                        strings(&m["To"], Some("Address")),
                        strings(&m["Tags"], None),
                    )
                })
                .collect()
        }

        /// The text of the one message to `to`, waiting (bounded) for it.
        pub async fn text_to(&self, to: &str) -> (String, Vec<String>) {
            for _ in 0..100 {
                let found: Vec<_> = self
                    .messages()
                    .await
                    .into_iter()
                    .filter(|(_, rcpt, _)| rcpt.iter().any(|r| r == to))
                    .collect();
                if let [(id, _, tags)] = found.as_slice() {
                    let v: Value = self
                        .http
                        .get(format!("{}/api/v1/message/{id}", self.api))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    return (v["Text"].as_str().unwrap().to_string(), tags.clone());
                }
                assert!(found.len() < 2, "{found:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no mail to {to} in the test's Mailpit");
        }
    }
}

use own::{Mailpit, Mode, USER};

/// The outbox row of the one mail to `to`: (state, attempts, last_error).
async fn outbox_row(db: &PgPool, to: &str) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT state, attempts, last_error FROM outbox WHERE to_email = $1")
        .bind(to)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Waits (bounded) until the mail to `to` has been tried at least once and the outcome
/// recorded (the attempt is counted when the row is claimed, before the send).
async fn first_attempt(db: &PgPool, to: &str) -> (String, i32, Option<String>) {
    for _ in 0..150 {
        let row = outbox_row(db, to).await;
        if row.1 > 0 && (row.0 != "queued" || row.2.is_some()) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no attempt to send the mail to {to}");
}

/// Registers `name` through ULM and checks that the verification mail arrived at `mailpit`,
/// sent by a login as [`USER`], and that its link verifies the address.
async fn delivered_and_verifies(t: &T, mailpit: &Mailpit, name: &str) {
    let email = register(t, name).await;
    t.mail_settled(&email).await;
    let (state, attempts, last_error) = outbox_row(&t.db, &email).await;
    assert_eq!(
        (state.as_str(), attempts, last_error.as_deref()),
        ("sent", 1, None)
    );
    let (text, tags) = mailpit.text_to(&email).await;
    assert!(
        tags.iter().any(|t| t == USER),
        "signed in as {USER}: {tags:?}"
    );
    let token = token_in(&text);
    t.post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .expect(200);
    t.login(name, PW).await;
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn starttls_with_auth_delivers_once_the_servers_ca_is_trusted(db: PgPool) {
    let mailpit = Mailpit::start(Mode::StartTls).await;
    let port = mailpit.smtp_port.to_string();
    let without_ca = vec![
        ("SMTP_URL", ""),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", port.as_str()),
        ("SMTP_TLS", "starttls"),
        ("SMTP_USERNAME", USER),
        ("SMTP_PASSWORD_FILE", mailpit.password_file.as_str()),
    ];
    let mut with_ca = without_ca.clone();
    with_ca.push(("SMTP_CA_FILE", mailpit.ca_file.as_str()));
    // Without the CA the server's certificate is refused: nothing goes out in clear text or to
    // an unverified server, and the mail waits.
    let mut untrusting = setup_with(db.clone(), &without_ca).await;
    let email = register(&untrusting, "dana").await;
    let (state, _, last_error) = first_attempt(&db, &email).await;
    untrusting.stop_mailer().await;
    let last_error = last_error.unwrap();
    assert_eq!(state, "queued", "{last_error}");
    assert!(last_error.contains("certificate"), "{last_error}");
    assert!(mailpit.messages().await.is_empty());

    // With SMTP_CA_FILE: STARTTLS, AUTH, delivered — the waiting mail once due, a new one at once.
    let t = setup_with(db.clone(), &with_ca).await;
    sqlx::query("UPDATE outbox SET next_attempt_at = now()")
        .execute(&db)
        .await
        .unwrap();
    t.state.mailer.wake();
    t.mail_settled(&email).await;
    let (text, _) = mailpit.text_to(&email).await;
    assert!(text.contains("#token="), "{text}");
    delivered_and_verifies(&t, &mailpit, "ella").await;
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn implicit_tls_with_auth_delivers_in_either_form(db: PgPool) {
    let mailpit = Mailpit::start(Mode::Tls).await;
    let port = mailpit.smtp_port.to_string();
    // SMTP_HOST + SMTP_TLS=tls + the password file.
    let mut t = setup_with(
        db.clone(),
        &[
            ("SMTP_URL", ""),
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", port.as_str()),
            ("SMTP_TLS", "tls"),
            ("SMTP_USERNAME", USER),
            ("SMTP_PASSWORD_FILE", mailpit.password_file.as_str()),
            ("SMTP_CA_FILE", mailpit.ca_file.as_str()),
        ],
    )
    .await;
    delivered_and_verifies(&t, &mailpit, "omer").await;
    t.stop_mailer().await;
    // SMTP_URL smtps://user:password@host:port: the CA applies to the URL form too.
    let url = format!("smtps://{USER}:{}@127.0.0.1:{port}", mailpit.password);
    let t = setup_with(
        db,
        &[
            ("SMTP_URL", url.as_str()),
            ("SMTP_CA_FILE", mailpit.ca_file.as_str()),
        ],
    )
    .await;
    delivered_and_verifies(&t, &mailpit, "shir").await;
}

/// Log lines written while `f` runs, captured from the tracing events of this task.
async fn logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    use std::sync::{Arc, Mutex};
    use tracing::instrument::WithSubscriber;
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = f.with_subscriber(subscriber).await;
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn a_refused_login_keeps_mail_queued_and_says_why_without_the_password(db: PgPool) {
    let mailpit = Mailpit::start(Mode::StartTls).await;
    let port = mailpit.smtp_port.to_string();
    let wrong_file = mailpit.wrong_password_file();
    let vars = |password_file: &str| {
        vec![
            ("SMTP_URL".to_string(), String::new()),
            ("SMTP_HOST".into(), "127.0.0.1".into()),
            ("SMTP_PORT".into(), port.clone()),
            ("SMTP_TLS".into(), "starttls".into()),
            ("SMTP_USERNAME".into(), USER.into()),
            ("SMTP_PASSWORD_FILE".into(), password_file.to_string()),
            ("SMTP_CA_FILE".into(), mailpit.ca_file.clone()),
        ]
    };
    let wrong = vars(&wrong_file);
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut t = setup_with(db.clone(), &wrong).await;
    // Passes run here, not by the worker, so their log lines can be read.
    t.stop_mailer().await;
    let email = register(&t, "rotem").await;
    for attempt in 1..=2 {
        let (attempted, log) = logged(ovu_ulm::mail::deliver_due(&t.state)).await;
        assert_eq!(attempted.unwrap(), 1);
        let (state, attempts, last_error) = outbox_row(&db, &email).await;
        let last_error = last_error.unwrap();
        // Kept, to be retried: a wrong password must not throw away every mail queued until
        // someone fixes it.
        assert_eq!(
            (state.as_str(), attempts),
            ("queued", attempt),
            "{last_error}"
        );
        // Why, in the server's words (535: credentials invalid), and never the password —
        // neither the wrong one sent nor the right one.
        assert!(
            last_error.contains("refused our login") && last_error.contains("535"),
            "{last_error}"
        );
        assert!(
            log.contains("mail not sent") && log.contains("535"),
            "{log}"
        );
        for secret in ["not-the-password", mailpit.password.as_str()] {
            assert!(!last_error.contains(secret), "{last_error}");
            assert!(!log.contains(secret), "{log}");
        }
        assert!(mailpit.messages().await.is_empty());
        sqlx::query("UPDATE outbox SET next_attempt_at = now()")
            .execute(&db)
            .await
            .unwrap();
    }
    // The password is fixed (a restart with the right file): the same mail goes out.
    let right = vars(&mailpit.password_file);
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let t = setup_with(db.clone(), &right).await;
    t.mail_settled(&email).await;
    let (state, attempts, last_error) = outbox_row(&db, &email).await;
    assert_eq!((state.as_str(), attempts, last_error), ("sent", 3, None));
    let (text, _) = mailpit.text_to(&email).await;
    let token = token_in(&text);
    t.post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .expect(200);
}

#[sqlx::test(migrator = "ovu_ulm::MIGRATOR")]
async fn a_server_that_never_answers_costs_one_timeout_and_the_mail_waits(db: PgPool) {
    // Accepts connections and holds them without a word: not even the 220 greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let held = tokio::spawn(async move {
        let mut conns = vec![];
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    let mut t = setup_with(
        db.clone(),
        &[
            ("SMTP_URL", ""),
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", port.as_str()),
            ("SMTP_TLS", "starttls"),
            ("SMTP_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    t.stop_mailer().await;
    let email = register(&t, "avi").await;
    let started = std::time::Instant::now();
    assert_eq!(ovu_ulm::mail::deliver_due(&t.state).await.unwrap(), 1);
    let took = started.elapsed();
    // Bounded by SMTP_TIMEOUT_SECS (plus bookkeeping), not by the server.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let (state, attempts, last_error) = outbox_row(&db, &email).await;
    let last_error = last_error.unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 1), "{last_error}");
    assert!(last_error.contains("timed out"), "{last_error}");
    held.abort();
}
