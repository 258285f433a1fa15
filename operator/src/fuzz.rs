//! Property checks for fuzzing the spec validation and the renderers.
//!
//! The same functions are driven two ways: by the cargo-fuzz targets in `fuzz/` (coverage
//! guided, long runs, nightly) and by the integration test `operator/tests/it/fuzz.rs`
//! (a committed corpus plus a bounded number of inputs from a fixed seed, inside `make
//! test`). Keeping the properties here, not in a fuzz-only crate, means `make test` checks
//! them without building a second copy of kube/k8s-openapi.
//!
//! The properties, for any OvuSystem (structured: [`system_from`]; raw JSON: [`check_json`]):
//! - validation, every renderer and the nginx config renderer return without panicking;
//! - a spec the validation accepts renders (no error), its nginx config passes the real
//!   `nginx -t` ([`Checks::nginx_t`]) and holds the domain and origins as opaque text only
//!   (rendering with sentinels in their place and substituting back gives the same config);
//! - no spec value reaches a script's text: every script the pods run is one of the
//!   constant scripts, and spec values reach them only through environment variables, whose
//!   values hold no shell or SQL metacharacter; run under shims
//!   ([`Checks::run_scripts`]), the Redis start script passes `maxMemory` as one argument
//!   and the restore script quotes the backup name intact in its SQL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use arbitrary::{Result as ArbResult, Unstructured};
use ovu_crds::{OvuSystem, OvuSystemSpec, rules};
use serde_json::{Value, json};

use crate::render::{self, Ctx, Facts, backup, database, frontend, nginx, restore};

/// The sample every structured input starts from: every field set (manifests/samples).
const FULL_SAMPLE: &str = include_str!("../../manifests/samples/ovusystem-full.yaml");

/// Which external programs a check may run (each costs milliseconds; the smoke run bounds
/// how many inputs use them).
#[derive(Clone, Copy, Debug, Default)]
pub struct Checks {
    /// Run `/usr/sbin/nginx -t` on the config of every accepted spec.
    pub nginx_t: bool,
    /// Run the Redis and restore scripts under shims for every accepted spec.
    pub run_scripts: bool,
}

/// What happened to one input (a property violation is an `Err` instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not an OvuSystem spec at all (serde refused it).
    Unparsable,
    /// Validation refused it (and nothing panicked).
    Refused,
    /// Validation accepted it and every property held.
    Accepted,
}

/// The full sample as the API server would hand it to the operator.
pub fn base_system() -> OvuSystem {
    let mut sys: OvuSystem = serde_yaml::from_str(FULL_SAMPLE).expect("the full sample parses");
    sys.metadata.namespace = Some("ovu-fuzz".into());
    sys.metadata.uid = Some("11111111-2222-3333-4444-555555555555".into());
    sys.metadata.generation = Some(1);
    sys
}

/// Values that are valid for some field (so mutations also move between valid shapes:
/// enum variants, the optional parts' triggers) and values that are hostile in nginx, shell
/// or SQL.
const DICTIONARY: &[&str] = &[
    // enum variants and their neighbours
    "Disabled",
    "SelfSigned",
    "Secret",
    "CertManager",
    "ClusterIP",
    "NodePort",
    "LoadBalancer",
    "None",
    "StartTLS",
    "TLS",
    "Delete",
    "Retain",
    "Optional",
    "Required",
    // valid values of other fields
    "latest",
    "20260101T010203Z",
    "20260101T010203_2Z",
    "ovu-tls-custom",
    "10.0.0.0/8",
    "192.168.1.1",
    "::1",
    "fd00::/64",
    "0.0.0.0/0",
    "https://a.example.com:8443",
    "http://localhost",
    "a@b.co",
    "1kb",
    "*/5 * * * *",
    "1.5",
    "100m",
    "ghcr.io/ovu/ulm@sha256:0123",
    "x",
    "",
    // hostile
    "a'b",
    "a\"b",
    "$(id)",
    "`id`",
    "a;b",
    "a\nb",
    "{}",
    "a b",
    "#",
    "\\",
    "${HOME}",
    "a' OR '1'='1",
    "ovu.co.il; include /etc/passwd",
    "https://x.com\" $x; #",
    "-n",
    "é",
    "\u{0}",
];

