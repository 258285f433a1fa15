//! Off-site backups on real nodes (issue 14, "backups that survive the loss of the cluster"):
//! a small system backs up to a real S3 server (SeaweedFS, `scripts/s3-server.sh`) outside the
//! cluster, its whole namespace is deleted (volumes included), and a new system in a new
//! namespace starts from the encrypted object in the bucket with identical data.
//!
//! The S3 server listens on `OVU_E2E_HOST_ADDR` (a host address the pods can route to; e2e/run-real
//! sets the real-node cluster's) with TLS from a private CA the systems get in a ConfigMap, and
//! a key scoped to the bucket. The age key pair is made here: the source namespace only ever
//! holds the public key, the target only the private one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolume, Secret};
use kube::api::{Api, PostParams};
use ovu_crds::BACKUP_NOW_ANNOTATION;
use ovu_crds::names::Names;
use ovu_e2e::{Cluster, repo_root, wait_for};
use serde_json::{Value, json};

// The same superuser psql as the other real tests.
use super::psql_in as psql;
use super::{env_or, target};

/// What a failed upload leaves to read: every backup pod's phase and log (each attempt's, the
/// failed ones too) and the end of the S3 server's log, so a failure in CI says why.
fn backup_diagnostics(c: &Cluster, ns: &str, s3: &S3Server) -> String {
    let mut out =
        String::from("the backup could not be uploaded; what the cluster and the S3 server said:");
    let pods = c
        .kubectl(&["-n", ns, "get", "pods", "-o", "wide"])
        .unwrap_or_else(|e| format!("(kubectl get pods: {e:#})"));
    out.push_str(&format!("\n--- pods in {ns}\n{pods}"));
    let names = c
        .kubectl(&["-n", ns, "get", "pods", "-o", "name"])
        .unwrap_or_default();
    for pod in names.lines().filter(|p| p.contains("backup")) {
        let log = c
            .kubectl(&["-n", ns, "logs", pod, "--all-containers", "--tail", "60"])
            .unwrap_or_else(|e| format!("(kubectl logs: {e:#})"));
        out.push_str(&format!("\n--- {pod}\n{log}"));
    }
    let weed = std::fs::read_to_string(s3.dir.join("weed.log")).unwrap_or_default();
    let tail: Vec<&str> = weed.lines().rev().take(40).collect();
    out.push_str("\n--- the S3 server's log (last 40 lines)\n");
    for l in tail.into_iter().rev() {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The real S3 server of this test, stopped (by the PID it recorded) when dropped.
struct S3Server {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl S3Server {
    /// `scripts/s3-server.sh start` on `addr`, ports `base..base+7`, state in a fresh folder.
    fn start(addr: &str, base: u16) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "ovu-e2e-offsite-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&dir)?;
        let server = S3Server {
            dir,
            env: BTreeMap::new(),
        };
        let out = Command::new(repo_root().join("scripts/s3-server.sh"))
            .arg("start")
            .arg(&server.dir)
            .arg(addr)
            .arg(base.to_string())
            .output()
            .context("running scripts/s3-server.sh")?;
        ensure!(
            out.status.success(),
            "scripts/s3-server.sh start {} {addr} {base} failed: {}",
            server.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(server.dir.join("env"))?;
        let mut server = server;
        server.env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(server)
    }

    fn var(&self, name: &str) -> anyhow::Result<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("{name} is not in {}/env", self.dir.display()))
    }

    fn ca(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.join("ca.crt"))?)
    }

    /// rclone as the bucket's admin (the config s3-server.sh wrote), with the server's CA.
    fn rclone(&self, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let out = Command::new("rclone")
            .arg("--config")
            .arg(self.dir.join("admin-rclone.conf"))
            .arg("--ca-cert")
            .arg(self.dir.join("ca.crt"))
            .args(["--retries", "1", "--low-level-retries", "1"])
            .args(args)
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .context("running rclone")?;
        ensure!(
            out.status.success(),
            "rclone {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(out.stdout)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/s3-server.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
        if std::env::var_os("OVU_E2E_KEEP_NS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A namespace of this test (Pod Security "restricted", like every test namespace), deleted
/// without waiting when dropped (unless `OVU_E2E_KEEP_NS` is set).
pub(super) struct TestNs {
    cluster: Cluster,
    pub(super) name: String,
}

impl TestNs {
    pub(super) async fn create(c: &Cluster, prefix: &str) -> anyhow::Result<Self> {
        let name = ovu_e2e::create_namespace(c, prefix).await?;
        Ok(TestNs {
            cluster: c.clone(),
            name,
        })
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if std::env::var_os("OVU_E2E_KEEP_NS").is_none() {
            let _ = self.cluster.kubectl(&[
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ]);
        }
    }
}

/// An age key pair: (public recipient `age1...`, private identity file contents).
fn age_key_pair(dir: &Path) -> anyhow::Result<(String, String)> {
    let path = dir.join("identity.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .context("age-keygen (Debian package age, scripts/deps.sh)")?;
    ensure!(out.status.success(), "age-keygen failed");
    let out = Command::new("age-keygen").arg("-y").arg(&path).output()?;
    ensure!(out.status.success(), "age-keygen -y failed");
    let public = String::from_utf8(out.stdout)?.trim().to_string();
    let private = std::fs::read_to_string(&path)?;
    std::fs::remove_file(&path)?;
    Ok((public, private))
}

async fn create_secret(c: &Cluster, ns: &str, name: &str, data: Value) -> anyhow::Result<()> {
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": data,
    }))?;
    Api::<Secret>::namespaced(c.client.clone(), ns)
        .create(&PostParams::default(), &s)
        .await
        .with_context(|| format!("creating Secret {ns}/{name}"))?;
    Ok(())
}

/// The bucket's Secret (the scoped key) and the CA's ConfigMap in `ns`.
async fn bucket_access(c: &Cluster, ns: &str, s3: &S3Server) -> anyhow::Result<()> {
    create_secret(
        c,
        ns,
        "offsite-s3",
        json!({
            "access-key-id": s3.var("S3_ACCESS_KEY_ID")?,
            "secret-access-key": s3.var("S3_SECRET_ACCESS_KEY")?,
        }),
    )
    .await?;
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "offsite-s3-ca"},
        "data": {"ca.crt": s3.ca()?},
    }))?;
    Api::<ConfigMap>::namespaced(c.client.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await
        .context("creating the CA ConfigMap")?;
    Ok(())
}

