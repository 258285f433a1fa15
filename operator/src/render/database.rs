//! Database tier: PostgreSQL (StatefulSet + headless Service + volume claim + an init step
//! that creates `ulm_user` owning `ulm_db` and `aam_user` owning `aam_db`, idempotently) and
//! Redis (with `requirepass`).
//!
//! The pods do not rely on the official images' entrypoint scripts: commands are explicit, so
//! the same spec runs `postgres:16`/`redis:7` and the Debian-built local images.

use serde_json::json;

use super::names::{Component, Tier, ports};
use super::pod::{self, DATA_UID};
use super::{Child, Ctx, Kind};

/// Where PostgreSQL binaries live on Debian builds (the official image has them on PATH too).
const PG_PATH: &str =
    "/usr/lib/postgresql/16/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";

/// pg_hba: password (SCRAM) for everyone, everywhere; the NetworkPolicy decides who can reach it.
pub const PG_HBA: &str = "\
# Rendered by ovu-operator. Reachability is limited by the database NetworkPolicy.
# The superuser signs in only on the pod's own socket: over the network no password of it is
# accepted, so a leaked superuser password is no use from another pod.
local all all scram-sha-256
host  all postgres 0.0.0.0/0 reject
host  all postgres ::/0 reject
host  all all 0.0.0.0/0 scram-sha-256
host  all all ::/0 scram-sha-256
";

/// Idempotent bootstrap SQL. `:'ulm_password'` is psql's quoted-literal interpolation, so
/// passwords never become SQL text.
///
/// One login role per service, each owning its own database and nothing else, and no one
/// else (but the superuser, on the socket only, and `ovu_backup`, a member of both for the
/// backup and restore Jobs) may connect to either: a compromised AAM cannot read ULM's
/// password hashes, nor ULM AAM's settings. Passwords come from the Secret's files. Systems made before the split had one `ovu_user`
/// owning both: what it owned in each database moves to that database's role, and it can no
/// longer log in.
pub const INIT_SQL: &str = "\
-- Rendered by ovu-operator: safe to run on every start.
\\set ulm_password `cat \"$OVU_PG_SECRETS/ulm-password\"`
\\set aam_password `cat \"$OVU_PG_SECRETS/aam-password\"`
\\set backup_password `cat \"$OVU_PG_SECRETS/backup-password\"`
SELECT 'CREATE ROLE ulm_user LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ulm_user')\\gexec
ALTER ROLE ulm_user WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'ulm_password';
SELECT 'CREATE ROLE aam_user LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aam_user')\\gexec
ALTER ROLE aam_user WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'aam_password';
SELECT 'CREATE DATABASE ulm_db OWNER ulm_user' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ulm_db')\\gexec
SELECT 'CREATE DATABASE aam_db OWNER aam_user' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'aam_db')\\gexec
ALTER DATABASE ulm_db OWNER TO ulm_user;
ALTER DATABASE aam_db OWNER TO aam_user;
REVOKE ALL ON DATABASE ulm_db FROM PUBLIC;
REVOKE ALL ON DATABASE aam_db FROM PUBLIC;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
SELECT 'CREATE ROLE ovu_backup LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ovu_backup')\\gexec
ALTER ROLE ovu_backup WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE PASSWORD :'backup_password';
GRANT ulm_user, aam_user TO ovu_backup;
GRANT CONNECT ON DATABASE postgres TO ovu_backup;
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ovu_user') AS legacy \\gset
\\if :legacy
\\c ulm_db
REASSIGN OWNED BY ovu_user TO ulm_user;
\\c aam_db
REASSIGN OWNED BY ovu_user TO aam_user;
\\c postgres
ALTER ROLE ovu_user WITH NOLOGIN PASSWORD NULL;
\\endif
";

/// The init step: initdb on first start, then run INIT_SQL against a socket-only server.
pub const INIT_SH: &str = include_str!("sh/postgres-init.sh");

/// Keys of the PostgreSQL Secret holding each service's database password.
pub const ULM_PASSWORD_KEY: &str = "ulm-password";
pub const AAM_PASSWORD_KEY: &str = "aam-password";
/// Key of the PostgreSQL Secret holding `ovu_backup`'s password (backup and restore Jobs).
pub const BACKUP_PASSWORD_KEY: &str = "backup-password";
/// Where the PostgreSQL pod finds the passwords of its Secret, one file per key.
pub const PG_SECRETS_DIR: &str = "/etc/ovu/postgres-secrets";
/// Where the Redis pod finds the passwords of its Secret, one file per key.
pub const REDIS_SECRETS_DIR: &str = "/etc/ovu/redis-secrets";
/// Keys of the Redis Secret: the admin (readiness probe, operators at the console) and one
/// ACL user per service.
pub const REDIS_ADMIN_KEY: &str = "password";
pub const REDIS_ULM_KEY: &str = "ulm-password";
pub const REDIS_AAM_KEY: &str = "aam-password";