/// Metacharacter tokens inserted into valid values.
const TOKENS: &[&str] = &[
    "'", "\"", "$", "`", ";", "\n", "{", "}", "\\", " ", "#", "*", "?", "..", "/", ":", "@", "_",
    "A", "-", ".", "%", "\r", "\t", "|", "&", "<", ">", "(", ")", "~", "=", ",",
];

const NUMBERS: &[i64] = &[
    0,
    -1,
    1,
    2,
    20,
    21,
    365,
    366,
    80,
    443,
    65535,
    65536,
    29999,
    30000,
    32767,
    32768,
    i32::MAX as i64,
    i32::MIN as i64,
    i64::MAX,
];

/// Coherent variants of the full sample (each a list of `(path, value)`; `null` removes the
/// key): the optional parts it leaves out and the other modes of its switches.
fn variants() -> Vec<Vec<(&'static [&'static str], Value)>> {
    let no_issuer: (&'static [&'static str], Value) =
        (&["frontend", "tls", "issuerRef"], Value::Null);
    vec![
        vec![(
            &["database", "restore"],
            json!({"fromClaim": "shop-backups", "backup": "latest"}),
        )],
        vec![(
            &["database", "restore"],
            json!({"fromClaim": "shop-backups", "backup": "20260101T010203_2Z"}),
        )],
        vec![
            (&["frontend", "tls", "mode"], json!("Secret")),
            (&["frontend", "tls", "secretName"], json!("ovu-tls-custom")),
            no_issuer.clone(),
        ],
        vec![
            (&["frontend", "tls", "mode"], json!("SelfSigned")),
            no_issuer.clone(),
        ],
        vec![(&["frontend", "tls", "mode"], json!("Disabled")), no_issuer],
        vec![
            (&["frontend", "exposure", "type"], json!("ClusterIP")),
            (&["frontend", "exposure", "httpNodePort"], Value::Null),
            (&["frontend", "exposure", "httpsNodePort"], Value::Null),
        ],
        vec![(&["frontend", "exposure", "proxyProtocol"], Value::Null)],
        vec![(
            &["frontend", "corsOrigins"],
            json!(["http://localhost:5173", "https://b.example.org"]),
        )],
        vec![(
            &["network", "trustedProxies"],
            json!(["10.0.0.0/8", "fd00::/64", "192.168.0.1"]),
        )],
        vec![(&["mail"], Value::Null)],
        vec![(&["mail", "smtp", "tls"], json!("None"))],
        vec![(&["paused"], json!(true))],
        vec![(&["deletionPolicy"], json!("Delete"))],
        vec![(&["security", "adminMfa"], json!("Optional"))],
    ]
}

fn set_path(v: &mut Value, path: &[&str], new: Value) {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        let Value::Object(m) = cur else { return };
        if i + 1 == path.len() {
            if new.is_null() {
                m.remove(*k);
            } else {
                m.insert((*k).to_string(), new);
            }
            return;
        }
        cur = m.entry((*k).to_string()).or_insert_with(|| json!({}));
    }
}

/// One chance in `n`, where an exhausted input (zeros) means no.
fn one_in(u: &mut Unstructured, n: u8) -> ArbResult<bool> {
    Ok(u.int_in_range(0..=n - 1)? == n - 1)
}

/// A string mutated from `s`: a token inserted, a dictionary value, or arbitrary text.
fn mutate_str(s: &str, u: &mut Unstructured) -> ArbResult<String> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => {
            let mut out = s.to_string();
            let mut at = u.int_in_range(0..=out.len())?;
            while !out.is_char_boundary(at) {
                at -= 1;
            }
            out.insert_str(at, u.choose(TOKENS)?);
            out
        }
        1 => (*u.choose(DICTIONARY)?).to_string(),
        2 => {
            let mut out = s.to_string();
            let n = u.int_in_range(0..=out.len())?;
            let mut n = out.len() - n;
            while !out.is_char_boundary(n) {
                n -= 1;
            }
            out.truncate(n);
            out
        }
        _ => u.arbitrary::<String>()?,
    })
}