/// The images of the system `make up` deployed (ULM, AAM, PostgreSQL, Redis): the ones the
/// nodes hold.
pub(super) struct Images {
    pub(super) ulm: String,
    pub(super) aam: String,
    pub(super) postgres: String,
    pub(super) redis: String,
}

impl Images {
    /// The images the system `system` in `ns` runs (its spec's, or the operator's defaults), as
    /// its status says.
    pub(super) async fn of(c: &Cluster, ns: &str, system: &str) -> anyhow::Result<Images> {
        let main = c
            .get_system(ns, system)
            .await?
            .status
            .and_then(|s| s.images)
            .context("the main system's status names no images")?;
        Ok(Images {
            ulm: main.ulm,
            aam: main.aam,
            postgres: main.postgres,
            redis: main.redis,
        })
    }
}

/// A one-replica system sized for the real nodes (requests small, limits what the processes
/// need), on `images`; `patch` merged over the spec.
pub(super) fn small_system(name: &str, images: &Images, patch: Value) -> Value {
    let sized = |mem: &str, cpu: &str, limit: &str| json!({"requests": {"cpu": "10m", "memory": mem}, "limits": {"cpu": cpu, "memory": limit}});
    let mut spec = json!({
        "domain": format!("{name}.example.com"),
        "frontend": {"replicas": 1, "resources": sized("16Mi", "500m", "128Mi")},
        "backend": {
            "ulm": {"image": images.ulm, "replicas": 1, "resources": sized("32Mi", "1", "256Mi")},
            "aam": {"image": images.aam, "replicas": 1, "resources": sized("32Mi", "1", "256Mi")},
        },
        "database": {
            "postgres": {"image": images.postgres, "resources": sized("64Mi", "1", "512Mi"), "storage": {"size": "1Gi"}},
            "redis": {"image": images.redis, "resources": sized("16Mi", "500m", "128Mi")},
            "backup": {"storage": {"size": "1Gi"}},
        },
    });
    ovu_e2e::merge(&mut spec, patch);
    json!({
        "apiVersion": ovu_crds::API_VERSION,
        "kind": "OvuSystem",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// Every table of ULM's and AAM's databases with its row count and a checksum of its rows (in
/// a fixed order): equal only if the data is. AAM's health poller keeps adding to
/// `health_samples` on the running systems (before the backup's snapshot, and on the restored
/// system as soon as it runs), so that table counts only the rows checked up to `cutoff`, a time
/// taken before the backup was asked for: all of them are in the backup, and none of the
/// restored system's own.
fn fingerprint(c: &Cluster, ns: &str, system: &str, cutoff: &str) -> anyhow::Result<Vec<String>> {
    // One query per database: each table's own query run through query_to_xml.
    let sql = format!(
        "SELECT format('%I.%I', schemaname, tablename) || ' ' || \
         (xpath('/row/v/text()', query_to_xml(format('SELECT count(*) || '' '' || \
         coalesce(md5(string_agg(r::text, ''|'' ORDER BY r::text)), ''-'') AS v FROM %I.%I r%s', \
         schemaname, tablename, CASE WHEN tablename = 'health_samples' \
         THEN format(' WHERE checked_at <= %L', '{cutoff}') ELSE '' END), false, true, '')))[1]::text \
         FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
    );
    let mut all = Vec::new();
    for db in ["ulm_db", "aam_db"] {
        let rows = psql(c, ns, system, db, &sql)?;
        let rows: Vec<String> = rows
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("{db} {l}"))
            .collect();
        ensure!(!rows.is_empty(), "{db} of {ns}/{system} has no tables");
        all.extend(rows);
    }
    Ok(all)
}

/// The namespace is gone, and with it every volume its claims had.
pub(super) async fn wait_namespace_gone(
    c: &Cluster,
    ns: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    wait_for(
        timeout,
        &format!("namespace {ns} and its volumes gone"),
        || {
            let namespaces = namespaces.clone();
            let volumes = volumes.clone();
            async move {
                if namespaces.get_opt(ns).await?.is_some() {
                    return Ok(Err(format!("namespace {ns} still exists")));
                }
                let left: Vec<String> = volumes
                    .list(&Default::default())
                    .await?
                    .items
                    .into_iter()
                    .filter(|pv| {
                        pv.spec
                            .as_ref()
                            .and_then(|s| s.claim_ref.as_ref())
                            .and_then(|r| r.namespace.as_deref())
                            == Some(ns)
                    })
                    .filter_map(|pv| pv.metadata.name)
                    .collect();
                Ok(if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("volumes of {ns} left: {left:?}"))
                })
            }
        },
    )
    .await
}

