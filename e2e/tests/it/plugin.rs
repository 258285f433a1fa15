//! `kubectl ovu` (crate `kubectl-ovu`, plugin/) as a user runs it: the built binary as a
//! process against the test cluster, on systems the operator (e2e/run) brings up. Every
//! subcommand: status, backup (trigger and follow), backups, restore, admin-password, logs,
//! and the refusals a user meets (no such system, several systems, a restore into an existing
//! system or from an unknown backup, an unknown component).
//!
//! On kwok nodes no container runs, so no kubelet serves logs: there `logs` must fail with a
//! message naming the pod, and backup names (read from the backup Jobs' logs) are unknown, so
//! a restore from the newest backup Job becomes `latest`. On real nodes both work for real.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use ovu_crds::BACKUP_NOW_ANNOTATION;
use ovu_crds::names::{Component, Names};
use ovu_e2e::{Cluster, Nodes, nodes, patience, repo_root, system, with_temp_ns};
use serde_json::json;

fn ready() -> Duration {
    patience(Duration::from_secs(180))
}

/// The plugin binary: `OVU_E2E_PLUGIN` (set by e2e/run, which builds it), else the debug
/// build in this workspace's target directory.
pub(crate) fn plugin_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("OVU_E2E_PLUGIN").filter(|p| !p.is_empty()) {
        return ovu_e2e::absolute(p.into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|p| ovu_e2e::absolute(p.into()))
        .unwrap_or_else(|| repo_root().join("target"));
    let bin = target.join("debug/kubectl-ovu");
    assert!(
        bin.exists(),
        "{} does not exist: build it with `cargo build -p kubectl-ovu` (e2e/run does)",
        bin.display()
    );
    bin
}

/// What one run of the plugin did.
pub(crate) struct Run {
    pub(crate) ok: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout:\n{}--- stderr:\n{}",
            if self.ok { "0" } else { "non-zero" },
            self.stdout,
            self.stderr
        )
    }
}