/// Every path (keys and indices) in a JSON tree, containers included.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                prefix.push(json!(k));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(json!(i));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'v>(v: &'v mut Value, path: &[Value]) -> Option<&'v mut Value> {
    let mut cur = v;
    for k in path {
        cur = match (cur, k) {
            (Value::Object(m), Value::String(k)) => m.get_mut(k)?,
            (Value::Array(a), Value::Number(i)) => a.get_mut(usize::try_from(i.as_u64()?).ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A few mutations of a JSON tree (so most specs stay valid and reach the renderers, and
/// the rest are refused for one reason each): a value replaced, a key removed, a list
/// grown or emptied.
fn mutate(v: &mut Value, u: &mut Unstructured) -> ArbResult<()> {
    // An exhausted input yields zeros: zero mutations.
    let n = u.int_in_range(0u8..=4)?;
    for _ in 0..n {
        let mut all = Vec::new();
        paths(v, &mut Vec::new(), &mut all);
        let path = u.choose(&all)?.clone();
        let kind = u.int_in_range(0u8..=9)?;
        if kind == 9 {
            // Remove the key (or list element) at `path`.
            if let Some((last, parent)) = path.split_last()
                && let Some(p) = at_path(v, parent)
            {
                match (p, last) {
                    (Value::Object(m), Value::String(k)) => {
                        m.remove(k);
                    }
                    (Value::Array(a), Value::Number(i)) => {
                        if let Some(i) = i.as_u64().and_then(|i| usize::try_from(i).ok())
                            && i < a.len()
                        {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        let Some(node) = at_path(v, &path) else {
            continue;
        };
        match node {
            Value::Array(a) => {
                if kind < 3 {
                    a.clear();
                } else if let Some(first) = a.first().cloned() {
                    a.push(first);
                } else {
                    a.push(json!(*u.choose(DICTIONARY)?));
                }
            }
            Value::String(s) => *s = mutate_str(s, u)?,
            Value::Number(_) => {
                *node = if u.arbitrary()? {
                    json!(u.choose(NUMBERS)?)
                } else {
                    json!(u.arbitrary::<i32>()?)
                };
            }
            Value::Bool(b) => *b = !*b,
            Value::Object(_) | Value::Null => {
                if kind < 2 {
                    *node = json!(*u.choose(DICTIONARY)?);
                }
            }
        }
    }
    Ok(())
}

/// A structured OvuSystem from fuzz bytes: the full sample with optional parts added and
/// fields mutated. `None` when the mutated JSON is no longer a spec (serde refuses it).
pub fn system_from(u: &mut Unstructured) -> ArbResult<Option<OvuSystem>> {
    let base = base_system();
    let mut spec = serde_json::to_value(&base.spec).expect("a spec serializes");
    for variant in variants() {
        if one_in(u, 6)? {
            for (path, value) in variant {
                set_path(&mut spec, path, value);
            }
        }
    }
    mutate(&mut spec, u)?;
    let mut sys = base;
    if one_in(u, 20)? {
        sys.metadata.name = Some(mutate_str("ovu", u)?);
    }
    Ok(serde_json::from_value::<OvuSystemSpec>(spec)
        .ok()
        .map(|spec| {
            sys.spec = spec;
            sys
        }))
}

/// Raw bytes as an OvuSystem spec (what a CRD without the schema would let through).
pub fn check_json(data: &[u8], checks: Checks) -> Result<Verdict, String> {
    let Ok(spec) = serde_json::from_slice::<OvuSystemSpec>(data) else {
        return Ok(Verdict::Unparsable);
    };
    let mut sys = base_system();
    sys.spec = spec;
    check_system(&sys, checks)
}

/// Structured fuzz bytes → [`system_from`] → [`check_system`].
pub fn check_structured(data: &[u8], checks: Checks) -> Result<Verdict, String> {
    let mut u = Unstructured::new(data);
    match system_from(&mut u) {
        Ok(Some(sys)) => check_system(&sys, checks),
        Ok(None) => Ok(Verdict::Unparsable),
        // Not enough bytes for a decision `arbitrary` needed: nothing to check.
        Err(_) => Ok(Verdict::Unparsable),
    }
}

/// Every property for one system (see the module docs). `Err` names the broken property.
pub fn check_system(sys: &OvuSystem, checks: Checks) -> Result<Verdict, String> {
    let accepted = sys.spec.validate().is_ok()
        && sys
            .metadata
            .name
            .as_deref()
            .is_some_and(rules::is_system_name);
    let facts = Facts::default();
    // Every renderer runs on every spec: none may panic, whatever validation said.
    let built = render::build(sys, &facts);
    let ctx = Ctx::new(sys, &facts).map_err(|e| format!("context: {e}"))?;
    let input = frontend::nginx_input(&ctx);
    let conf = nginx::render(&input);
    let restore_job = sys
        .spec
        .database
        .restore
        .as_ref()
        .map(|r| restore::job(&ctx, r));
    if !accepted {
        return Ok(Verdict::Refused);
    }

    let built = built.map_err(|e| format!("an accepted spec does not render: {e}"))?;
    let conf = conf.map_err(|e| format!("an accepted spec's nginx config is refused: {e}"))?;
    nginx_opaque(&ctx, &conf)?;

    let mut objects: Vec<&Value> = built.all().map(|c| &c.object).collect();
    if let Some(j) = &restore_job {
        objects.push(&j.object);
    }
    let known = known_scripts();
    for o in &objects {
        for c in containers(o) {
            let Some(script) = shell_script(c) else {
                continue;
            };
            if !known.contains(script) {
                return Err(format!(
                    "a container runs a script that is not one of the constant scripts:\n{script}"
                ));
            }
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(v) = e["value"].as_str()
                    && !shell_inert(v)
                {
                    return Err(format!(
                        "env {} = {v:?} reaches a script with shell or SQL metacharacters",
                        e["name"]
                    ));
                }
            }
        }
    }

    if checks.run_scripts {
        run_redis(&sys.spec.database.redis.max_memory)?;
        if let Some(r) = &sys.spec.database.restore {
            run_restore(&r.backup)?;
        }
    }
    if checks.nginx_t {
        nginx_t(&input)?;
    }
    Ok(Verdict::Accepted)
}

/// The domain and the CORS origins are opaque text in the config: rendering with sentinels in
/// their place and putting the values back gives the same bytes, so no value changes the
/// config's structure (nginx -t proves the values themselves parse as one token each).
fn nginx_opaque(ctx: &Ctx, conf: &str) -> Result<(), String> {
    let mut i = frontend::nginx_input(ctx);
    let domain = std::mem::replace(&mut i.domain, "zqdomainzq.invalid".into());
    let origins: Vec<String> = i
        .cors_origins
        .iter_mut()
        .enumerate()
        .map(|(n, o)| std::mem::replace(o, format!("https://zqorigin{n}zq.invalid")))
        .collect();
    let mut again = nginx::render(&i).map_err(|e| format!("sentinel config refused: {e}"))?;
    // Origins first: a sentinel origin does not contain the domain sentinel.
    for (n, o) in origins.iter().enumerate() {
        again = again.replace(&format!("https://zqorigin{n}zq.invalid"), o);
    }
    again = again.replace("zqdomainzq.invalid", &domain);
    if again != conf {
        return Err(format!(
            "the nginx config depends on the domain or origins beyond their text (domain {domain:?}, origins {origins:?})"
        ));
    }
    Ok(())
}

/// Characters an environment value may hold when a script expands it: none that a shell
/// (even unquoted) or an SQL string literal would treat specially.
fn shell_inert(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._:/@,+=-".contains(&b))
}

fn containers(o: &Value) -> impl Iterator<Item = &Value> {
    let pod = if o["kind"] == "CronJob" {
        &o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &o["spec"]["template"]["spec"]
    };
    pod["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod["containers"].as_array().into_iter().flatten())
}

/// The script of a `sh -c SCRIPT` container.
fn shell_script(c: &Value) -> Option<&str> {
    let cmd = c["command"].as_array()?;
    match cmd.as_slice() {
        [sh, dash_c, script, ..] if sh == "sh" && dash_c == "-c" => script.as_str(),
        _ => None,
    }
}

/// Every script a pod may run, from the constants (not from any spec).
fn known_scripts() -> &'static BTreeSet<String> {
    static S: OnceLock<BTreeSet<String>> = OnceLock::new();
    S.get_or_init(|| {
        let mut s: BTreeSet<String> = [
            backup::tool_script(backup::BACKUP_SH),
            backup::tool_script(restore::RESTORE_SH),
            database::REDIS_SH.to_string(),
            "exec sh /etc/ovu/postgres/init.sh".to_string(),
        ]
        .into();
        // The scripts of the full sample's own containers (probes, init) are constants too.
        let sys = base_system();
        let facts = Facts::default();
        if let Ok(d) = render::build(&sys, &facts) {
            for o in d.all() {
                for c in containers(&o.object) {
                    if let Some(script) = shell_script(c) {
                        s.insert(script.to_string());
                    }
                }
            }
        }
        s
    })
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Result<Self, String> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ovu-fuzz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Scratch(p))
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(p: &Path, text: &str) -> Result<(), String> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))
}

/// A shim that records its arguments, one per line as JSON strings, in `$SHIM_LOG`, and
/// prints `$2`-dependent answers for psql's queries.
const SHIM: &str = r#"#!/bin/sh
{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\037%s' "$a"; done; printf '\036'; } >> "$SHIM_LOG"
case "$(basename "$0"):$*" in
  psql:*"count(*)"*) echo 0 ;;
esac
exit 0
"#;

fn shims(dir: &Scratch, names: &[&str]) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.path("bin");
    for n in names {
        let p = bin.join(n);
        write(&p, SHIM)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    Ok(format!("{}:/usr/bin:/bin", bin.display()))
}

/// The calls the shims recorded: (program, arguments).
fn calls(dir: &Scratch) -> Vec<(String, Vec<String>)> {
    let log = std::fs::read_to_string(dir.path("shim.log")).unwrap_or_default();
    log.split('\u{1e}')
        .filter(|c| !c.is_empty())
        .map(|c| {
            let mut parts = c.split('\u{1f}').map(str::to_string);
            let prog = parts.next().unwrap_or_default();
            (prog, parts.collect())
        })
        .collect()
}

fn run_sh(script: &str, dir: &Scratch, path: &str, env: &[(&str, &str)]) -> Result<(), String> {
    let syntax = Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .map_err(|e| format!("sh: {e}"))?;
    if !syntax.status.success() {
        return Err(format!(
            "sh -n refuses a script: {}",
            String::from_utf8_lossy(&syntax.stderr)
        ));
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).env_clear().env("PATH", path);
    cmd.env("SHIM_LOG", dir.path("shim.log"));
    cmd.env("OVU_TMP_DIR", dir.path("tmp"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    std::fs::create_dir_all(dir.path("tmp")).map_err(|e| e.to_string())?;
    let out = cmd.output().map_err(|e| format!("sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "script failed under shims: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The Redis start script under a `redis-server` shim: `--maxmemory` gets exactly the
/// spec's value, as one argument.
fn run_redis(max_memory: &str) -> Result<(), String> {
    let dir = Scratch::new("redis")?;
    for k in ["password", "ulm-password", "aam-password"] {
        write(&dir.path(&format!("secrets/{k}")), "pw\n")?;
    }
    let path = shims(&dir, &["redis-server"])?;
    let secrets = dir.path("secrets").to_string_lossy().into_owned();
    run_sh(
        database::REDIS_SH,
        &dir,
        &path,
        &[
            ("REDIS_MAXMEMORY", max_memory),
            ("OVU_REDIS_SECRETS", &secrets),
        ],
    )?;
    let calls = calls(&dir);
    let Some((_, args)) = calls.iter().find(|(p, _)| p == "redis-server") else {
        return Err("the Redis script did not start redis-server".into());
    };
    let at = args.iter().position(|a| a == "--maxmemory");
    if at.and_then(|i| args.get(i + 1)).map(String::as_str) != Some(max_memory) {
        return Err(format!(
            "redis-server got {args:?}, not --maxmemory {max_memory:?}"
        ));
    }
    Ok(())
}

/// The restore script under `psql`/`pg_restore` shims, with a volume holding the named
/// backup: each database's marker comment carries the backup name intact inside its quotes.
fn run_restore(backup_name: &str) -> Result<(), String> {
    let dir = Scratch::new("restore")?;
    let name = if backup_name == "latest" {
        "20260101T010203Z"
    } else {
        backup_name
    };
    for db in ["ulm_db", "aam_db"] {
        write(&dir.path(&format!("restore/{name}/{db}.dump")), "dump")?;
    }
    write(&dir.path("secrets/backup-password"), "pw\n")?;
    let path = shims(&dir, &["pg_isready", "psql", "pg_restore"])?;
    let src = dir.path("restore").to_string_lossy().into_owned();
    let secrets = dir.path("secrets").to_string_lossy().into_owned();
    run_sh(
        &backup::tool_script(restore::RESTORE_SH),
        &dir,
        &path,
        &[
            ("RESTORE_BACKUP", backup_name),
            ("RESTORE_DIR", &src),
            ("OVU_PG_SECRETS", &secrets),
            ("PGHOST", "127.0.0.1"),
        ],
    )?;
    for db in ["ulm_db", "aam_db"] {
        let want = format!("COMMENT ON DATABASE {db} IS 'ovu: restored from backup {name}'");
        let found = calls(&dir)
            .iter()
            .any(|(p, args)| p == "psql" && args.last() == Some(&want));
        if !found {
            return Err(format!(
                "the restore script did not send {want:?}; it ran {:?}",
                calls(&dir)
            ));
        }
    }
    Ok(())
}

/// `nginx -t` on the config (paths moved into a scratch directory, upstreams on loopback,
/// a self-signed certificate for the domain when TLS is on).
fn nginx_t(input: &nginx::NginxInput) -> Result<(), String> {
    let dir = Scratch::new("nginx")?;
    let p = |rel: &str| dir.path(rel).to_string_lossy().into_owned();
    let mut i = input.clone();
    i.ulm_upstream = "127.0.0.1:8001".into();
    i.aam_upstream = "127.0.0.1:8002".into();
    i.html_root = p("html");
    i.temp_dir = p("tmp");
    i.pid_file = p("nginx.pid");
    i.access_log = p("access.log");
    for d in ["html/ulm", "html/aam", "tmp"] {
        std::fs::create_dir_all(dir.path(d)).map_err(|e| e.to_string())?;
    }
    if i.tls.is_some() {
        let tls = nginx::TlsFiles {
            cert: p("tls.crt"),
            key: p("tls.key"),
        };
        let now = k8s_openapi::jiff::Timestamp::now();
        let ca = crate::tls::generate_ca("ovu", now).map_err(|e| e.to_string())?;
        let leaf = crate::tls::issue_leaf(&ca, "ovu", &frontend::dns_names(&i.domain), now)
            .map_err(|e| e.to_string())?;
        write(Path::new(&tls.cert), &leaf.pem.cert)?;
        write(Path::new(&tls.key), &leaf.pem.key)?;
        i.tls = Some(tls);
    }
    let conf = nginx::render(&i).map_err(|e| e.to_string())?;
    let conf_path = p("nginx.conf");
    write(Path::new(&conf_path), &conf)?;
    let out = Command::new("/usr/sbin/nginx")
        .args(["-t", "-e", "stderr", "-p", &p(""), "-c", &conf_path])
        .output()
        .map_err(|e| format!("run /usr/sbin/nginx (Debian package nginx): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nginx -t refuses an accepted spec's config:\n{}\n--- config ---\n{conf}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
