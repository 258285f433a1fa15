//! The shell and SQL the operator renders, run for real: the PostgreSQL bootstrap against
//! real PostgreSQL binaries (`OVU_PG_BIN`, the 16 of scripts/services.sh; else Debian's) (twice, it must be idempotent), the backup script with its
//! count-based retention against that server, and the Redis start script against
//! redis-server. Nothing here is simulated; the scripts are exactly what the pods run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ovu_operator::render::{backup, database, restore};

/// The binaries scripts/services.sh runs (`OVU_PG_BIN` in its env file: PostgreSQL 16, as in
/// production), else Debian's newest.
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("OVU_PG_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(base)
        .expect("Debian's postgresql package (scripts/deps.sh installs it)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

struct Dir(PathBuf);
impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ovu-scripts-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn sub(&self, s: &str) -> PathBuf {
        let p = self.0.join(s);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `sh -c script` with env, as the `postgres` user when we are root (initdb refuses root).
fn sh(script: &str, env: &[(&str, String)], owner_dir: &Path) -> Output {
    let mut cmd = if is_root() {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(owner_dir)
            .status();
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("runuser (util-linux)");
        let mut c = Command::new(runuser);
        c.args(["-u", "postgres", "--", "sh", "-c", script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    };
    cmd.env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.current_dir("/");
    cmd.output().unwrap()
}

/// The PostgreSQL Secret as the pod sees it: one file per key, in `dir`.
fn pg_secrets(dir: &Path, superuser: &str, ulm: &str, aam: &str, backup: &str) {
    for (k, v) in [
        ("superuser-password", superuser),
        ("ulm-password", ulm),
        ("aam-password", aam),
        ("backup-password", backup),
    ] {
        std::fs::write(dir.join(k), v).unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ok(o: &Output, what: &str) -> String {
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what} failed:\n{out}");
    out
}

/// A volume made by PostgreSQL 15 (Debian's, as the local image was before 16) under the 16
/// image: the bootstrap refuses it before anything runs on it, with exit code 4 and a
/// termination message the operator reports as `DataVersionMismatch`.
#[test]
fn postgres_bootstrap_refuses_a_data_directory_of_another_major_version() {
    let bin = pg_bin();
    let version = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.contains("PostgreSQL) 16."),
        "the bootstrap is tested with PostgreSQL 16 (OVU_PG_BIN of scripts/services.sh's .run/env), not {version}"
    );
    let pg15 = Path::new("/usr/lib/postgresql/15/bin");
    assert!(
        pg15.join("initdb").exists(),
        "Debian's PostgreSQL 15 (scripts/deps.sh) makes the old data directory"
    );
    let d = Dir::new("pg-major");
    let conf = d.sub("conf");
    std::fs::write(conf.join("init.sql"), database::INIT_SQL).unwrap();
    std::fs::write(conf.join("pg_hba.conf"), database::PG_HBA).unwrap();
    let sock = d.sub("sock");
    let tmp = d.sub("tmp");
    let secrets = d.sub("secrets");
    pg_secrets(&secrets, "Su9perSecret", "u", "a", "b");
    let data = d.0.join("data/pgdata");
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    let term = tmp.join("termination-log");
    let env = |bin: &Path| {
        vec![
            ("PATH", format!("{}:/usr/bin:/bin", bin.display())),
            ("PGDATA", data.display().to_string()),
            ("PGPORT", free_port().to_string()),
            ("OVU_PG_SECRETS", secrets.display().to_string()),
            ("OVU_PG_CONFIG_DIR", conf.display().to_string()),
            ("OVU_PG_SOCKET_DIR", sock.display().to_string()),
            ("OVU_TMP_DIR", tmp.display().to_string()),
            ("TERMINATION_LOG", term.display().to_string()),
        ]
    };
    // PostgreSQL 15's bootstrap makes the volume, as a system made before 16 had it.
    ok(
        &sh(database::INIT_SH, &env(pg15), &d.0),
        "bootstrap with 15",
    );
    let listing = |dir: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing(&data);
    let control = std::fs::read(data.join("global/pg_control")).unwrap();

    let out = sh(database::INIT_SH, &env(&bin), &d.0);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(4), "exit status; stderr: {said}");
    let message = std::fs::read_to_string(&term).expect("a termination message");
    assert!(
        message.starts_with(
            "the data directory is PostgreSQL 15's and this image runs PostgreSQL 16, which cannot open it (nothing was changed)"
        ) && message.contains("README: Moving to PostgreSQL 16"),
        "{message}"
    );
    assert!(said.contains(message.trim()), "{said}");
    // Untouched: no server ran on it, nothing was added, its control file is the same.
    assert_eq!(
        std::fs::read_to_string(data.join("PG_VERSION"))
            .unwrap()
            .trim(),
        "15"
    );
    assert_eq!(listing(&data), before);
    assert_eq!(
        std::fs::read(data.join("global/pg_control")).unwrap(),
        control
    );
}

#[test]
fn postgres_bootstrap_is_idempotent_and_backups_keep_the_newest() {
    let d = Dir::new("pg");
    let conf = d.sub("conf");
    std::fs::write(conf.join("init.sql"), database::INIT_SQL).unwrap();
    std::fs::write(conf.join("pg_hba.conf"), database::PG_HBA).unwrap();
    let sock = d.sub("sock");
    let tmp = d.sub("tmp");
    let data = d.0.join("data/pgdata");
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    let port = free_port();
    let bin = pg_bin();
    let secrets = d.sub("secrets");
    pg_secrets(
        &secrets,
        "Su9perSecret",
        "0vuUlmPass",
        "0vuAamPass",
        "B4ckupPass",
    );
    let env = vec![
        ("PATH", format!("{}:/usr/bin:/bin", bin.display())),
        ("PGDATA", data.display().to_string()),
        ("PGPORT", port.to_string()),
        ("OVU_PG_SECRETS", secrets.display().to_string()),
        ("OVU_PG_CONFIG_DIR", conf.display().to_string()),
        ("OVU_PG_SOCKET_DIR", sock.display().to_string()),
        ("OVU_TMP_DIR", tmp.display().to_string()),
    ];
    let first = ok(&sh(database::INIT_SH, &env, &d.0), "first bootstrap");
    assert!(
        first.contains("ulm_user owns ulm_db, aam_user owns aam_db"),
        "{first}"
    );
    // No password reached an argument or a variable of the bootstrap's commands.
    assert!(
        !first.contains("0vuUlmPass") && !first.contains("Su9perSecret"),
        "{first}"
    );
    // Second start: existing data, same script, changed passwords are applied.
    let env2 = env.clone();
    pg_secrets(
        &secrets,
        "Su9perSecret",
        "r0tatedPass",
        "r0tatedAam",
        "B4ckupPass",
    );
    ok(&sh(database::INIT_SH, &env2, &d.0), "second bootstrap");

    // Start the server as the pod does (TCP, our pg_hba) and check what the services rely on.
    let start = format!(
        "pg_ctl -D \"$PGDATA\" -w -l {tmp}/server.log -o \"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sock} -c hba_file={conf}/pg_hba.conf\" start",
        tmp = tmp.display(),
        sock = sock.display(),
        conf = conf.display()
    );
    ok(&sh(&start, &env2, &d.0), "server start");
    let stop = "pg_ctl -D \"$PGDATA\" -m fast -w stop";
    let check = |user: &str, db: &str, pass: &str| {
        let q = format!(
            "PGPASSWORD={pass} psql -tA -h 127.0.0.1 -p {port} -U {user} -d {db} -c 'create table t(x int); drop table t; select current_user'"
        );
        sh(&q, &env2, &d.0)
    };
    let result = std::panic::catch_unwind(|| {
        for (user, db, pass) in [
            ("ulm_user", "ulm_db", "r0tatedPass"),
            ("aam_user", "aam_db", "r0tatedAam"),
        ] {
            let out = ok(&check(user, db, pass), db);
            assert!(out.contains(user), "{out}");
        }
        // Each service's role reaches its own database only.
        assert!(
            !check("ulm_user", "aam_db", "r0tatedPass").status.success(),
            "ulm_user can connect to aam_db"
        );
        assert!(
            !check("aam_user", "ulm_db", "r0tatedAam").status.success(),
            "aam_user can connect to ulm_db"
        );
        assert!(
            !check("ulm_user", "ulm_db", "0vuUlmPass").status.success(),
            "old password still works"
        );
        assert!(!check("ulm_user", "ulm_db", "wrong").status.success());
        // The superuser may not sign in over the network, even with its password.
        let su = check("postgres", "postgres", "Su9perSecret");
        assert!(!su.status.success(), "the superuser signed in over TCP");
        assert!(
            String::from_utf8_lossy(&su.stderr).contains("pg_hba.conf rejects connection"),
            "{}",
            String::from_utf8_lossy(&su.stderr)
        );
        // The backup role reads both databases but owns neither and is no superuser.
        let out = ok(
            &sh(
                &format!(
                    "PGPASSWORD=B4ckupPass psql -tA -h 127.0.0.1 -p {port} -U ovu_backup -d ulm_db -c 'select rolsuper from pg_roles where rolname = current_user'"
                ),
                &env2,
                &d.0,
            ),
            "ovu_backup",
        );
        assert_eq!(out.trim(), "f");

        // Backups: three runs with RETAIN=2 keep the newest two complete backups.
        let backups = d.sub("backups");
        let mut benv = env2.clone();
        benv.push(("PGHOST", "127.0.0.1".into()));
        benv.push(("RETAIN", "2".into()));
        benv.push(("BACKUP_DIR", backups.display().to_string()));
        let mut made = Vec::new();
        for _ in 0..3 {
            let out = ok(&sh(&backup_sh(), &benv, &d.0), "backup");
            made.push(out);
        }
        let mut left: Vec<String> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "retention kept {left:?}; runs: {made:?}");
        for b in &left {
            for db in ["ulm_db", "aam_db"] {
                let f = backups.join(b).join(format!("{db}.dump"));
                assert!(std::fs::metadata(&f).unwrap().len() > 0, "{}", f.display());
            }
        }
        assert!(made[2].contains(&left[1]), "the newest backup is kept");
    });
    ok(&sh(stop, &env2, &d.0), "server stop");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn redis_confines_each_service_to_its_key_prefix() {
    let d = Dir::new("redis");
    let tmp = d.sub("tmp");
    let secrets = d.sub("secrets");
    for (k, v) in [
        ("password", "RedisAdmin123"),
        ("ulm-password", "RedisUlm456"),
        ("aam-password", "RedisAam789"),
    ] {
        std::fs::write(secrets.join(k), v).unwrap();
    }
    let port = free_port();
    let env = [
        ("PATH", "/usr/bin:/bin".to_string()),
        ("REDIS_MAXMEMORY", "64mb".to_string()),
        ("REDIS_PORT", port.to_string()),
        ("REDIS_BIND", "127.0.0.1".to_string()),
        ("OVU_TMP_DIR", tmp.display().to_string()),
        ("OVU_REDIS_SECRETS", secrets.display().to_string()),
    ];
    let mut child = Command::new("sh")
        .args(["-c", database::REDIS_SH])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server)");
    // `user` signs in with REDISCLI_AUTH, as the pod's probe does; "" means no sign-in.
    let cli = |user: &str, pass: &str, args: &[&str]| {
        let mut c = Command::new("redis-cli");
        c.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        if !user.is_empty() {
            c.args(["--user", user]).env("REDISCLI_AUTH", pass);
        }
        let o = c.args(args).output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let mut pong = String::new();
    for _ in 0..50 {
        pong = cli("ovu-admin", "RedisAdmin123", &["ping"]);
        if pong.contains("PONG") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (ulm, aam, admin) = (
        ("ulm", "RedisUlm456"),
        ("aam", "RedisAam789"),
        ("ovu-admin", "RedisAdmin123"),
    );
    // (what, (user, password), command, the answer must contain)
    type Case<'a> = (&'a str, (&'a str, &'a str), &'a [&'a str], &'a str);
    let cases: [Case; 14] = [
        ("unauthenticated ping", ("", ""), &["ping"], "NOAUTH"),
        (
            "default user",
            ("default", "RedisAdmin123"),
            &["ping"],
            "WRONGPASS",
        ),
        ("ulm own key", ulm, &["set", "ulm:k", "v"], "OK"),
        (
            "ulm script",
            ulm,
            &["eval", "return redis.call('incr', KEYS[1])", "1", "ulm:n"],
            "1",
        ),
        ("ulm reads aam", ulm, &["get", "aam:k"], "NOPERM"),
        ("ulm other key", ulm, &["set", "x", "v"], "NOPERM"),
        ("ulm flushdb", ulm, &["flushdb"], "NOPERM"),
        ("ulm config", ulm, &["config", "get", "maxmemory"], "NOPERM"),
        ("ulm keys", ulm, &["keys", "*"], "NOPERM"),
        (
            "ulm wrong password",
            ("ulm", "RedisAam789"),
            &["ping"],
            "WRONGPASS",
        ),
        ("aam own key", aam, &["set", "aam:k", "v"], "OK"),
        ("aam reads ulm", aam, &["get", "ulm:k"], "NOPERM"),
        (
            "admin maxmemory",
            admin,
            &["config", "get", "maxmemory"],
            "67108864",
        ),
        ("admin acl", admin, &["acl", "list"], "user ulm on"),
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|(_, (u, p), args, _)| cli(u, p, args))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let conf = std::fs::read_to_string(tmp.join("redis.conf")).unwrap_or_default();
    assert!(pong.contains("PONG"), "admin ping: {pong}");
    for ((what, _, _, want), got) in cases.iter().zip(&got) {
        assert!(got.contains(want), "{what}: want {want}, got {got}");
    }
    // Neither the configuration nor the ACL holds a password, only SHA-256 hashes.
    for pw in ["RedisAdmin123", "RedisUlm456", "RedisAam789"] {
        assert!(
            !conf.contains(pw) && !got[13].contains(pw),
            "{pw} in {conf}"
        );
    }
}

/// A PostgreSQL bootstrapped by the pod's INIT_SH and started as the pod starts it.
struct Server {
    env: Vec<(&'static str, String)>,
    port: u16,
    root: PathBuf,
    superuser: String,
    sock: PathBuf,
    /// The `pg_ctl start` the pod's start amounts to, for a restart.
    start: String,
}

/// The scripts as the Jobs run them (with the prelude that signs in as `ovu_backup`).
fn backup_sh() -> String {
    backup::tool_script(backup::BACKUP_SH)
}
fn restore_sh() -> String {
    backup::tool_script(restore::RESTORE_SH)
}

impl Server {
    fn start(d: &Dir, tag: &str, superuser: &str) -> Server {
        let conf = d.sub(&format!("{tag}/conf"));
        std::fs::write(conf.join("init.sql"), database::INIT_SQL).unwrap();
        std::fs::write(conf.join("pg_hba.conf"), database::PG_HBA).unwrap();
        let sock = d.sub(&format!("{tag}/sock"));
        let tmp = d.sub(&format!("{tag}/tmp"));
        let data = d.0.join(format!("{tag}/data/pgdata"));
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        let port = free_port();
        let secrets = d.sub(&format!("{tag}/secrets"));
        pg_secrets(
            &secrets,
            superuser,
            "0vuUlmPass",
            "0vuAamPass",
            "B4ckupPass",
        );
        // No PGPASSWORD: the scripts must find their password in the Secret's files.
        let env = vec![
            ("PATH", format!("{}:/usr/bin:/bin", pg_bin().display())),
            ("PGDATA", data.display().to_string()),
            ("PGPORT", port.to_string()),
            ("OVU_PG_SECRETS", secrets.display().to_string()),
            ("OVU_PG_CONFIG_DIR", conf.display().to_string()),
            ("OVU_PG_SOCKET_DIR", sock.display().to_string()),
            ("OVU_TMP_DIR", tmp.display().to_string()),
            ("PGHOST", "127.0.0.1".to_string()),
        ];
        ok(
            &sh(database::INIT_SH, &env, &d.0),
            &format!("{tag} bootstrap"),
        );
        let start = format!(
            "pg_ctl -D \"$PGDATA\" -w -l {tmp}/server.log -o \"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sock} -c hba_file={conf}/pg_hba.conf\" start",
            tmp = tmp.display(),
            sock = sock.display(),
            conf = conf.display()
        );
        ok(&sh(&start, &env, &d.0), &format!("{tag} start"));
        Server {
            env,
            port,
            root: d.0.clone(),
            superuser: superuser.to_string(),
            sock,
            start,
        }
    }
    /// psql as `user`: the superuser `postgres` (on the socket: it may not use TCP), `backup`
    /// for `ovu_backup`, or `owner` for the service role owning `db`.
    fn sql(&self, user: &str, db: &str, q: &str) -> String {
        let tcp = "127.0.0.1".to_string();
        let (user, pass, host) = match (user, db) {
            ("owner", "ulm_db") => ("ulm_user", "0vuUlmPass".to_string(), tcp),
            ("owner", "aam_db") => ("aam_user", "0vuAamPass".to_string(), tcp),
            ("backup", _) => ("ovu_backup", "B4ckupPass".to_string(), tcp),
            _ => (
                user,
                self.superuser.clone(),
                self.sock.display().to_string(),
            ),
        };
        let cmd = format!(
            "PGPASSWORD={pass} psql -X -v ON_ERROR_STOP=1 -tA -h {host} -p {} -U {user} -d {db} -c \"{q}\"",
            self.port
        );
        ok(&sh(&cmd, &self.env, &self.root), q).trim().to_string()
    }
    fn stop(&self) {
        ok(
            &sh(
                "pg_ctl -D \"$PGDATA\" -m fast -w stop",
                &self.env,
                &self.root,
            ),
            "stop",
        );
    }
    fn start_again(&self) {
        ok(&sh(&self.start, &self.env, &self.root), "start again");
    }
    /// Stops the server, runs the pod's bootstrap again (as a restarted pod does) and starts it.
    fn rebootstrap(&self) {
        self.stop();
        ok(
            &sh(database::INIT_SH, &self.env, &self.root),
            "bootstrap again",
        );
        self.start_again();
    }
    fn with(&self, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut e = self.env.clone();
        e.extend(extra.iter().cloned());
        e
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = sh(
            "pg_ctl -D \"$PGDATA\" -m fast -w stop",
            &self.env,
            &self.root,
        );
    }
}

#[test]
fn a_restore_fills_a_new_systems_empty_databases_from_the_chosen_backup_once() {
    let d = Dir::new("restore");
    let backups = d.sub("backups");
    let old = Server::start(&d, "old", "OldSuperPass1");
    // What the services would have made, as the services' user: a table in each database.
    for db in ["ulm_db", "aam_db"] {
        old.sql(
            "owner",
            db,
            "CREATE TABLE facts (id serial PRIMARY KEY, what text NOT NULL); INSERT INTO facts (what) VALUES ('first')",
        );
    }
    // ULM's migrations create pg_trgm as the services' user (a trusted extension): the restore,
    // which runs as that user too, must bring it back with its index.
    old.sql(
        "owner",
        "ulm_db",
        "CREATE EXTENSION pg_trgm; CREATE INDEX facts_what_trgm ON facts USING gin (what gin_trgm_ops)",
    );
    let benv = old.with(&[
        ("RETAIN", "5".into()),
        ("BACKUP_DIR", backups.display().to_string()),
    ]);
    ok(&sh(&backup_sh(), &benv, &d.0), "first backup");
    let first = backups_in(&backups).pop().expect("a backup");
    old.sql(
        "owner",
        "ulm_db",
        "INSERT INTO facts (what) VALUES ('second')",
    );
    ok(&sh(&backup_sh(), &benv, &d.0), "second backup");
    drop(old);

    // The new system: its own server, fresh databases, another superuser password.
    let new = Server::start(&d, "new", "NewSuperPass2");
    let renv = |backup: &str| {
        new.with(&[
            ("RESTORE_DIR", backups.display().to_string()),
            ("RESTORE_BACKUP", backup.to_string()),
        ])
    };
    let missing = sh(&restore_sh(), &renv("20200101T000000Z"), &d.0);
    let said = String::from_utf8_lossy(&missing.stderr).into_owned();
    assert!(!missing.status.success(), "a missing backup must fail");
    assert!(
        said.contains("backup 20200101T000000Z is not in the volume") && said.contains(&first),
        "the error names the backups there are: {said}"
    );

    let out = ok(&sh(&restore_sh(), &renv("latest"), &d.0), "restore");
    assert!(out.contains("restore complete"), "{out}");
    assert_eq!(
        new.sql(
            "owner",
            "ulm_db",
            "SELECT string_agg(what, ',' ORDER BY id) FROM facts"
        ),
        "first,second",
        "latest is the newest backup"
    );
    assert_eq!(
        new.sql("owner", "aam_db", "SELECT count(*) FROM facts"),
        "1"
    );
    assert_eq!(
        new.sql(
            "owner",
            "ulm_db",
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'facts_what_trgm'"
        ),
        "1",
        "the trigram index (and so pg_trgm) came back"
    );
    // The services' user owns what was restored and can change it (migrations will).
    assert_eq!(
        new.sql(
            "postgres",
            "ulm_db",
            "SELECT tableowner FROM pg_tables WHERE tablename = 'facts'"
        ),
        "ulm_user"
    );
    new.sql("owner", "ulm_db", "ALTER TABLE facts ADD COLUMN note text");

    // The Job's pod retried after success: nothing is restored twice.
    let again = ok(&sh(&restore_sh(), &renv("latest"), &d.0), "restore again");
    assert!(again.contains("ulm_db was already restored"), "{again}");
    assert_eq!(
        new.sql("owner", "ulm_db", "SELECT count(*) FROM facts"),
        "2"
    );

    // Another backup into databases that hold data: refused, nothing merged.
    let other = sh(&restore_sh(), &renv(&first), &d.0);
    let said = String::from_utf8_lossy(&other.stderr).into_owned();
    assert!(!other.status.success(), "restoring over data must fail");
    assert!(said.contains("already holds"), "{said}");
    assert_eq!(
        new.sql("owner", "ulm_db", "SELECT count(*) FROM facts"),
        "2"
    );
}

/// Names of the databases on a server, as the superuser sees them.
fn databases(s: &Server) -> Vec<String> {
    s.sql(
        "postgres",
        "postgres",
        "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database",
    )
    .split_whitespace()
    .map(str::to_owned)
    .collect()
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// A backup or restore Job can start before it can reach PostgreSQL: a new system's restore
/// before kube-proxy has its Service's endpoint (CI, 2026-12-06: "Connection refused", one of
/// the Job's three tries spent), a scheduled backup while the server restarts. Both scripts
/// wait for the server, and when it never comes they fail naming it, after `PG_WAIT_SECONDS`.
#[test]
fn backups_and_restores_wait_for_the_server_and_name_it_when_it_never_comes() {
    let d = Dir::new("wait");
    let backups = d.sub("backups");
    let s = Server::start(&d, "pg", "WaitSuper1");
    let benv = s.with(&[
        ("RETAIN", "5".into()),
        ("BACKUP_DIR", backups.display().to_string()),
    ]);
    ok(&sh(&backup_sh(), &benv, &d.0), "backup");
    let renv = s.with(&[
        ("RESTORE_DIR", backups.display().to_string()),
        ("RESTORE_BACKUP", "latest".into()),
    ]);
    s.stop();

    let never = format!(
        "PostgreSQL at 127.0.0.1:{} did not accept connections within 2 s",
        s.port
    );
    for (what, script, env) in [
        ("backup", backup_sh(), &benv),
        ("restore", restore_sh(), &renv),
    ] {
        let mut env = env.clone();
        env.push(("PG_WAIT_SECONDS", "2".into()));
        let o = sh(&script, &env, &d.0);
        let said = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "the {what} must fail without a server");
        assert!(said.contains(&never), "the {what} names the server: {said}");
    }
    assert_eq!(backups_in(&backups).len(), 1, "no backup without a server");

    // The server comes while the restore waits: the restore goes on and completes.
    let (script, env, root) = (restore_sh(), renv.clone(), d.0.clone());
    let waiting = std::thread::spawn(move || sh(&script, &env, &root));
    std::thread::sleep(std::time::Duration::from_secs(3));
    s.start_again();
    let out = ok(&waiting.join().unwrap(), "the restore that waited");
    assert!(
        out.contains("waiting for PostgreSQL at 127.0.0.1") && out.contains("restore complete"),
        "{out}"
    );
}

/// Two backups at once on one volume (the schedule's and a `backup-now`, both Jobs): neither
/// takes the other's work folder. A backup clears only partial folders a killed run left (two
/// hours untouched), and its own folder and scratch databases are its alone.
#[test]
fn a_backup_leaves_a_running_backups_partial_folder_alone() {
    let d = Dir::new("concurrent");
    let backups = d.sub("backups");
    let s = Server::start(&d, "pg", "ConcurrentSuper1");
    for db in ["ulm_db", "aam_db"] {
        s.sql(
            "owner",
            db,
            "CREATE TABLE facts (id serial PRIMARY KEY, what text NOT NULL); INSERT INTO facts (what) VALUES ('x')",
        );
    }
    // Another backup of the same second, still writing; and what a run killed long ago left.
    let ts = String::from_utf8(
        std::process::Command::new("date")
            .args(["-u", "+%Y%m%dT%H%M%SZ"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let live = backups.join(format!(".partial-{}-Other1", ts.trim()));
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join("ulm_db.dump"), b"being written").unwrap();
    let killed = backups.join(".partial-20200101T000000Z-Killed");
    std::fs::create_dir_all(&killed).unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(&killed)
        .status()
        .unwrap();
    assert!(touched.success());
    let benv = s.with(&[
        ("RETAIN", "5".into()),
        ("BACKUP_DIR", backups.display().to_string()),
    ]);
    let out = ok(&sh(&backup_sh(), &benv, &d.0), "backup beside another");
    assert!(out.contains("complete"), "{out}");
    assert_eq!(
        std::fs::read(live.join("ulm_db.dump")).ok().as_deref(),
        Some(&b"being written"[..]),
        "the running backup's folder was touched"
    );
    assert!(
        !killed.exists(),
        "a killed run's folder of three hours ago stays"
    );
    assert_eq!(backups_in(&backups).len(), 1, "{:?}", backups_in(&backups));
}

#[test]
fn a_backup_is_kept_only_when_a_test_restore_of_it_holds_every_table() {
    let d = Dir::new("verify");
    let backups = d.sub("backups");
    let s = Server::start(&d, "pg", "VerifySuper1");
    for db in ["ulm_db", "aam_db"] {
        s.sql(
            "owner",
            db,
            "CREATE TABLE facts (id serial PRIMARY KEY, what text NOT NULL); INSERT INTO facts (what) SELECT 'row ' || g FROM generate_series(1, 250) g",
        );
    }
    // Leftovers of killed runs: one from long ago is dropped, one stamped in the future (as a
    // run still going would be) is left alone.
    for stale in [
        "ovu_verify_20000101t000000z_ulm_db",
        "ovu_verify_29991231t000000z_aam_db",
    ] {
        s.sql("backup", "postgres", &format!("CREATE DATABASE {stale}"));
    }
    let env = |verify: &str| {
        s.with(&[
            ("RETAIN", "5".into()),
            ("BACKUP_DIR", backups.display().to_string()),
            ("VERIFY", verify.into()),
        ])
    };
    let out = ok(&sh(&backup_sh(), &env("true"), &d.0), "verified backup");
    // ulm_db: facts plus nothing else; the figures are the restored copy's own.
    assert!(
        out.contains("verified ulm_db: a test restore holds all 1 tables, 250 rows"),
        "{out}"
    );
    assert!(out.contains("verified aam_db"), "{out}");
    let kept = backups_in(&backups);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let marker = std::fs::read_to_string(backups.join(&kept[0]).join("verified")).unwrap();
    assert!(marker.contains("verified ulm_db") && marker.contains("verified aam_db"));
    let dbs = databases(&s);
    assert!(
        !dbs.iter()
            .any(|n| n.starts_with("ovu_verify_2") && !n.starts_with("ovu_verify_2999")),
        "scratch databases left behind: {dbs:?}"
    );
    assert!(dbs.contains(&"ovu_verify_29991231t000000z_aam_db".to_string()));

    // A dump that pg_dump writes and pg_restore --list reads, but that does not restore: a
    // CHECK calls a function whose body finds its table through search_path, which a restore
    // sets empty. Only the test restore sees it.
    s.sql(
        "owner",
        "ulm_db",
        "CREATE TABLE allowed (what text PRIMARY KEY); INSERT INTO allowed SELECT what FROM facts; \
         CREATE FUNCTION is_allowed(w text) RETURNS boolean LANGUAGE sql AS 'SELECT exists(SELECT 1 FROM allowed WHERE what = w)'; \
         ALTER TABLE facts ADD CONSTRAINT facts_allowed CHECK (is_allowed(what))",
    );
    let bad = sh(&backup_sh(), &env("true"), &d.0);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(
        !bad.status.success(),
        "an unrestorable backup must fail: {said}"
    );
    assert!(
        said.contains("verify: ulm_db.dump does not restore") && said.contains("allowed"),
        "the failure names the dump and pg_restore's error: {said}"
    );
    assert_eq!(backups_in(&backups), kept, "the failed backup is not kept");
    assert!(
        !databases(&s)
            .iter()
            .any(|n| n.starts_with("ovu_verify_2") && !n.starts_with("ovu_verify_2999")),
        "the failed test restore's scratch database is dropped"
    );

    // The same data with verify off: the backup is written, which is what verify is for.
    let out = ok(&sh(&backup_sh(), &env("false"), &d.0), "unverified backup");
    assert!(!out.contains("verified"), "{out}");
    assert_eq!(backups_in(&backups).len(), 2);
}

/// A system made before each service had its own role (one `ovu_user` owning both databases
/// and every table in them) is moved over by the next bootstrap: each database and what is in
/// it belongs to its service's role, which can use it, and `ovu_user` can no longer sign in.
#[test]
fn the_bootstrap_moves_a_shared_ovu_user_to_one_role_per_service() {
    let d = Dir::new("split");
    let s = Server::start(&d, "srv", "Su9perSecret");
    // The layout the previous bootstrap made.
    s.sql(
        "postgres",
        "postgres",
        "CREATE ROLE ovu_user LOGIN PASSWORD 'legacyPass'; ALTER DATABASE ulm_db OWNER TO ovu_user; ALTER DATABASE aam_db OWNER TO ovu_user; GRANT CONNECT ON DATABASE ulm_db, aam_db TO ovu_user",
    );
    for db in ["ulm_db", "aam_db"] {
        s.sql(
            "postgres",
            db,
            "GRANT ALL ON SCHEMA public TO ovu_user; SET ROLE ovu_user; CREATE TABLE facts (id serial PRIMARY KEY, what text); INSERT INTO facts (what) VALUES ('kept')",
        );
    }
    s.rebootstrap();
    for db in ["ulm_db", "aam_db"] {
        assert_eq!(
            s.sql("owner", db, "SELECT string_agg(what, ',') FROM facts"),
            "kept"
        );
        s.sql(
            "owner",
            db,
            "INSERT INTO facts (what) VALUES ('new'); ALTER TABLE facts ADD COLUMN note text",
        );
        let want = if db == "ulm_db" {
            "ulm_user"
        } else {
            "aam_user"
        };
        assert_eq!(
            s.sql(
                "postgres",
                db,
                "SELECT pg_get_userbyid(datdba) || ' ' || (SELECT tableowner FROM pg_tables WHERE tablename = 'facts') FROM pg_database WHERE datname = current_database()"
            ),
            format!("{want} {want}")
        );
    }
    let legacy = sh(
        &format!(
            "PGPASSWORD=legacyPass psql -tA -h 127.0.0.1 -p {} -U ovu_user -d ulm_db -c 'select 1'",
            s.port
        ),
        &s.env,
        &s.root,
    );
    assert!(!legacy.status.success(), "ovu_user can still sign in");
}

/// A real S3 server: SeaweedFS over TLS on 127.0.0.1 with its own CA, one bucket, a key
/// scoped to it (scripts/s3-server.sh). Stopped when dropped.
struct S3 {
    dir: PathBuf,
    vars: std::collections::HashMap<String, String>,
}

impl S3 {
    fn start(root: &Path) -> S3 {
        let dir = root.join("s3");
        std::fs::create_dir_all(&dir).unwrap();
        // Eight consecutive free ports (weed's master, volume, filer and S3, each with gRPC).
        let base = (0..50)
            .map(|_| free_port())
            .find(|&p| {
                p < 65000
                    && (p..p + 8).all(|q| std::net::TcpListener::bind(("127.0.0.1", q)).is_ok())
            })
            .expect("eight free ports");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh");
        let out = Command::new(&script)
            .arg("start")
            .arg(&dir)
            .args(["127.0.0.1", &base.to_string()])
            .output()
            .unwrap();
        // Made before the check, so a server that started but failed later is stopped.
        let mut s3 = S3 {
            dir: dir.clone(),
            vars: Default::default(),
        };
        ok(&out, "scripts/s3-server.sh start");
        s3.vars = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s3
    }
    fn var(&self, k: &str) -> String {
        self.vars[k].clone()
    }
    /// rclone as the bucket's admin (not the backups' key): what is really in the bucket.
    fn admin(&self, args: &[&str]) -> Output {
        Command::new("rclone")
            // The machine's AWS_CA_BUNDLE makes rclone refuse --ca-cert (scripts/s3-server.sh).
            .env_remove("AWS_CA_BUNDLE")
            .arg("--config")
            .arg(self.dir.join("admin-rclone.conf"))
            .arg("--ca-cert")
            .arg(self.dir.join("ca.crt"))
            .args(args)
            .output()
            .unwrap()
    }
    /// `name size` of each object under `folder` (one level).
    fn objects(&self, folder: &str) -> Vec<(String, u64)> {
        let out = self.admin(&[
            "lsf",
            "--files-only",
            "--format",
            "ps",
            "--separator",
            " ",
            &format!("s3:ovu-backups/{folder}"),
        ]);
        let mut v: Vec<(String, u64)> = ok(&out, "lsf")
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, s)| (n.to_string(), s.parse().unwrap()))
            .collect();
        v.sort();
        v
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh");
        let _ = Command::new(script).arg("stop").arg(&self.dir).output();
    }
}

/// Row count and checksum of every table of `db`, in table order: equal only if the data is.
fn fingerprint(s: &Server, db: &str) -> Vec<String> {
    let tables = s.sql(
        "postgres",
        db,
        "SELECT string_agg(t, ' ' ORDER BY t) FROM (SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')) x",
    );
    tables
        .split_whitespace()
        .map(|t| {
            let v = s.sql(
                "postgres",
                db,
                &format!(
                    "SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '-') FROM {t} r"
                ),
            );
            format!("{t} {v}")
        })
        .collect()
}

fn age_keygen(path: &Path) -> String {
    let _ = std::fs::remove_file(path);
    let o = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen (Debian package age, scripts/deps.sh)");
    ok(&o, "age-keygen");
    let o = Command::new("age-keygen")
        .arg("-y")
        .arg(path)
        .output()
        .unwrap();
    ok(&o, "age-keygen -y").trim().to_string()
}

/// The off-site path end to end on real servers: verified backups encrypted with age and
/// uploaded to SeaweedFS over TLS (a private CA, a key scoped to the bucket), retention in
/// the bucket's folder only, the termination message the operator reads; then, with the
/// source server and its backup volume gone, a new server restored from the bucket with the
/// private key holds identical data (every table's row count and checksum).
#[test]
fn offsite_backups_are_encrypted_uploaded_kept_by_count_and_restore_after_the_source_is_gone() {
    let d = Dir::new("offsite");
    let s3 = S3::start(&d.0);
    let old = Server::start(&d, "old", "OldSuperPass3");
    for db in ["ulm_db", "aam_db"] {
        old.sql(
            "owner",
            db,
            "CREATE TABLE facts (id serial PRIMARY KEY, what text NOT NULL, at timestamptz DEFAULT now()); \
             INSERT INTO facts (what) SELECT md5(g::text) FROM generate_series(1, 500) g; \
             CREATE TABLE empty_one (x int)",
        );
    }
    old.sql(
        "owner",
        "ulm_db",
        "CREATE EXTENSION pg_trgm; CREATE INDEX facts_trgm ON facts USING gin (what gin_trgm_ops)",
    );
    let before: Vec<Vec<String>> = ["ulm_db", "aam_db"]
        .iter()
        .map(|db| fingerprint(&old, db))
        .collect();

    // What the pod's projected volume holds: the scoped key, the CA, the age recipient.
    let offsite = d.sub("offsite");
    std::fs::write(offsite.join("access-key-id"), s3.var("S3_ACCESS_KEY_ID")).unwrap();
    std::fs::write(
        offsite.join("secret-access-key"),
        s3.var("S3_SECRET_ACCESS_KEY"),
    )
    .unwrap();
    std::fs::copy(s3.dir.join("ca.crt"), offsite.join("ca.crt")).unwrap();
    let keys = d.sub("keys");
    let recipient = age_keygen(&keys.join("identity"));
    std::fs::write(offsite.join("recipient"), &recipient).unwrap();
    // Objects that are not this system's backups: retention must leave them alone.
    for (name, folder) in [
        ("20200101T000000Z.tar.age", "other/"),
        ("notes.txt", "shop/"),
    ] {
        let f = d.0.join(name);
        std::fs::write(&f, "not ours").unwrap();
        ok(
            &s3.admin(&[
                "copyto",
                f.to_str().unwrap(),
                &format!("s3:ovu-backups/{folder}{name}"),
            ]),
            "seed object",
        );
    }

    let backups = d.sub("backups");
    let tmp = d.sub("job-tmp");
    let term = tmp.join("termination-log");
    let benv = old.with(&[
        ("RETAIN", "2".into()),
        ("VERIFY", "true".into()),
        ("BACKUP_DIR", backups.display().to_string()),
        ("S3_ENDPOINT", s3.var("S3_ENDPOINT")),
        ("S3_BUCKET", s3.var("S3_BUCKET")),
        ("S3_PREFIX", "shop/".into()),
        ("OFFSITE_DIR", offsite.display().to_string()),
        ("TERMINATION_LOG", term.display().to_string()),
        ("HOME", tmp.display().to_string()),
    ]);
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(ok(&sh(&backup::backup_script(true), &benv, &d.0), "backup"));
    }
    let secret = s3.var("S3_SECRET_ACCESS_KEY");
    for out in &runs {
        assert!(out.contains("verified ulm_db"), "{out}");
        assert!(!out.contains(&secret), "the secret key was printed: {out}");
    }
    let kept = s3.objects("shop/");
    let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
    let local = backups_in(&backups);
    assert_eq!(
        names,
        [
            format!("{}.tar.age", local[0]).as_str(),
            &format!("{}.tar.age", local[1]),
            "notes.txt"
        ],
        "retain 2 keeps the newest two in the bucket too (runs: {runs:?})"
    );
    assert_eq!(s3.objects("other/").len(), 1, "another folder is untouched");
    assert!(
        runs[2].contains("offsite retention: removing"),
        "{}",
        runs[2]
    );
    // The termination message names the newest object and its size, as the bucket does.
    let msg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&term).unwrap()).unwrap();
    assert_eq!(
        msg["object"],
        format!("s3://ovu-backups/shop/{}.tar.age", local[1])
    );
    assert_eq!(msg["size"].as_u64(), Some(kept[1].1));
    // Encrypted: an age file, not a tar of dumps.
    let head = s3.admin(&[
        "cat",
        "--count",
        "21",
        &format!("s3:ovu-backups/shop/{}", names[1]),
    ]);
    assert_eq!(ok(&head, "cat"), "age-encryption.org/v1");

    // Not an age public key: the backup Job fails, the bucket gets nothing.
    std::fs::write(offsite.join("recipient"), "ssh-nonsense AAAA").unwrap();
    let bad = sh(&backup::backup_script(true), &benv, &d.0);
    let said = String::from_utf8_lossy(&bad.stderr).into_owned();
    assert!(
        !bad.status.success(),
        "a bad recipient must fail the backup"
    );
    assert!(
        said.contains("age (is recipientSecret an age public key"),
        "{said}"
    );
    assert_eq!(s3.objects("shop/"), kept, "nothing uploaded");
    std::fs::write(offsite.join("recipient"), &recipient).unwrap();

    // The cluster is lost: the server and its backup volume are gone; the bucket is not.
    drop(old);
    std::fs::remove_dir_all(&backups).unwrap();
    let new = Server::start(&d, "new", "NewSuperPass4");
    let scratch = d.sub("restore-scratch");
    let renv = |backup: &str, identity: &Path| {
        std::fs::copy(identity, offsite.join("identity")).unwrap();
        new.with(&[
            ("RESTORE_BACKUP", backup.into()),
            ("RESTORE_DIR", scratch.display().to_string()),
            ("S3_ENDPOINT", s3.var("S3_ENDPOINT")),
            ("S3_BUCKET", s3.var("S3_BUCKET")),
            ("S3_PREFIX", "shop/".into()),
            ("OFFSITE_DIR", offsite.display().to_string()),
            ("HOME", tmp.display().to_string()),
        ])
    };
    let restore_sh = restore::restore_script(true);
    let missing = sh(
        &restore_sh,
        &renv("20200101T000000Z", &keys.join("identity")),
        &d.0,
    );
    let said = String::from_utf8_lossy(&missing.stderr).into_owned();
    assert!(!missing.status.success());
    assert!(
        said.contains("backup 20200101T000000Z is not in s3://ovu-backups/shop/")
            && said.contains(&local[1]),
        "{said}"
    );
    // A wrong secret key: said as a listing failure, not as an empty bucket.
    std::fs::write(offsite.join("secret-access-key"), "not-the-key").unwrap();
    let denied = sh(&restore_sh, &renv("latest", &keys.join("identity")), &d.0);
    let said = String::from_utf8_lossy(&denied.stderr).into_owned();
    assert!(!denied.status.success());
    assert!(
        said.contains("cannot list s3://ovu-backups/shop/"),
        "{said}"
    );
    std::fs::write(offsite.join("secret-access-key"), &secret).unwrap();
    age_keygen(&keys.join("stranger"));
    let wrong = sh(&restore_sh, &renv("latest", &keys.join("stranger")), &d.0);
    let said = String::from_utf8_lossy(&wrong.stderr).into_owned();
    assert!(
        !wrong.status.success(),
        "another private key must not decrypt"
    );
    assert!(said.contains("decryption (is identitySecret"), "{said}");
    assert_eq!(
        new.sql(
            "owner",
            "ulm_db",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );

    let out = ok(
        &sh(&restore_sh, &renv("latest", &keys.join("identity")), &d.0),
        "restore from the bucket",
    );
    assert!(
        out.contains(&format!("restore: using backup {}", local[1])),
        "{out}"
    );
    assert!(out.contains("restore complete"), "{out}");
    let after: Vec<Vec<String>> = ["ulm_db", "aam_db"]
        .iter()
        .map(|db| fingerprint(&new, db))
        .collect();
    assert_eq!(after, before, "every table's row count and checksum");
    assert!(
        before[0].iter().any(|t| t.contains("public.facts 500 ")),
        "{before:?}"
    );
}