/// Back up a system to an S3 bucket off the cluster, delete its whole namespace (volumes too),
/// then start a new system in a new namespace from the encrypted object in the bucket: every
/// table of both databases has the same rows (count and checksum). Fails if nothing is uploaded
/// (no `lastUploadedObject`, no object in the bucket's folder), if the object is not an age
/// file, or if the restore does not bring the data back.
#[tokio::test]
async fn a_system_comes_back_from_the_bucket_after_its_namespace_is_deleted() {
    let t0 = Instant::now();
    if let Err(e) = offsite_round_trip().await {
        panic!("{e:#}");
    }
    eprintln!(
        "off-site round trip (backup, upload, namespace deleted, restored from the bucket) took {} s",
        t0.elapsed().as_secs()
    );
}

async fn offsite_round_trip() -> anyhow::Result<()> {
    let Ok(addr) = std::env::var("OVU_E2E_HOST_ADDR") else {
        bail!(
            "OVU_E2E_HOST_ADDR is not set: the S3 server needs a host address the cluster's pods \
             reach (e2e/run-real sets it for the real-node cluster)"
        );
    };
    let base: u16 = env_or("OVU_E2E_S3_PORT_BASE", "18400")
        .parse()
        .context("OVU_E2E_S3_PORT_BASE is not a port number")?;
    let t = target().await;
    let c = t.cluster.clone();
    let images = Images::of(&c, &t.ns, &t.system).await?;

    let s3 = S3Server::start(&addr, base)?;
    let endpoint = s3.var("S3_ENDPOINT")?.to_string();
    let bucket = s3.var("S3_BUCKET")?.to_string();
    // A folder of its own, so what is asserted is what this run uploaded.
    let prefix = format!("e2e-{}/", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (public, private) = age_key_pair(&s3.dir)?;
    let s3_spec = json!({
        "endpoint": endpoint, "bucket": bucket, "prefix": prefix,
        "credentialsSecret": "offsite-s3", "caConfigMap": "offsite-s3-ca",
    });

    // The source: backs up to the bucket, encrypted to the public key.
    let old = TestNs::create(&c, "offsite-src").await?;
    let ns = old.name.as_str();
    bucket_access(&c, ns, &s3).await?;
    create_secret(&c, ns, "offsite-age", json!({"recipient": public})).await?;
    let src = "src";
    c.create(
        ns,
        &small_system(
            src,
            &images,
            json!({"database": {"backup": {"destination": {"s3": s3_spec, "recipientSecret": "offsite-age"}}}}),
        ),
    )
    .await?;
    let t_up = Instant::now();
    c.wait_ready(ns, src, Duration::from_secs(600)).await?;
    eprintln!("source system Ready in {} s", t_up.elapsed().as_secs());
    // Data of our own next to what ULM and AAM wrote (migrations, the bootstrap admin), owned
    // by the database's owner like the apps' tables (the backup dumps as that role).
    for db in ["ulm_db", "aam_db"] {
        let owner = psql(
            &c,
            ns,
            src,
            db,
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
        )?;
        psql(
            &c,
            ns,
            src,
            db,
            &format!(
                "CREATE TABLE offsite_facts (id int PRIMARY KEY, what text NOT NULL); \
                 INSERT INTO offsite_facts SELECT g, md5(g::text) FROM generate_series(1, 500) g; \
                 ALTER TABLE offsite_facts OWNER TO {}",
                owner.trim()
            ),
        )?;
    }

    // health_samples is compared up to here (see fingerprint).
    let cutoff = psql(&c, ns, src, "aam_db", "SELECT now()")?
        .trim()
        .to_string();
    let t_backup = Instant::now();
    let stamp = uuid::Uuid::new_v4().simple().to_string();
    c.patch_system(
        ns,
        src,
        json!({"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: stamp}}}),
    )
    .await?;
    let systems = c.systems(ns);
    let (object, size) = wait_for(
        Duration::from_secs(420),
        "the backup's upload in status.backup",
        || {
            let systems = systems.clone();
            let stamp = stamp.clone();
            async move {
                let b = systems
                    .get(src)
                    .await?
                    .status
                    .and_then(|s| s.backup)
                    .unwrap_or_default();
                Ok(match (&b.last_requested, &b.last_uploaded_object) {
                    (Some(r), Some(o)) if *r == stamp => {
                        Ok((o.clone(), b.last_uploaded_size.unwrap_or(0)))
                    }
                    _ => Err(format!("{b:?}")),
                })
            }
        },
    )
    .await
    .map_err(|e| e.context(backup_diagnostics(&c, ns, &s3)))?;
    eprintln!(
        "backup uploaded in {} s: {object} ({size} bytes)",
        t_backup.elapsed().as_secs()
    );
    let key = object
        .strip_prefix(&format!("s3://{bucket}/{prefix}"))
        .with_context(|| format!("{object} is not in s3://{bucket}/{prefix}"))?
        .to_string();
    ensure!(
        key.ends_with(".tar.age")
            && ovu_crds::rules::is_backup_name(key.trim_end_matches(".tar.age")),
        "uploaded object {object} is not named <backup>.tar.age"
    );
    // The object is in the bucket, with the size the status says, and it is an age file.
    let listed = String::from_utf8(s3.rclone(&[
        "lsf",
        "--format",
        "ps",
        &format!("s3:{bucket}/{prefix}"),
    ])?)?;
    ensure!(
        listed.lines().any(|l| l == format!("{key};{size}")),
        "the bucket's folder {prefix} holds {listed:?}, not {key} of {size} bytes"
    );
    let head = s3.rclone(&[
        "cat",
        "--count",
        "21",
        &format!("s3:{bucket}/{prefix}{key}"),
    ])?;
    ensure!(
        head == b"age-encryption.org/v1",
        "{object} does not start like an age file: {:?}",
        String::from_utf8_lossy(&head)
    );
    let before = fingerprint(&c, ns, src, &cutoff)?;
    ensure!(
        before
            .iter()
            .any(|l| l.starts_with("ulm_db public.offsite_facts 500 ")),
        "the source's fingerprint misses the rows written: {before:?}"
    );

    // The source cluster's data is lost: the whole namespace, its volumes with it.
    let t_delete = Instant::now();
    c.kubectl(&["delete", "namespace", ns, "--wait=false"])?;
    wait_namespace_gone(&c, ns, Duration::from_secs(300)).await?;
    eprintln!(
        "namespace {ns} and its volumes gone in {} s",
        t_delete.elapsed().as_secs()
    );
    drop(old);

    // The new system, in a new namespace, from the bucket with the private key.
    let new = TestNs::create(&c, "offsite-dst").await?;
    let ns = new.name.as_str();
    bucket_access(&c, ns, &s3).await?;
    create_secret(&c, ns, "offsite-age", json!({"identity": private})).await?;
    // `kubectl ovu restore --from-bucket` lists the folder (with the key and the CA from the
    // namespace), names a backup that is not there, and prints the restore it would create.
    let dst = "dst";
    let location = format!("s3://{bucket}/{prefix}");
    let bucket_args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "restore",
            "--from-bucket",
            &location,
            "--endpoint",
            &endpoint,
            "--credentials-secret",
            "offsite-s3",
            "--ca-config-map",
            "offsite-s3-ca",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let plugin = |args: Vec<String>| {
        let c = c.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::plugin::ovu(&c, ns, &args, Duration::from_secs(60)).await
        }
    };
    let listed = plugin(bucket_args(&["--list"])).await?;
    let name = key.trim_end_matches(".tar.age");
    ensure!(
        listed.ok && listed.stdout.contains(&format!("{name}  {size} bytes")),
        "kubectl ovu restore --list does not show {name} of {size} bytes:\n{listed}"
    );
    let unknown = plugin(bucket_args(&[
        "--from",
        "20000101T000000Z",
        "--into",
        dst,
        "--domain",
        "dst.example.com",
        "--identity-secret",
        "offsite-age",
    ]))
    .await?;
    ensure!(
        !unknown.ok
            && unknown
                .stderr
                .contains("20000101T000000Z is not in the bucket")
            && unknown.stderr.contains(name),
        "a backup that is not there:\n{unknown}"
    );
    let dry = plugin(bucket_args(&[
        "--into",
        dst,
        "--domain",
        "dst.example.com",
        "--identity-secret",
        "offsite-age",
        "--dry-run",
    ]))
    .await?;
    ensure!(dry.ok, "kubectl ovu restore --dry-run:\n{dry}");
    let mut printed: Value =
        serde_json::from_str(&dry.stdout).context("the printed OvuSystem is not JSON")?;
    ensure!(
        printed["spec"]["database"]["restore"]["backup"] == json!(name)
            && printed["spec"]["database"]["restore"]["fromBucket"]["s3"]["prefix"]
                == json!(prefix),
        "the printed restore does not pin the newest backup {name}: {printed}"
    );
    // Created as printed, sized for the test cluster (one replica each, small requests).
    let sized = small_system(dst, &images, json!({}));
    ovu_e2e::merge(&mut printed["spec"], sized["spec"].clone());
    c.create(ns, &printed).await?;
    let t_restore = Instant::now();
    let ready = c.wait_ready(ns, dst, Duration::from_secs(600)).await?;
    eprintln!(
        "restored system Ready in {} s",
        t_restore.elapsed().as_secs()
    );
    let restore = ready
        .status
        .and_then(|s| s.restore)
        .context("no status.restore")?;
    ensure!(
        restore.source == format!("s3://{bucket}/{prefix}{name}")
            && restore.completed_time.is_some(),
        "status.restore is {restore:?}"
    );
    let log = c
        .succeeded_job_log(ns, &Names::new(dst).restore_job())
        .await?;
    ensure!(
        log.contains(&key),
        "the restore Job's log does not name the newest object {key}: {log}"
    );
    let after = fingerprint(&c, ns, dst, &cutoff)?;
    if after != before {
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter().filter(|l| !b.contains(l)).cloned().collect()
        };
        bail!(
            "the restored data differs: only in the source {:?}; only in the restore {:?}",
            only(&before, &after),
            only(&after, &before)
        );
    }
    // Gone before the test ends: the pods' network interfaces are the host's, and what runs
    // after this binary (the browser test) must not see them change (Chromium's
    // ERR_NETWORK_CHANGED).
    if std::env::var_os("OVU_E2E_KEEP_NS").is_none() {
        c.kubectl(&["delete", "namespace", ns, "--wait=false"])?;
        wait_namespace_gone(&c, ns, Duration::from_secs(300)).await?;
    }
    Ok(())
}