pub fn render(ctx: &Ctx) -> Vec<Child> {
    vec![
        postgres_config(ctx),
        postgres_service(ctx),
        postgres_rw_service(ctx),
        postgres_statefulset(ctx),
        redis_service(ctx),
        redis_deployment(ctx),
    ]
}

fn postgres_config(ctx: &Ctx) -> Child {
    let name = ctx.names.postgres_init_configmap();
    ctx.child(
        Kind::ConfigMap,
        &name,
        Component::Postgres,
        json!({"data": {"init.sh": INIT_SH, "init.sql": INIT_SQL, "pg_hba.conf": PG_HBA}}),
    )
}

fn postgres_service(ctx: &Ctx) -> Child {
    let name = ctx.names.of(Component::Postgres);
    ctx.child(
        Kind::Service,
        &name,
        Component::Postgres,
        json!({"spec": {
            "clusterIP": "None",
            "selector": super::names::selector(ctx.system(), Component::Postgres),
            "ports": [{"name": "postgres", "port": ports::POSTGRES, "targetPort": "postgres", "protocol": "TCP"}],
        }}),
    )
}

/// What ULM, AAM and the backups connect to: a virtual IP that always resolves and, while
/// PostgreSQL restarts, refuses at once (no ready endpoint) instead of a name that does not
/// exist. The headless Service above stays as the StatefulSet's governing Service.
fn postgres_rw_service(ctx: &Ctx) -> Child {
    ctx.child(
        Kind::Service,
        &ctx.names.postgres_rw(),
        Component::Postgres,
        json!({"spec": {
            "type": "ClusterIP",
            "selector": super::names::selector(ctx.system(), Component::Postgres),
            "ports": [{"name": "postgres", "port": ports::POSTGRES, "targetPort": "postgres", "protocol": "TCP"}],
        }}),
    )
}

/// A Secret volume's items: each key as a file of its own name.
fn secret_items(keys: &[&str]) -> serde_json::Value {
    keys.iter().map(|k| json!({"key": k, "path": k})).collect()
}

fn pg_env() -> Vec<serde_json::Value> {
    vec![pod::env("PATH", PG_PATH), pod::env("PGDATA", PGDATA)]
}

fn postgres_statefulset(ctx: &Ctx) -> Child {
    let name = ctx.names.of(Component::Postgres);
    let pg = &ctx.sys.spec.database.postgres;
    let mounts = json!([
        {"name": "data", "mountPath": "/var/lib/postgresql/data"},
        {"name": "run", "mountPath": "/var/run/postgresql"},
        {"name": "config", "mountPath": "/etc/ovu/postgres", "readOnly": true},
        {"name": "secrets", "mountPath": PG_SECRETS_DIR, "readOnly": true},
        pod::tmp_mount(),
    ]);
    let init_hash = super::short_hash(&[INIT_SH, INIT_SQL, PG_HBA]);
    let mut pvc_spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": pg.storage.size}},
    });
    if let Some(sc) = &pg.storage.storage_class_name {
        pvc_spec["storageClassName"] = json!(sc);
    }
    let spec = pod::pod_spec(
        ctx,
        Tier::Database,
        DATA_UID,
        json!({
            "terminationGracePeriodSeconds": 60,
            // PostgreSQL refuses a data directory with group write; only fix ownership of an
            // empty volume's root, never chmod the data files recursively.
            "securityContext": {
                "runAsNonRoot": true, "runAsUser": DATA_UID, "runAsGroup": DATA_UID, "fsGroup": DATA_UID,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": [{
                "name": "bootstrap",
                "image": ctx.images.postgres,
                "command": ["sh", "-c", "exec sh /etc/ovu/postgres/init.sh"],
                "env": pg_env(),
                "volumeMounts": mounts,
                "securityContext": pod::container_security(),
                "resources": pod::resources(&pg.resources),
            }],
            "containers": [{
                "name": "postgres",
                "image": ctx.images.postgres,
                "command": ["postgres"],
                "args": [
                    "-c", "listen_addresses=*",
                    "-c", "unix_socket_directories=/var/run/postgresql",
                    "-c", "hba_file=/etc/ovu/postgres/pg_hba.conf",
                    "-c", "password_encryption=scram-sha-256",
                ],
                "env": pg_env(),
                "ports": [{"name": "postgres", "containerPort": ports::POSTGRES, "protocol": "TCP"}],
                // On the socket: the superuser is refused over TCP, and a probe there would log
                // a pg_hba rejection every five seconds (the TCP port is the liveness check).
                "readinessProbe": {
                    "exec": {"command": ["pg_isready", "-h", "/var/run/postgresql", "-p", "5432", "-U", "postgres", "-d", "postgres"]},
                    "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3,
                },
                "livenessProbe": {
                    "tcpSocket": {"port": "postgres"},
                    "initialDelaySeconds": 30, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6,
                },
                // SIGTERM is PostgreSQL's "smart" shutdown: it waits for every client to leave,
                // and the services' pools never do, so a deleted pod went on serving for the
                // whole grace period. A fast shutdown rolls back open transactions (nothing
                // acknowledged is lost) and ends the pod in about a second.
                "lifecycle": {"preStop": {"exec": {"command": ["pg_ctl", "stop", "-m", "fast", "-w", "-t", "50"]}}},
                "volumeMounts": mounts,
                "securityContext": pod::container_security(),
                "resources": pod::resources(&pg.resources),
            }],
            "volumes": [
                {"name": "run", "emptyDir": {}},
                {"name": "config", "configMap": {"name": ctx.names.postgres_init_configmap(), "defaultMode": 0o444}},
                {"name": "secrets", "secret": {
                    "secretName": ctx.names.postgres_secret(), "defaultMode": 0o400,
                    "items": secret_items(&["superuser-password", ULM_PASSWORD_KEY, AAM_PASSWORD_KEY, BACKUP_PASSWORD_KEY])}},
                pod::tmp_volume(),
            ],
        }),
    );
    ctx.child(
        Kind::StatefulSet,
        &name,
        Component::Postgres,
        json!({"spec": {
            "serviceName": name,
            "replicas": 1,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "selector": {"matchLabels": super::names::selector(ctx.system(), Component::Postgres)},
            "template": {
                "metadata": {
                    "labels": super::names::labels(ctx.system(), Component::Postgres),
                    "annotations": {super::names::CONFIG_HASH_ANNOTATION: init_hash},
                },
                "spec": spec,
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": super::names::labels(ctx.system(), Component::Postgres)},
                "spec": pvc_spec,
            }],
        }}),
    )
}