/// Run `kubectl-ovu -n <ns> <args>` with the test kubeconfig in `KUBECONFIG`, as kubectl
/// hands it to a plugin; killed after `limit`.
pub(crate) async fn ovu(
    c: &Cluster,
    ns: &str,
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<Run> {
    let mut cmd = tokio::process::Command::new(plugin_bin());
    cmd.arg("-n")
        .arg(ns)
        .args(args)
        .env("KUBECONFIG", &c.kubeconfig)
        .kill_on_drop(true);
    finish(cmd, args, limit).await
}

async fn finish(
    mut cmd: tokio::process::Command,
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<Run> {
    let out: Output = tokio::time::timeout(limit, cmd.output())
        .await
        .with_context(|| format!("kubectl ovu {} ran longer than {limit:?}", args.join(" ")))?
        .with_context(|| format!("running {}", plugin_bin().display()))?;
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ kubectl ovu {}\n{run}", args.join(" "));
    // A panic is never an answer, whatever the input.
    ensure!(
        !run.stderr.contains("panicked"),
        "the plugin panicked:\n{run}"
    );
    Ok(run)
}

fn quick() -> Duration {
    patience(Duration::from_secs(60))
}

/// status, backup, backups and restore on one system, in the order a user would go.
#[tokio::test]
async fn status_backup_backups_and_restore() {
    with_temp_ns("plugin-backup", true, |c, ns| async move {
        let n = "shop";
        c.create(&ns, &system(n, "shop.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;

        // status: the only system in the namespace, without naming it.
        let st = ovu(&c, &ns, &["status"], quick()).await?;
        ensure!(st.ok, "{st}");
        ensure!(
            st.stdout
                .starts_with(&format!("OvuSystem {ns}/shop    domain shop.example.com\n")),
            "{st}"
        );
        ensure!(st.stdout.contains("Phase:        Ready"), "{st}");
        for tier in ["database", "backend", "frontend"] {
            let line = st
                .stdout
                .lines()
                .find(|l| l.trim_start().starts_with(tier))
                .with_context(|| format!("no {tier} line:\n{st}"))?;
            ensure!(line.contains(" True "), "tier {tier} not True: {line}");
        }
        ensure!(
            st.stdout
                .contains("  ULM       https://ulm.shop.example.com"),
            "{st}"
        );
        ensure!(
            st.stdout.contains("  SelfSigned, Secret shop-tls") && st.stdout.contains("expires   "),
            "{st}"
        );
        ensure!(
            st.stdout.contains("schedule  \"0 2 * * *\": next ")
                && st.stdout.contains("last      none yet"),
            "{st}"
        );
        ensure!(
            st.stdout.contains("Health:\n  ulm ") || st.stdout.contains("Health:\n  aam "),
            "{st}"
        );

        // backup: triggers exactly as the contract says and follows the Job to its end.
        let bk = ovu(
            &c,
            &ns,
            &["backup", "--timeout", "5m"],
            patience(Duration::from_secs(360)),
        )
        .await?;
        ensure!(bk.ok, "{bk}");
        ensure!(
            bk.stderr.contains("requested backup kubectl-ovu-")
                && bk
                    .stderr
                    .contains("waiting for the operator to start the backup Job")
                && bk.stderr.contains("Job shop-backup-now-")
                && bk.stderr.contains(" complete"),
            "no progress lines:\n{bk}"
        );
        ensure!(
            bk.stdout.contains("complete after")
                && bk
                    .stdout
                    .contains("verified: a test restore held every table"),
            "{bk}"
        );
        let sys = c.get_system(&ns, n).await?;
        let request = sys
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(BACKUP_NOW_ANNOTATION))
            .cloned()
            .context("no backup-now annotation")?;
        let b = sys.status.and_then(|s| s.backup).unwrap_or_default();
        ensure!(
            bk.stderr.contains(&format!("requested backup {request} ")),
            "the plugin said another request than it made ({request}):\n{bk}"
        );
        let job = b
            .last_backup
            .clone()
            .context("no status.backup.lastBackup")?;
        ensure!(
            b.last_requested.as_deref() == Some(request.as_str())
                && job.starts_with("shop-backup-now-")
                && b.last_verified_time.is_some()
                && bk.stdout.contains(&format!("(Job {job}")),
            "status {b:?} does not record the plugin's backup:\n{bk}"
        );
        if nodes() == Nodes::Real {
            // The real Job's log names the backup folder.
            ensure!(bk.stdout.starts_with("backup 20"), "{bk}");
        }

        // backups: the Job, complete and verified, marked as the last backup.
        let list = ovu(&c, &ns, &["backups", n], quick()).await?;
        ensure!(list.ok, "{list}");
        let row = list
            .stdout
            .lines()
            .find(|l| l.starts_with(&job))
            .with_context(|| format!("{job} not listed:\n{list}"))?;
        ensure!(
            row.contains("on-demand")
                && row.contains("Complete")
                && row.contains(" yes ")
                && row.ends_with(" *"),
            "{row}"
        );
        if nodes() == Nodes::Kwok {
            ensure!(
                list.stderr.contains(
                    "backup names (BACKUP) come from the Jobs' logs, which cannot be read here"
                ),
                "{list}"
            );
        }
        let folder = row.split_whitespace().nth(1).unwrap_or("?").to_string();

        // restore: refused without harm for an unknown backup, a bad name, an existing target.
        let unknown = ovu(
            &c,
            &ns,
            &[
                "restore",
                n,
                "--from",
                "20200101T000000Z",
                "--into",
                "shop2",
            ],
            quick(),
        )
        .await?;
        ensure!(
            !unknown.ok
                && unknown
                    .stderr
                    .contains("backup \"20200101T000000Z\" is not one this system knows")
                && unknown.stderr.contains(&job),
            "{unknown}"
        );
        let bad = ovu(
            &c,
            &ns,
            &["restore", "--from", "latest", "--into", "Shop_2"],
            quick(),
        )
        .await?;
        ensure!(!bad.ok && bad.stderr.contains("--into \"Shop_2\""), "{bad}");
        let existing = ovu(
            &c,
            &ns,
            &["restore", "--from", "latest", "--into", n],
            quick(),
        )
        .await?;
        ensure!(
            !existing.ok
                && existing
                    .stderr
                    .contains(&format!("OvuSystem {ns}/shop already exists")),
            "{existing}"
        );
        ensure!(
            c.systems(&ns).get_opt("shop2").await?.is_none(),
            "a refused restore created a system"
        );

        // restore from the Job the plugin made.
        let rs = ovu(
            &c,
            &ns,
            &[
                "restore",
                "--from",
                &job,
                "--into",
                "shop2",
                "--domain",
                "shop2.example.com",
            ],
            quick(),
        )
        .await?;
        ensure!(rs.ok, "{rs}");
        let new = c.get_system(&ns, "shop2").await?;
        let r = new
            .spec
            .database
            .restore
            .clone()
            .context("shop2 has no spec.database.restore")?;
        ensure!(r.from_claim.as_deref() == Some("shop-backups"), "{r:?}");
        match nodes() {
            // No logs on kwok: the newest backup Job's backup is the one `latest` restores.
            Nodes::Kwok => ensure!(
                r.backup == "latest" && rs.stderr.contains("which is what `latest` restores"),
                "{r:?}\n{rs}"
            ),
            Nodes::Real => ensure!(
                r.backup == folder && r.backup.starts_with("20"),
                "{r:?} (listed {folder})"
            ),
        }
        ensure!(
            new.spec.domain == "shop2.example.com",
            "{:?}",
            new.spec.domain
        );
        let mut want = c.get_system(&ns, n).await?.spec;
        want.domain = "shop2.example.com".into();
        want.database.restore = Some(r.clone());
        ensure!(
            new.spec == want,
            "the copy differs from the source's spec beyond the restore"
        );
        let restored = c.wait_ready(&ns, "shop2", ready()).await?;
        let done = restored
            .status
            .and_then(|s| s.restore)
            .context("no status.restore")?;
        ensure!(
            done.source == format!("shop-backups/{}", r.backup) && done.completed_time.is_some(),
            "{done:?}"
        );

        // Two systems now: a command without a name says so, and status of the new one
        // shows its restore.
        let two = ovu(&c, &ns, &["status"], quick()).await?;
        ensure!(
            !two.ok
                && two.stderr.contains(&format!(
                    "2 OvuSystems in namespace {ns} (shop, shop2): name one"
                )),
            "{two}"
        );
        let st2 = ovu(&c, &ns, &["status", "shop2"], quick()).await?;
        ensure!(
            st2.ok
                && st2.stdout.contains("Restore:      from shop-backups/")
                && st2.stdout.contains("completed"),
            "{st2}"
        );
        Ok(())
    })
    .await;
}

/// admin-password and logs, kubectl's own plugin discovery, --kubeconfig, and bad input.
#[tokio::test]
async fn admin_password_logs_and_bad_input() {
    with_temp_ns("plugin-logs", true, |c, ns| async move {
        let n = "desk";
        c.create(&ns, &system(n, "desk.example.com", json!({})))
            .await?;
        c.wait_ready(&ns, n, ready()).await?;

        // admin-password prints the Secret's values.
        let secrets: Api<Secret> = Api::namespaced(c.client.clone(), &ns);
        let s = secrets.get(&Names::new(n).bootstrap_admin_secret()).await?;
        let data = s.data.unwrap_or_default();
        let field = |k: &str| {
            data.get(k)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .unwrap_or_default()
        };
        ensure!(field("email") == "admin@desk.example.com", "{}", field("email"));
        let pw = ovu(&c, &ns, &["admin-password"], quick()).await?;
        ensure!(pw.ok, "{pw}");
        ensure!(
            pw.stdout
                == format!(
                    "email:    {}\npassword: {}\n",
                    field("email"),
                    field("password")
                )
                && field("password").len() >= 16,
            "{pw}"
        );

        // kubectl finds the plugin on PATH and hands it --kubeconfig.
        let dir = plugin_bin()
            .parent()
            .context("the plugin has no directory")?
            .to_path_buf();
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new(&c.kubectl)
            .args(["ovu", "status", n, "-n", &ns, "--kubeconfig"])
            .arg(&c.kubeconfig)
            .env("PATH", path)
            .env_remove("KUBECONFIG")
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success() && stdout.contains("Phase:        Ready"),
            "kubectl ovu status: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );

        // logs through the API server.
        let logs = ovu(&c, &ns, &["logs", "ulm", n, "--tail", "20"], quick()).await?;
        // Each pod of the ULM Deployment is named `<deployment>-…`.
        let ulm_pod = format!("{}-", Names::new(n).of(Component::Ulm));
        match nodes() {
            Nodes::Real => {
                ensure!(logs.ok && !logs.stdout.trim().is_empty(), "{logs}");
                // Two ULM pods: each line says whose it is.
                ensure!(
                    logs.stdout.lines().all(|l| l.starts_with(&format!("[{ulm_pod}"))),
                    "{logs}"
                );
                let pg = ovu(&c, &ns, &["logs", "postgres", "--tail", "5"], quick()).await?;
                ensure!(pg.ok && !pg.stdout.trim().is_empty(), "{pg}");
            }
            Nodes::Kwok => ensure!(
                !logs.ok
                    && logs
                        .stderr
                        .contains(&format!("error: cannot read the logs of pod {ulm_pod}")),
                "kwok runs no kubelet that serves logs, so the plugin must say it cannot read them:\n{logs}"
            ),
        }

        // Bad input names the bad value and fails; none of it panics (checked in `finish`).
        let comp = ovu(&c, &ns, &["logs", "nginx"], quick()).await?;
        ensure!(!comp.ok && comp.stderr.contains("'nginx'") && comp.stderr.contains("ulm"), "{comp}");
        let container = ovu(&c, &ns, &["logs", "ulm", "-c", "sidecar"], quick()).await?;
        ensure!(
            !container.ok && container.stderr.contains("no container \"sidecar\""),
            "{container}"
        );
        let missing = ovu(&c, &ns, &["status", "nope"], quick()).await?;
        ensure!(
            !missing.ok && missing.stderr.contains(&format!("no OvuSystem \"nope\" in namespace {ns}; there is desk")),
            "{missing}"
        );
        let empty = ovu(&c, &ns, &["backups", "-n", "default"], quick()).await?;
        ensure!(!empty.ok && empty.stderr.contains("no OvuSystem in namespace default"), "{empty}");
        let timeout = ovu(&c, &ns, &["backup", "--timeout", "soon"], quick()).await?;
        ensure!(!timeout.ok && timeout.stderr.contains("\"soon\" is not a duration"), "{timeout}");
        let mut nokube = tokio::process::Command::new(plugin_bin());
        nokube
            .args(["status", "--kubeconfig", "/nonexistent/kubeconfig"])
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        let nk = finish(nokube, &["status", "--kubeconfig", "/nonexistent/kubeconfig"], quick()).await?;
        ensure!(
            !nk.ok && nk.stderr.contains("cannot read the kubeconfig /nonexistent/kubeconfig"),
            "{nk}"
        );
        // The system was only read: no backup was asked for.
        let sys = c.get_system(&ns, n).await?;
        ensure!(
            !sys.metadata
                .annotations
                .unwrap_or_default()
                .contains_key(BACKUP_NOW_ANNOTATION),
            "a failed command annotated the system"
        );
        Ok(())
    })
    .await;
}