fn redis_service(ctx: &Ctx) -> Child {
    let name = ctx.names.of(Component::Redis);
    ctx.child(
        Kind::Service,
        &name,
        Component::Redis,
        json!({"spec": {
            "type": "ClusterIP",
            "selector": super::names::selector(ctx.system(), Component::Redis),
            "ports": [{"name": "redis", "port": ports::REDIS, "targetPort": "redis", "protocol": "TCP"}],
        }}),
    )
}

/// Redis builds its configuration at start from the Secret's files: the default user is off,
/// each service signs in as its own ACL user confined to its key prefix and to the commands
/// it uses (no FLUSHDB, CONFIG, KEYS or other dangerous ones), and an admin user has the
/// rest. Only SHA-256 hashes of the passwords are written, so neither argv nor the file holds
/// one. maxmemory comes from an env var the schema restricts to digits + kb|mb|gb.
pub const REDIS_SH: &str = include_str!("sh/redis.sh");

/// The readiness probe: PING as the admin user, the password handed to redis-cli in its own
/// environment variable (not an argument `ps` would show).
const REDIS_PROBE: &str = r#"REDISCLI_AUTH="$(cat "${OVU_REDIS_SECRETS:-/etc/ovu/redis-secrets}/password")" redis-cli --user ovu-admin ping | grep -q PONG"#;

fn redis_deployment(ctx: &Ctx) -> Child {
    let name = ctx.names.of(Component::Redis);
    let r = &ctx.sys.spec.database.redis;
    let spec = pod::pod_spec(
        ctx,
        Tier::Database,
        DATA_UID,
        json!({
            "containers": [{
                "name": "redis",
                "image": ctx.images.redis,
                "command": ["sh", "-c", REDIS_SH],
                "env": [pod::env("REDIS_MAXMEMORY", r.max_memory.clone())],
                "ports": [{"name": "redis", "containerPort": ports::REDIS, "protocol": "TCP"}],
                "readinessProbe": {
                    "exec": {"command": ["sh", "-c", REDIS_PROBE]},
                    "periodSeconds": 5, "timeoutSeconds": 3,
                },
                "livenessProbe": {
                    "tcpSocket": {"port": "redis"},
                    "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 3,
                },
                "volumeMounts": [
                    pod::tmp_mount(),
                    {"name": "secrets", "mountPath": REDIS_SECRETS_DIR, "readOnly": true},
                ],
                "securityContext": pod::container_security(),
                "resources": pod::resources(&r.resources),
            }],
            "volumes": [
                pod::tmp_volume(),
                {"name": "secrets", "secret": {
                    "secretName": ctx.names.redis_secret(), "defaultMode": 0o400,
                    "items": secret_items(&[REDIS_ADMIN_KEY, REDIS_ULM_KEY, REDIS_AAM_KEY])}},
            ],
        }),
    );
    ctx.child(
        Kind::Deployment,
        &name,
        Component::Redis,
        json!({"spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": super::names::selector(ctx.system(), Component::Redis)},
            "template": {
                "metadata": {"labels": super::names::labels(ctx.system(), Component::Redis)},
                "spec": spec,
            },
        }}),
    )
}
